"""The Ansible example, really run: ansible-core plays examples/ansible/reconcile.yml
against five local hosts (local connection, one store per host, the local backend).
The playbook is the example itself with the three Windows modules swapped for their
POSIX twins (win_command -> command, win_copy -> copy, win_file -> file); everything
else, serial batches, max_fail_percentage and the vaulted passwords included, is the
example's."""
from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO
from fleet_support import EXPECTED, HOSTS, make_fleet, task

# Four playbook runs of 15 to 30 s each (every module Ansible runs is a new process).
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(importlib.util.find_spec("ansible") is None,
                                 reason="ansible-core is not installed (pip install the test extras)")]

EXAMPLE = REPO / "examples" / "ansible" / "reconcile.yml"
TWINS = {"ansible.windows.win_command": "ansible.builtin.command",
         "ansible.windows.win_copy": "ansible.builtin.copy",
         "ansible.windows.win_file": "ansible.builtin.file"}

# srv-a02's one task that runs as an account with a password: the password is in
# Ansible Vault (host_vars), and apply refuses the task unless it reaches its environment.
SECRET = "correct horse battery staple"
PASSWORD_TASK = task("office-login", "{hosts: [srv-a02]}", command="C:\\\\Jobs\\\\login.exe", hour=6) + (
    "  runAs: {user: 'OFFICE\\svc-login', logonType: password, password: {fromEnv: OFFICE_LOGIN_PASSWORD}}\n")
RECEIVES = {**EXPECTED, "srv-a02": EXPECTED["srv-a02"] | {"office-login"}}


def twin(folder: Path) -> Path:
    text = EXAMPLE.read_text(encoding="utf-8")
    for windows, posix in TWINS.items():
        assert windows in text
        text = text.replace(windows, posix)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "reconcile.yml"
    path.write_text(text, encoding="utf-8")
    return path


def ansible_env(base: Path) -> dict[str, str]:
    return {**os.environ, "ANSIBLE_HOME": str(base / ".ansible"), "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_HOST_KEY_CHECKING": "False", "ANSIBLE_RETRY_FILES_ENABLED": "False",
            "ANSIBLE_LOCALHOST_WARNING": "False", "ANSIBLE_SSH_RETRIES": "0",
            "ANSIBLE_VAULT_PASSWORD_FILE": str(base / "vault-password"), "PYTHONPATH": str(REPO)}


