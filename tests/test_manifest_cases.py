"""Tests as data: folders of valid manifests (each task's rendered XML is a golden
file) and of invalid ones (each with the exact problem lines expected)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from reconciler import manifest, normalize, render
from reconciler.errors import ManifestError

CASES = Path(__file__).parent / "cases"
ROOT = "\\Orchestrator\\"
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"


def _cases(kind: str) -> list[str]:
    return sorted(p.name for p in (CASES / kind).iterdir() if p.is_dir())


def _load(case: Path, monkeypatch: pytest.MonkeyPatch) -> list:
    monkeypatch.chdir(case)
    return manifest.load("manifests", ROOT)


def _golden_name(path: str) -> str:
    return path[len(ROOT):].replace("\\", "__") + ".xml"


@pytest.mark.parametrize("case", _cases("valid"))
def test_valid_case_renders_its_golden_xml(case: str, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = CASES / "valid" / case
    tasks = _load(folder, monkeypatch)
    assert tasks, "a valid case defines at least one task"
    golden_dir = folder / "golden"
    seen = set()
    for task in tasks:
        rendered = render.render(task, ROOT)
        text = render.declared(rendered.xml, "UTF-8")
        golden = golden_dir / _golden_name(task.path)
        seen.add(golden.name)
        if UPDATE:
            golden_dir.mkdir(exist_ok=True)
            golden.write_text(text, encoding="utf-8", newline="\n")
        assert golden.exists(), f"no golden file {golden} (run with UPDATE_GOLDEN=1 once, then review it)"
        assert text == golden.read_text(encoding="utf-8"), f"{task.path} renders differently from {golden}"
        # What we register reads back as exactly what we meant.
        assert normalize.canonical(rendered.xml) == rendered.canonical
    stale = {p.name for p in golden_dir.glob("*.xml")} - seen
    assert not stale, f"golden files without a task: {sorted(stale)}"


@pytest.mark.parametrize("case", _cases("invalid"))
def test_invalid_case_reports_every_problem(case: str, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = CASES / "invalid" / case
    expected_file = folder / "expected.txt"
    with pytest.raises(ManifestError) as err:
        _load(folder, monkeypatch)
    got = [f"{p.path.replace(os.sep, '/')}:{p.line}:{p.column}: {p.message}" for p in err.value.problems]
    if UPDATE:
        expected_file.write_text("\n".join(got) + "\n", encoding="utf-8")
    expected = [line for line in expected_file.read_text(encoding="utf-8").splitlines() if line]
    assert got == expected
