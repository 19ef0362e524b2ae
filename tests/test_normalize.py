"""The canonical form: equal for everything Task Scheduler treats as the same task,
different for everything it does not."""
from __future__ import annotations

import pytest

from conftest import shared
from reconciler import marker, normalize, taskxml

NS = 'xmlns="http://schemas.microsoft.com/windows/2004/02/mit/task"'


def task(body: str, version: str = "1.2") -> str:
    return f'<?xml version="1.0" encoding="UTF-16"?>\n<Task version="{version}" {NS}>{body}</Task>'


BASE = """
<RegistrationInfo><Description>d</Description></RegistrationInfo>
<Triggers>
  <CalendarTrigger><StartBoundary>2000-01-03T09:30:00</StartBoundary>
    <ScheduleByDay><DaysInterval>1</DaysInterval></ScheduleByDay></CalendarTrigger>
  <BootTrigger/>
</Triggers>
<Principals><Principal id="Author"><UserId>S-1-5-18</UserId></Principal></Principals>
<Settings><ExecutionTimeLimit>PT12M</ExecutionTimeLimit></Settings>
<Actions Context="Author"><Exec><Command>C:\\x.exe</Command><Arguments>-a "b c"</Arguments></Exec></Actions>
"""


def canon(xml: str) -> dict:
    return normalize.canonical(xml)


SAME = {
    "duration spelled differently": BASE.replace("PT12M<", "PT12M0S<"),
    "duration in seconds": BASE.replace("PT12M<", "PT720S<"),
    "SYSTEM by name": BASE.replace("S-1-5-18", "SYSTEM"),
    "NT AUTHORITY\\SYSTEM": BASE.replace("S-1-5-18", "NT AUTHORITY\\SYSTEM"),
    "service account logon type written": BASE.replace(
        "<UserId>S-1-5-18</UserId>", "<UserId>S-1-5-18</UserId><LogonType>ServiceAccount</LogonType>"),
    "server fields added": BASE.replace(
        "<Description>", "<URI>\\Orchestrator\\x</URI><Date>2026-01-01T00:00:00.1234567</Date>"
                         "<Author>CONTOSO\\admin</Author><Description>"),
    "other principal id": BASE.replace('id="Author"', 'id="LocalSystem"').replace(
        'Context="Author"', 'Context="LocalSystem"'),
    "defaults written out": BASE.replace(
        "<Settings>", "<Settings><Enabled>true</Enabled><Priority>7</Priority>"
                      "<MultipleInstancesPolicy>IgnoreNew</MultipleInstancesPolicy>"
                      "<IdleSettings><StopOnIdleEnd>true</StopOnIdleEnd><RestartOnIdle>false</RestartOnIdle>"
                      "</IdleSettings>").replace(
        "<StartBoundary>", "<Enabled>true</Enabled><StartBoundary>"),
    "triggers in another order": BASE.replace(
        "<Triggers>", "<Triggers><BootTrigger/>").replace("<BootTrigger/>\n</Triggers>", "</Triggers>"),
    "Windows element order": """
<RegistrationInfo><Description>d</Description></RegistrationInfo>
<Principals><Principal id="Author"><UserId>S-1-5-18</UserId></Principal></Principals>
<Settings><ExecutionTimeLimit>PT12M</ExecutionTimeLimit></Settings>
<Triggers>
  <BootTrigger />
  <CalendarTrigger><ScheduleByDay><DaysInterval>1</DaysInterval></ScheduleByDay>
    <StartBoundary>2000-01-03T09:30:00</StartBoundary></CalendarTrigger>
</Triggers>
<Actions Context="Author"><Exec><Arguments>-a &quot;b c&quot;</Arguments><Command>C:\\x.exe</Command></Exec></Actions>
""",
    "comments and CDATA": BASE.replace("<Command>C:\\x.exe</Command>",
                                       "<!-- c --><Command><![CDATA[C:\\x.exe]]></Command>"),
    "fractional zero seconds in a boundary": BASE.replace("09:30:00<", "09:30:00.000<"),
    "marker fields": BASE.replace("<Description>", "<Source>reconcile.py</Source>"
                                                   "<Documentation>{}</Documentation><Description>"),
    "HideAppWindow added on export": BASE.replace("</Exec>", "<HideAppWindow>true</HideAppWindow></Exec>"),
    "empty WorkingDirectory": BASE.replace("</Exec>", "<WorkingDirectory></WorkingDirectory></Exec>"),
}


@pytest.mark.parametrize("name", sorted(SAME))
def test_equal_when_task_scheduler_treats_them_the_same(name: str) -> None:
    assert canon(task(SAME[name])) == canon(task(BASE))


def test_version_attribute_is_not_content() -> None:
    assert canon(task(BASE, "1.4")) == canon(task(BASE, "1.2"))


DIFFERENT = {
    "disabled trigger": BASE.replace("<StartBoundary>", "<Enabled>false</Enabled><StartBoundary>"),
    "disabled task": BASE.replace("<Settings>", "<Settings><Enabled>false</Enabled>"),
    "argument whitespace": BASE.replace('-a "b c"', '-a  "b c"'),
    "another time": BASE.replace("09:30:00", "09:31:00"),
    "UTC offset": BASE.replace("09:30:00<", "09:30:00Z<"),
    "delete at once vs never": BASE.replace("<Settings>", "<Settings><DeleteExpiredTaskAfter>PT0S</DeleteExpiredTaskAfter>"),
    "another account": BASE.replace("S-1-5-18", "S-1-5-19"),
    "unknown element kept": BASE.replace("</Settings>", "<FutureSetting>1</FutureSetting></Settings>"),
    "second action": BASE.replace("</Actions>", "<Exec><Command>C:\\y.exe</Command></Exec></Actions>"),
}


