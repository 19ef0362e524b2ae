"""spec.schedule and spec.triggers -> Task Scheduler triggers: cron through ``cron``,
the explicit forms one kind at a time, and the options every trigger takes."""
from __future__ import annotations

import dataclasses
import datetime as dt
import re
from typing import Any, Callable

from . import vocabulary
from .compile_base import Reporter, short
from .compile_rules import dot_account_problem
from .durations import Duration
from .limits import DEFAULT_START, MAX_INTERVAL, MAX_TRIGGERS, MIN_INTERVAL
from .model import (
    MONTHS, WEEKDAYS, BootTrigger, ByDay, ByMonth, ByMonthDayOfWeek, ByWeek, CalendarTrigger,
    EventTrigger, IdleTrigger, LogonTrigger, RegistrationTrigger, Repetition, Schedule,
    SessionStateChangeTrigger, TimeTrigger, Trigger, WnfStateChangeTrigger,
)
from .taskxml import invalid_xml_char

_WEEKDAY = {d[:3].lower(): d for d in WEEKDAYS}
_MONTH = {m[:3].lower(): m for m in MONTHS}
_DATETIME = re.compile(r"^(\d{4}-\d{2}-\d{2})T(\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?$")

KeyPath = tuple[Any, ...]  # where a value is in the document


