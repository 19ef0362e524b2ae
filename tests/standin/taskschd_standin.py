"""A stand-in for Task Scheduler's COM API (``Schedule.Service``), as pywin32 shows it,
for tests off Windows. Put this folder first on ``sys.path`` (or ``PYTHONPATH``) and
``import win32com.client`` gives it; reconcile.py's com backend cannot tell.

It is a second door into the machine of tests/emulator: the same state folder
(``SCHTASKS_EMULATOR_STATE``), lock, seeded Windows tasks outside the root, and the same
Windows rules (windows_rules.py: validation with ``(line,col):Element:value`` errors and
their HRESULTs, the XML Windows keeps after registration, accounts stored as SIDs).
A task registered through COM is what ``schtasks /Query`` shows, and the other way round.
Several processes see one machine.

What it adds is COM's own shape:
- objects belong to the thread that made them (a call from another thread raises
  RPC_E_WRONG_THREAD), and ``Dispatch`` needs COM initialised in the calling thread;
- errors are ``pywintypes.com_error``: raised by the service as DISP_E_EXCEPTION with
  the code in ``excepinfo[5]`` and the text (``(41,4):EndBoundary:`` for the task XML)
  in ``excepinfo[2]``; a folder or task that is not there is ERROR_PATH_NOT_FOUND
  (Wine's taskschd conformance tests, which pass on Windows 8 and later);
- ``RegisterTask``'s credentials follow TASK_LOGON_TYPE (Microsoft Learn): a service
  account takes no password, a password logon needs one unless the account is a gMSA
  (``name$``), a group becomes the principal's GroupId;
- dates are pywintypes datetimes labelled UTC; "never ran" is 1999-11-30 and "no next
  run" 1899-12-30.

Every method call (not property reads) is counted machine-wide and logged to
``com-calls.log`` in the state folder (one JSON line: call number, method, arguments,
with a password written as ``***``); ``com-calls.json`` keeps the counts.

Environment, besides the emulator's SCHTASKS_EMULATOR_* (STATE, SEED, ORDER, NOW,
RUN_RESULT, ACCOUNT_FORM, USER_SID):
  COM_STANDIN_DELAY_MS   sleep this long in every method call, outside the machine lock
  COM_STANDIN_FAULT      comma-separated faults:
      access-denied      every method call fails with E_ACCESSDENIED
      fail-on-call:N     the N-th method call on this machine fails (E_ACCESSDENIED)
      fail-METHOD        every call of METHOD fails (fail-registertask, fail-deletetask, ...)
      fail-on:METHOD:N   the N-th call of METHOD on this machine fails
      broken-task:PATH   reading that task's Xml fails: the task image is corrupt
      xxe-task:PATH      that task's Xml carries a DOCTYPE with an external entity
      echo-password      RegisterTask with a password fails, and its message ECHOES THE
                         PASSWORD, so tests prove the caller scrubs it
  COM_STANDIN_PROCESS_LOG  see pythoncom.py: processes started by the process under test
"""
from __future__ import annotations

import datetime as _dt
import hashlib
from typing import Any

from lxml import etree

from pywintypes import Time, com_error
from taskschd_plumbing import (
    ERROR_ALREADY_EXISTS, ERROR_DIR_NOT_EMPTY, ERROR_ONLY_IF_CONNECTED, E_INVALIDARG, MESSAGES, SCHED_E_INVALID_TASK_HASH,
    TASK_CREATE, TASK_ENUM_HIDDEN, TASK_LOGON_GROUP, TASK_LOGON_NONE, TASK_LOGON_PASSWORD,
    TASK_LOGON_INTERACTIVE_TOKEN_OR_PASSWORD, TASK_LOGON_SERVICE_ACCOUNT, TASK_STATE_DISABLED, TASK_STATE_READY,
    TASK_STATE_RUNNING, TASK_UPDATE, TASK_VALIDATE_ONLY, NEVER_RAN, NO_TIME, Collection, Secret, Session,
    _ComObject, _LOGON_XML, _empty, _from_sched, _signed, emulator, rules, service_error)


