"""Load the desired state, read the actual state, make the plan, apply a plan: the heart
of reconcile.py, as plain functions over values.

Nothing here knows about the command line or prints: results are values, and what a
caller must see while it happens (the plan before the first write, each write's
outcome) comes through callbacks.

The apply sequence, in the order that keeps every safety promise: manifests first (an
invalid one stops the run before the lock), then under the lock: read the live state,
make the plan or check a saved one against what was read, read which changed tasks run
now (``running``), show it, refuse what the safety rails refuse, check that every write
can be done, and only then write."""
from __future__ import annotations

import functools
import hashlib
import hmac
import os
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

from .. import manifest, names
from ..backends.base import Backend, State
from ..errors import ManifestError, UsageError
from ..model import Action, Plan, TaskSpec

# The planner and the renderer bring lxml: imported where used, so `validate` starts fast.
if TYPE_CHECKING:
    from ..manifest import Selection
    from ..planner import Actual, Desired
    from .preflight import Rails


# --- the desired state ----------------------------------------------------------------

def load_tasks(directory: str, root: str, select: Selection | None = None) -> list[TaskSpec]:
    """Every task the manifests under ``directory`` describe (``select``: one host's
    subset; ManifestError lists every problem)."""
    return manifest.load(directory, root, select=select)


@dataclass(frozen=True)
class Validation:
    """What ``validate`` found: the tasks, or the problems that stop them (``error``),
    and the warnings about files that look like manifests but are not read."""

    tasks: list[TaskSpec]
    warnings: list[str]
    error: ManifestError | None


def validate(directory: str, root: str, select: Selection | None = None) -> Validation:
    warnings = manifest.look_alikes(directory)
    try:
        return Validation(load_tasks(directory, root, select), warnings, None)
    except ManifestError as err:
        return Validation([], warnings, err)


def password_hmac(spec: TaskSpec, environ: Mapping[str, str] | None = None) -> str | None:
    """HMAC-SHA256 of the task's password under RECONCILE_HMAC_KEY, if both are set.
    The key stays in the environment; only the HMAC is stored (in the marker)."""
    environ = os.environ if environ is None else environ
    variable = spec.principal.password_env
    key = environ.get("RECONCILE_HMAC_KEY")
    password = environ.get(variable) if variable else None
    if not (variable and key and password):
        return None
    return hmac.new(key.encode("utf-8"), password.encode("utf-8"), hashlib.sha256).hexdigest()


def desired_one(spec: TaskSpec, root: str, resolve: Callable[[str], str]) -> Desired:
    """A task as it will be registered: rendered, with its password's HMAC if any.
    Module-level so that worker processes can run it (see ``parallel``)."""
    from ..planner import Desired
    from ..render import render

    from ..marker import marker_key

    digest = password_hmac(spec)
    extra = {"pwHmac": digest} if digest else None
    return Desired(spec, render(spec, root, resolve, extra, marker_key()), digest)


def load_desired(directory: str, root: str, backend: Backend,
                 meanwhile: Callable[[], None] | None = None, select: Selection | None = None) -> list[Desired]:
    """The manifests' tasks, rendered as they will be registered. Large folders are read
    and rendered on several cores; ``meanwhile`` runs while the other processes finish."""
    prepare = functools.partial(desired_one, root=root, resolve=backend.resolve_account)
    tasks, prepared = manifest.load_prepared(directory, root, prepare=prepare, meanwhile=meanwhile, select=select)
    return [prepared.get(names.key(spec.path)) or prepare(spec) for spec in tasks]


# --- the actual state -----------------------------------------------------------------

@dataclass(frozen=True)
class ActualState:
    """The live tasks of the root, parsed, and warnings about what was read outside it."""

    tasks: list[Actual]
    warnings: tuple[str, ...] = ()

    def fingerprints(self) -> dict[str, str]:
        return {a.path: a.fingerprint for a in self.tasks}


