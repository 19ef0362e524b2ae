"""``plan`` says what ``apply`` will refuse, so a pull request is not green while the
merge's apply fails: the deletion rails (plan takes --max-deletions and
--allow-delete-all too, and exits 1 as apply would refuse), a password variable that is
not set here, and a runner that is not installed or is another version."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import run_cli
from reconciler.runner import FORMAT, VERSION
from reconciler.runner_install import RUNNER_STAMP, stamp_text

DELETE_ALL = ("warning: apply would refuse this plan: the plan deletes every managed task (6) — an empty or "
              "mistyped --dir? Pass --allow-delete-all (to plan and apply) if that is what you want")


@pytest.fixture
def applied(workspace: Path) -> Path:
    assert run_cli("apply", "-q", cwd=workspace).code == 0
    (workspace / "empty.d").mkdir()
    return workspace


def test_a_plan_that_deletes_every_task_says_apply_would_refuse_it(applied: Path) -> None:
    warned = run_cli("plan", "--dir", "empty.d", "--detailed-exitcode", cwd=applied)
    assert warned.code == 2 and DELETE_ALL in warned.out.splitlines(), "no rail given: a warning"
    result = run_cli("plan", "--dir", "empty.d", "--detailed-exitcode", "--max-deletions", "10", cwd=applied)
    assert result.code == 1, "a rail given: refused as apply would refuse it"
    assert DELETE_ALL in result.out.splitlines()
    assert result.err == "error: apply would refuse this plan (see the plan's warnings)\n"
    allowed = run_cli("plan", "--dir", "empty.d", "--detailed-exitcode", "--allow-delete-all", cwd=applied)
    assert allowed.code == 2 and "warning:" not in allowed.out and allowed.err == ""
    # The same rails as apply: apply refuses exactly what the plan said it would.
    refused = run_cli("apply", "--dir", "empty.d", cwd=applied)
    assert refused.code == 1 and "--allow-delete-all" in refused.err


def test_max_deletions_on_plan(applied: Path) -> None:
    (applied / "tasks.d" / "nightly-restart.yaml").unlink()
    (applied / "tasks.d" / "vbs-automation.yaml").unlink()
    (applied / "tasks.d" / "email-delivery.yaml").unlink()
    over = run_cli("plan", "--max-deletions", "2", cwd=applied)
    assert over.code == 1
    assert ("warning: apply would refuse this plan: the plan deletes 3 task(s), more than --max-deletions 2 "
            "(first: \\Orchestrator\\email-delivery)") in over.out.splitlines()
    assert run_cli("plan", "--max-deletions", "3", cwd=applied).code == 0
    assert run_cli("plan", cwd=applied).code == 0, "no rail given: nothing to refuse"
    (applied / "tasks.d" / "excel-processing.yaml").unlink()
    every = run_cli("plan", "--detailed-exitcode", "--max-deletions", "9", "--allow-delete-all", cwd=applied)
    assert (every.code, every.err) == (2, "")


def test_every_view_carries_the_warnings(applied: Path) -> None:
    body = json.loads(run_cli("plan", "--dir", "empty.d", "--format", "json", cwd=applied).out)
    assert body["warnings"] == [DELETE_ALL.removeprefix("warning: ")]
    markdown = run_cli("plan", "--dir", "empty.d", "--format", "markdown", cwd=applied).out
    assert "> **Warning:** apply would refuse this plan: the plan deletes every managed task (6)" in markdown


SECRET = """apiVersion: reconcile/v1
kind: ScheduledTask
metadata: {name: secret-task}
spec:
  schedule: "0 5 * * *"
  actions: [{command: C:\\tools\\sync.exe}]
  runAs: {user: CONTOSO\\svc, logonType: password, password: {fromEnv: SVC_PASSWORD}}
"""


def test_an_unset_password_variable_is_a_warning(workspace: Path) -> None:
    (workspace / "tasks.d" / "secret.yaml").write_text(SECRET)
    result = run_cli("plan", "--detailed-exitcode", cwd=workspace, env={"SVC_PASSWORD": ""})
    assert result.code == 2, "the machine that applies may have it: a warning, not a refusal"
    assert ("warning: apply would refuse: \\Orchestrator\\secret-task: the environment variable SVC_PASSWORD "
            "(its password) is not set here (set it where apply runs)") in result.out.splitlines()
    given = run_cli("plan", cwd=workspace, env={"SVC_PASSWORD": "s3cret"})
    assert "warning" not in given.out


def _runner_at(workspace: Path, home: Path) -> Path:
    python = home / "venv" / "bin" / "python"
    defaults = workspace / "tasks.d" / "_defaults.yaml"
    text = defaults.read_text(encoding="utf-8")
    text = text.replace("python: C:\\ProgramData\\reconcile\\venv\\Scripts\\python.exe", f"python: '{python}'")
    defaults.write_text(text.replace("home: C:\\ProgramData\\reconcile", f"home: '{home}'"), encoding="utf-8")
    return python


def _runner_warnings(workspace: Path) -> list[str]:
    result = run_cli("plan", cwd=workspace)
    assert result.code == 0, result.err
    return [line for line in result.out.splitlines() if line.startswith("warning:")]


def test_a_runner_that_is_not_installed_or_of_another_version(workspace: Path, tmp_path: Path) -> None:
    home = tmp_path / "runner"
    python = _runner_at(workspace, home)
    assert _runner_warnings(workspace) == [
        f"warning: the runner {python} is not installed on this machine, and 5 task(s) with a run block start "
        "it (csv-afternoon, csv-morning, email-delivery and 2 more): run `reconcile.py runner-install` before "
        "they run"]
    python.parent.mkdir(parents=True)
    python.write_text("")
    assert _runner_warnings(workspace) == [
        f"warning: the runner in {home} does not say its version ({RUNNER_STAMP} is missing): run "
        "`reconcile.py runner-install` again so that it is this reconcile.py's (csv-afternoon, csv-morning, "
        "email-delivery and 2 more)"]
    (home / RUNNER_STAMP).write_text(json.dumps({"version": "0", "format": FORMAT}))
    assert _runner_warnings(workspace) == [
        f"warning: the runner in {home} is version 0 (payload format {FORMAT}), this reconcile.py writes version "
        f"{VERSION} (format {FORMAT}): run `reconcile.py runner-install` again (csv-afternoon, csv-morning, "
        "email-delivery and 2 more)"]
    (home / RUNNER_STAMP).write_text(stamp_text())
    assert _runner_warnings(workspace) == []


def test_a_runner_path_of_another_platform_is_not_checked(workspace: Path) -> None:
    """The example set names C:\\ProgramData\\...: on Linux that plan is not made on the
    machine that runs the tasks."""
    assert _runner_warnings(workspace) == []


def test_runner_install_leaves_what_the_plan_checks(workspace: Path, tmp_path: Path) -> None:
    from reconciler.runner_install import install

    result = install(str(tmp_path / "runner"), say=lambda line: None)
    defaults = workspace / "tasks.d" / "_defaults.yaml"
    text = defaults.read_text(encoding="utf-8")
    text = text.replace("python: C:\\ProgramData\\reconcile\\venv\\Scripts\\python.exe", f"python: '{result['python']}'")
    defaults.write_text(text.replace("home: C:\\ProgramData\\reconcile", f"home: '{result['home']}'"),
                        encoding="utf-8")
    assert json.loads((tmp_path / "runner" / RUNNER_STAMP).read_text()) == {"version": VERSION, "format": FORMAT}
    assert _runner_warnings(workspace) == []
