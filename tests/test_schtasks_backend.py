"""The schtasks backend against the emulator (tests/emulator) and against tiny fake
executables that print chosen bytes: one call per read, splitting and filtering the
``/Query /XML ONE`` document, decoding, every failure turned into one clear message,
timeouts, the private task file, the root guard, the apply lock, and the round trip
render -> register -> read back -> canonical form."""
from __future__ import annotations

import concurrent.futures
import os
import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from reconciler import durations, lock as lock_module, normalize, render
from reconciler.backends import schtasks
from reconciler.backends.schtasks import SchtasksBackend
from reconciler.backends.schtasks_output import decode_output, format_exit, split_tasks
from reconciler.errors import BackendError, LockHeldError, PartialReadError
from reconciler.model import (
    BootTrigger, ByDay, ByMonth, ByMonthDayOfWeek, ByWeek, CalendarTrigger, ComHandlerAction,
    EventTrigger, ExecAction, IdleTrigger, LogonTrigger, Principal, RegistrationTrigger,
    Repetition, SessionStateChangeTrigger, TaskSpec, TimeTrigger,
)
from reconciler.taskxml import parse

EMULATOR_DIR = Path(__file__).resolve().parent / "emulator"
EMULATOR = EMULATOR_DIR / "schtasks_emulator.py"
SHARED = Path(__file__).resolve().parents[1].parent / "shared"
sys.path.insert(0, str(EMULATOR_DIR))

import windows_rules as rules  # noqa: E402

NS = "http://schemas.microsoft.com/windows/2004/02/mit/task"
ROOT = "\\Orchestrator\\"


def task(command: str = "C:\\jobs\\run.exe", user: str = "SYSTEM", extra: str = "") -> str:
    return (f'<Task version="1.2" xmlns="{NS}">\n'
            f'  <RegistrationInfo><Description>job</Description></RegistrationInfo>\n{extra}'
            f'  <Principals><Principal id="Author"><UserId>{user}</UserId></Principal></Principals>\n'
            f'  <Actions Context="Author"><Exec><Command>{command}</Command></Exec></Actions>\n'
            f'</Task>')