class EarlyRead:
    """The live state, read while worker processes finish reading manifests (a plan
    only: an apply reads under its lock). A failure is kept and raised when the state is
    asked for, after the manifests are known to be valid: manifest errors come first, as
    they do when nothing is read early."""

    def __init__(self, backend: Backend, root: str) -> None:
        self.backend = backend
        self.root = root
        self._state: State | None = None
        self._error: BaseException | None = None

    def __call__(self) -> None:
        try:
            self._state = self.backend.read_state(self.root)
        except Exception as err:  # noqa: BLE001 - raised again by state()
            self._error = err

    def state(self) -> State | None:
        if self._error is not None:
            raise self._error
        return self._state


def read_actual(backend: Backend, root: str, wanted: Sequence[Desired] = (),
                early: EarlyRead | None = None) -> ActualState:
    """The root's live tasks in canonical form (one backend read). A live task whose text
    is exactly one of ``wanted``'s rendered XML is known without parsing it again."""
    from ..marker import marker_key
    from ..state import actual_tasks, body

    state = (early.state() if early else None) or backend.read_state(root)
    known = {body(d.rendered.xml): d.rendered for d in wanted}
    warnings = state.warnings
    if state.codepage is not None:  # read through a console code page: see schtasks_lossy
        from ..backends.schtasks_lossy import settle

        settled = settle(state, wanted, backend.resolve_account)
        known.update(settled.known)
        warnings += settled.warnings
    tasks = actual_tasks(state, root, backend.resolve_account, known, marker_key())
    warnings += tuple(f"{a.path}: {a.note}" for a in tasks if a.note)
    return ActualState(tasks, warnings)


# --- planning ---------------------------------------------------------------------------

def make_plan(desired: list[Desired], actual: ActualState, root: str, *,
              update_passwords: bool = False, select: Selection | None = None) -> Plan:
    """The pure planner, with the warnings of the read attached."""
    from ..planner import plan

    result = plan(desired, actual.tasks, root, update_passwords=update_passwords,
                  host=select.host_name if select else None)
    if actual.warnings:
        result = replace(result, warnings=result.warnings + actual.warnings)
    return result


@dataclass(frozen=True)
class Planned:
    plan: Plan
    actual: ActualState
    refused: bool = False  # apply with the same deletion rails would refuse it


def live_spelling(actual: ActualState, root: str) -> str:
    """The root as the machine spells it. Task Scheduler compares paths without case, so
    ``--root orchestrator`` names the folder ``\\Orchestrator\\``; the rendered tasks must
    carry the folder's own spelling (in their marker, runner payload, wake triggers), or
    every task would read as changed. Taken from the live tasks' paths; with none, the
    spelling given is as good as any."""
    depth = len(names.split_folder(root))
    for task in actual.tasks:
        spelled = "\\" + "\\".join(task.path.strip("\\").split("\\")[:depth]) + "\\"
        if names.key(spelled) == names.key(root):
            return spelled
    return root


def _respelled(directory: str, root: str, backend: Backend, desired: list[Desired],
               early: EarlyRead, select: Selection | None = None) -> tuple[str, list[Desired], ActualState]:
    """The manifests rendered for the root as the machine spells it, and the live state
    (read once: ``early``)."""
    actual = read_actual(backend, root, desired, early)
    spelled = live_spelling(actual, root)
    if spelled != root:
        desired = load_desired(directory, spelled, backend, select=select)
        actual = read_actual(backend, spelled, desired, early)
    return spelled, desired, actual


def plan(directory: str, root: str, backend: Backend, *, update_passwords: bool = False,
         rails: Rails | None = None, select: Selection | None = None) -> Planned:
    """Manifests against the live state; the state is read while manifests are still
    being read on other cores. The plan also warns about what apply would refuse with
    the same ``rails``, and about manifest look-alikes."""
    from ..manifest import look_alikes
    from . import preflight, running

    early = EarlyRead(backend, root)
    desired = load_desired(directory, root, backend, meanwhile=early, select=select)
    root, desired, actual = _respelled(directory, root, backend, desired, early, select)
    result = make_plan(desired, actual, root, update_passwords=update_passwords, select=select)
    checked = preflight.check(result, [d.spec for d in desired], rails or preflight.Rails())
    warnings = tuple(look_alikes(directory)) + checked.warnings + running.read(result, backend).warnings
    return Planned(replace(result, warnings=result.warnings + warnings), actual, checked.refused)


