"""One pull-mode run (what the agent's task runs): fetch the ref, find this machine's
host in the inventory (a host's ``reconcile_ref`` wins: waves are refs that hosts
follow), plan or apply its tasks, and write one JSON report: host, commit, plan
summary, drift, errors, duration. The report is written whatever happens: a run that
fails is a report with errors, never a silence (``fleet report`` reads these)."""
from __future__ import annotations

import datetime as dt
import json
import os
import time
import urllib.request
from dataclasses import dataclass, field
from typing import Any, Callable

from ..errors import ReconcileError
from ..runner.secrets import SecretError, from_env, redact_url
from .agent import AgentSettings
from .report import AGENT_KIND

KEEP_REPORTS = 200  # per host, in the report folder
WEBHOOK_TIMEOUT = 30


@dataclass(frozen=True)
class RunResult:
    report: dict[str, Any]
    path: str
    errors: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def summary(self) -> str:
        plan = self.report.get("plan") or {}
        said = (plan.get("summary") or {}).get("text") or "no plan"
        who = self.report.get("host") or self.report.get("machine")
        return f"{who}: {self.report['mode']} {self.report.get('commit') or ''} {said} (report: {self.path})".replace("  ", " ")


def _checkout(settings: AgentSettings, report: dict[str, Any]) -> tuple[Any, Any]:
    """Fetch, read the inventory, find the host; fetch again if it follows another ref."""
    from . import git
    from .hosts import find_host, this_machine
    from .hostvars import setting
    from .inventory import read

    checkout = os.path.join(settings.home, "checkout")
    for _ in range(2):
        report["commit"] = git.fetch(settings.repo, report["ref"], checkout)
        inventory = read(os.path.join(checkout, settings.inventory))
        host = find_host(inventory, settings.host) if settings.host else this_machine(inventory)
        report["host"] = host.name
        follows = setting(host, "reconcile_ref")
        if not follows or follows == report["ref"]:
            return inventory, host
        report["ref"] = follows
    raise ReconcileError(f"host {host.name}: reconcile_ref {report['ref']} names another ref in its own "
                         "inventory; make the ref's inventory agree")


def _work(settings: AgentSettings, report: dict[str, Any], backend_name: str, store: str, root: str,
          root_given: bool) -> None:
    from .. import report as views
    from ..app import open_backend, plans
    from ..model import Action
    from . import secrets
    from .hosts import host_root
    from .targets import HostSelection

    inventory, host = _checkout(settings, report)
    root = host_root(host, root, root_given)
    report["root"] = root
    backend = open_backend(backend_name, root=root, store=store)
    directory = os.path.join(settings.home, "checkout", settings.dir)
    select = HostSelection(host, inventory)
    if settings.mode == "monitor":
        plan = plans.plan(directory, root, backend, select=select).plan
    else:
        with secrets.environment(settings.secrets):
            applied = plans.apply(backend, root, plans.ApplyOptions(), directory=directory, select=select)
        plan = applied.plan
        report["applied"] = {"added": applied.count(Action.CREATE), "changed": applied.count(Action.UPDATE),
                             "deleted": applied.count(Action.DELETE), "failed": len(applied.failed)}
        report["errors"] += [f"{o.path}: {o.message or o.status}" for o in applied.failed]
    report["plan"] = views.as_dict(plan)
    report["status"] = _status(backend, root, directory, select)


def _status(backend: Any, root: str, directory: str, select: Any) -> list[dict[str, Any]]:
    """The managed tasks' last and next runs, for the dashboard (best effort)."""
    from ..app import status as status_app

    try:
        home = status_app.runner_home(None, directory, root, select)
        return [row.as_dict() for row in status_app.status(backend, root, home).rows]
    except ReconcileError:
        return []


def webhook_url(settings: AgentSettings) -> tuple[str, str] | None:
    """The webhook's URL and how it may be shown, from wherever the install said."""
    from . import secrets

    if settings.webhook_from_env:
        try:
            url = from_env(settings.webhook_from_env, "webhook URL")
        except SecretError as err:
            raise ReconcileError(f"webhook: {err}") from None
        return url, f"(the URL in {settings.webhook_from_env})"
    if settings.webhook_from_credential:
        url = secrets.read_credential(settings.webhook_from_credential)
        return url, f"(the URL in credential {settings.webhook_from_credential})"
    return (settings.webhook, redact_url(settings.webhook)) if settings.webhook else None


