"""Every Windows behaviour the schtasks emulator imitates, in one place.

Each rule cites the section of shared/reference/windows-task-scheduler.md ("ref §N") it
comes from and how sure it is, with the reference's tags:
  [MS]        Microsoft documentation or [MS-TSCH]
  [WIN-TEST]  Wine conformance tests (they pass on real Windows)
  [OBS]       observed on real Windows by someone outside Microsoft; also "137.xml", the
              real Windows 10 `schtasks /Query /XML ONE` export in shared/corpus
  [GUESS]     inferred; tests/test_windows_real.py probes these on a real Windows runner

This module is written independently of the project's normaliser (reconciler.normalize):
it imports nothing from ``reconciler``, so the emulator cannot share the normaliser's
mistakes. lxml is used only to read XML; the text Windows writes is produced by hand.
"""
from __future__ import annotations

import datetime as _dt
import re
TYPE_CHECKING = False  # typing itself is not imported: every emulated call starts Python
if TYPE_CHECKING:
    from typing import Callable, Iterable

from lxml import etree

TASK_NS = "http://schemas.microsoft.com/windows/2004/02/mit/task"
_NS = "{%s}" % TASK_NS

# --- HRESULTs and their messages --------------------------------------------------------
# ref §3.3 / sched-hresults.md [MS]: schtasks prints "ERROR: " + the FormatMessage text.
SCHED_E_UNEXPECTEDNODE = 0x80041316
SCHED_E_NAMESPACE = 0x80041317
SCHED_E_INVALIDVALUE = 0x80041318
SCHED_E_MISSINGNODE = 0x80041319
SCHED_E_MALFORMEDXML = 0x8004131A
SCHED_E_TOO_MANY_NODES = 0x8004131D
SCHED_E_TASK_DISABLED = 0x80041326
SCHED_E_START_ON_DEMAND = 0x80041328
SCHED_E_DEPRECATED_FEATURE_USED = 0x80041330
E_FAIL = 0x80004005
E_ACCESSDENIED = 0x80070005
ERROR_FILE_NOT_FOUND = 0x80070002
ERROR_PATH_NOT_FOUND = 0x80070003
ERROR_INVALID_NAME = 0x8007007B
ERROR_LOGON_FAILURE = 0x8007052E
ERROR_NONE_MAPPED = 0x80070534
SCHED_E_SERVICE_TOO_BUSY = 0x80041323

MESSAGES = {
    SCHED_E_UNEXPECTEDNODE: "The task XML contains an unexpected node.",
    SCHED_E_NAMESPACE: "The task XML contains an element or attribute from an unexpected namespace.",
    SCHED_E_INVALIDVALUE: "The task XML contains a value which is incorrectly formatted or out of range.",
    SCHED_E_MISSINGNODE: "The task XML is missing a required element or attribute.",
    SCHED_E_MALFORMEDXML: "The task XML is malformed.",
    SCHED_E_TOO_MANY_NODES: "The task XML contains too many nodes of the same type.",
    SCHED_E_TASK_DISABLED: "The task is disabled.",
    SCHED_E_START_ON_DEMAND: "The task settings do not allow the task to start on demand.",
    SCHED_E_DEPRECATED_FEATURE_USED: "The task definition uses a deprecated feature.",
    SCHED_E_SERVICE_TOO_BUSY: "The Task Scheduler service is too busy to handle your request. Please try again later.",
    # Win32 FormatMessage texts [MS]; ref §3.3 [OBS] for the first three.
    ERROR_FILE_NOT_FOUND: "The system cannot find the file specified.",
    ERROR_PATH_NOT_FOUND: "The system cannot find the path specified.",
    E_ACCESSDENIED: "Access is denied.",
    ERROR_INVALID_NAME: "The filename, directory name, or volume label syntax is incorrect.",
    ERROR_LOGON_FAILURE: "The user name or password is incorrect.",
    ERROR_NONE_MAPPED: "No mapping between account names and security IDs was done.",
}

# Last Run Result values, ref §4 [MS].
SCHED_S_TASK_RUNNING = 0x41301
SCHED_S_TASK_HAS_NOT_RUN = 0x41303
SCHED_S_TASK_TERMINATED = 0x41306


def exit_status(code: int, platform: str) -> int:
    """The process exit status for a schtasks exit code.

    Windows exits with a 32-bit code: 0, 1, or for a syntax error E_FAIL 0x80004005
    (ref §3.2 [WIN-TEST]). A POSIX exit status has 8 bits, so off Windows the emulator
    keeps the LOW BYTE: 0x80004005 exits with 5 (and an HRESULT under /HRESULT likewise,
    e.g. 0x80041318 -> 0x18 = 24). On Windows it exits with the signed 32-bit value,
    which Windows reports as the same unsigned DWORD as schtasks.exe. Codes 0 and 1 are
    the same everywhere."""
    if code in (0, 1):
        return code
    if platform == "win32":
        return code - (1 << 32) if code >= 1 << 31 else code
    return code & 0xFF


class SchedError(Exception):
    """A failure schtasks reports as ``ERROR: <message>`` plus, for task XML errors, the
    line ``(line,col):Element:value`` (ref §3.3 [OBS]). ``exit_code`` is what schtasks
    exits with: 1 for every such error (ref §3.2 [WIN-TEST]/[OBS]); ``hresult`` is what
    /HRESULT would return."""

    def __init__(self, hresult: int, element: str | None = None, value: str = "",
                 line: int = 0, column: int = 0, detail: str | None = None,
                 exit_code: int = 1) -> None:
        self.hresult = hresult
        self.element = element
        self.value = value
        self.line = line
        self.column = column
        self.detail = detail
        self.exit_code = exit_code
        super().__init__(self.text())

    def text(self) -> str:
        lines = [f"ERROR: {MESSAGES.get(self.hresult, f'0x{self.hresult:08X}')}"]
        if self.detail is not None:
            # Malformed XML: "(1,2)::ERROR: incorrect document syntax" (ref §3.3 [OBS]).
            lines.append(f"({self.line},{self.column})::ERROR: {self.detail}")
        elif self.element is not None:
            lines.append(f"({self.line},{self.column}):{self.element}:{self.value}")
        return "\n".join(lines)


class SyntaxErr(Exception):
    """A command-line syntax error: schtasks prints it and exits with E_FAIL
    (ref §3.2 [WIN-TEST]); the message texts are [GUESS] (from memory of schtasks)."""

    def __init__(self, message: str, verb: str = "") -> None:
        self.message = message
        self.verb = verb
        super().__init__(message)

    def text(self) -> str:
        usage = f"SCHTASKS /{self.verb.upper()} /?" if self.verb else "SCHTASKS /?"
        return f"ERROR: {self.message}\nType \"{usage}\" for usage."


# --- console output messages ----------------------------------------------------------
# ref §3.3: created/deleted/run/end texts [OBS]; the /Change text and the prompts
# other than /Create's are [GUESS] (from memory).
def msg_created(name: str) -> str:
    return f'SUCCESS: The scheduled task "{name}" has successfully been created.'


def msg_deleted(name: str) -> str:
    return f'SUCCESS: The scheduled task "{name}" was successfully deleted.'


def msg_changed(name: str) -> str:
    return f'SUCCESS: The parameters of scheduled task "{name}" have been changed.'


def msg_run(name: str) -> str:
    return f'SUCCESS: Attempted to run the scheduled task "{name}".'


def msg_ended(name: str) -> str:
    return f'SUCCESS: The scheduled task "{name}" has been terminated successfully.'


def prompt_replace(name: str) -> str:
    # ref §3.3 [OBS]. With no console answer schtasks exits 1 (ref §3.2 [WIN-TEST]).
    return f'WARNING: The task name "{name}" already exists. Do you want to replace it (Y/N)? '


def prompt_delete(name: str) -> str:
    return f'WARNING: Are you sure you want to remove the task "{name}" (Y/N)? '  # [GUESS]


# --- task paths -----------------------------------------------------------------------
_FORBIDDEN = set('/:*?"<>|')
MAX_PATH = 238  # schtasks docs: "not exceeding 238 characters" (ref §3.6 [MS])


def task_path(tn: str) -> str:
    """The full path for a /TN value. A leading backslash is optional (ref §3.1
    [WIN-TEST]); a trailing backslash or "." is ERROR_INVALID_NAME (ref §3.6 [WIN-TEST]);
    characters that cannot be in a file name, empty segments, leading spaces or ".."
    are refused the same way ([MS-TSCH] §2.3.11 [MS] + [GUESS] on the error code)."""
    path = tn if tn.startswith("\\") else "\\" + tn
    segments = path[1:].split("\\")
    bad = (
        len(path) > MAX_PATH
        or path.endswith("\\")
        or any(s == "" or s in (".", "..") or s.startswith(" ") or s.endswith(".")
               or any(c in _FORBIDDEN or ord(c) < 32 for c in s) for s in segments)
    )
    if bad:
        raise SchedError(ERROR_INVALID_NAME)
    return path


def path_key(path: str) -> str:
    """Task paths compare case-insensitively (ref §3.6 [MS])."""
    return path.casefold()


# --- accounts -------------------------------------------------------------------------
# Win10/2016+ stores accounts as SIDs (ref §2.3 [OBS]). Well-known accounts [MS].
WELL_KNOWN = {
    "S-1-5-18": ["SYSTEM", "LOCAL SYSTEM", "LOCALSYSTEM", "NT AUTHORITY\\SYSTEM"],
    "S-1-5-19": ["LOCAL SERVICE", "LOCALSERVICE", "NT AUTHORITY\\LOCAL SERVICE",
                 "NT AUTHORITY\\LOCALSERVICE"],
    "S-1-5-20": ["NETWORK SERVICE", "NETWORKSERVICE", "NT AUTHORITY\\NETWORK SERVICE",
                 "NT AUTHORITY\\NETWORKSERVICE"],
    "S-1-5-32-544": ["BUILTIN\\ADMINISTRATORS", "ADMINISTRATORS"],
    "S-1-5-32-545": ["BUILTIN\\USERS", "USERS"],
    "S-1-5-4": ["NT AUTHORITY\\INTERACTIVE", "INTERACTIVE"],
    "S-1-5-11": ["NT AUTHORITY\\AUTHENTICATED USERS", "AUTHENTICATED USERS"],
    "S-1-1-0": ["EVERYONE"],
}
_BY_NAME = {name.casefold(): sid for sid, names in WELL_KNOWN.items() for name in names}
DISPLAY = {"S-1-5-18": "SYSTEM", "S-1-5-19": "LOCAL SERVICE", "S-1-5-20": "NETWORK SERVICE",
           "S-1-5-32-544": "BUILTIN\\Administrators", "S-1-5-32-545": "BUILTIN\\Users"}
