"""Processes and locks (issue #18, part 4): worker processes die with their parent and
let go of its output; a lock naming a reused pid is taken over, one naming another host
says exactly how to clear it; and taking over a stale lock is atomic."""
from __future__ import annotations

import json
import multiprocessing
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import REPO
from reconciler import lock as lock_module
from reconciler.errors import LockHeldError

linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="fork, /proc and prctl are Linux's")


def _dead_pid() -> int:
    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                           capture_output=True, text=True, check=True)
    return int(child.stdout)


# --- locks ---------------------------------------------------------------------------------------

@linux
def test_a_lock_naming_a_reused_pid_is_taken_over(tmp_path: Path) -> None:
    path = tmp_path / "apply.lock"
    me = lock_module._holder()
    assert me["process"] == lock_module.process_identity(os.getpid())
    # The pid is alive (it is ours), but the process that took the lock started at another
    # time: the pid was reused, the holder is gone.
    path.write_text(json.dumps({**me, "process": me["process"] + "0", "token": "old"}), encoding="utf-8")
    with lock_module.acquire(path) as holder:
        assert json.loads(path.read_text(encoding="utf-8"))["token"] == holder["token"]
    assert not path.exists()


def test_a_lock_of_a_live_process_with_its_identity_is_held(tmp_path: Path) -> None:
    path = tmp_path / "apply.lock"
    path.write_text(json.dumps({**lock_module._holder(), "token": "live"}), encoding="utf-8")
    with pytest.raises(LockHeldError, match=f"pid {os.getpid()} "):
        with lock_module.acquire(path):
            pass  # pragma: no cover


def test_a_lock_of_another_host_says_exactly_how_to_clear_it(tmp_path: Path) -> None:
    path = tmp_path / "apply.lock"
    path.write_text(json.dumps({"pid": 4242, "host": "build-07", "started": "2026-01-01T00:00:00"}),
                    encoding="utf-8")
    with pytest.raises(LockHeldError) as caught:
        with lock_module.acquire(path):
            pass  # pragma: no cover
    message = str(caught.value)
    assert "build-07" in message and "cannot see the processes of host build-07" in message
    assert f"rm '{path}'" in message or f'del "{path}"' in message
    assert path.exists()


def _contend(path: str, holders: str, violations: str, seed: int, start: float) -> None:
    """One contender: wait for the start, take the lock with injected scheduling delays
    between reading, judging and claiming, and record any moment two held it."""
    rng = random.Random(seed)
    real_publish, real_stale = lock_module._publish, lock_module._stale

    def slow_publish(lock: Path, body: str) -> bool:
        time.sleep(rng.random() * 0.01)
        return real_publish(lock, body)

    def slow_stale(holder: dict) -> bool:  # type: ignore[type-arg]
        time.sleep(rng.random() * 0.01)
        return real_stale(holder)

    real_replace = os.replace

    def slow_replace(source: str, target: str) -> None:  # a rename, then a pause before what follows
        real_replace(source, target)
        time.sleep(rng.random() * 0.02)

    lock_module._publish = slow_publish  # type: ignore[assignment]
    lock_module._stale = slow_stale  # type: ignore[assignment]
    os.replace = slow_replace  # type: ignore[assignment]  # this forked process only
    while time.time() < start:
        time.sleep(0.001)
    try:
        with lock_module.acquire(path):
            mine = Path(holders) / str(os.getpid())
            mine.write_text("x")
            if len(os.listdir(holders)) != 1:
                Path(violations, str(os.getpid())).write_text("two holders")
            time.sleep(0.02)
            mine.unlink()
    except LockHeldError:
        pass
    os._exit(0)


@linux
def test_taking_over_a_stale_lock_is_atomic(tmp_path: Path) -> None:
    holders, violations = tmp_path / "holders", tmp_path / "violations"
    holders.mkdir()
    violations.mkdir()
    context = multiprocessing.get_context("fork")
    for round_number in range(10):
        path = tmp_path / f"apply-{round_number}.lock"
        path.write_text(json.dumps({"pid": _dead_pid(), "host": lock_module._hostname(), "started": "x",
                                    "token": "dead"}), encoding="utf-8")
        start = time.time() + 0.3
        processes = [context.Process(target=_contend, args=(str(path), str(holders), str(violations),
                                                            round_number * 100 + n, start))
                     for n in range(6)]
        for process in processes:
            process.start()
        for process in processes:
            process.join(60)
        assert all(p.exitcode == 0 for p in processes)
        assert list(violations.iterdir()) == [], f"round {round_number}: two applies held the lock"
        leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(f".{path.name}")]
        assert leftovers == [], leftovers


@linux
def test_temporary_lock_files_of_killed_takers_are_swept(tmp_path: Path) -> None:
    path = tmp_path / "apply.lock"
    left = tmp_path / f".apply.lock.{_dead_pid()}.{'ab' * 16}.tmp"
    left.write_text("{}")
    with lock_module.acquire(path):
        pass
    assert not left.exists()


# --- worker processes -------------------------------------------------------------------------------

def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", "rb") as handle:
                    fields = handle.read().rsplit(b")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry))
    return found


@linux
def test_workers_die_with_a_killed_plan_and_let_go_of_its_output(tmp_path: Path) -> None:
    tasks = tmp_path / "tasks.d"
    tasks.mkdir()
    for number in range(600):
        (tasks / f"t{number:04}.yaml").write_text(
            "apiVersion: reconcile/v1\nkind: ScheduledTask\n"
            f"metadata: {{name: t{number:04}, description: '{'x' * 2000}'}}\n"
            f"spec:\n  schedule: '{number % 60} 3 * * *'\n  actions: [{{command: a.exe}}]\n"
            "  runAs: {user: SYSTEM}\n", encoding="utf-8")
    env = {**os.environ, "RECONCILE_WORKERS": "3"}
    for attempt in range(5):
        plan = subprocess.Popen([sys.executable, str(REPO / "reconcile.py"), "plan"], cwd=tmp_path, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        workers: list[int] = []
        deadline = time.monotonic() + 30
        while not workers and plan.poll() is None and time.monotonic() < deadline:
            workers = _children(plan.pid)
            time.sleep(0.005)
        if workers and plan.poll() is None:
            break
        plan.communicate()
    else:
        pytest.skip("the plan finished before its workers could be seen")
    plan.send_signal(signal.SIGKILL)
    # The pipes end once nobody holds them: the workers let go of them (and died).
    out, err = plan.communicate(timeout=30)
    assert plan.returncode == -signal.SIGKILL
    deadline = time.monotonic() + 30
    while any(os.path.exists(f"/proc/{w}") and _state(w) != "Z" for w in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [w for w in workers if os.path.exists(f"/proc/{w}") and _state(w) != "Z"], "a worker outlived plan"


def _state(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            return handle.read().rsplit(b")", 1)[1].split()[0].decode()
    except OSError:
        return "gone"


@linux
def test_a_worker_lets_go_of_the_standard_streams(tmp_path: Path) -> None:
    """In-process: what ``detach_from_parent`` does to a forked child."""
    from reconciler import parallel

    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.dup2(write_end, 1)
        os.dup2(write_end, 2)
        os.close(read_end)
        os.close(write_end)
        parallel.detach_from_parent(os.getppid())
        time.sleep(5)
        os._exit(0)
    os.close(write_end)
    try:
        with os.fdopen(read_end, "rb") as handle:
            assert handle.read() == b""  # EOF while the child still sleeps: it let go
        assert _state(pid) not in ("gone", "Z")
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
