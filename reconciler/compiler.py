"""A schema-valid manifest document (Defaults merged in) -> TaskSpec.

The schema has already checked shapes and spellings; this module checks what a schema
cannot (names, dates that exist, cron, account rules, limits that span keys) and turns
the friendly manifest forms into Task Scheduler's own terms. Every problem is recorded
with the position of the key that causes it; compilation goes on to find the rest."""
from __future__ import annotations

import dataclasses
import datetime as dt
import re
from typing import Any, Callable

from . import accounts, cmdline, durations, names, vocabulary
from .durations import Duration
from .errors import Problem
from .model import (
    MONTHS, WEEKDAYS, BootTrigger, ByDay, ByMonth, ByMonthDayOfWeek, ByWeek, CalendarTrigger,
    ComHandlerAction, EventTrigger, ExecAction, IdleTrigger, LogonTrigger, Origin, Principal,
    RegistrationTrigger, Repetition, SessionStateChangeTrigger, TaskSpec, TimeTrigger, Trigger,
    WnfStateChangeTrigger,
)
from .taskxml import invalid_xml_char
from .yamlpos import PosDict, PosList

# A time-based trigger without ``from`` starts on this Monday, the same on every
# machine and every day, so "every N days/weeks" has a fixed phase (SPEC "Cron").
DEFAULT_START = dt.date(2000, 1, 3)
MAX_TRIGGERS = 48

_WEEKDAY = {d[:3].lower(): d for d in WEEKDAYS}
_MONTH = {m[:3].lower(): m for m in MONTHS}
_WEEK = vocabulary.WEEK
_SESSION = vocabulary.SESSION
_MULTIPLE = vocabulary.MULTIPLE_INSTANCES
_LOGON = vocabulary.LOGON
_RUN_LEVEL = vocabulary.RUN_LEVEL
_SID_TYPE = vocabulary.SID_TYPE
_DATETIME = re.compile(r"^(\d{4}-\d{2}-\d{2})T(\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?$")
_CMD_META = set('&|<>^%"')

# settings key -> Settings element; in the XSD's order, which is also the render order.
_SETTINGS_ORDER = (
    "AllowStartOnDemand", "RestartOnFailure", "MultipleInstancesPolicy",
    "DisallowStartIfOnBatteries", "StopIfGoingOnBatteries", "AllowHardTerminate",
    "StartWhenAvailable", "NetworkProfileName", "RunOnlyIfNetworkAvailable", "WakeToRun",
    "Enabled", "Hidden", "DeleteExpiredTaskAfter", "IdleSettings", "NetworkSettings",
    "ExecutionTimeLimit", "Priority", "RunOnlyIfIdle", "UseUnifiedSchedulingEngine",
    "DisallowStartOnRemoteAppSession", "MaintenanceSettings", "Volatile",
)
_SIMPLE_SETTINGS = {
    "startWhenAvailable": "StartWhenAvailable",
    "runOnlyIfNetworkAvailable": "RunOnlyIfNetworkAvailable",
    "networkProfileName": "NetworkProfileName",
    "wakeToRun": "WakeToRun",
    "hidden": "Hidden",
    "priority": "Priority",
    "allowStartOnDemand": "AllowStartOnDemand",
    "allowHardTerminate": "AllowHardTerminate",
    "runOnlyIfIdle": "RunOnlyIfIdle",
    "useUnifiedSchedulingEngine": "UseUnifiedSchedulingEngine",
    "disallowStartOnRemoteAppSession": "DisallowStartOnRemoteAppSession",
    "volatile": "Volatile",
}


def short(value: Any, limit: int = 60) -> str:
    """A value for a message: quoted, and cut if long (a 5 MB value is one short line)."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 4] + "…" + text[-3:]


def _plain(value: Any) -> Any:
    """Plain dicts and lists (no YAML positions) for data carried into the TaskSpec."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


