"""Task paths and their naming rules (README "Keys"; [MS-TSCH] 2.3.11 for paths).

A task path is ``\\Root\\Folder\\Name``. Paths compare case-insensitively, as Task
Scheduler does; the original spelling is kept for display and registration."""
from __future__ import annotations

import re
import unicodedata

from .errors import quoted

MAX_SEGMENT = 200
MAX_PATH = 238
FORBIDDEN_CHARS = set('\\/:*?"<>|')
# Device names ("Naming Files, Paths, and Namespaces", Microsoft Learn): CON, PRN, AUX,
# NUL, COM0-COM9, LPT0-LPT9 and, since Windows reads the ISO 8859-1 superscript digits as
# digits, COM¹ COM² COM³ LPT¹ LPT² LPT³; also the console's CONIN$ and CONOUT$. Each is
# reserved with any extension too (NUL.txt is NUL).
_RESERVED = re.compile(r"^(CON|PRN|AUX|NUL|COM[0-9\u00b9\u00b2\u00b3]|LPT[0-9\u00b9\u00b2\u00b3]|CONIN\$|CONOUT\$)"
                       r" *(\..*)?$", re.IGNORECASE)  # "CON .txt": Windows may trim the blanks, so it counts


def segment_problem(segment: str) -> str | None:
    """Why a name or folder segment breaks the rules, or None if it is fine."""
    if not segment:
        return "is empty"
    if len(segment) > MAX_SEGMENT:
        return f"is {len(segment)} characters long (at most {MAX_SEGMENT})"
    bad = sorted({c for c in segment if c in FORBIDDEN_CHARS})
    if bad:
        return "contains " + " ".join(quoted(c) for c in bad) + ' (not allowed: \\ / : * ? " < > |)'
    for char in segment:
        if not char.isprintable() or unicodedata.category(char) in ("Cc", "Cf", "Cs", "Co", "Cn"):
            return f"contains the non-printable character U+{ord(char):04X}"
    if segment in (".", ".."):
        return f"is {quoted(segment)}"
    if segment != segment.strip(" "):
        return "has a leading or trailing space"
    if segment.endswith("."):
        return "ends with a dot"
    if _RESERVED.match(segment):
        return f"is a reserved device name ({segment.split('.')[0].strip().upper()})"
    return None


def _fold(char: str) -> str:
    """One character as Windows compares it, spelled in lower case where that spelling
    stands for exactly the same upper-case character (so keys read like paths)."""
    upper = char.upper()
    if len(upper) != 1:
        return char  # ß: Windows has no one-character upper case for it and keeps it
    lower = upper.lower()
    return lower if len(lower) == 1 and lower.upper() == upper else upper


def key(path: str) -> str:
    """The comparison key of a path: Task Scheduler paths are case-insensitive, by
    Windows' rule: each character upper-cased on its own (RtlUpcaseUnicodeChar, the
    table NTFS keeps in $UpCase), never Unicode case folding. A character whose upper
    case is several characters stays itself, so ``straße`` and ``STRASSE`` are two
    names on Windows and two names here. Keys are spelled in lower case."""
    if path.isascii():
        return path.lower()
    return "".join(_fold(c) for c in path)


def normalize_root(root: str) -> str:
    """``Orchestrator``, ``\\Orchestrator`` and ``\\Orchestrator\\`` all give
    ``\\Orchestrator\\``; the root folder ``\\`` itself is refused."""
    from .errors import UsageError

    segments = [s for s in root.replace("/", "\\").split("\\")]
    inner = [s for s in segments if s != ""]
    if not inner:
        raise UsageError(
            f"--root {quoted(root)}: the root folder \\ is refused; name a folder such as \\Orchestrator\\"
        )
    # Empty segments are allowed only at the ends ("\X\" spellings), never inside.
    stripped = root.replace("/", "\\").strip("\\")
    if "\\\\" in stripped or stripped != "\\".join(inner):
        raise UsageError(f"--root {quoted(root)} is not a folder path")
    for segment in inner:
        problem = segment_problem(segment)
        if problem:
            raise UsageError(f"--root {quoted(root)}: folder {quoted(segment)} {problem}")
    return "\\" + "\\".join(inner) + "\\"


def split_folder(folder: str) -> list[str]:
    """Folder segments of ``metadata.folder`` (``\\``-separated; ends trimmed)."""
    return folder.strip("\\").split("\\") if folder.strip("\\") else []


def join(root: str, folder_segments: list[str], name: str) -> str:
    return root + "".join(s + "\\" for s in folder_segments) + name


def is_under(path: str, root: str) -> bool:
    """True if ``path`` lies strictly inside ``root`` (case-insensitive)."""
    return key(path).startswith(key(root)) and len(path) > len(root)


def relative(path: str, root: str) -> str:
    """The part of ``path`` below ``root`` (``Finance\\excel``)."""
    return path[len(root):]
