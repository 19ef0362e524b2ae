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

from . import accounts, cmdline, durations, names, normalize, vocabulary, workflow
from .errors import ReconcileError
from .model import MONTHS
from .taskxml import children, localname

DEFAULT_START_DATE = "2000-01-03"
_WEEKS = vocabulary.inverse(vocabulary.WEEK)
_SESSION = vocabulary.inverse(vocabulary.SESSION)
_MULTIPLE = vocabulary.inverse(vocabulary.MULTIPLE_INSTANCES)
_LOGON = vocabulary.inverse(vocabulary.LOGON)
_SID_TYPE = vocabulary.inverse(vocabulary.SID_TYPE)
_BOUNDARY = re.compile(r"^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2}(?:\.\d+)?)(Z|[+-]\d{2}:\d{2})?$")

# Settings with a plain value: element -> (manifest key, Task Scheduler default).
_SIMPLE = {
    "AllowStartOnDemand": ("allowStartOnDemand", True),
    "StartWhenAvailable": ("startWhenAvailable", False),
    "RunOnlyIfNetworkAvailable": ("runOnlyIfNetworkAvailable", False),
    "NetworkProfileName": ("networkProfileName", None),
    "WakeToRun": ("wakeToRun", False),
    "Hidden": ("hidden", False),
    "Priority": ("priority", 7),
    "AllowHardTerminate": ("allowHardTerminate", True),
    "RunOnlyIfIdle": ("runOnlyIfIdle", False),
    "UseUnifiedSchedulingEngine": ("useUnifiedSchedulingEngine", False),
    "DisallowStartOnRemoteAppSession": ("disallowStartOnRemoteAppSession", False),
    "Volatile": ("volatile", False),
}
_KNOWN_SETTINGS = set(_SIMPLE) | {
    "Enabled", "ExecutionTimeLimit", "RestartOnFailure", "MultipleInstancesPolicy",
    "DisallowStartIfOnBatteries", "StopIfGoingOnBatteries", "DeleteExpiredTaskAfter",
    "IdleSettings", "NetworkSettings", "MaintenanceSettings",
}


class NotRepresentable(ReconcileError):
    """The task uses something a manifest cannot say."""


def _short(iso: str, element: str) -> str:
    try:
        return durations.parse_iso(iso).short()
    except ValueError:
        raise NotRepresentable(f"{element}: {iso!r} is not a duration") from None


def _boundary(value: str, element: str) -> tuple[str, str, str]:
    """(date, time, offset) of a Start/EndBoundary."""
    match = _BOUNDARY.match(value)
    if not match:
        raise NotRepresentable(f"{element}: {value!r} is not a date-time Task Scheduler can run")
    day, time, offset = match.groups()
    return day, time, offset or ""


def _clock(time: str) -> str:
    return time[:5] if time.endswith(":00") and "." not in time else time


def _only(body: dict[str, Any], known: set[str], element: str) -> None:
    for key in body:
        if key not in known:
            raise NotRepresentable(f"{element}/{key}: reconcile.py manifests cannot express this element")


_BASE_KEYS = {"Enabled", "StartBoundary", "EndBoundary", "Repetition", "ExecutionTimeLimit"}


def _common(body: dict[str, Any], out: dict[str, Any], element: str, time_based: bool) -> None:
    if body.get("Enabled") is False:
        out["enabled"] = False
    limit = body.get("ExecutionTimeLimit", normalize.TIME_LIMIT_DEFAULT)
    if limit != normalize.TIME_LIMIT_DEFAULT:
        out["timeLimit"] = _short(limit, f"{element}/ExecutionTimeLimit")
    repetition = body.get("Repetition")
    if repetition is not None:
        _only(repetition, {"Interval", "Duration", "StopAtDurationEnd"}, f"{element}/Repetition")
        if "Interval" not in repetition:
            raise NotRepresentable(f"{element}/Repetition: it has no Interval")
        repeat: dict[str, Any] = {"every": _short(repetition["Interval"], f"{element}/Repetition/Interval")}
        if "Duration" in repetition:
            repeat["for"] = _short(repetition["Duration"], f"{element}/Repetition/Duration")
        if repetition.get("StopAtDurationEnd") is True:
            repeat["stopAtEnd"] = True
        out["repeat"] = repeat
    if "EndBoundary" in body:
        day, time, offset = _boundary(body["EndBoundary"], f"{element}/EndBoundary")
        out["until"] = day if time == "00:00:00" and not offset else f"{day}T{time}{offset}"
    if not time_based and "StartBoundary" in body:
        day, time, offset = _boundary(body["StartBoundary"], f"{element}/StartBoundary")
        out["from"] = day if time == "00:00:00" and not offset else f"{day}T{time}{offset}"
    if time_based and body.get("RandomDelay", "PT0S") != "PT0S":
        out["randomDelay"] = _short(body["RandomDelay"], f"{element}/RandomDelay")


