"""Cron (crontab(5), Vixie) -> Task Scheduler triggers that fire at exactly the same
minutes, or a refusal that says why and what to write instead. Never an approximation.

Semantics (SPEC "Cron"): five fields, names case-insensitive, 0 and 7 are Sunday, lists,
ranges, steps (``a/s`` is ``a-max/s``; the day-of-week maximum is 7, as in crontab(5)),
``a-a`` is the single value a, reversed ranges are refused. Day of month and day of week
are ORed when both are restricted; a field whose text starts with ``*`` counts as
unrestricted, which turns the pair into an AND (``0 0 */2 * 1``: Mondays on odd days).
Extensions: ``L`` in day of month, ``N#k`` (k <= 4) and ``NL`` in day of week.

How a schedule becomes triggers. A cron schedule is (set of days) x (set of minutes of the
day). Days become the fewest *day patterns* Task Scheduler has (ScheduleByDay, ByWeek,
ByMonth, ByMonthDayOfWeek), checked by evaluating both sides over every (month, month
length, weekday of the 1st) combination, which covers every date of the Gregorian
calendar. Minutes become the fewest *windows* (start, interval, count); every trigger is
one day pattern x one window, so the task has patterns x windows triggers (at most 48).

Why the output has the shape it has:
- Repetition Duration counts both ends (IRepetitionPattern remarks), so a window of n
  fires every p minutes is written with Duration (n-1)*p.
- A window of exactly two fires would need Duration == Interval, which the Task Scheduler
  UI (and [MS-TSCH] for v1 tasks) refuses; we emit two plain triggers instead.
- Windows never cross midnight, so every conversion is exact from the first minute of
  ``start_date`` (a window that wrapped would miss the early hours of that first day).
- Registration and the midnight bug (oven-sh/bun#34195, PR #34199): Task Scheduler
  starts a calendar trigger's repetition only when the trigger itself fires. A daily
  trigger at 00:00 repeating every 10 minutes, registered at 15:30, stays silent until
  the next midnight. A one-time TimeTrigger whose StartBoundary is in the past starts its
  repetition at once. So every schedule that fires all day on every day with a fixed
  period (``*/10 * * * *``, ``7 * * * *``, ``0 */2 * * *``, and each minute column of
  ``*/7 * * * *``) becomes a TimeTrigger with an indefinite repetition. That is the only
  indefinite repetition we write: a TimeTrigger has a single occurrence, so repetitions
  cannot pile up, while an indefinite repetition on a calendar trigger would start a new
  never-ending chain every day (and has been seen to run at once on registration,
  dahall/TaskScheduler#768/#773). Calendar windows always have a Duration shorter than a
  day. What remains (for README): a calendar window that is in progress when the task
  is (re)registered, e.g. ``*/15 9-17 * * 1-5`` registered at 10:00, resumes at its next
  start (09:00 the next weekday). Only one plain trigger per start time would avoid it,
  against the fewest-triggers rule; among equally small conversions we pick the one
  with the shortest windows to keep that loss small.
- "Fewest": hours are partitioned optimally; weekday/week pairs are grouped by weekday or
  by week, whichever is fewer; minute groups are searched with a lower bound and a node
  budget. Past those heuristics a result is always exact, only perhaps not the fewest.
- Period TimeTriggers assume Task Scheduler steps a repetition in local wall-clock time;
  if it steps elapsed time, a period that does not divide an hour (``0 */2``) would be an
  hour off after a DST change, where a calendar trigger realigns each day (for README).
"""
from __future__ import annotations

import calendar
import functools
import dataclasses
import datetime
import re
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from . import model
from .durations import MINUTE, Duration
from .errors import ReconcileError

MAX_TRIGGERS = 48  # triggersType: xs:group maxOccurs="48"


class CronError(ReconcileError):
    """A cron expression that is refused; ``str(err)`` is one line, the cause and a way
    out, without the expression (the caller quotes it with its file and line)."""


@dataclass(frozen=True)
class Conversion:
    triggers: tuple[model.Trigger, ...]
    may_overlap: bool  # two triggers can fire at the same minute (DOM/DOW OR)


# --- parsing ---------------------------------------------------------------------------

