"""Where the runner keeps things, and ``%VAR%`` expansion.

Layout under the runner's home (``spec.runner.home``)::

    <home>\\venv\\                         the runner's interpreter (runner-install)
    <home>\\history\\<task path>.jsonl     one JSON line per run (tasks that run as SYSTEM)
    <home>\\state\\<task path>.json        last real run, and what it consumed of its dependencies
    <home>\\locks\\<task path>.lock        one lock per task
    <home>\\logs\\<task path>\\*.log        one log file per run (default log.dir)
    <home>\\accounts\\<account>\\...        the same four folders for a task that runs as
                                          another account (a folder that account owns)

``<task path>`` is the task's path below ``\\`` as nested folders (``Orchestrator\\Finance\\
excel``): task names are valid file names by the naming rules. ``<account>`` is derived
from the task's ``runAs`` when the manifest is compiled (``workflow.store_account``) and
carried in the payload, so the writer and every reader agree on it without asking Windows
who is running."""
from __future__ import annotations

import os
import re
import sys

_VAR = re.compile(r"%([^%\r\n]+)%")


def expand(text: str | None, environ: "os._Environ[str] | dict[str, str] | None" = None) -> str | None:
    """``%NAME%`` replaced by the environment variable's value where it is set, left as
    written where it is not (ExpandEnvironmentStrings' rule). Nothing else (``$x``,
    ``~``) is touched: Task Scheduler expands only ``%NAME%``."""
    if text is None:
        return None
    env = os.environ if environ is None else environ

    def one(match: re.Match[str]) -> str:
        value = env.get(match.group(1))
        if value is None and sys.platform == "win32":  # pragma: no cover - Windows
            value = env.get(match.group(1).upper())
        return match.group(0) if value is None else value

    return _VAR.sub(one, text)


def task_segments(task_path: str) -> list[str]:
    return [s for s in task_path.replace("/", "\\").split("\\") if s and s not in (".", "..")]


class Layout:
    """The folders of one store: the home itself (SYSTEM) or an account's folder."""

    def __init__(self, home: str, account: str | None = None) -> None:
        self.home = expand(home) or home
        self.account = account or None
        self.store = os.path.join(self.home, "accounts", account) if account else self.home

    def _file(self, kind: str, task_path: str, suffix: str) -> str:
        segments = task_segments(task_path) or ["_"]
        segments[-1] += suffix
        return os.path.join(self.store, kind, *segments)

    def history_file(self, task_path: str) -> str:
        return self._file("history", task_path, ".jsonl")

    def state_file(self, task_path: str) -> str:
        return self._file("state", task_path, ".json")

    def lock_file(self, task_path: str) -> str:
        return self._file("locks", task_path, ".lock")

    def default_log_dir(self, task_path: str) -> str:
        return os.path.join(self.store, "logs", *(task_segments(task_path) or ["_"]))


def history_roots(home: str) -> list[str]:
    """Every history folder under a home: its own and each account's."""
    home = expand(home) or home
    roots = [os.path.join(home, "history")]
    accounts = os.path.join(home, "accounts")
    try:
        names = sorted(os.listdir(accounts))
    except OSError:
        names = []
    roots.extend(os.path.join(accounts, name, "history") for name in names)
    return [r for r in roots if os.path.isdir(r)]
