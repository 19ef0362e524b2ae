"""Backends: the one place reconcile.py meets a Task Scheduler (see ``base.Backend``)."""
from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from ..errors import UsageError

if TYPE_CHECKING:
    from .base import Backend

NAMES = ("local", "schtasks")


def default_name() -> str:
    """The backend a run uses when none is named: Task Scheduler itself on Windows, the
    embedded folder store elsewhere."""
    return "schtasks" if sys.platform == "win32" else "local"


def open_backend(name: str, *, root: str, store: str) -> Backend:
    """The backend called ``name`` for the root folder ``root`` (``store``: the local
    backend's folder). Each is imported only when chosen: the schtasks one pulls in
    process handling that ``validate`` never needs."""
    if name == "local":
        from .local import LocalBackend

        return LocalBackend(store, root)
    if name == "schtasks":
        from .schtasks import SchtasksBackend

        return SchtasksBackend(root=root)
    raise UsageError(f"unknown backend {name!r} (choose from {', '.join(NAMES)})")
