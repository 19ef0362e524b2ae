"""README's "Commands" synopsis names every command and every option the program takes:
each command's own long options on its own lines of the synopsis, and the options every
command takes (``--backend``, ``--root``...) in the section's text. Read from the parser
``reconciler.cli`` builds, so a new option without its line in README fails here."""
from __future__ import annotations

import argparse
import re

from conftest import REPO
from reconciler import cli

_SYNOPSIS_LINE = re.compile(r"^python reconcile\.py (\S+)(?: +([a-z][\w-]*))?")


def _section() -> str:
    """README's text between "## Commands" and the next heading."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    start = text.index("\n## Commands\n")
    end = text.find("\n## ", start + 1)
    return text[start:end if end != -1 else len(text)]


def _synopsis(section: str) -> dict[str, str]:
    """The synopsis block's lines by command ("plan", "fleet report"), continuation lines
    joined to the line they continue."""
    block = section.split("```", 2)[1]
    lines: dict[str, str] = {}
    current = None
    for line in block.splitlines():
        found = _SYNOPSIS_LINE.match(line)
        if found:
            current = found.group(1) + (f" {found.group(2)}" if found.group(2) else "")
            lines[current] = lines.get(current, "") + " " + line
        elif current is not None and line.startswith(" "):
            lines[current] += " " + line
    return lines


def _subcommands(parser: argparse.ArgumentParser, prefix: str = "") -> dict[str, argparse.ArgumentParser]:
    """Every command's parser by its name ("plan"), nested ones by both ("fleet report")."""
    out: dict[str, argparse.ArgumentParser] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                full = f"{prefix}{name}"
                out[full] = sub
                out.update(_subcommands(sub, full + " "))
    return out


def _long_options(parser: argparse.ArgumentParser) -> set[str]:
    return {o for action in parser._actions for o in action.option_strings if o.startswith("--")}


def _common_options() -> set[str]:
    parser = argparse.ArgumentParser(add_help=True)
    cli._common(parser, suppress=False)
    return _long_options(parser)


def test_every_command_is_in_the_synopsis() -> None:
    parsers = _subcommands(cli.build_parser())
    synopsis = _synopsis(_section())
    leaves = {name for name in parsers if not any(other.startswith(name + " ") for other in parsers)}
    assert leaves <= set(synopsis), f"commands missing from README's synopsis: {sorted(leaves - set(synopsis))}"


def test_every_long_option_of_every_command_is_in_the_synopsis() -> None:
    """A command's own options on its synopsis lines; --inventory and --host, which
    several commands take, may instead be in the paragraph that names those commands."""
    section = _section()
    synopsis = _synopsis(section)
    common = _common_options()
    shared = section.split("```", 2)[2].split("\n\n", 2)[1]  # the paragraph after the block
    missing = []
    for name, parser in _subcommands(cli.build_parser()).items():
        if name not in synopsis:
            continue  # a command with subcommands: its leaves have the lines
        for option in sorted(_long_options(parser) - common):
            on_its_line = re.search(re.escape(option) + r"(?![\w-])", synopsis[name])
            in_paragraph = option in ("--inventory", "--host") and option in shared \
                and re.search(rf"\b{re.escape(name)}\b", shared)
            if not on_its_line and not in_paragraph:
                missing.append(f"{name} {option}")
    assert not missing, f"options missing from README's synopsis: {missing}"


def test_the_options_every_command_takes_are_in_the_section() -> None:
    section = _section()
    missing = [o for o in sorted(_common_options()) if o not in section and o != "--help"]
    assert not missing, missing
