"""Workflows, compile-time side: what a task with a ``run`` block becomes in Task Scheduler.

Such a task is registered with ONE Exec action that starts reconcile.py's runner
(``<runner.python> -m reconciler.runner run --payload P``); the payload carries the task's
path, its real actions, the normalised run block and the runner's home (see
``reconciler.runner.payload``). A task with ``run.after`` also gets one EventTrigger per
dependency, subscribed to the "run finished" event the runner writes to the Application
log (``reconciler.runner.events``). Everything here is pure and deterministic.

Entry points for the compiler and the importer:
- ``check_run(run)`` / ``check_task(spec)``: problems the JSON schema cannot express;
- ``DepNode``, ``dependency_problems(nodes)``, ``resolve_dependencies(nodes)``: ``after``
  across all tasks (unknown or ambiguous names, targets without ``run``, ``settings.retry``
  with ``run.retry``, cycles);
- ``runner_action(...)``: the action that replaces the task's actions;
- ``wake_triggers(paths)``: the triggers appended to the task's own;
- ``parse_runner_action(command, arguments)`` and ``is_wake_trigger(canonical)``: import."""
from __future__ import annotations

import hashlib
import re
import urllib.parse
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any, Iterable

from . import accounts, cmdline, durations, names
from .model import EventTrigger, ExecAction
from .runner import EVENT_ID, EVENT_LOG, EVENT_SOURCE, FORMAT
from .runner import payload as _payload
from .runner.payload import PayloadError

RUN_KEYS = ("after", "when", "retry", "attemptTimeout", "log", "notify")
RUNNER_KEYS = ("python", "home")
# Task Scheduler expands %VAR% in Command, and the runner expands it in home.
DEFAULT_RUNNER = {"python": r"%ProgramData%\reconcile\venv\Scripts\python.exe",
                  "home": r"%ProgramData%\reconcile"}
REQUIRE = ("succeeded", "completed")
WHEN_KINDS = ("fileExists", "urlReachable", "command")
NOTIFY_KINDS = ("email", "webhook")
TLS = ("auto", "starttls", "ssl", "none")
# With ``after`` a task must queue a second start rather than drop it (IgnoreNew drops a
# wake-up that arrives while a start is deciding); the runner's lock makes the queued start
# harmless. The compiler uses this when the manifest does not say multipleInstances.
MULTIPLE_INSTANCES_WITH_AFTER = "Queue"
# CreateProcess takes at most 32767 characters for the whole command line.
MAX_ARGUMENTS = 30000
DEFAULT_TIME_LIMIT = durations.Duration(seconds=72 * 3600)

Problems = list[tuple[tuple[Any, ...], str]]


class PayloadTooLarge(ValueError):
    """The run block and actions do not fit in one command line."""


# --- checks the schema cannot express -------------------------------------------------------

def _seconds(value: Any) -> int | float:
    """A duration in seconds: a manifest string (``90s``, ``PT1M``) or a number (tests)."""
    if isinstance(value, bool):
        raise ValueError(f"not a duration: {value!r}")
    if isinstance(value, (int, float)):
        if value < 0:
            raise ValueError(f"negative duration: {value!r}")
        return value
    parsed = durations.parse(str(value))
    if parsed.months:
        raise ValueError(f"{value!r}: write days, not months or years")
    return parsed.seconds


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


def _duration_problem(problems: Problems, body: dict[str, Any], key: str, path: tuple[Any, ...],
                      minimum: int = 1) -> int | float | None:
    if key not in body:
        return None
    try:
        seconds = _seconds(body[key])
    except ValueError as err:
        problems.append((path + (key,), str(err)))
        return None
    if seconds < minimum:
        problems.append((path + (key,), f"{key} must be at least {minimum}s"))
        return None
    return seconds


