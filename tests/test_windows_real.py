"""The real Windows Task Scheduler, through the real schtasks.exe (Windows CI only).

Run only when ``sys.platform == "win32"`` and ``RECONCILE_REAL_WINDOWS=1`` (the Windows
workflow sets it): every task is registered in a throw-away folder
``\\reconcile-ci-<run id>-<n>\\`` that is always removed afterwards.

Two kinds of tests:
- the round trip: a rendered task, registered through SchtasksBackend and read back,
  has the canonical form it was rendered with (the product's promise: it must pass);
- probes: the same input given to Windows and to the emulator (tests/emulator). Each
  one records what Windows did for one rule of windows_rules.py (Date and Author added
  or not, duration spellings kept, defaults dropped, element order and layout, the /XML
  ONE wrapper with /TN, the console encoding, which documents Windows refuses, messages,
  positions and exit codes) as confirmed or refuted. A probe fails only where Windows
  contradicts a documented fact (Microsoft's documentation, [MS-TSCH], the Task Scheduler
  schema, Wine's conformance tests); a refuted [GUESS] is evidence to correct the
  emulator's rule and its tag, not a red build.

With ``RECONCILE_PROBE_REPORT=FILE`` every probe appends one JSON line (probe, guess,
confirmed, the documented source if any, and what both sides did); the workflow uploads
the file and tests/probe_summary.py lists every guess confirmed or refuted in the job
summary."""
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


def probe(name: str, guess: str, confirmed: bool, documented: str | None = None, **facts: object) -> None:
    """Record whether Windows did what windows_rules.py says (``guess``); fail only when
    ``documented`` names the public source of the fact and Windows contradicts it."""
    report(name, guess=guess, confirmed=confirmed, documented=documented, **facts)
    if documented is not None:
        assert confirmed, f"{name}: Windows contradicts {documented}: {guess}\n{facts}"


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
    # Content first (which elements and values), then the exact text (order, layout).
    probe(f"export/{name}/canonical", "Windows' export has the canonical form of the emulator's",
          normalize.canonical(windows) == normalize.canonical(emulated_text))
    probe(f"export/{name}/elements", "Windows keeps, adds and drops the elements the emulator does",
          _leaves(windows) == _leaves(emulated_text),
          diff=list(difflib.unified_diff(_leaves(emulated_text), _leaves(windows), "emulator", "windows", lineterm="")))
    probe(f"export/{name}/text", "Windows writes the export byte for byte as the emulator (order, layout)",
          windows.strip() == emulated_text.strip(), windows=windows, emulator=emulated_text,
          diff=list(difflib.unified_diff(emulated_text.splitlines(), windows.splitlines(), "emulator", "windows",
                                         lineterm="")))


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
    probe("date-author", "registering XML does not add Date or Author (register_form)", added == [], added=added)


def test_probe_duration_spelling_is_kept(folder: str, tmp_path: Path) -> None:
    real = schtasks("/Create", "/XML", write(tmp_path, PROBE_DOCUMENTS["spellings-and-defaults"]),
                    "/TN", folder + "s", "/F")
    assert real.returncode == 0, text(real)
    windows = decode_output(schtasks("/Query", "/TN", folder + "s", "/XML").stdout)
    found = {tag: re.findall(f"<{tag}>(.*?)</{tag}>", windows) for tag in ("Interval", "Duration", "ExecutionTimeLimit")}
    probe("durations", "duration spellings are kept as written (PT60M, PT24H, PT90S)",
          "PT60M" in found["Interval"] and "PT24H" in found["Duration"] and "PT90S" in found["ExecutionTimeLimit"],
          found=found)


