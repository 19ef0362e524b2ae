"""Faults never cost a task (issue #5): every backend call failing in turn, on the local
store and on the Windows emulator; SIGKILL in the middle of an apply; two applies at once;
and the rails that refuse a run before its first write (--max-deletions, delete-all,
protect, stale or foreign saved plans).

Starting point of the fault matrix: the examples plus a protected task applied; then two
manifests changed, one removed, one added, the protected task's manifest removed, and a
task made by hand (unmanaged) in the root. After any failed run every task is either in
its old or its new version, the unmanaged and protected tasks are byte for byte what they
were, and the next clean run converges to ``No changes.``."""
from __future__ import annotations

import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from lxml import etree

from com_support import call_count, com_calls, methods, processes_started, standin_env
from conftest import REPO, store_snapshot
from safety_support import (
    PROTECTED_MANIFEST, STORE, UNMANAGED_XML, change_manifests, emulator, emulator_env, machine_calls,
    machine_tasks, new_workspace, reconcile, reconcile_many, reconcile_process,
)

ROOT = "Orchestrator"
UNMANAGED = "Orchestrator/hand-made"
PROTECTED = "Orchestrator/guarded"
TASK_NS = "http://schemas.microsoft.com/windows/2004/02/mit/task"


def root_files(workspace: Path) -> dict[str, bytes]:
    """The tasks in the root folder of the local store (relative path -> bytes)."""
    return {k.replace(os.sep, "/"): v for k, v in store_snapshot(workspace / STORE).items()
            if k.replace(os.sep, "/").startswith(ROOT + "/")}


def assert_old_or_new(now: dict[str, bytes], old: dict[str, bytes], new: dict[str, bytes], what: str) -> None:
    """Every task is in its old or its new version (a task in both is never missing)."""
    for path in sorted(set(old) | set(new) | set(now)):
        allowed = {old.get(path), new.get(path)}
        assert now.get(path) in allowed, f"{what}: {path} is neither its old nor its new version"


def assert_clean_run_converges(workspace: Path, env: dict[str, str] | None = None,
                               backend: tuple[str, ...] = ()) -> None:
    applied = reconcile(*backend, "apply", cwd=workspace, env=env)
    assert applied.code == 0, applied.out + applied.err
    plan = reconcile(*backend, "plan", "--detailed-exitcode", cwd=workspace, env=env)
    assert plan.code == 0 and plan.out.strip().splitlines()[-1] == "No changes.", plan.out + plan.err


# --- the fault matrix on the local store ----------------------------------------------------

