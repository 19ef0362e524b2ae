"""Ansible's host patterns in a YAML inventory: ranges (``srv-a[01:09]``,
``db-[a:f]``, with a step: ``[01:10:3]``) and a port (``srv:5986``), as Ansible's
``expand_hostname_range`` and ``parse_address`` read them (IPv6 literals are refused,
as Ansible's YAML inventory refuses them)."""
from __future__ import annotations

import re
import string

from ..errors import ReconcileError


class PatternError(ReconcileError):
    """A host pattern that cannot be expanded."""


_PORT = re.compile(r"^(?P<host>[^:]+):(?P<port>\d+)$")


def expand_pattern(pattern: str) -> tuple[list[str], int | None]:
    """``srv-a[01:03]:2222`` -> the host names and the port (Ansible's
    ``expand_hostname_range``: numeric or alphabetic ranges, an optional step, leading
    zeros kept)."""
    if not isinstance(pattern, str):
        raise PatternError(f"host pattern {pattern!r} must be a string: quote numbers")
    port = None
    found = _PORT.match(pattern)
    if found:
        pattern, port = found["host"], int(found["port"])
    return _expand(pattern), port


def _expand(line: str) -> list[str]:
    if "[" not in line:
        return [line]
    head, _, rest = line.partition("[")
    bounds_text, closed, tail = rest.partition("]")
    if not closed:
        raise PatternError(f"host pattern {line!r}: '[' without ']'")
    bounds = bounds_text.split(":")
    if len(bounds) not in (2, 3):
        raise PatternError(f"host pattern {line!r}: a range is [begin:end] or [begin:end:step]")
    begin, end = bounds[0] or "0", bounds[1]
    step = int(bounds[2]) if len(bounds) == 3 and bounds[2] else 1
    if not end:
        raise PatternError(f"host pattern {line!r}: the range needs an end")
    width = len(begin) if begin[0] == "0" and len(begin) > 1 else 0
    if width and len(end) != width:
        raise PatternError(f"host pattern {line!r}: begin and end must have the same width")
    letters = string.ascii_letters
    if begin in letters and end in letters and len(begin) == len(end) == 1:
        if letters.index(begin) > letters.index(end):
            raise PatternError(f"host pattern {line!r}: the range must have begin <= end")
        items = list(letters[letters.index(begin):letters.index(end) + 1:step])
    else:
        try:
            items = [str(n).zfill(width) for n in range(int(begin), int(end) + 1, step)]
        except ValueError:
            raise PatternError(f"host pattern {line!r}: {bounds_text!r} is not a range") from None
    return [name for item in items for name in _expand(head + item + tail)]