def check_run(run: dict[str, Any]) -> Problems:
    """Problems in one run block that the schema cannot express, as (key path inside the
    run block, message). ``after`` is checked across tasks by ``dependency_problems``."""
    problems: Problems = []
    if not isinstance(run, dict):
        return problems
    _duration_problem(problems, run, "attemptTimeout", ())
    retry = run.get("retry")
    if isinstance(retry, dict):
        initial = _duration_problem(problems, retry, "initial", ("retry",))
        maximum = _duration_problem(problems, retry, "max", ("retry",))
        if initial is not None and maximum is not None and maximum < initial:
            problems.append((("retry", "max"), f"retry.max ({retry['max']}) must be at least "
                                               f"retry.initial ({retry['initial']})"))
        if retry.get("backoff", "exponential") != "exponential":
            problems.append((("retry", "backoff"), "retry.backoff can only be exponential"))
    for index, item in enumerate(run.get("when") or []):
        if not isinstance(item, dict) or len(item) != 1:
            continue
        ((kind, body),) = item.items()
        path = ("when", index, kind)
        if kind == "fileExists" and isinstance(body, str) and not _absolute(body):
            problems.append((path, f"fileExists {body!r}: write an absolute path (C:\\..., \\\\server\\share\\... "
                                   "or %VARIABLE%\\...): a task starts in C:\\Windows\\System32"))
        elif kind == "urlReachable":
            url = body.get("url") if isinstance(body, dict) else body
            why = _http_url(url)
            if why:
                problems.append((path + (("url",) if isinstance(body, dict) else ()), why))
            if isinstance(body, dict):
                _duration_problem(problems, body, "timeout", path)
        elif kind == "command" and isinstance(body, dict):
            for key in ("command", "workingDirectory"):
                if "\n" in str(body.get(key, "")) or "\r" in str(body.get(key, "")):
                    problems.append((path + (key,), f"{key} cannot contain a line break"))
            arguments = body.get("arguments")
            texts = arguments if isinstance(arguments, list) else [arguments] if arguments else []
            if any("\n" in str(a) or "\r" in str(a) for a in texts):
                problems.append((path + ("arguments",), "arguments cannot contain line breaks"))
            _duration_problem(problems, body, "timeout", path)
    log = run.get("log")
    if isinstance(log, dict) and isinstance(log.get("dir"), str) and not _absolute(log["dir"]):
        problems.append((("log", "dir"), f"log.dir {log['dir']!r}: write an absolute path"))
    notify = run.get("notify")
    for index, item in enumerate((notify or {}).get("onFailure") or [] if isinstance(notify, dict) else []):
        if not isinstance(item, dict) or len(item) != 1:
            continue
        ((kind, body),) = item.items()
        path = ("notify", "onFailure", index, kind)
        if not isinstance(body, dict):
            continue
        if kind == "webhook":
            why = _http_url(body.get("url"))
            if why:
                problems.append((path + ("url",), why))
            _duration_problem(problems, body, "timeout", path)
        elif kind == "email":
            recipients = body.get("to")
            for position, address in enumerate(recipients if isinstance(recipients, list) else [recipients]):
                if isinstance(address, str) and "@" not in address:
                    problems.append((path + ("to",) + ((position,) if isinstance(recipients, list) else ()),
                                     f"{address!r} is not an e-mail address"))
            smtp = body.get("smtp") or {}
            if isinstance(smtp, dict):
                if ("userFromEnv" in smtp) != ("passwordFromEnv" in smtp):
                    missing = "passwordFromEnv" if "userFromEnv" in smtp else "userFromEnv"
                    problems.append((path + ("smtp",), f"an SMTP login needs both userFromEnv and "
                                                       f"passwordFromEnv ({missing} is missing)"))
                _duration_problem(problems, smtp, "timeout", path + ("smtp",))
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
        problems.append((("runner", "home"), f"runner.home {runner['home']!r}: write an absolute path"))
    # A run's worst case must fit in Task Scheduler's time limit, or the runner is stopped
    # before its last attempt.
    retry = run.get("retry") if isinstance(run.get("retry"), dict) else {}
    try:
        attempt = _seconds(run["attemptTimeout"]) if "attemptTimeout" in run else None
        limit_text = settings.get("timeout")
        limit = None if limit_text == "none" else (
            _seconds(limit_text) if limit_text is not None else DEFAULT_TIME_LIMIT.seconds)
        tries = int(retry.get("attempts", 1))
        initial = _seconds(retry.get("initial", 30))
        maximum = _seconds(retry.get("max", 600))
    except (ValueError, TypeError):
        return problems
    if attempt is not None and limit:
        worst = tries * attempt + sum(min(maximum, initial * 2 ** k) for k in range(tries - 1))
        if worst > limit:
            where = ("settings", "timeout") if "timeout" in settings else ("run", "attemptTimeout")
            problems.append((where, f"{tries} attempt(s) of up to {_short(attempt)} with their waits can take "
                                    f"{_short(worst)}, longer than the task's time limit "
                                    f"({_short(limit)}): Task Scheduler would stop the runner first"))
    return problems


