"""Every GitHub Actions workflow the repository ships passes actionlint: the project's
own (.github/workflows) and the ones users copy (examples/)."""
from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def workflow_files() -> list[Path]:
    files = [p for pattern in ("*.yml", "*.yaml") for p in (REPO / ".github" / "workflows").glob(pattern)]
    examples = REPO / "examples" / "github-actions"  # examples/ansible holds playbooks, not workflows
    if examples.is_dir():
        files += [p for pattern in ("*.yml", "*.yaml") for p in examples.rglob(pattern)]
    return sorted(files)


def actionlint() -> str | None:
    """The actionlint binary: on PATH, or in this Python's scripts folder, where the pip
    package that ships it puts it."""
    found = shutil.which("actionlint")
    if found:
        return found
    for folder in (Path(sys.executable).parent, Path(sysconfig.get_path("scripts"))):
        for name in ("actionlint", "actionlint.exe"):
            candidate = folder / name
            if candidate.is_file():
                return str(candidate)
    return None


@pytest.mark.parametrize("workflow", workflow_files(), ids=lambda p: p.relative_to(REPO).as_posix())
def test_workflow_passes_actionlint(workflow: Path) -> None:
    binary = actionlint()
    if binary is None:
        pytest.skip("actionlint is not installed (pip install the test extras)")
    result = subprocess.run([binary, "-no-color", str(workflow)], capture_output=True, text=True,
                            cwd=REPO, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_there_is_a_workflow() -> None:
    assert workflow_files(), "no workflow files found"
