"""The ownership marker: what makes a task ours.

Written into RegistrationInfo, so it lives with the task and survives the manifest's
removal: ``Source`` is ``reconcile.py`` and ``Documentation`` holds compact JSON with
the root, the task's own path, ``protect`` and the hash of the desired canonical form.
A marker counts only when its path is the task's real path (a copied task is not ours).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from lxml import etree

from . import names
from .taskxml import children, localname, text_of

SOURCE = "reconcile.py"
FORMAT = 1


@dataclass(frozen=True)
class Marker:
    root: str
    path: str
    protect: bool
    hash: str
    canonical_version: int = 0  # the normaliser version the hash was made with
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. a password's HMAC

    def dumps(self) -> str:
        body = {"managedBy": SOURCE, "v": FORMAT, "root": self.root, "path": self.path,
                "protect": self.protect, "hash": self.hash, "cv": self.canonical_version,
                **self.extra}
        return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def read(task: etree._Element) -> Marker | None:
    """The marker a task carries, or None if it has none or a malformed one."""
    info = next((c for c in children(task) if localname(c) == "RegistrationInfo"), None)
    if info is None:
        return None
    fields = {localname(c): text_of(c) for c in children(info)}
    if fields.get("Source", "").strip() != SOURCE:
        return None
    try:
        body = json.loads(fields.get("Documentation", ""))
    except ValueError:
        return None
    if not isinstance(body, dict) or body.get("managedBy") != SOURCE:
        return None
    root, path, digest = body.get("root"), body.get("path"), body.get("hash")
    if not (isinstance(root, str) and isinstance(path, str) and isinstance(digest, str)):
        return None
    known = {"managedBy", "v", "root", "path", "protect", "hash", "cv"}
    extra = {k: v for k, v in body.items() if k not in known}
    cv = body.get("cv")
    version = cv if isinstance(cv, int) else 0
    return Marker(root=root, path=path, protect=body.get("protect") is True, hash=digest,
                  canonical_version=version, extra=extra)


def owns(found: Marker | None, live_path: str) -> bool:
    """A marker makes the task managed only at the path it names (case-insensitively,
    as Task Scheduler compares paths)."""
    return found is not None and names.key(found.path) == names.key(live_path)
