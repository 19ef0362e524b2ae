"""The Windows backend: ``schtasks.exe``.

Reads the whole machine with ONE ``schtasks /Query /XML ONE`` and filters to the root
after parsing; registers with ``/Create /XML FILE /TN PATH /F`` from a private UTF-16LE
file (a task with a password goes through PowerShell instead, see powershell.py); deletes
with ``/Delete /TN PATH /F``; ``status`` reads run data with ONE ``/Query /FO CSV /V /NH``.
Processes are started only here and in powershell.py: never through a shell, always with
a timeout, and never with a password on a command line.

``RECONCILE_SCHTASKS`` names the executable (a ``.py`` file is run with this Python, for
the emulator in tests/emulator); ``RECONCILE_SCHTASKS_TIMEOUT`` the seconds a call may
take; ``RECONCILE_LOCK_DIR`` the folder of the apply lock (default
``%ProgramData%\\reconcile``)."""
from __future__ import annotations

import contextlib
import csv
import datetime as dt
import io
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Callable, Iterable, Iterator, TypeVar

from lxml import etree

from .. import accounts, lock as lock_module, names, results
from ..errors import BackendError, PartialReadError
from ..taskxml import TASK_NS, TaskXmlError, localname, parse
from .base import LiveTask, RunInfo, State

DEFAULT_TIMEOUT = 120.0
DEFAULT_EXECUTABLE = "schtasks.exe"
ENV_EXECUTABLE = "RECONCILE_SCHTASKS"
ENV_TIMEOUT = "RECONCILE_SCHTASKS_TIMEOUT"
ENV_LOCK_DIR = "RECONCILE_LOCK_DIR"
LOCK_NAME = "apply.lock"
T = TypeVar("T")

_DECLARATION = re.compile(r"^\ufeff?\s*<\?xml[^>]*\?>")
_PATH_COMMENT = re.compile(r"^<!--\s*(\\.*?)\s*-->\s*$", re.MULTILINE)
# "(29,24):Interval:PT5S": where Task Scheduler found a problem in the task XML.
_XML_POSITION = re.compile(r"^\(\d+,\d+\):")
_NO_TASKS = "INFO: There are no scheduled tasks presently available"


def console_codepage() -> str:
    """The codec of the console's OEM code page: schtasks writes it on older or
    localised Windows (reference §3.5). Off Windows there is no console code page to
    ask; cp437 (the US OEM page) stands in."""
    if sys.platform == "win32":  # pragma: no cover - Windows only
        try:
            import ctypes

            page = ctypes.windll.kernel32.GetOEMCP()
            codec = f"cp{page}"
            "".encode(codec)
            return codec
        except (OSError, AttributeError, LookupError):
            return "cp437"
    return "cp437"


def decode_output(raw: bytes) -> str:
    """schtasks output bytes to text. The encoding differs between Windows builds
    (reference §3.5): a UTF-16 BOM decides; then strict UTF-8 (Win11 24H2); then the
    console's OEM code page. Never guesses silently: a failure to decode is replaced
    characters in the last step only."""
    if raw.startswith(b"\xff\xfe") or raw.startswith(b"\xfe\xff"):
        return raw.decode("utf-16", errors="replace")
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode(console_codepage(), errors="replace")


def format_exit(code: int) -> str:
    """An exit code as people look it up: small ones in decimal, HRESULTs in hex
    (a POSIX status is 0..255; Windows may report E_FAIL as 2147500037 or negative)."""
    if 0 <= code <= 255:
        return str(code)
    return f"0x{code & 0xFFFFFFFF:08X}"


def error_text(stdout: str, stderr: str) -> str:
    """The lines schtasks explains a failure with, joined into one: ``ERROR: …`` (the
    prefix dropped) plus any ``(line,col):Element:value`` position, or failing those the
    first non-empty line of its output."""
    lines = [ln.strip() for ln in (stderr + "\n" + stdout).splitlines() if ln.strip()]
    picked: list[str] = []
    for line in lines:
        if line.upper().startswith("ERROR:"):
            picked.append(line[6:].strip())
        elif _XML_POSITION.match(line) or line.upper().startswith("WARNING:"):
            picked.append(line)
    if not picked and lines:
        picked = lines[:1]
    return " ".join(picked) if picked else "no message"


