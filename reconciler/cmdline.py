"""Windows command lines: how a program started by Task Scheduler splits its Arguments.

Windows passes one string; the program's C runtime (CommandLineToArgvW rules) splits it:
whitespace separates arguments, ``"`` groups, ``\\`` escapes a quote only when it
precedes one (2n backslashes + ``"`` give n backslashes and a grouping quote; 2n+1
give n and a literal quote). ``quote`` is the exact inverse of ``split``."""
from __future__ import annotations


def quote(argument: str) -> str:
    """One argument, quoted so that ``split`` gives it back unchanged."""
    if argument and not any(c in argument for c in ' \t\n\v"'):
        return argument
    out = ['"']
    backslashes = 0
    for char in argument:
        if char == "\\":
            backslashes += 1
        elif char == '"':
            out.append("\\" * (2 * backslashes + 1) + '"')
            backslashes = 0
        else:
            out.append("\\" * backslashes + char)
            backslashes = 0
    out.append("\\" * (2 * backslashes) + '"')
    return "".join(out)


def join(arguments: list[str]) -> str:
    return " ".join(quote(a) for a in arguments)


def split(command_line: str) -> list[str]:
    """Arguments as the Microsoft C runtime (2008 and later) parses them."""
    args: list[str] = []
    current: list[str] = []
    in_quotes = False
    have_arg = False
    i = 0
    n = len(command_line)
    while i < n:
        char = command_line[i]
        if char == "\\":
            start = i
            while i < n and command_line[i] == "\\":
                i += 1
            count = i - start
            if i < n and command_line[i] == '"':
                current.append("\\" * (count // 2))
                if count % 2:
                    current.append('"')
                    i += 1
                have_arg = True
                continue
            current.append("\\" * count)
            have_arg = True
            continue
        if char == '"':
            if in_quotes and i + 1 < n and command_line[i + 1] == '"':
                # "" inside quotes is a literal quote (post-2008 CRT behaviour).
                current.append('"')
                i += 2
                continue
            in_quotes = not in_quotes
            have_arg = True
            i += 1
            continue
        if char in " \t" and not in_quotes:
            if have_arg:
                args.append("".join(current))
                current = []
                have_arg = False
            i += 1
            continue
        current.append(char)
        have_arg = True
        i += 1
    if have_arg:
        args.append("".join(current))
    return args
