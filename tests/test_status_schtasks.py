"""``status`` on the schtasks backend: parsing ``schtasks /Query /FO CSV /V /NH`` (locale
dates, N/A, the never-run sentinel, one record per trigger, repeated headers, decimal
and negative results), the emulator's CSV, and the CLI end to end in several locales.
A status read that fails never fails the command."""
from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest

from conftest import EXAMPLES, run_cli
from reconciler import results
from reconciler.backends import schtasks
from reconciler.backends.base import RunInfo
from reconciler.backends import schtasks_csv
from reconciler.backends.schtasks import SchtasksBackend
from reconciler.backends.schtasks_csv import (
    day_before_month, day_first_evidence, parse_result, parse_run_info, parse_run_time,
)

EMULATOR_DIR = Path(__file__).resolve().parent / "emulator"
EMULATOR = EMULATOR_DIR / "schtasks_emulator.py"
sys.path.insert(0, str(EMULATOR_DIR))

import windows_rules as rules  # noqa: E402

ROOT = "\\Orchestrator\\"
NOW = "2026-03-04T10:00:00"  # a Wednesday; 04/03 vs 03/04 is ambiguous on purpose
LOCALES = ("en-US", "en-GB", "de-DE", "ja-JP")
NA = ("N/A", "Nicht zutreffend", "該当なし", "", "  ", "Disabled", "Never")


# --- dates ----------------------------------------------------------------------------
@pytest.mark.parametrize("text, day_first, expected", [
    # en-US: M/d/yyyy h:mm:ss tt
    ("11/21/2026 1:05:00 PM", False, "2026-11-21T13:05:00"),
    ("11/21/2026 12:00:00 AM", False, "2026-11-21T00:00:00"),
    ("11/21/2026 12:30:00 PM", False, "2026-11-21T12:30:00"),
    ("3/4/2026 9:07:03 AM", False, "2026-03-04T09:07:03"),
    ("11/21/2026 1:05:00 pm", True, "2026-11-21T13:05:00"),  # a field > 12 beats the default
    # en-GB, fr-FR: dd/MM/yyyy HH:mm:ss
    ("21/11/2026 13:05:00", True, "2026-11-21T13:05:00"),
    ("21/11/2026 13:05:00", False, "2026-11-21T13:05:00"),
    ("04/03/2026 13:05:00", True, "2026-03-04T13:05:00"),
    ("04/03/2026 13:05:00", False, "2026-04-03T13:05:00"),
    # de-DE, ru-RU: dd.MM.yyyy HH:mm:ss; Dutch dd-MM-yyyy
    ("21.11.2026 13:05:00", False, "2026-11-21T13:05:00"),
    ("04.03.2026 13:05:00", True, "2026-03-04T13:05:00"),
    ("21-11-2026 13:05:00", True, "2026-11-21T13:05:00"),
    # ISO-like and ja-JP / zh-CN: year first, never ambiguous
    ("2026-11-21 13:05:00", False, "2026-11-21T13:05:00"),
    ("2026-03-04 13:05:00", True, "2026-03-04T13:05:00"),
    ("2026/11/21 13:05:00", True, "2026-11-21T13:05:00"),
    ("2026/03/04 9:05:00", False, "2026-03-04T09:05:00"),
    ("2026/3/4 下午 1:05:00", False, "2026-03-04T13:05:00"),
    ("2026/03/04 午前 0:05:00", False, None),  # hour 0 with a 12-hour marker: no time
    ("2026. 11. 21. 오후 1:05:00", False, "2026-11-21T13:05:00"),  # ko-KR
    # without seconds, with "." in the time (fi-FI), invisible marks, a two-digit year
    ("21.11.2026 13.05", True, "2026-11-21T13:05:00"),
    ("\u200e21/\u200e11/\u200e2026 13:05:00", True, "2026-11-21T13:05:00"),
    ("21/11/26 13:05:00", True, "2026-11-21T13:05:00"),
])
def test_run_times_in_every_locale(text: str, day_first: bool, expected: str | None) -> None:
    if expected is None:
        with pytest.raises(ValueError):
            parse_run_time(text, day_first)
        return
    moment = parse_run_time(text, day_first)
    assert moment is not None and moment.isoformat() == expected


@pytest.mark.parametrize("text", ["11/30/1999 12:00:00 AM", "30/11/1999 00:00:00", "30.11.1999 00:00:00",
                                  "1999/11/30 0:00:00", "1999-11-30 00:00:00", "30/11/99 00:00:00"])
