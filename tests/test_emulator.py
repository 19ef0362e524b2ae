"""The schtasks emulator (tests/emulator): Windows' documented validation, the way
Windows re-serialises a registered task, the /Query output formats, and fault injection.

Most tests call the emulator's ``main`` in-process (fast); a few run it as the separate
process the backend starts."""
from __future__ import annotations

import contextlib
import io
import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from lxml import etree

EMULATOR_DIR = Path(__file__).resolve().parent / "emulator"
EMULATOR = EMULATOR_DIR / "schtasks_emulator.py"
sys.path.insert(0, str(EMULATOR_DIR))

import schtasks_emulator as emulator  # noqa: E402
import windows_rules as rules  # noqa: E402

NS = rules.TASK_NS


def task_xml(body: str, version: str = "1.2", declaration: bool = True) -> str:
    """A task document; ``body`` goes inside <Task>. Two-space indentation, like the
    files Windows users export."""
    head = '<?xml version="1.0" encoding="UTF-16"?>\n' if declaration else ""
    version_attribute = f' version="{version}"' if version else ""
    return f'{head}<Task{version_attribute} xmlns="{NS}">\n{body}\n</Task>\n'


ACTIONS = """  <Actions Context="Author">
    <Exec>
      <Command>C:\\jobs\\run.exe</Command>
    </Exec>
  </Actions>"""
PRINCIPAL = """  <Principals>
    <Principal id="Author">
      <UserId>SYSTEM</UserId>
    </Principal>
  </Principals>"""


def simple(extra: str = "", version: str = "1.2") -> str:
    return task_xml(PRINCIPAL + "\n" + extra + ("\n" if extra else "") + ACTIONS, version)


def with_settings(settings: str, version: str = "1.2") -> str:
    return simple(f"  <Settings>\n{settings}\n  </Settings>", version)


def with_trigger(trigger: str, version: str = "1.2") -> str:
    return simple(f"  <Triggers>\n{trigger}\n  </Triggers>", version)


@dataclass
class Result:
    code: int
    out: str
    err: str
    raw_out: bytes


class Emulator:
    """Calls the emulator in-process with its own environment (never os.environ)."""

    def __init__(self, tmp_path: Path, **env: str) -> None:
        self.dir = tmp_path
        self.state = tmp_path / "machine"
        self.env = {"SCHTASKS_EMULATOR_STATE": str(self.state), "SCHTASKS_EMULATOR_SEED": "0",
                    **env}
        self.files = 0

    def __call__(self, *argv: str, stdin: str = "", **env: str) -> Result:
        out, err = io.BytesIO(), io.BytesIO()
        code = emulator.main(list(argv), env={**self.env, **env}, stdin=io.StringIO(stdin),
                             stdout=out, stderr=err)
        return Result(code, self.decode(out.getvalue()), self.decode(err.getvalue()), out.getvalue())

    @staticmethod
    def decode(raw: bytes) -> str:
        """The emulator's console bytes: UTF-16 with a BOM, UTF-8, or else the console
        code page (the default)."""
        if raw.startswith(b"\xff\xfe"):
            return raw[2:].decode("utf-16-le")
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return raw.decode(rules.CONSOLE_ENCODING)

    def file(self, text: str | bytes, encoding: str = "utf-16") -> str:
        self.files += 1
        path = self.dir / f"task{self.files}.xml"
        if isinstance(text, bytes):
            path.write_bytes(text)
        elif encoding == "utf-16":
            path.write_bytes(b"\xff\xfe" + text.encode("utf-16-le"))
        else:
            path.write_bytes(text.encode(encoding))
        return str(path)

    def create(self, tn: str, text: str | bytes, *extra: str, encoding: str = "utf-16", **env: str) -> Result:
        return self("/Create", "/XML", self.file(text, encoding), "/TN", tn, *extra, **env)

    def query_task(self, tn: str, **env: str) -> etree._Element:
        result = self("/Query", "/TN", tn, "/XML", **env)
        assert result.code == 0, result.err
        body = re.sub(r"^<\?xml[^>]*\?>", "", result.out)
        return etree.fromstring(body.encode("utf-8"))

    def calls(self) -> list[dict]:
        log = self.state / "calls.log"
        return [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]


@pytest.fixture
def emu(tmp_path: Path) -> Emulator:
    return Emulator(tmp_path)


def find(task: etree._Element, path: str) -> etree._Element | None:
    return task.find("/".join(f"{{{NS}}}{p}" for p in path.split("/")))


def texts(task: etree._Element, path: str) -> list[str]:
    return [e.text or "" for e in task.findall("/".join(f"{{{NS}}}{p}" for p in path.split("/")))]


# --- validation ---------------------------------------------------------------------
INVALID = "ERROR: The task XML contains a value which is incorrectly formatted or out of range."
UNEXPECTED = "ERROR: The task XML contains an unexpected node."
MISSING = "ERROR: The task XML is missing a required element or attribute."
NAMESPACE = "ERROR: The task XML contains an element or attribute from an unexpected namespace."
MALFORMED = "ERROR: The task XML is malformed."
TOO_MANY = "ERROR: The task XML contains too many nodes of the same type."

REPETITION = """    <TimeTrigger>
      <StartBoundary>2026-01-01T09:00:00</StartBoundary>
      <Repetition>
        <Interval>{interval}</Interval>{duration}
      </Repetition>
    </TimeTrigger>"""


def repetition(interval: str, duration: str | None = None) -> str:
    extra = f"\n        <Duration>{duration}</Duration>" if duration else ""
    return with_trigger(REPETITION.format(interval=interval, duration=extra))


def trigger_block(n: int) -> str:
    return "\n".join("    <BootTrigger />" for _ in range(n))


def actions_block(n: int) -> str:
    execs = "\n".join("    <Exec><Command>a.exe</Command></Exec>" for _ in range(n))
    return f"  <Actions Context=\"Author\">\n{execs}\n  </Actions>"


