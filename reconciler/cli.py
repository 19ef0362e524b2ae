"""Command line: ``main(argv) -> int``. Parsing, dispatch and exit codes only; the work
happens in the modules it calls. Exit codes (README "Commands"): 0 success, 1 any error (usage
errors too), 2 only with --detailed-exitcode when the plan has changes."""
from __future__ import annotations

import argparse
import contextlib
import os
import sys
from typing import Any, Callable, Iterator, Sequence

from . import __version__, backends, names, streams
from .errors import ManifestError, ReconcileError, UsageError
from .fleet.cli import add_commands as add_fleet_commands, host_options

EXIT_OK, EXIT_ERROR, EXIT_CHANGES = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    """argparse exits 2 on usage errors; reconcile.py exits 1, with one clear line."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{message} (see {self.prog} --help)")


def _common(parser: argparse.ArgumentParser, suppress: bool) -> None:
    """Options every command takes, accepted before and after the command name. The
    copies on subcommands default to SUPPRESS so they never undo a value given first."""
    default: Callable[[Any], Any] = (lambda v: argparse.SUPPRESS) if suppress else (lambda v: v)
    parser.add_argument("--backend", choices=backends.NAMES, default=default(None),
                        help="com (Task Scheduler's API through pywin32: the default on Windows), "
                             "schtasks (Windows, without pywin32) or local (a folder, the default elsewhere)")
    parser.add_argument("--store", default=default(None), metavar="DIR",
                        help="the local backend's folder (default .reconcile/store)")
    parser.add_argument("--root", default=default(None), metavar="FOLDER",
                        help="the Task Scheduler folder reconcile.py owns (default \\Orchestrator\\)")
    parser.add_argument("--no-color", action="store_true", default=default(False),
                        help="no colour (NO_COLOR is honoured too)")
    parser.add_argument("--github", action="store_true", default=default(None),
                        help="also write manifest problems as GitHub ::error annotations "
                             "(on by default when GITHUB_ACTIONS=true)")
    parser.add_argument("-q", "--quiet", action="store_true", default=default(False),
                        help="only errors and the summary line")


def _count(least: int, most: int | None = None) -> Callable[[str], int]:
    """A whole number in a range, for options such as --max-deletions and -n: a value
    out of range is a usage error naming the range, never a failure later on."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < least or (most is not None and value > most):
            span = f"at least {least}" if most is None else f"from {least} to {most}"
            raise argparse.ArgumentTypeError(f"{text} is out of range ({span})")
        return value
    return parse


def _dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dir", default="tasks.d", help="manifest folder (default tasks.d)")


def _deletion_rails(parser: argparse.ArgumentParser, verb: str) -> None:
    """apply's deletion rails; plan takes them too, to say what apply would refuse."""
    parser.add_argument("--max-deletions", type=_count(0), metavar="N",
                        help=f"{verb} a plan that deletes more than N tasks")
    parser.add_argument("--allow-delete-all", action="store_true",
                        help="allow a run that deletes every managed task")


