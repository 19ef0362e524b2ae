"""An installed reconcile.py is complete: every sub-package of the source tree is in the
package setuptools builds (the tests themselves run on an editable install, which finds
any folder, so a sub-package missing from pyproject.toml breaks only real installs)."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def _packages(base: Path) -> set[str]:
    return {str(p.parent.relative_to(base)).replace("/", ".").replace("\\", ".")
            for p in (base / "reconciler").rglob("__init__.py") if "__pycache__" not in p.parts}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # From a copy without the editable install's reconcile.egg-info: setuptools would take
    # the files listed there and hide a package missing from pyproject.toml.
    source, out = tmp_path_factory.mktemp("source"), tmp_path_factory.mktemp("build")
    skip = shutil.ignore_patterns("__pycache__", "*.egg-info")
    for folder in ("reconciler", "schemas", "templates", "examples"):
        shutil.copytree(REPO / folder, source / folder, ignore=skip)
    for file in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / file, source / file)
    done = subprocess.run([sys.executable, "-c", "from setuptools import setup; setup()", "-q",
                           "build_py", "--build-lib", str(out)], cwd=source, capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"setuptools cannot build here: {done.stderr.strip().splitlines()[-1:]}")
    return out


def test_every_sub_package_is_built(built: Path) -> None:
    assert _packages(REPO) <= _packages(built)


def test_the_built_package_runs_and_carries_its_data(built: Path) -> None:
    for data in ("schemas/manifest.schema.json", "templates/starter.yaml", "templates/doctor.yaml",
                 "examples/reconcile.yml", "py.typed"):
        assert (built / "reconciler" / data).is_file(), data
    probe = ("import sys; sys.path.insert(0, sys.argv[1]); import reconciler.cli, reconciler.commands; "
             "import reconciler.app.plans, reconciler.fleet.commands; "
             "print(reconciler.commands.__file__); raise SystemExit(reconciler.cli.main(['--version']))")
    done = subprocess.run([sys.executable, "-c", probe, str(built)], cwd=built, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    first, version = done.stdout.splitlines()[:2]
    assert Path(first).is_relative_to(built)  # imported from the build, not the source tree
    assert version.startswith("reconcile.py ")
