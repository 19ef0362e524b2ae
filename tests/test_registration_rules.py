"""Task Scheduler's registration rules that span elements: ``validate`` refuses what
Windows would refuse (or could not honour), and the emulator (tests/emulator/
windows_rules.py) refuses it the same way, so that an apply through the emulator never
succeeds where Windows fails.

Each rule, its source, and the form that passes:
- DeleteExpiredTaskAfter needs a trigger with an EndBoundary: ITaskSettings::
  DeleteExpiredTaskAfter remarks ("a task expires after the end boundary has been
  exceeded for all triggers"); refused with 0x80041319 ``(x,y):EndBoundary:``
  (dahall/TaskScheduler#101, #154; ansible-collections/community.windows#32).
- MaintenanceSettings: Period and Deadline at least one day, Deadline greater than
  Period ([MS-TSCH] 2.5.4.15).
- EventTrigger PeriodOfOccurrence at least one minute ([MS-TSCH] 2.5.3.6); a Subscription
  is a structured <QueryList> (EvtSubscribe: a bare XPath needs a channel path, which a
  task cannot give).
- Repetition Duration equal to Interval: two starts (IRepetitionPattern remarks: the end
  is inclusive); [MS-TSCH] refuses Interval >= Duration only for Task Scheduler 1.0.
- ``.\\name`` accounts: LookupAccountName cannot resolve ``.`` (OctopusDeploy/Calamari#233).
"""
from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from reconciler import manifest, render
from reconciler.errors import ManifestError

sys.path.insert(0, str(Path(__file__).resolve().parent / "emulator"))

import windows_rules as rules  # noqa: E402

ROOT = "\\Orchestrator\\"


def compile_one(tmp_path: Path, spec: str) -> tuple[list[str], str | None]:
    """(problem lines, rendered XML or None) for one task whose spec is ``spec``."""
    folder = tmp_path / "tasks.d"
    folder.mkdir(exist_ok=True)
    (folder / "task.yaml").write_text(
        "apiVersion: reconcile/v1\nkind: ScheduledTask\nmetadata: {name: t}\nspec:\n"
        + textwrap.indent(textwrap.dedent(spec).strip("\n"), "  ") + "\n", encoding="utf-8")
    try:
        tasks = manifest.load(str(folder), ROOT)
    except ManifestError as err:
        return [f"{p.line}:{p.column}: {p.message}" for p in err.problems], None
    return [], render.render(tasks[0], ROOT).xml


def emulator_refusal(xml: str) -> str | None:
    """The emulator's error text for a task, or None when it registers it."""
    try:
        rules.validate(xml)
    except rules.SchedError as err:
        return err.text()
    return None


BASE = """
actions: [{command: C:\\x.exe}]
runAs: {user: SYSTEM}
"""


# --- DeleteExpiredTaskAfter needs an EndBoundary ------------------------------------------

def test_delete_expired_without_an_end_is_refused_by_both(tmp_path: Path) -> None:
    problems, _ = compile_one(tmp_path, BASE + "triggers: [{daily: {at: '09:00'}}]\n"
                                              "settings: {deleteExpiredAfter: 1d}")
    assert problems == ["8:34: deleteExpiredAfter deletes the task once every trigger has ended, but no "
                        "trigger has 'until' (Task Scheduler refuses it: 0x80041319 EndBoundary); give a "
                        "trigger 'until: YYYY-MM-DD', or remove deleteExpiredAfter"]
    # The same task as XML (rendered with an until, then the until taken out).
    _, xml = compile_one(tmp_path, BASE + "triggers: [{daily: {at: '09:00', until: 2030-01-01}}]\n"
                                          "settings: {deleteExpiredAfter: 1d}")
    assert xml is not None and emulator_refusal(xml) is None
    without_end = xml.replace("<EndBoundary>2030-01-01T00:00:00</EndBoundary>", "")
    refusal = emulator_refusal(without_end)
    assert refusal is not None
    first, second = refusal.splitlines()
    assert first == "ERROR: The task XML is missing a required element or attribute."
    assert second.endswith(":EndBoundary:")


