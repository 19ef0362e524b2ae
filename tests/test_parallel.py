"""Reading manifests on several cores gives exactly what a serial read gives: the same
tasks, the same rendered XML, the same problems (duplicate names across processes, a
broken Defaults felt by tasks another process compiles, a second Defaults), with both
ways of starting workers."""
from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import EXAMPLES, run_cli
from reconciler import manifest, names, parallel
from reconciler.app import plans
from reconciler.accounts import well_known
from reconciler.errors import ManifestError, UsageError

ROOT = "\\Orchestrator\\"
NO_FORK = pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(),
                             reason="no fork here (Windows)")
TASK = """\
apiVersion: reconcile/v1
kind: ScheduledTask
metadata: {{name: {name}}}
spec:
  schedule: "{minute} {hour} * * *"
  actions:
    - command: C:\\jobs\\{name}.exe
      arguments: ["--n", "{number}"]
"""


def _tree(base: Path, files: int = 60) -> Path:
    """The examples (Defaults, a workflow) and ``files`` more in nested folders."""
    top = base / "tasks.d"
    shutil.copytree(EXAMPLES, top)
    for number in range(files):
        folder = top / f"team{number % 3}" / ("deep" if number % 2 else "")
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"job{number:03}.yaml").write_text(
            TASK.format(name=f"job{number:03}", minute=number % 60, hour=number % 24, number=number))
    (top / "team1" / "_defaults.yaml").write_text(
        "apiVersion: reconcile/v1\nkind: Defaults\nspec:\n  runAs: {user: SYSTEM}\n  settings: {timeout: 2h}\n")
    return top


def _serial(top: Path) -> manifest.Loader:
    return manifest.read_serially(str(top), ROOT, manifest.discover(str(top)))


def _parallel(top: Path, method: str, workers: int, monkeypatch: pytest.MonkeyPatch,
              prepare: object = None) -> tuple[manifest.Loader, dict]:
    monkeypatch.setenv(parallel.ENV_WORKERS, str(workers))
    loaded = parallel.load(str(top), ROOT, manifest.discover(str(top)), None, prepare, method=method)
    assert loaded is not None, "the workers ran (no fallback to a serial read)"
    return loaded


def _prepare(spec):  # module-level: a spawned worker unpickles it by name
    return plans.desired_one(spec, ROOT, well_known)


@pytest.mark.parametrize("method,workers", [pytest.param("fork", 2, marks=NO_FORK),
                                            pytest.param("fork", 5, marks=NO_FORK), ("spawn", 3)])
