"""What the JSON schema cannot say about a run block: absolute paths, URLs with a host,
durations that make sense together, an SMTP login given whole, and a worst case that fits
in the task's time limit.

Each check reads the block as written (it may have failed the schema: a value of the
wrong shape is skipped, never a crash) and gives ``(key path, message)`` pairs; the
compiler turns the key path into the line and column of the manifest. ``after`` is checked
across tasks, in ``graph``."""
from __future__ import annotations

import re
import urllib.parse
from typing import Any

from .. import durations
from ..compile_actions import path_problem
from ..errors import quoted
from .spec import DEFAULT_TIME_LIMIT, to_seconds

KeyPath = tuple[Any, ...]
Problems = list[tuple[KeyPath, str]]


def check_run(run: dict[str, Any]) -> Problems:
    """Problems in one run block that the schema cannot express, as (key path inside the
    run block, message). ``after`` is checked across tasks by ``dependency_problems``."""
    problems: Problems = []
    if not isinstance(run, dict):
        return problems
    _duration_problem(problems, run, "attemptTimeout", ())
    retry = run.get("retry")
    if isinstance(retry, dict):
        _check_retry(problems, retry)
    for index, item in enumerate(run.get("when") or []):
        if isinstance(item, dict) and len(item) == 1:
            ((kind, body),) = item.items()
            _check_condition(problems, kind, body, ("when", index, kind))
    log = run.get("log")
    if isinstance(log, dict) and isinstance(log.get("dir"), str) and not _absolute(log["dir"]):
        problems.append((("log", "dir"), f"log.dir {quoted(log['dir'])}: write an absolute path"))
    notify = run.get("notify")
    for index, item in enumerate((notify.get("onFailure") or []) if isinstance(notify, dict) else []):
        if isinstance(item, dict) and len(item) == 1:
            ((kind, body),) = item.items()
            if isinstance(body, dict):
                _check_notifier(problems, kind, body, ("notify", "onFailure", index, kind))
    return problems


def check_task(spec: dict[str, Any]) -> Problems:
    """Problems of a task's spec that involve its run block, as (key path inside spec,
    message): ``check_run`` plus the keys beside it (actions, settings)."""
    run = spec.get("run")
    if not isinstance(run, dict):
        return []
    problems: Problems = [(("run",) + path, message) for path, message in check_run(run)]
    for index, action in enumerate(spec.get("actions") or []):
        if isinstance(action, dict) and "comHandler" in action:
            problems.append((("actions", index, "comHandler"),
                             "a task with run has its actions started by the runner, which can run "
                             "programs only, not COM handlers"))
    settings = spec.get("settings") or {}
    if run.get("after") and settings.get("multipleInstances") == "stopExisting":
        problems.append((("settings", "multipleInstances"),
                         "a task with run.after cannot use multipleInstances stopExisting: a "
                         "dependency finishing would stop a run of this task (use queue)"))
    runner = spec.get("runner") or {}
    if isinstance(runner, dict) and isinstance(runner.get("home"), str) and not _absolute(runner["home"]):
        problems.append((("runner", "home"), f"runner.home {quoted(runner['home'])}: write an absolute path"))
    problems.extend(_time_limit_problems(run, settings))
    return problems


# --- parts of the run block ---------------------------------------------------------------------

def _check_retry(problems: Problems, retry: dict[str, Any]) -> None:
    initial = _duration_problem(problems, retry, "initial", ("retry",))
    maximum = _duration_problem(problems, retry, "max", ("retry",))
    if initial is not None and maximum is not None and maximum < initial:
        problems.append((("retry", "max"), f"retry.max ({retry['max']}) must be at least "
                                           f"retry.initial ({retry['initial']})"))
    if retry.get("backoff", "exponential") != "exponential":
        problems.append((("retry", "backoff"), "retry.backoff can only be exponential"))


def _check_condition(problems: Problems, kind: str, body: Any, path: KeyPath) -> None:
    """One ``when`` item."""
    if kind == "fileExists" and isinstance(body, str) and not _absolute(body):
        problems.append((path, f"fileExists {quoted(body)}: write an absolute path (C:\\..., \\\\server\\share\\... "
                               "or %VARIABLE%\\...): a task starts in C:\\Windows\\System32"))
    elif kind == "urlReachable":
        _check_url_condition(problems, body, path)
    elif kind == "command" and isinstance(body, dict):
        _check_command_condition(problems, body, path)


def _check_url_condition(problems: Problems, body: Any, path: KeyPath) -> None:
    """``urlReachable``: a URL, or ``{url, timeout}``."""
    url = body.get("url") if isinstance(body, dict) else body
    why = _http_url(url)
    if why:
        problems.append((path + (("url",) if isinstance(body, dict) else ()), why))
    if isinstance(body, dict):
        _duration_problem(problems, body, "timeout", path)


def _check_command_condition(problems: Problems, body: dict[str, Any], path: KeyPath) -> None:
    """``command``: its program and folder without control characters, its arguments without line breaks."""
    for key in ("command", "workingDirectory"):
        if problem := path_problem(key, str(body.get(key, ""))):
            problems.append((path + (key,), problem))
    arguments = body.get("arguments")
    texts = arguments if isinstance(arguments, list) else [arguments] if arguments else []
    if any("\n" in str(a) or "\r" in str(a) for a in texts):
        problems.append((path + ("arguments",), "arguments cannot contain line breaks"))
    _duration_problem(problems, body, "timeout", path)


_PASSWORD_SOURCES = ("passwordFromEnv", "passwordFromFile", "passwordFromCredential")
_HEADER_SOURCES = ("headersFromEnv", "headersFromFile", "headersFromCredential")


