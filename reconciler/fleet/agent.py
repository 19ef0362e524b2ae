"""Pull mode: ``agent install`` registers ONE scheduled task that fetches the repository
and runs ``plan --host`` (monitor) or ``apply --host`` (apply) on this machine, as
Chef's scheduled-task client and DSC's pull mode do; ``agent uninstall`` removes it.

The task lives in its own folder, ``\\ReconcileAgent\\``, reconciled by the same
machinery as any root: it is a managed task there, so the managed root's prune can
never see it, and uninstalling deletes only what the agent owns."""
from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.parse
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .. import names
from ..errors import ManifestError, Problem, UsageError
from ..runner.secrets import redact_url

if TYPE_CHECKING:
    from ..model import TaskSpec

AGENT_ROOT = "\\ReconcileAgent\\"
TASK_NAME = "reconcile-agent"
TIME_LIMIT = "1h"  # one fetch and one plan or apply; a hung git never blocks the next run for long


@dataclass(frozen=True)
class AgentSettings:
    """What one pull run needs; ``agent install`` writes them into the task's command."""

    repo: str
    ref: str
    mode: str  # monitor | apply
    inventory: str  # a path inside the repository
    dir: str  # the manifest folder inside the repository
    home: str  # checkout and reports
    report: str  # the folder of the JSON reports
    host: str | None = None
    webhook: str | None = None  # the URL itself (it is then in the task's arguments)
    webhook_from_env: str | None = None  # an environment variable of the task's account holding it
    webhook_from_credential: str | None = None  # a Credential Manager entry holding it
    secrets: tuple[tuple[str, str], ...] = ()  # (environment variable, Credential Manager target)

    @property
    def shown_repo(self) -> str:
        return redact_url(self.repo) if "://" in self.repo else self.repo


def default_home() -> str:
    if sys.platform == "win32":  # pragma: no cover - Windows
        return os.path.join(os.environ.get("ProgramData", r"C:\ProgramData"), "reconcile", "agent")
    return os.path.join(".reconcile", "agent")


def _secret(text: str) -> tuple[str, str]:
    variable, sep, target = text.partition("=")
    if not sep or not variable.strip() or not target.strip():
        raise UsageError(f"--secret {text!r}: write VARIABLE=TARGET (a Windows Credential Manager entry)")
    return variable.strip(), target.strip()


def _check_repo(repo: str) -> None:
    """A repository URL with a password or token in it would be stored in the task's
    arguments, readable by whoever may read the task; git's credential helper keeps it
    in the account's own store instead."""
    try:
        parts = urllib.parse.urlsplit(repo)
        user, password = parts.username, parts.password
    except ValueError:
        raise UsageError(f"--repo {redact_url(repo)}: not a valid URL") from None
    web = parts.scheme.lower() in ("http", "https")
    if password is not None or (web and (user is not None or parts.query or parts.fragment)):
        raise UsageError(f"--repo {redact_url(repo)}: a user name or token in the URL would be stored in the "
                         "task's arguments; give the URL without it and store the credential with git's "
                         "credential helper (Git Credential Manager) as the task's account")


def _check_webhook(args: argparse.Namespace) -> None:
    given = [o for o, v in (("--webhook", args.webhook), ("--webhook-from-env", args.webhook_from_env),
                            ("--webhook-from-credential", args.webhook_from_credential)) if v]
    if len(given) > 1:
        raise UsageError(f"{' and '.join(given)}: give the webhook URL one way")
    if args.webhook and not _is_http_url(args.webhook):
        raise UsageError(f"--webhook {redact_url(args.webhook)}: an http:// or https:// URL")


def _is_http_url(url: str) -> bool:
    try:
        urllib.parse.urlsplit(url)
    except ValueError:
        return False
    return url.lower().startswith(("http://", "https://"))


def check_install_secrets(settings: AgentSettings) -> None:
    """``agent install`` stores its options in the task's arguments: a webhook URL that
    carries a secret (user-info, a query) must come from the environment or Credential
    Manager instead."""
    parts = urllib.parse.urlsplit(settings.webhook or "")
    if parts.username is not None or parts.password is not None or parts.query or parts.fragment:
        raise UsageError(f"--webhook {redact_url(settings.webhook or '')}: its token would be stored in the task's "
                         "arguments; use --webhook-from-env VAR or --webhook-from-credential TARGET")


def settings_from(args: argparse.Namespace) -> AgentSettings:
    home = os.path.abspath(args.home or default_home())
    _check_webhook(args)
    _check_repo(args.repo)
    for value, option in ((args.repo, "--repo"), (args.ref, "--ref")):
        if not value.strip() or value.startswith("-"):  # never read by git as an option
            raise UsageError(f"{option} {value!r}: a repository URL and a branch or tag")
    for path, option in ((args.inventory, "--inventory"), (args.dir, "--dir")):
        if os.path.isabs(path) or ".." in path.replace("\\", "/").split("/"):
            raise UsageError(f"{option} {path}: a path inside the repository (relative, no ..)")
    return AgentSettings(repo=args.repo, ref=args.ref, mode=args.mode, inventory=args.inventory, dir=args.dir,
                         home=home, report=os.path.abspath(args.report or os.path.join(home, "reports")),
                         host=args.host, webhook=args.webhook, webhook_from_env=args.webhook_from_env,
                         webhook_from_credential=args.webhook_from_credential,
                         secrets=tuple(_secret(s) for s in args.secret or ()))


