"""Live task -> manifest (``reconcile.py import``): minimal (defaults left out), readable
(``15m``, explicit trigger forms), marked ``adopt: true``, never a password.

The contract is the round trip: for every task the format can express,
``canonical(render(compile(import(x)))) == canonical(x)``. A task it cannot express
(deprecated SendEmail/ShowMessage actions, a task that names no account, an element
reconcile.py does not know) is refused with a message that names the element."""
from __future__ import annotations

import re
from typing import Any

from lxml import etree

from . import accounts, cmdline, names, normalize, tasksettings, vocabulary, workflow
from .compile_actions import expands_variables, runs_through_cmd
from .import_base import NotRepresentable, only, short_duration
from .import_triggers import to_trigger
from .taskxml import children, localname
from .vocabulary import DUR

__all__ = ["NotRepresentable", "to_manifest"]

_LOGON = vocabulary.inverse(vocabulary.LOGON)
_SID_TYPE = vocabulary.inverse(vocabulary.SID_TYPE)


def _arguments(text: str) -> Any:
    """A list when it reads back exactly (easier to review), else the string as is."""
    parts = cmdline.split(text)
    if parts and cmdline.join(parts) == text:
        return parts
    return text


def _actions(actions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for action in actions:
        ((kind, body),) = action.items()
        element = f"Actions/{kind}"
        if kind == "Exec" and isinstance(body, dict):
            only(body, normalize.ACTIONS[kind], element)
            if not body.get("Command"):
                raise NotRepresentable(f"{element}/Command: the action runs no program")
            item: dict[str, Any] = {"command": body["Command"]}
            if body.get("Arguments"):
                # cmd.exe re-parses a batch file's arguments, and Task Scheduler expands a
                # %VARIABLE% after the quoting: keep such arguments exactly as written.
                verbatim = runs_through_cmd(body["Command"]) or expands_variables(body["Arguments"])
                item["arguments"] = body["Arguments"] if verbatim else _arguments(body["Arguments"])
            if body.get("WorkingDirectory"):
                item["workingDirectory"] = body["WorkingDirectory"]
            out.append(item)
        elif kind == "ComHandler" and isinstance(body, dict):
            only(body, normalize.ACTIONS[kind], element)
            handler: dict[str, Any] = {"classId": body.get("ClassId")}
            if body.get("Data") is not None:
                handler["data"] = body["Data"]
            out.append({"comHandler": handler})
        elif kind in ("SendEmail", "ShowMessage"):
            raise NotRepresentable(f"{element}: deprecated since Windows 8 and refused by Task Scheduler; "
                                   "send mail from a script or use run.notify")
        else:
            raise NotRepresentable(f"{element}: reconcile.py manifests cannot express this action")
    if not out:
        raise NotRepresentable("Actions: the task has no action")
    return out


def _run_as(principal: dict[str, Any], name: str) -> dict[str, Any]:
    only(principal, set(normalize.PRINCIPAL) | {"RequiredPrivileges"}, "Principals/Principal")
    out: dict[str, Any] = {}
    if "GroupId" in principal and "UserId" not in principal:
        out["group"] = accounts.display(accounts.well_known(principal["GroupId"])) \
            if accounts.well_known(principal["GroupId"]) in accounts.WELL_KNOWN_DISPLAY else principal["GroupId"]
    elif "UserId" in principal and "GroupId" not in principal:
        user = principal["UserId"]
        sid = accounts.well_known(user)
        out["user"] = accounts.display(sid) if sid in accounts.SERVICE_SIDS else user
        if sid not in accounts.SERVICE_SIDS:
            logon = principal.get("LogonType", "InteractiveToken")
            if logon not in _LOGON:
                raise NotRepresentable(f"Principals/Principal/LogonType: {logon!r} is not a logon type "
                                       "reconcile.py can register for this account")
            out["logonType"] = _LOGON[logon]
            if _LOGON[logon] in vocabulary.PASSWORD_LOGONS and not user.endswith("$"):
                # The password cannot be read back: name a variable to hold it at apply.
                out["password"] = {"fromEnv": _password_variable(name)}
    else:
        raise NotRepresentable("Principals/Principal/UserId: the task names no account (or both a user "
                               "and a group); Windows would register it as whoever runs apply — "
                               "write runAs by hand")
    if principal.get("RunLevel") == vocabulary.RUN_LEVEL["highest"]:
        out["runLevel"] = "highest"
    if principal.get("DisplayName"):
        out["displayName"] = principal["DisplayName"]
    if "ProcessTokenSidType" in principal:
        out["processTokenSidType"] = _SID_TYPE.get(principal["ProcessTokenSidType"],
                                                   principal["ProcessTokenSidType"])
    if principal.get("RequiredPrivileges"):
        out["requiredPrivileges"] = list(principal["RequiredPrivileges"])
    return out


def _password_variable(name: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_").upper() or "TASK"
    if slug[0].isdigit():
        slug = "TASK_" + slug  # a variable name cannot start with a digit
    return f"{slug}_PASSWORD"


def _settings(settings: dict[str, Any]) -> dict[str, Any]:
    """The manifest's ``settings``, read through the one settings table; defaults left out."""
    only(settings, tasksettings.ELEMENTS, "Settings")
    out: dict[str, Any] = {}
    for part in _PARTS:
        if isinstance(part, tasksettings.Group):
            _group(part, settings, out)
        else:
            _read(part, settings, "Settings", out)
    return out


def _parts() -> list[tasksettings.Group | tuple[tasksettings.Setting, ...]]:
    """The table as groups and runs of single settings (each run read by one call)."""
    out: list[tasksettings.Group | tuple[tasksettings.Setting, ...]] = []
    for row in tasksettings.TABLE:
        if isinstance(row, tasksettings.Group):
            out.append(row)
        elif out and isinstance(out[-1], tuple):
            out[-1] += (row,)
        else:
            out.append((row,))
    return out


_PARTS = _parts()


def _task_level(settings: dict[str, Any]) -> dict[str, Any]:
    """The settings a manifest says in spec itself (``enabled``)."""
    out: dict[str, Any] = {}
    _read(tasksettings.TASK_LEVEL, settings, "Settings", out)
    return out


def _group(group: tasksettings.Group, settings: dict[str, Any], out: dict[str, Any]) -> None:
    values: dict[str, Any] = {}
    if group.element is None:  # the manifest's own grouping of elements of Settings
        _read(group.members, settings, "Settings", values)
        if values:
            out[group.key] = values
        return
    body = settings.get(group.element)
    if body is None:
        return
    where = f"Settings/{group.element}"
    only(body, _GROUP_ELEMENTS[group.element], where)
    if any(m.required and m.element not in body for m in group.members):
        raise NotRepresentable(group.missing)
    _read(group.members, body, where, values)
    if values or not group.always:  # a group Windows always has is left out when all default
        out[group.key] = values


_GROUP_ELEMENTS = {str(g.element): frozenset(m.element for m in g.members) for g in tasksettings.GROUPS}


def _read(settings: tuple[tasksettings.Setting, ...], values: dict[str, Any], where: str,
          out: dict[str, Any]) -> None:
    """Each setting whose value is not Task Scheduler's default, as the manifest spells it."""
    for setting in settings:
        value = values.get(setting.element, setting.default)
        if value != setting.default:
            out[setting.key] = _spelled(setting, value, f"{where}/{setting.element}")


def _spelled(setting: tasksettings.Setting, value: Any, element: str) -> Any:
    if setting.words is not None:
        words = vocabulary.inverse(setting.words)
        if value not in words:
            raise NotRepresentable(f"{element}: {value!r} is not {setting.noun}")
        return words[value]
    if setting.kind == DUR:
        return setting.none if setting.none and value == "PT0S" else short_duration(value, element)
    return value


def _runner_parts(actions: list[dict[str, Any]], path: str, root: str | None) -> dict[str, Any] | None:
    """A task registered through the runner: its real actions, run block and runner."""
    if len(actions) != 1 or "Exec" not in actions[0] or not isinstance(actions[0]["Exec"], dict):
        return None
    body = actions[0]["Exec"]
    parsed = workflow.parse_runner_action(body.get("Command", ""), body.get("Arguments"), root)
    if parsed is None:
        return None
    if not isinstance(parsed.get("task"), str) or names.key(parsed["task"]) != names.key(path):
        raise NotRepresentable(f"Actions/Exec/Arguments: this runner task was made for {parsed.get('task')}, "
                               "not for this path (a copied task): import the original")
    return parsed


def _identity(name: str) -> str:
    return name


def to_manifest(task: etree._Element, path: str, root: str | None) -> dict[str, Any]:
    """The manifest document of one live task (``root`` None: a path outside the root,
    imported to be moved into it: folder and name from the original path)."""
    # Accounts as written (not resolved to SIDs), so the manifest reads like the task.
    form = normalize.canonical(task, _identity)
    for key in form:
        if key not in ("RegistrationInfo", "Principal", "Settings", "Triggers", "Actions", "Data"):
            raise NotRepresentable(f"{key}: reconcile.py manifests cannot express this element")
    metadata = _metadata(form["RegistrationInfo"], path, root)
    name = metadata["name"]

    spec: dict[str, Any] = _task_level(form["Settings"])
    # Wake-up triggers are derived from run.after: the manifest says after, not them.
    own_triggers = [t for t in _document_order(task, form["Triggers"]) if not workflow.is_wake_trigger(t)]
    triggers = [to_trigger(t) for t in own_triggers]
    if triggers:
        spec["triggers"] = triggers
    runner = _runner_parts(form["Actions"], path, root)
    if runner is not None:
        spec["actions"] = runner["actions"]
    else:
        spec["actions"] = _actions(form["Actions"])
    spec["runAs"] = _run_as(form["Principal"], name)
    settings = _settings(form["Settings"])
    if runner is not None and runner["run"].get("after"):
        # For a task run after others the default is queue, not Task Scheduler's ignoreNew.
        if settings.get("multipleInstances") == "queue":
            del settings["multipleInstances"]
        elif "multipleInstances" not in settings:
            settings["multipleInstances"] = "ignoreNew"
    if settings:
        spec["settings"] = settings
    if runner is not None:
        spec["run"] = runner["run"]
        spec["runner"] = runner["runner"]
    if "Data" in form:
        if not isinstance(form["Data"], str):
            raise NotRepresentable("Data: only text can be kept in a task's Data")
        spec["data"] = form["Data"]
    return {"apiVersion": "reconcile/v1", "kind": "ScheduledTask", "metadata": metadata, "spec": spec}


def _metadata(registration: dict[str, Any], path: str, root: str | None) -> dict[str, Any]:
    relative = names.relative(path, root) if root and names.is_under(path, root) else path.strip("\\")
    *folder, name = relative.split("\\")
    metadata: dict[str, Any] = {"name": name}
    if folder:
        metadata["folder"] = "\\".join(folder)
    only(registration, normalize.REGISTRATION_KEPT, "RegistrationInfo")
    if registration.get("Description"):
        metadata["description"] = registration["Description"]
    for key, element in vocabulary.REGISTRATION.items():
        if registration.get(element):
            metadata[key] = registration[element]
    metadata["adopt"] = True
    return metadata


def _document_order(task: etree._Element, triggers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Triggers in the order the task lists them (the canonical form sorts them), so the
    manifest reads like the task."""
    holder = next((c for c in children(task) if localname(c) == "Triggers"), None)
    if holder is None:
        return triggers
    ordered = [normalize.canonical_trigger(t, _identity) for t in children(holder)]
    return ordered if sorted(map(repr, ordered)) == sorted(map(repr, triggers)) else triggers
