"""When do time-based triggers start the task? A simulator over the canonical form
(``normalize.canonical(xml)["Triggers"]``), used to prove cron conversions exact and to
answer ``reconcile.py next``. Pure; nominal times (RandomDelay is ignored).

Behaviour modelled, and what is assumed where Microsoft's documentation is silent:
- A TimeTrigger starts at its StartBoundary; a CalendarTrigger on each scheduled day at
  the StartBoundary's time of day, from the StartBoundary's date on.
- Repetition: every Interval from each start, for Duration, counting both ends
  ({PT15M, PT1H} starts at :00 :15 :30 :45 :60). No Duration means forever; on a
  calendar trigger every day then starts another endless chain (their union is kept).
  StopAtDurationEnd stops running instances, not starts, so it is ignored here.
- EndBoundary deactivates the trigger: starts at or after it, repetitions included, do
  not happen [assumed: the boundary itself is exclusive].
- ScheduleByDay: every DaysInterval days counted from the StartBoundary's date.
- ScheduleByWeek: weeks counted from the week holding the StartBoundary's date; weeks
  start on Sunday [assumed: Windows does not document which day starts the week for
  WeeksInterval > 1; with interval 1 it does not matter].
- ScheduleByMonth: a day the month lacks (31 in April) is skipped [assumed, not clamped];
  Last is the month's last day. ScheduleByMonthDayOfWeek: week k is days 7k-6..7k (the
  k-th such weekday), Last the final seven days. A date named twice (Day 30 and Last,
  weeks 4 and Last) starts the task once.
- Boundaries with a UTC offset ("synchronize across time zones") are read as naive local
  wall-clock time: the offset is dropped, which is right only when the machine's zone
  has that offset. Times keep their seconds; fractions of a second are dropped.
"""
from __future__ import annotations

import calendar
import datetime
import re
from itertools import repeat
from typing import Any, Callable, Iterable, Iterator, Sequence

from .durations import parse_iso
from .model import MONTHS, WEEKDAYS

_EPOCH = datetime.datetime(1, 1, 1)
_SECOND = datetime.timedelta(seconds=1)
_DAY = 86400
_BOUNDARY = re.compile(
    r"^\s*(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:[.,]\d+)?)?(?:Z|[+-]\d{2}:\d{2})?\s*$"
)
TIME_BASED = ("TimeTrigger", "CalendarTrigger")
_WEEK_STARTS_ON = 6  # Sunday, as date.weekday() counts (Monday 0): see the docstring


def _seconds(moment: datetime.datetime) -> int:
    return (moment.replace(tzinfo=None, microsecond=0) - _EPOCH) // _SECOND


def _moments(seconds: Iterable[int]) -> list[datetime.datetime]:
    # map() keeps the per-item cost in C: two years of */5 is 210,000 datetimes.
    return list(map(_EPOCH.__add__, map(datetime.timedelta, repeat(0), seconds)))


def _boundary(text: Any) -> int | None:
    """A StartBoundary/EndBoundary as seconds; None when absent or unreadable."""
    if not isinstance(text, str):
        return None
    match = _BOUNDARY.match(text)
    if not match:
        return None
    year, month, day, hour, minute, second = (int(g or 0) for g in match.groups())
    try:
        return _seconds(datetime.datetime(year, month, day, hour, minute, second))
    except ValueError:
        return None


def duration_seconds(text: Any) -> int | None:
    if text is None:
        return None
    value = parse_iso(str(text))
    if value.months:
        raise ValueError(f"a repetition of months ({text}) has no fixed length")
    return value.seconds


