"""The local store is a folder anyone may have tampered with (issue #18, part 3).

Each test builds one shape the red-team run used: a linked folder or file in the store,
a FIFO, a link to /dev/zero, a folder that cannot be listed, a file where a folder
should be, temporary files left by killed runs; and checks that the store is read and
written without following links out of it, that only regular files of bounded size are
read, that a folder that cannot be read stops the run before any write, and that every
write failure is that task's outcome."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from conftest import run_cli, store_snapshot
from reconciler.backends import local
from reconciler.backends.local import LocalBackend
from reconciler.errors import BackendError, PartialReadError

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX links, FIFOs and modes")

STORE = Path(".reconcile") / "store"
ROOT = "\\Orchestrator\\"
TASK_NS = "http://schemas.microsoft.com/windows/2004/02/mit/task"
TASK = (f'<Task version="1.2" xmlns="{TASK_NS}"><Principals><Principal id="Author"><UserId>S-1-5-18</UserId>'
        '</Principal></Principals><Actions Context="Author"><Exec><Command>a.exe</Command></Exec></Actions></Task>')


@pytest.fixture
def store(tmp_path: Path) -> Path:
    folder = tmp_path / "store"
    (folder / "Orchestrator").mkdir(parents=True)
    return folder


def _as_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


# --- links --------------------------------------------------------------------------------------

def test_a_linked_folder_in_the_store_is_never_written_through(store: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (store / "Orchestrator" / "Finance").symlink_to(outside, target_is_directory=True)
    backend = LocalBackend(store, ROOT)
    with pytest.raises(BackendError, match="link"):
        backend.register("\\Orchestrator\\Finance\\excel", TASK)
    with pytest.raises(BackendError, match="link"):
        backend.delete("\\Orchestrator\\Finance\\excel")
    assert list(outside.iterdir()) == []
    with pytest.raises(PartialReadError, match="link"):
        backend.read_state(ROOT)


def test_a_linked_task_file_is_not_read_nor_written_through(store: Path, tmp_path: Path) -> None:
    secret = tmp_path / "secret.xml"
    secret.write_bytes(TASK.encode("utf-16"))
    link = store / "Orchestrator" / "x"
    link.symlink_to(secret)
    backend = LocalBackend(store, ROOT)
    with pytest.raises(PartialReadError, match="link"):
        backend.read_state(ROOT)
    with pytest.raises(BackendError, match="link"):
        backend.register("\\Orchestrator\\x", TASK.replace("a.exe", "b.exe"))
    assert "a.exe" in secret.read_bytes().decode("utf-16")


def test_a_link_to_dev_zero_is_refused_at_once(store: Path) -> None:
    (store / "Orchestrator" / "zero").symlink_to("/dev/zero")
    with pytest.raises(PartialReadError, match="zero: cannot read this task.*link"):
        LocalBackend(store, ROOT).read_state(ROOT)


def test_a_root_folder_that_is_a_link_is_refused(tmp_path: Path) -> None:
    store = tmp_path / "store"
    store.mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (store / "Orchestrator").symlink_to(elsewhere, target_is_directory=True)
    backend = LocalBackend(store, ROOT)
    with pytest.raises(PartialReadError, match="link"):
        backend.read_state(ROOT)
    with pytest.raises(BackendError):
        backend.register("\\Orchestrator\\x", TASK)
    assert list(elsewhere.iterdir()) == []


# --- files that are not task files ----------------------------------------------------------------

def test_a_fifo_never_blocks_the_read(store: Path) -> None:
    os.mkfifo(store / "Orchestrator" / "pipe")  # nobody ever writes to it
    with pytest.raises(PartialReadError, match="pipe: cannot read this task.*FIFO"):
        LocalBackend(store, ROOT).read_state(ROOT)


def test_a_huge_file_is_not_read_into_memory(store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(local, "MAX_TASK_BYTES", 1024)
    (store / "Orchestrator" / "big").write_bytes(b"<" * 4096)
    with pytest.raises(PartialReadError, match="big: cannot read this task.*larger than"):
        LocalBackend(store, ROOT).read_state(ROOT)


@pytest.mark.skipif(_as_root(), reason="root reads every folder")
def test_a_folder_that_cannot_be_listed_stops_the_run_before_any_write(workspace: Path) -> None:
    assert run_cli("apply", "-q", cwd=workspace).code == 0
    hidden = workspace / STORE / "Orchestrator" / "Finance"
    hidden.mkdir()
    (hidden / "hand-made").write_bytes(TASK.encode("utf-16"))
    manifest = workspace / "tasks.d" / "nightly-restart.yaml"
    manifest.write_text(manifest.read_text(encoding="utf-8").replace("timeout: 5m", "timeout: 6m"), encoding="utf-8")
    hidden.chmod(0)
    try:
        before = store_snapshot(workspace / STORE / "Orchestrator" / "nightly-restart")
        for command in ("plan", "apply"):
            result = run_cli(command, cwd=workspace)
            assert result.code == 1, result.out + result.err
            assert "\\Orchestrator\\Finance\\" in result.err and "cannot list" in result.err, result.err
        assert store_snapshot(workspace / STORE / "Orchestrator" / "nightly-restart") == before
    finally:
        hidden.chmod(0o755)


def test_a_folder_that_cannot_be_listed_is_an_error_not_a_gap(store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same, in-process (where the tests run as root, a mode of 0 hides nothing)."""
    (store / "Orchestrator" / "Finance").mkdir()
    (store / "Orchestrator" / "Finance" / "hand-made").write_bytes(TASK.encode("utf-16"))
    real = os.scandir

    def denied(path: object) -> object:
        if str(path).endswith("Finance"):
            raise PermissionError(13, "Permission denied")
        return real(path)  # type: ignore[arg-type]

    monkeypatch.setattr(local.os, "scandir", denied)
    with pytest.raises(PartialReadError, match=r"\\Orchestrator\\Finance\\: cannot list this folder"):
        LocalBackend(store, ROOT).read_state(ROOT)