def test_probe_query_one_with_tn_is_wrapped(folder: str, tmp_path: Path, emulated: dict[str, str]) -> None:
    real, _ = both(tmp_path, "/Create", "/XML", "{file}", "/TN", folder + "w", "/F", xml=PROBE_DOCUMENTS["minimal"])
    assert real.returncode == 0, text(real)
    windows = decode_output(schtasks("/Query", "/TN", folder + "w", "/XML", "ONE").stdout)
    # The backend accepts both forms; the emulator's default says "wrapped".
    probe("tn-xml-one", "/Query /TN X /XML ONE wraps the task in <Tasks> with its <!-- path --> comment",
          "<Tasks>" in windows and f"<!-- {folder}w -->" in windows, output=windows)


def test_probe_console_encoding_and_non_ascii_paths(folder: str, tmp_path: Path) -> None:
    path = folder + "Caf\u00e9 t\u00e2che \u00ab\u00e9t\u00e9\u00bb"
    real = schtasks("/Create", "/XML", write(tmp_path, PROBE_DOCUMENTS["minimal"]), "/TN", path, "/F")
    assert real.returncode == 0, text(real)
    raw = schtasks("/Query", "/XML", "ONE").stdout
    kind = ("utf-16" if raw[:2] in (b"\xff\xfe", b"\xfe\xff") else
            "utf-8" if path.encode("utf-8") in raw else "other (OEM code page?)")
    probe("console-encoding", "schtasks writes UTF-16 with a BOM to a pipe (the emulator's default)",
          kind == "utf-16", kind=kind, head=raw[:120].hex())
    state = SchtasksBackend(folder, executable="schtasks.exe").read_state(folder)  # the product: must read it
    assert path.casefold() in state.tasks  # decode_output read it right, whatever it was
    assert state.tasks[path.casefold()].path == path


# Validation: the same document given to Windows and to the emulator. Where Microsoft
# documents that Windows refuses it (the source is named), Windows must refuse it; whether
# Windows accepts the others, and the exact ERROR and (line,col) lines, are recorded.
def _settings(inner: str, version: str = "1.2") -> str:
    return task(SYSTEM + f"\n  <Settings>\n{inner}\n  </Settings>\n" + ACTIONS, version)


def _trigger(inner: str, version: str = "1.2") -> str:
    return task(SYSTEM + f"\n  <Triggers>\n{inner}\n  </Triggers>\n" + ACTIONS, version)


def _repetition(interval: str, duration: str) -> str:
    return _trigger("    <TimeTrigger>\n      <StartBoundary>2026-01-01T00:00:00</StartBoundary>\n      <Repetition>\n"
                    f"        <Interval>{interval}</Interval>\n        <Duration>{duration}</Duration>\n"
                    "      </Repetition>\n    </TimeTrigger>")


def _maintenance(period: str, deadline: str) -> str:
    return _settings("    <UseUnifiedSchedulingEngine>true</UseUnifiedSchedulingEngine>\n    <MaintenanceSettings>"
                     f"<Period>{period}</Period><Deadline>{deadline}</Deadline></MaintenanceSettings>", "1.4")


