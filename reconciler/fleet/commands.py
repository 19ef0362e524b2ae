"""The fleet's commands: each turns parsed arguments into one call of a fleet module and
shows the result. Imported by every run, so it imports nothing heavy at the top."""
from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from typing import TYPE_CHECKING, Any, Callable, Mapping

from .. import streams
from ..errors import ReconcileError, UsageError

if TYPE_CHECKING:
    from .hosts import Chosen
    from .inventory import Inventory


def _out(text: str) -> None:
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        raise  # the reader went away: a quiet exit (cli)
    except OSError as err:  # a full disk, a device that refuses the output
        streams.quiet_stdout()
        raise ReconcileError(f"cannot write the output: {err.strerror or err}") from None


def _err(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def chosen_host(args: argparse.Namespace) -> Chosen | None:
    """``--inventory``/``--host``: the host this run is for; its root becomes the run's."""
    from .hosts import choose

    chosen = choose(args.inventory, args.host, args.root, getattr(args, "root_given", False))
    if chosen is not None:
        for warning in chosen.inventory.warnings:
            _err(f"warning: {warning}")
        args.root = chosen.root
    args.fleet_host = chosen
    return chosen


def plan_origin(args: argparse.Namespace) -> dict[str, Any] | None:
    """What a saved plan says of its host, for ``fleet report`` (None: no inventory)."""
    from .hostvars import wave

    chosen: Chosen | None = getattr(args, "fleet_host", None)
    if chosen is None:
        return None
    return {"host": chosen.host.name, "groups": list(chosen.host.labels), "wave": wave(chosen.host),
            "made": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}


def validate_every_host(args: argparse.Namespace, out: Callable[[str], None]) -> int:
    """``validate --inventory``: each host's subset checked on its own."""
    from ..manifest import look_alikes
    from .hosts import roots, subsets
    from .inventory import read

    inventory = read(args.inventory)
    warnings = list(inventory.warnings) + look_alikes(args.dir)
    host_roots = roots(inventory, args.root, args.root_given)
    if args.format == "json":
        return _every_host_json(args, inventory, host_roots, warnings, out)
    for warning in warnings:
        _err(f"warning: {warning}")
    found = subsets(args.dir, inventory, host_roots)
    if not args.quiet:
        width = max((len(name) for name in found), default=0)
        for name, tasks in found.items():
            out(f"  {name:<{width}}  {len(tasks)} task(s)\n")
    total = len({t.path.casefold() for tasks in found.values() for t in tasks})
    out(f"{len(found)} host(s), {total} task path(s) in {args.dir}: each host's tasks are valid.\n")
    return 0


def _every_host_json(args: argparse.Namespace, inventory: Inventory, host_roots: Mapping[str, str],
                     warnings: list[str], out: Callable[[str], None]) -> int:
    """``validate --inventory --format json``: every host's tasks, or every problem."""
    import json

    from ..errors import ManifestError
    from .hosts import subsets

    body: dict[str, object] = {"format_version": 1, "directory": args.dir, "inventory": args.inventory}
    try:
        found = subsets(args.dir, inventory, host_roots)
    except ManifestError as err:
        if args.github:
            from ..cli import annotate

            annotate(err)
        problems = [{"file": p.path, "line": p.line, "column": p.column, "message": p.message}
                    for p in err.problems]
        body.update(valid=False, hosts=[], problems=problems, warnings=warnings)
        out(json.dumps(body, indent=2, ensure_ascii=False) + "\n")
        return 1
    body.update(valid=True, hosts=[
        {"host": name, "root": host_roots[name],
         "tasks": [{"path": t.path, "manifest": str(t.origin)} for t in tasks]}
        for name, tasks in found.items()], problems=[], warnings=warnings)
    out(json.dumps(body, indent=2, ensure_ascii=False) + "\n")
    return 0


def cmd_hosts(args: argparse.Namespace) -> int:
    from . import listing
    from .hosts import roots, subsets
    from .inventory import read

    inventory = read(args.inventory)
    for warning in inventory.warnings:
        _err(f"warning: {warning}")
    host_roots = roots(inventory, args.root, args.root_given)
    counts = None
    if os.path.isdir(args.dir):
        counts = {name: len(tasks) for name, tasks in subsets(args.dir, inventory, host_roots).items()}
    rows = listing.host_rows(inventory, host_roots, counts)
    _out(listing.hosts_json(rows) if args.format == "json" else listing.hosts_text(rows))
    return 0


def cmd_fleet(args: argparse.Namespace) -> int:
    if args.fleet_command == "matrix":
        from . import listing
        from .inventory import read

        _out(listing.matrix_json(read(args.inventory), args.wave))
        return 0
    return _fleet_report(args)


def _fleet_report(args: argparse.Namespace) -> int:
    from .. import durations
    from . import report, report_views
    from .inventory import read

    try:
        stale = durations.parse(args.stale).seconds
    except ValueError as err:
        raise UsageError(f"--stale {args.stale}: {err}") from None
    merged = report.merge(read(args.inventory), report.read_sources(args.sources),
                          stale_after=dt.timedelta(seconds=stale),
                          now=dt.datetime.now(dt.timezone.utc))
    text = report_views.render(merged, args.format)
    if args.out:
        try:
            with open(args.out, "w", encoding="utf-8", newline="\n") as handle:
                handle.write(text)
        except OSError as err:
            raise UsageError(f"--out {args.out}: {err.strerror or err}") from None
        _out(report_views.summary_line(merged) + "\n")
    else:
        _out(text)
    return 0 if merged.ok else 1


def cmd_agent(args: argparse.Namespace) -> int:
    from . import agent

    if args.agent_command == "install":
        installed = agent.install(agent.settings_from(args), backend=args.backend, store=args.store,
                                  managed_root=args.root, root_given=args.root_given, every=args.every,
                                  splay=args.splay,
                                  python=args.python)
        _out(f"{installed.summary}\n")
        return 0 if installed.ok else 1
    if args.agent_command == "uninstall":
        removed = agent.uninstall(backend=args.backend, store=args.store)
        _out(f"{removed.summary}\n")
        return 0 if removed.ok else 1
    from . import agent_run

    result = agent_run.run(agent.settings_from(args), backend=args.backend, store=args.store,
                           root=args.root, root_given=args.root_given)
    _out(f"{result.summary}\n")
    for error in result.errors:
        _err(f"error: {error}")
    return 0 if result.ok else 1


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "hosts": cmd_hosts,
    "fleet": cmd_fleet,
    "agent": cmd_agent,
}
