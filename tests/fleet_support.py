"""A simulated fleet for the tests: five hosts in overlapping groups, each with a local
store of its own, and manifests whose targets overlap. EXPECTED says which tasks each
host must receive, worked out by hand from the rules in README "Fleet"."""
from __future__ import annotations

import json
import textwrap
from pathlib import Path

from conftest import Result, run_cli

INVENTORY = """\
all:
  vars:
    reconcile_root: \\Orchestrator\\
  children:
    prod:
      vars:
        reconcile_wave: prod
      children:
        site_a:
          hosts:
            srv-a01:
              reconcile_wave: canary
            srv-a02:
        site_b:
          hosts:
            srv-b[01:02]:
    test:
      hosts:
        srv-t01:
          reconcile_wave: canary
    office:
      hosts:
        srv-a02:
        srv-t01:
"""

HOSTS = ("srv-a01", "srv-a02", "srv-b01", "srv-b02", "srv-t01")

DEFAULTS = """\
apiVersion: reconcile/v1
kind: Defaults
spec:
  runAs: {user: SYSTEM}
"""

PROD_DEFAULTS = """\
apiVersion: reconcile/v1
kind: Defaults
spec:
  runAs: {user: SYSTEM}
  targets: {groups: [prod]}
"""


def task(name: str, targets: str | None = None, command: str = "C:\\\\Jobs\\\\job.exe", hour: int = 3) -> str:
    lines = ["apiVersion: reconcile/v1", "kind: ScheduledTask", "metadata:", f"  name: {name}"]
    if targets is not None:
        lines.append(f"  targets: {targets}")
    lines += ["spec:", f'  schedule: "0 {hour} * * *"', f'  actions: [{{command: "{command}"}}]']
    return "\n".join(lines) + "\n"


MANIFESTS = {
    "defaults.yaml": DEFAULTS,
    "everywhere.yaml": task("everywhere"),
    "office.yaml": task("office-backup", "{groups: [office], hosts: [SRV-B01]}"),
    "moving.yaml": task("moving", "{groups: [site_a]}"),
    "prod/defaults.yaml": PROD_DEFAULTS,
    "prod/prod-job.yaml": task("prod-job", hour=4),
    "prod/site-a-only.yaml": task("site-a-only", "{groups: [site_a], exclude: [srv-a02]}"),
    "prod/db-check.yaml": task("db-check", "{groups: [prod], require: [office]}"),
    # The same path as prod/prod-job.yaml, for the test hosts only: no host receives both.
    "test-prod-job.yaml": task("prod-job", "{groups: [test]}", command="C:\\\\Test\\\\job.exe", hour=5),
}

EXPECTED = {
    "srv-a01": {"everywhere", "moving", "prod-job", "site-a-only"},
    "srv-a02": {"everywhere", "office-backup", "moving", "prod-job", "db-check"},
    "srv-b01": {"everywhere", "office-backup", "prod-job"},
    "srv-b02": {"everywhere", "prod-job"},
    "srv-t01": {"everywhere", "office-backup", "prod-job"},
}


def write(base: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = base / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")


def one_file_per_folder(files: dict[str, str]) -> dict[str, str]:
    """The same documents in one file per folder (Defaults first): fewer files to copy."""
    folders: dict[str, list[str]] = {}
    for name in sorted(files, key=lambda n: not n.endswith("defaults.yaml")):
        folder = name.rpartition("/")[0]
        folders.setdefault(folder, []).append(files[name])
    return {(f"{folder}/" if folder else "") + "tasks.yaml": "---\n".join(docs) for folder, docs in folders.items()}


def make_fleet(base: Path, few_files: bool = False) -> Path:
    """The fleet's repository in ``base``: inventory.yml and tasks.d/."""
    base.mkdir(parents=True, exist_ok=True)
    (base / "inventory.yml").write_text(INVENTORY, encoding="utf-8")
    write(base / "tasks.d", one_file_per_folder(MANIFESTS) if few_files else MANIFESTS)
    return base


def cli(base: Path, *args: str) -> Result:
    return run_cli(*args, cwd=base)


def host_cli(base: Path, host: str, command: str, *args: str) -> Result:
    """``reconcile.py COMMAND --inventory inventory.yml --host HOST`` on the host's own store."""
    return run_cli(command, "--inventory", "inventory.yml", "--host", host, "--backend", "local",
                   "--store", f"stores/{host}", *args, cwd=base)


def planned(base: Path, host: str) -> dict[str, str]:
    """The host's plan: task name -> action, for every task that changes."""
    result = host_cli(base, host, "plan", "--format", "json")
    assert result.code == 0, result.err
    body = json.loads(result.out)
    return {c["path"].rsplit("\\", 1)[1]: c["action"] for c in body["changes"] if c["action"] != "no-op"}