SERVICE_SIDS = {"S-1-5-18", "S-1-5-19", "S-1-5-20"}
DEFAULT_CALLER_SID = "S-1-5-21-3623811015-3361044348-30300820-1013"
_SID = re.compile(r"^S-1-\d+(-\d+)+$", re.IGNORECASE)
EMULATOR_HOST = "EMULATOR"


def is_sid(text: str) -> bool:
    return bool(_SID.match(text))


def fake_sid(name: str) -> str:
    """A fixed, made-up domain SID for an account the emulator has no table for (the
    emulator has no accounts database). Case-insensitive like Windows account names; a
    bare ``user`` is the local machine's ``EMULATOR\\user`` (LookupAccountName, Microsoft
    Learn: "the account name translation begins on the local system"). ``.\\user`` never
    gets here: ``resolve_account`` refuses it. Note that ``DOMAIN\\user`` and
    ``user@domain`` get different SIDs here (a real machine maps both to one account)."""
    text = name.strip()
    if "\\" not in text and "@" not in text:
        text = EMULATOR_HOST + "\\" + text
    import hashlib

    digest = hashlib.sha256(text.casefold().encode("utf-8")).digest()
    a, b, c, rid = (int.from_bytes(digest[i:i + 4], "big") for i in (0, 4, 8, 12))
    return f"S-1-5-21-{a}-{b}-{c}-{1000 + rid % 100000}"


def resolve_account(name: str, form: str = "sid") -> str:
    """What Windows stores for an account name: its SID (Win10/2016+, ref §2.3 [OBS]).
    ``form="name"`` imitates Windows 7 on a domain, which keeps ``DOMAIN\\User`` as
    written (ref §2.3 [OBS dahall #29]); well-known accounts still become SIDs there
    [GUESS]. An empty /RU means SYSTEM (schtasks /Create /? [MS])."""
    text = name.strip()
    if text == "":
        return "S-1-5-18"
    if is_sid(text):
        return "S" + text[1:]
    sid = _BY_NAME.get(text.casefold())
    if sid:
        return sid
    if text.startswith(".\\"):
        # LookupAccountName cannot resolve the "." domain (OctopusDeploy/Calamari#233:
        # NTAccount.Translate fails on ".\\username"); that Task Scheduler refuses the task
        # with ERROR_NONE_MAPPED rather than mapping "." to the computer is [GUESS].
        raise SchedError(ERROR_NONE_MAPPED)
    return text if form == "name" else fake_sid(text)


# --- reading the file given to /Create /XML -------------------------------------------
def decode_task_file(raw: bytes) -> str:
    """How schtasks reads the /XML file (ref §2.5, §8): a UTF-16LE BOM means UTF-16LE
    [OBS]; a UTF-16BE BOM UTF-16BE [GUESS]; a UTF-8 BOM UTF-8 [GUESS]; anything else is
    the ANSI code page (cp1252 here) [OBS "pure ANSI works"]. A file whose bytes are not
    UTF-16 but whose declaration says UTF-16 is refused: "(1,40)::ERROR: cannot switch
    the encoding" (ref §2.5 [OBS])."""
    if raw.startswith(b"\xff\xfe"):
        return raw[2:].decode("utf-16-le", errors="replace")
    if raw.startswith(b"\xfe\xff"):
        return raw[2:].decode("utf-16-be", errors="replace")
    text = raw[3:].decode("utf-8", errors="replace") if raw.startswith(b"\xef\xbb\xbf") \
        else raw.decode("cp1252", errors="replace")
    declaration = re.match(r"\s*<\?xml[^>]*\?>", text)
    if declaration and re.search(r"encoding\s*=\s*[\"']UTF-16[\"']", declaration.group(0), re.I):
        raise SchedError(SCHED_E_MALFORMEDXML, line=1, column=declaration.end() + 1,
                         detail="cannot switch the encoding")
    return text


# --- positions ------------------------------------------------------------------------
class _Pos:
    __slots__ = ("start", "end", "tag_text")

    def __init__(self, start: tuple[int, int], end: tuple[int, int], tag_text: str) -> None:
        self.start = start  # (line, column) of the start tag's "<"
        self.end = end  # of the end tag's "<" (the start tag's for <X/>)
        self.tag_text = tag_text  # the start tag, for attribute positions


def _line_col(text: str, offset: int, line_starts: list[int]) -> tuple[int, int]:
    import bisect

    index = bisect.bisect_right(line_starts, offset) - 1
    return index + 1, offset - line_starts[index] + 1


def _positions(text: str) -> list[_Pos]:
    """Start and end positions of every element, in document order (the order lxml's
    ``iter()`` visits them). Only called on text lxml has already parsed."""
    line_starts = [0] + [m.end() for m in re.finditer("\n", text)]
    out: list[_Pos] = []
    stack: list[_Pos] = []
    i = 0
    n = len(text)
    while True:
        i = text.find("<", i)
        if i < 0 or i >= n:
            break
        if text.startswith("<!--", i):
            i = text.find("-->", i) + 3
        elif text.startswith("<![CDATA[", i):
            i = text.find("]]>", i) + 3
        elif text.startswith("<?", i) or text.startswith("<!", i):
            i = text.find(">", i) + 1
        elif text.startswith("</", i):
            pos = stack.pop()
            pos.end = _line_col(text, i, line_starts)
            i = text.find(">", i) + 1
        else:
            j, quote = i + 1, ""
            while j < n:  # the end of the start tag, outside attribute quotes
                c = text[j]
                if quote:
                    quote = "" if c == quote else quote
                elif c in "\"'":
                    quote = c
                elif c == ">":
                    break
                j += 1
            here = _line_col(text, i, line_starts)
            pos = _Pos(here, here, text[i:j + 1])
            out.append(pos)
            if text[j - 1] != "/":
                stack.append(pos)
            i = j + 1
    return out


# XmlLite reports a node one column after its first character (ref §3.3 [OBS] examples
# "(29,24):Interval:PT5S" and "(11,42):EndBoundary:…" point at the "/" of the end tag,
# "(2,8):version:1.5" at the second letter of the attribute) [GUESS, fitted to those].
def _at_start(pos: _Pos) -> tuple[int, int]:
    return pos.start[0], pos.start[1] + 1


def _at_end(pos: _Pos) -> tuple[int, int]:
    return pos.end[0], pos.end[1] + 1


def _at_attribute(pos: _Pos, name: str) -> tuple[int, int]:
    match = re.search(r"\s" + re.escape(name) + r"\s*=", pos.tag_text)
    if not match:
        return _at_start(pos)
    return pos.start[0], pos.start[1] + match.start() + 2


# --- parsing --------------------------------------------------------------------------
def _local(element: etree._Element) -> str:
    return etree.QName(element).localname


def _kids(element: etree._Element | None) -> list[etree._Element]:
    if element is None:
        return []
    return [c for c in element if isinstance(c.tag, str)]


def _text(element: etree._Element) -> str:
    return "".join(element.itertext()) if len(element) else (element.text or "")


def parse(text: str) -> tuple[etree._Element, dict[etree._Element, _Pos]]:
    """Parse task XML as Task Scheduler's reader would: a missing declaration is fine
    (ref §1.6 [WIN-TEST]); an empty document or bad syntax is SCHED_E_MALFORMEDXML with
    the parser's position (ref §1.6 [WIN-TEST], §3.3 [OBS]); a DTD is prohibited
    (XmlLite's default, so no entity is ever expanded) [GUESS on the wording]."""
    # The declaration is blanked, not removed, so that line/column numbers stay right.
    body = re.sub(r"^\ufeff?\s*<\?xml[^>]*\?>", lambda m: " " * len(m.group(0)), text, count=1)
    if not body.strip():
        raise SchedError(SCHED_E_MALFORMEDXML, line=1, column=1, detail="unexpected end of input")
    doctype = re.search(r"<!DOCTYPE|<!ENTITY", body)
    if doctype:
        line = body.count("\n", 0, doctype.start()) + 1
        column = doctype.start() - (body.rfind("\n", 0, doctype.start()) + 1) + 1
        raise SchedError(SCHED_E_MALFORMEDXML, line=line, column=column,
                         detail="DTD is prohibited")
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                             remove_comments=False, strip_cdata=True, huge_tree=False)
    try:
        root = etree.fromstring(body.encode("utf-8"), parser)
    except etree.XMLSyntaxError as err:
        line, column = err.position if err.position else (1, 1)
        raise SchedError(SCHED_E_MALFORMEDXML, line=line, column=column,
                         detail="incorrect document syntax") from None
    elements = [e for e in root.iter() if isinstance(e.tag, str)]
    positions = dict(zip(elements, _positions(body)))
    return root, positions


# --- value types ----------------------------------------------------------------------
_DURATION = re.compile(
    r"^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$"
)
_DATETIME = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d+)?(Z|[+-]\d{2}:\d{2})?$"
)
# A huge duration (P99999999DT23H59M59S) is refused, P3650D works (ref §1.5 [OBS]); the
# exact limit is unknown: 2^31-1 seconds (~68 years) [GUESS].
MAX_DURATION_SECONDS = 2 ** 31 - 1


def duration_seconds(text: str, month_days: int = 30) -> int | None:
    """Seconds in an xs:duration as Task Scheduler reads it ([MS] PnYnMnDTnHnMnS); years
    and months count 365 and ``month_days`` days [GUESS]. None if it is not a duration."""
    value = text.strip()
    match = _DURATION.match(value)
    if not match or value in ("P", "PT") or value.endswith("T"):
        return None
    y, mo, w, d, h, mi, s = match.groups()
    total = (int(y or 0) * 365 + int(mo or 0) * month_days + int(w or 0) * 7 + int(d or 0)) * 86400
    return total + int(h or 0) * 3600 + int(mi or 0) * 60 + int(float(s or 0))


