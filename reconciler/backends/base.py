"""The narrow interface between reconcile.py and a Task Scheduler.

A backend fetches bytes and runs writes; everything else (parsing, comparing, planning)
is pure and lives outside. ``read_state`` is one call for the whole root folder: the
planner never asks per task."""
from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass
from typing import Protocol, Sequence


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
    # The console code page the text came through when it may have lost characters
    # (schtasks on Windows 10 and Server 2016-2022 prints "?" for what the page cannot
    # hold); None when the read is lossless.
    codepage: str | None = None


@dataclass(frozen=True)
class RunInfo:
    """What Task Scheduler knows of a task's runs (``status``)."""

    status: str | None = None  # Ready, Running, Disabled, Queued
    last_run: str | None = None  # naive ISO 8601, None if never
    last_result: int | None = None
    next_run: str | None = None
    missed_runs: int | None = None  # NumberOfMissedRuns, where the backend knows it


@dataclass(frozen=True)
class RunData:
    """Run data per task key (``names.key(path)``), or None when the backend keeps none
    or could not read it; ``warnings`` say why it is incomplete or missing. ``status``
    is informational, so a failed read is a warning here, never an error."""

    tasks: dict[str, RunInfo] | None
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class Capabilities:
    """What a backend can do, so callers ask instead of testing its name."""

    parallel_writes: bool  # registrations may run side by side (--parallelism)
    # run_info() can return data, and stop() ends what it reports running
    run_history: bool
    can_run: bool  # run() starts the task now
    keeps_passwords: bool  # register() stores a password with the task
    removes_folders: bool = True  # remove_folder() works (schtasks.exe cannot remove one)


class Backend(Protocol):
    """Everything the rest of reconcile.py asks of a Task Scheduler. Paths are full
    (``\\Root\\Folder\\name``); every write lies under the root the backend was opened
    for, and a backend refuses any other (defence in depth: the planner guarantees it)."""

    name: str
    capabilities: Capabilities
    calls: int  # backend calls made so far (a schtasks process, a COM operation, a store read or write)

    def read_state(self, root: str) -> State:
        """All tasks in ``root`` and its sub-folders, in one call. Raises BackendError
        (PartialReadError if some task in the root could not be read)."""
        ...

    def read_task(self, path: str) -> LiveTask:
        """One task anywhere on the machine, read-only (``import --path``). Raises
        BackendError naming the path if there is no such task."""
        ...

    def register(self, path: str, xml: str, *, password: str | None = None) -> None:
        """Create or replace the task at ``path`` (always inside the root)."""
        ...

    def delete(self, path: str) -> None:
        ...

    def run(self, path: str) -> None:
        """Start the task now (BackendError where ``capabilities.can_run`` is false)."""
        ...

    def stop(self, path: str) -> None:
        """End every running instance of the task (``apply --stop-running``). A task
        that is not running is no error (it may have just finished); a task that is not
        there is. BackendError where ``capabilities.run_history`` is false: with no run
        data, nothing is known to run."""
        ...

    def remove_folder(self, path: str) -> None:
        """Remove the empty folder ``path`` (``\\Root\\`` or a folder in it) and the
        empty folders in it. BackendError if a task is still in it, or where the backend
        cannot remove folders (``schtasks.exe`` cannot)."""
        ...

    def run_info(self, root: str) -> RunData:
        """Run data of the tasks in ``root``; never raises for a failed read."""
        ...

    def preflight(self, password_paths: Sequence[str]) -> None:
        """Before the first write: everything the writes will need is there (raises
        BackendError naming the first task that could not be written)."""
        ...

    def resolve_account(self, name: str) -> str:
        """An account name as the SID the system stores (or the name, upper-cased)."""
        ...

    def lock(self) -> contextlib.AbstractContextManager[None]:
        """Held for the whole of an apply; raises LockHeldError if another holds it."""
        ...


def record_call(call: str, path: str = "") -> None:
    """Append one line per backend call to ``RECONCILE_CALL_LOG`` when it is set, so
    tests and the benchmark can count reads and writes from outside the process."""
    log = os.environ.get("RECONCILE_CALL_LOG")
    if log:
        with open(log, "a", encoding="utf-8") as handle:
            handle.write(json.dumps({"call": call, "path": path}) + "\n")
