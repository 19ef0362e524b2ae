"""Files the runner writes: state (one JSON file per task, replaced atomically) and
history (JSON lines, appended). Every writer holds a lock; readers tolerate a torn last
line. On Windows a file another process has open cannot be replaced for a moment, so
replacing and reading retry briefly."""
from __future__ import annotations

import json
import os
import sys
import time
import uuid
from typing import Any

from .locks import FileLock

MAX_HISTORY_BYTES = 4 * 1024 * 1024  # beyond this, the oldest half of a task's history goes
_RETRY_FOR = 5.0


def _retrying(action: Any) -> Any:
    deadline = time.monotonic() + _RETRY_FOR
    while True:
        try:
            return action()
        except PermissionError:
            # Windows: a sharing violation while another process has the file open.
            if sys.platform != "win32" or time.monotonic() > deadline:
                raise
            time.sleep(0.05)  # pragma: no cover - Windows


def write_json(path: str, data: dict[str, Any]) -> None:
    """Replace ``path`` with ``data``: readers see the old or the new file, never half."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    temporary = f"{path}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp"
    with open(temporary, "w", encoding="utf-8") as handle:
        json.dump(data, handle, sort_keys=True, ensure_ascii=False)
        handle.flush()
        os.fsync(handle.fileno())
    try:
        _retrying(lambda: os.replace(temporary, path))
    except OSError:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise


def read_json(path: str) -> dict[str, Any] | None:
    """The object in ``path``; None when it is missing or unreadable."""
    def read() -> str:
        with open(path, encoding="utf-8") as handle:
            return handle.read()

    try:
        data = json.loads(_retrying(read))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def append_history(path: str, record: dict[str, Any]) -> None:
    """One JSON line at the end of a task's history, under the history file's own lock
    (held for milliseconds, so even a "busy" start can record itself)."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    line = (json.dumps(record, sort_keys=True, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")
    lock = FileLock(path + ".lock")
    if not lock.acquire(timeout=30):
        raise OSError(f"the history file {path} stayed locked for 30 seconds")
    try:
        with open(path, "a+b") as handle:
            # A writer killed mid-line left a torn last line: end it first, so this
            # record starts a line of its own instead of being glued to the torn one.
            handle.seek(0, os.SEEK_END)
            if handle.tell():
                handle.seek(-1, os.SEEK_END)
                if handle.read(1) != b"\n":
                    line = b"\n" + line
            handle.write(line)
            handle.flush()
            os.fsync(handle.fileno())
        _trim(path)
    finally:
        lock.release()


def _trim(path: str) -> None:
    try:
        if os.path.getsize(path) <= MAX_HISTORY_BYTES:
            return
        with open(path, encoding="utf-8", errors="replace") as handle:
            lines = handle.readlines()
    except OSError:
        return
    keep: list[str] = []
    size = 0
    for line in reversed(lines):
        size += len(line.encode("utf-8"))
        if size > MAX_HISTORY_BYTES // 2:
            break
        keep.append(line)
    temporary = f"{path}.{os.getpid()}.trim.tmp"
    with open(temporary, "w", encoding="utf-8", newline="\n") as handle:
        handle.writelines(reversed(keep))
    _retrying(lambda: os.replace(temporary, path))


def read_history(path: str) -> list[dict[str, Any]]:
    """The records of one history file, in file order; broken lines are skipped."""
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            text = handle.read()
    except OSError:
        return []
    out = []
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            out.append(record)
    return out


_REAL = ("succeeded", "failed")


def state_from_history(path: str) -> dict[str, Any]:
    """A task's state rebuilt from its history, for when its state file is missing or
    damaged: its last real run and what it last consumed of its dependencies (recorded
    with each run's "running" line). So a damaged state file neither hides a finished
    dependency (a lost run) nor forgets what a dependent consumed (a run twice)."""
    runs: dict[str, dict[str, Any]] = {}
    consumed: dict[str, Any] | None = None
    for record in read_history(path):
        run = record.get("run")
        if isinstance(run, str):
            runs.setdefault(run, {}).update(record)
        if isinstance(record.get("consumed"), dict):
            consumed = record["consumed"]
    state: dict[str, Any] = {}
    finished = [r for r in runs.values() if r.get("result") in _REAL]
    if finished:
        last = finished[-1]
        state["last"] = {k: last.get(k) for k in ("run", "result", "exitCode", "start", "end")}
    if consumed is not None:
        state["consumed"] = consumed
    return state


def read_state(state_file: str, history_file: str) -> dict[str, Any]:
    """The task's state file, or, where it is missing or damaged, its history's account
    of the same (``state_from_history``)."""
    state = read_json(state_file)
    return state if state is not None else state_from_history(history_file)
