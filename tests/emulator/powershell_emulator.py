#!/usr/bin/env python3
"""A stand-in for powershell.exe that accepts exactly one invocation: the fixed
Register-ScheduledTask script reconcile.py uses for a task with a password
(reconciler/backends/powershell.py). Point the backend at it with
``RECONCILE_POWERSHELL=/path/to/powershell_emulator.py``.

It registers into the same emulated machine as schtasks_emulator.py (same state folder,
same lock, same storage: it calls that module's Machine.register), so ``schtasks /Query``
reads back what it registered.

The invocation it accepts:
  powershell -NoProfile -NonInteractive -ExecutionPolicy Bypass -Command SCRIPT
where SCRIPT has no double quote (Windows PowerShell 5.1 drops them from -Command
arguments) and no .NET method call (Constrained Language Mode forbids them), reads the password from $env:RECONCILE_TASK_PASSWORD and removes it from
the environment, and calls Register-ScheduledTask with -Xml, -TaskName
$env:RECONCILE_TASK_NAME, -TaskPath $env:RECONCILE_TASK_FOLDER, -User
$env:RECONCILE_TASK_USER, -Password and -Force; the XML is read from the file named by
$env:RECONCILE_TASK_XML.

It refuses (exit 1, "ERROR: emulator: …") any other argv, a password that appears in
argv or in the XML file, a missing password variable, and on POSIX an XML file that
others could read. On success the task's entry in index.json records
``credentials: {"user": USER, "sha256": sha256(password)}``, never the password.

Environment:
  SCHTASKS_EMULATOR_STATE, _SEED, …   as schtasks_emulator.py (the same machine)
  POWERSHELL_EMULATOR_FAULT           comma-separated faults:
      fail     Register-ScheduledTask fails, and its message ECHOES THE PASSWORD (to
               stdout and stderr), so tests prove the caller scrubs it
      hang     sleep for POWERSHELL_EMULATOR_HANG_SECONDS (default 3600) first

Every invocation is logged to powershell.log in the state folder: one JSON line with
argv and the NAMES of the RECONCILE_TASK_* variables it received (values never).
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import sys
import time
from pathlib import Path
from typing import IO, Mapping

_HERE = Path(__file__).resolve().parent
if str(_HERE) not in sys.path:
    sys.path.insert(0, str(_HERE))

import schtasks_emulator as schtasks  # noqa: E402
import windows_rules as rules  # noqa: E402

ENV = "POWERSHELL_EMULATOR_"
PASSWORD = "RECONCILE_TASK_PASSWORD"
XML, NAME, FOLDER, USER = "RECONCILE_TASK_XML", "RECONCILE_TASK_NAME", "RECONCILE_TASK_FOLDER", "RECONCILE_TASK_USER"
SWITCHES = ("-noprofile", "-noninteractive", "-executionpolicy", "bypass", "-command")
# What the script must say, as regular expressions over its text.
REQUIRED = {
    "reads the password from the environment": rf"\$env:{PASSWORD}\b",
    "removes the password from the environment": rf"Remove-Item\s+(-LiteralPath\s+)?Env:{PASSWORD}\b",
    "calls Register-ScheduledTask": r"\bRegister-ScheduledTask\b",
    "reads the XML file": rf"Get-Content\s+-LiteralPath\s+\$env:{XML}\s+-Raw\b",
    "passes -Xml": r"-Xml\s+\$\w+",
    "passes -TaskName from the environment": rf"-TaskName\s+\$env:{NAME}\b",
    "passes -TaskPath from the environment": rf"-TaskPath\s+\$env:{FOLDER}\b",
    "passes -User from the environment": rf"-User\s+\$env:{USER}\b",
    "passes -Password": r"-Password\s+\$\w+",
    "passes -Force": r"-Force\b",
}


class Refused(Exception):
    pass


def check_invocation(argv: list[str], password: str) -> str:
    """The script, if ``argv`` is exactly the accepted invocation; Refused otherwise."""
    if password and any(password in arg for arg in argv):
        raise Refused("the password is on the command line")
    if len(argv) != len(SWITCHES) + 1 or [a.lower() for a in argv[:-1]] != list(SWITCHES):
        raise Refused(f"expected {' '.join(SWITCHES)} SCRIPT, got {argv!r}")
    script = argv[-1]
    if '"' in script:
        raise Refused("the script holds a double quote (Windows PowerShell 5.1 drops them)")
    if re.search(r"\[[\w.]+\]::", script):
        raise Refused("the script calls .NET (refused under Constrained Language Mode)")
    for what, pattern in REQUIRED.items():
        if not re.search(pattern, script, re.IGNORECASE):
            raise Refused(f"the script never {what}")
    return script


def read_task_file(name: str, password: str) -> str:
    if not name:
        raise Refused(f"${XML} is not set")
    file = Path(name)
    try:
        raw = file.read_bytes()
    except OSError as err:
        raise Refused(f"cannot read the task XML {name}: {err.strerror}") from None
    if sys.platform != "win32":
        for path, allowed in ((file, 0o600), (file.parent, 0o700)):
            mode = stat.S_IMODE(path.stat().st_mode)
            if mode & ~allowed:
                raise Refused(f"{path} is readable by others (mode {mode:o})")
    text = rules.decode_task_file(raw)
    if password and password in text:
        raise Refused("the password is written in the task XML file")
    return text


def fingerprint(password: str) -> str:
    return hashlib.sha256(password.encode("utf-8")).hexdigest()


def _log(env: Mapping[str, str], argv: list[str]) -> None:
    store = schtasks.Store(Path(env[schtasks.ENV + "STATE"]))
    store.root.mkdir(parents=True, exist_ok=True)
    received = sorted(k for k in env if k.startswith("RECONCILE_TASK_"))
    with store.locked():
        with open(store.root / "powershell.log", "a", encoding="utf-8") as log:
            log.write(json.dumps({"argv": argv, "env": received, "pid": os.getpid(),
                                  "time": time.time()}, ensure_ascii=False) + "\n")


def _execute(argv: list[str], env: Mapping[str, str], console: schtasks.Console) -> int:
    if not env.get(schtasks.ENV + "STATE"):
        console.error("ERROR: emulator: set SCHTASKS_EMULATOR_STATE to the emulated machine's folder")
        return 1
    _log(env, argv)
    faults = [f.strip() for f in env.get(ENV + "FAULT", "").split(",") if f.strip()]
    if "hang" in faults:
        time.sleep(float(env.get(ENV + "HANG_SECONDS", "3600")))
        return 1
    password = env.get(PASSWORD, "")
    try:
        check_invocation(argv, password)
        if PASSWORD not in env:
            raise Refused(f"${PASSWORD} is not in the environment")
        text = read_task_file(env.get(XML, ""), password)
        user, folder, name = env.get(USER, ""), env.get(FOLDER, ""), env.get(NAME, "")
        if not user or not name or not folder.startswith("\\") or not folder.endswith("\\"):
            raise Refused(f"${USER}, ${NAME} and ${FOLDER} (\\like\\this\\) must be set")
    except Refused as err:
        console.error(f"ERROR: emulator: {err}")
        return 1
    if "fail" in faults:
        # A hostile message: real cmdlets should never echo a password, but if one
        # did, the caller must still not show it. The script's catch writes "ERROR: …"
        # to stdout; PowerShell itself may add an error record on stderr.
        console.print(f"ERROR: The user name or password is incorrect. (password: {password})")
        console.error(f"Register-ScheduledTask : rejected password {password}")
        return 1
    with schtasks.open_machine(env, console) as machine:
        try:
            # Register-ScheduledTask -Force creates or replaces; -User/-Password store the
            # credentials for that account (Principal/UserId follows -User) [GUESS].
            machine.register(folder + name, text, force=True, run_as=user, password=bool(password),
                             credentials={"user": user, "sha256": fingerprint(password)})
        except rules.SchedError as err:
            console.print(err.text().splitlines()[0])  # as the script's catch writes it
            return 1
    return 0


def main(argv: list[str] | None = None, env: Mapping[str, str] | None = None,
         stdout: IO[bytes] | None = None, stderr: IO[bytes] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    env = os.environ if env is None else env
    console = schtasks.Console()
    code = _execute(argv, env, console)
    out = stdout if stdout is not None else sys.stdout.buffer
    err = stderr if stderr is not None else sys.stderr.buffer
    # UTF-8 [GUESS: Windows PowerShell writes a pipe in the OEM code page; the caller
    # decodes UTF-8 first, then that code page].
    out.write("".join(console.out).encode("utf-8"))
    err.write("".join(console.err).encode("utf-8"))
    out.flush()
    err.flush()
    return code


if __name__ == "__main__":
    sys.exit(main())