SCHEMA = "the Task Scheduler schema (Microsoft Learn)"
# name: (document, the public source documenting that Windows refuses it, or None)
VALIDATION: dict[str, tuple[str, str | None]] = {
    "boolean-FALSE": (_settings("    <Enabled>FALSE</Enabled>"), "Wine's taskschd conformance tests"),
    "boolean-0": (_settings("    <Hidden>0</Hidden>"), None),
    "engine-in-1.2": (_settings("    <UseUnifiedSchedulingEngine>true</UseUnifiedSchedulingEngine>"),
                      "[MS-TSCH] 2.5.4 (a v1.3 setting)"),
    "volatile-in-1.3": (_settings("    <Volatile>true</Volatile>", "1.3"), "[MS-TSCH] 2.5.4 (a v1.4 setting)"),
    "interval-PT5S": (_trigger("    <TimeTrigger>\n      <StartBoundary>2026-01-01T00:00:00</StartBoundary>\n"
                               "      <Repetition>\n        <Interval>PT5S</Interval>\n      </Repetition>\n"
                               "    </TimeTrigger>"), SCHEMA + ", repetitionType: Interval at least PT1M"),
    "duration-equals-interval": (_repetition("PT10M", "PT10M"), None),
    "duration-below-interval": (_repetition("PT1H", "PT30M"), None),
    "end-before-start": (_trigger("    <TimeTrigger>\n      <StartBoundary>2026-08-07T02:00:00</StartBoundary>\n"
                                  "      <EndBoundary>2026-08-06T02:00:00</EndBoundary>\n    </TimeTrigger>"), None),
    "time-trigger-without-start": (_trigger("    <TimeTrigger />"),
                                   "StartBoundary (triggerBaseType) Element: required for time and calendar triggers"),
    "49-triggers": (_trigger("\n".join("    <BootTrigger />" for _ in range(49))), SCHEMA + ", triggersType: at most 48"),
    "33-actions": (task(SYSTEM + '\n  <Actions Context="Author">\n'
                        + "\n".join("    <Exec><Command>a.exe</Command></Exec>" for _ in range(33)) + "\n  </Actions>"),
                   SCHEMA + ", actionsType: at most 32"),
    "empty-actions": (task(SYSTEM + '\n  <Actions Context="Author" />'), "Wine's taskschd conformance tests"),
    "hide-app-window": (task(SYSTEM + '\n  <Actions Context="Author">\n    <Exec>\n      <Command>a.exe</Command>\n'
                             "      <HideAppWindow>true</HideAppWindow>\n    </Exec>\n  </Actions>", "1.4"), None),
    "empty-days-of-week": (_trigger(
        "    <CalendarTrigger>\n      <StartBoundary>2026-01-01T09:00:00</StartBoundary>\n      <ScheduleByWeek>\n"
        "        <WeeksInterval>1</WeeksInterval>\n        <DaysOfWeek />\n      </ScheduleByWeek>\n    </CalendarTrigger>"),
        "[MS-TSCH] 3.2.5.4.2"),
    "user-and-group": (task('  <Principals>\n    <Principal id="Author">\n      <UserId>SYSTEM</UserId>\n'
                            "      <GroupId>BUILTIN\\Users</GroupId>\n    </Principal>\n  </Principals>\n" + ACTIONS),
                       "[MS-TSCH] 3.2.5.4.2"),
    "no-namespace": (task(SYSTEM + "\n" + ACTIONS).replace(f' xmlns="{NS}"', ""), "Wine's taskschd conformance tests"),
    "version-1.7": (task(SYSTEM + "\n" + ACTIONS, "1.7"), None),
    "malformed": (task(SYSTEM + "\n  <Settings>\n" + ACTIONS), "SCHED_E_MALFORMEDXML (Task Scheduler Error and Success Constants)"),
    # The rules validate now enforces (reconciler/compile_rules.py).
    "delete-expired-without-end": (_settings("    <DeleteExpiredTaskAfter>P1D</DeleteExpiredTaskAfter>").replace(
        SYSTEM, SYSTEM + "\n  <Triggers>\n    <BootTrigger />\n  </Triggers>"), None),
    "maintenance-period-PT1H": (_maintenance("PT1H", "P2D"), SCHEMA + ", maintenanceSettingsType: Period at least P1D"),
    "maintenance-deadline-not-after-period": (_maintenance("P2D", "P2D"), None),
    "period-of-occurrence-PT30S": (_trigger(
        "    <EventTrigger>\n      <Subscription>&lt;QueryList&gt;&lt;Query Id=\"0\" Path=\"Application\"&gt;&lt;Select "
        "Path=\"Application\"&gt;*&lt;/Select&gt;&lt;/Query&gt;&lt;/QueryList&gt;</Subscription>\n"
        "      <PeriodOfOccurrence>PT30S</PeriodOfOccurrence>\n      <NumberOfOccurrences>2</NumberOfOccurrences>\n"
        "    </EventTrigger>"), None),
    "bare-xpath-subscription": (_trigger(
        "    <EventTrigger>\n      <Subscription>*[System[EventID=1000]]</Subscription>\n    </EventTrigger>"), None),
    "dot-account": (task('  <Principals>\n    <Principal id="Author">\n'
                         f"      <UserId>.\\{os.environ.get('USERNAME', 'runneradmin')}</UserId>\n"
                         "      <LogonType>InteractiveToken</LogonType>\n    </Principal>\n  </Principals>\n" + ACTIONS),
                    None),
}