def vaulted(base: Path, name: str, value: str) -> str:
    """``ansible-vault encrypt_string --name NAME VALUE``: the line to paste in vars."""
    done = subprocess.run([sys.executable, "-m", "ansible.cli.vault", "encrypt_string", "--name", name, value],
                          env=ansible_env(base), capture_output=True, text=True, timeout=120, check=True)
    assert "!vault |" in done.stdout and value not in done.stdout
    return done.stdout


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A repository with the simulated fleet's manifests, and its inventory made local:
    each host is this machine, with a working copy and a Task Scheduler store of its own."""
    base = make_fleet(tmp_path_factory.mktemp("ansible"), few_files=True)
    (base / "tasks.d" / "office-login.yaml").write_text(PASSWORD_TASK, encoding="utf-8")
    inventory = base / "inventory"
    inventory.mkdir()
    (base / "inventory.yml").rename(inventory / "hosts.yml")
    (inventory / "group_vars").mkdir()
    # Ansible templates these per host; reconcile.py reads none of them.
    (inventory / "group_vars" / "all.yml").write_text(json.dumps({
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable,
        "reconcile_python": sys.executable,
        "reconcile_environment": {"PYTHONPATH": str(REPO)},
        "reconcile_dest": f"{base}/hosts/{{{{ inventory_hostname }}}}",
        "reconcile_options": ["--backend", "local", "--store", f"{base}/stores/{{{{ inventory_hostname }}}}"],
    }))
    (base / "vault-password").write_text("a vault password for the tests\n")
    (inventory / "host_vars").mkdir()
    (inventory / "host_vars" / "srv-a02.yml").write_text(
        "task_passwords:\n" + "".join(f"  {line}\n" for line in vaulted(
            base, "OFFICE_LOGIN_PASSWORD", SECRET).splitlines()))
    twin(base / "playbook")
    return base


def playbook(base: Path, *args: str, inventory: str = "inventory/hosts.yml") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ansible.cli.playbook", "-i", inventory, "playbook/reconcile.yml",
         "-e", f"reconcile_repo={base}", "-e", f"reconcile_controller_python={sys.executable}",
         # Batches of one, then half of the rest: fewer batches than the example's 25%.
         "-e", json.dumps({"reconcile_serial": ["1", "50%"]}), *args],
        cwd=base, env=ansible_env(base), capture_output=True, text=True, timeout=600, check=False)


def recap(output: str) -> dict[str, dict[str, int]]:
    found = {}
    for host, counts in re.findall(r"^(\S+)\s+:\s+(ok=.*)$", output, re.M):
        found[host] = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", counts)}
    return found


def batches(output: str) -> list[list[str]]:
    """The hosts of each serial batch, in order: those of its first task."""
    plays = re.split(r"^PLAY \[Reconcile scheduled tasks\].*$", output, flags=re.M)[1:]
    return [re.findall(r"^\w+: \[(srv-[^\]]+)\]", play.split("\nTASK [", 2)[1], re.M) for play in plays]


def managed(base: Path, host: str) -> set[str]:
    folder = base / "stores" / host / "Orchestrator"
    return {p.name for p in folder.iterdir()} if folder.is_dir() else set()


def test_check_mode_plans_and_writes_nothing(fleet: Path) -> None:
    done = playbook(fleet, "--check")
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert all(managed(fleet, host) == set() for host in HOSTS)
    counts = recap(done.stdout)
    assert all(counts[host]["changed"] == 1 for host in HOSTS)  # the plan has changes
    assert "Plan: 4 to add, 0 to change, 0 to delete." in done.stdout  # srv-a01's plan, shown
    assert "Fleet: 5 host(s): 5 with changes. OK." in done.stdout


def test_the_example_applies_in_batches_then_a_dry_run_shows_no_changes(fleet: Path) -> None:
    done = playbook(fleet, "-v")  # -v: every task's result, as far as no_log lets it be shown
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    for host in HOSTS:
        assert managed(fleet, host) == RECEIVES[host], host
    # serial: the canary alone, then two batches of two, in Ansible's order of the hosts
    # (group by group, breadth first: test's srv-t01 before the site groups' hosts).
    assert [sorted(hosts) for hosts in batches(done.stdout)] == [
        ["srv-t01"], ["srv-a01", "srv-a02"], ["srv-b01", "srv-b02"]]
    assert "Fleet: 5 host(s): 5 with changes. OK." in done.stdout  # the plans taken before apply
    # The vaulted password reached srv-a02's apply (which refuses the task without it),
    # whose result no_log hides; no output shows the password.
    assert "office-login" in managed(fleet, "srv-a02")
    assert SECRET not in done.stdout + done.stderr
    censored = re.findall(r"^changed: \[(\S+)\] => \{\"censored\": \"the output has been hidden", done.stdout, re.M)
    assert censored == ["srv-a02"]
    again = playbook(fleet, "--check")
    assert again.returncode == 0, again.stdout[-4000:]
    counts = recap(again.stdout)
    assert all(counts[host]["changed"] == 0 and counts[host]["failed"] == 0 for host in HOSTS), counts
    assert "Fleet: 5 host(s): 5 unchanged. OK." in again.stdout


def test_an_unreachable_host_fails_the_run(fleet: Path) -> None:
    inventory = fleet / "inventory" / "hosts.yml"
    broken = fleet / "inventory" / "broken.yml"
    # srv-t01 (the canary, first batch) is fine; srv-a02 (second batch) cannot be reached.
    text = inventory.read_text()
    assert text.count("            srv-a02:\n") == 1  # under site_a
    broken.write_text(text.replace(
        "            srv-a02:\n",
        "            srv-a02:\n              ansible_connection: ssh\n              ansible_host: 127.0.0.1\n"
        "              ansible_port: 1\n"))
    done = playbook(fleet, inventory="inventory/broken.yml")
    assert done.returncode != 0
    counts = recap(done.stdout)
    assert counts["srv-a02"]["unreachable"] == 1
    assert "stopping the rollout: srv-a02 failed or could not be reached" in done.stdout
    assert "srv-b01" not in counts and "srv-b02" not in counts  # no batch after the failure
    assert "One report for the whole fleet" not in done.stdout  # nothing made the run green
