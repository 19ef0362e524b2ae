#!/usr/bin/env python3
"""``python reconcile.py`` with faults injected into the local backend, for the safety
tests (tests/test_faults.py, tests/test_secrets.py). Not a test module.

The CLI runs unchanged; only the operating system under the local backend misbehaves,
so reconcile.py's own error handling is what is exercised:

  SAFETY_FAIL_CALL=N      the N-th backend call (read_state, register, delete, counted
                          from 1 in the order they start) fails the way a disk does:
                          the read's ``open`` raises EIO, a register's ``os.replace``
                          raises EIO (its temporary file is already written), a
                          delete's ``os.unlink`` raises EACCES
  SAFETY_COUNT_FILE=PATH  at exit, write the number of backend calls made to PATH
  SAFETY_BLOCK_UNTIL=PATH every register/delete first waits (up to 60 s) until PATH exists
                          (the apply holds its lock meanwhile)
"""
from __future__ import annotations

import builtins
import errno
import os
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from reconciler.backends import local  # noqa: E402
from reconciler.cli import main  # noqa: E402

FAIL_CALL = int(os.environ.get("SAFETY_FAIL_CALL", "0") or 0)
COUNT_FILE = os.environ.get("SAFETY_COUNT_FILE")
BLOCK_UNTIL = os.environ.get("SAFETY_BLOCK_UNTIL")

_state = threading.local()
_counter = threading.Lock()
_calls = 0

_real_open = builtins.open
_real_replace = os.replace
_real_unlink = os.unlink


def _failing(kind: str) -> bool:
    return getattr(_state, "failing", None) == kind


def _open(file, *args, **kwargs):  # type: ignore[no-untyped-def]
    if _failing("read_state"):
        raise OSError(errno.EIO, os.strerror(errno.EIO), str(file))
    return _real_open(file, *args, **kwargs)


def _replace(src, dst, *args, **kwargs):  # type: ignore[no-untyped-def]
    if _failing("register"):
        raise OSError(errno.EIO, os.strerror(errno.EIO), str(dst))
    return _real_replace(src, dst, *args, **kwargs)


def _unlink(path, *args, **kwargs):  # type: ignore[no-untyped-def]
    if _failing("delete"):
        raise OSError(errno.EACCES, os.strerror(errno.EACCES), str(path))
    return _real_unlink(path, *args, **kwargs)


os.replace = _replace
os.unlink = _unlink
local.open = _open  # the module's name lookup finds this before the builtin


def _wrap(name: str, writes: bool) -> None:
    original = getattr(local.LocalBackend, name)

    def wrapper(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        global _calls
        if writes and BLOCK_UNTIL:
            deadline = time.monotonic() + 60
            while not os.path.exists(BLOCK_UNTIL) and time.monotonic() < deadline:
                time.sleep(0.02)
        with _counter:
            _calls += 1
            number = _calls
        _state.failing = name if number == FAIL_CALL else None
        try:
            return original(self, *args, **kwargs)
        finally:
            _state.failing = None

    setattr(local.LocalBackend, name, wrapper)


_wrap("read_state", writes=False)
_wrap("register", writes=True)
_wrap("delete", writes=True)

if __name__ == "__main__":
    try:
        code = main(sys.argv[1:])
    finally:
        if COUNT_FILE:
            with _real_open(COUNT_FILE, "w", encoding="utf-8") as handle:
                handle.write(str(_calls))
    sys.exit(code)
