"""What every part of import shares: the refusal, and the readers that turn a canonical
value back into the manifest's spelling or refuse it by element name."""
from __future__ import annotations

from typing import Any, Container

from . import durations
from .errors import ReconcileError


class NotRepresentable(ReconcileError):
    """The task uses something a manifest cannot say."""


def short_duration(iso: str, element: str) -> str:
    """``PT1H30M`` -> ``1h30m``."""
    try:
        return durations.parse_iso(iso).short()
    except ValueError:
        raise NotRepresentable(f"{element}: {iso!r} is not a duration") from None


def only(body: dict[str, Any], known: Container[str], element: str) -> None:
    """Refuse a child element the manifest has no key for."""
    for key in body:
        if key not in known:
            raise NotRepresentable(f"{element}/{key}: reconcile.py manifests cannot express this element")