class TaskService(_ComObject):
    """``Schedule.Service``: Connect, then GetFolder."""

    def __init__(self) -> None:
        super().__init__(Session())
        self._connected = False

    def Connect(self, server: object = None, user: object = None, domain: object = None,  # noqa: N802
                password: object = None) -> None:
        self._call("Connect")
        if not all(_empty(v) for v in (server, user, domain, password)):
            raise service_error(E_INVALIDARG, "the stand-in connects to this machine only")
        self._connected = True

    @property
    def Connected(self) -> bool:  # noqa: N802 - COM's name
        self._check()
        return self._connected

    def GetFolder(self, path: str) -> TaskFolder:  # noqa: N802 - COM's name
        self._call("GetFolder", path)
        if not self._connected:
            raise service_error(ERROR_ONLY_IF_CONNECTED)
        return TaskFolder.open(self._session, path)


def _folder_path(path: str) -> str:
    """A folder path as the service spells it ("\\" or "\\A\\B"); ERROR_INVALID_NAME for
    a trailing backslash or a bad segment (Wine's taskschd tests)."""
    if path in ("\\", ""):
        return "\\"
    full = path if path.startswith("\\") else "\\" + path
    if full.endswith("\\") or "/" in full:
        raise service_error(rules.ERROR_INVALID_NAME)
    try:
        rules.task_path(full)
    except rules.SchedError as err:
        raise _from_sched(err) from None
    return full


