"""Account names to SIDs as Windows resolves them (LookupAccountNameW); off Windows
there is nothing to ask and every lookup answers None."""
from __future__ import annotations

import sys


def lookup_account_sid(name: str) -> str | None:
    """The SID Windows has for an account name (LookupAccountNameW), or None."""
    if sys.platform != "win32":
        return None
    return _lookup_windows(name)  # pragma: no cover - Windows only


def _lookup_windows(name: str) -> str | None:  # pragma: no cover - Windows only
    if sys.platform != "win32":  # mypy checks what follows for Windows only
        return None
    import ctypes
    from ctypes import wintypes

    try:
        advapi32 = ctypes.WinDLL("advapi32", use_last_error=True)
        kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
        sid_size, domain_size = wintypes.DWORD(0), wintypes.DWORD(0)
        use = wintypes.DWORD()
        advapi32.LookupAccountNameW(None, name, None, ctypes.byref(sid_size), None,
                                    ctypes.byref(domain_size), ctypes.byref(use))
        if sid_size.value == 0:
            return None
        sid = ctypes.create_string_buffer(sid_size.value)
        domain = ctypes.create_unicode_buffer(domain_size.value)
        if not advapi32.LookupAccountNameW(None, name, sid, ctypes.byref(sid_size), domain,
                                           ctypes.byref(domain_size), ctypes.byref(use)):
            return None
        text = wintypes.LPWSTR()
        if not advapi32.ConvertSidToStringSidW(sid, ctypes.byref(text)):
            return None
        try:
            return text.value
        finally:
            kernel32.LocalFree(text)
    except (OSError, AttributeError, ValueError):
        return None
