"""apply(plan, backend): make the machine match the plan, and nothing more.

Safety first: every check that can refuse runs before the first write (conflicts,
--max-deletions, delete-all, missing passwords). Writes go creates and updates first,
deletes last (a failure midway then never leaves fewer tasks than before), except the
delete of a case-only rename, which must precede its create. After the first failed
write no further write starts; every task's outcome is reported."""
from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Container, Mapping

from .backends.base import Backend
from .errors import ReconcileError, SafetyError
from .model import Action, Change, Plan


@dataclass(frozen=True)
class Outcome:
    path: str
    action: Action
    status: str  # done | failed | not started
    message: str = ""
    stopped: bool = False  # its running instance was ended first (apply --stop-running)


def check(plan: Plan, *, max_deletions: int | None, allow_delete_all: bool,
          environ: Mapping[str, str] | None = None) -> None:
    """Every refusal that must happen before anything is written."""
    if plan.conflicts:
        raise SafetyError(f"{len(plan.conflicts)} conflict(s): {plan.conflicts[0]}")
    deletes = _deletes(plan)
    if _too_many(deletes, max_deletions):
        raise SafetyError(
            f"the plan deletes {len(deletes)} task(s), more than --max-deletions {max_deletions}; "
            f"nothing was changed (first: {deletes[0].path})"
        )
    if _deletes_everything(plan, deletes, allow_delete_all):
        raise SafetyError(
            f"the plan deletes every managed task ({len(deletes)}) — an empty or mistyped --dir? "
            "Nothing was changed; pass --allow-delete-all if that is what you want"
        )
    for change in _missing_passwords(plan, os.environ if environ is None else environ):
        raise ReconcileError(
            f"{change.path}: the environment variable {change.password_env} (its password) "
            "is not set; nothing was changed"
        )


def refusals(plan: Plan, *, max_deletions: int | None, allow_delete_all: bool,
             environ: Mapping[str, str] | None = None) -> tuple[list[str], list[str]]:
    """What ``check`` would refuse, said before it is asked (``plan``): the deletion rails
    (certain: the same options give the same answer) and the password variables missing
    here (which the machine that applies may well have)."""
    rails = []
    deletes = _deletes(plan)
    if _too_many(deletes, max_deletions):
        rails.append(f"the plan deletes {len(deletes)} task(s), more than --max-deletions {max_deletions} "
                     f"(first: {deletes[0].path})")
    if _deletes_everything(plan, deletes, allow_delete_all):
        rails.append(f"the plan deletes every managed task ({len(deletes)}) — an empty or mistyped --dir? "
                     "Pass --allow-delete-all (to plan and apply) if that is what you want")
    passwords = [f"{c.path}: the environment variable {c.password_env} (its password) is not set here"
                 for c in _missing_passwords(plan, os.environ if environ is None else environ)]
    return rails, passwords


def _deletes(plan: Plan) -> list[Change]:
    return [c for c in plan.changes if c.action is Action.DELETE and not _is_rename(c, plan)]


def _too_many(deletes: list[Change], max_deletions: int | None) -> bool:
    return max_deletions is not None and len(deletes) > max_deletions


def _deletes_everything(plan: Plan, deletes: list[Change], allow_delete_all: bool) -> bool:
    # Every managed task the manifests still describe is kept (updated or unchanged); if
    # none is, the manifests describe none of them: an empty or mistyped --dir. Protected
    # tasks are kept whatever the manifests say, so they do not count as described.
    described = [c for c in plan.changes if c.action in (Action.NOOP, Action.UPDATE)]
    return bool(deletes) and not described and not allow_delete_all


def _missing_passwords(plan: Plan, environ: Mapping[str, str]) -> list[Change]:
    return [c for c in plan.changes if c.action in (Action.CREATE, Action.UPDATE) and c.password_env
            and not environ.get(c.password_env)]


def _is_rename(change: Change, plan: Plan) -> bool:
    return any(c.replaces == change.path for c in plan.changes)


