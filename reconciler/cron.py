"""Cron (crontab(5), Vixie) -> Task Scheduler triggers that fire at exactly the same
minutes, or a refusal that says why and what to write instead. Never an approximation.

Semantics (README "Cron"): five fields, names case-insensitive, 0 and 7 are Sunday, lists,
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
- A window of exactly two fires would need Duration == Interval: documented as two starts
  (IRepetitionPattern), refused by [MS-TSCH] for Task Scheduler 1.0 tasks only, and not yet
  confirmed on a real machine (tests/test_windows_real.py probes it); two plain triggers
  are certain, so we emit those.
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
- Daylight saving time: if Task Scheduler steps a repetition in elapsed time, a period
  TimeTrigger whose period does not divide an hour (``0 */2``) would be an hour off after
  a clock change, and a window across the change hours would end an hour off that day.
  ``cron_dst`` reshapes those (fixed daily times, windows cut at 01:00-04:00) whenever
  the result fits in 48 triggers (README "Daylight saving time").

The steps live beside this module: ``cron_parse`` reads the fields (and names the dialect
of what it cannot read), ``cron_days`` finds the day patterns, ``cron_windows`` the
windows, ``cron_dst`` their shape across daylight saving time.
"""
from __future__ import annotations

import datetime
import functools
import re
from dataclasses import dataclass

from . import model
from .cron_days import day_patterns, every_day, schedule_bits
from .cron_dst import wall_clock_windows
from .cron_parse import MACROS, Cron, CronError, parse
from .cron_windows import Window, fewest_windows
from .durations import MINUTE, Duration
from .limits import DEFAULT_START, MAX_TRIGGERS

__all__ = ["Conversion", "CronError", "MAX_EXPRESSION", "MAX_TRIGGERS", "convert"]

MAX_EXPRESSION = 1000


@dataclass(frozen=True)
class Conversion:
    triggers: tuple[model.Trigger, ...]
    may_overlap: bool  # two triggers can fire at the same minute (DOM/DOW OR)


def convert(expression: str, *, start_date: datetime.date = DEFAULT_START) -> Conversion:
    """The fewest Task Scheduler triggers that fire at exactly the minutes cron does, or
    CronError. Pure, so results are cached: repositories repeat their schedules."""
    return _convert(" ".join(expression.split()), start_date)


@functools.lru_cache(maxsize=4096)
def _convert(expression: str, start_date: datetime.date) -> Conversion:
    """Triggers that fire at exactly the minutes cron would (naive local time), from
    ``start_date`` on, forever; or CronError."""
    if isinstance(start_date, datetime.datetime):
        start_date = start_date.date()
    text = " ".join(expression.split())
    cron = _read(text)
    if cron is None:
        return Conversion(triggers=(model.BootTrigger(),), may_overlap=False)
    patterns, wanted = day_patterns(cron, text)
    all_days = wanted == every_day()
    windows = wall_clock_windows(fewest_windows(cron.minutes, cron.hours, all_days), len(patterns),
                                 all_days, MAX_TRIGGERS)
    needed = len(patterns) * len(windows)
    if needed > MAX_TRIGGERS:
        raise CronError(f"needs {needed} triggers ({len(patterns)} day patterns x "
                        f"{len(windows)} time windows), Task Scheduler allows "
                        f"{MAX_TRIGGERS}: split it into two tasks or use a minute step "
                        "that divides 60")
    triggers = tuple(_trigger(p, w, start_date) for p in patterns for w in windows)
    overlap = any(schedule_bits(first) & schedule_bits(second)
                  for i, first in enumerate(patterns) for second in patterns[i + 1:])
    return Conversion(triggers=triggers, may_overlap=overlap)


def _read(text: str) -> Cron | None:
    """The expression's five fields (a macro expanded), None for @reboot, or CronError."""
    if len(text) > MAX_EXPRESSION:
        raise CronError(f"the expression is {len(text)} characters long; crontab lines are short "
                        f"(at most {MAX_EXPRESSION} here): list fewer values, or use ranges and steps")
    if not text:
        raise CronError("empty expression: write five fields (minute hour day-of-month "
                        "month day-of-week) or a macro such as @daily")
    if re.match(r"^(CRON_)?TZ=", text):
        raise CronError("time zone prefixes are not supported: the task runs in the "
                        "machine's local time; remove the prefix")
    if not text.startswith("@"):
        return parse(text)
    macro = text.lower()
    if macro == "@reboot":
        return None
    if macro.startswith("@every"):
        raise CronError("@every is not crontab syntax: write a step such as */10 * * * *, "
                        "or use a trigger with repeat")
    if macro not in MACROS:
        raise CronError(f"unknown macro: use one of {', '.join(sorted(MACROS))} or @reboot")
    return parse(MACROS[macro])


def _at(start_date: datetime.date, minute_of_day: int) -> str:
    hour, minute = divmod(minute_of_day, 60)
    return f"{start_date.isoformat()}T{hour:02d}:{minute:02d}:00"


def _trigger(schedule: model.Schedule, window: Window, start_date: datetime.date) -> model.Trigger:
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
