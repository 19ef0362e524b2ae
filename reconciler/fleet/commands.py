"""The fleet's commands: each turns parsed arguments into one call of a fleet module and
shows the result. Imported by every run, so it imports nothing heavy at the top."""
from __future__ import annotations

import argparse
import datetime as dt
from typing import TYPE_CHECKING, Any, Callable

from .. import streams
from ..errors import UsageError

if TYPE_CHECKING:
    from .hosts import Chosen


_out, _err = streams.write_out, streams.write_err


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


def validate_every_host(args: argparse.Namespace) -> int:
    """``validate --inventory``: each host's subset checked on its own."""
    from .. import report_validate
    from . import hosts, listing

    found = hosts.validate(args.dir, args.inventory, args.root, args.root_given)
    if args.format == "json":
        if found.error is not None and args.github:
            report_validate.annotate(found.error)
        _out(listing.validation_json(found, args.dir, args.inventory))
        return 1 if found.error else 0
    for warning in found.warnings:
        _err(f"warning: {warning}")
    if found.error is not None:
        raise found.error  # said (and annotated) as every command's manifest problems are
    _out(listing.validation_text(found, args.dir, args.quiet))
    return 0


def cmd_hosts(args: argparse.Namespace) -> int:
    from . import hosts, listing

    found = hosts.overview(args.dir, args.inventory, args.root, args.root_given)
    for warning in found.inventory.warnings:
        _err(f"warning: {warning}")
    rows = listing.host_rows(found.inventory, found.roots, found.counts)
    _out(listing.hosts_json(rows) if args.format == "json" else listing.hosts_text(rows))
    return 0


def cmd_fleet(args: argparse.Namespace) -> int:
    if args.fleet_command == "matrix":
        from . import listing
        from .inventory import read

        waves_run = tuple(w.strip() for w in (args.waves or "").split(",") if w.strip())
        _out(listing.matrix_json(read(args.inventory), args.wave, allow_empty=args.allow_empty,
                                 waves_run=waves_run))
        return 0
    return _fleet_report(args)


def _fleet_report(args: argparse.Namespace) -> int:
    from .. import durations
    from . import report, report_views

    try:
        stale = durations.parse(args.stale).seconds
    except ValueError as err:
        raise UsageError(f"--stale {args.stale}: {err}") from None
    merged = report.report(args.inventory, args.sources, stale_after=dt.timedelta(seconds=stale),
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
