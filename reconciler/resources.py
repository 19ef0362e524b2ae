"""Files that ship beside the code: ``schemas/`` and ``templates/`` at the top of the
repository, or inside the package when installed from a wheel."""
from __future__ import annotations

import functools
from pathlib import Path

_REPO = Path(__file__).resolve().parent.parent


def _read(folder: str, name: str, package: str | None = None) -> str:
    local = _REPO / folder / name
    if local.is_file():
        return local.read_text(encoding="utf-8")
    import importlib.resources  # only an installed copy needs it (and it is slow to import)

    package = package or f"reconciler.{folder}"
    return importlib.resources.files(package).joinpath(name).read_text(encoding="utf-8")


@functools.lru_cache(maxsize=None)
def schema_text() -> str:
    return _read("schemas", "manifest.schema.json")


@functools.lru_cache(maxsize=None)
def template(name: str) -> str:
    return _read("templates", name)


@functools.lru_cache(maxsize=None)
def example_workflow() -> str:
    return _read("examples/github-actions", "reconcile.yml", "reconciler.examples")
