"""Saved plans (``plan --out``): the plan as JSON with the XML to register and a
fingerprint of every live task it read, so ``apply --plan`` can refuse a stale plan
and name the task that moved (terraform's "saved plan is stale")."""
from __future__ import annotations

import json
import os
import tempfile
from typing import Any

from . import names
from .errors import ReconcileError, StalePlanError
from .model import Action, Change, FieldChange, Plan
from .report import FORMAT_VERSION, as_dict


def _digest(body: dict[str, Any]) -> str:
    """A checksum of what a saved plan would do: an edited plan is refused."""
    import hashlib

    content = {k: body.get(k) for k in ("root", "backend", "changes", "fingerprints")}
    text = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def save(plan: Plan, path: str, backend: str) -> None:
    body = as_dict(plan, with_xml=True)
    body["backend"] = backend
    body["fingerprints"] = plan.fingerprints
    body["digest"] = _digest(body)
    text = json.dumps(body, indent=2, ensure_ascii=False) + "\n"
    directory = os.path.dirname(os.path.abspath(path))
    handle, temp = tempfile.mkstemp(dir=directory, prefix=".plan-")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(temp, path)
    except OSError as err:
        if os.path.exists(temp):
            os.unlink(temp)
        raise ReconcileError(f"{path}: cannot write the plan: {err.strerror}") from None


def load(path: str) -> tuple[Plan, str]:
    """The plan and the backend it was made for."""
    try:
        with open(path, encoding="utf-8") as handle:
            body = json.load(handle)
    except OSError as err:
        raise ReconcileError(f"{path}: cannot read the plan: {err.strerror}") from None
    except ValueError as err:
        raise ReconcileError(f"{path}: not a saved plan (invalid JSON: {err})") from None
    if not isinstance(body, dict) or body.get("format_version") != FORMAT_VERSION:
        raise ReconcileError(f"{path}: not a saved plan of format version {FORMAT_VERSION}")
    if "fingerprints" not in body:
        raise ReconcileError(f"{path}: this plan was not saved with --out (it has no fingerprints)")
    if body.get("digest") != _digest(body):
        raise ReconcileError(f"{path}: the saved plan was edited after it was made (its digest does not "
                             "match); run plan --out again")
    try:
        changes = tuple(
            Change(
                path=c["path"], action=Action(c["action"]), reason=c["reason"],
                before=c.get("before"), after=c.get("after"),
                fields=tuple(FieldChange(f["field"], f["before"], f["after"], f.get("before_value"),
                                         f.get("after_value")) for f in c["fields"]),
                drift=c.get("drift", False), xml=c.get("xml"), origin=c.get("manifest"),
                protect=c.get("protect", False), password_env=c.get("password_env"),
                replaces=c.get("replaces"),
            )
            for c in body["changes"]
        )
        plan = Plan(root=body["root"], changes=changes, unmanaged=tuple(body["unmanaged"]),
                    protected=tuple(body.get("protected", ())), conflicts=tuple(body["conflicts"]),
                    fingerprints=dict(body["fingerprints"]))
    except (KeyError, TypeError, ValueError) as err:
        raise ReconcileError(f"{path}: the saved plan is damaged ({err})") from None
    for change in plan.changes:
        if change.action in (Action.CREATE, Action.UPDATE) and not change.xml:
            raise ReconcileError(f"{path}: the saved plan has no XML for {change.path}")
        if not names.is_under(change.path, plan.root) or any(
                names.segment_problem(s) for s in change.path[len(plan.root):].split("\\")):
            raise ReconcileError(f"{path}: {change.path} is not a task path under the plan's root {plan.root}")
    return plan, body.get("backend", "")


def check_ownership(plan: Plan, actual: list[Any]) -> None:
    """What a saved plan writes must be what a plan made now may write: deletes and
    updates of tasks this tool owns (or, for an update, one a manifest adopts: its XML
    carries our marker for that very path), creates only where no task is."""
    from .marker import owns, read
    from .taskxml import parse

    live = {names.key(a.path): a for a in actual}
    renamed = {names.key(c.replaces) for c in plan.changes if c.replaces}
    for change in plan.changes:
        if change.action is Action.NOOP:
            continue
        current = live.get(names.key(change.path))
        if change.xml is not None:
            written = read(parse(change.xml, change.path))
            if written is None or names.key(written.path) != names.key(change.path):
                raise StalePlanError(f"the saved plan would register {change.path} without its ownership "
                                     "marker; refused")
        if change.action is Action.CREATE:
            if current is not None and names.key(change.path) not in renamed:
                raise StalePlanError(f"the saved plan would overwrite {change.path}, which exists; refused")
            continue
        if current is None:
            raise StalePlanError(f"the saved plan names {change.path}, which does not exist; run plan again")
        managed = owns(current.marker, current.path)
        if change.action is Action.DELETE and (not managed or current.marker.protect):
            raise StalePlanError(f"the saved plan would delete {change.path}, which reconcile.py does not "
                                 "own or which is protected; refused")
        if change.action is Action.UPDATE and not managed and not change.reason.startswith("adopt"):
            raise StalePlanError(f"the saved plan would change {change.path}, which reconcile.py does not "
                                 "own; refused")


def check_fresh(plan: Plan, now: dict[str, str]) -> None:
    """Refuse the plan if any task in the root was added, removed or changed since."""
    before = {names.key(p): (p, f) for p, f in plan.fingerprints.items()}
    after = {names.key(p): (p, f) for p, f in now.items()}
    for key in sorted(set(before) | set(after)):
        if key not in after:
            raise StalePlanError(f"the saved plan is stale: {before[key][0]} was removed since it was "
                                 "made; run plan again")
        if key not in before:
            raise StalePlanError(f"the saved plan is stale: {after[key][0]} was added since it was "
                                 "made; run plan again")
        if before[key][1] != after[key][1]:
            raise StalePlanError(f"the saved plan is stale: {after[key][0]} changed since it was "
                                 "made; run plan again")


def plan_body(plan: Plan) -> dict[str, Any]:  # pragma: no cover - convenience for tests
    return as_dict(plan, with_xml=True)