class TaskFolder(_ComObject):
    """``ITaskFolder``: the folder and what is in it, read from the machine on demand."""

    def __init__(self, session: Session, path: str) -> None:
        super().__init__(session)
        self._path = path

    @classmethod
    def open(cls, session: Session, path: str) -> TaskFolder:
        full = _folder_path(path)
        if full != "\\":
            with session.machine() as machine:
                spelled = machine.index["folders"].get(rules.path_key(full))
            if spelled is None:
                raise com_error(rules.ERROR_PATH_NOT_FOUND, MESSAGES[rules.ERROR_PATH_NOT_FOUND], None, None)
            full = spelled
        return cls(session, full)

    def _absolute(self, path: str) -> str:
        if path.startswith("\\"):
            return path
        return ("" if self._path == "\\" else self._path) + "\\" + path

    @property
    def Path(self) -> str:  # noqa: N802 - COM's name
        self._check()
        return self._path

    @property
    def Name(self) -> str:  # noqa: N802 - COM's name
        self._check()
        return self._path.rsplit("\\", 1)[-1] or "\\"

    def GetFolder(self, path: str) -> TaskFolder:  # noqa: N802 - COM's name
        self._call("GetFolder", path)
        return TaskFolder.open(self._session, self._absolute(path))

    def GetFolders(self, flags: int) -> Collection:  # noqa: N802 - COM's name
        self._call("GetFolders", flags)
        prefix = rules.path_key(self._path.rstrip("\\") + "\\")
        with self._session.machine() as machine:
            spelled = sorted(machine.index["folders"].values(), key=str.casefold)
        inner = [p for p in spelled if rules.path_key(p).startswith(prefix)
                 and "\\" not in rules.path_key(p)[len(prefix):]]
        return Collection(self._session, [TaskFolder(self._session, p) for p in inner])

    def GetTasks(self, flags: int) -> Collection:  # noqa: N802 - COM's name
        self._call("GetTasks", flags)
        prefix = rules.path_key(self._path.rstrip("\\") + "\\")
        found = []
        with self._session.machine() as machine:
            for entry in sorted(machine.index["tasks"].values(), key=lambda e: e["path"].casefold()):
                rest = rules.path_key(entry["path"])[len(prefix):]
                if not rules.path_key(entry["path"]).startswith(prefix) or "\\" in rest:
                    continue
                task = RegisteredTask.from_entry(self._session, machine, entry)
                if task.hidden and not flags & TASK_ENUM_HIDDEN:
                    continue
                found.append(task)
        return Collection(self._session, found)

    def GetTask(self, path: str) -> RegisteredTask:  # noqa: N802 - COM's name
        self._call("GetTask", path)
        full = self._absolute(path)
        with self._session.machine() as machine:
            entry = machine.entry(full) if "*" not in full else None
            if entry is None:
                raise com_error(rules.ERROR_PATH_NOT_FOUND, MESSAGES[rules.ERROR_PATH_NOT_FOUND], None, None)
            return RegisteredTask.from_entry(self._session, machine, entry)

    def CreateFolder(self, path: str, sddl: object = None) -> TaskFolder:  # noqa: N802 - COM's name
        self._call("CreateFolder", path, sddl)  # logged as repr: Empty or the string passed
        full = _folder_path(self._absolute(path))
        with self._session.machine() as machine:
            folders = machine.index["folders"]
            if rules.path_key(full) in folders:
                raise service_error(ERROR_ALREADY_EXISTS)
            parts = full.strip("\\").split("\\")
            for depth in range(1, len(parts) + 1):  # the folders above are made too
                candidate = "\\" + "\\".join(parts[:depth])
                folders.setdefault(rules.path_key(candidate), candidate)
        return TaskFolder(self._session, full)

    def RegisterTask(self, path: str, xml: str, flags: int, user: object, password: object,  # noqa: N802
                     logon_type: int, sddl: object = None) -> RegisteredTask:
        secret = None if _empty(password) else str(password)
        self._call("RegisterTask", path, f"<{len(xml)} characters of XML>", flags, user,
                   Secret(secret) if secret else password, logon_type, sddl)
        full = self._absolute(path)
        if secret and "echo-password" in self._session.faults:  # a hostile service message
            raise service_error(rules.E_FAIL, f"Registration refused for password {secret}")
        if secret and secret in xml:
            raise service_error(E_INVALIDARG, "stand-in: the password is written in the task XML")
        parent = full.rsplit("\\", 1)[0]
        with self._session.machine() as machine:
            try:
                rules.validate(xml)  # positions in errors are those of the XML as given
                text, run_as = _credentials(xml, None if _empty(user) else str(user), secret, logon_type)
                if parent and rules.path_key(parent) not in machine.index["folders"]:
                    raise rules.SchedError(rules.ERROR_PATH_NOT_FOUND)
                exists = machine.entry(rules.task_path(full)) is not None
                if exists and not flags & TASK_UPDATE:
                    raise rules.SchedError(ERROR_ALREADY_EXISTS)
                if not exists and not flags & TASK_CREATE:
                    raise rules.SchedError(rules.ERROR_FILE_NOT_FOUND)
                if flags & TASK_VALIDATE_ONLY:
                    rules.validate(text)
                    return RegisteredTask(self._session, full, xml, {})
                credentials = {"user": run_as or "", "sha256": hashlib.sha256(secret.encode()).hexdigest()} \
                    if secret else None
                machine.register(full, text, force=True, run_as=run_as, password=bool(secret),
                                 credentials=credentials)
                entry = machine.entry(full)
            except rules.SchedError as err:
                raise _from_sched(err) from None
            return RegisteredTask.from_entry(self._session, machine, entry)

    def DeleteFolder(self, path: str, flags: int) -> None:  # noqa: N802 - COM's name
        """``ITaskFolder::DeleteFolder``: only an empty folder (no task, no folder) goes;
        else ERROR_DIR_NOT_EMPTY, as Wine's conformance tests show Windows answering."""
        self._call("DeleteFolder", path, flags)
        full = _folder_path(self._absolute(path))
        key = rules.path_key(full)
        with self._session.machine() as machine:
            if key not in machine.index["folders"]:
                raise com_error(rules.ERROR_PATH_NOT_FOUND, MESSAGES[rules.ERROR_PATH_NOT_FOUND], None, None)
            inside = key.rstrip("\\") + "\\"
            if any(rules.path_key(e["path"]).startswith(inside) for e in machine.index["tasks"].values()) \
                    or any(f.startswith(inside) for f in machine.index["folders"]):
                raise service_error(ERROR_DIR_NOT_EMPTY)
            del machine.index["folders"][key]

    def DeleteTask(self, name: str, flags: int) -> None:  # noqa: N802 - COM's name
        self._call("DeleteTask", name, flags)
        full = self._absolute(name)
        with self._session.machine() as machine:
            try:
                machine.delete({"tn": full, "f": True})
            except rules.SchedError as err:
                code = rules.ERROR_FILE_NOT_FOUND if err.hresult in (rules.ERROR_FILE_NOT_FOUND,
                                                                      rules.ERROR_PATH_NOT_FOUND) else err.hresult
                raise com_error(code, MESSAGES.get(code), None, None) from None


