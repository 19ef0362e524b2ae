"""A canonical trigger -> the manifest's explicit trigger form (``daily``, ``atLogon``…),
defaults left out, or a refusal that names the element."""
from __future__ import annotations

import re
from typing import Any, Callable

from . import normalize, vocabulary
from .import_base import NotRepresentable, only, short_duration
from .limits import DEFAULT_START, TIME_LIMIT_DEFAULT
from .model import MONTHS

_KIND = vocabulary.inverse(vocabulary.TRIGGER)
_SCHEDULE_KIND = vocabulary.inverse(vocabulary.SCHEDULE)
_WEEKS = vocabulary.inverse(vocabulary.WEEK)
_SESSION = vocabulary.inverse(vocabulary.SESSION)
_BOUNDARY = re.compile(r"^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2}(?:\.\d+)?)(Z|[+-]\d{2}:\d{2})?$")
_DEFAULT_START = DEFAULT_START.isoformat()

# kind (the element), body, where it is -> {manifest kind: body}
_Reader = Callable[[str, dict[str, Any], str], dict[str, Any]]


def to_trigger(trigger: dict[str, Any]) -> dict[str, Any]:
    """``{"CalendarTrigger": {...}}`` -> ``{"daily": {...}}``."""
    ((kind, body),) = trigger.items()
    element = f"Triggers/{kind}"
    if not isinstance(body, dict) or kind not in _READERS:
        raise NotRepresentable(f"{element}: reconcile.py manifests cannot express this trigger")
    return _READERS[kind](kind, body, element)


def _boundary(value: str, element: str) -> tuple[str, str, str]:
    """(date, time, offset) of a Start/EndBoundary."""
    match = _BOUNDARY.match(value)
    if not match:
        raise NotRepresentable(f"{element}: {value!r} is not a date-time Task Scheduler can run")
    day, time, offset = match.groups()
    return day, time, offset or ""


def _clock(time: str) -> str:
    return time[:5] if time.endswith(":00") and "." not in time else time


def _common(body: dict[str, Any], out: dict[str, Any], element: str, time_based: bool) -> None:
    """The options every trigger takes."""
    if body.get("Enabled") is False:
        out["enabled"] = False
    limit = body.get("ExecutionTimeLimit", TIME_LIMIT_DEFAULT)
    if limit != TIME_LIMIT_DEFAULT:
        out["timeLimit"] = short_duration(limit, f"{element}/ExecutionTimeLimit")
    repetition = body.get("Repetition")
    if repetition is not None:
        out["repeat"] = _repeat(repetition, f"{element}/Repetition")
    if "EndBoundary" in body:
        day, time, offset = _boundary(body["EndBoundary"], f"{element}/EndBoundary")
        out["until"] = day if time == "00:00:00" and not offset else f"{day}T{time}{offset}"
    if not time_based and "StartBoundary" in body:
        day, time, offset = _boundary(body["StartBoundary"], f"{element}/StartBoundary")
        out["from"] = day if time == "00:00:00" and not offset else f"{day}T{time}{offset}"
    if time_based and body.get("RandomDelay", "PT0S") != "PT0S":
        out["randomDelay"] = short_duration(body["RandomDelay"], f"{element}/RandomDelay")


def _repeat(repetition: dict[str, Any], element: str) -> dict[str, Any]:
    only(repetition, normalize.REPETITION, element)
    if "Interval" not in repetition:
        raise NotRepresentable(f"{element}: it has no Interval")
    repeat: dict[str, Any] = {"every": short_duration(repetition["Interval"], f"{element}/Interval")}
    if "Duration" in repetition:
        repeat["for"] = short_duration(repetition["Duration"], f"{element}/Duration")
    if repetition.get("StopAtDurationEnd") is True:
        repeat["stopAtEnd"] = True
    return repeat


# --- time-based triggers --------------------------------------------------------------------

def _start(body: dict[str, Any], element: str) -> tuple[str, str, str]:
    if "StartBoundary" not in body:
        raise NotRepresentable(f"{element}/StartBoundary: a time trigger needs a start")
    return _boundary(body["StartBoundary"], f"{element}/StartBoundary")


def _once(kind: str, body: dict[str, Any], element: str) -> dict[str, Any]:
    day, time, offset = _start(body, element)
    only(body, normalize.TRIGGER_ELEMENTS[kind], element)
    out: dict[str, Any] = {"at": f"{day}T{time}{offset}"}
    _common(body, out, element, True)
    return {_KIND[kind]: out}


def _calendar(kind: str, body: dict[str, Any], element: str) -> dict[str, Any]:
    day, time, offset = _start(body, element)
    schedules = [k for k in body if k.startswith("ScheduleBy")]
    only(body, normalize.TRIGGER_ELEMENTS[kind] | set(schedules), element)
    if len(schedules) != 1:
        raise NotRepresentable(f"{element}: it needs exactly one ScheduleBy… element")
    schedule_kind, schedule = schedules[0], body[schedules[0]]
    if schedule_kind not in _SCHEDULE_KIND:
        raise NotRepresentable(f"{element}/{schedule_kind}: reconcile.py manifests cannot express this element")
    out: dict[str, Any] = {"at": _clock(time)}
    _SCHEDULES[schedule_kind](schedule, out)
    only(schedule, normalize.SCHEDULE_ELEMENTS, f"{element}/{schedule_kind}")
    for key in ("days", "weeks"):
        if key in out and not out[key]:
            raise NotRepresentable(f"{element}/{schedule_kind}: it lists no {key}")
    if day != _DEFAULT_START:
        out["from"] = day
    if offset:
        out["utcOffset"] = offset
    _common(body, out, element, True)
    return {_SCHEDULE_KIND[schedule_kind]: out}


