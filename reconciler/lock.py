"""One apply at a time per machine: a lock file naming its holder.

``acquire(path)`` creates the file atomically (a complete file appears under its final
name, or nothing does) holding the holder's pid, host and start time. A second apply
fails at once with LockHeldError naming that holder. A lock whose holder is provably
gone is taken over, atomically: same host, and the pid no longer alive or now a later
process (the holder's start time is recorded beside its pid). A lock of another host
cannot be judged from here: the message says exactly which file to delete. The file is
removed on release, and only if it is still ours."""
from __future__ import annotations

import contextlib
import datetime as _dt
import errno
import json
import os
import sys
import time
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


def process_identity(pid: int) -> str | None:
    """What tells this process from a later one that reuses its pid: on Linux the boot
    and the start time in clock ticks (``/proc/PID/stat`` field 22, proc(5)); on Windows
    the creation time (GetProcessTimes). None where it cannot be known."""
    if sys.platform == "win32":  # pragma: no cover - Windows only
        return _process_identity_windows(pid)
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            fields = handle.read().rsplit(b")", 1)[1].split()
        with open("/proc/sys/kernel/random/boot_id", "rb") as handle:
            boot = handle.read().strip().decode("ascii", "replace")
        return f"{boot}:{int(fields[19])}"  # field 22 is the 20th after the command name
    except (OSError, IndexError, ValueError):
        return None


def _process_identity_windows(pid: int) -> str | None:  # pragma: no cover - Windows only
    if sys.platform != "win32":  # mypy checks what follows for Windows only
        return None
    import ctypes
    from ctypes import wintypes

    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
    kernel32.OpenProcess.restype = wintypes.HANDLE
    kernel32.OpenProcess.argtypes = (wintypes.DWORD, wintypes.BOOL, wintypes.DWORD)
    kernel32.GetProcessTimes.argtypes = (wintypes.HANDLE,) + (ctypes.POINTER(wintypes.FILETIME),) * 4
    kernel32.CloseHandle.argtypes = (wintypes.HANDLE,)
    handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
    if not handle:
        return None
    try:
        times = [wintypes.FILETIME() for _ in range(4)]
        if not kernel32.GetProcessTimes(handle, *(ctypes.byref(t) for t in times)):
            return None
        created = times[0]
        return str((created.dwHighDateTime << 32) | created.dwLowDateTime)
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
    me = {
        "pid": os.getpid(),
        "host": _hostname(),
        "started": _dt.datetime.now().astimezone().replace(microsecond=0).isoformat(),
        "token": _token(),
    }
    identity = process_identity(os.getpid())
    if identity:
        me["process"] = identity
    return me


