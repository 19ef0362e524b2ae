"""spec.actions -> Exec and ComHandler actions; spec.runAs -> the Principal, by the rules
README's runAs table states (which account kind takes which logon type and password)."""
from __future__ import annotations

import re
from typing import Any

from . import accounts, cmdline, vocabulary
from .compile_base import Reporter
from .compile_rules import dot_account_problem
from .model import ComHandlerAction, ExecAction, Principal

_CMD_META = set('&|<>^%"')
_BATCH = (".bat", ".cmd")
_CMD = ("cmd", "cmd.exe")
# What Task Scheduler expands in Arguments (ExpandEnvironmentStrings: %NAME%).
_VARIABLE = re.compile(r"%[^%\r\n]+%")
_CONTROL = re.compile("[\x00-\x1f]")
# CreateProcessW, lpCommandLine: "The maximum length of this string is 32,767 characters,
# including the Unicode terminating null character" (Microsoft Learn).
MAX_COMMAND_LINE = 32_766


def runs_through_cmd(command: str) -> bool:
    """Whether cmd.exe runs ``command`` and re-parses its arguments: a batch file, as
    Windows resolves the name (the Win32 path rules drop trailing dots and spaces, and
    ``run.bat::$DATA`` is run.bat's own data stream), cmd.exe itself, or a name a
    ``%VARIABLE%`` supplies at run time (it may be either)."""
    name = command.strip().strip('"').replace("/", "\\").rsplit("\\", 1)[-1]
    if _VARIABLE.search(name):
        return True
    for part in name.split(":"):  # a file name, then an NTFS stream name and type
        part = part.rstrip(" .").lower()
        if part.endswith(_BATCH) or part in _CMD:
            return True
    return False


def path_problem(key: str, path: str) -> str | None:
    """A line break or another control character in a program's or folder's path: never
    meant (a tab is what ``"C:\\temp"`` becomes), and no Windows name holds one
    (characters 1 to 31: Microsoft Learn, "Naming Files, Paths, and Namespaces")."""
    if "\n" in path or "\r" in path:
        return f"{key} cannot contain a line break"
    bad = _CONTROL.search(path)
    if bad is None:
        return None
    what = "a tab" if bad.group(0) == "\t" else f"the control character U+{ord(bad.group(0)):04X}"
    return f"{key} contains {what}: no Windows file name holds a control character"


def expands_variables(argument: str) -> bool:
    """Whether Task Scheduler would replace a ``%VARIABLE%`` in ``argument``."""
    return bool(_VARIABLE.search(argument))


# --- actions -------------------------------------------------------------------------------

def compile_actions(spec: dict[str, Any], report: Reporter) -> tuple[Any, ...]:
    actions = spec.get("actions")
    if "actions" not in spec:
        report.problem(("spec",), "a task needs 'actions' (in the task or in a Defaults document)", key=True)
        return ()
    if not actions:
        return ()  # an empty list: the schema has said so
    out: list[Any] = []
    for index, action in enumerate(actions):
        if "comHandler" in action:
            handler = action["comHandler"]
            out.append(ComHandlerAction(class_id=handler["classId"], data=handler.get("data")))
        else:
            out.append(_exec(action, ("spec", "actions", index), report))
    return tuple(out)


def _exec(action: dict[str, Any], path: tuple[Any, ...], report: Reporter) -> ExecAction:
    command = action["command"]
    for key in ("command", "workingDirectory"):
        if key in action and (problem := path_problem(key, action[key])):
            report.problem(path + (key,), problem)
    arguments = action.get("arguments")
    text: str | None
    if isinstance(arguments, list):
        text = _argument_list(command, arguments, path + ("arguments",), report)
    elif isinstance(arguments, str):
        if "\n" in arguments or "\r" in arguments:
            report.problem(path + ("arguments",), "arguments cannot contain line breaks")
        text = arguments or None
    else:
        text = None
    line = len(cmdline.quote(command)) + (len(text) + 1 if text else 0)
    if line > MAX_COMMAND_LINE:
        report.problem(path + ("arguments" if text else "command",),
                       f"the command line is {line:,} characters long; Windows starts a program with at "
                       f"most {MAX_COMMAND_LINE:,} ({MAX_COMMAND_LINE + 1:,} with the terminating null, "
                       "CreateProcess): pass the data in a file instead")
    return ExecAction(command=command, arguments=text, working_directory=action.get("workingDirectory"))


