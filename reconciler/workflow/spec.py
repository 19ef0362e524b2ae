"""The run block as typed records: what ``run:`` asks of the runner.

``RunSpec.from_manifest(block)`` reads a ``run:`` block as the manifest writes it (its
Defaults merged in), once the JSON schema and ``checks`` found nothing wrong with it, into
frozen records; the compiler carries the result on ``TaskSpec.run``. Durations become
seconds (an int for a duration text such as ``90s`` or ``PT1M``; a number passes as
given), a command's argument list is joined by the Windows command-line rules, and only
what was written is kept: the runner fills in its own defaults. Numbers the runner only
passes on (``log.keep``, ``smtp.port``, ``retry.jitter``) stay as written, so the payload
shows ``30.0`` where the manifest did. A shape the schema refuses raises ValueError.

The payload the runner reads on the machine stays plain JSON (``workflow.payload``): the
runner imports nothing but the standard library (see ``reconciler.runner``)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Union

from .. import cmdline, durations

RUN_KEYS = ("after", "when", "retry", "attemptTimeout", "log", "notify")
REQUIRE = ("succeeded", "completed")
WHEN_KINDS = ("fileExists", "urlReachable", "command")
NOTIFY_KINDS = ("email", "webhook")
TLS = ("auto", "starttls", "ssl", "none")
# With ``after`` a task must queue a second start rather than drop it (IgnoreNew drops a
# wake-up that arrives while a start is deciding); the runner's lock makes the queued start
# harmless. The compiler uses this when the manifest does not say multipleInstances.
MULTIPLE_INSTANCES_WITH_AFTER = "Queue"
# Task Scheduler's default ExecutionTimeLimit: 72 hours (PT72H), when a task does not set one.
DEFAULT_TIME_LIMIT = durations.Duration(seconds=72 * 3600)

# A number as the manifest writes it: YAML's 30 and 30.0 both pass the schema's integer.
Number = Union[int, float]


def to_seconds(value: Any) -> Number:
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


# --- what the records are made of ------------------------------------------------------------

@dataclass(frozen=True)
class Dependency:
    """One ``after`` entry as written: the task it names (``name``, ``folder\\name`` or a
    full path) and what its last run must have done. ``require`` is checked with the other
    ``after`` rules (``graph.dependency_problems_at``), which know its position."""

    task: str
    require: str = "succeeded"

    @classmethod
    def from_manifest(cls, item: Any) -> Dependency:
        if isinstance(item, str):
            return cls(task=item)
        body = _mapping(item, "after")
        return cls(task=_text(body.get("task"), "after.task"),
                   require=_text(body.get("require", "succeeded"), "after.require"))


@dataclass(frozen=True)
class FileExists:
    """``when: fileExists``: the run starts only if this file exists."""

    path: str


@dataclass(frozen=True)
class UrlReachable:
    """``when: urlReachable``: the run starts only if this URL answers."""

    url: str
    timeout: Number | None = None  # seconds


@dataclass(frozen=True)
class CommandCheck:
    """``when: command``: the run starts only if this program exits with 0."""

    command: str
    arguments: str | None = None  # joined by the Windows command-line rules
    working_directory: str | None = None
    timeout: Number | None = None  # seconds


Condition = Union[FileExists, UrlReachable, CommandCheck]


@dataclass(frozen=True)
class RetryPolicy:
    """``retry``: how often a failed run is tried again, with exponential backoff."""

    attempts: int = 1
    initial: Number | None = None  # seconds before the second attempt
    maximum: Number | None = None  # seconds: the longest wait (``max``)
    jitter: Number | None = None  # as written; None for none


@dataclass(frozen=True)
class LogPolicy:
    """``log``: where each run's log file goes and how many are kept."""

    directory: str | None = None  # ``dir``
    keep: Number | None = None


@dataclass(frozen=True)
class Smtp:
    host: str
    port: Number | None = None
    tls: str | None = None
    user_from_env: str | None = None  # names of environment variables, never the secrets
    password_from_env: str | None = None
    timeout: Number | None = None  # seconds
    password_from_file: str | None = None  # a file only the task's account can read
    password_from_credential: str | None = None  # a Windows Credential Manager target


@dataclass(frozen=True)
class Email:
    """``notify.onFailure: email``."""

    to: tuple[str, ...]
    smtp: Smtp
    sender: str | None = None  # ``from``
    subject: str | None = None


@dataclass(frozen=True)
class Webhook:
    """``notify.onFailure: webhook``: a JSON POST."""

    url: str | None = None  # or, holding a token, url_from_env
    headers_from_env: tuple[tuple[str, str], ...] = ()  # (header, environment variable)
    timeout: Number | None = None  # seconds
    url_from_env: str | None = None
    headers_from_file: tuple[tuple[str, str], ...] = ()  # (header, file)
    headers_from_credential: tuple[tuple[str, str], ...] = ()  # (header, Credential Manager target)


Notifier = Union[Email, Webhook]