def parse_datetime(text: str) -> _dt.datetime | None:
    """xs:dateTime as [MS] trigger-startboundary writes it: YYYY-MM-DDTHH:MM:SS with an
    optional fraction and offset (ref §1.5). Naive values compare as if UTC [GUESS]."""
    match = _DATETIME.match(text.strip())
    if not match:
        return None
    y, mo, d, h, mi, s, _fraction, zone = match.groups()
    try:
        moment = _dt.datetime(int(y), int(mo), int(d), int(h), int(mi), int(s))
    except ValueError:
        return None
    if zone and zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        moment -= sign * _dt.timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6]))
    return moment


WEEKDAYS = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December")
_DAY = re.compile(r"^([1-9]|[12][0-9]|3[01]|Last)$")  # task.xsd dayOfMonthType [MS]
_WEEK = re.compile(r"^([1-4]|Last)$")  # task.xsd weekType [MS]
_GUID = re.compile(r"^\{[0-9A-Fa-f]{8}-([0-9A-Fa-f]{4}-){3}[0-9A-Fa-f]{12}\}$")
_VERSION = re.compile(r"^\d+(\.\d+){1,3}$")  # task.xsd versionType [MS]
# Windows 10 1709+ understands up to 1.6 (ref §1.3 [WIN-TEST] SchRpcHighestVersion 0x10006);
# a newer version is refused like Win7 refuses 1.5 (ref §1.3 [OBS]).
HIGHEST_VERSION = (1, 6)

# Leaf kinds: ("bool",), ("int", lo, hi), ("dur", lo, hi), ("datetime",), ("enum", {..}),
# ("text",), ("nonempty",), ("guid",), ("markers", names), ("group", context)
BOOL = ("bool",)
TEXT = ("text",)
DUR = ("dur", 0, MAX_DURATION_SECONDS)
DATETIME = ("datetime",)


def _int(lo: int, hi: int) -> tuple:
    return ("int", lo, hi)


def _enum(*values: str) -> tuple:
    return ("enum", frozenset(values))


def _group(name: str) -> tuple:
    return ("group", name)


# --- the schema Windows validates against ---------------------------------------------
# Children each element may have (task.xsd and [MS-TSCH] §2.5 [MS]). Anything else is
# SCHED_E_UNEXPECTEDNODE (ref §1.6 [WIN-TEST], §3.3 [OBS]); e.g. HideAppWindow, which
# newer Windows writes on export but refuses on import (ref §2.1 [OBS]).
_TRIGGER_BASE = {"Enabled": BOOL, "StartBoundary": DATETIME, "EndBoundary": DATETIME,
                 "Repetition": _group("Repetition"), "ExecutionTimeLimit": DUR}
SCHEMA: dict[str, dict[str, tuple]] = {
    "Task": {"RegistrationInfo": _group("RegistrationInfo"), "Triggers": _group("Triggers"),
             "Settings": _group("Settings"), "Data": _group("Any"),
             "Principals": _group("Principals"), "Actions": _group("Actions")},
    "RegistrationInfo": {"URI": TEXT, "SecurityDescriptor": TEXT, "Source": TEXT,
                         "Date": DATETIME, "Author": TEXT, "Version": TEXT,
                         "Description": TEXT, "Documentation": TEXT},
    "Triggers": {k: _group(k) for k in (
        "BootTrigger", "RegistrationTrigger", "IdleTrigger", "TimeTrigger", "EventTrigger",
        "LogonTrigger", "SessionStateChangeTrigger", "CalendarTrigger", "WnfStateChangeTrigger")},
    "BootTrigger": {**_TRIGGER_BASE, "Delay": DUR},
    "RegistrationTrigger": {**_TRIGGER_BASE, "Delay": DUR},
    "IdleTrigger": dict(_TRIGGER_BASE),
    "TimeTrigger": {**_TRIGGER_BASE, "RandomDelay": DUR},
    "EventTrigger": {**_TRIGGER_BASE, "Subscription": ("nonempty",), "Delay": DUR,
                     # PeriodOfOccurrence at least 1 minute ([MS-TSCH] 2.5.3.6 [MS]).
                     "PeriodOfOccurrence": ("dur", 60, MAX_DURATION_SECONDS), "NumberOfOccurrences": _int(1, 32),
                     "MatchingElement": TEXT, "ValueQueries": _group("ValueQueries")},
    "LogonTrigger": {**_TRIGGER_BASE, "UserId": TEXT, "Delay": DUR},
    "SessionStateChangeTrigger": {**_TRIGGER_BASE, "UserId": TEXT, "Delay": DUR,
                                  "StateChange": _enum("ConsoleConnect", "ConsoleDisconnect",
                                                       "RemoteConnect", "RemoteDisconnect",
                                                       "SessionLock", "SessionUnlock")},
    "CalendarTrigger": {**_TRIGGER_BASE, "RandomDelay": DUR,
                        "ScheduleByDay": _group("ScheduleByDay"),
                        "ScheduleByWeek": _group("ScheduleByWeek"),
                        "ScheduleByMonth": _group("ScheduleByMonth"),
                        "ScheduleByMonthDayOfWeek": _group("ScheduleByMonthDayOfWeek")},
    # Not in task.xsd; in real exports from Win8 on (137.xml) [OBS].
    "WnfStateChangeTrigger": {**_TRIGGER_BASE, "Delay": DUR, "StateName": ("nonempty",),
                              "Data": TEXT, "DataOffset": _int(0, 2 ** 31 - 1)},
    # Repetition Interval PT1M..P31D [MS]; Duration at least PT1M [MS].
    "Repetition": {"Interval": ("dur", 60, 31 * 86400), "Duration": ("dur", 60, MAX_DURATION_SECONDS),
                   "StopAtDurationEnd": BOOL},
    "ScheduleByDay": {"DaysInterval": _int(1, 365)},
    "ScheduleByWeek": {"WeeksInterval": _int(1, 52), "DaysOfWeek": ("markers", WEEKDAYS)},
    "ScheduleByMonth": {"DaysOfMonth": _group("DaysOfMonth"), "Months": ("markers", MONTHS)},
    "ScheduleByMonthDayOfWeek": {"Weeks": _group("Weeks"), "DaysOfWeek": ("markers", WEEKDAYS),
                                 "Months": ("markers", MONTHS)},
    "DaysOfMonth": {"Day": ("pattern", _DAY)},
    "Weeks": {"Week": ("pattern", _WEEK)},
    "ValueQueries": {"Value": TEXT},
    "Settings": {
        "AllowStartOnDemand": BOOL, "RestartOnFailure": _group("RestartOnFailure"),
        "MultipleInstancesPolicy": _enum("Parallel", "Queue", "IgnoreNew", "StopExisting"),
        "DisallowStartIfOnBatteries": BOOL, "StopIfGoingOnBatteries": BOOL,
        "AllowHardTerminate": BOOL, "StartWhenAvailable": BOOL, "NetworkProfileName": TEXT,
        "RunOnlyIfNetworkAvailable": BOOL, "WakeToRun": BOOL, "Enabled": BOOL, "Hidden": BOOL,
        "DeleteExpiredTaskAfter": DUR, "IdleSettings": _group("IdleSettings"),
        "NetworkSettings": _group("NetworkSettings"), "ExecutionTimeLimit": DUR,
        "Priority": _int(0, 10), "RunOnlyIfIdle": BOOL, "UseUnifiedSchedulingEngine": BOOL,
        "DisallowStartOnRemoteAppSession": BOOL,
        "MaintenanceSettings": _group("MaintenanceSettings"), "Volatile": BOOL,
    },
    # RestartOnFailure: Interval PT1M..P31D and Count >= 1, both required [MS].
    "RestartOnFailure": {"Interval": ("dur", 60, 31 * 86400), "Count": _int(1, 2 ** 31 - 1)},
    "IdleSettings": {"Duration": DUR, "WaitTimeout": DUR, "StopOnIdleEnd": BOOL,
                     "RestartOnIdle": BOOL},
    "NetworkSettings": {"Name": TEXT, "Id": ("guid",)},
    # MaintenanceSettings: Period and Deadline at least P1D [MS].
    "MaintenanceSettings": {"Period": ("dur", 86400, MAX_DURATION_SECONDS),
                            "Deadline": ("dur", 86400, MAX_DURATION_SECONDS),
                            "Exclusive": BOOL},
    "Principals": {"Principal": _group("Principal")},
    "Principal": {"UserId": TEXT, "LogonType": _enum("S4U", "Password", "InteractiveToken",
                                                     "InteractiveTokenOrPassword"),
                  "GroupId": TEXT, "DisplayName": TEXT,
                  "RunLevel": _enum("LeastPrivilege", "HighestAvailable"),
                  "ProcessTokenSidType": _enum("None", "Unrestricted"),
                  "RequiredPrivileges": _group("RequiredPrivileges")},
    "RequiredPrivileges": {"Privilege": ("pattern", re.compile(r"^Se[A-Za-z]+Privilege$"))},
    "Actions": {"Exec": _group("Exec"), "ComHandler": _group("ComHandler"),
                "SendEmail": _group("Deprecated"), "ShowMessage": _group("Deprecated")},
    # Exec Command: pathType, 1..260 characters [MS].
    "Exec": {"Command": ("path",), "Arguments": TEXT, "WorkingDirectory": ("path0",)},
    "ComHandler": {"ClassId": ("guid",), "Data": TEXT},
}
# Elements that may repeat (everything else appearing twice is an unexpected node [GUESS]).
REPEATABLE = {"Triggers": None, "Actions": None, "DaysOfMonth": 32, "Weeks": 5,
              "ValueQueries": 32, "RequiredPrivileges": 64}
ATTRIBUTES = {"Task": {"version"}, "Principal": {"id"}, "Actions": {"Context"}, "Value": {"name"},
              **{k: {"id"} for k in SCHEMA["Triggers"]}, "Exec": {"id"}, "ComHandler": {"id"}}
MAX_TRIGGERS = 48  # task.xsd maxOccurs="48" [MS]; the error code is [GUESS]
MAX_ACTIONS = 32  # task.xsd and [MS-TSCH] "up to 32 actions" [MS]; the error code is [GUESS]