def test_the_never_run_sentinel_is_no_run(text: str) -> None:
    assert parse_run_time(text, False) is None and parse_run_time(text, True) is None


@pytest.mark.parametrize("text", NA)
def test_not_applicable_in_any_language(text: str) -> None:
    assert parse_run_time(text, False) is None


@pytest.mark.parametrize("text", ["13/13/2026 10:00:00", "2026/02/30 10:00:00", "21/11/2026 25:00:00",
                                  "12:00:00", "about 3 days", "21/11/2026 13:05:00 XM"])
def test_unreadable_dates_raise(text: str) -> None:
    with pytest.raises(ValueError):
        parse_run_time(text, True)


@pytest.mark.parametrize("values, expected", [
    (["04/03/2026 13:00:00", "30/11/1999 00:00:00"], True),  # the sentinel settles it
    (["3/4/2026 1:00:00 PM", "11/30/1999 12:00:00 AM"], False),
    (["04/03/2026 13:00:00", "05/03/2026 09:30:00"], None),  # nothing above 12
    (["13/03/2026 13:00:00", "03/13/2026 09:30:00"], None),  # they disagree
    (["2026/03/04 13:00:00", "N/A", ""], None),  # year first settles nothing
])
def test_day_first_evidence(values: list[str], expected: bool | None) -> None:
    assert day_first_evidence(values) is expected


@pytest.mark.parametrize("pattern, expected", [
    ("M/d/yyyy", False), ("dd/MM/yyyy", True), ("dd.MM.yyyy", True), ("yyyy/MM/dd", False),
    ("yyyy-MM-dd", False), ("d-MMM-yy", True), ("'day' dd 'Month' MM", True), ("MM'd'dd", False),
])
def test_short_date_patterns(pattern: str, expected: bool) -> None:
    assert day_before_month(pattern) is expected


def test_off_windows_month_first_is_assumed() -> None:
    if sys.platform == "win32":
        pytest.skip("asks the machine's locale on Windows")
    assert schtasks_csv.machine_day_first() is False


# --- results --------------------------------------------------------------------------
@pytest.mark.parametrize("text, expected", [
    ("0", 0), ("1", 1), ("267009", 0x41301), ("267011", 0x41303), ("-2147024894", 0x80070002),
    ("2147942402", 0x80070002), ("-1073741510", 0xC000013A), ("0x41301", 0x41301), (" 2 ", 2),
    ("N/A", None), ("", None),
])
def test_last_result_is_decimal_possibly_negative(text: str, expected: int | None) -> None:
    assert parse_result(text) == expected


@pytest.mark.parametrize("code", sorted(results.RESULTS))
def test_every_known_result_decodes_to_its_text(code: int) -> None:
    constant, meaning = results.RESULTS[code]
    expected = f"{meaning} (0x{code:X} {constant})"
    assert results.describe(code) == expected
    if code >= 1 << 31:  # schtasks may print an HRESULT as a negative decimal
        assert results.describe(parse_result(str(code - (1 << 32)))) == expected
    assert results.describe(parse_result(str(code))) == expected


def test_results_shown_in_status() -> None:
    assert results.describe(0x41301) == "running (0x41301 SCHED_S_TASK_RUNNING)"
    assert results.describe(267011).startswith("never run")
    assert results.describe(0) == "success (0)" and results.describe(2) == "exit code 2 (0x2)"


# --- whole outputs ----------------------------------------------------------------------
def row(path: str, next_run: str = "N/A", status: str = "Ready", last_run: str = "11/30/1999 12:00:00 AM",
        result: str = "267011", comment: str = "N/A") -> list[str]:
    values = ["HOST", path, next_run, status, "Interactive/Background", last_run, result, "N/A",
              "C:\\jobs\\run.exe", "N/A", comment, "Enabled"]
    return values + ["N/A"] * (len(rules.CSV_COLUMNS) - len(values))


def output(*records: list[str]) -> str:
    return "".join(rules.csv_line(r) + "\r\n" for r in records)


