"""Any task XML -> its canonical form: the plain data the planner compares.

Pure. Two task definitions that Task Scheduler treats the same have equal canonical
forms, however they are spelled (the "Task Scheduler Schema" pages on Microsoft Learn
give each element's default):
- defaults filled in (Settings, IdleSettings, trigger Enabled/Delay/RandomDelay, ...);
- server-written fields dropped: URI, Date, Author; and the ownership marker (Source,
  Documentation), which is not task content; ids and Context, which Windows rewrites;
- durations by value (``PT12M`` = ``PT12M0S`` = ``PT720S``), dates without noise;
- element order ignored where Windows ignores it; triggers as a multiset (their order
  has no effect), actions in order (they run in order);
- accounts as SIDs through the given resolver.

Shape: ``{"RegistrationInfo": {...}, "Principal": {...}, "Settings": {...},
"Triggers": [{"CalendarTrigger": {...}}, ...], "Actions": [{"Exec": {...}}, ...]}``
with XML element names as keys. Optional elements that are absent are absent keys.
Elements this module does not know are kept as generic data (never silently dropped),
except ones Windows adds by itself on export (``HideAppWindow``).
"""
from __future__ import annotations

import copy
import json
import re
from typing import Any, Callable

from lxml import etree

from . import accounts, durations, tasksettings
from .limits import TIME_LIMIT_DEFAULT
from .model import MONTHS, WEEKDAYS
from .taskxml import children, localname, parse, text_of
from .vocabulary import ACCOUNT, BOOL, DATETIME, DUR, INT, STR, TEXT

Resolver = Callable[[str], str]

# Bumped whenever the canonical form changes, so a marker's hash written by another
# version is not mistaken for drift.
VERSION = 1

# Leaf elements: (kind, default). A default of None means "absent stays absent".
_BASE_TRIGGER: dict[str, tuple[str, Any]] = {
    "Enabled": (BOOL, True),
    "StartBoundary": (DATETIME, None),
    "EndBoundary": (DATETIME, None),
    "ExecutionTimeLimit": (DUR, TIME_LIMIT_DEFAULT),
}
_TRIGGER_EXTRA: dict[str, dict[str, tuple[str, Any]]] = {
    "BootTrigger": {"Delay": (DUR, "PT0S")},
    "RegistrationTrigger": {"Delay": (DUR, "PT0S")},
    "IdleTrigger": {},
    "TimeTrigger": {"RandomDelay": (DUR, "PT0S")},
    "CalendarTrigger": {"RandomDelay": (DUR, "PT0S")},
    "LogonTrigger": {"UserId": (ACCOUNT, None), "Delay": (DUR, "PT0S")},
    "SessionStateChangeTrigger": {"UserId": (ACCOUNT, None), "Delay": (DUR, "PT0S"),
                                  "StateChange": (STR, None)},
    "EventTrigger": {"Subscription": (TEXT, None), "Delay": (DUR, "PT0S"),
                     "PeriodOfOccurrence": (DUR, "PT0S"), "NumberOfOccurrences": (INT, 1),
                     "MatchingElement": (TEXT, None)},
    "WnfStateChangeTrigger": {"StateName": (STR, None), "Data": (TEXT, None),
                              "DataOffset": (INT, None), "Delay": (DUR, "PT0S")},
}
# Every child read of each trigger kind: the leaves, and Repetition and ValueQueries read
# as structures (a CalendarTrigger also holds one ScheduleBy… element).
TRIGGER_ELEMENTS = {
    kind: frozenset(_BASE_TRIGGER) | frozenset(extra) | {"Repetition"}
    | ({"ValueQueries"} if kind == "EventTrigger" else set())
    for kind, extra in _TRIGGER_EXTRA.items()
}
REPETITION: dict[str, tuple[str, Any]] = {
    "Interval": (DUR, None), "Duration": (DUR, None), "StopAtDurationEnd": (BOOL, False),
}
SCHEDULE_ELEMENTS = frozenset({"DaysInterval", "WeeksInterval", "DaysOfWeek", "DaysOfMonth", "Months", "Weeks"})

# Settings leaves in the schema's order, then the groups (IdleSettings first: clients
# always write it, with the schema defaults, and Windows drops it on export); both from
# the one settings table.
SETTINGS: dict[str, tuple[str, Any]] = {s.element: (s.kind, s.default) for s in tasksettings.LEAVES}
SETTINGS_GROUPS: dict[str, dict[str, tuple[str, Any]]] = {
    str(g.element): {m.element: (m.kind, m.default) for m in g.ordered()} for g in tasksettings.GROUPS
}
_ALWAYS_GROUPS = tuple(str(g.element) for g in tasksettings.GROUPS if g.always)

