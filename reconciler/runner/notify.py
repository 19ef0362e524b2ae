"""Failure notifications (``run.notify.onFailure``), sent once after the last attempt.

- ``email: {to, from, subject, smtp: {host, port, tls, userFromEnv, passwordFromEnv |
  passwordFromFile | passwordFromCredential, timeout}}``: ``tls: auto`` (default) uses
  STARTTLS when the server offers it; ``starttls`` requires it; ``ssl`` is TLS from the
  first byte (port 465); ``none`` never encrypts. A login is never sent over an
  unencrypted connection unless ``tls: none`` says so.
- ``webhook: {url | urlFromEnv, headersFromEnv | headersFromFile | headersFromCredential:
  {Header: source}, timeout}``: one JSON POST. A redirect is a failure, never followed:
  it could carry the headers (a token) to another origin.

Secrets are read now, at run time, from the sources ``secrets`` describes. A
notification that fails is reported back (and logged by the caller); it never changes
the run's result or exit code. Every secret read is redacted, in any spelling, from what
is reported (``secrets.Redactor``), and URLs are shown without user-info or query.
``timeout`` bounds the whole notification (a server that trickles its answer byte by
byte cannot hold the task's lock longer)."""
from __future__ import annotations

import json
import smtplib
import socket
import ssl
import threading
import urllib.error
import urllib.parse
import urllib.request
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any, Callable

from . import secrets
from .secrets import CredentialReader, Redactor, SecretError, redact_url

TIMEOUT = 30.0
USER_AGENT = "reconcile.py-runner"


class NotifyError(Exception):
    pass


def send_all(entries: list[dict[str, Any]], report: dict[str, Any], tail: str = "",
             credentials: CredentialReader | None = None) -> list[dict[str, Any]]:
    """Send every notification; one outcome per entry: {kind, target, ok, error?}.
    ``credentials`` reads the Windows Credential Manager (a seam for tests)."""
    outcomes = []
    for entry in entries or []:
        if not isinstance(entry, dict) or len(entry) != 1:
            outcomes.append({"kind": "?", "target": "", "ok": False, "error": "not understood"})
            continue
        ((kind, body),) = entry.items()
        redactor = Redactor()
        outcome: dict[str, Any] = {"kind": kind, "target": _target(kind, body), "ok": True}
        try:
            if kind not in ("email", "webhook"):
                raise NotifyError(f"unknown notification {kind!r}")
            send = send_email if kind == "email" else send_webhook
            timeout = _timeout(body.get("smtp") if kind == "email" else body)
            within(timeout, lambda abort: send(body, report, tail, redactor=redactor,
                                                credentials=credentials, abort=abort))
        except Exception as err:  # noqa: BLE001 - reported, never raised: the run's result stands
            outcome["ok"] = False
            outcome["error"] = redactor.redact(_describe(err))
        outcome["target"] = redactor.redact(outcome["target"])
        outcomes.append(outcome)
    return outcomes


def _target(kind: str, body: Any) -> str:
    if not isinstance(body, dict):
        return ""
    if kind == "email":
        recipients = body.get("to", [])
        return ", ".join(str(r) for r in (recipients if isinstance(recipients, list) else [recipients]))
    if body.get("urlFromEnv"):
        return f"(the URL in {body['urlFromEnv']})"
    return redact_url(str(body.get("url", "")))


def _timeout(config: Any) -> float:
    value = config.get("timeout", TIMEOUT) if isinstance(config, dict) else TIMEOUT
    try:
        return max(0.1, float(value))
    except (TypeError, ValueError):
        return TIMEOUT