def test_delete_expired_is_fine_when_one_trigger_ends(tmp_path: Path) -> None:
    problems, xml = compile_one(tmp_path, BASE + "triggers: [{daily: {at: '09:00', until: 2030-01-01}}, {onIdle: {}}]\n"
                                                 "settings: {deleteExpiredAfter: 0s}")
    assert problems == []
    assert xml is not None and emulator_refusal(xml) is None


def test_delete_expired_without_any_trigger_is_refused(tmp_path: Path) -> None:
    problems, _ = compile_one(tmp_path, BASE + "settings: {deleteExpiredAfter: 1d}")
    assert len(problems) == 1 and "no trigger has 'until'" in problems[0]


# --- MaintenanceSettings bounds ----------------------------------------------------------

@pytest.mark.parametrize("period, deadline, expected", [
    ("1h", None, ["maintenance.period must be at least 1d, not 1h"]),
    ("1d", "12h", ["maintenance.deadline must be at least 1d, not 12h"]),
    ("2d", "2d", ["maintenance.deadline must be longer than maintenance.period (2d), not 2d"]),
    ("P1M", "P1M", ["maintenance.deadline must be longer than maintenance.period (P1M), not P1M"]),
    ("P7D", "P3D", ["maintenance.deadline must be longer than maintenance.period (7d), not 3d"]),
])
def test_maintenance_bounds_are_refused_by_both(tmp_path: Path, period: str, deadline: str | None,
                                               expected: list[str]) -> None:
    members = f"period: {period}" + (f", deadline: {deadline}" if deadline else "")
    spec = BASE + f"settings: {{useUnifiedSchedulingEngine: true, maintenance: {{{members}}}}}"
    problems, _ = compile_one(tmp_path, spec)
    assert [p.split(": ", 1)[1] for p in problems] == expected


@pytest.mark.parametrize("period, deadline", [("PT1H", None), ("P1D", "PT12H"), ("P2D", "P2D"), ("P7D", "P3D")])
def test_emulator_refuses_maintenance_bounds(period: str, deadline: str | None) -> None:
    document = maintenance_task(period, deadline)
    refusal = emulator_refusal(document)
    assert refusal is not None
    assert refusal.splitlines()[0] == "ERROR: The task XML contains a value which is incorrectly formatted or out of range."


@pytest.mark.parametrize("period, deadline", [("P1D", None), ("P1D", "P1DT1M"), ("P1M", "P2M"), ("P7D", "P14D")])
def test_maintenance_within_bounds_passes_both(tmp_path: Path, period: str, deadline: str | None) -> None:
    assert emulator_refusal(maintenance_task(period, deadline)) is None
    members = f"period: {period}" + (f", deadline: {deadline}" if deadline else "")
    problems, xml = compile_one(tmp_path, BASE + f"settings: {{useUnifiedSchedulingEngine: true, "
                                                 f"maintenance: {{{members}}}}}")
    assert problems == [] and xml is not None and emulator_refusal(xml) is None


def maintenance_task(period: str, deadline: str | None) -> str:
    inner = f"<Period>{period}</Period>" + (f"<Deadline>{deadline}</Deadline>" if deadline else "")
    return (f'<Task version="1.4" xmlns="{rules.TASK_NS}">\n  <Settings>\n'
            "    <UseUnifiedSchedulingEngine>true</UseUnifiedSchedulingEngine>\n"
            f"    <MaintenanceSettings>{inner}</MaintenanceSettings>\n  </Settings>\n"
            '  <Actions><Exec><Command>a.exe</Command></Exec></Actions>\n</Task>\n')


# --- EventTrigger ------------------------------------------------------------------------

def test_period_of_occurrence_below_a_minute_is_refused_by_both(tmp_path: Path) -> None:
    problems, _ = compile_one(tmp_path, BASE + "triggers: [{onEvent: {log: System, periodOfOccurrence: 30s, "
                                               "numberOfOccurrences: 2}}]")
    assert [p.split(": ", 1)[1] for p in problems] == ["periodOfOccurrence must be at least 1m, not 30s"]
    _, xml = compile_one(tmp_path, BASE + "triggers: [{onEvent: {log: System, periodOfOccurrence: 1m, "
                                          "numberOfOccurrences: 2}}]")
    assert xml is not None and emulator_refusal(xml) is None
    refusal = emulator_refusal(xml.replace("<PeriodOfOccurrence>PT1M<", "<PeriodOfOccurrence>PT30S<"))
    assert refusal is not None and refusal.splitlines()[1].endswith(":PeriodOfOccurrence:PT30S")


