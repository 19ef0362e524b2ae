"""The inventory variables reconcile.py reads: ``reconcile_root``, ``reconcile_wave``,
``reconcile_hostname`` and ``reconcile_ref`` (README "Fleet")."""
from __future__ import annotations

from .inventory import Host, InventoryError, Vaulted

DEFAULT_WAVE = "default"


def setting(host: Host, key: str) -> str | None:
    """A ``reconcile_*`` variable of ``host`` as text (None: not set). Values are never
    templated: a ``{{ ... }}`` is refused rather than used as a name or a folder."""
    value = host.vars.get(key)
    if value is None:
        return None
    if isinstance(value, (bool, Vaulted)) or not isinstance(value, (str, int, float)):
        raise InventoryError(f"host {host.name}: {key} must be plain text, not {type(value).__name__}")
    text = str(value).strip()
    if "{{" in text or "{%" in text:
        raise InventoryError(f"host {host.name}: {key} is {text!r}, a template; reconcile.py reads the "
                             "inventory without templating: write the value itself")
    return text or None


def hostname(host: Host) -> str:
    """The machine's name: ``reconcile_hostname``, or the inventory name."""
    return setting(host, "reconcile_hostname") or host.name


def wave(host: Host) -> str:
    return setting(host, "reconcile_wave") or DEFAULT_WAVE