def _short(seconds: float) -> str:
    return durations.Duration(seconds=int(seconds)).short() if seconds == int(seconds) else f"{seconds}s"


# --- dependencies across tasks -----------------------------------------------------------------

@dataclass(frozen=True)
class DepNode:
    """What ``after`` needs to know about one task."""

    path: str                       # \Root\Folder\Name
    name: str                       # metadata.name
    folder: str = ""                # metadata.folder, '\'-separated ('' for none)
    after: tuple[Any, ...] = ()     # run.after as written: "name" or {task: name, require: ...}
    has_run: bool = False
    has_settings_retry: bool = False  # settings.retry is set (Task Scheduler's RestartOnFailure)
    has_run_retry: bool = False       # run.retry is set
    account: str | None = None      # runAs.user or runAs.group: where its history is kept
    home: str | None = None         # its runner home (None: the default)
    ref: Any = field(default=None, compare=False, repr=False)  # the caller's object (TaskSpec, ...)

    @property
    def display(self) -> str:
        return "\\".join(names.split_folder(self.folder) + [self.name])


def node_from_spec(spec: Any, runner: dict[str, Any] | None = None, ref: Any = None) -> DepNode:
    """A DepNode from a compiled TaskSpec (``spec.run`` is the run block as written)."""
    run = spec.run if isinstance(spec.run, dict) else None
    settings = dict(spec.settings or ())
    principal = spec.principal
    return DepNode(
        path=spec.path, name=spec.name, folder="\\".join(spec.folder),
        after=tuple((run or {}).get("after") or ()), has_run=run is not None,
        has_settings_retry="RestartOnFailure" in settings,
        has_run_retry=bool(run and run.get("retry")),
        account=(principal.user_id or principal.group_id) if principal is not None else None,
        home=(runner or {}).get("home"), ref=spec if ref is None else ref)


def _entry(item: Any) -> tuple[str | None, str]:
    if isinstance(item, str):
        return item, "succeeded"
    if isinstance(item, dict):
        task = item.get("task")
        return (task if isinstance(task, str) else None), str(item.get("require", "succeeded"))
    return None, "succeeded"


def _matches(name: str, nodes: list[DepNode]) -> list[DepNode]:
    """NAME as the CLI reads it: ``metadata.name``, ``folder\\name``, or a full path."""
    text = name.strip()
    if text.startswith("\\") and text.count("\\") > 1:
        return [n for n in nodes if names.key(n.path) == names.key(text)]
    wanted = text.strip("\\").casefold()
    exact = [n for n in nodes if n.display.casefold() == wanted]
    return exact or [n for n in nodes if n.name.casefold() == wanted]


