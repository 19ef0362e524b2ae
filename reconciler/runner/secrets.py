"""The secrets a notification needs, where they come from, and keeping them out of every
text the runner writes.

Sources (read at run time, on the machine, by the task's own account):

- ``…FromEnv: VARIABLE``: the task account's environment. For SYSTEM that is a
  machine-wide variable (``HKLM\\SYSTEM\\CurrentControlSet\\Control\\Session
  Manager\\Environment``), which every local user can read.
- ``…FromFile: PATH``: the first line of a file that only the task's account can read
  (``%VAR%`` expanded). On POSIX a file that others may read is refused, as ssh refuses a
  private key; on Windows its ACL is the administrator's to set (README "Security").
- ``…FromCredential: TARGET``: a generic credential in the Windows Credential Manager of
  the task's account (CredReadW), its password blob; its user name is the SMTP login
  when no other source gives one.

``Redactor`` collects every value read and removes it, in any spelling the runner could
produce (as is, stripped, escaped, URL-quoted, hex, base64 as SMTP AUTH sends it), from
any text before it reaches the history, the log or the output. Standard library only."""
from __future__ import annotations

import base64
import json
import os
import stat
import sys
import urllib.parse
from dataclasses import dataclass
from typing import Any, Callable

REDACTED = "[redacted]"
MAX_FILE_BYTES = 64 * 1024
_MIN_FRAGMENT = 6  # parts of a secret shorter than this are too common to redact alone


class SecretError(Exception):
    """A secret could not be read; the message names its source, never its value."""


# --- sources ----------------------------------------------------------------------------------

def from_env(name: str, what: str) -> str:
    value = os.environ.get(name)
    if value is None:
        raise SecretError(f"the environment variable {name} ({what}) is not set")
    return value


def _private_enough(path: str, mode: int, what: str) -> None:
    if sys.platform == "win32":  # pragma: no cover - Windows: the file's ACL decides
        return
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise SecretError(f"{path} ({what}) may be read by other accounts (mode {stat.S_IMODE(mode):o}); "
                          "make it readable by the task's account only (chmod 600)")


def from_file(path: str, what: str) -> str:
    """The file's first line (without its line end): a regular file of at most 64 KiB,
    readable by its owner only (POSIX)."""
    from .paths import expand

    full = expand(path) or path
    try:
        found = os.stat(full)
        if not stat.S_ISREG(found.st_mode):
            raise SecretError(f"{full} ({what}) is not a regular file")
        _private_enough(full, found.st_mode, what)
        with open(full, "rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as err:
        raise SecretError(f"cannot read {full} ({what}): {err.strerror or type(err).__name__}") from None
    if len(data) > MAX_FILE_BYTES:
        raise SecretError(f"{full} ({what}) is larger than 64 KiB")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise SecretError(f"{full} ({what}) is not UTF-8 text") from None
    return text.splitlines()[0] if text.splitlines() else ""


@dataclass(frozen=True)
class Credential:
    user: str
    secret: str


# The seam for tests off Windows: (target) -> Credential, raising SecretError.
CredentialReader = Callable[[str], Credential]


def read_windows_credential(target: str) -> Credential:
    """A generic credential of the current account's Credential Manager (CredReadW,
    CRED_TYPE_GENERIC). The password blob is UTF-16LE when it was stored by cmdkey or
    the Credential Manager, else UTF-8."""
    if sys.platform != "win32":
        raise SecretError(f"the Windows Credential Manager ({target}) exists on Windows only")
    import ctypes
    from ctypes import wintypes

    class CREDENTIAL(ctypes.Structure):
        _fields_ = [("Flags", wintypes.DWORD), ("Type", wintypes.DWORD), ("TargetName", wintypes.LPWSTR),
                    ("Comment", wintypes.LPWSTR), ("LastWritten", wintypes.FILETIME),
                    ("CredentialBlobSize", wintypes.DWORD), ("CredentialBlob", ctypes.POINTER(ctypes.c_ubyte)),
                    ("Persist", wintypes.DWORD), ("AttributeCount", wintypes.DWORD),
                    ("Attributes", ctypes.c_void_p), ("TargetAlias", wintypes.LPWSTR),
                    ("UserName", wintypes.LPWSTR)]

    advapi32 = ctypes.WinDLL("advapi32", use_last_error=True)
    advapi32.CredReadW.argtypes = (wintypes.LPCWSTR, wintypes.DWORD, wintypes.DWORD,
                                   ctypes.POINTER(ctypes.POINTER(CREDENTIAL)))
    advapi32.CredReadW.restype = wintypes.BOOL
    advapi32.CredFree.argtypes = (ctypes.c_void_p,)
    found = ctypes.POINTER(CREDENTIAL)()
    if not advapi32.CredReadW(target, 1, 0, ctypes.byref(found)):  # CRED_TYPE_GENERIC
        code = ctypes.get_last_error()
        why = "no such credential for this account" if code == 1168 else f"error {code}"  # ERROR_NOT_FOUND
        raise SecretError(f"the Windows Credential Manager has no readable credential {target!r} ({why})")
    try:
        credential = found.contents
        blob = bytes(credential.CredentialBlob[:credential.CredentialBlobSize])
        return Credential(user=credential.UserName or "", secret=decode_blob(blob))
    finally:
        advapi32.CredFree(found)


def decode_blob(blob: bytes) -> str:
    """A credential's password blob as text: UTF-16LE (what cmdkey and the Credential
    Manager store) when it reads as such, else UTF-8."""
    if len(blob) % 2 == 0 and blob:
        try:
            text = blob.decode("utf-16-le")
            if all(ch.isprintable() for ch in text):
                return text
        except UnicodeDecodeError:
            pass
    return blob.decode("utf-8", "replace")


# --- redaction ----------------------------------------------------------------------------------

def _base64_cores(raw: bytes) -> list[str]:
    """The base64 text that ``raw`` gives wherever it sits inside a longer base64 string:
    for each of the three alignments, the characters that depend on ``raw`` alone."""
    cores = []
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + raw).decode("ascii").rstrip("=")
        skip = {0: 0, 1: 2, 2: 3}[offset]
        end = len(encoded) - (1 if (offset + len(raw)) % 3 else 0)
        core = encoded[skip:end]
        if len(core) >= 8:
            cores.append(core)
    return cores