def test_multi_trigger_records_merge_to_the_earliest_next_run() -> None:
    text = output(row("\\Orchestrator\\excel", "3/5/2026 1:05:00 PM", last_run="3/4/2026 9:00:00 AM", result="0"),
                  row("\\Orchestrator\\excel", "N/A", last_run="3/4/2026 9:00:00 AM", result="0"),
                  row("\\Orchestrator\\excel", "3/4/2026 4:00:00 PM", last_run="3/4/2026 9:00:00 AM", result="0"))
    info, warnings = parse_run_info(text, ROOT, default_day_first=False)
    assert warnings == []
    assert info == {"\\orchestrator\\excel": RunInfo(status="Ready", last_run="2026-03-04T09:00:00",
                                                     last_result=0, next_run="2026-03-04T16:00:00")}


def test_filtered_to_the_root_case_insensitively() -> None:
    text = output(row("\\Microsoft\\Windows\\Defrag\\ScheduledDefrag"), row("\\orchestrator\\Finance\\Report"),
                  row("\\Orchestrator-old\\legacy"), row("\\Orchestrator"))
    info, _ = parse_run_info(text, "Orchestrator", default_day_first=False)
    assert info is not None and set(info) == {"\\orchestrator\\finance\\report"}


@pytest.mark.parametrize("header", [list(rules.CSV_COLUMNS), list(rules.LOCALES["de-DE"].header),
                                    list(rules.LOCALES["ja-JP"].header)])
def test_headers_repeated_per_folder_are_skipped(header: list[str]) -> None:
    text = output(header, row("\\Orchestrator\\a", result="0"), header, row("\\Orchestrator\\Sub\\b", result="1"))
    info, warnings = parse_run_info(text, ROOT, default_day_first=False)
    assert warnings == [] and info is not None
    assert {k: v.last_result for k, v in info.items()} == {"\\orchestrator\\a": 0, "\\orchestrator\\sub\\b": 1}


def test_negative_hresult_and_sentinel() -> None:
    text = output(row("\\Orchestrator\\a", result="-2147024894", last_run="21/11/2026 13:05:00"),
                  row("\\Orchestrator\\b", last_run="30/11/1999 00:00:00"))
    info, _ = parse_run_info(text, ROOT, default_day_first=False)
    assert info is not None
    assert info["\\orchestrator\\a"].last_result == 0x80070002
    assert info["\\orchestrator\\a"].last_run == "2026-11-21T13:05:00"
    assert info["\\orchestrator\\b"] == RunInfo(status="Ready", last_run=None, last_result=0x41303, next_run=None)


@pytest.mark.parametrize("default, evidence, expected", [
    (False, [], "2026-03-04T13:00:00"),  # nothing settles it: the machine's order
    (True, [], "2026-04-03T13:00:00"),
    (False, [row("\\Other\\x", last_run="13/02/2026 10:00:00")], "2026-04-03T13:00:00"),  # another task settles it
    (True, [row("\\Other\\x", last_run="2/13/2026 10:00:00 AM")], "2026-03-04T13:00:00"),
])
def test_ambiguous_dates_use_the_rest_of_the_output_then_the_machine(default: bool, evidence: list[list[str]],
                                                                     expected: str) -> None:
    text = output(*evidence, row("\\Orchestrator\\a", next_run="03/04/2026 13:00:00", last_run="N/A"))
    info, _ = parse_run_info(text, ROOT, default_day_first=default)
    assert info is not None and info["\\orchestrator\\a"].next_run == expected


def test_status_words_are_kept_as_given() -> None:
    text = output(row("\\Orchestrator\\a", status="Running"), row("\\Orchestrator\\b", status="Wird ausgeführt"),
                  row("\\Orchestrator\\c", status=""))
    info, _ = parse_run_info(text, ROOT, default_day_first=False)
    assert info is not None
    assert [info[k].status for k in sorted(info)] == ["Running", "Wird ausgeführt", None]


def test_a_field_with_a_line_break_and_quotes_is_one_record() -> None:
    text = output(row("\\Orchestrator\\a", comment='two\r\nlines, "quoted"', result="0"))
    info, warnings = parse_run_info(text, ROOT, default_day_first=False)
    assert warnings == [] and info is not None and info["\\orchestrator\\a"].last_result == 0


def test_an_unreadable_value_is_unknown_with_a_warning() -> None:
    text = output(row("\\Orchestrator\\a", next_run="soon 12", result="lots 7", last_run="3/4/2026 9:00:00 AM"))
    info, warnings = parse_run_info(text, ROOT, default_day_first=False)
    assert info == {"\\orchestrator\\a": RunInfo(status="Ready", last_run="2026-03-04T09:00:00")}
    assert warnings == ["\\Orchestrator\\a: Next Run Time 'soon 12' could not be read; shown as unknown",
                        "\\Orchestrator\\a: Last Result 'lots 7' could not be read; shown as unknown"]