class SchtasksBackend:
    """Task Scheduler through schtasks.exe (see the module docstring)."""

    name = "schtasks"

    def __init__(self, root: str, *, executable: str | None = None,
                 timeout: float | None = None, lock_dir: str | os.PathLike[str] | None = None) -> None:
        self.root = names.normalize_root(root)
        self.executable = executable or os.environ.get(ENV_EXECUTABLE) or DEFAULT_EXECUTABLE
        if timeout is None:
            text = os.environ.get(ENV_TIMEOUT)
            try:
                timeout = float(text) if text else DEFAULT_TIMEOUT
            except ValueError:
                raise BackendError(f"{ENV_TIMEOUT}={text!r} is not a number of seconds") from None
        self.timeout = timeout
        self._lock_dir = lock_dir
        self._counter = threading.Lock()
        self.calls = 0
        self.call_log: list[list[str]] = []  # argv after the executable, one per call
        # Why the last run_info() is incomplete or missing; status is informational, so
        # these are printed as warnings and never fail the command.
        self.run_info_warnings: tuple[str, ...] = ()

    # --- running schtasks -------------------------------------------------------------
    def _command(self) -> list[str]:
        executable = self.executable
        if executable.lower().endswith(".py"):
            return [sys.executable, executable]
        found = shutil.which(executable)
        if found is None:
            if os.path.sep in executable or (os.altsep and os.altsep in executable):
                found = executable
            else:
                raise BackendError(
                    f"{executable} was not found on PATH (the schtasks backend needs Windows; "
                    f"set {ENV_EXECUTABLE} to use another program, or use --backend local)")
        return [found]

    def _run(self, args: list[str], what: str) -> subprocess.CompletedProcess[bytes]:
        """Run one schtasks call; raises BackendError on a timeout or if it cannot start.
        ``what`` names the call in messages (``\\Orchestrator\\x: schtasks /Create``)."""
        command = self._command() + args
        with self._counter:
            self.calls += 1
            self.call_log.append(list(args))
        extra = {}
        if sys.platform == "win32":  # pragma: no cover - Windows only
            extra["creationflags"] = getattr(subprocess, "CREATE_NO_WINDOW", 0)
        try:
            return subprocess.run(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, timeout=self.timeout, shell=False,
                                  check=False, **extra)
        except subprocess.TimeoutExpired:
            raise BackendError(
                f"{what} timed out after {self.timeout:g} s (the process was stopped; set "
                f"{ENV_TIMEOUT} to allow longer)") from None
        except OSError as err:
            raise BackendError(f"{what} could not be started: {err.strerror or err}") from None

    def _failure(self, what: str, result: subprocess.CompletedProcess[bytes]) -> str:
        message = error_text(decode_output(result.stdout), decode_output(result.stderr))
        hint = ""
        if "access is denied" in message.lower():
            hint = " (run from an elevated, administrator prompt)"
        return f"{what} failed (exit {format_exit(result.returncode)}): {message}{hint}"

    def _check_path(self, path: str) -> None:
        """Every path written or deleted lies under the root (defence in depth: the
        planner already guarantees it)."""
        if not names.is_under(path, self.root) or "\\\\" in path or path.endswith("\\"):
            raise BackendError(f"{path}: refused: it is not a task path under the root {self.root}")

    # --- reading ----------------------------------------------------------------------
    def read_state(self, root: str) -> State:
        root = names.normalize_root(root)
        what = "schtasks /Query /XML ONE"
        result = self._run(["/Query", "/XML", "ONE"], what)
        stdout = decode_output(result.stdout)
        if result.returncode != 0:
            raise PartialReadError(self._failure(what, result) + "; nothing was changed")
        tasks, warnings = split_tasks(stdout, root)
        return State(tasks=tasks, warnings=tuple(warnings), calls=1)

    def run_info(self, root: str) -> dict[str, RunInfo] | None:
        """Run data per task key from ONE ``/Query /FO CSV /V /NH`` (the whole machine,
        filtered to the root after parsing), or None if it could not be read. Never
        raises: ``status`` is informational, so every problem becomes a line in
        ``run_info_warnings`` instead."""
        root = names.normalize_root(root)
        self.run_info_warnings = ()
        what = "schtasks /Query /FO CSV /V /NH"
        missing = "; Task Scheduler's run data (state, last run, last result) is not shown"
        try:
            result = self._run(["/Query", "/FO", "CSV", "/V", "/NH"], what)
        except BackendError as err:
            self.run_info_warnings = (f"{err}{missing}",)
            return None
        if result.returncode != 0:
            self.run_info_warnings = (self._failure(what, result) + missing,)
            return None
        info, warnings = parse_run_info(decode_output(result.stdout), root)
        if info is None:
            warnings = [w + missing for w in warnings]
        self.run_info_warnings = tuple(warnings)
        return info

    # --- writing ----------------------------------------------------------------------
    def register(self, path: str, xml: str, *, password: str | None = None) -> None:
        self._check_path(path)
        if password is not None:
            # schtasks would want it after /RP, on a command line anyone can list: a
            # password task goes through PowerShell, the password in its environment.
            # (Imported here: powershell.py uses this module's file and output helpers.)
            from . import powershell

            user = principal_user(xml)
            if user is None:
                raise BackendError(f"{path}: a password was given, but the task XML names no "
                                   "Principal/UserId to store it for")
            powershell.register_with_password(path, xml, user, password,
                                              executable=powershell.executable(),
                                              timeout=self.timeout)
            return
        data = task_file_bytes(xml)
        what = f"{path}: schtasks /Create"
        with private_file(data) as file:
            result = self._run(["/Create", "/XML", str(file), "/TN", path, "/F"], what)
        if result.returncode != 0:
            raise BackendError(self._failure(what, result))

    def preflight(self, password_tasks: list[str]) -> None:
        """Before any write: the programs the writes need are there (a missing PowerShell
        found only at the write would leave a renamed password task deleted)."""
        if password_tasks:
            from . import powershell

            try:
                powershell.command(powershell.executable())
            except BackendError as err:
                raise BackendError(f"{password_tasks[0]}: {err}; nothing was changed") from None

    def delete(self, path: str) -> None:
        self._check_path(path)
        what = f"{path}: schtasks /Delete"
        result = self._run(["/Delete", "/TN", path, "/F"], what)
        if result.returncode != 0:
            raise BackendError(self._failure(what, result))

    # --- accounts and the lock --------------------------------------------------------
    def resolve_account(self, name: str) -> str:
        return accounts.chained(lookup_account_sid)(name)

    def lock_path(self) -> Path:
        folder = self._lock_dir or os.environ.get(ENV_LOCK_DIR)
        if not folder:
            if sys.platform == "win32":  # pragma: no cover - Windows only
                folder = os.path.join(os.environ.get("ProgramData", r"C:\ProgramData"), "reconcile")
            else:
                folder = os.path.join(tempfile.gettempdir(), "reconcile")
        return Path(folder) / LOCK_NAME

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        with lock_module.acquire(self.lock_path()):
            yield