def _check_notifier(problems: Problems, kind: str, body: dict[str, Any], path: KeyPath) -> None:
    """One ``notify.onFailure`` item."""
    if kind == "webhook":
        _check_webhook(problems, body, path)
    elif kind == "email":
        recipients = body.get("to")
        listed = isinstance(recipients, list)
        addresses: list[Any] = recipients if isinstance(recipients, list) else [recipients]
        for position, address in enumerate(addresses):
            if isinstance(address, str) and "@" not in address:
                problems.append((path + ("to",) + ((position,) if listed else ()),
                                 f"{address!r} is not an e-mail address"))
        smtp = body.get("smtp") or {}
        if isinstance(smtp, dict):
            _check_login(problems, smtp, path + ("smtp",))
            _duration_problem(problems, smtp, "timeout", path + ("smtp",))


def _check_login(problems: Problems, smtp: dict[str, Any], path: KeyPath) -> None:
    """An SMTP login is given whole: one password source, and a user (userFromEnv, or
    the user name the Credential Manager keeps with the password)."""
    sources = [key for key in _PASSWORD_SOURCES if key in smtp]
    if len(sources) > 1:
        problems.append((path + (sources[1],), f"the password comes from one source: {' and '.join(sources)} "
                                               "are both given"))
        return
    password = sources[0] if sources else "passwordFromEnv"
    if "userFromEnv" in smtp and not sources:
        problems.append((path, "an SMTP login needs both userFromEnv and passwordFromEnv (passwordFromEnv is "
                               "missing)"))
    elif sources and "userFromEnv" not in smtp and password != "passwordFromCredential":
        problems.append((path, f"an SMTP login needs both userFromEnv and {password} (userFromEnv is missing)"))
    if isinstance(smtp.get("passwordFromFile"), str) and not _absolute(smtp["passwordFromFile"]):
        problems.append((path + ("passwordFromFile",), f"passwordFromFile {smtp['passwordFromFile']!r}: "
                                                       "write an absolute path"))


def _check_webhook(problems: Problems, body: dict[str, Any], path: KeyPath) -> None:
    """One URL (``url`` or ``urlFromEnv``), an http(s) one; each header from one source."""
    if ("url" in body) == ("urlFromEnv" in body):
        problems.append((path + (("urlFromEnv",) if "url" in body else ()),
                         "a webhook takes url or urlFromEnv (for a URL that holds a token), one of them"))
    elif "url" in body:
        why = _http_url(body.get("url"))
        if why:
            problems.append((path + ("url",), why))
    seen: dict[str, str] = {}
    for key in _HEADER_SOURCES:
        headers = body.get(key)
        for header, source in (headers.items() if isinstance(headers, dict) else []):
            name = str(header).lower()
            if name in seen:
                problems.append((path + (key, header), f"header {header} is also given in {seen[name]}"))
            seen[name] = key
            if key == "headersFromFile" and isinstance(source, str) and not _absolute(source):
                problems.append((path + (key, header), f"{source!r}: write an absolute path"))
    _duration_problem(problems, body, "timeout", path)


def _time_limit_problems(run: dict[str, Any], settings: dict[str, Any]) -> Problems:
    """A run's worst case must fit in Task Scheduler's time limit, or the runner is
    stopped before its last attempt."""
    retry = run.get("retry")
    if not isinstance(retry, dict):
        retry = {}
    try:
        attempt = to_seconds(run["attemptTimeout"]) if "attemptTimeout" in run else None
        limit_text = settings.get("timeout")
        limit = None if limit_text == "none" else (
            to_seconds(limit_text) if limit_text is not None else DEFAULT_TIME_LIMIT.seconds)
        tries = int(retry.get("attempts", 1))
        initial = to_seconds(retry.get("initial", 30))
        maximum = to_seconds(retry.get("max", 600))
    except (ValueError, TypeError):
        return []
    if attempt is None or not limit:
        return []
    worst = tries * attempt + sum(min(maximum, initial * 2 ** k) for k in range(tries - 1))
    if worst <= limit:
        return []
    where = ("settings", "timeout") if "timeout" in settings else ("run", "attemptTimeout")
    return [(where, f"{tries} attempt(s) of up to {_short(attempt)} with their waits can take "
                    f"{_short(worst)}, longer than the task's time limit "
                    f"({_short(limit)}): Task Scheduler would stop the runner first")]


# --- small checks ----------------------------------------------------------------------------------

def _absolute(path: str) -> bool:
    text = path.strip()
    return bool(re.match(r"^([A-Za-z]:\\|\\\\[^\\]+\\|%[^%]+%)", text)) or text.startswith("/")


def _http_url(url: Any) -> str | None:
    """Why ``url`` is not an http(s) URL with a host, or None."""
    try:
        parts = urllib.parse.urlsplit(str(url))
    except ValueError as err:
        return f"{url!r} is not a URL: {err}"
    if parts.scheme.lower() not in ("http", "https"):
        return f"{url!r} must be an http:// or https:// URL"
    if not parts.hostname:
        return f"{url!r} names no host"
    return None


def _duration_problem(problems: Problems, body: dict[str, Any], key: str, path: KeyPath,
                      minimum: int = 1) -> int | float | None:
    """``body[key]`` in seconds, or None (absent, or a problem recorded)."""
    if key not in body:
        return None
    try:
        seconds = to_seconds(body[key])
    except ValueError as err:
        problems.append((path + (key,), str(err)))
        return None
    if seconds < minimum:
        problems.append((path + (key,), f"{key} must be at least {minimum}s"))
        return None
    return seconds


def _short(seconds: float) -> str:
    return durations.Duration(seconds=int(seconds)).short() if seconds == int(seconds) else f"{seconds}s"