@pytest.mark.parametrize("text, known, warning", [
    ("", False, "printed nothing"),
    ("\x00\x13\x37 not csv \ufffd\x01" * 40, False, "nothing that reads as task records"),
    ('"HostName","TaskName"\r\n', False, "nothing that reads as task records"),
    ("INFO: There are no scheduled tasks presently available at your access level.\r\n", True, None),
])
def test_outputs_that_hold_no_records(text: str, known: bool, warning: str | None) -> None:
    info, warnings = parse_run_info(text, ROOT, default_day_first=False)
    assert (info == {}) if known else (info is None)
    assert (warning is None and warnings == []) or (warning is not None and warning in warnings[0])


def test_damaged_lines_are_skipped_with_a_warning() -> None:
    cut = output(row("\\Orchestrator\\c"))[:40]  # the output ends in the middle of a record
    text = output(row("\\Orchestrator\\a", result="0")) + "a stray line\r\n" + output(row("\\Orchestrator\\b")) + cut
    info, warnings = parse_run_info(text, ROOT, default_day_first=False)
    assert info is not None and set(info) == {"\\orchestrator\\a", "\\orchestrator\\b"}
    assert warnings == ["schtasks /Query /FO CSV /V /NH: 2 line(s) were neither task records nor headers "
                        "and were skipped"]


# --- the emulator's CSV -------------------------------------------------------------------
def emulate(state: Path, *args: str, **env: str) -> subprocess.CompletedProcess[bytes]:
    full = {**os.environ, "SCHTASKS_EMULATOR_STATE": str(state), "SCHTASKS_EMULATOR_SEED": "0",
            "SCHTASKS_EMULATOR_NOW": NOW, "SCHTASKS_EMULATOR_OUTPUT_ENCODING": "utf-8", **env}
    return subprocess.run([sys.executable, str(EMULATOR), *args], env=full, capture_output=True, timeout=60)


def rendered(tmp_path: Path, name: str) -> Path:
    xml = run_cli("render", name, cwd=EXAMPLES.parent).out
    file = tmp_path / f"{name}.xml"
    file.write_text(xml, encoding="utf-8")
    return file


def emulated_rows(state: Path, **env: str) -> list[list[str]]:
    result = emulate(state, "/Query", "/FO", "CSV", "/V", "/NH", **env)
    assert result.returncode == 0, result.stderr
    return list(csv.reader(io.StringIO(result.stdout.decode("utf-8"), newline="")))


def test_emulator_writes_one_record_per_trigger_in_the_locale(tmp_path: Path) -> None:
    state = tmp_path / "machine"
    # excel-processing: a weekly trigger (Mon-Fri 13:05) and two event triggers.
    assert emulate(state, "/Create", "/XML", str(rendered(tmp_path, "excel-processing")),
                   "/TN", "\\Orchestrator\\excel").returncode == 0
    expected = {"en-US": ("3/4/2026 1:05:00 PM", "11/30/1999 12:00:00 AM", "Ready", "N/A"),
                "en-GB": ("04/03/2026 13:05:00", "30/11/1999 00:00:00", "Ready", "N/A"),
                "de-DE": ("04.03.2026 13:05:00", "30.11.1999 00:00:00", "Bereit", "Nicht zutreffend"),
                "ja-JP": ("2026/03/04 13:05:00", "1999/11/30 0:00:00", "準備完了", "N/A")}
    for locale, (upcoming, never, ready, na) in expected.items():
        records = emulated_rows(state, SCHTASKS_EMULATOR_LOCALE=locale)
        assert len(records) == 3 and all(len(r) == 28 for r in records)
        assert [r[2] for r in records] == [upcoming, na, na]
        assert {(r[3], r[5], r[6]) for r in records} == {(ready, never, "267011")}
        assert [r[18] for r in records][0] == "Weekly"
    headers = emulate(state, "/Query", "/FO", "CSV", "/V", SCHTASKS_EMULATOR_LOCALE="ja-JP").stdout.decode("utf-8")
    assert headers.splitlines()[0].startswith('"ホスト名","タスク名","次回の実行時刻"')


