"""fleet report against files a host (or an attacker on it) wrote: a report made in the
future, JSON damaged or nested beyond the parser's stack, and error texts written to
turn the Markdown summary into links, images or HTML. Each is that host's failure,
never an internal error, never green."""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from reconciler.fleet import report as fleet_report
from reconciler.fleet import report_views
from reconciler.fleet.inventory import Inventory, read
from reconciler.fleet.report import AGENT_KIND
from fleet_support import cli

NOW = dt.datetime.now(dt.timezone.utc)


def _plan(made: dt.datetime, *, conflicts: tuple[str, ...] = ()) -> dict[str, object]:
    return {"root": "\\Orchestrator\\", "changes": [], "unmanaged": [], "protected": [],
            "conflicts": list(conflicts), "warnings": [],
            "fleet": {"host": "srv-a01", "made": made.isoformat()}}


def _report(base: Path, *sources: str) -> tuple[int, str]:
    (base / "inventory.yml").write_text("all:\n  hosts:\n    srv-a01:\n")
    result = cli(base, "fleet", "report", *sources, "--inventory", "inventory.yml")
    return result.code, result.out


def test_a_plan_made_in_the_future_is_the_hosts_error_not_its_newest(tmp_path: Path) -> None:
    (tmp_path / "now.json").write_text(json.dumps(_plan(NOW, conflicts=("\\Orchestrator\\x: made by hand",))))
    (tmp_path / "later.json").write_text(json.dumps(_plan(NOW + dt.timedelta(days=30))))
    code, out = _report(tmp_path, "now.json", "later.json")
    assert code == 1, out
    assert "error: later.json: made in the future" in out and "clock skew?" in out
    assert out.rstrip().endswith("NOT OK.")


def test_a_few_minutes_of_clock_skew_is_believed(tmp_path: Path) -> None:
    (tmp_path / "srv-a01.json").write_text(json.dumps(_plan(NOW + dt.timedelta(minutes=2))))
    code, out = _report(tmp_path, "srv-a01.json")
    assert code == 0, out


DAMAGED = {
    "deep": "[" * 200_000 + "]" * 200_000,
    "deep-object": '{"root": ' + "[" * 200_000 + "]" * 200_000 + "}",
    "changes-not-objects": json.dumps({"root": "\\R\\", "changes": ["x"]}),
    "changes-a-list-of-lists": json.dumps({"root": "\\R\\", "changes": [[1]]}),
    "bad-action": json.dumps({"root": "\\R\\", "changes": [{"path": "\\R\\a", "action": "explode"}]}),
    "unhashable-field": json.dumps({"root": "\\R\\", "changes": [
        {"path": "\\R\\a", "action": "update", "fields": [{"field": "x", "before": [1], "after": {}}]}]}),
    "reason-not-text": json.dumps({"root": "\\R\\", "changes": [
        {"path": "\\R\\a", "action": "create", "reason": {"x": 1}}]}),
    "root-not-text": json.dumps({"root": ["x"], "changes": []}),
    "agent-errors-number": json.dumps({"kind": AGENT_KIND, "host": "srv-a01", "errors": 5}),
    "agent-plan-damaged": json.dumps({"kind": AGENT_KIND, "host": "srv-a01", "plan": {"changes": 1}}),
    "not-utf8": b"\xff\xfe{".decode("latin-1"),
}


@pytest.mark.parametrize("name", sorted(DAMAGED))
def test_a_damaged_file_is_that_hosts_error(tmp_path: Path, name: str) -> None:
    path = tmp_path / "srv-a01.json"
    path.write_text(DAMAGED[name], encoding="latin-1" if name == "not-utf8" else "utf-8")
    got = fleet_report.read_file(str(path))
    assert got.errors and "not a readable plan or report" in got.errors[0]
    for form in report_views.VIEWS:
        merged = fleet_report.merge(_inventory(tmp_path), [got], stale_after=dt.timedelta(hours=2), now=NOW)
        assert not merged.ok
        report_views.render(merged, form)
    code, out = _report(tmp_path, "srv-a01.json")
    assert code == 1 and "not a readable plan or report" in out


def _inventory(base: Path) -> Inventory:
    (base / "inventory.yml").write_text("all:\n  hosts:\n    srv-a01:\n")
    return read(str(base / "inventory.yml"))


HOSTILE = ("[click me](https://evil.example/x) ![pixel](https://evil.example/p.png) "
           "<img src=x onerror=alert(1)> <script>alert(1)</script> `code` [ref]: https://evil.example "
           "**bold** ~~gone~~ &lt;b&gt; | a cell")


def test_a_hosts_error_text_stays_text_in_markdown_and_html(tmp_path: Path) -> None:
    markdown_it = pytest.importorskip("markdown_it")
    body = {"kind": AGENT_KIND, "host": "srv-a01", "mode": "monitor", "started": NOW.isoformat(),
            "errors": [HOSTILE]}
    (tmp_path / "srv-a01.json").write_text(json.dumps(body))
    merged = fleet_report.merge(_inventory(tmp_path), fleet_report.read_sources([str(tmp_path / "srv-a01.json")]),
                                stale_after=dt.timedelta(hours=2), now=NOW)
    out = report_views.markdown(merged)
    tokens = markdown_it.MarkdownIt("commonmark").enable(["table", "strikethrough"]).parse(out)
    kinds = {t.type for t in tokens} | {c.type for t in tokens for c in t.children or ()}
    assert not kinds & {"link_open", "image", "html_inline", "html_block", "code_inline", "s_open"}, kinds
    cells = [t for t in tokens if t.type == "inline" and "click me" in t.content]
    assert len(cells) == 1  # one cell: the | did not split it
    rendered = markdown_it.MarkdownIt("commonmark").enable("table").render(out)
    assert "error: [click me](https://evil.example/x) ![pixel]" in rendered
    assert "&lt;img src=x onerror=alert(1)&gt;" in rendered and "&amp;lt;b&amp;gt;" in rendered
    page = report_views.page(merged)
    assert "<img" not in page and "<script>" not in page and "&lt;script&gt;" in page

