"""Reading task XML safely: bytes to text whatever the encoding, and text to an lxml tree
with entities, DTDs and network access off (an XXE document is refused, not resolved)."""
from __future__ import annotations

import re

from lxml import etree

from .errors import ReconcileError

TASK_NS = "http://schemas.microsoft.com/windows/2004/02/mit/task"
_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>", re.DOTALL)


class TaskXmlError(ReconcileError):
    """A task's XML cannot be read."""


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_blank_text=False,
    )


def decode(raw: bytes, fallback: str = "cp1252") -> str:
    """Task XML bytes to text: a BOM decides (UTF-16LE/BE, UTF-8); otherwise strict
    UTF-8, UTF-16 without a BOM, then the given code page. The declared encoding is
    ignored: real files often declare UTF-16 and hold UTF-8. Raises TaskXmlError."""
    try:
        if raw.startswith(b"\xff\xfe") or raw.startswith(b"\xfe\xff"):
            return raw.decode("utf-16")
        if raw.startswith(b"\xef\xbb\xbf"):
            return raw[3:].decode("utf-8")
        if len(raw) >= 4 and raw[1:2] == b"\x00" and raw[3:4] == b"\x00" and raw[0:1] != b"\x00":
            return raw.decode("utf-16-le")
    except UnicodeDecodeError as err:
        raise TaskXmlError(f"not valid {err.encoding.upper()} text (byte {err.start})") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode(fallback, errors="replace")


def parse(text: str, what: str = "task XML") -> etree._Element:
    """Parse task XML text (the declaration is dropped: it often lies about the
    encoding). Refuses DOCTYPEs outright, so no entity is ever defined or expanded."""
    body = _DECLARATION.sub("", text, count=1).lstrip("\ufeff")
    if "<!DOCTYPE" in body or "<!ENTITY" in body:
        raise TaskXmlError(f"{what}: a DOCTYPE or ENTITY declaration is not allowed in task XML")
    try:
        root = etree.fromstring(body.encode("utf-8"), _parser())
    except etree.XMLSyntaxError as err:
        line, column = err.position if err.position else (0, 0)
        message = str(err.msg if hasattr(err, "msg") else err).split(", line")[0].strip()
        raise TaskXmlError(f"{what}: malformed XML at line {line}, column {column}: {message}") from None
    return root


def localname(element: etree._Element) -> str:
    tag = element.tag
    if not isinstance(tag, str):
        return ""
    return tag.rpartition("}")[2]


def children(element: etree._Element) -> list[etree._Element]:
    """Element children only (comments and processing instructions skipped), in any
    namespace or none (Group Policy exports carry no namespace)."""
    return list(element.iterchildren(etree.Element))


def text_of(element: etree._Element) -> str:
    """All text directly inside an element (CDATA included), comments skipped."""
    parts = [element.text or ""]
    for child in element:
        if not isinstance(child.tag, str):
            parts.append(child.tail or "")
    return "".join(parts)


# The characters XML 1.0 cannot hold, spelled as the small set they are (the complement of
# the allowed ranges costs milliseconds to compile at every start).
NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def invalid_xml_char(text: str) -> str | None:
    """The first character XML 1.0 cannot hold (control characters, lone surrogates,
    U+FFFE/U+FFFF), or None."""
    match = NOT_XML.search(text)
    return match.group(0) if match else None


_EXPORT_MARKER = re.compile(r"<!--\s*(\\[^\r\n]*?)\s*-->")


def split_export(text: str) -> list[tuple[str | None, str]]:
    """The tasks of a ``schtasks /Query /XML ONE`` export as (path, task XML) pairs.

    Split on the ``<!-- \\path -->`` comments by text, not by parsing the whole
    document, so one broken task cannot hide the others (a task outside the root that
    cannot be parsed is only a warning). A bare ``<Task>`` document gives one pair whose
    path is None (the caller knows it, or reads RegistrationInfo/URI)."""
    body = _DECLARATION.sub("", text, count=1).lstrip("\ufeff").strip()
    markers = list(_EXPORT_MARKER.finditer(body))
    if not markers:
        return [(None, body)] if body else []
    pairs: list[tuple[str | None, str]] = []
    for index, match in enumerate(markers):
        end = markers[index + 1].start() if index + 1 < len(markers) else len(body)
        chunk = body[match.end():end]
        if index + 1 == len(markers):
            closing = chunk.rfind("</Tasks>")
            if closing != -1:
                chunk = chunk[:closing]
        pairs.append((match.group(1).strip(), chunk.strip()))
    return pairs
