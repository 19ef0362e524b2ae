"""How each kind of account is registered through ``ITaskFolder::RegisterTask``: the
``userId``, ``password`` and ``logonType`` arguments, each the way Microsoft documents it.

Sources (Microsoft Learn unless said otherwise):
- "ITaskFolder::RegisterTask method": ``userId`` and ``password`` are VARIANTs; "When
  the TASK_LOGON_SERVICE_ACCOUNT logon type is used, the password must be an empty
  VARIANT value such as VT_NULL or VT_EMPTY".
- "TASK_LOGON_TYPE enumeration" and "Principal.LogonType property": PASSWORD (1)
  "The password must be supplied at registration time"; S4U (2) "no password is
  stored by the system"; INTERACTIVE_TOKEN (3); GROUP (4) "The groupId field specifies
  the group"; SERVICE_ACCOUNT (5) "Local System, Local Service, or Network Service";
  INTERACTIVE_TOKEN_OR_PASSWORD (6).
- "Boot Trigger Example (C++)": ``Local Service`` with an empty password and
  TASK_LOGON_SERVICE_ACCOUNT; "Logon Trigger Example (C++)": the Administrators group
  with an empty password and TASK_LOGON_GROUP.
- A group managed service account (``DOMAIN\\name$``) fetches its own password from the
  domain: Microsoft's "Windows Server 2012: Group Managed Service Accounts" (Ask
  Premier Field Engineering Platforms blog) says a gMSA "can be used for scheduled
  tasks", registered through ``New-ScheduledTaskPrincipal`` with no password; Ansible's
  ``win_scheduled_task``, which calls RegisterTaskDefinition, documents it for the API
  ("A gMSA can be used by setting logon_type to password and omitting the password").
  So: TASK_LOGON_PASSWORD, the account, and an empty password VARIANT.

The account is passed as the task XML names it (a SID for well-known accounts, the name
as written otherwise), so the principal registered is the one the XML describes."""
from __future__ import annotations

from dataclasses import dataclass

from ..accounts import SERVICE_SIDS, well_known
from ..taskxml import TaskXmlError, children, localname, parse, text_of

TASK_LOGON_NONE = 0
TASK_LOGON_PASSWORD = 1
TASK_LOGON_S4U = 2
TASK_LOGON_INTERACTIVE_TOKEN = 3
TASK_LOGON_GROUP = 4
TASK_LOGON_SERVICE_ACCOUNT = 5
TASK_LOGON_INTERACTIVE_TOKEN_OR_PASSWORD = 6

_BY_XML = {
    "Password": TASK_LOGON_PASSWORD,
    "S4U": TASK_LOGON_S4U,
    "InteractiveToken": TASK_LOGON_INTERACTIVE_TOKEN,
    "InteractiveTokenOrPassword": TASK_LOGON_INTERACTIVE_TOKEN_OR_PASSWORD,
}


@dataclass(frozen=True)
class Logon:
    """RegisterTask's credential arguments for one task (the password travels apart)."""

    user: str | None  # None: no account given, the XML's principal (or the caller) stands
    logon_type: int
    kind: str  # for messages: "service account", "group", "gMSA", ...
    takes_password: bool  # whether a password goes with this kind


def _principal(xml: str) -> dict[str, str]:
    """The first Principal's children by name (UserId, GroupId, LogonType), or {}."""
    try:
        task = parse(xml, "task XML")
    except TaskXmlError:
        return {}
    for principals in (c for c in children(task) if localname(c) == "Principals"):
        for principal in (c for c in children(principals) if localname(c) == "Principal"):
            return {localname(c): text_of(c).strip() for c in children(principal)}
    return {}


def logon_for(xml: str, password: str | None) -> Logon:
    """The account kind of the task's principal and how RegisterTask takes it."""
    fields = _principal(xml)
    user, group = fields.get("UserId", ""), fields.get("GroupId", "")
    logon = fields.get("LogonType", "")
    if group and not user:
        return Logon(group, TASK_LOGON_GROUP, "group", False)
    if not user:
        # No principal: registered for the caller, as schtasks /Create does.
        return Logon(None, TASK_LOGON_NONE, "caller", False)
    if well_known(user) in SERVICE_SIDS:
        return Logon(user, TASK_LOGON_SERVICE_ACCOUNT, "service account", False)
    kind = _BY_XML.get(logon, TASK_LOGON_INTERACTIVE_TOKEN)
    if kind in (TASK_LOGON_PASSWORD, TASK_LOGON_INTERACTIVE_TOKEN_OR_PASSWORD):
        if password is None and user.endswith("$"):
            return Logon(user, TASK_LOGON_PASSWORD, "gMSA", False)
        return Logon(user, kind, "password logon", True)
    if kind == TASK_LOGON_S4U:
        return Logon(user, kind, "S4U", False)
    return Logon(user, TASK_LOGON_INTERACTIVE_TOKEN, "interactive", False)
