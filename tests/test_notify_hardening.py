"""Notifications leak nothing and cannot hang a task (issue #18, part 2), and their
secrets have safer sources than the environment (issue #14, item 7).

Loopback servers only. Each hostile server of the red-team run is here: a redirect to
another origin, a header value ending in a line break, an SMTP server that echoes the
AUTH line, a URL holding a token, a server that answers one byte at a time."""
from __future__ import annotations

import base64
import hashlib
import http.server
import json
import os
import socket
import socketserver
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Iterator

import pytest

from conftest import run_cli
from reconciler.runner import notify, secrets
from reconciler.runner.secrets import Credential, Redactor, SecretError, redact_url

REPORT = {"task": "\\Orchestrator\\f", "host": "h", "result": "failed", "exitCode": 3, "run": "r1"}


@pytest.fixture
def secret() -> str:
    return f"Tok-{uuid.uuid4().hex[:16]}-x"


def spellings(value: str) -> list[str]:
    """Every spelling of a secret that would give it away."""
    raw = value.encode()
    out = [value, value.strip(), repr(value)[1:-1], raw.hex(), base64.b64encode(raw).decode(),
           hashlib.sha256(raw).hexdigest()]
    return [s for s in out if len(s) >= 6]


def assert_nowhere(value: str, *texts: str) -> None:
    for text in texts:
        for spelling in spellings(value):
            assert spelling not in text, (spelling, text)


# --- servers -----------------------------------------------------------------------------------

class _Server:
    def __init__(self, handler: type) -> None:
        self.requests: list[dict[str, Any]] = []
        outer = self

        class Bound(handler):  # type: ignore[misc, valid-type]
            server_state = outer

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Bound)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class Recorder(http.server.BaseHTTPRequestHandler):
    server_state: _Server

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("Content-Length", 0))
        self.server_state.requests.append({"path": self.path, "headers": dict(self.headers),
                                           "body": self.rfile.read(length)})
        status = 500 if self.path.startswith("/fail") else 200
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def elsewhere() -> Iterator[_Server]:
    server = _Server(Recorder)
    yield server
    server.close()


@pytest.fixture
def redirector(elsewhere: _Server) -> Iterator[_Server]:
    class Redirect(Recorder):
        def do_POST(self) -> None:  # noqa: N802
            self.server_state.requests.append({"path": self.path})
            self.send_response(302)
            self.send_header("Location", elsewhere.url + "/collect?stolen=1")
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = _Server(Redirect)
    yield server
    server.close()


