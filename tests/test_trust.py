"""What a saved plan and an ownership marker can be trusted for (issue #18, part 1).

A saved plan is data from outside (a CI artifact, a shared folder): ``apply --plan``
re-checks every change against the live state it reads, and with RECONCILE_PLAN_KEY set
accepts only a plan signed with that key. A marker is written by whoever can create a
task in the root: its root must match, a marker that cannot be read makes its task
unmanaged with a warning, and with RECONCILE_HMAC_KEY set only markers we signed count.
Each test reproduces one attack of the red-team run and checks that it now holds."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from conftest import run_cli, store_snapshot
from reconciler import marker, taskxml
from reconciler.savedplan import _digest

STORE = Path(".reconcile") / "store"
ROOT_DIR = STORE / "Orchestrator"
HAND_MADE = "\\Orchestrator\\hand-made"
PLAN_KEY = "plan-key-0123456789"
OTHER_KEY = "not-the-plan-key-99"
TASK_NS = "http://schemas.microsoft.com/windows/2004/02/mit/task"


def task_xml(command: str = "notepad.exe", documentation: str | None = None, source: str = "reconcile.py") -> str:
    registration = "<Description>made by hand</Description>"
    if documentation is not None:
        registration = f"<Source>{source}</Source><Documentation>{documentation}</Documentation>" + registration
    return ('<?xml version="1.0" encoding="UTF-16"?>\r\n<Task version="1.2" '
            f'xmlns="{TASK_NS}"><RegistrationInfo>{registration}</RegistrationInfo>'
            '<Principals><Principal id="Author"><UserId>S-1-5-18</UserId></Principal></Principals>'
            f'<Actions Context="Author"><Exec><Command>{command}</Command></Exec></Actions></Task>')


def put(workspace: Path, name: str, xml: str) -> Path:
    target = workspace / ROOT_DIR / name
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(xml.encode("utf-16"))
    return target


def forged_marker(path: str, root: str = "\\Orchestrator\\", protect: bool = True, **extra: Any) -> str:
    body = {"managedBy": "reconcile.py", "v": 1, "root": root, "path": path, "protect": protect,
            "hash": "0" * 64, "cv": 1, **extra}
    return json.dumps(body, separators=(",", ":")).replace("&", "&amp;").replace("<", "&lt;")


@pytest.fixture
def applied(workspace: Path) -> Path:
    """The examples applied, and a task made by hand in the root."""
    assert run_cli("apply", "-q", cwd=workspace).code == 0
    put(workspace, "hand-made", task_xml())
    return workspace


def _save_plan(workspace: Path, env: dict[str, str] | None = None) -> tuple[Path, dict[str, Any]]:
    plan_file = workspace / "plan.json"
    result = run_cli("plan", "--out", str(plan_file), cwd=workspace, env=env)
    assert result.code == 0, result.err
    return plan_file, json.loads(plan_file.read_text(encoding="utf-8"))


def _forge_adoption(workspace: Path, body: dict[str, Any]) -> dict[str, Any]:
    """The red team's plan: an update of the hand-made task, reason "adopt…", whose XML
    runs a payload (with a marker for that path, so the marker check passes), and a
    digest recomputed, as anyone can."""
    evil = task_xml(command="C:\\evil\\payload.exe",
                    documentation=forged_marker(HAND_MADE, protect=False))
    body["changes"].append({"path": HAND_MADE, "action": "update", "reason": "adopt: take over the existing task",
                            "drift": False, "manifest": None, "protect": False, "fields": [], "before": None,
                            "after": None, "xml": evil, "password_env": None})
    body["digest"] = _digest(body)
    return body


# --- saved plans ---------------------------------------------------------------------------------

def test_an_adoption_forged_into_an_unsigned_plan_is_refused(applied: Path) -> None:
    plan_file, body = _save_plan(applied)
    plan_file.write_text(json.dumps(_forge_adoption(applied, body)), encoding="utf-8")
    before = store_snapshot(applied / STORE)
    result = run_cli("apply", "--plan", str(plan_file), cwd=applied)
    assert result.code == 1, result.out + result.err
    assert HAND_MADE in result.err and "RECONCILE_PLAN_KEY" in result.err, result.err
    assert "apply without --plan" in result.err, "the message gives the way out"
    assert store_snapshot(applied / STORE) == before


def _evil_create(path: str = HAND_MADE, replaces: str | None = None) -> dict[str, Any]:
    evil = task_xml(command="C:\\evil\\payload.exe", documentation=forged_marker(path, protect=False))
    return {"path": path, "action": "create", "reason": "new task", "drift": False, "manifest": None,
            "protect": False, "fields": [], "before": None, "after": None, "xml": evil,
            "password_env": None, "replaces": replaces}


@pytest.mark.parametrize("forgery", ["no-op replaces", "create replaces itself", "unpaired replaces"])
def test_a_create_over_a_hand_made_task_cannot_hide_behind_replaces(applied: Path, forgery: str) -> None:
    """The red team's second plan: ``replaces`` on another change made a create over an
    unmanaged task pass as the new half of a rename, and it was written, exit 0."""
    plan_file, body = _save_plan(applied)
    noop = next(c for c in body["changes"] if c["action"] == "no-op")
    if forgery == "no-op replaces":
        noop["replaces"] = HAND_MADE
        body["changes"].append(_evil_create())
    elif forgery == "create replaces itself":
        body["changes"].append(_evil_create(replaces=HAND_MADE))
    else:  # a rename whose delete half is missing: it was silently dropped before
        body["changes"].append(_evil_create(HAND_MADE.upper(), replaces=HAND_MADE))
    body["digest"] = _digest(body)
    plan_file.write_text(json.dumps(body), encoding="utf-8")
    before = store_snapshot(applied / STORE)
    result = run_cli("apply", "--plan", str(plan_file), cwd=applied)
    assert result.code == 1, result.out + result.err
    assert "replaces" in result.err, result.err
    assert store_snapshot(applied / STORE) == before


def test_an_adoption_forged_into_a_signed_plan_is_refused(applied: Path) -> None:
    env = {"RECONCILE_PLAN_KEY": PLAN_KEY}
    plan_file, body = _save_plan(applied, env)
    assert body["signature"].startswith("hmac-sha256:")
    forged = _forge_adoption(applied, body)  # the signature is kept: the forger has no key
    plan_file.write_text(json.dumps(forged), encoding="utf-8")
    before = store_snapshot(applied / STORE)
    result = run_cli("apply", "--plan", str(plan_file), cwd=applied, env=env)
    assert result.code == 1 and "signature does not match" in result.err, result.out + result.err
    assert store_snapshot(applied / STORE) == before


def test_a_signed_plan_may_adopt(applied: Path) -> None:
    (applied / "tasks.d" / "hand-made.yaml").write_text(
        "apiVersion: reconcile/v1\nkind: ScheduledTask\nmetadata: {name: hand-made, adopt: true}\n"
        "spec:\n  actions: [{command: calc.exe}]\n  runAs: {user: SYSTEM}\n", encoding="utf-8")
    env = {"RECONCILE_PLAN_KEY": PLAN_KEY}
    plan_file, body = _save_plan(applied, env)
    assert [c["reason"] for c in body["changes"] if c["path"] == HAND_MADE] == ["adopt: take over the existing task"]
    unsigned = run_cli("apply", "--plan", str(plan_file), cwd=applied)
    assert unsigned.code == 1 and "RECONCILE_PLAN_KEY is not set" in unsigned.err, unsigned.err
    result = run_cli("apply", "--plan", str(plan_file), cwd=applied, env=env)
    assert result.code == 0, result.out + result.err
    assert "calc.exe" in (applied / ROOT_DIR / "hand-made").read_bytes().decode("utf-16")
    again = run_cli("plan", "--detailed-exitcode", cwd=applied)
    assert again.code == 0, again.out + again.err


def test_an_unsigned_plan_cannot_adopt_either(applied: Path) -> None:
    """The same adoption, made by plan itself but not signed: refused with the way out."""
    (applied / "tasks.d" / "hand-made.yaml").write_text(
        "apiVersion: reconcile/v1\nkind: ScheduledTask\nmetadata: {name: hand-made, adopt: true}\n"
        "spec:\n  actions: [{command: calc.exe}]\n  runAs: {user: SYSTEM}\n", encoding="utf-8")
    plan_file, _ = _save_plan(applied)
    result = run_cli("apply", "--plan", str(plan_file), cwd=applied)
    assert result.code == 1 and "needs a signed plan" in result.err, result.err
    assert run_cli("apply", cwd=applied).code == 0, "applying from the manifests adopts"


@pytest.mark.parametrize("plan_env, apply_env, words", [
    ({}, {"RECONCILE_PLAN_KEY": PLAN_KEY}, "not signed"),
    ({"RECONCILE_PLAN_KEY": PLAN_KEY}, {}, "cannot be checked"),
    ({"RECONCILE_PLAN_KEY": PLAN_KEY}, {"RECONCILE_PLAN_KEY": OTHER_KEY}, "signature does not match"),
    ({"RECONCILE_PLAN_KEY": PLAN_KEY}, {"RECONCILE_PLAN_KEY": PLAN_KEY}, None),
    ({"RECONCILE_PLAN_KEY": ""}, {"RECONCILE_PLAN_KEY": ""}, None),  # an unset CI secret is empty
], ids=["key-only-at-apply", "key-only-at-plan", "another-key", "same-key", "empty-keys"])
def test_the_key_rules(workspace: Path, plan_env: dict[str, str], apply_env: dict[str, str],
                       words: str | None) -> None:
    plan_file, _ = _save_plan(workspace, plan_env)
    result = run_cli("apply", "--plan", str(plan_file), cwd=workspace, env=apply_env)
    if words is None:
        assert result.code == 0 and "6 added" in result.out, result.out + result.err
    else:
        assert result.code == 1 and words in result.err, result.out + result.err
        assert not (workspace / ROOT_DIR).exists(), "refused, yet something was written"


def test_a_stripped_signature_is_refused(workspace: Path) -> None:
    env = {"RECONCILE_PLAN_KEY": PLAN_KEY}
    plan_file, body = _save_plan(workspace, env)
    del body["signature"]
    plan_file.write_text(json.dumps(body), encoding="utf-8")
    result = run_cli("apply", "--plan", str(plan_file), cwd=workspace, env=env)
    assert result.code == 1 and "not signed" in result.err, result.err


def test_a_saved_plan_cannot_register_a_marker_of_another_root(applied: Path) -> None:
    manifest = applied / "tasks.d" / "nightly-restart.yaml"
    manifest.write_text(manifest.read_text(encoding="utf-8").replace("timeout: 5m", "timeout: 6m"), encoding="utf-8")
    plan_file, body = _save_plan(applied)
    (change,) = [c for c in body["changes"] if c["action"] == "update"]
    change["xml"] = change["xml"].replace('"root":"\\\\Orchestrator\\\\"', '"root":"\\\\Elsewhere\\\\"')
    body["digest"] = _digest(body)
    plan_file.write_text(json.dumps(body), encoding="utf-8")
    before = store_snapshot(applied / STORE)
    result = run_cli("apply", "--plan", str(plan_file), cwd=applied)
    assert result.code == 1 and "ownership marker" in result.err, result.err
    assert store_snapshot(applied / STORE) == before


def test_a_deeply_nested_saved_plan_is_an_error_not_a_crash(workspace: Path) -> None:
    plan_file = workspace / "plan.json"
    plan_file.write_text("[" * 200_000 + "]" * 200_000, encoding="utf-8")
    result = run_cli("apply", "--plan", str(plan_file), cwd=workspace)
    assert result.code == 1 and "internal error" not in result.err and "not a saved plan" in result.err


# --- markers ---------------------------------------------------------------------------------

@pytest.mark.parametrize("documentation, words", [
    ("[" * 30_000 + "]" * 30_000, "nested too deeply"),  # RecursionError in json before
    ('{"managedBy":"reconcile.py","root":"\\\\Orchestrator\\\\","path":"\\\\Orchestrator\\\\forged",'
     '"hash":"x","protect":true,"deep":' + "[" * 30_000 + "]" * 30_000 + "}", "nested too deeply"),
    ("[" * 100_000, "characters long"),
    ('{"managedBy":"reconcile.py","root":"\\\\Orchestrator\\\\","path":"\\\\Orchestrator\\\\forged",'
     '"hash":"x","protect":true,"x":{"y":{"z":{"w":1}}}}', "nested too deeply"),
    ("{not json", "not valid JSON"),
    (forged_marker("\\Orchestrator\\forged", root="\\Elsewhere\\"), "names the root \\Elsewhere\\"),
    (forged_marker("\\Orchestrator\\forged", protect="yes"), "protect is not true or false"),  # type: ignore[arg-type]
], ids=["deep-array", "deep-value", "huge", "nested", "broken", "other-root", "protect-text"])
def test_a_forged_marker_makes_its_task_unmanaged_with_a_warning(workspace: Path, documentation: str,
                                                                 words: str) -> None:
    assert run_cli("apply", "-q", cwd=workspace).code == 0
    target = put(workspace, "forged", task_xml(documentation=documentation.replace("&", "&amp;")))
    before = target.read_bytes()
    result = run_cli("plan", "--format", "json", cwd=workspace)
    assert result.code == 0, result.err
    body = json.loads(result.out)
    assert "\\Orchestrator\\forged" in body["unmanaged"] and "\\Orchestrator\\forged" not in body["protected"]
    assert any(w.startswith("\\Orchestrator\\forged: ") and words in w for w in body["warnings"]), body["warnings"]
    assert run_cli("apply", "-q", cwd=workspace).code == 0
    assert target.read_bytes() == before


def test_a_marker_must_name_the_root_to_be_pruned(workspace: Path) -> None:
    """A task marked for another root is not ours to delete, even where its path matches."""
    assert run_cli("apply", "-q", cwd=workspace).code == 0
    target = put(workspace, "stray", task_xml(documentation=forged_marker("\\Orchestrator\\stray",
                                                                          root="\\Other\\", protect=False)))
    result = run_cli("apply", cwd=workspace)
    assert result.code == 0 and target.exists(), result.out + result.err


def test_inspect_never_raises_on_hostile_documentation() -> None:
    for text in ("[" * 1_000_000, "{" * 10, '"' * 3, "9" * 5000, "{}" * 40_000):
        element = taskxml.parse(task_xml(documentation=text), "forged")
        reading = marker.inspect(element, "\\Orchestrator\\")
        assert reading.marker is None and reading.problem


# --- markers signed with RECONCILE_HMAC_KEY ---------------------------------------------------------

MARK_KEY = {"RECONCILE_HMAC_KEY": "marker-key-42"}


def test_with_a_key_markers_are_signed_and_only_signed_ones_count(workspace: Path) -> None:
    assert run_cli("apply", "-q", cwd=workspace, env=MARK_KEY).code == 0
    live = (workspace / ROOT_DIR / "csv-morning").read_bytes().decode("utf-16")
    reading = marker.inspect(taskxml.parse(live, "csv-morning"), "\\Orchestrator\\", MARK_KEY["RECONCILE_HMAC_KEY"])
    assert reading.marker is not None and reading.marker.verified is True
    assert marker.inspect(taskxml.parse(live, "x"), "\\Orchestrator\\", "another key").marker is None
    plan = run_cli("plan", "--detailed-exitcode", cwd=workspace, env=MARK_KEY)
    assert plan.code == 0, plan.out + plan.err
    # A forged marker with a made-up signature: not ours, never deleted or changed.
    forged = put(workspace, "forged", task_xml(documentation=forged_marker(
        "\\Orchestrator\\forged", protect=False, sig="0" * 64)))
    result = run_cli("plan", "--format", "json", cwd=workspace, env=MARK_KEY)
    body = json.loads(result.out)
    assert "\\Orchestrator\\forged" in body["unmanaged"], body
    assert any("not signed with RECONCILE_HMAC_KEY" in w for w in body["warnings"]), body["warnings"]
    before = forged.read_bytes()
    assert run_cli("apply", "-q", cwd=workspace, env=MARK_KEY).code == 0
    assert forged.read_bytes() == before


def test_markers_from_before_the_key_are_signed_by_their_manifest_and_never_pruned(workspace: Path) -> None:
    assert run_cli("apply", "-q", cwd=workspace).code == 0  # marked without a key
    (workspace / "tasks.d" / "email-delivery.yaml").unlink()
    result = run_cli("plan", "--format", "json", cwd=workspace, env=MARK_KEY)
    assert result.code == 0, result.err
    body = json.loads(result.out)
    reasons = {c["path"]: c["reason"] for c in body["changes"] if c["action"] != "noop"}
    assert reasons["\\Orchestrator\\csv-morning"] == "sign the ownership marker"
    assert "\\Orchestrator\\email-delivery" not in reasons, "an unsigned marker is no reason to delete"
    assert "\\Orchestrator\\email-delivery" in body["unmanaged"]
    assert any(w.startswith("\\Orchestrator\\email-delivery: its ownership marker is not signed")
               for w in body["warnings"]), body["warnings"]
    assert run_cli("apply", "-q", cwd=workspace, env=MARK_KEY).code == 0
    assert (workspace / ROOT_DIR / "email-delivery").exists()
    again = run_cli("plan", "--detailed-exitcode", cwd=workspace, env=MARK_KEY)
    assert again.code == 0, again.out  # the others are signed now: No changes.
    assert "email-delivery" in again.out  # still listed, with its warning


def test_a_signed_plan_may_adopt_a_task_whose_name_case_changes(applied: Path) -> None:
    (applied / ROOT_DIR / "hand-made").rename(applied / ROOT_DIR / "Hand-Made")
    (applied / "tasks.d" / "hand-made.yaml").write_text(
        "apiVersion: reconcile/v1\nkind: ScheduledTask\nmetadata: {name: hand-made, adopt: true}\n"
        "spec:\n  actions: [{command: calc.exe}]\n  runAs: {user: SYSTEM}\n", encoding="utf-8")
    plan_file, body = _save_plan(applied)
    assert {c["action"] for c in body["changes"] if "hand-made" in c["path"].lower()} == {"delete", "create"}
    refused = run_cli("apply", "--plan", str(plan_file), cwd=applied)
    assert refused.code == 1 and "\\Orchestrator\\Hand-Made" in refused.err, refused.err
    env = {"RECONCILE_PLAN_KEY": PLAN_KEY}
    plan_file, _ = _save_plan(applied, env)
    result = run_cli("apply", "--plan", str(plan_file), cwd=applied, env=env)
    assert result.code == 0, result.out + result.err
    assert [p.name for p in (applied / ROOT_DIR).iterdir() if p.name.lower() == "hand-made"] == ["hand-made"]


def test_a_real_rename_of_the_names_case_still_applies_from_a_saved_plan(applied: Path) -> None:
    manifest = applied / "tasks.d" / "nightly-restart.yaml"
    manifest.write_text(manifest.read_text(encoding="utf-8").replace("name: nightly-restart", "name: Nightly-Restart"),
                        encoding="utf-8")
    plan_file, body = _save_plan(applied)
    assert [c.get("replaces") for c in body["changes"] if c["action"] == "create"] == ["\\Orchestrator\\nightly-restart"]
    result = run_cli("apply", "--plan", str(plan_file), cwd=applied)
    assert result.code == 0, result.err
    assert "No changes." in run_cli("plan", cwd=applied).out
