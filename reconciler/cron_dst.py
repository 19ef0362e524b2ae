"""Daylight saving time and the shape of a cron conversion: keep cron's local wall-clock
times where Task Scheduler's behaviour across a clock change is not documented.

What Microsoft documents (README "Daylight saving time"):
- a start boundary without a UTC offset is local time: "the time zone and daylight
  saving information that is set on the local computer will be used" (ITrigger::
  StartBoundary remarks);
- a weekly or monthly trigger whose time does not exist on the day clocks go forward
  runs "at the earliest time that exists on that day" (WeeklyTrigger, MonthlyTrigger and
  MonthlyDOWTrigger remarks, Microsoft Learn); KB 325413 says the behaviour "is not
  specified for tasks that are scheduled to run during the transition hours".
What is not documented: whether a repetition steps in elapsed time or on the wall clock.
If it steps in elapsed time (the model ``next`` shows, see ``simulate``), a repetition
whose starts straddle a clock change starts an hour off after it: for the rest of its
window (a calendar trigger realigns the next day), or for months (an endless
repetition from 2000-01-03 whose period does not divide an hour, such as ``0 */2``).
Starts of their own trigger are calendar starts, right under either model.

So a conversion is reshaped, within the 48-trigger limit (Task Scheduler Schema,
triggersType), and always exactly (the same minutes):
- an endless repetition whose period does not divide an hour becomes one daily trigger
  per start (no drift, and no wait for a window to begin after registration), or, when
  those do not fit, daily windows cut as below;
- a window that crosses a time where clocks change is cut there, into windows that do
  not (a window of one or two starts becomes single starts). The cuts are 01:00, 02:00, 03:00 and 04:00: in the tz database every change from
  2020 to 2030 happens between 00:00 and 04:00 local time (the hour before the change),
  except at 22:00 or 23:00 (Easter Island, Greenland) and 02:45 (the Chatham Islands).
A schedule whose reshaped form needs more than 48 triggers keeps its shape.
"""
from __future__ import annotations

import bisect

from .cron_windows import Window

CUTS = (60, 120, 180, 240)  # minutes of the day: 01:00, 02:00, 03:00, 04:00
MINUTES_PER_HOUR = 60


def _drifts(window: Window, every_day: bool) -> bool:
    """An endless repetition (every day, all day) that elapsed-time stepping would move
    off cron's times after a change: its period does not divide an hour."""
    return every_day and window.whole_day and MINUTES_PER_HOUR % window.step != 0


def _crosses(window: Window) -> bool:
    """A calendar window with starts on both sides of a time where clocks change."""
    if window.count < 2:
        return False
    last = window.start + window.span
    return any(window.start < cut <= last for cut in CUTS)


def _windows(starts: list[int], step: int) -> list[Window]:
    """Equally spaced starts as one window, or single starts when there are at most two
    (a window of two would need Duration == Interval: see ``cron``)."""
    if len(starts) <= 2:
        return [Window(t, 0, 1) for t in starts]
    return [Window(starts[0], step, len(starts))]


def _cut(window: Window) -> list[Window]:
    starts = [window.start + i * window.step for i in range(window.count)]
    pieces: dict[int, list[int]] = {}
    for start in starts:
        pieces.setdefault(bisect.bisect_right(CUTS, start), []).append(start)
    return [w for key in sorted(pieces) for w in _windows(pieces[key], window.step)]


def _fixed(window: Window) -> list[Window]:
    return [Window(window.start + i * window.step, 0, 1) for i in range(window.count)]


def wall_clock_windows(windows: tuple[Window, ...], patterns: int, every_day: bool,
                       limit: int) -> tuple[Window, ...]:
    """``windows`` reshaped so that their starts keep cron's local times across a clock
    change (module docstring), in the first of these forms that fits: ``patterns`` day
    patterns multiply the windows, and the task may have ``limit`` triggers.
    1. drifting repetitions as fixed daily times, crossing windows cut;
    2. drifting repetitions and crossing windows cut;
    3. drifting repetitions cut (a crossing window is wrong one day a year, a drifting
       repetition for months);
    4. as they were."""
    drifting = [w for w in windows if _drifts(w, every_day)]
    crossing = [w for w in windows if _crosses(w) and not (every_day and w.whole_day)]
    if not drifting and not crossing:
        return windows
    forms = ({**{w: _fixed(w) for w in drifting}, **{w: _cut(w) for w in crossing}},
             {w: _cut(w) for w in drifting + crossing},
             {w: _cut(w) for w in drifting})
    for form in forms:
        reshaped = [piece for w in windows for piece in form.get(w, [w])]
        if patterns * len(reshaped) <= limit:
            return tuple(sorted(reshaped))
    return windows