def build_parser() -> argparse.ArgumentParser:
    # allow_abbrev=False: an abbreviation such as --al must never be taken for
    # --allow-delete-all.
    parser = _Parser(prog="reconcile.py", allow_abbrev=False,
                     description="Make a Windows Task Scheduler folder match YAML manifests.")
    parser.add_argument("--version", action="version", version=f"reconcile.py {__version__}")
    _common(parser, suppress=False)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    def command(name: str, help_: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_, description=help_, allow_abbrev=False)
        _common(sub, suppress=True)
        return sub

    def nested(parent: argparse.ArgumentParser, dest: str) -> Callable[[str, str], argparse.ArgumentParser]:
        group = parent.add_subparsers(dest=dest, metavar="COMMAND", parser_class=_Parser, required=True)

        def sub_command(name: str, help_: str) -> argparse.ArgumentParser:
            sub = group.add_parser(name, help=help_, description=help_, allow_abbrev=False)
            _common(sub, suppress=True)
            return sub
        return sub_command

    validate = command("validate", "check the manifests; write nothing")
    _dir(validate)
    validate.add_argument("--format", choices=["text", "json"], default="text")
    host_options(validate)

    plan = command("plan", "show what apply would change")
    _dir(plan)
    host_options(plan)
    plan.add_argument("--out", metavar="PLAN.json", help="save the plan (JSON) for apply --plan")
    plan.add_argument("--format", choices=["text", "json", "markdown"], default="text")
    plan.add_argument("--detailed-exitcode", action="store_true",
                      help="exit 2 when the plan has changes (0: none, 1: error)")
    _deletion_rails(plan, "exit 1, as apply would, for")

    apply_ = command("apply", "make the root folder match the manifests")
    _dir(apply_)
    host_options(apply_)
    apply_.add_argument("--plan", metavar="PLAN.json", help="apply exactly this saved plan")
    _deletion_rails(apply_, "refuse, writing nothing,")
    apply_.add_argument("--parallelism", type=_count(1), default=4, metavar="N",
                        help="concurrent writes where the backend allows them: schtasks (default 4)")
    apply_.add_argument("--stop-running", action="store_true",
                        help="end a task's running instance just before it is updated or deleted "
                             "(otherwise it goes on, and the plan says so)")
    apply_.add_argument("--update-passwords", action="store_true",
                        help="re-register password tasks even if unchanged")

    render = command("render", "print the XML that would be registered")
    render.add_argument("name", metavar="NAME")
    _dir(render)
    host_options(render)

    import_ = command("import", "write manifests (adopt: true) for existing tasks")
    import_.add_argument("names", nargs="*", metavar="NAME", help="tasks to import (path below the root)")
    import_.add_argument("--all", action="store_true", help="every task under the root")
    import_.add_argument("--out", metavar="DIR", help="where to write the manifests (default: --dir)")
    import_.add_argument("--from", dest="source", metavar="FILE|DIR",
                         help="a schtasks /Query /XML ONE export, or a copy of C:\\Windows\\System32\\Tasks")
    import_.add_argument("--path", metavar="\\X\\Y", help="one task outside the root (read-only), to migrate it")
    _dir(import_)

    status = command("status", "managed tasks: state, last run, last result, next run")
    status.add_argument("--format", choices=["text", "json"], default="text")
    _dir(status)
    host_options(status)

    next_ = command("next", "the next run times of a task, one a line")
    next_.add_argument("name", metavar="NAME")
    next_.add_argument("-n", dest="count", type=_count(1), default=5, help="how many (default 5)")
    next_.add_argument("--from", dest="start", metavar="DATETIME",
                       help="start after this local time (default: now)")
    _dir(next_)
    host_options(next_)

    history = command("history", "the runs the runner recorded: text, json, or an HTML report")
    history.add_argument("name", nargs="?", metavar="NAME")
    history.add_argument("--format", choices=["text", "json", "html"], default="text")
    history.add_argument("--out", metavar="FILE", help="write to this file instead of stdout")
    history.add_argument("--home", metavar="DIR", help="the runner's home (default: from Defaults, "
                                                       "RECONCILE_RUNNER_HOME, or the platform's)")
    history.add_argument("--days", type=_count(1, 36500), metavar="N", help="only the last N days (html: 7)")
    _dir(history)

    install = command("runner-install", "set up the runner on this machine (run it elevated)")
    install.add_argument("--home", metavar="DIR", help="where the runner lives (default %%ProgramData%%\\reconcile)")
    install.add_argument("--account", action="append", metavar="NAME",
                         help="prepare a history folder for tasks that run as this account (repeatable)")
    install.add_argument("--python", metavar="EXE", help="the base interpreter for the runner's venv")

    doctor = command("doctor", "check this machine's Task Scheduler in a scratch folder (run it elevated)")
    doctor.add_argument("--out", metavar="FILE", help="also write the evidence as JSON (for a bug report)")
    doctor.add_argument("--timeout", type=float, default=120.0, metavar="SECONDS",
                        help="how long the runner chain may take (default 120)")
    doctor.add_argument("--account", metavar="USER",
                        help="also register a password logon for USER (password in RECONCILE_DOCTOR_PASSWORD)")

    init = command("init", "write a starter tasks.d/ and CI workflow; never overwrites")
    init.add_argument("target", nargs="?", default=".", metavar="DIR")
    add_fleet_commands(command, nested)
    return parser