# --- writes ---------------------------------------------------------------------------------------

def test_a_file_where_a_folder_should_be_is_that_tasks_failure(workspace: Path) -> None:
    assert run_cli("apply", "-q", cwd=workspace).code == 0
    # A task named Finance (made by hand) where the manifests want a folder Finance.
    (workspace / STORE / "Orchestrator" / "Finance").write_bytes(TASK.encode("utf-16"))
    (workspace / "tasks.d" / "finance.yaml").write_text(
        "apiVersion: reconcile/v1\nkind: ScheduledTask\nmetadata: {name: report, folder: Finance}\n"
        "spec:\n  actions: [{command: a.exe}]\n  runAs: {user: SYSTEM}\n", encoding="utf-8")
    (workspace / "tasks.d" / "zz-later.yaml").write_text(
        "apiVersion: reconcile/v1\nkind: ScheduledTask\nmetadata: {name: zz-later}\n"
        "spec:\n  actions: [{command: b.exe}]\n  runAs: {user: SYSTEM}\n", encoding="utf-8")
    result = run_cli("apply", cwd=workspace)
    assert result.code == 1, result.out + result.err
    assert "internal error" not in result.err and "Traceback" not in result.err, result.err
    assert "\\Orchestrator\\Finance\\report" in result.err and "where a folder should be" in result.err
    assert not (workspace / STORE / "Orchestrator" / "zz-later").exists(), "no write after a failure"
    assert "zz-later" in result.out  # ... and its outcome is reported


def test_every_os_failure_of_a_write_is_a_backend_error(store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    backend = LocalBackend(store, ROOT)

    def full(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(local.os, "mkdir", full)
    with pytest.raises(BackendError, match="No space left"):
        backend.register("\\Orchestrator\\New\\x", TASK)


# --- temporary files ---------------------------------------------------------------------------

def test_a_failed_write_leaves_no_temporary_file(store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    backend = LocalBackend(store, ROOT)

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt  # SIGTERM arrives as this (the CLI's handler)

    monkeypatch.setattr(local.os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        backend.register("\\Orchestrator\\x", TASK)
    assert list((store / local.TEMP_DIR).iterdir()) == []


def test_temporary_files_of_killed_runs_are_swept_under_the_lock(store: Path) -> None:
    temp = store / local.TEMP_DIR
    temp.mkdir()
    for name in ("task-abc123", "task-def456"):
        (temp / name).write_bytes(b"half a task")
    with LocalBackend(store, ROOT).lock():
        assert list(temp.iterdir()) == []


def test_private_files_of_killed_runs_are_removed(tmp_path: Path) -> None:
    import subprocess

    from reconciler.backends import processes

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True)
    left = tmp_path / f"reconcile-{int(dead.stdout)}-abcd"
    left.mkdir()
    (left / "task.xml").write_bytes(b"<Task/>")
    mine = tmp_path / f"reconcile-{os.getpid()}-efgh"
    mine.mkdir()
    processes.sweep_leftovers(str(tmp_path))
    assert not left.exists() and mine.exists()


def test_sigterm_releases_the_lock_and_leaves_no_temporary_file(workspace: Path, tmp_path: Path) -> None:
    """A run ended by SIGTERM (a cancelled CI job) cleans up on its way out."""
    import signal
    import subprocess
    import time

    from safety_support import DRIVER

    release = tmp_path / "release"
    env = {**{k: v for k, v in os.environ.items() if k not in ("GITHUB_ACTIONS", "NO_COLOR")},
           "SAFETY_BLOCK_UNTIL": str(release)}
    process = subprocess.Popen([sys.executable, str(DRIVER), "apply"], cwd=workspace, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lock = workspace / STORE / local.LOCK_FILE
    deadline = time.monotonic() + 30
    while not lock.exists() and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.02)
    assert lock.exists()
    process.send_signal(signal.SIGTERM)
    time.sleep(0.2)
    release.write_text("go")  # the write under way finishes; no further write starts
    out, err = process.communicate(timeout=30)
    assert process.returncode == 1 and "interrupted" in err, err
    assert not lock.exists()
    written = workspace / STORE / "Orchestrator"
    assert len(list(written.iterdir()) if written.exists() else []) <= 1
    leftovers = [p for p in (workspace / STORE).rglob("*") if p.is_file() and p.name.startswith(("task-", ".plan-"))]
    assert leftovers == []