@dataclass(frozen=True)
class RunSpec:
    """A task's ``run:`` block: the task is registered with the runner's action, which
    checks ``after`` and ``when``, then runs the task's actions with ``retry`` and
    ``attempt_timeout``, logs the run and notifies on failure."""

    after: tuple[Dependency, ...] = ()
    when: tuple[Condition, ...] = ()
    retry: RetryPolicy | None = None
    attempt_timeout: Number | None = None  # seconds
    log: LogPolicy | None = None
    notify: tuple[Notifier, ...] = ()  # ``notify.onFailure``

    @classmethod
    def from_manifest(cls, block: Mapping[str, Any]) -> RunSpec:
        """The record of a schema-valid ``run:`` block."""
        run = _mapping(block, "run")
        notify = _mapping(run.get("notify") or {}, "notify")
        return cls(
            after=tuple(Dependency.from_manifest(item) for item in _items(run.get("after"), "after")),
            when=tuple(_condition(item) for item in _items(run.get("when"), "when")),
            retry=_retry(run["retry"]) if run.get("retry") is not None else None,
            attempt_timeout=_seconds_at(run, "attemptTimeout"),
            log=_log(run["log"]) if run.get("log") else None,  # an empty log block says nothing
            notify=tuple(_notifier(item) for item in _items(notify.get("onFailure"), "notify.onFailure")),
        )


# --- reading the manifest's data --------------------------------------------------------------

def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ValueError(f"run: {where} must be a mapping, not {type(value).__name__}")
    return value


def _items(value: Any, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValueError(f"run: {where} must be a list, not {type(value).__name__}")
    return value


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"run: {where} must be text, not {type(value).__name__}")
    return value


def _optional_text(body: Mapping[str, Any], key: str, where: str) -> str | None:
    value = body.get(key)
    return None if value is None else _text(value, f"{where}.{key}")


def _number_at(body: Mapping[str, Any], key: str, where: str) -> Number | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"run: {where}.{key} must be a number, not {type(value).__name__}")
    return value


def _seconds_at(body: Mapping[str, Any], key: str) -> Number | None:
    return to_seconds(body[key]) if key in body else None


def _single(item: Any, where: str, kinds: tuple[str, ...]) -> tuple[str, Any]:
    """The kind and body of a one-key list item (``- fileExists: ...``)."""
    body = _mapping(item, where)
    if len(body) != 1 or next(iter(body)) not in kinds:
        raise ValueError(f"run: each {where} item has exactly one of {', '.join(kinds)}")
    ((kind, value),) = body.items()
    return kind, value


def _arguments(value: Any) -> str | None:
    if isinstance(value, list):
        return cmdline.join([str(a) for a in value]) or None
    return str(value) if value else None


def _condition(item: Any) -> Condition:
    kind, body = _single(item, "when", WHEN_KINDS)
    if kind == "fileExists":
        return FileExists(path=_text(body, "when.fileExists"))
    if kind == "urlReachable":
        if isinstance(body, str):
            return UrlReachable(url=body)
        body = _mapping(body, "when.urlReachable")
        return UrlReachable(url=_text(body.get("url"), "when.urlReachable.url"), timeout=_seconds_at(body, "timeout"))
    body = _mapping(body, "when.command")
    return CommandCheck(command=_text(body.get("command"), "when.command.command"),
                        arguments=_arguments(body.get("arguments")),
                        working_directory=_optional_text(body, "workingDirectory", "when.command") or None,
                        timeout=_seconds_at(body, "timeout"))


def _retry(value: Any) -> RetryPolicy:
    body = _mapping(value, "retry")
    return RetryPolicy(attempts=int(body.get("attempts", 1)), initial=_seconds_at(body, "initial"),
                       maximum=_seconds_at(body, "max"), jitter=_number_at(body, "jitter", "retry") or None)


def _log(value: Any) -> LogPolicy:
    body = _mapping(value, "log")
    return LogPolicy(directory=_optional_text(body, "dir", "log"), keep=_number_at(body, "keep", "log"))


def _notifier(item: Any) -> Notifier:
    kind, body = _single(item, "notify.onFailure", NOTIFY_KINDS)
    body = _mapping(body, f"notify.onFailure.{kind}")
    if kind == "email":
        to = body.get("to")
        smtp = _mapping(body.get("smtp"), "email.smtp")
        return Email(
            to=tuple(_text(a, "email.to") for a in (to if isinstance(to, list) else [to])),
            smtp=Smtp(host=_text(smtp.get("host"), "email.smtp.host"), port=_number_at(smtp, "port", "email.smtp"),
                      tls=_optional_text(smtp, "tls", "email.smtp"),
                      user_from_env=_optional_text(smtp, "userFromEnv", "email.smtp"),
                      password_from_env=_optional_text(smtp, "passwordFromEnv", "email.smtp"),
                      timeout=_seconds_at(smtp, "timeout"),
                      password_from_file=_optional_text(smtp, "passwordFromFile", "email.smtp"),
                      password_from_credential=_optional_text(smtp, "passwordFromCredential", "email.smtp")),
            sender=_optional_text(body, "from", "email"), subject=_optional_text(body, "subject", "email"))
    if (body.get("url") is None) == (body.get("urlFromEnv") is None):
        raise ValueError("run: a webhook takes url or urlFromEnv, one of them")
    return Webhook(url=_optional_text(body, "url", "webhook"),
                   headers_from_env=_pairs(body, "headersFromEnv"),
                   timeout=_seconds_at(body, "timeout"),
                   url_from_env=_optional_text(body, "urlFromEnv", "webhook"),
                   headers_from_file=_pairs(body, "headersFromFile"),
                   headers_from_credential=_pairs(body, "headersFromCredential"))


def _pairs(body: Mapping[str, Any], key: str) -> tuple[tuple[str, str], ...]:
    """A mapping of header names to sources, as (header, source) pairs."""
    return tuple((str(k), str(v)) for k, v in _mapping(body.get(key) or {}, f"webhook.{key}").items())
