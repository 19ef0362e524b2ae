"""What to do about the commonest YAML slips, said after libyaml's own message: a tab
in the indentation, a value starting with ``*`` (an alias to YAML: cron's ``*/5``), and
a Windows path in double quotes, where ``\\`` starts an escape (YAML 1.2 spec, 5.7
"Escaped Characters")."""
from __future__ import annotations

import re

_DOUBLE_QUOTED_BACKSLASH = re.compile(r'"[^"\n]*\\')


def hint(text: str, line: int, column: int, problem: str) -> str | None:
    """A hint for the YAML error ``problem`` at 1-based ``line``/``column`` of ``text``."""
    lines = text.splitlines()
    here = lines[line - 1] if 0 < line <= len(lines) else ""
    before = here[: max(column - 1, 0)]
    if "\t" in here[: len(here) - len(here.lstrip(" \t"))] or here[column - 1: column] == "\t":
        return "YAML does not allow tabs for indentation: indent with spaces"
    if "alias" in problem:
        value = here.split(": ", 1)[1].strip() if ": " in here else here.strip().lstrip("- ")
        return (f"a value that starts with * is an alias in YAML: quote it, e.g. \"{value}\""
                if value.startswith("*") else None)
    if ("escape" in problem or "hexdecimal" in problem) and _DOUBLE_QUOTED_BACKSLASH.search(before + "\\"):
        return ("inside double quotes a backslash starts an escape: write Windows paths in single "
                "quotes ('C:\\Tools\\x.exe') or without quotes")
    return None
