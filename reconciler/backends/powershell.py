"""Registering a task that has a password without putting the password on any command line.

schtasks takes a password only after ``/RP``, on its command line, where every user of
the machine can read it (process listings; audit events that record command lines). A
task with a password is therefore registered through PowerShell's
``Register-ScheduledTask``:

- the command line is fixed: ``powershell.exe -NoProfile -NonInteractive -ExecutionPolicy
  Bypass -Command SCRIPT``, the same SCRIPT for every task;
- the task XML (which holds no password) goes through a private temporary file (0600 in a
  0700 folder; on Windows the user's own temp folder), removed afterwards;
- the password goes ONLY through the child's environment (``RECONCILE_TASK_PASSWORD``);
  the script reads it and removes it from its environment before it does anything else;
- the task's name, folder and user travel in the environment too, so no value is ever
  quoted into the script (no quoting traps);
- every message built from the child's output is scrubbed of the password.

``RECONCILE_POWERSHELL`` names the executable (default ``powershell.exe`` on PATH; a
``.py`` file is run with this Python, for tests/emulator/powershell_emulator.py)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys

from ..errors import BackendError
from ..render import to_utf16_file
from .schtasks_output import console_codepage, decode_output, error_text, format_exit
from .processes import NO_WINDOW, private_file

ENV_EXECUTABLE = "RECONCILE_POWERSHELL"
DEFAULT_EXECUTABLE = "powershell.exe"

# The child's environment: names the script reads (and the emulator checks).
VAR_PASSWORD = "RECONCILE_TASK_PASSWORD"
VAR_XML = "RECONCILE_TASK_XML"
VAR_NAME = "RECONCILE_TASK_NAME"
VAR_FOLDER = "RECONCILE_TASK_FOLDER"
VAR_USER = "RECONCILE_TASK_USER"

# One line, single quotes only: Windows PowerShell 5.1 re-parses its command line and
# drops double quotes inside -Command, so the script must need none. Cmdlets only, no
# .NET calls, so that it also runs under Constrained Language Mode (AppLocker / WDAC
# servers). Errors go to stdout as "ERROR: …" lines, which error_text picks out. The
# password is moved out of the environment first, so nothing the cmdlet starts can
# inherit it.
SCRIPT = "; ".join((
    "$ErrorActionPreference = 'Stop'",
    f"$secret = $env:{VAR_PASSWORD}",
    f"Remove-Item -LiteralPath Env:{VAR_PASSWORD} -ErrorAction SilentlyContinue",
    "$code = 0",
    "try { "
    f"$xml = Get-Content -LiteralPath $env:{VAR_XML} -Raw; "
    f"$null = Register-ScheduledTask -Xml $xml -TaskName $env:{VAR_NAME} -TaskPath $env:{VAR_FOLDER} "
    f"-User $env:{VAR_USER} -Password $secret -Force "
    "} catch { Write-Output ('ERROR: ' + $_.Exception.Message); $code = 1 } "
    "finally { $secret = $null }",
    "exit $code",
))
ARGUMENTS = ("-NoProfile", "-NonInteractive", "-ExecutionPolicy", "Bypass", "-Command", SCRIPT)


def executable() -> str:
    """The PowerShell to run: ``RECONCILE_POWERSHELL``, else ``powershell.exe``."""
    return os.environ.get(ENV_EXECUTABLE) or DEFAULT_EXECUTABLE


def command(program: str) -> list[str]:
    """The argv that starts ``program`` (before ARGUMENTS); BackendError if it is not there."""
    named = f"{ENV_EXECUTABLE}={program}" if os.environ.get(ENV_EXECUTABLE) else program
    if program.lower().endswith(".py"):
        if not os.path.isfile(program):
            raise BackendError(f"{named}: no such file")
        return [sys.executable, program]
    found = shutil.which(program)
    if found is None:
        where = "" if os.path.sep in program or (os.altsep and os.altsep in program) else " on PATH"
        raise BackendError(
            f"{named} was not found{where}: a task with a password is registered through "
            f"PowerShell's Register-ScheduledTask (set {ENV_EXECUTABLE} to the PowerShell to use)")
    return [found]


def scrub(text: str, password: str) -> str:
    """``text`` with every trace of ``password`` replaced by ``***``: as is, and as its
    UTF-8 bytes would read in the console code page or Latin-1 (output decoded with the
    wrong code page still must not leak it)."""
    if not password:
        return text
    raw = password.encode("utf-8")
    variants = {password, raw.decode("latin-1")}
    try:
        variants.add(raw.decode(console_codepage(), errors="replace"))
    except LookupError:  # pragma: no cover - a console code page Python does not know
        pass
    for variant in sorted(variants, key=len, reverse=True):
        if variant:
            text = text.replace(variant, "***")
    return text


def child_environment(xml_file: str, folder: str, name: str, user: str, password: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update({VAR_XML: xml_file, VAR_FOLDER: folder, VAR_NAME: name, VAR_USER: user,
                VAR_PASSWORD: password})
    return env


def register_with_password(path: str, xml: str, user: str, password: str, *,
                           executable: str, timeout: float) -> None:
    """Create or replace the task at ``path`` (``\\Root\\Folder\\name``) from ``xml``,
    storing ``password`` for ``user``. Raises BackendError with one line naming the task,
    never the password."""
    folder, _, name = path.rpartition("\\")
    what = f"{path}: PowerShell Register-ScheduledTask"
    argv = command(executable) + list(ARGUMENTS)
    with private_file(to_utf16_file(xml)) as file:
        env = child_environment(str(file), folder + "\\", name, user, password)
        try:
            result = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, env=env, timeout=timeout,
                                    shell=False, check=False, creationflags=NO_WINDOW)
        except subprocess.TimeoutExpired:
            raise BackendError(f"{what} timed out after {timeout:g} s (the process was stopped)") from None
        except OSError as err:
            raise BackendError(scrub(f"{what} could not be started: {err.strerror or err}", password)) from None
        finally:
            env.clear()  # our copy of the password goes as soon as the child has it
    if result.returncode != 0:
        message = error_text(decode_output(result.stdout), decode_output(result.stderr))
        raise BackendError(scrub(f"{what} failed (exit {format_exit(result.returncode)}): {message}", password))
