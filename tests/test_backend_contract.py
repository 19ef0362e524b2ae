"""One contract, every backend: what the rest of reconcile.py may rely on, checked the
same way against the embedded ``local`` store, ``schtasks`` driving the emulator (in
the console code page Windows 10 writes to a pipe, and in UTF-8 as Windows 11 24H2
does), ``com`` on the stand-in pywin32 of tests/standin, and every further backend added
to ``MACHINES``. On the Windows workflow (``RECONCILE_REAL_WINDOWS=1``) the same cases
also run against the real Task Scheduler, through com (pywin32) and schtasks.exe, in a
throw-away root folder.

Each case speaks only through the ``Backend`` protocol (``reconciler/backends/base.py``)
plus a ``Machine`` that knows how to set the backend up, its root, and where a task
outside the root already exists."""
from __future__ import annotations

import itertools
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from com_support import use_standin
from reconciler import normalize, render
from reconciler.accounts import well_known
from reconciler.backends import open_backend
from reconciler.backends.base import Backend, LiveTask, State
from reconciler.backends.schtasks_lossy import explained, unshown
from reconciler.errors import BackendError, LockHeldError, PartialReadError
from reconciler.model import CalendarTrigger, ByDay, ExecAction, Principal, TaskSpec
from reconciler.taskxml import parse

TESTS = Path(__file__).resolve().parent
EMULATOR = TESTS / "emulator" / "schtasks_emulator.py"
ROOT = "\\Orchestrator\\"
REAL = sys.platform == "win32" and os.environ.get("RECONCILE_REAL_WINDOWS") == "1"
_REAL_ROOTS = itertools.count(1)
# Outside the console code page cp437: CJK, a snowman, an en dash, the euro, curly quotes.
OUTSIDE_CP437_NAME = "Sauvegarde \u00e9t\u00e9 \u65e5\u672c"
OUTSIDE_CP437_TEXT = "caf\u00e9 \u2603 \u2013 \u20ac \u201cquoted\u201d"


@dataclass
class Machine:
    backend: Backend
    outside: str  # a task that exists outside the root
    reopen: Callable[[], Backend]  # a second backend on the same machine (another process)
    root: str = ROOT
    cleanup: Callable[[], None] = field(default=lambda: None)


def _local(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Machine:
    store = tmp_path / "store"
    outside = store / "Other" / "outside"
    outside.parent.mkdir(parents=True)
    spec = _spec("outside", root="\\Other\\")
    outside.write_bytes(render.to_utf16_file(render.render(spec, "\\Other\\").xml))

    def make() -> Backend:
        return open_backend("local", root=ROOT, store=str(store))
    return Machine(make(), "\\Other\\outside", make)


def _emulated_machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCHTASKS_EMULATOR_STATE", str(tmp_path / "machine"))
    monkeypatch.setenv("SCHTASKS_EMULATOR_SEED", "1")  # Windows' own tasks, outside the root
    monkeypatch.setenv("RECONCILE_LOCK_DIR", str(tmp_path / "lock"))
    for name in ("SCHTASKS_EMULATOR_FAULT", "SCHTASKS_EMULATOR_OUTPUT_ENCODING", "SCHTASKS_EMULATOR_DELAY_MS",
                 "COM_STANDIN_FAULT", "COM_STANDIN_DELAY_MS"):
        monkeypatch.delenv(name, raising=False)


def _schtasks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, encoding: str | None = None) -> Machine:
    _emulated_machine(tmp_path, monkeypatch)
    monkeypatch.setenv("RECONCILE_SCHTASKS", str(EMULATOR))
    if encoding is not None:
        monkeypatch.setenv("SCHTASKS_EMULATOR_OUTPUT_ENCODING", encoding)

    def make() -> Backend:
        return open_backend("schtasks", root=ROOT, store="")
    return Machine(make(), "\\OneDrive Reporting Task", make)