# Features newer than the declared version are refused (ref §1.3 [MS-TSCH] + [OBS]
# "unexpected node (33,7):UseUnifiedSchedulingEngine:" in a 1.2 task).
VERSION_GATES: dict[tuple[str, str], tuple[int, int]] = {
    ("Settings", "UseUnifiedSchedulingEngine"): (1, 3),  # [MS-TSCH] §2.5.4
    ("Settings", "DisallowStartOnRemoteAppSession"): (1, 3),  # [MS-TSCH] §2.5.4
    ("Settings", "MaintenanceSettings"): (1, 4),  # [MS-TSCH] §2.5.4
    ("Settings", "Volatile"): (1, 4),  # [MS-TSCH] §2.5.4
    ("Principal", "ProcessTokenSidType"): (1, 3),  # [GUESS] IPrincipal2 is Windows 7
    ("Principal", "RequiredPrivileges"): (1, 3),  # [GUESS] same
    ("Triggers", "WnfStateChangeTrigger"): (1, 4),  # [GUESS] every export with one says >= 1.4
}


def _version_tuple(text: str | None) -> tuple[int, ...] | None:
    return tuple(int(p) for p in text.split(".")) if text else None


class _Validator:
    """Walks the task in document order and raises the first error, as Windows' reader
    stops at the first problem (ref §1.6 [WIN-TEST])."""

    def __init__(self, positions: dict[etree._Element, _Pos]) -> None:
        self.positions = positions
        self.version: tuple[int, ...] | None = None

    def fail(self, hresult: int, element: etree._Element, name: str | None = None,
             value: str = "", where: str = "start") -> SchedError:
        pos = self.positions.get(element)
        line, column = (0, 0)
        if pos is not None:
            line, column = _at_end(pos) if where == "end" else _at_start(pos)
        return SchedError(hresult, name if name is not None else _local(element), value, line, column)

    def run(self, root: etree._Element) -> None:
        # Namespace first (no xmlns -> SCHED_E_NAMESPACE), then the root's name
        # (<TASK> -> SCHED_E_UNEXPECTEDNODE) (ref §1.6 [WIN-TEST]; the order [GUESS]).
        if etree.QName(root).namespace != TASK_NS:
            raise self.fail(SCHED_E_NAMESPACE, root)
        if _local(root) != "Task":
            raise self.fail(SCHED_E_UNEXPECTEDNODE, root)
        version = root.get("version")
        if version is not None:
            parsed = _version_tuple(version) if _VERSION.match(version) else None
            if parsed is None or parsed[:2] > HIGHEST_VERSION or parsed[:2] < (1, 0):
                pos = self.positions[root]
                line, column = _at_attribute(pos, "version")
                raise SchedError(SCHED_E_INVALIDVALUE, "version", version, line, column)
            self.version = parsed
        # No version attribute (27 corpus tasks, mostly built-in ones): no feature gate
        # applies [GUESS].
        self._attributes(root, "Task")
        self._element(root, "Task")
        names = [_local(c) for c in _kids(root)]
        if "Actions" not in names:  # Actions is required (task.xsd [MS]); position [GUESS]
            raise self.fail(SCHED_E_MISSINGNODE, root, "Actions", where="end")
        self._semantics(root)

    def _attributes(self, element: etree._Element, context: str) -> None:
        allowed = ATTRIBUTES.get(context, set())
        for name in element.attrib:
            qname = etree.QName(name)
            if qname.namespace is not None:
                raise self.fail(SCHED_E_NAMESPACE, element, qname.localname)
            if name not in allowed:  # [GUESS] unknown attributes are unexpected nodes
                raise self.fail(SCHED_E_UNEXPECTEDNODE, element, name)

    def _element(self, element: etree._Element, context: str) -> None:
        table = SCHEMA[context]
        seen: dict[str, int] = {}
        for child in _kids(element):
            if etree.QName(child).namespace != TASK_NS:
                raise self.fail(SCHED_E_NAMESPACE, child)
            name = _local(child)
            if name not in table:
                raise self.fail(SCHED_E_UNEXPECTEDNODE, child)
            gate = VERSION_GATES.get((context, name))
            if gate and self.version is not None and self.version[:2] < gate:
                raise self.fail(SCHED_E_UNEXPECTEDNODE, child)
            seen[name] = seen.get(name, 0) + 1
            if context not in REPEATABLE and seen[name] > 1:
                raise self.fail(SCHED_E_UNEXPECTEDNODE, child)  # a second singleton [GUESS]
            limit = REPEATABLE.get(context)
            if limit is not None and seen[name] > limit:
                raise self.fail(SCHED_E_TOO_MANY_NODES, child)  # [GUESS] on the code
            self._attributes(child, name if name in ATTRIBUTES else context + "/" + name)
            self._value(child, name, table[name])
        if context == "Triggers" and sum(seen.values()) > MAX_TRIGGERS:
            raise self.fail(SCHED_E_TOO_MANY_NODES, _kids(element)[MAX_TRIGGERS])
        if context == "Actions":
            if not seen:  # <Actions/> -> SCHED_E_MISSINGNODE (ref §1.6 [WIN-TEST])
                raise self.fail(SCHED_E_MISSINGNODE, element, "Actions", where="end")
            if sum(seen.values()) > MAX_ACTIONS:
                raise self.fail(SCHED_E_TOO_MANY_NODES, _kids(element)[MAX_ACTIONS])

    def _value(self, element: etree._Element, name: str, kind: tuple) -> None:
        tag = kind[0]
        if tag == "group":
            context = kind[1]
            if context == "Any":
                return
            if context == "Deprecated":  # SendEmail/ShowMessage on Win8+ (ref §1.2 [GUESS])
                raise self.fail(SCHED_E_DEPRECATED_FEATURE_USED, element)
            self._element(element, context)
            return
        if _kids(element) and tag != "markers":
            raise self.fail(SCHED_E_UNEXPECTEDNODE, _kids(element)[0])
        raw = _text(element)
        value = raw.strip()
        bad = False
        if tag == "bool":
            # Only lowercase true/false: FALSE is SCHED_E_INVALIDVALUE (ref §1.5
            # [WIN-TEST]); 0/1 are refused too [GUESS: unknown on Windows].
            bad = value not in ("true", "false")
        elif tag == "int":
            bad = not value.isdigit() or not kind[1] <= int(value) <= kind[2]
        elif tag == "dur":
            seconds = duration_seconds(value)
            bad = seconds is None or not kind[1] <= seconds <= kind[2]
        elif tag == "datetime":
            bad = parse_datetime(value) is None
        elif tag == "enum":
            bad = value not in kind[1]
        elif tag == "nonempty":
            bad = value == ""
        elif tag == "guid":
            bad = not _GUID.match(value)
        elif tag == "pattern":
            bad = not kind[1].match(value)
        elif tag in ("path", "path0"):
            bad = len(raw) > 260 or (tag == "path" and value == "")
        elif tag == "markers":
            for marker in _kids(element):
                if _local(marker) not in kind[1] or _kids(marker) or (marker.text or "").strip():
                    raise self.fail(SCHED_E_UNEXPECTEDNODE, marker)
            if not _kids(element):  # empty DaysOfWeek/Months -> MISSINGNODE ([MS-TSCH] §3.2.5.4.2)
                raise self.fail(SCHED_E_MISSINGNODE, element, where="end")
            return
        if bad:
            # The position points at the end tag: the reader knows the value there.
            raise self.fail(SCHED_E_INVALIDVALUE, element, value=raw, where="end")

    def _semantics(self, root: etree._Element) -> None:
        """Rules across elements, checked after the structure ([MS-TSCH] §3.2.5.4.2)."""
        for trigger in _kids(_child(root, "Triggers")):
            kind = _local(trigger)
            parts = {_local(c): c for c in _kids(trigger)}
            start, end = parts.get("StartBoundary"), parts.get("EndBoundary")
            # StartBoundary is required for Time and Calendar triggers ([MS]
            # StartBoundary doc; the error code [GUESS]).
            if kind in ("TimeTrigger", "CalendarTrigger") and start is None:
                raise self.fail(SCHED_E_MISSINGNODE, trigger, "StartBoundary", where="end")
            # EndBoundary before StartBoundary is refused (ref §6 [OBS] "(11,42):EndBoundary:").
            if start is not None and end is not None:
                if parse_datetime(_text(end)) < parse_datetime(_text(start)):  # type: ignore[operator]
                    raise self.fail(SCHED_E_INVALIDVALUE, end, value=_text(end), where="end")
            repetition = parts.get("Repetition")
            if repetition is not None:
                rep = {_local(c): c for c in _kids(repetition)}
                if "Interval" not in rep:  # Interval is required [MS]
                    raise self.fail(SCHED_E_MISSINGNODE, repetition, "Interval", where="end")
                if "Duration" in rep:
                    # Duration equal to Interval is two starts: the end counts (IRepetitionPattern
                    # remarks [MS]); [MS-TSCH] <22> refuses Interval >= Duration only for
                    # Task Scheduler 1.0. A Duration below the Interval is refused [GUESS,
                    # like the compiler's "repeat.for must be at least repeat.every"].
                    if duration_seconds(_text(rep["Duration"])) < duration_seconds(_text(rep["Interval"])):  # type: ignore[operator]
                        raise self.fail(SCHED_E_INVALIDVALUE, rep["Duration"],
                                        value=_text(rep["Duration"]), where="end")
            if kind == "CalendarTrigger":
                schedules = [c for c in _kids(trigger) if _local(c).startswith("ScheduleBy")]
                if not schedules:  # exactly one schedule (task.xsd [MS]); code [GUESS]
                    raise self.fail(SCHED_E_MISSINGNODE, trigger, "ScheduleByDay", where="end")
                if len(schedules) > 1:
                    raise self.fail(SCHED_E_UNEXPECTEDNODE, schedules[1])
                schedule = schedules[0]
                names = {_local(c): c for c in _kids(schedule)}
                # An empty or missing DaysOfWeek, DaysOfMonth or Weeks is MISSINGNODE
                # ([MS-TSCH] §3.2.5.4.2 [MS]).
                required = {"ScheduleByWeek": ["DaysOfWeek"], "ScheduleByMonth": ["DaysOfMonth"],
                            "ScheduleByMonthDayOfWeek": ["Weeks", "DaysOfWeek"]}.get(_local(schedule), [])
                for need in required:
                    if need not in names:
                        raise self.fail(SCHED_E_MISSINGNODE, schedule, need, where="end")
                    if not _kids(names[need]):
                        raise self.fail(SCHED_E_MISSINGNODE, names[need], where="end")
            if kind == "EventTrigger" and "Subscription" not in parts:  # required [MS]
                raise self.fail(SCHED_E_MISSINGNODE, trigger, "Subscription", where="end")
            if kind == "SessionStateChangeTrigger" and "StateChange" not in parts:  # [GUESS]
                raise self.fail(SCHED_E_MISSINGNODE, trigger, "StateChange", where="end")
        settings = _child(root, "Settings")
        if settings is not None:
            parts = {_local(c): c for c in _kids(settings)}
            restart = parts.get("RestartOnFailure")
            if restart is not None:  # both Interval and Count required [MS]
                have = {_local(c) for c in _kids(restart)}
                for need in ("Interval", "Count"):
                    if need not in have:
                        raise self.fail(SCHED_E_MISSINGNODE, restart, need, where="end")
            maintenance = parts.get("MaintenanceSettings")
            if maintenance is not None:
                # The server refuses MaintenanceSettings unless UseUnifiedSchedulingEngine
                # is true ([MS-TSCH] §2.5 [MS]; the code [GUESS]).
                engine = parts.get("UseUnifiedSchedulingEngine")
                if engine is None or _text(engine).strip() != "true":
                    raise self.fail(SCHED_E_INVALIDVALUE, maintenance, value="", where="start")
                self._maintenance(maintenance)
            if "DeleteExpiredTaskAfter" in parts and not any(
                    _child(trigger, "EndBoundary") is not None for trigger in _kids(_child(root, "Triggers"))):
                # A task expires when every trigger's end boundary has passed
                # (ITaskSettings::DeleteExpiredTaskAfter remarks [MS]); with no EndBoundary
                # at all registration fails with 0x80041319 "(x,y):EndBoundary:" [OBS
                # dahall/TaskScheduler#101, #154]. The position (the end of Settings) and
                # that PT0S is refused too are [GUESS].
                raise self.fail(SCHED_E_MISSINGNODE, settings, "EndBoundary", where="end")
        principals = _child(root, "Principals")
        if principals is not None:
            principal = _child(principals, "Principal")
            if principal is not None:
                names = [_local(c) for c in _kids(principal)]
                # Both UserId and GroupId -> SCHED_E_UNEXPECTEDNODE ([MS-TSCH] §3.2.5.4.2).
                if "UserId" in names and "GroupId" in names:
                    raise self.fail(SCHED_E_UNEXPECTEDNODE, _child(principal, "GroupId"))
        actions = _child(root, "Actions")
        for action in _kids(actions):
            if _local(action) == "Exec" and _child(action, "Command") is None:
                raise self.fail(SCHED_E_MISSINGNODE, action, "Command", where="end")  # [MS]
            if _local(action) == "ComHandler" and _child(action, "ClassId") is None:
                raise self.fail(SCHED_E_MISSINGNODE, action, "ClassId", where="end")  # [MS]

    def _maintenance(self, maintenance: etree._Element) -> None:
        """The Deadline "is always [...] greater than the Period" ([MS-TSCH] 2.5.4.15 [MS]);
        the code and position are [GUESS]. A month has no fixed length: only a Deadline
        that cannot be the longer one (months of 31 days against months of 28) is refused."""
        period, deadline = _child(maintenance, "Period"), _child(maintenance, "Deadline")
        if period is None or deadline is None:
            return
        longest = duration_seconds(_text(deadline), month_days=31) or 0
        shortest = duration_seconds(_text(period), month_days=28) or 0
        if longest <= shortest or _text(deadline).strip() == _text(period).strip():
            raise self.fail(SCHED_E_INVALIDVALUE, deadline, value=_text(deadline), where="end")


