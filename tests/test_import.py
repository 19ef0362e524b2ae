"""import: live tasks and exports -> manifests that render back to exactly the same
task (the canonical round trip), or a refusal that names the element."""
from __future__ import annotations

from pathlib import Path

import pytest

from conftest import SHARED, run_cli
from reconciler import importing, normalize, taskxml
from reconciler.errors import ReconcileError

FIXTURES = Path(__file__).parent / "fixtures" / "corpus"
ROOT = "\\Orchestrator\\"

# Files (and tasks inside 137.xml) that a manifest cannot express, each with the element
# the refusal names. Everything else must round-trip.
NOT_REPRESENTABLE = {
    "003.xml": "Principals/Principal/UserId",      # names no account (a GUI export of "the user")
    "004.xml": "Principals/Principal/UserId",
    "005.xml": "Principals/Principal/UserId",
    "009.xml": "Principals/Principal/UserId",
    "011.xml": "Principals/Principal/UserId",
    "012.xml": "Principals/Principal/UserId",
    "013.xml": "Principals/Principal/UserId",
    "014.xml": "Principals/Principal/UserId",
    "021.xml": "Principals/Principal/UserId",
    "026.xml": "Principals/Principal/UserId",
    "028.xml": "Principals/Principal/UserId",
    "029.xml": "Principals/Principal/UserId",
    "034.xml": "Principals/Principal/UserId",
    "038.xml": "Principals/Principal/UserId",
    "041.xml": "Principals/Principal/UserId",
    "045.xml": "Principals/Principal/UserId",
    "047.xml": "Principals/Principal/UserId",
    "049.xml": "Triggers/TimeTrigger/StartBoundary",  # a template: {{{StartBoundary}}}
    "050.xml": "Principals/Principal/UserId",
    "051.xml": "Triggers/RegistrationTrigger/EndBoundary",  # 'autoremove'
    "059.xml": "Principals/Principal/UserId",
    "062.xml": "Principals/Principal/UserId",
    "063.xml": "Principals/Principal/UserId",
    "064.xml": "Principals/Principal/UserId",
    "065.xml": "Principals/Principal/UserId",
    "068.xml": "Principals/Principal/UserId",
    "071.xml": "Principals/Principal/UserId",
    "076.xml": "Principals/Principal/UserId",
    "077.xml": "Principals/Principal/UserId",
    "141.xml": "Triggers/TimeTrigger/StartBoundary",  # a time trigger without a start
    "142.xml": "Triggers/LogonTrigger/EndBoundary",  # a Python template: '%s'
    "143.xml": "Actions/Exec/Command",  # an empty Command
}
NOT_WELL_FORMED = {"035.xml"}


def tasks_of(path: Path) -> list[importing.Found]:
    """Every task in a corpus file, with a path in the root."""
    found = importing.from_export(str(path))
    return [importing.Found(ROOT + f"{path.stem}-{i:03d}", f.xml) for i, f in enumerate(found)]


def round_trip(found: list[importing.Found], out: Path) -> dict[str, str | None]:
    """path -> None (imported, round trip checked by import itself) or the refusal."""
    results = importing.run(found, str(out), ROOT, lambda name: normalize.accounts.well_known(name))
    return {r.path: r.error for r in results}


def check_folder(folder: Path, tmp_path: Path) -> int:
    checked = 0
    for path in sorted(folder.glob("*.xml")):
        if path.name in NOT_WELL_FORMED:
            with pytest.raises(ReconcileError):
                taskxml.parse(taskxml.decode(path.read_bytes()))
            continue
        outcome = round_trip(tasks_of(path), tmp_path / path.stem)
        refusals = {p: e for p, e in outcome.items() if e}
        if path.name in NOT_REPRESENTABLE:
            assert refusals, f"{path.name} should be refused"
            for error in refusals.values():
                assert error.startswith(NOT_REPRESENTABLE[path.name]), (path.name, error)
        else:
            assert not refusals, (path.name, refusals)
        checked += len(outcome)
    return checked


def test_round_trip_of_the_bundled_real_exports(tmp_path: Path) -> None:
    assert check_folder(FIXTURES, tmp_path) >= 170


def test_round_trip_of_the_whole_shared_corpus(tmp_path: Path) -> None:
    folder = SHARED / "corpus" / "xml"
    if not folder.is_dir():
        pytest.skip("../shared/corpus is not available")
    assert check_folder(folder, tmp_path) >= 300


def test_the_whole_windows_export_imports(tmp_path: Path) -> None:
    """All 158 tasks of a real `schtasks /Query /XML ONE` (Windows 10 Home) round-trip:
    COM handlers, WNF triggers, maintenance settings, SIDs, groups, event triggers."""
    found = tasks_of(FIXTURES / "137.xml")
    assert len(found) == 158
    outcome = round_trip(found, tmp_path)
    assert [e for e in outcome.values() if e] == []


