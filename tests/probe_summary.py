"""Summarise the probe report of tests/test_windows_real.py as Markdown: every rule of the
emulator that a real Windows confirmed or refuted, documented facts first.

    python tests/probe_summary.py probe-report.jsonl >> "$GITHUB_STEP_SUMMARY"

Each line of the report is one JSON object; the probes carry ``guess`` and ``confirmed``
(lines without them, such as the round trip's, are counted only). Exit code 0 always: the
tests themselves fail where a documented fact is contradicted."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Iterable


def read(lines: Iterable[str]) -> list[dict[str, Any]]:
    out = []
    for line in lines:
        line = line.strip()
        if not line:
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict):
            out.append(record)
    return out


def _cell(value: Any) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def summary(records: list[dict[str, Any]]) -> str:
    probes = [r for r in records if "confirmed" in r and "guess" in r]
    refuted = [r for r in probes if not r["confirmed"]]
    contradicted = [r for r in refuted if r.get("documented")]
    lines = ["## What Windows did (probe report)", "",
             f"{len(probes)} rules probed: {len(probes) - len(refuted)} confirmed, {len(refuted)} refuted"
             f" ({len(contradicted)} of them documented facts); {len(records) - len(probes)} other records.", ""]
    if not probes:
        return "\n".join(lines + ["No probe ran (not on Windows, or RECONCILE_REAL_WINDOWS is not 1)."]) + "\n"
    lines += ["| result | probe | the rule | source |", "|---|---|---|---|"]
    order = sorted(probes, key=lambda r: (bool(r["confirmed"]), not r.get("documented"), str(r.get("probe"))))
    for record in order:
        result = "confirmed" if record["confirmed"] else ("**CONTRADICTED**" if record.get("documented") else "refuted")
        lines.append(f"| {result} | {_cell(record.get('probe', ''))} | {_cell(record['guess'])} | "
                     f"{_cell(record.get('documented') or 'guess')} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    path = Path(args[0]) if args else Path("probe-report.jsonl")
    records = read(path.read_text(encoding="utf-8").splitlines()) if path.exists() else []
    sys.stdout.write(summary(records))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
