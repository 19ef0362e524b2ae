"""tests/probe_summary.py, the job summary of what a real Windows confirmed or refuted."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from probe_summary import read, summary

SCRIPT = Path(__file__).resolve().parent / "probe_summary.py"

RECORDS = [
    {"probe": "date-author", "guess": "registering XML does not add Date or Author", "confirmed": True,
     "documented": None},
    {"probe": "validation/boolean-0/outcome", "guess": "Windows refuses it, as the emulator", "confirmed": False,
     "documented": None},
    {"probe": "validation/49-triggers/refused", "guess": "Windows refuses it", "confirmed": False,
     "documented": "the Task Scheduler schema"},
    {"probe": "round-trip", "path": "\\x\\y", "windows": "<Task/>"},
]


def test_summary_lists_every_probe_contradictions_first() -> None:
    text = summary(RECORDS)
    assert "3 rules probed: 1 confirmed, 2 refuted (1 of them documented facts); 1 other records." in text
    rows = [line for line in text.splitlines() if line.startswith("| ") and "probe |" not in line]
    assert [row.split(" | ")[0] for row in rows] == ["| **CONTRADICTED**", "| refuted", "| confirmed"]
    assert "| guess |" in rows[1]


def test_summary_of_an_empty_or_missing_report(tmp_path: Path) -> None:
    assert "No probe ran" in summary([])
    done = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path / "none.jsonl")], capture_output=True, text=True)
    assert done.returncode == 0 and "No probe ran" in done.stdout


def test_the_script_reads_a_report_file_with_junk_lines(tmp_path: Path) -> None:
    report = tmp_path / "probe-report.jsonl"
    report.write_text("\n".join(json.dumps(r) for r in RECORDS) + "\nnot json\n\n[1]\n", encoding="utf-8")
    assert len(read(report.read_text().splitlines())) == 4
    done = subprocess.run([sys.executable, str(SCRIPT), str(report)], capture_output=True, text=True)
    assert done.returncode == 0 and "**CONTRADICTED**" in done.stdout
