"""``status``: managed tasks with what Task Scheduler and the runner know of their runs."""
from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .. import names
from ..backends.base import Backend, RunInfo
from ..errors import ReconcileError
from ..planner import Actual
from .plans import load_tasks, read_actual

if TYPE_CHECKING:
    from ..manifest import Selection


@dataclass(frozen=True)
class StatusRow:
    path: str
    enabled: bool
    status: str | None
    last_run: str | None
    last_result: int | None
    last_result_text: str | None
    next_run: str | None
    protect: bool
    runner: dict[str, Any] | None = None  # the runner's own record of the last run
    # ready | running | queued | disabled | unknown: the same words whatever the machine's
    # display language (``status`` is Task Scheduler's own word, localised by schtasks).
    state: str = "unknown"

    def as_dict(self) -> dict[str, Any]:
        body = {k: v for k, v in self.__dict__.items() if k != "runner"}
        if self.runner is not None:
            body["runner"] = self.runner
        return body


@dataclass(frozen=True)
class Status:
    root: str
    backend: str
    rows: list[StatusRow]
    note: str | None
    warnings: tuple[str, ...]


def _runner_home(directory: str, root: str, select: Selection | None = None) -> str | None:
    """The runner home the manifests' Defaults name, if they can be read."""
    if not os.path.isdir(directory):
        return None
    try:
        tasks = load_tasks(directory, root, select)
    except ReconcileError:
        return None
    homes = {str(t.runner["home"]) for t in tasks if t.runner and t.runner.get("home")}
    return homes.pop() if len(homes) == 1 else None


def runner_home(explicit: str | None, directory: str, root: str, select: Selection | None = None) -> str:
    """The runner home to read: ``--home``, RECONCILE_RUNNER_HOME, the manifests'
    Defaults, or the platform's."""
    from .. import history

    return history.resolve_home(explicit, None if explicit else _runner_home(directory, root, select))


def _runner_runs(home: str) -> dict[str, dict[str, Any]]:
    """The runner's latest recorded run per task key, when there is a history."""
    from .. import history

    try:
        runs = history.last_runs(home) if os.path.isdir(home) else {}
    except (OSError, ValueError):
        return {}
    return {names.key(path): record for path, record in runs.items()}


def _status_row(task: Actual, run: RunInfo | None, recorded: dict[str, Any] | None, has_run_data: bool,
                now: dt.datetime) -> StatusRow:
    from .. import results, simulate

    enabled = task.canonical.get("Settings", {}).get("Enabled", True) is not False
    next_run = run.next_run if run is not None and run.next_run else None
    if next_run is None and enabled:
        upcoming = simulate.next_runs(task.canonical, now, 1)
        next_run = upcoming[0].isoformat(timespec="seconds") if upcoming else None
    status = run.status if run is not None and run.status else None
    if status is None and has_run_data:
        status = "Ready" if enabled else "Disabled"
    last_run = run.last_run if run is not None else None
    last_result = run.last_result if run is not None else None
    text = results.describe(last_result) if last_result is not None else None
    runner = None
    if recorded is not None:
        # The runner's own record says more than Task Scheduler's Last Result (which is
        # 0 for a run that was only waiting for its dependencies).
        runner = {k: recorded.get(k) for k in ("result", "start", "end", "exitCode", "attempts", "reason")}
        last_run = last_run or recorded.get("start")
        if last_result is None and isinstance(recorded.get("exitCode"), int):
            last_result = recorded["exitCode"]
            text = f"{recorded.get('result')}: " + results.describe(recorded["exitCode"])
    return StatusRow(path=task.path, enabled=enabled, status=status, last_run=last_run,
                     last_result=last_result, last_result_text=text, next_run=next_run,
                     protect=bool(task.marker and task.marker.protect), runner=runner,
                     state=state_of(enabled, status, run.last_result if run is not None else None))


# Task Scheduler's status words in English (what com reads from the object model, and
# schtasks prints on an English system), and the Last Run Result codes it holds while a
# task runs or waits in the queue (SCHED_S_TASK_RUNNING, SCHED_S_TASK_QUEUED: "Task
# Scheduler Error and Success Constants" on Microsoft Learn), which say the same in
# every language.
_STATE_WORDS = {"ready": "ready", "running": "running", "queued": "queued", "disabled": "disabled"}
_RUNNING, _QUEUED = 0x41301, 0x41325


def reported_state(status: str | None) -> str | None:
    """Task Scheduler's own status word as a state; None when there is no word or it is
    in another display language."""
    return _STATE_WORDS.get(status.strip().casefold()) if status else None


def state_of(enabled: bool, status: str | None, last_result: int | None) -> str:
    """The task's state in words that do not depend on the machine's display language."""
    if not enabled:
        return "disabled"
    if status is None:
        return "unknown"
    word = _STATE_WORDS.get(status.strip().casefold())
    if word is not None:
        return word
    if last_result == _RUNNING:
        return "running"
    return "queued" if last_result == _QUEUED else "ready"


def status(backend: Backend, root: str, home: str, now: dt.datetime | None = None) -> Status:
    """Managed tasks with what Task Scheduler and the runner know of their runs."""
    from ..marker import owns

    actual = read_actual(backend, root)
    managed = [a for a in actual.tasks if owns(a.marker, a.path)]
    data = backend.run_info(root)
    recorded = _runner_runs(home)
    now = now or dt.datetime.now().replace(microsecond=0)
    info = data.tasks or {}
    rows = [_status_row(task, info.get(names.key(task.path)), recorded.get(names.key(task.path)),
                        data.tasks is not None, now) for task in managed]
    note = None if data.tasks is not None or recorded or data.warnings else (
        f"the {backend.name} backend keeps no run history: last run and last result are unknown")
    return Status(root, backend.name, rows, note, data.warnings)