def run_arguments(settings: AgentSettings, *, backend: str, store: str | None, root: str | None) -> list[str]:
    """The arguments of ``python -m reconciler agent run`` that repeat this install."""
    out = ["-m", "reconciler", "agent", "run", "--repo", settings.repo, "--ref", settings.ref,
           "--mode", settings.mode, "--inventory", settings.inventory, "--dir", settings.dir,
           "--home", settings.home, "--report", settings.report, "--backend", backend]
    if store is not None:
        out += ["--store", os.path.abspath(store)]
    if root is not None:
        out += ["--root", root]
    if settings.host:
        out += ["--host", settings.host]
    for option, value in (("--webhook", settings.webhook), ("--webhook-from-env", settings.webhook_from_env),
                          ("--webhook-from-credential", settings.webhook_from_credential)):
        if value:
            out += [option, value]
    for variable, target in settings.secrets:
        out += ["--secret", f"{variable}={target}"]
    return out


def agent_manifest(settings: AgentSettings, arguments: list[str], *, python: str, every: str,
                   splay: str) -> dict[str, Any]:
    """The agent's task as a manifest: every ``every`` (and at startup), a random delay
    up to ``splay``, as SYSTEM with the highest run level (reading the whole root needs
    it), one run at a time."""
    start: dict[str, Any] = {"at": "2000-01-03T00:00:00", "repeat": {"every": every}}
    boot: dict[str, Any] = {}
    if splay not in ("0", "0s", "0m"):
        start["randomDelay"] = splay
        boot["delay"] = splay
    return {
        "apiVersion": "reconcile/v1", "kind": "ScheduledTask",
        "metadata": {"name": TASK_NAME,
                     "description": f"reconcile.py pull mode: {settings.mode} from {settings.shown_repo} {settings.ref}"},
        "spec": {
            "triggers": [{"once": start}, {"atStartup": boot}],
            # ``-m reconciler`` resolves from the working directory too: the folder this
            # package was imported from, whether a checkout or site-packages.
            "actions": [{"command": python, "arguments": arguments, "workingDirectory": _package_parent()}],
            "runAs": {"user": "SYSTEM", "runLevel": "highest"},
            "settings": {"timeout": TIME_LIMIT, "multipleInstances": "ignoreNew", "startWhenAvailable": True},
        },
    }


def _package_parent() -> str:
    import reconciler

    return os.path.dirname(os.path.dirname(os.path.abspath(reconciler.__file__)))


def compile_manifest(document: dict[str, Any]) -> TaskSpec:
    """A manifest built here, checked and compiled as a file would be (its problems
    point at ``<agent>``: they come from the command's options)."""
    from .. import schema
    from ..compiler import Compiler, Located
    from ..yamlpos import PosDict, load_all

    data = load_all(json.dumps(document))[0].data
    assert isinstance(data, PosDict)
    problems = [Problem("<agent>", 1, 1, p.message) for p in schema.problems(data)]
    compiler = Compiler(Located(data, "<agent>"), AGENT_ROOT)
    task = compiler.compile() if not problems else None
    problems += compiler.problems
    if problems or task is None:
        raise ManifestError(problems or [Problem("<agent>", 1, 1, "the agent's task cannot be compiled")])
    return task


@dataclass(frozen=True)
class Converged:
    summary: str
    ok: bool


def _converge(tasks: list[TaskSpec], backend_name: str, store: str, *, allow_delete_all: bool) -> Converged:
    """Make ``\\ReconcileAgent\\`` hold exactly ``tasks`` (unmanaged tasks there are left alone)."""
    from .. import apply as applying
    from ..app import open_backend, plans

    backend = open_backend(backend_name, root=AGENT_ROOT, store=store)
    desired = [plans.desired_one(task, AGENT_ROOT, backend.resolve_account) for task in tasks]
    with backend.lock():
        actual = plans.read_actual(backend, AGENT_ROOT, desired)
        plan = plans.make_plan(desired, actual, AGENT_ROOT)
        applying.check(plan, max_deletions=None, allow_delete_all=allow_delete_all)
        outcomes = applying.run(plan, backend) if plan.has_changes else []
    failed = [o for o in outcomes if o.status != "done"]
    if failed:
        return Converged("; ".join(f"{o.path}: {o.message or o.status}" for o in failed), False)
    return Converged(plan.summary(), True)


def _check_roots(managed_root: str) -> None:
    if names.is_under(managed_root, AGENT_ROOT) or names.is_under(AGENT_ROOT, managed_root):
        raise UsageError(f"the agent's folder {AGENT_ROOT} and the managed root {managed_root} must not "
                         "contain one another: a prune of one would delete the other's tasks")


def install(settings: AgentSettings, *, backend: str, store: str, managed_root: str, root_given: bool,
            every: str, splay: str, python: str | None) -> Converged:
    """Register (or update) the agent's task."""
    _check_roots(managed_root)
    check_install_secrets(settings)
    arguments = run_arguments(settings, backend=backend, store=store if backend == "local" else None,
                              root=managed_root if root_given else None)
    document = agent_manifest(settings, arguments, python=python or sys.executable, every=every, splay=splay)
    task = compile_manifest(document)
    os.makedirs(settings.report, exist_ok=True)
    done = _converge([task], backend, store, allow_delete_all=False)
    where = f"{AGENT_ROOT}{TASK_NAME}"
    return Converged(f"agent {where}: {done.summary} It runs {settings.mode} every {every}; reports go to "
                     f"{settings.report}." if done.ok else f"agent {where}: not installed: {done.summary}", done.ok)


def uninstall(*, backend: str, store: str) -> Converged:
    """Delete the agent's task (and nothing outside ``\\ReconcileAgent\\``)."""
    done = _converge([], backend, store, allow_delete_all=True)
    return Converged(f"agent: {done.summary}", done.ok)