def _post(url: str, shown: str, report: dict[str, Any], deadline: float = WEBHOOK_TIMEOUT) -> None:
    """One POST, without redirects, within ``deadline`` seconds in all (as the runner's
    notifications: a per-read timeout alone is no bound)."""
    from ..runner.notify import NoRedirect, within

    if not url.lower().startswith(("http://", "https://")):
        raise ReconcileError(f"webhook {shown}: not an http(s) URL")
    body = json.dumps({"event": "reconcile.agent.run", **report}, ensure_ascii=False).encode("utf-8")
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": "application/json", "User-Agent": "reconcile.py"})
    opener = urllib.request.build_opener(NoRedirect)
    status: list[int] = []

    def send(aborts: list[Callable[[], None]]) -> None:
        with opener.open(request, timeout=deadline) as response:  # noqa: S310 - http(s) only
            aborts.append(response.close)
            response.read()
            status.append(response.status)

    try:
        within(deadline, send)
    except Exception as err:  # noqa: BLE001 - http.client's errors too; the URL never shown whole
        said = (str(err) or type(err).__name__).replace(url, shown)
        raise ReconcileError(f"webhook {shown}: {said}") from None
    if not 200 <= status[0] < 300:
        raise ReconcileError(f"webhook {shown} answered {status[0]}")


def _without(text: str, secrets: list[str], shown: str) -> str:
    for secret in secrets:
        text = text.replace(secret, shown)
    return text


def _notify(settings: AgentSettings, report: dict[str, Any]) -> None:
    """POST the report to the webhook, if there is one; a failure is one more error of
    the report, its URL shown only as ``redact_url`` or the name of where it came from."""
    try:
        hook = webhook_url(settings)
    except ReconcileError as err:
        report["errors"].append(str(err))
        return
    if hook is None:
        return
    url, shown = hook
    try:
        _post(url, shown, report)
    except ReconcileError as err:
        report["errors"].append(_without(str(err), [url], shown))


def _write(settings: AgentSettings, report: dict[str, Any], stamp: str) -> str:
    name = str(report.get("host") or report.get("machine") or "unknown")
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
    os.makedirs(settings.report, exist_ok=True)
    path = os.path.join(settings.report, f"{safe}-{stamp}.json")
    temp = path + ".tmp"
    with open(temp, "w", encoding="utf-8", newline="\n") as handle:
        json.dump(report, handle, indent=2, ensure_ascii=False)
        handle.write("\n")
    os.replace(temp, path)
    mine = sorted(f for f in os.listdir(settings.report) if f.startswith(f"{safe}-") and f.endswith(".json"))
    for old in mine[:-KEEP_REPORTS]:
        os.unlink(os.path.join(settings.report, old))
    return path


def run(settings: AgentSettings, *, backend: str, store: str, root: str, root_given: bool) -> RunResult:
    from .hosts import machine_names

    started = dt.datetime.now(dt.timezone.utc)
    clock = time.monotonic()
    report: dict[str, Any] = {
        "kind": AGENT_KIND, "format_version": 1, "host": settings.host, "machine": machine_names()[0],
        "repo": settings.shown_repo, "ref": settings.ref, "commit": None, "mode": settings.mode,
        "started": started.isoformat(timespec="seconds"), "duration": None, "errors": [],
        "plan": None, "applied": None, "status": []}
    try:
        _work(settings, report, backend, store, root, root_given)
    except ReconcileError as err:
        report["errors"] += str(err).splitlines()
    except Exception as err:  # noqa: BLE001 - a bug still leaves a report behind
        report["errors"].append(f"internal error (a bug in reconcile.py): {type(err).__name__}: {err}")
    report["duration"] = round(time.monotonic() - clock, 3)
    # git's messages may repeat the repository's URL: only its shown form is kept.
    report["errors"] = [_without(e, [settings.repo], settings.shown_repo) for e in report["errors"]]
    _notify(settings, report)
    path = _write(settings, report, started.strftime("%Y%m%dT%H%M%SZ"))
    return RunResult(report, path, tuple(report["errors"]))
