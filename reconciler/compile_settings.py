"""spec.settings (and spec.enabled) -> the task's Settings elements, read through the one
settings table (``tasksettings``), in the order the task schema requires."""
from __future__ import annotations

from typing import Any

from .compile_base import Reporter
from .durations import Duration
from .tasksettings import BY_ELEMENT, ORDER, TABLE, TASK_LEVEL, Group, Row, Setting
from .vocabulary import DUR

Settings = tuple[tuple[str, Any], ...]


def _plain(row: Row) -> bool:
    """Its value is written as the manifest says it (most settings): no call needed."""
    return isinstance(row, Setting) and row.words is None and row.kind != DUR


# Every task reads the table, so what it needs is worked out once: where each key is in
# the table (keys are read in that order), the element of each plain key, and each
# group's members in the schema's order.
_POSITION = {row.key: index for index, row in enumerate(TABLE)}
_ROW = {row.key: row for row in TABLE}
_PLAIN = {row.key: row.element for row in TABLE if isinstance(row, Setting) and _plain(row)}
_MEMBERS = {group.key: tuple((m.key, m, _plain(m)) for m in group.ordered())
            for group in TABLE if isinstance(group, Group)}
_RANK = {name: index for index, name in enumerate(ORDER)}


def compile_settings(spec: dict[str, Any], report: Reporter) -> Settings:
    settings = spec.get("settings") or {}
    out: dict[str, Any] = {}
    for setting in TASK_LEVEL:
        if setting.key in spec:
            out[setting.element] = spec[setting.key]
    for key in sorted(filter(_POSITION.__contains__, settings), key=_POSITION.__getitem__):
        element = _PLAIN.get(key)
        row = _ROW[key]
        if element is not None:
            out[element] = settings[key]
        elif isinstance(row, Group):
            _group(row, settings[key], report, out)
        else:
            _put(row, settings[key], ("spec", "settings", key), report, out)
    names = sorted(out, key=_RANK.__getitem__)
    return tuple(zip(names, map(out.__getitem__, names)))


def _group(group: Group, values: Any, report: Reporter, out: dict[str, Any]) -> None:
    if not values:
        return
    path = ("spec", "settings", group.key)
    # The manifest's own groupings write their members straight into Settings.
    members: dict[str, Any] = out if group.element is None else {}
    for key, member, plain in _MEMBERS[group.key]:
        if key not in values:
            continue
        if plain:
            members[member.element] = values[key]
        else:
            _put(member, values[key], path + (key,), report, members)
    if group.element is None:
        return
    out[group.element] = tuple(members.items())
    if group.needs is not None and out.get(group.needs) is not True:
        report.problem(path, f"{group.key} needs {BY_ELEMENT[group.needs].key}: true "
                             "(Task Scheduler refuses it otherwise)", key=True)


def _put(setting: Setting, value: Any, path: tuple[Any, ...], report: Reporter, out: dict[str, Any]) -> None:
    """A word or a duration as Task Scheduler spells it, or a problem (and nothing)."""
    if setting.words is not None:
        if value in setting.words:
            out[setting.element] = setting.words[value]
        return  # another word: the schema has said so
    if setting.none is not None and value == setting.none:
        out[setting.element] = Duration()
        return
    if setting.bounds is not None:
        duration = report.bounded(value, path, *setting.bounds, ".".join(path[2:]))
    else:
        duration = report.duration(value, path)
    if duration is None:
        return
    if setting.none is not None and duration.seconds == 0 and not duration.months:
        report.problem(path, f"a {setting.key} of 0 means no limit: write \"{setting.none}\"")
    out[setting.element] = duration
