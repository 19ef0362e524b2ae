"""The Windows backend: ``schtasks.exe``.

Reads the whole machine with ONE ``schtasks /Query /XML ONE`` and filters to the root
after parsing; registers with ``/Create /XML FILE /TN PATH /F`` from a private UTF-16LE
file (a task with a password goes through PowerShell instead, see powershell.py); deletes
with ``/Delete /TN PATH /F``; ``status`` reads run data with ONE ``/Query /FO CSV /V /NH``;
``apply --stop-running`` ends a running instance with ``/End /TN PATH``.
Processes are started only here and in powershell.py: never through a shell, always with
a timeout, and never with a password on a command line.

``RECONCILE_SCHTASKS`` names the executable (a ``.py`` file is run with this Python, for
the emulator in tests/emulator); ``RECONCILE_SCHTASKS_TIMEOUT`` the seconds a call may
take; ``RECONCILE_LOCK_DIR`` the folder of the apply lock (default
``%ProgramData%\\reconcile``)."""
from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from typing import Iterator, Sequence

from lxml import etree

from .. import accounts, lock as lock_module, names
from ..errors import BackendError, PartialReadError
from ..render import to_utf16_file
from ..taskxml import TaskXmlError, localname, parse
from .base import Capabilities, LiveTask, RunData, State
from .schtasks_csv import parse_run_info
from .schtasks_output import (decode_output, error_text, format_exit, lossy_codepage, principal_user,
                              split_tasks)
from .processes import NO_WINDOW, private_file
from .windows_accounts import lookup_account_sid

DEFAULT_TIMEOUT = 120.0
DEFAULT_EXECUTABLE = "schtasks.exe"
ENV_EXECUTABLE = "RECONCILE_SCHTASKS"
ENV_TIMEOUT = "RECONCILE_SCHTASKS_TIMEOUT"


