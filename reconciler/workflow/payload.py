"""The runner action: what a task with a ``run`` block is registered with, and back.

Such a task is registered with ONE Exec action that starts reconcile.py's runner
(``<runner.python> -m reconciler.runner run --payload P``); the payload carries the
task's path, its real actions, the run block and the runner's home as plain JSON
(``reconciler.runner.payload`` encodes it and reads it on the machine).

- compile: ``runner_action`` turns the typed ``RunSpec`` into the payload's run block
  (``normalize_run``: durations in seconds, ``after`` replaced by the resolved
  dependencies, only what was written);
- import: ``parse_runner_action`` reads a registered action back into manifest parts
  (``denormalize_run``: the run block as a manifest writes it)."""
from __future__ import annotations

from typing import Any, Iterable, Mapping

from .. import cmdline, durations, names
from ..model import ExecAction, TaskAction
from ..runner import FORMAT
from ..runner import payload as encoding
from .graph import ResolvedDependency
from .home import DEFAULT_RUNNER, RUNNER_KEYS, store_account
from .spec import Condition, Email, FileExists, Notifier, RetryPolicy, RunSpec, UrlReachable

# CreateProcess takes at most 32767 characters for the whole command line.
MAX_ARGUMENTS = 30000


class PayloadTooLarge(ValueError):
    """The run block and actions do not fit in one command line."""


# --- compile: RunSpec -> the payload ---------------------------------------------------------------

def _present(*pairs: tuple[str, Any]) -> dict[str, Any]:
    """The pairs whose value was written (not None)."""
    return {key: value for key, value in pairs if value is not None}


def _dependency(entry: ResolvedDependency) -> dict[str, Any]:
    return {key: value for key, value in (("task", entry.task), ("require", entry.require),
                                          ("account", entry.account), ("home", entry.home)) if value}


def _condition(condition: Condition) -> dict[str, Any]:
    if isinstance(condition, FileExists):
        return {"fileExists": condition.path}
    if isinstance(condition, UrlReachable):
        return {"urlReachable": _present(("url", condition.url), ("timeout", condition.timeout))}
    return {"command": _present(("command", condition.command), ("arguments", condition.arguments),
                                ("workingDirectory", condition.working_directory),
                                ("timeout", condition.timeout))}


def _retry(retry: RetryPolicy) -> dict[str, Any]:
    return _present(("attempts", retry.attempts), ("initial", retry.initial), ("max", retry.maximum),
                    ("jitter", retry.jitter))


def _notifier(notifier: Notifier) -> dict[str, Any]:
    if isinstance(notifier, Email):
        smtp = notifier.smtp
        return {"email": {"to": list(notifier.to), **_present(("from", notifier.sender), ("subject", notifier.subject)),
                          "smtp": _present(("host", smtp.host), ("port", smtp.port), ("tls", smtp.tls),
                                           ("userFromEnv", smtp.user_from_env),
                                           ("passwordFromEnv", smtp.password_from_env),
                                           ("passwordFromFile", smtp.password_from_file),
                                           ("passwordFromCredential", smtp.password_from_credential),
                                           ("timeout", smtp.timeout))}}
    return {"webhook": _present(("url", notifier.url), ("urlFromEnv", notifier.url_from_env),
                                ("headersFromEnv", dict(notifier.headers_from_env) or None),
                                ("headersFromFile", dict(notifier.headers_from_file) or None),
                                ("headersFromCredential", dict(notifier.headers_from_credential) or None),
                                ("timeout", notifier.timeout))}


def normalize_run(run: RunSpec, dependencies: Iterable[ResolvedDependency] = ()) -> dict[str, Any]:
    """The run block as the payload carries it: durations in seconds, arguments joined,
    ``after`` replaced by the resolved ``dependencies`` (sorted by path), only keys that
    were written (the runner fills in defaults)."""
    out: dict[str, Any] = {}
    after = sorted(dependencies, key=lambda d: names.key(d.task))
    if after:
        out["after"] = [_dependency(d) for d in after]
    if run.when:
        out["when"] = [_condition(c) for c in run.when]
    if run.retry is not None:
        out["retry"] = _retry(run.retry)
    if run.attempt_timeout is not None:
        out["attemptTimeout"] = run.attempt_timeout
    if run.log is not None:
        out["log"] = _present(("dir", run.log.directory), ("keep", run.log.keep))
    if run.notify:
        out["notify"] = {"onFailure": [_notifier(n) for n in run.notify]}
    return out


def payload_data(task_path: str, actions: Iterable[TaskAction], run: RunSpec, runner: Mapping[str, Any] | None,
                 *, account: str | None = None, dependencies: Iterable[ResolvedDependency] = ()) -> dict[str, Any]:
    """The payload of a task's runner action, as JSON data."""
    dependencies = tuple(dependencies)
    if run.after and not dependencies:
        raise ValueError(f"{task_path}: run.after must be resolved first (workflow.resolve_dependencies)")
    merged = {**DEFAULT_RUNNER, **{k: v for k, v in (runner or {}).items() if k in RUNNER_KEYS and v}}
    real = []
    for action in actions:
        if not isinstance(action, ExecAction):
            raise ValueError(f"{task_path}: the runner runs programs only, not {type(action).__name__}")
        real.append(_present(("command", action.command), ("arguments", action.arguments or None),
                             ("workingDirectory", action.working_directory or None)))
    data: dict[str, Any] = {"v": FORMAT, "task": task_path, "home": merged["home"], "actions": real,
                            "run": normalize_run(run, dependencies)}
    store = store_account(account)
    if store:
        data["account"] = store
    return data


