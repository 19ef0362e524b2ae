"""The Windows backend: Task Scheduler 2.0's own API, ``Schedule.Service``, through
pywin32, in this process (no program is started).

- Read: ``GetFolder(root)`` (a root that is not there is an empty state), then the
  subtree through ``GetFolders(0)`` and ``GetTasks(TASK_ENUM_HIDDEN)``, each task's
  ``Path`` and ``Xml``. Nothing outside the root is read, so no stranger's task can stop
  a run, and the text is Unicode from end to end (no console code page).
- Write: ``RegisterTask(path, xml, TASK_CREATE_OR_UPDATE, user, password, logonType,
  sddl)`` from the top folder, with the account arguments of ``com_logon``; a missing
  folder is made first with ``CreateFolder``. The password is a VARIANT handed to the
  service in this process: never on a command line, in a script or in a log.
- Delete with ``DeleteTask``; one task with ``GetTask`` (``import --path``); ``run``
  with ``IRegisteredTask.Run``; ``status`` from the object model (``State``,
  ``Enabled``, ``LastRunTime``, ``LastTaskResult``, ``NextRunTime``,
  ``NumberOfMissedRuns``): no locale to parse.

Microsoft Learn: "ITaskService::GetFolder", "ITaskFolder::GetFolders",
"ITaskFolder::GetTasks" (TASK_ENUM_HIDDEN = 1), "ITaskFolder::RegisterTask"
(TASK_CREATE_OR_UPDATE = 6), "ITaskFolder::CreateFolder", "ITaskFolder::DeleteTask",
"IRegisteredTask" and "TASK_STATE enumeration". Errors become one line through
``com_api.explain``. ``RECONCILE_LOCK_DIR`` names the folder of the apply lock, as for
the schtasks backend."""
from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path
from typing import Any, Iterator, Sequence

from .. import accounts, lock as lock_module, names
from ..errors import BackendError, PartialReadError
from .base import Capabilities, LiveTask, RunData, RunInfo, State, record_call
from .com_api import ERROR_ALREADY_EXISTS, NOT_FOUND, Connections, explain, hresult, load, moment
from .com_logon import logon_for
from .windows_accounts import lookup_account_sid

TASK_ENUM_HIDDEN = 1
TASK_CREATE_OR_UPDATE = 6
SCHED_E_TASK_NOT_RUNNING = 0x8004130B
# TASK_STATE: 0 unknown, 1 disabled, 2 queued, 3 ready, 4 running.
STATES = {1: "Disabled", 2: "Queued", 3: "Ready", 4: "Running"}


