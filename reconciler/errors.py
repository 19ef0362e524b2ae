"""The exception hierarchy: every failure a user can cause or meet is a ReconcileError
with a one-line, actionable message. Anything else that escapes is a bug (see cli)."""
from __future__ import annotations

from dataclasses import dataclass


def quoted(value: object) -> str:
    """A value in a message, quoted as ``repr`` quotes a string but with backslashes as
    written, so a Windows path reads ``'C:\\Tools\\x.exe'``, not with every backslash
    doubled. Text with characters that cannot be seen (a newline) falls back to ``repr``."""
    text = str(value)
    if not text.isprintable():
        return repr(text)
    mark = "'" if "'" not in text else '"'
    return f"{mark}{text}{mark}"


class ReconcileError(Exception):
    """A failure the user can act on; ``str(err)`` is the whole message."""


class UsageError(ReconcileError):
    """The command line is wrong."""


@dataclass(frozen=True, order=True)
class Problem:
    """One problem in one manifest, at a 1-based line and column."""

    path: str
    line: int
    column: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.column}: {self.message}"


class ManifestError(ReconcileError):
    """One or more manifests are invalid; every problem found is carried."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class BackendError(ReconcileError):
    """Reading or writing Task Scheduler failed."""


class PartialReadError(BackendError):
    """The state could not be read completely; nothing may be written."""


class StalePlanError(ReconcileError):
    """A saved plan no longer matches the live state."""


class LockHeldError(ReconcileError):
    """Another apply holds the lock."""


class SafetyError(ReconcileError):
    """A safety rail refused the run (too many deletions, delete-all, conflicts)."""