def _argument_list(command: str, arguments: list[Any], path: tuple[Any, ...], report: Reporter) -> str | None:
    """A list of arguments, each quoted by the Windows command-line rules."""
    items = [str(a) for a in arguments]
    if any(isinstance(a, float) for a in arguments):
        report.problem(path, "write numbers with a decimal point in quotes ('1.10'): YAML would read 1.10 as 1.1")
    if any("\n" in a or "\r" in a for a in items):
        report.problem(path, "arguments cannot contain line breaks")
    if runs_through_cmd(command):
        bad = sorted({c for a in items for c in a if c in _CMD_META})
        if bad:
            report.problem(path, f"{command} is a batch file: cmd.exe re-parses its arguments, so "
                                 f"{' '.join(bad)} would not arrive as written; write 'arguments' as "
                                 "one string you have quoted for cmd.exe, or call a program")
    else:
        for index, item in enumerate(items):
            if expands_variables(item):
                report.problem(path + (index,), f"{item!r}: Task Scheduler expands %VARIABLE% after the list "
                                                "is quoted, so a value holding a space or a quote would split "
                                                "this argument; write 'arguments' as one string quoted for the "
                                                "value (for example '\"%TEMP%\\out.log\"')")
                break
    return cmdline.join(items) if items else None


# --- principal -----------------------------------------------------------------------------

def compile_principal(spec: dict[str, Any], report: Reporter) -> Principal | None:
    run_as = spec.get("runAs")
    path = ("spec", "runAs")
    if not run_as:
        report.problem(("spec",), "runAs is required (in the task or in a Defaults document): "
                                  "the task must not depend on who runs apply", key=True)
        return None
    user, group = run_as.get("user"), run_as.get("group")
    for key, name in (("user", user), ("group", group)):
        if problem := dot_account_problem(name):
            report.problem(path + (key,), problem)
            return None
    extras = dict(
        display_name=run_as.get("displayName"),
        process_token_sid_type=vocabulary.SID_TYPE.get(run_as.get("processTokenSidType", ""), None),
        required_privileges=tuple(run_as.get("requiredPrivileges") or ()),
        run_level=vocabulary.RUN_LEVEL.get(run_as.get("runLevel", ""), None),
    )
    if user and group:
        report.problem(path + ("group",), "runAs takes 'user' or 'group', not both", key=True)
        return None
    if not user and not group:
        report.problem(path, "runAs needs 'user' or 'group'")
        return None
    if group:
        return _group(run_as, group, extras, report)
    sid = accounts.well_known(user)
    if sid in accounts.SERVICE_SIDS:
        return _service_account(run_as, user, sid, extras, report)
    return _account(run_as, user, extras, report)


def _group(run_as: dict[str, Any], group: str, extras: dict[str, Any], report: Reporter) -> Principal | None:
    path = ("spec", "runAs")
    if run_as.get("logonType") not in (None, "group"):
        report.problem(path + ("logonType",), "a group runs with logonType group")
        return None
    if run_as.get("password"):
        report.problem(path + ("password",), "a group has no password", key=True)
        return None
    return Principal(group_id=group, **extras)


def _service_account(run_as: dict[str, Any], user: str, sid: str, extras: dict[str, Any],
                     report: Reporter) -> Principal | None:
    """SYSTEM, LOCAL SERVICE, NETWORK SERVICE: no logon type, no password."""
    path = ("spec", "runAs")
    if run_as.get("logonType") not in (None, "serviceAccount"):
        report.problem(path + ("logonType",), f"{user} is a service account: use logonType "
                                              "serviceAccount (or leave it out)")
        return None
    if run_as.get("password"):
        report.problem(path + ("password",), f"{user} needs no password", key=True)
        return None
    if extras["process_token_sid_type"] and sid == accounts.SYSTEM_SID:
        report.problem(path + ("processTokenSidType",),
                       "processTokenSidType applies only to LOCAL SERVICE and NETWORK SERVICE", key=True)
        return None
    return Principal(user_id=user, **extras)


def _account(run_as: dict[str, Any], user: str, extras: dict[str, Any], report: Reporter) -> Principal | None:
    """Any other account: a logon type, and a password for logonType password (but a
    gMSA, whose password Windows fetches itself)."""
    path = ("spec", "runAs")
    logon = run_as.get("logonType")
    password = run_as.get("password")
    if logon in (None, "serviceAccount"):
        if user.endswith("$"):
            logon = "password"  # a gMSA: Windows fetches its password itself
        elif logon == "serviceAccount":
            report.problem(path + ("logonType",), f"{user} is not a service account; use password, "
                                                  "s4u or interactive")
            return None
        else:
            report.problem(path, f"runAs.logonType is required for {user}: password, s4u or interactive")
            return None
    if logon == "group":
        report.problem(path + ("logonType",), "logonType group needs 'group', not 'user'")
        return None
    password_env = None
    if password:
        if logon not in vocabulary.PASSWORD_LOGONS:
            report.problem(path + ("password",), f"a password is used only with logonType password, "
                                                 f"not {logon}", key=True)
            return None
        password_env = password["fromEnv"]
    elif logon in vocabulary.PASSWORD_LOGONS and not user.endswith("$"):
        report.problem(path, f"logonType {logon} needs password: {{fromEnv: VARIABLE}} "
                             "(a gMSA account ending in $ needs none)")
        return None
    return Principal(user_id=user, logon_type=vocabulary.LOGON[logon], password_env=password_env, **extras)
