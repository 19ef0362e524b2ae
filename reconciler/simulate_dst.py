"""Start times in a real time zone: what ``next`` shows, the days clocks change included.

``simulate`` works in naive local wall-clock time, which is what cron means and what the
property tests compare. Twice a year the wall clock jumps, and Task Scheduler's starts
then depend on the machine's zone. What is documented, and what is modelled where it is
not (README "Daylight saving time"):
- documented: a StartBoundary or EndBoundary without a UTC offset is local time, one with
  an offset is that instant (ITrigger::StartBoundary remarks, Microsoft Learn);
- documented for weekly and monthly triggers: a start that does not exist on the day
  clocks go forward runs "at the earliest time that exists on that day" (WeeklyTrigger,
  MonthlyTrigger and MonthlyDOWTrigger remarks); modelled the same for daily and one-time
  starts, and for an EndBoundary;
- not documented (KB 325413: the behaviour "is not specified for tasks that are scheduled
  to run during the transition hours"), modelled: a start that exists twice when clocks
  go back runs once, the first time; a repetition steps in elapsed time from the start it
  repeats, and its Duration is elapsed time too (repetitionType: Interval is "the amount
  of time between each restart of the task"). A repetition may step on the wall clock
  instead; cron conversions are shaped to give cron's times either way (``cron_dst``).
A start that happens twice at the same instant (two triggers) is one start.
"""
from __future__ import annotations

import datetime
import re
from dataclasses import dataclass
from typing import Any, Iterable, Iterator, Protocol, Sequence

from .simulate import TIME_BASED, day_rule, duration_seconds

EPOCH = datetime.datetime(1970, 1, 1)
_DAY = 86400
_LAST_INSTANT = 32503680000  # 3000-01-01: past it the C library's local time may fail on Windows
_BOUNDARY = re.compile(r"^\s*(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:[.,]\d+)?)?"
                       r"(Z|[+-]\d{2}:\d{2})?\s*$")


class Zone(Protocol):
    """A time zone as seconds since the epoch (instants) and naive wall-clock times."""

    def instant(self, wall: datetime.datetime, fold: int = 0) -> int: ...

    def local(self, instant: int) -> datetime.datetime: ...


@dataclass(frozen=True)
class TzZone:
    """A zone from a ``tzinfo`` (``zoneinfo.ZoneInfo("Europe/Berlin")``)."""

    tz: datetime.tzinfo

    def instant(self, wall: datetime.datetime, fold: int = 0) -> int:
        return int(wall.replace(tzinfo=self.tz, fold=fold).timestamp())

    def local(self, instant: int) -> datetime.datetime:
        return datetime.datetime.fromtimestamp(instant, self.tz).replace(tzinfo=None)


class SystemZone:
    """The machine's own zone, as the C library (and Task Scheduler) knows it."""

    def instant(self, wall: datetime.datetime, fold: int = 0) -> int:
        return int(wall.replace(fold=fold).timestamp())

    def local(self, instant: int) -> datetime.datetime:
        return datetime.datetime.fromtimestamp(instant)


def resolve(zone: Zone, wall: datetime.datetime) -> int:
    """The instant a wall-clock start happens: the first of two when clocks went back, the
    first instant after the jump when clocks went forward over it."""
    wall = wall.replace(fold=0)
    first = zone.instant(wall, 0)
    if zone.local(first).replace(fold=0) == wall:
        return first
    low, high = sorted((first, zone.instant(wall, 1)))
    while low < high:  # the jump lies between the two readings of the wall time
        middle = (low + high) // 2
        if zone.local(middle) > wall:
            high = middle
        else:
            low = middle + 1
    return low


def shown(zone: Zone, instant: int) -> datetime.datetime:
    """An instant as naive local time; in an hour that happens twice, with its UTC offset,
    so the two are told apart."""
    wall = zone.local(instant).replace(fold=0)
    if zone.instant(wall, 0) == zone.instant(wall, 1):
        return wall
    offset = datetime.timedelta(seconds=round((wall - EPOCH).total_seconds()) - instant)
    return wall.replace(tzinfo=datetime.timezone(offset))


@dataclass(frozen=True)
class _Boundary:
    wall: datetime.datetime  # as written, without its offset
    offset: int | None  # seconds east of UTC when written; None: local time

    def instant(self, zone: Zone) -> int:
        if self.offset is None:
            return resolve(zone, self.wall)
        return round((self.wall - EPOCH).total_seconds()) - self.offset

    def on(self, day: datetime.date) -> _Boundary:
        return _Boundary(datetime.datetime.combine(day, self.wall.time()), self.offset)

    def wall_of(self, zone: Zone, instant: int) -> datetime.datetime:
        """An instant as a wall time in this boundary's own terms."""
        if self.offset is None:
            return zone.local(instant)
        return EPOCH + datetime.timedelta(seconds=instant + self.offset)


