"""The com backend (reconciler/backends/com.py) on the stand-in pywin32 of tests/standin:
what is particular to it beyond the shared contract (test_backend_contract.py): the
account kinds and their RegisterTask arguments, errors read where pywin32 puts them, the
object model's run data, COM in every thread, calls per read, and no pywin32 at all."""
from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from com_support import STANDIN, com_calls, methods, use_standin
from conftest import REPO
from reconciler import backends, render
from reconciler.backends import com_api
from reconciler.backends.com_logon import (
    TASK_LOGON_GROUP, TASK_LOGON_INTERACTIVE_TOKEN, TASK_LOGON_INTERACTIVE_TOKEN_OR_PASSWORD, TASK_LOGON_NONE,
    TASK_LOGON_PASSWORD, TASK_LOGON_S4U, TASK_LOGON_SERVICE_ACCOUNT, logon_for)
from reconciler.errors import BackendError, PartialReadError
from reconciler.model import ByDay, CalendarTrigger, ExecAction, Principal, TaskSpec

ROOT = "\\Orchestrator\\"
NS = "http://schemas.microsoft.com/windows/2004/02/mit/task"


@pytest.fixture
def machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    use_standin(monkeypatch)
    env = {"SCHTASKS_EMULATOR_STATE": str(tmp_path / "machine"), "SCHTASKS_EMULATOR_SEED": "1",
           "RECONCILE_LOCK_DIR": str(tmp_path / "lock")}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    for key in ("COM_STANDIN_FAULT", "COM_STANDIN_DELAY_MS", "SCHTASKS_EMULATOR_ORDER"):
        monkeypatch.delenv(key, raising=False)
    return env


def backend() -> Any:
    return backends.open_backend("com", root=ROOT, store="")


def spec(name: str = "nightly", principal: Principal = Principal(user_id="SYSTEM"), folder: tuple[str, ...] = (),
         description: str = "job") -> TaskSpec:
    return TaskSpec(path=ROOT + "".join(f + "\\" for f in folder) + name, name=name, folder=folder,
                    description=description,
                    triggers=(CalendarTrigger(start="2000-01-03T02:00:00", schedule=ByDay(interval=1)),),
                    actions=(ExecAction(command="C:\\jobs\\run.exe"),), principal=principal)


def register(b: Any, task: TaskSpec, password: str | None = None) -> render.Rendered:
    rendered = render.render(task, ROOT, b.resolve_account)
    b.register(task.path, rendered.xml, password=password)
    return rendered


def stored_principal(env: dict[str, str], path: str) -> dict[str, str]:
    from lxml import etree

    state = Path(env["SCHTASKS_EMULATOR_STATE"])
    index = json.loads((state / "index.json").read_text(encoding="utf-8"))
    entry = index["tasks"][path.casefold()]
    task = etree.fromstring((state / "tasks" / entry["file"]).read_bytes().decode("utf-16").split("?>", 1)[1]
                            .encode("utf-8"))
    principal = task.find(f"{{{NS}}}Principals/{{{NS}}}Principal")
    return {etree.QName(c).localname: c.text or "" for c in principal}


def registrations(env: dict[str, str]) -> list[list]:
    return [c["args"] for c in com_calls(env) if c["method"] == "RegisterTask"]


# --- account kinds ------------------------------------------------------------------------

def _xml(user: str | None = None, group: str | None = None, logon: str | None = None) -> str:
    parts = (f"<UserId>{user}</UserId>" if user else "") + (f"<GroupId>{group}</GroupId>" if group else "") \
        + (f"<LogonType>{logon}</LogonType>" if logon else "")
    return (f'<Task version="1.2" xmlns="{NS}"><Principals><Principal id="Author">{parts}</Principal>'
            "</Principals><Actions Context=\"Author\"><Exec><Command>a.exe</Command></Exec></Actions></Task>")