def test_emulator_run_results_and_running(tmp_path: Path) -> None:
    state = tmp_path / "machine"
    assert emulate(state, "/Create", "/XML", str(rendered(tmp_path, "nightly-restart")),
                   "/TN", "\\Orchestrator\\n").returncode == 0
    assert emulate(state, "/Run", "/TN", "\\Orchestrator\\n", SCHTASKS_EMULATOR_RUN_RESULT="-2147024894",
                   SCHTASKS_EMULATOR_NOW="2026-03-13T02:00:05").returncode == 0
    record = emulated_rows(state, SCHTASKS_EMULATOR_LOCALE="en-GB")[0]
    assert (record[2], record[3], record[5], record[6]) == (
        "05/03/2026 02:00:00", "Ready", "13/03/2026 02:00:05", "-2147024894")
    assert emulate(state, "/Run", "/TN", "\\Orchestrator\\n", SCHTASKS_EMULATOR_RUN_RESULT="0x41301").returncode == 0
    assert emulated_rows(state)[0][3:7] == ["Running", "Interactive/Background", "3/4/2026 10:00:00 AM", "267009"]
    assert emulate(state, "/End", "/TN", "\\Orchestrator\\n").returncode == 0
    assert emulated_rows(state)[0][3::3][:2] == ["Ready", "267014"]


def test_emulator_headers_despite_nh(tmp_path: Path) -> None:
    state = tmp_path / "machine"
    file = rendered(tmp_path, "nightly-restart")
    for path in ("\\Orchestrator\\a", "\\Orchestrator\\Sub\\b"):
        assert emulate(state, "/Create", "/XML", str(file), "/TN", path).returncode == 0
    records = emulated_rows(state, SCHTASKS_EMULATOR_FAULT="csv-headers")
    assert [r[1] for r in records] == ["TaskName", "\\Orchestrator\\a", "TaskName", "\\Orchestrator\\Sub\\b"]


@pytest.mark.parametrize("trigger, expected", [
    ("<TimeTrigger><StartBoundary>2026-03-04T09:00:00</StartBoundary></TimeTrigger>", None),
    ("<TimeTrigger><StartBoundary>2026-03-04T09:00:00</StartBoundary><Repetition><Interval>PT15M</Interval>"
     "<Duration>PT1H</Duration></Repetition></TimeTrigger>", None),
    ("<TimeTrigger><StartBoundary>2026-03-04T09:00:00</StartBoundary><Repetition><Interval>PT25M</Interval>"
     "<Duration>PT2H</Duration></Repetition></TimeTrigger>", "2026-03-04T10:15:00"),
    ("<CalendarTrigger><StartBoundary>2000-01-03T09:30:00</StartBoundary><ScheduleByDay><DaysInterval>2"
     "</DaysInterval></ScheduleByDay></CalendarTrigger>", "2026-03-05T09:30:00"),
    ("<CalendarTrigger><StartBoundary>2000-01-03T08:00:00</StartBoundary><ScheduleByWeek><WeeksInterval>1"
     "</WeeksInterval><DaysOfWeek><Monday /></DaysOfWeek></ScheduleByWeek></CalendarTrigger>", "2026-03-09T08:00:00"),
    ("<CalendarTrigger><StartBoundary>2000-01-03T09:00:00</StartBoundary><ScheduleByMonth><DaysOfMonth><Day>Last"
     "</Day></DaysOfMonth><Months><February /></Months></ScheduleByMonth></CalendarTrigger>", "2027-02-28T09:00:00"),
    ("<CalendarTrigger><StartBoundary>2000-01-03T09:00:00</StartBoundary><ScheduleByMonthDayOfWeek><Weeks><Week>Last"
     "</Week></Weeks><DaysOfWeek><Friday /></DaysOfWeek><Months><March /></Months></ScheduleByMonthDayOfWeek>"
     "</CalendarTrigger>", "2026-03-27T09:00:00"),
    ("<CalendarTrigger><StartBoundary>2000-01-03T09:00:00</StartBoundary><EndBoundary>2026-03-01T00:00:00"
     "</EndBoundary><ScheduleByDay><DaysInterval>1</DaysInterval></ScheduleByDay></CalendarTrigger>", None),
    ("<CalendarTrigger><Enabled>false</Enabled><StartBoundary>2000-01-03T09:00:00</StartBoundary><ScheduleByDay>"
     "<DaysInterval>1</DaysInterval></ScheduleByDay></CalendarTrigger>", None),
    ("<BootTrigger />", None),
])
def test_emulator_next_run_times(trigger: str, expected: str | None) -> None:
    from lxml import etree

    element = etree.fromstring(f'<Triggers xmlns="{rules.TASK_NS}">{trigger}</Triggers>')[0]
    moment = rules.next_run_time(element, dt.datetime.fromisoformat(NOW))
    assert (moment.isoformat() if moment else None) == expected


