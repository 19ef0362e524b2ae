"""Which host a run is for, and every host's subset of the manifests.

``--host NAME`` names the host; with ``--inventory`` and no ``--host`` the machine's own
name picks it (``reconcile_hostname``, else the inventory name, compared
case-insensitively; a short name matches a full one). A machine that is in no inventory
is an error: never a plan that deletes every task."""
from __future__ import annotations

import difflib
import os
import socket
import sys
from dataclasses import dataclass
from typing import Mapping

from .. import manifest, names
from ..errors import ManifestError, Problem, UsageError
from ..model import TaskSpec
from .hostvars import hostname, setting
from .inventory import Host, Inventory, InventoryError, read
from .targets import HostSelection


@dataclass(frozen=True)
class Chosen:
    """The host a run is for, and the root its tasks live in."""

    host: Host
    inventory: Inventory
    root: str

    @property
    def selection(self) -> HostSelection:
        return HostSelection(self.host, self.inventory)


def machine_names() -> list[str]:
    """This machine's names: the host name and, on Windows, COMPUTERNAME (NetBIOS)."""
    found = [socket.gethostname()]
    if sys.platform == "win32" and os.environ.get("COMPUTERNAME"):
        found.append(os.environ["COMPUTERNAME"])
    return [n for n in found if n]


def _same_machine(configured: str, machine: str) -> bool:
    a, b = configured.casefold(), machine.casefold()
    if a == b:
        return True
    # srv-a01 and srv-a01.corp.example.com are one machine; two full names must agree.
    return ("." not in a or "." not in b) and a.split(".")[0] == b.split(".")[0]


