"""``apply --stop-running`` end to end: a changed task that is running now is said in the
plan; without the flag it is still written and its instance goes on, with the flag the
instance is ended just before the write; a stop that fails is that task's outcome. On
the schtasks emulator, the com stand-in (the same emulated machine) and the local store,
which runs nothing."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from com_support import com_calls, standin_env
from conftest import run_cli
from reconciler.app import running
from reconciler.backends.base import RunInfo
from safety_support import reconcile_process

EMULATOR = Path(__file__).resolve().parent / "emulator" / "schtasks_emulator.py"
TASK = "\\Orchestrator\\nightly-restart"
OTHER = "\\Orchestrator\\csv-morning"
GOES_ON = f"warning: {TASK}: running now; the running instance goes on with the old definition " \
          "(apply --stop-running ends it)"
ENDS = f"warning: {TASK}: running now; apply --stop-running ends the running instance just before it changes the task"
RUNNING = "0x41301"  # SCHED_S_TASK_RUNNING: the emulator keeps the task running until /End


@pytest.fixture
def machine(workspace: Path) -> dict[str, str]:
    return {"RECONCILE_SCHTASKS": str(EMULATOR), "SCHTASKS_EMULATOR_STATE": str(workspace / "machine"),
            "SCHTASKS_EMULATOR_SEED": "1", "RECONCILE_LOCK_DIR": str(workspace / "lock"),
            "RECONCILE_SCHTASKS_TIMEOUT": "20"}


def cli(workspace: Path, env: dict[str, str], *args: str, **extra: str):
    return run_cli("--backend", "schtasks", *args, cwd=workspace, env={**env, **extra})


def emulator(env: dict[str, str], *args: str, **extra: str) -> None:
    done = subprocess.run([sys.executable, str(EMULATOR), *args], env={**os.environ, **env, **extra},
                          capture_output=True, timeout=30)
    assert done.returncode == 0, done.stderr


def calls(env: dict[str, str]) -> list[list[str]]:
    log = Path(env["SCHTASKS_EMULATOR_STATE"]) / "calls.log"
    return [json.loads(line)["argv"] for line in log.read_text().splitlines()] if log.exists() else []


def task_calls(env: dict[str, str], path: str) -> list[str]:
    """The verbs of the schtasks calls that named ``path``, in order."""
    return [c[0] for c in calls(env) if path in c]


def entry(env: dict[str, str], path: str) -> dict:
    index = json.loads((Path(env["SCHTASKS_EMULATOR_STATE"]) / "index.json").read_text(encoding="utf-8"))
    return index["tasks"][path.casefold()]


def change_timeout(workspace: Path, minutes: int) -> None:
    manifest = workspace / "tasks.d" / "nightly-restart.yaml"
    text = manifest.read_text()
    manifest.write_text(text.replace("timeout: 5m", f"timeout: {minutes}m"))


@pytest.fixture
def running_task(workspace: Path, machine: dict[str, str]) -> dict[str, str]:
    """The example tasks applied; nightly-restart running now, and its manifest changed."""
    assert cli(workspace, machine, "apply", "-q").code == 0
    emulator(machine, "/Run", "/TN", TASK, SCHTASKS_EMULATOR_RUN_RESULT=RUNNING)
    change_timeout(workspace, 6)
    (Path(machine["SCHTASKS_EMULATOR_STATE"]) / "calls.log").unlink()
    return machine


def test_plan_says_a_changed_task_runs_in_text_json_and_markdown(workspace: Path,
                                                                 running_task: dict[str, str]) -> None:
    text = cli(workspace, running_task, "plan")
    assert text.code == 0, text.err
    assert GOES_ON in text.out.splitlines()
    document = json.loads(cli(workspace, running_task, "plan", "--format", "json").out)
    assert GOES_ON.removeprefix("warning: ") in document["warnings"]
    markdown = cli(workspace, running_task, "plan", "--format", "markdown").out
    assert "running now; the running instance goes on with the old definition" in markdown
    # One state read, then one read of run data (the plan changes a task), per plan.
    assert [c for c in calls(running_task) if c[0] == "/Query"] == [
        ["/Query", "/XML", "ONE"], ["/Query", "/FO", "CSV", "/V", "/NH"]] * 3


def test_without_the_flag_the_task_is_updated_and_its_instance_goes_on(workspace: Path,
                                                                      running_task: dict[str, str]) -> None:
    applied = cli(workspace, running_task, "apply")
    assert applied.code == 0, applied.err
    assert GOES_ON in applied.out.splitlines() and "Apply complete: 0 added, 1 changed" in applied.out
    assert task_calls(running_task, TASK) == ["/Create"]
    assert entry(running_task, TASK)["running"] is True
    assert cli(workspace, running_task, "plan", "--detailed-exitcode").code == 0  # updated all the same


def test_with_the_flag_the_instance_is_ended_then_the_task_updated(workspace: Path,
                                                                  running_task: dict[str, str]) -> None:
    applied = cli(workspace, running_task, "apply", "--stop-running")
    assert applied.code == 0, applied.err
    assert ENDS in applied.out.splitlines()
    assert f"updated {TASK} (its running instance was ended first)" in applied.err.splitlines()
    assert task_calls(running_task, TASK) == ["/End", "/Create"]
    assert entry(running_task, TASK)["running"] is False
    assert entry(running_task, TASK)["last_result"] == 0x41306  # SCHED_S_TASK_TERMINATED
    assert cli(workspace, running_task, "plan", "--detailed-exitcode").code == 0


def test_only_running_tasks_are_ended(workspace: Path, running_task: dict[str, str]) -> None:
    manifest = workspace / "tasks.d" / "csv-downloads.yaml"
    text = manifest.read_text()
    manifest.write_text(text.replace("description: Download the morning", "description: Fetch the morning"))
    applied = cli(workspace, running_task, "apply", "--stop-running")
    assert applied.code == 0, applied.err
    assert "1 changed" not in applied.out and "2 changed" in applied.out
    assert task_calls(running_task, OTHER) == ["/Create"]
    assert f"updated {OTHER}" in applied.err.splitlines()
    assert [w for w in applied.out.splitlines() if w.startswith("warning:")] == [ENDS]


def test_a_failed_stop_is_that_task_s_outcome_and_nothing_is_written_for_it(workspace: Path,
                                                                           running_task: dict[str, str]) -> None:
    before = (Path(running_task["SCHTASKS_EMULATOR_STATE"]) / "tasks" / entry(running_task, TASK)["file"]).read_bytes()
    failed = cli(workspace, running_task, "apply", "--stop-running", SCHTASKS_EMULATOR_FAULT="fail-end")
    assert failed.code == 1
    assert "Traceback" not in failed.err
    assert (f"error: failed to update: {TASK}: its running instance could not be ended, so it was not updated: "
            "schtasks /End failed (exit 1): Access is denied.") in failed.err
    assert f"  {TASK}: failed (see above)" in failed.err.splitlines()
    assert failed.out.splitlines()[-1].startswith("Apply failed: 0 added, 0 changed, 0 deleted; 1 not done.")
    assert task_calls(running_task, TASK) == ["/End"]
    stored = Path(running_task["SCHTASKS_EMULATOR_STATE"]) / "tasks" / entry(running_task, TASK)["file"]
    assert stored.read_bytes() == before and entry(running_task, TASK)["running"] is True
    # Once the cause is gone, the same apply does it.
    again = cli(workspace, running_task, "apply", "--stop-running")
    assert again.code == 0, again.err
    assert entry(running_task, TASK)["running"] is False


def test_a_deleted_task_that_runs_is_said_and_ended_with_the_flag(workspace: Path,
                                                                 running_task: dict[str, str]) -> None:
    (workspace / "tasks.d" / "nightly-restart.yaml").unlink()
    plan = cli(workspace, running_task, "plan")
    assert (f"warning: {TASK}: running now; the running instance goes on after the task is deleted "
            "(apply --stop-running ends it)") in plan.out.splitlines()
    applied = cli(workspace, running_task, "apply", "--stop-running")
    assert applied.code == 0, applied.err
    assert (f"warning: {TASK}: running now; apply --stop-running ends the running instance just before it "
            "deletes the task") in applied.out.splitlines()
    assert f"deleted {TASK} (its running instance was ended first)" in applied.err.splitlines()
    assert task_calls(running_task, TASK) == ["/End", "/Delete"]


def test_a_saved_plan_reads_what_runs_when_it_is_applied(workspace: Path, running_task: dict[str, str]) -> None:
    saved = workspace / "plan.json"
    assert cli(workspace, running_task, "plan", "--out", str(saved)).code == 0
    applied = cli(workspace, running_task, "apply", "--plan", str(saved), "--stop-running")
    assert applied.code == 0, applied.err
    assert ENDS in applied.out.splitlines()
    assert task_calls(running_task, TASK) == ["/End", "/Create"]


def test_no_run_data_is_read_when_nothing_is_updated_or_deleted(workspace: Path, machine: dict[str, str]) -> None:
    assert cli(workspace, machine, "apply", "--stop-running").code == 0  # creates only
    assert cli(workspace, machine, "plan").code == 0
    assert [c for c in calls(machine) if c[0] == "/Query"] == [["/Query", "/XML", "ONE"]] * 2


def test_run_data_that_cannot_be_read_is_a_warning(workspace: Path, running_task: dict[str, str]) -> None:
    applied = cli(workspace, running_task, "apply", "--stop-running", SCHTASKS_EMULATOR_FAULT="csv-fail")
    assert applied.code == 0, applied.err
    assert any(line.startswith("warning: cannot tell whether a task this plan changes is running now; "
                               "no running instance is ended: schtasks /Query /FO CSV /V /NH failed")
               for line in applied.out.splitlines()), applied.out
    assert task_calls(running_task, TASK) == ["/Create"]


def test_the_local_backend_runs_nothing_and_takes_the_flag(workspace: Path) -> None:
    first = run_cli("--backend", "local", "apply", "--stop-running", cwd=workspace)
    assert first.code == 0, first.err
    change_timeout(workspace, 6)
    applied = run_cli("--backend", "local", "apply", "--stop-running", cwd=workspace)
    assert applied.code == 0, applied.err
    assert "running" not in applied.out + applied.err.replace("--stop-running", "")
    assert "Apply complete: 0 added, 1 changed" in applied.out


@pytest.mark.parametrize("info, runs", [
    (None, False), (RunInfo(status="Ready"), False), (RunInfo(status="Running"), True),
    (RunInfo(status="running"), True), (RunInfo(status="Queued"), False),
    # schtasks prints the status word in the display language; the result code says it too
    (RunInfo(status="Wird ausgeführt", last_result=0x41301), True), (RunInfo(status="Bereit", last_result=0), False),
])
def test_what_counts_as_running(info: RunInfo | None, runs: bool) -> None:
    assert running.runs(info) is runs


# --- the com backend on the stand-in pywin32, the same emulated machine -------------------

def com_cli(workspace: Path, env: dict[str, str], *args: str, **extra: str):
    return reconcile_process("--backend", "com", *args, cwd=workspace, env={**env, **extra})


def com_task_calls(env: dict[str, str], path: str, since: int) -> list[str]:
    return [c["method"] for c in com_calls(env)[since:] if c["args"] and c["args"][0] == path
            and c["method"] in ("Stop", "RegisterTask", "DeleteTask", "Run")]


@pytest.fixture
def com_running(workspace: Path) -> dict[str, str]:
    env = standin_env(workspace)
    assert com_cli(workspace, env, "apply", "-q").code == 0
    emulator(env, "/Run", "/TN", TASK, SCHTASKS_EMULATOR_RUN_RESULT=RUNNING)
    change_timeout(workspace, 6)
    return env


def test_com_without_the_flag_registers_and_the_instance_goes_on(workspace: Path,
                                                                 com_running: dict[str, str]) -> None:
    since = len(com_calls(com_running))
    applied = com_cli(workspace, com_running, "apply")
    assert applied.code == 0, applied.err
    assert GOES_ON in applied.out.splitlines()
    assert com_task_calls(com_running, TASK, since) == ["RegisterTask"]
    assert entry(com_running, TASK)["running"] is True


def test_com_with_the_flag_stops_then_registers(workspace: Path, com_running: dict[str, str]) -> None:
    since = len(com_calls(com_running))
    applied = com_cli(workspace, com_running, "apply", "--stop-running")
    assert applied.code == 0, applied.err
    assert ENDS in applied.out.splitlines()
    assert f"updated {TASK} (its running instance was ended first)" in applied.err.splitlines()
    assert com_task_calls(com_running, TASK, since) == ["Stop", "RegisterTask"]
    stop = [c for c in com_calls(com_running)[since:] if c["method"] == "Stop"]
    assert [c["args"] for c in stop] == [[TASK, 0]]  # flags: reserved, 0
    assert entry(com_running, TASK)["running"] is False


def test_com_a_failed_stop_is_reported_for_its_task(workspace: Path, com_running: dict[str, str]) -> None:
    since = len(com_calls(com_running))
    failed = com_cli(workspace, com_running, "apply", "--stop-running", COM_STANDIN_FAULT="fail-stop")
    assert failed.code == 1 and "Traceback" not in failed.err
    assert (f"error: failed to update: {TASK}: its running instance could not be ended, so it was not updated: "
            "Stop failed: Access is denied. (0x80070005)") in failed.err
    assert com_task_calls(com_running, TASK, since) == ["Stop"]
    assert entry(com_running, TASK)["running"] is True
