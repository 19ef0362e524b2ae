"""The plan speaks the manifest's language: a create says every attribute that is not
Task Scheduler's default, an update says each changed attribute as before -> after in the
manifest's keys and the create view's words, drift keeps the element-level detail, and
text, Markdown and JSON say the same lines. Checked as the CLI prints them."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from conftest import run_cli
from reconciler import plan_words
from reconciler.model import Action, Change

ROOT = "\\Orchestrator\\"


def _edit(workspace: Path, file: str, old: str, new: str) -> None:
    path = workspace / "tasks.d" / file
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {file}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def _block(out: str, path: str) -> list[str]:
    """The indented lines under one task of a text plan."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line[2:].split("  (")[0] == path)
    body = []
    for line in lines[start + 1:]:
        if not line.startswith("    "):
            break
        body.append(line[4:])
    return body


def test_a_create_says_every_attribute_that_is_not_the_default(workspace: Path) -> None:
    out = run_cli("plan", cwd=workspace).out
    assert _block(out, "\\Orchestrator\\nightly-restart") == [
        "description: Restart the PC every night",
        "trigger: daily at 02:00",
        'action: C:\\Windows\\System32\\shutdown.exe /r /t 60 /c "Nightly restart by reconcile.py"',
        "runs as: SYSTEM",
        "runLevel: highest",
        "timeout: 5m",
        "retry: {count: 2, interval: 10m}",
        "wakeToRun: true",
        "batteries: {disallowStart: false, stopOnBattery: false}",
    ]
    csv = _block(out, "\\Orchestrator\\csv-morning")
    assert "runOnlyIfNetworkAvailable: true" in csv
    assert "run.retry: {attempts: 4, initial: 30s, max: 5m}" in csv
    assert "trigger: weekly on Mon-Fri at 09:30" in csv
    assert ("action: C:\\Python311\\python.exe -m jobs.csv_download --slot morning --out "
            "D:\\exports\\morning.csv (in C:\\jobs)") in csv
    email = _block(out, "\\Orchestrator\\email-delivery")
    assert "after: vbs-automation" in email
    assert "notify: webhook {url: https://hooks.example.com/reconcile}" in email
    assert not any("finishes" in line for line in email), "the wake trigger is said by after"
    excel = _block(out, "\\Orchestrator\\excel-processing")
    assert excel.count("when: fileExists D:\\exports\\morning.csv") == 1


def test_the_account_is_said_as_written_and_compared_without_case(workspace: Path) -> None:
    """``CONTOSO\\svc`` is said as the manifest spells it (the canonical form upper-cases
    it); a change of case alone is no change."""
    _edit(workspace, "nightly-restart.yaml", "user: SYSTEM", "user: 'CONTOSO\\svc'\n    logonType: s4u")
    created = run_cli("plan", cwd=workspace)
    assert "runs as: CONTOSO\\svc" in _block(created.out, "\\Orchestrator\\nightly-restart"), created.out
    markdown = run_cli("plan", "--format", "markdown", cwd=workspace).out
    assert "CONTOSO\\svc" in markdown and "CONTOSO\\SVC" not in markdown
    assert run_cli("apply", "-q", cwd=workspace).code == 0
    _edit(workspace, "nightly-restart.yaml", "CONTOSO\\svc", "contoso\\SVC")
    same = run_cli("plan", "--detailed-exitcode", cwd=workspace)
    assert (same.code, same.out) == (0, "No changes.\n"), same.out
    _edit(workspace, "nightly-restart.yaml", "contoso\\SVC", "CONTOSO\\batch")
    changed = run_cli("plan", cwd=workspace).out
    (line,) = [s for s in _block(changed, "\\Orchestrator\\nightly-restart") if s.startswith("runs as:")]
    assert line.endswith(" -> CONTOSO\\batch"), changed


# (file, text in it, replaced by, the lines the update shows)
UPDATES = [
    ("nightly-restart.yaml", 'daily: {at: "02:00"}', 'weekly: {at: "03:00", days: [Mon, Tue, Wed, Thu, Fri, Sat]}',
     ["trigger: daily at 02:00 -> weekly on Mon-Sat at 03:00"]),
    ("nightly-restart.yaml", "user: SYSTEM", "user: NETWORK SERVICE", ["runs as: SYSTEM -> NETWORK SERVICE"]),
    ("nightly-restart.yaml", "    runLevel: highest\n", "", ["runLevel: highest -> limited"]),
    ("nightly-restart.yaml", "timeout: 5m", "timeout: 90m", ["timeout: 5m -> 1h30m"]),
    ("nightly-restart.yaml", "timeout: 5m", "timeout: none", ["timeout: 5m -> none"]),
    ("nightly-restart.yaml", "retry: {count: 2, interval: 10m}", "retry: {count: 5, interval: 10m}",
     ["retry: {count: 2, interval: 10m} -> {count: 5, interval: 10m}"]),
    ("nightly-restart.yaml", "    wakeToRun: true\n", "", ["wakeToRun: true -> false"]),
    ("nightly-restart.yaml", "wakeToRun: true", "wakeToRun: true\n    multipleInstances: parallel",
     ["multipleInstances: ignoreNew -> parallel"]),
    ("nightly-restart.yaml", "spec:\n", "spec:\n  enabled: false\n", ["enabled: true -> false"]),
    ("nightly-restart.yaml", "Restart the PC every night", "Restart the PC at night",
     ["description: Restart the PC every night -> Restart the PC at night"]),
    ("nightly-restart.yaml", '"/t", "60"', '"/t", "120"', ["argument 3: 60 -> 120"]),
    ("nightly-restart.yaml", "C:\\Windows\\System32\\shutdown.exe", "C:\\Windows\\shutdown.exe",
     ['action: C:\\Windows\\System32\\shutdown.exe /r /t 60 /c "Nightly restart by reconcile.py" -> '
      'C:\\Windows\\shutdown.exe /r /t 60 /c "Nightly restart by reconcile.py"']),
    ("nightly-restart.yaml", '"Nightly restart by reconcile.py"]', '"Nightly restart by reconcile.py"]\n'
     "      workingDirectory: C:\\Temp", ["working directory: (none) -> C:\\Temp"]),
    ("nightly-restart.yaml", "  runAs:", "    - command: C:\\tools\\log.exe\n  runAs:",
     ["action 2: (none) -> C:\\tools\\log.exe"]),
    ("email-delivery.yaml", "--attach", "--attachment", ["argument 3: --attach -> --attachment"]),
    ("email-delivery.yaml", "workingDirectory: C:\\jobs", "workingDirectory: D:\\jobs",
     ["working directory: C:\\jobs -> D:\\jobs"]),
    ("vbs-automation.yaml", "after: [excel-processing]", "after: [csv-morning]",
     ["after: excel-processing -> csv-morning"]),
    ("vbs-automation.yaml", "after: [excel-processing]", "after: [{task: excel-processing, require: completed}]",
     ["after: excel-processing -> excel-processing (completed)"]),
    ("vbs-automation.yaml", '"0 15 * * 1-5"', '["0 15 * * 1-5", "30 6 * * 6"]',
     ["trigger: (none) -> weekly on Sat at 06:30"]),
    ("csv-downloads.yaml", "retry: {attempts: 4, backoff: exponential, initial: 30s, max: 5m}",
     "retry: {attempts: 3, backoff: exponential, initial: 30s, max: 5m}",
     ["run.retry: {attempts: 4, initial: 30s, max: 5m} -> {attempts: 3, initial: 30s, max: 5m}"]),
    ("csv-downloads.yaml", "attemptTimeout: 2m", "attemptTimeout: 1m", ["attemptTimeout: 2m -> 1m"]),
    ("excel-processing.yaml", "      - fileExists: D:\\exports\\afternoon.csv\n", "",
     ["when: fileExists D:\\exports\\afternoon.csv -> (none)"]),
    ("email-delivery.yaml", "https://hooks.example.com/reconcile", "https://hooks.example.com/tasks",
     ["notify: webhook {url: https://hooks.example.com/reconcile} -> webhook {url: https://hooks.example.com/tasks}"]),
    ("excel-processing.yaml", "  settings:\n    timeout: 30m", "  settings:\n    timeout: 30m\n    priority: 4",
     ["priority: 7 -> 4"]),
]


@pytest.mark.parametrize("file, old, new, expected", UPDATES,
                         ids=[f"{f}:{n.strip()[:40]}" for f, _o, n, _e in UPDATES])
def test_an_update_says_the_change_in_the_manifests_words(workspace: Path, file: str, old: str, new: str,
                                                          expected: list[str]) -> None:
    assert run_cli("apply", "-q", cwd=workspace).code == 0
    _edit(workspace, file, old, new)
    result = run_cli("plan", cwd=workspace)
    assert result.code == 0, result.err
    changed = [line for line in result.out.splitlines() if line.startswith("~ ")]
    assert len(changed) == 1, result.out
    path = changed[0][2:].split("  (")[0]
    assert _block(result.out, path) == expected


def test_drift_keeps_the_element_level_detail_in_friendly_words(workspace: Path) -> None:
    assert run_cli("apply", "-q", cwd=workspace).code == 0
    stored = workspace / ".reconcile" / "store" / "Orchestrator" / "nightly-restart"
    xml = stored.read_bytes().decode("utf-16")
    stored.write_bytes(xml.replace("<ExecutionTimeLimit>PT5M</ExecutionTimeLimit>",
                                   "<ExecutionTimeLimit>PT2H</ExecutionTimeLimit>").encode("utf-16"))
    result = run_cli("plan", cwd=workspace)
    assert "~ \\Orchestrator\\nightly-restart  (drift: changed on the machine since the last apply)" in result.out
    assert _block(result.out, "\\Orchestrator\\nightly-restart") == ["Settings/ExecutionTimeLimit: 2h -> 5m"]


def _text_lines(out: str) -> list[tuple[str, str, str]]:
    found = []
    for line in out.splitlines():
        match = re.match(r"^    (.+?): (.*) -> (.*)$", line)
        if match:
            found.append(match.groups())
    return found


def _markdown_lines(out: str) -> list[tuple[str, str, str]]:
    found = []
    for line in out.splitlines():
        match = re.match(r"^\| (.+?) \| `(.*)` \| `(.*)` \|$", line)
        if match:
            found.append(tuple(g.replace("\\\\", "\\") if i == 0 else g for i, g in enumerate(match.groups())))
    return found


def test_text_markdown_and_json_say_the_same_lines(workspace: Path) -> None:
    assert run_cli("apply", "-q", cwd=workspace).code == 0
    for file, old, new, _expected in UPDATES[:2] + UPDATES[14:17]:
        if old in (workspace / "tasks.d" / file).read_text(encoding="utf-8"):
            _edit(workspace, file, old, new)
    text = run_cli("plan", cwd=workspace).out
    markdown = run_cli("plan", "--format", "markdown", cwd=workspace).out
    body = json.loads(run_cli("plan", "--format", "json", cwd=workspace).out)
    from_json = [(line["label"], line["before"], line["after"])
                 for change in body["changes"] for line in change["lines"]]
    assert len(from_json) == 5
    assert _text_lines(text) == from_json
    assert _markdown_lines(markdown) == from_json
    # Single backslashes in the text and in what Markdown shows (code spans are literal).
    assert "\\\\" not in text and "D:\\jobs" in markdown and "D:\\\\jobs" not in markdown


def test_json_keeps_the_element_path_and_gains_typed_values(workspace: Path) -> None:
    assert run_cli("apply", "-q", cwd=workspace).code == 0
    _edit(workspace, "nightly-restart.yaml", "timeout: 5m", "timeout: 7m")
    _edit(workspace, "nightly-restart.yaml", "wakeToRun: true", "wakeToRun: false")
    body = json.loads(run_cli("plan", "--format", "json", cwd=workspace).out)
    assert body["format_version"] == 1
    (change,) = [c for c in body["changes"] if c["action"] == "update"]
    fields = {f["field"]: f for f in change["fields"]}
    assert fields["Settings/ExecutionTimeLimit"] == {
        "field": "Settings/ExecutionTimeLimit", "before": "5m", "after": "7m",
        "before_value": "PT5M", "after_value": "PT7M"}
    assert (fields["Settings/WakeToRun"]["before_value"], fields["Settings/WakeToRun"]["after_value"]) == (True, False)
    assert change["lines"] == [
        {"label": "timeout", "before": "5m", "after": "7m", "fields": ["Settings/ExecutionTimeLimit"]},
        {"label": "wakeToRun", "before": "true", "after": "false", "fields": ["Settings/WakeToRun"]}]


def test_a_saved_plan_keeps_the_typed_values(workspace: Path) -> None:
    assert run_cli("apply", "-q", cwd=workspace).code == 0
    _edit(workspace, "nightly-restart.yaml", "timeout: 5m", "timeout: 7m")
    assert run_cli("plan", "--out", "plan.json", cwd=workspace).code == 0
    from reconciler import savedplan

    plan = savedplan.load(str(workspace / "plan.json")).plan
    (field,) = [f for c in plan.changes for f in c.fields]
    assert (field.before, field.after, field.old, field.new) == ("5m", "7m", "PT5M", "PT7M")
    applied = run_cli("apply", "--plan", "plan.json", cwd=workspace)
    assert "    timeout: 5m -> 7m\n" in applied.out


def _canonical(**settings: object) -> dict:
    return {"Principal": {"UserId": "S-1-5-18"}, "Settings": dict(settings),
            "Triggers": [], "Actions": [{"Exec": {"Command": "C:\\x.exe"}}]}


def test_an_element_no_word_stands_for_is_said_by_its_path() -> None:
    from reconciler import diff

    before = _canonical(Enabled=True)
    after = {**_canonical(Enabled=True), "Extra": {"Thing": "PT1M"}}
    change = Change(path=ROOT + "x", action=Action.UPDATE, reason="manifest changed", before=before, after=after,
                    fields=tuple(diff.changes(before, after)))
    assert plan_words.describe(change, ROOT) == [plan_words.Line("Extra", None, "{Thing: PT1M}", ("Extra",))]


def test_two_triggers_that_differ_never_read_the_same() -> None:
    """A trigger option the summary might leave out is still said (here: until)."""
    base = {"Enabled": True, "StartBoundary": "2000-01-03T09:30:00", "ScheduleByDay": {"DaysInterval": 1}}
    before = {**_canonical(), "Triggers": [{"CalendarTrigger": base}]}
    after = {**_canonical(), "Triggers": [{"CalendarTrigger": {**base, "EndBoundary": "2027-01-01T00:00:00"}}]}
    change = Change(path=ROOT + "x", action=Action.UPDATE, reason="manifest changed", before=before, after=after)
    assert [(line.label, line.before, line.after) for line in plan_words.describe(change, ROOT)] == [
        ("trigger", "daily at 09:30", "daily at 09:30, until 2027-01-01")]


def test_an_update_whose_words_read_the_same_is_said_element_by_element() -> None:
    """Only what the words derive changed (here: the path in a wake trigger's query):
    the update still says what changed, never an update with nothing under it."""
    from reconciler import diff, workflow

    def form(dependency: str) -> dict:
        wake = {"EventTrigger": {"Enabled": True, "Subscription": workflow.wake_query(dependency)}}
        return {**_canonical(), "Triggers": [wake]}

    before, after = form("\\Orchestrator\\a"), form("\\orchestrator\\a")
    change = Change(path=ROOT + "x", action=Action.UPDATE, reason="manifest changed", before=before, after=after,
                    fields=tuple(diff.changes(before, after)))
    assert [(line.label, line.before, line.after) for line in plan_words.describe(change, ROOT)] == [
        ("Triggers[0]/EventTrigger/Subscription", "(the event of a finished run of \\Orchestrator\\a)",
         "(the event of a finished run of \\orchestrator\\a)")]


def test_a_change_no_word_shows_is_still_said() -> None:
    """The runner payload names the task's own path, which no manifest key says: when
    only that changes, the update falls back to the element lines."""
    from reconciler import diff, workflow
    from reconciler.model import ExecAction

    def form(path: str) -> dict:
        action = workflow.runner_action(path, (ExecAction(command="C:\\x.exe"),), workflow.RunSpec(),
                                        {"python": "C:\\py\\python.exe", "home": "C:\\home"})
        return {**_canonical(), "Actions": [{"Exec": {"Command": action.command, "Arguments": action.arguments}}]}

    before, after = form("\\Orchestrator\\x"), form("\\orchestrator\\x")
    change = Change(path=ROOT + "x", action=Action.UPDATE, reason="manifest changed", before=before, after=after,
                    fields=tuple(diff.changes(before, after)))
    assert [(line.label, line.before, line.after) for line in plan_words.describe(change, ROOT)] == [
        ("Actions[0]/Runner/task", "\\Orchestrator\\x", "\\orchestrator\\x")]
