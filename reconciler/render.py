"""TaskSpec -> Task Scheduler XML. Pure and deterministic: the same spec gives the same
bytes on any machine on any day (no clock is read; dates come from the manifest or are
fixed). Built with lxml from ``templates/task.xml``, never by formatting values into
text. Child order follows the XSD sequences; ``version`` is the lowest the features
used need (Windows refuses a feature newer than the declared version)."""
from __future__ import annotations

import copy
import functools
import re
from dataclasses import dataclass
from typing import Any

from lxml import etree

from . import accounts, marker, normalize, tasksettings
from .durations import Duration
from .model import (
    MONTHS, BootTrigger, ByDay, ByMonth, ByMonthDayOfWeek, ByWeek, CalendarTrigger,
    ComHandlerAction, EventTrigger, ExecAction, IdleTrigger, LogonTrigger, RegistrationTrigger,
    SessionStateChangeTrigger, TaskSpec, TimeTrigger, Trigger, TriggerBase, WnfStateChangeTrigger,
)
from .resources import template
from .taskxml import TASK_NS, parse

_DECLARATION = re.compile(r"^\ufeff?\s*<\?xml[^>]*\?>")

_NS = "{%s}" % TASK_NS

# Settings newer than the task schema 1.2 (Vista), with the version that introduced each.
_SETTING_VERSIONS = tasksettings.VERSIONS


@dataclass(frozen=True)
class Rendered:
    """A task ready to register: its XML (without a declaration), its canonical form
    and the hash of that form (written into the ownership marker)."""

    path: str
    xml: str
    canonical: dict[str, Any]
    hash: str
    marker: marker.Marker


@functools.lru_cache(maxsize=1)
def _base() -> etree._Element:
    return parse(template("task.xml"), "templates/task.xml")


def _sub(parent: etree._Element, name: str, text: str | None = None) -> etree._Element:
    element = etree.SubElement(parent, _NS + name)
    if text is not None:
        element.text = text
    return element


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Duration):
        return value.iso()
    return str(value)


def _settings(parent: etree._Element, pairs: tuple[tuple[str, Any], ...]) -> None:
    for name, value in pairs:
        if isinstance(value, tuple):
            _settings(_sub(parent, name), value)
        else:
            _sub(parent, name, _value(value))


def _trigger_base(element: etree._Element, trigger: TriggerBase) -> None:
    # XSD sequence: Enabled, StartBoundary, EndBoundary, Repetition, ExecutionTimeLimit.
    if not trigger.enabled:
        _sub(element, "Enabled", "false")
    if trigger.start is not None:
        _sub(element, "StartBoundary", trigger.start)
    if trigger.end is not None:
        _sub(element, "EndBoundary", trigger.end)
    if trigger.repetition is not None:
        repetition = _sub(element, "Repetition")
        _sub(repetition, "Interval", trigger.repetition.interval.iso())
        if trigger.repetition.duration is not None:
            _sub(repetition, "Duration", trigger.repetition.duration.iso())
        if trigger.repetition.stop_at_end:
            _sub(repetition, "StopAtDurationEnd", "true")
    if trigger.time_limit is not None:
        _sub(element, "ExecutionTimeLimit", trigger.time_limit.iso())


def _markers(parent: etree._Element, name: str, values: tuple[str, ...]) -> None:
    group = _sub(parent, name)
    for value in values:
        _sub(group, value)


def _schedule(element: etree._Element, schedule: Any) -> None:
    if isinstance(schedule, ByDay):
        _sub(_sub(element, "ScheduleByDay"), "DaysInterval", str(schedule.interval))
    elif isinstance(schedule, ByWeek):
        by_week = _sub(element, "ScheduleByWeek")
        _sub(by_week, "WeeksInterval", str(schedule.interval))
        _markers(by_week, "DaysOfWeek", schedule.days)
    elif isinstance(schedule, ByMonth):
        by_month = _sub(element, "ScheduleByMonth")
        days = _sub(by_month, "DaysOfMonth")
        for day in schedule.days:
            _sub(days, "Day", day)
        if tuple(schedule.months) != MONTHS:
            _markers(by_month, "Months", schedule.months)
    elif isinstance(schedule, ByMonthDayOfWeek):
        by_dow = _sub(element, "ScheduleByMonthDayOfWeek")
        weeks = _sub(by_dow, "Weeks")
        for week in schedule.weeks:
            _sub(weeks, "Week", week)
        _markers(by_dow, "DaysOfWeek", schedule.days)
        if tuple(schedule.months) != MONTHS:
            _markers(by_dow, "Months", schedule.months)
    else:  # pragma: no cover - the model has no other schedule
        raise TypeError(f"unknown schedule {schedule!r}")


