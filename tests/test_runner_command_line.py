"""The command line the runner starts for an action, checked everywhere by the rules
Windows reads it with (the twin of tests/test_runner_windows.py, which starts it with
the real CreateProcess).

Task Scheduler accepts a Command written with its own quotes (``"C:\\Program Files\\Tool\\
tool.exe"``: common in exported tasks, and kept by ``import``). The runner must quote the
program once: CreateProcessW (Microsoft Learn, lpCommandLine) takes a command line that
starts with a quote as a module name up to the next quote, with no escapes, so
``"\\"C:\\Program Files\\…\\""`` names no file and every run would exit 2. The program's
own C runtime then splits the rest by the rules ``reconciler.cmdline.split`` implements
("Parsing C command-line arguments", Microsoft Learn)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from reconciler import cmdline
from reconciler.runner import proctree


def create_process_module(command_line: str) -> str:
    """The module name CreateProcessW reads from a command line when lpApplicationName is
    NULL: a leading quote runs to the next quote; otherwise the first blank ends it."""
    if command_line.startswith('"'):
        end = command_line.find('"', 1)
        return command_line[1:end] if end > 0 else command_line[1:]
    return command_line.split(" ", 1)[0].split("\t", 1)[0]


def runtime_arguments(command_line: str) -> list[str]:
    """The arguments after the program, as the program's C runtime splits them."""
    program = create_process_module(command_line)
    rest = command_line[len(program) + (2 if command_line.startswith('"') else 0):]
    return cmdline.split(rest)


CASES = [
    # (Command as written in the task, Arguments, the program, its argv[1:])
    (r"C:\Tools\tool.exe", "--x 1", r"C:\Tools\tool.exe", ["--x", "1"]),
    (r"C:\Program Files\Tool\tool.exe", "--x", r"C:\Program Files\Tool\tool.exe", ["--x"]),
    (r'"C:\Program Files\Tool\tool.exe"', "--x", r"C:\Program Files\Tool\tool.exe", ["--x"]),
    (r'"C:\Tools\tool.exe"', None, r"C:\Tools\tool.exe", []),
    (r'"\\server\share\My Tools\tool.exe"', '"a b" c', r"\\server\share\My Tools\tool.exe", ["a b", "c"]),
    (r"C:\Program Files\Tool\tool.exe", r'"C:\Data Files\in.csv" --out "D:\o\"', r"C:\Program Files\Tool\tool.exe",
     [r"C:\Data Files\in.csv", "--out", 'D:\\o"']),
    ("tool.exe", None, "tool.exe", []),
]


@pytest.mark.parametrize("command, arguments, program, argv", CASES)
def test_the_program_is_quoted_once_as_create_process_reads_it(command: str, arguments: str | None,
                                                              program: str, argv: list[str]) -> None:
    line = proctree.command_line(command, arguments)
    assert create_process_module(line) == program
    assert runtime_arguments(line) == argv
    assert '\\"' not in line.split(program, 1)[0]  # no escaped quote around the program


def test_the_old_double_quoting_names_no_file() -> None:
    """What the runner built before: CreateProcess reads the module name "\\" and fails."""
    broken = cmdline.quote(r'"C:\Program Files\Tool\tool.exe"')
    assert create_process_module(broken) == "\\"


def test_a_quoted_command_starts_and_gets_its_arguments(tmp_path: Path) -> None:
    """A real start, on every platform: the Command written with quotes, as exports do."""
    out = tmp_path / "out.txt"
    script = tmp_path / "echo args.py"
    script.write_text("import sys\nopen(sys.argv[1], 'w').write('|'.join(sys.argv[2:]))\nsys.exit(7)\n")
    arguments = cmdline.join([str(script), str(out), "a b", 'say "hi"'])
    started = proctree.start(f'"{sys.executable}"', arguments, str(tmp_path), subprocess.DEVNULL)
    assert started.wait(timeout=60) == 7
    assert out.read_text() == 'a b|say "hi"'


def test_the_log_shows_the_command_line_that_was_started() -> None:
    assert proctree.command_line(r'"C:\Program Files\Tool\tool.exe"', "-v") == r'"C:\Program Files\Tool\tool.exe" -v'
    assert proctree.command_line(r"C:\Tools\tool.exe", None) == r"C:\Tools\tool.exe"
