"""``schtasks /Query /FO CSV /V /NH`` output, read: run data per task for ``status``,
from a CSV whose dates, status words and headers are in the machine's display language."""
from __future__ import annotations

import csv
import datetime as dt
import io
import re
import sys
from typing import Callable, Iterable, TypeVar

from .. import names, results
from .base import RunInfo

T = TypeVar("T")


# The verbose CSV has 28 columns (Microsoft Learn, "schtasks query" with /FO CSV /V). They are taken by position: /NH drops
# the header, and where a header still appears (once per folder on some builds) it is in
# the display language, so its names prove nothing. A record is a task's when its
# TaskName column is a full path (starts with "\"); any other record with a non-numeric
# Last Result is a header, in whatever language, and is skipped.
_TASK_NAME, _NEXT_RUN, _STATUS, _LAST_RUN, _LAST_RESULT = 1, 2, 3, 5, 6
_MIN_COLUMNS = _LAST_RESULT + 1
_CSV_WHAT = "schtasks /Query /FO CSV /V /NH"
# Windows' "never run" Last Run Time: 11/30/1999 12:00:00 AM in en-US, the same day in
# every other locale's spelling.
NEVER_RUN_DATE = dt.date(1999, 11, 30)
# Marks some locales put around date parts (left-to-right marks), and a stray BOM.
_INVISIBLE = dict.fromkeys(map(ord, "\u200e\u200f\u202a\u202b\u202c\u202d\u202e\ufeff"), None)
_AM = ("AM", "A.M.", "A. M.", "午前", "上午", "오전")
_PM = ("PM", "P.M.", "P. M.", "午後", "下午", "오후")
_MARKER = "|".join(re.escape(m) for m in sorted(_AM + _PM, key=len, reverse=True))
# A short date (three numbers, any of / . - between them, an optional trailing dot as in
# "2026. 11. 21.") and a time (":" or "." between its parts) with an optional AM/PM
# marker before or after it.
_STAMP = re.compile(
    r"^(?P<a>\d{1,4})\s*[./-]\s*(?P<b>\d{1,2})\s*[./-]\s*(?P<c>\d{1,4})\.?"
    r"(?:[\sT,]+(?:(?P<pre>" + _MARKER + r")\s*)?"
    r"(?P<hour>\d{1,2})[:.](?P<minute>\d{2})(?:[:.](?P<second>\d{2}))?"
    r"(?:\s*(?P<post>" + _MARKER + r"))?)?$",
    re.IGNORECASE)


def _clean(value: str) -> str:
    return value.translate(_INVISIBLE).strip()


def _has_digit(value: str) -> bool:
    return any(ch.isdigit() for ch in value)


def _day_month_fields(value: str) -> tuple[int, int] | None:
    """The two fields whose order the locale decides (day/month or month/day), or None
    for a year-first date (never ambiguous) or no date at all."""
    match = _STAMP.match(_clean(value))
    if match is None or len(match["a"]) == 4:
        return None
    return int(match["a"]), int(match["b"])


def day_first_evidence(values: Iterable[str]) -> bool | None:
    """What the dates of one output say about their order: True if some date can only be
    day/month (its first field is above 12), False if some can only be month/day, None
    if none settles it or they disagree."""
    day_first = month_first = False
    for value in values:
        fields = _day_month_fields(value)
        if fields is None:
            continue
        first, second = fields
        if first > 12 >= second:
            day_first = True
        elif second > 12 >= first:
            month_first = True
    return None if day_first == month_first else day_first


def parse_run_time(value: str, day_first: bool) -> dt.datetime | None:
    """One Next/Last Run Time as schtasks prints it in the machine's locale.

    None for "N/A" in any language (a value without a digit) and for the never-run day
    1999-11-30; ValueError for a value with digits that is no date. Day and month are
    read in the order that is certain for this value (a field above 12 is the day),
    otherwise in ``day_first`` order; a four-digit first field means year/month/day."""
    text = _clean(value)
    if not _has_digit(text):
        return None
    match = _STAMP.match(text)
    if match is None:
        raise ValueError(f"not a date: {value!r}")
    a, b, c = int(match["a"]), int(match["b"]), int(match["c"])
    if len(match["a"]) == 4:
        year, month, day = a, b, c
    else:
        year = c if len(match["c"]) > 2 else c + (2000 if c < 70 else 1900)
        if a > 12 or (day_first and b <= 12):
            day, month = a, b
        else:
            month, day = a, b
    hour = int(match["hour"] or 0)
    marker = (match["pre"] or match["post"] or "").upper()
    if marker:
        if not 1 <= hour <= 12:
            raise ValueError(f"not a 12-hour time: {value!r}")
        hour = hour % 12 + (12 if marker in _PM else 0)
    moment = dt.datetime(year, month, day, hour, int(match["minute"] or 0), int(match["second"] or 0))
    return None if moment.date() == NEVER_RUN_DATE else moment


def parse_result(value: str) -> int | None:
    """Last Result: decimal (as schtasks prints it), negative for HRESULTs on some builds, as an
    unsigned 32-bit value; None without digits; ValueError if it is no number."""
    text = _clean(value)
    if not _has_digit(text):
        return None
    hexadecimal = text.lower().lstrip("+-").startswith("0x")
    return results.normalize(int(text, 16 if hexadecimal else 10))


def machine_day_first() -> bool:
    """Whether this machine's short date puts the day before the month: asked of Windows
    (the user's locale, which schtasks is assumed to format with: not documented); off Windows there is no
    such setting and month/day (en-US) is assumed."""
    if sys.platform == "win32":  # pragma: no cover - Windows
        pattern = _short_date_pattern()
        if pattern:
            return day_before_month(pattern)
    return False


