"""YAML documents with the line and column of every key and value.

Built directly from libyaml's event stream (no recursion, so deep nesting cannot crash
the interpreter), with:
- every key and value's position kept, to report ``file:line:col`` for schema errors;
- duplicate keys refused (PyYAML silently keeps the last one);
- plain scalars read as YAML 1.2 reads them: ``yes``/``no``/``on``/``off`` are strings,
  ``13:05`` is a string (YAML 1.1 reads it as the number 785), dates stay strings;
- aliases shared, not copied, and their expanded size bounded, so an alias bomb is
  refused at once instead of eating memory and time.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterator, NoReturn

import yaml

try:  # the C parser is an order of magnitude faster and keeps marks
    _Loader: Any = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - PyYAML built without libyaml
    _Loader = yaml.SafeLoader

MAX_DEPTH = 64
MAX_EXPANDED_NODES = 200_000
MAX_FILE_BYTES = 8 * 1024 * 1024

_INT = re.compile(r"^[-+]?(0|[1-9][0-9]*)$")
_HEX = re.compile(r"^0x[0-9a-fA-F]+$")
_FLOAT = re.compile(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")
_NULLS = {"", "~", "null", "Null", "NULL"}
_BOOLS = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}


class YamlError(Exception):
    """A document cannot be read; carries a 1-based position."""

    def __init__(self, line: int, column: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.column = column
        self.message = message


_NONE: frozenset[Any] = frozenset()
_NO_FILES: dict[Any, str] = {}  # never written to: PosDict.files is replaced, not filled


class PosDict(dict):
    """A mapping that remembers where each key and its value were written
    (1-based ``(key_line, key_col, value_line, value_col)``)."""

    __slots__ = ("pos", "start", "merged", "files")

    def __init__(self) -> None:
        super().__init__()
        self.pos: dict[Any, tuple[int, int, int, int]] = {}
        self.start: tuple[int, int] = (1, 1)
        # Rare, so shared empty values until needed (every mapping of every document has
        # them: at ten thousand manifests that is tens of megabytes).
        self.merged: frozenset[Any] | set[Any] = _NONE  # keys that came from a << merge
        self.files: dict[Any, str] = _NO_FILES  # keys merged in from another file (Defaults)


class PosList(list):
    __slots__ = ("pos", "start")

    def __init__(self) -> None:
        super().__init__()
        self.pos: list[tuple[int, int]] = []
        self.start: tuple[int, int] = (1, 1)


@dataclass
class Document:
    data: Any
    line: int  # where the document starts
    column: int
    # (line, column, character) of every character task XML cannot hold. Only a
    # double-quoted scalar's escapes can produce one (the reader refuses them elsewhere),
    # so they are found here, once per file, instead of by walking every value later.
    not_xml: tuple[tuple[int, int, str], ...] = ()
    # Double-quoted scalars whose backslash escapes produced a control character.
    escapes: tuple[Escaped, ...] = ()


@dataclass(frozen=True)
class Escaped:
    """A double-quoted scalar whose escapes produced control characters or line
    separators (``"C:\\temp"``: ``\\t`` is a tab), as written."""

    line: int
    column: int
    key: str | None  # the mapping key it is the value of (or an item of), if any
    at: tuple[int, int]  # the key's value: the scalar, or the list it is an item of
    source: str  # the scalar as written, quotes included
    done: tuple[str, ...]  # what each such escape did: "\\t became a tab"
    not_xml: bool  # whether the value holds a character task XML cannot hold
    breaks: bool  # whether the value holds a line break


_SPECIAL_FIRST = set("0123456789+-.~nNtTfF")
# Characters XML 1.0 cannot hold (control characters, lone surrogates, U+FFFE/U+FFFF).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
# Control characters and line separators: what a slip of a backslash escape produces.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff\ufffe\uffff]")


def _plain_scalar(text: str) -> Any:
    if text and text[0] not in _SPECIAL_FIRST:
        return text  # most scalars: nothing but a string can start this way
    if text in _NULLS:
        return None
    if text in _BOOLS:
        return _BOOLS[text]
    if len(text) > 100 and (_INT.match(text) or _HEX.match(text) or _FLOAT.match(text)):
        raise ValueError("a number too long to be a value")
    if _INT.match(text):
        return int(text)
    if _HEX.match(text):
        return int(text, 16)
    if _FLOAT.match(text) and any(c.isdigit() for c in text) and any(c in text for c in ".eE"):
        return float(text)
    return text


def _scalar(event: Any) -> Any:
    tag = event.tag
    try:
        if tag is None and not event.style and event.implicit[0]:
            return _plain_scalar(event.value)
        if tag == "!" and event.implicit[0] and not event.style:
            return _plain_scalar(event.value)
    except ValueError:  # a number too long for int(): never a valid value
        raise YamlError(event.start_mark.line + 1, event.start_mark.column + 1,
                        f"a number of {len(event.value)} characters; no value here is that long") from None
    if tag == "tag:yaml.org,2002:int":
        try:
            return int(event.value, 0)
        except ValueError:
            raise YamlError(event.start_mark.line + 1, event.start_mark.column + 1,
                            f"!!int {event.value!r} is not an integer") from None
    if tag == "tag:yaml.org,2002:bool":
        return _BOOLS.get(event.value, event.value)
    if tag == "tag:yaml.org,2002:null":
        return None
    if tag not in (None, "!", "tag:yaml.org,2002:str"):
        raise YamlError(event.start_mark.line + 1, event.start_mark.column + 1,
                        f"the YAML tag {tag} is not supported")
    return event.value


def decode(raw: bytes) -> str:
    """Manifest bytes to text: UTF-8 (with or without a BOM), or UTF-16 with a BOM."""
    if raw.startswith(b"\xff\xfe") or raw.startswith(b"\xfe\xff"):
        try:
            return raw.decode("utf-16")
        except UnicodeDecodeError as err:
            raise YamlError(1, 1, f"invalid UTF-16 at byte {err.start}") from None
    if len(raw) >= 4 and raw[1:2] == b"\x00" and raw[3:4] == b"\x00" and raw[0:1] != b"\x00":
        raise YamlError(1, 1, "the file looks like UTF-16 without a byte-order mark; save it as UTF-8")
    nul = raw.find(b"\x00")
    if nul != -1:
        line = raw[:nul].count(b"\n") + 1
        column = nul - (raw.rfind(b"\n", 0, nul) + 1) + 1
        raise YamlError(line, column, "a NUL byte: this is not a text file (save it as UTF-8)")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        column = err.start - (raw.rfind(b"\n", 0, err.start) + 1) + 1
        raise YamlError(line, column, f"invalid UTF-8 (byte 0x{raw[err.start]:02X}); save the file as UTF-8") from None


def load_all(text: str) -> list[Document]:
    """Every document of a YAML stream, as PosDict/PosList/scalars."""
    try:
        return _Reader(text).read(yaml.parse(text, Loader=_Loader))
    except yaml.MarkedYAMLError as err:
        raise _marked_error(err, text) from None
    except yaml.reader.ReaderError as err:
        raise _reader_error(err, text) from None
    except yaml.YAMLError as err:  # pragma: no cover - libyaml errors without marks
        first = str(err).strip().splitlines()[0] if str(err).strip() else "invalid YAML"
        raise YamlError(1, 1, f"invalid YAML: {first}") from None


def _marked_error(err: yaml.MarkedYAMLError, text: str) -> YamlError:
    from .yamlhints import hint

    problem_mark = err.problem_mark or err.context_mark
    line = problem_mark.line + 1 if problem_mark else 1
    column = problem_mark.column + 1 if problem_mark else 1
    message = err.problem or err.context or "invalid YAML"
    if err.context and err.problem:
        message = f"{err.problem} ({err.context})"
    advice = hint(text, line, column, message)
    return YamlError(line, column, f"invalid YAML: {message}" + (f"; {advice}" if advice else ""))


def _reader_error(err: yaml.reader.ReaderError, text: str) -> YamlError:
    """A character YAML does not allow (a control character, U+FFFE): at its place."""
    position = err.position if isinstance(err.position, int) else 0
    line = text.count("\n", 0, position) + 1
    column = position - (text.rfind("\n", 0, position) + 1) + 1
    character = err.character if isinstance(err.character, str) else chr(err.character)
    return YamlError(line, column, f"the character U+{ord(character):04X} is not allowed in YAML "
                                   "(a control character?); remove it")


_SCALAR_EVENT, _ALIAS_EVENT = yaml.ScalarEvent, yaml.AliasEvent
_START_EVENTS = (yaml.MappingStartEvent, yaml.SequenceStartEvent)
_END_EVENTS = (yaml.MappingEndEvent, yaml.SequenceEndEvent)
_CONTAINER_TAGS = (None, "!", "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq")


class _Reader:
    """One pass over a YAML stream's events, building its documents."""

    __slots__ = ("documents", "stack", "anchors", "not_xml", "start", "text", "quoted")

    def __init__(self, text: str) -> None:
        self.text = text  # read only for the rare scalar an escape made a control character of
        # The current document's double-quoted scalars holding a control character:
        # (start mark, end mark, the key they belong to and its value's position,
        # whether task XML cannot hold them, whether they hold a line break).
        self.quoted: list[tuple[Any, Any, str | None, tuple[int, int], bool, bool]] = []
        self.documents: list[Document] = []
        # Each open container: [value, pending key or _NO_KEY, key mark, size so far,
        # anchor, (line, column)]; a document's root: [value, _ROOT, None, 0].
        self.stack: list[list[Any]] = []
        self.anchors: dict[str, tuple[Any, int]] = {}
        self.not_xml: list[tuple[int, int, str]] = []  # the current document's
        self.start = (1, 1)  # where the current document starts

    def read(self, events: Iterator[Any]) -> list[Document]:
        stack, anchors = self.stack, self.anchors
        total = 0  # nodes so far in the file, aliases at their full size
        for event in events:
            kind = type(event)
            # Scalars are most events: the cheapest path first, inline (a call per
            # scalar would cost more than the rest of the loop).
            if kind is _SCALAR_EVENT:
                mark = event.start_mark
                if event.style == '"' and _CONTROL.search(event.value) is not None:
                    self.control(event)
                value = _scalar(event)
                if event.anchor is not None:
                    anchors[event.anchor] = (value, 1)
                total += 1
                frame = stack[-1]
                container = frame[0]
                # The common cases inline (a list item, a mapping's value); the rest in _add.
                if type(container) is PosList:
                    frame[3] += 1
                    container.append(value)
                    container.pos.append((mark.line + 1, mark.column + 1))
                elif (type(container) is PosDict and frame[1] is not _NO_KEY and frame[1] != "<<"
                      and frame[1] not in container):
                    frame[3] += 1
                    key, key_mark = frame[1], frame[2]
                    frame[1] = _NO_KEY
                    container[key] = value
                    container.pos[key] = (key_mark[0], key_mark[1], mark.line + 1, mark.column + 1)
                else:
                    _add(stack, value, 1, mark.line + 1, mark.column + 1)
            elif kind in _END_EVENTS:
                frame = stack.pop()
                if frame[4] is not None:
                    anchors[frame[4]] = (frame[0], frame[3])
                _add(stack, frame[0], frame[3], *frame[5])
                total += 1
            elif kind in _START_EVENTS:
                mark = event.start_mark
                if len(stack) > MAX_DEPTH or event.tag not in _CONTAINER_TAGS:
                    self.refuse(event)
                container = PosDict() if kind is yaml.MappingStartEvent else PosList()
                container.start = (mark.line + 1, mark.column + 1)
                stack.append([container, _NO_KEY, None, 1, event.anchor, container.start])
            else:
                total = self.rare(event, kind, total)
        return self.documents

    def rare(self, event: Any, kind: type, total: int) -> int:
        """An alias, or a document's start or end (the stream's are nothing to us);
        returns the new node count."""
        if kind is _ALIAS_EVENT:
            return self.alias(event, total)
        if kind is yaml.DocumentStartEvent:
            self.begin(event)
        elif kind is yaml.DocumentEndEvent:
            root = self.stack.pop()
            self.documents.append(Document(root[0], *self.start, tuple(self.not_xml), self.escaped()))
        return total

    def control(self, event: Any) -> None:
        """A double-quoted scalar holding a control character: one task XML cannot hold
        is noted; the escapes that made any are looked up in the source at the
        document's end."""
        mark = event.start_mark
        bad = _NOT_XML.search(event.value)
        if bad is not None:
            self.not_xml.append((mark.line + 1, mark.column + 1, bad.group(0)))
        breaks = "\n" in event.value or "\r" in event.value
        self.quoted.append((mark, event.end_mark, *_owner(self.stack, mark), bad is not None, breaks))

    def escaped(self) -> tuple[Escaped, ...]:
        """The current document's double-quoted scalars whose escapes made control characters."""
        from .yamlhints import control_escapes

        found = []
        for start, end, key, at, not_xml, breaks in self.quoted:
            source = self.text[start.index:end.index]  # libyaml's index counts characters
            done = control_escapes(source)
            if done and source.startswith('"') and source.endswith('"'):
                found.append(Escaped(start.line + 1, start.column + 1, key, at, source, tuple(done),
                                     not_xml, breaks))
        return tuple(found)

    def refuse(self, event: Any) -> NoReturn:
        """A mapping or list this reader does not take: too deep, or with a tag."""
        line, column = event.start_mark.line + 1, event.start_mark.column + 1
        if len(self.stack) > MAX_DEPTH:
            raise YamlError(line, column, f"nesting deeper than {MAX_DEPTH} levels")
        raise YamlError(line, column, f"the YAML tag {event.tag} is not supported")

    def alias(self, event: Any, total: int) -> int:
        """Adds an alias's value (shared, not copied); returns the new node count."""
        mark = event.start_mark
        line, column = mark.line + 1, mark.column + 1
        if event.anchor not in self.anchors:
            raise YamlError(line, column, f"unknown alias *{event.anchor}; a value that starts with * "
                                          "is an alias in YAML: quote it if it is text")
        value, size = self.anchors[event.anchor]
        total += size
        if total > MAX_EXPANDED_NODES:
            raise YamlError(
                line, column,
                f"aliases expand this file beyond {MAX_EXPANDED_NODES} nodes "
                "(an alias bomb?); write the values out or use a Defaults document",
            )
        _add(self.stack, value, size, line, column)
        return total

    def begin(self, event: Any) -> None:
        # Anchors are per document; the expansion budget is per file, so many small
        # documents cannot add up to a bomb.
        self.anchors.clear()
        self.not_xml.clear()  # the finished documents hold copies
        self.quoted.clear()
        self.start = (event.start_mark.line + 1, event.start_mark.column + 1)
        self.stack.append([None, _ROOT, None, 0])


