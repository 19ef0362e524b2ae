"""Failure notifications (``run.notify.onFailure``), sent once after the last attempt.

- ``email: {to, from, subject, smtp: {host, port, tls, userFromEnv, passwordFromEnv, timeout}}``:
  ``tls: auto`` (default) uses STARTTLS when the server offers it; ``starttls`` requires
  it; ``ssl`` is TLS from the first byte (port 465); ``none`` never encrypts. A login is
  never sent over an unencrypted connection unless ``tls: none`` says so. The user and
  password come from the environment variables named, read now (at run time).
- ``webhook: {url, headersFromEnv: {Header: VARIABLE}, timeout}``: one JSON POST.

A notification that fails is reported back (and logged by the caller); it never changes
the run's result or exit code. Passwords and header values never appear in messages."""
from __future__ import annotations

import json
import os
import smtplib
import socket
import ssl
import urllib.error
import urllib.request
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any

TIMEOUT = 30.0
USER_AGENT = "reconcile.py-runner"


class NotifyError(Exception):
    pass


def send_all(entries: list[dict[str, Any]], report: dict[str, Any], tail: str = "") -> list[dict[str, Any]]:
    """Send every notification; one outcome per entry: {kind, target, ok, error?}."""
    outcomes = []
    for entry in entries or []:
        if not isinstance(entry, dict) or len(entry) != 1:
            outcomes.append({"kind": "?", "target": "", "ok": False, "error": "not understood"})
            continue
        ((kind, body),) = entry.items()
        target = ", ".join(body.get("to", [])) if kind == "email" else str(body.get("url", ""))
        outcome: dict[str, Any] = {"kind": kind, "target": target, "ok": True}
        try:
            if kind == "email":
                send_email(body, report, tail)
            elif kind == "webhook":
                send_webhook(body, report)
            else:
                raise NotifyError(f"unknown notification {kind!r}")
        except Exception as err:  # noqa: BLE001 - reported, never raised: the run's result stands
            outcome["ok"] = False
            outcome["error"] = _describe(err)
        outcomes.append(outcome)
    return outcomes


def _describe(err: BaseException) -> str:
    if isinstance(err, NotifyError):
        return str(err)
    if isinstance(err, smtplib.SMTPResponseException):
        text = err.smtp_error.decode("utf-8", "replace") if isinstance(err.smtp_error, bytes) else str(err.smtp_error)
        return f"SMTP {err.smtp_code}: {text}"
    if isinstance(err, urllib.error.HTTPError):
        return f"HTTP {err.code} {err.reason}"
    if isinstance(err, urllib.error.URLError):
        return f"not reachable: {err.reason}"
    return f"{type(err).__name__}: {err}"


def _env(name: str | None, what: str) -> str | None:
    if not name:
        return None
    value = os.environ.get(name)
    if value is None:
        raise NotifyError(f"the environment variable {name} ({what}) is not set")
    return value


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


def send_email(config: dict[str, Any], report: dict[str, Any], tail: str = "") -> None:
    smtp = config.get("smtp") or {}
    host = str(smtp.get("host", ""))
    if not host:
        raise NotifyError("email: smtp.host is missing")
    tls = str(smtp.get("tls", "auto"))
    port = int(smtp.get("port") or {"ssl": 465, "none": 25}.get(tls, 587))
    timeout = float(smtp.get("timeout", TIMEOUT))
    user = _env(smtp.get("userFromEnv"), "SMTP user")
    password = _env(smtp.get("passwordFromEnv"), "SMTP password")
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


def _address(sender: str) -> str:
    if "<" in sender and sender.endswith(">"):
        return sender[sender.rindex("<") + 1:-1]
    return sender


def send_webhook(config: dict[str, Any], report: dict[str, Any]) -> None:
    url = str(config.get("url", ""))
    if not url.lower().startswith(("http://", "https://")):
        raise NotifyError(f"webhook: {url!r} is not an http(s) URL")
    headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
    for header, variable in (config.get("headersFromEnv") or {}).items():
        headers[str(header)] = _env(str(variable), f"header {header}") or ""
    body = json.dumps({"event": "reconcile.run.failed", **report}, ensure_ascii=False).encode("utf-8")
    request = urllib.request.Request(url, data=body, method="POST", headers=headers)
    timeout = float(config.get("timeout", TIMEOUT))
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - http(s) only
        status = response.status
    if not 200 <= status < 300:
        raise NotifyError(f"webhook: {url} answered {status}")