def dependency_problems_at(nodes: list[DepNode]) -> list[tuple[DepNode, tuple[Any, ...], str]]:
    """Every ``after`` problem, as (node, key path inside its spec, message)."""
    import difflib

    problems: list[tuple[DepNode, tuple[Any, ...], str]] = []
    edges: dict[int, list[tuple[int, int]]] = {i: [] for i in range(len(nodes))}
    index_of = {id(n): i for i, n in enumerate(nodes)}
    for i, node in enumerate(nodes):
        if node.has_settings_retry and node.has_run_retry:
            problems.append((node, ("settings", "retry"),
                             "settings.retry (Task Scheduler restarts) and run.retry cannot both be "
                             "set: run.retry retries with backoff; remove settings.retry"))
        if node.after and not node.has_run:  # pragma: no cover - after lives inside run
            continue
        seen: dict[str, int] = {}
        for position, item in enumerate(node.after):
            where = ("run", "after", position)
            name, require = _entry(item)
            if name is None:
                continue
            if require not in REQUIRE:
                problems.append((node, where + ("require",), f"require must be succeeded or completed, not {require!r}"))
            found = _matches(name, nodes)
            if not found:
                close = difflib.get_close_matches(name.casefold(), sorted({n.display.casefold() for n in nodes}), 1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                problems.append((node, where, f"after: no task named {name!r} in the manifests{hint}"))
                continue
            if len(found) > 1:
                options = ", ".join(sorted(n.display for n in found))
                problems.append((node, where, f"after: {name!r} is ambiguous: {options}; write folder\\name"))
                continue
            target = found[0]
            key = names.key(target.path)
            if key in seen:
                problems.append((node, where, f"after: {target.display} is already listed "
                                              f"(entry {seen[key] + 1})"))
                continue
            seen[key] = position
            if target is node or names.key(target.path) == names.key(node.path):
                problems.append((node, where, f"dependency cycle: {node.display} -> {node.display} "
                                              "(a task cannot run after itself)"))
                continue
            if not target.has_run:
                problems.append((node, where, f"after: {target.display} has no run block; a task named "
                                              "in after must have one (the runner records its outcome)"))
                continue
            edges[i].append((index_of[id(target)], position))
    for cycle in _cycles(edges):
        # Reported at the task of the cycle that comes last (where it "occurs second"),
        # printed from the one that comes first.
        last = max(cycle)
        successor = cycle[(cycle.index(last) + 1) % len(cycle)]
        position = next(p for t, p in edges[last] if t == successor)
        text = " -> ".join(nodes[i].display for i in cycle + [cycle[0]])
        problems.append((nodes[last], ("run", "after", position),
                         f"dependency cycle: {text} (each runs after the next)"))
    return problems


def dependency_problems(nodes: list[DepNode]) -> list[tuple[DepNode, str]]:
    """Every ``after`` problem as (node, message); ``dependency_problems_at`` also gives
    the key path inside the node's spec, for the problem's line and column."""
    return [(node, message) for node, _path, message in dependency_problems_at(nodes)]


def _cycles(edges: dict[int, list[tuple[int, int]]]) -> list[list[int]]:
    """One cycle per strongly connected component with more than one task, each starting
    at its lowest index (Tarjan's algorithm, iterative)."""
    index: dict[int, int] = {}
    low: dict[int, int] = {}
    on_stack: set[int] = set()
    stack: list[int] = []
    components: list[list[int]] = []
    counter = 0
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(t for t, _ in edges[root]))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            vertex, children = work[-1]
            advanced = False
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(t for t, _ in edges[child])))
                    advanced = True
                    break
                if child in on_stack:
                    low[vertex] = min(low[vertex], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[vertex])
            if low[vertex] == index[vertex]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == vertex:
                        break
                if len(component) > 1:
                    components.append(sorted(component))
    cycles = []
    for component in sorted(components):
        members = set(component)
        start = component[0]
        parent: dict[int, int] = {start: -1}
        queue = [start]
        end = None
        while queue and end is None:
            vertex = queue.pop(0)
            for child, _ in sorted(edges[vertex]):
                if child == start:
                    end = vertex
                    break
                if child in members and child not in parent:
                    parent[child] = vertex
                    queue.append(child)
        path = []
        vertex = end if end is not None else start
        while vertex != -1:
            path.append(vertex)
            vertex = parent[vertex]
        cycles.append(list(reversed(path)))
    return cycles


def resolve_dependencies(nodes: list[DepNode]) -> dict[str, tuple[dict[str, Any], ...]]:
    """For each node with ``after`` (by ``names.key(path)``): the resolved entries to pass
    to ``runner_action(dependencies=...)``. Call it only when ``dependency_problems`` found
    none."""
    out: dict[str, tuple[dict[str, Any], ...]] = {}
    for node in nodes:
        if not node.after:
            continue
        entries = []
        for item in node.after:
            name, require = _entry(item)
            found = _matches(name or "", nodes)
            if len(found) != 1:
                raise ValueError(f"{node.path}: after {name!r} is not resolved (check dependency_problems first)")
            target = found[0]
            entry: dict[str, Any] = {"task": target.path, "require": require}
            store = store_account(target.account)
            if store:
                entry["account"] = store
            if (target.home or None) != (node.home or None):
                entry["home"] = target.home or DEFAULT_RUNNER["home"]
            entries.append(entry)
        out[names.key(node.path)] = tuple(sorted(entries, key=lambda e: names.key(e["task"])))
    return out


def store_account(account: str | None) -> str | None:
    """The folder name (below ``<home>\\accounts``) where a task running as ``account``
    keeps its history, state and locks; None for SYSTEM, which uses the home itself."""
    if not account or not account.strip():
        return None
    canonical = accounts.well_known(account)
    if canonical == accounts.SYSTEM_SID:
        return None
    readable = accounts.WELL_KNOWN_DISPLAY.get(canonical, account.strip())
    slug = re.sub(r"[^a-z0-9._-]+", "_", readable.casefold()).strip("._-")[:48] or "account"
    return f"{slug}-{hashlib.sha256(canonical.encode('utf-8')).hexdigest()[:8]}"