class SchtasksBackend:
    """Task Scheduler through schtasks.exe (see the module docstring)."""

    name = "schtasks"
    # Task Scheduler takes registrations side by side; a password goes to PowerShell.
    capabilities = Capabilities(parallel_writes=True, run_history=True, can_run=True,
                                keeps_passwords=True, removes_folders=False)

    def __init__(self, root: str, *, executable: str | None = None,
                 timeout: float | None = None, lock_dir: str | os.PathLike[str] | None = None) -> None:
        self.root = names.normalize_root(root)
        self.executable = executable or os.environ.get(ENV_EXECUTABLE) or DEFAULT_EXECUTABLE
        if timeout is None:
            text = os.environ.get(ENV_TIMEOUT)
            try:
                timeout = float(text) if text else DEFAULT_TIMEOUT
            except ValueError:
                raise BackendError(f"{ENV_TIMEOUT}={text!r} is not a number of seconds") from None
        self.timeout = timeout
        self._lock_dir = lock_dir
        self._counter = threading.Lock()
        self.calls = 0
        self.call_log: list[list[str]] = []  # argv after the executable, one per call

    # --- running schtasks -------------------------------------------------------------
    def _command(self) -> list[str]:
        executable = self.executable
        if executable.lower().endswith(".py"):
            return [sys.executable, executable]
        found = shutil.which(executable)
        if found is None:
            if os.path.sep in executable or (os.altsep and os.altsep in executable):
                found = executable
            else:
                raise BackendError(
                    f"{executable} was not found on PATH (the schtasks backend needs Windows; "
                    f"set {ENV_EXECUTABLE} to use another program, or use --backend local)")
        return [found]

    def _run(self, args: list[str], what: str) -> subprocess.CompletedProcess[bytes]:
        """Run one schtasks call; raises BackendError on a timeout or if it cannot start.
        ``what`` names the call in messages (``\\Orchestrator\\x: schtasks /Create``)."""
        command = self._command() + args
        with self._counter:
            self.calls += 1
            self.call_log.append(list(args))
        try:
            return subprocess.run(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, timeout=self.timeout, shell=False,
                                  check=False, creationflags=NO_WINDOW)
        except subprocess.TimeoutExpired:
            raise BackendError(
                f"{what} timed out after {self.timeout:g} s (the process was stopped; set "
                f"{ENV_TIMEOUT} to allow longer)") from None
        except OSError as err:
            raise BackendError(f"{what} could not be started: {err.strerror or err}") from None

    def _failure(self, what: str, result: subprocess.CompletedProcess[bytes]) -> str:
        message = error_text(decode_output(result.stdout), decode_output(result.stderr))
        hint = ""
        if "access is denied" in message.lower():
            hint = " (run from an elevated, administrator prompt)"
        return f"{what} failed (exit {format_exit(result.returncode)}): {message}{hint}"

    def _check_path(self, path: str) -> None:
        """Every path written or deleted lies under the root (defence in depth: the
        planner already guarantees it)."""
        if not names.is_under(path, self.root) or "\\\\" in path or path.endswith("\\"):
            raise BackendError(f"{path}: refused: it is not a task path under the root {self.root}")

    # --- reading ----------------------------------------------------------------------
    def read_state(self, root: str) -> State:
        root = names.normalize_root(root)
        what = "schtasks /Query /XML ONE"
        result = self._run(["/Query", "/XML", "ONE"], what)
        stdout = decode_output(result.stdout)
        if result.returncode != 0:
            raise PartialReadError(self._failure(what, result) + "; nothing was changed")
        tasks, warnings = split_tasks(stdout, root)
        return State(tasks=tasks, warnings=tuple(warnings), calls=1,
                     codepage=lossy_codepage(result.stdout))

    def read_task(self, path: str) -> LiveTask:
        """One task anywhere on the machine, read-only (``import --path``), with ONE
        ``/Query /TN PATH /XML``."""
        path = "\\" + path.strip("\\")
        what = f"{path}: schtasks /Query /XML"
        result = self._run(["/Query", "/TN", path, "/XML"], what)
        if result.returncode != 0:
            raise BackendError(self._failure(what, result))
        try:
            task = parse(decode_output(result.stdout), path)
        except TaskXmlError as err:
            raise BackendError(f"{what} printed no task XML: {err}") from None
        if localname(task) != "Task":
            raise BackendError(f"{what} printed <{localname(task)}>, not a task")
        return LiveTask(path=path, xml=etree.tostring(task, encoding="unicode", with_tail=False))

    def run_info(self, root: str) -> RunData:
        """Run data per task key from ONE ``/Query /FO CSV /V /NH`` (the whole machine,
        filtered to the root after parsing). Never raises: every problem becomes a
        warning."""
        root = names.normalize_root(root)
        what = "schtasks /Query /FO CSV /V /NH"
        missing = "; Task Scheduler's run data (state, last run, last result) is not shown"
        try:
            result = self._run(["/Query", "/FO", "CSV", "/V", "/NH"], what)
        except BackendError as err:
            return RunData(None, (f"{err}{missing}",))
        if result.returncode != 0:
            return RunData(None, (self._failure(what, result) + missing,))
        info, warnings = parse_run_info(decode_output(result.stdout), root)
        if info is None:
            warnings = [w + missing for w in warnings]
        return RunData(info, tuple(warnings))

    def remove_folder(self, path: str) -> None:
        # schtasks /Delete takes tasks only: a folder gives "Access is denied" even to an
        # administrator. The Task Scheduler API (ITaskFolder::DeleteFolder) can.
        raise BackendError(f"{path}: schtasks.exe cannot remove a folder; remove it in the Task "
                           "Scheduler console, or use --backend com")

    def run(self, path: str) -> None:
        self._check_path(path)
        what = f"{path}: schtasks /Run"
        result = self._run(["/Run", "/TN", path], what)
        if result.returncode != 0:
            raise BackendError(self._failure(what, result))

    def stop(self, path: str) -> None:
        """``schtasks /End /TN PATH`` (Microsoft Learn: "schtasks end"). It exits 0 even
        when the task is not running; a task that is not there: exit 1, "The system
        cannot find the path specified"."""
        self._check_path(path)
        what = f"{path}: schtasks /End"
        result = self._run(["/End", "/TN", path], what)
        if result.returncode != 0:
            raise BackendError(self._failure(what, result))

    # --- writing ----------------------------------------------------------------------
    def register(self, path: str, xml: str, *, password: str | None = None) -> None:
        self._check_path(path)
        if password is not None:
            # schtasks would want it after /RP, on a command line anyone can list: a
            # password task goes through PowerShell, the password in its environment
            # (imported here: only password tasks need it).
            from . import powershell

            user = principal_user(xml)
            if user is None:
                raise BackendError(f"{path}: a password was given, but the task XML names no "
                                   "Principal/UserId to store it for")
            powershell.register_with_password(path, xml, user, password,
                                              executable=powershell.executable(),
                                              timeout=self.timeout)
            return
        data = to_utf16_file(xml)
        what = f"{path}: schtasks /Create"
        with private_file(data) as file:
            result = self._run(["/Create", "/XML", str(file), "/TN", path, "/F"], what)
        if result.returncode != 0:
            raise BackendError(self._failure(what, result))

    def preflight(self, password_tasks: Sequence[str]) -> None:
        """Before any write: the programs the writes need are there (a missing PowerShell
        found only at the write would leave a renamed password task deleted)."""
        if password_tasks:
            from . import powershell

            try:
                powershell.command(powershell.executable())
            except BackendError as err:
                raise BackendError(f"{password_tasks[0]}: {err}; nothing was changed") from None

    def delete(self, path: str) -> None:
        self._check_path(path)
        what = f"{path}: schtasks /Delete"
        result = self._run(["/Delete", "/TN", path, "/F"], what)
        if result.returncode != 0:
            raise BackendError(self._failure(what, result))

    # --- accounts and the lock --------------------------------------------------------
    def resolve_account(self, name: str) -> str:
        return accounts.chained(lookup_account_sid)(name)

    def lock_path(self) -> Path:
        return lock_module.machine_lock_path(self._lock_dir)

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        with lock_module.acquire(self.lock_path()):
            yield