def _delay(body: dict[str, Any], out: dict[str, Any], element: str) -> None:
    if body.get("Delay", "PT0S") != "PT0S":
        out["delay"] = _short(body["Delay"], f"{element}/Delay")


def _months(months: list[str]) -> list[str] | None:
    return None if list(months) == list(MONTHS) else [m[:3] for m in months]


def _trigger(trigger: dict[str, Any], index: int) -> dict[str, Any]:
    ((kind, body),) = trigger.items()
    element = f"Triggers/{kind}"
    if not isinstance(body, dict):
        raise NotRepresentable(f"{element}: reconcile.py manifests cannot express this trigger")
    out: dict[str, Any] = {}
    if kind in ("CalendarTrigger", "TimeTrigger"):
        if "StartBoundary" not in body:
            raise NotRepresentable(f"{element}/StartBoundary: a time trigger needs a start")
        day, time, offset = _boundary(body["StartBoundary"], f"{element}/StartBoundary")
        if kind == "TimeTrigger":
            _only(body, _BASE_KEYS | {"RandomDelay"}, element)
            out["at"] = f"{day}T{time}{offset}"
            _common(body, out, element, True)
            return {"once": out}
        schedules = [k for k in body if k.startswith("ScheduleBy")]
        _only(body, _BASE_KEYS | {"RandomDelay"} | set(schedules), element)
        if len(schedules) != 1:
            raise NotRepresentable(f"{element}: it needs exactly one ScheduleBy… element")
        schedule_kind, schedule = schedules[0], body[schedules[0]]
        out["at"] = _clock(time)
        if schedule_kind == "ScheduleByDay":
            name = "daily"
            if schedule.get("DaysInterval", 1) != 1:
                out["every"] = schedule["DaysInterval"]
        elif schedule_kind == "ScheduleByWeek":
            name = "weekly"
            out["days"] = [d[:3] for d in schedule.get("DaysOfWeek", [])]
            if schedule.get("WeeksInterval", 1) != 1:
                out["every"] = schedule["WeeksInterval"]
        elif schedule_kind == "ScheduleByMonth":
            name = "monthly"
            out["days"] = [int(d) if d.isdigit() else "last" for d in schedule.get("DaysOfMonth", [])]
            if _months(schedule.get("Months", MONTHS)):
                out["months"] = _months(schedule["Months"])
        else:
            name = "monthlyByWeekday"
            out["weeks"] = [_WEEKS.get(w, w) for w in schedule.get("Weeks", [])]
            out["days"] = [d[:3] for d in schedule.get("DaysOfWeek", [])]
            if _months(schedule.get("Months", MONTHS)):
                out["months"] = _months(schedule["Months"])
        _only(schedule, {"DaysInterval", "WeeksInterval", "DaysOfWeek", "DaysOfMonth", "Months", "Weeks"},
              f"{element}/{schedule_kind}")
        for key in ("days", "weeks"):
            if key in out and not out[key]:
                raise NotRepresentable(f"{element}/{schedule_kind}: it lists no {key}")
        if day != DEFAULT_START_DATE:
            out["from"] = day
        if offset:
            out["utcOffset"] = offset
        _common(body, out, element, True)
        return {name: out}
    if kind == "BootTrigger":
        _only(body, _BASE_KEYS | {"Delay"}, element)
        _delay(body, out, element)
        _common(body, out, element, False)
        return {"atStartup": out}
    if kind == "RegistrationTrigger":
        _only(body, _BASE_KEYS | {"Delay"}, element)
        _delay(body, out, element)
        _common(body, out, element, False)
        return {"onRegistration": out}
    if kind == "IdleTrigger":
        _only(body, _BASE_KEYS, element)
        _common(body, out, element, False)
        return {"onIdle": out}
    if kind == "LogonTrigger":
        _only(body, _BASE_KEYS | {"UserId", "Delay"}, element)
        if body.get("UserId"):
            out["user"] = body["UserId"]
        _delay(body, out, element)
        _common(body, out, element, False)
        return {"atLogon": out}
    if kind == "SessionStateChangeTrigger":
        _only(body, _BASE_KEYS | {"UserId", "Delay", "StateChange"}, element)
        if body.get("StateChange") not in _SESSION:
            raise NotRepresentable(f"{element}/StateChange: {body.get('StateChange')!r} is not a session change")
        out["change"] = _SESSION[body["StateChange"]]
        if body.get("UserId"):
            out["user"] = body["UserId"]
        _delay(body, out, element)
        _common(body, out, element, False)
        return {"onSessionChange": out}
    if kind == "EventTrigger":
        _only(body, _BASE_KEYS | {"Subscription", "Delay", "PeriodOfOccurrence", "NumberOfOccurrences",
                                  "MatchingElement", "ValueQueries"}, element)
        if not body.get("Subscription"):
            raise NotRepresentable(f"{element}/Subscription: an event trigger needs a query")
        out["query"] = body["Subscription"]
        _delay(body, out, element)
        if body.get("PeriodOfOccurrence", "PT0S") != "PT0S":
            out["periodOfOccurrence"] = _short(body["PeriodOfOccurrence"], f"{element}/PeriodOfOccurrence")
        if body.get("NumberOfOccurrences", 1) != 1:
            out["numberOfOccurrences"] = body["NumberOfOccurrences"]
        if body.get("MatchingElement"):
            out["matchingElement"] = body["MatchingElement"]
        if body.get("ValueQueries"):
            out["valueQueries"] = dict(body["ValueQueries"])
        _common(body, out, element, False)
        return {"onEvent": out}
    if kind == "WnfStateChangeTrigger":
        _only(body, _BASE_KEYS | {"StateName", "Data", "DataOffset", "Delay"}, element)
        out["stateName"] = body.get("StateName")
        if body.get("Data") is not None:
            out["data"] = body["Data"]
        if body.get("DataOffset") is not None:
            out["dataOffset"] = body["DataOffset"]
        _delay(body, out, element)
        _common(body, out, element, False)
        return {"onWnfStateChange": out}
    raise NotRepresentable(f"{element}: reconcile.py manifests cannot express this trigger")


