"""The GitHub Actions fleet example (examples/github-actions/fleet.yml): actionlint
checks it as a workflow (test_workflows_lint.py); here its shape (a job per wave, each
host's job on that host's runner, an approval before prod, a report that always runs)
and its Linux steps, run as GitHub runs them (bash -eo pipefail) against the example
inventory (examples/ansible/inventory)."""
from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import REPO, run_cli
from fleet_support import DEFAULTS, task, write

WORKFLOW = REPO / "examples" / "github-actions" / "fleet.yml"
INVENTORY = REPO / "examples" / "ansible" / "inventory"
WAVES = {"canary": ["srv-a01", "srv-t01"], "prod": ["srv-a02", "srv-b01", "srv-b02"]}
HOSTS = ["srv-a01", "srv-a02", "srv-b01", "srv-b02", "srv-t01"]


def jobs() -> dict[str, Any]:
    return yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))["jobs"]


def step(job: str, name: str) -> str:
    return next(s["run"] for s in jobs()[job]["steps"] if s.get("name") == name)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A fleet repository laid out as the workflow expects: inventory/ and tasks.d/."""
    shutil.copytree(INVENTORY, tmp_path / "inventory")
    write(tmp_path / "tasks.d", {"defaults.yaml": DEFAULTS, "everywhere.yaml": task("everywhere"),
                                 "site-a.yaml": task("site-a-only", "{groups: [site_a]}")})
    return tmp_path


def run_step(script: str, cwd: Path) -> tuple[int, dict[str, str]]:
    """One ``run:`` step as GitHub's bash runs it; the files it appends to come back."""
    bin_dir = cwd / ".bin"
    bin_dir.mkdir(exist_ok=True)
    if not (bin_dir / "python").exists():
        (bin_dir / "python").symlink_to(sys.executable)
    files = {name: cwd / f".{name}" for name in ("GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY")}
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "PYTHONPATH": str(REPO),
           "INVENTORY": "inventory/hosts.yml", "GITHUB_ACTIONS": "true",
           **{name: str(path) for name, path in files.items()}}
    done = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    said = {name: path.read_text(encoding="utf-8") if path.exists() else "" for name, path in files.items()}
    return done.returncode, {**said, "stdout": done.stdout, "stderr": done.stderr}


def test_one_job_per_wave_each_host_on_its_own_runner() -> None:
    found = jobs()
    assert found["canary"]["needs"] == "hosts"
    assert "github.ref_name == github.event.repository.default_branch" in found["canary"]["if"]
    assert found["approve-prod"]["needs"] == ["hosts", "canary"]
    assert "!failure() && !cancelled()" in found["approve-prod"]["if"]
    assert "github.ref_name == github.event.repository.default_branch" in found["approve-prod"]["if"]
    assert found["approve-prod"]["environment"] == "reconcile-wave-prod"  # its required reviewers
    assert found["prod"]["needs"] == ["hosts", "approve-prod"]
    for name in ("plan", "canary", "prod"):
        job = found[name]
        assert job["runs-on"] == ["self-hosted", "windows", "${{ matrix.host }}"]
        assert job["concurrency"] == {"group": "reconcile-${{ matrix.host }}", "cancel-in-progress": False}
        assert job["timeout-minutes"] <= 60
        uploads = [s for s in job["steps"] if str(s.get("uses", "")).startswith("actions/upload-artifact@")]
        assert uploads[0]["with"]["name"] == "plan-${{ matrix.host }}"
    for wave in WAVES:
        job = found[wave]
        assert job["strategy"]["matrix"] == f"${{{{ fromJSON(needs.hosts.outputs.{wave}) }}}}"
        assert job["environment"] == "reconcile-${{ matrix.host }}"  # the host's secrets
        script = step(wave, "Plan and apply this host")
        assert "plan --dir tasks.d --inventory $env:INVENTORY --host $env:HOST" in script
        assert re.search(r"apply --plan plan\.json --inventory \$env:INVENTORY `\s+--host \$env:HOST ", script)
        # Uploaded only when the apply succeeded: a failed host is missing from the report.
        assert "if" not in next(s for s in job["steps"] if s.get("name") == "Keep the plan it applied")
    report = found["report"]
    assert report["if"].startswith("always()") and set(report["needs"]) == {"hosts", "plan", "canary", "prod"}


def test_the_servers_steps_are_safe_for_production() -> None:
    """As examples/github-actions/reconcile.yml (tests/test_ci_example.py): a virtual
    environment of its own, UTF-8 end to end, --max-deletions, no unpublished release."""
    text = WORKFLOW.read_text(encoding="utf-8")
    assert "v0.1.0" not in text and "REPLACE-WITH-A-COMMIT-SHA" in text
    for name, script in (("plan", step("plan", "Plan this host")), ("canary", step("canary", "Plan and apply this host")),
                         ("prod", step("prod", "Plan and apply this host"))):
        assert "[Console]::OutputEncoding = $utf8" in script, name
        assert "Out-File" not in script and "Add-Content" not in script, name
        assert "[IO.File]::AppendAllText($env:GITHUB_STEP_SUMMARY" in script, name
        assert script.count("--max-deletions $env:RECONCILE_MAX_DELETIONS") == (1 if name == "plan" else 2), name
        assert "& $env:RECONCILE_PY -m reconciler" in script, name
        install = step(name, "Install reconcile.py in its own virtual environment")
        assert "-m venv $venv" in install and '& "$venv\\Scripts\\python.exe" -m pip install' in install