def _delay(element: etree._Element, delay: Duration | None) -> None:
    if delay is not None:
        _sub(element, "Delay", delay.iso())


def _trigger(parent: etree._Element, trigger: Trigger) -> None:
    kind = type(trigger).__name__
    element = _sub(parent, kind)
    _trigger_base(element, trigger)
    if isinstance(trigger, (CalendarTrigger, TimeTrigger)):
        if trigger.random_delay is not None:
            _sub(element, "RandomDelay", trigger.random_delay.iso())
        if isinstance(trigger, CalendarTrigger):
            _schedule(element, trigger.schedule)
    elif isinstance(trigger, (BootTrigger, RegistrationTrigger)):
        _delay(element, trigger.delay)
    elif isinstance(trigger, LogonTrigger):
        if trigger.user_id is not None:
            _sub(element, "UserId", trigger.user_id)
        _delay(element, trigger.delay)
    elif isinstance(trigger, SessionStateChangeTrigger):
        if trigger.user_id is not None:
            _sub(element, "UserId", trigger.user_id)
        _delay(element, trigger.delay)
        _sub(element, "StateChange", trigger.state_change)
    elif isinstance(trigger, EventTrigger):
        _sub(element, "Subscription", trigger.subscription)
        _delay(element, trigger.delay)
        if trigger.period_of_occurrence is not None:
            _sub(element, "PeriodOfOccurrence", trigger.period_of_occurrence.iso())
        if trigger.number_of_occurrences is not None:
            _sub(element, "NumberOfOccurrences", str(trigger.number_of_occurrences))
        if trigger.matching_element is not None:
            _sub(element, "MatchingElement", trigger.matching_element)
        if trigger.value_queries:
            queries = _sub(element, "ValueQueries")
            for name, query in trigger.value_queries:
                _sub(queries, "Value", query).set("name", name)
    elif isinstance(trigger, WnfStateChangeTrigger):
        _delay(element, trigger.delay)
        _sub(element, "StateName", trigger.state_name)
        if trigger.data is not None:
            _sub(element, "Data", trigger.data)
        if trigger.data_offset is not None:
            _sub(element, "DataOffset", str(trigger.data_offset))
    elif isinstance(trigger, IdleTrigger):
        pass


def _principal(element: etree._Element, spec: TaskSpec) -> None:
    p = spec.principal
    if p.user_id is not None:
        user = accounts.well_known(p.user_id)
        # Well-known accounts are written as their SID (README "runAs"), others as named.
        _sub(element, "UserId", user if accounts.is_sid(user) else p.user_id)
    if p.group_id is not None:
        group = accounts.well_known(p.group_id)
        _sub(element, "GroupId", group if accounts.is_sid(group) else p.group_id)
    if p.logon_type is not None:
        _sub(element, "LogonType", p.logon_type)
    if p.display_name is not None:
        _sub(element, "DisplayName", p.display_name)
    if p.run_level is not None:
        _sub(element, "RunLevel", p.run_level)
    if p.process_token_sid_type is not None:
        _sub(element, "ProcessTokenSidType", p.process_token_sid_type)
    if p.required_privileges:
        privileges = _sub(element, "RequiredPrivileges")
        for privilege in p.required_privileges:
            _sub(privileges, "Privilege", privilege)


def _version(spec: TaskSpec) -> str:
    needed = (1, 2)
    names = {name for name, _ in spec.settings}
    for name, version in _SETTING_VERSIONS.items():
        if name in names:
            needed = max(needed, version)
    if spec.principal.process_token_sid_type or spec.principal.required_privileges:
        needed = max(needed, (1, 3))  # IPrincipal2 (Windows 7)
    if any(isinstance(t, WnfStateChangeTrigger) for t in spec.triggers):
        needed = max(needed, (1, 4))  # Windows 8; every real export with one says >= 1.4
    return f"{needed[0]}.{needed[1]}"


def _part_of(task: etree._Element, path: str) -> etree._Element:
    """An element the base template (templates/task.xml) always has."""
    found = task.find(path)
    if found is None:  # pragma: no cover - the template is part of the package
        raise AssertionError(f"templates/task.xml has no {path}")
    return found