def lookup_account_sid(name: str) -> str | None:
    """The SID Windows has for an account name (LookupAccountNameW), or None."""
    if sys.platform != "win32":
        return None
    return _lookup_windows(name)  # pragma: no cover - Windows only


def _lookup_windows(name: str) -> str | None:  # pragma: no cover - Windows only
    import ctypes
    from ctypes import wintypes

    try:
        advapi32 = ctypes.WinDLL("advapi32", use_last_error=True)
        kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
        sid_size, domain_size = wintypes.DWORD(0), wintypes.DWORD(0)
        use = wintypes.DWORD()
        advapi32.LookupAccountNameW(None, name, None, ctypes.byref(sid_size), None,
                                    ctypes.byref(domain_size), ctypes.byref(use))
        if sid_size.value == 0:
            return None
        sid = ctypes.create_string_buffer(sid_size.value)
        domain = ctypes.create_unicode_buffer(domain_size.value)
        if not advapi32.LookupAccountNameW(None, name, sid, ctypes.byref(sid_size), domain,
                                           ctypes.byref(domain_size), ctypes.byref(use)):
            return None
        text = wintypes.LPWSTR()
        if not advapi32.ConvertSidToStringSidW(sid, ctypes.byref(text)):
            return None
        try:
            return text.value
        finally:
            kernel32.LocalFree(text)
    except (OSError, AttributeError, ValueError):
        return None


