"""No input ends in "internal error": each input a user met that did becomes one line
that says what to do, or a quiet exit when the reader of the output went away. Checked
as the CLI prints it (a real process where only a process shows it: pipes, /dev/full,
a missing package)."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import RECONCILE, run_cli, run_cli_process, user_env
from safety_support import emulator, emulator_env

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "corpus"


def _one_clear_line(result, *words: str) -> None:  # type: ignore[no-untyped-def]
    assert result.code == 1, result.out + result.err
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    assert lines[0].startswith("error: ") and "internal error" not in lines[0] and "Traceback" not in result.err
    for word in words:
        assert word in lines[0], lines[0]


def test_plan_out_into_a_missing_folder(workspace: Path) -> None:
    result = run_cli("plan", "--out", "missing-dir/p.json", cwd=workspace)
    _one_clear_line(result, "--out missing-dir/p.json", "the folder missing-dir does not exist")


@pytest.mark.parametrize("args, words", [
    (("apply", "--max-deletions", "-1"), ["--max-deletions", "-1 is out of range (at least 0)"]),
    (("plan", "--max-deletions", "x"), ["--max-deletions", "'x' is not a whole number"]),
    (("history", "--days", "100000000000"), ["--days", "out of range (from 1 to 36500)"]),
    (("history", "--days", "0"), ["--days"]),
    (("next", "csv-morning", "-n", "0"), ["-n", "out of range"]),
    (("apply", "--parallelism", "0"), ["--parallelism", "out of range"]),
])
def test_numbers_out_of_range_are_usage_errors(workspace: Path, args: tuple[str, ...], words: list[str]) -> None:
    _one_clear_line(run_cli(*args, cwd=workspace), *words)


def test_init_into_a_file(tmp_path: Path) -> None:
    (tmp_path / "passwd").write_text("root:x:0:0\n")
    _one_clear_line(run_cli("init", "passwd", cwd=tmp_path), "init passwd: it is a file")


def test_import_out_an_existing_file(workspace: Path) -> None:
    assert run_cli("apply", "-q", cwd=workspace).code == 0
    (workspace / "existing").write_text("")
    result = run_cli("import", "--all", "--out", "existing", cwd=workspace)
    _one_clear_line(result, "--out existing is a file")


def test_import_path_on_the_schtasks_backend(workspace: Path) -> None:
    """The README's migration path: one task outside the root, read through schtasks."""
    env = emulator_env(workspace)
    xml = workspace / "nightly.xml"
    xml.write_bytes((FIXTURES / "025.xml").read_bytes())
    assert emulator(env, "/Create", "/XML", str(xml), "/TN", "\\Backups\\Nightly").returncode == 0
    result = run_cli("--backend", "schtasks", "import", "--path", "\\Backups\\Nightly", "--out", "imported",
                     cwd=workspace, env=env)
    assert result.code == 0, result.err
    assert result.out.splitlines()[0] == f"imported \\Backups\\Nightly -> {Path('imported', 'Backups', 'Nightly.yaml')}"
    missing = run_cli("--backend", "schtasks", "import", "--path", "\\Backups\\Gone", "--out", "imported",
                      cwd=workspace, env=env)
    _one_clear_line(missing, "\\Backups\\Gone")