PRINCIPAL: dict[str, tuple[str, Any]] = {
    "UserId": (ACCOUNT, None),
    "GroupId": (ACCOUNT, None),
    "LogonType": (STR, None),
    "DisplayName": (TEXT, None),
    "RunLevel": (STR, "LeastPrivilege"),
    "ProcessTokenSidType": (STR, None),
}

REGISTRATION_KEPT: dict[str, tuple[str, Any]] = {
    "Description": (TEXT, None),
    "Version": (TEXT, None),
    "SecurityDescriptor": (TEXT, None),
}
REGISTRATION_DROPPED = {"URI", "Date", "Author", "Source", "Documentation"}

ACTIONS: dict[str, dict[str, tuple[str, Any]]] = {
    "Exec": {"Command": (TEXT, None), "Arguments": (TEXT, None), "WorkingDirectory": (TEXT, None)},
    "ComHandler": {"ClassId": (STR, None), "Data": (TEXT, None)},
}
# Written by Windows on export only (IExecAction2); refused on import, so never ours.
IGNORED = {"HideAppWindow"}

_DATETIME = re.compile(
    r"^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2})(?::(\d{2})(?:[.,](\d+))?)?(Z|[+-]\d{2}:\d{2})?$"
)


def canonical_datetime(text: str) -> str:
    """``2026-01-01T09:00:00.000+00:00`` -> ``2026-01-01T09:00:00Z``; other spellings
    that are not a dateTime (templates' placeholders) are kept as written."""
    value = text.strip()
    match = _DATETIME.match(value)
    if not match:
        return value
    day, hour_minute, seconds, fraction, offset = match.groups()
    out = f"{day}T{hour_minute}:{seconds or '00'}"
    fraction = (fraction or "").rstrip("0")
    if fraction:
        out += "." + fraction
    if offset in ("+00:00", "-00:00"):
        offset = "Z"
    return out + (offset or "")


def _boolean(text: str) -> Any:
    value = text.strip()
    if value in ("true", "1"):
        return True
    if value in ("false", "0"):
        return False
    return value  # kept as written: Windows refuses it, and the diff will show it


def _leaf(kind: str, element: etree._Element, resolve: Resolver) -> Any:
    raw = text_of(element)
    if kind == TEXT:
        return raw
    value = raw.strip()
    if kind == BOOL:
        return _boolean(value)
    if kind == INT:
        try:
            return int(value)
        except ValueError:
            return value
    if kind == DUR:
        try:
            return durations.canonical_iso(value)
        except ValueError:
            return value
    if kind == DATETIME:
        return canonical_datetime(value)
    if kind == ACCOUNT:
        return resolve(value) if value else None
    return value


def _generic(element: etree._Element) -> Any:
    """Unknown elements keep their content: text, or children in order."""
    kids = children(element)
    attributes = {"@" + str(k): v for k, v in sorted(element.attrib.items())}
    if not kids:
        text = text_of(element)
        return {**attributes, "#text": text} if attributes else text
    out: list[Any] = [attributes] if attributes else []
    out.extend({localname(k): _generic(k)} for k in kids)
    return out


def _fill(element: etree._Element | None, table: dict[str, tuple[str, Any]],
          resolve: Resolver, out: dict[str, Any]) -> list[etree._Element]:
    """Read the leaves of ``table`` from ``element`` into ``out`` (defaults filled);
    returns the children the table does not know."""
    seen: dict[str, etree._Element] = {}
    unknown: list[etree._Element] = []
    for child in children(element) if element is not None else []:
        name = localname(child)
        if name in table:
            seen[name] = child
        else:
            unknown.append(child)
    for name, (kind, default) in table.items():
        if name in seen:
            value = _leaf(kind, seen[name], resolve)
            if value is None or (kind in (TEXT, STR) and value == "" and default is None):
                continue  # an empty optional element is the same as none
            out[name] = value
        elif default is not None:
            out[name] = default
    return unknown


def _keep_unknown(unknown: list[etree._Element], out: dict[str, Any]) -> None:
    for child in unknown:
        name = localname(child)
        if name in IGNORED:
            continue
        out.setdefault(name, _generic(child))


