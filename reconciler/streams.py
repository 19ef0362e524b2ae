"""Standard output that can fail: a reader that went away (``plan | head``), a full disk."""
from __future__ import annotations

import os
import sys


def quiet_stdout() -> None:
    """Point standard output at the null device, so that the interpreter's last flush
    of what could not be written raises nothing more."""
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, sys.stdout.fileno())
        os.close(null)
    except (OSError, ValueError, AttributeError):
        pass