class ComBackend:
    """Task Scheduler through its COM API (see the module docstring)."""

    name = "com"
    # Writes one at a time: a registration is one call into the service, with no
    # process start to overlap; 1,000 registrations through the stand-in were slower in
    # four threads than in one (README "Performance"); and one writing thread means one
    # connection for the writes.
    capabilities = Capabilities(parallel_writes=False, run_history=True, can_run=True,
                                keeps_passwords=True)

    def __init__(self, root: str, *, lock_dir: str | os.PathLike[str] | None = None) -> None:
        self.root = names.normalize_root(root)
        self.api = load()
        self.connections = Connections(self.api)
        self._lock_dir = lock_dir
        self._counter = threading.Lock()
        self.calls = 0  # backend operations (reads and writes), as the other backends count
        # Folders known to exist under the root (keys), from the last read; None before one.
        self._folders: set[str] | None = None

    def _count(self, call: str, path: str) -> None:
        with self._counter:
            self.calls += 1
        record_call(call, path)

    def _check_path(self, path: str) -> None:
        """Every path written or deleted lies under the root (defence in depth: the
        planner already guarantees it)."""
        segments = path.split("\\")[1:]
        if (not names.is_under(path, self.root) or not path.startswith("\\")
                or any(names.segment_problem(s) for s in segments)):
            raise BackendError(f"{path}: refused: it is not a task path under the root {self.root}")

    # --- reading ----------------------------------------------------------------------
    def read_state(self, root: str) -> State:
        root = names.normalize_root(root)
        self._count("read", root)
        service = self.connections.service()
        com_error = self.api.com_error
        try:
            top = service.GetFolder(root.rstrip("\\"))
        except com_error as err:
            if hresult(err) in NOT_FOUND:
                self._folders = set()
                return State(tasks={}, calls=1)  # no root yet: nothing is managed
            raise PartialReadError(f"{root}: GetFolder failed: {explain(err)}; nothing was changed") from None
        tasks: dict[str, LiveTask] = {}
        folders: set[str] = set()
        self._walk(top, root.rstrip("\\"), root, tasks, folders)
        self._folders = folders
        return State(tasks=tasks, calls=1)

    def _walk(self, folder: Any, where: str, root: str, tasks: dict[str, LiveTask], folders: set[str]) -> None:
        """Every task in ``folder`` and below, hidden ones included."""
        com_error = self.api.com_error
        folders.add(names.key(where))
        try:
            found = list(folder.GetTasks(TASK_ENUM_HIDDEN))
            below = list(folder.GetFolders(0))
        except com_error as err:
            raise PartialReadError(f"{where}\\: cannot list its tasks: {explain(err)}; nothing was changed") from None
        for task in found:
            try:
                path = str(task.Path)
            except com_error as err:
                raise PartialReadError(f"{where}\\: a task cannot be read, so nothing was changed: "
                                       f"{explain(err)}") from None
            try:
                xml = str(task.Xml)
            except com_error as err:
                raise PartialReadError(
                    f"{path}: cannot read this task, so nothing was changed: {explain(err)}") from None
            if names.is_under(path, root):
                tasks[names.key(path)] = LiveTask(path=path, xml=xml)
        for sub in below:
            try:
                inner = str(sub.Path)
            except com_error as err:
                raise PartialReadError(f"{where}\\: a folder cannot be read, so nothing was changed: "
                                       f"{explain(err)}") from None
            self._walk(sub, inner, root, tasks, folders)

    def read_task(self, path: str) -> LiveTask:
        """One task anywhere on the machine, read-only (``import --path``)."""
        path = "\\" + path.strip("\\")
        self._count("read-one", path)
        try:
            task = self.connections.root_folder().GetTask(path)
            return LiveTask(path=str(task.Path), xml=str(task.Xml))
        except self.api.com_error as err:
            raise BackendError(f"{path}: GetTask failed: {explain(err)}") from None

    def run_info(self, root: str) -> RunData:
        """Run data per task key from the object model; never raises."""
        root = names.normalize_root(root)
        missing = "; Task Scheduler's run data (state, last run, last result) is not shown"
        try:
            folder = self.connections.service().GetFolder(root.rstrip("\\"))
        except BackendError as err:
            return RunData(None, (f"{err}{missing}",))
        except self.api.com_error as err:
            if hresult(err) in NOT_FOUND:
                return RunData({})
            return RunData(None, (f"{root}: GetFolder failed: {explain(err)}{missing}",))
        info: dict[str, RunInfo] = {}
        warnings: list[str] = []
        self._run_data(folder, root, info, warnings)
        return RunData(info, tuple(warnings))

    def _run_data(self, folder: Any, root: str, info: dict[str, RunInfo], warnings: list[str]) -> None:
        com_error = self.api.com_error
        try:
            found = list(folder.GetTasks(TASK_ENUM_HIDDEN))
            below = list(folder.GetFolders(0))
        except com_error as err:
            warnings.append(f"cannot list a folder's tasks for their run data: {explain(err)}")
            return
        for task in found:
            try:
                path = str(task.Path)
                info[names.key(path)] = self._run_info_of(task)
            except com_error as err:
                warnings.append(f"a task's run data cannot be read: {explain(err)}")
        for sub in below:
            self._run_data(sub, root, info, warnings)

    @staticmethod
    def _run_info_of(task: Any) -> RunInfo:
        state = STATES.get(int(task.State))
        if state == "Ready" and not bool(task.Enabled):
            state = "Disabled"
        return RunInfo(status=state, last_run=moment(task.LastRunTime),
                       last_result=int(task.LastTaskResult) & 0xFFFFFFFF,
                       next_run=moment(task.NextRunTime), missed_runs=int(task.NumberOfMissedRuns))

    def run(self, path: str) -> None:
        self._check_path(path)
        self._count("run", path)
        try:
            self.connections.root_folder().GetTask(path).Run(None)
        except self.api.com_error as err:
            raise BackendError(f"{path}: Run failed: {explain(err)}") from None

    def stop(self, path: str) -> None:
        """``IRegisteredTask::Stop(0)`` (Microsoft Learn: flags are reserved and must be
        0), which stops every instance of the task. SCHED_E_TASK_NOT_RUNNING ("There is
        no running instance of the task", Microsoft Learn "Task Scheduler Error and
        Success Constants") is no error: the instance ended by itself since run data was
        read."""
        self._check_path(path)
        self._count("stop", path)
        try:
            self.connections.root_folder().GetTask(path).Stop(0)
        except self.api.com_error as err:
            if hresult(err) != SCHED_E_TASK_NOT_RUNNING:
                raise BackendError(f"{path}: Stop failed: {explain(err)}") from None

    # --- writing ----------------------------------------------------------------------
    def _ensure_folder(self, folder: str) -> None:
        """The folder (``\\Root\\Sub``) exists: made with CreateFolder, which makes the
        folders above it too, when the last read did not see it."""
        known = self._folders
        if known is not None and names.key(folder) in known:
            return
        top = self.connections.root_folder()
        com_error = self.api.com_error
        if known is None:
            try:
                top.GetFolder(folder)
                return
            except com_error as err:
                if hresult(err) not in NOT_FOUND:
                    raise BackendError(f"{folder}\\: GetFolder failed: {explain(err)}") from None
        try:
            # No security descriptor: VT_EMPTY, which reaches the service as NULL, and
            # "If the sddl parameter is NULL, use the security descriptor of the deepest
            # existing folder" ([MS-TSCH] 3.2.5.4.4 SchRpcCreateFolder): the new folder
            # inherits the root's. An empty string is not NULL (unverified on Windows what
            # it would make), so it is never passed.
            top.CreateFolder(folder, self.api.pythoncom.Empty)
        except com_error as err:
            if hresult(err) != ERROR_ALREADY_EXISTS:  # another writer made it meanwhile
                raise BackendError(f"{folder}\\: CreateFolder failed: {explain(err)}") from None
        if known is not None:
            with self._counter:
                known.add(names.key(folder))

    def register(self, path: str, xml: str, *, password: str | None = None) -> None:
        self._check_path(path)
        self._count("register", path)
        logon = logon_for(xml, password)
        if password is not None and not logon.takes_password:
            raise BackendError(f"{path}: a password was given, but the task runs as a {logon.kind}, "
                               "which takes none")
        self._ensure_folder(path.rsplit("\\", 1)[0])
        # No password and no account: an empty VARIANT (VT_EMPTY), as the documentation
        # asks; no security descriptor: "", as Microsoft's C++ examples pass.
        empty = self.api.pythoncom.Empty
        user: Any = logon.user if logon.user is not None else empty
        try:
            self.connections.root_folder().RegisterTask(
                path, xml, TASK_CREATE_OR_UPDATE, user, password if password is not None else empty,
                logon.logon_type, "")
        except self.api.com_error as err:
            message = f"{path}: RegisterTask failed: {explain(err)}"
            if password:  # the service never says it; if it did, it is not shown, in the
                # words explain() collapsed (runs of blanks become one space) or not
                forms = {password, " ".join(password.split()), *password.split()}
                for form in sorted(forms, key=len, reverse=True):  # whole before its parts
                    if len(form) >= 4 or form == password:
                        message = message.replace(form, "***")
            raise BackendError(message) from None

    def delete(self, path: str) -> None:
        self._check_path(path)
        self._count("delete", path)
        try:
            self.connections.root_folder().DeleteTask(path, 0)
        except self.api.com_error as err:
            raise BackendError(f"{path}: DeleteTask failed: {explain(err)}") from None

    def remove_folder(self, path: str) -> None:
        """ITaskFolder::DeleteFolder on each empty folder, the deepest first (the
        service refuses a folder that still holds a task or a folder)."""
        folder = "\\" + path.strip("\\")
        if not names.key(folder + "\\").startswith(names.key(self.root)):
            raise BackendError(f"{path}: refusing to touch a folder outside {self.root}")
        com_error = self.api.com_error
        top = self.connections.root_folder()
        try:
            start = top.GetFolder(folder)
        except com_error as err:
            if hresult(err) in NOT_FOUND:
                return
            raise BackendError(f"{folder}\\: GetFolder failed: {explain(err)}") from None
        order: list[str] = []

        def visit(current: Any) -> None:
            if current.GetTasks(TASK_ENUM_HIDDEN).Count:
                raise BackendError(f"{path}: the folder still holds tasks; nothing was removed")
            for inner in current.GetFolders(0):
                visit(inner)
            order.append(str(current.Path))
        visit(start)
        for each in order:
            try:
                top.DeleteFolder(each, 0)
            except com_error as err:
                raise BackendError(f"{each}\\: DeleteFolder failed: {explain(err)}") from None
        if self._folders is not None:
            with self._counter:
                self._folders -= {names.key(f) for f in order}

    def preflight(self, password_paths: Sequence[str]) -> None:
        """Nothing to check: every write goes through the connection the read used."""

    # --- accounts and the lock --------------------------------------------------------
    def resolve_account(self, name: str) -> str:
        return accounts.chained(lookup_account_sid)(name)

    def lock_path(self) -> Path:
        return lock_module.machine_lock_path(self._lock_dir)

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        with lock_module.acquire(self.lock_path()):
            yield
