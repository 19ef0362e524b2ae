"""plan(desired, actual) -> Plan. Pure: no I/O, no clock.

Rules (README "Ownership, adoption and drift", "Plan output"):
- a desired task with no live task at its path is created;
- a managed live task (its marker names its own path) is updated when its canonical
  form differs from the desired one, with drift noted when the live task no longer
  matches the hash written at the last apply (someone edited it on the machine);
- a live task without a valid marker is unmanaged: listed, never changed or deleted,
  unless the manifest at its path says ``adopt: true``; without it, a conflict;
- a managed live task without a manifest is deleted, unless it carries protect;
- a change of the name's case only is a delete and a create (Task Scheduler cannot
  rename); folder segments cannot be renamed at all, so their case is not compared.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from . import diff, names
from .marker import Marker, owns
from .model import Action, Change, FieldChange, Plan, TaskSpec
from .normalize import VERSION as NORMALIZER_VERSION, fingerprint
from .render import Rendered


@dataclass(frozen=True)
class Desired:
    spec: TaskSpec
    rendered: Rendered
    # HMAC of the task's password (RECONCILE_HMAC_KEY set, password known), also in the
    # rendered marker: a changed password is seen although it cannot be read back.
    password_hmac: str | None = None


@dataclass(frozen=True)
class Actual:
    path: str
    canonical: dict[str, Any]
    marker: Marker | None
    fingerprint: str  # of the task as read, to detect changes before a saved plan applies
    note: str | None = None  # why a marker it carries was not taken as ours (a warning)


def _name_case_differs(desired: str, live: str) -> bool:
    return desired.rsplit("\\", 1)[-1] != live.rsplit("\\", 1)[-1]


def _marker_changes(item: Desired, found: Marker | None, update_passwords: bool) -> list[FieldChange]:
    out = []
    spec = item.spec
    if found is not None and found.protect != spec.protect:
        out.append(FieldChange("protect", diff.show(found.protect), diff.show(spec.protect)))
    if found is not None and found.verified is False:
        # Marked before RECONCILE_HMAC_KEY was set: its manifest claims it, so it is
        # written again, with a signed marker.
        out.append(FieldChange("marker", "(not signed)", "(signed with RECONCILE_HMAC_KEY)"))
    if spec.principal.password_env:
        # Passwords are never shown: only that one changed (or is being set again).
        if update_passwords:
            out.append(FieldChange("password", "(stored)", "(set again: --update-passwords)"))
        elif item.password_hmac and (found is None or found.extra.get("pwHmac") != item.password_hmac):
            out.append(FieldChange("password", "(stored)", f"(changed in {spec.principal.password_env})"))
    return out


def _marker_reason(fields: list[FieldChange]) -> str:
    """The reason of an update that changes only what the marker or password holds."""
    kinds = {f.field for f in fields}
    if "password" in kinds:
        return "password"
    return "protect changed" if "protect" in kinds else "sign the ownership marker"


def _create(item: Desired, replaces: str | None = None) -> Change:
    return Change(
        path=item.spec.path, action=Action.CREATE,
        reason="replaces " + replaces + " (the name's case changed)" if replaces else "new task",
        after=item.rendered.canonical, xml=item.rendered.xml, origin=str(item.spec.origin.file),
        protect=item.spec.protect, password_env=item.spec.principal.password_env, replaces=replaces,
    )


def _gone(host: str | None) -> str:
    """Why a managed task no desired task matches is pruned: with a fleet host, its
    manifest may be there but target other hosts."""
    return f"no manifest targets host {host}" if host else "its manifest is gone"


def plan(desired: list[Desired], actual: list[Actual], root: str, *, update_passwords: bool = False,
         host: str | None = None) -> Plan:
    """``host``: the fleet host the desired tasks were selected for (a task no manifest
    targets at it is pruned because of that, not only because a manifest is gone)."""
    live_by_key = {names.key(a.path): a for a in actual}
    matched: set[str] = set()
    changes: list[Change] = []
    conflicts: list[str] = []

    for item in sorted(desired, key=lambda d: names.key(d.spec.path)):
        spec = item.spec
        key = names.key(spec.path)
        live = live_by_key.get(key)
        if live is None:
            changes.append(_create(item))
            continue
        matched.add(key)
        managed = owns(live.marker, live.path)
        if not managed and not spec.adopt:
            conflicts.append(
                f"{spec.origin}: {live.path} already exists and is not managed by reconcile.py; "
                "add 'adopt: true' to its metadata to take it over, or choose another name"
            )
            continue
        if _name_case_differs(spec.path, live.path):
            changes.append(Change(path=live.path, action=Action.DELETE,
                                  reason=f"renamed to {spec.path} (the name's case changed)",
                                  before=live.canonical, origin=str(spec.origin.file)))
            changes.append(_create(item, replaces=live.path))
            continue
        after = item.rendered.canonical
        fields = diff.changes(live.canonical, after)
        # Drift: the live task no longer matches what the last apply wrote. Only a hash
        # made by this normaliser version can tell (and only a changed task can drift).
        drift = bool(fields) and (managed and live.marker is not None
                                  and live.marker.canonical_version == NORMALIZER_VERSION
                                  and fingerprint(live.canonical) != live.marker.hash)
        if managed:
            fields += _marker_changes(item, live.marker, update_passwords)
        if not fields:
            reason = "adopted: the live task already matches" if not managed else "up to date"
            changes.append(Change(path=live.path, action=Action.NOOP, reason=reason,
                                  before=live.canonical, after=after, origin=str(spec.origin.file),
                                  protect=spec.protect))
            continue
        if not managed:
            reason = "adopt: take over the existing task"
        elif drift and live.marker is not None and live.marker.hash != item.rendered.hash:
            reason = "changed in the manifests and on the machine"
        elif drift:
            reason = "drift: changed on the machine since the last apply"
        elif not [f for f in fields if f.field not in ("protect", "password", "marker")]:
            reason = _marker_reason(fields)
        else:
            reason = "manifest changed"
        changes.append(Change(
            path=live.path, action=Action.UPDATE, reason=reason, before=live.canonical, after=after,
            fields=tuple(fields), drift=drift, xml=item.rendered.xml, origin=str(spec.origin.file),
            protect=spec.protect, password_env=spec.principal.password_env,
        ))

    unmanaged: list[str] = []
    protected: list[str] = []
    warnings: list[str] = []
    for key, live in sorted(live_by_key.items()):
        if key in matched:
            continue
        if not owns(live.marker, live.path):
            unmanaged.append(live.path)
        elif live.marker is not None and live.marker.verified is False:
            # Never deleted on the word of a marker nobody signed (README "Security").
            unmanaged.append(live.path)
            warnings.append(f"{live.path}: its ownership marker is not signed (made before "
                            "RECONCILE_HMAC_KEY was set) and no manifest describes it, so it is left "
                            "alone; delete it by hand, or add its manifest back to keep it")
        elif live.marker is not None and live.marker.protect:
            protected.append(live.path)
        else:
            changes.append(Change(path=live.path, action=Action.DELETE,
                                  reason=_gone(host), before=live.canonical))

    return Plan(
        root=root,
        changes=tuple(changes),
        unmanaged=tuple(unmanaged),
        protected=tuple(protected),
        conflicts=tuple(conflicts),
        fingerprints={a.path: a.fingerprint for a in sorted(actual, key=lambda a: names.key(a.path))},
        warnings=tuple(warnings),
    )