@pytest.fixture(scope="module")
def local_start(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An applied store, then the manifests changed (not applied yet)."""
    workspace = new_workspace(tmp_path_factory.mktemp("faults-local") / "start")
    (workspace / "tasks.d" / "guarded.yaml").write_text(PROTECTED_MANIFEST)
    first = reconcile("apply", cwd=workspace)
    assert first.code == 0, first.err
    (workspace / STORE / UNMANAGED).write_bytes(UNMANAGED_XML.encode("utf-16"))
    change_manifests(workspace)
    return workspace


def _copy(start: Path, target: Path) -> Path:
    shutil.copytree(start, target)
    return target


@pytest.mark.slow
def test_every_failing_call_on_the_local_store_loses_nothing(local_start: Path, tmp_path: Path) -> None:
    old = root_files(local_start)
    assert UNMANAGED in old and PROTECTED in old
    # The clean apply: its result and how many backend calls it makes.
    clean = _copy(local_start, tmp_path / "clean")
    count_file = tmp_path / "count"
    done = reconcile_process("apply", cwd=clean, driver=True, env={"SAFETY_COUNT_FILE": str(count_file)})
    assert done.code == 0, done.err
    assert "1 added, 2 changed, 1 deleted" in done.out, done.out
    total = int(count_file.read_text())
    assert total == 5, f"a read and four writes, not {total} calls"
    new = root_files(clean)
    assert new[UNMANAGED] == old[UNMANAGED] and new[PROTECTED] == old[PROTECTED]

    numbers = range(1, total + 1)
    spaces = [_copy(local_start, tmp_path / f"fail-{n}") for n in numbers]
    failures = reconcile_many([(("apply",), w, {"SAFETY_FAIL_CALL": str(n)}, True) for n, w in zip(numbers, spaces)])
    for number, workspace, failed in zip(numbers, spaces, failures):
        what = f"call {number} of {total} failed"
        assert failed.code == 1, (what, failed.out, failed.err)
        assert "Traceback" not in failed.err and "internal error" not in failed.err, failed.err
        if number > 1:
            assert "Apply failed" in failed.out, (what, failed.out)
            assert "\\Orchestrator\\" in failed.err, failed.err
        now = root_files(workspace)
        assert_old_or_new(now, old, new, what)
        assert now[UNMANAGED] == old[UNMANAGED] and now[PROTECTED] == old[PROTECTED], what
        assert not [p for p in (workspace / STORE / ROOT).rglob("*") if p.name.startswith(("task-", ".", "~"))]
    again = reconcile_many([(("apply", "-q"), w, None, False) for w in spaces])
    for number, workspace, result in zip(numbers, spaces, again):
        assert result.code == 0, (number, result.err)
        assert root_files(workspace) == new, number  # byte for byte what a clean apply gives
    plan = reconcile("plan", "--detailed-exitcode", cwd=spaces[0])
    assert plan.code == 0 and plan.out.strip().splitlines()[-1] == "No changes.", plan.out


def test_a_call_past_the_last_does_not_fail_the_apply(local_start: Path, tmp_path: Path) -> None:
    """The control case: the driver's fault injection only fires when its call comes."""
    workspace = _copy(local_start, tmp_path / "ws")
    result = reconcile_process("apply", cwd=workspace, driver=True, env={"SAFETY_FAIL_CALL": "6"})
    assert result.code == 0, result.err


# --- the fault matrix on the emulator -------------------------------------------------------

@pytest.fixture(scope="module")
def machine_start(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    workspace = new_workspace(tmp_path_factory.mktemp("faults-emulator") / "start")
    env = emulator_env(workspace)
    (workspace / "tasks.d" / "guarded.yaml").write_text(PROTECTED_MANIFEST)
    first = reconcile("--backend", "schtasks", "apply", cwd=workspace, env=env)
    assert first.code == 0, first.err
    hand = workspace / "hand.xml"
    hand.write_bytes(UNMANAGED_XML.encode("utf-16"))
    created = emulator(env, "/Create", "/XML", str(hand), "/TN", "\\Orchestrator\\hand-made")
    assert created.returncode == 0, created.stderr
    change_manifests(workspace)
    return workspace, env


def _machine(workspace: Path, env: dict[str, str], name: str) -> dict[str, str]:
    state = workspace / name
    shutil.copytree(Path(env["SCHTASKS_EMULATOR_STATE"]), state)
    return {**env, "SCHTASKS_EMULATOR_STATE": str(state), "RECONCILE_LOCK_DIR": str(workspace / f"lock-{name}")}


@pytest.mark.slow
def test_every_failing_call_on_the_emulator_loses_nothing(machine_start: tuple[Path, dict[str, str]]) -> None:
    workspace, env = machine_start
    start_state = Path(env["SCHTASKS_EMULATOR_STATE"])
    old = machine_tasks(start_state)
    base = machine_calls(start_state)
    unmanaged, protected = "\\Orchestrator\\hand-made", "\\Orchestrator\\guarded"
    assert unmanaged in old and protected in old

    clean_env = _machine(workspace, env, "clean")
    done = reconcile("--backend", "schtasks", "apply", cwd=workspace, env=clean_env)
    assert done.code == 0, done.err
    assert "1 added, 2 changed, 1 deleted" in done.out, done.out
    new = machine_tasks(Path(clean_env["SCHTASKS_EMULATOR_STATE"]))
    total = machine_calls(Path(clean_env["SCHTASKS_EMULATOR_STATE"])) - base
    # One /Query of the state, one of run data (the plan updates and deletes, so apply
    # looks for a running instance), then four writes.
    assert total == 6, f"two /Query and four writes, not {total} calls"
    run_data = {2}  # informational: a failed read is a warning and the apply goes on
    assert new[unmanaged] == old[unmanaged] and new[protected] == old[protected]

    numbers = range(1, total + 1)
    envs = [_machine(workspace, env, f"fail-{n}") for n in numbers]
    failures = reconcile_many([(("--backend", "schtasks", "apply"), workspace,
                                {**e, "SCHTASKS_EMULATOR_FAULT": f"fail-on-call:{base + n}"}, False)
                               for n, e in zip(numbers, envs)])
    for number, run_env, failed in zip(numbers, envs, failures):
        what = f"call {number} of {total} failed"
        assert failed.code == (0 if number in run_data else 1), (what, failed.out, failed.err)
        assert "Traceback" not in failed.err and "internal error" not in failed.err, failed.err
        assert "Access is denied" in (failed.out if number in run_data else failed.err), (what, failed.out, failed.err)
        now = machine_tasks(Path(run_env["SCHTASKS_EMULATOR_STATE"]))
        assert_old_or_new(now, old, new, what)
        assert now[unmanaged] == old[unmanaged] and now[protected] == old[protected], what
        assert {p: b for p, b in now.items() if not p.startswith("\\Orchestrator\\")} == \
               {p: b for p, b in old.items() if not p.startswith("\\Orchestrator\\")}, what
    again = reconcile_many([(("--backend", "schtasks", "apply", "-q"), workspace, e, False) for e in envs])
    for number, run_env, result in zip(numbers, envs, again):
        assert result.code == 0, (number, result.err)
        # byte for byte what a clean apply gives
        assert machine_tasks(Path(run_env["SCHTASKS_EMULATOR_STATE"])) == new, number
    plan = reconcile("--backend", "schtasks", "plan", "--detailed-exitcode", cwd=workspace, env=envs[0])
    assert plan.code == 0 and plan.out.strip().splitlines()[-1] == "No changes.", plan.out


# --- SIGKILL in the middle of an apply (local store) -----------------------------------------

MANY = 300


def _many_manifests(folder: Path, version: int, skip: set[int] = frozenset()) -> None:
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    for i in range(MANY):
        if i in skip:
            continue
        (folder / f"t{i:03d}.yaml").write_text(
            "apiVersion: reconcile/v1\nkind: ScheduledTask\n"
            f"metadata: {{name: job-{i:03d}, folder: F{i % 7}}}\n"
            f"spec:\n  schedule: \"{i % 60} {i % 24} * * *\"\n"
            f"  actions: [{{command: C:\\tools\\job.exe, arguments: [\"--n\", \"{i}\", \"--v{version}\"]}}]\n"
            "  runAs: {user: SYSTEM}\n")


def _parses_as_task(raw: bytes) -> bool:
    if not raw.startswith(b"\xff\xfe"):
        return False
    text = raw[2:].decode("utf-16-le")
    body = text.split("?>", 1)[1] if text.startswith("<?xml") else text
    root = etree.fromstring(body.encode("utf-8"))
    return etree.QName(root).localname == "Task" and etree.QName(root).namespace == TASK_NS


def _kill_during_apply(workspace: Path, writes_before_kill: int, call_log: Path) -> int:
    """Start ``apply``; SIGKILL it once it has started ``writes_before_kill`` writes (by
    the backend's call log), or after 20 s. Returns the return code."""
    if call_log.exists():
        call_log.unlink()
    env = {k: v for k, v in os.environ.items() if k not in ("GITHUB_ACTIONS", "NO_COLOR")}
    env["RECONCILE_CALL_LOG"] = str(call_log)
    process = subprocess.Popen([sys.executable, str(REPO / "reconcile.py"), "apply", "-q"], cwd=workspace,
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while process.poll() is None and time.monotonic() < deadline:
        try:
            text = call_log.read_text(encoding="utf-8")
        except OSError:
            text = ""
        if text.count('"call": "register"') + text.count('"call": "delete"') >= writes_before_kill:
            break
        time.sleep(0.001)
    process.send_signal(signal.SIGKILL)
    return process.wait(timeout=30)


def _check_after_kill(workspace: Path) -> dict[str, bytes]:
    files = root_files(workspace)
    for path, raw in files.items():
        assert _parses_as_task(raw), f"{path} is not a whole task file"
    stray = [p for p in (workspace / STORE / ROOT).rglob("*")
             if p.is_file() and not re.fullmatch(r"job-\d{3}", p.name)]
    assert stray == [], f"files other than tasks inside the root folder: {stray}"
    return files


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_sigkill_during_apply_never_leaves_half_a_task(tmp_path: Path) -> None:
    rng = random.Random(20260505)
    workspace = tmp_path / "ws"
    workspace.mkdir()
    _many_manifests(workspace / "tasks.d", version=1)
    log = tmp_path / "calls.jsonl"
    lock = workspace / STORE / ".reconcile.lock"
    snapshots = []
    # Creates: killed twice at random points, then completed.
    for target in (rng.randint(5, 140), rng.randint(5, 140)):
        _kill_during_apply(workspace, target, log)
        assert lock.exists(), "killed in the middle of its writes, the apply left its lock"
        snapshots.append(_check_after_kill(workspace))
    assert 0 < len(snapshots[-1]) < MANY, "the kills came too late to test anything"
    completed = reconcile("apply", "-q", cwd=workspace)
    assert completed.code == 0, completed.err  # a dead holder's lock is taken over
    assert "another apply" not in completed.err
    old = _check_after_kill(workspace)
    assert len(old) == MANY
    for snapshot in snapshots:
        assert all(old[p] == raw for p, raw in snapshot.items())
    # Every manifest changed and 30 removed: 270 updates, then 30 deletes. Killed once
    # among the updates and once among the deletes.
    _many_manifests(workspace / "tasks.d", version=2, skip=set(range(0, MANY, 10)))
    snapshots = []
    first = rng.randint(1, 150)
    for target in (first, (270 - first) + rng.randint(3, 28)):
        _kill_during_apply(workspace, target, log)
        snapshots.append(_check_after_kill(workspace))
    assert MANY - 30 < len(snapshots[-1]) < MANY, "the second kill did not land among the deletes"
    assert_clean_run_converges(workspace)
    new = _check_after_kill(workspace)
    assert len(new) == MANY - 30
    for snapshot in snapshots:
        assert_old_or_new(snapshot, old, new, "after SIGKILL")
    assert not lock.exists(), "the lock is released after a clean run"


def test_a_lock_left_by_a_dead_process_is_taken_over(tmp_path: Path) -> None:
    workspace = new_workspace(tmp_path / "ws")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    lock = workspace / STORE / ".reconcile.lock"
    lock.parent.mkdir(parents=True)
    import socket

    lock.write_text(json.dumps({"pid": dead.pid, "host": socket.gethostname(),
                                "started": "2026-01-01T00:00:00+00:00", "token": "dead"}))
    result = reconcile("apply", cwd=workspace)
    assert result.code == 0, result.err
    assert not lock.exists()


# --- two applies at once ----------------------------------------------------------------------

def test_a_second_apply_exits_at_once_naming_the_holder(tmp_path: Path) -> None:
    workspace = new_workspace(tmp_path / "ws")
    release = tmp_path / "release"
    env = {k: v for k, v in os.environ.items() if k not in ("GITHUB_ACTIONS", "NO_COLOR")}
    env["SAFETY_BLOCK_UNTIL"] = str(release)
    first = subprocess.Popen([sys.executable, str(Path(__file__).parent / "safety_driver.py"), "apply"],
                             cwd=workspace, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lock = workspace / STORE / ".reconcile.lock"
        deadline = time.monotonic() + 30
        while not lock.exists() and time.monotonic() < deadline and first.poll() is None:
            time.sleep(0.02)
        assert lock.exists(), "the first apply never took the lock"
        before = store_snapshot(workspace / STORE)
        second = reconcile_process("apply", cwd=workspace, timeout=20)
        assert second.code == 1, second.out + second.err
        assert str(first.pid) in second.err and "apply" in second.err.lower(), second.err
        assert len(second.err.strip().splitlines()) == 1, second.err
        assert second.seconds < 10
        assert store_snapshot(workspace / STORE) == before
        # A plan does not need the lock.
        assert reconcile("plan", cwd=workspace).code == 0
    finally:
        release.write_text("go")
        out, err = first.communicate(timeout=60)
    assert first.returncode == 0, err
    assert not (workspace / STORE / ".reconcile.lock").exists()


# --- rails that refuse before the first write -------------------------------------------------

@pytest.fixture(scope="module")
def applied(tmp_path_factory: pytest.TempPathFactory) -> Path:
    workspace = new_workspace(tmp_path_factory.mktemp("rails") / "applied")
    (workspace / "tasks.d" / "guarded.yaml").write_text(PROTECTED_MANIFEST)
    assert reconcile("apply", cwd=workspace).code == 0
    (workspace / STORE / UNMANAGED).write_bytes(UNMANAGED_XML.encode("utf-16"))
    return workspace


@pytest.fixture
def ws(applied: Path, tmp_path: Path) -> Path:
    return _copy(applied, tmp_path / "ws")


def _refused(ws: Path, *args: str, words: str) -> None:
    before = store_snapshot(ws / STORE)
    result = reconcile(*args, cwd=ws)
    assert result.code == 1, result.out + result.err
    assert words in result.err, result.err
    assert "Traceback" not in result.err
    assert store_snapshot(ws / STORE) == before, "refused, yet the store changed"


def test_max_deletions(ws: Path) -> None:
    for name in ("nightly-restart", "email-delivery", "vbs-automation"):
        (ws / "tasks.d" / f"{name}.yaml").unlink()
    (ws / "tasks.d" / "added.yaml").write_text("apiVersion: reconcile/v1\nkind: ScheduledTask\n"
                                               "metadata: {name: added}\nspec:\n  actions: [{command: a.exe}]\n")
    _refused(ws, "apply", "--max-deletions", "2", words="--max-deletions")
    _refused(ws, "apply", "--max-deletions", "0", words="--max-deletions")
    done = reconcile("apply", "--max-deletions", "3", cwd=ws)
    assert done.code == 0 and "1 added, 0 changed, 3 deleted" in done.out, done.out + done.err
    assert root_files(ws)[UNMANAGED] == UNMANAGED_XML.encode("utf-16")


@pytest.mark.parametrize("directory, make", [
    ("empty.d", lambda d: d.mkdir()),
    ("docs.d", lambda d: (d.mkdir(), (d / "README.md").write_text("tasks live elsewhere"))),
    ("defaults-only.d", lambda d: (d.mkdir(), shutil.copy(REPO / "tasks.d" / "_defaults.yaml", d))),
    ("tasks.dd", lambda d: None),  # a typo: no such folder
    ("tasks.d/_defaults.yaml", lambda d: None),  # a file, not a folder
])
def test_a_run_that_would_delete_every_managed_task_is_refused(ws: Path, directory: str, make) -> None:
    (ws / "tasks.d" / "guarded.yaml").write_text(PROTECTED_MANIFEST.replace("protect: true", "protect: false"))
    assert reconcile("apply", cwd=ws).code == 0  # no protected task: the plain case
    make(ws / directory)
    before = store_snapshot(ws / STORE)
    result = reconcile("apply", "--dir", directory, cwd=ws)
    assert result.code == 1, result.out + result.err
    assert "Traceback" not in result.err
    assert store_snapshot(ws / STORE) == before
    if (ws / directory).is_dir():
        assert "--allow-delete-all" in result.err, result.err


def test_allow_delete_all_deletes_only_managed_unprotected_tasks(ws: Path) -> None:
    (ws / "empty.d").mkdir()
    before = root_files(ws)
    done = reconcile("apply", "--dir", "empty.d", "--allow-delete-all", cwd=ws)
    assert done.code == 0, done.err
    assert root_files(ws) == {UNMANAGED: before[UNMANAGED], PROTECTED: before[PROTECTED]}


def test_the_delete_all_rail_holds_when_a_protected_task_exists(ws: Path) -> None:
    (ws / "empty.d").mkdir()
    _refused(ws, "apply", "--dir", "empty.d", words="--allow-delete-all")


def test_a_protected_task_survives_the_removal_of_its_manifest(ws: Path) -> None:
    before = root_files(ws)[PROTECTED]
    (ws / "tasks.d" / "guarded.yaml").unlink()
    plan = reconcile("plan", "--detailed-exitcode", cwd=ws)
    assert plan.code == 0, plan.out  # nothing to do: the task is kept
    assert "\\Orchestrator\\guarded" in plan.out and "- \\Orchestrator\\guarded" not in plan.out
    for args in (("apply",), ("apply", "--max-deletions", "0")):
        result = reconcile(*args, cwd=ws)
        assert result.code == 0, result.err
        assert root_files(ws)[PROTECTED] == before


def test_protect_survives_a_drift_edit_and_a_second_apply(ws: Path) -> None:
    (ws / "tasks.d" / "guarded.yaml").unlink()
    target = ws / STORE / PROTECTED
    edited = target.read_bytes().decode("utf-16").replace("</Settings>", "<Hidden>true</Hidden></Settings>")
    target.write_bytes(edited.encode("utf-16"))
    for _ in range(2):
        assert reconcile("apply", cwd=ws).code == 0
        assert target.read_bytes().decode("utf-16") == edited


# --- saved plans ---------------------------------------------------------------------------

def _pending_change(ws: Path) -> None:
    manifest = ws / "tasks.d" / "nightly-restart.yaml"
    manifest.write_text(manifest.read_text().replace("timeout: 5m", "timeout: 7m"))


def _added(ws: Path) -> str:
    (ws / STORE / ROOT / "late-arrival").write_bytes(UNMANAGED_XML.encode("utf-16"))
    return "\\Orchestrator\\late-arrival"


def _removed(ws: Path) -> str:
    (ws / STORE / ROOT / "csv-afternoon").unlink()
    return "\\Orchestrator\\csv-afternoon"


def _changed(ws: Path) -> str:
    target = ws / STORE / ROOT / "csv-morning"
    target.write_bytes(target.read_bytes().decode("utf-16")
                       .replace("</Settings>", "<Hidden>true</Hidden></Settings>").encode("utf-16"))
    return "\\Orchestrator\\csv-morning"


def _changed_unmanaged(ws: Path) -> str:
    target = ws / STORE / UNMANAGED
    target.write_bytes(UNMANAGED_XML.replace("notepad.exe", "calc.exe").encode("utf-16"))
    return "\\Orchestrator\\hand-made"


@pytest.mark.parametrize("move", [_added, _removed, _changed, _changed_unmanaged],
                         ids=["added", "removed", "changed", "unmanaged-changed"])
def test_a_stale_saved_plan_is_refused_naming_the_task(ws: Path, move) -> None:
    _pending_change(ws)
    plan_file = ws / "plan.json"
    assert reconcile("plan", "--out", str(plan_file), cwd=ws).code == 0
    path = move(ws)
    before = store_snapshot(ws / STORE)
    result = reconcile("apply", "--plan", str(plan_file), cwd=ws)
    assert result.code == 1, result.out + result.err
    assert "stale" in result.err and path in result.err, result.err
    assert store_snapshot(ws / STORE) == before


def test_a_fresh_saved_plan_applies(ws: Path) -> None:
    _pending_change(ws)
    plan_file = ws / "plan.json"
    assert reconcile("plan", "--out", str(plan_file), cwd=ws).code == 0
    (ws / "tasks.d" / "csv-downloads.yaml").unlink()  # --plan never reads --dir
    result = reconcile("apply", "--plan", str(plan_file), cwd=ws)
    assert result.code == 0 and "0 added, 1 changed, 0 deleted" in result.out, result.out + result.err


def test_a_saved_plan_for_another_root_is_refused(ws: Path) -> None:
    plan_file = ws / "jobs-plan.json"
    assert reconcile("plan", "--root", "Jobs", "--out", str(plan_file), cwd=ws).code == 0
    _refused(ws, "apply", "--plan", str(plan_file), words="\\Jobs\\")
    assert not (ws / STORE / "Jobs").exists()


def test_a_saved_plan_for_the_other_backend_is_refused(ws: Path) -> None:
    _pending_change(ws)
    plan_file = ws / "plan.json"
    assert reconcile("plan", "--out", str(plan_file), cwd=ws).code == 0
    body = json.loads(plan_file.read_text())
    body["backend"] = "schtasks"
    # As if made on the other backend: a consistent plan (an edited one is refused anyway).
    from reconciler.savedplan import _digest

    body["digest"] = _digest(body)
    plan_file.write_text(json.dumps(body))
    _refused(ws, "apply", "--plan", str(plan_file), words="schtasks")


def test_an_edited_saved_plan_is_refused(ws: Path) -> None:
    _pending_change(ws)
    plan_file = ws / "plan.json"
    assert reconcile("plan", "--out", str(plan_file), cwd=ws).code == 0
    body = json.loads(plan_file.read_text())
    body["changes"][0]["reason"] += " (edited)"
    plan_file.write_text(json.dumps(body))
    _refused(ws, "apply", "--plan", str(plan_file), words="edited")


@pytest.mark.parametrize("path", ["\\Windows\\System32\\evil", "\\Orchestrator\\..\\Windows\\evil",
                                  "\\Orchestrator\\", "\\orchestrator-old\\x"])
def test_a_saved_plan_naming_a_path_outside_the_root_writes_nothing_there(ws: Path, path: str) -> None:
    (ws / "tasks.d" / "nightly-restart.yaml").unlink()
    plan_file = ws / "plan.json"
    assert reconcile("plan", "--out", str(plan_file), cwd=ws).code == 0
    body = json.loads(plan_file.read_text())
    (delete,) = [c for c in body["changes"] if c["action"] == "delete"]
    delete["path"] = path
    plan_file.write_text(json.dumps(body))
    before = store_snapshot(ws / STORE)
    result = reconcile("apply", "--plan", str(plan_file), cwd=ws)
    assert result.code == 1 and "Traceback" not in result.err, result.out + result.err
    assert store_snapshot(ws / STORE) == before


@pytest.mark.parametrize("action", ["delete", "update"])
def test_an_edited_saved_plan_cannot_touch_an_unmanaged_task(ws: Path, action: str) -> None:
    _pending_change(ws)
    (ws / "tasks.d" / "email-delivery.yaml").unlink()
    plan_file = ws / "plan.json"
    assert reconcile("plan", "--out", str(plan_file), cwd=ws).code == 0
    body = json.loads(plan_file.read_text())
    template = next(c for c in body["changes"] if c["action"] == action)
    forged = dict(template, path="\\Orchestrator\\hand-made")
    body["changes"].append(forged)
    plan_file.write_text(json.dumps(body))
    before = root_files(ws)[UNMANAGED]
    result = reconcile("apply", "--plan", str(plan_file), cwd=ws)
    assert root_files(ws).get(UNMANAGED) == before, "the unmanaged task was " + action + "d"
    assert result.code == 1


# --- the fault matrix on com (the stand-in pywin32 of tests/standin) -------------------------

@pytest.fixture(scope="module")
def com_start(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    workspace = new_workspace(tmp_path_factory.mktemp("faults-com") / "start")
    env = standin_env(workspace)
    (workspace / "tasks.d" / "guarded.yaml").write_text(PROTECTED_MANIFEST)
    first = reconcile_process("--backend", "com", "apply", cwd=workspace, env=env)
    assert first.code == 0, first.err
    hand = workspace / "hand.xml"
    hand.write_bytes(UNMANAGED_XML.encode("utf-16"))
    created = emulator(env, "/Create", "/XML", str(hand), "/TN", "\\Orchestrator\\hand-made")
    assert created.returncode == 0, created.stderr
    change_manifests(workspace)
    return workspace, env


def _com_machine(workspace: Path, env: dict[str, str], name: str) -> dict[str, str]:
    state = workspace / name
    shutil.copytree(Path(env["SCHTASKS_EMULATOR_STATE"]), state)
    return {**env, "SCHTASKS_EMULATOR_STATE": str(state), "RECONCILE_LOCK_DIR": str(workspace / f"lock-{name}"),
            "COM_STANDIN_PROCESS_LOG": str(workspace / f"{name}-processes.log")}


def test_every_failing_call_on_com_loses_nothing(com_start: tuple[Path, dict[str, str]]) -> None:
    workspace, env = com_start
    old = machine_tasks(Path(env["SCHTASKS_EMULATOR_STATE"]))
    base = call_count(env)
    unmanaged, protected = "\\Orchestrator\\hand-made", "\\Orchestrator\\guarded"
    assert unmanaged in old and protected in old

    clean_env = _com_machine(workspace, env, "clean")
    done = reconcile_process("--backend", "com", "apply", cwd=workspace, env=clean_env)
    assert done.code == 0, done.err
    assert "1 added, 2 changed, 1 deleted" in done.out, done.out
    new = machine_tasks(Path(clean_env["SCHTASKS_EMULATOR_STATE"]))
    total = call_count(clean_env) - base
    # A read (Connect, GetFolder, GetTasks, GetFolders), a read of run data (GetFolder,
    # GetTasks, GetFolders: the plan updates and deletes, so apply looks for a running
    # instance), the writes' own connection, the folder New, three registrations and a delete.
    assert total == 14, f"{total} COM calls: {methods(com_calls(clean_env))[-total:]}"
    run_data = {5, 6, 7}  # informational: a failed read is a warning and the apply goes on
    assert [methods(com_calls(clean_env))[-total:][n - 1] for n in sorted(run_data)] == [
        "GetFolder", "GetTasks", "GetFolders"]
    assert processes_started(clean_env) == []
    assert new[unmanaged] == old[unmanaged] and new[protected] == old[protected]

    numbers = range(1, total + 1)
    envs = [_com_machine(workspace, env, f"fail-{n}") for n in numbers]
    failures = reconcile_many([(("--backend", "com", "apply"), workspace,
                                {**e, "COM_STANDIN_FAULT": f"fail-on-call:{base + n}"}, False)
                               for n, e in zip(numbers, envs)])
    for number, run_env, failed in zip(numbers, envs, failures):
        what = f"call {number} of {total} failed"
        assert failed.code == (0 if number in run_data else 1), (what, failed.out, failed.err)
        assert "Traceback" not in failed.err and "internal error" not in failed.err, failed.err
        assert "Access is denied" in (failed.out if number in run_data else failed.err), (what, failed.out, failed.err)
        now = machine_tasks(Path(run_env["SCHTASKS_EMULATOR_STATE"]))
        assert_old_or_new(now, old, new, what)
        assert now[unmanaged] == old[unmanaged] and now[protected] == old[protected], what
        assert {p: b for p, b in now.items() if not p.startswith("\\Orchestrator\\")} == \
               {p: b for p, b in old.items() if not p.startswith("\\Orchestrator\\")}, what
    again = reconcile_many([(("--backend", "com", "apply", "-q"), workspace, e, False) for e in envs])
    for number, run_env, result in zip(numbers, envs, again):
        assert result.code == 0, (number, result.err)
        assert machine_tasks(Path(run_env["SCHTASKS_EMULATOR_STATE"])) == new, number
        assert processes_started(run_env) == []
    plan = reconcile_process("--backend", "com", "plan", "--detailed-exitcode", cwd=workspace, env=envs[0])
    assert plan.code == 0 and plan.out.strip().splitlines()[-1] == "No changes.", plan.out
