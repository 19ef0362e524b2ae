"""What schtasks cannot show, told apart from drift.

On Windows 10 and Server 2016-2022 schtasks writes to a pipe in the console code page
(cp437 on US-English systems): a character the page cannot hold (a curly quote, "–",
"€", "☃", CJK) comes back as "?" or a look-alike. A task whose description holds one
would then plan as changed on every run. A live task read that way (``State.codepage``
set) whose canonical form differs from the desired one only where the desired text has
such characters, and whose ownership marker is the desired one, is taken as that desired
task; the plan says so in one warning instead of planning drift. A name that came back
that way never gets this far: the read refuses it (``schtasks_output.check_identity``).

There is no documented way to make schtasks itself write Unicode to a pipe: ``cmd /u``
applies to cmd's internal commands only (Microsoft Learn, "cmd"). The com backend reads
Unicode; this is for the fallback."""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Sequence

from .. import marker, names, normalize
from ..errors import ReconcileError
from ..taskxml import parse
from .base import State

if TYPE_CHECKING:
    from ..planner import Desired
    from ..render import Rendered

INSTALL = "python -m pip install pywin32"


def unshown(text: str, codepage: str) -> str:
    """The characters of ``text`` the code page cannot hold, each once, in order."""
    out: list[str] = []
    for char in text:
        if char not in out:
            try:
                char.encode(codepage)
            except UnicodeEncodeError:
                out.append(char)
    return "".join(out)


def _flat(canonical: dict[str, Any]) -> str:
    return json.dumps(canonical, sort_keys=True, ensure_ascii=False, default=str)


def explained(live: str, wanted: str, lost: str) -> bool:
    """Whether the canonical text ``live`` is ``wanted`` as a code page shows it: the
    same but where ``wanted`` has a character of ``lost``, which may read as anything
    ("?", or a look-alike where Windows best-fits)."""
    if len(live) != len(wanted):
        return False
    return all(a == b or b in lost for a, b in zip(live, wanted))


@dataclass(frozen=True)
class Settled:
    """Live task texts (``state.body``) that stand for a desired task, and why."""

    known: dict[str, Rendered]
    warnings: tuple[str, ...]


def settle(state: State, wanted: Sequence[Desired], resolve: Callable[[str], str]) -> Settled:
    """The desired tasks whose live copy differs only by what ``state.codepage`` lost."""
    from ..state import body

    codepage = state.codepage
    if codepage is None or not wanted:
        return Settled({}, ())
    by_key = {names.key(d.spec.path): d for d in wanted}
    known: dict[str, Rendered] = {}
    warnings: list[str] = []
    for key, live in sorted(state.tasks.items()):
        desired = by_key.get(key)
        lost = unshown(desired.rendered.xml, codepage) if desired is not None else ""
        if desired is None or not lost:
            continue
        try:
            element = parse(live.xml, live.path)
            same_owner = marker.read(element) == desired.rendered.marker
            canonical = normalize.canonical(element, resolve)
        except ReconcileError:
            continue  # the planner reports what cannot be read
        if same_owner and explained(_flat(canonical), _flat(desired.rendered.canonical), lost):
            known[body(live.xml)] = desired.rendered
            warnings.append(
                f"{live.path}: schtasks printed this task in the console code page ({codepage}), which "
                f"cannot show {' '.join(lost)}; it was compared without them (the com backend reads "
                f"Unicode: {INSTALL})")
    return Settled(known, tuple(warnings))
