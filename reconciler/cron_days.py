"""The days of a cron schedule as Task Scheduler day patterns (ScheduleByDay, ByWeek,
ByMonth, ByMonthDayOfWeek): the fewest whose union is exactly cron's dates.

Every date shape of the Gregorian calendar is one bit: (month, month length, weekday of
the 1st) x day of month. A cron field and a Task Scheduler pattern are each a union of
precomputed masks, so comparing them is a few integer operations."""
from __future__ import annotations

import calendar
import functools
from dataclasses import dataclass
from typing import Any, Iterable

from . import model, vocabulary
from .cron_parse import DAY_NAMES, Cron, CronError

def _atoms() -> tuple[tuple[int, int, int], ...]:
    out = []
    for month in range(1, 13):
        lengths = (28, 29) if month == 2 else (calendar.monthrange(2001, month)[1],)
        for length in lengths:
            for first in range(7):  # 0 = Sunday; every combination occurs in the calendar
                out.append((month, length, first))
    return tuple(out)


_ATOMS = _atoms()
_WEEKS = tuple(vocabulary.WEEK.values())  # "1" .. "4", "Last"


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


def schedule_bits(schedule: model.Schedule) -> int:
    """The dates a Task Scheduler day pattern fires on (DaysInterval/WeeksInterval 1).
    Assumes, like cron, that a day a month lacks (31 in April) is skipped, and that a
    trigger fires once on a date even when two of its weeks (4 and Last) name it."""
    out = 0
    if isinstance(schedule, model.ByDay):
        return _cal().all_days
    if isinstance(schedule, model.ByWeek):
        for name in schedule.days:
            out |= _cal().weekday[DAY_NAMES.index(name)]
        return out
    if isinstance(schedule, model.ByMonth):
        for month in _month_numbers(schedule):
            for token in schedule.days:
                out |= _cal().month_day.get((month, token), 0)
        return out
    for month in _month_numbers(schedule):
        for week in schedule.weeks:
            for name in schedule.days:
                out |= _cal().month_week_day[(month, week, DAY_NAMES.index(name))]
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
    month_day: dict[tuple[int, str], int]
    month_week_day: dict[tuple[int, str, int], int]
    weekday: dict[int, int]
    by_month: dict[int, int]
    by_day: dict[int, int]
    last_day: int
    by_weekday: dict[int, int]
    by_nth: dict[tuple[int, int], int]
    by_last_weekday: dict[int, int]


@functools.lru_cache(maxsize=1)
def _cal() -> _Calendar:
    all_days, month_day, month_week_day, weekday = _pieces()
    by_month, by_day, last_day, by_weekday, by_nth, by_last_weekday = _masks()
    return _Calendar(all_days, month_day, month_week_day, weekday, by_month, by_day, last_day,
                     by_weekday, by_nth, by_last_weekday)


def every_day() -> int:
    """The bits of every date: a schedule that fires on all of them is daily."""
    return _cal().all_days


def _union(masks: dict[Any, int], keys: Iterable[Any]) -> int:
    out = 0
    for key in keys:
        out |= masks.get(key, 0)
    return out


def _cron_bits(cron: Cron, *, weekday_side: bool = True) -> int:
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
    return tuple(name for name in model.WEEKDAYS if DAY_NAMES.index(name) in wanted)


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


def _weekday_pairs(cron: Cron) -> set[tuple[str, int]]:
    pairs = {(k, w) for w in cron.weekdays for k in _WEEKS}
    pairs |= {(str(k), w) for w, k in cron.nth}
    pairs |= {("Last", w) for w in cron.last_weekdays}
    return pairs


def _and_patterns(cron: Cron, wanted: int) -> list[model.Schedule]:
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
    for month, month_pairs in per_month.items():
        groups.setdefault(frozenset(month_pairs), set()).add(month)
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


def day_patterns(cron: Cron, expression: str) -> tuple[list[model.Schedule], int]:
    """The fewest day patterns whose union is exactly cron's dates, and those dates."""
    wanted = _cron_bits(cron)
    if wanted == 0:
        raise _never(cron)
    if wanted == _cal().all_days:
        return [model.ByDay()], wanted
    kept = _without_covered([p for p in (_tidy(p) for p in _candidates(cron, wanted)) if p is not None])
    if _bits(kept) != wanted:  # pragma: no cover - a bug here, never a user error
        raise AssertionError(f"day patterns for {expression!r} do not match cron")
    return kept, wanted


def _candidates(cron: Cron, wanted: int) -> list[model.Schedule]:
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
    return patterns


def _without_covered(patterns: list[model.Schedule]) -> list[model.Schedule]:
    """Drop a pattern the others already cover (day of month 1-31 OR Mondays)."""
    kept = patterns
    for pattern in list(reversed(kept)):
        others = [q for q in kept if q is not pattern]
        if others and schedule_bits(pattern) & ~_bits(others) == 0:
            kept = others
    return kept


def _bits(patterns: list[model.Schedule]) -> int:
    union = 0
    for pattern in patterns:
        union |= schedule_bits(pattern)
    return union


def _never(cron: Cron) -> CronError:
    if _cron_bits(cron, weekday_side=False) == 0 and cron.days:
        months = sorted(cron.months)
        names = " and ".join(model.MONTHS[m - 1] for m in months)
        days = ", ".join(str(d) for d in sorted(cron.days))
        verb = "has" if len(months) == 1 else "have"
        return CronError(f"never fires: {names} {verb} no day {days}; check the "
                                  "day-of-month and month fields")
    return CronError("never fires: no date matches both the day-of-month and the "
                              "day-of-week field; check them")
