"""The Markdown plan as GitHub renders it: a summary table first, one collapsible block
per task, readable at hundreds of tasks. Parsed with a real CommonMark parser (with GFM
tables), not by eye."""
from __future__ import annotations

from pathlib import Path

import pytest

from conftest import run_cli

markdown_it = pytest.importorskip("markdown_it")

TASK = """apiVersion: reconcile/v1
kind: ScheduledTask
metadata:
  name: "job_{index} `tick` & [x]"
  folder: Team{team}
spec:
  schedule: "{minute} {hour} * * 1-5"
  actions:
    - command: C:\\Jobs\\tool.exe
      arguments: ["--job", "{index}", "a|b", "`x`", "*y*"]
  runAs: {{user: SYSTEM}}
"""


@pytest.fixture
def two_hundred(tmp_path: Path) -> Path:
    folder = tmp_path / "tasks.d"
    folder.mkdir()
    for index in range(200):
        (folder / f"job{index:03d}.yaml").write_text(
            TASK.format(index=index, team=index % 7, minute=index % 60, hour=index % 24))
    return tmp_path


def parse(text: str) -> list:
    return markdown_it.MarkdownIt("commonmark").enable("table").parse(text)


def test_two_hundred_tasks_render_as_gfm_with_the_summary_table_first(two_hundred: Path) -> None:
    result = run_cli("plan", "--format", "markdown", cwd=two_hundred)
    assert result.code == 0, result.err
    tokens = parse(result.out)
    blocks = [t for t in tokens if t.level == 0 and not t.type.endswith("_close") and t.type != "inline"]
    assert blocks[0].type == "heading_open"
    assert blocks[1].type == "table_open", "the summary table comes first"
    header = [t for t in tokens if t.type == "th_open"]
    assert len(header) == 5
    cells = [tokens[i + 1].content for i, t in enumerate(tokens) if t.type == "td_open"]
    assert cells == ["200", "0", "0", "0", "0"]
    html = "".join(t.content for t in tokens if t.type == "html_block")
    assert html.count("<details>") == html.count("</details>") == 200
    # Every task's path reaches the reader intact, HTML-escaped inside <summary>.
    assert "job_7 `tick` &amp; [x]" in html
    # Inline code survives backticks and pipes inside commands.
    codes = [child.content for t in tokens if t.type == "inline" for child in (t.children or [])
             if child.type == "code_inline"]
    assert any("`x`" in c and "a|b" in c for c in codes)


def test_updates_show_a_field_table(two_hundred: Path) -> None:
    assert run_cli("apply", "-q", cwd=two_hundred).code == 0
    manifest = two_hundred / "tasks.d" / "job005.yaml"
    manifest.write_text(manifest.read_text().replace('"--job", "5"', '"--job", "five"'))
    result = run_cli("plan", "--format", "markdown", cwd=two_hundred)
    tokens = parse(result.out)
    tables = [i for i, t in enumerate(tokens) if t.type == "table_open"]
    assert len(tables) == 2
    cells = [tokens[i + 1].children[0].content if tokens[i + 1].children else tokens[i + 1].content
             for i, t in enumerate(tokens) if t.type == "td_open"]
    # The changed argument, in the manifest's words, not the whole action.
    assert cells[-3:] == ["argument 2", "5", "five"]
