"""The real Windows Task Scheduler, through the real schtasks.exe (Windows CI only).

Run only when ``sys.platform == "win32"`` and ``RECONCILE_REAL_WINDOWS=1`` (the Windows
workflow sets it): every task is registered in a throw-away folder
``\\reconcile-ci-<run id>-<n>\\`` that is always removed afterwards.

Two kinds of tests:
- the round trip: a rendered task, registered through SchtasksBackend and read back,
  has the canonical form it was rendered with;
- probes: the same input given to Windows and to the emulator (tests/emulator) must
  give the same result. They turn the reference's [GUESS] items into assertions (Date
  and Author added or not, duration spellings kept, defaults dropped, element order and
  layout, the /XML ONE wrapper with /TN, the console encoding, messages and exit codes).
  When one fails, windows_rules.py is wrong about Windows: fix the rule and its tag.

With ``RECONCILE_PROBE_REPORT=FILE`` each probe also appends what Windows did, as one JSON
line, so a passing run still documents the machine (the workflow uploads the file)."""
from __future__ import annotations

import dataclasses
import difflib
import itertools
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest

from reconciler import normalize, render
from reconciler.backends.schtasks import SchtasksBackend
from reconciler.backends.schtasks_output import decode_output
from reconciler.model import LogonTrigger, Principal, TaskSpec

pytestmark = [
    pytest.mark.windows,
    pytest.mark.skipif(sys.platform != "win32" or os.environ.get("RECONCILE_REAL_WINDOWS") != "1",
                       reason="needs real Windows and RECONCILE_REAL_WINDOWS=1 (the Windows CI workflow)"),
]

EMULATOR = Path(__file__).resolve().parent / "emulator" / "schtasks_emulator.py"
NS = "http://schemas.microsoft.com/windows/2004/02/mit/task"
_COUNTER = itertools.count(1)


def report(probe: str, **facts: object) -> None:
    target = os.environ.get("RECONCILE_PROBE_REPORT")
    if target:
        with open(target, "a", encoding="utf-8") as handle:
            handle.write(json.dumps({"probe": probe, **facts}, ensure_ascii=False, default=str) + "\n")


def schtasks(*args: str) -> subprocess.CompletedProcess[bytes]:
    """The real schtasks.exe, no shell, no console input."""
    return subprocess.run(["schtasks.exe", *args], capture_output=True, stdin=subprocess.DEVNULL,
                          timeout=120, check=False)


def _delete_folder(folder: str) -> None:
    """schtasks cannot delete a folder (reference §3.6); the COM API can."""
    name = folder.strip("\\")
    script = ("$s = New-Object -ComObject Schedule.Service; $s.Connect(); "
              f"$s.GetFolder('\\').DeleteFolder('{name}', 0)")
    subprocess.run(["powershell.exe", "-NoProfile", "-NonInteractive", "-Command", script],
                   capture_output=True, timeout=120, check=False)


@pytest.fixture
def folder() -> Iterator[str]:
    """A fresh folder for one test; every task in it and the folder are removed after."""
    run = os.environ.get("GITHUB_RUN_ID", str(os.getpid()))
    attempt = os.environ.get("GITHUB_RUN_ATTEMPT", "1")
    path = f"\\reconcile-ci-{run}-{attempt}-{next(_COUNTER)}\\"
    yield path
    try:
        backend = SchtasksBackend(path, executable="schtasks.exe")
        for live in backend.read_state(path).tasks.values():
            backend.delete(live.path)
    finally:
        _delete_folder(path)