def test_a_bare_xpath_with_its_log_is_wrapped_in_a_query_list(tmp_path: Path) -> None:
    problems, xml = compile_one(tmp_path, BASE + "triggers: [{onEvent: {log: Application, "
                                                 "query: \"*[System[Provider[@Name='MyApp']]]\"}}]")
    assert problems == [] and xml is not None
    from reconciler.normalize import canonical

    (trigger,) = canonical(xml)["Triggers"]
    assert trigger["EventTrigger"]["Subscription"] == (
        '<QueryList><Query Id="0" Path="Application"><Select Path="Application">'
        "*[System[Provider[@Name='MyApp']]]</Select></Query></QueryList>")
    # The same as log/source: one trigger, however it is written.
    _, same = compile_one(tmp_path, BASE + "triggers: [{onEvent: {log: Application, source: MyApp}}]")
    assert same is not None and canonical(same)["Triggers"] == canonical(xml)["Triggers"]


# --- Repetition: Duration == Interval ----------------------------------------------------

def test_repetition_for_equal_to_every_passes_both(tmp_path: Path) -> None:
    problems, xml = compile_one(tmp_path, BASE + "triggers: [{daily: {at: '09:00', repeat: {every: 10m, for: 10m}}}]")
    assert problems == [] and xml is not None
    assert emulator_refusal(xml) is None  # IRepetitionPattern remarks: two starts, 09:00 and 09:10


def test_repetition_for_below_every_is_refused_by_both(tmp_path: Path) -> None:
    problems, _ = compile_one(tmp_path, BASE + "triggers: [{daily: {at: '09:00', repeat: {every: 1h, for: 30m}}}]")
    assert [p.split(": ", 1)[1] for p in problems] == ["repeat.for must be at least repeat.every"]
    _, xml = compile_one(tmp_path, BASE + "triggers: [{daily: {at: '09:00', repeat: {every: 1h, for: 1h}}}]")
    assert xml is not None
    assert emulator_refusal(xml.replace("<Duration>PT1H</Duration>", "<Duration>PT30M</Duration>")) is not None


# --- .\name accounts -----------------------------------------------------------------------

def test_dot_accounts_are_refused_with_the_way_out(tmp_path: Path) -> None:
    problems, _ = compile_one(tmp_path, """
        actions: [{command: C:\\x.exe}]
        runAs: {user: .\\svc-report, logonType: s4u}""")
    assert [p.split(": ", 1)[1] for p in problems] == [
        "'.\\svc-report': Windows cannot look up the account domain '.' (LookupAccountName), so "
        "Task Scheduler cannot store the account and plans could never match it; write the "
        "computer's name (MYPC\\svc-report) or the bare name 'svc-report', which Windows looks up "
        "on this computer first"]


def test_emulator_does_not_map_dot_accounts_to_the_machine() -> None:
    assert rules.fake_sid(f"{rules.EMULATOR_HOST}\\alice") == rules.fake_sid("alice")
    with pytest.raises(rules.SchedError) as err:
        rules.resolve_account(".\\alice")
    assert err.value.text() == "ERROR: No mapping between account names and security IDs was done."
    task = rules.validate(f'<Task version="1.2" xmlns="{rules.TASK_NS}"><Principals><Principal id="Author">'
                          "<UserId>.\\alice</UserId><LogonType>S4U</LogonType></Principal></Principals>"
                          "<Actions><Exec><Command>a.exe</Command></Exec></Actions></Task>")
    with pytest.raises(rules.SchedError):  # registration stores accounts as SIDs: it fails there
        rules.register_form(task, "\\x", rules.DEFAULT_CALLER_SID)


def test_registration_rules_module_cites_public_sources() -> None:
    source = (Path(__file__).resolve().parents[1] / "reconciler" / "compile_rules.py").read_text(encoding="utf-8")
    for citation in ("[MS-TSCH] 2.5.4.15", "[MS-TSCH] 2.5.3.6", "DeleteExpiredTaskAfter", "EvtSubscribe",
                     "LookupAccountName", "IRepetitionPattern"):
        assert citation in source, citation
    assert "shared/reference" not in source
