"""Helpers for the tests of the com backend on the stand-in pywin32 (tests/standin):
putting it first on the import path of this process or of a child, and reading what the
stand-in machine recorded (its COM calls, the processes a run started)."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
STANDIN = TESTS / "standin"
STANDIN_MODULES = ("win32com", "win32com.client", "pythoncom", "pywintypes", "taskschd_standin",
                   "taskschd_plumbing")


def use_standin(monkeypatch: pytest.MonkeyPatch) -> None:
    """The stand-in first on sys.path of this process, and no pywin32 module imported
    yet, so the next import finds the stand-in. After the test, sys.modules holds again
    exactly the pywin32 modules it held before (on Windows CI, the real ones)."""
    monkeypatch.syspath_prepend(str(STANDIN))
    tops = {name.split(".")[0] for name in STANDIN_MODULES}
    for name in sorted(set(STANDIN_MODULES) | {m for m in sys.modules if m.split(".")[0] in tops}):
        monkeypatch.setitem(sys.modules, name, None)  # undone last: the old entry, or none
        monkeypatch.delitem(sys.modules, name)


def standin_env(workspace: Path, state: str = "machine") -> dict[str, str]:
    """The environment of a ``python reconcile.py --backend com`` child on the stand-in:
    the emulated machine in ``workspace/state``, its lock, and a log of the processes the
    child starts (there must be none)."""
    path = os.pathsep.join(p for p in (str(STANDIN), os.environ.get("PYTHONPATH", "")) if p)
    return {
        "PYTHONPATH": path,
        "SCHTASKS_EMULATOR_STATE": str(workspace / state),
        "SCHTASKS_EMULATOR_SEED": "1",
        "RECONCILE_LOCK_DIR": str(workspace / "lock"),
        "COM_STANDIN_PROCESS_LOG": str(workspace / f"{state}-processes.log"),
    }


def com_calls(env: dict[str, str]) -> list[dict]:
    """Every COM method call the stand-in machine received, in order."""
    log = Path(env["SCHTASKS_EMULATOR_STATE"]) / "com-calls.log"
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines() if line]


def methods(calls: list[dict]) -> list[str]:
    return [c["method"] for c in calls]


def com_writes(calls: list[dict]) -> list[dict]:
    return [c for c in calls if c["method"] in ("RegisterTask", "DeleteTask", "CreateFolder")]


def call_count(env: dict[str, str]) -> int:
    counter = Path(env["SCHTASKS_EMULATOR_STATE"]) / "com-calls.json"
    return int(json.loads(counter.read_text())["total"]) if counter.exists() else 0


def processes_started(env: dict[str, str]) -> list[dict]:
    """The processes the runs under ``env`` started, as the stand-in's audit hook saw them."""
    log = Path(env["COM_STANDIN_PROCESS_LOG"])
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines() if line]