def within(seconds: float, action: Callable[[list[Callable[[], None]]], None]) -> None:
    """Run ``action`` with a total deadline: past it, the notification has failed, and
    whatever ``action`` registered in its abort list (closing its connection) is called.
    A per-read socket timeout alone is no bound: a server may answer a byte at a time.
    Also the pull agent's webhook."""
    aborts: list[Callable[[], None]] = []
    outcome: dict[str, BaseException] = {}

    def run() -> None:
        try:
            action(aborts)
        except BaseException as err:  # noqa: BLE001 - handed to the caller's thread
            outcome["error"] = err

    worker = threading.Thread(target=run, name="notify", daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        for abort in aborts:
            try:
                abort()
            except Exception:  # noqa: BLE001 - best effort: the deadline has passed anyway
                pass
        raise NotifyError(f"no complete answer within {seconds:g}s (timeout bounds the whole notification)")
    if "error" in outcome:
        raise outcome["error"]


def _describe(err: BaseException) -> str:
    if isinstance(err, (NotifyError, SecretError)):
        return str(err)
    if isinstance(err, smtplib.SMTPResponseException):
        text = err.smtp_error.decode("utf-8", "replace") if isinstance(err.smtp_error, bytes) else str(err.smtp_error)
        return f"SMTP {err.smtp_code}: {text}"
    if isinstance(err, urllib.error.HTTPError):
        return f"HTTP {err.code} {err.reason}"
    if isinstance(err, urllib.error.URLError):
        return f"not reachable: {err.reason}"
    return f"{type(err).__name__}: {err}"


def _read(kind: str, source: str, what: str, redactor: Redactor,
          credentials: CredentialReader | None) -> tuple[str, str | None]:
    """A secret from one source (``Env``, ``File`` or ``Credential``), remembered by the
    redactor; with the credential's user name where it came from the Credential Manager."""
    user = None
    if kind == "Env":
        value = secrets.from_env(source, what)
    elif kind == "File":
        value = secrets.from_file(source, what)
    else:
        credential = (credentials or secrets.read_windows_credential)(source)
        value, user = credential.secret, credential.user
        redactor.add(user)
    redactor.add(value)
    return value, user


def _secret(config: dict[str, Any], name: str, what: str, redactor: Redactor,
            credentials: CredentialReader | None) -> tuple[str | None, str | None]:
    """The secret ``name`` (``password``, ``user``) from the source the config names
    (``nameFromEnv``, ``nameFromFile`` or ``nameFromCredential``), or (None, None)."""
    for kind in ("Env", "File", "Credential"):
        source = config.get(f"{name}From{kind}")
        if source:
            return _read(kind, str(source), what, redactor, credentials)
    return None, None


def subject(report: dict[str, Any]) -> str:
    code = report.get("exitCode")
    return (f"[reconcile.py] {report.get('task')} failed on {report.get('host')}"
            + (f" (exit code {code})" if code is not None else ""))


def body_text(report: dict[str, Any], tail: str) -> str:
    lines = [
        f"Task:      {report.get('task')}",
        f"Host:      {report.get('host')}",
        f"Result:    {report.get('result')}" + (f" (exit code {report.get('exitCode')})"
                                                 if report.get("exitCode") is not None else ""),
        f"Started:   {report.get('start')}",
        f"Ended:     {report.get('end')}",
        f"Attempts:  {report.get('attemptCount')}",
    ]
    if report.get("reason"):
        lines.append(f"Reason:    {report['reason']}")
    if report.get("log"):
        lines.append(f"Log file:  {report['log']}")
    lines.append(f"Run id:    {report.get('run')}")
    if tail:
        lines += ["", "Last lines of the log:", "", tail.rstrip("\n")]
    return "\n".join(lines) + "\n"


def send_email(config: dict[str, Any], report: dict[str, Any], tail: str = "", *,
               redactor: Redactor | None = None, credentials: CredentialReader | None = None,
               abort: list[Callable[[], None]] | None = None) -> None:
    redactor = redactor or Redactor()
    smtp = config.get("smtp") or {}
    host = str(smtp.get("host", ""))
    if not host:
        raise NotifyError("email: smtp.host is missing")
    tls = str(smtp.get("tls", "auto"))
    port = int(smtp.get("port") or {"ssl": 465, "none": 25}.get(tls, 587))
    timeout = _timeout(smtp)
    password, credential_user = _secret(smtp, "password", "SMTP password", redactor, credentials)
    user = _secret(smtp, "user", "SMTP user", redactor, credentials)[0]
    if user is None:
        user = credential_user
    if user is not None and password is not None:
        redactor.add_login(user, password)
    sender = str(config.get("from") or f"reconcile.py <reconcile@{socket.gethostname() or 'localhost'}>")
    recipients = [str(r) for r in config.get("to", [])]
    if not recipients:
        raise NotifyError("email: 'to' lists nobody")
    message = EmailMessage()
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Subject"] = str(config.get("subject") or subject(report))
    message["Date"] = formatdate(localtime=True)
    message["Message-ID"] = make_msgid(domain=(sender.rsplit("@", 1)[-1].strip(">") or None))
    message.set_content(body_text(report, tail))
    context = ssl.create_default_context()
    client: smtplib.SMTP
    if tls == "ssl":
        client = smtplib.SMTP_SSL(host, port, timeout=timeout, context=context)
    else:
        client = smtplib.SMTP(host, port, timeout=timeout)
    if abort is not None:
        abort.append(lambda: _shut(client.sock))
    with client:
        client.ehlo()
        encrypted = tls == "ssl"
        if tls in ("auto", "starttls") and client.has_extn("starttls"):
            client.starttls(context=context)
            client.ehlo()
            encrypted = True
        elif tls == "starttls":
            raise NotifyError(f"email: {host}:{port} does not offer STARTTLS (tls: starttls requires it)")
        if user is not None or password is not None:
            if not encrypted and tls != "none":
                raise NotifyError(f"email: {host}:{port} offers no encryption; refusing to send the "
                                  "login in clear text (set tls: none to allow it)")
            client.login(user or "", password or "")
        client.send_message(message, from_addr=_address(sender), to_addrs=recipients)


def _shut(sock: socket.socket | None) -> None:
    """End a connection another thread is blocked on (close alone does not wake it)."""
    if sock is not None:
        sock.shutdown(socket.SHUT_RDWR)
        sock.close()


def _address(sender: str) -> str:
    if "<" in sender and sender.endswith(">"):
        return sender[sender.rindex("<") + 1:-1]
    return sender


class NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is a failure: following it would send the headers (a token) and the
    body to wherever the server points, another origin included. Also the pull agent's."""

    def redirect_request(self, req: urllib.request.Request, fp: Any, code: int, msg: str, headers: Any,
                         newurl: str) -> urllib.request.Request | None:
        raise NotifyError(f"answered {code} (a redirect to {redact_url(newurl)}); redirects are not "
                          "followed: set the URL to where the hook really is")


def _headers(config: dict[str, Any], redactor: Redactor,
             credentials: CredentialReader | None) -> dict[str, str]:
    """Header values from their sources; a value with a line break is refused (it would
    forge headers, and the error would carry the value)."""
    out: dict[str, str] = {}
    for kind in ("Env", "File", "Credential"):
        for header, source in (config.get(f"headersFrom{kind}") or {}).items():
            what = f"header {header}"
            value = _read(kind, str(source), what, redactor, credentials)[0]
            if any(c in value for c in "\r\n\0"):
                raise NotifyError(f"webhook: the value of {what} (from {source}) holds a line break or NUL; "
                                  "refused")
            out[str(header)] = value
    return out


def send_webhook(config: dict[str, Any], report: dict[str, Any], tail: str = "", *,
                 redactor: Redactor | None = None, credentials: CredentialReader | None = None,
                 abort: list[Callable[[], None]] | None = None) -> None:
    redactor = redactor or Redactor()
    if config.get("urlFromEnv"):
        url = redactor.add_url(secrets.from_env(str(config["urlFromEnv"]), "webhook URL")) or ""
        shown = f"the URL in {config['urlFromEnv']}"
    else:
        url = str(config.get("url", ""))
        shown = redact_url(url)
    if not url.lower().startswith(("http://", "https://")):
        raise NotifyError(f"webhook: {shown} is not an http(s) URL")
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url):
        # http.client would refuse it with an error quoting the path and query, tokens and all.
        raise NotifyError(f"webhook: {shown} holds a space or a control character; percent-encode it")
    headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
    headers.update(_headers(config, redactor, credentials))
    body = json.dumps({"event": "reconcile.run.failed", **report}, ensure_ascii=False).encode("utf-8")
    request = urllib.request.Request(url, data=body, method="POST", headers=headers)
    opener = urllib.request.build_opener(NoRedirect)
    with opener.open(request, timeout=_timeout(config)) as response:  # noqa: S310 - http(s) only
        status = response.status
    if not 200 <= status < 300:
        raise NotifyError(f"webhook: {shown} answered {status}")
