"""What the programs a backend starts need: no console window, and private temporary
files (the task XML that schtasks and PowerShell read)."""
from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from pathlib import Path
from typing import Iterator

# Windows would open a console window for every schtasks or PowerShell started by a
# process that has none (a service, a scheduled task); elsewhere the flag must be 0.
NO_WINDOW = 0x08000000 if sys.platform == "win32" else 0  # CREATE_NO_WINDOW


PREFIX = "reconcile-"


def sweep_leftovers(base: str | None = None) -> None:
    """Remove the private folders of runs that were killed before they could (named
    ``reconcile-<pid>-…``: only those whose process no longer exists, and only the one
    file this module writes in them)."""
    from ..lock import pid_alive

    base = base or tempfile.gettempdir()
    try:
        entries = [e for e in os.listdir(base) if e.startswith(PREFIX)]
    except OSError:
        return
    for name in entries:
        pid = name[len(PREFIX):].split("-", 1)[0]
        if not pid.isdigit() or int(pid) == os.getpid() or pid_alive(int(pid)):
            continue
        folder = Path(base) / name
        with contextlib.suppress(OSError):
            (folder / "task.xml").unlink()
        with contextlib.suppress(OSError):
            folder.rmdir()


_swept = False


@contextlib.contextmanager
def private_file(data: bytes) -> Iterator[Path]:
    """A file only this user can read (0600 in a 0700 folder; on Windows the user's own
    temp folder), removed afterwards whatever happens; what a killed run left behind
    is removed the first time one is needed."""
    global _swept
    if not _swept:
        _swept = True
        sweep_leftovers()
    folder = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-"))
    file = folder / "task.xml"
    try:
        fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        yield file
    finally:
        with contextlib.suppress(OSError):
            file.unlink()
        with contextlib.suppress(OSError):
            folder.rmdir()
