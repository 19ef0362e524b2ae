"""Changed tasks that are running now: what ``plan`` and ``apply`` say of them, and
which running instances ``apply --stop-running`` ends.

Replacing or deleting a task does not end an instance that is running: it goes on with
the definition it started with (README "apply --stop-running"). So when a plan updates
or deletes a task that runs, the plan says so; with ``--stop-running``, apply ends that
instance (``Backend.stop``) just before it writes the task.

Run data is a second read, after the one read of the state: made only when the plan
updates or deletes a task and the backend keeps run data, and informational (a failed
read is a warning, never an error, as for ``status``)."""
from __future__ import annotations

from dataclasses import dataclass

from .. import names
from ..backends.base import Backend, RunInfo
from ..model import Action, Change, Plan
from .status import state_of

_CHANGED = (Action.UPDATE, Action.DELETE)


@dataclass(frozen=True)
class Running:
    """The changed tasks running now (``names.key`` of their paths), and what the plan
    says of them."""

    keys: frozenset[str] = frozenset()
    warnings: tuple[str, ...] = ()

    def __contains__(self, path: object) -> bool:
        return isinstance(path, str) and names.key(path) in self.keys


def runs(info: RunInfo | None) -> bool:
    """Whether Task Scheduler says the task is running: its status word, or (on a machine
    whose schtasks prints the word in another language) the Last Run Result a running
    task holds, SCHED_S_TASK_RUNNING (see ``status.state_of``)."""
    if info is None:
        return False
    return state_of(True, info.status, info.last_result) == "running"


def warning(change: Change, stop: bool) -> str:
    """What the plan says of a changed task that runs now."""
    if stop:
        write = "changes" if change.action is Action.UPDATE else "deletes"
        return f"{change.path}: running now; apply --stop-running ends the running instance just before it {write} the task"
    goes_on = "with the old definition" if change.action is Action.UPDATE else "after the task is deleted"
    return f"{change.path}: running now; the running instance goes on {goes_on} (apply --stop-running ends it)"


def read(plan: Plan, backend: Backend, *, stop: bool = False) -> Running:
    """The plan's updated or deleted tasks that run now (one ``run_info`` read, made only
    when there are some and the backend keeps run data). ``stop``: apply will end them."""
    changed = [c for c in plan.changes if c.action in _CHANGED]
    if not changed or not backend.capabilities.run_history:
        return Running()
    data = backend.run_info(plan.root)
    why = "; ".join(data.warnings)
    if data.tasks is None:
        ended = "; no running instance is ended" if stop else ""
        return Running(warnings=(f"cannot tell whether a task this plan changes is running now{ended}: "
                                 f"{why or 'no run data'}",))
    running = [c for c in changed if runs(data.tasks.get(names.key(c.path)))]
    incomplete = (f"what runs now may be incomplete: {why}",) if why else ()
    return Running(frozenset(names.key(c.path) for c in running),
                   tuple(warning(c, stop) for c in running) + incomplete)