def save(result: Plan, path: str, backend_name: str, fleet: Mapping[str, Any] | None = None) -> None:
    """The plan as ``apply --plan`` takes it (JSON, with the XML to register); ``fleet``:
    which host of an inventory it is for, and when it was made (``fleet report``)."""
    from .. import savedplan

    folder = os.path.dirname(path)
    if folder and not os.path.isdir(folder):
        raise UsageError(f"--out {path}: the folder {folder} does not exist")
    savedplan.save(result, path, backend_name, savedplan.plan_key(), fleet)


# --- applying ---------------------------------------------------------------------------

@dataclass(frozen=True)
class ApplyOptions:
    max_deletions: int | None = None
    allow_delete_all: bool = False
    parallelism: int = 4
    update_passwords: bool = False
    stop_running: bool = False  # end a changed task's running instance just before its write


@dataclass(frozen=True)
class Applied:
    plan: Plan
    outcomes: list[Any] = field(default_factory=list)  # apply.Outcome, in plan order

    @property
    def failed(self) -> list[Any]:
        return [o for o in self.outcomes if o.status != "done"]

    def count(self, action: Action) -> int:
        return sum(1 for o in self.outcomes if o.status == "done" and o.action is action)


def _saved(path: str, root: str, backend: Backend, host: str | None) -> tuple[Plan, bool]:
    """The saved plan, and whether its signature was checked (RECONCILE_PLAN_KEY).
    ``host``: the inventory host this apply is for; a plan made for another is refused."""
    from .. import savedplan

    saved = savedplan.load(path, savedplan.plan_key())
    if names.key(saved.plan.root) != names.key(root):
        raise UsageError(f"the saved plan is for {saved.plan.root}, not {root} (--root)")
    if host is not None and saved.host is not None and saved.host.casefold() != host.casefold():
        raise UsageError(f"the saved plan was made for host {saved.host}, not {host} (--host)")
    if saved.backend and saved.backend != backend.name:
        raise UsageError(f"the saved plan was made with --backend {saved.backend}")
    return saved.plan, saved.signed


def apply(backend: Backend, root: str, options: ApplyOptions, *, directory: str | None = None,
          saved_plan: str | None = None, on_plan: Callable[[Plan], None] = lambda plan: None,
          progress: Callable[[Any], None] | None = None, select: Selection | None = None) -> Applied:
    """Make the root match the manifests in ``directory`` — or exactly the saved plan
    ``saved_plan`` (then no manifest is read) — and nothing more. ``on_plan`` sees the
    plan before anything is refused or written; ``progress`` each write's outcome."""
    from .. import apply as applying
    from .. import savedplan
    from . import running

    if options.parallelism < 1:
        raise UsageError("--parallelism must be at least 1")
    if (directory is None) == (saved_plan is None):
        raise UsageError("apply takes manifests or a saved plan, not both")
    desired = load_desired(directory, root, backend, select=select) if directory is not None else None
    signed = False
    with backend.lock():
        if saved_plan is not None:
            result, signed = _saved(saved_plan, root, backend, select.host_name if select else None)
            actual = read_actual(backend, root)
            savedplan.check_fresh(result, actual.fingerprints())
        else:
            assert directory is not None and desired is not None
            early = EarlyRead(backend, root)
            early()  # under the lock: the state this apply writes against
            root, desired, actual = _respelled(directory, root, backend, desired, early, select)
            result = make_plan(desired, actual, root, update_passwords=options.update_passwords, select=select)
        # The changed tasks running now, read once under the lock; the plan shown says so.
        now_running = running.read(result, backend, stop=options.stop_running)
        result = replace(result, warnings=result.warnings + now_running.warnings)
        on_plan(result)
        if saved_plan is not None:
            # A saved plan is data from outside: it may only do what a plan made now
            # could, to tasks this tool owns.
            savedplan.check_ownership(result, actual.tasks, signed)
        applying.check(result, max_deletions=options.max_deletions,
                       allow_delete_all=options.allow_delete_all)
        backend.preflight([c.path for c in result.changes if c.password_env and c.xml])
        if not result.has_changes:
            return Applied(result)
        parallelism = options.parallelism if backend.capabilities.parallel_writes else 1
        outcomes = applying.run(result, backend, progress=progress, parallelism=parallelism,
                                stop=now_running if options.stop_running else ())
    return Applied(result, outcomes)
