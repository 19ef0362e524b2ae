"""``python -m reconciler.runner run --payload P`` (what a registered task runs),
``python -m reconciler.runner show --payload P`` (what that task would do, as JSON) and
``python -m reconciler.runner history [NAME] [--home DIR] [--format text|json|html]``."""
from __future__ import annotations

import argparse
import json
import os
import sys

from . import EXIT_RUNNER_ERROR, VERSION


def _exit(code: int) -> int:
    if sys.platform == "win32" and code > 0x7FFFFFFF:  # pragma: no cover - Windows
        return code - 0x100000000  # the same 32 bits through the C runtime's int
    return code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m reconciler.runner", allow_abbrev=False,
                                     description="reconcile.py's runner (started by Task Scheduler)")
    parser.add_argument("--version", action="version", version=f"reconcile.py runner {VERSION}")
    commands = parser.add_subparsers(dest="command")
    run = commands.add_parser("run", help="run a task (what the registered action calls)", allow_abbrev=False)
    run.add_argument("--payload", required=True)
    show = commands.add_parser("show", help="print a payload as JSON", allow_abbrev=False)
    show.add_argument("--payload", required=True)
    history = commands.add_parser("history", help="runs recorded under the runner's home", allow_abbrev=False)
    history.add_argument("name", nargs="?", metavar="NAME")
    history.add_argument("--home", default=None)
    history.add_argument("--format", choices=["text", "json", "html"], default="text")
    history.add_argument("--days", type=int, default=None)
    history.add_argument("--out", default=None, metavar="FILE")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        return EXIT_RUNNER_ERROR if exit_.code else 0
    if args.command == "run":
        from .run import main as run_main

        return _exit(run_main(args.payload))
    if args.command == "show":
        from .payload import PayloadError, decode

        try:
            print(json.dumps(decode(args.payload), indent=2, ensure_ascii=False, sort_keys=True))
        except PayloadError as err:
            print(f"error: {err}", file=sys.stderr)
            return 1
        return 0
    if args.command == "history":
        from . import history as reading
        from .paths import expand
        from .run import DEFAULT_HOME

        home = expand(args.home or os.environ.get("RECONCILE_RUNNER_HOME") or DEFAULT_HOME) or ""
        try:
            runs = reading.select(reading.load(home), args.name)
        except LookupError as err:
            print(f"error: {err}", file=sys.stderr)
            return 1
        days = args.days if args.days is not None else (7 if args.format == "html" else None)
        text = reading.render(reading.since(runs, days), args.format, home, days)
        if args.out:
            with open(args.out, "w", encoding="utf-8", newline="\n") as handle:
                handle.write(text)
        else:
            sys.stdout.write(text)
        return 0
    parser.print_help(sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
