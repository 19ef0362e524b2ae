"""Task Scheduler's registration rules that span keys: each value is valid alone, but
Windows refuses the task (or could never honour it) when they meet. Checked after the
parts are compiled, each rule beside its public source, so that ``validate`` promises
what ``apply`` will find; tests/emulator/windows_rules.py enforces the same rules at
registration.

- DeleteExpiredTaskAfter needs a trigger that ends. ITaskSettings::DeleteExpiredTaskAfter
  (Microsoft Learn): "A task expires after the end boundary has been exceeded for all
  triggers associated with the task"; without any EndBoundary, registration fails with
  SCHED_E_MISSINGNODE 0x80041319 ``(x,y):EndBoundary:`` (dahall/TaskScheduler#101 and
  #154; ansible-collections/community.windows#32). Any value counts, PT0S included.
- MaintenanceSettings: "Period: a time duration of at least 1 day", "Deadline: ... at
  least 1 day. The Deadline time is always [...] greater than the Period time"
  ([MS-TSCH] 2.5.4.15; the schema's maintenanceSettingsType has minInclusive P1D).
- EventTrigger PeriodOfOccurrence: "greater than or equal to 1 minute" ([MS-TSCH] 2.5.3.6),
  checked where the trigger is compiled (``compile_triggers``), like the Subscription:
  EvtSubscribe (Microsoft Learn) needs the channel path beside a bare XPath query and
  ignores it beside a structured <QueryList>; a task's Subscription has no channel path,
  so a bare XPath is wrapped in a <QueryList> for the trigger's ``log``, or refused.
- Repetition: IRepetitionPattern (Microsoft Learn) counts both ends ("an interval of one
  minute and a duration of four minutes [...] launched five times"), so ``for`` equal to
  ``every`` is two starts, which Windows accepts; [MS-TSCH] <22> refuses Interval >=
  Duration only for Task Scheduler 1.0 (SASetAccountInformation). ``for`` below ``every``
  is refused by the trigger compiler as pointless (one start).
- ``.\\name``: LookupAccountName (Microsoft Learn) resolves ``domain\\user`` or a bare
  name, which it looks up "on the local system" first; ``.`` is no domain it knows
  (OctopusDeploy/Calamari#233: "NTAccount ... doesn't work with local accounts
  represented in the format of .\\username").
"""
from __future__ import annotations

from typing import Any

from .compile_base import Reporter
from .durations import DAY, Duration
from .model import Trigger

_AT_LEAST_A_DAY = Duration(seconds=DAY)
_SHORTEST_MONTH, _LONGEST_MONTH = 28 * DAY, 31 * DAY


def check_task(spec: dict[str, Any], triggers: tuple[Trigger, ...],
               settings: tuple[tuple[str, Any], ...], report: Reporter) -> None:
    """The rules between triggers and settings, and between settings."""
    compiled = dict(settings)
    if "DeleteExpiredTaskAfter" in compiled and not any(t.end for t in triggers):
        report.problem(("spec", "settings", "deleteExpiredAfter"),
                       "deleteExpiredAfter deletes the task once every trigger has ended, but no trigger "
                       "has 'until' (Task Scheduler refuses it: 0x80041319 EndBoundary); give a trigger "
                       "'until: YYYY-MM-DD', or remove deleteExpiredAfter")
    maintenance = dict(compiled.get("MaintenanceSettings") or ())
    if maintenance:
        _maintenance(maintenance.get("Period"), maintenance.get("Deadline"), report)


def _maintenance(period: Duration | None, deadline: Duration | None, report: Reporter) -> None:
    path = ("spec", "settings", "maintenance")
    short = False
    for key, value in (("period", period), ("deadline", deadline)):
        if value is not None and not value.months and value.seconds < DAY:
            report.problem(path + (key,), f"maintenance.{key} must be at least "
                                          f"{_AT_LEAST_A_DAY.short()}, not {value.short()}")
            short = True
    if short or period is None or deadline is None:
        return
    # Months have no fixed length: refuse only a deadline that cannot be the longer one.
    longest_deadline = deadline.months * _LONGEST_MONTH + deadline.seconds
    shortest_period = period.months * _SHORTEST_MONTH + period.seconds
    if longest_deadline <= shortest_period or (deadline.months == period.months
                                               and deadline.seconds <= period.seconds):
        report.problem(path + ("deadline",), "maintenance.deadline must be longer than maintenance.period "
                                             f"({period.short()}), not {deadline.short()}")


def dot_account_problem(name: Any) -> str | None:
    """Why ``.\\name`` cannot be a task's account, with what to write instead; None for
    any other name."""
    if not isinstance(name, str) or not name.strip().startswith(".\\"):
        return None
    bare = name.strip()[2:]
    return (f"'{name.strip()}': Windows cannot look up the account domain '.' (LookupAccountName), "
            "so Task Scheduler cannot store the account and plans could never match it; write the "
            f"computer's name (MYPC\\{bare}) or the bare name '{bare}', which Windows looks up on this "
            "computer first")