CASES = [
    # (id, document, first line, second line: a regex, or None)
    ("no-namespace", '<?xml version="1.0"?>\n<Task version="1.2"><Actions><Exec><Command>a</Command></Exec></Actions></Task>',
     NAMESPACE, r"^\(2,2\):Task:$"),
    ("root-element", f'<TASK version="1.2" xmlns="{NS}"><Actions><Exec><Command>a</Command></Exec></Actions></TASK>',
     UNEXPECTED, r":TASK:$"),
    ("foreign-namespace-child", simple('  <x:Extra xmlns:x="urn:other" />'), NAMESPACE, r":Extra:$"),
    ("no-actions", task_xml(PRINCIPAL), MISSING, r":Actions:$"),
    ("empty-actions", task_xml(PRINCIPAL + '\n  <Actions Context="Author" />'), MISSING, r":Actions:$"),
    ("malformed", task_xml("  <Settings>\n" + ACTIONS), MALFORMED, r"^\(\d+,\d+\)::ERROR: "),
    ("empty-file", "", MALFORMED, r"^\(1,1\)::ERROR: "),
    ("xxe", '<?xml version="1.0"?>\n<!DOCTYPE Task [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n'
     f'<Task xmlns="{NS}"><RegistrationInfo><Description>&x;</Description></RegistrationInfo>{ACTIONS}</Task>',
     MALFORMED, r"^\(2,1\)::ERROR: DTD is prohibited$"),
    ("boolean-FALSE", with_settings("    <Enabled>FALSE</Enabled>"), INVALID, r"^\(\d+,\d+\):Enabled:FALSE$"),
    ("boolean-0", with_settings("    <Hidden>0</Hidden>"), INVALID, r":Hidden:0$"),
    ("boolean-True", with_trigger("    <BootTrigger><Enabled>True</Enabled></BootTrigger>"), INVALID, r":Enabled:True$"),
    ("engine-needs-1.3", with_settings("    <UseUnifiedSchedulingEngine>true</UseUnifiedSchedulingEngine>"),
     UNEXPECTED, r":UseUnifiedSchedulingEngine:$"),
    ("remote-app-needs-1.3", with_settings("    <DisallowStartOnRemoteAppSession>true</DisallowStartOnRemoteAppSession>"),
     UNEXPECTED, r":DisallowStartOnRemoteAppSession:$"),
    ("volatile-needs-1.4", with_settings("    <Volatile>true</Volatile>", "1.3"), UNEXPECTED, r":Volatile:$"),
    ("maintenance-needs-1.4", with_settings(
        "    <UseUnifiedSchedulingEngine>true</UseUnifiedSchedulingEngine>\n"
        "    <MaintenanceSettings><Period>P1D</Period><Deadline>P2D</Deadline></MaintenanceSettings>", "1.3"),
     UNEXPECTED, r":MaintenanceSettings:$"),
    ("maintenance-needs-engine", with_settings(
        "    <MaintenanceSettings><Period>P1D</Period><Deadline>P2D</Deadline></MaintenanceSettings>", "1.4"),
     INVALID, r":MaintenanceSettings:$"),
    ("version-too-new", simple(version="1.7"), INVALID, r"^\(2,8\):version:1\.7$"),
    ("version-garbage", simple(version="one"), INVALID, r"^\(2,8\):version:one$"),
    ("interval-sub-minute", repetition("PT5S"), INVALID, r"^\(\d+,24\):Interval:PT5S$"),
    ("interval-over-31-days", repetition("P32D"), INVALID, r":Interval:P32D$"),
    ("duration-sub-minute", repetition("PT1M", "PT30S"), INVALID, r":Duration:PT30S$"),
    ("duration-below-interval", repetition("PT1H", "PT30M"), INVALID, r":Duration:PT30M$"),
    ("duration-huge", repetition("PT1M", "P99999999DT23H59M59S"), INVALID, r":Duration:P99999999DT23H59M59S$"),
    ("duration-not-iso", with_settings("    <ExecutionTimeLimit>72h</ExecutionTimeLimit>"), INVALID,
     r":ExecutionTimeLimit:72h$"),
    ("repetition-without-interval", with_trigger(
        "    <BootTrigger><Repetition><Duration>PT1H</Duration></Repetition></BootTrigger>"), MISSING, r":Interval:$"),
    ("49-triggers", simple(f"  <Triggers>\n{trigger_block(49)}\n  </Triggers>"), TOO_MANY, r":BootTrigger:$"),
    ("33-actions", task_xml(PRINCIPAL + "\n" + actions_block(33)), TOO_MANY, r":Exec:$"),
    ("end-before-start", with_trigger(
        "    <TimeTrigger>\n      <StartBoundary>2026-08-07T02:00:00</StartBoundary>\n"
        "      <EndBoundary>2026-08-06T02:00:00</EndBoundary>\n    </TimeTrigger>"),
     INVALID, r"^\(11,40\):EndBoundary:2026-08-06T02:00:00$"),  # the "/" of </EndBoundary>
    ("bad-datetime", with_trigger("    <TimeTrigger><StartBoundary>2026-02-30T09:00:00</StartBoundary></TimeTrigger>"),
     INVALID, r":StartBoundary:2026-02-30T09:00:00$"),
    ("unknown-element", with_settings("    <Colour>blue</Colour>"), UNEXPECTED, r":Colour:$"),
    ("hide-app-window", task_xml(PRINCIPAL + """
  <Actions Context="Author">
    <Exec>
      <Command>a.exe</Command>
      <HideAppWindow>true</HideAppWindow>
    </Exec>
  </Actions>""", "1.4"), UNEXPECTED, r":HideAppWindow:$"),
    ("time-trigger-without-start", with_trigger("    <TimeTrigger />"), MISSING, r":StartBoundary:$"),
    ("calendar-trigger-without-start", with_trigger(
        "    <CalendarTrigger><ScheduleByDay><DaysInterval>1</DaysInterval></ScheduleByDay></CalendarTrigger>"),
     MISSING, r":StartBoundary:$"),
    ("calendar-without-schedule", with_trigger(
        "    <CalendarTrigger><StartBoundary>2026-01-01T09:00:00</StartBoundary></CalendarTrigger>"),
     MISSING, r":ScheduleByDay:$"),
    ("empty-days-of-week", with_trigger(
        "    <CalendarTrigger><StartBoundary>2026-01-01T09:00:00</StartBoundary>"
        "<ScheduleByWeek><WeeksInterval>1</WeeksInterval><DaysOfWeek /></ScheduleByWeek></CalendarTrigger>"),
     MISSING, r":DaysOfWeek:$"),
    ("no-days-of-week", with_trigger(
        "    <CalendarTrigger><StartBoundary>2026-01-01T09:00:00</StartBoundary>"
        "<ScheduleByWeek><WeeksInterval>1</WeeksInterval></ScheduleByWeek></CalendarTrigger>"),
     MISSING, r":DaysOfWeek:$"),
    ("empty-months", with_trigger(
        "    <CalendarTrigger><StartBoundary>2026-01-01T09:00:00</StartBoundary>"
        "<ScheduleByMonth><DaysOfMonth><Day>1</Day></DaysOfMonth><Months></Months></ScheduleByMonth></CalendarTrigger>"),
     MISSING, r":Months:$"),
    ("empty-weeks", with_trigger(
        "    <CalendarTrigger><StartBoundary>2026-01-01T09:00:00</StartBoundary><ScheduleByMonthDayOfWeek>"
        "<Weeks /><DaysOfWeek><Friday /></DaysOfWeek></ScheduleByMonthDayOfWeek></CalendarTrigger>"),
     MISSING, r":Weeks:$"),
    ("bad-day-of-month", with_trigger(
        "    <CalendarTrigger><StartBoundary>2026-01-01T09:00:00</StartBoundary>"
        "<ScheduleByMonth><DaysOfMonth><Day>32</Day></DaysOfMonth></ScheduleByMonth></CalendarTrigger>"),
     INVALID, r":Day:32$"),
    ("user-and-group", task_xml("""  <Principals>
    <Principal id="Author">
      <UserId>SYSTEM</UserId>
      <GroupId>BUILTIN\\Users</GroupId>
    </Principal>
  </Principals>
""" + ACTIONS), UNEXPECTED, r":GroupId:$"),
    ("priority-out-of-range", with_settings("    <Priority>11</Priority>"), INVALID, r":Priority:11$"),
    ("bad-logon-type", task_xml(PRINCIPAL.replace("</UserId>", "</UserId><LogonType>Batch</LogonType>") + "\n" + ACTIONS),
     INVALID, r":LogonType:Batch$"),
    ("two-settings", simple("  <Settings />\n  <Settings />"), UNEXPECTED, r":Settings:$"),
    ("send-email-deprecated", task_xml(PRINCIPAL + '\n  <Actions Context="Author"><SendEmail /></Actions>'),
     "ERROR: The task definition uses a deprecated feature.", r":SendEmail:$"),
    ("exec-without-command", task_xml(PRINCIPAL + '\n  <Actions Context="Author"><Exec /></Actions>'),
     MISSING, r":Command:$"),
    ("restart-needs-count", with_settings("    <RestartOnFailure><Interval>PT5M</Interval></RestartOnFailure>"),
     MISSING, r":Count:$"),
    ("unknown-attribute", simple().replace('<Principal id="Author">', '<Principal id="Author" colour="x">'),
     UNEXPECTED, r":colour:$"),
]


