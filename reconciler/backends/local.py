"""The embedded ``local`` backend: a folder laid out like ``C:\\Windows\\System32\\Tasks``.

One file per task at ``STORE\\<root>\\<folder>\\<name>``, holding the task XML as
UTF-16LE with a BOM, exactly what Task Scheduler keeps. It is the default off Windows,
so plan and apply work anywhere, and it reads a copy of a real machine's Tasks folder.
Folder names are matched case-insensitively, as on Windows. Each write goes to a
temporary file beside the store's tasks and is renamed into place, so a crash never
leaves half a task.

The store is a folder anyone with access may have tampered with, so it is read and
written defensively (README "Security"): no link inside it is followed (a linked
folder could lead a write out of the store), only regular files of bounded size are
read and never a FIFO or device (opened without blocking, checked before reading), a
folder that cannot be listed stops the read (a plan made from a partial view could
overwrite what it did not see), and every write failure is that task's outcome."""
from __future__ import annotations

import contextlib
import os
import stat
import sys
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
# A task file Task Scheduler writes is a few KiB; 32 actions with the longest command
# lines stay far below this. Anything larger is not a task and is not read into memory.
MAX_TASK_BYTES = 8 * 1024 * 1024
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)


def _mode(found: os.stat_result) -> int:
    """The file type as this module judges it: a Windows reparse point (a symbolic link
    or a junction) counts as a link."""
    attributes = getattr(found, "st_file_attributes", 0)
    if attributes & getattr(stat, "FILE_ATTRIBUTE_REPARSE_POINT", 0x400):
        return stat.S_IFLNK
    return found.st_mode


def _lmode(path: str | os.PathLike[str]) -> int:
    return _mode(os.lstat(path))