def _child(element: etree._Element | None, name: str) -> etree._Element | None:
    if element is None:
        return None
    for child in _kids(element):
        if _local(child) == name:
            return child
    return None


def validate(text: str) -> etree._Element:
    """Parse and validate a task definition as SchRpcRegisterTask does; returns the
    Task element or raises SchedError."""
    root, positions = parse(text)
    _Validator(positions).run(root)
    return root


# --- what registration changes (ref §2) -------------------------------------------------
# Default values Windows 10 leaves out of the XML it returns: [OBS] 137.xml, where no
# Settings child below ever carries its default value, and opencodex #432 (Enabled,
# RunLevel). Compared by value (ExecutionTimeLimit P3D counts as PT72H) [GUESS].
SETTINGS_DROPPED_AT_DEFAULT = {
    "AllowHardTerminate": "true", "AllowStartOnDemand": "true", "Enabled": "true",
    "ExecutionTimeLimit": "PT72H", "Hidden": "false", "Priority": "7",
    "StartWhenAvailable": "false", "RunOnlyIfNetworkAvailable": "false", "WakeToRun": "false",
    "RunOnlyIfIdle": "false", "UseUnifiedSchedulingEngine": "false",
    "DisallowStartOnRemoteAppSession": "false", "Volatile": "false",
}
# Settings Windows 10 always writes, defaults included: all 158 tasks of 137.xml carry
# them [OBS].
SETTINGS_ALWAYS = (("DisallowStartIfOnBatteries", "true"), ("StopIfGoingOnBatteries", "true"),
                   ("MultipleInstancesPolicy", "IgnoreNew"))
IDLE_ALWAYS = (("StopOnIdleEnd", "true"), ("RestartOnIdle", "false"))  # [OBS] 137.xml
# Trigger children dropped at their default: Enabled true and StopAtDurationEnd false
# never appear in 137.xml [OBS]; a zero Delay/RandomDelay [GUESS].
TRIGGER_DROPPED_AT_DEFAULT = {"Enabled": "true", "Delay": "PT0S", "RandomDelay": "PT0S"}


def _same_value(name: str, text: str, default: str) -> bool:
    value = text.strip()
    if default.startswith("P"):
        return duration_seconds(value) == duration_seconds(default)
    return value == default


def _sub(parent: etree._Element, name: str, text: str | None = None,
         index: int | None = None) -> etree._Element:
    element = etree.Element(_NS + name)
    element.text = text
    if index is None:
        parent.append(element)
    else:
        parent.insert(index, element)
    return element


def register_form(task: etree._Element, path: str, caller_sid: str, run_as: str | None = None,
                  account_form: str = "sid", on_resolve: Callable[[str, str], None] | None = None
                  ) -> etree._Element:
    """The task as Windows stores and returns it after registration (ref §2.1, §2.3)."""
    import copy

    task = copy.deepcopy(task)
    for node in list(task.iter(etree.Comment, etree.PI)):  # re-serialised: comments go [GUESS]
        node.getparent().remove(node)

    def resolve(name: str) -> str:
        sid = resolve_account(name, account_form)
        if on_resolve is not None:
            on_resolve(name, sid)
        return sid

    # URI is set to the task's path (ref §2.3 [OBS]); Date/Author are not invented when
    # registering XML (ref §2.3 [OBS loa-logs], whether always: [GUESS]).
    info = _child(task, "RegistrationInfo")
    if info is None:
        info = _sub(task, "RegistrationInfo", index=0)
    uri = _child(info, "URI")
    if uri is None:
        uri = _sub(info, "URI")
    uri.text = path

    # Principals: filled from the caller when absent ([MS-TSCH] §3.2.5.4.2, ref §2.3
    # [OBS]); /RU overrides the UserId (schtasks /? [MS]); names stored as SIDs [OBS].
    principals = _child(task, "Principals")
    if principals is None:
        principals = _sub(task, "Principals")
    principal = _child(principals, "Principal")
    if principal is None:
        principal = _sub(principals, "Principal")
    if principal.get("id") is None:
        principal.set("id", "Author")  # what Windows tools write (ref §2.3 [OBS]) [GUESS]
    user, group = _child(principal, "UserId"), _child(principal, "GroupId")
    if run_as is not None:
        if group is not None:
            principal.remove(group)
            group = None
        if user is None:
            user = _sub(principal, "UserId")
        user.text = resolve(run_as)
    elif user is not None and (user.text or "").strip():
        user.text = resolve(user.text or "")
    elif group is None:
        # No account at all (or an empty UserId): the caller [GUESS for the empty one].
        if user is None:
            user = _sub(principal, "UserId")
        user.text = caller_sid
    if group is not None:
        group.text = resolve(group.text or "")
    logon = _child(principal, "LogonType")
    if group is not None or (user is not None and user.text in SERVICE_SIDS):
        # Service accounts and groups carry no LogonType in 137.xml [OBS] (122 SYSTEM
        # principals, 64 groups); that Windows drops a given one [GUESS].
        if logon is not None:
            principal.remove(logon)
    elif logon is None:
        _sub(principal, "LogonType", "InteractiveToken")  # 137.xml user principals [OBS]
    run_level = _child(principal, "RunLevel")
    if run_level is not None and (run_level.text or "").strip() == "LeastPrivilege":
        principal.remove(run_level)  # default dropped (ref §2.1 [OBS opencodex #432])

    settings = _child(task, "Settings")
    if settings is None:
        settings = _sub(task, "Settings")
    for child in _kids(settings):
        default = SETTINGS_DROPPED_AT_DEFAULT.get(_local(child))
        if default is not None and _same_value(_local(child), _text(child), default):
            settings.remove(child)
    for name, value in SETTINGS_ALWAYS:
        if _child(settings, name) is None:
            _sub(settings, name, value)
    idle = _child(settings, "IdleSettings")
    if idle is None:
        idle = _sub(settings, "IdleSettings")
    for name, value in IDLE_ALWAYS:
        if _child(idle, name) is None:
            _sub(idle, name, value)

    triggers = _child(task, "Triggers")
    if triggers is None:
        triggers = _sub(task, "Triggers")  # written as <Triggers /> (137.xml [OBS])
    for trigger in _kids(triggers):
        for child in _kids(trigger):
            default = TRIGGER_DROPPED_AT_DEFAULT.get(_local(child))
            if default is not None and _same_value(_local(child), _text(child), default):
                trigger.remove(child)
            elif _local(child) == "Repetition":
                stop = _child(child, "StopAtDurationEnd")
                if stop is not None and _text(stop).strip() == "false":
                    child.remove(stop)  # [OBS] never in 137.xml
            elif _local(child) == "UserId":  # Logon/SessionStateChange: a SID too [GUESS]
                if (child.text or "").strip():
                    child.text = resolve(child.text or "")
            elif _local(child).startswith("ScheduleBy"):
                _bitmask_order(child)
    return task


