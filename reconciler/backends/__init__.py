"""Backends: the one place reconcile.py meets a Task Scheduler (see ``base.Backend``)."""
from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from ..errors import UsageError

if TYPE_CHECKING:
    from .base import Backend

NAMES = ("local", "schtasks", "com")


def pywin32_available() -> bool:
    """Whether pywin32 (the com backend's binding) can be imported here."""
    try:
        import pythoncom  # noqa: F401
        import pywintypes  # noqa: F401
        import win32com.client  # noqa: F401
    except ImportError:
        return False
    return True


def default_name() -> str:
    """The backend a run uses when none is named: on Windows, Task Scheduler's own API
    (com) where pywin32 imports, else schtasks.exe; the embedded folder store elsewhere
    (README "Backends")."""
    if sys.platform != "win32":
        return "local"
    return "com" if pywin32_available() else "schtasks"


def open_backend(name: str, *, root: str, store: str) -> Backend:
    """The backend called ``name`` for the root folder ``root`` (``store``: the local
    backend's folder). Each is imported only when chosen: the schtasks one pulls in
    process handling that ``validate`` never needs, the com one pywin32."""
    if name == "local":
        from .local import LocalBackend

        return LocalBackend(store, root)
    if name == "schtasks":
        from .schtasks import SchtasksBackend

        return SchtasksBackend(root=root)
    if name == "com":
        from .com import ComBackend

        return ComBackend(root=root)
    raise UsageError(f"unknown backend {name!r} (choose from {', '.join(NAMES)})")
