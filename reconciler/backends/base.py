"""The narrow interface between reconcile.py and a Task Scheduler.

A backend fetches bytes and runs writes; everything else (parsing, comparing, planning)
is pure and lives outside. ``read_state`` is one call for the whole root folder: the
planner never asks per task."""
from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass, field
from typing import Iterator, Protocol


@dataclass(frozen=True)
class LiveTask:
    """A registered task as the backend read it: its full path and its XML text."""

    path: str
    xml: str


@dataclass(frozen=True)
class State:
    """Every task under the root, keyed by ``names.key(path)``, and warnings about tasks
    outside the root that could not be read (never errors)."""

    tasks: dict[str, LiveTask]
    warnings: tuple[str, ...] = ()
    calls: int = 1  # backend calls the read took; tests and the benchmark count them


@dataclass(frozen=True)
class RunInfo:
    """What Task Scheduler knows of a task's runs (``status``)."""

    status: str | None = None  # Ready, Running, Disabled
    last_run: str | None = None  # naive ISO 8601, None if never
    last_result: int | None = None
    next_run: str | None = None


@dataclass
class WriteOutcome:
    path: str
    action: str
    ok: bool
    message: str = ""
    extra: dict = field(default_factory=dict)


class Backend(Protocol):
    name: str

    def read_state(self, root: str) -> State:
        """All tasks in ``root`` and its sub-folders, in one call. Raises BackendError
        (PartialReadError if some task in the root could not be read)."""
        ...

    def register(self, path: str, xml: str, *, password: str | None = None) -> None:
        """Create or replace the task at ``path`` (always inside the root)."""
        ...

    def delete(self, path: str) -> None:
        ...

    def resolve_account(self, name: str) -> str:
        """An account name as the SID the system stores (or the name, upper-cased)."""
        ...

    def lock(self) -> contextlib.AbstractContextManager[None]:
        """Held for the whole of an apply; raises LockHeldError if another holds it."""
        ...

    def run_info(self, root: str) -> dict[str, RunInfo] | None:
        """Run data per task key, or None if this backend has none (local)."""
        ...


@contextlib.contextmanager
def no_lock() -> Iterator[None]:
    yield


def record_call(call: str, path: str = "") -> None:
    """Append one line per backend call to ``RECONCILE_CALL_LOG`` when it is set, so
    tests and the benchmark can count reads and writes from outside the process."""
    log = os.environ.get("RECONCILE_CALL_LOG")
    if log:
        with open(log, "a", encoding="utf-8") as handle:
            handle.write(json.dumps({"call": call, "path": path}) + "\n")