@pytest.mark.parametrize("name", sorted(DIFFERENT))
def test_different_when_task_scheduler_behaves_differently(name: str) -> None:
    assert canon(task(DIFFERENT[name])) != canon(task(BASE))


def test_actions_keep_their_order() -> None:
    two = BASE.replace("</Actions>", "<Exec><Command>C:\\y.exe</Command></Exec></Actions>")
    swapped = BASE.replace(
        "<Exec><Command>C:\\x.exe</Command><Arguments>-a \"b c\"</Arguments></Exec>",
        "<Exec><Command>C:\\y.exe</Command></Exec><Exec><Command>C:\\x.exe</Command>"
        "<Arguments>-a \"b c\"</Arguments></Exec>")
    assert canon(task(two)) != canon(task(swapped))


def test_defaults_are_filled_in() -> None:
    form = canon(task(BASE))
    assert form["Settings"]["Priority"] == 7
    assert form["Settings"]["IdleSettings"]["WaitTimeout"] == "PT1H"
    trigger = form["Triggers"][1]["CalendarTrigger"]
    assert trigger["Enabled"] is True and trigger["RandomDelay"] == "PT0S"
    assert form["Principal"]["RunLevel"] == "LeastPrivilege"
    assert "LogonType" not in form["Principal"]  # implied for a service account


def test_months_absent_means_every_month() -> None:
    monthly = BASE.replace("<ScheduleByDay><DaysInterval>1</DaysInterval></ScheduleByDay>",
                           "<ScheduleByMonth><DaysOfMonth><Day>1</Day></DaysOfMonth></ScheduleByMonth>")
    every = monthly.replace("</DaysOfMonth>", "</DaysOfMonth><Months>" + "".join(
        f"<{m}/>" for m in ("January", "February", "March", "April", "May", "June", "July", "August",
                            "September", "October", "November", "December")) + "</Months>")
    assert canon(task(monthly)) == canon(task(every))


def test_marker_counts_only_at_its_own_path() -> None:
    body = BASE.replace("<Description>", '<Source>reconcile.py</Source><Documentation>{"managedBy":'
                        '"reconcile.py","v":1,"root":"\\\\Orchestrator\\\\","path":"\\\\Orchestrator\\\\x",'
                        '"protect":true,"hash":"abc"}</Documentation><Description>')
    found = marker.read(taskxml.parse(task(body)))
    assert found is not None and found.protect and found.hash == "abc"
    assert marker.owns(found, "\\orchestrator\\X")
    assert not marker.owns(found, "\\Orchestrator\\copy-of-x")
    assert marker.read(taskxml.parse(task(BASE))) is None
    forged = body.replace('"managedBy":"reconcile.py"', '"managedBy":"someone"')
    assert marker.read(taskxml.parse(task(forged))) is None


def test_xxe_is_refused_not_resolved() -> None:
    evil = ('<?xml version="1.0"?><!DOCTYPE Task [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
            f'<Task {NS}><Actions><Exec><Command>&x;</Command></Exec></Actions></Task>')
    with pytest.raises(taskxml.TaskXmlError, match="DOCTYPE"):
        taskxml.parse(evil)


# Files of the corpus that are not well-formed XML on purpose (see xml-SUMMARY.md).
NOT_WELL_FORMED = {"035.xml"}


def test_every_real_export_canonicalises() -> None:
    folder = shared("corpus", "xml")
    count = 0
    for path in sorted(folder.glob("*.xml")):
        text = taskxml.decode(path.read_bytes())
        if path.name in NOT_WELL_FORMED:
            with pytest.raises(taskxml.TaskXmlError):
                taskxml.parse(text)
            continue
        root = taskxml.parse(text, path.name)
        tasks = taskxml.children(root) if taskxml.localname(root) == "Tasks" else [root]
        for element in tasks:
            form = normalize.canonical(element)
            assert form == normalize.canonical(element)  # pure and repeatable
            count += 1
    assert count > 300


def test_original_bytes_decode_like_the_transcoded_copies() -> None:
    originals = shared("corpus", "xml-original-bytes")
    transcoded = shared("corpus", "xml")
    for path in sorted(originals.glob("*.xml")):
        twin = transcoded / path.name
        assert taskxml.decode(path.read_bytes()).replace("\r\n", "\n") == \
            taskxml.decode(twin.read_bytes()).replace("\r\n", "\n")


def test_a_default_written_in_another_spelling_is_still_the_default() -> None:
    explicit = BASE.replace("<ExecutionTimeLimit>PT12M</ExecutionTimeLimit>",
                            "<ExecutionTimeLimit>PT72H</ExecutionTimeLimit>")
    absent = BASE.replace("<ExecutionTimeLimit>PT12M</ExecutionTimeLimit>", "")
    days = BASE.replace("<ExecutionTimeLimit>PT12M</ExecutionTimeLimit>",
                        "<ExecutionTimeLimit>P3D</ExecutionTimeLimit>")
    assert canon(task(explicit)) == canon(task(absent)) == canon(task(days))
