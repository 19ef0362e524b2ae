"""schtasks.exe output, read: pure functions from bytes and text to values.

Kept apart from the backend that runs schtasks (``schtasks.py``), so they are tested on
captured output alone and the PowerShell route can share them without an import cycle.
How schtasks encodes piped output differs between Windows builds: see ``decode_output``."""
from __future__ import annotations

import re
import sys
from typing import Iterator

from lxml import etree

from .. import names
from ..errors import PartialReadError
from ..taskxml import TASK_NS, TaskXmlError, localname, parse
from .base import LiveTask

# "(29,24):Interval:PT5S": where Task Scheduler found a problem in the task XML.
_XML_POSITION = re.compile(r"^\(\d+,\d+\):")
NO_TASKS = "INFO: There are no scheduled tasks presently available"


def console_codepage() -> str:
    """The codec of the console's OEM code page: schtasks writes it on older or
    localised Windows (reported in NousResearch/hermes-agent #38187: cp936/cp932). Off Windows there is no console code page to
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
    (UTF-8 measured on Windows 11 24H2, OEM code pages reported on older and localised
    builds): a UTF-16 BOM decides; then strict UTF-8 (Win11 24H2); then the
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


def lossy_codepage(raw: bytes) -> str | None:
    """The code page ``raw`` may have lost characters in: None for UTF-16 or for UTF-8
    that holds non-ASCII text (both hold every character); otherwise the console's, as
    pure ASCII is also what a code page makes of text it could not show ("?")."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return None
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return console_codepage()
    return None if any(byte >= 0x80 for byte in raw) else console_codepage()


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


# --- splitting /Query /XML ONE --------------------------------------------------------
def split_tasks(text: str, root: str) -> tuple[dict[str, LiveTask], list[str]]:
    """The tasks under ``root`` in ``/Query /XML ONE`` output, and warnings.

    The output is one document: ``<Tasks>`` holding, for each task, a ``<!-- \\path -->``
    comment and the ``<Task>`` (Microsoft Learn, "schtasks query": ``/XML ONE``); a bare
    ``<Task>`` document (``/TN X /XML ONE`` on some builds) is accepted too. Each task is
    known by its own RegistrationInfo/URI, which Windows sets to its path; the comment
    only stands in for a task without one. A path with ``--`` makes its comment not
    well-formed XML, and so the whole document: then the tasks are cut apart at their
    own ``<Task`` tags (``_split_damaged``). A task outside the root that cannot be read
    is a warning; anything that leaves the root's tasks in doubt (bad output,
    truncation, a task in the root that cannot be read, a name that came back through
    the console code page) raises PartialReadError, so nothing gets written."""
    stripped = text.strip()
    if stripped.startswith(NO_TASKS):
        return {}, []  # schtasks' own word that there is nothing (to this account)
    if not stripped:
        # Windows always has tasks of its own: silence is a failure, not an empty machine.
        raise PartialReadError("schtasks /Query /XML ONE printed nothing; nothing was changed")
    try:
        document = parse(stripped, "schtasks /Query /XML ONE output")
    except TaskXmlError as err:
        tasks, warnings = _split_damaged(stripped, root, str(err))
    else:
        tasks, warnings = _split_document(document, root)
    for live in tasks.values():
        check_identity(live.path)
    return tasks, warnings


def check_identity(path: str) -> None:
    """A ``?`` cannot be in a task's name ([MS-TSCH] 2.3.11; ``names.FORBIDDEN_CHARS``),
    so one read back means schtasks printed the name in a code page that cannot hold it:
    this task cannot be told from others, nor replaced or deleted safely."""
    if "?" in path:
        raise PartialReadError(
            f"{path}: schtasks printed this task's name in the console code page ({console_codepage()}), "
            "which cannot hold all of its characters, so it cannot be read safely; nothing was "
            "changed (the com backend reads Unicode: python -m pip install pywin32)")


