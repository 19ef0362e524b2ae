"""The runner's Windows-only code, on Windows (the Windows CI workflow runs these; off
Windows they skip). tests/test_runner.py covers the same behaviour with POSIX process
groups, tests/test_runner_command_line.py the command line by Windows' splitting rules.

- a quoted Command with blanks starts through the real CreateProcess;
- the job object: ``kill_tree`` ends the whole tree, and a process the command left
  running on purpose survives the command's normal end;
- ``runner-install``'s folder permissions, read back as SDDL (locale-independent);
- ReportEvent: the "finished" event lands in the Application log, and (with the real
  Task Scheduler, ``RECONCILE_REAL_WINDOWS=1``) it starts a task whose wake trigger
  waits for it."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Iterator

import pytest

from reconciler.runner import EVENT_ID, EVENT_LOG, EVENT_SOURCE, events, proctree

pytestmark = [
    pytest.mark.windows,
    pytest.mark.skipif(sys.platform != "win32", reason="the runner's Windows-only code (job objects, "
                                                       "ACLs, ReportEvent) needs Windows"),
]

SYSTEM_ROOT = os.environ.get("SystemRoot", r"C:\Windows")
CMD = os.path.join(SYSTEM_ROOT, "System32", "cmd.exe")


def alive(pid: int) -> bool:
    """Whether a process runs, without signalling it (os.kill on Windows terminates)."""
    import ctypes

    synchronize, query = 0x00100000, 0x1000
    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)  # type: ignore[attr-defined]
    handle = kernel32.OpenProcess(synchronize | query, False, pid)
    if not handle:
        return False
    try:
        return bool(kernel32.WaitForSingleObject(handle, 0) == 0x102)  # WAIT_TIMEOUT: still running
    finally:
        kernel32.CloseHandle(handle)


def end(pid: int) -> None:
    subprocess.run(["taskkill.exe", "/F", "/PID", str(pid)], capture_output=True, check=False)


def wait_for(path: Path, seconds: float) -> str:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().strip():
            return path.read_text().strip()
        time.sleep(0.2)
    return ""


def is_admin() -> bool:
    import ctypes

    try:
        return bool(ctypes.windll.shell32.IsUserAnAdmin())  # type: ignore[attr-defined]
    except (AttributeError, OSError):
        return False


# --- the command line, through the real CreateProcess ----------------------------------------

@pytest.mark.parametrize("quoted", [True, False], ids=["quoted", "unquoted"])
def test_a_command_with_blanks_starts(tmp_path: Path, quoted: bool) -> None:
    tool = tmp_path / "Program Files" / "My Tool" / "tool.exe"
    tool.parent.mkdir(parents=True)
    shutil.copyfile(CMD, tool)  # a program whose path has blanks
    command = f'"{tool}"' if quoted else str(tool)
    started = proctree.start(command, "/d /c exit 7", str(tmp_path), subprocess.DEVNULL)
    assert started.wait(timeout=60) == 7


# --- the job object -------------------------------------------------------------------------

TREE = """
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"],
                         creationflags=subprocess.CREATE_NEW_PROCESS_GROUP)
open(sys.argv[1], "w").write(str(child.pid))
if sys.argv[2] == "wait":
    time.sleep(120)
