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


@contextlib.contextmanager
def private_file(data: bytes) -> Iterator[Path]:
    """A file only this user can read (0600 in a 0700 folder; on Windows the user's own
    temp folder), removed afterwards whatever happens."""
    folder = Path(tempfile.mkdtemp(prefix="reconcile-"))
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