@pytest.mark.parametrize("name", list(VALIDATION))
def test_probe_validation(folder: str, emulated: dict[str, str], tmp_path: Path, name: str) -> None:
    document, documented = VALIDATION[name]
    real, fake = both(tmp_path, "/Create", "/XML", "{file}", "/TN", folder + "v", "/F", xml=document)
    windows, emulated_result = text(real), text(fake)
    windows_lines = [ln for ln in (windows[1] + windows[0]).splitlines() if ln.strip()]
    emulator_lines = [ln for ln in (emulated_result[1] + emulated_result[0]).splitlines() if ln.strip()]
    facts = dict(code=real.returncode, emulator_code=fake.returncode, windows=windows_lines, emulator=emulator_lines)
    if documented is not None:
        probe(f"validation/{name}/refused", "Windows refuses it", real.returncode != 0, documented, **facts)
    probe(f"validation/{name}/outcome", "Windows " + ("refuses" if fake.returncode else "accepts") + " it, as the emulator",
          (real.returncode == 0) == (fake.returncode == 0), **facts)
    if real.returncode and fake.returncode:
        probe(f"validation/{name}/message", "the same ERROR line (HRESULT text)", windows_lines[:1] == emulator_lines[:1],
              **facts)
        probe(f"validation/{name}/position", "the same (line,col):Element:value line",
              windows_lines[1:] == emulator_lines[1:], **facts)


# Exit codes: 0 for what succeeded, non-zero for a failure (schtasks /? and Wine's
# conformance tests); the texts and the exact codes are recorded.
MESSAGES = {
    # name: (argv, succeeds: a documented outcome, or None)
    "create": (("/Create", "/XML", "{file}", "/TN", "{folder}m", "/F"), True),
    "exists-without-f": (("/Create", "/XML", "{file}", "/TN", "{folder}m"), False),
    "disable": (("/Change", "/TN", "{folder}m", "/DISABLE"), True),
    "enable": (("/Change", "/TN", "{folder}m", "/ENABLE"), True),
    "end-not-running": (("/End", "/TN", "{folder}m"), None),
    "query-missing": (("/Query", "/TN", "{folder}nope", "/XML"), False),
    "delete-missing": (("/Delete", "/TN", "{folder}nope", "/F"), False),
    "delete": (("/Delete", "/TN", "{folder}m", "/F"), True),
    "syntax-error": (("/Create", "/TN", "{folder}x"), False),
}


def test_probe_messages_and_exit_codes(folder: str, emulated: dict[str, str], tmp_path: Path) -> None:
    for name, (argv, succeeds) in MESSAGES.items():
        real, fake = both(tmp_path, *(a.replace("{folder}", folder) for a in argv), xml=PROBE_DOCUMENTS["minimal"])
        facts = dict(code=real.returncode, emulator_code=fake.returncode, windows=text(real), emulator=text(fake))
        if succeeds is not None:
            probe(f"message/{name}/outcome", "succeeds" if succeeds else "fails", (real.returncode == 0) == succeeds,
                  "schtasks /? and Wine's schtasks conformance tests", **facts)
        probe(f"message/{name}/exit-code", "the emulator's exit code",
              real.returncode & 0xFFFFFFFF == fake.returncode & 0xFFFFFFFF, **facts)
        probe(f"message/{name}/text", "the emulator's text", [s.strip() for s in text(real)] == [s.strip() for s in text(fake)],
              **facts)


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
