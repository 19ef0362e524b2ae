"""The fleet's HTML page drawn by a real browser: headless Chromium reads the file with
the network off and prints the DOM it built. Skips where no Chromium is installed
(Debian: apt-get install chromium)."""
from __future__ import annotations

import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from fleet_support import HOSTS, cli, host_cli, make_fleet

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")


def browser() -> str | None:
    return next((found for name in BROWSERS if (found := shutil.which(name))), None)


def headless(binary: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
         "--host-resolver-rules=MAP * ~NOTFOUND", *args],
        capture_output=True, text=True, timeout=120, check=False)


class Cells(HTMLParser):
    """The text of each table row, by table id."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.table: str | None = None
        self.cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self.table = dict(attrs).get("id") or f"table{len(self.tables)}"
            self.tables[self.table] = []
        elif tag == "tr" and self.table:
            self.tables[self.table].append([])
        elif tag in ("td", "th"):
            self.cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self.cell is not None and self.table:
            self.tables[self.table][-1].append("".join(self.cell).strip())
            self.cell = None
        elif tag == "table":
            self.table = None

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell.append(data)


def test_a_browser_draws_the_fleet_page(tmp_path: Path) -> None:
    binary = browser()
    if binary is None:
        pytest.skip("no Chromium or Chrome installed")
    base = make_fleet(tmp_path / "repo")
    (base / "plans").mkdir()
    for host in HOSTS[:-1]:
        assert host_cli(base, host, "apply", "-q").code == 0
        assert host_cli(base, host, "plan", "--out", f"plans/{host}.json", "-q").code == 0
    result = cli(base, "fleet", "report", "plans", "--inventory", "inventory.yml", "--format", "html",
                 "--out", "fleet.html")
    assert result.code == 1  # srv-t01 is missing
    page = (base / "fleet.html").as_uri()
    drawn = headless(binary, tmp_path / "profile", "--dump-dom", page)
    assert drawn.returncode == 0, drawn.stderr[-2000:]
    parsed = Cells()
    parsed.feed(drawn.stdout)
    hosts = parsed.tables["hosts"]
    assert [row[0] for row in hosts[1:]] == list(HOSTS)
    assert hosts[5][6] == "missing: no plan or report for this host"
    assert all(row[6] == "no changes" for row in hosts[1:5])
    tasks = [t for name, t in parsed.tables.items() if name.startswith("table")]
    assert len(tasks) == 4  # the missing host has none
    assert "No tasks known for this host." in drawn.stdout
    first = tasks[0]
    assert first[0] == ["task", "plan", "drift", "last run", "last result", "next run"]
    assert {row[0] for row in first[1:]} == {"\\Orchestrator\\" + n for n in
                                             ("everywhere", "moving", "prod-job", "site-a-only")}
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:00", row[5]) for row in first[1:])
    shot = tmp_path / "fleet.png"
    drawn = headless(binary, tmp_path / "profile", "--window-size=1200,1600", f"--screenshot={shot}", page)
    assert drawn.returncode == 0 and shot.stat().st_size > 10_000
