"""End to end: ``python reconcile.py`` on the example manifests and the local store,
as a user runs it from a fresh clone."""
from __future__ import annotations

import json
from pathlib import Path

from lxml import etree

from conftest import run_cli, shared, store_snapshot

STORE = Path(".reconcile/store")


def test_plan_on_the_examples(workspace: Path) -> None:
    result = run_cli("plan", cwd=workspace)
    assert result.code == 0, result.err
    assert result.out.rstrip().splitlines()[-1] == "Plan: 6 to add, 0 to change, 0 to delete."
    for name in ("csv-morning", "csv-afternoon", "excel-processing", "vbs-automation",
                 "email-delivery", "nightly-restart"):
        assert f"+ \\Orchestrator\\{name}" in result.out
    assert not (workspace / STORE).exists(), "plan writes nothing"


def test_apply_then_plan_says_no_changes(workspace: Path) -> None:
    applied = run_cli("apply", cwd=workspace)
    assert applied.code == 0, applied.err
    assert "Apply complete: 6 added, 0 changed, 0 deleted." in applied.out
    again = run_cli("plan", "--detailed-exitcode", cwd=workspace)
    assert again.code == 0, again.out + again.err
    assert again.out.strip().splitlines()[-1] == "No changes."
    before = store_snapshot(workspace / STORE)
    second = run_cli("apply", cwd=workspace)
    assert second.code == 0 and second.out.strip().splitlines()[-1] == "No changes."
    assert store_snapshot(workspace / STORE) == before, "a second apply writes nothing"


def test_one_changed_field_gives_one_update(workspace: Path) -> None:
    assert run_cli("apply", cwd=workspace).code == 0
    manifest = workspace / "tasks.d" / "excel-processing.yaml"
    manifest.write_text(manifest.read_text().replace("timeout: 30m", "timeout: 45m"))
    result = run_cli("plan", "--detailed-exitcode", cwd=workspace)
    assert result.code == 2, result.err
    changed = [line for line in result.out.splitlines() if line.startswith(("+", "~", "-"))]
    assert changed == ["~ \\Orchestrator\\excel-processing  (manifest changed)"]
    assert "    timeout: 30m -> 45m\n" in result.out
    assert result.out.strip().splitlines()[-1] == "Plan: 0 to add, 1 to change, 0 to delete."


def test_removed_manifest_gives_one_delete(workspace: Path) -> None:
    assert run_cli("apply", cwd=workspace).code == 0
    (workspace / "tasks.d" / "nightly-restart.yaml").unlink()
    result = run_cli("plan", cwd=workspace)
    changed = [line for line in result.out.splitlines() if line.startswith(("+", "~", "-"))]
    assert changed == ["- \\Orchestrator\\nightly-restart  (its manifest is gone)"]
    assert result.out.strip().splitlines()[-1] == "Plan: 0 to add, 0 to change, 1 to delete."
    assert run_cli("apply", cwd=workspace).code == 0
    assert not (workspace / STORE / "Orchestrator" / "nightly-restart").exists()


def test_unmanaged_task_is_listed_and_left_byte_for_byte(workspace: Path) -> None:
    assert run_cli("apply", cwd=workspace).code == 0
    foreign = workspace / STORE / "Orchestrator" / "hand-made"
    original = ('<?xml version="1.0" encoding="UTF-16"?>\r\n<Task version="1.2" '
                'xmlns="http://schemas.microsoft.com/windows/2004/02/mit/task"><Actions>'
                '<Exec><Command>notepad.exe</Command></Exec></Actions></Task>').encode("utf-16")
    foreign.write_bytes(original)
    (workspace / "tasks.d" / "nightly-restart.yaml").unlink()
    result = run_cli("plan", cwd=workspace)
    assert "Unmanaged tasks in \\Orchestrator\\" in result.out
    assert "  \\Orchestrator\\hand-made" in result.out
    assert run_cli("apply", cwd=workspace).code == 0
    assert foreign.read_bytes() == original


def test_store_files_are_utf16_and_valid_against_the_xsd(workspace: Path) -> None:
    assert run_cli("apply", cwd=workspace).code == 0
    xsd_text = shared("reference", "task.xsd").read_text(encoding="utf-8")
    # The published XSD pins version to 1.3 (a known flaw): patch just that attribute.
    xsd_text = xsd_text.replace('use="optional" fixed="1.3" type="versionType"',
                                'use="optional" type="versionType"')
    schema = etree.XMLSchema(etree.fromstring(xsd_text.encode("utf-8")))
    files = [p for p in (workspace / STORE / "Orchestrator").rglob("*") if p.is_file()]
    assert len(files) == 6
    for file in files:
        raw = file.read_bytes()
        assert raw.startswith(b"\xff\xfe"), file
        text = raw[2:].decode("utf-16-le")
        assert text.startswith('<?xml version="1.0" encoding="UTF-16"?>')
        document = etree.fromstring(text.split("?>", 1)[1].encode("utf-8"))
        assert schema.validate(document), (file, schema.error_log)