class TriggerCompiler:
    """The triggers of one task. ``overlap``: one of its cron schedules can fire two
    triggers at the same minute (a day that matches both day fields)."""

    def __init__(self, report: Reporter, convert_cron: Callable[..., Any] | None) -> None:
        self.report = report
        self.convert_cron = convert_cron
        self.overlap = False

    def compile(self, spec: dict[str, Any]) -> tuple[Trigger, ...]:
        out: list[Trigger] = []
        schedule = spec.get("schedule")
        if isinstance(schedule, str):
            out.extend(self.cron(schedule, {}, ("spec", "schedule")))
        elif isinstance(schedule, list):
            for index, expression in enumerate(schedule):
                out.extend(self.cron(expression, {}, ("spec", "schedule", index)))
        for index, item in enumerate(spec.get("triggers") or []):
            if not isinstance(item, dict) or len(item) != 1:
                continue
            ((kind, body),) = item.items()
            path = ("spec", "triggers", index, kind)
            out.extend(self.trigger(kind, body if body is not None else {}, path))
        if len(out) > MAX_TRIGGERS:
            where = ("spec", "triggers") if "triggers" in spec else ("spec", "schedule")
            self.report.problem(where, f"the schedule needs {len(out)} Task Scheduler triggers; "
                                       f"a task may have at most {MAX_TRIGGERS}: split it into several tasks")
        return tuple(out)

    def trigger(self, kind: str, body: Any, path: KeyPath) -> list[Trigger]:
        """One item of spec.triggers (``{kind: body}``)."""
        if kind == "cron":
            if isinstance(body, str):
                return self.cron(body, {}, path)
            return self.cron(body.get("expression", ""), body, path)
        if not isinstance(body, dict):
            return []
        if kind in vocabulary.SCHEDULE:
            start = self._start(body, path)
            if start is None:
                return []
            schedule = _SCHEDULES[vocabulary.SCHEDULE[kind]](body)
            return [self._common(CalendarTrigger(start=start, schedule=schedule), body, path, True)]
        if kind == "once":
            at = self._boundary(body["at"], path + ("at",))
            if at is None:
                return []
            return [self._common(TimeTrigger(start=at), body, path, True)]
        if problem := dot_account_problem(body.get("user")):  # atLogon, onSessionChange
            self.report.problem(path + ("user",), problem)
            return []
        delay = self.report.duration(body["delay"], path + ("delay",)) if "delay" in body else None
        build = _EVENTS.get(vocabulary.TRIGGER.get(kind, ""))
        trigger = build(self, body, path, delay) if build is not None else None
        if trigger is None:
            return []
        return [self._common(trigger, body, path, False)]

    # --- values ------------------------------------------------------------------------
    def _date(self, value: Any, path: KeyPath) -> dt.date | None:
        try:
            return dt.date.fromisoformat(str(value))
        except ValueError:
            self.report.problem(path, f"{short(value)} is not a date that exists (write YYYY-MM-DD)")
            return None

    def _boundary(self, value: Any, path: KeyPath) -> str | None:
        """A date or date-time as a Start/EndBoundary (seconds always written)."""
        text = str(value)
        if "T" not in text:
            day = self._date(text, path)
            return f"{day.isoformat()}T00:00:00" if day else None
        match = _DATETIME.match(text)
        if not match:
            self.report.problem(path, f"{short(text)} is not a date-time (write YYYY-MM-DDTHH:MM:SS)")
            return None
        day_text, hour, minute, second, fraction, offset = match.groups()
        if self._date(day_text, path) is None:
            return None
        try:
            dt.time(int(hour), int(minute), int(second or 0))
        except ValueError:
            self.report.problem(path, f"{short(text)} is not a time that exists")
            return None
        return f"{day_text}T{hour}:{minute}:{second or '00'}{fraction or ''}{offset or ''}"

    def _start_date(self, body: dict[str, Any], path: KeyPath) -> dt.date | None:
        if "from" not in body:
            return DEFAULT_START
        value = str(body["from"])
        if "T" in value:
            self.report.problem(path + ("from",), "'from' takes a date here (YYYY-MM-DD); "
                                                  "the time of day is 'at'")
            return None
        return self._date(value, path + ("from",))

    def _start(self, body: dict[str, Any], path: KeyPath) -> str | None:
        day = self._start_date(body, path)
        if day is None:
            return None
        return f"{day.isoformat()}T{_time(body['at'])}{body.get('utcOffset', '')}"

    def _common(self, trigger: Any, body: dict[str, Any], path: KeyPath, time_based: bool) -> Any:
        """The options every trigger takes (and, for time-based ones, randomDelay)."""
        changes: dict[str, Any] = {}
        if body.get("enabled") is False:
            changes["enabled"] = False
        if "timeLimit" in body:
            changes["time_limit"] = self.report.duration(body["timeLimit"], path + ("timeLimit",))
        if "repeat" in body:
            changes["repetition"] = self._repetition(body["repeat"], path + ("repeat",))
        if "until" in body:
            end = self._boundary(body["until"], path + ("until",))
            changes["end"] = end
            start = changes.get("start", trigger.start)
            if end and start and end[:19] <= start[:19]:
                self.report.problem(path + ("until",), f"'until' ({body['until']}) must be after the start "
                                                       f"({start[:19].replace('T', ' ')})")
        if not time_based and "from" in body:
            changes["start"] = self._boundary(body["from"], path + ("from",))
        if time_based and "randomDelay" in body:
            changes["random_delay"] = self.report.duration(body["randomDelay"], path + ("randomDelay",))
        return dataclasses.replace(trigger, **changes) if changes else trigger

    def _repetition(self, body: dict[str, Any], path: KeyPath) -> Repetition | None:
        interval = self.report.bounded(body.get("every"), path + ("every",),
                                       MIN_INTERVAL, MAX_INTERVAL, "repeat.every")
        duration = None
        if "for" in body:
            duration = self.report.bounded(body["for"], path + ("for",), MIN_INTERVAL, None, "repeat.for")
            if interval and duration and duration.seconds < interval.seconds:
                self.report.problem(path + ("for",), "repeat.for must be at least repeat.every")
        if interval is None:
            return None
        return Repetition(interval=interval, duration=duration, stop_at_end=bool(body.get("stopAtEnd", False)))

    # --- triggers started by an event ----------------------------------------------------------
    def _event(self, body: dict[str, Any], path: KeyPath, delay: Duration | None) -> Trigger | None:
        subscription = self._subscription(body, path)
        if subscription is None:
            return None
        period = body.get("periodOfOccurrence")
        queries = body.get("valueQueries") or {}
        return EventTrigger(
            subscription=subscription, delay=delay,
            period_of_occurrence=self.report.bounded(period, path + ("periodOfOccurrence",), MIN_INTERVAL, None,
                                                     "periodOfOccurrence") if period else None,
            number_of_occurrences=body.get("numberOfOccurrences"),
            matching_element=body.get("matchingElement"),
            value_queries=tuple(sorted(queries.items())),
        )

    def _subscription(self, body: dict[str, Any], path: KeyPath) -> str | None:
        if "query" in body:
            return self._query(body, path)
        if "log" not in body:
            self.report.problem(path, "onEvent needs 'log' (with optional 'source' and 'eventId') or 'query'")
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
        return _query_list(str(body["log"]), select)

    def _query(self, body: dict[str, Any], path: KeyPath) -> str | None:
        """A structured <QueryList> as written, or a bare XPath wrapped in one for its
        ``log``. Why not a bare XPath as written: EvtSubscribe (Microsoft Learn) reads an
        XPath query only together with a channel path ("the path is required if the Query
        parameter contains an XPath query"), and a task's Subscription has none, so such a
        trigger would never fire (compile_rules)."""
        for key in ("source", "eventId"):
            if key in body:
                self.report.problem(path + (key,), f"'{key}' cannot be combined with 'query' "
                                                   "(write the whole query, or log/source/eventId)", key=True)
                return None
        query = str(body["query"])
        if invalid_xml_char(query) is not None:
            return query  # reported by the XML check
        if not query.lstrip().startswith("<"):
            if "log" not in body:
                self.report.problem(path + ("query",), "an XPath query needs the log it reads: add 'log' "
                                                       "(e.g. log: Application; the query is then wrapped in a "
                                                       "<QueryList>), or write a whole <QueryList>")
                return None
            return _query_list(str(body["log"]), query)
        if "log" in body:
            self.report.problem(path + ("log",), "'log' cannot be combined with a <QueryList> query, which "
                                                 "names its logs itself: remove 'log'", key=True)
            return None
        problem = _query_list_problem(query)
        if problem:
            self.report.problem(path + ("query",), problem)
            return None
        return query

    def _xpath_literal(self, value: str, path: KeyPath) -> str | None:
        # XPath 1.0 string literals have no escapes: pick the quote the value lacks.
        if "'" not in value:
            return f"'{value}'"
        if '"' not in value:
            return f'"{value}"'
        self.report.problem(path, "an event source cannot contain both ' and \" (write a 'query' instead)")
        return None

    # --- cron ----------------------------------------------------------------------------------
    def cron(self, expression: Any, options: dict[str, Any], path: KeyPath) -> list[Trigger]:
        if not isinstance(expression, str):
            return []
        expression_path = path + ("expression",) if options else path
        if "utcOffset" in options:
            self.report.problem(path + ("utcOffset",), "cron is read in local time; a UTC offset would make "
                                                       "it drift an hour across daylight saving time", key=True)
            return []
        if "repeat" in options:  # pragma: no cover - the schema refuses it already
            return []
        start_date = self._start_date(options, path)
        if start_date is None:
            return []
        convert = self.convert_cron
        if convert is None:
            from . import cron

            convert = cron.convert
        try:
            conversion = convert(expression, start_date=start_date)
        except Exception as err:  # CronError: one line with the cause and a way out
            from .errors import ReconcileError

            if not isinstance(err, ReconcileError):
                raise
            self.report.problem(expression_path, f"cron {short(expression)}: {err}")
            return []
        if conversion.may_overlap:
            self.overlap = True
        out: list[Trigger] = []
        for trigger in conversion.triggers:
            if isinstance(trigger, BootTrigger) and "randomDelay" in options:
                self.report.problem(path + ("randomDelay",), "@reboot takes no randomDelay", key=True)
                return []
            out.append(self._common(trigger, options, path, not isinstance(trigger, BootTrigger)))
        return out


