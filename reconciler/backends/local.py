"""The embedded ``local`` backend: a folder laid out like ``C:\\Windows\\System32\\Tasks``.

One file per task at ``STORE\\<root>\\<folder>\\<name>``, holding the task XML as
UTF-16LE with a BOM, exactly what Task Scheduler keeps. It is the default off Windows,
so plan and apply work anywhere, and it reads a copy of a real machine's Tasks folder.
Folder names are matched case-insensitively, as on Windows. Each write goes to a
temporary file beside the store's tasks and is renamed into place, so a crash never
leaves half a task."""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator, Sequence

from .. import accounts, names
from ..errors import BackendError, PartialReadError
from ..render import to_utf16_file
from ..taskxml import TaskXmlError, decode
from .base import Capabilities, LiveTask, RunData, State, record_call

TEMP_DIR = ".reconcile-tmp"
LOCK_FILE = ".reconcile.lock"


class LocalBackend:
    name = "local"
    # A folder of files: no scheduler behind it, so nothing runs and no password is kept
    # (one is still required to be set, as on Windows).
    capabilities = Capabilities(parallel_writes=False, run_history=False, can_run=False,
                                keeps_passwords=False)

    def __init__(self, store: str | os.PathLike[str], root: str) -> None:
        self.store = Path(store)
        self.root = root
        self.calls = 0

    # --- paths -------------------------------------------------------------------------
    def _segments(self, path: str) -> list[str]:
        if not names.is_under(path, self.root):
            raise BackendError(f"{path}: refusing to touch a task outside {self.root}")
        segments = [s for s in path.split("\\") if s]
        for segment in segments:
            if names.segment_problem(segment):  # never let a path climb out of the store
                raise BackendError(f"{path}: not a valid task path")
        return segments

    def _existing(self, parent: Path, segment: str) -> Path:
        """The entry of ``parent`` named ``segment`` case-insensitively, if one exists."""
        exact = parent / segment
        if exact.exists():
            return exact
        try:
            for entry in parent.iterdir():
                if entry.name.casefold() == segment.casefold():
                    return entry
        except OSError:
            pass
        return exact

    def _file(self, path: str) -> Path:
        current = self.store
        for segment in self._segments(path):
            current = self._existing(current, segment)
        return current

    # --- reading -----------------------------------------------------------------------
    def read_state(self, root: str) -> State:
        self.calls += 1
        record_call("read", root)
        folder = self.store
        for segment in [s for s in root.split("\\") if s]:
            folder = self._existing(folder, segment)
        tasks: dict[str, LiveTask] = {}
        if not folder.is_dir():
            return State(tasks={}, calls=1)
        for current, dirs, files in os.walk(folder):
            dirs.sort()
            prefix = "\\" + "".join(part + "\\" for part in Path(current).relative_to(self.store).parts)
            for file in sorted(files):
                path = prefix + file
                try:
                    with open(os.path.join(current, file), "rb") as handle:
                        xml = decode(handle.read())
                except OSError as err:
                    raise PartialReadError(f"{path}: cannot read the task file: {err.strerror}") from None
                except TaskXmlError as err:
                    raise PartialReadError(f"{path}: cannot read this task, so nothing was changed: {err}") from None
                tasks[names.key(path)] = LiveTask(path=path, xml=xml)
        return State(tasks=tasks, calls=1)

    def read_task(self, path: str) -> LiveTask:
        """One task anywhere in the store (read-only; ``import --path``)."""
        self.calls += 1
        record_call("read-one", path)
        current = self.store
        for segment in [s for s in path.split("\\") if s]:
            if names.segment_problem(segment):
                raise BackendError(f"{path}: not a valid task path")
            current = self._existing(current, segment)
        try:
            with open(current, "rb") as handle:
                return LiveTask(path=path, xml=decode(handle.read()))
        except OSError:
            raise BackendError(f"{path}: no such task") from None
        except TaskXmlError as err:
            raise BackendError(f"{path}: {err}") from None

    # --- writing -----------------------------------------------------------------------
    def register(self, path: str, xml: str, *, password: str | None = None) -> None:
        # The local store keeps no credentials: a password is checked, never stored.
        self.calls += 1
        record_call("register", path)
        target = self._file(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.is_dir():
            raise BackendError(f"{path}: a folder of that name exists in the store")
        temp_dir = self.store / TEMP_DIR
        temp_dir.mkdir(parents=True, exist_ok=True)
        handle, temp_name = tempfile.mkstemp(dir=temp_dir, prefix="task-")
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(to_utf16_file(xml))
                out.flush()
                os.fsync(out.fileno())
            os.replace(temp_name, target)
        except OSError as err:
            with contextlib.suppress(OSError):
                os.unlink(temp_name)
            raise BackendError(f"{path}: cannot write the task file: {err.strerror}") from None

    def delete(self, path: str) -> None:
        self.calls += 1
        record_call("delete", path)
        target = self._file(path)
        try:
            os.unlink(target)
        except FileNotFoundError:
            raise BackendError(f"{path}: the task does not exist") from None
        except OSError as err:
            raise BackendError(f"{path}: cannot delete the task file: {err.strerror}") from None

    def resolve_account(self, name: str) -> str:
        return accounts.well_known(name)

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        from .. import lock

        self.store.mkdir(parents=True, exist_ok=True)
        with lock.acquire(self.store / LOCK_FILE):
            yield

    def remove_folder(self, path: str) -> None:
        if not names.key(path).startswith(names.key(self.root)):
            raise BackendError(f"{path}: refusing to touch a folder outside {self.root}")
        folder = self.store
        for segment in [s for s in path.split("\\") if s]:
            if names.segment_problem(segment):
                raise BackendError(f"{path}: not a valid folder path")
            folder = self._existing(folder, segment)
        if not folder.is_dir():
            return
        for current, dirs, files in os.walk(folder, topdown=False):
            if files:
                raise BackendError(f"{path}: the folder still holds tasks; nothing was removed")
        for current, dirs, files in os.walk(folder, topdown=False):
            try:
                os.rmdir(current)
            except OSError as err:
                raise BackendError(f"{path}: cannot remove the folder: {err.strerror}") from None

    def run(self, path: str) -> None:
        raise BackendError(f"{path}: the local backend is a folder of task files; it cannot start a task")

    def run_info(self, root: str) -> RunData:
        return RunData(None)  # a folder of files has no run history

    def preflight(self, password_paths: Sequence[str]) -> None:
        """Nothing to check: writes need only the store, which the lock created."""