def test_invalid_manifest_one_line_per_problem_and_nothing_written(workspace: Path) -> None:
    assert run_cli("apply", cwd=workspace).code == 0
    before = store_snapshot(workspace / STORE)
    bad = workspace / "tasks.d" / "broken.yaml"
    bad.write_text("apiVersion: reconcile/v1\nkind: ScheduledTask\nmetadata:\n  name: broken\n"
                   "spec:\n  triggers:\n    - daily: {at: '25:00'}\n  actions: []\n  runAs: {user: SYSTEM}\n"
                   "  setings: {}\n")
    for command in ("validate", "plan", "apply"):
        result = run_cli(command, cwd=workspace)
        assert result.code == 1
        lines = result.err.strip().splitlines()
        assert lines == [
            'tasks.d/broken.yaml:7:19: at: "25:00" is not valid (HH:MM or HH:MM:SS, local wall-clock time)',
            "tasks.d/broken.yaml:8:12: actions needs at least 1 item",
            "tasks.d/broken.yaml:10:3: unknown key 'setings' (did you mean 'settings'?)",
        ]
        assert "Traceback" not in result.err
    assert store_snapshot(workspace / STORE) == before


def test_json_and_markdown_views(workspace: Path) -> None:
    result = run_cli("plan", "--format", "json", cwd=workspace)
    body = json.loads(result.out)
    assert body["format_version"] == 1
    assert body["summary"]["add"] == 6
    change = body["changes"][0]
    assert change["action"] == "create" and change["before"] is None and change["after"]["Actions"]
    markdown = run_cli("plan", "--format", "markdown", cwd=workspace).out
    assert markdown.index("| add | change | delete |") < markdown.index("<details>")


def test_saved_plan_applies_and_a_stale_one_is_refused(workspace: Path) -> None:
    plan_file = workspace / "plan.json"
    assert run_cli("plan", "--out", str(plan_file), cwd=workspace).code == 0
    saved = json.loads(plan_file.read_text())
    assert saved["fingerprints"] == {} and all(c["xml"] for c in saved["changes"])
    assert run_cli("apply", "--plan", str(plan_file), cwd=workspace).code == 0
    assert run_cli("plan", "--detailed-exitcode", cwd=workspace).code == 0

    manifest = workspace / "tasks.d" / "email-delivery.yaml"
    manifest.write_text(manifest.read_text().replace("timeout: 10m", "timeout: 11m"))
    assert run_cli("plan", "--out", str(plan_file), cwd=workspace).code == 0
    # Someone edits a task on the machine after the plan was reviewed.
    target = workspace / STORE / "Orchestrator" / "csv-morning"
    text = target.read_bytes().decode("utf-16").replace("PT15M", "PT16M")
    target.write_bytes(text.encode("utf-16"))
    stale = run_cli("apply", "--plan", str(plan_file), cwd=workspace)
    assert stale.code == 1
    assert "stale" in stale.err and "\\Orchestrator\\csv-morning" in stale.err


def test_render_prints_utf8_xml_with_the_marker(workspace: Path) -> None:
    result = run_cli("render", "excel-processing", cwd=workspace)
    assert result.code == 0, result.err
    assert result.out.startswith('<?xml version="1.0" encoding="UTF-8"?>')
    assert "<Source>reconcile.py</Source>" in result.out
    root = etree.fromstring(result.out.split("?>", 1)[1].encode("utf-8"))
    assert root.tag.endswith("Task")
    assert run_cli("render", "nope", cwd=workspace).code == 1


def test_render_is_deterministic(workspace: Path) -> None:
    first = run_cli("render", "excel-processing", cwd=workspace).out
    second = run_cli("render", "excel-processing", cwd=workspace, env={"TZ": "Asia/Tokyo"}).out
    assert first == second


def test_usage_errors_exit_1(workspace: Path) -> None:
    for args in (["frobnicate"], ["plan", "--format", "yaml"], ["plan", "--root", "\\"],
                 ["plan", "--dir", "missing.d"], []):
        result = run_cli(*args, cwd=workspace)
        assert result.code == 1, args
        assert "Traceback" not in result.err


def test_options_before_and_after_the_command(workspace: Path) -> None:
    a = run_cli("--root", "Jobs", "plan", cwd=workspace)
    b = run_cli("plan", "--root", "\\Jobs\\", cwd=workspace)
    assert a.code == b.code == 0 and a.out == b.out
    assert "+ \\Jobs\\excel-processing" in a.out


def test_github_annotations(workspace: Path) -> None:
    (workspace / "tasks.d" / "bad.yaml").write_text(
        "apiVersion: reconcile/v1\nkind: ScheduledTask\nmetadata: {name: x}\nspec: {actions: [{command: a}], "
        "runAs: {user: SYSTEM}, setings: {}}\n")
    plain = run_cli("validate", cwd=workspace)
    annotated = run_cli("validate", cwd=workspace, env={"GITHUB_ACTIONS": "true"})
    assert plain.out == annotated.out
    assert "::error file=tasks.d/bad.yaml,line=4,col=" in annotated.err
    assert "::error" not in plain.err


def test_delete_every_managed_task_needs_consent(workspace: Path) -> None:
    assert run_cli("apply", cwd=workspace).code == 0
    empty = workspace / "empty.d"
    empty.mkdir()
    refused = run_cli("apply", "--dir", "empty.d", cwd=workspace)
    assert refused.code == 1 and "--allow-delete-all" in refused.err
    assert len(list((workspace / STORE / "Orchestrator").iterdir())) == 6
    limited = run_cli("apply", "--dir", "empty.d", "--allow-delete-all", "--max-deletions", "2", cwd=workspace)
    assert limited.code == 1 and "--max-deletions" in limited.err
    allowed = run_cli("apply", "--dir", "empty.d", "--allow-delete-all", cwd=workspace)
    assert allowed.code == 0, allowed.err
    assert not list((workspace / STORE / "Orchestrator").iterdir())