def _bitmask_order(schedule: etree._Element) -> None:
    """Days, weeks and months are stored as bit masks, so they come back in a fixed
    order, duplicates gone [GUESS]: Sunday..Saturday, January..December, 1..31 then Last."""
    for group in _kids(schedule):
        name = _local(group)
        if name in ("DaysOfWeek", "Months"):
            order = WEEKDAYS if name == "DaysOfWeek" else MONTHS
            present = {_local(m) for m in _kids(group)}
            for marker in _kids(group):
                group.remove(marker)
            for item in order:
                if item in present:
                    _sub(group, item)
        elif name in ("DaysOfMonth", "Weeks"):
            values = {_text(v).strip() for v in _kids(group)}
            leaf = "Day" if name == "DaysOfMonth" else "Week"
            for value in _kids(group):
                group.remove(value)
            for value in sorted(values, key=lambda v: (v == "Last", int(v) if v.isdigit() else 0)):
                _sub(group, leaf, value)


# --- the text Windows writes ----------------------------------------------------------
# Element order. Windows 10/11: RegistrationInfo, Principals, Settings, Triggers, Actions
# (ref §2.2 [OBS], all 158 tasks of 137.xml), Data after Settings (one corpus task
# [OBS]). Windows Server 2012 R2: RegistrationInfo, Triggers, Principals, Settings,
# Actions (ref §2.2 [OBS ansible #268]); Data there [GUESS].
ORDERS: dict[str, dict[str, tuple[str, ...]]] = {
    "win10": {
        "Task": ("RegistrationInfo", "Principals", "Settings", "Data", "Triggers", "Actions"),
        # 137.xml [OBS]; Documentation's place [GUESS].
        "RegistrationInfo": ("Version", "Date", "SecurityDescriptor", "Source", "Author",
                             "Description", "Documentation", "URI"),
        # 137.xml [OBS]; DeleteExpiredTaskAfter, NetworkProfileName, NetworkSettings and
        # Volatile never appear there: their places are [GUESS].
        "Settings": ("AllowHardTerminate", "AllowStartOnDemand", "DisallowStartIfOnBatteries",
                     "StopIfGoingOnBatteries", "DisallowStartOnRemoteAppSession",
                     "DeleteExpiredTaskAfter", "Enabled", "ExecutionTimeLimit", "Hidden",
                     "MultipleInstancesPolicy", "Priority", "RestartOnFailure",
                     "StartWhenAvailable", "RunOnlyIfNetworkAvailable", "NetworkProfileName",
                     "NetworkSettings", "WakeToRun", "RunOnlyIfIdle", "IdleSettings",
                     "UseUnifiedSchedulingEngine", "MaintenanceSettings", "Volatile"),
        # Trigger children, 137.xml [OBS]: StartBoundary, Enabled, ExecutionTimeLimit,
        # Delay, Repetition, RandomDelay, then the type's own; EndBoundary, UserId and
        # the EventTrigger extras placed by [GUESS].
        "Trigger": ("StartBoundary", "EndBoundary", "Enabled", "ExecutionTimeLimit", "Delay",
                    "Repetition", "RandomDelay", "UserId", "StateChange", "Subscription",
                    "PeriodOfOccurrence", "NumberOfOccurrences", "MatchingElement",
                    "ValueQueries", "StateName", "Data", "DataOffset", "ScheduleByDay",
                    "ScheduleByWeek", "ScheduleByMonth", "ScheduleByMonthDayOfWeek"),
    },
    "2012r2": {
        "Task": ("RegistrationInfo", "Triggers", "Principals", "Settings", "Data", "Actions"),
        "RegistrationInfo": ("Date", "Author", "Version", "Description", "Documentation",
                             "Source", "SecurityDescriptor", "URI"),  # [GUESS]
        # ref §2.2 [OBS ansible #268] for the first 14; the rest [GUESS].
        "Settings": ("MultipleInstancesPolicy", "DisallowStartIfOnBatteries",
                     "StopIfGoingOnBatteries", "AllowHardTerminate", "StartWhenAvailable",
                     "RunOnlyIfNetworkAvailable", "IdleSettings", "AllowStartOnDemand",
                     "Enabled", "Hidden", "RunOnlyIfIdle", "WakeToRun", "ExecutionTimeLimit",
                     "Priority", "RestartOnFailure", "DeleteExpiredTaskAfter",
                     "NetworkProfileName", "NetworkSettings", "UseUnifiedSchedulingEngine",
                     "DisallowStartOnRemoteAppSession", "MaintenanceSettings", "Volatile"),
        # Repetition before StartBoundary, Enabled after it (ref §1.4 [OBS trustedsec #16]).
        "Trigger": ("Repetition", "StartBoundary", "EndBoundary", "Enabled",
                    "ExecutionTimeLimit", "Delay", "RandomDelay", "UserId", "StateChange",
                    "Subscription", "PeriodOfOccurrence", "NumberOfOccurrences",
                    "MatchingElement", "ValueQueries", "StateName", "Data", "DataOffset",
                    "ScheduleByDay", "ScheduleByWeek", "ScheduleByMonth",
                    "ScheduleByMonthDayOfWeek"),
    },
}
# The same in every version (137.xml [OBS] for the first three; the rest [GUESS]).
_COMMON_ORDERS = {
    "Principal": ("UserId", "LogonType", "GroupId", "DisplayName", "RunLevel",
                  "ProcessTokenSidType", "RequiredPrivileges"),
    "Repetition": ("Interval", "Duration", "StopAtDurationEnd"),
    "Exec": ("Command", "Arguments", "WorkingDirectory"),
    "ComHandler": ("ClassId", "Data"),
    "IdleSettings": ("Duration", "WaitTimeout", "StopOnIdleEnd", "RestartOnIdle"),
    "RestartOnFailure": ("Interval", "Count"),
    "MaintenanceSettings": ("Period", "Deadline", "Exclusive"),
    "ScheduleByWeek": ("WeeksInterval", "DaysOfWeek"),
    "ScheduleByMonth": ("DaysOfMonth", "Months"),
    "ScheduleByMonthDayOfWeek": ("Weeks", "DaysOfWeek", "Months"),
    "NetworkSettings": ("Name", "Id"),
}
ORDER_MODES = tuple(ORDERS)
DECLARATION = '<?xml version="1.0" encoding="UTF-16"?>'  # ref §2.2 [OBS]
NEWLINE = "\r\n"  # ref §2.2 [OBS]
INDENT = "  "  # ref §2.2 [OBS]


def _order_for(element: etree._Element, mode: str) -> tuple[str, ...] | None:
    name = _local(element)
    parent = element.getparent()
    if parent is not None and _local(parent) == "Triggers":
        return ORDERS[mode]["Trigger"]
    return ORDERS[mode].get(name) or _COMMON_ORDERS.get(name)


def _escape_text(text: str) -> str:
    # Only what XML requires: & < > ; quotes stay literal (ref §2.1 [OBS opencodex
    # #608/#708], 137.xml [OBS]: &lt; &gt; &amp; and nothing else).
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _escape_attribute(text: str) -> str:
    return _escape_text(text).replace('"', "&quot;")


def layout(task: etree._Element, mode: str = "win10") -> str:
    """A task's text as Windows writes it: its element order, 2-space indent, CRLF,
    ``<X />`` for empty elements, ComHandler Data as CDATA (137.xml [OBS]); no
    declaration (callers add it)."""
    if mode not in ORDERS:
        raise ValueError(f"unknown order mode {mode!r} (one of {', '.join(ORDERS)})")
    lines: list[str] = []

    def attributes(element: etree._Element) -> str:
        items = list(element.attrib.items())
        if _local(element) == "Task":  # version, then xmlns (137.xml [OBS])
            items = [(k, v) for k, v in items if k == "version"] + [("xmlns", TASK_NS)]
        return "".join(f' {k}="{_escape_attribute(v)}"' for k, v in items)

    def write(element: etree._Element, depth: int) -> None:
        pad = INDENT * depth
        name = _local(element)
        kids = _kids(element)
        order = _order_for(element, mode)
        if order is not None:
            rank = {n: i for i, n in enumerate(order)}
            kids = sorted(kids, key=lambda c: rank.get(_local(c), len(order)))  # stable
        head = f"{pad}<{name}{attributes(element)}"
        if kids:
            lines.append(head + ">")
            for child in kids:
                write(child, depth + 1)
            lines.append(f"{pad}</{name}>")
            return
        text = _text(element)
        if text == "":
            lines.append(head + " />")
        elif name == "Data" and element.getparent() is not None \
                and _local(element.getparent()) == "ComHandler" and "]]>" not in text:
            lines.append(f"{head}><![CDATA[{text}]]></{name}>")
        else:
            lines.append(f"{head}>{_escape_text(text)}</{name}>")

    write(task, 0)
    return NEWLINE.join(lines)


def single_document(task_text: str) -> str:
    """``/Query /TN X /XML``: the declaration, then the task (ref §3.4 [OBS]); the final
    line end [GUESS]."""
    return DECLARATION + NEWLINE + task_text + NEWLINE


def concatenated(task_texts: Iterable[str]) -> str:
    """``/Query /XML``: the documents one after another, each with its declaration
    (ref §3.4 [MS] "the concatenation of all XML task definitions")."""
    return "".join(single_document(t) for t in task_texts)


def one_document(entries: Iterable[tuple[str, str]]) -> str:
    """``/Query /XML ONE``: one document, a ``<Tasks>`` element without a namespace
    holding a ``<!-- \\path -->`` comment before each task (ref §3.4 [OBS]). The path is
    written into the comment as it is, ``--`` included, which makes the document not
    well-formed [GUESS: nothing shows Windows escaping it]. No declaration and CRLF line
    ends throughout [GUESS]: the real capture 137.xml has a UTF-8 declaration and LF
    around the wrapper, but both were made by the capturing script (yuksiy/schtasks_tools
    schtasks_main.bat writes the declaration with echo and pipes schtasks through
    dos2unix and iconv), so they say nothing about Windows."""
    out = ["<Tasks>" + NEWLINE]
    for path, text in entries:
        out.append(f"{NEWLINE}<!-- {path} -->{NEWLINE}")
        out.append(text + NEWLINE)
    out.append("</Tasks>" + NEWLINE)
    return "".join(out)