@pytest.mark.parametrize("xml, password, expected", [
    (_xml("S-1-5-18"), None, ("S-1-5-18", TASK_LOGON_SERVICE_ACCOUNT, "service account")),
    (_xml("S-1-5-19"), None, ("S-1-5-19", TASK_LOGON_SERVICE_ACCOUNT, "service account")),
    (_xml("NT AUTHORITY\\NETWORK SERVICE"), None,
     ("NT AUTHORITY\\NETWORK SERVICE", TASK_LOGON_SERVICE_ACCOUNT, "service account")),
    (_xml(group="S-1-5-32-545"), None, ("S-1-5-32-545", TASK_LOGON_GROUP, "group")),
    (_xml("CONTOSO\\svc$", logon="Password"), None, ("CONTOSO\\svc$", TASK_LOGON_PASSWORD, "gMSA")),
    (_xml("CONTOSO\\svc", logon="Password"), "pw", ("CONTOSO\\svc", TASK_LOGON_PASSWORD, "password logon")),
    (_xml("CONTOSO\\svc", logon="InteractiveTokenOrPassword"), "pw",
     ("CONTOSO\\svc", TASK_LOGON_INTERACTIVE_TOKEN_OR_PASSWORD, "password logon")),
    (_xml("CONTOSO\\svc", logon="S4U"), None, ("CONTOSO\\svc", TASK_LOGON_S4U, "S4U")),
    (_xml("CONTOSO\\svc", logon="InteractiveToken"), None,
     ("CONTOSO\\svc", TASK_LOGON_INTERACTIVE_TOKEN, "interactive")),
    (_xml("CONTOSO\\svc"), None, ("CONTOSO\\svc", TASK_LOGON_INTERACTIVE_TOKEN, "interactive")),
    (_xml(), None, (None, TASK_LOGON_NONE, "caller")),
], ids=["system", "local-service", "network-service-by-name", "group", "gmsa", "password",
        "interactive-or-password", "s4u", "interactive", "no-logon-type", "no-account"])
def test_each_account_kind_gets_its_documented_arguments(xml: str, password: str | None, expected: tuple) -> None:
    logon = logon_for(xml, password)
    assert (logon.user, logon.logon_type, logon.kind) == expected


@pytest.mark.parametrize("principal, password, stored", [
    (Principal(user_id="SYSTEM"), None, {"UserId": "S-1-5-18"}),
    (Principal(user_id="LOCAL SERVICE"), None, {"UserId": "S-1-5-19"}),
    (Principal(group_id="BUILTIN\\Users", run_level="HighestAvailable"), None,
     {"GroupId": "S-1-5-32-545", "RunLevel": "HighestAvailable"}),
    (Principal(user_id="CONTOSO\\gmsa$", logon_type="Password"), None, {"LogonType": "Password"}),
    (Principal(user_id="CONTOSO\\svc", logon_type="S4U"), None, {"LogonType": "S4U"}),
    (Principal(user_id="CONTOSO\\svc", logon_type="InteractiveToken"), None, {"LogonType": "InteractiveToken"}),
    (Principal(user_id="CONTOSO\\svc", logon_type="Password", password_env="PW"), "s3cret-Pw",
     {"LogonType": "Password"}),
], ids=["system", "local-service", "group", "gmsa", "s4u", "interactive", "password"])
def test_every_account_kind_registers_on_the_machine(machine: dict[str, str], principal: Principal,
                                                     password: str | None, stored: dict[str, str]) -> None:
    b = backend()
    task = spec(principal=principal)
    register(b, task, password)
    found = stored_principal(machine, task.path)
    assert {k: found.get(k) for k in stored} == stored
    (args,) = registrations(machine)
    assert args[4] == ("***" if password else "pythoncom.Empty")  # the password, never shown
    log = (Path(machine["SCHTASKS_EMULATOR_STATE"]) / "com-calls.log").read_text(encoding="utf-8")
    assert not password or password not in log
    index = json.loads((Path(machine["SCHTASKS_EMULATOR_STATE"]) / "index.json").read_text(encoding="utf-8"))
    credentials = index["tasks"][task.path.casefold()].get("credentials")
    assert (credentials is not None) == (password is not None)


def test_a_password_logon_without_a_password_is_refused_by_the_service(machine: dict[str, str]) -> None:
    with pytest.raises(BackendError) as caught:
        register(backend(), spec(principal=Principal(user_id="CONTOSO\\svc", logon_type="Password")))
    assert "user name or password is incorrect" in str(caught.value) and "\\Orchestrator\\nightly" in str(caught.value)


def test_a_password_for_an_account_that_takes_none_is_refused(machine: dict[str, str]) -> None:
    with pytest.raises(BackendError, match="service account"):
        register(backend(), spec(), password="s3cret")