def _months(months: list[str]) -> list[str] | None:
    """None for every month (the manifest leaves them out)."""
    return None if list(months) == list(MONTHS) else [m[:3] for m in months]


def _by_day(schedule: dict[str, Any], out: dict[str, Any]) -> None:
    if schedule.get("DaysInterval", 1) != 1:
        out["every"] = schedule["DaysInterval"]


def _by_week(schedule: dict[str, Any], out: dict[str, Any]) -> None:
    out["days"] = [d[:3] for d in schedule.get("DaysOfWeek", [])]
    if schedule.get("WeeksInterval", 1) != 1:
        out["every"] = schedule["WeeksInterval"]


def _by_month(schedule: dict[str, Any], out: dict[str, Any]) -> None:
    out["days"] = [int(d) if d.isdigit() else "last" for d in schedule.get("DaysOfMonth", [])]
    if _months(schedule.get("Months", MONTHS)):
        out["months"] = _months(schedule["Months"])


def _by_month_day_of_week(schedule: dict[str, Any], out: dict[str, Any]) -> None:
    out["weeks"] = [_WEEKS.get(w, w) for w in schedule.get("Weeks", [])]
    out["days"] = [d[:3] for d in schedule.get("DaysOfWeek", [])]
    if _months(schedule.get("Months", MONTHS)):
        out["months"] = _months(schedule["Months"])


_SCHEDULES: dict[str, Callable[[dict[str, Any], dict[str, Any]], None]] = {
    "ScheduleByDay": _by_day,
    "ScheduleByWeek": _by_week,
    "ScheduleByMonth": _by_month,
    "ScheduleByMonthDayOfWeek": _by_month_day_of_week,
}


# --- triggers started by an event: each kind's own fields, then the common ones --------------

def _event_like(fields: Callable[[dict[str, Any], dict[str, Any], str], None]) -> _Reader:
    def read(kind: str, body: dict[str, Any], element: str) -> dict[str, Any]:
        only(body, normalize.TRIGGER_ELEMENTS[kind], element)
        out: dict[str, Any] = {}
        fields(body, out, element)
        _common(body, out, element, False)
        return {_KIND[kind]: out}
    return read


def _delay(body: dict[str, Any], out: dict[str, Any], element: str) -> None:
    if body.get("Delay", "PT0S") != "PT0S":
        out["delay"] = short_duration(body["Delay"], f"{element}/Delay")


def _nothing(body: dict[str, Any], out: dict[str, Any], element: str) -> None:
    pass


def _logon(body: dict[str, Any], out: dict[str, Any], element: str) -> None:
    if body.get("UserId"):
        out["user"] = body["UserId"]
    _delay(body, out, element)


def _session(body: dict[str, Any], out: dict[str, Any], element: str) -> None:
    if body.get("StateChange") not in _SESSION:
        raise NotRepresentable(f"{element}/StateChange: {body.get('StateChange')!r} is not a session change")
    out["change"] = _SESSION[body["StateChange"]]
    _logon(body, out, element)


def _event(body: dict[str, Any], out: dict[str, Any], element: str) -> None:
    if not body.get("Subscription"):
        raise NotRepresentable(f"{element}/Subscription: an event trigger needs a query")
    out["query"] = body["Subscription"]
    _delay(body, out, element)
    if body.get("PeriodOfOccurrence", "PT0S") != "PT0S":
        out["periodOfOccurrence"] = short_duration(body["PeriodOfOccurrence"], f"{element}/PeriodOfOccurrence")
    if body.get("NumberOfOccurrences", 1) != 1:
        out["numberOfOccurrences"] = body["NumberOfOccurrences"]
    if body.get("MatchingElement"):
        out["matchingElement"] = body["MatchingElement"]
    if body.get("ValueQueries"):
        out["valueQueries"] = dict(body["ValueQueries"])


def _wnf(body: dict[str, Any], out: dict[str, Any], element: str) -> None:
    out["stateName"] = body.get("StateName")
    if body.get("Data") is not None:
        out["data"] = body["Data"]
    if body.get("DataOffset") is not None:
        out["dataOffset"] = body["DataOffset"]
    _delay(body, out, element)


_READERS: dict[str, _Reader] = {
    "TimeTrigger": _once,
    "CalendarTrigger": _calendar,
    "BootTrigger": _event_like(_delay),
    "RegistrationTrigger": _event_like(_delay),
    "IdleTrigger": _event_like(_nothing),
    "LogonTrigger": _event_like(_logon),
    "SessionStateChangeTrigger": _event_like(_session),
    "EventTrigger": _event_like(_event),
    "WnfStateChangeTrigger": _event_like(_wnf),
}