@pytest.fixture
def trickler() -> Iterator[str]:
    """An HTTP server that answers one byte every 0.2 s, for a minute."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=trickle, args=(connection,), daemon=True).start()

    def trickle(connection: socket.socket) -> None:
        answer = b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + b"x" * 1000
        try:
            connection.recv(65536)
            for byte in answer[:300]:
                if stop.is_set():
                    break
                connection.send(bytes([byte]))
                time.sleep(0.2)
        except OSError:
            pass
        finally:
            connection.close()

    threading.Thread(target=serve, daemon=True).start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}/hook"
    stop.set()
    listener.close()


class EchoingSMTP(socketserver.StreamRequestHandler):
    """An SMTP server that refuses every login, echoing what it was sent."""

    def handle(self) -> None:
        self.wfile.write(b"220 localhost ESMTP\r\n")
        while True:
            line = self.rfile.readline().decode(errors="replace").rstrip("\r\n")
            if not line:
                return
            verb = line.split(" ", 1)[0].upper()
            if verb == "EHLO":
                self.wfile.write(b"250-localhost\r\n250 AUTH PLAIN LOGIN\r\n")
            elif verb == "AUTH":
                self.wfile.write(f"535 5.7.8 Authentication failed for {line}\r\n".encode())
            elif verb == "QUIT":
                self.wfile.write(b"221 bye\r\n")
                return
            else:
                self.wfile.write(b"250 OK\r\n")


@pytest.fixture
def echoing_smtp() -> Iterator[int]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), EchoingSMTP)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


# --- webhooks ---------------------------------------------------------------------------------------

def test_a_redirect_to_another_origin_is_a_failure_and_sends_nothing_there(
        redirector: _Server, elsewhere: _Server, secret: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOOK_TOKEN", "Bearer " + secret)
    (outcome,) = notify.send_all([{"webhook": {"url": redirector.url + "/hook",
                                               "headersFromEnv": {"Authorization": "HOOK_TOKEN"}}}], REPORT)
    assert outcome["ok"] is False and "302" in outcome["error"] and "redirect" in outcome["error"]
    assert redirector.requests and elsewhere.requests == [], "the token went to the other origin"
    assert "stolen" not in outcome["error"], "the redirect's URL is shown without its query"
    assert_nowhere(secret, json.dumps(outcome))


@pytest.mark.parametrize("value", ["{secret}\n", "{secret}\r\nX-Injected: 1", "a\n{secret}"])
def test_a_header_value_with_a_line_break_is_refused_without_showing_it(
        elsewhere: _Server, secret: str, value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOOK_TOKEN", value.format(secret=secret))
    (outcome,) = notify.send_all([{"webhook": {"url": elsewhere.url + "/hook",
                                               "headersFromEnv": {"Authorization": "HOOK_TOKEN"}}}], REPORT)
    assert outcome["ok"] is False and "line break" in outcome["error"] and "HOOK_TOKEN" in outcome["error"]
    assert elsewhere.requests == []
    assert_nowhere(secret, json.dumps(outcome), repr(outcome))


def test_a_url_from_the_environment_never_shows(elsewhere: _Server, secret: str,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOOK_URL", f"{elsewhere.url}/fail/{secret}?token={secret}")
    (outcome,) = notify.send_all([{"webhook": {"urlFromEnv": "HOOK_URL"}}], REPORT)
    assert outcome["ok"] is False and "500" in outcome["error"], outcome
    assert outcome["target"] == "(the URL in HOOK_URL)"
    assert elsewhere.requests and elsewhere.requests[0]["path"] == f"/fail/{secret}?token={secret}"
    assert_nowhere(secret, json.dumps(outcome))
    monkeypatch.setenv("HOOK_URL", f"{elsewhere.url}/ok?token={secret}")
    (sent,) = notify.send_all([{"webhook": {"urlFromEnv": "HOOK_URL"}}], REPORT)
    assert sent["ok"] is True


@pytest.mark.parametrize("tail", [" x", "\tx", "\x7f"])
@pytest.mark.parametrize("source", ["urlFromEnv", "url"])
def test_a_url_with_a_space_or_control_character_is_refused_without_showing_it(
        elsewhere: _Server, secret: str, tail: str, source: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """http.client refused such a URL with an error quoting its path and query: the token
    went into history (found by the red team)."""
    url = f"{elsewhere.url}/hook?token={secret}{tail}"
    monkeypatch.setenv("HOOK_URL", url)
    config = {"urlFromEnv": "HOOK_URL"} if source == "urlFromEnv" else {"url": url}
    (outcome,) = notify.send_all([{"webhook": config}], REPORT)
    assert outcome["ok"] is False and "space or a control character" in outcome["error"], outcome
    assert elsewhere.requests == []
    assert_nowhere(secret, json.dumps(outcome), repr(outcome))


def test_the_parts_of_a_secret_url_are_redacted_on_their_own(secret: str) -> None:
    redactor = Redactor()
    redactor.add_url(f"https://robot:{secret}@hooks.example.com/hook/{secret}?token={secret}")
    for quoted in (f"/hook/{secret}?token={secret}", f"token={secret}", f"robot:{secret}"):
        assert secret not in redactor.redact(f"InvalidURL: {quoted!r}")


def test_a_url_written_in_the_manifest_is_shown_without_its_query_and_user(elsewhere: _Server, secret: str) -> None:
    url = elsewhere.url.replace("http://", f"http://robot:{secret}@") + f"/fail?token={secret}#{secret}"
    (outcome,) = notify.send_all([{"webhook": {"url": url}}], REPORT)
    assert outcome["ok"] is False
    assert_nowhere(secret, json.dumps(outcome))
    assert redact_url("https://u:p@hooks.example.com:8443/x/y?token=1#f") == \
        "https://[redacted]@hooks.example.com:8443/x/y?[redacted]#[redacted]"


def test_a_server_trickling_bytes_cannot_hold_the_task(trickler: str) -> None:
    (outcome,) = notify.send_all([{"webhook": {"url": trickler, "timeout": 1}}], REPORT)
    assert outcome["ok"] is False and "no complete answer within 1s" in outcome["error"], outcome


# --- e-mail ---------------------------------------------------------------------------------------------

def test_an_smtp_server_echoing_the_login_leaks_nothing(echoing_smtp: int, secret: str,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMTP_USER", "robot-user")
    monkeypatch.setenv("SMTP_PASSWORD", secret)
    (outcome,) = notify.send_all([{"email": {"to": ["ops@example.com"], "smtp": {
        "host": "127.0.0.1", "port": echoing_smtp, "tls": "none",
        "userFromEnv": "SMTP_USER", "passwordFromEnv": "SMTP_PASSWORD"}}}], REPORT)
    assert outcome["ok"] is False and outcome["error"].startswith("SMTP 535"), outcome
    auth_plain = base64.b64encode(f"\0robot-user\0{secret}".encode()).decode()
    assert auth_plain not in outcome["error"] and "[redacted]" in outcome["error"]
    assert_nowhere(secret, json.dumps(outcome))


def _reveals(piece: str, value: str) -> bool:
    """Whether some alignment of ``piece``, read as base64, holds most of ``value``."""
    for cut in range(4):
        chunk = piece[cut:]
        chunk = chunk[:len(chunk) // 4 * 4]
        try:
            if value[2:-2].encode() in base64.b64decode(chunk):
                return True
        except ValueError:
            continue
    return False


def test_redaction_covers_base64_at_every_alignment(secret: str) -> None:
    redactor = Redactor()
    redactor.add(secret)
    for prefix in (b"", b"a", b"ab", b"abc", b"\0user\0"):
        encoded = base64.b64encode(prefix + secret.encode() + b"tail").decode()
        assert _reveals(encoded, secret)
        cleaned = redactor.redact(f"echo {encoded} end")
        assert "[redacted]" in cleaned
        assert not any(_reveals(piece, secret) for piece in cleaned.split("[redacted]"))


@pytest.mark.skipif(sys.platform == "win32", reason="the runner's test machine is POSIX's (tests/test_runner.py)")
def test_the_runner_keeps_secrets_out_of_history_and_logs(tmp_path: Path, redirector: _Server, echoing_smtp: int,
                                                          secret: str) -> None:
    from test_runner import Machine

    machine = Machine(tmp_path)
    machine.env.update(HOOK_TOKEN=secret + "\n", SMTP_USER="robot", SMTP_PASSWORD=secret,
                       HOOK_URL=redirector.url + "/x?token=" + secret)
    notify_block = {"onFailure": [
        {"webhook": {"url": redirector.url + "/hook", "headersFromEnv": {"Authorization": "HOOK_TOKEN"}}},
        {"webhook": {"urlFromEnv": "HOOK_URL"}},
        {"email": {"to": ["ops@example.com"], "smtp": {"host": "127.0.0.1", "port": echoing_smtp, "tls": "none",
                                                       "userFromEnv": "SMTP_USER", "passwordFromEnv": "SMTP_PASSWORD"}}},
    ]}
    machine.add("f", (machine.step("f"),), {"notify": notify_block})
    machine.register()
    machine.set("f", code=4)
    process = machine.start("f")
    out, err = process.communicate(timeout=120)
    assert process.returncode == 4
    (run,) = machine.runs("f")
    assert [o["ok"] for o in run["notify"]] == [False, False, False]
    shown = run_cli("history", "--format", "json", "--home", str(machine.home), cwd=tmp_path)
    texts = [out, err, shown.out, shown.err, json.dumps(run)]
    texts += [p.read_text(errors="replace") for p in machine.home.rglob("*") if p.is_file()]
    for text in texts:
        assert_nowhere(secret, text)


# --- sources ----------------------------------------------------------------------------------------------

def test_a_password_file_of_the_account_only(tmp_path: Path, secret: str) -> None:
    file = tmp_path / "smtp-password.txt"
    file.write_text(secret + "\n", encoding="utf-8")
    if sys.platform != "win32":
        file.chmod(0o644)
        with pytest.raises(SecretError, match="may be read by other accounts"):
            secrets.from_file(str(file), "SMTP password")
        file.chmod(0o600)
    assert secrets.from_file(str(file), "SMTP password") == secret
    with pytest.raises(SecretError) as missing:
        secrets.from_file(str(tmp_path / "nope"), "SMTP password")
    assert "nope" in str(missing.value) and secret not in str(missing.value)
    with pytest.raises(SecretError, match="not a regular file"):
        secrets.from_file(str(tmp_path), "SMTP password")


def test_a_password_file_logs_in(tmp_path: Path, secret: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from test_runner import SMTPHandler

    server: Any = socketserver.ThreadingTCPServer(("127.0.0.1", 0), SMTPHandler)
    server.daemon_threads = True
    server.messages, server.logins = [], []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        file = tmp_path / "pw"
        file.write_text(secret, encoding="utf-8")
        file.chmod(0o600)
        monkeypatch.setenv("SMTP_USER", "robot")
        (outcome,) = notify.send_all([{"email": {"to": ["ops@example.com"], "smtp": {
            "host": "127.0.0.1", "port": server.server_address[1], "tls": "none",
            "userFromEnv": "SMTP_USER", "passwordFromFile": str(file)}}}], REPORT)
        assert outcome["ok"] is True, outcome
        assert server.logins == [[b"robot", secret.encode()]]
    finally:
        server.shutdown()
        server.server_close()


def test_a_credential_from_the_credential_manager(echoing_smtp: int, secret: str) -> None:
    """Off Windows through the seam: the credential's user is the login, its blob the
    password, and both are redacted."""
    asked: list[str] = []

    def vault(target: str) -> Credential:
        asked.append(target)
        return Credential(user="vault-user", secret=secret)

    (outcome,) = notify.send_all([{"email": {"to": ["ops@example.com"], "smtp": {
        "host": "127.0.0.1", "port": echoing_smtp, "tls": "none",
        "passwordFromCredential": "reconcile-smtp"}}}], REPORT, credentials=vault)
    assert asked == ["reconcile-smtp"]
    assert outcome["ok"] is False and "535" in outcome["error"]
    plain = base64.b64encode(f"\0vault-user\0{secret}".encode()).decode()
    assert plain not in outcome["error"]
    assert_nowhere(secret, json.dumps(outcome))


def test_headers_from_a_file_and_the_credential_manager(elsewhere: _Server, tmp_path: Path, secret: str) -> None:
    file = tmp_path / "token"
    file.write_text("Bearer " + secret + "\n", encoding="utf-8")
    file.chmod(0o600)
    (outcome,) = notify.send_all([{"webhook": {
        "url": elsewhere.url + "/ok", "headersFromFile": {"Authorization": str(file)},
        "headersFromCredential": {"X-Api-Key": "hook-key"}}}], REPORT,
        credentials=lambda target: Credential(user="", secret="key-" + secret))
    assert outcome["ok"] is True, outcome
    headers = elsewhere.requests[0]["headers"]
    assert headers["Authorization"] == "Bearer " + secret and headers["X-Api-Key"] == "key-" + secret


def test_the_credential_manager_off_windows_says_so() -> None:
    if sys.platform == "win32":
        pytest.skip("on Windows the real Credential Manager answers")
    with pytest.raises(SecretError, match="Windows only"):
        secrets.read_windows_credential("x")


def test_decode_blob() -> None:
    assert secrets.decode_blob("pässword".encode("utf-16-le")) == "pässword"
    assert secrets.decode_blob(b"utf8-secret") == "utf8-secret"


@pytest.mark.windows
@pytest.mark.skipif(sys.platform != "win32", reason="the Windows Credential Manager")
def test_read_windows_credential_on_windows() -> None:  # pragma: no cover - Windows CI
    import ctypes
    from ctypes import wintypes

    target = f"reconcile-test-{uuid.uuid4().hex[:8]}"
    password = f"pw-{uuid.uuid4().hex}"

    class CREDENTIAL(ctypes.Structure):
        _fields_ = [("Flags", wintypes.DWORD), ("Type", wintypes.DWORD), ("TargetName", wintypes.LPWSTR),
                    ("Comment", wintypes.LPWSTR), ("LastWritten", wintypes.FILETIME),
                    ("CredentialBlobSize", wintypes.DWORD), ("CredentialBlob", ctypes.POINTER(ctypes.c_ubyte)),
                    ("Persist", wintypes.DWORD), ("AttributeCount", wintypes.DWORD),
                    ("Attributes", ctypes.c_void_p), ("TargetAlias", wintypes.LPWSTR),
                    ("UserName", wintypes.LPWSTR)]

    advapi32 = ctypes.WinDLL("advapi32", use_last_error=True)
    blob = password.encode("utf-16-le")
    buffer = (ctypes.c_ubyte * len(blob)).from_buffer_copy(blob)
    credential = CREDENTIAL(Type=1, TargetName=target, CredentialBlobSize=len(blob),
                            CredentialBlob=ctypes.cast(buffer, ctypes.POINTER(ctypes.c_ubyte)),
                            Persist=2, UserName="robot")  # CRED_PERSIST_LOCAL_MACHINE
    assert advapi32.CredWriteW(ctypes.byref(credential), 0), ctypes.get_last_error()
    try:
        assert secrets.read_windows_credential(target) == Credential(user="robot", secret=password)
    finally:
        advapi32.CredDeleteW(target, 1, 0)
    with pytest.raises(SecretError, match="no such credential"):
        secrets.read_windows_credential(target)


# --- validation and plans ------------------------------------------------------------------------------

MANIFEST = """apiVersion: reconcile/v1
kind: ScheduledTask
metadata: {{name: notified}}
spec:
  schedule: "0 5 * * *"
  actions: [{{command: C:\\\\tools\\\\job.exe}}]
  runAs: {{user: SYSTEM}}
  run:
    notify:
      onFailure:
        - {notifier}