class Located:
    """A merged document and where each of its values was written (which file, too:
    values from a Defaults document point at that document)."""

    def __init__(self, data: PosDict, file: str) -> None:
        self.data = data
        self.file = file

    def where(self, path: tuple[Any, ...], key: bool = False) -> tuple[str, int, int]:
        node: Any = self.data
        file = self.file
        line, column = getattr(node, "start", (1, 1))
        for index, step in enumerate(path):
            last = index == len(path) - 1
            if isinstance(node, PosDict) and step in node.pos:
                kl, kc, vl, vc = node.pos[step]
                file = node.files.get(step, file)
                line, column = (kl, kc) if (last and key) else (vl, vc)
                node = node[step]
            elif isinstance(node, PosList) and isinstance(step, int) and 0 <= step < len(node.pos):
                line, column = node.pos[step]
                node = node[step]
            else:
                break
        return file, line, column


class Compiler:
    def __init__(self, located: Located, root: str,
                 convert_cron: Callable[..., Any] | None = None, lenient: bool = False) -> None:
        self.doc = located
        self.root = root
        self.problems: list[Problem] = []
        self._convert_cron = convert_cron
        # lenient: the document already failed the schema. Each part is still compiled
        # to find more problems, and a part whose shape is wrong is skipped, not a crash.
        self.lenient = lenient

    def _part(self, build: Callable[[], Any], fallback: Any) -> Any:
        if not self.lenient:
            return build()
        try:
            return build()
        except (KeyError, TypeError, AttributeError, ValueError, IndexError):
            return fallback

    # --- reporting --------------------------------------------------------------------
    def problem(self, path: tuple[Any, ...], message: str, key: bool = False) -> None:
        file, line, column = self.doc.where(path, key)
        self.problems.append(Problem(file, line, column, message))

    def _duration(self, value: Any, path: tuple[Any, ...]) -> Duration | None:
        try:
            return durations.parse(value)
        except ValueError as err:
            self.problem(path, str(err))
            return None

    def _bounded(self, value: Any, path: tuple[Any, ...], low: Duration | None,
                 high: Duration | None, what: str) -> Duration | None:
        duration = self._duration(value, path)
        if duration is None:
            return None
        if duration.months and (low or high):
            self.problem(path, f"{what} cannot use months or years (write days)")
            return None
        if low is not None and duration.seconds < low.seconds:
            self.problem(path, f"{what} must be at least {low.short()}, not {duration.short()}")
            return None
        if high is not None and duration.seconds > high.seconds:
            self.problem(path, f"{what} must be at most {high.short()}, not {duration.short()}")
            return None
        return duration

    # --- the task ------------------------------------------------------------------
    def compile(self) -> TaskSpec | None:
        data = self.doc.data
        metadata = data.get("metadata") or {}
        spec = data.get("spec") or {}
        path = self._part(lambda: self._path(metadata), None)
        triggers = self._part(lambda: self._triggers(spec), ())
        actions = self._part(lambda: self._actions(spec), ())
        principal = self._part(lambda: self._principal(spec), None)
        settings = self._part(lambda: self._settings(spec), ())
        run = spec.get("run") if isinstance(spec.get("run"), dict) else None
        if run is not None:
            from .workflow.spec import RunSpec  # only a task with a run block needs the workflow code
            settings = self._part(lambda: self._run_settings(spec, run, settings), settings)
        if (self._overlap and not (run or {}).get("after")
                and dict(settings).get("MultipleInstancesPolicy", "IgnoreNew") != "IgnoreNew"):
            self.problem(("spec", "settings", "multipleInstances"),
                         "this task's cron schedule can fire two triggers at the same minute; "
                         "it needs multipleInstances: ignoreNew so no minute starts two runs")
        registration = tuple(
            (element, metadata[key]) for key, element in
            (("version", "Version"), ("securityDescriptor", "SecurityDescriptor")) if key in metadata
        )
        if self.problems or self.lenient or path is None or principal is None:
            return None  # lenient: the document failed the schema; only its problems count
        file, line, column = self.doc.where(("metadata", "name"))
        return TaskSpec(
            path=path,
            name=metadata["name"],
            folder=tuple(names.split_folder(metadata.get("folder", ""))),
            description=metadata.get("description"),
            triggers=triggers,
            actions=actions,
            principal=principal,
            settings=settings,
            registration=registration,
            data=spec.get("data"),
            protect=bool(spec.get("protect", False)),
            adopt=bool(metadata.get("adopt", False)),
            origin=Origin(file, line, column),
            run=RunSpec.from_manifest(run) if run is not None else None,
            runner=_plain(spec.get("runner")) if run is not None else None,
        )

    def _run_settings(self, spec: dict[str, Any], run: dict[str, Any],
                      settings: tuple[tuple[str, Any], ...]) -> tuple[tuple[str, Any], ...]:
        """What a run block changes beside it: its own checks, the retry rule, and the
        default "queue" for tasks started by their dependencies."""
        from . import workflow

        for path, message in workflow.check_task(spec):
            self.problem(("spec",) + tuple(path), message)
        out = dict(settings)
        if run.get("retry") and "RestartOnFailure" in out and self._inherited(("spec", "settings", "retry")):
            # run.retry replaces Task Scheduler's restarts; an inherited settings.retry
            # (from Defaults) yields to it. The task's own settings.retry is an error
            # (reported with the dependencies, where the rule lives).
            del out["RestartOnFailure"]
        if run.get("after") and "multipleInstances" not in (spec.get("settings") or {}):
            # A dependency's wake-up must not be dropped while another start is deciding:
            # the runner's lock makes a queued second start harmless.
            out["MultipleInstancesPolicy"] = workflow.MULTIPLE_INSTANCES_WITH_AFTER
        return tuple((name, out[name]) for name in _SETTINGS_ORDER if name in out)

    def _inherited(self, path: tuple[Any, ...]) -> bool:
        """True if the value at ``path`` came from a Defaults document."""
        node: Any = self.doc.data
        for step in path:
            if not isinstance(node, PosDict) or step not in node:
                return False
            if step in node.files:
                return True
            node = node[step]
        return False

    def _path(self, metadata: dict[str, Any]) -> str | None:
        name = metadata.get("name")
        if not isinstance(name, str):
            return None
        ok = True
        # A character XML cannot hold is reported once, by the XML check.
        problem = names.segment_problem(name) if invalid_xml_char(name) is None else "(reported)"
        if problem == "(reported)":
            ok = False
        elif problem:
            self.problem(("metadata", "name"), f"task name {short(name)} {problem}")
            ok = False
        folder = metadata.get("folder", "")
        segments = names.split_folder(folder) if isinstance(folder, str) else []
        if isinstance(folder, str) and "/" in folder:
            self.problem(("metadata", "folder"), f"folder {short(folder)} uses '/': separate folders with '\\'")
            ok = False
            segments = []
        for segment in segments:
            problem = names.segment_problem(segment)
            if problem and invalid_xml_char(segment) is not None:
                ok = False  # reported by the XML check
            elif problem:
                self.problem(("metadata", "folder"), f"folder {short(segment)} {problem}")
                ok = False
        if not ok:
            return None
        path = names.join(self.root, segments, name)
        if len(path) > names.MAX_PATH:
            self.problem(("metadata", "name"),
                         f"the task path {path} is {len(path)} characters long; "
                         f"Task Scheduler allows {names.MAX_PATH}")
            return None
        return path

    # --- triggers ----------------------------------------------------------------------
    _overlap = False

    def _triggers(self, spec: dict[str, Any]) -> tuple[Trigger, ...]:
        out: list[Trigger] = []
        schedule = spec.get("schedule")
        if isinstance(schedule, str):
            out.extend(self._cron(schedule, {}, ("spec", "schedule")))
        elif isinstance(schedule, list):
            for index, expression in enumerate(schedule):
                out.extend(self._cron(expression, {}, ("spec", "schedule", index)))
        for index, item in enumerate(spec.get("triggers") or []):
            if not isinstance(item, dict) or len(item) != 1:
                continue
            ((kind, body),) = item.items()
            path = ("spec", "triggers", index, kind)
            out.extend(self._trigger(kind, body if body is not None else {}, path))
        if len(out) > MAX_TRIGGERS:
            where = ("spec", "triggers") if "triggers" in spec else ("spec", "schedule")
            self.problem(where, f"the schedule needs {len(out)} Task Scheduler triggers; "
                                f"a task may have at most {MAX_TRIGGERS}: split it into several tasks")
        return tuple(out)

    def _time(self, value: str) -> str:
        parts = value.split(":")
        return f"{int(parts[0]):02d}:{parts[1]}:{parts[2] if len(parts) > 2 else '00'}"


    def _date(self, value: Any, path: tuple[Any, ...]) -> dt.date | None:
        try:
            return dt.date.fromisoformat(str(value))
        except ValueError:
            self.problem(path, f"{short(value)} is not a date that exists (write YYYY-MM-DD)")
            return None

    def _boundary(self, value: Any, path: tuple[Any, ...]) -> str | None:
        """A date or date-time as a Start/EndBoundary (seconds always written)."""
        text = str(value)
        if "T" not in text:
            day = self._date(text, path)
            return f"{day.isoformat()}T00:00:00" if day else None
        match = _DATETIME.match(text)
        if not match:
            self.problem(path, f"{short(text)} is not a date-time (write YYYY-MM-DDTHH:MM:SS)")
            return None
        day, hour, minute, second, fraction, offset = match.groups()
        if self._date(day, path) is None:
            return None
        try:
            dt.time(int(hour), int(minute), int(second or 0))
        except ValueError:
            self.problem(path, f"{short(text)} is not a time that exists")
            return None
        return f"{day}T{hour}:{minute}:{second or '00'}{fraction or ''}{offset or ''}"

    def _start_date(self, body: dict[str, Any], path: tuple[Any, ...]) -> dt.date | None:
        if "from" not in body:
            return DEFAULT_START
        value = str(body["from"])
        if "T" in value:
            self.problem(path + ("from",), "'from' takes a date here (YYYY-MM-DD); "
                                           "the time of day is 'at'")
            return None
        return self._date(value, path + ("from",))

    def _common(self, trigger: Any, body: dict[str, Any], path: tuple[Any, ...],
                time_based: bool) -> Any:
        changes: dict[str, Any] = {}
        if body.get("enabled") is False:
            changes["enabled"] = False
        if "timeLimit" in body:
            changes["time_limit"] = self._duration(body["timeLimit"], path + ("timeLimit",))
        if "repeat" in body:
            changes["repetition"] = self._repetition(body["repeat"], path + ("repeat",))
        if "until" in body:
            end = self._boundary(body["until"], path + ("until",))
            changes["end"] = end
            start = changes.get("start", trigger.start)
            if end and start and end[:19] <= start[:19]:
                self.problem(path + ("until",), f"'until' ({body['until']}) must be after the start "
                                                f"({start[:19].replace('T', ' ')})")
        if not time_based and "from" in body:
            changes["start"] = self._boundary(body["from"], path + ("from",))
        if time_based and "randomDelay" in body:
            changes["random_delay"] = self._duration(body["randomDelay"], path + ("randomDelay",))
        return dataclasses.replace(trigger, **changes) if changes else trigger

    def _repetition(self, body: dict[str, Any], path: tuple[Any, ...]) -> Repetition | None:
        interval = self._bounded(body.get("every"), path + ("every",),
                                 Duration(seconds=60), Duration(seconds=31 * 86400), "repeat.every")
        duration = None
        if "for" in body:
            duration = self._bounded(body["for"], path + ("for",), Duration(seconds=60), None, "repeat.for")
            if interval and duration and duration.seconds < interval.seconds:
                self.problem(path + ("for",), "repeat.for must be at least repeat.every")
        if interval is None:
            return None
        return Repetition(interval=interval, duration=duration, stop_at_end=bool(body.get("stopAtEnd", False)))

    def _start(self, body: dict[str, Any], path: tuple[Any, ...]) -> str | None:
        day = self._start_date(body, path)
        if day is None:
            return None
        return f"{day.isoformat()}T{self._time(body['at'])}{body.get('utcOffset', '')}"

    def _trigger(self, kind: str, body: Any, path: tuple[Any, ...]) -> list[Trigger]:
        if kind == "cron":
            if isinstance(body, str):
                return self._cron(body, {}, path)
            return self._cron(body.get("expression", ""), body, path)
        if not isinstance(body, dict):
            return []
        trigger: Any
        if kind in ("daily", "weekly", "monthly", "monthlyByWeekday"):
            start = self._start(body, path)
            if start is None:
                return []
            if kind == "daily":
                schedule: Any = ByDay(interval=body.get("every", 1))
            elif kind == "weekly":
                schedule = ByWeek(interval=body.get("every", 1), days=self._weekdays(body["days"]))
            elif kind == "monthly":
                schedule = ByMonth(days=self._month_days(body["days"]),
                                   months=self._months(body.get("months")))
            else:
                weeks = sorted({_WEEK[w] for w in body["weeks"]}, key=lambda w: (w == "Last", w))
                schedule = ByMonthDayOfWeek(weeks=tuple(weeks), days=self._weekdays(body["days"]),
                                            months=self._months(body.get("months")))
            trigger = CalendarTrigger(start=start, schedule=schedule)
            return [self._common(trigger, body, path, True)]
        if kind == "once":
            start = self._boundary(body["at"], path + ("at",))
            if start is None:
                return []
            return [self._common(TimeTrigger(start=start), body, path, True)]
        delay = self._duration(body["delay"], path + ("delay",)) if "delay" in body else None
        if kind == "atStartup":
            trigger = BootTrigger(delay=delay)
        elif kind == "onRegistration":
            trigger = RegistrationTrigger(delay=delay)
        elif kind == "onIdle":
            trigger = IdleTrigger()
        elif kind == "atLogon":
            trigger = LogonTrigger(user_id=body.get("user"), delay=delay)
        elif kind == "onSessionChange":
            trigger = SessionStateChangeTrigger(state_change=_SESSION[body["change"]],
                                                user_id=body.get("user"), delay=delay)
        elif kind == "onEvent":
            subscription = self._subscription(body, path)
            if subscription is None:
                return []
            period = body.get("periodOfOccurrence")
            queries = body.get("valueQueries") or {}
            trigger = EventTrigger(
                subscription=subscription, delay=delay,
                period_of_occurrence=self._duration(period, path + ("periodOfOccurrence",)) if period else None,
                number_of_occurrences=body.get("numberOfOccurrences"),
                matching_element=body.get("matchingElement"),
                value_queries=tuple(sorted(queries.items())),
            )
        elif kind == "onWnfStateChange":
            trigger = WnfStateChangeTrigger(state_name=body["stateName"], data=body.get("data"),
                                            data_offset=body.get("dataOffset"), delay=delay)
        else:  # pragma: no cover - the schema admits no other kind
            return []
        return [self._common(trigger, body, path, False)]

    def _weekdays(self, days: list[Any]) -> tuple[str, ...]:
        chosen = {_WEEKDAY[str(d)[:3].lower()] for d in days}
        return tuple(d for d in WEEKDAYS if d in chosen)

    def _months(self, months: list[Any] | None) -> tuple[str, ...]:
        if not months:
            return MONTHS
        chosen = {MONTHS[m - 1] if isinstance(m, int) else _MONTH[str(m)[:3].lower()] for m in months}
        return tuple(m for m in MONTHS if m in chosen)

    def _month_days(self, days: list[Any]) -> tuple[str, ...]:
        numbers = sorted({d for d in days if isinstance(d, int)})
        last = any(isinstance(d, str) and d.lower() == "last" for d in days)
        return tuple(str(n) for n in numbers) + (("Last",) if last else ())

    def _subscription(self, body: dict[str, Any], path: tuple[Any, ...]) -> str | None:
        if "query" in body:
            for key in ("log", "source", "eventId"):
                if key in body:
                    self.problem(path + (key,), f"'{key}' cannot be combined with 'query' "
                                                "(write the whole query, or log/source/eventId)", key=True)
                    return None
            return str(body["query"])
        if "log" not in body:
            self.problem(path, "onEvent needs 'log' (with optional 'source' and 'eventId') or 'query'")
            return None
        conditions = []
        if "source" in body:
            literal = self._xpath_literal(str(body["source"]), path + ("source",))
            if literal is None:
                return None
            conditions.append(f"Provider[@Name={literal}]")
        if "eventId" in body:
            conditions.append(f"EventID={int(body['eventId'])}")
        select = "*[System[" + " and ".join(conditions) + "]]" if conditions else "*"
        # Built with lxml, so the log name is escaped by the serializer, not by hand.
        from lxml import etree

        query_list = etree.Element("QueryList")
        query = etree.SubElement(query_list, "Query", Id="0", Path=str(body["log"]))
        selector = etree.SubElement(query, "Select", Path=str(body["log"]))
        selector.text = select
        return etree.tostring(query_list, encoding="unicode")

    def _xpath_literal(self, value: str, path: tuple[Any, ...]) -> str | None:
        # XPath 1.0 string literals have no escapes: pick the quote the value lacks.
        if "'" not in value:
            return f"'{value}'"
        if '"' not in value:
            return f'"{value}"'
        self.problem(path, "an event source cannot contain both ' and \" (write a 'query' instead)")
        return None

    def _cron(self, expression: Any, options: dict[str, Any], path: tuple[Any, ...]) -> list[Trigger]:
        if not isinstance(expression, str):
            return []
        expression_path = path + ("expression",) if options else path
        if "utcOffset" in options:
            self.problem(path + ("utcOffset",), "cron is read in local time; a UTC offset would make "
                                                "it drift an hour across daylight saving time", key=True)
            return []
        if "repeat" in options:  # pragma: no cover - the schema refuses it already
            return []
        start_date = self._start_date(options, path)
        if start_date is None:
            return []
        convert = self._convert_cron
        if convert is None:
            from . import cron

            convert = cron.convert
        try:
            conversion = convert(expression, start_date=start_date)
        except Exception as err:  # CronError: one line with the cause and a way out
            from .errors import ReconcileError

            if not isinstance(err, ReconcileError):
                raise
            self.problem(expression_path, f"cron {short(expression)}: {err}")
            return []
        if conversion.may_overlap:
            self._overlap = True
        out: list[Trigger] = []
        for trigger in conversion.triggers:
            if isinstance(trigger, BootTrigger) and "randomDelay" in options:
                self.problem(path + ("randomDelay",), "@reboot takes no randomDelay", key=True)
                return []
            out.append(self._common(trigger, options, path, not isinstance(trigger, BootTrigger)))
        return out

    # --- actions ---------------------------------------------------------------------
    def _actions(self, spec: dict[str, Any]) -> tuple[Any, ...]:
        actions = spec.get("actions")
        if "actions" not in spec:
            self.problem(("spec",), "a task needs 'actions' (in the task or in a Defaults document)", key=True)
            return ()
        if not actions:
            return ()  # an empty list: the schema has said so
        out: list[Any] = []
        for index, action in enumerate(actions):
            path = ("spec", "actions", index)
            if "comHandler" in action:
                handler = action["comHandler"]
                out.append(ComHandlerAction(class_id=handler["classId"], data=handler.get("data")))
                continue
            command = action["command"]
            for key in ("command", "workingDirectory"):
                if key in action and ("\n" in action[key] or "\r" in action[key]):
                    self.problem(path + (key,), f"{key} cannot contain a line break")
            arguments = action.get("arguments")
            text: str | None
            if isinstance(arguments, list):
                items = [str(a) for a in arguments]
                if any(isinstance(a, float) for a in arguments):
                    self.problem(path + ("arguments",), "write numbers with a decimal point in quotes "
                                                        "('1.10'): YAML would read 1.10 as 1.1")
                if any("\n" in a or "\r" in a for a in items):
                    self.problem(path + ("arguments",), "arguments cannot contain line breaks")
                if command.strip('"').lower().endswith((".bat", ".cmd")):
                    bad = sorted({c for a in items for c in a if c in _CMD_META})
                    if bad:
                        self.problem(path + ("arguments",),
                                     f"{command} is a batch file: cmd.exe re-parses its arguments, so "
                                     f"{' '.join(bad)} would not arrive as written; write 'arguments' as "
                                     "one string you have quoted for cmd.exe, or call a program")
                text = cmdline.join(items) if items else None
            elif isinstance(arguments, str):
                if "\n" in arguments or "\r" in arguments:
                    self.problem(path + ("arguments",), "arguments cannot contain line breaks")
                text = arguments or None
            else:
                text = None
            out.append(ExecAction(command=command, arguments=text,
                                  working_directory=action.get("workingDirectory")))
        return tuple(out)

    # --- principal -----------------------------------------------------------------------
    def _principal(self, spec: dict[str, Any]) -> Principal | None:
        run_as = spec.get("runAs")
        path = ("spec", "runAs")
        if not run_as:
            self.problem(("spec",), "runAs is required (in the task or in a Defaults document): "
                                    "the task must not depend on who runs apply", key=True)
            return None
        user, group = run_as.get("user"), run_as.get("group")
        logon = run_as.get("logonType")
        run_level = _RUN_LEVEL.get(run_as.get("runLevel", ""), None)
        extras = dict(
            display_name=run_as.get("displayName"),
            process_token_sid_type=_SID_TYPE.get(run_as.get("processTokenSidType", ""), None),
            required_privileges=tuple(run_as.get("requiredPrivileges") or ()),
            run_level=run_level,
        )
        if user and group:
            self.problem(path + ("group",), "runAs takes 'user' or 'group', not both", key=True)
            return None
        if not user and not group:
            self.problem(path, "runAs needs 'user' or 'group'")
            return None
        password = run_as.get("password")
        if group:
            if logon not in (None, "group"):
                self.problem(path + ("logonType",), "a group runs with logonType group")
                return None
            if password:
                self.problem(path + ("password",), "a group has no password", key=True)
                return None
            return Principal(group_id=group, **extras)
        sid = accounts.well_known(user)
        if sid in accounts.SERVICE_SIDS:
            if logon not in (None, "serviceAccount"):
                self.problem(path + ("logonType",), f"{user} is a service account: use logonType "
                                                    "serviceAccount (or leave it out)")
                return None
            if password:
                self.problem(path + ("password",), f"{user} needs no password", key=True)
                return None
            if extras["process_token_sid_type"] and sid == accounts.SYSTEM_SID:
                self.problem(path + ("processTokenSidType",),
                             "processTokenSidType applies only to LOCAL SERVICE and NETWORK SERVICE", key=True)
                return None
            return Principal(user_id=user, **extras)
        if logon in (None, "serviceAccount"):
            if user.endswith("$"):
                logon = "password"  # a gMSA: Windows fetches its password itself
            elif logon == "serviceAccount":
                self.problem(path + ("logonType",), f"{user} is not a service account; use password, "
                                                    "s4u or interactive")
                return None
            else:
                self.problem(path, f"runAs.logonType is required for {user}: password, s4u or interactive")
                return None
        if logon == "group":
            self.problem(path + ("logonType",), "logonType group needs 'group', not 'user'")
            return None
        password_env = None
        if password:
            if logon not in ("password", "interactiveOrPassword"):
                self.problem(path + ("password",), f"a password is used only with logonType password, "
                                                   f"not {logon}", key=True)
                return None
            password_env = password["fromEnv"]
        elif logon in ("password", "interactiveOrPassword") and not user.endswith("$"):
            self.problem(path, f"logonType {logon} needs password: {{fromEnv: VARIABLE}} "
                               "(a gMSA account ending in $ needs none)")
            return None
        return Principal(user_id=user, logon_type=_LOGON[logon], password_env=password_env, **extras)

    # --- settings ------------------------------------------------------------------------
    def _settings(self, spec: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
        settings = spec.get("settings") or {}
        path = ("spec", "settings")
        out: dict[str, Any] = {}
        if "enabled" in spec:
            out["Enabled"] = bool(spec["enabled"])
        for key, element in _SIMPLE_SETTINGS.items():
            if key in settings:
                out[element] = settings[key]
        if "timeout" in settings:
            if settings["timeout"] == "none":
                out["ExecutionTimeLimit"] = Duration()
            else:
                limit = self._duration(settings["timeout"], path + ("timeout",))
                if limit is not None:
                    if limit.seconds == 0 and not limit.months:
                        self.problem(path + ("timeout",), "a timeout of 0 means no limit: write \"none\"")
                    out["ExecutionTimeLimit"] = limit
        if "retry" in settings:
            retry = settings["retry"]
            interval = self._bounded(retry["interval"], path + ("retry", "interval"),
                                     Duration(seconds=60), Duration(seconds=31 * 86400), "retry.interval")
            if interval is not None:
                out["RestartOnFailure"] = (("Interval", interval), ("Count", retry["count"]))
        if settings.get("multipleInstances") in _MULTIPLE:
            out["MultipleInstancesPolicy"] = _MULTIPLE[settings["multipleInstances"]]
        batteries = settings.get("batteries") or {}
        if "disallowStart" in batteries:
            out["DisallowStartIfOnBatteries"] = batteries["disallowStart"]
        if "stopOnBattery" in batteries:
            out["StopIfGoingOnBatteries"] = batteries["stopOnBattery"]
        if "deleteExpiredAfter" in settings:
            value = self._duration(settings["deleteExpiredAfter"], path + ("deleteExpiredAfter",))
            if value is not None:
                out["DeleteExpiredTaskAfter"] = value
        idle = settings.get("idle")
        if idle:
            group = []
            for key, element in (("duration", "Duration"), ("waitTimeout", "WaitTimeout")):
                if key in idle:
                    value = self._duration(idle[key], path + ("idle", key))
                    if value is not None:
                        group.append((element, value))
            for key, element in (("stopOnIdleEnd", "StopOnIdleEnd"), ("restartOnIdle", "RestartOnIdle")):
                if key in idle:
                    group.append((element, idle[key]))
            out["IdleSettings"] = tuple(group)
        network = settings.get("network")
        if network:
            out["NetworkSettings"] = tuple((e, network[k]) for k, e in (("name", "Name"), ("id", "Id")) if k in network)
        maintenance = settings.get("maintenance")
        if maintenance:
            group = []
            for key, element in (("period", "Period"), ("deadline", "Deadline")):
                if key in maintenance:
                    value = self._duration(maintenance[key], path + ("maintenance", key))
                    if value is not None:
                        group.append((element, value))
            if "exclusive" in maintenance:
                group.append(("Exclusive", maintenance["exclusive"]))
            out["MaintenanceSettings"] = tuple(group)
            if out.get("UseUnifiedSchedulingEngine") is not True:
                self.problem(path + ("maintenance",), "maintenance needs useUnifiedSchedulingEngine: true "
                                                      "(Task Scheduler refuses it otherwise)", key=True)
        return tuple((name, out[name]) for name in _SETTINGS_ORDER if name in out)
