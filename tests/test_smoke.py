"""``python reconcile.py`` started as a process, as a user runs it: the entry point and
its exit statuses, the forked workers that read a large folder, a reader that closes the
pipe early. The other CLI tests run the same ``cli.main`` inside the test process
(conftest.run_cli); kills and time bounds are in test_faults and test_hostile."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import RECONCILE, run_cli_process, user_env

PROBLEM = re.compile(r"^tasks\.d/broken\.yaml:\d+:\d+: \S")
LARGE = 120  # manifest files: past reconciler.parallel.MIN_FILES, so workers read them


def test_validate_plan_apply_then_no_changes(workspace: Path) -> None:
    validate = run_cli_process("validate", cwd=workspace)
    assert validate.code == 0 and "valid." in validate.out, validate.err
    plan = run_cli_process("plan", "--detailed-exitcode", cwd=workspace)
    assert plan.code == 2, plan.err
    applied = run_cli_process("apply", cwd=workspace)
    assert applied.code == 0, applied.err
    again = run_cli_process("plan", "--detailed-exitcode", cwd=workspace)
    assert again.code == 0 and again.out.strip().splitlines()[-1] == "No changes.", again.out + again.err


def test_help_and_usage_errors(tmp_path: Path) -> None:
    helped = run_cli_process("--help", cwd=tmp_path)
    assert helped.code == 0 and helped.out.startswith("usage: reconcile.py") and helped.err == ""
    bare = run_cli_process(cwd=tmp_path)
    assert bare.code == 1 and bare.err.startswith("usage: reconcile.py") and bare.out == ""
    wrong = run_cli_process("frobnicate", cwd=tmp_path)
    assert wrong.code == 1 and "--help" in wrong.err and "Traceback" not in wrong.err
    assert len(wrong.err.strip().splitlines()) == 1, wrong.err


def test_an_invalid_manifest_exits_1_with_one_line_per_problem(workspace: Path) -> None:
    (workspace / "tasks.d" / "broken.yaml").write_text(
        "apiVersion: reconcile/v1\nkind: ScheduledTask\nmetadata: {name: broken}\nspec:\n"
        "  schedule: '61 * * * *'\n  actions: [{command: C:\\\\x.exe}]\n  colour: red\n")
    result = run_cli_process("validate", cwd=workspace)
    assert result.code == 1 and result.out == "", result.out
    lines = result.err.strip().splitlines()
    assert len(lines) == 2 and all(PROBLEM.match(line) for line in lines), result.err


@pytest.fixture(scope="module")
def large(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of LARGE manifests in seven subfolders."""
    top = tmp_path_factory.mktemp("large")
    tasks = top / "tasks.d"
    for i in range(LARGE):
        folder = tasks / f"team{i % 7}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"job{i:03d}.yaml").write_text(
            "apiVersion: reconcile/v1\nkind: ScheduledTask\n"
            f"metadata: {{name: job-{i:03d}, folder: F{i % 7}}}\n"
            f"spec:\n  schedule: \"{i % 60} {i % 24} * * *\"\n"
            f"  actions: [{{command: C:\\tools\\job.exe, arguments: [\"--n\", \"{i}\"]}}]\n"
            "  runAs: {user: SYSTEM}\n")
    return top


def test_worker_processes_plan_as_a_serial_read_does(large: Path) -> None:
    serial = run_cli_process("plan", "--format", "json", cwd=large, env={"RECONCILE_WORKERS": "1"})
    assert serial.code == 0, serial.err
    workers = run_cli_process("plan", "--format", "json", cwd=large, env={"RECONCILE_WORKERS": "3"})
    assert (workers.code, workers.out, workers.err) == (0, serial.out, "")


def test_a_reader_that_closes_the_pipe_early_gets_no_error(large: Path) -> None:
    """``reconcile.py plan --format json | head -c 10``. The plan is larger than a pipe
    holds, so its writes meet the closed pipe."""
    # Without PYTHONUNBUFFERED (which some CI machines set), as a user's shell runs it:
    # unbuffered, a write to the closed pipe can pass unnoticed.
    env = {k: v for k, v in user_env().items() if k != "PYTHONUNBUFFERED"}
    process = subprocess.Popen([sys.executable, str(RECONCILE), "plan", "--format", "json"], cwd=large,
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert process.stdout is not None and process.stderr is not None
        assert process.stdout.read(10) == b'{\n  "forma'
        process.stdout.close()
        err = process.stderr.read().decode("utf-8", "replace")
    finally:
        process.wait(timeout=60)
    assert "Traceback" not in err and "internal error" not in err, err
    assert err == "" and process.returncode == 1, "a quiet exit: the output was not all delivered"
