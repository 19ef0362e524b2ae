"""One task by name: find it in the manifests, render it, list its next runs."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from .. import names
from ..errors import UsageError, quoted
from ..model import TaskSpec
from .plans import load_tasks

if TYPE_CHECKING:
    from ..manifest import Selection


def find_task(tasks: list[TaskSpec], name: str, root: str) -> TaskSpec:
    """NAME as ``render``, ``next`` and ``import`` take it: ``metadata.name``,
    ``folder\\name`` where names repeat, or the full path ``plan`` prints."""
    wanted = name.strip("\\")
    if names.is_under("\\" + wanted, root):
        wanted = names.relative("\\" + wanted, root)
    key = wanted.casefold()
    exact = [t for t in tasks if "\\".join(t.folder + (t.name,)).casefold() == key]
    matches = exact or [t for t in tasks if t.name.casefold() == key]
    if not matches:
        raise UsageError(f"no task named {quoted(name)} in the manifests")
    if len(matches) > 1:
        options = ", ".join("\\".join(t.folder + (t.name,)) for t in matches)
        raise UsageError(f"{quoted(name)} is ambiguous: {options}; write folder\\name")
    return matches[0]


def render_xml(directory: str, root: str, name: str, resolve: Callable[[str], str],
               select: Selection | None = None) -> str:
    """The XML ``name`` would be registered with, marker included, declared UTF-8."""
    from ..render import declared, render

    spec = find_task(load_tasks(directory, root, select), name, root)
    return declared(render(spec, root, resolve).xml, "UTF-8")


@dataclass(frozen=True)
class NextRuns:
    path: str
    runs: list[dt.datetime]


def next_runs(directory: str, root: str, name: str, start: dt.datetime, count: int,
              select: Selection | None = None) -> NextRuns:
    """The next ``count`` start times of ``name`` after ``start`` (naive local time), as
    Task Scheduler would start them in this machine's time zone (README "Daylight saving
    time")."""
    from .. import simulate
    from ..render import render
    from ..simulate_dst import SystemZone

    if count < 1:
        raise UsageError("-n must be at least 1")
    spec = find_task(load_tasks(directory, root, select), name, root)
    canonical = render(spec, root).canonical
    return NextRuns(spec.path, simulate.next_runs(canonical, start, count, zone=SystemZone()))