def _kind(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "a link (reconcile.py follows no link in the store)"
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _entry_mode(entry: os.DirEntry[str]) -> int:
    """An entry's file type without a system call where the listing says it (POSIX
    d_type; Windows' listing carries the attributes): a link is a link, never followed."""
    if sys.platform == "win32":  # pragma: no cover - Windows
        return _mode(entry.stat(follow_symlinks=False))
    if entry.is_symlink():
        return stat.S_IFLNK
    if entry.is_dir(follow_symlinks=False):
        return stat.S_IFDIR
    if entry.is_file(follow_symlinks=False):
        return stat.S_IFREG
    return entry.stat(follow_symlinks=False).st_mode  # a FIFO, a device, a socket


def _open_no_follow(path: str, flags: int) -> int:
    return os.open(path, flags | _OPEN_FLAGS)


def _read_regular(file: str | os.PathLike[str]) -> bytes:
    """The bytes of a file already seen to be a regular file: opened without following
    a link and without blocking (it may have been replaced by a FIFO since), checked
    again on the open handle, read up to MAX_TASK_BYTES."""
    with open(file, "rb", opener=_open_no_follow) as handle:  # the builtin: tests can fail it
        found = os.fstat(handle.fileno())
        if not stat.S_ISREG(found.st_mode):
            raise ValueError(f"is {_kind(found.st_mode)}, not a task file")
        data = b""
        if found.st_size <= MAX_TASK_BYTES:
            # Sized by the file, not by the bound (a buffer of the bound for every small
            # file costs more than the read); a file that grew since is read on below.
            data = handle.read(found.st_size + 1)
            while len(data) <= MAX_TASK_BYTES and len(data) > found.st_size:
                more = handle.read(64 * 1024)
                if not more:
                    break
                data += more
    if found.st_size > MAX_TASK_BYTES or len(data) > MAX_TASK_BYTES:
        raise ValueError(f"is larger than {MAX_TASK_BYTES // (1024 * 1024)} MiB: not a task file")
    return data


def read_task_file(file: str | os.PathLike[str]) -> bytes:
    """The bytes of a task file: a regular file (never through a link, never a FIFO or
    device, which could block or never end) of at most MAX_TASK_BYTES. Raises OSError
    for what cannot be opened and ValueError for what is not a task file."""
    mode = _lmode(file)
    if not stat.S_ISREG(mode):
        raise ValueError(f"is {_kind(mode)}, not a task file")
    return _read_regular(file)


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
    def _segments(self, path: str, what: str = "task") -> list[str]:
        """The store's folders and file of ``path``: a task in the root, or with
        ``what="folder"`` the root itself or a folder in it."""
        inside = names.is_under(path, self.root) if what == "task" else \
            names.key(path.rstrip("\\") + "\\").startswith(names.key(self.root))
        if not inside:
            raise BackendError(f"{path}: refusing to touch a {what} outside {self.root}")
        segments = [s for s in path.split("\\") if s]
        for segment in segments:
            if names.segment_problem(segment):  # never let a path climb out of the store
                raise BackendError(f"{path}: not a valid {what} path")
        return segments

    def _existing(self, parent: Path, segment: str) -> Path:
        """The entry of ``parent`` named ``segment`` as Windows compares names, if one
        exists (raises OSError if ``parent`` cannot be listed)."""
        exact = parent / segment
        if os.path.lexists(exact):
            return exact
        wanted = names.key(segment)
        try:
            entries = sorted(os.listdir(parent))
        except FileNotFoundError:
            return exact  # no parent, no child (an empty store)
        for entry in entries:
            if names.key(entry) == wanted:
                return parent / entry
        return exact

    def _folder(self, parent: Path, segment: str, path: str, create: bool) -> Path | None:
        """The sub-folder ``segment`` of ``parent`` (created if asked): a real folder,
        never a link; None if it does not exist and ``create`` is false."""
        folder = self._existing(parent, segment)
        try:
            mode = _lmode(folder)
        except FileNotFoundError:
            if not create:
                return None
            os.mkdir(folder)
            return folder
        if not stat.S_ISDIR(mode):
            where = "\\" + "\\".join(folder.relative_to(self.store).parts)
            raise BackendError(f"{path}: {where} in the store is {_kind(mode)} where a folder "
                               "should be; nothing was written for this task")
        return folder

    def _file(self, path: str, create_folders: bool) -> Path | None:
        """Where the task at ``path`` lives; None if a folder on the way does not exist."""
        current: Path | None = self.store
        *folders, name = self._segments(path)
        for segment in folders:
            assert current is not None
            current = self._folder(current, segment, path, create_folders)
            if current is None:
                return None
        assert current is not None
        return self._existing(current, name)

    # --- reading -----------------------------------------------------------------------
    def read_state(self, root: str) -> State:
        self.calls += 1
        record_call("read", root)
        folder: Path | None = self.store
        try:
            for segment in [s for s in root.split("\\") if s]:
                assert folder is not None
                folder = self._folder(folder, segment, root, create=False)
                if folder is None:
                    return State(tasks={}, calls=1)
        except OSError as err:
            raise PartialReadError(f"{root}: cannot read the store's folder: {err.strerror or err}; "
                                   "nothing was changed") from None
        except BackendError as err:
            raise PartialReadError(str(err).replace("nothing was written for this task",
                                                    "nothing was changed")) from None
        tasks: dict[str, LiveTask] = {}
        assert folder is not None
        prefix = "\\" + "".join(part + "\\" for part in folder.relative_to(self.store).parts)
        self._read_folder(str(folder), prefix, tasks)
        return State(tasks=tasks, calls=1)

    def _read_folder(self, folder: str, prefix: str, tasks: dict[str, LiveTask]) -> None:
        """Every task under ``folder`` (whose task path is ``prefix``): a folder that
        cannot be listed, a link, or an entry that is not a task file stops the read
        (every task of the root must be read, or nothing is written)."""
        try:
            with os.scandir(folder) as listing:
                entries = sorted(listing, key=lambda e: e.name)
        except OSError as err:
            raise PartialReadError(f"{prefix}: cannot list this folder of the store "
                                   f"({err.strerror or err}), so nothing was changed") from None
        for entry in entries:
            path = prefix + entry.name
            try:
                mode = _entry_mode(entry)
                if stat.S_ISDIR(mode):
                    self._read_folder(entry.path, path + "\\", tasks)
                    continue
                if not stat.S_ISREG(mode):
                    raise ValueError(f"is {_kind(mode)}, not a task file")
                xml = decode(_read_regular(entry.path))
            except OSError as err:
                raise PartialReadError(f"{path}: cannot read the task file: {err.strerror or err}") from None
            except (ValueError, TaskXmlError) as err:
                raise PartialReadError(f"{path}: cannot read this task, so nothing was changed: {err}") from None
            tasks[names.key(path)] = LiveTask(path=path, xml=xml)

    def read_task(self, path: str) -> LiveTask:
        """One task anywhere in the store (read-only; ``import --path``)."""
        self.calls += 1
        record_call("read-one", path)
        current: Path | None = self.store
        segments = [s for s in path.split("\\") if s]
        try:
            for segment in segments:
                if names.segment_problem(segment):
                    raise BackendError(f"{path}: not a valid task path")
            for segment in segments[:-1]:
                assert current is not None
                current = self._folder(current, segment, path, create=False)
                if current is None:
                    raise BackendError(f"{path}: no such task")
            assert current is not None
            return LiveTask(path=path, xml=decode(read_task_file(self._existing(current, segments[-1]))))
        except (OSError, IndexError):
            raise BackendError(f"{path}: no such task") from None
        except ValueError as err:
            raise BackendError(f"{path}: {err}") from None

    # --- writing -----------------------------------------------------------------------
    def register(self, path: str, xml: str, *, password: str | None = None) -> None:
        # The local store keeps no credentials: a password is checked, never stored.
        self.calls += 1
        record_call("register", path)
        try:
            target = self._file(path, create_folders=True)
            assert target is not None
            if os.path.lexists(target):
                mode = _lmode(target)
                if stat.S_ISDIR(mode):
                    raise BackendError(f"{path}: a folder of that name exists in the store")
                if not stat.S_ISREG(mode):
                    raise BackendError(f"{path}: the store holds {_kind(mode)} there, not a task file; "
                                       "nothing was written for this task")
            self._write(target, to_utf16_file(xml))
        except OSError as err:
            raise BackendError(f"{path}: cannot write the task file: {err.strerror or err}") from None

    def _temp_dir(self) -> Path:
        temp_dir = self.store / TEMP_DIR
        with contextlib.suppress(FileExistsError):
            os.mkdir(temp_dir)
        mode = _lmode(temp_dir)
        if not stat.S_ISDIR(mode):
            raise BackendError(f"the store's temporary folder {TEMP_DIR} is {_kind(mode)}")
        return temp_dir

    def _write(self, target: Path, data: bytes) -> None:
        """``data`` into ``target`` through a temporary file renamed into place (the
        rename replaces a file or a link itself, never what a link points to). The
        temporary file is removed on every path out of here."""
        handle, temp_name = tempfile.mkstemp(dir=self._temp_dir(), prefix="task-")
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temp_name, target)
        finally:
            with contextlib.suppress(OSError):
                os.unlink(temp_name)

    def delete(self, path: str) -> None:
        self.calls += 1
        record_call("delete", path)
        try:
            target = self._file(path, create_folders=False)
            if target is None or not os.path.lexists(target):
                raise BackendError(f"{path}: the task does not exist")
            mode = _lmode(target)
            if not stat.S_ISREG(mode):
                raise BackendError(f"{path}: the store holds {_kind(mode)} there, not a task file; "
                                   "nothing was deleted")
            os.unlink(target)
        except OSError as err:
            raise BackendError(f"{path}: cannot delete the task file: {err.strerror or err}") from None

    def resolve_account(self, name: str) -> str:
        return accounts.well_known(name)

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        from .. import lock

        self.store.mkdir(parents=True, exist_ok=True)
        with lock.acquire(self.store / LOCK_FILE):
            self._sweep_temp()
            yield

    def remove_folder(self, path: str) -> None:
        segments = self._segments(path, "folder")
        try:
            folder: Path | None = self.store
            for segment in segments:
                assert folder is not None
                folder = self._folder(folder, segment, path, create=False)
                if folder is None:
                    return  # already gone
            assert folder is not None
            for current, dirs, files in os.walk(folder, topdown=False):
                if files:
                    raise BackendError(f"{path}: the folder still holds tasks; nothing was removed")
            for current, dirs, files in os.walk(folder, topdown=False):
                os.rmdir(current)
        except OSError as err:
            raise BackendError(f"{path}: cannot remove the folder: {err.strerror or err}") from None

    def _sweep_temp(self) -> None:
        """Temporary files of runs that were killed mid-write: under the lock no other
        apply writes, so every file in the store's temporary folder is left over."""
        folder = self.store / TEMP_DIR
        try:
            if not stat.S_ISDIR(_lmode(folder)):
                return
            leftovers = os.listdir(folder)
        except OSError:
            return
        for name in leftovers:
            with contextlib.suppress(OSError):
                if stat.S_ISREG(_lmode(folder / name)):
                    os.unlink(folder / name)

    def run(self, path: str) -> None:
        raise BackendError(f"{path}: the local backend is a folder of task files; it cannot start a task")

    def stop(self, path: str) -> None:
        raise BackendError(f"{path}: the local backend is a folder of task files; nothing in it runs")

    def run_info(self, root: str) -> RunData:
        return RunData(None)  # a folder of files has no run history

    def preflight(self, password_paths: Sequence[str]) -> None:
        """Nothing to check: writes need only the store, which the lock created."""