def task_file_bytes(xml: str) -> bytes:
    """The file /Create reads: UTF-16LE with a BOM and a matching declaration, CRLF
    line ends (reference §2.5: the only form every Windows accepts)."""
    body = _DECLARATION.sub("", xml, count=1).lstrip("\r\n")
    text = '<?xml version="1.0" encoding="UTF-16"?>\n' + body
    text = text.replace("\r\n", "\n").replace("\n", "\r\n")
    if not text.endswith("\r\n"):
        text += "\r\n"
    return b"\xff\xfe" + text.encode("utf-16-le")


@contextlib.contextmanager
def private_file(data: bytes) -> Iterator[Path]:
    """A file only this user can read (0600 in a 0700 folder; on Windows the user's own
    temp folder), removed afterwards whatever happens."""
    folder = Path(tempfile.mkdtemp(prefix="reconcile-"))
    file = folder / "task.xml"
    try:
        fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        yield file
    finally:
        with contextlib.suppress(OSError):
            file.unlink()
        with contextlib.suppress(OSError):
            folder.rmdir()


# --- splitting /Query /XML ONE --------------------------------------------------------
def split_tasks(text: str, root: str) -> tuple[dict[str, LiveTask], list[str]]:
    """The tasks under ``root`` in ``/Query /XML ONE`` output, and warnings.

    The output is one document: ``<Tasks>`` holding, for each task, a ``<!-- \\path -->``
    comment and the ``<Task>`` (reference §3.4); a bare ``<Task>`` document (``/TN X /XML
    ONE`` on some builds) is accepted too, its path read from RegistrationInfo/URI. A
    task outside the root that cannot be read is a warning; anything that leaves the
    root's tasks in doubt (bad output, truncation, a task in the root that cannot be
    read) raises PartialReadError, so nothing gets written."""
    stripped = text.strip()
    if stripped.startswith(_NO_TASKS):
        return {}, []  # schtasks' own word that there is nothing (to this account)
    if not stripped:
        # Windows always has tasks of its own: silence is a failure, not an empty machine.
        raise PartialReadError("schtasks /Query /XML ONE printed nothing; nothing was changed")
    try:
        document = parse(stripped, "schtasks /Query /XML ONE output")
    except TaskXmlError as err:
        return _split_damaged(stripped, root, str(err))
    tasks: dict[str, LiveTask] = {}
    warnings: list[str] = []
    if localname(document) == "Task":
        path = _uri(document)
        if path is None:
            raise PartialReadError("schtasks /Query /XML ONE returned a task without a path; "
                                   "nothing was changed")
        _keep(tasks, path, document, root)
        return tasks, warnings
    if localname(document) != "Tasks":
        raise PartialReadError(f"schtasks /Query /XML ONE returned <{localname(document)}>, "
                               "not <Tasks>; nothing was changed")
    path: str | None = None
    for node in document:
        if isinstance(node, etree._Comment):
            path = (node.text or "").strip()
            continue
        if not isinstance(node.tag, str):
            continue
        where = path if path else _uri(node)
        path = None
        if localname(node) != "Task" or where is None:
            problem = f"an element <{localname(node)}> without a task path"
            raise PartialReadError(f"schtasks /Query /XML ONE output holds {problem}; nothing was changed")
        if etree.QName(node).namespace != TASK_NS:
            message = f"{where}: the task's XML is not in the Task Scheduler namespace"
            if names.is_under(where, root):
                raise PartialReadError(message + "; nothing was changed")
            warnings.append(message + "; skipped (outside the root)")
            continue
        _keep(tasks, where, node, root)
    return tasks, warnings


