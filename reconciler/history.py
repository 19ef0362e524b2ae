"""Where the runner keeps its history on this machine, and ``last_runs`` for ``status``
(``reconcile.py history`` itself is ``app.project.history``).

The reading and the HTML page live in ``reconciler.runner.history`` (standard library
only), so ``python -m reconciler.runner history`` gives the same report on a machine that
has only the runner."""
from __future__ import annotations

import os
import sys
from typing import Any

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