# --- the runner action --------------------------------------------------------------------------

def _arguments(value: Any) -> str | None:
    if isinstance(value, list):
        return cmdline.join([str(a) for a in value]) or None
    return str(value) if value else None


def _clean(body: dict[str, Any], keys: Iterable[str]) -> dict[str, Any]:
    return {k: body[k] for k in keys if k in body and body[k] is not None}


def normalize_run(run: dict[str, Any], dependencies: Iterable[dict[str, Any]] = ()) -> dict[str, Any]:
    """The run block as the payload carries it: durations in seconds, arguments joined,
    ``after`` replaced by the resolved ``dependencies`` (sorted by path), only keys that
    were written (the runner fills in defaults)."""
    out: dict[str, Any] = {}
    after = sorted((dict(d) for d in dependencies), key=lambda d: names.key(d["task"]))
    if after:
        out["after"] = [{k: d[k] for k in ("task", "require", "account", "home") if d.get(k)} for d in after]
    when = []
    for item in run.get("when") or []:
        ((kind, body),) = item.items()
        if kind == "fileExists":
            when.append({"fileExists": str(body)})
        elif kind == "urlReachable":
            entry = {"url": str(body["url"] if isinstance(body, dict) else body)}
            if isinstance(body, dict) and "timeout" in body:
                entry["timeout"] = _seconds(body["timeout"])
            when.append({"urlReachable": entry})
        elif kind == "command":
            command: dict[str, Any] = {"command": str(body["command"])}
            arguments = _arguments(body.get("arguments"))
            if arguments:
                command["arguments"] = arguments
            if body.get("workingDirectory"):
                command["workingDirectory"] = str(body["workingDirectory"])
            if "timeout" in body:
                command["timeout"] = _seconds(body["timeout"])
            when.append({"command": command})
    if when:
        out["when"] = when
    retry = run.get("retry")
    if isinstance(retry, dict):
        normal: dict[str, Any] = {"attempts": int(retry.get("attempts", 1))}
        for key in ("initial", "max"):
            if key in retry:
                normal[key] = _seconds(retry[key])
        if retry.get("jitter"):
            normal["jitter"] = retry["jitter"]
        out["retry"] = normal
    if "attemptTimeout" in run:
        out["attemptTimeout"] = _seconds(run["attemptTimeout"])
    log = run.get("log")
    if isinstance(log, dict) and log:
        out["log"] = _clean(log, ("dir", "keep"))
    notify = run.get("notify")
    entries = []
    for item in (notify or {}).get("onFailure") or [] if isinstance(notify, dict) else []:
        ((kind, body),) = item.items()
        if kind == "email":
            to = body.get("to")
            email: dict[str, Any] = {"to": [str(a) for a in (to if isinstance(to, list) else [to])]}
            email.update(_clean(body, ("from", "subject")))
            smtp = dict(_clean(body.get("smtp") or {}, ("host", "port", "tls", "userFromEnv", "passwordFromEnv")))
            if "timeout" in (body.get("smtp") or {}):
                smtp["timeout"] = _seconds(body["smtp"]["timeout"])
            email["smtp"] = smtp
            entries.append({"email": email})
        elif kind == "webhook":
            hook: dict[str, Any] = {"url": str(body["url"])}
            if body.get("headersFromEnv"):
                hook["headersFromEnv"] = {str(k): str(v) for k, v in body["headersFromEnv"].items()}
            if "timeout" in body:
                hook["timeout"] = _seconds(body["timeout"])
            entries.append({"webhook": hook})
    if entries:
        out["notify"] = {"onFailure": entries}
    return out