"""


@pytest.mark.parametrize("notifier, words", [
    ("webhook: {url: 'https://h.example.com/x', urlFromEnv: HOOK_URL}", "url or urlFromEnv"),
    ("webhook: {headersFromEnv: {A: X}}", "url or urlFromEnv"),
    ("webhook: {urlFromEnv: 'not a name'}", "urlFromEnv"),
    ("webhook: {url: 'https://h.example.com/x', headersFromEnv: {A: X}, headersFromFile: {a: 'C:\\\\t'}}",
     "also given in headersFromEnv"),
    ("webhook: {url: 'https://h.example.com/x', headersFromFile: {A: 'token.txt'}}", "absolute path"),
    ("email: {to: [a@example.com], smtp: {host: m, userFromEnv: U, passwordFromEnv: P, passwordFromFile: 'C:\\\\p'}}",
     "one source"),
    ("email: {to: [a@example.com], smtp: {host: m, passwordFromFile: 'C:\\\\p'}}",
     "userFromEnv and passwordFromFile (userFromEnv is missing)"),
    ("email: {to: [a@example.com], smtp: {host: m, userFromEnv: U, passwordFromFile: 'p.txt'}}", "absolute path"),
])
def test_secret_sources_are_validated(workspace: Path, notifier: str, words: str) -> None:
    (workspace / "tasks.d" / "notified.yaml").write_text(MANIFEST.format(notifier=notifier), encoding="utf-8")
    result = run_cli("validate", cwd=workspace)
    assert result.code == 1 and words in result.err, result.err


@pytest.mark.parametrize("notifier", [
    "webhook: {urlFromEnv: HOOK_URL, headersFromCredential: {Authorization: hook-token}}",
    "email: {to: [a@example.com], smtp: {host: m, passwordFromCredential: reconcile-smtp}}",
    "email: {to: [a@example.com], smtp: {host: m, userFromEnv: U, passwordFromFile: '%ProgramData%\\\\r\\\\pw'}}",
])
def test_secret_sources_that_validate(workspace: Path, notifier: str) -> None:
    (workspace / "tasks.d" / "notified.yaml").write_text(MANIFEST.format(notifier=notifier), encoding="utf-8")
    result = run_cli("validate", cwd=workspace)
    assert result.code == 0, result.err


def test_plans_show_urls_without_their_tokens(workspace: Path, secret: str) -> None:
    notifier = f"webhook: {{url: 'https://robot:{secret}@hooks.example.com/x?token={secret}'}}"
    (workspace / "tasks.d" / "notified.yaml").write_text(MANIFEST.format(notifier=notifier), encoding="utf-8")
    assert run_cli("apply", "-q", cwd=workspace).code == 0
    changed = MANIFEST.format(notifier=notifier.replace("/x?", "/y?"))
    (workspace / "tasks.d" / "notified.yaml").write_text(changed, encoding="utf-8")
    shown = [run_cli("plan", *form, cwd=workspace) for form in ((), ("--format", "markdown"))]
    assert all(r.code == 0 for r in shown)
    assert "hooks.example.com/y?[redacted]" in shown[0].out, shown[0].out
    for result in shown:
        assert secret not in result.out + result.err


def test_a_precondition_url_is_recorded_without_its_token(secret: str) -> None:
    from reconciler.runner import conditions

    holds, reason = conditions.check([{"urlReachable": f"http://robot:{secret}@127.0.0.1:9/x?token={secret}"}])
    assert not holds and reason is not None and "127.0.0.1:9/x?[redacted]" in reason
    assert_nowhere(secret, reason)
