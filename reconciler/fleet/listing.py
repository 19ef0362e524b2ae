"""Views of an inventory: the ``hosts`` table, the CI matrix of ``fleet matrix``, and
what ``validate --inventory`` found (text and JSON)."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Mapping

from .hostvars import hostname, setting, wave
from .inventory import Inventory, InventoryError

if TYPE_CHECKING:
    from .hosts import FleetValidation


@dataclass(frozen=True)
class HostRow:
    host: str
    hostname: str
    groups: tuple[str, ...]
    wave: str
    root: str
    ref: str | None
    tasks: int | None  # None: the manifests were not read


def host_rows(inventory: Inventory, roots: Mapping[str, str], counts: Mapping[str, int] | None) -> list[HostRow]:
    return [HostRow(h.name, hostname(h), h.labels, wave(h), roots[h.name], setting(h, "reconcile_ref"),
                    counts.get(h.name) if counts is not None else None)
            for h in inventory.hosts.values()]


def hosts_text(rows: list[HostRow]) -> str:
    if not rows:
        return "No hosts in the inventory.\n"
    table = [("HOST", "HOSTNAME", "GROUPS", "WAVE", "ROOT", "TASKS")] + [
        (r.host, r.hostname, ", ".join(r.groups) or "-", r.wave, r.root, "-" if r.tasks is None else str(r.tasks))
        for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in table]
    return "\n".join(lines) + "\n"


def hosts_json(rows: list[HostRow]) -> str:
    return json.dumps({"hosts": [asdict(r) for r in rows]}, indent=2, ensure_ascii=False) + "\n"


def waves(inventory: Inventory) -> list[str]:
    """The waves in the order the inventory first names them."""
    return list(dict.fromkeys(wave(h) for h in inventory.hosts.values()))


def matrix(inventory: Inventory, only: str | None = None, *, allow_empty: bool = False,
           waves_run: tuple[str, ...] = ()) -> dict[str, list[dict[str, str]]]:
    """A GitHub Actions ``strategy.matrix``: one ``include`` entry per host (of wave
    ``only``). Every value is text, so ``${{ matrix.X }}`` is never empty by surprise.
    ``allow_empty``: a wave without hosts is ``{"include": []}`` (the workflow skips its
    job) rather than an error; ``waves_run``: the waves a workflow has jobs for, and a
    host in none of them an error (it would never be applied)."""
    _check_waves_run(inventory, waves_run)
    entries = [{"host": h.name, "hostname": hostname(h), "wave": wave(h), "groups": ",".join(h.labels),
                "root": setting(h, "reconcile_root") or "", "ref": setting(h, "reconcile_ref") or ""}
               for h in inventory.hosts.values() if only is None or wave(h) == only]
    if not entries and not (allow_empty and only is not None):
        known = ", ".join(waves(inventory)) or "none"
        raise InventoryError(f"--wave {only}: no host of {inventory.source} is in this wave (waves: {known})"
                             if only is not None else f"{inventory.source}: no hosts")
    return {"include": entries}


def _check_waves_run(inventory: Inventory, waves_run: tuple[str, ...]) -> None:
    if not waves_run:
        return
    left = [h.name for h in inventory.hosts.values() if wave(h) not in waves_run]
    if left:
        raise InventoryError(f"{', '.join(left)}: in no wave this workflow runs ({', '.join(waves_run)}); "
                             f"they would never be applied (waves: {', '.join(waves(inventory))})")


def matrix_json(inventory: Inventory, only: str | None = None, *, allow_empty: bool = False,
                waves_run: tuple[str, ...] = ()) -> str:
    """One line, as ``$GITHUB_OUTPUT`` takes it."""
    found = matrix(inventory, only, allow_empty=allow_empty, waves_run=waves_run)
    return json.dumps(found, separators=(",", ":"), ensure_ascii=False) + "\n"


def validation_text(found: FleetValidation, directory: str, quiet: bool) -> str:
    """A line per host and its task count (not with ``-q``), then the summary line."""
    lines = []
    if not quiet:
        width = max((len(name) for name in found.subsets), default=0)
        lines = [f"  {name:<{width}}  {len(tasks)} task(s)" for name, tasks in found.subsets.items()]
    total = len({t.path.casefold() for tasks in found.subsets.values() for t in tasks})
    lines.append(f"{len(found.subsets)} host(s), {total} task path(s) in {directory}: each host's tasks are valid.")
    return "\n".join(lines) + "\n"


def validation_json(found: FleetValidation, directory: str, inventory: str) -> str:
    """Every host's tasks (path, manifest), or every problem, as ``validate --format
    json`` gives one host's (``format_version`` 1)."""
    body: dict[str, object] = {"format_version": 1, "directory": directory, "inventory": inventory}
    if found.error is not None:
        problems = [{"file": p.path, "line": p.line, "column": p.column, "message": p.message}
                    for p in found.error.problems]
        body.update(valid=False, hosts=[], problems=problems, warnings=list(found.warnings))
    else:
        hosts = [{"host": name, "root": found.roots[name],
                  "tasks": [{"path": t.path, "manifest": str(t.origin)} for t in tasks]}
                 for name, tasks in found.subsets.items()]
        body.update(valid=True, hosts=hosts, problems=[], warnings=list(found.warnings))
    return json.dumps(body, indent=2, ensure_ascii=False) + "\n"
