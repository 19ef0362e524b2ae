#!/usr/bin/env python3
"""Parallel writes on the schtasks backend: 200 creates through the Windows emulator
(tests/emulator) with a fixed delay per call, `apply --parallelism 1` against
`--parallelism 4`, each as a whole process. Prints the times and their ratio.

The emulator runs two ways. Started per call (as the tests run it), each call also
costs a Python start-up and imports, about 0.15 s of CPU: on two cores, four parallel
calls then queue for CPU and the ratio cannot fall below roughly
cpu / 2 / (cpu + delay), whatever reconcile.py does. Resident (tests/emulator/
resident.py; Unix only), each call is a small client and the emulator's own work runs
in one process, closer to schtasks.exe, which mostly waits for the Task Scheduler
service. The target is about reconcile.py's parallelism, so it is judged on the
resident emulator; both are printed.

    python bench/parallel_writes.py [--tasks 200] [--delay-ms 50]
"""
from __future__ import annotations

import argparse
import os
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
EMULATOR = REPO / "tests" / "emulator" / "schtasks_emulator.py"
RESIDENT = REPO / "tests" / "emulator" / "resident.py"
RESIDENT_ENV = "SCHTASKS_EMULATOR_RESIDENT"  # resident.ENV_SOCKET

TASK = """apiVersion: reconcile/v1
kind: ScheduledTask
metadata: {{name: job-{index:04d}}}
spec:
  triggers: [{{daily: {{at: "{hour:02d}:{minute:02d}"}}}}]
  actions: [{{command: 'C:\\Jobs\\tool.exe', arguments: ["--job", "{index}"]}}]
  runAs: {{user: SYSTEM}}
"""


def apply(base: Path, parallelism: int, delay_ms: int, executable: Path = EMULATOR,
          label: str = "per-call") -> tuple[float, int]:
    state = base / f"machine-{label}-{parallelism}"
    env = {**os.environ, "RECONCILE_SCHTASKS": str(executable), "SCHTASKS_EMULATOR_STATE": str(state),
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
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                     allow_abbrev=False)
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
        ways = [("emulator started per call", EMULATOR, "per-call")]
        server = None
        if hasattr(socket, "AF_UNIX"):
            server, client = resident(base)
            ways.append(("resident emulator", client, "resident"))
        try:
            for title, executable, label in ways:
                rows = {p: apply(base, p, args.delay_ms, executable, label) for p in (1, 4)}
                print(f"{title}:")
                for parallelism, (seconds, calls) in rows.items():
                    print(f"  --parallelism {parallelism}: {args.tasks} creates in {seconds:6.2f} s "
                          f"({calls} schtasks calls, {args.delay_ms} ms delay each)")
                ratio = rows[4][0] / rows[1][0]
                judged = label == "resident" or server is None
                target = f" (target <= 0.33: {'met' if ratio <= 1 / 3 else 'NOT met'})" if judged else ""
                print(f"  --parallelism 4 / --parallelism 1 = {ratio:.2f}{target}")
        finally:
            if server is not None:
                server.terminate()
                server.wait()
    finally:
        shutil.rmtree(base, ignore_errors=True)
    return 0


def resident(base: Path) -> tuple[subprocess.Popen[bytes], Path]:
    """Start the resident emulator; returns it and the client to point
    RECONCILE_SCHTASKS at (a two-line launcher: ``python -S`` starts in milliseconds)."""
    sys.path.insert(0, str(RESIDENT.parent))
    import resident as emulator

    path = base / "emulator.sock"
    server = emulator.start(str(path))
    client = base / "schtasks-client"
    client.write_text(f"#!/bin/sh\n{RESIDENT_ENV}={shlex.quote(str(path))} exec "
                      f"{shlex.quote(sys.executable)} -S {shlex.quote(str(RESIDENT))} --client \"$@\"\n")
    client.chmod(0o755)
    return server, client


if __name__ == "__main__":
    raise SystemExit(main())
