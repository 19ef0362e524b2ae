"""The ownership marker: what makes a task ours.

Written into RegistrationInfo, so it lives with the task and survives the manifest's
removal: ``Source`` is ``reconcile.py`` and ``Documentation`` holds compact JSON with
the root, the task's own path, ``protect`` and the hash of the desired canonical form.
A marker counts only when its path is the task's real path (a copied task is not ours)
and its root is the root being reconciled.

Anyone who may create a task in the root can write a marker, so a marker is read as
untrusted input (``inspect``): one that cannot be read, or is nested deeper than ours
ever are, makes the task unmanaged with a warning, never a failed plan. With
``RECONCILE_HMAC_KEY`` set, the marker carries an HMAC under that key (``sig``) and only
markers signed with it count as ours; a marker without one (written before the key was
set) still lets the task's manifest update it, which signs it, but never lets a prune
delete the task (README "Security").
"""
from __future__ import annotations

import hashlib
import hmac
import json
import os
from dataclasses import dataclass, field, replace
from typing import Any, Mapping

from lxml import etree

from . import names
from .taskxml import children, localname, text_of

SOURCE = "reconcile.py"
FORMAT = 1
ENV_KEY = "RECONCILE_HMAC_KEY"
SIGNATURE = "sig"
# Our marker is one flat object (an extra value may hold one more level); anything
# deeper was not written by reconcile.py and is not parsed further.
MAX_DEPTH = 3
MAX_TEXT = 64 * 1024
_KNOWN = {"managedBy", "v", "root", "path", "protect", "hash", "cv", SIGNATURE}


def marker_key(environ: Mapping[str, str] | None = None) -> str | None:
    """RECONCILE_HMAC_KEY, or None when it is not set (or empty)."""
    environ = os.environ if environ is None else environ
    return environ.get(ENV_KEY) or None


def _sign(body: Mapping[str, Any], key: str) -> str:
    text = "reconcile.py marker\n" + json.dumps({k: v for k, v in body.items() if k != SIGNATURE},
                                                sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hmac.new(key.encode("utf-8"), text.encode("utf-8"), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Marker:
    root: str
    path: str
    protect: bool
    hash: str
    canonical_version: int = 0  # the normaliser version the hash was made with
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. a password's HMAC
    # Checked against RECONCILE_HMAC_KEY: True signed with it, False not signed (made
    # before the key was set), None no key in use (nothing to check).
    verified: bool | None = None

    def body(self) -> dict[str, Any]:
        return {"managedBy": SOURCE, "v": FORMAT, "root": self.root, "path": self.path,
                "protect": self.protect, "hash": self.hash, "cv": self.canonical_version,
                **self.extra}

    def dumps(self, key: str | None = None) -> str:
        """The Documentation text, with its HMAC under ``key`` when one is given."""
        body = self.body()
        if key:
            body[SIGNATURE] = _sign(body, key)
        return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True)
class Reading:
    """What a task's RegistrationInfo says about its owner: our marker, or None; and why
    a marker that looked like ours was not taken as one (a warning for the plan)."""

    marker: Marker | None
    problem: str | None = None


def _depth(value: Any) -> int:
    """How deeply ``value`` nests (iteratively: a hostile value must not recurse)."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            deepest = max(deepest, level)
            stack.extend((v, level + 1) for v in item.values())
        elif isinstance(item, list):
            deepest = max(deepest, level)
            stack.extend((v, level + 1) for v in item)
    return deepest


def _fields(task: etree._Element) -> dict[str, str] | None:
    info = next((c for c in children(task) if localname(c) == "RegistrationInfo"), None)
    if info is None:
        return None
    return {localname(c): text_of(c) for c in children(info)}


def _parse(text: str) -> tuple[Marker | None, dict[str, Any], str | None]:
    """The marker in a Documentation text and its JSON body, or why it is not one."""
    try:
        found, body = _marker(text)
    except ValueError as err:
        return None, {}, str(err)
    return found, body, None


def _marker(text: str) -> tuple[Marker, dict[str, Any]]:
    if len(text) > MAX_TEXT:
        raise ValueError(f"its ownership marker is {len(text)} characters long, not one reconcile.py writes")
    try:
        body = json.loads(text)
    except RecursionError:
        raise ValueError("its ownership marker is nested too deeply to be one reconcile.py writes") from None
    except ValueError as err:
        raise ValueError(f"its ownership marker is not valid JSON ({err})") from None
    if not isinstance(body, dict) or body.get("managedBy") != SOURCE:
        raise ValueError("its ownership marker does not say managedBy reconcile.py")
    if _depth(body) > MAX_DEPTH:
        raise ValueError("its ownership marker is nested too deeply to be one reconcile.py writes")
    root, path, digest = body.get("root"), body.get("path"), body.get("hash")
    if not (isinstance(root, str) and isinstance(path, str) and isinstance(digest, str)):
        raise ValueError("its ownership marker lacks the root, path or hash")
    protect = body.get("protect", False)
    if not isinstance(protect, bool):
        raise ValueError("its ownership marker's protect is not true or false")
    version = body.get("cv")
    extra = {k: v for k, v in body.items() if k not in _KNOWN}
    return Marker(root=root, path=path, protect=protect, hash=digest,
                  canonical_version=version if isinstance(version, int) and not isinstance(version, bool) else 0,
                  extra=extra), body


def read(task: etree._Element) -> Marker | None:
    """The marker a task carries, or None if it has none or a malformed one (nothing
    checked against a root or a key: see ``inspect``)."""
    fields = _fields(task)
    if fields is None or fields.get("Source", "").strip() != SOURCE:
        return None
    return _parse(fields.get("Documentation", ""))[0]


def inspect(task: etree._Element, root: str, key: str | None = None) -> Reading:
    """The marker of a task in ``root`` as reconcile.py trusts it: a marker that cannot
    be read, names another root, or (with ``key``) carries a wrong HMAC is no marker,
    with the reason; without a valid HMAC under ``key`` it is ``verified=False``."""
    fields = _fields(task)
    if fields is None or fields.get("Source", "").strip() != SOURCE:
        return Reading(None)
    found, body, problem = _parse(fields.get("Documentation", ""))
    if found is None:
        return Reading(None, f"{problem}: treated as unmanaged")
    if names.key(found.root) != names.key(root):
        return Reading(None, f"its ownership marker names the root {found.root}, not {root}: "
                             "treated as unmanaged")
    if key is None:
        return Reading(found)
    signature = body.get(SIGNATURE)
    if signature is None:
        return Reading(replace(found, verified=False))  # marked before RECONCILE_HMAC_KEY was set
    if not (isinstance(signature, str) and hmac.compare_digest(signature, _sign(body, key))):
        return Reading(None, f"its ownership marker is not signed with {ENV_KEY}: treated as unmanaged")
    return Reading(replace(found, verified=True))


def owns(found: Marker | None, live_path: str) -> bool:
    """A marker makes the task managed only at the path it names (case-insensitively,
    as Task Scheduler compares paths)."""
    return found is not None and names.key(found.path) == names.key(live_path)