@pytest.fixture
def machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An emulated machine (seeded with Windows' own tasks) the backend talks to."""
    state = tmp_path / "machine"
    monkeypatch.setenv("SCHTASKS_EMULATOR_STATE", str(state))
    monkeypatch.setenv("SCHTASKS_EMULATOR_SEED", "1")
    monkeypatch.setenv("RECONCILE_SCHTASKS", str(EMULATOR))
    monkeypatch.setenv("RECONCILE_LOCK_DIR", str(tmp_path / "lock"))
    for name in ("SCHTASKS_EMULATOR_FAULT", "SCHTASKS_EMULATOR_OUTPUT_ENCODING",
                 "SCHTASKS_EMULATOR_ORDER", "SCHTASKS_EMULATOR_DELAY_MS", "RECONCILE_SCHTASKS_TIMEOUT"):
        monkeypatch.delenv(name, raising=False)
    return state


def emulator_calls(state: Path) -> list[list[str]]:
    import json

    log = state / "calls.log"
    if not log.exists():
        return []
    return [json.loads(line)["argv"] for line in log.read_text(encoding="utf-8").splitlines()]


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A stand-in executable printing chosen stdout bytes and exiting with a chosen code."""
    script = tmp_path / "fake_schtasks.py"
    script.write_text(textwrap.dedent("""
        import os, sys, time
        log = os.environ.get("FAKE_LOG")
        if log:
            with open(log, "a", encoding="utf-8") as handle:
                handle.write(repr(sys.argv[1:]) + "\\n")
        if os.environ.get("FAKE_INSPECT"):
            # Report the /XML file as the callee sees it: mode, folder mode, bytes.
            path = sys.argv[sys.argv.index("/XML") + 1]
            with open(os.environ["FAKE_INSPECT"], "wb") as out:
                out.write(("%o %o\\n" % (os.stat(path).st_mode & 0o777,
                                          os.stat(os.path.dirname(path)).st_mode & 0o777)).encode())
                out.write(path.encode() + b"\\n")
                out.write(open(path, "rb").read())
        sys.stdout.buffer.write(open(os.environ["FAKE_OUT"], "rb").read() if os.environ.get("FAKE_OUT") else b"")
        sys.stderr.buffer.write(os.environ.get("FAKE_ERR", "").encode())
        sys.exit(int(os.environ.get("FAKE_EXIT", "0")))
    """), encoding="utf-8")
    monkeypatch.setenv("RECONCILE_SCHTASKS", str(script))
    for name in ("FAKE_LOG", "FAKE_INSPECT", "FAKE_OUT", "FAKE_ERR", "FAKE_EXIT"):
        monkeypatch.delenv(name, raising=False)

    def configure(out: bytes = b"", exit_code: int = 0, err: str = "") -> None:
        output = tmp_path / "fake_out.bin"
        output.write_bytes(out)
        monkeypatch.setenv("FAKE_OUT", str(output))
        monkeypatch.setenv("FAKE_EXIT", str(exit_code))
        monkeypatch.setenv("FAKE_ERR", err)

    return configure


def one(*tasks: tuple[str, str], declaration: str = "UTF-16") -> str:
    """A /Query /XML ONE document (the layout of the real Windows 10 capture)."""
    body = "".join(f"\n\n<!-- {p} -->\n\r\n{x}\n\n" for p, x in tasks)
    return f'<?xml version="1.0" encoding="{declaration}"?>\n\n<Tasks>\n{body}\n</Tasks>\n'


# --- round trip -----------------------------------------------------------------------
def test_register_read_delete(machine: Path) -> None:
    backend = SchtasksBackend("Orchestrator")
    backend.register("\\Orchestrator\\Finance\\report", task())
    backend.register("\\Orchestrator\\top", task(user="NT AUTHORITY\\LOCAL SERVICE"))
    state = backend.read_state("\\Orchestrator")
    assert set(state.tasks) == {"\\orchestrator\\finance\\report", "\\orchestrator\\top"}
    live = state.tasks["\\orchestrator\\finance\\report"]
    assert live.path == "\\Orchestrator\\Finance\\report"
    element = parse(live.xml)
    assert element.tag == f"{{{NS}}}Task"
    assert element.findtext(f"{{{NS}}}RegistrationInfo/{{{NS}}}URI") == live.path
    top = parse(state.tasks["\\orchestrator\\top"].xml)
    assert top.findtext(f".//{{{NS}}}UserId") == "S-1-5-19"
    assert state.warnings == () and state.calls == 1
    backend.delete("\\Orchestrator\\Finance\\report")
    assert set(backend.read_state("\\Orchestrator\\").tasks) == {"\\orchestrator\\top"}
    assert backend.calls == 5
    assert backend.call_log[-1] == ["/Query", "/XML", "ONE"]
    creates = [c for c in backend.call_log if c[0] == "/Create"]
    assert creates[0][:2] == ["/Create", "/XML"] and creates[0][2:] [1:] == ["/TN", "\\Orchestrator\\Finance\\report", "/F"]
    assert backend.call_log[3] == ["/Delete", "/TN", "\\Orchestrator\\Finance\\report", "/F"]


def test_one_call_per_read_whatever_the_number_of_tasks(machine: Path) -> None:
    backend = SchtasksBackend(ROOT)
    for count in (0, 1, 12):
        for i in range(count):
            backend.register(f"\\Orchestrator\\n{count}\\t{i}", task())
        before = len(emulator_calls(machine))
        state = backend.read_state(ROOT)
        assert state.calls == 1
        assert emulator_calls(machine)[before:] == [["/Query", "/XML", "ONE"]]
    assert len(state.tasks) == 13


def test_filters_to_the_root(machine: Path) -> None:
    backend = SchtasksBackend("Orchestrator")
    backend.register("\\Orchestrator\\mine", task())
    state = backend.read_state("orchestrator")  # any spelling of the root
    assert list(state.tasks) == ["\\orchestrator\\mine"]  # not \Orchestrator-old, not \Microsoft
    microsoft = SchtasksBackend("\\Microsoft\\Windows\\").read_state("\\Microsoft\\Windows\\")
    assert "\\microsoft\\windows\\defrag\\scheduleddefrag" in microsoft.tasks


def test_parallel_registrations(machine: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCHTASKS_EMULATOR_DELAY_MS", "50")
    backend = SchtasksBackend(ROOT)
    paths = [f"\\Orchestrator\\p{i}" for i in range(8)]
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda p: backend.register(p, task()), paths))
    assert backend.calls == 8
    assert set(backend.read_state(ROOT).tasks) == {p.casefold() for p in paths}


# --- canonical round trip: render -> register -> read back ----------------------------
D = durations.parse
QUERY = ("<QueryList><Query Id=\"0\" Path=\"Microsoft-Windows-TaskScheduler/Operational\"><Select "
         "Path=\"Microsoft-Windows-TaskScheduler/Operational\">*[System[(EventID=201)] and "
         "EventData[Data[@Name='TaskName']='\\Orchestrator\\up']]</Select></Query></QueryList>")


def spec(name: str, **fields) -> TaskSpec:
    base = dict(path=f"\\Orchestrator\\Round\\{name}", name=name, folder=("Round",), description=None,
                triggers=(), actions=(ExecAction(command="C:\\jobs\\run.exe"),),
                principal=Principal(user_id="SYSTEM"), settings=())
    base.update(fields)
    return TaskSpec(**base)


SPECS = [
    spec("daily-workflow", description='Build "daily" <book> & more; caf\u00e9',
         triggers=(CalendarTrigger(start="2000-01-03T13:05:00", schedule=ByWeek(days=("Monday", "Tuesday", "Wednesday", "Thursday", "Friday"))),
                   CalendarTrigger(start="2000-01-03T09:00:00",
                                   repetition=Repetition(interval=D("15m"), duration=D("8h")), schedule=ByDay())),
         actions=(ExecAction(command="C:\\Python311\\python.exe",
                             arguments='-m jobs.excel --out "C:\\Reports\\daily book.xlsx"',
                             working_directory="C:\\jobs"),),
         settings=(("ExecutionTimeLimit", D("30m")), ("RestartOnFailure", (("Interval", D("5m")), ("Count", 3))))),
    spec("every-trigger", principal=Principal(user_id="CONTOSO\\alice", logon_type="S4U", run_level="HighestAvailable"),
         triggers=(TimeTrigger(start="2026-12-24T18:00:00", random_delay=D("10m"), end="2027-01-01T00:00:00"),
                   BootTrigger(delay=D("5m")), RegistrationTrigger(delay=D("1m")), IdleTrigger(),
                   LogonTrigger(user_id="CONTOSO\\alice", delay=D("1m")),
                   SessionStateChangeTrigger(state_change="SessionLock", user_id="CONTOSO\\alice"),
                   EventTrigger(subscription=QUERY, value_queries=(("rc", "Event/EventData/Data[@Name='ResultCode']"),)),
                   CalendarTrigger(start="2000-01-03T09:00:00", enabled=False,
                                   schedule=ByMonth(days=("1", "15", "Last"), months=("January", "April", "July", "October"))),
                   CalendarTrigger(start="2000-01-03T09:00:00", time_limit=D("2h"),
                                   schedule=ByMonthDayOfWeek(weeks=("1", "3", "Last"), days=("Friday",), months=("December",))),
                   CalendarTrigger(start="2000-01-03T00:00:00+01:00",
                                   repetition=Repetition(interval=D("1h"), duration=D("1d"), stop_at_end=True),
                                   schedule=ByDay(interval=2)))),
    spec("every-setting", principal=Principal(group_id="BUILTIN\\Users"),
         actions=(ExecAction(command="a.exe", arguments="x"), ComHandlerAction(class_id="{A31AB5F7-9B44-4F1E-8C63-6BB5E1C2D8F0}", data="payload")),
         settings=(("AllowStartOnDemand", False), ("MultipleInstancesPolicy", "Parallel"),
                   ("DisallowStartIfOnBatteries", False), ("StopIfGoingOnBatteries", False),
                   ("AllowHardTerminate", False), ("StartWhenAvailable", True),
                   ("RunOnlyIfNetworkAvailable", True), ("WakeToRun", True), ("Enabled", False),
                   ("Hidden", True), ("ExecutionTimeLimit", D("0s")), ("Priority", 4),
                   ("RunOnlyIfIdle", True),
                   ("IdleSettings", (("Duration", D("5m")), ("WaitTimeout", D("30m")), ("StopOnIdleEnd", False), ("RestartOnIdle", True))))),
    spec("defaults-written", principal=Principal(user_id="LOCAL SERVICE"),
         triggers=(BootTrigger(),),
         settings=(("AllowStartOnDemand", True), ("MultipleInstancesPolicy", "IgnoreNew"),
                   ("DisallowStartIfOnBatteries", True), ("StopIfGoingOnBatteries", True),
                   ("Enabled", True), ("Hidden", False), ("ExecutionTimeLimit", D("72h")), ("Priority", 7))),
    spec("gmsa", principal=Principal(user_id="CONTOSO\\gmsa-report$", logon_type="Password"),
         settings=(("UseUnifiedSchedulingEngine", True), ("Volatile", False))),
    spec("network-service", principal=Principal(user_id="NETWORK SERVICE", run_level="LeastPrivilege"),
         triggers=(LogonTrigger(),)),
]


def system_lookup(name: str) -> str:
    """What LookupAccountNameW gives on the emulated machine (its fixed account table)."""
    return rules.resolve_account(name)


@pytest.mark.parametrize("order", ["win10", "2012r2"])
@pytest.mark.parametrize("desired", SPECS, ids=[s.name for s in SPECS])
def test_canonical_round_trip(machine: Path, monkeypatch: pytest.MonkeyPatch, desired: TaskSpec, order: str) -> None:
    monkeypatch.setenv("SCHTASKS_EMULATOR_ORDER", order)
    rendered = render.render(desired, ROOT, system_lookup)
    backend = SchtasksBackend(ROOT)
    backend.register(rendered.path, rendered.xml)
    live = backend.read_state(ROOT).tasks[rendered.path.casefold()]
    assert live.xml != rendered.xml  # Windows rewrote it ...
    assert normalize.canonical(live.xml, system_lookup) == rendered.canonical  # ... to the same task


def test_round_trip_domain_account_kept_as_name(machine: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Windows 7 on a domain keeps DOMAIN\user as written; the plain well_known resolver
    # then matches without a system lookup.
    monkeypatch.setenv("SCHTASKS_EMULATOR_ACCOUNT_FORM", "name")
    desired = SPECS[1]
    rendered = render.render(desired, ROOT)
    backend = SchtasksBackend(ROOT)
    backend.register(rendered.path, rendered.xml)
    live = backend.read_state(ROOT).tasks[rendered.path.casefold()]
    assert normalize.canonical(live.xml) == rendered.canonical


# --- /Query /XML ONE: splitting and decoding -----------------------------------------
def test_split_real_windows_export() -> None:
    corpus = SHARED / "corpus" / "xml" / "137.xml"
    if not corpus.exists():
        pytest.skip("shared/corpus is not available")
    text = corpus.read_text(encoding="utf-8")
    everything = split_tasks(text, "\\Microsoft\\")
    assert len(everything[0]) == 157 and everything[1] == []  # all but \OneDrive…
    defrag = split_tasks(text, "\\Microsoft\\Windows\\Defrag\\")[0]
    assert list(defrag) == ["\\microsoft\\windows\\defrag\\scheduleddefrag"]
    for live in everything[0].values():
        element = parse(live.xml)
        assert element.tag == f"{{{NS}}}Task"
        assert element.findtext(f"{{{NS}}}RegistrationInfo/{{{NS}}}URI") == live.path
    assert split_tasks(text, ROOT) == ({}, [])


@pytest.mark.parametrize("encoding", ["utf-16", "utf-8", "cp437"])
def test_decoding_console_encodings(machine: Path, monkeypatch: pytest.MonkeyPatch, encoding: str) -> None:
    monkeypatch.setenv("SCHTASKS_EMULATOR_OUTPUT_ENCODING", encoding)
    backend = SchtasksBackend(ROOT)
    path = "\\Orchestrator\\Caf\u00e9\\t\u00e2che \u00ab\u00e9t\u00e9\u00bb"
    backend.register(path, task(command="C:\\Donn\u00e9es\\run.exe"))
    state = backend.read_state(ROOT)
    live = state.tasks[path.casefold()]
    assert live.path == path
    assert parse(live.xml).findtext(f".//{{{NS}}}Command") == "C:\\Donn\u00e9es\\run.exe"


def test_decode_output_rules() -> None:
    text = "<!-- \\Caf\u00e9 -->"
    assert decode_output(b"\xff\xfe" + text.encode("utf-16-le")) == text
    assert decode_output(text.encode("utf-8")) == text
    assert decode_output(b"\xef\xbb\xbf" + text.encode("utf-8")) == text
    assert decode_output(text.encode("cp437")) == text  # not UTF-8: the OEM code page


def test_bare_task_document(fake) -> None:
    document = ('<?xml version="1.0" encoding="UTF-16"?>\r\n'
                + task().replace("<Description>job</Description>", "<URI>\\Orchestrator\\bare</URI>"))
    fake(document.encode("utf-8"))
    assert list(SchtasksBackend(ROOT).read_state(ROOT).tasks) == ["\\orchestrator\\bare"]


def test_unparseable_task_outside_root_is_a_warning(fake) -> None:
    broken = task()[:60]
    fake(one(("\\Orchestrator\\ok", task()), ("\\Vendor\\broken", broken)).encode("utf-8"))
    state = SchtasksBackend(ROOT).read_state(ROOT)
    assert list(state.tasks) == ["\\orchestrator\\ok"]
    assert len(state.warnings) == 1 and state.warnings[0].startswith("\\Vendor\\broken")
    assert "skipped (outside the root)" in state.warnings[0]


def test_unparseable_task_in_root_is_an_error(fake) -> None:
    fake(one(("\\Orchestrator\\ok", task()), ("\\Orchestrator\\broken", task()[:60])).encode("utf-8"))
    with pytest.raises(PartialReadError, match=r"\\Orchestrator\\broken.*nothing was changed"):
        SchtasksBackend(ROOT).read_state(ROOT)


def test_wrong_namespace_in_root_is_an_error(fake) -> None:
    fake(one(("\\Orchestrator\\odd", task().replace(f' xmlns="{NS}"', ""))).encode("utf-8"))
    with pytest.raises(PartialReadError, match="namespace"):
        SchtasksBackend(ROOT).read_state(ROOT)
    fake(one(("\\Other\\odd", task().replace(f' xmlns="{NS}"', ""))).encode("utf-8"))
    assert SchtasksBackend(ROOT).read_state(ROOT).warnings


@pytest.mark.parametrize("output", [
    b"",  # nothing at all is not "no tasks": Windows always has tasks of its own
    b"\x00\x13\x37 definitely not xml",
    b'<?xml version="1.0"?>\n<Tasks>\n\n<!-- \\Orchestrator\\a -->\n<Task xmlns="' + NS.encode() + b'"><Actions>',
    b'<?xml version="1.0"?>\n<Other />',
    b'<?xml version="1.0"?>\n<Tasks><Task xmlns="' + NS.encode() + b'"><Actions/></Task></Tasks>',  # no path
], ids=["empty", "garbage", "truncated", "other-root", "no-path"])
def test_bad_output_is_a_partial_read(fake, output: bytes) -> None:
    fake(output)
    with pytest.raises(PartialReadError, match="nothing was changed"):
        SchtasksBackend(ROOT).read_state(ROOT)


def test_no_tasks_message(fake) -> None:
    fake(b"INFO: There are no scheduled tasks presently available at your access level.\r\n")
    assert SchtasksBackend(ROOT).read_state(ROOT).tasks == {}


def test_xxe_in_output_is_refused(fake, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET", encoding="utf-8")
    document = (f'<?xml version="1.0"?>\n<!DOCTYPE Tasks [<!ENTITY x SYSTEM "{secret.as_uri()}">]>\n'
                f'<Tasks>\n<!-- \\Orchestrator\\a -->\n'
                + task().replace("<Description>job</Description>", "<Description>&x;</Description>")
                + "\n</Tasks>\n")
    fake(document.encode("utf-8"))
    with pytest.raises(PartialReadError) as caught:
        SchtasksBackend(ROOT).read_state(ROOT)
    assert "TOP-SECRET" not in str(caught.value)
    assert "DOCTYPE" in str(caught.value)


# --- failures -------------------------------------------------------------------------
def test_fault_access_denied(machine: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCHTASKS_EMULATOR_FAULT", "access-denied")
    backend = SchtasksBackend(ROOT)
    with pytest.raises(PartialReadError) as read:
        backend.read_state(ROOT)
    assert str(read.value) == ("schtasks /Query /XML ONE failed (exit 1): Access is denied. "
                               "(run from an elevated, administrator prompt); nothing was changed")
    with pytest.raises(BackendError) as write:
        backend.register("\\Orchestrator\\x", task())
    assert str(write.value).startswith("\\Orchestrator\\x: schtasks /Create failed (exit 1): Access is denied.")
    with pytest.raises(BackendError, match=r"^\\Orchestrator\\x: schtasks /Delete failed \(exit 1\)"):
        backend.delete("\\Orchestrator\\x")


@pytest.mark.parametrize("fault", ["garbage", "truncated", "xxe"])
def test_fault_bad_query_output(machine: Path, monkeypatch: pytest.MonkeyPatch, fault: str) -> None:
    backend = SchtasksBackend(ROOT)
    backend.register("\\Orchestrator\\x", task())
    monkeypatch.setenv("SCHTASKS_EMULATOR_FAULT", fault)
    with pytest.raises(PartialReadError, match="nothing was changed"):
        backend.read_state(ROOT)


def test_fault_broken_task(machine: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    backend = SchtasksBackend(ROOT)
    backend.register("\\Orchestrator\\x", task())
    monkeypatch.setenv("SCHTASKS_EMULATOR_FAULT", "broken-task:\\Microsoft\\Windows\\Defrag\\ScheduledDefrag")
    state = backend.read_state(ROOT)
    assert list(state.tasks) == ["\\orchestrator\\x"]
    assert state.warnings and "ScheduledDefrag" in state.warnings[0]
    monkeypatch.setenv("SCHTASKS_EMULATOR_FAULT", "broken-task:\\Orchestrator\\x")
    with pytest.raises(PartialReadError, match=r"\\Orchestrator\\x"):
        backend.read_state(ROOT)


def test_fault_fail_create_delete_and_nth_call(machine: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    backend = SchtasksBackend(ROOT)
    backend.register("\\Orchestrator\\x", task())
    monkeypatch.setenv("SCHTASKS_EMULATOR_FAULT", "fail-create")
    with pytest.raises(BackendError, match=r"^\\Orchestrator\\y: schtasks /Create failed \(exit 1\)"):
        backend.register("\\Orchestrator\\y", task())
    monkeypatch.setenv("SCHTASKS_EMULATOR_FAULT", "fail-delete")
    with pytest.raises(BackendError, match=r"^\\Orchestrator\\x: schtasks /Delete failed"):
        backend.delete("\\Orchestrator\\x")
    calls = len(emulator_calls(machine))
    monkeypatch.setenv("SCHTASKS_EMULATOR_FAULT", f"fail-on-call:{calls + 2}")
    backend.register("\\Orchestrator\\z1", task())
    with pytest.raises(BackendError, match=r"^\\Orchestrator\\z2:"):
        backend.register("\\Orchestrator\\z2", task())
    backend.register("\\Orchestrator\\z3", task())


def test_xml_error_is_one_clear_line(machine: Path) -> None:
    bad = task(extra=("  <Triggers><TimeTrigger><StartBoundary>2026-01-01T00:00:00</StartBoundary>"
                      "<Repetition><Interval>PT5S</Interval></Repetition></TimeTrigger></Triggers>\n"))
    with pytest.raises(BackendError) as caught:
        SchtasksBackend(ROOT).register("\\Orchestrator\\x", bad)
    message = str(caught.value)
    assert "\n" not in message
    assert re.fullmatch(r"\\Orchestrator\\x: schtasks /Create failed \(exit 1\): The task XML contains a value "
                        r"which is incorrectly formatted or out of range\. \(\d+,\d+\):Interval:PT5S", message)


def test_exit_codes_are_shown_readably(fake) -> None:
    fake(b"", exit_code=5, err="ERROR: Invalid syntax. Mandatory option '/XML' is missing.\n"
                               "Type \"SCHTASKS /CREATE /?\" for usage.\n")
    with pytest.raises(BackendError) as caught:
        SchtasksBackend(ROOT).delete("\\Orchestrator\\x")
    assert str(caught.value) == ("\\Orchestrator\\x: schtasks /Delete failed (exit 5): Invalid syntax. "
                                 "Mandatory option '/XML' is missing.")
    assert format_exit(2147500037) == "0x80004005"
    assert format_exit(-2147467259) == "0x80004005"
    assert format_exit(1) == "1"


def test_message_without_error_prefix(fake) -> None:
    fake(b"something odd happened\r\n", exit_code=3)
    with pytest.raises(BackendError, match=r"failed \(exit 3\): something odd happened$"):
        SchtasksBackend(ROOT).delete("\\Orchestrator\\x")


def test_timeout(machine: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCHTASKS_EMULATOR_FAULT", "hang")
    backend = SchtasksBackend(ROOT, timeout=1)
    start = time.monotonic()
    with pytest.raises(BackendError) as caught:
        backend.read_state(ROOT)
    assert time.monotonic() - start < 30
    assert str(caught.value).startswith("schtasks /Query /XML ONE timed out after 1 s")
    with pytest.raises(BackendError, match=r"^\\Orchestrator\\x: schtasks /Create timed out after 1 s"):
        backend.register("\\Orchestrator\\x", task())


def test_timeout_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECONCILE_SCHTASKS_TIMEOUT", "7.5")
    assert SchtasksBackend(ROOT).timeout == 7.5
    monkeypatch.setenv("RECONCILE_SCHTASKS_TIMEOUT", "soon")
    with pytest.raises(BackendError, match="RECONCILE_SCHTASKS_TIMEOUT"):
        SchtasksBackend(ROOT)
    monkeypatch.delenv("RECONCILE_SCHTASKS_TIMEOUT")
    assert SchtasksBackend(ROOT).timeout == schtasks.DEFAULT_TIMEOUT


def test_missing_executable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECONCILE_SCHTASKS", "no-such-schtasks-here.exe")
    with pytest.raises(BackendError, match="not found on PATH"):
        SchtasksBackend(ROOT).read_state(ROOT)


@pytest.mark.parametrize("path", ["\\Other\\x", "\\Orchestrator", "\\Orchestrator\\", "\\OrchestratorX\\y",
                                  "\\Orchestrator-old\\legacy", "\\x", "\\Orchestrator\\a\\\\b"])
def test_refuses_paths_outside_the_root(machine: Path, path: str) -> None:
    backend = SchtasksBackend(ROOT)
    with pytest.raises(BackendError, match="refused"):
        backend.register(path, task())
    with pytest.raises(BackendError, match="refused"):
        backend.delete(path)
    assert backend.calls == 0 and emulator_calls(machine) == []


def test_password_is_never_passed(machine: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A password task goes through PowerShell (tests/test_powershell_backend.py), never
    # through schtasks /RP: without a PowerShell it fails before any schtasks call.
    monkeypatch.setenv("RECONCILE_POWERSHELL", str(machine.parent / "no-powershell.py"))
    backend = SchtasksBackend(ROOT)
    with pytest.raises(BackendError, match="no-powershell.py: no such file") as caught:
        backend.register("\\Orchestrator\\x", task(), password="s3cret")
    assert "s3cret" not in str(caught.value)
    assert backend.calls == 0 and emulator_calls(machine) == []


def test_task_file_is_private_and_removed(fake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    temp = tmp_path / "temp"
    temp.mkdir()
    monkeypatch.setattr("tempfile.tempdir", str(temp))
    inspect = tmp_path / "inspect.bin"
    monkeypatch.setenv("FAKE_INSPECT", str(inspect))
    fake(b"SUCCESS: done\r\n")
    SchtasksBackend(ROOT).register("\\Orchestrator\\x", task(command="C:\\caf\u00e9.exe"))
    modes, path, data = inspect.read_bytes().split(b"\n", 2)
    assert Path(path.decode()).parent.parent == temp
    if sys.platform != "win32":
        assert modes == b"600 700"
    assert data.startswith(b"\xff\xfe")
    text = data[2:].decode("utf-16-le")
    assert text.startswith('<?xml version="1.0" encoding="UTF-16"?>\r\n<Task ')
    assert "\n" not in text.replace("\r\n", "")
    assert "C:\\caf\u00e9.exe" in text
    assert list(temp.iterdir()) == []  # file and folder gone
    fake(b"", exit_code=1, err="ERROR: Access is denied.\n")
    with pytest.raises(BackendError):
        SchtasksBackend(ROOT).register("\\Orchestrator\\x", task())
    assert list(temp.iterdir()) == []  # gone after a failure too


def test_resolve_account() -> None:
    backend = SchtasksBackend(ROOT)
    assert backend.resolve_account("NT AUTHORITY\\SYSTEM") == "S-1-5-18"
    assert backend.resolve_account("local service") == "S-1-5-19"
    assert backend.resolve_account("s-1-5-21-1-2-3-500") == "S-1-5-21-1-2-3-500"
    if sys.platform != "win32":
        assert backend.resolve_account("contoso\\alice") == "CONTOSO\\ALICE"


def test_run_info_reads_the_csv_in_one_call(machine: Path) -> None:
    # The parser and the status command: tests/test_status_schtasks.py.
    backend = SchtasksBackend(ROOT)
    backend.register("\\Orchestrator\\x", task())
    data = backend.run_info(ROOT)
    assert data.tasks is not None and set(data.tasks) == {"\\orchestrator\\x"}
    assert data.tasks["\\orchestrator\\x"].last_result == 0x41303 and data.warnings == ()
    assert backend.call_log[-1] == ["/Query", "/FO", "CSV", "/V", "/NH"]


def test_only_this_module_starts_processes() -> None:
    """Of reconcile's own code, only the Windows backends start programs. The runner
    (reconciler/runner/) is another program: running the tasks' commands is its job;
    runner_install.py is an installer an administrator runs by hand (venv, icacls); and
    fleet/git.py is pull mode's read-only git fetch (git's own credential helpers)."""
    package = Path(__file__).resolve().parents[1] / "reconciler"
    users = sorted(p.relative_to(package).as_posix() for p in package.rglob("*.py")
                   if re.search(r"^\s*(import subprocess|from subprocess)", p.read_text(encoding="utf-8"), re.M))
    assert {u for u in users if not u.startswith("runner/")} <= {
        "backends/schtasks.py", "backends/powershell.py", "runner_install.py", "fleet/git.py"}
    source = (package / "backends" / "schtasks.py").read_text(encoding="utf-8")
    assert "shell=True" not in source


# --- the apply lock -------------------------------------------------------------------
def test_lock_is_exclusive_and_names_the_holder(machine: Path, tmp_path: Path) -> None:
    backend = SchtasksBackend(ROOT)
    assert backend.lock_path() == tmp_path / "lock" / "apply.lock"
    with backend.lock():
        assert backend.lock_path().exists()
        with pytest.raises(LockHeldError) as caught:
            with SchtasksBackend(ROOT).lock():
                pass  # pragma: no cover
        message = str(caught.value)
        assert f"pid {os.getpid()}" in message and "host " in message and "started " in message
    assert not backend.lock_path().exists()
    with backend.lock():  # free again
        pass


def test_lock_of_a_dead_process_is_taken_over(tmp_path: Path) -> None:
    import json
    import socket

    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                           capture_output=True, text=True, check=True)
    dead = int(child.stdout)
    path = tmp_path / "apply.lock"
    path.write_text(json.dumps({"pid": dead, "host": socket.gethostname(), "started": "x", "token": "t"}),
                    encoding="utf-8")
    with lock_module.acquire(path) as me:
        assert me["pid"] == os.getpid()
        assert json.loads(path.read_text(encoding="utf-8"))["pid"] == os.getpid()
    assert not path.exists()


@pytest.mark.parametrize("content", [
    '{"pid": 1, "host": "another-machine", "started": "2026-01-01T00:00:00"}',  # cannot check: held
    "not json",
])
def test_lock_that_cannot_be_checked_is_held(tmp_path: Path, content: str) -> None:
    path = tmp_path / "apply.lock"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(LockHeldError, match="delete the lock file"):
        with lock_module.acquire(path):
            pass  # pragma: no cover
    assert path.read_text(encoding="utf-8") == content  # left alone


def test_lock_of_a_live_process_in_another_process(tmp_path: Path) -> None:
    path = tmp_path / "apply.lock"
    code = ("import sys, time; sys.path.insert(0, sys.argv[2]); from reconciler import lock\n"
            "with lock.acquire(sys.argv[1]):\n    print('held', flush=True); time.sleep(30)\n")
    holder = subprocess.Popen([sys.executable, "-c", code, str(path), str(Path(__file__).resolve().parents[1])],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(LockHeldError, match=f"pid {holder.pid} "):
            with lock_module.acquire(path):
                pass  # pragma: no cover
    finally:
        holder.kill()
        holder.wait()
    with lock_module.acquire(path):  # the holder died without releasing: taken over
        pass


def test_pid_alive() -> None:
    assert lock_module.pid_alive(os.getpid())
    assert not lock_module.pid_alive(0)
    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    assert not lock_module.pid_alive(int(child.stdout))


def test_lock_without_hard_links(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import errno

    def no_links(source: object, target: object) -> None:
        raise OSError(errno.EPERM, "hard links are not supported here")

    monkeypatch.setattr(lock_module.os, "link", no_links)
    path = tmp_path / "apply.lock"
    with lock_module.acquire(path):
        with pytest.raises(LockHeldError):
            with lock_module.acquire(path):
                pass  # pragma: no cover
    assert not path.exists()
    assert [p.name for p in tmp_path.iterdir()] == []  # no temporary files left


def test_lock_takeover_race_keeps_a_fresh_lock(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Between judging a lock stale and moving it aside, another process took it: that
    fresh lock is put back and we lose."""
    import json

    path = tmp_path / "apply.lock"
    path.write_text(json.dumps({"pid": 999999999, "host": "h", "started": "s", "token": "old"}), encoding="utf-8")
    fresh = json.dumps({"pid": os.getpid(), "host": "h", "started": "s", "token": "fresh"})

    def stale_but_replaced(holder: dict) -> bool:
        path.write_text(fresh, encoding="utf-8")
        return True

    monkeypatch.setattr(lock_module, "_stale", stale_but_replaced)
    with pytest.raises(LockHeldError, match=f"pid {os.getpid()}"):
        with lock_module.acquire(path):
            pass  # pragma: no cover
    assert path.read_text(encoding="utf-8") == fresh
    assert [p.name for p in tmp_path.iterdir()] == ["apply.lock"]


def test_lock_folder_that_cannot_be_created(tmp_path: Path) -> None:
    from reconciler.errors import ReconcileError

    blocker = tmp_path / "file"
    blocker.write_text("x", encoding="utf-8")
    with pytest.raises(ReconcileError, match="cannot create the lock folder"):
        with lock_module.acquire(blocker / "sub" / "apply.lock"):
            pass  # pragma: no cover
