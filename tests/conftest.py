"""Shared test helpers: running the CLI as a user would, and the shared corpus."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
EXAMPLES = REPO / "tasks.d"


def shared(*parts: str) -> Path:
    """A path in ../shared, skipping the test cleanly when it is absent (a user's clone)."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"../shared/{'/'.join(parts)} is not available")
    return path


@dataclass
class Result:
    code: int
    out: str
    err: str


def run_cli(*args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 60) -> Result:
    """``python reconcile.py ARGS`` in ``cwd``, as a user runs it."""
    full_env = {k: v for k, v in os.environ.items() if k not in ("GITHUB_ACTIONS", "NO_COLOR")}
    full_env.update(env or {})
    process = subprocess.run(
        [sys.executable, str(REPO / "reconcile.py"), *args],
        cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout,
        encoding="utf-8", errors="replace",
    )
    return Result(process.returncode, process.stdout, process.stderr)


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """A folder with a copy of the example manifests in tasks.d/."""
    shutil.copytree(EXAMPLES, tmp_path / "tasks.d")
    return tmp_path


def store_snapshot(store: Path) -> dict[str, bytes]:
    """Every file in a local store, by relative path, with its bytes."""
    if not store.exists():
        return {}
    return {
        str(p.relative_to(store)): p.read_bytes()
        for p in sorted(store.rglob("*")) if p.is_file() and ".reconcile" not in p.name
    }
