"""Names and arguments as Windows sees them (issue #18, part 5): path comparison by
Windows' upper-casing, every reserved device name, the batch-file guard against the
names Windows resolves to a batch file or to cmd.exe, %VARIABLE% in a list item, and the
longest command line CreateProcess takes."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import run_cli
from reconciler import names
from reconciler.compile_actions import MAX_COMMAND_LINE, runs_through_cmd

STORE = Path(".reconcile") / "store"
TASK_NS = "http://schemas.microsoft.com/windows/2004/02/mit/task"


def manifest(name: str = "t", command: str = "C:\\tools\\job.exe", arguments: object = None) -> str:
    action = {"command": command}
    if arguments is not None:
        action["arguments"] = arguments  # type: ignore[assignment]
    return ("apiVersion: reconcile/v1\nkind: ScheduledTask\n"
            f"metadata: {{name: {json.dumps(name, ensure_ascii=False)}}}\n"
            f"spec:\n  actions: [{json.dumps(action, ensure_ascii=False)}]\n  runAs: {{user: SYSTEM}}\n")


# --- case ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("one, other", [
    ("\\Orchestrator\\straße", "\\Orchestrator\\STRASSE"),  # ß has no one-character upper case
    ("\\Orchestrator\\ŉ", "\\Orchestrator\\ʼN"),
    ("\\Orchestrator\\K", "\\Orchestrator\\\u212a"),  # KELVIN SIGN is its own upper case
])
def test_names_that_case_folding_merges_but_windows_keeps_apart(one: str, other: str) -> None:
    assert one.casefold() == other.casefold() or one.lower() == other.lower()
    assert names.key(one) != names.key(other)


@pytest.mark.parametrize("one, other", [
    ("\\Orchestrator\\Straße", "\\orchestrator\\STRAßE"),
    ("\\Orchestrator\\Ärger", "\\ORCHESTRATOR\\ärger"),
    ("\\Orchestrator\\ΣΟΦΊΑ", "\\Orchestrator\\σοφία"),
    ("\\Orchestrator\\ǅ", "\\Orchestrator\\ǆ"),
])
def test_names_windows_upper_cases_alike(one: str, other: str) -> None:
    assert names.key(one) == names.key(other)


def test_ascii_keys_are_lower_case() -> None:
    assert names.key("\\Orchestrator\\Finance\\Report") == "\\orchestrator\\finance\\report"


def test_adopting_strasse_never_touches_strasse_in_capitals(workspace: Path) -> None:
    assert run_cli("apply", "-q", cwd=workspace).code == 0
    root = workspace / STORE / "Orchestrator"
    hand_made = ('<Task version="1.2" xmlns="' + TASK_NS + '"><Principals><Principal id="Author">'
                 '<UserId>S-1-5-18</UserId></Principal></Principals><Actions Context="Author"><Exec>'
                 '<Command>keep.exe</Command></Exec></Actions></Task>')
    (root / "STRASSE").write_bytes(hand_made.encode("utf-16"))
    (root / "straße").write_bytes(hand_made.replace("keep.exe", "old.exe").encode("utf-16"))
    (workspace / "tasks.d" / "strasse.yaml").write_text(
        manifest("straße", "new.exe").replace("metadata: {", "metadata: {adopt: true, "), encoding="utf-8")
    result = run_cli("apply", cwd=workspace)
    assert result.code == 0, result.out + result.err
    assert "keep.exe" in (root / "STRASSE").read_bytes().decode("utf-16")
    assert "new.exe" in (root / "straße").read_bytes().decode("utf-16")
    assert run_cli("plan", "--detailed-exitcode", cwd=workspace).code == 0


# --- reserved names ---------------------------------------------------------------------------------

@pytest.mark.parametrize("segment", ["COM0", "lpt0", "COM\u00b9", "COM\u00b2", "LPT\u00b3", "lpt\u00b9.log",
                                     "CONIN$", "conout$", "CONOUT$.txt"])
def test_every_device_name_is_reserved(segment: str) -> None:
    problem = names.segment_problem(segment)
    assert problem is not None and "reserved" in problem


@pytest.mark.parametrize("segment", ["COM10", "LPT\u2074", "CONIN", "CONOUT", "COM", "CONINS"])
def test_names_near_a_device_name_are_fine(segment: str) -> None:
    assert names.segment_problem(segment) is None


# --- the batch-file guard ------------------------------------------------------------------------------

@pytest.mark.parametrize("command", [
    "C:\\jobs\\run.bat.", "C:\\jobs\\run.bat ", "C:\\jobs\\run.bat::$DATA", "C:\\jobs\\RUN.CMD. . ",
    "C:\\jobs\\run.cmd:stream:$DATA", "%SCRIPT%", "C:\\jobs\\%NAME%", "cmd.exe", "cmd",
    "C:\\Windows\\System32\\CMD.EXE", "%ComSpec%", '"C:\\Program Files\\x\\run.bat"',
])
def test_what_cmd_runs(command: str) -> None:
    assert runs_through_cmd(command)


@pytest.mark.parametrize("command", ["C:\\tools\\job.exe", "%ProgramFiles%\\x\\app.exe", "run.bat.exe",
                                     "C:\\cmd.d\\job.exe", "cmdline.exe"])
def test_what_cmd_does_not_run(command: str) -> None:
    assert not runs_through_cmd(command)


@pytest.mark.parametrize("command", ["C:\\jobs\\run.bat.", "C:\\jobs\\run.bat::$DATA", "%SCRIPT%",
                                     "C:\\Windows\\System32\\cmd.exe"])
def test_the_guard_holds_for_every_spelling(workspace: Path, command: str) -> None:
    (workspace / "tasks.d" / "zz.yaml").write_text(manifest(command=command, arguments=["/c", "echo a&calc"]),
                                                    encoding="utf-8")
    result = run_cli("validate", cwd=workspace)
    assert result.code == 1 and "batch file" in result.err and "&" in result.err, result.err


# --- %VARIABLE% in a list item ------------------------------------------------------------------------------

@pytest.mark.parametrize("item", ["%PATH%", "--out=%TEMP%\\x.log", "%A% %B%"])
def test_a_variable_in_a_list_item_is_refused(workspace: Path, item: str) -> None:
    (workspace / "tasks.d" / "zz.yaml").write_text(manifest(arguments=["--flag", item]), encoding="utf-8")
    result = run_cli("validate", cwd=workspace)
    assert result.code == 1, result.err
    assert "tasks.d/zz.yaml:5:" in result.err and "expands %VARIABLE% after the list is quoted" in result.err


@pytest.mark.parametrize("arguments", ['"%TEMP%\\x.log" --flag', ["100%", "%%", "50% off"]])
def test_a_variable_in_a_string_and_a_lone_percent_are_fine(workspace: Path, arguments: object) -> None:
    (workspace / "tasks.d" / "zz.yaml").write_text(manifest(arguments=arguments), encoding="utf-8")
    assert run_cli("validate", cwd=workspace).code == 0


# --- the command line's length ----------------------------------------------------------------------------

def test_a_command_line_over_the_windows_limit_is_a_validate_error(workspace: Path) -> None:
    command = "C:\\tools\\job.exe"
    fits = "x" * (MAX_COMMAND_LINE - len(command) - 1)
    (workspace / "tasks.d" / "zz.yaml").write_text(manifest(arguments=fits), encoding="utf-8")
    assert run_cli("validate", cwd=workspace).code == 0
    (workspace / "tasks.d" / "zz.yaml").write_text(manifest(arguments=fits + "x"), encoding="utf-8")
    result = run_cli("validate", cwd=workspace)
    assert result.code == 1 and "32,767" in result.err and "tasks.d/zz.yaml:5:" in result.err, result.err