def _store_copy(workspace: Path, names: list[str]) -> Path:
    """Real task files placed like a copy of C:\\Windows\\System32\\Tasks, under the root."""
    folder = workspace / ".reconcile" / "store" / "Orchestrator"
    folder.mkdir(parents=True)
    for name in names:
        (folder / Path(name).stem).write_bytes((FIXTURES / name).read_bytes())
    return folder


def test_import_all_then_plan_says_no_changes(tmp_path: Path) -> None:
    files = ["017.xml", "018.xml", "019.xml", "025.xml", "027.xml", "074.xml", "075.xml", "144.xml", "150.xml"]
    folder = _store_copy(tmp_path, files + ["041.xml"])
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    result = run_cli("import", "--all", cwd=tmp_path)
    assert result.code == 1  # 041 names no account
    assert "\\Orchestrator\\041: not imported: Principals/Principal/UserId" in result.err
    assert len(list((tmp_path / "tasks.d").glob("*.yaml"))) == len(files)
    plan = run_cli("plan", "--detailed-exitcode", cwd=tmp_path)
    assert plan.code == 0, plan.out + plan.err
    assert plan.out.strip().splitlines()[-1] == "No changes."
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    written = (tmp_path / "tasks.d" / "019.yaml").read_text()
    assert "adopt: true" in written and "password" not in written


def test_import_never_overwrites(tmp_path: Path) -> None:
    _store_copy(tmp_path, ["017.xml"])
    (tmp_path / "tasks.d").mkdir()
    (tmp_path / "tasks.d" / "017.yaml").write_text("# mine\n")
    result = run_cli("import", "017", cwd=tmp_path)
    assert result.code == 1 and "never overwrites" in result.err
    assert (tmp_path / "tasks.d" / "017.yaml").read_text() == "# mine\n"


def test_import_from_an_export_and_from_a_folder(tmp_path: Path) -> None:
    export = run_cli("import", "--from", str(FIXTURES / "137.xml"), "--out", "from-export",
                     "\\Microsoft\\Windows\\Defrag\\ScheduledDefrag", cwd=tmp_path)
    assert export.code == 0, export.err
    written = list((tmp_path / "from-export").rglob("*.yaml"))
    assert [p.name for p in written] == ["ScheduledDefrag.yaml"]
    copy = tmp_path / "Tasks" / "Sub"
    copy.mkdir(parents=True)
    (copy / "nightly").write_bytes((FIXTURES / "025.xml").read_bytes())
    folder = run_cli("import", "--from", str(tmp_path / "Tasks"), "--out", "from-folder", "\\Sub\\nightly",
                     cwd=tmp_path)
    assert folder.code == 0, folder.err
    assert (tmp_path / "from-folder" / "Sub" / "nightly.yaml").is_file()


def test_import_path_outside_the_root_reads_only(tmp_path: Path) -> None:
    outside = tmp_path / ".reconcile" / "store" / "Backups"
    outside.mkdir(parents=True)
    (outside / "Nightly").write_bytes((FIXTURES / "025.xml").read_bytes())
    before = (outside / "Nightly").read_bytes()
    result = run_cli("import", "--path", "\\Backups\\Nightly", cwd=tmp_path)
    assert result.code == 0, result.err
    manifest = tmp_path / "tasks.d" / "Backups" / "Nightly.yaml"
    assert "folder: Backups" in manifest.read_text()
    plan = run_cli("plan", cwd=tmp_path)
    assert "+ \\Orchestrator\\Backups\\Nightly" in plan.out
    assert (outside / "Nightly").read_bytes() == before


def test_deprecated_actions_are_refused_by_name(tmp_path: Path) -> None:
    ns = 'xmlns="http://schemas.microsoft.com/windows/2004/02/mit/task"'
    xml = (f'<Task version="1.2" {ns}><Principals><Principal><UserId>S-1-5-18</UserId></Principal>'
           '</Principals><Actions><SendEmail><Server>smtp</Server></SendEmail></Actions></Task>')
    outcome = round_trip([importing.Found(ROOT + "mail", xml)], tmp_path)
    assert outcome[ROOT + "mail"].startswith("Actions/SendEmail: deprecated")


WORKFLOW = Path(__file__).parent / "cases" / "valid" / "workflow" / "golden"


def test_runner_tasks_import_together_and_render_back(tmp_path: Path) -> None:
    """Tasks registered through the runner import back to their run blocks (compiled
    together, as plan compiles them); a task that runs after others is refused alone."""
    found = [importing.Found(ROOT + p.stem.replace("__", "\\"), p.read_text(encoding="utf-8"))
             for p in sorted(WORKFLOW.glob("*.xml"))]
    assert len(found) == 4
    assert round_trip(found, tmp_path / "all") == {f.path: None for f in found}
    excel = (tmp_path / "all" / "Finance" / "excel.yaml").read_text(encoding="utf-8")
    assert "after:" in excel and "attemptTimeout: 20m" in excel and "keep: 30.0" in excel
    alone = round_trip([f for f in found if f.path == ROOT + "Finance\\excel"], tmp_path / "alone")
    assert "import the tasks it runs after too" in (alone[ROOT + "Finance\\excel"] or "")