def _credentials(xml: str, user: str | None, password: str | None, logon_type: int) -> tuple[str, str | None]:
    """The task XML as RegisterTask's credential arguments leave it, and the account the
    principal's UserId becomes (None: as the XML says). Raises windows_rules.SchedError
    the way the service refuses (TASK_LOGON_TYPE, Microsoft Learn)."""
    if logon_type == TASK_LOGON_NONE or user is None:
        return xml, None
    if logon_type == TASK_LOGON_SERVICE_ACCOUNT:
        if rules.resolve_account(user) not in rules.SERVICE_SIDS or password is not None:
            raise rules.SchedError(E_INVALIDARG)
        return xml, user
    if logon_type in (TASK_LOGON_PASSWORD, TASK_LOGON_INTERACTIVE_TOKEN_OR_PASSWORD) \
            and password is None and not user.endswith("$"):
        raise rules.SchedError(rules.ERROR_LOGON_FAILURE)  # only a gMSA fetches its own password
    if logon_type == TASK_LOGON_GROUP and password is not None:
        raise rules.SchedError(E_INVALIDARG)
    task, _ = rules.parse(xml)
    principals = rules._child(task, "Principals")
    principal = rules._child(principals, "Principal") if principals is not None else None
    if principal is not None and _says(principal, user, logon_type):
        return xml, None if logon_type == TASK_LOGON_GROUP else user
    if principal is None:
        principals = principals if principals is not None else rules._sub(task, "Principals")
        principal = rules._sub(principals, "Principal")
        principal.set("id", "Author")
    for name in ("UserId", "GroupId", "LogonType"):
        old = rules._child(principal, name)
        if old is not None:
            principal.remove(old)
    if logon_type == TASK_LOGON_GROUP:
        rules._sub(principal, "GroupId", user, index=0)
        return etree.tostring(task, encoding="unicode"), None
    rules._sub(principal, "UserId", user, index=0)
    rules._sub(principal, "LogonType", _LOGON_XML.get(logon_type, "InteractiveToken"), index=1)
    return etree.tostring(task, encoding="unicode"), user


def _says(principal: etree._Element, user: str, logon_type: int) -> bool:
    """Whether the XML's principal already is what the credential arguments say."""
    fields = {rules._local(c): rules._text(c).strip() for c in rules._kids(principal)}
    if logon_type == TASK_LOGON_GROUP:
        return fields.get("GroupId") == user and "UserId" not in fields
    return fields.get("UserId") == user and fields.get("LogonType", "InteractiveToken") == \
        _LOGON_XML.get(logon_type, "InteractiveToken")


