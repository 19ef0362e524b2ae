"""The commands: each turns parsed arguments into one call of the application layer
(``app``) and shows the result through a view (``report``). Nothing here decides."""
from __future__ import annotations

import argparse
import datetime as dt
import os
from typing import TYPE_CHECKING, Callable

from . import report, report_doctor, report_status, report_validate, streams
from .app import doctor as doctor_app, open_backend, plans, project, status as status_app, tasks as task_app
from .app.preflight import Rails
from .errors import ReconcileError, UsageError, quoted
from .fleet import commands as fleet_commands

if TYPE_CHECKING:
    from .apply import Outcome
    from .backends.base import Backend
    from .manifest import Selection
    from .model import Plan


def _backend(args: argparse.Namespace) -> Backend:
    return open_backend(args.backend, root=args.root, store=args.store)


_out, _err = streams.write_out, streams.write_err


def _write_file(path: str, text: str) -> None:
    """``--out FILE``: the whole text, or one line saying why not."""
    try:
        with open(path, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
    except OSError as err:
        raise UsageError(f"--out {path}: {err.strerror or err}") from None


def _palette(args: argparse.Namespace) -> report.Palette:
    return report.Palette(args.color)


def _host(args: argparse.Namespace) -> Selection | None:
    """With --inventory: the host this run is for (its root becomes the run's) and its
    subset of the manifests (README "Fleet")."""
    chosen = fleet_commands.chosen_host(args)
    return chosen.selection if chosen is not None else None


def cmd_validate(args: argparse.Namespace) -> int:
    if args.inventory is not None and args.host is None:
        return fleet_commands.validate_every_host(args)
    select = _host(args)
    found = plans.validate(args.dir, args.root, select)
    if args.format == "json":
        if found.error is not None and args.github:
            report_validate.annotate(found.error)
        tasks = [(t.path, str(t.origin)) for t in found.tasks]
        host = args.fleet_host.host.name if args.fleet_host is not None else None
        _out(report_validate.as_json(args.dir, args.root, tasks, found.warnings, found.error, host))
        return 1 if found.error else 0
    for warning in found.warnings:
        _err(f"warning: {warning}")
    if found.error is not None:
        raise found.error  # said (and annotated) as every command's manifest problems are
    where = f" for {select.label}" if select is not None else ""
    _out(f"{len(found.tasks)} task(s) in {args.dir}{where}: valid.\n")
    return 0


def cmd_plan(args: argparse.Namespace) -> int:
    select = _host(args)
    backend = _backend(args)
    planned = plans.plan(args.dir, args.root, backend,
                         rails=Rails(args.max_deletions, args.allow_delete_all), select=select)
    result = planned.plan
    if args.out:
        plans.save(result, args.out, backend.name, fleet_commands.plan_origin(args))
    if args.format == "json":
        _out(report.as_json(result))
    elif args.format == "markdown":
        _out(report.markdown(result, next_runs=report.upcoming_runs(dt.datetime.now())))
    else:
        _out(report.text(result, _palette(args), quiet=args.quiet))
    if result.conflicts:
        _err(f"error: {len(result.conflicts)} manifest(s) conflict with unmanaged tasks; "
             "the plan cannot be applied")
        return 1
    if planned.refused:
        _err("error: apply would refuse this plan (see the plan's warnings)")
        return 1
    if args.detailed_exitcode and result.has_changes:
        return 2
    return 0


def cmd_apply(args: argparse.Namespace) -> int:
    options = plans.ApplyOptions(max_deletions=args.max_deletions, allow_delete_all=args.allow_delete_all,
                                 parallelism=args.parallelism, update_passwords=args.update_passwords,
                                 stop_running=args.stop_running)
    palette = _palette(args)

    def show(plan: Plan) -> None:
        _out(report.text(plan, palette, quiet=args.quiet))

    def progress(outcome: Outcome) -> None:
        line = report.outcome_line(outcome)
        if line and not (args.quiet and outcome.status == "done"):
            _err(line)

    select = _host(args)
    applied = plans.apply(_backend(args), args.root, options,
                          directory=None if args.plan else args.dir, saved_plan=args.plan,
                          on_plan=show, progress=progress, select=select)
    if not applied.plan.has_changes:
        return 0
    for line in report.apply_failures(applied.outcomes):
        _err(line)
    _out(report.apply_summary(applied.outcomes))
    return 1 if applied.failed else 0


def cmd_render(args: argparse.Namespace) -> int:
    # Accounts resolve as the backend's machine resolves them.
    select = _host(args)
    _out(task_app.render_xml(args.dir, args.root, args.name, _backend(args).resolve_account, select))
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    out = args.out or args.dir
    results = project.import_tasks(args.root, out, wanted=args.names, all_=args.all, source=args.source,
                                   path=args.path, backend=lambda: _backend(args))
    if results is None:
        _out(f"No tasks to import under {args.root}.\n")
        return 0
    failed = [r for r in results if r.error]
    for result in results:
        if result.error:
            _err(f"error: {result.path}: not imported: {result.error}")
        elif not args.quiet:
            _out(f"imported {result.path} -> {result.file}\n")
    _out(f"Imported {len(results) - len(failed)} task(s) into {out}"
         + (f"; {len(failed)} could not be imported." if failed else ".") + "\n")
    return 1 if failed else 0


def cmd_status(args: argparse.Namespace) -> int:
    select = _host(args)
    home = status_app.runner_home(None, args.dir, args.root, select)
    found = status_app.status(_backend(args), args.root, home)
    for warning in found.warnings:
        _err(f"warning: {warning}")
    if args.format == "json":
        _out(report_status.status_json(found))
    else:
        _out(report_status.status_table(found))
    return 0


def cmd_next(args: argparse.Namespace) -> int:
    if args.start:
        try:
            start = dt.datetime.fromisoformat(args.start)
        except ValueError:
            raise UsageError(f"--from {quoted(args.start)}: write YYYY-MM-DDTHH:MM[:SS]") from None
        if start.tzinfo is not None:
            raise UsageError("--from takes local wall-clock time, without a UTC offset")
    else:
        start = dt.datetime.now().replace(second=0, microsecond=0)
    found = task_app.next_runs(args.dir, args.root, args.name, start, args.count, _host(args))
    for run in found.runs:
        _out(run.isoformat(timespec="seconds") + "\n")
    if not found.runs:
        _err(f"note: {found.path} has no scheduled run after {start.isoformat(timespec='minutes')} "
             "(disabled, expired, or started only by events)")
    return 0


def cmd_init(args: argparse.Namespace) -> int:
    for path in project.init_project(args.target):
        _out(f"wrote {path}\n")
    _out("Next: review tasks.d/hello.yaml, then run: python -m reconciler plan\n")
    return 0


def cmd_history(args: argparse.Namespace) -> int:
    home = status_app.runner_home(args.home, args.dir, args.root)
    found = project.history(home, args.name, args.format, args.days)
    if args.out:
        _write_file(args.out, found.text)
        if not args.quiet:
            _out(f"wrote {args.out} ({found.runs} run(s) from {home})\n")
        return 0
    _out(found.text)
    if not found.runs and not found.home_exists and args.format == "text":
        _err(f"note: no runner history under {home} (set --home or RECONCILE_RUNNER_HOME)")
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    if args.timeout <= 0:
        raise UsageError("--timeout must be a positive number of seconds")
    if args.account and not os.environ.get(doctor_app.PASSWORD_VARIABLE):
        raise UsageError(f"--account {args.account}: set its password in {doctor_app.PASSWORD_VARIABLE}")
    if args.out and not os.path.isdir(os.path.dirname(os.path.abspath(args.out))):
        raise UsageError(f"--out {args.out}: no such folder")  # before the run, not after it
    options = doctor_app.DoctorOptions(timeout=args.timeout, password_account=args.account)

    def show(check: doctor_app.Check) -> None:
        _out(report_doctor.check_line(check))

    evidence = doctor_app.doctor(
        lambda root: open_backend(args.backend, root=root, store=args.store), options, show)
    _out(report_doctor.summary(evidence))
    if args.out:
        _write_file(args.out, report_doctor.as_json(evidence))
    return 0 if evidence.passed else 1


def cmd_runner_install(args: argparse.Namespace) -> int:
    project.install_runner(args.home, list(args.account or ()), args.python)
    return 0


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
    "doctor": cmd_doctor,
    **fleet_commands.COMMANDS,
}


def run(args: argparse.Namespace) -> int:
    handler = COMMANDS.get(args.command)
    if handler is None:  # pragma: no cover - argparse knows the commands
        raise ReconcileError(f"unknown command {args.command}")
    return handler(args)