class _Trigger:
    """One enabled time-based trigger, boundaries and repetition in seconds."""

    def __init__(self, kind: str, body: dict[str, Any]) -> None:
        self.kind = kind
        self.body = body
        start = _boundary(body.get("StartBoundary"))
        assert start is not None
        self.start = start
        self.end = _boundary(body.get("EndBoundary"))
        repetition = body.get("Repetition") or {}
        self.interval = duration_seconds(repetition.get("Interval")) if repetition.get("Interval") else None
        self.length = duration_seconds(repetition.get("Duration")) if self.interval else None
        if self.interval is not None and self.interval <= 0:
            self.interval = None

    def chain(self, first: int, low: int, high: int) -> Sequence[int]:
        """Starts of one occurrence at ``first`` (with its repetition) in [low, high)."""
        high = min(high, self.end) if self.end is not None else high
        if self.interval is None:
            return (first,) if low <= first < high else ()
        last = high - 1 if self.length is None else min(high - 1, first + self.length)
        if last < first:
            return ()
        skip = max(0, -(-(low - first) // self.interval))
        return range(first + skip * self.interval, last + 1, self.interval)


DayRule = Callable[[int, datetime.date], bool]


def day_rule(schedule_kind: str, schedule: dict[str, Any], start_day: int) -> DayRule | None:
    """Does the schedule fire on a day (days since 0001-01-01, and its date)? None for a
    schedule this module does not know."""
    if schedule_kind == "ScheduleByDay":
        every = max(int(schedule.get("DaysInterval", 1) or 1), 1)
        return lambda day, date: (day - start_day) % every == 0
    if schedule_kind == "ScheduleByWeek":
        every = max(int(schedule.get("WeeksInterval", 1) or 1), 1)
        weekdays = {WEEKDAYS.index(n) for n in schedule.get("DaysOfWeek", []) if n in WEEKDAYS}
        anchor = start_day - (datetime.date.fromordinal(start_day + 1).weekday() - _WEEK_STARTS_ON) % 7
        return lambda day, date: (date.weekday() in weekdays
                                  and ((day - anchor) // 7) % every == 0)
    months = {MONTHS.index(n) + 1 for n in schedule.get("Months", MONTHS) if n in MONTHS}
    if schedule_kind == "ScheduleByMonth":
        tokens = set(schedule.get("DaysOfMonth", []))

        def by_month(day: int, date: datetime.date) -> bool:
            if date.month not in months:
                return False
            if str(date.day) in tokens:
                return True
            return "Last" in tokens and date.day == calendar.monthrange(date.year, date.month)[1]

        return by_month
    if schedule_kind == "ScheduleByMonthDayOfWeek":
        weeks = set(schedule.get("Weeks", []))
        weekdays = {WEEKDAYS.index(n) for n in schedule.get("DaysOfWeek", []) if n in WEEKDAYS}

        def by_weekday(day: int, date: datetime.date) -> bool:
            if date.month not in months or date.weekday() not in weekdays:
                return False
            if date.day <= 28 and str((date.day - 1) // 7 + 1) in weeks:
                return True
            length = calendar.monthrange(date.year, date.month)[1]
            return "Last" in weeks and date.day > length - 7

        return by_weekday
    return None


def _calendar(trigger: _Trigger, low: int, high: int) -> Iterator[Sequence[int]]:
    body = trigger.body
    kinds = [k for k in body if k.startswith("ScheduleBy") and isinstance(body[k], dict)]
    if len(kinds) != 1:
        return
    start_day, time_of_day = divmod(trigger.start, _DAY)
    scheduled = day_rule(kinds[0], body[kinds[0]], start_day)
    if scheduled is None:
        return
    if trigger.interval is not None and trigger.length is None:
        # Endless chains: a later chain that lands on the same grid as an earlier one
        # adds nothing, so each residue of the interval needs only its first start.
        first_day = start_day
    else:
        reach = (trigger.length or 0) // _DAY + 1
        first_day = max(start_day, low // _DAY - reach)
    last_day = (high - 1) // _DAY
    if trigger.end is not None:
        last_day = min(last_day, (trigger.end - 1) // _DAY)
    residues: set[int] = set()
    for day in range(first_day, last_day + 1):
        date = datetime.date.fromordinal(day + 1)
        if not scheduled(day, date):
            continue
        first = day * _DAY + time_of_day
        if trigger.interval is not None and trigger.length is None:
            residue = first % trigger.interval
            if residue in residues:
                continue
            residues.add(residue)
        yield trigger.chain(first, low, high)


def _enabled_triggers(triggers: list[dict[str, Any]]) -> Iterator[_Trigger]:
    for item in triggers:
        for kind, body in item.items():
            if kind not in TIME_BASED or not isinstance(body, dict):
                continue
            if body.get("Enabled", True) is False:
                continue
            if _boundary(body.get("StartBoundary")) is None:
                continue  # Windows refuses a time trigger without one: it never fires
            yield _Trigger(kind, body)


def _fire_seconds(triggers: list[dict[str, Any]], low: int, high: int) -> list[int]:
    chains: list[Sequence[int]] = []
    for trigger in _enabled_triggers(triggers):
        if trigger.kind == "TimeTrigger":
            chains.append(trigger.chain(trigger.start, low, high))
        else:
            chains.extend(_calendar(trigger, low, high))
    chains = [c for c in chains if len(c)]
    if len(chains) == 1:  # one chain is sorted and unique already
        return list(chains[0])
    out: list[int] = []
    for chain in chains:
        out.extend(chain)
    return sorted(set(out))


def fire_times(triggers: list[dict[str, Any]], start: datetime.datetime,
               end: datetime.datetime) -> list[datetime.datetime]:
    """Sorted, unique start times (naive local) of the time-based triggers in
    [start, end). Disabled and non-time triggers never start anything here. Raises
    ValueError for a repetition that is unreadable or measured in months."""
    low, high = _seconds(start), _seconds(end)
    low += 1 if start.microsecond else 0
    high += 1 if end.microsecond else 0
    if high <= low:
        return []
    return _moments(_fire_seconds(triggers, low, high))


def next_runs(canonical_task: dict[str, Any], after: datetime.datetime,
              count: int, zone: Any = None) -> list[datetime.datetime]:
    """The next ``count`` start times strictly after ``after``; [] for a disabled task.
    Looks ahead in growing windows, up to 400 years past the last StartBoundary
    (the Gregorian calendar repeats every 400 years). With a ``zone``
    (``simulate_dst.Zone``), the days clocks change are shown as Task Scheduler runs them
    there (``simulate_dst``); without one, in naive wall-clock time."""
    if zone is not None:
        from .simulate_dst import next_runs as next_runs_in_zone

        return next_runs_in_zone(canonical_task, after, count, zone)
    if count <= 0 or canonical_task.get("Settings", {}).get("Enabled", True) is False:
        return []
    triggers = list(canonical_task.get("Triggers", []))
    live = list(_enabled_triggers(triggers))
    if not live:
        return []
    low = _seconds(after) + 1
    horizon = max([low] + [t.start for t in live]) + 401 * 366 * _DAY
    horizon = min(horizon, _seconds(datetime.datetime(9999, 12, 31)))
    span = _DAY
    while True:
        high = min(low + span, horizon)
        found = _fire_seconds(triggers, low, high)
        if len(found) >= count or high >= horizon:
            return _moments(found[:count])
        span *= 4