def test_next_into_a_reader_that_stops_after_one_line(workspace: Path) -> None:
    """``reconcile.py next NAME -n 100000 | head -1``"""
    process = subprocess.Popen([sys.executable, str(RECONCILE), "next", "csv-morning", "-n", "100000",
                                "--from", "2026-01-05T00:00"], cwd=workspace, env=user_env(),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout is not None and process.stderr is not None
    first = process.stdout.readline()
    process.stdout.close()
    err = process.stderr.read().decode("utf-8", "replace")
    process.wait(timeout=120)
    assert first == b"2026-01-05T09:30:00\n"
    assert err == "" and process.returncode == 1


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_render_into_a_full_device(workspace: Path) -> None:
    with open("/dev/full", "w") as full:
        process = subprocess.run([sys.executable, str(RECONCILE), "render", "csv-morning"], cwd=workspace,
                                 env=user_env(), stdout=full, stderr=subprocess.PIPE, timeout=60)
    err = process.stderr.decode("utf-8", "replace")
    assert process.returncode == 1 and err == "error: cannot write the output: No space left on device\n"


def test_a_missing_dependency_names_the_install_command(workspace: Path, tmp_path: Path) -> None:
    """As if lxml were not installed: a module of that name that cannot be imported."""
    shadow = tmp_path / "shadow"
    shadow.mkdir()
    (shadow / "lxml.py").write_text("raise ModuleNotFoundError(\"No module named 'lxml'\", name='lxml')\n")
    result = run_cli_process("plan", cwd=workspace, env={"PYTHONPATH": str(shadow)})
    _one_clear_line(result, "the Python package 'lxml' is not installed", "-m pip install .")


def test_a_commands_option_before_the_command_name_says_where_it_goes(workspace: Path) -> None:
    result = run_cli("--dir", "tasks.d", "plan", cwd=workspace)
    _one_clear_line(result, "--dir is an option of the command, so it goes after the command name: "
                            "reconcile.py plan --dir tasks.d")
    assert run_cli("--backend", "local", "--no-color", "validate", cwd=workspace).code == 0
    _one_clear_line(run_cli("plann", cwd=workspace), "invalid choice: 'plann'")


def test_abbreviations_are_not_options(workspace: Path) -> None:
    assert run_cli("apply", "-q", cwd=workspace).code == 0
    (workspace / "empty.d").mkdir()
    result = run_cli("apply", "--dir", "empty.d", "--al", cwd=workspace)
    _one_clear_line(result, "unrecognized arguments: --al")
    assert run_cli("plan", "--detailed-exitcode", cwd=workspace).code == 0, "nothing was deleted"
    _one_clear_line(run_cli("plan", "--form", "json", cwd=workspace), "--form")


def test_version(tmp_path: Path) -> None:
    from reconciler import __version__

    result = run_cli_process("--version", cwd=tmp_path)
    assert (result.code, result.out, result.err) == (0, f"reconcile.py {__version__}\n", "")


def test_the_version_is_written_once() -> None:
    pyproject = (Path(__file__).resolve().parents[1] / "pyproject.toml").read_text(encoding="utf-8")
    assert 'dynamic = ["version"]' in pyproject and 'attr = "reconciler.__version__"' in pyproject


def test_a_store_that_is_a_file(workspace: Path) -> None:
    (workspace / "store.txt").write_text("")
    _one_clear_line(run_cli("plan", "--store", "store.txt", cwd=workspace), "--store store.txt is a file")


def test_manifest_extensions_in_any_case_and_look_alikes_warned(workspace: Path) -> None:
    tasks = workspace / "tasks.d"
    (tasks / "nightly-restart.yaml").rename(tasks / "Nightly-Restart.YAML")
    (tasks / "old.yaml.txt").write_text("apiVersion: reconcile/v1\n")
    (tasks / "notes.txt").write_text("not a manifest, and not like one\n")
    result = run_cli("validate", cwd=workspace)
    assert result.code == 0 and result.out == "6 task(s) in tasks.d: valid.\n", result.out + result.err
    assert result.err == (f"warning: {os.path.join('tasks.d', 'old.yaml.txt')}: not read: only files named "
                          "*.yaml or *.yml are manifests\n")
    plan = run_cli("plan", cwd=workspace)
    assert "+ \\Orchestrator\\nightly-restart" in plan.out
    assert "warning: " + os.path.join("tasks.d", "old.yaml.txt") + ": not read" in plan.out


@pytest.mark.parametrize("text, where, hint", [
    ("metadata:\n\tname: x\n", "4:1", "YAML does not allow tabs for indentation: indent with spaces"),
    ("metadata: {name: x}\nspec:\n  schedule: */5 * * * *\n", "5:14",
     'a value that starts with * is an alias in YAML: quote it, e.g. "*/5 * * * *"'),
    ("metadata: {name: x}\nspec:\n  triggers: [{cron: */5 * * * *}]\n", "5:22",
     'a value that starts with * is an alias in YAML: quote it, e.g. "*/5 * * * *"'),
    ("metadata: {name: x}\nspec:\n  triggers:\n    - {cron: */5 * * * *, x: 1}\n", "6:15",
     'a value that starts with * is an alias in YAML: quote it, e.g. "*/5 * * * *"'),
    ("metadata: {name: x}\nspec:\n  actions:\n    - command: \"C:\\Tools\\job.exe\"\n", "6:19",
     "inside double quotes a backslash starts an escape: write Windows paths in single quotes"),
    ("metadata: {name: x}\nspec:\n  actions:\n    - command: \"C:\\xTools\\job.exe\"\n", "6:21",
     "inside double quotes a backslash starts an escape"),
])
def test_yaml_slips_get_a_hint_after_libyamls_position(tmp_path: Path, text: str, where: str, hint: str) -> None:
    (tmp_path / "tasks.d").mkdir()
    (tmp_path / "tasks.d" / "x.yaml").write_text("apiVersion: reconcile/v1\nkind: ScheduledTask\n" + text)
    result = run_cli("validate", cwd=tmp_path)
    assert result.code == 1
    (line,) = result.err.strip().splitlines()
    assert line.startswith(f"tasks.d/x.yaml:{where}: invalid YAML: ") and hint in line, line


_TASK = "apiVersion: reconcile/v1\nkind: ScheduledTask\nmetadata: {name: x}\nspec:\n  runAs: {user: SYSTEM}\n" \
        "  schedule: '0 2 * * *'\n  actions:\n"


@pytest.mark.parametrize("action, line", [
    # A tab: valid YAML and valid XML, but never a folder; it used to pass silently.
    ('    - command: C:\\x.exe\n      workingDirectory: "C:\\temp"\n',
     'tasks.d/x.yaml:9:25: workingDirectory: "C:\\temp" — inside double quotes a backslash starts an escape '
     "(\\t became a tab): write the path in single quotes ('C:\\temp') or double each backslash"),
    # A character task XML cannot hold: it used to say only "contains the character U+001B".
    ('    - command: "D:\\exports\\a.exe"\n',
     'tasks.d/x.yaml:8:16: command: "D:\\exports\\a.exe" — inside double quotes a backslash starts an escape '
     "(\\e became an escape character (U+001B), \\a became a bell (U+0007), which task XML cannot hold): "
     "write the path in single quotes ('D:\\exports\\a.exe') or double each backslash"),
    # A line break: it used to say only "command cannot contain a line break".
    ('    - command: "C:\\Program Files\\new\\a.exe"\n',
     'tasks.d/x.yaml:8:16: command: "C:\\Program Files\\new\\a.exe" — inside double quotes a backslash starts '
     "an escape (\\P became a paragraph separator (U+2029), \\n became a line break, \\a became a bell (U+0007), "
     "which task XML cannot hold): write the path in single quotes ('C:\\Program Files\\new\\a.exe') "
     "or double each backslash"),
    # An argument in a list: said once, where "arguments cannot contain line breaks" was.
    ('    - command: x.exe\n      arguments: ["-o", "C:\\new\\\\out.csv"]\n',
     'tasks.d/x.yaml:9:18: arguments: "C:\\new\\\\out.csv" — inside double quotes a backslash starts an escape '
     "(\\n became a line break): write it in single quotes ('C:\\new\\out.csv') or double each backslash"),
    # A tab typed into a path (no escape): no Windows name holds one.
    ("    - command: x.exe\n      workingDirectory: C:\\a\tb\n",
     "tasks.d/x.yaml:9:25: workingDirectory contains a tab: no Windows file name holds a control character"),
])
def test_a_backslash_escape_in_a_double_quoted_path_is_named(tmp_path: Path, action: str, line: str) -> None:
    (tmp_path / "tasks.d").mkdir()
    (tmp_path / "tasks.d" / "x.yaml").write_text(_TASK + action)
    result = run_cli("validate", cwd=tmp_path)
    assert (result.code, result.err) == (1, line + "\n"), result.err


def test_escapes_that_may_be_meant_stay_valid(tmp_path: Path) -> None:
    """A line break in a description and a tab in an argument can be meant; a doubled
    backslash is a backslash."""
    (tmp_path / "tasks.d").mkdir()
    (tmp_path / "tasks.d" / "x.yaml").write_text(
        _TASK.replace("{name: x}", '{name: x, description: "one\\ntwo"}')
        + '    - command: "C:\\\\tools\\\\x.exe"\n      arguments: "-sep \\t"\n')
    result = run_cli("validate", cwd=tmp_path)
    assert (result.code, result.err) == (0, ""), result.err


def test_a_root_in_another_case_is_the_same_folder(workspace: Path) -> None:
    """Task Scheduler compares paths without case: --root orchestrator is \\Orchestrator\\,
    spelled as the machine spells it, and nothing reads as changed."""
    assert run_cli("apply", "-q", cwd=workspace).code == 0
    result = run_cli("--root", "orchestrator", "plan", "--detailed-exitcode", cwd=workspace)
    assert (result.code, result.out) == (0, "No changes.\n"), result.out
    applied = run_cli("--root", "ORCHESTRATOR", "apply", cwd=workspace)
    assert applied.code == 0 and applied.out == "No changes.\n"
    markdown = run_cli("--root", "orchestrator", "plan", "--format", "markdown", cwd=workspace)
    assert markdown.out.startswith("### reconcile.py plan for `\\Orchestrator\\`")


@pytest.mark.parametrize("name", ["\\Orchestrator\\csv-morning", "\\orchestrator\\CSV-MORNING", "csv-morning",
                                  "Orchestrator\\csv-morning"])
def test_render_and_next_take_the_path_plan_prints(workspace: Path, name: str) -> None:
    rendered = run_cli("render", name, cwd=workspace)
    assert rendered.code == 0 and "<Task " in rendered.out, rendered.err
    runs = run_cli("next", name, "-n", "1", "--from", "2026-01-05T00:00", cwd=workspace)
    assert (runs.code, runs.out) == (0, "2026-01-05T09:30:00\n"), runs.err


def test_status_and_validate_speak_json_with_a_format_version(workspace: Path) -> None:
    assert run_cli("apply", "-q", cwd=workspace).code == 0
    status = json.loads(run_cli("status", "--format", "json", cwd=workspace).out)
    assert status["format_version"] == 1
    assert {row["state"] for row in status["tasks"]} == {"unknown"}
    validated = run_cli("validate", "--format", "json", cwd=workspace)
    body = json.loads(validated.out)
    assert body["format_version"] == 1 and body["valid"] is True and len(body["tasks"]) == 6


def test_messages_show_paths_with_single_backslashes(workspace: Path) -> None:
    result = run_cli("render", "Finance\\nothing", cwd=workspace)
    _one_clear_line(result, "no task named 'Finance\\nothing' in the manifests")
    (workspace / "tasks.d" / "bad.yaml").write_text(
        "apiVersion: reconcile/v1\nkind: ScheduledTask\nmetadata: {name: 'a\\b'}\nspec:\n"
        "  actions: [{command: 'C:\\x.exe'}]\n  runAs: {user: SYSTEM}\n")
    invalid = run_cli("validate", cwd=workspace)
    assert invalid.err == ("tasks.d/bad.yaml:3:18: task name 'a\\b' contains '\\' "
                           "(not allowed: \\ / : * ? \" < > |)\n")


def test_no_command_line_of_the_project_takes_abbreviations() -> None:
    """Every argparse parser the project builds says allow_abbrev=False."""
    repo = Path(__file__).resolve().parents[1]
    for path in [*(repo / "reconciler").rglob("*.py"), *(repo / "bench").glob("*.py")]:
        text = path.read_text(encoding="utf-8")
        for call in re.findall(r"(?:ArgumentParser|add_parser)\((?:[^()]|\([^()]*\))*\)", text):
            assert "allow_abbrev=False" in call, f"{path.name}: {call[:80]}"
