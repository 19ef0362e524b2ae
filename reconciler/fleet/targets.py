"""Which hosts receive a task: ``metadata.targets`` on the task, or ``spec.targets`` in
the nearest Defaults (the task's own wins), read against an inventory.

A host receives a task when
- ``groups`` or ``hosts`` are given: it is in one of the groups, or is one of the hosts;
- it is in every group of ``require``;
- it is not named in ``exclude``, nor in one of the groups named there.
A task without targets goes to every host. Group names compare exactly (as Ansible's
do), host names case-insensitively (they are machine names)."""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterable

from ..errors import Problem
from ..model import Origin
from .inventory import Host, Inventory

if TYPE_CHECKING:
    from ..compile_base import Reporter
    from ..model import TaskSpec

KEYS = ("groups", "hosts", "require", "exclude")


@dataclass(frozen=True)
class Named:
    """A group or host name as written in targets, and where."""

    name: str
    origin: Origin = field(compare=False)


@dataclass(frozen=True)
class Targets:
    groups: tuple[Named, ...] = ()
    hosts: tuple[Named, ...] = ()
    require: tuple[Named, ...] = ()
    exclude: tuple[Named, ...] = ()
    origin: Origin = field(default=Origin("<none>", 1, 1), compare=False)  # where ``targets`` is written

    def receives(self, host: Host) -> bool:
        groups = set(host.groups)
        name = host.name.casefold()
        if self.groups or self.hosts:
            if not (any(g.name in groups for g in self.groups)
                    or any(h.name.casefold() == name for h in self.hosts)):
                return False
        if not all(g.name in groups for g in self.require):
            return False
        return not any(e.name in groups or e.name.casefold() == name for e in self.exclude)


def compile_targets(reporter: Reporter, metadata: dict[str, Any], spec: dict[str, Any]) -> Targets | None:
    """The task's targets (its own ``metadata.targets``, else the Defaults' merged into
    ``spec.targets``), each name with its position; None: every host."""
    if isinstance(metadata.get("targets"), dict):
        base: tuple[str, ...] = ("metadata", "targets")
        body = metadata["targets"]
    elif isinstance(spec.get("targets"), dict):
        base, body = ("spec", "targets"), spec["targets"]
    else:
        return None

    def names(key: str) -> tuple[Named, ...]:
        items = body.get(key) or ()
        items = [items] if isinstance(items, str) else items
        return tuple(Named(str(item), Origin(*reporter.doc.where(base + (key, index))))
                     for index, item in enumerate(items))

    return Targets(groups=names("groups"), hosts=names("hosts"), require=names("require"),
                   exclude=names("exclude"), origin=Origin(*reporter.doc.where(base, key=True)))


def needs_inventory(targets: Targets) -> Problem:
    where = targets.origin
    return Problem(where.file, where.line, where.column,
                   "targets name inventory groups and hosts: run with --inventory FILE (and --host NAME)")


def _hint(name: str, known: Iterable[str]) -> str:
    candidates = {k.casefold(): k for k in known}
    close = difflib.get_close_matches(name.casefold(), list(candidates), n=1, cutoff=0.6)
    return f" (did you mean {candidates[close[0]]!r}?)" if close else ""


def name_problems(targets: Targets, inventory: Inventory) -> list[Problem]:
    """Every name in ``targets`` the inventory does not have, with a did-you-mean."""
    groups = set(inventory.groups)
    hosts = {h.casefold() for h in inventory.hosts}
    problems = []
    for key in KEYS:
        for named in getattr(targets, key):
            is_group, is_host = named.name in groups, named.name.casefold() in hosts
            if key in ("groups", "require") and not is_group:
                what, known = "group", list(inventory.groups)
            elif key == "hosts" and not is_host:
                what, known = "host", list(inventory.hosts)
            elif key == "exclude" and not (is_group or is_host):
                what, known = "group or host", list(inventory.groups) + list(inventory.hosts)
            else:
                continue
            where = named.origin
            if key == "groups" and is_host:
                hint = f" ({named.name} is a host: use hosts:)"
            elif key == "hosts" and is_group:
                hint = f" ({named.name} is a group: use groups:)"
            else:
                hint = _hint(named.name, known)
            problems.append(Problem(where.file, where.line, where.column,
                                    f"targets.{key}: no {what} {named.name!r} in {inventory.source}" + hint))
    return problems


def label(host: Host) -> str:
    """``host srv-a02 (groups: prod)``, for messages."""
    groups = ", ".join(host.labels) or "none"
    return f"host {host.name} (groups: {groups})"


@dataclass(frozen=True)
class HostSelection:
    """One host's subset of the manifests (see ``manifest.Selection``)."""

    host: Host
    inventory: Inventory = field(repr=False)

    @property
    def label(self) -> str:
        return label(self.host)

    @property
    def host_name(self) -> str:
        return self.host.name

    def wants(self, task: TaskSpec) -> bool:
        return task.targets is None or task.targets.receives(self.host)

    def problems(self, task: TaskSpec) -> list[Problem]:
        return name_problems(task.targets, self.inventory) if task.targets is not None else []
