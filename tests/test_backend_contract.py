"""One contract, every backend: what the rest of reconcile.py may rely on, checked the
same way against the embedded ``local`` store and ``schtasks`` driving the emulator (and
every further backend added to ``MACHINES``).

Each case speaks only through the ``Backend`` protocol (``reconciler/backends/base.py``)
plus a ``Machine`` that knows how to set the backend up and where a task outside the
root already exists."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest

from reconciler import normalize, render
from reconciler.accounts import well_known
from reconciler.backends import open_backend
from reconciler.backends.base import Backend
from reconciler.errors import BackendError, LockHeldError
from reconciler.model import CalendarTrigger, ByDay, ExecAction, Principal, TaskSpec
from reconciler.taskxml import parse

EMULATOR = Path(__file__).resolve().parent / "emulator" / "schtasks_emulator.py"
ROOT = "\\Orchestrator\\"


@dataclass
class Machine:
    backend: Backend
    outside: str  # a task that exists outside the root
    reopen: Callable[[], Backend]  # a second backend on the same machine (another process)


def _local(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Machine:
    store = tmp_path / "store"
    outside = store / "Other" / "outside"
    outside.parent.mkdir(parents=True)
    spec = _spec("outside", root="\\Other\\")
    outside.write_bytes(render.to_utf16_file(render.render(spec, "\\Other\\").xml))

    def make() -> Backend:
        return open_backend("local", root=ROOT, store=str(store))
    return Machine(make(), "\\Other\\outside", make)


def _schtasks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Machine:
    monkeypatch.setenv("SCHTASKS_EMULATOR_STATE", str(tmp_path / "machine"))
    monkeypatch.setenv("SCHTASKS_EMULATOR_SEED", "1")  # Windows' own tasks, outside the root
    monkeypatch.setenv("RECONCILE_SCHTASKS", str(EMULATOR))
    monkeypatch.setenv("RECONCILE_LOCK_DIR", str(tmp_path / "lock"))
    for name in ("SCHTASKS_EMULATOR_FAULT", "SCHTASKS_EMULATOR_OUTPUT_ENCODING", "SCHTASKS_EMULATOR_DELAY_MS"):
        monkeypatch.delenv(name, raising=False)

    def make() -> Backend:
        return open_backend("schtasks", root=ROOT, store="")
    return Machine(make(), "\\OneDrive Reporting Task", make)


MACHINES: dict[str, Callable[[Path, pytest.MonkeyPatch], Machine]] = {
    "local": _local,
    "schtasks": _schtasks,
}


@pytest.fixture(params=sorted(MACHINES))
def machine(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Machine:
    return MACHINES[request.param](tmp_path, monkeypatch)


def _spec(name: str, root: str = ROOT, description: str = "nightly job", folder: tuple[str, ...] = ()) -> TaskSpec:
    return TaskSpec(
        path=root + "".join(f + "\\" for f in folder) + name, name=name, folder=folder,
        description=description,
        triggers=(CalendarTrigger(start="2000-01-03T02:00:00", schedule=ByDay(interval=1)),),
        actions=(ExecAction(command="C:\\jobs\\run.exe", arguments="--nightly"),),
        principal=Principal(user_id="SYSTEM"),
    )


def _register(backend: Backend, spec: TaskSpec) -> render.Rendered:
    rendered = render.render(spec, ROOT, backend.resolve_account)
    backend.register(spec.path, rendered.xml)
    return rendered


def _canonical(xml: str) -> dict:
    return normalize.canonical(parse(xml), well_known)


def test_a_missing_root_is_an_empty_state(machine: Machine) -> None:
    state = machine.backend.read_state(ROOT)
    assert state.tasks == {}
    assert state.calls == 1


def test_a_registered_task_reads_back_as_rendered(machine: Machine) -> None:
    spec = _spec("nightly", folder=("Finance",))
    rendered = _register(machine.backend, spec)
    state = machine.backend.read_state(ROOT)
    (live,) = state.tasks.values()
    assert live.path == spec.path
    assert _canonical(live.xml) == rendered.canonical


def test_register_replaces_and_delete_removes(machine: Machine) -> None:
    spec = _spec("nightly")
    _register(machine.backend, spec)
    changed = _register(machine.backend, _spec("nightly", description="changed"))
    (live,) = machine.backend.read_state(ROOT).tasks.values()
    assert _canonical(live.xml) == changed.canonical
    machine.backend.delete(spec.path)
    assert machine.backend.read_state(ROOT).tasks == {}
    with pytest.raises(BackendError, match="nightly"):
        machine.backend.delete(spec.path)


def test_non_ascii_names_and_text_round_trip(machine: Machine) -> None:
    spec = _spec("Sauvegarde \u00e9t\u00e9 \u65e5\u672c", description="caf\u00e9 \u2603 \u2013 \u20ac \u201cquoted\u201d")
    rendered = _register(machine.backend, spec)
    (live,) = machine.backend.read_state(ROOT).tasks.values()
    assert live.path == spec.path
    assert _canonical(live.xml) == rendered.canonical


def test_only_the_root_is_read_and_a_task_outside_it_can_be_read_alone(machine: Machine) -> None:
    _register(machine.backend, _spec("inside"))
    state = machine.backend.read_state(ROOT)
    assert [t.path for t in state.tasks.values()] == [ROOT + "inside"]
    outside = machine.backend.read_task(machine.outside)
    assert outside.path.casefold() == machine.outside.casefold()
    assert parse(outside.xml) is not None
    inside = machine.backend.read_task(ROOT + "inside")
    assert _canonical(inside.xml) == _canonical(state.tasks[(ROOT + "inside").casefold()].xml)
    with pytest.raises(BackendError, match="nothing-here"):
        machine.backend.read_task(ROOT + "nothing-here")


@pytest.mark.parametrize("path", ["\\Other\\evil", "\\Orchestrator-old\\x", "\\Orchestrator\\..\\x"])
def test_writes_outside_the_root_are_refused(machine: Machine, path: str) -> None:
    xml = render.render(_spec("evil"), ROOT).xml
    with pytest.raises(BackendError):
        machine.backend.register(path, xml)
    with pytest.raises(BackendError):
        machine.backend.delete(path)
    assert machine.backend.read_state(ROOT).tasks == {}


def test_run_starts_the_task_or_says_it_cannot(machine: Machine) -> None:
    spec = _spec("nightly")
    _register(machine.backend, spec)
    data = machine.backend.run_info(ROOT)
    if not machine.backend.capabilities.run_history:
        assert data.tasks is None
    if not machine.backend.capabilities.can_run:
        with pytest.raises(BackendError, match="nightly"):
            machine.backend.run(spec.path)
        return
    machine.backend.run(spec.path)
    after = machine.backend.run_info(ROOT)
    assert after.tasks is not None and after.warnings == ()
    assert after.tasks[spec.path.casefold()].last_run is not None


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
