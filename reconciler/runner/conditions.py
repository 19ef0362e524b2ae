"""Preconditions (``run.when``): all must hold, in order, or the run is skipped.

- ``fileExists: PATH``: the file (or folder) exists (``%VAR%`` expanded);
- ``urlReachable: URL`` or ``{url, timeout}``: a GET answers 2xx (redirects followed)
  within the timeout (default 10s);
- ``command: {command, arguments, workingDirectory, timeout}``: the program exits 0
  within the timeout (default 60s; its process tree is stopped after that)."""
from __future__ import annotations

import os
import subprocess
import urllib.error
import urllib.request
from typing import Any

from . import proctree
from .paths import expand
from .secrets import redact_url

URL_TIMEOUT = 10.0
COMMAND_TIMEOUT = 60.0
USER_AGENT = "reconcile.py-runner"


def check(when: list[dict[str, Any]]) -> tuple[bool, str | None]:
    """(True, None) when every precondition holds, else (False, why the first did not)."""
    for index, item in enumerate(when or []):
        if not isinstance(item, dict) or len(item) != 1:
            return False, f"precondition {index + 1} is not understood: {item!r}"
        ((kind, body),) = item.items()
        try:
            reason = _CHECKS[kind](body) if kind in _CHECKS else f"unknown precondition {kind!r}"
        except Exception as err:  # noqa: BLE001 - a precondition that cannot be checked does not hold
            reason = f"{kind}: {type(err).__name__}: {err}"
        if reason:
            return False, f"precondition {index + 1} ({kind}) failed: {reason}"
    return True, None


def _file_exists(body: Any) -> str | None:
    path = expand(str(body)) or ""
    return None if os.path.exists(path) else f"{path} does not exist"


def _url_reachable(body: Any) -> str | None:
    if isinstance(body, dict):
        url, timeout = str(body["url"]), float(body.get("timeout", URL_TIMEOUT))
    else:
        url, timeout = str(body), URL_TIMEOUT
    request = urllib.request.Request(url, method="GET", headers={"User-Agent": USER_AGENT})
    shown = redact_url(url)  # recorded in the history: no user-info, no query string
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - http(s) only (checked at compile)
            status = response.status
    except urllib.error.HTTPError as err:
        return f"{shown} answered {err.code} {err.reason}"
    except urllib.error.URLError as err:
        return f"{shown} is not reachable: {err.reason}"
    except (OSError, ValueError) as err:
        return f"{shown} is not reachable: {err}"
    if not 200 <= status < 300:
        return f"{shown} answered {status}"
    return None


def _command(body: Any) -> str | None:
    command, arguments, cwd = proctree.expanded(body)
    timeout = float(body.get("timeout", COMMAND_TIMEOUT))
    try:
        started = proctree.start(command, arguments, cwd, subprocess.DEVNULL)
    except OSError as err:
        return f"{command} could not be started: {err}"
    code = started.wait(timeout)
    if code is None:
        started.kill_tree()
        return f"{command} did not finish within {timeout:g}s"
    return None if code == 0 else f"{command} exited with {code}"


_CHECKS = {"fileExists": _file_exists, "urlReachable": _url_reachable, "command": _command}
