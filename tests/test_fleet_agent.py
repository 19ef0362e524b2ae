"""Pull mode: ``agent install`` registers one task in \\ReconcileAgent\\; the command it
registered, run as a process the way Task Scheduler would start it, fetches the
repository with git, applies (or plans) this host's tasks and writes a JSON report that
``fleet report`` reads; ``agent uninstall`` removes only the agent's task."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import run_cli, store_snapshot
from fleet_support import EXPECTED, make_fleet, task, write
from reconciler import cmdline

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args], cwd=repo,
                          check=True, capture_output=True, text=True).stdout


@pytest.fixture
def origin(tmp_path: Path) -> Path:
    repo = make_fleet(tmp_path / "origin")
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "fleet")
    return repo


def agent(tmp_path: Path, *args: str) -> tuple[int, str, str]:
    result = run_cli("agent", *args, "--backend", "local", "--store", "store", cwd=tmp_path)
    return result.code, result.out, result.err


def registered(tmp_path: Path) -> tuple[str, list[str], str]:
    xml = (tmp_path / "store" / "ReconcileAgent" / "reconcile-agent").read_bytes().decode("utf-16")
    def element(name: str) -> str:
        return re.search(rf"<{name}>(.*?)</{name}>", xml, re.S)[1]  # type: ignore[index]
    return element("Command"), cmdline.split(element("Arguments")), element("WorkingDirectory")


def run_registered(tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """The agent's action, started as Task Scheduler starts it: its command, arguments
    and working directory, nothing inherited from this test but the environment."""
    command, arguments, folder = registered(tmp_path)
    return subprocess.run([command, *arguments], cwd=folder, capture_output=True, text=True, timeout=300,
                          check=False)


def reports(home: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((home / "reports").glob("*.json"))]


def test_install_registers_one_task_outside_the_root(origin: Path, tmp_path: Path) -> None:
    code, out, err = agent(tmp_path, "install", "--repo", str(origin), "--ref", "main", "--mode", "apply",
                           "--host", "srv-a01", "--home", "home", "--every", "15m")
    assert code == 0, err
    assert "It runs apply every 15m" in out
    assert sorted(store_snapshot(tmp_path / "store")) == [str(Path("ReconcileAgent") / "reconcile-agent")]
    xml = (tmp_path / "store" / "ReconcileAgent" / "reconcile-agent").read_bytes().decode("utf-16")
    assert "<Interval>PT15M</Interval>" in xml and "<RandomDelay>PT5M</RandomDelay>" in xml
    assert "<UserId>S-1-5-18</UserId>" in xml and "<RunLevel>HighestAvailable</RunLevel>" in xml
    command, arguments, _ = registered(tmp_path)
    assert command == sys.executable
    assert arguments[:4] == ["-m", "reconciler", "agent", "run"]
    assert arguments[arguments.index("--repo") + 1] == str(origin)
    again = agent(tmp_path, "install", "--repo", str(origin), "--ref", "main", "--mode", "apply",
                  "--host", "srv-a01", "--home", "home", "--every", "15m")
    assert again[0] == 0 and "No changes." in again[1]


def test_the_registered_command_applies_and_reports(origin: Path, tmp_path: Path) -> None:
    assert agent(tmp_path, "install", "--repo", str(origin), "--ref", "main", "--mode", "apply",
                 "--host", "srv-a02", "--home", "home")[0] == 0
    done = run_registered(tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    managed = {p.name for p in (tmp_path / "store" / "Orchestrator").iterdir()}
    assert managed == EXPECTED["srv-a02"]
    (report,) = reports(tmp_path / "home")
    assert report["host"] == "srv-a02" and report["mode"] == "apply" and report["errors"] == []
    assert report["commit"] == git(origin, "rev-parse", "HEAD").strip()
    assert report["applied"] == {"added": 5, "changed": 0, "deleted": 0, "failed": 0}
    assert report["plan"]["summary"]["add"] == 5 and isinstance(report["duration"], float)
    assert {row["path"] for row in report["status"]} == {"\\Orchestrator\\" + n for n in EXPECTED["srv-a02"]}
    # A second run changes nothing; the managed root's own prune never sees the agent.
    assert run_registered(tmp_path).returncode == 0
    assert reports(tmp_path / "home")[-1]["plan"]["summary"]["text"] == "No changes."
    (tmp_path / "empty").mkdir()
    pruned = run_cli("apply", "--dir", "empty", "--allow-delete-all", "--backend", "local", "--store", "store",
                     "-q", cwd=tmp_path)
    assert pruned.code == 0, pruned.err
    assert [p.name for p in (tmp_path / "store" / "ReconcileAgent").iterdir()] == ["reconcile-agent"]


def test_reports_feed_fleet_report(origin: Path, tmp_path: Path) -> None:
    for host in ("srv-a01", "srv-b02"):
        code, out, err = agent(tmp_path, "run", "--repo", str(origin), "--ref", "main", "--host", host,
                               "--home", "home")
        assert code == 0, err
        assert f"{host}: monitor" in out
    assert not (tmp_path / "store" / "Orchestrator").exists()  # monitor writes nothing
    (tmp_path / "inventory.yml").write_text("all:\n  hosts:\n    srv-a01:\n    srv-b02:\n")
    result = run_cli("fleet", "report", "home/reports", "--inventory", "inventory.yml", cwd=tmp_path)
    assert result.code == 0, result.out
    assert re.search(r"^srv-b02\s+2\s+0\s+0\s+0\s+0\s+changes$", result.out, re.M), result.out


def test_a_host_follows_its_reconcile_ref(origin: Path, tmp_path: Path) -> None:
    git(origin, "checkout", "-q", "-b", "canary")
    write(origin / "tasks.d", {"canary-only.yaml": task("canary-only")})
    git(origin, "add", "-A")
    git(origin, "commit", "-qm", "canary")
    git(origin, "checkout", "-q", "main")
    inventory = (origin / "inventory.yml").read_text()
    (origin / "inventory.yml").write_text(inventory.replace("reconcile_wave: canary\n            srv-a02:",
                                                            "reconcile_wave: canary\n              "
                                                            "reconcile_ref: canary\n            srv-a02:"))
    git(origin, "commit", "-qam", "srv-a01 follows canary")
    code, _, err = agent(tmp_path, "run", "--repo", str(origin), "--ref", "main", "--host", "srv-a01", "--home", "h")
    assert code == 0, err
    (report,) = reports(tmp_path / "h")
    assert report["ref"] == "canary" and report["commit"] == git(origin, "rev-parse", "canary").strip()
    created = {c["path"].rsplit("\\", 1)[1] for c in report["plan"]["changes"] if c["action"] == "create"}
    assert created == EXPECTED["srv-a01"] | {"canary-only"}


def test_a_failed_run_is_a_report_with_errors(origin: Path, tmp_path: Path) -> None:
    code, _, err = agent(tmp_path, "run", "--repo", str(tmp_path / "nowhere"), "--ref", "main", "--host",
                         "srv-a01", "--home", "home")
    assert code == 1 and "git fetch failed" in err
    (report,) = reports(tmp_path / "home")
    assert report["host"] == "srv-a01" and report["plan"] is None and "git fetch failed" in report["errors"][0]
    (tmp_path / "inventory.yml").write_text("all:\n  hosts:\n    srv-a01:\n")
    result = run_cli("fleet", "report", "home/reports", "--inventory", "inventory.yml", cwd=tmp_path)
    assert result.code == 1 and re.search(r"^srv-a01 .* error: git fetch failed", result.out, re.M)


def test_uninstall_removes_only_the_agents_task(origin: Path, tmp_path: Path) -> None:
    assert agent(tmp_path, "install", "--repo", str(origin), "--ref", "main", "--home", "home")[0] == 0
    (tmp_path / "store" / "ReconcileAgent" / "by-hand").write_bytes(
        (tmp_path / "store" / "ReconcileAgent" / "reconcile-agent").read_bytes().decode("utf-16")
        .replace("<Source>reconcile.py</Source>", "").encode("utf-16"))
    code, out, err = agent(tmp_path, "uninstall")
    assert code == 0, err
    assert "1 to delete" in out
    assert [p.name for p in (tmp_path / "store" / "ReconcileAgent").iterdir()] == ["by-hand"]


def test_options_are_checked(origin: Path, tmp_path: Path) -> None:
    nested = run_cli("agent", "install", "--repo", str(origin), "--ref", "main", "--root", "\\ReconcileAgent\\Jobs",
                     "--backend", "local", "--store", "store", cwd=tmp_path)
    assert nested.code == 1 and "must not contain one another" in nested.err
    for bad, message in ((["--ref=-x"], "a repository URL and a branch or tag"),
                         (["--ref", "main", "--secret", "NOEQUALS"], "write VARIABLE=TARGET"),
                         (["--ref", "main", "--inventory", "../inv.yml"], "a path inside the repository")):
        result = run_cli("agent", "install", "--repo", str(origin), *bad, cwd=tmp_path)
        assert result.code == 1 and message in result.err, result.err