def _arguments(text: str) -> Any:
    """A list when it reads back exactly (easier to review), else the string as is."""
    parts = cmdline.split(text)
    if parts and cmdline.join(parts) == text:
        return parts
    return text


def _actions(actions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for index, action in enumerate(actions):
        ((kind, body),) = action.items()
        element = f"Actions/{kind}"
        if kind == "Exec" and isinstance(body, dict):
            _only(body, {"Command", "Arguments", "WorkingDirectory"}, element)
            if not body.get("Command"):
                raise NotRepresentable(f"{element}/Command: the action runs no program")
            item: dict[str, Any] = {"command": body["Command"]}
            if body.get("Arguments"):
                batch = body["Command"].strip('"').lower().endswith((".bat", ".cmd"))
                # cmd.exe re-parses a batch file's arguments: keep them exactly as written.
                item["arguments"] = body["Arguments"] if batch else _arguments(body["Arguments"])
            if body.get("WorkingDirectory"):
                item["workingDirectory"] = body["WorkingDirectory"]
            out.append(item)
        elif kind == "ComHandler" and isinstance(body, dict):
            _only(body, {"ClassId", "Data"}, element)
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
    known = {"UserId", "GroupId", "LogonType", "RunLevel", "DisplayName", "ProcessTokenSidType",
             "RequiredPrivileges"}
    _only(principal, known, "Principals/Principal")
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
            if logon in ("Password", "InteractiveTokenOrPassword") and not user.endswith("$"):
                # The password cannot be read back: name a variable to hold it at apply.
                out["password"] = {"fromEnv": _password_variable(name)}
    else:
        raise NotRepresentable("Principals/Principal/UserId: the task names no account (or both a user "
                               "and a group); Windows would register it as whoever runs apply — "
                               "write runAs by hand")
    if principal.get("RunLevel") == "HighestAvailable":
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
    out: dict[str, Any] = {}
    for key in settings:
        if key not in _KNOWN_SETTINGS:
            raise NotRepresentable(f"Settings/{key}: reconcile.py manifests cannot express this element")
    limit = settings.get("ExecutionTimeLimit", normalize.TIME_LIMIT_DEFAULT)
    if limit != normalize.TIME_LIMIT_DEFAULT:
        out["timeout"] = "none" if limit == "PT0S" else _short(limit, "Settings/ExecutionTimeLimit")
    restart = settings.get("RestartOnFailure")
    if restart is not None:
        _only(restart, {"Interval", "Count"}, "Settings/RestartOnFailure")
        if "Interval" not in restart or "Count" not in restart:
            raise NotRepresentable("Settings/RestartOnFailure: it needs Interval and Count")
        out["retry"] = {"count": restart["Count"], "interval": _short(restart["Interval"],
                                                                      "Settings/RestartOnFailure/Interval")}
    policy = settings.get("MultipleInstancesPolicy", "IgnoreNew")
    if policy != "IgnoreNew":
        if policy not in _MULTIPLE:
            raise NotRepresentable(f"Settings/MultipleInstancesPolicy: {policy!r} is not a policy")
        out["multipleInstances"] = _MULTIPLE[policy]
    for element, (key, default) in _SIMPLE.items():
        if element in settings and settings[element] != default:
            out[key] = settings[element]
    batteries = {}
    if settings.get("DisallowStartIfOnBatteries", True) is not True:
        batteries["disallowStart"] = settings["DisallowStartIfOnBatteries"]
    if settings.get("StopIfGoingOnBatteries", True) is not True:
        batteries["stopOnBattery"] = settings["StopIfGoingOnBatteries"]
    if batteries:
        out["batteries"] = batteries
    if "DeleteExpiredTaskAfter" in settings:
        out["deleteExpiredAfter"] = _short(settings["DeleteExpiredTaskAfter"], "Settings/DeleteExpiredTaskAfter")
    idle = settings.get("IdleSettings", {})
    _only(idle, {"Duration", "WaitTimeout", "StopOnIdleEnd", "RestartOnIdle"}, "Settings/IdleSettings")
    idle_out: dict[str, Any] = {}
    if idle.get("Duration", "PT10M") != "PT10M":
        idle_out["duration"] = _short(idle["Duration"], "Settings/IdleSettings/Duration")
    if idle.get("WaitTimeout", "PT1H") != "PT1H":
        idle_out["waitTimeout"] = _short(idle["WaitTimeout"], "Settings/IdleSettings/WaitTimeout")
    if idle.get("StopOnIdleEnd", True) is not True:
        idle_out["stopOnIdleEnd"] = idle["StopOnIdleEnd"]
    if idle.get("RestartOnIdle", False) is not False:
        idle_out["restartOnIdle"] = idle["RestartOnIdle"]
    if idle_out:
        out["idle"] = idle_out
    network = settings.get("NetworkSettings")
    if network is not None:
        _only(network, {"Name", "Id"}, "Settings/NetworkSettings")
        out["network"] = {k: network[e] for e, k in (("Name", "name"), ("Id", "id")) if e in network}
    maintenance = settings.get("MaintenanceSettings")
    if maintenance is not None:
        _only(maintenance, {"Period", "Deadline", "Exclusive"}, "Settings/MaintenanceSettings")
        if "Period" not in maintenance:
            raise NotRepresentable("Settings/MaintenanceSettings/Period: maintenance needs a period")
        item: dict[str, Any] = {"period": _short(maintenance["Period"], "Settings/MaintenanceSettings/Period")}
        if "Deadline" in maintenance:
            item["deadline"] = _short(maintenance["Deadline"], "Settings/MaintenanceSettings/Deadline")
        if maintenance.get("Exclusive") is True:
            item["exclusive"] = True
        out["maintenance"] = item
    return out


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
    relative = names.relative(path, root) if root and names.is_under(path, root) else path.strip("\\")
    *folder, name = relative.split("\\")
    metadata: dict[str, Any] = {"name": name}
    if folder:
        metadata["folder"] = "\\".join(folder)
    registration = form["RegistrationInfo"]
    _only(registration, {"Description", "Version", "SecurityDescriptor"}, "RegistrationInfo")
    if registration.get("Description"):
        metadata["description"] = registration["Description"]
    if registration.get("Version"):
        metadata["version"] = registration["Version"]
    if registration.get("SecurityDescriptor"):
        metadata["securityDescriptor"] = registration["SecurityDescriptor"]
    metadata["adopt"] = True

    spec: dict[str, Any] = {}
    if form["Settings"].get("Enabled") is False:
        spec["enabled"] = False
    # Wake-up triggers are derived from run.after: the manifest says after, not them.
    own_triggers = [t for t in _document_order(task, form["Triggers"]) if not workflow.is_wake_trigger(t)]
    triggers = [_trigger(t, i) for i, t in enumerate(own_triggers)]
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


def _document_order(task: etree._Element, triggers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Triggers in the order the task lists them (the canonical form sorts them), so the
    manifest reads like the task."""
    holder = next((c for c in children(task) if localname(c) == "Triggers"), None)
    if holder is None:
        return triggers
    ordered = [normalize.canonical_trigger(t, _identity) for t in children(holder)]
    return ordered if sorted(map(repr, ordered)) == sorted(map(repr, triggers)) else triggers
