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

_PATH_COMMENT = re.compile(r"^<!--\s*(\\.*?)\s*-->\s*$", re.MULTILINE)
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
    comment and the ``<Task>`` (Microsoft Learn, "schtasks query": ``/XML ONE``); a bare ``<Task>`` document (``/TN X /XML
    ONE`` on some builds) is accepted too, its path read from RegistrationInfo/URI. A
    task outside the root that cannot be read is a warning; anything that leaves the
    root's tasks in doubt (bad output, truncation, a task in the root that cannot be
    read) raises PartialReadError, so nothing gets written."""
    stripped = text.strip()
    if stripped.startswith(NO_TASKS):
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
        alone = _uri(document)
        if alone is None:
            raise PartialReadError("schtasks /Query /XML ONE returned a task without a path; "
                                   "nothing was changed")
        _keep(tasks, alone, document, root)
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