def find_host(inventory: Inventory, name: str) -> Host:
    """``--host NAME``: an inventory name (exact, then case-insensitive) or a
    ``reconcile_hostname``."""
    if name in inventory.hosts:
        return inventory.hosts[name]
    found = [h for h in inventory.hosts.values()
             if name.casefold() in (h.name.casefold(), hostname(h).casefold())]
    if len(found) == 1:
        return found[0]
    if found:
        raise UsageError(f"--host {name}: several hosts of {inventory.source} match: "
                         + ", ".join(h.name for h in found))
    close = difflib.get_close_matches(name, list(inventory.hosts), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise UsageError(f"--host {name}: no such host in {inventory.source}{hint}")


def this_machine(inventory: Inventory, machines: list[str] | None = None) -> Host:
    """The host whose ``reconcile_hostname`` (or inventory name) is this machine."""
    machines = machines or machine_names()
    found = [h for h in inventory.hosts.values() if any(_same_machine(hostname(h), m) for m in machines)]
    if len(found) == 1:
        return found[0]
    if found:
        raise UsageError(f"this machine ({machines[0]}) matches several hosts of {inventory.source}: "
                         + ", ".join(h.name for h in found) + "; pass --host NAME")
    raise UsageError(f"this machine ({machines[0]}) is not a host of {inventory.source}: nothing to plan "
                     "for it (add it, set reconcile_hostname, or pass --host NAME)")


def host_root(host: Host, root: str, root_given: bool) -> str:
    """The host's ``reconcile_root``, else ``--root``; both, and different, is an error."""
    configured = setting(host, "reconcile_root")
    if configured is None:
        return root
    try:
        normalized = names.normalize_root(configured)
    except UsageError as err:
        raise InventoryError(f"host {host.name}: reconcile_root: {str(err).removeprefix('--root ')}") from None
    if root_given and names.key(normalized) != names.key(root):
        raise UsageError(f"--root {root} differs from reconcile_root {normalized} of host {host.name}")
    return normalized


def choose(inventory_path: str | None, host_name: str | None, root: str, root_given: bool = False) -> Chosen | None:
    """The host of ``--inventory``/``--host`` (None: no inventory, a single machine)."""
    if inventory_path is None:
        if host_name is not None:
            raise UsageError("--host needs --inventory FILE")
        return None
    inventory = read(inventory_path)
    host = find_host(inventory, host_name) if host_name is not None else this_machine(inventory)
    return Chosen(host, inventory, host_root(host, root, root_given))


# --- every host at once ----------------------------------------------------------------------

class _Recorder(manifest.Loader):
    """Reads and compiles every document once; each host's subset is then made from
    what it recorded, by the loader's own rules."""

    def __init__(self, directory: str, root: str) -> None:
        super().__init__(directory, root, None)
        self.compiled: list[manifest.Compiled] = []

    def add(self, compiled: manifest.Compiled) -> None:
        self.compiled.append(compiled)


def _host_subset(recorder: _Recorder, selection: HostSelection) -> tuple[list[TaskSpec], list[Problem]]:
    loader = manifest.Loader(str(recorder.base), recorder.root, None, selection)
    loader.schema_positions = recorder.schema_positions
    for compiled in recorder.compiled:
        loader.add(compiled)
    tasks = manifest.workflows(loader.tasks, loader.located, loader.problems, loader.elsewhere, selection.label)
    return sorted(tasks, key=lambda t: names.key(t.path)), loader.problems


def subsets(directory: str, inventory: Inventory, roots: Mapping[str, str]) -> dict[str, list[TaskSpec]]:
    """Every host's tasks (``roots``: each host's root), each host's subset checked on
    its own: duplicate paths, ``after`` across the host's tasks. Raises ManifestError
    with every problem of every host."""
    found = manifest.discover(directory)
    problems: list[Problem] = []
    out: dict[str, list[TaskSpec]] = {}
    for root in sorted(set(roots.values())):
        recorder = _Recorder(directory, root)
        for folder, files in found:
            recorder.folder(folder, files)
        problems.extend(recorder.problems)
        for host in inventory.hosts.values():
            if roots[host.name] == root:
                out[host.name], host_problems = _host_subset(recorder, HostSelection(host, inventory))
                problems.extend(host_problems)
    if problems:
        raise ManifestError(sorted(set(problems)))
    return {name: out[name] for name in inventory.hosts}


def roots(inventory: Inventory, root: str, root_given: bool) -> dict[str, str]:
    return {h.name: host_root(h, root, root_given) for h in inventory.hosts.values()}


@dataclass(frozen=True)
class FleetValidation:
    """What ``validate --inventory`` found: every host's tasks, or the problems that stop
    them (``error``); the inventory's warnings and the manifest look-alikes."""

    subsets: Mapping[str, list[TaskSpec]]  # by host, in inventory order; empty on error
    roots: Mapping[str, str]
    warnings: tuple[str, ...]
    error: ManifestError | None


def validate(directory: str, inventory_path: str, root: str, root_given: bool) -> FleetValidation:
    """Each host's subset of the manifests in ``directory``, checked on its own."""
    inventory = read(inventory_path)
    warnings = tuple(inventory.warnings) + tuple(manifest.look_alikes(directory))
    host_roots = roots(inventory, root, root_given)
    try:
        return FleetValidation(subsets(directory, inventory, host_roots), host_roots, warnings, None)
    except ManifestError as err:
        return FleetValidation({}, host_roots, warnings, err)


@dataclass(frozen=True)
class Overview:
    """What ``hosts`` lists: the inventory, each host's root, and each host's task count
    (None: there is no manifest folder to count in)."""

    inventory: Inventory
    roots: Mapping[str, str]
    counts: Mapping[str, int] | None


def overview(directory: str, inventory_path: str, root: str, root_given: bool) -> Overview:
    inventory = read(inventory_path)
    host_roots = roots(inventory, root, root_given)
    counts = None
    if os.path.isdir(directory):
        counts = {name: len(tasks) for name, tasks in subsets(directory, inventory, host_roots).items()}
    return Overview(inventory, host_roots, counts)
