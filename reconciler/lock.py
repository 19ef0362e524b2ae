"""One apply at a time per machine: a lock file naming its holder.

``acquire(path)`` creates the file atomically (a complete file appears under its final
name, or nothing does) holding the holder's pid, host and start time. A second apply
fails at once with LockHeldError naming that holder; a lock whose process is gone (same
host, pid no longer alive) is taken over. The file is removed on release, and only if it
is still ours."""
from __future__ import annotations

import contextlib
import datetime as _dt
import errno
import json
import os
import sys
from pathlib import Path
from typing import Any, Iterator

from .errors import LockHeldError, ReconcileError


ENV_LOCK_DIR = "RECONCILE_LOCK_DIR"
LOCK_NAME = "apply.lock"


def machine_lock_path(folder: str | os.PathLike[str] | None = None) -> Path:
    """The apply lock of a backend that writes the machine's own Task Scheduler:
    ``folder``, else ``RECONCILE_LOCK_DIR``, else ``%ProgramData%\\reconcile`` on Windows
    (the temporary folder elsewhere, where only tests and emulators run)."""
    chosen = folder or os.environ.get(ENV_LOCK_DIR)
    if not chosen:
        if sys.platform == "win32":  # pragma: no cover - Windows only
            chosen = os.path.join(os.environ.get("ProgramData", r"C:\ProgramData"), "reconcile")
        else:
            import tempfile

            chosen = os.path.join(tempfile.gettempdir(), "reconcile")
    return Path(chosen) / LOCK_NAME


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists on this machine."""
    if pid <= 0:
        return False
    if sys.platform == "win32":  # pragma: no cover - exercised on the Windows CI runner
        return _pid_alive_windows(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, under another user
    except OSError:
        return False
    return True


def _pid_alive_windows(pid: int) -> bool:  # pragma: no cover - Windows only
    if sys.platform != "win32":  # mypy checks what follows for Windows only
        return False
    import ctypes
    from ctypes import wintypes

    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
    kernel32.OpenProcess.restype = wintypes.HANDLE
    kernel32.OpenProcess.argtypes = (wintypes.DWORD, wintypes.BOOL, wintypes.DWORD)
    kernel32.GetExitCodeProcess.argtypes = (wintypes.HANDLE, ctypes.POINTER(wintypes.DWORD))
    kernel32.CloseHandle.argtypes = (wintypes.HANDLE,)
    process_query_limited_information = 0x1000
    still_active = 259
    handle = kernel32.OpenProcess(process_query_limited_information, False, pid)
    if not handle:
        # Access denied means the process exists (another user's, elevated); anything
        # else (ERROR_INVALID_PARAMETER) means there is no such process.
        return ctypes.get_last_error() == 5
    try:
        code = wintypes.DWORD()
        if not kernel32.GetExitCodeProcess(handle, ctypes.byref(code)):
            return True
        return code.value == still_active
    finally:
        kernel32.CloseHandle(handle)


def _hostname() -> str:
    """This machine's name (without importing socket, which is slow to import)."""
    if sys.platform == "win32":  # pragma: no cover - Windows
        import socket

        return socket.gethostname()
    return os.uname().nodename


def _token() -> str:
    return os.urandom(16).hex()


def _holder() -> dict[str, Any]:
    return {
        "pid": os.getpid(),
        "host": _hostname(),
        "started": _dt.datetime.now().astimezone().replace(microsecond=0).isoformat(),
        "token": _token(),
    }


def _read(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def describe(holder: dict[str, Any]) -> str:
    return (f"pid {holder.get('pid', '?')} on host {holder.get('host', '?')}, "
            f"started {holder.get('started', '?')}")


def _stale(holder: dict[str, Any]) -> bool:
    """A lock is stale when its process is gone. Only a lock taken on this host can be
    checked; a foreign or unreadable one counts as held (the user removes it)."""
    pid = holder.get("pid")
    return (isinstance(pid, int) and holder.get("host") == _hostname()
            and not pid_alive(pid))


def _publish(path: Path, body: str) -> bool:
    """Create ``path`` holding ``body`` unless it exists. The text is written to a
    private temporary name first and hard-linked into place, so nobody ever reads a
    half-written lock; without hard links (some network shares), O_EXCL is used."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{_token()}.tmp")
    with open(temporary, "x", encoding="utf-8") as handle:
        handle.write(body)
        handle.flush()
        os.fsync(handle.fileno())
    try:
        os.link(temporary, path)
        return True
    except FileExistsError:
        return False
    except OSError as err:
        if err.errno not in (errno.EPERM, errno.ENOTSUP, errno.EXDEV, errno.EACCES, errno.EINVAL):
            raise
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(body)
        return True
    finally:
        with contextlib.suppress(OSError):
            temporary.unlink()


@contextlib.contextmanager
def acquire(path: str | os.PathLike[str]) -> Iterator[dict[str, Any]]:
    """Hold the lock at ``path`` for the ``with`` block; yields the holder record.
    Raises LockHeldError at once if a live process holds it."""
    lock = Path(path)
    try:
        lock.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ReconcileError(f"cannot create the lock folder {lock.parent}: {err.strerror or err}") from None
    me = _holder()
    body = json.dumps(me, sort_keys=True)
    for _attempt in range(5):
        try:
            if _publish(lock, body):
                break
        except OSError as err:
            raise ReconcileError(f"cannot create the lock file {lock}: {err.strerror or err}") from None
        holder = _read(lock)
        if holder is None:
            continue  # released between our try and the read: try again
        if not _stale(holder):
            who = describe(holder) if holder else "an unknown holder (the file is unreadable)"
            raise LockHeldError(
                f"another apply is running: the lock {lock} is held by {who}; wait for it "
                f"to finish (if that process is gone, delete the lock file)")
        # Take over a dead holder's lock: move it aside under a unique name (atomic, so
        # of two processes doing this only one gets that file), then check that what we
        # moved is the stale lock we judged and not a fresh one somebody just created.
        aside = lock.with_name(f".{lock.name}.stale.{_token()}")
        try:
            os.replace(lock, aside)
        except FileNotFoundError:
            continue
        moved = _read(aside)
        if moved != holder:
            with contextlib.suppress(OSError):
                os.link(aside, lock)  # put the live lock back (never overwrite)
            with contextlib.suppress(OSError):
                aside.unlink()
            raise LockHeldError(
                f"another apply is running: the lock {lock} is held by {describe(moved or {})}")
        with contextlib.suppress(OSError):
            aside.unlink()
    else:
        raise LockHeldError(f"could not take the lock {lock}: it changed hands repeatedly")
    try:
        yield me
    finally:
        current = _read(lock)
        if current and current.get("token") == me["token"]:
            with contextlib.suppress(OSError):
                lock.unlink()