def build(spec: TaskSpec) -> etree._Element:
    """The task element without the ownership marker."""
    task = copy.deepcopy(_base())
    task.set("version", _version(spec))
    registration = _part_of(task, _NS + "RegistrationInfo")
    for name, value in spec.registration:
        _sub(registration, name, value)
    if spec.description:
        _sub(registration, "Description", spec.description)
    triggers = _part_of(task, _NS + "Triggers")
    for trigger in spec.triggers:
        _trigger(triggers, trigger)
    _principal(_part_of(task, f"{_NS}Principals/{_NS}Principal"), spec)
    _settings(_part_of(task, _NS + "Settings"), spec.settings)
    actions = _part_of(task, _NS + "Actions")
    for action in spec.actions:
        if isinstance(action, ExecAction):
            exec_ = _sub(actions, "Exec")
            _sub(exec_, "Command", action.command)
            if action.arguments:
                _sub(exec_, "Arguments", action.arguments)
            if action.working_directory:
                _sub(exec_, "WorkingDirectory", action.working_directory)
        elif isinstance(action, ComHandlerAction):
            com = _sub(actions, "ComHandler")
            _sub(com, "ClassId", action.class_id)
            if action.data is not None:
                _sub(com, "Data", action.data)
    if spec.data is not None:
        _sub(task, "Data", spec.data)
    return task


def serialize(task: etree._Element) -> str:
    etree.indent(task, space="  ")
    return etree.tostring(task, encoding="unicode")


# Canonical forms of task parts by the spec that rendered them. Tasks of one repository
# share their settings, accounts and schedules; each distinct part is canonicalised once.
# The forms are shared between tasks: nothing may change a canonical form in place.
_PARTS: dict[tuple[Any, ...], Any] = {}
_PARTS_LIMIT = 50_000


def _part(key: tuple[Any, ...], compute: Any) -> Any:
    found = _PARTS.get(key)
    if found is None:
        found = compute()
        if len(_PARTS) < _PARTS_LIMIT:
            _PARTS[key] = found
    return found


def _canonical(spec: TaskSpec, task: etree._Element, resolve: normalize.Resolver) -> dict[str, Any]:
    """``normalize.canonical(task, resolve)``, with the parts cached by their spec."""
    sections = normalize.Sections(task, resolve)
    # The resolver itself is the key: a bound method compares by its backend, and the
    # cache holds it, so no other backend can come to share its identity.
    who = resolve
    triggers = [
        _part(("trigger", trigger, who), lambda element=element: sections.trigger(element))
        for trigger, element in zip(spec.triggers, sections.trigger_elements())
    ]
    actions = [
        _part(("action", action), lambda element=element: sections.action(element))
        for action, element in zip(spec.actions, sections.action_elements())
    ]
    return sections.assemble(
        sections.registration(),
        _part(("principal", spec.principal, who), sections.principal),
        _part(("settings", spec.settings), sections.settings),
        triggers, actions,
    )


def render(spec: TaskSpec, root: str, resolve: normalize.Resolver = accounts.well_known,
           extra_marker: dict[str, Any] | None = None, marker_key: str | None = None) -> Rendered:
    """Render a task with its ownership marker (root, path, protect, content hash),
    signed with ``marker_key`` (RECONCILE_HMAC_KEY) when one is given."""
    task = build(spec)
    canonical_form = _canonical(spec, task, resolve)
    digest = normalize.fingerprint(canonical_form)
    registration = _part_of(task, _NS + "RegistrationInfo")
    fields = marker.Marker(root=root, path=spec.path, protect=spec.protect, hash=digest,
                           canonical_version=normalize.VERSION, extra=extra_marker or {},
                           verified=True if marker_key else None)
    # RegistrationInfo is an xs:all: any order. Source and Documentation go first.
    source = etree.Element(_NS + "Source")
    source.text = marker.SOURCE
    documentation = etree.Element(_NS + "Documentation")
    documentation.text = fields.dumps(marker_key)
    registration.insert(0, documentation)
    registration.insert(0, source)
    return Rendered(path=spec.path, xml=serialize(task), canonical=canonical_form, hash=digest,
                    marker=fields)


def declared(xml: str, encoding: str) -> str:
    """The XML with its declaration (``UTF-16`` for files Windows reads, ``UTF-8`` for
    stdout)."""
    return f'<?xml version="1.0" encoding="{encoding}"?>\n{xml}\n'


def to_utf16_file(xml: str) -> bytes:
    """A task file as Task Scheduler keeps it and as ``schtasks /Create /XML`` reads it:
    UTF-16LE with a BOM and a matching declaration (any other declaration replaced), CRLF
    line ends; the one form every Windows accepts ("Task Scheduler Schema", Microsoft
    Learn: task files are UTF-16)."""
    body = _DECLARATION.sub("", xml, count=1).strip("\r\n")
    text = declared(body, "UTF-16").replace("\r\n", "\n").replace("\n", "\r\n")
    return b"\xff\xfe" + text.encode("utf-16-le")