@pytest.fixture
def emulated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The emulator's environment, with this machine's caller SID."""
    caller = SchtasksBackend("\\x\\").resolve_account(
        f"{os.environ.get('USERDOMAIN', '.')}\\{os.environ.get('USERNAME', '')}")
    env = {"SCHTASKS_EMULATOR_STATE": str(tmp_path / "machine"), "SCHTASKS_EMULATOR_SEED": "0",
           "SCHTASKS_EMULATOR_USER_SID": caller, "SCHTASKS_EMULATOR_OUTPUT_ENCODING": "utf-8"}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("SCHTASKS_EMULATOR_FAULT", raising=False)
    monkeypatch.delenv("SCHTASKS_EMULATOR_ORDER", raising=False)
    return env


def emulator(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, str(EMULATOR), *args], capture_output=True,
                          stdin=subprocess.DEVNULL, timeout=120, check=False)


def write(tmp_path: Path, xml: str) -> str:
    path = tmp_path / f"probe-{next(_COUNTER)}.xml"
    text = '<?xml version="1.0" encoding="UTF-16"?>\r\n' + xml.replace("\r\n", "\n").replace("\n", "\r\n")
    path.write_bytes(b"\xff\xfe" + text.encode("utf-16-le"))
    return str(path)


def both(tmp_path: Path, *args: str, xml: str | None = None
         ) -> tuple[subprocess.CompletedProcess[bytes], subprocess.CompletedProcess[bytes]]:
    """The same call on Windows and on the emulator (``{file}`` in args: the task file)."""
    file = write(tmp_path, xml) if xml is not None else ""
    argv = [a.replace("{file}", file) for a in args]
    return schtasks(*argv), emulator(*argv)


def text(result: subprocess.CompletedProcess[bytes]) -> tuple[str, str]:
    return decode_output(result.stdout), decode_output(result.stderr)


def task(body: str, version: str = "1.2") -> str:
    return f'<Task version="{version}" xmlns="{NS}">\n{body}\n</Task>\n'


ACTIONS = '  <Actions Context="Author">\n    <Exec>\n      <Command>C:\\Windows\\System32\\cmd.exe</Command>\n    </Exec>\n  </Actions>'
SYSTEM = '  <Principals>\n    <Principal id="Author">\n      <UserId>SYSTEM</UserId>\n    </Principal>\n  </Principals>'

# Inputs whose Windows export tests a [GUESS] of windows_rules.py.
PROBE_DOCUMENTS = {
    # No Principals: filled from the caller; no Date/Author: added or not?
    "minimal": task(ACTIONS),
    # Duration spellings (PT60M, PT24H, PT90S), defaults written explicitly, escapes.
    "spellings-and-defaults": task("""  <RegistrationInfo>
    <Description>Quotes "kept" &amp; &lt;escaped&gt; 'too' caf\u00e9</Description>
  </RegistrationInfo>
  <Triggers>
    <CalendarTrigger>
      <Enabled>true</Enabled>
      <StartBoundary>2026-01-05T09:30:00</StartBoundary>
      <EndBoundary>2030-01-05T09:30:00</EndBoundary>
      <ExecutionTimeLimit>PT90S</ExecutionTimeLimit>
      <Repetition>
        <Interval>PT60M</Interval>
        <Duration>PT24H</Duration>
        <StopAtDurationEnd>false</StopAtDurationEnd>
      </Repetition>
      <RandomDelay>PT0S</RandomDelay>
      <ScheduleByMonthDayOfWeek>
        <Weeks><Week>Last</Week><Week>2</Week></Weeks>
        <DaysOfWeek><Friday /><Monday /></DaysOfWeek>
        <Months><March /><January /></Months>
      </ScheduleByMonthDayOfWeek>
    </CalendarTrigger>
    <BootTrigger>
      <Delay>PT0S</Delay>
    </BootTrigger>
    <EventTrigger>
      <Subscription>&lt;QueryList&gt;&lt;Query Id="0" Path="Application"&gt;&lt;Select Path="Application"&gt;*[System[EventID=1000]]&lt;/Select&gt;&lt;/Query&gt;&lt;/QueryList&gt;</Subscription>
      <ValueQueries><Value name="id">Event/System/EventID</Value></ValueQueries>
    </EventTrigger>
  </Triggers>
  <Principals>
    <Principal id="Author">
      <UserId>NT AUTHORITY\\NETWORK SERVICE</UserId>
      <RunLevel>LeastPrivilege</RunLevel>
    </Principal>
  </Principals>
  <Settings>
    <MultipleInstancesPolicy>IgnoreNew</MultipleInstancesPolicy>
    <DisallowStartIfOnBatteries>true</DisallowStartIfOnBatteries>
    <StopIfGoingOnBatteries>true</StopIfGoingOnBatteries>
    <AllowHardTerminate>true</AllowHardTerminate>
    <StartWhenAvailable>false</StartWhenAvailable>
    <RunOnlyIfNetworkAvailable>false</RunOnlyIfNetworkAvailable>
    <IdleSettings>
      <Duration>PT10M</Duration>
      <WaitTimeout>PT1H</WaitTimeout>
      <StopOnIdleEnd>true</StopOnIdleEnd>
      <RestartOnIdle>false</RestartOnIdle>
    </IdleSettings>
    <AllowStartOnDemand>true</AllowStartOnDemand>
    <Enabled>true</Enabled>
    <Hidden>false</Hidden>
    <RunOnlyIfIdle>false</RunOnlyIfIdle>
    <WakeToRun>false</WakeToRun>
    <ExecutionTimeLimit>PT72H</ExecutionTimeLimit>
    <Priority>7</Priority>
    <DeleteExpiredTaskAfter>P30D</DeleteExpiredTaskAfter>
    <RestartOnFailure><Interval>PT60M</Interval><Count>2</Count></RestartOnFailure>
  </Settings>
  <Actions Context="Author">
    <Exec>
      <Command>C:\\Windows\\System32\\cmd.exe</Command>
      <Arguments>/c echo &quot;hi&quot; &amp; exit 0</Arguments>
      <WorkingDirectory>C:\\Windows\\Temp</WorkingDirectory>
    </Exec>
    <ComHandler>
      <ClassId>{A31AB5F7-9B44-4F1E-8C63-6BB5E1C2D8F0}</ClassId>
      <Data>payload</Data>
    </ComHandler>
  </Actions>""", "1.2"),
    "groups-and-service": task(
        '  <Principals>\n    <Principal id="Users">\n      <GroupId>BUILTIN\\Users</GroupId>\n'
        '      <RunLevel>HighestAvailable</RunLevel>\n    </Principal>\n  </Principals>\n'
        '  <Settings>\n    <UseUnifiedSchedulingEngine>true</UseUnifiedSchedulingEngine>\n'
        '    <Volatile>false</Volatile>\n  </Settings>\n'
        '  <Actions Context="Users">\n    <Exec>\n      <Command>notepad.exe</Command>\n    </Exec>\n  </Actions>', "1.4"),
}


@pytest.mark.parametrize("name", list(PROBE_DOCUMENTS))
def test_windows_writes_what_the_emulator_writes(folder: str, emulated: dict[str, str], tmp_path: Path, name: str) -> None:
    path = folder + name
    real, fake = both(tmp_path, "/Create", "/XML", "{file}", "/TN", path, "/F", xml=PROBE_DOCUMENTS[name])
    assert real.returncode == 0, text(real)
    assert fake.returncode == 0, text(fake)
    windows = decode_output(schtasks("/Query", "/TN", path, "/XML").stdout)
    emulated_text = decode_output(emulator("/Query", "/TN", path, "/XML").stdout)
    report("export", name=name, windows=windows, emulator=emulated_text)
    # Content first (which elements and values), then the exact text (order, layout).
    assert normalize.canonical(windows) == normalize.canonical(emulated_text)
    assert _leaves(windows) == _leaves(emulated_text), "\n".join(
        difflib.unified_diff(_leaves(emulated_text), _leaves(windows), "emulator", "windows", lineterm=""))
    assert windows.strip() == emulated_text.strip(), "\n".join(
        difflib.unified_diff(emulated_text.splitlines(), windows.splitlines(), "emulator", "windows", lineterm=""))


def _leaves(xml: str) -> list[str]:
    """Every element path with its text and attributes, sorted: content without order."""
    from reconciler.taskxml import parse

    out: list[str] = []

    def walk(element, prefix: str) -> None:
        name = prefix + "/" + element.tag.split("}")[-1]
        kids = [c for c in element if isinstance(c.tag, str)]
        out.append(f"{name} {sorted(element.attrib.items())} {'' if kids else (element.text or '')!r}")
        for child in kids:
            walk(child, name)

    walk(parse(xml), "")
    return sorted(out)


def test_probe_date_and_author_are_not_added(folder: str, tmp_path: Path) -> None:
    real = schtasks("/Create", "/XML", write(tmp_path, PROBE_DOCUMENTS["minimal"]), "/TN", folder + "d", "/F")
    assert real.returncode == 0, text(real)
    windows = decode_output(schtasks("/Query", "/TN", folder + "d", "/XML").stdout)
    added = [tag for tag in ("Date", "Author") if f"<{tag}>" in windows]
    report("date-author", added=added)
    assert added == []  # windows_rules.register_form: "Date/Author are not invented" [GUESS]


def test_probe_duration_spelling_is_kept(folder: str, tmp_path: Path) -> None:
    real = schtasks("/Create", "/XML", write(tmp_path, PROBE_DOCUMENTS["spellings-and-defaults"]),
                    "/TN", folder + "s", "/F")
    assert real.returncode == 0, text(real)
    windows = decode_output(schtasks("/Query", "/TN", folder + "s", "/XML").stdout)
    found = {tag: re.findall(f"<{tag}>(.*?)</{tag}>", windows) for tag in ("Interval", "Duration", "ExecutionTimeLimit")}
    report("durations", found=found)
    assert "PT60M" in found["Interval"] and "PT24H" in found["Duration"] and "PT90S" in found["ExecutionTimeLimit"]


def test_probe_query_one_with_tn_is_wrapped(folder: str, tmp_path: Path, emulated: dict[str, str]) -> None:
    real, _ = both(tmp_path, "/Create", "/XML", "{file}", "/TN", folder + "w", "/F", xml=PROBE_DOCUMENTS["minimal"])
    assert real.returncode == 0, text(real)
    windows = decode_output(schtasks("/Query", "/TN", folder + "w", "/XML", "ONE").stdout)
    report("tn-xml-one", output=windows)
    # The backend accepts both; the emulator's default says "wrapped" [GUESS].
    assert "<Tasks>" in windows
    assert f"<!-- {folder}w -->" in windows


def test_probe_console_encoding_and_non_ascii_paths(folder: str, tmp_path: Path) -> None:
    path = folder + "Caf\u00e9 t\u00e2che \u00ab\u00e9t\u00e9\u00bb"
    real = schtasks("/Create", "/XML", write(tmp_path, PROBE_DOCUMENTS["minimal"]), "/TN", path, "/F")
    assert real.returncode == 0, text(real)
    raw = schtasks("/Query", "/XML", "ONE").stdout
    kind = ("utf-16" if raw[:2] in (b"\xff\xfe", b"\xfe\xff") else
            "utf-8" if path.encode("utf-8") in raw else "other (OEM code page?)")
    report("console-encoding", kind=kind, head=raw[:120].hex())
    state = SchtasksBackend(folder, executable="schtasks.exe").read_state(folder)
    assert path.casefold() in state.tasks  # decode_output read it right, whatever it was
    assert state.tasks[path.casefold()].path == path


# Validation: the same document gives Windows and the emulator the same exit code and the
# same ERROR line (and the same (line,col) line, the least certain part).
def _settings(inner: str, version: str = "1.2") -> str:
    return task(SYSTEM + f"\n  <Settings>\n{inner}\n  </Settings>\n" + ACTIONS, version)


def _trigger(inner: str, version: str = "1.2") -> str:
    return task(SYSTEM + f"\n  <Triggers>\n{inner}\n  </Triggers>\n" + ACTIONS, version)


VALIDATION = {
    "boolean-FALSE": _settings("    <Enabled>FALSE</Enabled>"),
    "boolean-0": _settings("    <Hidden>0</Hidden>"),
    "engine-in-1.2": _settings("    <UseUnifiedSchedulingEngine>true</UseUnifiedSchedulingEngine>"),
    "volatile-in-1.3": _settings("    <Volatile>true</Volatile>", "1.3"),
    "interval-PT5S": _trigger("    <TimeTrigger>\n      <StartBoundary>2026-01-01T00:00:00</StartBoundary>\n"
                              "      <Repetition>\n        <Interval>PT5S</Interval>\n      </Repetition>\n    </TimeTrigger>"),
    "duration-equals-interval": _trigger(
        "    <TimeTrigger>\n      <StartBoundary>2026-01-01T00:00:00</StartBoundary>\n      <Repetition>\n"
        "        <Interval>PT10M</Interval>\n        <Duration>PT10M</Duration>\n      </Repetition>\n    </TimeTrigger>"),
    "end-before-start": _trigger("    <TimeTrigger>\n      <StartBoundary>2026-08-07T02:00:00</StartBoundary>\n"
                                 "      <EndBoundary>2026-08-06T02:00:00</EndBoundary>\n    </TimeTrigger>"),
    "time-trigger-without-start": _trigger("    <TimeTrigger />"),
    "49-triggers": _trigger("\n".join("    <BootTrigger />" for _ in range(49))),
    "33-actions": task(SYSTEM + '\n  <Actions Context="Author">\n'
                       + "\n".join("    <Exec><Command>a.exe</Command></Exec>" for _ in range(33)) + "\n  </Actions>"),
    "empty-actions": task(SYSTEM + '\n  <Actions Context="Author" />'),
    "hide-app-window": task(SYSTEM + '\n  <Actions Context="Author">\n    <Exec>\n      <Command>a.exe</Command>\n'
                            "      <HideAppWindow>true</HideAppWindow>\n    </Exec>\n  </Actions>", "1.4"),
    "empty-days-of-week": _trigger(
        "    <CalendarTrigger>\n      <StartBoundary>2026-01-01T09:00:00</StartBoundary>\n      <ScheduleByWeek>\n"
        "        <WeeksInterval>1</WeeksInterval>\n        <DaysOfWeek />\n      </ScheduleByWeek>\n    </CalendarTrigger>"),
    "user-and-group": task('  <Principals>\n    <Principal id="Author">\n      <UserId>SYSTEM</UserId>\n'
                           "      <GroupId>BUILTIN\\Users</GroupId>\n    </Principal>\n  </Principals>\n" + ACTIONS),
    "no-namespace": task(SYSTEM + "\n" + ACTIONS).replace(f' xmlns="{NS}"', ""),
    "version-1.7": task(SYSTEM + "\n" + ACTIONS, "1.7"),
    "malformed": task(SYSTEM + "\n  <Settings>\n" + ACTIONS),
}


@pytest.mark.parametrize("name", list(VALIDATION))
def test_probe_validation(folder: str, emulated: dict[str, str], tmp_path: Path, name: str) -> None:
    real, fake = both(tmp_path, "/Create", "/XML", "{file}", "/TN", folder + "v", "/F", xml=VALIDATION[name])
    windows, emulated_result = text(real), text(fake)
    report("validation", name=name, code=real.returncode, windows=windows, emulator=emulated_result)
    assert real.returncode == fake.returncode
    windows_lines = [ln for ln in (windows[1] + windows[0]).splitlines() if ln.strip()]
    emulator_lines = [ln for ln in (emulated_result[1] + emulated_result[0]).splitlines() if ln.strip()]
    assert windows_lines[:1] == emulator_lines[:1]
    assert windows_lines == emulator_lines


def test_probe_messages_and_exit_codes(folder: str, emulated: dict[str, str], tmp_path: Path) -> None:
    cases = {
        "create": ("/Create", "/XML", "{file}", "/TN", folder + "m", "/F"),
        "exists-without-f": ("/Create", "/XML", "{file}", "/TN", folder + "m"),
        "disable": ("/Change", "/TN", folder + "m", "/DISABLE"),
        "enable": ("/Change", "/TN", folder + "m", "/ENABLE"),
        "end-not-running": ("/End", "/TN", folder + "m"),
        "query-missing": ("/Query", "/TN", folder + "nope", "/XML"),
        "delete-missing": ("/Delete", "/TN", folder + "nope", "/F"),
        "delete": ("/Delete", "/TN", folder + "m", "/F"),
        "syntax-error": ("/Create", "/TN", folder + "x"),
    }
    for name, argv in cases.items():
        real, fake = both(tmp_path, *argv, xml=PROBE_DOCUMENTS["minimal"])
        report("message", name=name, code=real.returncode, windows=text(real), emulator=text(fake))
        assert real.returncode & 0xFFFFFFFF == fake.returncode & 0xFFFFFFFF, name
        assert [s.strip() for s in text(real)] == [s.strip() for s in text(fake)], name


# --- the round trip through the backend ---------------------------------------------
def _real_specs(root: str) -> list[TaskSpec]:
    from test_schtasks_backend import SPECS  # the emulator's round-trip cases

    me = f"{os.environ.get('USERDOMAIN', '.')}\\{os.environ.get('USERNAME', '')}"
    out = []
    for spec in SPECS:
        if spec.name == "gmsa":
            continue  # needs a real gMSA in a domain
        if spec.name == "every-trigger":  # CONTOSO\alice does not exist here: use this user
            triggers = tuple(dataclasses.replace(t, user_id=me) if getattr(t, "user_id", None) else t
                             for t in spec.triggers)
            spec = dataclasses.replace(spec, principal=Principal(user_id=me, logon_type="InteractiveToken",
                                                                 run_level="HighestAvailable"),
                                       triggers=triggers + (LogonTrigger(),))
        out.append(dataclasses.replace(spec, path=root + "Round\\" + spec.name))
    return out


def test_round_trip_through_windows(folder: str) -> None:
    backend = SchtasksBackend(folder, executable="schtasks.exe")
    rendered = [render.render(spec, folder, backend.resolve_account) for spec in _real_specs(folder)]
    for item in rendered:
        backend.register(item.path, item.xml)
    state = backend.read_state(folder)
    assert state.calls == 1
    for item in rendered:
        live = state.tasks[item.path.casefold()]
        report("round-trip", path=item.path, windows=live.xml)
        assert normalize.canonical(live.xml, backend.resolve_account) == item.canonical, item.path
    for item in rendered:
        backend.delete(item.path)
    assert backend.read_state(folder).tasks == {}