class Redactor:
    """Every secret read for one notification, removed from any text in any spelling."""

    def __init__(self) -> None:
        self._forms: set[str] = set()

    def add(self, secret: str | None) -> str | None:
        """Remember ``secret`` (returned unchanged, so a read can be wrapped)."""
        if not secret:
            return secret
        values = {secret, secret.strip()} | {part for part in secret.split() if len(part) >= _MIN_FRAGMENT}
        for value in filter(None, values):
            raw = value.encode("utf-8")
            self._forms.update({
                value, repr(value)[1:-1], json.dumps(value)[1:-1], repr(raw)[2:-1],
                urllib.parse.quote(value, safe=""), urllib.parse.quote_plus(value),
                raw.hex(), raw.hex().upper(), base64.b64encode(raw).decode("ascii"),
                base64.urlsafe_b64encode(raw).decode("ascii"),
            })
            self._forms.update(_base64_cores(raw))
        return secret

    def add_url(self, url: str | None) -> str | None:
        """A URL that is a secret as a whole: also its parts that errors quote on their
        own (the path with the query, the query, user-info), in every spelling ``add`` knows."""
        if not url:
            return url
        self.add(url)
        try:
            parts = urllib.parse.urlsplit(url.strip())
        except ValueError:
            return url
        pieces = [parts.path + ("?" + parts.query if parts.query else ""), parts.query, parts.netloc.rpartition("@")[0]]
        for piece in pieces:
            if len(piece) >= _MIN_FRAGMENT:
                self.add(piece)
        return url

    def add_login(self, user: str, password: str) -> None:
        """An SMTP login: both values, and what AUTH PLAIN and AUTH LOGIN send (RFC 4616,
        draft-murchison-sasl-login): base64 of ``\\0user\\0password`` and of each."""
        self.add(user)
        self.add(password)
        plain = f"\0{user}\0{password}".encode("utf-8")
        self._forms.add(base64.b64encode(plain).decode("ascii"))

    def redact(self, text: str) -> str:
        for form in sorted(self._forms, key=len, reverse=True):
            if form and form in text:
                text = text.replace(form, REDACTED)
        return text


def redact_url(url: str) -> str:
    """A URL as it may be shown: without user-info (``user:password@``) and with the
    query string and fragment replaced (tokens travel there)."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return REDACTED
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = host + (f":{port}" if port else "")
    if parts.username is not None or parts.password is not None:
        netloc = f"{REDACTED}@{netloc}"
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path,
                                    REDACTED if parts.query else "", REDACTED if parts.fragment else ""))


def redact_run_urls(run: dict[str, Any]) -> dict[str, Any]:
    """A payload's run block as plans show it: every URL (``webhook.url``,
    ``urlReachable``) without user-info or query string."""
    def condition(item: Any) -> Any:
        if not (isinstance(item, dict) and "urlReachable" in item):
            return item
        body = item["urlReachable"]
        if isinstance(body, str):
            return {"urlReachable": redact_url(body)}
        if isinstance(body, dict) and isinstance(body.get("url"), str):
            return {"urlReachable": {**body, "url": redact_url(body["url"])}}
        return item

    def notifier(item: Any) -> Any:
        body = item.get("webhook") if isinstance(item, dict) else None
        if isinstance(body, dict) and isinstance(body.get("url"), str):
            return {"webhook": {**body, "url": redact_url(body["url"])}}
        return item

    out = dict(run)
    if isinstance(run.get("when"), list):
        out["when"] = [condition(item) for item in run["when"]]
    notify = run.get("notify")
    if isinstance(notify, dict) and isinstance(notify.get("onFailure"), list):
        out["notify"] = {**notify, "onFailure": [notifier(item) for item in notify["onFailure"]]}
    return out