def _query_list(log: str, select: str) -> str:
    """An Event Log structured query selecting ``select`` from ``log``; built with lxml, so
    the log name and the XPath are escaped by the serializer, not by hand."""
    from lxml import etree

    query_list = etree.Element("QueryList")
    query = etree.SubElement(query_list, "Query", Id="0", Path=log)
    selector = etree.SubElement(query, "Select", Path=log)
    selector.text = select
    return etree.tostring(query_list, encoding="unicode")


def _query_list_problem(query: str) -> str | None:
    """Why an XML query is not a structured query (Query Schema, Microsoft Learn: the root
    is <QueryList>); None when it is one."""
    from lxml import etree

    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    try:
        root = etree.fromstring(query.encode("utf-8"), parser)
    except etree.XMLSyntaxError:
        return "query is not well-formed XML: write a <QueryList> (as Event Viewer's XML tab shows it) or an XPath with 'log'"
    if etree.QName(root).localname != "QueryList":
        return f"an XML query is a <QueryList>, not <{etree.QName(root).localname}>: wrap it in <QueryList>…</QueryList>"
    return None


def _time(value: str) -> str:
    parts = value.split(":")
    return f"{int(parts[0]):02d}:{parts[1]}:{parts[2] if len(parts) > 2 else '00'}"