def test_same_tasks_and_xml_as_serial(tmp_path: Path, method: str, workers: int,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    top = _tree(tmp_path)
    serial = _serial(top)
    loader, prepared = _parallel(top, method, workers, monkeypatch, _prepare)
    assert serial.problems == [] and loader.problems == []
    assert loader.tasks == serial.tasks  # same order too: it decides which duplicate is "first"
    assert set(loader.defaults) == set(serial.defaults)
    without_run = [t for t in loader.tasks if t.run is None]
    assert len(prepared) == len(without_run) > 60
    for task in without_run:
        assert prepared[names.key(task.path)].rendered.xml == _prepare(task).rendered.xml
    assert sorted(loader.located) == sorted(names.key(t.path) for t in loader.tasks if t.run is not None)


@pytest.mark.parametrize("method", [pytest.param("fork", marks=NO_FORK), "spawn"])
def test_same_problems_as_serial(tmp_path: Path, method: str, monkeypatch: pytest.MonkeyPatch) -> None:
    top = _tree(tmp_path)
    # Tasks of one name in files that different processes read.
    (top / "team2" / "again.yaml").write_text((top / "team0" / "job000.yaml").read_text())
    (top / "team0" / "deep").mkdir(exist_ok=True)
    (top / "team0" / "deep" / "again2.yaml").write_text((top / "team1" / "deep" / "job001.yaml").read_text())
    # A broken Defaults: the tasks below it are compiled leniently wherever they are read.
    (top / "team2" / "_defaults.yaml").write_text(
        "apiVersion: reconcile/v1\nkind: Defaults\nspec:\n  settings: {timeout: forever, colour: red}\n")
    # A second Defaults for one folder, and a file that is not YAML.
    (top / "team1" / "zz-defaults.yaml").write_text(
        "apiVersion: reconcile/v1\nkind: Defaults\nspec:\n  settings: {timeout: 1h}\n")
    (top / "team0" / "broken.yaml").write_text("apiVersion: [\n")
    serial = _serial(top)
    loader, _ = _parallel(top, method, 3, monkeypatch)
    assert len(serial.problems) >= 5
    assert sorted(set(loader.problems)) == sorted(set(serial.problems))
    assert loader.tasks == serial.tasks


def test_load_prepared_raises_the_serial_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    top = _tree(tmp_path)
    (top / "team2" / "again.yaml").write_text((top / "team0" / "job000.yaml").read_text())
    errors = []
    for workers in ("1", "2"):
        monkeypatch.setenv(parallel.ENV_WORKERS, workers)
        with pytest.raises(ManifestError) as caught:
            manifest.load_prepared(str(top), ROOT, prepare=_prepare)
        errors.append(caught.value.problems)
    assert errors[0] == errors[1] and any("also defined at" in p.message for p in errors[0])


def test_a_failing_worker_falls_back_to_a_serial_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if "fork" not in multiprocessing.get_all_start_methods():
        pytest.skip("the broken worker is made by patching before fork")
    top = _tree(tmp_path)

    def broken(*args: object) -> None:
        raise RuntimeError("worker machinery broke")

    monkeypatch.setenv(parallel.ENV_WORKERS, "2")
    monkeypatch.setattr(parallel._Share, "compile", broken)
    assert parallel.load(str(top), ROOT, manifest.discover(str(top)), None, None, method="fork") is None
    monkeypatch.undo()
    monkeypatch.setenv(parallel.ENV_WORKERS, "2")
    tasks, _ = manifest.load_prepared(str(top), ROOT)
    assert len(tasks) == len(_serial(top).tasks)


def test_worker_count(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(parallel.ENV_WORKERS, raising=False)
    assert parallel.worker_count(10, "fork") == 1  # too few files to be worth a process
    assert parallel.worker_count(10_000, "spawn") == 1  # opt-in where workers start slowly
    assert 1 <= parallel.worker_count(10_000, "fork") <= parallel.MAX_WORKERS
    monkeypatch.setenv(parallel.ENV_WORKERS, "3")
    assert parallel.worker_count(10, "spawn") == 3
    assert parallel.worker_count(2, "fork") == 2
    monkeypatch.setenv(parallel.ENV_WORKERS, "many")
    with pytest.raises(UsageError, match="RECONCILE_WORKERS"):
        parallel.worker_count(10, "fork")


def test_plan_output_is_the_same_either_way(tmp_path: Path) -> None:
    top = _tree(tmp_path, files=120)
    assert run_cli("apply", "-q", cwd=tmp_path, env={parallel.ENV_WORKERS: "1"}).code == 0
    (top / "team0" / "job000.yaml").write_text(TASK.format(name="job000", minute=7, hour=7, number=0))
    (top / "team1" / "deep" / "job001.yaml").unlink()
    outputs = [run_cli("plan", "--format", "json", cwd=tmp_path, env={parallel.ENV_WORKERS: w})
               for w in ("1", "2", "4")]
    assert outputs[0].code == 0, outputs[0].err
    summary = json.loads(outputs[0].out)["summary"]
    assert (summary["change"], summary["delete"]) == (1, 1)
    assert all(o.out == outputs[0].out and o.code == outputs[0].code for o in outputs[1:])


def test_early_state_read_keeps_manifest_errors_first(tmp_path: Path) -> None:
    """A plan reads the live state while workers finish; a backend that fails then is
    reported only once the manifests are known to be valid, as without workers."""
    top = _tree(tmp_path, files=120)
    env = {parallel.ENV_WORKERS: "2", "RECONCILE_SCHTASKS": str(tmp_path / "no-such-schtasks")}
    valid = run_cli("--backend", "schtasks", "plan", cwd=tmp_path, env=env)
    assert valid.code == 1 and "could not be started" in valid.err
    (top / "zz.yaml").write_text("bad: [\n")
    invalid = run_cli("--backend", "schtasks", "plan", cwd=tmp_path, env=env)
    assert invalid.code == 1
    assert invalid.err.startswith("tasks.d/zz.yaml:2:1: invalid YAML") and "schtasks" not in invalid.err


@NO_FORK
def test_buffered_output_is_not_printed_twice(tmp_path: Path) -> None:
    """A forked worker flushes the streams it inherited when it ends."""
    top = _tree(tmp_path)
    code = ("import sys\n"
            f"sys.path.insert(0, {str(Path(__file__).resolve().parents[1])!r})\n"
            "from reconciler import manifest\n"
            "sys.stdout.write('said once\\n')\n"
            f"manifest.load_prepared({str(top)!r}, {ROOT!r})\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                            env={**os.environ, parallel.ENV_WORKERS: "3"})
    assert result.returncode == 0, result.stderr
    assert result.stdout == "said once\n"