def day_before_month(pattern: str) -> bool:
    """``dd/MM/yyyy`` → True; ``M/d/yyyy`` and ``yyyy/MM/dd`` → False (a Windows
    date pattern; quoted literals ignored)."""
    bare = re.sub(r"'[^']*'", "", pattern)
    day, month = bare.find("d"), bare.find("M")
    return 0 <= day < month


def _short_date_pattern() -> str | None:  # pragma: no cover - Windows
    """The user's short date pattern: GetLocaleInfoEx(LOCALE_SSHORTDATE), else the
    registry value HKCU\\Control Panel\\International\\sShortDate."""
    if sys.platform != "win32":  # mypy checks what follows for Windows only
        return None
    try:
        import ctypes
        from ctypes import wintypes

        get_info = ctypes.WinDLL("kernel32", use_last_error=True).GetLocaleInfoEx
        get_info.argtypes = [wintypes.LPCWSTR, wintypes.DWORD, wintypes.LPWSTR, ctypes.c_int]
        get_info.restype = ctypes.c_int
        buffer = ctypes.create_unicode_buffer(128)
        if get_info(None, 0x1F, buffer, len(buffer)):  # NULL: the user's locale; LOCALE_SSHORTDATE
            return buffer.value
    except (OSError, AttributeError):
        pass
    try:
        import winreg

        with winreg.OpenKey(winreg.HKEY_CURRENT_USER, r"Control Panel\International") as key:
            return str(winreg.QueryValueEx(key, "sShortDate")[0])
    except OSError:
        return None


def _records(text: str) -> tuple[list[list[str]], int]:
    """Task records of the CSV, and how many other non-blank records were neither a
    task nor a header (damage). csv.Error propagates."""
    tasks: list[list[str]] = []
    other = 0
    for record in csv.reader(io.StringIO(text, newline="")):
        if not any(field.strip() for field in record):
            continue
        name = _clean(record[_TASK_NAME]) if len(record) >= _MIN_COLUMNS else ""
        if name.startswith("\\"):
            tasks.append(record)
        elif len(record) >= _MIN_COLUMNS and not _has_digit(record[_LAST_RESULT]):
            continue  # a header ("TaskName", "Aufgabenname", "タスク名", …)
        else:
            other += 1
    return tasks, other


def parse_run_info(text: str, root: str, default_day_first: bool | None = None
                   ) -> tuple[dict[str, RunInfo] | None, list[str]]:
    """``/Query /FO CSV /V /NH`` output → run data per task key under ``root``, and
    warnings; None (with a warning) when nothing in it reads as task records.

    Several records of one task (one per trigger) are merged: the earliest real Next Run
    Time wins; status, Last Run Time and Last Result are the task's own, so the first
    readable one is taken. Dates are in the locale's format; which of day and month
    comes first is decided by (1) the date itself when a field is above 12, else (2)
    the other dates of the same output, the whole machine's, when any of them settles
    it (the never-run day 11/30/1999 alone settles it on most machines), else (3) the
    machine's short date order (``machine_day_first``; ``default_day_first`` replaces it
    in tests). A value that cannot be read is shown as unknown, with a warning."""
    root = names.normalize_root(root)
    body = _clean(text)
    if body.upper().startswith("INFO:"):
        return {}, []  # "no scheduled tasks presently available" (to this account)
    if not body:
        return None, [f"{_CSV_WHAT} printed nothing"]
    try:
        records, damaged = _records(body)
    except csv.Error as err:
        return None, [f"{_CSV_WHAT} printed no readable CSV ({err})"]
    if not records:
        return None, [f"{_CSV_WHAT} printed nothing that reads as task records"]
    warnings: list[str] = []
    if damaged:
        warnings.append(f"{_CSV_WHAT}: {damaged} line(s) were neither task records nor headers "
                        "and were skipped")
    day_first = day_first_evidence(r[c] for r in records for c in (_NEXT_RUN, _LAST_RUN))
    if day_first is None:
        day_first = machine_day_first() if default_day_first is None else default_day_first
    grouped: dict[str, list[list[str]]] = {}
    for record in records:
        path = _clean(record[_TASK_NAME])
        if names.is_under(path, root):
            grouped.setdefault(names.key(path), []).append(record)
    info = {key: _merge(group, day_first, warnings) for key, group in grouped.items()}
    return info, list(dict.fromkeys(warnings))


def _merge(records: list[list[str]], day_first: bool, warnings: list[str]) -> RunInfo:
    path = _clean(records[0][_TASK_NAME])

    def read(record: list[str], column: int, what: str, reader: Callable[[str], T]) -> T | None:
        try:
            return reader(record[column])
        except ValueError:
            warnings.append(f"{path}: {what} {record[column].strip()!r} could not be read; "
                            "shown as unknown")
            return None

    def when(value: str) -> dt.datetime | None:
        return parse_run_time(value, day_first)

    status: str | None = None
    last_run: dt.datetime | None = None
    last_result: int | None = None
    upcoming: list[dt.datetime] = []
    for record in records:  # columns in their order, so warnings come in that order too
        moment = read(record, _NEXT_RUN, "Next Run Time", when)
        if moment is not None:
            upcoming.append(moment)
        status = status or _clean(record[_STATUS]) or None
        last_run = last_run or read(record, _LAST_RUN, "Last Run Time", when)
        if last_result is None:
            last_result = read(record, _LAST_RESULT, "Last Result", parse_result)
    return RunInfo(status=status, last_run=_iso(last_run), last_result=last_result,
                   next_run=_iso(min(upcoming) if upcoming else None))


def _iso(moment: dt.datetime | None) -> str | None:
    return moment.isoformat(timespec="seconds") if moment is not None else None