@pytest.mark.parametrize("document, first, second", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_validation_errors(emu: Emulator, document: str, first: str, second: str) -> None:
    result = emu.create("\\Orchestrator\\bad", document)
    assert result.code == 1
    assert result.out == ""
    lines = result.err.splitlines()
    assert lines[0] == first
    assert re.search(second, lines[1]), lines
    assert emu("/Query", "/TN", "\\Orchestrator\\bad", "/XML").code == 1  # nothing stored


def test_position_matches_windows_example(emu: Emulator) -> None:
    # The reference's example "(29,24):Interval:PT5S": Interval on line 29, indented 8.
    filler = "\n".join("  <!-- line -->" for _ in range(21))
    document = task_xml(filler + "\n" + PRINCIPAL.replace("\n", " ") + "\n  <Triggers>\n" +
                        REPETITION.format(interval="PT5S", duration="") + "\n  </Triggers>\n" + ACTIONS)
    assert document.splitlines()[28].strip() == "<Interval>PT5S</Interval>"
    result = emu.create("\\x", document)
    assert result.err.splitlines()[1] == "(29,24):Interval:PT5S"


@pytest.mark.parametrize("document", [
    with_trigger(trigger_block(48)),
    task_xml(PRINCIPAL + "\n" + actions_block(32)),
    repetition("PT1M", "PT2M"),
    repetition("PT10M", "PT10M"),  # two starts: IRepetitionPattern counts both ends
    repetition("P31D"),
    with_settings("    <Volatile>false</Volatile>", "1.4"),
    with_settings("    <UseUnifiedSchedulingEngine>true</UseUnifiedSchedulingEngine>\n"
                  "    <MaintenanceSettings><Period>P1D</Period><Deadline>P2D</Deadline></MaintenanceSettings>", "1.4"),
    task_xml('  <RegistrationInfo />\n  <Settings />\n' + ACTIONS),  # empty containers: fine
    task_xml(ACTIONS, declaration=False),  # no declaration: fine
    task_xml(ACTIONS, version=""),  # no version attribute: fine
    with_settings("    <ExecutionTimeLimit>P3650D</ExecutionTimeLimit>"),
], ids=["48-triggers", "32-actions", "duration-above-interval", "duration-equals-interval", "interval-31-days", "volatile-1.4",
        "maintenance-1.4", "empty-containers", "no-declaration", "no-version", "P3650D"])
def test_valid_documents(emu: Emulator, document: str) -> None:
    result = emu.create("\\Orchestrator\\ok", document)
    assert result.code == 0, result.err
    assert result.out == 'SUCCESS: The scheduled task "\\Orchestrator\\ok" has successfully been created.\n'


def test_file_encodings(emu: Emulator) -> None:
    document = simple().replace('encoding="UTF-16"', 'encoding="UTF-8"')
    assert emu.create("\\a", document, encoding="utf-8").code == 0
    ansi = simple().replace('<?xml version="1.0" encoding="UTF-16"?>', '<?xml version="1.0"?>')
    assert emu.create("\\b", ansi.replace("run.exe", "caf\u00e9.exe"), encoding="cp1252").code == 0
    assert texts(emu.query_task("\\b"), "Actions/Exec/Command") == ["C:\\jobs\\caf\u00e9.exe"]
    # UTF-8 bytes behind a UTF-16 declaration: refused (reference §2.5).
    lying = emu.create("\\c", simple(), encoding="utf-8")
    assert lying.code == 1
    assert lying.err.splitlines() == [MALFORMED, "(1,40)::ERROR: cannot switch the encoding"]
    missing = emu("/Create", "/XML", str(emu.dir / "nope.xml"), "/TN", "\\d")
    assert (missing.code, missing.err) == (1, "ERROR: The system cannot find the file specified.\n")


# --- what registration changes -------------------------------------------------------
FULL = task_xml("""  <RegistrationInfo>
    <Description>Quotes "kept" &amp; &lt;escaped&gt; &apos;too&apos;</Description>
    <URI>\\Somewhere\\else</URI>
  </RegistrationInfo>
  <Triggers>
    <CalendarTrigger>
      <Enabled>true</Enabled>
      <StartBoundary>2026-01-05T09:30:00</StartBoundary>
      <Repetition>
        <Interval>PT15M</Interval>
        <Duration>PT8H</Duration>
        <StopAtDurationEnd>false</StopAtDurationEnd>
      </Repetition>
      <RandomDelay>PT0S</RandomDelay>
      <ScheduleByWeek>
        <WeeksInterval>1</WeeksInterval>
        <DaysOfWeek>
          <Friday />
          <Monday />
        </DaysOfWeek>
      </ScheduleByWeek>
    </CalendarTrigger>
    <LogonTrigger>
      <Enabled>false</Enabled>
      <UserId>CONTOSO\\alice</UserId>
    </LogonTrigger>
  </Triggers>
  <Principals>
    <Principal id="Author">
      <UserId>NT AUTHORITY\\NETWORK SERVICE</UserId>
      <LogonType>InteractiveToken</LogonType>
      <RunLevel>LeastPrivilege</RunLevel>
    </Principal>
  </Principals>
  <Settings>
    <MultipleInstancesPolicy>Queue</MultipleInstancesPolicy>
    <AllowStartOnDemand>true</AllowStartOnDemand>
    <Enabled>true</Enabled>
    <Hidden>false</Hidden>
    <ExecutionTimeLimit>P3D</ExecutionTimeLimit>
    <Priority>7</Priority>
    <WakeToRun>true</WakeToRun>
    <IdleSettings>
      <Duration>PT10M</Duration>
    </IdleSettings>
  </Settings>
  <Actions Context="Author">
    <Exec>
      <Command>C:\\Program Files\\App\\app.exe</Command>
      <Arguments>--name &quot;daily book&quot; --and &amp;</Arguments>
    </Exec>
    <ComHandler>
      <ClassId>{A31AB5F7-9B44-4F1E-8C63-6BB5E1C2D8F0}</ClassId>
      <Data>payload</Data>
    </ComHandler>
  </Actions>""")


def test_registration_rewrites_like_windows(emu: Emulator) -> None:
    assert emu.create("\\Orchestrator\\full", FULL).code == 0
    task = emu.query_task("\\Orchestrator\\full")
    assert texts(task, "RegistrationInfo/URI") == ["\\Orchestrator\\full"]
    assert find(task, "RegistrationInfo/Date") is None and find(task, "RegistrationInfo/Author") is None
    principal = find(task, "Principals/Principal")
    assert [(etree.QName(c).localname, c.text) for c in principal] == [("UserId", "S-1-5-20")]
    settings = {etree.QName(c).localname: c.text for c in find(task, "Settings")}
    assert set(settings) == {"DisallowStartIfOnBatteries", "StopIfGoingOnBatteries",
                             "MultipleInstancesPolicy", "WakeToRun", "IdleSettings"}
    assert settings["MultipleInstancesPolicy"] == "Queue"
    assert texts(task, "Settings/IdleSettings/Duration") == ["PT10M"]  # kept as given
    assert texts(task, "Settings/IdleSettings/StopOnIdleEnd") == ["true"]
    calendar = find(task, "Triggers/CalendarTrigger")
    assert [etree.QName(c).localname for c in calendar] == ["StartBoundary", "Repetition", "ScheduleByWeek"]
    assert [etree.QName(c).localname for c in find(calendar, "Repetition")] == ["Interval", "Duration"]
    assert [etree.QName(c).localname for c in find(calendar, "ScheduleByWeek/DaysOfWeek")] == ["Monday", "Friday"]
    logon = find(task, "Triggers/LogonTrigger")
    assert texts(logon, "Enabled") == ["false"]
    assert re.match(r"^S-1-5-21-\d+-\d+-\d+-\d+$", texts(logon, "UserId")[0])
    assert texts(task, "Actions/Exec/Arguments") == ['--name "daily book" --and &']
    assert texts(task, "RegistrationInfo/Description") == ["Quotes \"kept\" & <escaped> 'too'"]


def test_layout_bytes(emu: Emulator) -> None:
    assert emu.create("\\Orchestrator\\full", FULL).code == 0
    default = emu("/Query", "/TN", "\\Orchestrator\\full", "/XML").raw_out
    assert default.startswith(b"<?xml")  # the console code page by default, no BOM
    raw = emu("/Query", "/TN", "\\Orchestrator\\full", "/XML", SCHTASKS_EMULATOR_OUTPUT_ENCODING="utf-16").raw_out
    assert raw.startswith(b"\xff\xfe")  # UTF-16LE with a BOM in that mode
    text = raw[2:].decode("utf-16-le")
    assert default.decode(rules.CONSOLE_ENCODING) == text
    assert text.startswith('<?xml version="1.0" encoding="UTF-16"?>\r\n<Task version="1.2" xmlns="')
    assert "\n" not in text.replace("\r\n", "")  # CRLF only
    assert "\r\n  <RegistrationInfo>\r\n    <Description>" in text  # 2-space indent
    assert "<Triggers>" in text and "<Monday />" in text  # "<X />"
    # Only the escapes XML needs: no &quot; or &apos; (reference §2.1).
    assert "<Arguments>--name \"daily book\" --and &amp;</Arguments>" in text
    assert "&lt;escaped&gt;" in text and "&quot;" not in text and "&apos;" not in text
    assert "<Data><![CDATA[payload]]></Data>" in text
    top = [m for m in re.findall(r"\r\n  <(\w+)", text)]
    assert top == ["RegistrationInfo", "Principals", "Settings", "Triggers", "Actions"]
    assert text.index("<StartBoundary>") < text.index("<Repetition>")


def test_order_2012r2(emu: Emulator) -> None:
    assert emu.create("\\Orchestrator\\full", FULL).code == 0
    text = emu("/Query", "/TN", "\\Orchestrator\\full", "/XML", SCHTASKS_EMULATOR_ORDER="2012r2").out
    top = re.findall(r"\r\n  <(\w+)", text)
    assert top == ["RegistrationInfo", "Triggers", "Principals", "Settings", "Actions"]
    assert text.index("<Repetition>") < text.index("<StartBoundary>")
    settings = re.findall(r"\r\n    <(\w+)>", text.split("<Settings>")[1].split("</Settings>")[0])
    assert settings[0] == "MultipleInstancesPolicy"


def test_principal_filled_from_caller(emu: Emulator) -> None:
    sid = "S-1-5-21-1-2-3-1001"
    assert emu.create("\\p", task_xml(ACTIONS), SCHTASKS_EMULATOR_USER_SID=sid).code == 0
    principal = find(emu.query_task("\\p"), "Principals/Principal")
    assert principal.get("id") == "Author"
    assert [(etree.QName(c).localname, c.text) for c in principal] == [("UserId", sid), ("LogonType", "InteractiveToken")]


@pytest.mark.parametrize("name, sid", [
    ("SYSTEM", "S-1-5-18"), ("NT AUTHORITY\\SYSTEM", "S-1-5-18"), ("LOCAL SERVICE", "S-1-5-19"),
    ("NETWORK SERVICE", "S-1-5-20"), ("s-1-5-18", "S-1-5-18"),
])
def test_well_known_accounts_become_sids(emu: Emulator, name: str, sid: str) -> None:
    assert emu.create("\\a", task_xml(PRINCIPAL.replace("SYSTEM", name) + "\n" + ACTIONS)).code == 0
    assert texts(emu.query_task("\\a"), "Principals/Principal/UserId") == [sid]


@pytest.mark.parametrize("group, sid", [("BUILTIN\\Users", "S-1-5-32-545"),
                                        ("BUILTIN\\Administrators", "S-1-5-32-544")])
def test_groups_become_sids(emu: Emulator, group: str, sid: str) -> None:
    document = task_xml(f'  <Principals><Principal id="Author"><GroupId>{group}</GroupId></Principal></Principals>\n' + ACTIONS)
    assert emu.create("\\g", document).code == 0
    principal = find(emu.query_task("\\g"), "Principals/Principal")
    assert [(etree.QName(c).localname, c.text) for c in principal] == [("GroupId", sid)]


def test_other_accounts(emu: Emulator) -> None:
    document = task_xml(PRINCIPAL.replace("SYSTEM", "CONTOSO\\svc-report").replace(
        "</UserId>", "</UserId><LogonType>S4U</LogonType>") + "\n" + ACTIONS)
    assert emu.create("\\u", document).code == 0
    user = texts(emu.query_task("\\u"), "Principals/Principal/UserId")[0]
    assert user == rules.fake_sid("contoso\\SVC-REPORT")  # case-insensitive, fixed
    assert emu.create("\\v", document, SCHTASKS_EMULATOR_ACCOUNT_FORM="name").code == 0
    assert texts(emu.query_task("\\v"), "Principals/Principal/UserId") == ["CONTOSO\\svc-report"]
    assert emu.create("\\w", simple(), "/RU", "NETWORK SERVICE").code == 0  # /RU overrides
    assert texts(emu.query_task("\\w"), "Principals/Principal/UserId") == ["S-1-5-20"]


def test_password_logon(emu: Emulator) -> None:
    document = task_xml(PRINCIPAL.replace("SYSTEM", "CONTOSO\\bob").replace(
        "</UserId>", "</UserId><LogonType>Password</LogonType>") + "\n" + ACTIONS)
    refused = emu.create("\\pw", document)
    assert (refused.code, refused.err) == (1, "ERROR: The user name or password is incorrect.\n")
    assert emu.create("\\pw", document, "/RP", "s3cret").code == 0
    assert "s3cret" not in (emu.state / "calls.log").read_text(encoding="utf-8")
    gmsa = document.replace("CONTOSO\\bob", "CONTOSO\\gmsa-report$")
    assert emu.create("\\gmsa", gmsa).code == 0  # Windows fetches a gMSA's password


# --- the command line ---------------------------------------------------------------
def test_existing_task_needs_f(emu: Emulator) -> None:
    assert emu.create("\\Orchestrator\\t", simple()).code == 0
    again = emu.create("\\Orchestrator\\t", simple())
    assert again.code == 1
    assert again.out.startswith('WARNING: The task name "\\Orchestrator\\t" already exists. '
                                'Do you want to replace it (Y/N)?')
    replaced = emu("/Create", "/XML", emu.file(simple()), "/TN", "\\Orchestrator\\t", stdin="Y\n")
    assert replaced.code == 0
    assert emu.create("\\Orchestrator\\t", simple(), "/F").code == 0


def test_missing_task(emu: Emulator) -> None:
    for argv in (["/Query", "/TN", "\\nope", "/XML"], ["/Delete", "/TN", "\\nope", "/F"],
                 ["/Change", "/TN", "\\nope", "/ENABLE"], ["/Run", "/TN", "\\nope"]):
        result = emu(*argv)
        assert (result.code, result.err) == (1, "ERROR: The system cannot find the file specified.\n"), argv
    end = emu("/End", "/TN", "\\nope")
    assert (end.code, end.err) == (1, "ERROR: The system cannot find the path specified.\n")
    wildcard = emu("/Query", "/TN", "\\Microsoft\\*", "/XML")
    assert wildcard.code == 1


@pytest.mark.parametrize("argv, message", [
    (["/Create", "/TN", "\\x"], "ERROR: Invalid syntax. Mandatory option '/XML' is missing."),
    (["/Create", "/XML", "f.xml"], "ERROR: Invalid syntax. Mandatory option '/TN' is missing."),
    (["/Delete", "/TN", "\\x", "/Bogus"], "ERROR: Invalid argument/option - '/Bogus'."),
    (["/Delete", "/TN", "\\x", "/TN", "\\y"], "ERROR: Invalid syntax. '/TN' option is not allowed more than '1' time(s)."),
    (["/Delete", "/TN"], "ERROR: Invalid syntax. Value expected for '/TN'."),
    (["/Frobnicate"], "ERROR: Invalid argument/option - '/Frobnicate'."),
    (["/Query", "/XML", "TWO"], "ERROR: Invalid argument/option - 'TWO'."),
    (["/Change", "/TN", "\\x", "/ENABLE", "/DISABLE"], "ERROR: Invalid syntax. Specify exactly one of /ENABLE and /DISABLE."),
])
def test_syntax_errors_exit_e_fail(emu: Emulator, argv: list[str], message: str) -> None:
    result = emu(*argv)
    assert result.err.splitlines()[0] == message
    assert result.err.splitlines()[1].startswith('Type "SCHTASKS')
    # E_FAIL 0x80004005: its low byte on POSIX, the DWORD itself on Windows.
    assert result.code == rules.exit_status(rules.E_FAIL, sys.platform)
    assert result.code == (5 if sys.platform != "win32" else 0x80004005 - (1 << 32))


def test_hresult_switch(emu: Emulator) -> None:
    result = emu.create("\\x", with_settings("    <Enabled>FALSE</Enabled>"), "/HRESULT")
    assert result.code == rules.exit_status(rules.SCHED_E_INVALIDVALUE, sys.platform)


def test_switches_are_case_insensitive(emu: Emulator) -> None:
    assert emu("/create", "/xml", emu.file(simple()), "/tn", "Orchestrator\\lower", "/f").code == 0
    assert emu("/QUERY", "/TN", "\\ORCHESTRATOR\\LOWER", "/XML", "one").code == 0
    assert emu("/dElEtE", "/tN", "\\orchestrator\\lower", "/F").code == 0


def test_paths_case_insensitive_spelling_kept(emu: Emulator) -> None:
    assert emu.create("\\Orchestrator\\Finance\\Report", simple()).code == 0
    assert emu.create("\\ORCHESTRATOR\\finance\\report", simple(), "/F").code == 0
    assert emu.create("\\orchestrator\\FINANCE\\other", simple()).code == 0
    one = emu("/Query", "/XML", "ONE").out
    assert re.findall(r"<!-- (.*?) -->", one) == ["\\Orchestrator\\Finance\\other", "\\Orchestrator\\Finance\\Report"]


@pytest.mark.parametrize("tn", ["\\Orchestrator\\", "\\a\\\\b", "\\a\\.", "\\a\\b:c", "\\a\\ lead", "\\" + "x" * 240])
def test_invalid_names(emu: Emulator, tn: str) -> None:
    result = emu.create(tn, simple())
    assert (result.code, result.err) == (1, "ERROR: The filename, directory name, or volume label syntax is incorrect.\n")


def test_change_run_end_and_csv(emu: Emulator) -> None:
    assert emu.create("\\Orchestrator\\job", simple()).code == 0
    disabled = emu("/Change", "/TN", "\\Orchestrator\\job", "/DISABLE")
    assert disabled.out == 'SUCCESS: The parameters of scheduled task "\\Orchestrator\\job" have been changed.\n'
    assert texts(emu.query_task("\\Orchestrator\\job"), "Settings/Enabled") == ["false"]
    assert emu("/Run", "/TN", "\\Orchestrator\\job").err == "ERROR: The task is disabled.\n"
    row = emu("/Query", "/FO", "CSV", "/V", "/NH").out.strip().splitlines()
    assert len(row) == 1
    fields = next(iter(__import__("csv").reader(row)))
    assert len(fields) == 28
    assert fields[1:4] == ["\\Orchestrator\\job", "N/A", "Disabled"]
    assert fields[6] == "267011"  # never run (SCHED_S_TASK_HAS_NOT_RUN, decimal)
    assert fields[14] == "SYSTEM"
    assert emu("/Change", "/TN", "\\Orchestrator\\job", "/ENABLE").code == 0
    assert texts(emu.query_task("\\Orchestrator\\job"), "Settings/Enabled") == []
    run = emu("/Run", "/TN", "\\Orchestrator\\job", SCHTASKS_EMULATOR_RUN_RESULT="2")
    assert run.out == 'SUCCESS: Attempted to run the scheduled task "\\Orchestrator\\job".\n'
    fields = next(iter(__import__("csv").reader(emu("/Query", "/FO", "CSV", "/V", "/NH").out.splitlines())))
    assert (fields[3], fields[6]) == ("Ready", "2")
    end = emu("/End", "/TN", "\\Orchestrator\\job")
    assert (end.code, end.out) == (0, 'SUCCESS: The scheduled task "\\Orchestrator\\job" has been terminated successfully.\n')
    with_header = emu("/Query", "/FO", "CSV", "/V").out.splitlines()
    assert with_header[0].startswith('"HostName","TaskName","Next Run Time"')


def test_delete(emu: Emulator) -> None:
    assert emu.create("\\Orchestrator\\gone", simple()).code == 0
    unconfirmed = emu("/Delete", "/TN", "\\Orchestrator\\gone")
    assert unconfirmed.code == 1 and "WARNING: Are you sure" in unconfirmed.out
    deleted = emu("/Delete", "/TN", "\\Orchestrator\\gone", "/F")
    assert deleted.out == 'SUCCESS: The scheduled task "\\Orchestrator\\gone" was successfully deleted.\n'
    assert emu("/Query", "/TN", "\\Orchestrator\\gone", "/XML").code == 1
    assert not list((emu.state / "tasks").iterdir())


# --- /Query /XML output ---------------------------------------------------------------
def parse_one(text: str) -> list[tuple[str, etree._Element]]:
    body = re.sub(r"^<\?xml[^>]*\?>", "", text)
    document = etree.fromstring(body.encode("utf-8"))
    assert document.tag == "Tasks"
    out, path = [], None
    for node in document:
        if isinstance(node, etree._Comment):
            path = node.text.strip()
        else:
            out.append((path, node))
    return out


def test_query_one_wrapper_and_seeds(tmp_path: Path) -> None:
    emu = Emulator(tmp_path, SCHTASKS_EMULATOR_SEED="1")
    assert emu.create("\\Orchestrator\\mine", simple()).code == 0
    result = emu("/Query", "/XML", "ONE")
    assert result.code == 0
    # No declaration, CRLF throughout: 137.xml's declaration and LF lines were added by
    # the script that captured it, not by Windows.
    assert result.out.startswith('<Tasks>\r\n\r\n<!-- \\')
    assert result.out.endswith("</Task>\r\n</Tasks>\r\n")
    assert "\n" not in result.out.replace("\r\n", "")
    tasks = parse_one(result.out)
    paths = [p for p, _ in tasks]
    assert paths[0] == "\\OneDrive Reporting Task"  # the root folder's own tasks first
    assert "\\Microsoft\\Windows\\Defrag\\ScheduledDefrag" in paths
    assert "\\Orchestrator-old\\legacy" in paths and "\\Orchestrator\\mine" in paths
    assert "\\Caf\u00e9\\Sauvegarde nocturne" in paths
    for path, task in tasks:
        assert task.tag == f"{{{NS}}}Task"
        assert texts(task, "RegistrationInfo/URI") == [path]
    assert len(emu.calls()) == 2  # seeding is no call of its own


def test_query_formats(emu: Emulator) -> None:
    for name in ("a", "b", "c"):
        assert emu.create(f"\\F\\{name}", simple()).code == 0
    concatenated = emu("/Query", "/XML").out
    assert concatenated.count('<?xml version="1.0" encoding="UTF-16"?>') == 3
    single = emu("/Query", "/TN", "\\F\\b", "/XML").out
    assert single.count("<Task ") == 1 and "<Tasks>" not in single
    wrapped = emu("/Query", "/TN", "\\F\\b", "/XML", "ONE").out
    assert [p for p, _ in parse_one(wrapped)] == ["\\F\\b"]
    bare = emu("/Query", "/TN", "\\F\\b", "/XML", "ONE", SCHTASKS_EMULATOR_TN_ONE="bare").out
    assert "<Tasks>" not in bare and bare.count("<Task ") == 1
    assert emu("/Query", "/FO", "LIST").code == 1  # not emulated, says so
    assert emu().code == 0  # schtasks alone


def test_empty_machine(emu: Emulator) -> None:
    assert parse_one(emu("/Query", "/XML", "ONE").out) == []


@pytest.mark.parametrize("encoding", ["utf-16", "utf-8", "cp437"])
def test_output_encodings(tmp_path: Path, encoding: str) -> None:
    emu = Emulator(tmp_path, SCHTASKS_EMULATOR_OUTPUT_ENCODING=encoding)
    assert emu.create("\\Caf\u00e9\\t\u00e2che", simple()).code == 0
    raw = emu("/Query", "/XML", "ONE").raw_out
    comment = "<!-- \\Caf\u00e9\\t\u00e2che -->"
    if encoding == "utf-16":
        assert raw.startswith(b"\xff\xfe") and comment.encode("utf-16-le") in raw
    else:
        assert raw.startswith(b"<Tasks>") and comment.encode(encoding) in raw
        with pytest.raises(UnicodeDecodeError) if encoding == "cp437" else contextlib.nullcontext():
            raw.decode("utf-8")  # an OEM code page is not UTF-8: what the backend must notice


# --- faults -------------------------------------------------------------------------
def test_fault_access_denied(emu: Emulator) -> None:
    result = emu("/Query", "/XML", "ONE", SCHTASKS_EMULATOR_FAULT="access-denied")
    assert (result.code, result.out, result.err) == (1, "", "ERROR: Access is denied.\n")


def test_fault_garbage_and_truncated(emu: Emulator) -> None:
    assert emu.create("\\Orchestrator\\t", simple()).code == 0
    garbage = emu("/Query", "/XML", "ONE", SCHTASKS_EMULATOR_FAULT="garbage")
    assert garbage.code == 0 and b"<Tasks>" not in garbage.raw_out
    whole = emu("/Query", "/XML", "ONE").raw_out
    truncated = emu("/Query", "/XML", "ONE", SCHTASKS_EMULATOR_FAULT="truncated").raw_out
    assert whole.startswith(truncated) and len(truncated) < len(whole)


def test_fault_broken_task_and_xxe(emu: Emulator) -> None:
    assert emu.create("\\Orchestrator\\t", simple()).code == 0
    assert emu.create("\\Other\\t", simple()).code == 0
    broken = emu("/Query", "/XML", "ONE", SCHTASKS_EMULATOR_FAULT="broken-task:\\other\\T").out
    with pytest.raises(etree.XMLSyntaxError):
        parse_one(broken)
    assert "<!-- \\Other\\t -->" in broken and "</Tasks>" in broken
    xxe = emu("/Query", "/XML", "ONE", SCHTASKS_EMULATOR_FAULT="xxe").out
    assert "<!DOCTYPE Tasks [<!ENTITY xxe SYSTEM" in xxe


def test_fault_fail_on_call(emu: Emulator) -> None:
    env = {"SCHTASKS_EMULATOR_FAULT": "fail-on-call:3"}
    codes = [emu.create(f"\\Orchestrator\\t{i}", simple(), **env).code for i in range(5)]
    assert codes == [0, 0, 1, 0, 0]
    assert [c["call"] for c in emu.calls()] == [1, 2, 3, 4, 5]
    assert emu("/Query", "/TN", "\\Orchestrator\\t2", "/XML").code == 1  # the failed one


def test_fault_fail_create_and_delete(emu: Emulator) -> None:
    assert emu.create("\\Orchestrator\\t", simple(), SCHTASKS_EMULATOR_FAULT="fail-delete").code == 0
    failed = emu.create("\\Orchestrator\\u", simple(), SCHTASKS_EMULATOR_FAULT="fail-create")
    assert (failed.code, failed.err) == (1, "ERROR: Access is denied.\n")
    assert emu("/Delete", "/TN", "\\Orchestrator\\t", "/F", SCHTASKS_EMULATOR_FAULT="fail-delete").code == 1
    assert emu("/Query", "/TN", "\\Orchestrator\\t", "/XML", SCHTASKS_EMULATOR_FAULT="fail-delete").code == 0


def test_fault_hang_and_delay(emu: Emulator) -> None:
    start = time.monotonic()
    assert emu("/Query", "/XML", "ONE", SCHTASKS_EMULATOR_FAULT="hang", SCHTASKS_EMULATOR_HANG_SECONDS="0.2").code == 1
    assert emu("/Query", "/XML", "ONE", SCHTASKS_EMULATOR_DELAY_MS="150").code == 0
    assert time.monotonic() - start >= 0.35
    assert len(emu.calls()) == 2  # the hanging call is logged too


def test_calls_log(emu: Emulator) -> None:
    emu("/Query", "/XML", "ONE")
    emu("/Delete", "/TN", "\\x", "/F")
    calls = emu.calls()
    assert [c["argv"] for c in calls] == [["/Query", "/XML", "ONE"], ["/Delete", "/TN", "\\x", "/F"]]


def test_requires_state_dir() -> None:
    out, err = io.BytesIO(), io.BytesIO()
    code = emulator.main(["/Query", "/XML", "ONE"], env={}, stdin=io.StringIO(), stdout=out, stderr=err)
    assert code == 1 and "SCHTASKS_EMULATOR_STATE" in Emulator.decode(err.getvalue())


# --- as a process -------------------------------------------------------------------
def test_runs_as_a_script(tmp_path: Path) -> None:
    env = {"SCHTASKS_EMULATOR_STATE": str(tmp_path / "m"), "SCHTASKS_EMULATOR_SEED": "0",
           "SCHTASKS_EMULATOR_OUTPUT_ENCODING": "utf-8"}
    file = tmp_path / "t.xml"
    file.write_bytes(b"\xff\xfe" + simple().encode("utf-16-le"))

    def run(*argv: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run([sys.executable, str(EMULATOR), *argv], env={**os.environ, **env},
                              capture_output=True, timeout=60, stdin=subprocess.DEVNULL)

    created = run("/Create", "/XML", str(file), "/TN", "\\Orchestrator\\s", "/F")
    assert created.returncode == 0, created.stderr
    assert created.stdout == b'SUCCESS: The scheduled task "\\Orchestrator\\s" has successfully been created.\n'
    assert run("/Create", "/XML", str(file), "/TN", "\\Orchestrator\\s").returncode == 1  # no console answer
    # E_FAIL: the low byte on POSIX; on Windows the DWORD 0x80004005 itself.
    assert run("/Create", "/TN", "\\x").returncode & 0xFFFFFFFF == rules.exit_status(rules.E_FAIL, sys.platform) & 0xFFFFFFFF
    assert b"<!-- \\Orchestrator\\s -->" in run("/Query", "/XML", "ONE").stdout


def test_emulator_is_independent_of_the_project() -> None:
    for name in ("schtasks_emulator.py", "windows_rules.py", "seeds.py"):
        source = (EMULATOR_DIR / name).read_text(encoding="utf-8")
        assert not re.search(r"^\s*(from|import)\s+reconciler", source, re.MULTILINE), name


def test_every_rule_cites_its_certainty() -> None:
    source = (EMULATOR_DIR / "windows_rules.py").read_text(encoding="utf-8")
    for tag in ("[MS]", "[WIN-TEST]", "[OBS]", "[GUESS]"):
        assert tag in source


def test_real_windows_export_passes_validation() -> None:
    corpus = Path(__file__).resolve().parents[1].parent / "shared" / "corpus" / "xml" / "137.xml"
    if not corpus.exists():
        pytest.skip("shared/corpus is not available")
    document = etree.fromstring(re.sub(r"^<\?xml[^>]*\?>", "", corpus.read_text(encoding="utf-8")).encode())
    tasks = [t for t in document if isinstance(t.tag, str)]
    assert len(tasks) == 158
    for task in tasks:  # Windows wrote them: Windows' rules must accept them all
        rules.validate(etree.tostring(task, encoding="unicode"))


@pytest.mark.skipif(sys.platform == "win32" or not hasattr(__import__("socket"), "AF_UNIX"),
                    reason="the resident emulator serves on a Unix socket")
def test_resident_emulator_answers_as_the_per_call_one(tmp_path: Path) -> None:
    """bench/parallel_writes.py times the resident emulator: its answers (bytes, exit
    codes, delay) must be the per-call emulator's."""
    import resident

    sock = tmp_path / "emulator.sock"
    server = resident.start(str(sock))
    try:
        xml_file = tmp_path / "task.xml"
        xml_file.write_text(task_xml(ACTIONS), encoding="utf-16")
        calls = [["/Create", "/XML", str(xml_file), "/TN", "\\Orchestrator\\t"],
                 ["/Create", "/XML", str(xml_file), "/TN", "\\Orchestrator\\t"],  # exists: an error
                 ["/Query", "/TN", "\\Orchestrator\\t", "/XML", "ONE"],
                 ["/Delete", "/TN", "\\Orchestrator\\missing", "/F"]]
        answers = {}
        for way in ("per-call", "resident"):
            env = {**os.environ, "SCHTASKS_EMULATOR_STATE": str(tmp_path / way), "SCHTASKS_EMULATOR_SEED": "0",
                   "SCHTASKS_EMULATOR_DELAY_MS": "20", "SCHTASKS_EMULATOR_RESIDENT": str(sock)}
            command = ([sys.executable, str(EMULATOR)] if way == "per-call"
                       else [sys.executable, "-S", str(EMULATOR_DIR / "resident.py"), "--client"])
            answers[way] = [subprocess.run(command + call, env=env, capture_output=True, timeout=60)
                            for call in calls]
        for direct, kept in zip(answers["per-call"], answers["resident"]):
            assert (kept.returncode, kept.stdout, kept.stderr) == \
                (direct.returncode, direct.stdout, direct.stderr)
        assert answers["resident"][0].returncode == 0
        assert answers["resident"][1].returncode != 0 and answers["resident"][2].stdout
        log = (tmp_path / "resident" / "calls.log").read_text().splitlines()
        assert len(log) == len(calls)
    finally:
        server.terminate()
        server.wait()
