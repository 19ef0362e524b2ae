"""Saved plans (``plan --out``): the plan as JSON with the XML to register and a
fingerprint of every live task it read, so ``apply --plan`` can refuse a stale plan
and name the task that moved (terraform's "saved plan is stale").

A saved plan is data from outside (a CI artifact, a shared folder): ``apply --plan``
checks each change against the live state it reads (``check_ownership``), and with
``RECONCILE_PLAN_KEY`` set it accepts only a plan signed with that key (README
"Security")."""
from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from typing import Any, Mapping

from . import names
from .errors import ReconcileError, StalePlanError
from .model import Action, Change, FieldChange, Plan
from .plan_json import FORMAT_VERSION, as_dict


ENV_KEY = "RECONCILE_PLAN_KEY"
_SIGNED_CONTENT = ("format_version", "root", "backend", "changes", "fingerprints", "conflicts")
_SIGNATURE_PREFIX = "hmac-sha256:"


def plan_key(environ: Mapping[str, str] | None = None) -> str | None:
    """The key saved plans are signed with (``RECONCILE_PLAN_KEY``); None when it is not
    set or empty (an unset CI secret arrives as an empty string)."""
    environ = os.environ if environ is None else environ
    return environ.get(ENV_KEY) or None


def _canonical(body: dict[str, Any], keys: tuple[str, ...]) -> str:
    content = {k: body.get(k) for k in keys}
    if "fleet" in body:  # the host a plan is for is part of what it does (apply --host checks it)
        content["fleet"] = body["fleet"]
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _digest(body: dict[str, Any]) -> str:
    """A checksum of what a saved plan would do: an edited plan is refused. Anyone can
    recompute it: it catches accidents, not forgeries (that is the signature's job)."""
    import hashlib

    text = _canonical(body, ("root", "backend", "changes", "fingerprints"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def signature(body: dict[str, Any], key: str) -> str:
    """HMAC-SHA256 of what the plan would do, under ``key``: only a holder of the key can
    make a plan that ``apply --plan`` accepts while the key is set."""
    import hashlib
    import hmac

    text = "reconcile.py saved plan\n" + _canonical(body, _SIGNED_CONTENT)
    return _SIGNATURE_PREFIX + hmac.new(key.encode("utf-8"), text.encode("utf-8"), hashlib.sha256).hexdigest()


def save(plan: Plan, path: str, backend: str, key: str | None = None,
         fleet: Mapping[str, Any] | None = None) -> None:
    """Write the plan as ``apply --plan`` reads it, signed when ``key`` is given;
    ``fleet``: the inventory host it is for and when it was made (``fleet report``)."""
    body = as_dict(plan, with_xml=True)
    body["backend"] = backend
    if fleet:  # the host it is for (fleet report); what apply executes is under the digest
        body["fleet"] = dict(fleet)
    body["fingerprints"] = plan.fingerprints
    body["digest"] = _digest(body)
    if key:
        body["signature"] = signature(body, key)
    text = json.dumps(body, indent=2, ensure_ascii=False) + "\n"
    directory = os.path.dirname(os.path.abspath(path))
    handle, temp = tempfile.mkstemp(dir=directory, prefix=".plan-")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(temp, path)
    except OSError as err:
        raise ReconcileError(f"{path}: cannot write the plan: {err.strerror}") from None
    finally:
        if os.path.exists(temp):
            os.unlink(temp)


@dataclass(frozen=True)
class SavedPlan:
    plan: Plan
    backend: str  # the backend it was made for ("" if it does not say)
    signed: bool  # its signature was checked against RECONCILE_PLAN_KEY
    host: str | None = None  # the inventory host it was made for (plan --host), if any


def _check_signature(path: str, body: dict[str, Any], key: str | None) -> bool:
    """Whether the plan carries a valid signature; raises when it must be refused.

    The rule never lets a forged plan through: with a key set, only a plan signed with
    that key passes (an unsigned one may be a signed plan with its signature removed);
    without a key, a signed plan is refused too, since its signature cannot be checked
    and the apply would silently lose the protection it was signed for."""
    import hmac

    found = body.get("signature")
    if key is None:
        if found is not None:
            raise ReconcileError(f"{path}: the saved plan is signed, but {ENV_KEY} is not set, so its "
                                 f"signature cannot be checked; set {ENV_KEY} to the key plan --out used")
        return False
    if found is None:
        raise ReconcileError(f"{path}: the saved plan is not signed and {ENV_KEY} is set: an unsigned plan "
                             f"cannot be told from a forged one; run plan --out again with {ENV_KEY} set")
    if not (isinstance(found, str) and hmac.compare_digest(found, signature(body, key))):
        raise ReconcileError(f"{path}: the saved plan's signature does not match {ENV_KEY}: it was edited "
                             "after it was made, or signed with another key; refused")
    return True


def load(path: str, key: str | None = None) -> SavedPlan:
    """The plan, the backend it was made for, and whether its signature was checked
    (``key``: RECONCILE_PLAN_KEY, see ``_check_signature``)."""
    try:
        with open(path, encoding="utf-8") as handle:
            body = json.load(handle)
    except OSError as err:
        raise ReconcileError(f"{path}: cannot read the plan: {err.strerror}") from None
    except (ValueError, RecursionError) as err:
        raise ReconcileError(f"{path}: not a saved plan (invalid JSON: {err})") from None
    if not isinstance(body, dict) or body.get("format_version") != FORMAT_VERSION:
        raise ReconcileError(f"{path}: not a saved plan of format version {FORMAT_VERSION}")
    if "fingerprints" not in body:
        raise ReconcileError(f"{path}: this plan was not saved with --out (it has no fingerprints)")
    signed = _check_signature(path, body, key)
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
        if not (isinstance(change.path, str) and isinstance(change.reason, str)
                and isinstance(change.xml, (str, type(None)))):
            raise ReconcileError(f"{path}: the saved plan is damaged (a change's path, reason or XML is not text)")
        if change.action in (Action.CREATE, Action.UPDATE) and not change.xml:
            raise ReconcileError(f"{path}: the saved plan has no XML for {change.path}")
        if change.replaces is not None and not _is_rename(change, plan.changes):
            raise ReconcileError(f"{path}: the saved plan is damaged ({change.path} replaces {change.replaces}, "
                                 "which is not a rename of its name's case with the old name deleted)")
        if not names.is_under(change.path, plan.root) or any(
                names.segment_problem(s) for s in change.path[len(plan.root):].split("\\")):
            raise ReconcileError(f"{path}: {change.path} is not a task path under the plan's root {plan.root}")
    fleet = body.get("fleet")
    host = fleet.get("host") if isinstance(fleet, dict) else None
    return SavedPlan(plan, str(body.get("backend", "")), signed, host if isinstance(host, str) else None)


def _is_rename(change: Change, changes: tuple[Change, ...]) -> bool:
    """``replaces`` as plan writes it: a create whose old name differs only in case, with
    exactly one delete of that old name in the same plan."""
    if not (change.action is Action.CREATE and isinstance(change.replaces, str)
            and change.replaces != change.path and names.key(change.replaces) == names.key(change.path)):
        return False
    return sum(1 for c in changes if c.action is Action.DELETE and c.path == change.replaces) == 1


_UNSIGNED_ADOPTION = ("adopting a task through a saved plan needs a signed plan: set {env} for both "
                      "plan --out and apply --plan, or apply from the manifests (apply without --plan)")


def _check_written_marker(change: Change, root: str) -> None:
    """The XML a saved plan registers must carry our marker for that very path and root
    (the marker is what keeps the task ours, and nobody else's, later)."""
    from .marker import read
    from .taskxml import parse

    assert change.xml is not None
    try:
        written = read(parse(change.xml, change.path))
    except ReconcileError:
        written = None
    if (written is None or names.key(written.path) != names.key(change.path)
            or names.key(written.root) != names.key(root)):
        raise StalePlanError(f"the saved plan would register {change.path} without its ownership "
                             "marker; refused")


def check_ownership(plan: Plan, actual: list[Any], signed: bool = False) -> None:
    """What a saved plan writes is checked against the live state read now, whatever
    the plan says: it deletes and updates only tasks this tool owns now (it never deletes
    a protected one, nor one whose marker is unsigned under RECONCILE_HMAC_KEY: that one
    its manifest may still update, which signs it; README "Security"), creates
    only where no task is, and registers only XML that carries our marker for its path.
    Taking over a task that is not ours (``adopt``, and the delete half of an adopted
    task's case-only rename) needs a plan whose signature was checked (``signed``)."""
    from .marker import owns

    live = {names.key(a.path): a for a in actual}
    # Only a real case-only rename (``load`` checked the pairing) lets a create stand where
    # a task is, and then only the create that names it and the delete of that very path.
    renamed = {names.key(c.path) for c in plan.changes if c.action is Action.CREATE and c.replaces}
    for change in plan.changes:
        if change.action is Action.NOOP:
            continue
        current = live.get(names.key(change.path))
        if change.xml is not None:
            _check_written_marker(change, plan.root)
        if change.action is Action.CREATE:
            if current is not None and not change.replaces:
                raise StalePlanError(f"the saved plan would overwrite {change.path}, which exists; refused")
            continue
        if current is None:
            raise StalePlanError(f"the saved plan names {change.path}, which does not exist; run plan again")
        if change.action is Action.DELETE:
            _check_delete(change, current, signed and names.key(change.path) in renamed)
        elif not owns(current.marker, current.path):
            _check_adoption(change, signed)


def _check_delete(change: Change, current: Any, adopted_rename: bool) -> None:
    """Only a task we own, unprotected, whose marker is not merely unsigned (or the old
    name of an adopted task whose name's case changed, in a signed plan)."""
    from .marker import owns

    found = current.marker
    if owns(found, current.path) and not found.protect and found.verified is not False:
        return
    if adopted_rename and not owns(found, current.path):
        return
    raise StalePlanError(f"the saved plan would delete {change.path}, which reconcile.py does not "
                         "own or which is protected; refused")


def _check_adoption(change: Change, signed: bool) -> None:
    if not change.reason.startswith("adopt"):
        raise StalePlanError(f"the saved plan would change {change.path}, which reconcile.py does not "
                             "own; refused")
    if not signed:
        raise StalePlanError(f"the saved plan would take over {change.path}, which reconcile.py does "
                             "not own; " + _UNSIGNED_ADOPTION.format(env=ENV_KEY))


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

