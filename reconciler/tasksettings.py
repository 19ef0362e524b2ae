"""Task Scheduler's settings and the manifest keys that say them, in one table. The
compiler reads it manifest -> element (``compile_settings``), import element -> manifest
(``importer``), normalize takes each element's kind and default from it, and render the
schema version each one needs.

Element names, kinds and defaults are those of the "Task Scheduler Schema" pages
(settingsType and its child elements) on Microsoft Learn."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Union

from . import vocabulary
from .durations import Duration
from .limits import MAX_INTERVAL, MIN_INTERVAL, TIME_LIMIT_DEFAULT
from .vocabulary import BOOL, DUR, INT, STR, TEXT


@dataclass(frozen=True)
class Setting:
    """One element and the manifest key that says it."""

    key: str  # in spec.settings, or in its group's mapping
    element: str  # in Settings, or in its group's element
    kind: str  # how the element's text is read (vocabulary.BOOL, INT, STR, DUR, TEXT)
    default: Any = None  # Task Scheduler's value when it is absent (canonical spelling); None: none
    words: dict[str, str] | None = None  # a STR spelled with these manifest words...
    noun: str = ""  # ...and what a value outside them is not ("a policy")
    none: str | None = None  # the manifest's word for a zero duration; a written zero is refused
    bounds: tuple[Duration, Duration] | None = None  # the shortest and longest duration
    required: bool = False  # its group is incomplete without it
    since: tuple[int, int] | None = None  # the task schema version that introduced it


@dataclass(frozen=True)
class Group:
    """A manifest mapping: an element with children (``element`` set), or a grouping of
    the manifest's own over elements that stand alone in Settings (``batteries``)."""

    key: str
    element: str | None
    members: tuple[Setting, ...]
    sequence: tuple[str, ...] = ()  # the schema's order of the children, where it is not the members'
    always: bool = False  # clients always write it and Windows drops it when all default
    needs: str | None = None  # a boolean element that must be true beside it
    missing: str = ""  # why a task whose group lacks a required member cannot be imported
    since: tuple[int, int] | None = None

    def ordered(self) -> tuple[Setting, ...]:
        """The members in the schema's order, which is the order they are written in."""
        if not self.sequence:
            return self.members
        return tuple(sorted(self.members, key=lambda m: self.sequence.index(m.element)))


Row = Union[Setting, Group]

# Said in the task's spec beside ``settings``, not inside it.
TASK_LEVEL = (Setting("enabled", "Enabled", BOOL, True),)

# The manifest's settings, in the order README lists them and import writes them.
TABLE: tuple[Row, ...] = (
    Setting("timeout", "ExecutionTimeLimit", DUR, TIME_LIMIT_DEFAULT, none="none"),
    Group("retry", "RestartOnFailure", (
        Setting("count", "Count", INT, required=True),
        Setting("interval", "Interval", DUR, bounds=(MIN_INTERVAL, MAX_INTERVAL), required=True),
    ), sequence=("Interval", "Count"), missing="Settings/RestartOnFailure: it needs Interval and Count"),
    Setting("multipleInstances", "MultipleInstancesPolicy", STR, "IgnoreNew",
            words=vocabulary.MULTIPLE_INSTANCES, noun="a policy"),
    Setting("allowStartOnDemand", "AllowStartOnDemand", BOOL, True),
    Setting("startWhenAvailable", "StartWhenAvailable", BOOL, False),
    Setting("runOnlyIfNetworkAvailable", "RunOnlyIfNetworkAvailable", BOOL, False),
    Setting("networkProfileName", "NetworkProfileName", TEXT),
    Setting("wakeToRun", "WakeToRun", BOOL, False),
    Setting("hidden", "Hidden", BOOL, False),
    Setting("priority", "Priority", INT, 7),
    Setting("allowHardTerminate", "AllowHardTerminate", BOOL, True),
    Setting("runOnlyIfIdle", "RunOnlyIfIdle", BOOL, False),
    Setting("useUnifiedSchedulingEngine", "UseUnifiedSchedulingEngine", BOOL, False, since=(1, 3)),
    Setting("disallowStartOnRemoteAppSession", "DisallowStartOnRemoteAppSession", BOOL, False, since=(1, 3)),
    Setting("volatile", "Volatile", BOOL, False, since=(1, 4)),
    Group("batteries", None, (
        Setting("disallowStart", "DisallowStartIfOnBatteries", BOOL, True),
        Setting("stopOnBattery", "StopIfGoingOnBatteries", BOOL, True),
    )),
    # Absent means "never delete"; PT0S means "at once": not the same, so no default.
    Setting("deleteExpiredAfter", "DeleteExpiredTaskAfter", DUR),
    Group("idle", "IdleSettings", (
        Setting("duration", "Duration", DUR, "PT10M"),
        Setting("waitTimeout", "WaitTimeout", DUR, "PT1H"),
        Setting("stopOnIdleEnd", "StopOnIdleEnd", BOOL, True),
        Setting("restartOnIdle", "RestartOnIdle", BOOL, False),
    ), always=True),
    Group("network", "NetworkSettings", (
        Setting("name", "Name", TEXT),
        Setting("id", "Id", STR),
    )),
    Group("maintenance", "MaintenanceSettings", (
        Setting("period", "Period", DUR, required=True),
        Setting("deadline", "Deadline", DUR),
        Setting("exclusive", "Exclusive", BOOL, False),
    ), needs="UseUnifiedSchedulingEngine", since=(1, 4),
        missing="Settings/MaintenanceSettings/Period: maintenance needs a period"),
)

# settingsType is a sequence: Windows refuses a task whose Settings are in another order.
ORDER = (
    "AllowStartOnDemand", "RestartOnFailure", "MultipleInstancesPolicy",
    "DisallowStartIfOnBatteries", "StopIfGoingOnBatteries", "AllowHardTerminate",
    "StartWhenAvailable", "NetworkProfileName", "RunOnlyIfNetworkAvailable", "WakeToRun",
    "Enabled", "Hidden", "DeleteExpiredTaskAfter", "IdleSettings", "NetworkSettings",
    "ExecutionTimeLimit", "Priority", "RunOnlyIfIdle", "UseUnifiedSchedulingEngine",
    "DisallowStartOnRemoteAppSession", "MaintenanceSettings", "Volatile",
)


def _leaves() -> list[Setting]:
    """Every element that stands alone in Settings."""
    out = list(TASK_LEVEL)
    for row in TABLE:
        if isinstance(row, Setting):
            out.append(row)
        elif row.element is None:
            out.extend(row.members)
    return out


LEAVES = tuple(sorted(_leaves(), key=lambda s: ORDER.index(s.element)))
GROUPS = tuple(sorted((row for row in TABLE if isinstance(row, Group) and row.element is not None),
                      key=lambda g: (not g.always, ORDER.index(g.element or ""))))
ELEMENTS = frozenset(ORDER)
_ROWS: tuple[Row, ...] = (*LEAVES, *GROUPS)
BY_ELEMENT: dict[str, Row] = {str(row.element): row for row in _ROWS}

# The task schema version each newer setting needs: 1.3 came with Windows 7
# (ITaskSettings2), 1.4 with Windows 8 (ITaskSettings3); Windows refuses a feature newer
# than the task's declared version.
VERSIONS: dict[str, tuple[int, int]] = {str(row.element): row.since for row in _ROWS if row.since is not None}
