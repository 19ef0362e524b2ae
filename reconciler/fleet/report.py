"""``fleet report``: every host's saved plan (``plan --host H --out FILE``) or pull-mode
report (``agent run``), merged into one value: a row per inventory host, and the changes
that are identical across hosts grouped, naming the hosts. A host that is missing,
failing or stale makes the whole report not ok: never green by omission.

Reading and merging only; the views are in ``report_views``."""
from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass, field, replace
from typing import Any, Iterable

from ..errors import ReconcileError
from ..model import Action, Change, FieldChange, Plan
from .inventory import Inventory

AGENT_KIND = "reconcile-agent-report"
CLOCK_SKEW = dt.timedelta(minutes=5)  # a report made this far ahead of the reader's clock is still believed


@dataclass(frozen=True)
class TaskLine:
    """One task of a host as the dashboard shows it."""

    path: str
    action: str  # create | update | delete | no-op
    drift: bool = False
    last_result: str | None = None
    last_run: str | None = None
    next_run: str | None = None


@dataclass(frozen=True)
class HostReport:
    """What one file says of one host."""

    host: str
    source: str
    made: dt.datetime | None = None
    kind: str = "plan"  # plan | monitor | apply (the agent's mode)
    plan: Plan | None = None
    commit: str | None = None
    errors: tuple[str, ...] = ()
    applied: dict[str, int] | None = None  # apply mode: counts of what was written
    status: tuple[dict[str, Any], ...] = ()  # status rows of the managed tasks, when read


@dataclass(frozen=True)
class HostRow:
    """One inventory host in the merged report."""

    host: str
    result: str  # no changes | changes | applied | missing | error | conflict | stale | not in inventory
    ok: bool
    report: HostReport | None = None
    note: str = ""

    def count(self, action: Action) -> int | None:
        plan = self.report.plan if self.report is not None else None
        return plan.count(action) if plan is not None else None

    @property
    def drift(self) -> int | None:
        plan = self.report.plan if self.report is not None else None
        return sum(1 for c in plan.changes if c.drift) if plan is not None else None

    @property
    def unmanaged(self) -> int | None:
        plan = self.report.plan if self.report is not None else None
        return len(plan.unmanaged) if plan is not None else None


@dataclass(frozen=True)
class ChangeGroup:
    """One change, identical on every host named."""

    action: Action
    path: str  # below the root: roots may differ between hosts
    fields: tuple[FieldChange, ...]
    drift: bool
    reason: str
    hosts: tuple[str, ...]


@dataclass(frozen=True)
class FleetReport:
    inventory: str
    rows: tuple[HostRow, ...]
    groups: tuple[ChangeGroup, ...]
    hosts: tuple[str, ...]  # every inventory host, in order
    made: dt.datetime
    warnings: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return all(row.ok for row in self.rows)


# --- reading --------------------------------------------------------------------------------

def _files(sources: Iterable[str]) -> list[str]:
    found: list[str] = []
    for source in sources:
        if os.path.isdir(source):
            for folder, dirs, files in os.walk(source):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                found.extend(os.path.join(folder, f) for f in sorted(files)
                             if f.endswith(".json") and not f.startswith("."))
        elif os.path.exists(source):
            found.append(source)
        else:
            raise ReconcileError(f"{source}: no such file or folder")
    return found


def _time(text: Any) -> dt.datetime | None:
    if not isinstance(text, str):
        return None
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.timezone.utc)


def plan_from_dict(body: dict[str, Any]) -> Plan:
    """A Plan from its JSON view (``plan_json.as_dict``; the XML is not needed here)."""
    changes = tuple(
        Change(path=c["path"], action=Action(c["action"]), reason=c.get("reason", ""),
               before=c.get("before"), after=c.get("after"), drift=bool(c.get("drift")),
               fields=tuple(FieldChange(f["field"], f.get("before"), f.get("after")) for f in c.get("fields", ())),
               origin=c.get("manifest"), protect=bool(c.get("protect")))
        for c in body.get("changes", ()))
    return Plan(root=body["root"], changes=changes, unmanaged=tuple(body.get("unmanaged", ())),
                protected=tuple(body.get("protected", ())), conflicts=tuple(body.get("conflicts", ())),
                warnings=tuple(body.get("warnings", ())))


def _stem(path: str) -> str:
    return os.path.splitext(os.path.basename(path))[0]