def _split_document(document: etree._Element, root: str) -> tuple[dict[str, LiveTask], list[str]]:
    tasks: dict[str, LiveTask] = {}
    warnings: list[str] = []
    if localname(document) == "Task":
        alone = _uri(document)
        if alone is None:
            raise PartialReadError("schtasks /Query /XML ONE returned a task without a path; "
                                   "nothing was changed")
        _keep(tasks, alone, document, root)
        return tasks, warnings
    if localname(document) != "Tasks":
        raise PartialReadError(f"schtasks /Query /XML ONE returned <{localname(document)}>, "
                               "not <Tasks>; nothing was changed")
    comment: str | None = None
    for node in document:
        if isinstance(node, etree._Comment):
            comment = (node.text or "").strip()
            continue
        if not isinstance(node.tag, str):
            continue
        where = _uri(node) or comment
        comment = None
        if localname(node) != "Task" or where is None:
            problem = f"an element <{localname(node)}> without a task path"
            raise PartialReadError(f"schtasks /Query /XML ONE output holds {problem}; nothing was changed")
        _check_namespace(node, where, root, warnings)
        if etree.QName(node).namespace == TASK_NS:
            _keep(tasks, where, node, root)
    return tasks, warnings


def _check_namespace(task: etree._Element, path: str, root: str, warnings: list[str]) -> None:
    if etree.QName(task).namespace != TASK_NS:
        message = f"{path}: the task's XML is not in the Task Scheduler namespace"
        if names.is_under(path, root):
            raise PartialReadError(message + "; nothing was changed")
        warnings.append(message + "; skipped (outside the root)")


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


# The pieces of a damaged export, in order: CDATA sections (skipped: their text may hold
# anything), comments (a path may hold "--", never "-->": ">" is not allowed in a name),
# and the start of each task element.
_PIECES = re.compile(r"<!\[CDATA\[.*?\]\]>|<!--(?P<comment>.*?)-->|(?P<task><Task\b)", re.DOTALL)
_URI_TEXT = re.compile(r"<URI>\s*([^<]*?)\s*</URI>")


def _split_damaged(text: str, root: str, error: str) -> tuple[dict[str, LiveTask], list[str]]:
    """The document as a whole is not well-formed (a ``--`` in a path comment, or a task
    cut short): cut it at each ``<Task`` tag and read every task on its own. Damage
    confined to tasks outside the root gives warnings; anything else PartialReadError."""
    if "<!DOCTYPE" in text or "<!ENTITY" in text:
        raise PartialReadError(f"{error}; nothing was changed")
    body = _DECLARATION.sub("", text, count=1).strip()
    if not body.startswith("<Tasks>") or not body.endswith("</Tasks>"):
        raise PartialReadError(
            f"schtasks /Query /XML ONE output is incomplete or not XML ({error}); nothing was changed")
    body = body[len("<Tasks>"):-len("</Tasks>")]
    starts: list[tuple[int, str | None]] = []  # where each task starts, and the comment before it
    comment: str | None = None
    for piece in _PIECES.finditer(body):
        if piece.group("comment") is not None:
            comment = piece.group("comment").strip()
        elif piece.group("task") is not None:
            starts.append((piece.start(), comment))
            comment = None
    if not starts or _COMMENTS.sub("", body[:starts[0][0]]).strip():
        raise PartialReadError(
            f"schtasks /Query /XML ONE output is not as expected ({error}); nothing was changed")
    tasks: dict[str, LiveTask] = {}
    warnings: list[str] = []
    for index, (start, comment) in enumerate(starts):
        end = starts[index + 1][0] if index + 1 < len(starts) else len(body)
        _read_piece(body[start:end], comment, root, tasks, warnings)
    return tasks, warnings


_COMMENTS = re.compile(r"<!--.*?-->", re.DOTALL)
_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>", re.DOTALL)


def _read_piece(piece: str, comment: str | None, root: str, tasks: dict[str, LiveTask],
                warnings: list[str]) -> None:
    """One task cut from a damaged export: its element, then only comments up to the next."""
    closing = piece.rfind("</Task>")
    between = piece[closing + len("</Task>"):] if closing >= 0 else ""
    found = _URI_TEXT.search(piece)
    path = found.group(1) if found else comment
    if path is None:
        raise PartialReadError("schtasks /Query /XML ONE output holds a task without a path that "
                               "cannot be read; nothing was changed")
    try:
        if closing < 0 or _COMMENTS.sub("", between).strip():
            raise TaskXmlError(f"{path}: the task's XML is cut short or followed by something else")
        task = parse(piece[:closing + len("</Task>")], path)
        if localname(task) != "Task":
            raise TaskXmlError(f"{path}: not a Task Scheduler task")
    except TaskXmlError as err:
        if names.is_under(path, root):
            raise PartialReadError(f"{err}; nothing was changed") from None
        warnings.append(f"{err}; skipped (outside the root)")
        return
    _check_namespace(task, _uri(task) or path, root, warnings)
    if etree.QName(task).namespace == TASK_NS:
        _keep(tasks, _uri(task) or path, task, root)


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
