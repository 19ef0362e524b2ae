"""The runner's files after a crash (issue #18, part 5): a torn last history line must
not swallow the next record, and a damaged state file must neither run a chain twice for
one success nor lose a dependency's run."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from reconciler.runner.paths import Layout
from reconciler.runner.store import append_history, read_history, state_from_history
from test_runner import ROOT, Machine

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX process groups; Windows CI has its own")


def test_a_torn_last_line_does_not_swallow_the_next_record(tmp_path: Path) -> None:
    history = tmp_path / "history.jsonl"
    append_history(str(history), {"run": "a", "result": "running"})
    with open(history, "ab") as handle:
        handle.write(b'{"run":"a","result":"succ')  # the writer was killed mid-line
    append_history(str(history), {"run": "b", "result": "succeeded"})
    assert read_history(str(history)) == [{"run": "a", "result": "running"}, {"run": "b", "result": "succeeded"}]


@pytest.fixture
def chain(tmp_path: Path) -> Machine:
    machine = Machine(tmp_path)
    machine.add("a", (machine.step("a"),))
    machine.add("b", (machine.step("b"),), {"after": ["a"]})
    machine.register()
    return machine


def _state_file(machine: Machine, name: str) -> Path:
    return Path(Layout(str(machine.home)).state_file(ROOT + name))


def test_a_damaged_dependent_state_never_runs_the_chain_twice(chain: Machine) -> None:
    assert chain.run("a") == 0  # wakes b, which runs
    assert chain.journal_lines() == ["a 0", "b 0"]
    _state_file(chain, "b").write_text('{"consumed": {"\\\\orchestrator\\\\a": "', encoding="utf-8")
    assert chain.run("b") == 0  # b's own trigger, or a second wake-up
    assert chain.journal_lines() == ["a 0", "b 0"], "b ran twice for one success of a"
    assert chain.results("b")[-1] == "waiting"
    assert chain.run("a") == 0  # a new success: b runs again, once
    assert chain.journal_lines() == ["a 0", "b 0", "a 0", "b 0"]


def test_a_damaged_dependency_state_does_not_lose_its_run(chain: Machine) -> None:
    assert chain.run("a", deliver=False) == 0
    _state_file(chain, "a").write_bytes(b"\x00garbage")
    assert chain.run("b") == 0
    assert chain.journal_lines() == ["a 0", "b 0"], "a's success was lost"


def test_a_missing_state_file_is_rebuilt_from_the_history(chain: Machine) -> None:
    assert chain.run("a") == 0
    state = json.loads(_state_file(chain, "b").read_text(encoding="utf-8"))
    _state_file(chain, "b").unlink()
    rebuilt = state_from_history(Layout(str(chain.home)).history_file(ROOT + "b"))
    assert rebuilt["consumed"] == state["consumed"]
    assert {k: rebuilt["last"][k] for k in ("run", "result", "exitCode")} == \
        {k: state["last"][k] for k in ("run", "result", "exitCode")}