def read_file(path: str) -> HostReport:
    """One saved plan or agent report. A file that cannot be read is a report of a
    failing host (named after the file), never skipped."""
    host = _stem(path)
    try:
        with open(path, encoding="utf-8") as handle:
            body = json.load(handle)
        if not isinstance(body, dict):
            raise ValueError("not a JSON object")
        if body.get("kind") == AGENT_KIND:
            return _agent_report(path, body)
        fleet = body.get("fleet")
        origin: dict[str, Any] = fleet if isinstance(fleet, dict) else {}
        host = str(origin.get("host") or host)
        return HostReport(host=host, source=path, made=_time(origin.get("made")), plan=_checked(plan_from_dict(body)))
    except (OSError, ValueError, LookupError, TypeError, AttributeError, RecursionError) as err:
        # RecursionError: JSON nested deeper than the parser's stack; the others: a body
        # of the wrong shape. Either is this host's failure, never the whole report's.
        reason = err.strerror if isinstance(err, OSError) else (str(err) or type(err).__name__)
        return HostReport(host=host, source=path, errors=(f"{path}: not a readable plan or report ({reason})",))


def _checked(plan: Plan) -> Plan:
    """``plan`` if the merge can use it: text where text is shown, field values that can
    be compared across hosts (a TypeError otherwise, which ``read_file`` reports)."""
    for change in plan.changes:
        if not isinstance(change.path, str) or not isinstance(change.reason, str):
            raise TypeError(f"a change's path or reason is not text: {change.path!r}")
        hash(change.fields)
    if not isinstance(plan.root, str) or not all(isinstance(c, str) for c in plan.conflicts):
        raise TypeError("the root or a conflict is not text")
    return plan


def _agent_report(path: str, body: dict[str, Any]) -> HostReport:
    plan = _checked(plan_from_dict(body["plan"])) if isinstance(body.get("plan"), dict) else None
    return HostReport(
        host=str(body.get("host") or _stem(path)), source=path, made=_time(body.get("started")),
        kind=str(body.get("mode") or "monitor"), plan=plan,
        commit=body["commit"] if isinstance(body.get("commit"), str) else None,
        errors=tuple(str(e) for e in body.get("errors") or ()),
        applied=body.get("applied") if isinstance(body.get("applied"), dict) else None,
        status=tuple(r for r in body.get("status") or () if isinstance(r, dict)))


def read_sources(sources: Iterable[str]) -> list[HostReport]:
    return [read_file(path) for path in _files(sources)]


# --- merging --------------------------------------------------------------------------------

def _newest(reports: list[HostReport], now: dt.datetime) -> HostReport:
    """The host's newest report; one made in the future (past the skew allowed) wins
    instead, as the host's error: it would otherwise always be the newest and never
    stale, and hide every later report."""
    epoch = dt.datetime.min.replace(tzinfo=dt.timezone.utc)
    future = [r for r in reports if r.made is not None and r.made - now > CLOCK_SKEW]
    if future:
        report = max(future, key=lambda r: r.made or epoch)
        said = report.made.isoformat(timespec="seconds") if report.made else "?"
        return replace(report, errors=(f"{report.source}: made in the future ({said}): clock skew?",
                                       *report.errors))
    return max(reports, key=lambda r: r.made or epoch)


def _row(host: str, report: HostReport | None, stale_after: dt.timedelta, now: dt.datetime) -> HostRow:
    if report is None:
        return HostRow(host, "missing", False, note="no plan or report for this host")
    if report.errors:
        return HostRow(host, "error", False, report, note=report.errors[0])
    plan = report.plan
    if plan is None:
        return HostRow(host, "error", False, report, note="the report has no plan")
    if report.made is not None and now - report.made > stale_after:
        age = _age(now - report.made)
        return HostRow(host, "stale", False, report, note=f"made {age} ago")
    if report.made is None:
        return HostRow(host, "stale", False, report, note="the plan says not when it was made (plan --host --out)")
    if plan.conflicts:
        return HostRow(host, "conflict", False, report, note=plan.conflicts[0])
    if report.kind == "apply" and report.applied is not None:
        return HostRow(host, "applied" if plan.has_changes else "no changes", True, report)
    return HostRow(host, "changes" if plan.has_changes else "no changes", True, report)