def _ordered(names: list[str], order: tuple[str, ...]) -> list[str]:
    rank = {n: i for i, n in enumerate(order)}
    return sorted(set(names), key=lambda n: (rank.get(n, len(order)), n))


def _markers(element: etree._Element | None) -> list[str]:
    return [localname(c) for c in children(element)] if element is not None else []


def _schedule(element: etree._Element) -> dict[str, Any]:
    name = localname(element)
    parts = {localname(c): c for c in children(element)}
    out: dict[str, Any] = {}
    if name == "ScheduleByDay":
        out["DaysInterval"] = _int_or(parts.get("DaysInterval"), 1)
    elif name == "ScheduleByWeek":
        out["WeeksInterval"] = _int_or(parts.get("WeeksInterval"), 1)
        out["DaysOfWeek"] = _ordered(_markers(parts.get("DaysOfWeek")), WEEKDAYS)
    elif name == "ScheduleByMonth":
        days = [text_of(d).strip() for d in children(parts["DaysOfMonth"])] if "DaysOfMonth" in parts else []
        out["DaysOfMonth"] = sorted(set(days), key=lambda d: (not d.isdigit(), int(d) if d.isdigit() else 0, d))
        out["Months"] = _ordered(_markers(parts.get("Months")), MONTHS) if "Months" in parts else list(MONTHS)
    elif name == "ScheduleByMonthDayOfWeek":
        weeks = [text_of(w).strip() for w in children(parts["Weeks"])] if "Weeks" in parts else []
        out["Weeks"] = sorted(set(weeks), key=lambda w: (not w.isdigit(), w))
        out["DaysOfWeek"] = _ordered(_markers(parts.get("DaysOfWeek")), WEEKDAYS)
        out["Months"] = _ordered(_markers(parts.get("Months")), MONTHS) if "Months" in parts else list(MONTHS)
    for key, child in parts.items():
        if key not in SCHEDULE_ELEMENTS:
            out[key] = _generic(child)
    return out


def _int_or(element: etree._Element | None, default: int) -> Any:
    if element is None:
        return default
    value = text_of(element).strip()
    return int(value) if value.isdigit() else value


def canonical_trigger(element: etree._Element, resolve: Resolver) -> dict[str, Any]:
    kind = localname(element)
    if kind not in _TRIGGER_EXTRA:
        return {kind: _generic(element)}
    table = {**_BASE_TRIGGER, **_TRIGGER_EXTRA[kind]}
    out: dict[str, Any] = {}
    unknown = _fill(element, table, resolve, out)
    rest: list[etree._Element] = []
    for child in unknown:
        name = localname(child)
        if name == "Repetition":
            repetition: dict[str, Any] = {}
            extra = _fill(child, REPETITION, resolve, repetition)
            _keep_unknown(extra, repetition)
            out["Repetition"] = repetition
        elif kind == "CalendarTrigger" and name.startswith("ScheduleBy"):
            out[name] = _schedule(child)
        elif kind == "EventTrigger" and name == "ValueQueries":
            out["ValueQueries"] = {
                v.get("name", ""): text_of(v) for v in children(child) if localname(v) == "Value"
            }
        else:
            rest.append(child)
    _keep_unknown(rest, out)
    return {kind: out}


def _principal(task: etree._Element, resolve: Resolver) -> dict[str, Any]:
    principals = [c for c in children(task) if localname(c) == "Principals"]
    if not principals:
        return {}
    principal_elements = [c for c in children(principals[0]) if localname(c) == "Principal"]
    if not principal_elements:
        return {}
    element = principal_elements[0]
    out: dict[str, Any] = {}
    unknown = _fill(element, PRINCIPAL, resolve, out)
    rest = []
    for child in unknown:
        if localname(child) == "RequiredPrivileges":
            out["RequiredPrivileges"] = sorted({text_of(p).strip() for p in children(child)})
        else:
            rest.append(child)
    _keep_unknown(rest, out)
    # The logon type of a service account or a group is implied; Windows writes it
    # or not depending on the version (ServiceAccount appears in some exports).
    user = out.get("UserId")
    if "GroupId" in out or (user in accounts.SERVICE_SIDS):
        out.pop("LogonType", None)
    elif "LogonType" not in out:
        out["LogonType"] = "InteractiveToken"
    return out