def ordered(plan: Plan) -> list[Change]:
    """The writes in the order they run: renames (delete, then create), creates and
    updates, then deletes."""
    renamed = {c.replaces for c in plan.changes if c.replaces}
    first: list[Change] = []
    writes: list[Change] = []
    deletes: list[Change] = []
    for change in plan.changes:
        if change.action is Action.NOOP:
            continue
        if change.action is Action.DELETE:
            if change.path in renamed:
                first.append(change)
                first.extend(c for c in plan.changes if c.replaces == change.path)
            else:
                deletes.append(change)
        elif change.replaces is None:
            writes.append(change)
    paired = {c.path for c in first if c.action is Action.DELETE}
    unpaired = [c.path for c in plan.changes if c.replaces is not None and c.replaces not in paired]
    if unpaired:  # never written silently out of order, nor silently dropped
        raise ReconcileError(f"{unpaired[0]}: the plan replaces a task it does not delete; nothing was written")
    return first + writes + deletes


def _write(change: Change, backend: Backend, environ: Mapping[str, str], stop: bool = False) -> Outcome:
    if stop:  # apply --stop-running: a task whose instance cannot be ended is not written
        try:
            backend.stop(change.path)
        except ReconcileError as err:
            written = "updated" if change.action is Action.UPDATE else "deleted"
            return Outcome(change.path, change.action, "failed",
                           f"its running instance could not be ended, so it was not {written}: "
                           + str(err).removeprefix(f"{change.path}: "))
    try:
        if change.action is Action.DELETE:
            backend.delete(change.path)
        else:
            password = environ.get(change.password_env) if change.password_env else None
            assert change.xml is not None
            backend.register(change.path, change.xml, password=password)
        return Outcome(change.path, change.action, "done", stopped=stop)
    except ReconcileError as err:
        return Outcome(change.path, change.action, "failed", str(err))


def _batches(plan: Plan) -> list[list[Change]]:
    """Writes that may run side by side: renames (each delete before its create, one
    at a time), then creates and updates, then deletes."""
    writes = ordered(plan)
    renames = [c for c in writes if c.replaces or any(o.replaces == c.path for o in plan.changes)]
    batches: list[list[Change]] = [[c] for c in renames]
    batches.append([c for c in writes if c not in renames and c.action is not Action.DELETE])
    batches.append([c for c in writes if c not in renames and c.action is Action.DELETE])
    return [b for b in batches if b]


def run(plan: Plan, backend: Backend, *, progress: Callable[[Outcome], None] | None = None,
        environ: Mapping[str, str] | None = None, parallelism: int = 1,
        stop: Container[str] = ()) -> list[Outcome]:
    """Every write of the plan; outcomes (and progress) in plan order whatever the
    parallelism. After a failure no further write starts; those already running finish.
    An interruption (Ctrl+C, SIGTERM) lets the writes under way finish and starts none.
    A task whose path is in ``stop`` has its running instance ended just before its
    write (``apply --stop-running``)."""
    environ = os.environ if environ is None else environ
    outcomes: list[Outcome] = []
    interrupted = threading.Event()
    with ThreadPoolExecutor(max_workers=max(1, parallelism)) as pool:
        try:
            _run_batches(plan, backend, pool, environ, outcomes, progress, interrupted, stop)
        except BaseException:
            interrupted.set()  # before the pool waits for what it started
            raise
    return outcomes


def _run_batches(plan: Plan, backend: Backend, pool: ThreadPoolExecutor, environ: Mapping[str, str],
                 outcomes: list[Outcome], progress: Callable[[Outcome], None] | None,
                 interrupted: threading.Event, stop_first: Container[str] = ()) -> None:
    failed = False
    for batch in _batches(plan):
        if failed:
            outcomes.extend(Outcome(c.path, c.action, "not started") for c in batch)
            continue
        futures = []
        stop = threading.Event()

        def guarded(change: Change) -> Outcome:
            if stop.is_set() or interrupted.is_set():
                return Outcome(change.path, change.action, "not started")
            outcome = _write(change, backend, environ, change.path in stop_first)
            if outcome.status == "failed":
                stop.set()
            return outcome

        for change in batch:
            futures.append(pool.submit(guarded, change))
        for future in futures:  # in plan order: progress lines stay ordered
            outcome = future.result()
            outcomes.append(outcome)
            if outcome.status == "failed":
                failed = True
            if progress is not None and outcome.status != "not started":
                progress(outcome)
