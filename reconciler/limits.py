"""Facts that the compiler, cron and import each need, defined once here (a module that
imports nothing of ours, so any of them can import it)."""
from __future__ import annotations

import datetime as dt

from .durations import DAY, MINUTE, Duration, canonical_iso

# A time-based trigger without ``from`` starts on this Monday, the same on every machine
# and every day, so "every N days/weeks" has a fixed phase (README "Cron").
DEFAULT_START = dt.date(2000, 1, 3)

# Task Scheduler Schema, triggersType: the trigger group occurs at most 48 times.
MAX_TRIGGERS = 48

# RestartOnFailure/Interval and Repetition/Interval: 1 minute to 31 days (Task Scheduler
# Schema, restartType and repetitionType).
MIN_INTERVAL = Duration(seconds=MINUTE)
MAX_INTERVAL = Duration(seconds=31 * DAY)

# ExecutionTimeLimit when a task or trigger leaves it out: 72 hours, in canonical spelling
# ("P3D"), so a default written out equals one left out.
TIME_LIMIT_DEFAULT = canonical_iso("PT72H")
