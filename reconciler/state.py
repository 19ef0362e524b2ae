"""Live state -> planner input: every task in the root parsed into its canonical form and
marker. A task in the root that cannot be parsed stops the run (a plan made from a
partial view could delete or overwrite what it did not see)."""
from __future__ import annotations

import hashlib
from typing import Any

from . import marker, names, normalize
from .backends.base import State
from .errors import PartialReadError, ReconcileError
from .planner import Actual
from .taskxml import TaskXmlError, localname, parse


def live_fingerprint(xml: str) -> str:
    """A task's fingerprint as read: any edit on the machine changes it."""
    text = xml.replace("\r\n", "\n").strip()
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def body(xml: str) -> str:
    """Task XML without its declaration and with LF line ends: two texts with the same
    body are the same task, byte for byte."""
    text = xml.lstrip("\ufeff").replace("\r\n", "\n").strip()
    if text.startswith("<?xml"):
        text = text.split("?>", 1)[1].lstrip()
    return text


def actual_tasks(state: State, root: str, resolve: normalize.Resolver,
                 known: dict[str, Any] | None = None, marker_key: str | None = None) -> list[Actual]:
    """``known``: the Rendered manifests by ``body(xml)``: a live task whose text is
    exactly what was rendered is that task (its canonical form and marker are known) and
    needs no second reading. Anything else is parsed and canonicalised, and its marker
    read as untrusted (``marker.inspect``: the root must match; with ``marker_key``,
    RECONCILE_HMAC_KEY, only markers signed with it count)."""
    out: list[Actual] = []
    known = known or {}
    for key, live in sorted(state.tasks.items()):
        if not names.is_under(live.path, root):
            continue  # defence in depth: backends filter already
        same = known.get(body(live.xml))
        if same is not None:
            out.append(Actual(path=live.path, canonical=same.canonical, marker=same.marker,
                              fingerprint=live_fingerprint(live.xml)))
            continue
        try:
            element = parse(live.xml, live.path)
            if localname(element) != "Task":
                raise TaskXmlError(f"<{localname(element)}> is not a task")
            canonical = normalize.canonical(element, resolve)
        except ReconcileError as err:
            raise PartialReadError(
                f"{live.path}: cannot read this task, so nothing was changed: {err}"
            ) from None
        reading = marker.inspect(element, root, marker_key)
        out.append(Actual(path=live.path, canonical=canonical, marker=reading.marker,
                          fingerprint=live_fingerprint(live.xml), note=reading.problem))
    return out