_NO_KEY = object()
_ROOT = object()


def _owner(stack: list[list[Any]], mark: Any) -> tuple[str | None, tuple[int, int]]:
    """The key whose value a scalar at ``mark`` is, and where that value starts: the open
    mapping's pending key and the scalar, or, for an item of a list, the key of the list
    and the list (``arguments: ["C:\\temp"]``)."""
    at = (mark.line + 1, mark.column + 1)
    for frame in reversed(stack):
        if type(frame[0]) is PosDict:
            key = frame[1]
            return (key if isinstance(key, str) else None), at
        if type(frame[0]) is not PosList:
            break
        at = frame[0].start
    return None, at


def _add(stack: list[list[Any]], value: Any, size: int, line: int, column: int) -> None:
    frame = stack[-1]
    container = frame[0]
    if frame[1] is _ROOT:
        frame[0] = value
        frame[1] = _NO_KEY
        return
    frame[3] += size
    if type(container) is PosList:
        container.append(value)
        container.pos.append((line, column))
        return
    # A mapping alternates keys and values (a scalar key is always hashable).
    if frame[1] is _NO_KEY:
        if isinstance(value, (PosDict, PosList)):
            raise YamlError(line, column, "a mapping or list cannot be used as a key")
        frame[1] = value
        frame[2] = (line, column)
        return
    key, key_mark = frame[1], frame[2]
    frame[1] = _NO_KEY
    if key == "<<" and isinstance(value, (PosDict, PosList)):
        _merge(container, value, line, column)
        return
    if key in container and key not in container.merged:
        first = container.pos[key]
        raise YamlError(key_mark[0], key_mark[1],
                        f"duplicate key {key!r} (first at line {first[0]})")
    container[key] = value
    container.pos[key] = (key_mark[0], key_mark[1], line, column)
    if container.merged:
        container.merged.discard(key)


def _merge(container: PosDict, value: Any, line: int, column: int) -> None:
    """``<<: *base`` merge keys: keys written in the mapping itself win."""
    sources = value if isinstance(value, PosList) else [value]
    for source in sources:
        if not isinstance(source, PosDict):
            raise YamlError(line, column, "<< merges only mappings")
        for k, v in source.items():
            if k not in container:
                container[k] = v
                container.pos[k] = source.pos[k]
                if not isinstance(container.merged, set):
                    container.merged = set()
                container.merged.add(k)


def position(data: Any, path: Iterator[Any] | list[Any], key: bool = False) -> tuple[int, int] | None:
    """The position of the value at ``path`` (or of its key, with ``key=True``)."""
    node = data
    where: tuple[int, int] | None = getattr(data, "start", None)
    path = list(path)
    for index, step in enumerate(path):
        last = index == len(path) - 1
        if isinstance(node, PosDict) and step in node.pos:
            kl, kc, vl, vc = node.pos[step]
            where = (kl, kc) if (last and key) else (vl, vc)
            node = node[step]
        elif isinstance(node, PosList) and isinstance(step, int) and 0 <= step < len(node.pos):
            where = node.pos[step]
            node = node[step]
        else:
            break
    return where
