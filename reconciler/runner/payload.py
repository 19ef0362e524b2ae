"""The payload: everything one run needs, carried in the registered task's Arguments.

``encode`` gives base64url without padding (only ``A-Z a-z 0-9 _ -``: nothing for the
Windows command-line rules, cmd.exe or Task Scheduler's ``%VAR%`` expansion to touch) of
compact, key-sorted UTF-8 JSON, so the same payload always gives the same text.

It is deliberately not compressed: zlib output is not the same across zlib builds
(CPython's Windows builds moved to zlib-ng, python/cpython#91349 / PR #131438), and a
payload that rendered differently on another Python would show as a change in every
plan. ``decode`` still accepts a zlib stream (first byte 0x78) should one ever be used."""
from __future__ import annotations

import base64
import binascii
import json
import re
import zlib
from typing import Any

from . import FORMAT, MODULE

_PAYLOAD = re.compile(r"^[A-Za-z0-9_-]+$")
_ARGUMENTS = re.compile(r"^\s*-m\s+" + re.escape(MODULE) + r"\s+run\s+--payload\s+([A-Za-z0-9_-]+)\s*$")


class PayloadError(ValueError):
    """The payload cannot be read."""


def dumps(data: Any) -> str:
    """The canonical JSON text: sorted keys, no spaces, non-ASCII kept."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def encode(data: dict[str, Any]) -> str:
    raw = dumps(data).encode("utf-8")
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode(text: str) -> dict[str, Any]:
    text = text.strip()
    if not text or not _PAYLOAD.match(text):
        raise PayloadError("the payload is not base64url text")
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise PayloadError("the payload is not base64url text") from None
    if raw[:1] == b"\x78":
        try:
            raw = zlib.decompress(raw)
        except zlib.error as err:
            raise PayloadError(f"the payload is damaged: {err}") from None
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise PayloadError("the payload is not JSON") from None
    if not isinstance(data, dict):
        raise PayloadError("the payload is not a JSON object")
    version = data.get("v")
    if version != FORMAT:
        raise PayloadError(f"payload format {version!r} is not supported by this runner "
                           f"(it reads format {FORMAT}); run reconcile.py runner-install again")
    return data


def arguments(payload: str) -> str:
    """The Arguments of the registered action."""
    return f"-m {MODULE} run --payload {payload}"


def from_arguments(text: str | None) -> str | None:
    """The payload inside a runner action's Arguments, or None if it is not one."""
    match = _ARGUMENTS.match(text or "")
    return match.group(1) if match else None
