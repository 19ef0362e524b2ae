"""Standard output that can fail: a reader that went away (``plan | head``), a full disk."""
from __future__ import annotations

import os
import sys

from .errors import ReconcileError


def write_out(text: str) -> None:
    """``text`` on standard output, flushed; a reader that went away is a quiet exit
    (BrokenPipeError, handled by cli), any other failure one clear error."""
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        raise
    except OSError as err:  # a full disk, a device that refuses the output
        quiet_stdout()
        raise ReconcileError(f"cannot write the output: {err.strerror or err}") from None


def write_err(text: str) -> None:
    """One line on standard error, flushed (warnings and errors between outputs)."""
    print(text, file=sys.stderr, flush=True)


def quiet_stdout() -> None:
    """Point standard output at the null device, so that the interpreter's last flush
    of what could not be written raises nothing more."""
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, sys.stdout.fileno())
        os.close(null)
    except (OSError, ValueError, AttributeError):
        pass