def payload_data(task_path: str, actions: Iterable[Any], run: dict[str, Any], runner: dict[str, Any] | None,
                 *, account: str | None = None, dependencies: Iterable[dict[str, Any]] = ()) -> dict[str, Any]:
    dependencies = tuple(dependencies)
    if (run or {}).get("after") and not dependencies:
        raise ValueError(f"{task_path}: run.after must be resolved first (workflow.resolve_dependencies)")
    merged = {**DEFAULT_RUNNER, **{k: v for k, v in (runner or {}).items() if k in RUNNER_KEYS and v}}
    real = []
    for action in actions:
        if not isinstance(action, ExecAction):
            raise ValueError(f"{task_path}: the runner runs programs only, not {type(action).__name__}")
        item = {"command": action.command}
        if action.arguments:
            item["arguments"] = action.arguments
        if action.working_directory:
            item["workingDirectory"] = action.working_directory
        real.append(item)
    data: dict[str, Any] = {"v": FORMAT, "task": task_path, "home": merged["home"], "actions": real,
                            "run": normalize_run(run or {}, dependencies)}
    store = store_account(account)
    if store:
        data["account"] = store
    return data


def runner_action(task_path: str, actions: tuple[ExecAction, ...], run: dict[str, Any],
                  runner: dict[str, Any] | None, *, account: str | None = None,
                  dependencies: Iterable[dict[str, Any]] = ()) -> ExecAction:
    """The one action a task with a run block is registered with.

    ``actions``: the task's compiled actions (ExecAction only); ``run``: the run block as
    written; ``runner``: the merged ``spec.runner`` ({python, home}, defaults filled in);
    ``account``: the task's ``runAs.user`` or ``runAs.group`` (where its history lives);
    ``dependencies``: its resolved ``after`` (``resolve_dependencies(...)[key]``).
    Raises ValueError (PayloadTooLarge) when it cannot be built."""
    data = payload_data(task_path, actions, run, runner, account=account, dependencies=dependencies)
    python = {**DEFAULT_RUNNER, **{k: v for k, v in (runner or {}).items() if v}}["python"]
    arguments = _payload.arguments(_payload.encode(data))
    if len(arguments) + len(python) + 3 > MAX_ARGUMENTS:
        raise PayloadTooLarge(f"{task_path}: the run block and actions need {len(arguments)} characters "
                              f"on the command line; Windows allows about {MAX_ARGUMENTS}")
    return ExecAction(command=python, arguments=arguments, working_directory=None)


# --- import ------------------------------------------------------------------------------------------

def _manifest_arguments(text: str, command: str) -> Any:
    if command.strip('"').lower().endswith((".bat", ".cmd")):
        return text  # cmd.exe re-parses a batch file's arguments: keep them as written
    parts = cmdline.split(text)
    return parts if parts and cmdline.join(parts) == text else text


