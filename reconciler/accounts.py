"""Accounts compared by SID.

Windows stores a task's account as a SID (Win10/2016 and later), while a manifest says
``SYSTEM`` or ``NT AUTHORITY\\SYSTEM``. Well-known accounts map through a fixed table on
every platform; other names are resolved by the backend (on Windows, by the system)."""
from __future__ import annotations

from typing import Callable, Protocol

SYSTEM_SID = "S-1-5-18"
LOCAL_SERVICE_SID = "S-1-5-19"
NETWORK_SERVICE_SID = "S-1-5-20"
SERVICE_SIDS = frozenset({SYSTEM_SID, LOCAL_SERVICE_SID, NETWORK_SERVICE_SID})

# Names Windows accepts for the same well-known account, compared case-insensitively.
_WELL_KNOWN: dict[str, str] = {}
for _sid, _names in {
    SYSTEM_SID: ["SYSTEM", "LOCAL SYSTEM", "LOCALSYSTEM", "NT AUTHORITY\\SYSTEM"],
    LOCAL_SERVICE_SID: ["LOCAL SERVICE", "LOCALSERVICE", "NT AUTHORITY\\LOCAL SERVICE",
                        "NT AUTHORITY\\LOCALSERVICE"],
    NETWORK_SERVICE_SID: ["NETWORK SERVICE", "NETWORKSERVICE", "NT AUTHORITY\\NETWORK SERVICE",
                          "NT AUTHORITY\\NETWORKSERVICE"],
    "S-1-5-32-544": ["BUILTIN\\ADMINISTRATORS", "ADMINISTRATORS"],
    "S-1-5-32-545": ["BUILTIN\\USERS", "USERS"],
    "S-1-5-32-546": ["BUILTIN\\GUESTS", "GUESTS"],
    "S-1-5-4": ["NT AUTHORITY\\INTERACTIVE", "INTERACTIVE"],
    "S-1-5-11": ["NT AUTHORITY\\AUTHENTICATED USERS", "AUTHENTICATED USERS"],
    "S-1-1-0": ["EVERYONE"],
}.items():
    for _name in _names:
        _WELL_KNOWN[_name.casefold()] = _sid

WELL_KNOWN_DISPLAY = {
    SYSTEM_SID: "SYSTEM",
    LOCAL_SERVICE_SID: "LOCAL SERVICE",
    NETWORK_SERVICE_SID: "NETWORK SERVICE",
    "S-1-5-32-544": "BUILTIN\\Administrators",
    "S-1-5-32-545": "BUILTIN\\Users",
    "S-1-5-32-546": "BUILTIN\\Guests",
    "S-1-5-4": "NT AUTHORITY\\INTERACTIVE",
    "S-1-5-11": "NT AUTHORITY\\Authenticated Users",
    "S-1-1-0": "Everyone",
}


class AccountResolver(Protocol):
    def __call__(self, name: str) -> str: ...


def is_sid(text: str) -> bool:
    return text.upper().startswith("S-1-") and all(p.isdigit() for p in text[4:].split("-") if p)


def well_known(name: str) -> str:
    """The canonical form of an account without asking the system: a SID for
    well-known accounts and SID strings, otherwise the name upper-cased (Windows
    account names are case-insensitive) with a ``.\\`` prefix kept as written."""
    text = name.strip()
    if is_sid(text):
        return text.upper()
    sid = _WELL_KNOWN.get(text.casefold())
    if sid:
        return sid
    return text.upper()


def display(sid_or_name: str) -> str:
    return WELL_KNOWN_DISPLAY.get(sid_or_name, sid_or_name)


def chained(system_lookup: Callable[[str], str | None]) -> AccountResolver:
    """A resolver that asks the system for names the fixed table does not know."""

    def resolve(name: str) -> str:
        text = name.strip()
        if is_sid(text) or text.casefold() in _WELL_KNOWN:
            return well_known(text)
        sid = system_lookup(text)
        return sid.upper() if sid else text.upper()

    return resolve