def _settings(element: etree._Element | None, resolve: Resolver) -> dict[str, Any]:
    out: dict[str, Any] = {}
    unknown = _fill(element, SETTINGS, resolve, out)
    groups = {localname(c): c for c in unknown if localname(c) in SETTINGS_GROUPS}
    for name, table in SETTINGS_GROUPS.items():
        if name in groups or name in _ALWAYS_GROUPS:
            group: dict[str, Any] = {}
            extra = _fill(groups.get(name), table, resolve, group)
            _keep_unknown(extra, group)
            out[name] = group
    _keep_unknown([c for c in unknown if localname(c) not in SETTINGS_GROUPS], out)
    return out


def _actions(element: etree._Element | None, resolve: Resolver) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for child in children(element) if element is not None else []:
        kind = localname(child)
        if kind in ACTIONS:
            action: dict[str, Any] = {}
            unknown = _fill(child, ACTIONS[kind], resolve, action)
            if kind == "ComHandler" and "ClassId" in action:
                action["ClassId"] = action["ClassId"].upper()
            _keep_unknown(unknown, action)
            out.append({kind: action})
        else:
            out.append({kind: _generic(child)})
    return out


def trigger_order(trigger: dict[str, Any]) -> str:
    """The sort key of a canonical trigger (triggers are a multiset)."""
    return json.dumps(trigger, sort_keys=True)


def _registration(element: etree._Element | None, resolve: Resolver) -> dict[str, Any]:
    registration: dict[str, Any] = {}
    if element is not None:
        unknown = _fill(element, REGISTRATION_KEPT, resolve, registration)
        _keep_unknown([u for u in unknown if localname(u) not in REGISTRATION_DROPPED], registration)
    return registration


class Sections:
    """The canonical form of each part of a task, computed on demand. ``render`` asks
    for the same parts of many tasks and caches them by the spec that made them; here
    they are computed from the elements, which keeps one definition of each."""

    def __init__(self, task: etree._Element, resolve: Resolver) -> None:
        self.task = task
        self.resolve = resolve
        first: dict[str, etree._Element] = {}
        for child in children(task):
            first.setdefault(localname(child), child)
        self.first = first

    def registration(self) -> dict[str, Any]:
        return _registration(self.first.get("RegistrationInfo"), self.resolve)

    def principal(self) -> dict[str, Any]:
        return _principal(self.task, self.resolve)

    def settings(self) -> dict[str, Any]:
        return _settings(self.first.get("Settings"), self.resolve)

    def trigger_elements(self) -> list[etree._Element]:
        return children(self.first["Triggers"]) if "Triggers" in self.first else []

    def trigger(self, element: etree._Element) -> tuple[dict[str, Any], str]:
        form = canonical_trigger(element, self.resolve)
        return form, trigger_order(form)

    def action_elements(self) -> list[etree._Element]:
        return children(self.first["Actions"]) if "Actions" in self.first else []

    def action(self, element: etree._Element) -> dict[str, Any]:
        holder = etree.Element("Actions")
        holder.append(copy.deepcopy(element))
        return _actions(holder, self.resolve)[0]

    def assemble(self, registration: dict[str, Any], principal: dict[str, Any], settings: dict[str, Any],
                 triggers: list[tuple[dict[str, Any], str]], actions: list[dict[str, Any]]) -> dict[str, Any]:
        result: dict[str, Any] = {
            "RegistrationInfo": registration,
            "Principal": principal,
            "Settings": settings,
            "Triggers": [form for form, _ in sorted(triggers, key=lambda pair: pair[1])],
            "Actions": actions,
        }
        if "Data" in self.first:
            result["Data"] = _generic(self.first["Data"])
        for name, element in self.first.items():
            if name not in ("RegistrationInfo", "Principals", "Settings", "Triggers", "Actions", "Data"):
                if name not in IGNORED:
                    result[name] = _generic(element)
        return result


def canonical(task: etree._Element | str, resolve: Resolver = accounts.well_known) -> dict[str, Any]:
    """The canonical form of a task (an lxml ``Task`` element or its XML text)."""
    if isinstance(task, str):
        task = parse(task)
    sections = Sections(task, resolve)
    return sections.assemble(
        sections.registration(), sections.principal(), sections.settings(),
        [sections.trigger(t) for t in sections.trigger_elements()],
        _actions(sections.first.get("Actions"), resolve),
    )


def fingerprint(canonical_form: dict[str, Any]) -> str:
    """A stable hash of a canonical form (the marker's hash, drift detection)."""
    import hashlib

    text = json.dumps(canonical_form, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