_MONTH_NAMES = {name: i for i, name in enumerate(
    ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"), 1)}
_DOW_NAMES = {name: i for i, name in enumerate(("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"))}
_DAY_NAMES = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")

_MACROS = {
    "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}


@dataclass(frozen=True)
class _Field:
    name: str
    low: int
    high: int
    names: dict[str, int]

    @property
    def value_pattern(self) -> str:
        return "|".join([r"\d+", *self.names])


_MINUTE = _Field("minute", 0, 59, {})
_HOUR = _Field("hour", 0, 23, {})
_DOM = _Field("day-of-month", 1, 31, {})
_MONTH = _Field("month", 1, 12, _MONTH_NAMES)
_DOW = _Field("day-of-week", 0, 7, _DOW_NAMES)  # crontab(5): 0-7, 0 and 7 are Sunday


@dataclass(frozen=True)
class _Cron:
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]  # 1..31
    last_day: bool  # L
    day_star: bool  # the field's text starts with '*'
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday .. 6
    nth: frozenset[tuple[int, int]]  # (weekday, k): N#k
    last_weekdays: frozenset[int]  # NL
    weekday_star: bool


@dataclass
class _Items:
    """One field as read: plain values, plus L (day of month), N#k and NL (day of week)."""

    values: set[int] = dataclasses.field(default_factory=set)
    last: bool = False
    nth: set[tuple[int, int]] = dataclasses.field(default_factory=set)
    last_weekdays: set[int] = dataclasses.field(default_factory=set)


def _value(token: str, field: _Field) -> int:
    if len(token) > 6:  # no field value has more digits; a long one is only echoed short
        raise CronError(f"{token[:6]}… is out of range for the {field.name} field "
                        f"({field.low}-{field.high})")
    number = field.names[token] if token in field.names else int(token)
    if not field.low <= number <= field.high:
        raise CronError(f"{token} is out of range for the {field.name} field "
                                 f"({field.low}-{field.high})")
    return number


def _diagnose(item: str, field: _Field) -> CronError:
    """The clearest reason an item is not crontab(5) syntax."""
    upper = item.upper()
    if "?" in upper:
        return CronError("'?' is Quartz syntax, not crontab: write * instead")
    if upper.startswith("H") and upper[:3] not in field.names:
        return CronError(f"'{item}' in the {field.name} field is Jenkins' hashed 'H', "
                                  "which is not supported: choose a fixed value")
    if "W" in upper and not any(name in upper for name in field.names):
        return CronError(f"'{item}': 'W' (nearest weekday) is not supported, Task "
                                  "Scheduler cannot express it: name the days instead")
    if "#" in upper and field is not _DOW:
        return CronError(f"'{item}': '#' is only valid in the day-of-week field")
    if "L" in upper and not any(name in upper for name in field.names):
        if field is _DOM:
            return CronError(f"'{item}': only a plain L (the last day of the month) "
                                      "is supported in the day-of-month field")
        if field is _DOW:
            if upper == "L":
                return CronError("'L' alone in the day-of-week field is ambiguous: "
                                          "write 5L for the last Friday, or 6 for Saturday")
            number = re.fullmatch(r"L([0-7])", upper)
            if number:
                weekday = int(number.group(1)) % 7
                return CronError(f"'{item}': write the last {_DAY_NAMES[weekday]} of the "
                                          f"month as {number.group(1)}L")
            return CronError(f"cannot read '{item}' in the day-of-week field: the last "
                                      "Friday of the month is 5L")
        return CronError(f"'{item}': 'L' is only valid in the day-of-month and "
                                  "day-of-week fields")
    if re.search(r"[A-Z]{3}", upper) and not field.names:
        return CronError(f"cannot read '{item}' in the {field.name} field: names "
                                  "are for months (JAN-DEC) and days of the week (SUN-SAT)")
    shown = item if len(item) <= 40 else item[:36] + "…"
    return CronError(f"cannot read '{shown}' in the {field.name} field")


def _items(text: str, field: _Field) -> _Items:  # noqa: C901 - one grammar
    out = _Items()
    value = field.value_pattern
    for item in text.split(","):
        upper = item.upper()
        if not item:
            raise CronError(f"empty item in the {field.name} field (two commas, or a "
                                     "comma at an end)")
        star = re.fullmatch(r"\*(?:/(\d+))?", upper)
        ranged = re.fullmatch(rf"({value})(?:-({value}))?(?:/(\d+))?", upper)
        if star or ranged:
            if star:
                low, high, step_text = field.low, field.high, star.group(1)
            else:
                assert ranged is not None
                low = _value(ranged.group(1), field)
                high = field.high if ranged.group(2) is None else _value(ranged.group(2), field)
                step_text = ranged.group(3)
                if ranged.group(2) is None and step_text is None:
                    high = low
                if low > high:
                    hint = f" (write {ranged.group(1)}-7: 7 is Sunday)" if field is _DOW and high == 0 else ""
                    raise CronError(f"reversed range {item} in the {field.name} field: "
                                             f"crontab does not wrap around{hint}; write it as two "
                                             "ranges in a list")
            step = 1 if step_text is None else int(step_text)
            if step == 0:
                raise CronError(f"step 0 in '{item}' in the {field.name} field: a step "
                                         "must be at least 1")
            out.values.update(range(low, high + 1, step))
            continue
        if field is _DOM and upper == "L":
            out.last = True
            continue
        if field is _DOW:
            nth = re.fullmatch(rf"({value})#(\d+)", upper)
            last = re.fullmatch(rf"({value})L", upper)
            if nth:
                weekday = _value(nth.group(1), field) % 7
                week = int(nth.group(2))
                if week == 5:
                    raise CronError(f"a 5th {_DAY_NAMES[weekday]} does not exist every "
                                             "month and Task Scheduler has no 5th week: use "
                                             f"{weekday}L for the last {_DAY_NAMES[weekday]}")
                if not 1 <= week <= 4:
                    raise CronError(f"week {week} in '{item}' is out of range (1-4)")
                out.nth.add((weekday, week))
                continue
            if last:
                out.last_weekdays.add(_value(last.group(1), field) % 7)
                continue
        raise _diagnose(item, field)
    return out


def _parse(expression: str) -> _Cron:
    fields = expression.split()
    if len(fields) == 6:
        raise CronError("six fields: seconds are not supported; write the five "
                                 "crontab fields (minute hour day-of-month month day-of-week)")
    if len(fields) == 7:
        raise CronError("seven fields: seconds and years are not supported; write the "
                                 "five crontab fields (minute hour day-of-month month day-of-week)")
    if len(fields) != 5:
        raise CronError(f"{len(fields)} fields: write five (minute hour day-of-month "
                                 "month day-of-week)")
    minute, hour, dom, month, dow = (
        _items(text, field)
        for text, field in zip(fields, (_MINUTE, _HOUR, _DOM, _MONTH, _DOW))
    )
    return _Cron(
        minutes=frozenset(minute.values), hours=frozenset(hour.values),
        days=frozenset(dom.values), last_day=dom.last, day_star=fields[2].startswith("*"),
        months=frozenset(month.values),
        weekdays=frozenset(v % 7 for v in dow.values), nth=frozenset(dow.nth),
        last_weekdays=frozenset(dow.last_weekdays), weekday_star=fields[4].startswith("*"),
    )


# --- days: every date as bits over (month, month length, weekday of the 1st) -------------

def _atoms() -> tuple[tuple[int, int, int], ...]:
    out = []
    for month in range(1, 13):
        lengths = (28, 29) if month == 2 else (calendar.monthrange(2001, month)[1],)
        for length in lengths:
            for first in range(7):  # 0 = Sunday; every combination occurs in the calendar
                out.append((month, length, first))
    return tuple(out)


_ATOMS = _atoms()
_WEEKS = ("1", "2", "3", "4", "Last")


def _dates() -> Iterable[tuple[int, int, int, int, int]]:
    """(bit, month, length, day, weekday) for every date shape."""
    for index, (month, length, first) in enumerate(_ATOMS):
        for day in range(1, length + 1):
            yield index * 32 + day, month, length, day, (first + day - 1) % 7


def _pieces() -> tuple[int, dict[tuple[int, str], int], dict[tuple[int, str, int], int], dict[int, int]]:
    """Bits of the smallest things Task Scheduler can name: (month, day token),
    (month, week, weekday) and weekday; every day pattern is a union of them."""
    every = 0
    month_day: dict[tuple[int, str], int] = {}
    month_week_day: dict[tuple[int, str, int], int] = {}
    weekday_bits: dict[int, int] = {}
    for bit, month, length, day, weekday in _dates():
        flag = 1 << bit
        every |= flag
        weekday_bits[weekday] = weekday_bits.get(weekday, 0) | flag
        tokens = [str(day)] + (["Last"] if day == length else [])
        for token in tokens:
            month_day[(month, token)] = month_day.get((month, token), 0) | flag
        weeks = ([str((day - 1) // 7 + 1)] if day <= 28 else []) + (["Last"] if day > length - 7 else [])
        for week in weeks:
            key = (month, week, weekday)
            month_week_day[key] = month_week_day.get(key, 0) | flag
    return every, month_day, month_week_day, weekday_bits




def _month_numbers(schedule: model.ByMonth | model.ByMonthDayOfWeek) -> list[int]:
    return [model.MONTHS.index(name) + 1 for name in schedule.months]


def _schedule_bits(schedule: model.Schedule) -> int:
    """The dates a Task Scheduler day pattern fires on (DaysInterval/WeeksInterval 1).
    Assumes, like cron, that a day a month lacks (31 in April) is skipped, and that a
    trigger fires once on a date even when two of its weeks (4 and Last) name it."""
    out = 0
    if isinstance(schedule, model.ByDay):
        return _cal().all_days
    if isinstance(schedule, model.ByWeek):
        for name in schedule.days:
            out |= _cal().weekday[_DAY_NAMES.index(name)]
        return out
    if isinstance(schedule, model.ByMonth):
        for month in _month_numbers(schedule):
            for token in schedule.days:
                out |= _cal().month_day.get((month, token), 0)
        return out
    for month in _month_numbers(schedule):
        for week in schedule.weeks:
            for name in schedule.days:
                out |= _cal().month_week_day[(month, week, _DAY_NAMES.index(name))]
    return out


def _masks() -> tuple[dict[int, int], dict[int, int], int, dict[int, int], dict[tuple[int, int], int],
                     dict[int, int]]:
    """Bits of every date by month, day of month, last day, weekday, k-th weekday and
    last weekday of the month: a cron field is then a union of these, not a walk over
    every date (which made a conversion cost milliseconds)."""
    by_month: dict[int, int] = {}
    by_day: dict[int, int] = {}
    last_day = 0
    by_weekday: dict[int, int] = {}
    by_nth: dict[tuple[int, int], int] = {}
    by_last_weekday: dict[int, int] = {}
    for bit, month, length, day, weekday in _dates():
        flag = 1 << bit
        by_month[month] = by_month.get(month, 0) | flag
        by_day[day] = by_day.get(day, 0) | flag
        if day == length:
            last_day |= flag
        by_weekday[weekday] = by_weekday.get(weekday, 0) | flag
        nth = (weekday, (day - 1) // 7 + 1)
        by_nth[nth] = by_nth.get(nth, 0) | flag
        if day > length - 7:
            by_last_weekday[weekday] = by_last_weekday.get(weekday, 0) | flag
    return by_month, by_day, last_day, by_weekday, by_nth, by_last_weekday


@dataclass(frozen=True)
class _Calendar:
    """Every date shape as bits, and the masks cron fields and Task Scheduler patterns
    are unions of. Built on first use (a plan without cron never pays for it)."""

    all_days: int
    month_day: dict
    month_week_day: dict
    weekday: dict
    by_month: dict
    by_day: dict
    last_day: int
    by_weekday: dict
    by_nth: dict
    by_last_weekday: dict


@functools.lru_cache(maxsize=1)
def _cal() -> _Calendar:
    return _Calendar(*_pieces(), *_masks())


def _union(masks: dict[Any, int], keys: Iterable[Any]) -> int:
    out = 0
    for key in keys:
        out |= masks.get(key, 0)
    return out


def _cron_bits(cron: _Cron, *, weekday_side: bool = True) -> int:
    """The dates cron fires on (``weekday_side=False``: the day-of-month side alone)."""
    months = _union(_cal().by_month, cron.months)
    dom = _union(_cal().by_day, cron.days) | (_cal().last_day if cron.last_day else 0)
    if not weekday_side:
        return months & dom
    dow = (_union(_cal().by_weekday, cron.weekdays) | _union(_cal().by_nth, cron.nth)
           | _union(_cal().by_last_weekday, cron.last_weekdays))
    # crontab(5): the days are ANDed when either field starts with '*', else ORed.
    matched = (dom & dow) if cron.day_star or cron.weekday_star else (dom | dow)
    return months & matched


def _names(values: Iterable[int], table: tuple[str, ...], offset: int = 0) -> tuple[str, ...]:
    return tuple(table[v - offset] for v in sorted(values))


def _weekday_names(weekdays: Iterable[int]) -> tuple[str, ...]:
    # Model order (Monday first); cron numbers Sunday 0.
    wanted = set(weekdays)
    return tuple(name for name in model.WEEKDAYS if _DAY_NAMES.index(name) in wanted)


def _by_month(days: Iterable[int], last: bool, months: Iterable[int]) -> model.ByMonth:
    tokens = tuple(str(d) for d in sorted(set(days))) + (("Last",) if last else ())
    return model.ByMonth(days=tokens, months=_names(months, model.MONTHS, 1))


def _rectangles(pairs: set[tuple[str, int]], months: frozenset[int]) -> list[model.Schedule]:
    """(week, weekday) pairs -> the fewest weeks x weekdays products, grouping by weekday
    or by week, whichever gives fewer."""
    by_weekday: dict[frozenset[str], set[int]] = {}
    for weekday in {w for _, w in pairs}:
        weeks = frozenset(k for k, w in pairs if w == weekday)
        by_weekday.setdefault(weeks, set()).add(weekday)
    by_week: dict[frozenset[int], set[str]] = {}
    for week in {k for k, _ in pairs}:
        weekdays = frozenset(w for k, w in pairs if k == week)
        by_week.setdefault(weekdays, set()).add(week)
    groups = ([(weeks, frozenset(ws)) for weeks, ws in by_weekday.items()]
              if len(by_weekday) <= len(by_week)
              else [(frozenset(ks), weekdays) for weekdays, ks in by_week.items()])
    return [
        model.ByMonthDayOfWeek(weeks=tuple(k for k in _WEEKS if k in weeks),
                               days=_weekday_names(weekdays),
                               months=_names(months, model.MONTHS, 1))
        for weeks, weekdays in sorted(groups, key=lambda g: (-len(g[0]), sorted((w + 6) % 7 for w in g[1]),
                                                             sorted(_WEEKS.index(k) for k in g[0])))
    ]


def _weekday_pairs(cron: _Cron) -> set[tuple[str, int]]:
    pairs = {(k, w) for w in cron.weekdays for k in _WEEKS}
    pairs |= {(str(k), w) for w, k in cron.nth}
    pairs |= {("Last", w) for w in cron.last_weekdays}
    return pairs


def _and_patterns(cron: _Cron, wanted: int) -> list[model.Schedule]:
    """Both day fields restricted and ANDed (one starts with '*'). A weekday condition
    can only ride on whole weeks of the month (ByMonthDayOfWeek): keep each (month, week,
    weekday) whose dates all match, and refuse unless together they cover every date.
    ``*/100,1-7`` with Monday (the first Monday) passes; odd days with Monday does not."""
    per_month: dict[int, set[tuple[str, int]]] = {}
    covered = 0
    for (month, week, weekday), piece in _cal().month_week_day.items():
        if month in cron.months and piece & ~wanted == 0:
            per_month.setdefault(month, set()).add((week, weekday))
            covered |= piece
    if covered != wanted:
        raise CronError("a day field starting with '*' makes crontab require BOTH the "
                                 "day of month and the day of week (e.g. Mondays that fall on odd "
                                 "days), which Task Scheduler cannot express; to fire on either, "
                                 "write the day of month without '*' (e.g. 1-31/2 instead of */2)")
    groups: dict[frozenset[tuple[str, int]], set[int]] = {}
    for month, pairs in per_month.items():
        groups.setdefault(frozenset(pairs), set()).add(month)
    out: list[model.Schedule] = []
    for pairs, months in sorted(groups.items(), key=lambda g: sorted(g[1])):
        out.extend(_rectangles(set(pairs), frozenset(months)))
    return out


def _tidy(schedule: model.Schedule) -> model.Schedule | None:
    """Drop day tokens and months a pattern never fires on (day 31 in April); a
    ByMonthDayOfWeek over every week of every month is a ByWeek."""
    if isinstance(schedule, model.ByMonth):
        months = _month_numbers(schedule)
        tokens = tuple(t for t in schedule.days if any(_cal().month_day.get((m, t)) for m in months))
        months = [m for m in months if any(_cal().month_day.get((m, t)) for t in tokens)]
        if not tokens:
            return None
        return model.ByMonth(days=tokens, months=_names(months, model.MONTHS, 1))
    if isinstance(schedule, model.ByMonthDayOfWeek):
        if schedule.weeks == _WEEKS and tuple(schedule.months) == model.MONTHS:
            return model.ByWeek(days=schedule.days)
    return schedule


def _day_patterns(cron: _Cron, expression: str) -> tuple[list[model.Schedule], int]:
    """The fewest day patterns whose union is exactly cron's dates."""
    wanted = _cron_bits(cron)
    if wanted == 0:
        raise _never(cron)
    if wanted == _cal().all_days:
        return [model.ByDay()], wanted
    full_dom = set(range(1, 32)) <= cron.days
    full_dow = len(cron.weekdays) == 7
    patterns: list[model.Schedule] = []
    if not (cron.day_star or cron.weekday_star):  # both restricted: OR
        if cron.days or cron.last_day:
            patterns.append(_by_month(cron.days, cron.last_day, cron.months))
        pairs = _weekday_pairs(cron)
        if pairs:
            patterns.extend(_rectangles(pairs, cron.months))
    elif full_dow:  # AND with every weekday: the day-of-month field alone
        patterns.append(_by_month(cron.days, cron.last_day, cron.months))
    elif full_dom:  # AND with every day of the month: the day-of-week field alone
        patterns.extend(_rectangles(_weekday_pairs(cron), cron.months))
    else:
        patterns.extend(_and_patterns(cron, wanted))
    kept = [p for p in (_tidy(p) for p in patterns) if p is not None]
    # Drop a pattern the others already cover (day of month 1-31 OR Mondays).
    for pattern in list(reversed(kept)):
        others = [q for q in kept if q is not pattern]
        union = 0
        for other in others:
            union |= _schedule_bits(other)
        if others and _schedule_bits(pattern) & ~union == 0:
            kept = others
    union = 0
    for pattern in kept:
        union |= _schedule_bits(pattern)
    if union != wanted:  # pragma: no cover - a bug here, never a user error
        raise AssertionError(f"day patterns for {expression!r} do not match cron")
    return kept, wanted


def _never(cron: _Cron) -> CronError:
    if _cron_bits(cron, weekday_side=False) == 0 and cron.days:
        months = sorted(cron.months)
        names = " and ".join(model.MONTHS[m - 1] for m in months)
        days = ", ".join(str(d) for d in sorted(cron.days))
        verb = "has" if len(months) == 1 else "have"
        return CronError(f"never fires: {names} {verb} no day {days}; check the "
                                  "day-of-month and month fields")
    return CronError("never fires: no date matches both the day-of-month and the "
                              "day-of-week field; check them")


# --- minutes of the day: the fewest windows --------------------------------------------

@dataclass(frozen=True, order=True)
class _Window:
    start: int  # minute of the day, 0..1439
    step: int  # minutes between fires (0 for a single fire)
    count: int

    @property
    def span(self) -> int:
        return (self.count - 1) * self.step

    @property
    def whole_day(self) -> bool:
        """Fires every ``step`` minutes all day long: a period that runs on across
        midnight (a TimeTrigger when every day fires)."""
        return self.count >= 3 and self.count * self.step == 1440


# (number of windows, longest window that can be in progress at registration, windows)
_Plan = tuple[int, int, tuple[_Window, ...]]


def _plan(windows: Iterable[_Window], every_day: bool) -> _Plan:
    items = tuple(sorted(windows))
    longest = max((0 if every_day and w.whole_day else w.span for w in items), default=0)
    return (len(items), longest, items)


def _progression(start: int, step: int, count: int) -> list[_Window]:
    """One window, or two single fires where a window would need Duration == Interval."""
    if count == 2:
        return [_Window(start, 0, 1), _Window(start + step, 0, 1)]
    return [_Window(start, step if count > 1 else 0, count)]


_Option = tuple[int, object]  # (bitmask of the members, payload)


def _partition(universe: int, options: Callable[[int, int], list[_Option]],
               cost: Callable[[object], tuple[int, int]],
               lower_bound: Callable[[int], int], budget: int = 3000) -> list[object]:
    """The cheapest partition of a small set (a bitmask) into options, cost (count,
    longest) added up as (sum, max). Branches on the lowest member left, which the
    chosen option must contain; memo, lower bound and a node budget (past the budget,
    the best found so far: still exact, maybe not the fewest)."""
    memo: dict[int, tuple[int, int, tuple[object, ...]]] = {0: (0, 0, ())}
    nodes = 0

    def solve(rest: int) -> tuple[int, int, tuple[object, ...]]:
        nonlocal nodes
        if rest in memo:
            return memo[rest]
        nodes += 1
        low = (rest & -rest).bit_length() - 1
        best: tuple[int, int, tuple[object, ...]] | None = None
        for mask, payload in options(low, rest):
            count, longest = cost(payload)
            if best is not None:
                if nodes > budget or count + lower_bound(rest & ~mask) > best[0]:
                    continue
            sub = solve(rest & ~mask)
            total = (count + sub[0], max(longest, sub[1]), (payload,) + sub[2])
            if best is None or total[:2] < best[:2]:
                best = total
        assert best is not None, "every search offers a single member"
        memo[rest] = best
        return best

    return list(solve(universe)[2])


def _bitmask(values: Iterable[int]) -> int:
    return sum(1 << v for v in set(values))


def _hour_progressions(hours: frozenset[int]) -> list[tuple[int, int, int]]:
    """The fewest progressions (first hour, step, count; count 1 or >= 3) partitioning
    the hours."""
    def options(low: int, rest: int) -> list[_Option]:
        out: list[_Option] = []
        for step in range(1, 24):
            count = 1
            while rest >> (low + count * step) & 1 and low + count * step < 24:
                count += 1
            out.extend((_bitmask(low + i * step for i in range(n)), (low, step, n))
                       for n in range(3, count + 1))
        out.sort(key=lambda o: (-o[1][2], o[1][1]))  # type: ignore[index]
        return out + [(1 << low, (low, 0, 1))]

    def cost(payload: object) -> tuple[int, int]:
        _, step, count = payload  # type: ignore[misc]
        return 1, (count - 1) * step * 60

    longest = 24
    return _partition(_bitmask(hours), options, cost,
                      lambda rest: -(-bin(rest).count("1") // longest))  # type: ignore[return-value]


def _hour_runs(hours: frozenset[int]) -> list[tuple[int, int]]:
    """Maximal runs of consecutive hours: (first hour, length)."""
    runs: list[tuple[int, int]] = []
    for hour in sorted(hours):
        if runs and runs[-1][0] + runs[-1][1] == hour:
            runs[-1] = (runs[-1][0], runs[-1][1] + 1)
        else:
            runs.append((hour, 1))
    return runs


_DIVISORS_OF_60 = (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30)


_Group = tuple[tuple[int, ...], int, bool]  # (minutes, step, a full cycle of the hour?)


def _by_minute_groups(minutes: frozenset[int], hours: frozenset[int], every_day: bool) -> _Plan:
    """Partition the minutes of the hour into groups, each repeated over the hours:
    - one minute: a column over the hours (``30 9-17``: 09:30 every hour for 8h);
    - a full cycle of a step that divides 60 (:00 :15 :30 :45): one window per run of
      consecutive hours (09:00 every 15 minutes for 8h45m), never drifting across hours;
    - any other progression inside the hour (``*/7``: :00 .. :56): one window per hour,
      or one column per minute, whichever is fewer."""
    columns = _hour_progressions(hours)
    runs = _hour_runs(hours)
    sorted_hours = sorted(hours)

    def column(minute: int) -> list[_Window]:
        out: list[_Window] = []
        for first, step, count in columns:
            out.extend(_progression(first * 60 + minute, step * 60, count))
        return out

    def layouts(group: _Group) -> dict[str, list[_Window]]:
        members, step, full_cycle = group
        out = {"columns": [w for m in members for w in column(m)]}
        if full_cycle:
            merged: list[_Window] = []
            for first, length in runs:
                merged.extend(_progression(first * 60 + members[0], step, len(members) * length))
            out["merged"] = merged
        elif len(members) >= 3:
            out["rows"] = [_Window(h * 60 + members[0], step, len(members)) for h in sorted_hours]
        return out

    # Costs without building windows (the search asks for thousands of them).
    def longest(spans: Iterable[tuple[int, int]]) -> int:
        return max((0 if every_day and count >= 3 and count * step == 1440 else (count - 1) * step
                    for step, count in spans), default=0)

    column_cost = (len(columns), longest((step * 60, count) for _, step, count in columns))
    costs: dict[_Group, tuple[tuple[int, int], str]] = {}

    def cost(group: _Group) -> tuple[int, int]:
        if group not in costs:
            members, step, full_cycle = group
            options = [((len(members) * column_cost[0], column_cost[1]), "columns")]
            if full_cycle:
                counts = [len(members) * length for _, length in runs]
                options.append(((sum(2 if n == 2 else 1 for n in counts),
                                 longest((step, n) for n in counts if n != 2)), "merged"))
            elif len(members) >= 3:
                options.append(((len(hours), (len(members) - 1) * step), "rows"))
            costs[group] = min(options)
        return costs[group][0]

    def options(low: int, rest: int) -> list[_Option]:
        keys: list[_Group] = []
        for step in _DIVISORS_OF_60:
            cycle = tuple(range(low, 60, step))
            if low < step and len(cycle) > 1 and all(rest >> m & 1 for m in cycle):
                keys.append((cycle, step, True))
        for step in range(1, 30):
            count = 1
            while low + count * step < 60 and rest >> (low + count * step) & 1:
                count += 1
            for n in range(count, 2, -1):
                if not (low < step and n * step == 60):  # that is a full cycle, above
                    keys.append((tuple(low + i * step for i in range(n)), step, False))
        keys.sort(key=lambda k: -len(k[0]))
        keys.append(((low,), 0, False))
        return [(_bitmask(k[0]), k) for k in keys]

    # A window holds at most: a column, |hours| fires; a row, 60; a merged window, 60 per
    # hour of its run. That bounds the windows any set of minutes still needs.
    most = max(len(hours), 60 * max(length for _, length in runs))
    groups = _partition(_bitmask(minutes), options, cost,  # type: ignore[arg-type]
                        lambda rest: -(-bin(rest).count("1") * len(hours) // most))
    windows: list[_Window] = []
    for group in groups:
        cost(group)  # type: ignore[arg-type]
        windows.extend(layouts(group)[costs[group][1]])  # type: ignore[index, arg-type]
    return _plan(windows, every_day)


def _by_runs(minutes: frozenset[int], hours: frozenset[int], every_day: bool) -> _Plan:
    """The sorted minutes of the day cut into runs of equal gaps (dynamic programming):
    catches progressions that cross hours in ways the groups above do not."""
    times = sorted(h * 60 + m for h in hours for m in minutes)
    size = len(times)
    # best[i]: (count, longest, next index, window) for times[i:]
    best: list[tuple[int, int, int, _Window | None]] = [(0, 0, size, None)] * (size + 1)
    run = [1] * (size + 1)  # run[i]: items in the longest equal-gap run from times[i]
    for i in range(size - 1, -1, -1):
        if i + 1 < size:
            gap = times[i + 1] - times[i]
            same = i + 2 < size and times[i + 2] - times[i + 1] == gap
            run[i] = run[i + 1] + 1 if same else 2
        rest = best[i + 1]
        options = [(rest[0] + 1, rest[1], i + 1, _Window(times[i], 0, 1))]
        length = run[i]
        if length >= 3:
            # Cutting a run anywhere but before its last two items only splits it in two.
            for n in {length, length - 1, length - 2}:
                if n >= 3:
                    window = _Window(times[i], gap, n)
                    rest = best[i + n]
                    options.append((rest[0] + 1, max(window.span, rest[1]), i + n, window))
        best[i] = min(options, key=lambda o: o[:2])
    windows: list[_Window] = []
    index = 0
    while index < size:
        _, _, following, window = best[index]
        assert window is not None
        windows.append(window)
        index = following
    return _plan(windows, every_day)


def _windows(minutes: frozenset[int], hours: frozenset[int], every_day: bool) -> tuple[_Window, ...]:
    plans = [_by_minute_groups(minutes, hours, every_day), _by_runs(minutes, hours, every_day)]
    return min(plans, key=lambda p: p[:2])[2]


# --- putting it together ---------------------------------------------------------------

def _at(start_date: datetime.date, minute_of_day: int) -> str:
    hour, minute = divmod(minute_of_day, 60)
    return f"{start_date.isoformat()}T{hour:02d}:{minute:02d}:00"


def _trigger(schedule: model.Schedule, window: _Window, start_date: datetime.date) -> model.Trigger:
    start = _at(start_date, window.start)
    if isinstance(schedule, model.ByDay) and window.whole_day:
        # Every day, all day, a fixed period: a one-time trigger in the past whose
        # repetition never ends starts at once when registered (module docstring).
        return model.TimeTrigger(start=start, repetition=model.Repetition(
            interval=Duration(seconds=window.step * MINUTE)))
    repetition = None
    if window.count > 1:
        repetition = model.Repetition(interval=Duration(seconds=window.step * MINUTE),
                                      duration=Duration(seconds=window.span * MINUTE))
    return model.CalendarTrigger(start=start, schedule=schedule, repetition=repetition)


def convert(expression: str, *, start_date: datetime.date = datetime.date(2000, 1, 3)) -> Conversion:
    """The fewest Task Scheduler triggers that fire at exactly the minutes cron does, or
    CronError. Pure, so results are cached: repositories repeat their schedules."""
    return _convert(" ".join(expression.split()), start_date)


MAX_EXPRESSION = 1000


@functools.lru_cache(maxsize=4096)
def _convert(expression: str, start_date: datetime.date) -> Conversion:
    """Triggers that fire at exactly the minutes cron would (naive local time), from
    ``start_date`` on, forever; or CronError."""
    if isinstance(start_date, datetime.datetime):
        start_date = start_date.date()
    text = " ".join(expression.split())
    if len(text) > MAX_EXPRESSION:
        raise CronError(f"the expression is {len(text)} characters long; crontab lines are short "
                        f"(at most {MAX_EXPRESSION} here): list fewer values, or use ranges and steps")
    if not text:
        raise CronError("empty expression: write five fields (minute hour day-of-month "
                        "month day-of-week) or a macro such as @daily")
    if re.match(r"^(CRON_)?TZ=", text):
        raise CronError("time zone prefixes are not supported: the task runs in the "
                           "machine's local time; remove the prefix")
    if text.startswith("@"):
        macro = text.lower()
        if macro == "@reboot":
            return Conversion(triggers=(model.BootTrigger(),), may_overlap=False)
        if macro.startswith("@every"):
            raise CronError("@every is not crontab syntax: write a step such as */10 * * * *, "
                               "or use a trigger with repeat")
        if macro not in _MACROS:
            raise CronError(f"unknown macro: use one of {', '.join(sorted(_MACROS))} or @reboot")
        cron = _parse(_MACROS[macro])
    else:
        cron = _parse(text)
    patterns, wanted = _day_patterns(cron, text)
    every_day = wanted == _cal().all_days
    windows = _windows(cron.minutes, cron.hours, every_day)
    needed = len(patterns) * len(windows)
    if needed > MAX_TRIGGERS:
        raise CronError(f"needs {needed} triggers ({len(patterns)} day patterns x "
                           f"{len(windows)} time windows), Task Scheduler allows "
                           f"{MAX_TRIGGERS}: split it into two tasks or use a minute step "
                           "that divides 60")
    triggers = tuple(_trigger(p, w, start_date) for p in patterns for w in windows)
    overlap = False
    for i, first in enumerate(patterns):
        for second in patterns[i + 1:]:
            if _schedule_bits(first) & _schedule_bits(second):
                overlap = True
    return Conversion(triggers=triggers, may_overlap=overlap)