def _read_raw(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError:
        return b""


def _parse(raw: bytes | None) -> dict[str, Any] | None:
    if raw is None:
        return None
    try:
        data = json.loads(raw.decode("utf-8"))
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _read(path: Path) -> dict[str, Any] | None:
    return _parse(_read_raw(path))


def describe(holder: dict[str, Any]) -> str:
    return (f"pid {holder.get('pid', '?')} on host {holder.get('host', '?')}, "
            f"started {holder.get('started', '?')}")


def _stale(holder: dict[str, Any]) -> bool:
    """A lock is stale when its holder is provably gone: taken on this host by a process
    that no longer exists, or whose pid now belongs to a later process (its identity
    differs). A lock of another host, or an unreadable one, cannot be judged: it counts
    as held and the message says how to clear it."""
    pid = holder.get("pid")
    if not (isinstance(pid, int) and holder.get("host") == _hostname()):
        return False
    if not pid_alive(pid):
        return True
    recorded = holder.get("process")
    if isinstance(recorded, str) and recorded:
        now = process_identity(pid)
        return now is not None and now != recorded
    return False


def _held_message(lock: Path, holder: dict[str, Any]) -> str:
    """Who holds the lock, and exactly how to clear it if that holder is gone."""
    remove = f'del "{lock}"' if sys.platform == "win32" else f"rm '{lock}'"
    if isinstance(holder.get("pid"), int) and holder.get("host") == _hostname():
        return (f"another apply is running: the lock {lock} is held by {describe(holder)}; wait for it "
                f"to finish (if that process is gone, delete the lock file: {remove})")
    if holder:
        who = describe(holder)
        check = (f"reconcile.py cannot see the processes of host {holder.get('host', '?')}; "
                 "if no apply is running there")
    else:
        who, check = "an unknown holder (the file is unreadable)", "if no apply is running"
    return f"another apply may be running: the lock {lock} is held by {who}; {check}, delete the lock file: {remove}"


def _publish(path: Path, body: str) -> bool:
    """Create ``path`` holding ``body`` unless it exists. The text is written to a
    private temporary name first and hard-linked into place, so nobody ever reads a
    half-written lock; without hard links (some network shares), O_EXCL is used."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{_token()}.tmp")
    try:
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


# A takeover claim older than this was left by a process killed mid-takeover.
CLAIM_EXPIRES = 60.0


def _claim_name(lock: Path, raw: bytes) -> Path:
    import hashlib

    return lock.with_name(f".{lock.name}.takeover.{hashlib.sha256(raw).hexdigest()[:16]}")


def _take_over(lock: Path, raw: bytes) -> bool:
    """Remove the stale lock ``raw`` if it is still there; False if another process is
    taking it over. Atomic: whoever removes a stale lock first creates a claim folder
    named after that lock's content (``mkdir`` succeeds for one process only) and, while
    holding the claim, checks that the lock is still the one judged stale. No one else
    removes that file meanwhile (its holder is gone; other takers wait for the claim), so
    a fresh lock is never removed. Raises LockHeldError if the lock changed hands."""
    claim = _claim_name(lock, raw)
    try:
        os.mkdir(claim)
    except FileExistsError:
        with contextlib.suppress(OSError):
            if _dt.datetime.now().timestamp() - os.stat(claim).st_mtime > CLAIM_EXPIRES:
                os.rmdir(claim)  # left by a taker that was killed
        return False
    try:
        now = _read_raw(lock)
        if now != raw:
            if now is None:
                return True  # already gone: publish again
            raise LockHeldError(_held_message(lock, _parse(now) or {}))
        with contextlib.suppress(FileNotFoundError):
            lock.unlink()
        return True
    finally:
        with contextlib.suppress(OSError):
            os.rmdir(claim)


def _sweep(lock: Path) -> None:
    """Temporary files of lock takers that were killed before they removed them."""
    prefix = f".{lock.name}."
    try:
        entries = [e for e in os.listdir(lock.parent) if e.startswith(prefix) and e.endswith(".tmp")]
    except OSError:
        return
    for name in entries:
        parts = name[len(prefix):].split(".")
        if len(parts) == 3 and parts[0].isdigit() and not pid_alive(int(parts[0])):
            with contextlib.suppress(OSError):
                (lock.parent / name).unlink()


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
    for _attempt in range(20):
        try:
            if _publish(lock, body):
                break
        except OSError as err:
            raise ReconcileError(f"cannot create the lock file {lock}: {err.strerror or err}") from None
        raw = _read_raw(lock)
        holder = _parse(raw)
        if raw is None or holder is None:
            continue  # released between our try and the read: try again
        if not _stale(holder):
            raise LockHeldError(_held_message(lock, holder))
        if not _take_over(lock, raw):
            time.sleep(0.05)  # another process is taking the stale lock over: see who wins
    else:
        raise LockHeldError(f"could not take the lock {lock}: it changed hands repeatedly")
    _sweep(lock)
    try:
        yield me
    finally:
        current = _read(lock)
        if current and current.get("token") == me["token"]:
            with contextlib.suppress(OSError):
                lock.unlink()
