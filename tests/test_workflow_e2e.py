"""The seed chain end to end, as a user and Task Scheduler would run it: manifests with
``run.after`` -> ``reconcile.py render`` -> the registered Exec action, split by the
Windows rules and executed with a local interpreter as the runner. C (after A and B)
runs only after both succeeded, once per pair, and not after A failed."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from lxml import etree

from conftest import run_cli
from reconciler import cmdline

NS = {"t": "http://schemas.microsoft.com/windows/2004/02/mit/task"}
STEP = """import pathlib, sys
name, journal, control = sys.argv[1], pathlib.Path(sys.argv[2]), pathlib.Path(sys.argv[3])
code = int((control / f"{name}.code").read_text()) if (control / f"{name}.code").exists() else 0
with journal.open("a") as out:
    out.write(f"{name} {code}\\n")
sys.exit(code)
"""


def manifests(tmp: Path) -> None:
    folder = tmp / "tasks.d"
    folder.mkdir()
    (tmp / "step.py").write_text(STEP)
    (folder / "_defaults.yaml").write_text(
        "apiVersion: reconcile/v1\nkind: Defaults\nspec:\n"
        f"  runAs: {{user: SYSTEM}}\n  runner: {{python: '{sys.executable}', home: '{tmp / 'home'}'}}\n")
    for name, run in (("a", "{}"), ("b", "{}"), ("c", "{after: [a, b]}")):
        (folder / f"{name}.yaml").write_text(
            f"apiVersion: reconcile/v1\nkind: ScheduledTask\nmetadata: {{name: {name}}}\nspec:\n"
            f"  triggers: [{{daily: {{at: '06:00'}}}}]\n"
            f"  actions:\n    - command: '{sys.executable}'\n"
            f"      arguments: ['{tmp / 'step.py'}', {name}, '{tmp / 'journal.txt'}', '{tmp / 'control'}']\n"
            f"  run: {run}\n")


def registered_action(tmp: Path, name: str) -> list[str]:
    """The Exec action as Task Scheduler would start it: command + split arguments."""
    result = run_cli("render", name, cwd=tmp)
    assert result.code == 0, result.err
    task = etree.fromstring(result.out.split("?>", 1)[1].encode("utf-8"))
    (command,) = task.xpath("//t:Exec/t:Command/text()", namespaces=NS)
    (arguments,) = task.xpath("//t:Exec/t:Arguments/text()", namespaces=NS)
    return [command, *cmdline.split(arguments)]


def test_the_chain_runs_c_only_after_a_and_b(tmp_path: Path) -> None:
    manifests(tmp_path)
    (tmp_path / "control").mkdir()
    assert run_cli("validate", cwd=tmp_path).code == 0
    actions = {name: registered_action(tmp_path, name) for name in "abc"}
    events = tmp_path / "events.jsonl"
    env = {**os.environ, "RECONCILE_RUNNER_EVENT_LOG": str(events)}

    def start(name: str) -> int:
        return subprocess.run(actions[name], env=env, capture_output=True, timeout=60).returncode

    def deliver() -> None:
        """Task Scheduler's part: each "finished" event starts the tasks listening."""
        seen = 0
        while events.exists() and seen < len(lines := events.read_text().splitlines()):
            for line in lines[seen:]:
                finished = json.loads(line)["data"][0]
                if finished in ("\\Orchestrator\\a", "\\Orchestrator\\b"):
                    start("c")
            seen = len(lines)

    def journal() -> list[str]:
        path = tmp_path / "journal.txt"
        return path.read_text().splitlines() if path.exists() else []

    assert start("a") == 0
    deliver()
    assert journal() == ["a 0"], "c waits for b"
    assert start("b") == 0
    deliver()
    assert journal() == ["a 0", "b 0", "c 0"]
    assert start("c") == 0 and journal().count("c 0") == 1, "never twice for one pair"
    (tmp_path / "control" / "a.code").write_text("4")
    assert start("a") == 4
    deliver()
    assert start("b") == 0
    deliver()
    assert journal().count("c 0") == 1, "not at all after a failed"
    history = run_cli("history", "c", "--format", "json", "--home", str(tmp_path / "home"), cwd=tmp_path)
    assert history.code == 0, history.err
    results = [run["result"] for run in json.loads(history.out)["runs"]]
    assert results.count("succeeded") == 1 and "waiting" in results
