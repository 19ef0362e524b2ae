#!/usr/bin/env python3
"""Apply of N creates (1,000 by default) on the com backend, next to the schtasks backend,
each as a whole process (``python reconcile.py apply``) on the same emulated machine
rules: com through the stand-in pywin32 of tests/standin, schtasks through the emulator
started per call (tests/emulator), as the tests run them.

For each it prints the wall time, the backend's calls (COM method calls; schtasks
processes) and the processes the apply started, counted by an audit hook in the
reconcile.py process (tests/standin/pythoncom.py; for schtasks, one per call of its
log). Manifests are read serially (``RECONCILE_WORKERS=1``), as on Windows, where worker
processes are opt-in.

Then the question behind ``capabilities.parallel_writes``: the same N registrations
through ComBackend in one thread and in four (each thread its own COM connection).

Numbers only; the stand-in is Python code over a JSON index, not Windows: what carries
over is the count of calls and processes, not the times.

    python bench/com_apply.py [--tasks 1000]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
STANDIN = REPO / "tests" / "standin"
EMULATOR = REPO / "tests" / "emulator" / "schtasks_emulator.py"

TASK = """apiVersion: reconcile/v1
kind: ScheduledTask
metadata: {{name: job-{index:04d}, folder: Team{team:02d}}}
spec:
  triggers: [{{daily: {{at: "{hour:02d}:{minute:02d}"}}}}]
  actions: [{{command: 'C:\\Jobs\\tool.exe', arguments: ["--job", "{index}"]}}]
  runAs: {{user: SYSTEM}}
"""


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines() if path.exists() else []


def apply(base: Path, backend: str) -> dict[str, object]:
    state = base / f"machine-{backend}"
    processes = base / f"processes-{backend}.log"
    env = {**os.environ, "SCHTASKS_EMULATOR_STATE": str(state), "SCHTASKS_EMULATOR_SEED": "0",
           "RECONCILE_LOCK_DIR": str(base / f"lock-{backend}"), "RECONCILE_WORKERS": "1", "NO_COLOR": "1",
           "COM_STANDIN_PROCESS_LOG": str(processes), "RECONCILE_SCHTASKS": str(EMULATOR),
           "PYTHONPATH": os.pathsep.join(p for p in (str(STANDIN), str(REPO), os.environ.get("PYTHONPATH", "")) if p)}
    started = time.perf_counter()
    result = subprocess.run([sys.executable, str(REPO / "reconcile.py"), "--backend", backend, "apply", "-q"],
                            cwd=base, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(result.stderr[-2000:])
    if backend == "com":
        calls = json.loads((state / "com-calls.json").read_text())
        started_processes = len(_lines(processes))
        detail = f"{calls['total']} COM calls ({calls.get('RegisterTask', 0)} RegisterTask)"
    else:
        calls = {"total": len(_lines(state / "calls.log"))}
        started_processes = calls["total"]  # each schtasks call is a process
        detail = f"{calls['total']} schtasks calls"
    return {"seconds": elapsed, "detail": detail, "processes": started_processes}


def threads(base: Path, tasks: int) -> dict[int, float]:
    """N registrations through ComBackend with 1 and 4 writer threads."""
    sys.path.insert(0, str(STANDIN))
    sys.path.insert(0, str(REPO))
    from reconciler import render
    from reconciler.backends.com import ComBackend
    from reconciler.model import ByDay, CalendarTrigger, ExecAction, Principal, TaskSpec

    root = "\\Orchestrator\\"
    out: dict[int, float] = {}
    for count in (1, 4):
        os.environ["SCHTASKS_EMULATOR_STATE"] = str(base / f"threads-{count}")
        os.environ["SCHTASKS_EMULATOR_SEED"] = "0"
        backend = ComBackend(root)
        backend.read_state(root)
        specs = [TaskSpec(path=f"{root}job-{i:04d}", name=f"job-{i:04d}", folder=(), description=None,
                          triggers=(CalendarTrigger(start="2000-01-03T02:00:00", schedule=ByDay(interval=1)),),
                          actions=(ExecAction(command="C:\\Jobs\\tool.exe", arguments=f"--job {i}"),),
                          principal=Principal(user_id="SYSTEM")) for i in range(tasks)]
        xmls = [(s.path, render.render(s, root).xml) for s in specs]
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=count) as pool:
            list(pool.map(lambda item: backend.register(*item), xmls))
        out[count] = time.perf_counter() - started
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                     allow_abbrev=False)
    parser.add_argument("--tasks", type=int, default=1000)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="reconcile-com-"))
    try:
        (base / "tasks.d").mkdir()
        for index in range(args.tasks):
            (base / "tasks.d" / f"job-{index:04d}.yaml").write_text(
                TASK.format(index=index, team=index % 20, hour=index % 24, minute=index % 60))
        print(f"apply of {args.tasks:,} creates, one process each:")
        for backend, what in (("com", "stand-in pywin32"), ("schtasks", "emulator started per call, --parallelism 4")):
            row = apply(base, backend)
            print(f"  {backend:8s} ({what}): {row['seconds']:7.2f} s, {row['detail']}, "
                  f"{row['processes']} processes started")
        timed = threads(base, args.tasks)
        print(f"ComBackend.register x {args.tasks:,} in-process: 1 thread {timed[1]:.2f} s, "
              f"4 threads {timed[4]:.2f} s (ratio {timed[4] / timed[1]:.2f})")
    finally:
        shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
