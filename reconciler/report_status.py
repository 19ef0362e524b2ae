"""Views of ``status``: a table for a terminal, JSON for machines."""
from __future__ import annotations

import json
import unicodedata

from .app.status import Status


FORMAT_VERSION = 1


def status_json(status: Status) -> str:
    body = {"format_version": FORMAT_VERSION, "root": status.root, "backend": status.backend, "note": status.note,
            "warnings": list(status.warnings), "tasks": [row.as_dict() for row in status.rows]}
    return json.dumps(body, indent=2, ensure_ascii=False) + "\n"


def _cells(text: str) -> int:
    """Terminal columns: East Asian wide characters take two."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _pad(text: str, width: int) -> str:
    return text + " " * max(0, width - _cells(text))


def status_table(status: Status) -> str:
    lines: list[str] = []
    if not status.rows:
        lines.append(f"No managed tasks in {status.root}.")
    else:
        states = [row.status or ("enabled" if row.enabled else "disabled") for row in status.rows]
        width = max(_cells(row.path) for row in status.rows)
        state_width = max([5] + [_cells(s) for s in states])
        lines.append(f"{_pad('TASK', width)}  {_pad('STATE', state_width)}  {'LAST RUN':<19}  "
                     f"{'NEXT RUN':<19}  LAST RESULT")
        for row, state in zip(status.rows, states):
            lines.append(f"{_pad(row.path, width)}  {_pad(state, state_width)}  {row.last_run or '-':<19}  "
                         f"{row.next_run or '-':<19}  {row.last_result_text or '-'}")
    if status.note:
        lines.append(f"note: {status.note}.")
    return "\n".join(lines) + "\n"