def test_the_hosts_job_validates_and_gives_each_wave_its_hosts(repo: Path) -> None:
    code, said = run_step(step("hosts", "Validate every host's subset (run.after targets on the same host included)"),
                          repo)
    assert code == 0, said
    assert "5 host(s)" in said["stdout"]
    code, said = run_step(step("hosts", "The hosts, and the hosts of each wave, as job matrices"), repo)
    assert code == 0, said
    outputs = dict(line.split("=", 1) for line in said["GITHUB_OUTPUT"].splitlines())
    assert set(outputs) == set(jobs()["hosts"]["outputs"]) == {"all", *WAVES}
    matrices = {name: json.loads(text)["include"] for name, text in outputs.items()}
    assert [e["host"] for e in matrices["all"]] == HOSTS
    for wave, hosts in WAVES.items():
        assert [e["host"] for e in matrices[wave]] == hosts
        assert {e["wave"] for e in matrices[wave]} == {wave}


def test_a_wave_missing_from_the_inventory_fails_the_hosts_job(repo: Path) -> None:
    hosts = repo / "inventory" / "hosts.yml"
    hosts.write_text(hosts.read_text().replace("reconcile_wave: prod", "reconcile_wave: main"))
    code, said = run_step(step("hosts", "The hosts, and the hosts of each wave, as job matrices"), repo)
    assert code == 1 and "waves: canary, main" in said["stderr"]
    assert said["GITHUB_OUTPUT"] == ""


def test_the_report_job_names_a_missing_host_and_fails(repo: Path) -> None:
    for host in HOSTS:
        (repo / "plans" / f"plan-{host}").mkdir(parents=True)  # as download-artifact lays them out
        result = run_cli("plan", "--inventory", "inventory/hosts.yml", "--host", host, "--backend", "local",
                         "--store", f"stores/{host}", "--out", f"plans/plan-{host}/plan.json", "-q", cwd=repo)
        assert result.code == 0, result.err
    code, said = run_step(step("report", "Fleet report"), repo)
    assert code == 0, said
    assert "5 with changes. OK." in said["stdout"]
    assert (repo / "fleet.html").read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    shutil.rmtree(repo / "plans" / "plan-srv-b02")  # its job failed or never ran
    (repo / ".GITHUB_STEP_SUMMARY").unlink()
    code, said = run_step(step("report", "Fleet report"), repo)
    assert code == 1
    assert "| srv-b02 |" in said["GITHUB_STEP_SUMMARY"] and "missing" in said["GITHUB_STEP_SUMMARY"]
    assert said["GITHUB_STEP_SUMMARY"].count("\n| srv-") == 5


def test_an_inventory_without_canary_hosts_skips_that_wave(repo: Path) -> None:
    hosts = repo / "inventory" / "hosts.yml"
    hosts.write_text(hosts.read_text().replace("reconcile_wave: canary", "reconcile_wave: prod"))
    code, said = run_step(step("hosts", "The hosts, and the hosts of each wave, as job matrices"), repo)
    assert code == 0, said
    outputs = dict(line.split("=", 1) for line in said["GITHUB_OUTPUT"].splitlines())
    assert json.loads(outputs["canary"]) == {"include": []}
    assert [e["host"] for e in json.loads(outputs["prod"])["include"]] == HOSTS
    found = jobs()
    # An empty matrix fails a run: the job is skipped instead, and the approval after it
    # still runs when it was skipped (not when it failed).
    assert "fromJSON(needs.hosts.outputs.canary).include[0] != null" in found["canary"]["if"]
    assert "fromJSON(needs.hosts.outputs.prod).include[0] != null" in found["approve-prod"]["if"]


def test_a_host_in_a_wave_the_workflow_does_not_run_fails_the_hosts_job(repo: Path) -> None:
    hosts = repo / "inventory" / "hosts.yml"
    hosts.write_text(hosts.read_text().replace("reconcile_wave: canary", "reconcile_wave: canray"))
    code, said = run_step(step("hosts", "The hosts, and the hosts of each wave, as job matrices"), repo)
    assert code == 1 and "srv-a01, srv-t01: in no wave this workflow runs (canary, prod)" in said["stderr"]
    assert said["GITHUB_OUTPUT"] == ""


def test_the_report_job_accepts_plans_made_before_a_long_approval(repo: Path) -> None:
    """The canaries' plans are made before the prod approval, which may wait days: the
    run stays green; the default --stale 2h would have turned it red."""
    three_days_ago = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=3)).isoformat()
    for host in HOSTS:
        (repo / "plans" / f"plan-{host}").mkdir(parents=True)
        saved = repo / "plans" / f"plan-{host}" / "plan.json"
        result = run_cli("plan", "--inventory", "inventory/hosts.yml", "--host", host, "--backend", "local",
                         "--store", f"stores/{host}", "--out", str(saved), "-q", cwd=repo)
        assert result.code == 0, result.err
        if host in WAVES["canary"]:
            body = json.loads(saved.read_text(encoding="utf-8"))
            body["fleet"]["made"] = three_days_ago
            saved.write_text(json.dumps(body), encoding="utf-8")
    code, said = run_step(step("report", "Fleet report"), repo)
    assert code == 0, said
    assert "5 with changes. OK." in said["stdout"]
    assert cli_code(repo, "plans") == 1  # the same plans with the default window: stale


def cli_code(repo: Path, plans: str) -> int:
    return run_cli("fleet", "report", plans, "--inventory", "inventory/hosts.yml", cwd=repo).code
