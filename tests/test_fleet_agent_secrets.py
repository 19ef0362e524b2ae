"""Pull mode keeps its secrets out of what others can read: the registered task's
arguments and description, the JSON reports, the error texts. A repository URL with a
token in it is refused (git's credential helper holds it); the webhook URL may come
from the task account's environment or Credential Manager; the POST follows no
redirect and has one deadline for the whole answer."""
from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path

import pytest

from conftest import run_cli
from reconciler.errors import ReconcileError
from reconciler.fleet import agent_run
from reconciler.fleet.agent import AgentSettings
from test_notify_hardening import (_Server, assert_nowhere, elsewhere, redirector, secret,  # noqa: F401
                                   trickler)


def agent(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = run_cli("agent", *args, "--backend", "local", "--store", "store", cwd=tmp_path, env=env)
    return result.code, result.out, result.err


def task_xml(tmp_path: Path) -> str:
    return (tmp_path / "store" / "ReconcileAgent" / "reconcile-agent").read_bytes().decode("utf-16")


def reports(home: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((home / "reports").glob("*.json"))]


@pytest.mark.parametrize("url", ["https://{s}@git.example.invalid/fleet.git",
                                 "https://deploy:{s}@git.example.invalid/fleet.git",
                                 "ssh://git:{s}@git.example.invalid/fleet.git",
                                 "https://git.example.invalid/fleet.git?private_token={s}"])
@pytest.mark.parametrize("command", ["install", "run"])
def test_a_repository_url_with_a_token_is_refused(tmp_path: Path, secret: str, url: str, command: str) -> None:
    code, out, err = agent(tmp_path, command, "--repo", url.format(s=secret), "--ref", "main", "--home", "home")
    assert code == 1
    assert len(err.strip().splitlines()) == 1 and "Git Credential Manager" in err, err
    assert_nowhere(secret, out, err)
    assert not (tmp_path / "store" / "ReconcileAgent").exists() and not (tmp_path / "home").exists()


def test_a_webhook_url_with_a_token_is_refused_by_install(tmp_path: Path, secret: str) -> None:
    code, out, err = agent(tmp_path, "install", "--repo", "https://git.example.invalid/fleet.git", "--ref", "main",
                           "--home", "home", "--webhook", f"https://hooks.example.invalid/x?token={secret}")
    assert code == 1 and "--webhook-from-env" in err
    assert_nowhere(secret, out, err)
    assert not (tmp_path / "store" / "ReconcileAgent").exists()


def test_the_task_stores_where_the_webhook_url_is_not_the_url(tmp_path: Path) -> None:
    code, _, err = agent(tmp_path, "install", "--repo", "ssh://git@git.example.invalid/fleet.git", "--ref", "main",
                         "--home", "home", "--webhook-from-env", "RECONCILE_AGENT_HOOK")
    assert code == 0, err
    xml = task_xml(tmp_path)
    assert "--webhook-from-env RECONCILE_AGENT_HOOK" in xml and "--webhook " not in xml
    description = re.search(r"<Description>(.*?)</Description>", xml, re.S)[1]  # type: ignore[index]
    assert description == "reconcile.py pull mode: monitor from ssh://[redacted]@git.example.invalid/fleet.git main"
    both = agent(tmp_path, "install", "--repo", "https://git.example.invalid/f.git", "--ref", "main",
                 "--webhook", "https://h.example.invalid/x", "--webhook-from-env", "V")
    assert both[0] != 0 and "not allowed with argument" in both[2], both


def test_help_says_where_the_webhook_url_and_the_repository_credential_come_from(tmp_path: Path) -> None:
    said = agent(tmp_path, "install", "--help")[1]
    flat = " ".join(said.split())
    assert "--webhook-from-env VAR" in flat and "--webhook-from-credential TARGET" in flat
    assert "Git Credential Manager" in flat


@pytest.fixture
def fake_git(tmp_path: Path) -> Path:
    """A git that fails as git does, repeating the URL it was given."""
    script = tmp_path / "fake-git"
    script.write_text('#!/bin/sh\n[ "$1" = fetch ] || exit 0\n'
                      'echo "fatal: unable to access \'$6\': Could not resolve host" >&2\nexit 128\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


@pytest.mark.skipif(os.name == "nt", reason="a POSIX shell script stands in for git")
def test_reports_and_errors_show_urls_without_their_secrets(tmp_path: Path, fake_git: Path,
                                                            elsewhere: _Server, secret: str) -> None:  # noqa: F811
    hook = f"{elsewhere.url}/fail/{secret}"
    code, out, err = agent(tmp_path, "run", "--repo", "ssh://git@git.example.invalid/fleet.git", "--ref", "main",
                           "--host", "srv-a01", "--home", "home", "--webhook-from-env", "RECONCILE_AGENT_HOOK",
                           env={"RECONCILE_AGENT_HOOK": hook, "RECONCILE_GIT": str(fake_git)})
    assert code == 1
    (report,) = reports(tmp_path / "home")
    assert report["repo"] == "ssh://[redacted]@git.example.invalid/fleet.git"
    assert "unable to access 'ssh://[redacted]@git.example.invalid/fleet.git'" in report["errors"][0]
    assert report["errors"][-1] == "webhook (the URL in RECONCILE_AGENT_HOOK): HTTP Error 500: Internal Server Error"
    assert [r["path"] for r in elsewhere.requests] == [f"/fail/{secret}"]  # it was sent, and only there
    assert_nowhere(secret, out, err, json.dumps(report))
    missing = agent(tmp_path, "run", "--repo", "ssh://git@git.example.invalid/fleet.git", "--ref", "main",
                    "--host", "srv-a01", "--home", "home2", "--webhook-from-env", "NOT_SET_ANYWHERE",
                    env={"RECONCILE_GIT": str(fake_git)})
    assert missing[0] == 1
    assert "webhook: the environment variable NOT_SET_ANYWHERE (webhook URL) is not set" in reports(
        tmp_path / "home2")[0]["errors"]


def _settings(tmp_path: Path, **hook: str) -> AgentSettings:
    return AgentSettings(repo="r", ref="main", mode="monitor", inventory="i", dir="d", home=str(tmp_path),
                         report=str(tmp_path), **hook)


def test_the_webhook_follows_no_redirect(tmp_path: Path, redirector: _Server, elsewhere: _Server,  # noqa: F811
                                         secret: str) -> None:  # noqa: F811
    report = {"kind": "reconcile-agent-report", "errors": []}
    agent_run._notify(_settings(tmp_path, webhook=f"{redirector.url}/hook?token={secret}"), report)
    (said,) = report["errors"]
    assert said.startswith(f"webhook {redirector.url}/hook?[redacted]: answered 302 (a redirect to "
                           f"{elsewhere.url}/collect?[redacted]); redirects are not followed"), said
    assert elsewhere.requests == []
    assert_nowhere(secret, said)


def test_the_webhook_has_one_deadline_for_the_whole_answer(trickler: str) -> None:  # noqa: F811
    with pytest.raises(ReconcileError, match=r"no complete answer within 1s"):
        agent_run._post(trickler, "(the hook)", {"errors": []}, deadline=1)


def test_the_webhook_url_from_the_credential_manager(tmp_path: Path, elsewhere: _Server,  # noqa: F811
                                                     monkeypatch: pytest.MonkeyPatch, secret: str) -> None:  # noqa: F811
    from reconciler.fleet import secrets

    monkeypatch.setattr(secrets, "read_credential", lambda target: f"{elsewhere.url}/hook/{secret}"
                        if target == "reconcile/agent-hook" else "")
    report = {"kind": "reconcile-agent-report", "errors": []}
    agent_run._notify(_settings(tmp_path, webhook_from_credential="reconcile/agent-hook"), report)
    assert report["errors"] == [] and [r["path"] for r in elsewhere.requests] == [f"/hook/{secret}"]


def test_a_server_that_is_not_http_is_a_webhook_error(tmp_path: Path) -> None:
    import socket
    import threading

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)

    def answer() -> None:
        connection, _ = listener.accept()
        connection.recv(65536)
        connection.sendall(b"HTTP/\r\n\r\n")  # http.client.BadStatusLine, not an OSError
        connection.close()

    threading.Thread(target=answer, daemon=True).start()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/hook"
    with pytest.raises(ReconcileError, match=r"^webhook \(the hook\): "):
        agent_run._post(url, "(the hook)", {"errors": []}, deadline=10)
    listener.close()