def _settings(args: argparse.Namespace) -> argparse.Namespace:
    args.root_given = args.root is not None  # an inventory's reconcile_root must agree with it
    args.root = names.normalize_root(args.root if args.root is not None else "\\Orchestrator\\")
    if args.backend is None:
        args.backend = backends.default_name()
    if args.store is None:
        args.store = os.path.join(".reconcile", "store")
    elif args.backend == "local" and os.path.exists(args.store) and not os.path.isdir(args.store):
        raise UsageError(f"--store {args.store} is a file; the local backend's store is a folder")
    if args.github is None:
        args.github = os.environ.get("GITHUB_ACTIONS") == "true"
    args.color = (not args.no_color and "NO_COLOR" not in os.environ
                  and hasattr(sys.stdout, "isatty") and sys.stdout.isatty())
    return args


def _tune_garbage_collector() -> None:
    """A plan builds hundreds of thousands of small objects that all live to the end
    (documents, canonical forms), and almost no reference cycles. Python's collector
    would walk all of them again and again, making a run of 10,000 tasks superlinear
    (measured: YAML loading alone 6.2 s instead of 2.7 s). Collect rarely instead: a
    short-lived process loses nothing."""
    import gc

    gc.freeze()
    gc.set_threshold(200_000, 100, 100)


# The runtime dependencies, by the name they are imported with -> the name pip installs.
_RUNTIME_PACKAGES = {"yaml": "pyyaml", "lxml": "lxml", "jsonschema": "jsonschema",
                     "jsonschema_rs": "jsonschema-rs"}


def _missing_package(module: str) -> str:
    return (f"the Python package {_RUNTIME_PACKAGES[module]!r} is not installed for {sys.executable}: "
            f"install reconcile.py with its dependencies first (in reconcile.py's folder: "
            f"\"{sys.executable}\" -m pip install .)")


@contextlib.contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """While a command runs, SIGTERM (a cancelled CI job, ``kill``) ends it the way
    Ctrl+C does, so the lock is released and temporary files are removed on the way
    out. The previous handler is restored afterwards."""
    import signal
    import threading

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "SIGTERM"):
        yield
        return
    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _misplaced(err: UsageError, words: list[str]) -> UsageError:
    """``reconcile.py --dir X plan``: argparse takes X for the command and says only
    "invalid choice"; say that the option belongs after the command name."""
    if "argument COMMAND: invalid choice" not in str(err):
        return err
    for at, (before, word) in enumerate(zip(words, words[1:])):
        if before.startswith("--") and "=" not in before and not word.startswith("-"):
            command = next((w for w in words[at + 2:] if not w.startswith("-")), "COMMAND")
            return UsageError(f"{before} is an option of the command, so it goes after the command "
                              f"name: reconcile.py {command} {before} {word} (see reconcile.py --help)")
    return err


def main(argv: Sequence[str] | None = None) -> int:
    _tune_garbage_collector()
    for stream in (sys.stdout, sys.stderr):
        try:  # a console code page must never turn a task name into a crash
            stream.reconfigure(errors="backslashreplace")  # type: ignore[union-attr]
        except (AttributeError, ValueError):
            pass
    args: argparse.Namespace | None = None
    try:
        parser = build_parser()
        words = list(sys.argv[1:] if argv is None else argv)
        try:
            args = parser.parse_args(words)
        except UsageError as err:
            raise _misplaced(err, words) from None
        if not args.command:
            parser.print_help(sys.stderr)
            return EXIT_ERROR
        _settings(args)
        from . import commands

        with _sigterm_interrupts():
            return int(commands.run(args))
    except ManifestError as err:
        if args is not None and getattr(args, "github", False):
            from .report_validate import annotate

            annotate(err)
        print(str(err), file=sys.stderr)
        return EXIT_ERROR
    except ReconcileError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return EXIT_ERROR
    except BrokenPipeError:
        # The reader went away (``plan | head``): nothing left to say, and no one to say it to.
        streams.quiet_stdout()
        return EXIT_ERROR
    except OSError as err:  # a file or stream of the user's: say which, and why
        where = f"{err.filename}: " if err.filename else ""
        print(f"error: {where}{err.strerror or err}", file=sys.stderr)
        return EXIT_ERROR
    except Exception as err:  # noqa: BLE001 - the last resort: a bug, said plainly
        if isinstance(err, ModuleNotFoundError) and err.name in _RUNTIME_PACKAGES:
            print(f"error: {_missing_package(err.name)}", file=sys.stderr)  # not installed: not a bug
            return EXIT_ERROR
        print(f"error: internal error (this is a bug in reconcile.py, please report it): "
              f"{type(err).__name__}: {err}", file=sys.stderr)
        if os.environ.get("RECONCILE_DEBUG"):
            raise
        return EXIT_ERROR
