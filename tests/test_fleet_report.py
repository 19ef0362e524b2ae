"""fleet report: the hosts' saved plans merged into one table; a missing, failing or stale
host makes it exit 1; its Markdown is what GitHub renders; its HTML page is one
self-contained file (a real browser draws it in test_fleet_html.py)."""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from fleet_support import HOSTS, cli, host_cli, make_fleet, task, write

CONFLICT = """<?xml version="1.0" encoding="UTF-16"?>
<Task version="1.2" xmlns="http://schemas.microsoft.com/windows/2004/02/mit/task">
  <Triggers><BootTrigger/></Triggers>
  <Actions Context="Author"><Exec><Command>C:\\hand\\made.exe</Command></Exec></Actions>
</Task>
"""


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Plans of four of the five hosts: srv-b02 never reported; srv-b01 has a task made
    by hand where a manifest wants one (a conflict: its plan fails); srv-a02 has drift."""
    base = make_fleet(tmp_path_factory.mktemp("fleet"))
    for host in ("srv-a02",):
        assert host_cli(base, host, "apply", "-q").code == 0
    task = base / "stores" / "srv-a02" / "Orchestrator" / "everywhere"
    xml = task.read_bytes().decode("utf-16")
    assert "<Settings/>" in xml
    task.write_bytes(xml.replace("<Settings/>", "<Settings><Enabled>false</Enabled></Settings>").encode("utf-16"))
    hand_made = base / "stores" / "srv-b01" / "Orchestrator" / "office-backup"
    hand_made.parent.mkdir(parents=True)
    hand_made.write_bytes(CONFLICT.encode("utf-16"))
    (base / "plans").mkdir()
    for host in ("srv-a01", "srv-a02", "srv-b01", "srv-t01"):
        result = host_cli(base, host, "plan", "--out", f"plans/{host}.json", "-q")
        assert result.code == (1 if host == "srv-b01" else 0), result.err
    return base


def report(base: Path, *args: str) -> tuple[int, str, str]:
    result = cli(base, "fleet", "report", "plans", "--inventory", "inventory.yml", *args)
    return result.code, result.out, result.err


def test_the_table_names_every_host_and_exits_1(fleet: Path) -> None:
    code, out, _ = report(fleet)
    assert code == 1
    rows = {line.split()[0]: line for line in out.splitlines()[1:6]}
    assert list(rows) == list(HOSTS)
    assert rows["srv-a01"].split()[1:7] == ["4", "0", "0", "0", "0", "changes"]
    assert rows["srv-a02"].split()[1:7] == ["0", "1", "0", "1", "0", "changes"]  # the drift, restored
    assert "conflict:" in rows["srv-b01"] and "office-backup" in rows["srv-b01"]
    assert rows["srv-b02"].split()[1:7] == ["-", "-", "-", "-", "-", "missing:"]
    assert out.rstrip().endswith("NOT OK.")


def test_identical_changes_are_grouped_and_the_hosts_that_differ_named(fleet: Path) -> None:
    _, out, _ = report(fleet)
    changes = out.split("Changes:\n")[1]
    assert "+ prod-job  new task  on srv-a01\n" in changes
    assert "+ prod-job  new task  on srv-t01\n" in changes  # another definition: another group
    assert "+ moving  new task  on srv-a01\n" in changes
    assert "~ everywhere  Settings/Enabled: false -> true (drift)  on srv-a02\n" in changes
    body = json.loads(report(fleet, "--format", "json")[1])
    everywhere = [c for c in body["changes"] if c["path"] == "everywhere" and c["action"] == "create"]
    assert everywhere[0]["hosts"] == ["srv-a01", "srv-t01"]
    assert body["ok"] is False
    assert {h["host"]: h["result"] for h in body["hosts"]} == {
        "srv-a01": "changes", "srv-a02": "changes", "srv-b01": "conflict", "srv-b02": "missing",
        "srv-t01": "changes"}


def test_every_host_there_and_fresh_is_ok(fleet: Path, tmp_path: Path) -> None:
    plans = tmp_path / "plans"
    plans.mkdir()
    for host in ("srv-a01", "srv-t01"):
        (plans / f"{host}.json").write_bytes((fleet / "plans" / f"{host}.json").read_bytes())
    (tmp_path / "inventory.yml").write_text("all:\n  hosts:\n    srv-a01:\n    srv-t01:\n")
    result = cli(tmp_path, "fleet", "report", "plans", "--inventory", "inventory.yml")
    assert result.code == 0, result.out
    assert result.out.rstrip().endswith("2 with changes. OK.")


def test_a_stale_plan_fails(fleet: Path, tmp_path: Path) -> None:
    body = json.loads((fleet / "plans" / "srv-a01.json").read_text())
    body["fleet"]["made"] = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=3)).isoformat()
    (tmp_path / "srv-a01.json").write_text(json.dumps(body))
    (tmp_path / "inventory.yml").write_text("all:\n  hosts:\n    srv-a01:\n")
    result = cli(tmp_path, "fleet", "report", "srv-a01.json", "--inventory", "inventory.yml")
    assert result.code == 1 and "stale: made 3h ago" in result.out
    assert cli(tmp_path, "fleet", "report", "srv-a01.json", "--inventory", "inventory.yml",
               "--stale", "4h").code == 0


def test_an_unreadable_file_is_a_failing_host(fleet: Path, tmp_path: Path) -> None:
    (tmp_path / "srv-a01.json").write_text("{not json")
    (tmp_path / "inventory.yml").write_text("all:\n  hosts:\n    srv-a01:\n")
    result = cli(tmp_path, "fleet", "report", ".", "--inventory", "inventory.yml")
    assert result.code == 1 and "error: ./srv-a01.json: not a readable plan or report" in result.out


def test_markdown_renders_in_a_gfm_parser(fleet: Path) -> None:
    markdown_it = pytest.importorskip("markdown_it")
    code, out, _ = report(fleet, "--format", "markdown")
    assert code == 1
    tokens = markdown_it.MarkdownIt("commonmark").enable("table").parse(out)
    tables = [i for i, t in enumerate(tokens) if t.type == "table_open"]
    assert len(tables) == 2

    def rows(start: int) -> list[list[str]]:
        found: list[list[str]] = []
        for token in tokens[start:]:
            if token.type == "table_close":
                return found
            if token.type == "tr_open":
                found.append([])
            if token.type == "inline" and found:
                found[-1].append(token.content)
        return found

    hosts = rows(tables[0])
    assert hosts[0] == ["host", "+", "~", "-", "drift", "unmanaged", "result"]
    assert [r[0] for r in hosts[1:]] == [h.replace("_", "\\_") for h in HOSTS]
    assert all(len(r) == 7 for r in hosts)
    assert hosts[4][6] == "**missing: no plan or report for this host**"
    html = markdown_it.MarkdownIt("commonmark").enable("table").render(out)
    assert "<strong>missing: no plan or report for this host</strong>" in html
    assert "<td>srv-b02</td>" in html


def test_html_is_one_self_contained_page(fleet: Path) -> None:
    result = cli(fleet, "fleet", "report", "plans", "--inventory", "inventory.yml", "--format", "html",
                 "--out", "fleet.html")
    assert result.code == 1 and result.out.startswith("Fleet: 5 host(s)")
    page = (fleet / "fleet.html").read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "</html>" in page
    assert "src=" not in page and "http" not in page.replace("http://www.w3.org", "")
    assert page.count('<tr data-host="') == 5
    assert 'id="host-srv-t01"' in page and "\\Orchestrator\\everywhere" in page


def test_a_move_across_the_fleet_in_one_report(tmp_path: Path) -> None:
    """The whole fleet story at once: five hosts with overlapping targets, a task moving from
    site_a to site_b; the saved plans, one host missing and one failing, in one report
    that exits 1 and whose Markdown a CommonMark/GFM parser reads as the same table."""
    markdown_it = pytest.importorskip("markdown_it")
    base = make_fleet(tmp_path)
    for host in HOSTS:
        assert host_cli(base, host, "apply", "-q").code == 0
    write(base / "tasks.d", {"moving.yaml": task("moving", "{groups: [site_b]}")})
    # srv-b02 has a task of that name made by hand: its plan has a conflict (a failing host).
    hand_made = base / "stores" / "srv-b02" / "Orchestrator" / "moving"
    hand_made.write_bytes(CONFLICT.encode("utf-16"))
    (base / "plans").mkdir()
    for host in ("srv-a01", "srv-a02", "srv-b01", "srv-b02"):  # srv-t01 never reports: missing
        result = host_cli(base, host, "plan", "--out", f"plans/{host}.json", "-q")
        assert result.code == (1 if host == "srv-b02" else 0), result.err

    result = cli(base, "fleet", "report", "plans", "--inventory", "inventory.yml")
    assert result.code == 1
    rows = {line.split()[0]: line.split()[1:] for line in result.out.splitlines()[1:6]}
    assert rows["srv-a01"][:6] == rows["srv-a02"][:6] == ["0", "0", "1", "0", "0", "changes"]
    assert rows["srv-b01"][:6] == ["1", "0", "0", "0", "0", "changes"]
    assert rows["srv-b02"][5] == "conflict:" and rows["srv-t01"][5] == "missing:"
    changes = result.out.split("Changes:\n")[1]
    assert "  - moving  no manifest targets these hosts  on srv-a01, srv-a02\n" in changes, changes
    assert "  + moving  new task  on srv-b01\n" in changes, changes
    assert result.out.rstrip().endswith("NOT OK.")

    markdown = cli(base, "fleet", "report", "plans", "--inventory", "inventory.yml", "--format", "markdown")
    assert markdown.code == 1
    tokens = markdown_it.MarkdownIt("commonmark").enable("table").parse(markdown.out)
    cells = [t.content for t in tokens if t.type == "inline"]
    first = cells.index("host")
    header, body = cells[first:first + 7], cells[first + 7:first + 7 * 6]
    assert header == ["host", "+", "~", "-", "drift", "unmanaged", "result"]
    table = {body[i]: body[i + 1:i + 7] for i in range(0, len(body), 7)}
    assert list(table) == list(HOSTS)
    assert table["srv-a01"][:3] == ["0", "0", "1"] and table["srv-b01"][:3] == ["1", "0", "0"]
    assert table["srv-t01"][5].startswith("**missing") and table["srv-b02"][5].startswith("**conflict")
