"""The CLI end to end with ``--backend schtasks`` against the Windows emulator
(tests/emulator): what Windows rewrites on registration must never show as a change,
one read per plan, and every fault a clear error with nothing lost."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from com_support import com_calls, com_writes, methods, processes_started, standin_env
from conftest import run_cli
from safety_support import reconcile, reconcile_process

EMULATOR = Path(__file__).resolve().parent / "emulator" / "schtasks_emulator.py"


@pytest.fixture
def machine(workspace: Path) -> dict[str, str]:
    state = workspace / "machine"
    return {
        "RECONCILE_SCHTASKS": str(EMULATOR),
        "SCHTASKS_EMULATOR_STATE": str(state),
        "SCHTASKS_EMULATOR_SEED": "1",
        "RECONCILE_LOCK_DIR": str(workspace / "lock"),
        "RECONCILE_SCHTASKS_TIMEOUT": "20",
    }


def cli(workspace: Path, env: dict[str, str], *args: str, **extra: str):
    return run_cli("--backend", "schtasks", *args, cwd=workspace, env={**env, **extra})


def calls(env: dict[str, str]) -> list[list[str]]:
    log = Path(env["SCHTASKS_EMULATOR_STATE"]) / "calls.log"
    if not log.exists():
        return []
    return [json.loads(line)["argv"] for line in log.read_text().splitlines()]


def reset_calls(env: dict[str, str]) -> None:
    log = Path(env["SCHTASKS_EMULATOR_STATE"]) / "calls.log"
    if log.exists():
        log.unlink()


def emulator(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(EMULATOR), *args], env={**os.environ, **env},
                          capture_output=True, timeout=30)


def writes(env: dict[str, str]) -> list[list[str]]:
    return [c for c in calls(env) if c and c[0].lower() in ("/create", "/delete", "/change")]


@pytest.mark.parametrize("order, encoding", [("win10", "utf-16"), ("2012r2", "utf-8"), ("win10", "cp437")])
def test_apply_then_plan_says_no_changes(workspace: Path, machine: dict[str, str], order: str,
                                         encoding: str) -> None:
    env = {**machine, "SCHTASKS_EMULATOR_ORDER": order, "SCHTASKS_EMULATOR_OUTPUT_ENCODING": encoding}
    applied = cli(workspace, env, "apply")
    assert applied.code == 0, applied.err
    assert "Apply complete: 6 added" in applied.out
    reset_calls(env)
    result = cli(workspace, env, "plan", "--detailed-exitcode")
    assert result.code == 0, result.out + result.err
    assert result.out.strip().splitlines()[-1] == "No changes."
    queries = [c for c in calls(env) if c[0].lower() == "/query"]
    assert queries == [["/Query", "/XML", "ONE"]], calls(env)
    # Windows' own tasks outside the root are never listed or touched.
    assert "\\Microsoft\\" not in result.out


def test_second_apply_writes_nothing(workspace: Path, machine: dict[str, str]) -> None:
    assert cli(workspace, machine, "apply").code == 0
    reset_calls(machine)
    again = cli(workspace, machine, "apply")
    assert again.code == 0 and again.out.strip().splitlines()[-1] == "No changes."
    assert writes(machine) == [] and len(calls(machine)) == 1


def test_only_changed_tasks_are_written(workspace: Path, machine: dict[str, str]) -> None:
    assert cli(workspace, machine, "apply").code == 0
    manifest = workspace / "tasks.d" / "nightly-restart.yaml"
    manifest.write_text(manifest.read_text().replace("timeout: 5m", "timeout: 6m"))
    reset_calls(machine)
    assert cli(workspace, machine, "apply").code == 0
    assert [c[:1] + c[-3:-1] for c in writes(machine)] == [["/Create", "/TN", "\\Orchestrator\\nightly-restart"]]


def test_drift_made_on_the_machine_is_shown_and_restored(workspace: Path, machine: dict[str, str]) -> None:
    assert cli(workspace, machine, "apply").code == 0
    changed = emulator(machine, "/Change", "/TN", "\\Orchestrator\\csv-morning", "/DISABLE")
    assert changed.returncode == 0, changed.stderr
    plan = cli(workspace, machine, "plan", "--detailed-exitcode")
    assert plan.code == 2
    assert "~ \\Orchestrator\\csv-morning  (drift: changed on the machine since the last apply)" in plan.out
    assert "Settings/Enabled: false -> true" in plan.out
    assert cli(workspace, machine, "apply").code == 0
    assert cli(workspace, machine, "plan", "--detailed-exitcode").code == 0


def test_unmanaged_task_in_the_root_is_left_alone(workspace: Path, machine: dict[str, str]) -> None:
    xml = workspace / "hand.xml"
    xml.write_bytes(('<?xml version="1.0" encoding="UTF-16"?>\r\n<Task version="1.2" '
                     'xmlns="http://schemas.microsoft.com/windows/2004/02/mit/task"><Principals><Principal '
                     'id="Author"><UserId>S-1-5-18</UserId></Principal></Principals><Actions Context="Author">'
                     '<Exec><Command>notepad.exe</Command></Exec></Actions></Task>').encode("utf-16"))
    assert emulator(machine, "/Create", "/XML", str(xml), "/TN", "\\Orchestrator\\hand-made").returncode == 0
    assert cli(workspace, machine, "apply").code == 0
    (workspace / "tasks.d" / "nightly-restart.yaml").unlink()
    reset_calls(machine)
    result = cli(workspace, machine, "apply")
    assert result.code == 0
    assert "  \\Orchestrator\\hand-made" in result.out
    assert [c for c in writes(machine) if "hand-made" in " ".join(c)] == []


@pytest.mark.parametrize("fault, cause", [
    ("access-denied", "Access is denied"),
    ("garbage", "schtasks /Query /XML ONE"),
    ("truncated", "schtasks /Query /XML ONE"),
])
def test_a_failed_read_writes_nothing(workspace: Path, machine: dict[str, str], fault: str, cause: str) -> None:
    assert cli(workspace, machine, "apply").code == 0
    (workspace / "tasks.d" / "nightly-restart.yaml").unlink()
    manifest = workspace / "tasks.d" / "excel-processing.yaml"
    manifest.write_text(manifest.read_text().replace("timeout: 30m", "timeout: 31m"))
    reset_calls(machine)
    for command in ("plan", "apply"):
        result = cli(workspace, machine, command, SCHTASKS_EMULATOR_FAULT=fault)
        assert result.code == 1
        assert cause in result.err and "Traceback" not in result.err
        assert len(result.err.strip().splitlines()) == 1, result.err
    assert writes(machine) == [], "no write, no delete after a failed read"


def test_a_hanging_schtasks_times_out(workspace: Path, machine: dict[str, str]) -> None:
    result = cli(workspace, machine, "plan", SCHTASKS_EMULATOR_FAULT="hang", RECONCILE_SCHTASKS_TIMEOUT="2",
                 SCHTASKS_EMULATOR_HANG_SECONDS="30")
    assert result.code == 1 and "timed out" in result.err


def test_a_failed_write_stops_reports_and_a_rerun_converges(workspace: Path, machine: dict[str, str]) -> None:
    # Call 1 is the read; call 3 is the second write.
    result = cli(workspace, machine, "apply", "--parallelism", "1", SCHTASKS_EMULATOR_FAULT="fail-on-call:3")
    assert result.code == 1
    assert "Apply failed: 1 added" in result.out
    assert result.err.count("not started") == 4
    again = cli(workspace, machine, "apply")
    assert again.code == 0 and "5 added" in again.out
    assert cli(workspace, machine, "plan", "--detailed-exitcode").code == 0


def test_parallel_writes_stop_after_a_failure_and_report_in_order(workspace: Path,
                                                                  machine: dict[str, str]) -> None:
    result = cli(workspace, machine, "apply", "--parallelism", "4", SCHTASKS_EMULATOR_FAULT="fail-on-call:3",
                 SCHTASKS_EMULATOR_DELAY_MS="100")
    assert result.code == 1
    reported = [line.split(":")[0].strip() for line in result.err.splitlines() if line.startswith("  \\")]
    assert reported == sorted(reported, key=str.casefold), "outcomes are listed in plan order"
    assert len(reported) == 6
    again = cli(workspace, machine, "apply")
    assert again.code == 0
    assert cli(workspace, machine, "plan", "--detailed-exitcode").code == 0


def test_a_failed_delete_loses_nothing(workspace: Path, machine: dict[str, str]) -> None:
    assert cli(workspace, machine, "apply").code == 0
    (workspace / "tasks.d" / "nightly-restart.yaml").unlink()
    failed = cli(workspace, machine, "apply", SCHTASKS_EMULATOR_FAULT="fail-delete")
    assert failed.code == 1 and "\\Orchestrator\\nightly-restart" in failed.err
    plan = cli(workspace, machine, "plan")
    assert plan.out.strip().splitlines()[-1] == "Plan: 0 to add, 0 to change, 1 to delete."
    assert cli(workspace, machine, "apply").code == 0
    assert cli(workspace, machine, "plan", "--detailed-exitcode").code == 0


def test_second_apply_at_once_is_refused(workspace: Path, machine: dict[str, str]) -> None:
    slow = {**machine, "SCHTASKS_EMULATOR_DELAY_MS": "400"}
    env = {**os.environ, **slow}
    first = subprocess.Popen([sys.executable, str(Path(__file__).resolve().parents[1] / "reconcile.py"),
                              "--backend", "schtasks", "apply"], cwd=workspace, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        import time

        lock = Path(machine["RECONCILE_LOCK_DIR"]) / "apply.lock"
        deadline = time.time() + 20
        while not lock.exists() and time.time() < deadline:
            time.sleep(0.05)
        second = cli(workspace, slow, "apply")
        assert second.code == 1
        assert "apply" in second.err.lower() and str(first.pid) in second.err
    finally:
        out, err = first.communicate(timeout=60)
    assert first.returncode == 0, err


def test_a_missing_powershell_is_found_before_any_write(workspace: Path, machine: dict[str, str]) -> None:
    (workspace / "tasks.d" / "report.yaml").write_text(
        "apiVersion: reconcile/v1\nkind: ScheduledTask\nmetadata: {name: report}\nspec:\n"
        "  triggers: [{daily: {at: '06:00'}}]\n  actions: [{command: C:\\\\r.exe}]\n"
        "  runAs: {user: CONTOSO\\\\svc, logonType: password, password: {fromEnv: SVC_PW}}\n")
    result = cli(workspace, machine, "apply", SVC_PW="s3cret-Value", RECONCILE_POWERSHELL=str(workspace / "none.py"))
    assert result.code == 1 and "\\Orchestrator\\report" in result.err and "nothing was changed" in result.err
    assert "s3cret-Value" not in result.out + result.err
    assert writes(machine) == []


# --- names and text the console code page cannot hold, and names with "--" ----------------

def _manifest(name: str, description: str, folder: str | None = None) -> str:
    where = f"  folder: {json.dumps(folder, ensure_ascii=False)}\n" if folder else ""
    return (f"apiVersion: reconcile/v1\nkind: ScheduledTask\nmetadata:\n  name: {json.dumps(name, ensure_ascii=False)}\n"
            f"{where}  description: {json.dumps(description, ensure_ascii=False)}\nspec:\n"
            "  triggers: [{daily: {at: '03:00'}}]\n  actions: [{command: C:\\\\jobs\\\\run.exe}]\n")


DOUBLE_HYPHEN = _manifest("backup--daily", "every night", folder="night--shift")
SNOWMAN = _manifest("caf\u00e9-report", "caf\u00e9 \u2603 \u201cquoted\u201d \u2013 \u20ac")
JAPANESE = _manifest("\u65e5\u672c\u8a9e\u30bf\u30b9\u30af", "\u65e5\u672c\u8a9e\u306e\u8aac\u660e")


def test_a_double_hyphen_name_does_not_stop_the_read(workspace: Path, machine: dict[str, str]) -> None:
    (workspace / "tasks.d" / "backup.yaml").write_text(DOUBLE_HYPHEN, encoding="utf-8")
    assert cli(workspace, machine, "apply").code == 0
    plan = cli(workspace, machine, "plan", "--detailed-exitcode")
    assert plan.code == 0 and plan.out.strip().splitlines()[-1] == "No changes.", plan.out + plan.err


def test_text_the_code_page_cannot_show_is_a_warning_not_drift(workspace: Path, machine: dict[str, str]) -> None:
    (workspace / "tasks.d" / "report.yaml").write_text(SNOWMAN, encoding="utf-8")
    assert cli(workspace, machine, "apply").code == 0
    reset_calls(machine)
    plan = cli(workspace, machine, "plan", "--detailed-exitcode")
    assert plan.code == 0, plan.out + plan.err
    assert plan.out.strip().splitlines()[-1] == "No changes."
    (warning,) = [line for line in plan.out.splitlines() if line.startswith("warning:")]
    assert "\\Orchestrator\\caf\u00e9-report" in warning and "code page (cp437)" in warning and "\u2603" in warning
    again = cli(workspace, machine, "apply")
    assert again.code == 0 and writes(machine) == [], "nothing is rewritten"


def test_a_name_the_code_page_cannot_show_is_refused_and_never_deleted(workspace: Path,
                                                                       machine: dict[str, str]) -> None:
    (workspace / "tasks.d" / "japanese.yaml").write_text(JAPANESE, encoding="utf-8")
    assert cli(workspace, machine, "apply").code == 0  # created: the read before it saw no such name
    reset_calls(machine)
    (workspace / "tasks.d" / "japanese.yaml").unlink()
    for command in ("plan", "apply"):
        result = cli(workspace, machine, command)
        assert result.code == 1, result.out + result.err
        assert len(result.err.strip().splitlines()) == 1 and "code page (cp437)" in result.err, result.err
        assert "pywin32" in result.err and "Traceback" not in result.err
    assert writes(machine) == [], "a task whose name was read lossily is never deleted"
    utf8 = cli(workspace, machine, "plan", SCHTASKS_EMULATOR_OUTPUT_ENCODING="utf-8")
    assert utf8.code == 0 and "- \\Orchestrator\\\u65e5\u672c\u8a9e\u30bf\u30b9\u30af" in utf8.out, utf8.out


# --- the same end to end on --backend com (the stand-in pywin32 of tests/standin) ----------

@pytest.fixture
def com_machine(workspace: Path) -> dict[str, str]:
    return standin_env(workspace)


def com_cli(workspace: Path, env: dict[str, str], *args: str, **extra: str):
    """``python reconcile.py --backend com ARGS`` as its own process: the stand-in is found
    through its PYTHONPATH, and the processes it starts are its own to count."""
    return reconcile_process("--backend", "com", *args, cwd=workspace, env={**env, **extra})


def test_com_apply_then_plan_says_no_changes_in_one_read_and_no_process(workspace: Path,
                                                                       com_machine: dict[str, str]) -> None:
    applied = com_cli(workspace, com_machine, "apply")
    assert applied.code == 0, applied.err
    assert "Apply complete: 6 added" in applied.out
    before = len(com_calls(com_machine))
    result = com_cli(workspace, com_machine, "plan", "--detailed-exitcode")
    assert result.code == 0, result.out + result.err
    assert result.out.strip().splitlines()[-1] == "No changes."
    plan = com_calls(com_machine)[before:]
    # One read: one connection, the root's folder once, then each folder's tasks.
    assert methods(plan).count("Connect") == 1
    assert [c["args"] for c in plan if c["method"] == "GetFolder"] == [["\\Orchestrator"]]
    assert set(methods(plan)) == {"Connect", "GetFolder", "GetTasks", "GetFolders"}
    assert processes_started(com_machine) == [], "the com backend starts no process"
    assert "\\Microsoft\\" not in result.out


def test_com_second_apply_writes_nothing(workspace: Path, com_machine: dict[str, str]) -> None:
    assert com_cli(workspace, com_machine, "apply").code == 0
    before = len(com_calls(com_machine))
    again = com_cli(workspace, com_machine, "apply")
    assert again.code == 0 and again.out.strip().splitlines()[-1] == "No changes."
    assert com_writes(com_calls(com_machine)[before:]) == []


def test_com_only_changed_tasks_are_written(workspace: Path, com_machine: dict[str, str]) -> None:
    assert com_cli(workspace, com_machine, "apply").code == 0
    manifest = workspace / "tasks.d" / "nightly-restart.yaml"
    manifest.write_text(manifest.read_text().replace("timeout: 5m", "timeout: 6m"))
    before = len(com_calls(com_machine))
    assert com_cli(workspace, com_machine, "apply").code == 0
    assert [(c["method"], c["args"][0]) for c in com_writes(com_calls(com_machine)[before:])] == [
        ("RegisterTask", "\\Orchestrator\\nightly-restart")]


def test_com_sees_what_schtasks_changed_on_the_same_machine(workspace: Path, com_machine: dict[str, str]) -> None:
    assert com_cli(workspace, com_machine, "apply").code == 0
    changed = emulator(com_machine, "/Change", "/TN", "\\Orchestrator\\csv-morning", "/DISABLE")
    assert changed.returncode == 0, changed.stderr
    plan = com_cli(workspace, com_machine, "plan", "--detailed-exitcode")
    assert plan.code == 2
    assert "~ \\Orchestrator\\csv-morning  (drift: changed on the machine since the last apply)" in plan.out
    assert com_cli(workspace, com_machine, "apply").code == 0
    assert com_cli(workspace, com_machine, "plan", "--detailed-exitcode").code == 0


def test_com_unmanaged_task_in_the_root_is_left_alone(workspace: Path, com_machine: dict[str, str]) -> None:
    xml = workspace / "hand.xml"
    xml.write_bytes(('<?xml version="1.0" encoding="UTF-16"?>\r\n<Task version="1.2" '
                     'xmlns="http://schemas.microsoft.com/windows/2004/02/mit/task"><Principals><Principal '
                     'id="Author"><UserId>S-1-5-18</UserId></Principal></Principals><Actions Context="Author">'
                     '<Exec><Command>notepad.exe</Command></Exec></Actions></Task>').encode("utf-16"))
    assert emulator(com_machine, "/Create", "/XML", str(xml), "/TN", "\\Orchestrator\\hand-made").returncode == 0
    assert com_cli(workspace, com_machine, "apply").code == 0
    (workspace / "tasks.d" / "nightly-restart.yaml").unlink()
    before = len(com_calls(com_machine))
    result = com_cli(workspace, com_machine, "apply")
    assert result.code == 0
    assert "  \\Orchestrator\\hand-made" in result.out
    assert [c for c in com_writes(com_calls(com_machine)[before:]) if "hand-made" in c["args"][0]] == []


@pytest.mark.parametrize("fault, cause", [
    ("access-denied", "Access is denied"),
    ("broken-task:\\Orchestrator\\csv-morning", "corrupt"),
    ("xxe-task:\\Orchestrator\\csv-morning", "DOCTYPE"),
])
def test_com_a_failed_read_writes_nothing(workspace: Path, com_machine: dict[str, str], fault: str, cause: str) -> None:
    assert com_cli(workspace, com_machine, "apply").code == 0
    (workspace / "tasks.d" / "nightly-restart.yaml").unlink()
    manifest = workspace / "tasks.d" / "excel-processing.yaml"
    manifest.write_text(manifest.read_text().replace("timeout: 30m", "timeout: 31m"))
    before = len(com_calls(com_machine))
    for command in ("plan", "apply"):
        result = com_cli(workspace, com_machine, command, COM_STANDIN_FAULT=fault)
        assert result.code == 1
        assert cause in result.err and "Traceback" not in result.err, result.err
        assert len(result.err.strip().splitlines()) == 1, result.err
        assert "/etc/passwd" not in result.out + result.err
    assert com_writes(com_calls(com_machine)[before:]) == [], "no write, no delete after a failed read"


def test_com_a_failed_write_stops_reports_and_a_rerun_converges(workspace: Path, com_machine: dict[str, str]) -> None:
    result = com_cli(workspace, com_machine, "apply", COM_STANDIN_FAULT="fail-on:RegisterTask:2")
    assert result.code == 1
    assert "Apply failed: 1 added" in result.out
    assert result.err.count("not started") == 4 and "Access is denied" in result.err
    again = com_cli(workspace, com_machine, "apply")
    assert again.code == 0 and "5 added" in again.out
    assert com_cli(workspace, com_machine, "plan", "--detailed-exitcode").code == 0


def test_com_a_failed_delete_loses_nothing(workspace: Path, com_machine: dict[str, str]) -> None:
    assert com_cli(workspace, com_machine, "apply").code == 0
    (workspace / "tasks.d" / "nightly-restart.yaml").unlink()
    failed = com_cli(workspace, com_machine, "apply", COM_STANDIN_FAULT="fail-deletetask")
    assert failed.code == 1 and "\\Orchestrator\\nightly-restart" in failed.err
    plan = com_cli(workspace, com_machine, "plan")
    assert plan.out.strip().splitlines()[-1] == "Plan: 0 to add, 0 to change, 1 to delete."
    assert com_cli(workspace, com_machine, "apply").code == 0
    assert com_cli(workspace, com_machine, "plan", "--detailed-exitcode").code == 0


def test_com_second_apply_at_once_is_refused(workspace: Path, com_machine: dict[str, str]) -> None:
    slow = {**com_machine, "COM_STANDIN_DELAY_MS": "300"}
    first = subprocess.Popen([sys.executable, str(Path(__file__).resolve().parents[1] / "reconcile.py"),
                              "--backend", "com", "apply"], cwd=workspace, env={**os.environ, **slow},
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        import time

        lock = Path(com_machine["RECONCILE_LOCK_DIR"]) / "apply.lock"
        deadline = time.time() + 20
        while not lock.exists() and time.time() < deadline:
            time.sleep(0.05)
        second = com_cli(workspace, slow, "apply")
        assert second.code == 1
        assert "apply" in second.err.lower() and str(first.pid) in second.err
    finally:
        out, err = first.communicate(timeout=60)
    assert first.returncode == 0, err


def test_com_unicode_and_double_hyphen_names_round_trip(workspace: Path, com_machine: dict[str, str]) -> None:
    for file, text in (("backup.yaml", DOUBLE_HYPHEN), ("report.yaml", SNOWMAN), ("japanese.yaml", JAPANESE)):
        (workspace / "tasks.d" / file).write_text(text, encoding="utf-8")
    applied = com_cli(workspace, com_machine, "apply")
    assert applied.code == 0 and "Apply complete: 9 added" in applied.out, applied.out + applied.err
    plan = com_cli(workspace, com_machine, "plan", "--detailed-exitcode")
    assert plan.code == 0 and plan.out.strip().splitlines()[-1] == "No changes.", plan.out + plan.err
    assert "warning" not in plan.out  # nothing was lost on the way
    (workspace / "tasks.d" / "japanese.yaml").unlink()
    removed = com_cli(workspace, com_machine, "apply")
    assert removed.code == 0 and "1 deleted" in removed.out, removed.out + removed.err
    assert processes_started(com_machine) == []


def test_local_unicode_and_double_hyphen_names_round_trip_in_one_read(workspace: Path) -> None:
    """The same scenario on the embedded store, counting its reads (RECONCILE_CALL_LOG)."""
    for file, text in (("backup.yaml", DOUBLE_HYPHEN), ("report.yaml", SNOWMAN), ("japanese.yaml", JAPANESE)):
        (workspace / "tasks.d" / file).write_text(text, encoding="utf-8")
    log = workspace / "calls.jsonl"
    env = {"RECONCILE_CALL_LOG": str(log)}
    applied = run_cli("apply", cwd=workspace, env=env)
    assert applied.code == 0 and "Apply complete: 9 added" in applied.out, applied.out + applied.err
    log.unlink()
    plan = run_cli("plan", "--detailed-exitcode", cwd=workspace, env=env)
    assert plan.code == 0 and plan.out.strip().splitlines()[-1] == "No changes.", plan.out + plan.err
    calls = [json.loads(line)["call"] for line in log.read_text(encoding="utf-8").splitlines()]
    assert calls == ["read"], calls
    (workspace / "tasks.d" / "japanese.yaml").unlink()
    removed = run_cli("apply", cwd=workspace)
    assert removed.code == 0 and "1 deleted" in removed.out, removed.out + removed.err