def _uri(task: etree._Element) -> str | None:
    for info in task:
        if isinstance(info.tag, str) and localname(info) == "RegistrationInfo":
            for child in info:
                if isinstance(child.tag, str) and localname(child) == "URI" and (child.text or "").strip():
                    return (child.text or "").strip()
    return None


def _keep(tasks: dict[str, LiveTask], path: str, task: etree._Element, root: str) -> None:
    if not names.is_under(path, root):
        return
    text = etree.tostring(task, encoding="unicode", with_tail=False)
    tasks[names.key(path)] = LiveTask(path=path, xml=text)


def _split_damaged(text: str, root: str, error: str) -> tuple[dict[str, LiveTask], list[str]]:
    """The document as a whole is not well-formed: find out whether the damage is
    confined to tasks outside the root (warnings) or not (PartialReadError)."""
    if "<!DOCTYPE" in text or "<!ENTITY" in text:
        raise PartialReadError(f"{error}; nothing was changed")
    opening = text.find("<Tasks>")
    closing = text.rfind("</Tasks>")
    if opening < 0 or closing < 0 or text[closing + len("</Tasks>"):].strip():
        raise PartialReadError(
            f"schtasks /Query /XML ONE output is incomplete or not XML ({error}); nothing was changed")
    body = text[opening + len("<Tasks>"):closing]
    matches = list(_PATH_COMMENT.finditer(body))
    if not matches or body[:matches[0].start()].strip():
        raise PartialReadError(
            f"schtasks /Query /XML ONE output is not as expected ({error}); nothing was changed")
    tasks: dict[str, LiveTask] = {}
    warnings: list[str] = []
    for i, match in enumerate(matches):
        path = match.group(1).strip()
        end = matches[i + 1].start() if i + 1 < len(matches) else len(body)
        chunk = body[match.end():end]
        try:
            task = parse(chunk, path)
            if localname(task) != "Task" or etree.QName(task).namespace != TASK_NS:
                raise TaskXmlError(f"{path}: not a Task Scheduler task")
        except TaskXmlError as err:
            if names.is_under(path, root):
                raise PartialReadError(f"{err}; nothing was changed") from None
            warnings.append(f"{err}; skipped (outside the root)")
            continue
        _keep(tasks, path, task, root)
    if not warnings:
        # Every task reads on its own, yet the whole did not: the damage is between
        # tasks, so what is in the root cannot be trusted.
        raise PartialReadError(
            f"schtasks /Query /XML ONE output is not well-formed ({error}); nothing was changed")
    return tasks, warnings


def principal_user(xml: str) -> str | None:
    """The account of the task's Principal (``UserId``): the one a password is stored
    for. None if the XML cannot be read or names no user."""
    try:
        task = parse(xml, "task XML")
    except TaskXmlError:
        return None
    for principals in children_named(task, "Principals"):
        for principal in children_named(principals, "Principal"):
            for user in children_named(principal, "UserId"):
                if (user.text or "").strip():
                    return (user.text or "").strip()
    return None


def children_named(element: etree._Element, name: str) -> Iterator[etree._Element]:
    return (c for c in element if isinstance(c.tag, str) and localname(c) == name)


# --- reading /Query /FO CSV /V /NH (status) -------------------------------------------
# The verbose CSV has 28 columns (reference §3.4). They are taken by position: /NH drops
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
    """Last Result: decimal (reference §4), negative for HRESULTs on some builds, as an
    unsigned 32-bit value; None without digits; ValueError if it is no number."""
    text = _clean(value)
    if not _has_digit(text):
        return None
    hexadecimal = text.lower().lstrip("+-").startswith("0x")
    return results.normalize(int(text, 16 if hexadecimal else 10))


def machine_day_first() -> bool:
    """Whether this machine's short date puts the day before the month: asked of Windows
    (the user's locale, which schtasks formats with [GUESS]); off Windows there is no
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