"""


def test_kill_tree_ends_the_command_and_its_children(tmp_path: Path) -> None:
    script, pid_file = tmp_path / "tree.py", tmp_path / "child.pid"
    script.write_text(TREE)
    started = proctree.start(sys.executable, f'"{script}" "{pid_file}" wait', str(tmp_path), subprocess.DEVNULL)
    child = int(wait_for(pid_file, 60) or 0)
    assert child and alive(child) and alive(started.pid)
    started.kill_tree()
    deadline = time.monotonic() + 30
    while (alive(child) or alive(started.pid)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not alive(started.pid) and not alive(child)


def test_a_process_left_running_on_purpose_survives_the_commands_end(tmp_path: Path) -> None:
    script, pid_file = tmp_path / "tree.py", tmp_path / "child.pid"
    script.write_text(TREE)
    started = proctree.start(sys.executable, f'"{script}" "{pid_file}" exit', str(tmp_path), subprocess.DEVNULL)
    assert started.wait(timeout=60) == 0
    child = int(wait_for(pid_file, 60) or 0)
    try:
        time.sleep(1)
        assert alive(child)  # JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE was cleared when the command ended
    finally:
        end(child)


# --- runner-install's folder permissions ------------------------------------------------------

def sddl(path: Path) -> str:
    script = "(Get-Acl -LiteralPath $env:TARGET).Sddl"
    done = subprocess.run(["powershell.exe", "-NoProfile", "-NonInteractive", "-Command", script],
                          capture_output=True, text=True, env={**os.environ, "TARGET": str(path)}, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.mark.skipif(sys.platform == "win32" and not is_admin(), reason="runner-install sets owners: needs elevation")
def test_runner_home_permissions(tmp_path: Path) -> None:
    from reconciler import runner_install

    home = tmp_path / "home"
    for name in runner_install.FOLDERS:
        (home / name).mkdir(parents=True)
    runner_install.restrict(home)
    top, logs, state = sddl(home), sddl(home / "logs"), sddl(home / "state")
    assert "D:P" in top  # inheritance removed
    for ace in ("(A;OICI;FA;;;BA)", "(A;OICI;FA;;;SY)", "(A;OICI;0x1200a9;;;AU)"):
        assert ace in top, top
    assert "O:BA" in top  # owned by Administrators
    assert ";;;AU)" not in logs and "(A;OICI;FA;;;BA)" in logs, logs  # logs: admins and SYSTEM only
    assert ";;;AU)" in state, state  # dependencies' state: readable by every task


# --- ReportEvent and the wake-up ---------------------------------------------------------------

def _events_with(marker: str) -> str:
    query = f"*[System[Provider[@Name='{EVENT_SOURCE}'] and EventID={EVENT_ID}]]"
    done = subprocess.run(["wevtutil.exe", "qe", EVENT_LOG, f"/q:{query}", "/c:20", "/rd:true", "/f:xml"],
                          capture_output=True, text=True, encoding="utf-8", errors="replace", timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout if marker in done.stdout else ""


def test_report_event_writes_the_finished_event(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(events.HOOK_VARIABLE, raising=False)
    marker = f"\\reconcile-ci-{uuid.uuid4().hex[:8]}\\task"
    assert events.write_finished(marker, "succeeded", 0, "run-1") is None
    deadline = time.monotonic() + 30
    while not _events_with(marker) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert f"<Data>{marker}</Data>" in _events_with(marker)


@pytest.fixture
def scratch_folder() -> Iterator[str]:
    if os.environ.get("RECONCILE_REAL_WINDOWS") != "1" or not is_admin():
        pytest.skip("registers a task with the real Task Scheduler: needs RECONCILE_REAL_WINDOWS=1 and elevation")
    run = os.environ.get("GITHUB_RUN_ID", str(os.getpid()))
    folder = f"\\reconcile-ci-{run}-wake-{uuid.uuid4().hex[:6]}\\"
    yield folder
    subprocess.run(["schtasks.exe", "/Delete", "/TN", folder + "woken", "/F"], capture_output=True, check=False)
    script = ("$s = New-Object -ComObject Schedule.Service; $s.Connect(); "
              "$s.GetFolder('\\').DeleteFolder($env:FOLDER, 0)")
    subprocess.run(["powershell.exe", "-NoProfile", "-NonInteractive", "-Command", script], capture_output=True,
                   env={**os.environ, "FOLDER": folder.strip("\\")}, check=False, timeout=120)


def test_the_finished_event_wakes_the_task_that_runs_after(tmp_path: Path, scratch_folder: str,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from reconciler import render, workflow
    from reconciler.backends.schtasks import SchtasksBackend
    from reconciler.model import ExecAction, Principal, TaskSpec

    monkeypatch.delenv(events.HOOK_VARIABLE, raising=False)
    dependency = scratch_folder + "first"
    woke = tmp_path / "woke.txt"
    spec = TaskSpec(path=scratch_folder + "woken", name="woken", folder=(scratch_folder.strip("\\"),),
                    description=None, triggers=workflow.wake_triggers([dependency]),
                    actions=(ExecAction(command=CMD, arguments=f'/d /c echo woke> "{woke}"'),),
                    principal=Principal(user_id="SYSTEM"))
    backend = SchtasksBackend(scratch_folder, executable="schtasks.exe")
    backend.register(spec.path, render.render(spec, scratch_folder, backend.resolve_account).xml)
    time.sleep(2)  # the subscription is set up when the task is registered
    assert events.write_finished(dependency, "succeeded", 0, "run-1") is None
    assert wait_for(woke, 120) == "woke"