class RegisteredTask(_ComObject):
    """``IRegisteredTask``: a snapshot of the task when it was fetched, as the service
    would report it then."""

    def __init__(self, session: Session, path: str, xml: str, entry: dict[str, Any],
                 task: etree._Element | None = None, now: _dt.datetime | None = None) -> None:
        super().__init__(session)
        self._path = path
        self._xml = xml
        self._entry = dict(entry)
        self._task = task
        self._now = now or _dt.datetime.now().replace(microsecond=0)

    @classmethod
    def from_entry(cls, session: Session, machine: emulator.Machine, entry: dict[str, Any]) -> RegisteredTask:
        task = machine.stored(entry)
        xml = rules.single_document(rules.layout(task, machine.order))
        if session.fault_for("xxe-task", entry["path"]):
            xml = xml.replace("<Task ", '<!DOCTYPE Task [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\r\n<Task ', 1)
            xml = xml.replace("</Actions>", "</Actions><Data>&xxe;</Data>", 1)
        return cls(session, entry["path"], xml, entry, task, machine.now())

    def _settings(self) -> dict[str, str]:
        settings = rules._child(self._task, "Settings") if self._task is not None else None
        return {rules._local(c): rules._text(c).strip() for c in rules._kids(settings)}

    @property
    def hidden(self) -> bool:
        return self._settings().get("Hidden") == "true"

    @property
    def Path(self) -> str:  # noqa: N802 - COM's name
        self._check()
        return self._path

    @property
    def Name(self) -> str:  # noqa: N802 - COM's name
        self._check()
        return self._path.rsplit("\\", 1)[-1]

    @property
    def Xml(self) -> str:  # noqa: N802 - COM's name
        self._check()
        if self._session.fault_for("broken-task", self._path):
            raise service_error(SCHED_E_INVALID_TASK_HASH)
        return self._xml

    @property
    def Enabled(self) -> bool:  # noqa: N802 - COM's name
        self._check()
        return self._settings().get("Enabled", "true") != "false"

    @property
    def State(self) -> int:  # noqa: N802 - COM's name
        self._check()
        if self._entry.get("running"):
            return TASK_STATE_RUNNING
        return TASK_STATE_READY if self._settings().get("Enabled", "true") != "false" else TASK_STATE_DISABLED

    @property
    def LastRunTime(self) -> Any:  # noqa: N802 - COM's name
        self._check()
        return Time(rules.stored_moment(self._entry.get("last_run")) or NEVER_RAN)

    @property
    def LastTaskResult(self) -> int:  # noqa: N802 - COM's name
        self._check()
        return _signed(int(self._entry.get("last_result", rules.SCHED_S_TASK_HAS_NOT_RUN)))

    @property
    def NextRunTime(self) -> Any:  # noqa: N802 - COM's name
        self._check()
        triggers = rules._kids(rules._child(self._task, "Triggers")) if self._task is not None else []
        upcoming = [t for t in (rules.next_run_time(tr, self._now) for tr in triggers) if t is not None]
        return Time(min(upcoming) if upcoming and self.Enabled else NO_TIME)

    @property
    def NumberOfMissedRuns(self) -> int:  # noqa: N802 - COM's name
        self._check()
        return 0

    def Run(self, params: object = None) -> None:  # noqa: N802 - COM's name
        self._call("Run", self._path)
        with self._session.machine() as machine:
            try:
                machine.run({"tn": self._path})
            except rules.SchedError as err:
                raise _from_sched(err) from None

    def Stop(self, flags: int) -> None:  # noqa: N802 - COM's name
        """Microsoft Learn "IRegisteredTask::Stop": flags are reserved and must be 0;
        every instance is stopped. On a task that is not running it succeeds, as
        ``schtasks /End`` does (the emulator's ``end``) [GUESS for the API itself]."""
        self._call("Stop", self._path, flags)
        if flags != 0:
            raise service_error(E_INVALIDARG)
        with self._session.machine() as machine:
            try:
                machine.end({"tn": self._path})
            except rules.SchedError as err:
                raise _from_sched(err) from None
