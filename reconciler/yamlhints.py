"""What to do about the commonest YAML slips, said after libyaml's own message: a tab
in the indentation, a value starting with ``*`` (an alias to YAML: cron's ``*/5``), and
a Windows path in double quotes, where ``\\`` starts an escape (YAML 1.2 spec, 5.7
"Escaped Characters") -- libyaml refuses an unknown escape (``\\T``), but ``\\t``,
``\\n``, ``\\e`` and their kind silently become a control character, named here."""
from __future__ import annotations

import re
import unicodedata

_DOUBLE_QUOTED_BACKSLASH = re.compile(r'"[^"\n]*\\')
# The value libyaml reported at: after "key: ", "- " or "{key: " (flow style).
_AT_ALIAS = re.compile(r"\*[^,\]}]*")

# The escapes of YAML 1.2 (5.7) that produce a control character or a line separator,
# as a reader of a Windows path would name what they did.
_ESCAPE_NAMES = {
    "0": "a NUL (U+0000)", "a": "a bell (U+0007)", "b": "a backspace (U+0008)", "t": "a tab",
    "n": "a line break", "v": "a vertical tab (U+000B)", "f": "a form feed (U+000C)",
    "r": "a line break (a carriage return)", "e": "an escape character (U+001B)", "N": "a next-line character (U+0085)",
    "L": "a line separator (U+2028)", "P": "a paragraph separator (U+2029)",
}
_MEANT = re.compile(r'\\([\\"])')
_ESCAPE = re.compile(r"\\(x[0-9A-Fa-f]{2}|u[0-9A-Fa-f]{4}|U[0-9A-Fa-f]{8}|.)", re.DOTALL)


def hint(text: str, line: int, column: int, problem: str) -> str | None:
    """A hint for the YAML error ``problem`` at 1-based ``line``/``column`` of ``text``."""
    lines = text.splitlines()
    here = lines[line - 1] if 0 < line <= len(lines) else ""
    before = here[: max(column - 1, 0)]
    if "\t" in here[: len(here) - len(here.lstrip(" \t"))] or here[column - 1: column] == "\t":
        return "YAML does not allow tabs for indentation: indent with spaces"
    if "alias" in problem:
        # libyaml reports the character after the ``*`` that starts the alias, in block
        # style (``cron: */5 * * * *``) as in flow style (``[{cron: */5 * * * *}]``,
        # where the value ends at , ] or }).
        star = here.rfind("*", 0, column)
        found = _AT_ALIAS.match(here, star) if star != -1 else None
        value = found.group(0).strip() if found else ""
        return f"a value that starts with * is an alias in YAML: quote it, e.g. \"{value}\"" if value else None
    if ("escape" in problem or "hexdecimal" in problem) and _DOUBLE_QUOTED_BACKSLASH.search(before + "\\"):
        return ("inside double quotes a backslash starts an escape: write Windows paths in single "
                "quotes ('C:\\Tools\\x.exe') or without quotes")
    return None


def control_escapes(source: str) -> list[str]:
    """What each escape in a double-quoted scalar's ``source`` that produced a control
    character or a line separator did, in order: ``["\\t became a tab"]``."""
    done = []
    for escape in _ESCAPE.finditer(source):
        body = escape.group(1)
        if body in _ESCAPE_NAMES:
            done.append(f"\\{body} became {_ESCAPE_NAMES[body]}")
        elif len(body) > 1 and unicodedata.category(char := chr(int(body[1:], 16))) in ("Cc", "Zl", "Zp"):
            done.append(f"\\{body} became U+{ord(char):04X}")
    return done


def escape_advice(key: str | None, source: str, done: list[str], path: bool, not_xml: bool) -> str:
    """The message for a double-quoted scalar (``source``, quotes included) whose escapes
    ``done`` produced control characters: what happened, and how to write it instead."""
    # What was meant: every backslash kept, but one written as \\ or before a quote.
    single = "'" + _MEANT.sub(r"\1", source[1:-1]).replace("'", "''") + "'"
    what = ", ".join(done[:3]) + (", ..." if len(done) > 3 else "")
    if not_xml:
        what += ", which task XML cannot hold"
    return (f"{key + ': ' if key is not None else ''}{source} — inside double quotes a backslash starts an "
            f"escape ({what}): write {'the path' if path else 'it'} in single quotes ({single}) "
            "or double each backslash")