def folder_order(paths: Iterable[str]) -> list[str]:
    """The order /Query lists tasks in: a folder's own tasks, then its sub-folders, each
    level alphabetical (137.xml [OBS]: the root's task first, then \\Microsoft\\…)
    [GUESS on the sort within a level]."""

    def key(path: str) -> tuple:
        parts = path.strip("\\").split("\\")
        folders = tuple((1, p.casefold()) for p in parts[:-1])
        return folders + ((0, parts[-1].casefold()),)

    return sorted(paths, key=key)


# --- encodings ------------------------------------------------------------------------
# What schtasks writes to a pipe on Windows 10 and Server 2016-2022: the console's OEM
# code page (CP932 in the Japanese capture behind 137.xml; NousResearch/hermes-agent
# #38187: cp936/cp932), cp437 on US-English systems [OBS]; UTF-8 on Windows 11 24H2 [OBS].
CONSOLE_ENCODING = "cp437"


def encode_console(text: str, encoding: str) -> bytes:
    """schtasks' console bytes. The sources conflict (ref §3.5): UTF-8 on Win11 24H2
    [OBS], the OEM code page on older or localised systems [OBS], UTF-16LE in one script
    [OBS, unverified]. ``utf-16`` writes a BOM first [GUESS]; code pages replace what
    they cannot show with "?" as a console does [GUESS: Windows may best-fit some
    characters instead, "–" as "-"]."""
    name = encoding.lower().replace("_", "-")
    if name in ("utf-16", "utf-16le", "utf-16-le"):
        return b"\xff\xfe" + text.encode("utf-16-le")
    if name in ("utf-8", "utf8"):
        return text.encode("utf-8")
    return text.encode(name, errors="replace")


# --- next run times (the CSV "Next Run Time" column) ------------------------------------
# The emulator's own, deliberately small model of when a trigger fires next, written
# apart from reconciler.simulate so that the two can disagree. Time and calendar
# triggers only; every other trigger has "no set run times" (ref §4 SCHED_S_EVENT_TRIGGER
# [MS]). A boundary without a UTC offset is local wall-clock time; one with an offset is
# that instant ("synchronize across time zones", ITrigger::StartBoundary remarks [MS]),
# reported in local time. A calendar trigger's days are counted in the StartBoundary's
# own offset and each start then moved to local time [GUESS].
_XS_DATETIME = re.compile(r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})")
_XS_OFFSET = re.compile(r"(Z|([+-])(\d{2}):(\d{2}))\s*$")
_DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
SEARCH_DAYS = 4000  # long enough for a 29 February or a yearly trigger


def wall_clock(text: str) -> _dt.datetime | None:
    match = _XS_DATETIME.match(text.strip())
    if not match:
        return None
    try:
        return _dt.datetime(*(int(g) for g in match.groups()))
    except ValueError:
        return None


def utc_offset(text: str) -> _dt.tzinfo | None:
    """The UTC offset a boundary is written with; None for local time."""
    match = _XS_OFFSET.search(text) if _XS_DATETIME.match(text.strip()) else None
    if match is None:
        return None
    if match.group(1) == "Z":
        return _dt.timezone.utc
    minutes = int(match.group(3)) * 60 + int(match.group(4))
    return _dt.timezone(_dt.timedelta(minutes=-minutes if match.group(2) == "-" else minutes))


def _moved(moment: _dt.datetime, source: _dt.tzinfo | None, target: _dt.tzinfo | None) -> _dt.datetime:
    """A naive time in ``source`` (None: local time) as a naive time in ``target``."""
    aware = moment.replace(tzinfo=source) if source is not None else moment.astimezone()
    return aware.astimezone(target).replace(tzinfo=None)


def _names_in(element: etree._Element | None) -> set[str]:
    return {_local(c) for c in _kids(element)}


def _values_in(element: etree._Element | None) -> set[str]:
    return {_text(c).strip() for c in _kids(element)}


def _is_last_week(day: _dt.date) -> bool:
    return (day + _dt.timedelta(days=7)).month != day.month


def _interval(schedule: etree._Element, name: str) -> int:
    element = _child(schedule, name)
    text = _text(element).strip() if element is not None else ""
    return max(int(text), 1) if text.isdigit() else 1  # absent: every day/week ([MS] default 1)


