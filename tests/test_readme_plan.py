"""The plans README shows are what reconcile.py prints: the Markdown plan of the example
set, and of a change to each kind of field (made here again, edit by edit)."""
from __future__ import annotations

import re
from pathlib import Path

from conftest import run_cli

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")

EDITS = [  # (file, text, replaced by): the change of each kind of field README shows
    ("nightly-restart.yaml", 'daily: {at: "02:00"}', 'weekly: {at: "03:00", days: [Mon, Tue, Wed, Thu, Fri, Sat]}'),
    ("nightly-restart.yaml", "user: SYSTEM", "user: NETWORK SERVICE"),
    ("nightly-restart.yaml", "timeout: 5m", "timeout: 10m"),
    ("nightly-restart.yaml", "retry: {count: 2, interval: 10m}", "retry: {count: 3, interval: 15m}"),
    ("nightly-restart.yaml", "wakeToRun: true", "wakeToRun: false"),
    ("vbs-automation.yaml", "after: [excel-processing]", "after: [csv-morning]"),
    ("vbs-automation.yaml", "C:\\jobs\\automation.vbs", "C:\\jobs\\automation2.vbs"),
    ("email-delivery.yaml", "initial: 1m", "initial: 30s"),
    ("email-delivery.yaml", "workingDirectory: C:\\jobs", "workingDirectory: D:\\jobs"),
    ("email-delivery.yaml", "https://hooks.example.com/reconcile", "https://hooks.example.com/tasks"),
    ("excel-processing.yaml", "fileExists: D:\\exports\\afternoon.csv", "fileExists: D:\\exports\\afternoon.xlsx"),
    ("excel-processing.yaml", "Build the daily workbook from both CSV downloads", "Build the daily workbook"),
    ("csv-downloads.yaml", "  run:", "  enabled: false\n  run:"),
]


def _without_dates(markdown: str) -> list[str]:
    return [line for line in markdown.splitlines() if not line.startswith("Next runs:")]


def _in_readme(lines: list[str]) -> None:
    readme = [line for line in README.splitlines() if not line.startswith("Next runs:")]
    starts = [i for i, line in enumerate(readme) if line == lines[0]]
    assert any(readme[i:i + len(lines)] == lines for i in starts), "\n".join(lines)


def test_readme_shows_the_markdown_plan_of_the_example_set(workspace: Path) -> None:
    result = run_cli("plan", "--format", "markdown", cwd=workspace)
    _in_readme(_without_dates(result.out.strip()))


def test_readme_shows_the_markdown_plan_of_a_change_to_each_kind_of_field(workspace: Path) -> None:
    assert run_cli("apply", "-q", cwd=workspace).code == 0
    for file, old, new in EDITS:
        path = workspace / "tasks.d" / file
        text = path.read_text(encoding="utf-8")
        assert old in text, (file, old)
        path.write_text(text.replace(old, new, 1), encoding="utf-8")
    stored = workspace / ".reconcile" / "store" / "Orchestrator" / "csv-afternoon"
    xml = stored.read_bytes().decode("utf-16")
    stored.write_bytes(xml.replace("<ExecutionTimeLimit>PT15M</ExecutionTimeLimit>",
                                   "<ExecutionTimeLimit>PT1H</ExecutionTimeLimit>", 1).encode("utf-16"))
    result = run_cli("plan", "--format", "markdown", cwd=workspace)
    assert result.code == 0, result.err
    lines = _without_dates(result.out.strip())
    assert len([line for line in lines if re.match(r"^\| (?!field|---)", line)]) >= 16
    _in_readme(lines)