def _com(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Machine:
    use_standin(monkeypatch)
    _emulated_machine(tmp_path, monkeypatch)

    def make() -> Backend:
        return open_backend("com", root=ROOT, store="")
    return Machine(make(), "\\OneDrive Reporting Task", make)


def _real(name: str) -> Callable[[Path, pytest.MonkeyPatch], Machine]:
    """The real Task Scheduler (Windows CI): a fresh root folder, removed afterwards."""

    def make_machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Machine:  # pragma: no cover - Windows
        monkeypatch.setenv("RECONCILE_LOCK_DIR", str(tmp_path / "lock"))
        for variable in ("RECONCILE_SCHTASKS", "SCHTASKS_EMULATOR_STATE"):
            monkeypatch.delenv(variable, raising=False)
        run = os.environ.get("GITHUB_RUN_ID", str(os.getpid()))
        root = f"\\reconcile-ci-{run}-{os.environ.get('GITHUB_RUN_ATTEMPT', '1')}-c{next(_REAL_ROOTS)}\\"

        def make() -> Backend:
            return open_backend(name, root=root, store="")
        outside = next(iter(open_backend("com", root="\\Microsoft\\", store="").read_state("\\Microsoft\\")
                            .tasks.values())).path
        return Machine(make(), outside, make, root, lambda: _remove_real_root(root))
    return make_machine


def _remove_real_root(root: str) -> None:  # pragma: no cover - Windows only
    """Every task and folder of ``root``, through the COM API (schtasks cannot delete a
    folder)."""
    import win32com.client

    service = win32com.client.Dispatch("Schedule.Service")
    service.Connect()

    def remove(folder: Any) -> None:
        for sub in list(folder.GetFolders(0)):
            remove(sub)
        for task in list(folder.GetTasks(1)):
            folder.DeleteTask(task.Name, 0)
        service.GetFolder("\\").DeleteFolder(folder.Path, 0)
    try:
        remove(service.GetFolder(root.rstrip("\\")))
    except Exception:  # noqa: BLE001 - nothing left to remove
        pass


_ON_REAL_WINDOWS = [pytest.mark.windows, pytest.mark.skipif(
    not REAL, reason="needs real Windows and RECONCILE_REAL_WINDOWS=1 (the Windows CI workflow)")]

MACHINES: dict[str, Callable[[Path, pytest.MonkeyPatch], Machine]] = {
    "local": _local,
    "schtasks": _schtasks,
    "schtasks-utf8": lambda tmp_path, monkeypatch: _schtasks(tmp_path, monkeypatch, "utf-8"),
    "com": _com,
    "com-real": _real("com"),
    "schtasks-real": _real("schtasks"),
}
_PARAMS = [pytest.param(name, marks=_ON_REAL_WINDOWS if name.endswith("-real") else ()) for name in MACHINES]


@pytest.fixture(params=_PARAMS)
def machine(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Machine]:
    made = MACHINES[request.param](tmp_path, monkeypatch)
    try:
        yield made
    finally:
        made.cleanup()


def _spec(name: str, root: str = ROOT, description: str = "nightly job", folder: tuple[str, ...] = ()) -> TaskSpec:
    return TaskSpec(
        path=root + "".join(f + "\\" for f in folder) + name, name=name, folder=folder,
        description=description,
        triggers=(CalendarTrigger(start="2000-01-03T02:00:00", schedule=ByDay(interval=1)),),
        actions=(ExecAction(command="C:\\jobs\\run.exe", arguments="--nightly"),),
        principal=Principal(user_id="SYSTEM"),
    )


def _register(machine: Machine, spec: TaskSpec) -> render.Rendered:
    rendered = render.render(spec, machine.root, machine.backend.resolve_account)
    machine.backend.register(spec.path, rendered.xml)
    return rendered


def _canonical(xml: str) -> dict:
    return normalize.canonical(parse(xml), well_known)


def _reads_back(state: State, live: LiveTask, rendered: render.Rendered) -> None:
    """``live`` is ``rendered``: exactly, or, where the read came through a console
    code page, but for the characters that page cannot show."""
    if state.codepage is None:
        assert _canonical(live.xml) == rendered.canonical
        return
    lost = unshown(rendered.xml, state.codepage)
    flat = [json.dumps(c, sort_keys=True, ensure_ascii=False) for c in (_canonical(live.xml), rendered.canonical)]
    assert explained(flat[0], flat[1], lost), (lost, flat)


def test_a_missing_root_is_an_empty_state(machine: Machine) -> None:
    before = machine.backend.calls
    state = machine.backend.read_state(machine.root)
    assert state.tasks == {}
    assert machine.backend.calls - before == 1


def test_a_whole_root_is_read_in_one_call(machine: Machine) -> None:
    for name, folder in (("one", ()), ("two", ("Finance",)), ("three", ("Finance", "Daily"))):
        _register(machine, _spec(name, root=machine.root, folder=folder))
    before = machine.backend.calls
    state = machine.backend.read_state(machine.root)
    assert len(state.tasks) == 3
    assert machine.backend.calls - before == 1


def test_a_registered_task_reads_back_as_rendered(machine: Machine) -> None:
    spec = _spec("nightly", root=machine.root, folder=("Finance",))
    rendered = _register(machine, spec)
    state = machine.backend.read_state(machine.root)
    (live,) = state.tasks.values()
    assert live.path == spec.path
    assert _canonical(live.xml) == rendered.canonical


def test_register_replaces_and_delete_removes(machine: Machine) -> None:
    spec = _spec("nightly", root=machine.root)
    _register(machine, spec)
    changed = _register(machine, _spec("nightly", root=machine.root, description="changed"))
    (live,) = machine.backend.read_state(machine.root).tasks.values()
    assert _canonical(live.xml) == changed.canonical
    machine.backend.delete(spec.path)
    assert machine.backend.read_state(machine.root).tasks == {}
    with pytest.raises(BackendError, match="nightly"):
        machine.backend.delete(spec.path)


def test_non_ascii_names_and_text_round_trip(machine: Machine) -> None:
    """A name the console code page can hold; text it cannot: read back exactly, or
    (schtasks writing a code page) with the read saying which page lost what."""
    spec = _spec("Sauvegarde \u00e9t\u00e9 \u00e0 22h", root=machine.root, description=OUTSIDE_CP437_TEXT)
    rendered = _register(machine, spec)
    state = machine.backend.read_state(machine.root)
    (live,) = state.tasks.values()
    assert live.path == spec.path
    _reads_back(state, live, rendered)


def test_a_name_outside_the_console_code_page_round_trips_or_is_refused_in_one_line(machine: Machine) -> None:
    spec = _spec(OUTSIDE_CP437_NAME, root=machine.root, description=OUTSIDE_CP437_TEXT)
    rendered = _register(machine, spec)
    try:
        state = machine.backend.read_state(machine.root)
    except PartialReadError as err:
        # Read through a code page: the name came back with "?" and cannot be trusted.
        assert "code page" in str(err) and "\n" not in str(err), err
        assert "nothing was changed" in str(err)
        return
    (live,) = state.tasks.values()
    assert live.path == spec.path
    assert _canonical(live.xml) == rendered.canonical


@pytest.mark.parametrize("name, folder", [("backup--daily", ()), ("a--b", ("x--y",)), ("--", ("-- --",))])
def test_names_with_double_hyphens_round_trip(machine: Machine, name: str, folder: tuple[str, ...]) -> None:
    """``--`` cannot be in an XML comment, and schtasks' /XML ONE announces each task with
    one: the read must not depend on that comment."""
    spec = _spec(name, root=machine.root, folder=folder)
    rendered = _register(machine, spec)
    other = _register(machine, _spec("plain", root=machine.root))
    state = machine.backend.read_state(machine.root)
    assert sorted(t.path for t in state.tasks.values()) == sorted([spec.path, other.path])
    _reads_back(state, state.tasks[spec.path.casefold()], rendered)


def test_only_the_root_is_read_and_a_task_outside_it_can_be_read_alone(machine: Machine) -> None:
    _register(machine, _spec("inside", root=machine.root))
    state = machine.backend.read_state(machine.root)
    assert [t.path for t in state.tasks.values()] == [machine.root + "inside"]
    outside = machine.backend.read_task(machine.outside)
    assert outside.path.casefold() == machine.outside.casefold()
    assert parse(outside.xml) is not None
    inside = machine.backend.read_task(machine.root + "inside")
    assert _canonical(inside.xml) == _canonical(state.tasks[(machine.root + "inside").casefold()].xml)
    with pytest.raises(BackendError, match="nothing-here"):
        machine.backend.read_task(machine.root + "nothing-here")


def _outside(root: str) -> list[str]:
    return ["\\Other\\evil", root.rstrip("\\") + "-old\\x", root + "..\\x"]


@pytest.mark.parametrize("which", range(3), ids=["other-folder", "same-prefix", "dot-dot"])
def test_writes_outside_the_root_are_refused(machine: Machine, which: int) -> None:
    path = _outside(machine.root)[which]
    xml = render.render(_spec("evil", root=machine.root), machine.root).xml
    with pytest.raises(BackendError):
        machine.backend.register(path, xml)
    with pytest.raises(BackendError):
        machine.backend.delete(path)
    assert machine.backend.read_state(machine.root).tasks == {}


def test_run_starts_the_task_or_says_it_cannot(machine: Machine) -> None:
    spec = _spec("nightly", root=machine.root)
    _register(machine, spec)
    data = machine.backend.run_info(machine.root)
    if not machine.backend.capabilities.run_history:
        assert data.tasks is None
    if not machine.backend.capabilities.can_run:
        with pytest.raises(BackendError, match="nightly"):
            machine.backend.run(spec.path)
        return
    machine.backend.run(spec.path)
    for _ in range(60):  # the real service records the run a moment later
        after = machine.backend.run_info(machine.root)
        assert after.tasks is not None and after.warnings == ()
        if after.tasks[spec.path.casefold()].last_run is not None:
            break
        time.sleep(0.5)
    assert after.tasks[spec.path.casefold()].last_run is not None


def test_stop_ends_a_running_instance_and_is_no_error_on_a_task_that_is_not_running(
        machine: Machine, monkeypatch: pytest.MonkeyPatch) -> None:
    # The emulated machine: a run whose result is SCHED_S_TASK_RUNNING lasts until it is
    # ended (set before the first call: the stand-in reads its environment once).
    monkeypatch.setenv("SCHTASKS_EMULATOR_RUN_RESULT", "0x41301")
    spec = _spec("nightly", root=machine.root)
    _register(machine, spec)
    if not machine.backend.capabilities.run_history:  # nothing known to run, nothing to stop
        with pytest.raises(BackendError, match="nightly"):
            machine.backend.stop(spec.path)
        return
    machine.backend.stop(spec.path)  # not running: schtasks /End exits 0 (README "apply --stop-running")
    with pytest.raises(BackendError, match="gone"):
        machine.backend.stop(machine.root + "gone")
    with pytest.raises(BackendError):
        machine.backend.stop(_outside(machine.root)[0])
    if REAL:  # pragma: no cover - a real instance that stays running is not made here
        return
    machine.backend.run(spec.path)
    running = machine.backend.run_info(machine.root).tasks
    assert running is not None and running[spec.path.casefold()].status == "Running"
    machine.backend.stop(spec.path)
    ended = machine.backend.run_info(machine.root).tasks
    assert ended is not None and ended[spec.path.casefold()].status == "Ready"
    assert ended[spec.path.casefold()].last_result == 0x41306  # SCHED_S_TASK_TERMINATED


def test_one_apply_at_a_time(machine: Machine) -> None:
    other = machine.reopen()
    with machine.backend.lock():
        with pytest.raises(LockHeldError):
            with other.lock():
                pass
    with other.lock():
        pass


def test_accounts_resolve_to_sids_and_preflight_without_passwords_passes(machine: Machine) -> None:
    assert machine.backend.resolve_account("SYSTEM") == "S-1-5-18"
    assert machine.backend.resolve_account("NT AUTHORITY\\NETWORK SERVICE") == "S-1-5-20"
    machine.backend.preflight([])


def test_capabilities_are_declared(machine: Machine) -> None:
    caps = machine.backend.capabilities
    assert isinstance(caps.parallel_writes, bool) and isinstance(caps.can_run, bool)
    assert caps.run_history or not caps.can_run  # a task that can run has a last run to show


def test_remove_folder_takes_only_an_empty_folder(machine: Machine) -> None:
    spec = _spec("nightly", root=machine.root, folder=("Finance", "Daily"))
    _register(machine, spec)
    folder = machine.root + "Finance"
    if not machine.backend.capabilities.removes_folders:
        with pytest.raises(BackendError, match="cannot remove a folder"):
            machine.backend.remove_folder(folder)
        return
    with pytest.raises(BackendError, match="still holds tasks"):
        machine.backend.remove_folder(folder)
    assert [t.path for t in machine.backend.read_state(machine.root).tasks.values()] == [spec.path]
    machine.backend.delete(spec.path)
    machine.backend.remove_folder(machine.root)  # the root and every empty folder in it
    machine.backend.remove_folder(machine.root)  # already gone: nothing to do
    assert machine.backend.read_state(machine.root).tasks == {}
    _register(machine, spec)  # the folders are made again as needed
    assert [t.path for t in machine.backend.read_state(machine.root).tasks.values()] == [spec.path]
    with pytest.raises(BackendError):
        machine.backend.remove_folder("\\Other\\")
