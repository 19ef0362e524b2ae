"""Live state -> planner input: every task in the root parsed into its canonical form and
marker. A task in the root that cannot be parsed stops the run (a plan made from a
partial view could delete or overwrite what it did not see)."""
from __future__ import annotations

import hashlib

from . import marker, names, normalize
from .backends.base import State
from .errors import PartialReadError, ReconcileError
from .planner import Actual
from .taskxml import parse


def live_fingerprint(xml: str) -> str:
    """A task's fingerprint as read: any edit on the machine changes it."""
    text = xml.replace("\r\n", "\n").strip()
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def actual_tasks(state: State, root: str, resolve: normalize.Resolver) -> list[Actual]:
    out: list[Actual] = []
    for key, live in sorted(state.tasks.items()):
        if not names.is_under(live.path, root):
            continue  # defence in depth: backends filter already
        try:
            element = parse(live.xml, live.path)
            canonical = normalize.canonical(element, resolve)
        except ReconcileError as err:
            raise PartialReadError(
                f"{live.path}: cannot read this task, so nothing was changed: {err}"
            ) from None
        out.append(Actual(path=live.path, canonical=canonical, marker=marker.read(element),
                          fingerprint=live_fingerprint(live.xml)))
    return out