# --- calendar schedules, by ScheduleBy… element -------------------------------------------------

def _weekdays(days: list[Any]) -> tuple[str, ...]:
    chosen = {_WEEKDAY[str(d)[:3].lower()] for d in days}
    return tuple(d for d in WEEKDAYS if d in chosen)


def _months(months: list[Any] | None) -> tuple[str, ...]:
    if not months:
        return MONTHS
    chosen = {MONTHS[m - 1] if isinstance(m, int) else _MONTH[str(m)[:3].lower()] for m in months}
    return tuple(m for m in MONTHS if m in chosen)


def _month_days(days: list[Any]) -> tuple[str, ...]:
    numbers = sorted({d for d in days if isinstance(d, int)})
    last = any(isinstance(d, str) and d.lower() == "last" for d in days)
    return tuple(str(n) for n in numbers) + (("Last",) if last else ())


def _by_month_day_of_week(body: dict[str, Any]) -> ByMonthDayOfWeek:
    weeks = sorted({vocabulary.WEEK[w] for w in body["weeks"]}, key=lambda w: (w == "Last", w))
    return ByMonthDayOfWeek(weeks=tuple(weeks), days=_weekdays(body["days"]), months=_months(body.get("months")))


_SCHEDULES: dict[str, Callable[[dict[str, Any]], Schedule]] = {
    "ScheduleByDay": lambda body: ByDay(interval=body.get("every", 1)),
    "ScheduleByWeek": lambda body: ByWeek(interval=body.get("every", 1), days=_weekdays(body["days"])),
    "ScheduleByMonth": lambda body: ByMonth(days=_month_days(body["days"]), months=_months(body.get("months"))),
    "ScheduleByMonthDayOfWeek": _by_month_day_of_week,
}

# --- triggers started by an event, by element ----------------------------------------------------
_Build = Callable[[TriggerCompiler, dict[str, Any], KeyPath, Duration | None], Trigger | None]
_EVENTS: dict[str, _Build] = {
    "BootTrigger": lambda _, body, path, delay: BootTrigger(delay=delay),
    "RegistrationTrigger": lambda _, body, path, delay: RegistrationTrigger(delay=delay),
    "IdleTrigger": lambda _, body, path, delay: IdleTrigger(),
    "LogonTrigger": lambda _, body, path, delay: LogonTrigger(user_id=body.get("user"), delay=delay),
    "SessionStateChangeTrigger": lambda _, body, path, delay: SessionStateChangeTrigger(
        state_change=vocabulary.SESSION[body["change"]], user_id=body.get("user"), delay=delay),
    "EventTrigger": TriggerCompiler._event,
    "WnfStateChangeTrigger": lambda _, body, path, delay: WnfStateChangeTrigger(
        state_name=body["stateName"], data=body.get("data"), data_offset=body.get("dataOffset"), delay=delay),
}
