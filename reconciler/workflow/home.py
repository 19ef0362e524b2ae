"""Where the runner lives on the machine: its interpreter, its home, and the folder below
the home where a task running as a given account keeps its history, state and locks
(``reconciler.runner.paths`` reads the same layout)."""
from __future__ import annotations

import hashlib
import re

from .. import accounts

RUNNER_KEYS = ("python", "home")
# Task Scheduler expands %VAR% in Command, and the runner expands it in home.
DEFAULT_RUNNER = {"python": r"%ProgramData%\reconcile\venv\Scripts\python.exe",
                  "home": r"%ProgramData%\reconcile"}


def store_account(account: str | None) -> str | None:
    """The folder name (below ``<home>\\accounts``) where a task running as ``account``
    keeps its history, state and locks; None for SYSTEM, which uses the home itself."""
    if not account or not account.strip():
        return None
    canonical = accounts.well_known(account)
    if canonical == accounts.SYSTEM_SID:
        return None
    readable = accounts.WELL_KNOWN_DISPLAY.get(canonical, account.strip())
    slug = re.sub(r"[^a-z0-9._-]+", "_", readable.casefold()).strip("._-")[:48] or "account"
    return f"{slug}-{hashlib.sha256(canonical.encode('utf-8')).hexdigest()[:8]}"