def _boundary(text: Any) -> _Boundary | None:
    match = _BOUNDARY.match(text) if isinstance(text, str) else None
    if not match:
        return None
    year, month, day, hour, minute, second, zone = match.groups()
    try:
        wall = datetime.datetime(int(year), int(month), int(day), int(hour), int(minute), int(second or 0))
    except ValueError:
        return None
    if zone is None:
        return _Boundary(wall, None)
    sign = -1 if zone.startswith("-") else 1
    offset = 0 if zone == "Z" else sign * (int(zone[1:3]) * 3600 + int(zone[4:6]) * 60)
    return _Boundary(wall, offset)


@dataclass(frozen=True)
class _Trigger:
    kind: str
    body: dict[str, Any]
    start: _Boundary
    end: _Boundary | None
    every: int | None
    length: int | None

    def chain(self, first: int, low: int, high: int, end: int | None) -> Sequence[int]:
        """The starts in [low, high) of one occurrence at ``first``, repetition included."""
        stop = high if end is None else min(high, end)
        if self.every is None:
            return (first,) if low <= first < stop else ()
        last = stop - 1 if self.length is None else min(stop - 1, first + self.length)
        if last < first:
            return ()
        skip = max(0, -(-(low - first) // self.every))
        return range(first + skip * self.every, last + 1, self.every)


def _triggers(triggers: Iterable[dict[str, Any]]) -> Iterator[_Trigger]:
    for item in triggers:
        for kind, body in item.items():
            if kind not in TIME_BASED or not isinstance(body, dict) or body.get("Enabled", True) is False:
                continue
            start = _boundary(body.get("StartBoundary"))
            if start is None:
                continue
            repetition = body.get("Repetition") or {}
            every = duration_seconds(repetition.get("Interval")) if repetition.get("Interval") else None
            every = every if every else None
            length = duration_seconds(repetition.get("Duration")) if every else None
            yield _Trigger(kind, body, start, _boundary(body.get("EndBoundary")), every, length)


def _calendar_chains(trigger: _Trigger, zone: Zone, low: int, high: int, end: int | None) -> Iterator[Sequence[int]]:
    kinds = [k for k in trigger.body if k.startswith("ScheduleBy") and isinstance(trigger.body[k], dict)]
    if len(kinds) != 1:
        return
    start_day = trigger.start.wall.toordinal() - 1
    scheduled = day_rule(kinds[0], trigger.body[kinds[0]], start_day)
    if scheduled is None:
        return
    endless = trigger.every is not None and trigger.length is None
    reach = (trigger.length or 0) // _DAY + 2
    first_day = start_day if endless else max(start_day, trigger.start.wall_of(zone, low).toordinal() - 1 - reach)
    last_day = trigger.start.wall_of(zone, high).toordinal()  # a day after: a start may move past midnight
    if end is not None:
        last_day = min(last_day, trigger.start.wall_of(zone, end).toordinal())
    residues: set[int] = set()
    for day in range(first_day, last_day + 1):
        date = datetime.date.fromordinal(day + 1)
        if not scheduled(day, date):
            continue
        first = trigger.start.on(date).instant(zone)
        if first < trigger.start.instant(zone):
            continue
        if endless:
            # Each day starts another endless chain; one per phase is enough.
            residue = first % (trigger.every or 1)
            if residue in residues:
                continue
            residues.add(residue)
        yield trigger.chain(first, low, high, end)


def _fires(triggers: list[_Trigger], zone: Zone, low: int, high: int) -> list[int]:
    out: set[int] = set()
    for trigger in triggers:
        end = trigger.end.instant(zone) if trigger.end is not None else None
        if trigger.kind == "TimeTrigger":
            out.update(trigger.chain(trigger.start.instant(zone), low, high, end))
        else:
            for chain in _calendar_chains(trigger, zone, low, high, end):
                out.update(chain)
    return sorted(out)


def next_runs(canonical_task: dict[str, Any], after: datetime.datetime, count: int,
              zone: Zone) -> list[datetime.datetime]:
    """The next ``count`` starts strictly after the local time ``after``, in ``zone``."""
    if count <= 0 or canonical_task.get("Settings", {}).get("Enabled", True) is False:
        return []
    triggers = list(_triggers(canonical_task.get("Triggers", [])))
    if not triggers:
        return []
    low = resolve(zone, after.replace(microsecond=0)) + 1
    horizon = min(max([low] + [t.start.instant(zone) for t in triggers]) + 401 * 366 * _DAY, _LAST_INSTANT)
    span = _DAY
    while True:
        high = min(low + span, horizon)
        found = _fires(triggers, zone, low, high)
        if len(found) >= count or high >= horizon:
            return [shown(zone, instant) for instant in found[:count]]
        span *= 4