def runner_action(task_path: str, actions: Iterable[TaskAction], run: RunSpec,
                  runner: Mapping[str, Any] | None, *, account: str | None = None,
                  dependencies: Iterable[ResolvedDependency] = ()) -> ExecAction:
    """The one action a task with a run block is registered with.

    ``actions``: the task's compiled actions (ExecAction only); ``run``: its run block;
    ``runner``: the merged ``spec.runner`` ({python, home}, defaults filled in);
    ``account``: the task's ``runAs.user`` or ``runAs.group`` (where its history lives);
    ``dependencies``: its resolved ``after`` (``resolve_dependencies(...)[key]``).
    Raises ValueError (PayloadTooLarge) when it cannot be built."""
    data = payload_data(task_path, actions, run, runner, account=account, dependencies=dependencies)
    python = {**DEFAULT_RUNNER, **{k: v for k, v in (runner or {}).items() if v}}["python"]
    arguments = encoding.arguments(encoding.encode(data))
    if len(arguments) + len(python) + 3 > MAX_ARGUMENTS:
        raise PayloadTooLarge(f"{task_path}: the run block and actions need {len(arguments)} characters "
                              f"on the command line; Windows allows about {MAX_ARGUMENTS}")
    return ExecAction(command=python, arguments=arguments, working_directory=None)


# --- import: the payload -> manifest parts -------------------------------------------------------------

def _manifest_arguments(text: str, command: str) -> Any:
    from ..compile_actions import expands_variables, runs_through_cmd

    if runs_through_cmd(command) or expands_variables(text):
        return text  # re-parsed by cmd.exe, or expanded after quoting: keep them as written
    parts = cmdline.split(text)
    return parts if parts and cmdline.join(parts) == text else text


def _duration_text(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        return durations.Duration(seconds=value).short()
    return value


def _with_duration(body: dict[str, Any], key: str = "timeout") -> dict[str, Any]:
    """``body`` with its duration ``key`` (if any) written as a manifest duration."""
    return {**body, key: _duration_text(body[key])} if key in body else dict(body)


def _after_name(path: str, root: str | None) -> str:
    if root and names.is_under(path, root):
        return names.relative(path, root)
    return path


def _manifest_after(entries: list[dict[str, Any]], root: str | None) -> list[Any]:
    out: list[Any] = []
    for entry in entries:
        name = _after_name(entry["task"], root)
        out.append(name if entry.get("require", "succeeded") == "succeeded"
                   else {"task": name, "require": entry["require"]})
    return out


def _manifest_condition(kind: str, body: Any) -> dict[str, Any]:
    if kind == "urlReachable":
        return {kind: body["url"] if set(body) == {"url"} else _with_duration(body)}
    if kind == "command":
        command = _with_duration(body)
        if "arguments" in command:
            command["arguments"] = _manifest_arguments(command["arguments"], command["command"])
        return {kind: command}
    return {kind: body}


def _manifest_notifier(kind: str, body: dict[str, Any]) -> dict[str, Any]:
    if kind == "email" and "smtp" in body:
        return {kind: {**body, "smtp": _with_duration(body["smtp"])}}
    return {kind: _with_duration(body)}


def _one(item: dict[str, Any]) -> tuple[str, Any]:
    """The kind and body of a one-key list item (``{"fileExists": ...}``)."""
    ((kind, body),) = item.items()
    return kind, body


def denormalize_run(run: dict[str, Any], root: str | None = None) -> dict[str, Any]:
    """The manifest run block for a payload's run (the inverse of ``normalize_run``);
    ``after`` names are given relative to ``root`` when they lie under it."""
    out: dict[str, Any] = {}
    after = _manifest_after(run.get("after") or [], root)
    if after:
        out["after"] = after
    when = [_manifest_condition(*_one(item)) for item in run.get("when") or []]
    if when:
        out["when"] = when
    if "retry" in run:
        out["retry"] = _with_duration(_with_duration(run["retry"], "initial"), "max")
    if "attemptTimeout" in run:
        out["attemptTimeout"] = _duration_text(run["attemptTimeout"])
    if run.get("log"):
        out["log"] = dict(run["log"])
    entries = [_manifest_notifier(*_one(item)) for item in (run.get("notify") or {}).get("onFailure") or []]
    if entries:
        out["notify"] = {"onFailure": entries}
    return out


def parse_runner_action(command: str, arguments: str | None, root: str | None = None) -> dict[str, Any] | None:
    """For import: a runner action's manifest parts, or None if it is not one.

    Returns ``{"runner": {python, home}, "actions": [manifest actions], "run": {manifest
    run block}, "task": the path the payload names, "account": its store or None}``.
    ``after`` names are given relative to ``root`` when they lie under it. The importer
    should check that ``task`` is the live task's own path (a copied task is not ours)."""
    text = encoding.from_arguments(arguments)
    if text is None:
        return None
    try:
        data = encoding.decode(text)
    except encoding.PayloadError:
        return None
    actions = []
    for action in data.get("actions") or []:
        item: dict[str, Any] = {"command": action["command"]}
        if action.get("arguments"):
            item["arguments"] = _manifest_arguments(action["arguments"], action["command"])
        if action.get("workingDirectory"):
            item["workingDirectory"] = action["workingDirectory"]
        actions.append(item)
    return {"runner": {"python": command, "home": data.get("home", DEFAULT_RUNNER["home"])},
            "actions": actions, "run": denormalize_run(data.get("run") or {}, root),
            "task": data.get("task"), "account": data.get("account")}