def _age(delta: dt.timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes < 120:
        return f"{minutes}m"
    if minutes < 48 * 60:
        return f"{minutes // 60}h"
    return f"{minutes // (24 * 60)}d"


def _relative(path: str, root: str) -> str:
    return path[len(root):] if path.casefold().startswith(root.casefold()) else path


def _groups(rows: list[HostRow], strangers: Iterable[str] = ()) -> list[ChangeGroup]:
    grouped: dict[tuple[Any, ...], list[str]] = {}
    first: dict[tuple[Any, ...], Change] = {}
    for row in rows:
        plan = row.report.plan if row.report is not None else None
        if plan is None or not row.ok or row.host in strangers:
            continue
        for change in plan.changes:
            if change.action is Action.NOOP:
                continue
            # Two creates are the same change only if they create the same task.
            made = json.dumps(change.after, sort_keys=True) if change.action is Action.CREATE else None
            key = (change.action, _relative(change.path, plan.root).casefold(), change.fields, change.drift, made)
            grouped.setdefault(key, []).append(row.host)
            first.setdefault(key, change)
    out = []
    for key, hosts in grouped.items():
        change = first[key]
        plan_root = next(r.report.plan.root for r in rows if r.host == hosts[0]
                         and r.report is not None and r.report.plan is not None)
        out.append(ChangeGroup(change.action, _relative(change.path, plan_root), change.fields,
                               change.drift, _shared_reason(change.reason, hosts), tuple(hosts)))
    order = {Action.DELETE: 0, Action.UPDATE: 1, Action.CREATE: 2}
    return sorted(out, key=lambda g: (g.path.casefold(), order.get(g.action, 3), -len(g.hosts)))


def _shared_reason(reason: str, hosts: list[str]) -> str:
    """A reason that names the first host (``no manifest targets host srv-a01``) said
    of them all, since the group names them."""
    named = f"host {hosts[0]}"
    return reason.replace(named, "these hosts") if len(hosts) > 1 and reason.endswith(named) else reason


def merge(inventory: Inventory, reports: list[HostReport], *, stale_after: dt.timedelta,
          now: dt.datetime) -> FleetReport:
    """One row per inventory host (its newest report); reports of hosts the inventory
    does not have are listed after them, as a warning."""
    by_host: dict[str, list[HostReport]] = {}
    known = {name.casefold(): name for name in inventory.hosts}
    for report in reports:
        by_host.setdefault(known.get(report.host.casefold(), report.host), []).append(report)
    rows = [_row(name, _newest(by_host[name], now) if name in by_host else None, stale_after, now)
            for name in inventory.hosts]
    strangers = [name for name in by_host if name not in inventory.hosts]
    rows += [HostRow(name, "not in inventory", True, _newest(by_host[name], now)) for name in strangers]
    warnings = tuple(f"{name}: a report for a host {inventory.source} does not have" for name in strangers)
    return FleetReport(inventory.source, tuple(rows), tuple(_groups(rows, strangers)), tuple(inventory.hosts), now, warnings)


# --- a host's tasks, for the dashboard ---------------------------------------------------------

def task_lines(report: HostReport, now: dt.datetime) -> list[TaskLine]:
    """Each task of the host: what the plan does to it, and what the status rows say
    of its runs; without status rows, the next run comes from the task's definition
    (``now``: the machine's local wall-clock time, naive)."""
    from .. import simulate

    plan = report.plan
    status = {str(r.get("path", "")).casefold(): r for r in report.status}
    lines = []
    for change in plan.changes if plan is not None else ():
        row: dict[str, Any] = status.get(change.path.casefold()) or {}
        next_run = row.get("next_run")
        definition = change.after or change.before
        if next_run is None and definition and change.action is not Action.DELETE and not row:
            try:
                upcoming = simulate.next_runs(definition, now, 1)
            except (LookupError, TypeError, ValueError, AttributeError):  # a damaged file's definition
                upcoming = []
            next_run = upcoming[0].isoformat(sep=" ", timespec="minutes") if upcoming else None
        lines.append(TaskLine(change.path, change.action.value, change.drift,
                              row.get("last_result_text"), row.get("last_run"), next_run))
    return lines


def report(inventory_path: str, sources: Iterable[str], *, stale_after: dt.timedelta,
           now: dt.datetime) -> FleetReport:
    """``fleet report``: the inventory read, every plan or report in ``sources`` read and
    merged against it."""
    from .inventory import read

    return merge(read(inventory_path), read_sources(sources), stale_after=stale_after, now=now)
