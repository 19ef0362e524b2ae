"""Passwords for pull mode from Windows Credential Manager, never from git: ``agent run
--secret VAR=TARGET`` reads the generic credential TARGET of the account the agent runs
as (SYSTEM) and sets VAR for the one apply, where ``runAs.password.fromEnv: VAR`` reads
it (README "Fleet")."""
from __future__ import annotations

import contextlib
import os
import sys
from typing import Iterator

from ..errors import ReconcileError


def read_credential(target: str) -> str:
    """The password of the generic credential ``target`` (CredRead, CRED_TYPE_GENERIC)."""
    if sys.platform == "win32":  # pragma: no cover - Windows
        import pywintypes
        import win32cred

        try:
            credential = win32cred.CredRead(target, win32cred.CRED_TYPE_GENERIC)
        except pywintypes.error as err:
            raise ReconcileError(f"--secret: no generic credential {target!r} in Credential Manager for "
                                 f"this account ({err.strerror})") from None
        blob = credential.get("CredentialBlob") or b""
        return blob.decode("utf-16-le") if isinstance(blob, bytes) else str(blob)
    raise ReconcileError(f"--secret {target}: Windows Credential Manager exists only on Windows")


@contextlib.contextmanager
def environment(secrets: tuple[tuple[str, str], ...]) -> Iterator[None]:
    """The secrets set as environment variables for the block, then removed again."""
    saved = {variable: os.environ.get(variable) for variable, _ in secrets}
    try:
        for variable, target in secrets:
            os.environ[variable] = read_credential(target)
        yield
    finally:
        for variable, value in saved.items():
            if value is None:
                os.environ.pop(variable, None)
            else:
                os.environ[variable] = value