@pytest.fixture
def central_europe() -> Iterator[None]:
    """The C library's local time is Central European (a POSIX TZ rule: no zone files)."""
    if not hasattr(time, "tzset"):
        pytest.skip("the local time zone can be set only where time.tzset exists")
    before = os.environ.get("TZ")
    os.environ["TZ"] = "CET-1CEST,M3.5.0,M10.5.0/3"
    time.tzset()
    try:
        yield
    finally:
        if before is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = before
        time.tzset()


# A boundary with a UTC offset is that instant (ITrigger::StartBoundary, Microsoft Learn),
# reported in local time: Central European here, one hour ahead of UTC on 2026-03-04.
@pytest.mark.parametrize("trigger, expected", [
    ("<TimeTrigger><StartBoundary>2026-03-04T11:00:00+01:00</StartBoundary></TimeTrigger>", "2026-03-04T11:00:00"),
    ("<TimeTrigger><StartBoundary>2026-03-04T16:00:00+05:30</StartBoundary></TimeTrigger>", "2026-03-04T11:30:00"),
    ("<TimeTrigger><StartBoundary>2026-03-04T09:30:00Z</StartBoundary></TimeTrigger>", "2026-03-04T10:30:00"),
    # The week day is the one written (Monday at -08:00), which is Tuesday morning here.
    ("<CalendarTrigger><StartBoundary>2000-01-03T23:30:00-08:00</StartBoundary><ScheduleByWeek><WeeksInterval>1"
     "</WeeksInterval><DaysOfWeek><Monday /></DaysOfWeek></ScheduleByWeek></CalendarTrigger>", "2026-03-10T08:30:00"),
    # An EndBoundary without an offset is local time: 12:30 here is before 12:00Z (13:00 here).
    ("<TimeTrigger><StartBoundary>2026-03-04T12:00:00Z</StartBoundary><EndBoundary>2026-03-04T12:30:00"
     "</EndBoundary></TimeTrigger>", None),
])
def test_emulator_next_run_times_with_a_utc_offset(trigger: str, expected: str | None, central_europe: None) -> None:
    from lxml import etree

    element = etree.fromstring(f'<Triggers xmlns="{rules.TASK_NS}">{trigger}</Triggers>')[0]
    moment = rules.next_run_time(element, dt.datetime.fromisoformat(NOW))
    assert (moment.isoformat() if moment else None) == expected


# --- the backend ----------------------------------------------------------------------------
@pytest.fixture
def backend_machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    state = tmp_path / "machine"
    monkeypatch.setenv("RECONCILE_SCHTASKS", str(EMULATOR))
    monkeypatch.setenv("SCHTASKS_EMULATOR_STATE", str(state))
    monkeypatch.setenv("SCHTASKS_EMULATOR_NOW", NOW)
    for name in ("SCHTASKS_EMULATOR_FAULT", "SCHTASKS_EMULATOR_LOCALE", "RECONCILE_SCHTASKS_TIMEOUT"):
        monkeypatch.delenv(name, raising=False)
    return state


@pytest.mark.parametrize("fault, cause", [
    ("csv-fail", "failed (exit 1): Access is denied"),
    ("csv-garbage", "nothing that reads as task records"),
    ("access-denied", "Access is denied"),
])
def test_a_failed_status_read_is_a_warning_not_an_error(backend_machine: Path, monkeypatch: pytest.MonkeyPatch,
                                                        fault: str, cause: str) -> None:
    monkeypatch.setenv("SCHTASKS_EMULATOR_FAULT", fault)
    data = SchtasksBackend(ROOT).run_info(ROOT)
    assert data.tasks is None
    assert len(data.warnings) == 1
    assert cause in data.warnings[0]
    assert data.warnings[0].endswith("run data (state, last run, last result) is not shown")


