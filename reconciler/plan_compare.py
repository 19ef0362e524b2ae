"""Does the plan reviewed on a pull request still hold? ``python -m reconciler.plan_compare
REVIEWED.json CURRENT.json`` compares two saved plans (``plan --out``) by what they would
do: the same tasks created, updated and deleted, with the same XML. Unchanged tasks, the
fingerprints of the live state, and what only a key or a secret can see (the marker's
HMAC, a password's HMAC, an update of only those) are left out, since the pull request's
job may not hold the keys: another merge that changed other tasks
does not make a reviewed plan wrong, only a different set of writes does.

Exit 0 when the writes are the same; 1 when they differ or a plan cannot be read, with
one line per difference (for the CI job's summary). The CI example applies the current
plan when they are the same (its fingerprints are minutes old), and otherwise says so
and applies only when strict mode is off (README "In CI")."""
from __future__ import annotations

import json
import re
import sys
from typing import Any, Sequence

from . import names

# Marker members made with a key or a secret the pull request's job may not hold (the
# marker's HMAC under RECONCILE_HMAC_KEY, a password's HMAC): nothing a reviewer reads.
_KEYED = re.compile(r'(?:"|&quot;)(?:sig|pwHmac)(?:"|&quot;):(?:"|&quot;)[0-9a-f]*(?:"|&quot;),?')
# An update that changes only those (a password rotated in a secret, a marker signed once
# the key is set) is not something a pull request can show either.
_KEYED_FIELDS = {"marker", "password"}


def _comparable(xml: str | None) -> str | None:
    return _KEYED.sub("", xml) if xml is not None else None


def _keyed_only(change: dict[str, Any]) -> bool:
    fields = change.get("fields") or []
    return (change.get("action") == "update" and bool(fields)
            and all(isinstance(f, dict) and f.get("field") in _KEYED_FIELDS for f in fields))


def writes(body: dict[str, Any]) -> dict[str, tuple[str, str | None]]:
    """What a saved plan would write: task key -> (action, XML to register, without the
    marker's keyed members)."""
    out: dict[str, tuple[str, str | None]] = {}
    for change in body.get("changes") or []:
        if change.get("action") in ("create", "update", "delete") and not _keyed_only(change):
            key = names.key(str(change["path"])) + ("#old" if change.get("action") == "delete" else "")
            out[key] = (change["action"], _comparable(change.get("xml")))
    return out


def unreviewable(body: dict[str, Any]) -> list[str]:
    """The current plan's updates that only a key or a secret can see, one line each."""
    return [f"{c['path']}: {', '.join(str(f.get('field')) for f in c['fields'])} (not shown on a pull request)"
            for c in body.get("changes") or [] if isinstance(c, dict) and _keyed_only(c)]


def differences(reviewed: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """How the current plan's writes differ from the reviewed one's, one line each."""
    was, now = writes(reviewed), writes(current)
    paths = {names.key(str(c["path"])): str(c["path"]) for body in (reviewed, current)
             for c in body.get("changes") or []}
    out: list[str] = []
    for key in sorted(set(was) | set(now)):
        path = paths.get(key.removesuffix("#old"), key)
        if key not in now:
            out.append(f"{path}: the reviewed plan would {was[key][0]} it; the current plan does not")
        elif key not in was:
            out.append(f"{path}: the current plan would {now[key][0]} it; the reviewed plan did not")
        elif was[key][0] != now[key][0]:
            out.append(f"{path}: reviewed: {was[key][0]}; now: {now[key][0]}")
        elif was[key][1] != now[key][1]:
            out.append(f"{path}: the reviewed plan would {was[key][0]} it differently")
    if names.key(str(reviewed.get("root", ""))) != names.key(str(current.get("root", ""))):
        out.insert(0, f"the reviewed plan is for {reviewed.get('root')}, the current one for {current.get('root')}")
    return out


def _load(path: str) -> dict[str, Any]:
    with open(path, encoding="utf-8") as handle:
        body = json.load(handle)
    if not isinstance(body, dict) or "changes" not in body:
        raise ValueError("not a saved plan")
    return body


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2:
        print("usage: python -m reconciler.plan_compare REVIEWED.json CURRENT.json", file=sys.stderr)
        return 1
    try:
        reviewed, current = _load(args[0]), _load(args[1])
    except (OSError, ValueError) as err:
        print(f"error: cannot compare the plans: {err}", file=sys.stderr)
        return 1
    found = differences(reviewed, current)
    if not found:
        print("The reviewed plan still holds: the current plan makes the same changes.")
        for line in unreviewable(current):
            print(f"- also: {line}")
        return 0
    print("The reviewed plan no longer holds:")
    for line in found:
        print(f"- {line}")
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