def _duration_text(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        return durations.Duration(seconds=value).short()
    return value


def _after_name(path: str, root: str | None) -> str:
    if root and names.is_under(path, root):
        return names.relative(path, root)
    return path


def denormalize_run(run: dict[str, Any], root: str | None = None) -> dict[str, Any]:
    """The manifest run block for a payload's run (the inverse of ``normalize_run``)."""
    out: dict[str, Any] = {}
    after = []
    for entry in run.get("after") or []:
        name = _after_name(entry["task"], root)
        after.append(name if entry.get("require", "succeeded") == "succeeded"
                     else {"task": name, "require": entry["require"]})
    if after:
        out["after"] = after
    when = []
    for item in run.get("when") or []:
        ((kind, body),) = item.items()
        if kind == "urlReachable":
            when.append({kind: body["url"] if set(body) == {"url"} else
                         {**body, **({"timeout": _duration_text(body["timeout"])} if "timeout" in body else {})}})
        elif kind == "command":
            command = dict(body)
            if "arguments" in command:
                command["arguments"] = _manifest_arguments(command["arguments"], command["command"])
            if "timeout" in command:
                command["timeout"] = _duration_text(command["timeout"])
            when.append({kind: command})
        else:
            when.append({kind: body})
    if when:
        out["when"] = when
    if "retry" in run:
        retry = dict(run["retry"])
        for key in ("initial", "max"):
            if key in retry:
                retry[key] = _duration_text(retry[key])
        out["retry"] = retry
    if "attemptTimeout" in run:
        out["attemptTimeout"] = _duration_text(run["attemptTimeout"])
    if run.get("log"):
        out["log"] = dict(run["log"])
    entries = []
    for item in (run.get("notify") or {}).get("onFailure") or []:
        ((kind, body),) = item.items()
        body = dict(body)
        if kind == "email" and "smtp" in body:
            smtp = dict(body["smtp"])
            if "timeout" in smtp:
                smtp["timeout"] = _duration_text(smtp["timeout"])
            body["smtp"] = smtp
        elif "timeout" in body:
            body["timeout"] = _duration_text(body["timeout"])
        entries.append({kind: body})
    if entries:
        out["notify"] = {"onFailure": entries}
    return out


def parse_runner_action(command: str, arguments: str | None, root: str | None = None) -> dict[str, Any] | None:
    """For import: a runner action's manifest parts, or None if it is not one.

    Returns ``{"runner": {python, home}, "actions": [manifest actions], "run": {manifest
    run block}, "task": the path the payload names, "account": its store or None}``.
    ``after`` names are given relative to ``root`` when they lie under it. The importer
    should check that ``task`` is the live task's own path (a copied task is not ours)."""
    text = _payload.from_arguments(arguments)
    if text is None:
        return None
    try:
        data = _payload.decode(text)
    except PayloadError:
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


# --- waking dependents ---------------------------------------------------------------------------------

def _xpath_literal(value: str) -> str:
    # XPath 1.0 literals have no escapes; a task path cannot contain '"' (naming rules).
    return f"'{value}'" if "'" not in value else f'"{value}"'


def wake_query(task_path: str) -> str:
    """The event query that matches the "run finished" event of ``task_path``."""
    select = (f"*[System[Provider[@Name='{EVENT_SOURCE}'] and EventID={EVENT_ID}]] and "
              f"*[EventData[Data={_xpath_literal(task_path)}]]")
    query_list = ET.Element("QueryList")
    query = ET.SubElement(query_list, "Query", {"Id": "0", "Path": EVENT_LOG})
    ET.SubElement(query, "Select", {"Path": EVENT_LOG}).text = select
    return ET.tostring(query_list, encoding="unicode")


def wake_triggers(dependency_paths: Iterable[str]) -> tuple[EventTrigger, ...]:
    """One EventTrigger per dependency, sorted by path (deterministic), duplicates once."""
    unique = {names.key(p): p for p in dependency_paths}
    return tuple(EventTrigger(subscription=wake_query(unique[k])) for k in sorted(unique))


_SELECT = re.compile(
    r"^\*\[System\[Provider\[@Name=(['\"])" + re.escape(EVENT_SOURCE) + r"\1\]\s+and\s+EventID="
    + str(EVENT_ID) + r"\]\]\s+and\s+\*\[EventData\[Data=(?:'([^']*)'|\"([^\"]*)\")\]\]$")
_WAKE_DEFAULTS = {"Enabled": (True, None), "Delay": ("PT0S", None), "PeriodOfOccurrence": ("PT0S", None),
                  "NumberOfOccurrences": (1, None), "MatchingElement": (None,),
                  "ExecutionTimeLimit": (DEFAULT_TIME_LIMIT.iso(), None), "ValueQueries": ({}, None)}


def wake_trigger_task(canonical_trigger: dict[str, Any]) -> str | None:
    """The dependency path a wake trigger (in the canonical form) listens for, or None
    if the trigger is anything else (or was edited beyond the derived form)."""
    if not isinstance(canonical_trigger, dict) or set(canonical_trigger) != {"EventTrigger"}:
        return None
    body = canonical_trigger["EventTrigger"]
    if not isinstance(body, dict) or not isinstance(body.get("Subscription"), str):
        return None
    for key, value in body.items():
        if key == "Subscription":
            continue
        if key not in _WAKE_DEFAULTS or value not in _WAKE_DEFAULTS[key]:
            return None
    try:
        query_list = ET.fromstring(body["Subscription"].strip())
    except ET.ParseError:
        return None
    queries = list(query_list)
    if query_list.tag != "QueryList" or len(queries) != 1 or queries[0].tag != "Query":
        return None
    selects = list(queries[0])
    if (queries[0].get("Path") != EVENT_LOG or len(selects) != 1 or selects[0].tag != "Select"
            or selects[0].get("Path") != EVENT_LOG):
        return None
    match = _SELECT.match(" ".join((selects[0].text or "").split()))
    if not match:
        return None
    return match.group(2) if match.group(2) is not None else match.group(3)


def is_wake_trigger(canonical_trigger: dict[str, Any]) -> bool:
    """True for a trigger derived from ``run.after`` (import drops these)."""
    return wake_trigger_task(canonical_trigger) is not None