def _fires_on(schedule: etree._Element, day: _dt.date, start: _dt.datetime) -> bool:
    """Whether a CalendarTrigger's ScheduleBy* element fires on ``day`` ([MS] task.xsd
    semantics; the phase of WeeksInterval counted in Monday-based weeks [GUESS])."""
    kind = _local(schedule)
    month_ok = MONTHS[day.month - 1] in _names_in(_child(schedule, "Months")) \
        if _child(schedule, "Months") is not None else True
    if kind == "ScheduleByDay":
        every = _interval(schedule, "DaysInterval")
        return (day - start.date()).days % every == 0
    if kind == "ScheduleByWeek":
        every = _interval(schedule, "WeeksInterval")
        first_monday = start.date() - _dt.timedelta(days=start.weekday())
        return ((day - first_monday).days // 7) % every == 0 \
            and _DAY_NAMES[day.weekday()] in _names_in(_child(schedule, "DaysOfWeek"))
    if kind == "ScheduleByMonth":
        days = _values_in(_child(schedule, "DaysOfMonth"))
        last = (day + _dt.timedelta(days=1)).month != day.month
        return month_ok and (str(day.day) in days or (last and "Last" in days))
    if kind == "ScheduleByMonthDayOfWeek":
        weeks = _values_in(_child(schedule, "Weeks"))
        week_ok = str((day.day - 1) // 7 + 1) in weeks or ("Last" in weeks and _is_last_week(day))
        return month_ok and week_ok and _DAY_NAMES[day.weekday()] in _names_in(_child(schedule, "DaysOfWeek"))
    return False


def _first_after(base: _dt.datetime, every: _dt.timedelta | None, span: _dt.timedelta | None,
                 now: _dt.datetime) -> _dt.datetime | None:
    """The first of ``base``, ``base + every``, … (up to ``span``, both ends counted,
    SPEC "repeat.for") later than ``now``."""
    if base > now:
        return base
    if not every:
        return None
    steps = (now - base) // every + 1
    if span is not None and every * steps > span:
        return None
    return base + every * steps


def next_run_time(trigger: etree._Element, now: _dt.datetime) -> _dt.datetime | None:
    """When ``trigger`` fires next after ``now``, or None (disabled, past its end, or a
    trigger without set run times)."""
    kind = _local(trigger)
    if kind not in ("TimeTrigger", "CalendarTrigger"):
        return None
    enabled = _child(trigger, "Enabled")
    if enabled is not None and _text(enabled).strip() == "false":
        return None
    boundary = _child(trigger, "StartBoundary")
    start = wall_clock(_text(boundary)) if boundary is not None else None
    if start is None:
        return None
    # Worked out in the StartBoundary's own offset, reported in local time.
    frame = utc_offset(_text(boundary))
    end_element = _child(trigger, "EndBoundary")
    end = wall_clock(_text(end_element)) if end_element is not None else None
    if frame is not None:
        now = _moved(now, None, frame)
    if end is not None and end_element is not None and utc_offset(_text(end_element)) != frame:
        end = _moved(end, utc_offset(_text(end_element)), frame)
    repetition = _child(trigger, "Repetition")
    every = span = None
    if repetition is not None:
        interval, duration = _child(repetition, "Interval"), _child(repetition, "Duration")
        seconds = duration_seconds(_text(interval)) if interval is not None else None
        every = _dt.timedelta(seconds=seconds) if seconds else None
        seconds = duration_seconds(_text(duration)) if duration is not None else None
        span = _dt.timedelta(seconds=seconds) if seconds else None
    if kind == "TimeTrigger":
        candidates: Iterable[_dt.date] = [start.date()]
    else:
        schedule = next((c for c in _kids(trigger) if _local(c).startswith("ScheduleBy")), None)
        if schedule is None:
            return None
        # A calendar repetition without a duration goes on until the next day's start [GUESS].
        span = span if span is not None or every is None else _dt.timedelta(days=1) - every
        first = max(start.date(), now.date() - _dt.timedelta(days=1))
        candidates = (d for d in (first + _dt.timedelta(days=i) for i in range(SEARCH_DAYS))
                      if _fires_on(schedule, d, start))
    for day in candidates:
        moment = _first_after(_dt.datetime.combine(day, start.time()), every, span, now)
        if moment is None:
            continue
        if end is not None and moment > end:
            return None
        return moment if frame is None else _moved(moment, frame, None)
    return None


# --- /Query /FO CSV /V ----------------------------------------------------------------
CSV_COLUMNS = ("HostName", "TaskName", "Next Run Time", "Status", "Logon Mode", "Last Run Time",
               "Last Result", "Author", "Task To Run", "Start In", "Comment",
               "Scheduled Task State", "Idle Time", "Power Management", "Run As User",
               "Delete Task If Not Rescheduled", "Stop Task If Runs X Hours and X Mins",
               "Schedule", "Schedule Type", "Start Time", "Start Date", "End Date", "Days",
               "Months", "Repeat: Every", "Repeat: Until: Time", "Repeat: Until: Duration",
               "Repeat: Stop If Still Running")  # ref §3.4 [OBS], 28 columns
NEVER_RUN_AT = _dt.datetime(1999, 11, 30)  # Last Run Time of a task that never ran [GUESS]
NEVER_RUN = "11/30/1999 12:00:00 AM"  # the same, as en-US writes it
_SCHEDULE_TYPES = {"TimeTrigger": "One Time Only", "BootTrigger": "At system start up",
                   "LogonTrigger": "At logon time", "IdleTrigger": "At idle time",
                   "EventTrigger": "When an event occurs", "RegistrationTrigger": "At task creation/modification",
                   "SessionStateChangeTrigger": "At session state change"}  # [GUESS]


def _clock12(moment: _dt.datetime) -> str:
    hour = moment.hour % 12 or 12
    return f"{hour}:{moment.minute:02d}:{moment.second:02d} {'AM' if moment.hour < 12 else 'PM'}"


class CsvLocale:
    """How one display language writes the CSV: dates follow the locale's short date
    and long time (ref §3.4 [OBS] "Dates are in the locale format"; the patterns are
    Windows' defaults for each locale [GUESS]); "N/A", status words and headers are
    localised too where marked."""

    def __init__(self, date: Callable[[_dt.datetime], str], time: Callable[[_dt.datetime], str],
                 na: str = "N/A", words: tuple[tuple[str, str], ...] = (),
                 header: tuple[str, ...] = CSV_COLUMNS) -> None:
        self.date = date
        self.time = time
        self.na = na
        self.words = words  # English -> localised (Ready, Enabled, …)
        self.header = header

    def stamp(self, moment: _dt.datetime) -> str:
        return f"{self.date(moment)} {self.time(moment)}"

    def word(self, english: str) -> str:
        return dict(self.words).get(english, english)


def _localised(pairs: dict[int, str]) -> tuple[str, ...]:
    return tuple(pairs.get(i, name) for i, name in enumerate(CSV_COLUMNS))


LOCALES: dict[str, CsvLocale] = {
    "en-US": CsvLocale(date=lambda m: f"{m.month}/{m.day}/{m.year}", time=_clock12),
    "en-GB": CsvLocale(date=lambda m: f"{m.day:02d}/{m.month:02d}/{m.year}",
                       time=lambda m: f"{m:%H:%M:%S}"),
    # German: the column names and "Aktiviert" are [OBS] (monitoring scripts that read
    # German schtasks CSV); the other words and "Nicht zutreffend" for N/A are [GUESS].
    "de-DE": CsvLocale(date=lambda m: f"{m.day:02d}.{m.month:02d}.{m.year}",
                       time=lambda m: f"{m:%H:%M:%S}", na="Nicht zutreffend",
                       words=(("Ready", "Bereit"), ("Running", "Wird ausgeführt"),
                              ("Disabled", "Deaktiviert"), ("Enabled", "Aktiviert")),
                       header=_localised({1: "Aufgabenname", 2: "Nächste Laufzeit",
                                          5: "Letzte Laufzeit", 6: "Letztes Ergebnis",
                                          11: "Status der geplanten Aufgabe",
                                          14: "Als Benutzer ausführen"})),
    # Japanese: the 28 column names are [OBS] (a script writing the header of a Japanese
    # schtasks CSV); the status words are [GUESS]; N/A stays N/A [GUESS].
    "ja-JP": CsvLocale(date=lambda m: f"{m.year}/{m.month:02d}/{m.day:02d}",
                       time=lambda m: f"{m.hour}:{m.minute:02d}:{m.second:02d}",
                       words=(("Ready", "準備完了"), ("Running", "実行中"), ("Disabled", "無効"),
                              ("Enabled", "有効")),
                       header=("ホスト名", "タスク名", "次回の実行時刻", "状態", "ログオンモード",
                               "前回の実行時刻", "前回の結果", "作成者", "実行するタスク", "開始",
                               "コメント", "スケジュールされたタスクの状態", "アイドル時間", "電源管理",
                               "ユーザーとして実行", "再度スケジュールされない場合はタスクを削除する",
                               "タスクを停止するまでの時間", "スケジュール", "スケジュールの種類",
                               "開始時刻", "開始日", "終了日", "日", "月", "繰り返し: 間隔",
                               "繰り返し: 終了時刻", "繰り返し: 期間", "繰り返し: 実行中の場合は停止")),
}


def csv_locale(name: str) -> CsvLocale:
    if name not in LOCALES:
        raise ValueError(f"unknown locale {name!r} (one of {', '.join(LOCALES)})")
    return LOCALES[name]


def us_datetime(moment: _dt.datetime) -> str:
    """Dates in schtasks' list formats follow the locale; en-US here (ref §3.4 [OBS])."""
    return LOCALES["en-US"].stamp(moment)


def stored_moment(value: str | None) -> _dt.datetime | None:
    """A run time kept in index.json: ISO 8601 (older states: en-US text)."""
    if not value:
        return None
    try:
        return _dt.datetime.fromisoformat(value)
    except ValueError:
        try:
            return _dt.datetime.strptime(value, "%m/%d/%Y %I:%M:%S %p")
        except ValueError:
            return None


def _hours_minutes(seconds: int) -> str:
    return f"{seconds // 3600} Hour(s), {seconds % 3600 // 60} Minute(s)"  # ref §3.4 [OBS]


def _schedule_columns(trigger: etree._Element | None, loc: CsvLocale) -> list[str]:
    """Schedule Type … Repeat: Stop If Still Running for one trigger [GUESS beyond the
    column names]."""
    na = loc.na
    if trigger is None:
        return ["N/A", na, na, na, na, na, "Disabled", na, "Disabled", "Disabled"]
    kind = _local(trigger)
    schedule = next((c for c in _kids(trigger) if _local(c).startswith("ScheduleBy")), None)
    if kind == "CalendarTrigger":
        schedule_type = {"ScheduleByDay": "Daily", "ScheduleByWeek": "Weekly"}.get(
            _local(schedule) if schedule is not None else "", "Monthly")
    else:
        schedule_type = _SCHEDULE_TYPES.get(kind, "N/A")
    start_element, end_element = _child(trigger, "StartBoundary"), _child(trigger, "EndBoundary")
    start = wall_clock(_text(start_element)) if start_element is not None else None
    end = wall_clock(_text(end_element)) if end_element is not None else None
    days = months = na
    if schedule is not None:
        week_days = [n[:3].upper() for n in _DAY_NAMES if n in _names_in(_child(schedule, "DaysOfWeek"))]
        month_days = sorted(_values_in(_child(schedule, "DaysOfMonth")))
        days = ", ".join(week_days or month_days) or (
            f"Every {_text(_child(schedule, 'DaysInterval'))} day(s)"
            if _child(schedule, "DaysInterval") is not None else na)
        month_names = [m[:3].upper() for m in MONTHS if m in _names_in(_child(schedule, "Months"))]
        months = ", ".join(month_names) or na
    repetition = _child(trigger, "Repetition")
    every = until = "Disabled"
    stop = "Disabled"
    if repetition is not None:
        interval, duration = _child(repetition, "Interval"), _child(repetition, "Duration")
        if interval is not None:
            every = _hours_minutes(duration_seconds(_text(interval)) or 0)
        if duration is not None:
            until = _hours_minutes(duration_seconds(_text(duration)) or 0)
        halt = _child(repetition, "StopAtDurationEnd")
        stop = "Enabled" if halt is not None and _text(halt).strip() == "true" else "Disabled"
    return [schedule_type, loc.time(start) if start else na, loc.date(start) if start else na,
            loc.date(end) if end else na, days, months, every, na, until, stop]


def csv_rows(path: str, task: etree._Element, state: dict, host: str, names: dict[str, str],
             locale: str = "en-US", now: _dt.datetime | None = None) -> list[list[str]]:
    """One CSV /V record per trigger (one if none), as LIST /V does (ref §3.4 [OBS]; for
    CSV [GUESS]). Each record's Next Run Time is its own trigger's [GUESS: Windows may
    print the task's earliest on every record; readers take the earliest either way].
    Last Result is the decimal value as stored, so a test can store a negative one
    (ref §4: decimal; its sign for HRESULTs varies between tools [GUESS])."""
    loc = csv_locale(locale)
    now = now or _dt.datetime.now().replace(microsecond=0)
    settings = _child(task, "Settings")
    parts = {_local(c): _text(c).strip() for c in _kids(settings)} if settings is not None else {}
    enabled = parts.get("Enabled", "true") == "true"
    status = "Disabled" if not enabled else ("Running" if state.get("running") else "Ready")
    principal = _child(_child(task, "Principals"), "Principal")
    user = _text(_child(principal, "UserId")).strip() if _child(principal, "UserId") is not None else ""
    group = _text(_child(principal, "GroupId")).strip() if _child(principal, "GroupId") is not None else ""
    logon = _text(_child(principal, "LogonType")).strip() if _child(principal, "LogonType") is not None else ""
    run_as = DISPLAY.get(user or group) or names.get(user or group) or (user or group or loc.na)
    mode = "Interactive only" if logon == "InteractiveToken" else "Interactive/Background"
    info = _child(task, "RegistrationInfo")
    fields = {_local(c): _text(c) for c in _kids(info)} if info is not None else {}
    first_action = (_kids(_child(task, "Actions")) or [None])[0]
    to_run, start_in = loc.na, loc.na
    if first_action is not None and _local(first_action) == "Exec":
        command = _text(_child(first_action, "Command")) if _child(first_action, "Command") is not None else ""
        args = _child(first_action, "Arguments")
        to_run = command + (" " + _text(args) if args is not None and _text(args) else "")
        if _child(first_action, "WorkingDirectory") is not None:
            start_in = _text(_child(first_action, "WorkingDirectory"))
    elif first_action is not None:
        to_run = "COM handler"
    limit = parts.get("ExecutionTimeLimit", "PT72H")
    seconds = duration_seconds(limit) or 0
    stop_after = "Disabled" if seconds == 0 else f"{seconds // 3600}:{seconds % 3600 // 60:02d}:00"
    power = ", ".join(p for p, on in (
        ("Stop On Battery Mode", parts.get("StopIfGoingOnBatteries", "true") == "true"),
        ("No Start On Batteries", parts.get("DisallowStartIfOnBatteries", "true") == "true")) if on) or loc.na
    ran = stored_moment(state.get("last_run"))
    last_run = loc.stamp(ran or NEVER_RUN_AT)
    result = state.get("last_result", SCHED_S_TASK_HAS_NOT_RUN)
    rows = []
    for trigger in _kids(_child(task, "Triggers")) or [None]:
        upcoming = next_run_time(trigger, now) if enabled and trigger is not None else None
        rows.append([host, path, loc.stamp(upcoming) if upcoming else loc.na, loc.word(status), mode,
                     last_run, str(result), fields.get("Author", "") or loc.na, to_run, start_in,
                     fields.get("Description", "") or loc.na,
                     loc.word("Enabled" if enabled else "Disabled"), "Disabled", power, run_as,
                     "Disabled", stop_after, "Scheduling data is not available in this format.",
                     *_schedule_columns(trigger, loc)])
    return rows


def csv_line(values: list[str]) -> str:
    """Every field quoted (ref §3.4 [OBS]); inner quotes doubled [GUESS]."""
    return ",".join('"' + v.replace('"', '""') + '"' for v in values)
