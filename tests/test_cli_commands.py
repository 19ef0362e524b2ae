"""The smaller commands end to end: init, next, status, colour, progress and quiet."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO, run_cli


def test_init_then_plan_then_init_refuses(tmp_path: Path) -> None:
    first = run_cli("init", cwd=tmp_path)
    assert first.code == 0, first.err
    assert (tmp_path / "tasks.d" / "hello.yaml").is_file()
    assert (tmp_path / ".github" / "workflows" / "reconcile.yml").is_file()
    assert (tmp_path / "schemas" / "manifest.schema.json").is_file()
    plan = run_cli("plan", cwd=tmp_path)
    assert plan.code == 0, plan.err
    assert plan.out.strip().splitlines()[-1] == "Plan: 1 to add, 0 to change, 0 to delete."
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    again = run_cli("init", cwd=tmp_path)
    assert again.code == 1 and "never overwrites" in again.err
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before


def test_init_into_a_folder(tmp_path: Path) -> None:
    assert run_cli("init", "site", cwd=tmp_path).code == 0
    assert (tmp_path / "site" / "tasks.d" / "hello.yaml").is_file()


def test_next_prints_naive_iso_times(workspace: Path) -> None:
    result = run_cli("next", "excel-processing", "-n", "3", "--from", "2026-11-20T14:00", cwd=workspace)
    assert result.code == 0, result.err
    assert result.out.splitlines() == ["2026-11-23T13:05:00", "2026-11-24T13:05:00", "2026-11-25T13:05:00"]
    nightly = run_cli("next", "nightly-restart", "-n", "2", "--from", "2026-12-31T23:00", cwd=workspace)
    assert nightly.out.splitlines() == ["2027-01-01T02:00:00", "2027-01-02T02:00:00"]
    assert run_cli("next", "nope", cwd=workspace).code == 1
    assert run_cli("next", "excel-processing", "--from", "yesterday", cwd=workspace).code == 1


def test_status_on_the_local_backend(workspace: Path) -> None:
    assert run_cli("apply", "-q", cwd=workspace).code == 0
    text = run_cli("status", cwd=workspace)
    assert text.code == 0, text.err
    assert "\\Orchestrator\\csv-morning" in text.out
    assert "keeps no run history" in text.out
    body = json.loads(run_cli("status", "--format", "json", cwd=workspace).out)
    assert {t["path"] for t in body["tasks"]} == {f"\\Orchestrator\\{n}" for n in (
        "csv-morning", "csv-afternoon", "excel-processing", "vbs-automation", "email-delivery", "nightly-restart")}
    restart = next(t for t in body["tasks"] if t["path"].endswith("nightly-restart"))
    assert restart["enabled"] is True and restart["next_run"].endswith("T02:00:00")
    assert restart["last_result"] is None


def test_no_colour_unless_a_terminal(workspace: Path) -> None:
    plain = run_cli("plan", cwd=workspace)
    assert "\x1b[" not in plain.out


def _tty_plan(workspace: Path, extra_env: dict[str, str], *args: str) -> str:
    """The plan as a terminal sees it (a pseudo-terminal on stdout)."""
    import pty

    primary, secondary = pty.openpty()
    env = {**os.environ, **extra_env}
    env.pop("NO_COLOR", None) if "NO_COLOR" not in extra_env else None
    process = subprocess.Popen([sys.executable, str(REPO / "reconcile.py"), "plan", *args], cwd=workspace,
                               env=env, stdout=secondary, stderr=subprocess.PIPE)
    os.close(secondary)
    chunks = []
    while True:
        try:
            data = os.read(primary, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    process.wait(timeout=60)
    os.close(primary)
    return b"".join(chunks).decode("utf-8", "replace")


@pytest.mark.skipif(sys.platform == "win32", reason="pseudo-terminals are POSIX")
def test_colour_on_a_terminal_and_no_color_honoured(workspace: Path) -> None:
    assert "\x1b[32m+" in _tty_plan(workspace, {})
    assert "\x1b[" not in _tty_plan(workspace, {"NO_COLOR": "1"})
    assert "\x1b[" not in _tty_plan(workspace, {}, "--no-color")


def test_progress_lines_and_quiet(workspace: Path) -> None:
    loud = run_cli("apply", cwd=workspace)
    assert loud.err.count("created \\Orchestrator\\") == 6
    (workspace / ".reconcile").rename(workspace / "old-store")
    quiet = run_cli("apply", "-q", cwd=workspace)
    assert quiet.code == 0 and quiet.err == ""
    assert quiet.out.strip().splitlines() == ["Plan: 6 to add, 0 to change, 0 to delete.",
                                              "Apply complete: 6 added, 0 changed, 0 deleted."]


def test_python_dash_m_and_console_script_entry_points(workspace: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "reconciler", "validate"], cwd=workspace,
                            capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert result.returncode == 0 and "6 task(s)" in result.stdout