@pytest.mark.parametrize("password", ["Zq7-s3cret", "Zq7  s3cret-two", "Zq7\ts3cret\nthree"])
def test_a_password_echoed_by_the_service_is_not_shown(machine: dict[str, str], password: str,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Also when the error text's runs of blanks were collapsed to one space on the way."""
    monkeypatch.setenv("COM_STANDIN_FAULT", "echo-password")
    with pytest.raises(BackendError) as caught:
        register(backend(), spec(principal=Principal(user_id="CONTOSO\\svc", logon_type="Password")), password)
    shown = str(caught.value)
    assert "***" in shown
    assert all(part not in shown for part in password.split()), shown


def test_a_new_folder_inherits_the_roots_security(machine: dict[str, str]) -> None:
    """CreateFolder gets no security descriptor (VT_EMPTY, NULL to the service), never "":
    [MS-TSCH] SchRpcCreateFolder gives a NULL sddl the deepest existing folder's."""
    register(backend(), spec(folder=("Finance", "Daily")))
    (created,) = [c["args"] for c in com_calls(machine) if c["method"] == "CreateFolder"]
    assert created[1] == "pythoncom.Empty"


# --- errors -------------------------------------------------------------------------------

def test_a_registration_error_keeps_its_position_in_one_line(machine: dict[str, str]) -> None:
    b = backend()
    xml = render.render(spec(), ROOT).xml.replace("<Command>C:\\jobs\\run.exe</Command>", "")
    with pytest.raises(BackendError) as caught:
        b.register(ROOT + "broken", xml)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("\\Orchestrator\\broken: RegisterTask failed: ")
    assert "SCHED_E_MISSINGNODE" in message and "):Command:" in message


class _Error(Exception):
    def __init__(self, hresult: int, strerror: str | None, excepinfo: tuple | None) -> None:
        super().__init__(hresult)
        self.hresult, self.strerror, self.excepinfo = hresult, strerror, excepinfo


@pytest.mark.parametrize("error, words", [
    (_Error(-2147352567, "Exception occurred.", (0, None, "(41,4):EndBoundary:", None, 0, -2147216615)),
     "the task XML misses a required element (0x80041319 SCHED_E_MISSINGNODE) (41,4):EndBoundary:"),
    (_Error(-2147024891, "Access is denied.", None),
     "Access is denied. (0x80070005) (run from an elevated, administrator prompt)"),
    (_Error(-2147352567, "Exception occurred.", (0, None, "Some\ntext", None, 0, -2147024893)),
     "The system cannot find the path specified. (0x80070003)"),
    (_Error(-2147352567, "Exception occurred.", (0, None, "Vendor words", None, 0, 0x7FFF0001)),
     "Vendor words (0x7FFF0001)"),
], ids=["service-xml-error", "direct", "win32-in-excepinfo", "unknown-code"])
def test_errors_are_read_where_pywin32_puts_them(error: _Error, words: str) -> None:
    assert com_api.explain(error) == words


def test_dates_are_wall_clock_and_never_is_none() -> None:
    utc = dt.timezone.utc
    assert com_api.moment(dt.datetime(2026, 11, 21, 13, 5, tzinfo=utc)) == "2026-11-21T13:05:00"
    assert com_api.moment(dt.datetime(1999, 11, 30, tzinfo=utc)) is None  # never ran
    assert com_api.moment(dt.datetime(1899, 12, 30, tzinfo=utc)) is None  # no time at all
    assert com_api.moment(None) is None


# --- reading --------------------------------------------------------------------------------

def test_one_read_is_one_walk_of_the_root(machine: dict[str, str]) -> None:
    b = backend()
    for name, folder in (("a", ()), ("b", ("F",)), ("c", ("F", "G"))):
        register(b, spec(name, folder=folder))
    before = len(com_calls(machine))
    reader = backend()
    state = reader.read_state(ROOT)
    assert len(state.tasks) == 3 and state.calls == 1
    calls = com_calls(machine)[before:]
    assert methods(calls) == ["Connect", "GetFolder"] + ["GetTasks", "GetFolders"] * 3
    assert calls[1]["args"] == ["\\Orchestrator"]
    assert reader.connections.connects == 1


def test_hidden_tasks_in_the_root_are_read(machine: dict[str, str]) -> None:
    b = backend()
    xml = render.render(spec("quiet"), ROOT).xml.replace("<Settings/>", "<Settings><Hidden>true</Hidden></Settings>")
    assert "<Hidden>true</Hidden>" in xml
    b.register(ROOT + "quiet", xml)
    assert list(b.read_state(ROOT).tasks) == ["\\orchestrator\\quiet"]


def test_a_broken_task_outside_the_root_is_never_read(machine: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    register(backend(), spec())
    monkeypatch.setenv("COM_STANDIN_FAULT", "broken-task:\\OneDrive Reporting Task")
    state = backend().read_state(ROOT)
    assert list(state.tasks) == ["\\orchestrator\\nightly"] and state.warnings == ()


def test_a_broken_task_in_the_root_stops_the_read_in_one_line(machine: dict[str, str],
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    register(backend(), spec())
    monkeypatch.setenv("COM_STANDIN_FAULT", "broken-task:\\Orchestrator\\nightly")
    with pytest.raises(PartialReadError) as caught:
        backend().read_state(ROOT)
    message = str(caught.value)
    assert message.startswith("\\Orchestrator\\nightly: ") and "nothing was changed" in message
    assert "corrupt" in message and "\n" not in message


def test_a_read_that_is_denied_is_a_partial_read(machine: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COM_STANDIN_FAULT", "fail-on:GetFolder:1")
    with pytest.raises(PartialReadError, match="Access is denied.*nothing was changed"):
        backend().read_state(ROOT)


def test_run_data_comes_from_the_object_model(machine: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCHTASKS_EMULATOR_NOW", "2026-11-21T10:00:00")
    b = backend()
    register(b, spec())
    before = b.run_info(ROOT).tasks["\\orchestrator\\nightly"]
    assert (before.status, before.last_run, before.last_result) == ("Ready", None, 0x41303)
    assert before.next_run == "2026-11-22T02:00:00" and before.missed_runs == 0
    b.run(ROOT + "nightly")
    after = b.run_info(ROOT).tasks["\\orchestrator\\nightly"]
    assert (after.last_run, after.last_result) == ("2026-11-21T10:00:00", 0)
    xml = render.render(spec("off"), ROOT).xml.replace("<Settings/>", "<Settings><Enabled>false</Enabled></Settings>")
    b.register(ROOT + "off", xml)
    off = b.run_info(ROOT).tasks["\\orchestrator\\off"]
    assert off.status == "Disabled" and off.next_run is None


# --- COM and threads ------------------------------------------------------------------------

def test_every_thread_initialises_com_and_has_its_own_connection(machine: dict[str, str]) -> None:
    b = backend()
    b.read_state(ROOT)
    errors: list[BaseException] = []

    def write(name: str) -> None:
        try:
            register(b, spec(name))
        except BaseException as err:  # noqa: BLE001 - reported below
            errors.append(err)

    threads = [threading.Thread(target=write, args=(f"t{i}",)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert b.connections.connects == 4  # this thread and three others
    assert len(b.read_state(ROOT).tasks) == 3


def test_the_stand_in_refuses_an_object_from_another_thread(machine: dict[str, str]) -> None:
    import win32com.client
    from pywintypes import com_error

    service = win32com.client.Dispatch("Schedule.Service")
    service.Connect()
    caught: list[BaseException] = []

    def use() -> None:
        try:
            service.GetFolder("\\")
        except com_error as err:
            caught.append(err)

    thread = threading.Thread(target=use)
    thread.start()
    thread.join()
    assert [com_api.hresult(e) for e in caught] == [0x8001010E]  # RPC_E_WRONG_THREAD


def test_the_stand_in_needs_com_initialised_in_the_thread(machine: dict[str, str]) -> None:
    import win32com.client
    from pywintypes import com_error

    caught: list[BaseException] = []

    def make() -> None:
        try:
            win32com.client.Dispatch("Schedule.Service")
        except com_error as err:
            caught.append(err)

    thread = threading.Thread(target=make)
    thread.start()
    thread.join()
    assert [com_api.hresult(e) for e in caught] == [0x800401F0]  # CO_E_NOTINITIALIZED


# --- without pywin32 ------------------------------------------------------------------------

def test_without_pywin32_the_backend_says_so_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    for module in ("win32com", "win32com.client", "pythoncom", "pywintypes"):
        monkeypatch.setitem(sys.modules, module, None)  # an import of it fails
    with pytest.raises(BackendError) as caught:
        backend()
    message = str(caught.value)
    assert "pywin32" in message and "pip install pywin32" in message and "\n" not in message


@pytest.mark.skipif(sys.platform == "win32", reason="pywin32 may be installed on Windows")
def test_backend_com_is_accepted_everywhere_and_exits_1_naming_pywin32(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, str(REPO / "reconcile.py"), "--backend", "com", "plan"],
                            cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1, result.stdout + result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "pywin32" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def test_the_default_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "platform", "linux")
    assert backends.default_name() == "local"
    monkeypatch.setattr(sys, "platform", "win32")
    monkeypatch.setattr(backends, "pywin32_available", lambda: True)
    assert backends.default_name() == "com"
    monkeypatch.setattr(backends, "pywin32_available", lambda: False)
    assert backends.default_name() == "schtasks"


def test_pywin32_available_follows_the_import(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pythoncom", None)
    assert backends.pywin32_available() is False
    use_standin(monkeypatch)
    assert backends.pywin32_available() is True
    assert STANDIN.is_dir()


def test_the_process_counter_sees_every_process_start(tmp_path: Path) -> None:
    """The control for "the com backend starts no process": the stand-in's audit hook
    does see one when there is one."""
    import os

    log = tmp_path / "processes.log"
    env = {**os.environ, "PYTHONPATH": str(STANDIN), "COM_STANDIN_PROCESS_LOG": str(log)}
    code = ("import os, subprocess, sys, pythoncom; subprocess.run([sys.executable, '-c', 'pass']); "
            "os.system('true') if os.name != 'nt' else None")
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=60)
    events = [json.loads(line)["event"] for line in log.read_text(encoding="utf-8").splitlines()]
    assert events[0] == "subprocess.Popen" and len(events) == (2 if sys.platform != "win32" else 1), events
