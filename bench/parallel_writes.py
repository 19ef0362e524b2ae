#!/usr/bin/env python3
"""Parallel writes on the schtasks backend: 200 creates through the Windows emulator
(tests/emulator) with a fixed delay per call, `apply --parallelism 1` against
`--parallelism 4`, each as a whole process. Prints the times and their ratio.

    python bench/parallel_writes.py [--tasks 200] [--delay-ms 50]
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
EMULATOR = REPO / "tests" / "emulator" / "schtasks_emulator.py"

TASK = """apiVersion: reconcile/v1
kind: ScheduledTask
metadata: {{name: job-{index:04d}}}
spec:
  triggers: [{{daily: {{at: "{hour:02d}:{minute:02d}"}}}}]
  actions: [{{command: 'C:\\Jobs\\tool.exe', arguments: ["--job", "{index}"]}}]
  runAs: {{user: SYSTEM}}
"""


def apply(base: Path, parallelism: int, delay_ms: int) -> tuple[float, int]:
    state = base / f"machine-{parallelism}"
    env = {**os.environ, "RECONCILE_SCHTASKS": str(EMULATOR), "SCHTASKS_EMULATOR_STATE": str(state),
           "SCHTASKS_EMULATOR_SEED": "0", "SCHTASKS_EMULATOR_DELAY_MS": str(delay_ms),
           "RECONCILE_LOCK_DIR": str(base / "lock"), "NO_COLOR": "1"}
    started = time.perf_counter()
    result = subprocess.run([sys.executable, str(REPO / "reconcile.py"), "--backend", "schtasks", "apply",
                             "-q", "--parallelism", str(parallelism)], cwd=base, env=env,
                            capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(result.stderr[-2000:])
    calls = len((state / "calls.log").read_text().splitlines())
    return elapsed, calls


def precompile() -> None:
    """Byte-compile the code measured, as an installation has it: where bytecode is not
    written (PYTHONDONTWRITEBYTECODE), every run would otherwise compile every module."""
    import compileall

    for folder in (REPO / "reconciler", REPO / "tests" / "emulator",):
        compileall.compile_dir(str(folder), quiet=1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=200)
    parser.add_argument("--delay-ms", type=int, default=50)
    args = parser.parse_args()
    precompile()
    base = Path(tempfile.mkdtemp(prefix="reconcile-parallel-"))
    try:
        (base / "tasks.d").mkdir()
        for index in range(args.tasks):
            (base / "tasks.d" / f"job-{index:04d}.yaml").write_text(
                TASK.format(index=index, hour=index % 24, minute=index % 60))
        rows = {p: apply(base, p, args.delay_ms) for p in (1, 4)}
        for parallelism, (seconds, calls) in rows.items():
            print(f"--parallelism {parallelism}: {args.tasks} creates in {seconds:6.2f} s "
                  f"({calls} schtasks calls, {args.delay_ms} ms delay each)")
        print(f"--parallelism 4 / --parallelism 1 = {rows[4][0] / rows[1][0]:.2f} (target <= 0.33)")
    finally:
        shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
