"""``reconcile.py history [NAME] [--format text|json|html] [--out FILE] [--home DIR] [--days N]``:
the runs the runner recorded on this machine, and ``last_runs`` for ``status``.

The reading and the HTML page live in ``reconciler.runner.history`` (standard library
only), so ``python -m reconciler.runner history`` gives the same report on a machine that
has only the runner."""
from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from .errors import UsageError
from .runner import history as reading
from .runner.paths import expand

HOME_VARIABLE = "RECONCILE_RUNNER_HOME"


def platform_home() -> str:
    if sys.platform == "win32":  # pragma: no cover - Windows
        return os.path.join(os.environ.get("ProgramData", r"C:\ProgramData"), "reconcile")
    return os.path.join(".reconcile", "runner")


def resolve_home(explicit: str | None = None, manifests_home: str | None = None) -> str:
    """The runner home to read: ``--home``, else ``RECONCILE_RUNNER_HOME``, else the
    manifests' ``Defaults`` ``spec.runner.home``, else ``%ProgramData%\\reconcile`` on
    Windows and ``.reconcile/runner`` elsewhere. ``%VAR%`` is expanded."""
    chosen = explicit or os.environ.get(HOME_VARIABLE) or manifests_home or platform_home()
    return expand(chosen) or chosen


def last_runs(home: str | None = None) -> dict[str, dict[str, Any]]:
    """Task path -> its latest real run (succeeded, failed, running or interrupted), with
    ``result``, ``start``, ``end``, ``exitCode``, ``attempts``, ``reason``, ``log``."""
    return reading.last_runs(resolve_home(home))


def cmd_history(args: argparse.Namespace) -> int:
    """``args``: ``name`` (optional NAME), ``format`` (text|json|html), ``out`` (file or
    None), ``home`` (``--home`` or None), optional ``days`` (only runs of the last N days;
    default 7 for html, all otherwise) and optional ``runner_home`` (the manifests'
    Defaults home, when the caller knows it)."""
    home = resolve_home(getattr(args, "home", None), getattr(args, "runner_home", None))
    form = getattr(args, "format", None) or "text"
    days = getattr(args, "days", None)
    if days is not None and days < 1:
        raise UsageError("--days must be at least 1")
    if days is None and form == "html":
        days = 7
    try:
        runs = reading.select(reading.load(home), getattr(args, "name", None))
    except LookupError as err:
        raise UsageError(str(err)) from None
    runs = reading.since(runs, days)
    text = reading.render(runs, form, home, days)
    out = getattr(args, "out", None)
    if out:
        try:
            with open(out, "w", encoding="utf-8", newline="\n") as handle:
                handle.write(text)
        except OSError as err:
            raise UsageError(f"--out {out}: {err.strerror or err}") from None
        if not getattr(args, "quiet", False):
            print(f"wrote {out} ({len(runs)} run(s) from {home})")
        return 0
    sys.stdout.write(text)
    if not runs and not os.path.isdir(home) and form == "text":
        print(f"note: no runner history under {home} (set --home or {HOME_VARIABLE})", file=sys.stderr)
    return 0
