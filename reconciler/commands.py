"""What each command does, in terms of the pure core and a backend."""
from __future__ import annotations

import argparse
import os
import sys
from typing import Any, Callable

from typing import TYPE_CHECKING

from . import accounts, manifest, names
from .errors import ReconcileError, UsageError

# Heavier modules (lxml, the planner, the renderer) are imported where they are used, so
# `validate` starts quickly.
if TYPE_CHECKING:
    from . import report
    from .backends.base import Backend, State
    from .model import Action, Plan, TaskSpec
    from .planner import Actual, Desired


def make_backend(args: argparse.Namespace) -> Backend:
    if args.backend == "local":
        from .backends.local import LocalBackend

        return LocalBackend(args.store, args.root)
    from .backends.schtasks import SchtasksBackend

    return SchtasksBackend(root=args.root)


def _out(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def _err(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def load_tasks(args: argparse.Namespace) -> list[TaskSpec]:
    return manifest.load(args.dir, args.root)


def _password_hmac(spec: TaskSpec) -> str | None:
    """HMAC-SHA256 of the task's password under RECONCILE_HMAC_KEY, if both are set.
    The key stays in the environment; only the HMAC is stored (in the marker)."""
    import hashlib
    import hmac

    variable = spec.principal.password_env
    key = os.environ.get("RECONCILE_HMAC_KEY")
    password = os.environ.get(variable) if variable else None
    if not (variable and key and password):
        return None
    return hmac.new(key.encode("utf-8"), password.encode("utf-8"), hashlib.sha256).hexdigest()


def desired_one(spec: TaskSpec, root: str, resolve: Callable[[str], str]) -> Desired:
    """A task as it will be registered: rendered, with its password's HMAC if any.
    Module-level so that worker processes can run it (see ``parallel``)."""
    from .planner import Desired
    from .render import render

    digest = _password_hmac(spec)
    extra = {"pwHmac": digest} if digest else None
    return Desired(spec, render(spec, root, resolve, extra), digest)


def desired(tasks: list[TaskSpec], args: argparse.Namespace, backend: Backend,
            prepared: dict[int, Desired] | None = None) -> list[Desired]:
    prepared = prepared or {}
    return [prepared.get(id(spec)) or desired_one(spec, args.root, backend.resolve_account)
            for spec in tasks]


def load_desired(args: argparse.Namespace, backend: Backend,
                 meanwhile: Callable[[], None] | None = None) -> tuple[list[TaskSpec], dict[int, Desired]]:
    """``load_tasks``, with each task rendered where the manifests are read (on several
    cores for large folders): pass the second value to ``compute_plan``."""
    import functools

    prepare = functools.partial(desired_one, root=args.root, resolve=backend.resolve_account)
    return manifest.load_prepared(args.dir, args.root, prepare=prepare, meanwhile=meanwhile)


class EarlyState:
    """The live state, read while worker processes finish reading manifests (a plan
    only: an apply reads under its lock). A failure is kept and raised when the state is
    asked for, after the manifests are known to be valid: manifest errors come first,
    as they do when nothing is read early."""

    def __init__(self, backend: Backend, root: str) -> None:
        self.backend = backend
        self.root = root
        self._state: State | None = None
        self._error: BaseException | None = None

    def __call__(self) -> None:
        try:
            self._state = self.backend.read_state(self.root)
        except Exception as err:  # noqa: BLE001 - raised again by get()
            self._error = err

    def get(self) -> State | None:
        if self._error is not None:
            raise self._error
        return self._state


def read_actual(args: argparse.Namespace, backend: Backend, wanted: list[Desired] | None = None,
                early: EarlyState | None = None) -> tuple[list[Actual], tuple[str, ...]]:
    from .state import actual_tasks, body

    state = (early.get() if early else None) or backend.read_state(args.root)
    known = {body(d.rendered.xml): d.rendered for d in wanted or ()}
    return actual_tasks(state, args.root, backend.resolve_account, known), state.warnings


def compute_plan(args: argparse.Namespace, backend: Backend, tasks: list[TaskSpec],
                 prepared: dict[int, Desired] | None = None,
                 early: EarlyState | None = None) -> tuple[Plan, list[Actual]]:
    from .model import Plan
    from .planner import plan as make_plan

    wanted = desired(tasks, args, backend, prepared)
    actual, warnings = read_actual(args, backend, wanted, early)
    result = make_plan(wanted, actual, args.root,
                       update_passwords=bool(getattr(args, "update_passwords", False)))
    if warnings:
        result = Plan(**{**result.__dict__, "warnings": result.warnings + tuple(warnings)})
    return result, actual


def _palette(args: argparse.Namespace) -> report.Palette:
    from . import report

    return report.Palette(bool(getattr(args, "color", False)))


# --- commands ------------------------------------------------------------------------------

def cmd_validate(args: argparse.Namespace) -> int:
    tasks = load_tasks(args)
    _out(f"{len(tasks)} task(s) in {args.dir}: valid.\n")
    return 0


def _upcoming(count: int = 3) -> Callable[[Any], list[str]]:
    """For the Markdown plan: the next few run times of a task as it will be."""
    import datetime as dt

    from . import simulate

    now = dt.datetime.now().replace(second=0, microsecond=0)

    def runs(change: Any) -> list[str]:
        if not change.after:
            return []
        return [r.isoformat(timespec="minutes").replace("T", " ")
                for r in simulate.next_runs(change.after, now, count)]
    return runs


def cmd_plan(args: argparse.Namespace) -> int:
    from . import report, savedplan

    backend = make_backend(args)
    early = EarlyState(backend, args.root)
    tasks, prepared = load_desired(args, backend, meanwhile=early)
    result, _ = compute_plan(args, backend, tasks, prepared, early)
    if args.out:
        savedplan.save(result, args.out, backend.name)
    if args.format == "json":
        _out(report.as_json(result))
    elif args.format == "markdown":
        _out(report.markdown(result, next_runs=_upcoming()))
    else:
        _out(report.text(result, _palette(args), quiet=args.quiet))
    if result.conflicts:
        _err(f"error: {len(result.conflicts)} manifest(s) conflict with unmanaged tasks; "
             "the plan cannot be applied")
        return 1
    if args.detailed_exitcode and result.has_changes:
        return 2
    return 0


def _verb(action: Action) -> str:
    from .model import Action

    return {Action.CREATE: "created", Action.UPDATE: "updated", Action.DELETE: "deleted"}[action]


def cmd_apply(args: argparse.Namespace) -> int:
    from . import apply as applying
    from . import report, savedplan
    from .model import Action

    if args.parallelism < 1:
        raise UsageError("--parallelism must be at least 1")
    backend = make_backend(args)
    # Manifest errors before the lock.
    tasks, prepared = (None, None) if args.plan else load_desired(args, backend)
    with backend.lock():
        if args.plan:
            result, backend_name = savedplan.load(args.plan)
            if names.key(result.root) != names.key(args.root):
                raise UsageError(f"the saved plan is for {result.root}, not {args.root} (--root)")
            if backend_name and backend_name != backend.name:
                raise UsageError(f"the saved plan was made with --backend {backend_name}")
            actual, _ = read_actual(args, backend)
            savedplan.check_fresh(result, {a.path: a.fingerprint for a in actual})
        else:
            assert tasks is not None
            result, actual = compute_plan(args, backend, tasks, prepared)
        _out(report.text(result, _palette(args), quiet=True if args.quiet else False)
             if args.quiet or not result.has_changes else report.text(result, _palette(args)))
        if args.plan:
            # A saved plan is data from outside: it may only do what a plan made now
            # could, to tasks this tool owns.
            savedplan.check_ownership(result, actual)
        applying.check(result, max_deletions=args.max_deletions, allow_delete_all=args.allow_delete_all)
        preflight = getattr(backend, "preflight", None)
        if preflight is not None:
            preflight([c.path for c in result.changes if c.password_env and c.xml])
        if not result.has_changes:
            return 0

        def progress(outcome: applying.Outcome) -> None:
            if args.quiet and outcome.status == "done":
                return
            if outcome.status == "done":
                _err(f"{_verb(outcome.action)} {outcome.path}")
            else:
                message = outcome.message
                if not message.startswith(outcome.path):
                    message = f"{outcome.path}: {message}"
                _err(f"error: failed to {outcome.action.value}: {message}")

        # Task Scheduler takes registrations side by side; a folder of files gains nothing.
        parallelism = args.parallelism if backend.name == "schtasks" else 1
        outcomes = applying.run(result, backend, progress=progress, parallelism=parallelism)
    failed = [o for o in outcomes if o.status != "done"]
    done = [o for o in outcomes if o.status == "done"]
    counts = {a: sum(1 for o in done if o.action is a) for a in Action}
    summary = (f"{counts[Action.CREATE]} added, {counts[Action.UPDATE]} changed, "
               f"{counts[Action.DELETE]} deleted")
    if failed:
        for outcome in outcomes:
            state = outcome.status if outcome.status != "done" else _verb(outcome.action)
            _err(f"  {outcome.path}: {state}" + (" (see above)" if outcome.message else ""))
        _out(f"Apply failed: {summary}; {len(failed)} not done. Run apply again once the cause "
             "is fixed.\n")
        return 1
    _out(f"Apply complete: {summary}.\n")
    return 0


def find_task(tasks: list[TaskSpec], name: str) -> TaskSpec:
    wanted = name.strip("\\").casefold()
    exact = [t for t in tasks if "\\".join(t.folder + (t.name,)).casefold() == wanted]
    matches = exact or [t for t in tasks if t.name.casefold() == wanted]
    if not matches:
        raise UsageError(f"no task named {name!r} in the manifests")
    if len(matches) > 1:
        options = ", ".join("\\".join(t.folder + (t.name,)) for t in matches)
        raise UsageError(f"{name!r} is ambiguous: {options}; write folder\\name")
    return matches[0]


def cmd_render(args: argparse.Namespace) -> int:
    tasks = load_tasks(args)
    spec = find_task(tasks, args.name)
    from .accounts import well_known
    from .render import declared, render

    resolve: Callable[[str], str] = well_known
    if args.backend == "schtasks":
        resolve = make_backend(args).resolve_account
    _out(declared(render(spec, args.root, resolve).xml, "UTF-8"))
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from . import importing

    if not args.names and not args.all and not args.path:
        raise UsageError("import needs task names, --all, or --path \\X\\Y")
    if args.path and (args.names or args.all or args.source):
        raise UsageError("--path imports one task: give no names, --all or --from with it")
    backend = None
    if args.source:
        found = (importing.from_folder(args.source) if os.path.isdir(args.source)
                 else importing.from_export(args.source, args.root))
        chosen = importing.select(found, args.names, args.all, args.root)
    elif args.path:
        backend = make_backend(args)
        path = "\\" + args.path.strip("\\")
        chosen = [importing.Found(path, backend.read_task(path).xml)]
    else:
        backend = make_backend(args)
        state = backend.read_state(args.root)
        found = [importing.Found(t.path, t.xml) for t in state.tasks.values()]
        chosen = importing.select(found, args.names, args.all, args.root)
    if not chosen:
        _out(f"No tasks to import under {args.root}.\n")
        return 0
    resolve = backend.resolve_account if backend is not None else accounts.well_known
    out = args.out or args.dir
    results = importing.run(chosen, out, args.root, resolve)
    failed = [r for r in results if r.error]
    for result in results:
        if result.error:
            _err(f"error: {result.path}: not imported: {result.error}")
        elif not args.quiet:
            _out(f"imported {result.path} -> {result.file}\n")
    _out(f"Imported {len(results) - len(failed)} task(s) into {out}"
         + (f"; {len(failed)} could not be imported." if failed else ".") + "\n")
    return 1 if failed else 0


def _next_run(canonical: dict[str, Any], after: Any) -> str | None:
    from . import simulate

    runs = simulate.next_runs(canonical, after, 1)
    return runs[0].isoformat(timespec="seconds") if runs else None


def _runner_runs(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """The runner's latest recorded run per task key, when there is a history."""
    from . import history

    home = history.resolve_home(None, _runner_home(args) if os.path.isdir(args.dir) else None)
    try:
        runs = history.last_runs(home) if os.path.isdir(home) else {}
    except (OSError, ValueError):
        return {}
    return {names.key(path): record for path, record in runs.items()}


def cmd_status(args: argparse.Namespace) -> int:
    import datetime as dt

    from . import results

    from .marker import owns

    backend = make_backend(args)
    actual, _ = read_actual(args, backend)
    managed = [a for a in actual if owns(a.marker, a.path)]
    info = backend.run_info(args.root)
    # Status is informational: a failed run-data read is a warning, not an error.
    status_warnings = list(getattr(backend, "run_info_warnings", ()))
    runner_runs = _runner_runs(args)
    now = dt.datetime.now().replace(microsecond=0)
    rows = []
    for task in managed:
        enabled = task.canonical.get("Settings", {}).get("Enabled", True) is not False
        run = (info or {}).get(names.key(task.path))
        next_run = run.next_run if run is not None and run.next_run else (
            _next_run(task.canonical, now) if enabled else None)
        rows.append({
            "path": task.path,
            "enabled": enabled,
            "status": (run.status if run is not None and run.status else
                       ("Ready" if enabled else "Disabled") if info is not None else None),
            "last_run": run.last_run if run is not None else None,
            "last_result": run.last_result if run is not None else None,
            "last_result_text": results.describe(run.last_result) if run is not None
            and run.last_result is not None else None,
            "next_run": next_run,
            "protect": bool(task.marker and task.marker.protect),
        })
        recorded = runner_runs.get(names.key(task.path))
        if recorded is not None:
            # The runner's own record says more than Task Scheduler's Last Result (which
            # is 0 for a run that was only waiting for its dependencies).
            rows[-1]["runner"] = {k: recorded.get(k) for k in
                                  ("result", "start", "end", "exitCode", "attempts", "reason")}
            rows[-1]["last_run"] = rows[-1]["last_run"] or recorded.get("start")
            if rows[-1]["last_result"] is None and isinstance(recorded.get("exitCode"), int):
                rows[-1]["last_result"] = recorded["exitCode"]
                rows[-1]["last_result_text"] = f"{recorded.get('result')}: " + results.describe(recorded["exitCode"])
    note = None if info is not None or runner_runs or status_warnings else (
        f"the {backend.name} backend keeps no run history: last run and last result are unknown")
    for warning in status_warnings:
        _err(f"warning: {warning}")
    if args.format == "json":
        import json

        _out(json.dumps({"root": args.root, "backend": backend.name, "note": note,
                         "warnings": status_warnings, "tasks": rows},
                        indent=2, ensure_ascii=False) + "\n")
        return 0
    if not rows:
        _out(f"No managed tasks in {args.root}.\n")
    else:
        import unicodedata

        def cells(text: str) -> int:
            """Terminal columns: East Asian wide characters take two."""
            return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)

        def pad(text: str, width: int) -> str:
            return text + " " * max(0, width - cells(text))

        states = [row["status"] or ("enabled" if row["enabled"] else "disabled") for row in rows]
        width = max(cells(r["path"]) for r in rows)
        state_width = max([5] + [cells(s) for s in states])
        _out(f"{pad('TASK', width)}  {pad('STATE', state_width)}  {'LAST RUN':<19}  {'NEXT RUN':<19}  "
             "LAST RESULT\n")
        for row, state in zip(rows, states):
            _out(f"{pad(row['path'], width)}  {pad(state, state_width)}  {row['last_run'] or '-':<19}  "
                 f"{row['next_run'] or '-':<19}  {row['last_result_text'] or '-'}\n")
    if note:
        _out(f"note: {note}.\n")
    return 0


def cmd_next(args: argparse.Namespace) -> int:
    import datetime as dt

    from . import simulate

    if args.count < 1:
        raise UsageError("-n must be at least 1")
    if args.start:
        try:
            start = dt.datetime.fromisoformat(args.start)
        except ValueError:
            raise UsageError(f"--from {args.start!r}: write YYYY-MM-DDTHH:MM[:SS]") from None
        if start.tzinfo is not None:
            raise UsageError("--from takes local wall-clock time, without a UTC offset")
    else:
        start = dt.datetime.now().replace(second=0, microsecond=0)
    from .render import render

    spec = find_task(load_tasks(args), args.name)
    canonical = render(spec, args.root).canonical
    runs = simulate.next_runs(canonical, start, args.count)
    for run in runs:
        _out(run.isoformat(timespec="seconds") + "\n")
    if not runs:
        _err(f"note: {spec.path} has no scheduled run after {start.isoformat(timespec='minutes')} "
             "(disabled, expired, or started only by events)")
    return 0


def cmd_init(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .resources import example_workflow, schema_text, template

    base = Path(args.target)
    files = {
        base / "tasks.d" / "hello.yaml": template("starter.yaml"),
        base / ".github" / "workflows" / "reconcile.yml": example_workflow(),
        # For editors: completion and hover help from the yaml-language-server modeline.
        base / "schemas" / "manifest.schema.json": schema_text(),
    }
    taken = [str(path) for path in files if path.exists()]
    if (base / "tasks.d").exists():
        taken.insert(0, str(base / "tasks.d"))
    if taken:
        raise UsageError(f"init never overwrites anything: {taken[0]} exists")
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "x", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
        _out(f"wrote {path}\n")
    _out("Next: review tasks.d/hello.yaml, then run: python -m reconciler plan\n")
    return 0


def _runner_home(args: argparse.Namespace) -> str | None:
    """The runner home the manifests' Defaults name, if they can be read."""
    try:
        tasks = load_tasks(args)
    except ReconcileError:
        return None
    homes = {str((t.runner or {}).get("home")) for t in tasks if t.runner and (t.runner or {}).get("home")}
    return homes.pop() if len(homes) == 1 else None


def cmd_history(args: argparse.Namespace) -> int:
    from . import history

    if args.home is None and os.path.isdir(args.dir):
        args.runner_home = _runner_home(args)
    return history.cmd_history(args)


def cmd_runner_install(args: argparse.Namespace) -> int:
    from . import runner_install

    return runner_install.cmd_runner_install(args)


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "validate": cmd_validate,
    "plan": cmd_plan,
    "apply": cmd_apply,
    "render": cmd_render,
    "import": cmd_import,
    "status": cmd_status,
    "init": cmd_init,
    "next": cmd_next,
    "history": cmd_history,
    "runner-install": cmd_runner_install,
}


def run(args: argparse.Namespace) -> Any:
    handler = COMMANDS.get(args.command)
    if handler is None:  # pragma: no cover - argparse knows the commands
        raise ReconcileError(f"unknown command {args.command}")
    return handler(args)
