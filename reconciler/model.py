"""The typed records everything else passes around: the desired task (TaskSpec, close
to Task Scheduler's own XML), and the plan (Plan, Change, Action). All frozen."""
from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Union

from .durations import Duration

if TYPE_CHECKING:  # imported where a run block is compiled: most tasks have none
    from .fleet.targets import Targets
    from .workflow.spec import RunSpec

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December")


@dataclass(frozen=True)
class Origin:
    """Where a manifest document (or one of its keys) was written."""

    file: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


# --- triggers ------------------------------------------------------------------------

@dataclass(frozen=True, kw_only=True)
class Repetition:
    interval: Duration
    duration: Duration | None = None  # None: repeat indefinitely
    stop_at_end: bool = False


@dataclass(frozen=True, kw_only=True)
class TriggerBase:
    enabled: bool = True
    start: str | None = None  # StartBoundary as registered: naive local, or with an offset
    end: str | None = None
    repetition: Repetition | None = None
    time_limit: Duration | None = None


@dataclass(frozen=True, kw_only=True)
class ByDay:
    interval: int = 1


@dataclass(frozen=True, kw_only=True)
class ByWeek:
    interval: int = 1
    days: tuple[str, ...]  # WEEKDAYS names


@dataclass(frozen=True, kw_only=True)
class ByMonth:
    days: tuple[str, ...]  # "1".."31" and "Last"
    months: tuple[str, ...] = MONTHS


@dataclass(frozen=True, kw_only=True)
class ByMonthDayOfWeek:
    weeks: tuple[str, ...]  # "1".."4" and "Last"
    days: tuple[str, ...]
    months: tuple[str, ...] = MONTHS


Schedule = Union[ByDay, ByWeek, ByMonth, ByMonthDayOfWeek]


@dataclass(frozen=True, kw_only=True)
class CalendarTrigger(TriggerBase):
    schedule: Schedule
    random_delay: Duration | None = None


@dataclass(frozen=True, kw_only=True)
class TimeTrigger(TriggerBase):
    random_delay: Duration | None = None


@dataclass(frozen=True, kw_only=True)
class BootTrigger(TriggerBase):
    delay: Duration | None = None


@dataclass(frozen=True, kw_only=True)
class RegistrationTrigger(TriggerBase):
    delay: Duration | None = None


@dataclass(frozen=True, kw_only=True)
class IdleTrigger(TriggerBase):
    pass


@dataclass(frozen=True, kw_only=True)
class LogonTrigger(TriggerBase):
    user_id: str | None = None
    delay: Duration | None = None


@dataclass(frozen=True, kw_only=True)
class SessionStateChangeTrigger(TriggerBase):
    state_change: str  # ConsoleConnect, ..., SessionUnlock
    user_id: str | None = None
    delay: Duration | None = None


@dataclass(frozen=True, kw_only=True)
class EventTrigger(TriggerBase):
    subscription: str
    delay: Duration | None = None
    period_of_occurrence: Duration | None = None
    number_of_occurrences: int | None = None
    matching_element: str | None = None
    value_queries: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, kw_only=True)
class WnfStateChangeTrigger(TriggerBase):
    """Windows Notification Facility trigger (Win8+, not in the published XSD)."""

    state_name: str
    data: str | None = None
    data_offset: int | None = None
    delay: Duration | None = None


Trigger = Union[CalendarTrigger, TimeTrigger, BootTrigger, RegistrationTrigger, IdleTrigger,
                LogonTrigger, SessionStateChangeTrigger, EventTrigger, WnfStateChangeTrigger]


# --- actions, principal ------------------------------------------------------------

@dataclass(frozen=True, kw_only=True)
class ExecAction:
    command: str
    arguments: str | None = None  # already joined by the Windows command-line rules
    working_directory: str | None = None


@dataclass(frozen=True, kw_only=True)
class ComHandlerAction:
    class_id: str
    data: str | None = None


TaskAction = Union[ExecAction, ComHandlerAction]


@dataclass(frozen=True, kw_only=True)
class Principal:
    user_id: str | None = None
    group_id: str | None = None
    logon_type: str | None = None  # XML value: Password, S4U, InteractiveToken, ...
    run_level: str | None = None  # LeastPrivilege | HighestAvailable
    display_name: str | None = None
    process_token_sid_type: str | None = None
    required_privileges: tuple[str, ...] = ()
    password_env: str | None = None  # read at apply time; never rendered


SettingValue = Union[bool, int, str, Duration, tuple]


@dataclass(frozen=True, kw_only=True)
class TaskSpec:
    """One desired task, compiled from a manifest (Defaults merged, cron converted)."""

    path: str  # \Root\Folder\Name, as written
    name: str
    folder: tuple[str, ...]
    description: str | None
    triggers: tuple[Trigger, ...]
    actions: tuple[TaskAction, ...]
    principal: Principal
    # Settings children in render order: (XML element name, value); nested settings
    # (IdleSettings, RestartOnFailure, ...) hold a tuple of such pairs.
    settings: tuple[tuple[str, SettingValue], ...] = ()
    # RegistrationInfo children besides Description and the marker (Version, ...).
    registration: tuple[tuple[str, str], ...] = ()
    data: str | None = None
    protect: bool = False
    adopt: bool = False
    origin: Origin = field(default=Origin("<none>", 1, 1), compare=False)
    run: RunSpec | None = None  # the run block (workflows); None: Task Scheduler runs the actions
    runner: Any = None  # where the runner lives: {python, home} (Defaults, or the task's own)
    targets: Targets | None = None  # the inventory hosts that receive it (None: every host)


# --- plan ----------------------------------------------------------------------------

class Action(enum.Enum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    NOOP = "no-op"

    @property
    def symbol(self) -> str:
        return {"create": "+", "update": "~", "delete": "-", "no-op": " "}[self.value]


@dataclass(frozen=True)
class FieldChange:
    """One changed field: a path in the canonical task (``Settings/ExecutionTimeLimit``),
    the values before and after as display strings (None: absent), and the same values
    as the canonical form holds them (``old``, ``new``: for JSON readers)."""

    field: str
    before: str | None
    after: str | None
    old: Any = None
    new: Any = None


@dataclass(frozen=True, kw_only=True)
class Change:
    path: str
    action: Action
    reason: str
    before: dict | None = None  # canonical form of the live task
    after: dict | None = None  # canonical form of the desired task
    fields: tuple[FieldChange, ...] = ()
    drift: bool = False  # the live task was edited on the machine since the last apply
    xml: str | None = None  # the XML to register (create, update)
    origin: str | None = None  # the manifest file
    protect: bool = False
    password_env: str | None = None
    replaces: str | None = None  # a case-only rename: the live path this create follows


@dataclass(frozen=True, kw_only=True)
class Plan:
    root: str
    changes: tuple[Change, ...]
    unmanaged: tuple[str, ...] = ()
    protected: tuple[str, ...] = ()  # managed, manifest gone, kept because protect: true
    conflicts: tuple[str, ...] = ()  # messages: a manifest at an unmanaged task's path
    fingerprints: dict[str, str] = field(default_factory=dict)  # live path -> fingerprint
    warnings: tuple[str, ...] = ()

    def count(self, action: Action) -> int:
        return sum(1 for c in self.changes if c.action is action)

    @property
    def has_changes(self) -> bool:
        return any(c.action is not Action.NOOP for c in self.changes)

    def summary(self) -> str:
        if not self.has_changes:
            return "No changes."
        return (
            f"Plan: {self.count(Action.CREATE)} to add, {self.count(Action.UPDATE)} to change, "
            f"{self.count(Action.DELETE)} to delete."
        )