def test_a_hanging_status_read_times_out_into_a_warning(backend_machine: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCHTASKS_EMULATOR_FAULT", "hang")
    monkeypatch.setenv("SCHTASKS_EMULATOR_HANG_SECONDS", "30")
    data = SchtasksBackend(ROOT, timeout=2).run_info(ROOT)
    assert data.tasks is None
    assert "timed out" in data.warnings[0]


def test_a_missing_schtasks_is_a_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECONCILE_SCHTASKS", "no-such-schtasks.exe")
    data = SchtasksBackend(ROOT).run_info(ROOT)
    assert data.tasks is None and "was not found" in data.warnings[0]


# --- the CLI ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def machine(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """The example tasks applied to an emulated machine, then: csv-morning ran and
    succeeded, excel-processing is running, vbs-automation failed with a negative
    HRESULT on 13 March (a day above 12 settles day/month), nightly-restart disabled."""
    workspace = tmp_path_factory.mktemp("status")
    shutil.copytree(EXAMPLES, workspace / "tasks.d")
    env = {"RECONCILE_SCHTASKS": str(EMULATOR), "SCHTASKS_EMULATOR_STATE": str(workspace / "machine"),
           "SCHTASKS_EMULATOR_SEED": "1", "SCHTASKS_EMULATOR_NOW": NOW,
           "RECONCILE_LOCK_DIR": str(workspace / "lock"), "RECONCILE_SCHTASKS_TIMEOUT": "30",
           # Japanese Windows writes its console code page, cp932, which a test off Windows
           # cannot ask for: the output is UTF-8 here, as Windows 11 24H2 writes it.
           "SCHTASKS_EMULATOR_OUTPUT_ENCODING": "utf-8"}
    applied = run_cli("--backend", "schtasks", "apply", "-q", cwd=workspace, env=env)
    assert applied.code == 0, applied.err
    result = "SCHTASKS_EMULATOR_RUN_RESULT"
    for args, extra in ((("/Run", "/TN", "\\Orchestrator\\csv-morning"), {}),
                        (("/Run", "/TN", "\\Orchestrator\\excel-processing"), {result: "267009"}),
                        (("/Run", "/TN", "\\Orchestrator\\vbs-automation"),
                         {result: "-2147024894", "SCHTASKS_EMULATOR_NOW": "2026-03-13T09:30:00"}),
                        (("/Change", "/TN", "\\Orchestrator\\nightly-restart", "/DISABLE"), {})):
        done = subprocess.run([sys.executable, str(EMULATOR), *args], env={**os.environ, **env, **extra},
                              capture_output=True, timeout=60)
        assert done.returncode == 0, done.stderr
    return workspace, env


EXPECTED = {  # path: (enabled, status, last_run, last_result, next_run)
    "\\Orchestrator\\csv-afternoon": (True, "Ready", None, 0x41303, "2026-03-04T13:00:00"),
    "\\Orchestrator\\csv-morning": (True, "Ready", "2026-03-04T10:00:00", 0, "2026-03-05T09:30:00"),
    "\\Orchestrator\\email-delivery": (True, "Ready", None, 0x41303, "2026-03-04T16:00:00"),
    "\\Orchestrator\\excel-processing": (True, "Running", "2026-03-04T10:00:00", 0x41301, "2026-03-04T13:05:00"),
    "\\Orchestrator\\nightly-restart": (False, "Disabled", None, 0x41303, None),
    "\\Orchestrator\\vbs-automation": (True, "Ready", "2026-03-13T09:30:00", 0x80070002, "2026-03-04T15:00:00"),
}
WORDS = {"de-DE": {"Ready": "Bereit", "Running": "Wird ausgeführt", "Disabled": "Deaktiviert"},
         "ja-JP": {"Ready": "準備完了", "Running": "実行中", "Disabled": "無効"}}


@pytest.mark.parametrize("locale", LOCALES)
def test_status_json_in_every_locale(machine: tuple[Path, dict[str, str]], locale: str) -> None:
    workspace, env = machine
    result = run_cli("--backend", "schtasks", "status", "--format", "json", cwd=workspace,
                     env={**env, "SCHTASKS_EMULATOR_LOCALE": locale})
    assert result.code == 0, result.err
    document = json.loads(result.out)
    assert document["backend"] == "schtasks" and document["note"] is None
    rows = {r["path"]: r for r in document["tasks"]}
    assert set(rows) == set(EXPECTED)
    for path, (enabled, status, last_run, last_result, next_run) in EXPECTED.items():
        found = rows[path]
        assert (found["enabled"], found["status"], found["last_run"], found["last_result"], found["next_run"]) == (
            enabled, WORDS.get(locale, {}).get(status, status), last_run, last_result, next_run), path
        assert found["last_result_text"] == results.describe(last_result)


@pytest.mark.parametrize("locale", ["en-US", "de-DE"])
def test_status_text(machine: tuple[Path, dict[str, str]], locale: str) -> None:
    workspace, env = machine
    result = run_cli("--backend", "schtasks", "status", cwd=workspace, env={**env, "SCHTASKS_EMULATOR_LOCALE": locale})
    assert result.code == 0, result.err
    lines = {line.split()[0]: line for line in result.out.splitlines()[1:] if line.strip()}
    assert "running (0x41301 SCHED_S_TASK_RUNNING)" in lines["\\Orchestrator\\excel-processing"]
    assert "2026-03-04T13:05:00" in lines["\\Orchestrator\\excel-processing"]
    assert "never run (0x41303 SCHED_S_TASK_HAS_NOT_RUN)" in lines["\\Orchestrator\\csv-afternoon"]
    assert "success (0)" in lines["\\Orchestrator\\csv-morning"]
    assert "2026-03-13T09:30:00" in lines["\\Orchestrator\\vbs-automation"]
    assert "(0x80070002 ERROR_FILE_NOT_FOUND)" in lines["\\Orchestrator\\vbs-automation"]
    assert WORDS.get(locale, {}).get("Disabled", "Disabled") in lines["\\Orchestrator\\nightly-restart"]
    assert "\\Microsoft\\" not in result.out


def test_status_reads_twice_whole_machine(machine: tuple[Path, dict[str, str]]) -> None:
    workspace, env = machine
    log = Path(env["SCHTASKS_EMULATOR_STATE"]) / "calls.log"
    before = len(log.read_text(encoding="utf-8").splitlines())
    assert run_cli("--backend", "schtasks", "status", cwd=workspace, env=env).code == 0
    calls = [json.loads(line)["argv"] for line in log.read_text(encoding="utf-8").splitlines()[before:]]
    assert calls == [["/Query", "/XML", "ONE"], ["/Query", "/FO", "CSV", "/V", "/NH"]]


@pytest.mark.parametrize("fault", ["csv-fail", "csv-garbage", "csv-truncated"])
@pytest.mark.parametrize("form", ["text", "json"])
def test_a_broken_status_read_still_prints_status(machine: tuple[Path, dict[str, str]], fault: str,
                                                  form: str) -> None:
    workspace, env = machine
    result = run_cli("--backend", "schtasks", "status", "--format", form, cwd=workspace,
                     env={**env, "SCHTASKS_EMULATOR_FAULT": fault})
    assert result.code == 0, result.err
    assert "Traceback" not in result.err
    if form == "json":
        rows = {r["path"]: r for r in json.loads(result.out)["tasks"]}
        assert set(rows) == set(EXPECTED)
        assert rows["\\Orchestrator\\nightly-restart"]["enabled"] is False
    else:
        assert all(path in result.out for path in EXPECTED)


@pytest.mark.parametrize("form", ["text", "json"])
def test_a_broken_status_read_prints_a_warning(machine: tuple[Path, dict[str, str]], form: str) -> None:
    workspace, env = machine
    result = run_cli("--backend", "schtasks", "status", "--format", form, cwd=workspace,
                     env={**env, "SCHTASKS_EMULATOR_FAULT": "csv-fail"})
    assert result.code == 0
    assert "Access is denied" in result.err + result.out
    assert "keeps no run history" not in result.out  # the schtasks backend does; it failed to read it


@pytest.mark.parametrize("locale", ["en-US", "de-DE", "ja-JP"])
def test_status_json_states_are_the_same_words_in_every_locale(machine: tuple[Path, dict[str, str]],
                                                               locale: str) -> None:
    workspace, env = machine
    result = run_cli("--backend", "schtasks", "status", "--format", "json", cwd=workspace,
                     env={**env, "SCHTASKS_EMULATOR_LOCALE": locale})
    document = json.loads(result.out)
    assert document["format_version"] == 1
    states = {r["path"]: r["state"] for r in document["tasks"]}
    assert states == {path: status.lower() for path, (_e, status, _l, _r, _n) in EXPECTED.items()}
