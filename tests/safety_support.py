"""Helpers for the safety-rail tests (test_hostile, test_faults, test_secrets): running
reconcile.py (in this process for what it says and writes; as a process with a
wall-clock bound and an address-space limit where those are the point), and reading the
emulated machine's tasks byte for byte."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from conftest import EXAMPLES, RECONCILE, run_cli, run_cli_process, user_env

TESTS = Path(__file__).resolve().parent
EMULATOR = TESTS / "emulator" / "schtasks_emulator.py"
POWERSHELL_EMULATOR = TESTS / "emulator" / "powershell_emulator.py"
DRIVER = TESTS / "safety_driver.py"
STORE = Path(".reconcile") / "store"
ONE_GIB = 1 << 30


@dataclass
class Run:
    code: int
    out: str
    err: str
    seconds: float

    @property
    def text(self) -> str:
        return self.out + self.err


def _limit_memory() -> None:  # pragma: no cover - runs in the child
    if sys.platform == "win32":  # never called there; says so to mypy --platform win32
        return
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (ONE_GIB, ONE_GIB))


def reconcile(*args: str, cwd: Path, env: dict[str, str] | None = None) -> Run:
    """``reconcile.py ARGS`` in ``cwd``, run in this process (conftest.run_cli): for the
    cases that are about what is said and written, not about memory, time or signals."""
    start = time.monotonic()
    result = run_cli(*args, cwd=cwd, env=env)
    return Run(result.code, result.out, result.err, time.monotonic() - start)


def reconcile_process(*args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 60,
                      limit_memory: bool = True, driver: bool = False) -> Run:
    """``python reconcile.py ARGS`` in ``cwd`` (or the fault-injecting driver) as a new
    process, under a 1 GiB address-space limit on Linux. A run over ``timeout`` seconds
    raises subprocess.TimeoutExpired (the child is killed)."""
    preexec = _limit_memory if (limit_memory and sys.platform.startswith("linux")) else None
    start = time.monotonic()
    result = run_cli_process(*args, cwd=cwd, env=env, timeout=timeout,
                             script=DRIVER if driver else RECONCILE, preexec_fn=preexec)
    return Run(result.code, result.out, result.err, time.monotonic() - start)


def reconcile_many(runs: list[tuple[tuple[str, ...], Path, dict[str, str] | None, bool]],
                   timeout: float = 120) -> list[Run]:
    """Several independent ``python reconcile.py`` runs at once (args, cwd, env, driver),
    each as its own process; results in the order given."""
    started = []
    for args, cwd, env, driver in runs:
        script = DRIVER if driver else RECONCILE
        started.append((time.monotonic(), subprocess.Popen(
            [sys.executable, str(script), *args], cwd=cwd, env=user_env(env),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE)))
    results = []
    for start, process in started:
        out, err = process.communicate(timeout=timeout)
        results.append(Run(process.returncode, out.decode("utf-8", "replace"),
                           err.decode("utf-8", "replace"), time.monotonic() - start))
    return results


def new_workspace(base: Path) -> Path:
    """A folder with a copy of the example manifests in tasks.d/."""
    base.mkdir(parents=True, exist_ok=True)
    shutil.copytree(EXAMPLES, base / "tasks.d")
    return base


def emulator_env(workspace: Path, state: str = "machine") -> dict[str, str]:
    return {
        "RECONCILE_SCHTASKS": str(EMULATOR),
        "SCHTASKS_EMULATOR_STATE": str(workspace / state),
        "SCHTASKS_EMULATOR_SEED": "1",
        "RECONCILE_LOCK_DIR": str(workspace / "lock"),
        "RECONCILE_SCHTASKS_TIMEOUT": "30",
        "RECONCILE_POWERSHELL": str(POWERSHELL_EMULATOR),
    }


def emulator(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(EMULATOR), *args], env={**os.environ, **env},
                          capture_output=True, timeout=60)


def machine_tasks(state: Path) -> dict[str, bytes]:
    """Every task of the emulated machine: its path -> the bytes Windows keeps."""
    index_file = state / "index.json"
    if not index_file.exists():
        return {}
    index = json.loads(index_file.read_text(encoding="utf-8"))
    return {entry["path"]: (state / "tasks" / entry["file"]).read_bytes()
            for entry in index["tasks"].values()}


def machine_calls(state: Path) -> int:
    index_file = state / "index.json"
    if not index_file.exists():
        return 0
    return int(json.loads(index_file.read_text(encoding="utf-8"))["calls"])


def call_log(state: Path) -> list[list[str]]:
    log = state / "calls.log"
    if not log.exists():
        return []
    return [json.loads(line)["argv"] for line in log.read_text(encoding="utf-8").splitlines() if line]


def writes(state: Path) -> list[list[str]]:
    return [c for c in call_log(state) if c and c[0].lower() in ("/create", "/delete", "/change")]


UNMANAGED_XML = (
    '<?xml version="1.0" encoding="UTF-16"?>\r\n<Task version="1.2" '
    'xmlns="http://schemas.microsoft.com/windows/2004/02/mit/task"><RegistrationInfo>'
    '<Description>made by hand</Description></RegistrationInfo><Principals><Principal id="Author">'
    '<UserId>S-1-5-18</UserId></Principal></Principals><Actions Context="Author">'
    '<Exec><Command>notepad.exe</Command></Exec></Actions></Task>'
)

PROTECTED_MANIFEST = """apiVersion: reconcile/v1
kind: ScheduledTask
metadata:
  name: guarded
spec:
  schedule: "0 3 * * *"
  actions:
    - command: C:\\tools\\guard.exe
  protect: true
"""

ADDED_MANIFEST = """apiVersion: reconcile/v1
kind: ScheduledTask
metadata:
  name: added
  folder: New
spec:
  schedule: "0 4 * * *"
  actions:
    - command: C:\\tools\\new.exe
      arguments: ["--fresh"]
"""


def change_manifests(workspace: Path) -> None:
    """From an applied state: two manifests changed, one removed, one added, and the
    protected task's manifest removed."""
    tasks = workspace / "tasks.d"
    for file, old, new in (("excel-processing.yaml", "timeout: 30m", "timeout: 31m"),
                           ("nightly-restart.yaml", "timeout: 5m", "timeout: 6m")):
        text = (tasks / file).read_text(encoding="utf-8")
        assert old in text, (file, old)
        (tasks / file).write_text(text.replace(old, new), encoding="utf-8")
    (tasks / "email-delivery.yaml").unlink()
    (tasks / "guarded.yaml").unlink()
    (tasks / "added.yaml").write_text(ADDED_MANIFEST, encoding="utf-8")
