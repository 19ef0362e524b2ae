"""Field-by-field differences between two canonical task forms, and one-line summaries
of triggers and actions. Paths read like the task XML: ``Settings/ExecutionTimeLimit``,
``Triggers[0]/CalendarTrigger/StartBoundary``, ``Actions[1]/Exec/Arguments``; values as
people read them (``30m``, ``SYSTEM``, single backslashes), with the values themselves
kept beside them for JSON readers."""
from __future__ import annotations

from typing import Any, Callable

from . import accounts, plan_phrases
from .model import WEEKDAYS, FieldChange

_DAY_ABBREVIATION = {d: d[:3] for d in WEEKDAYS}


def show(value: Any) -> str:
    """A value as the plan prints it: strings as they are (quoted only when empty or
    edged with spaces), booleans as the manifest writes them, lists and mappings in
    YAML's flow style."""
    return plan_phrases.scalar(value)


def _kind(item: Any) -> str | None:
    if isinstance(item, dict) and len(item) == 1:
        return next(iter(item))
    return None


def _walk(before: Any, after: Any, path: str, out: list[FieldChange]) -> None:
    if before == after:
        return
    if isinstance(before, dict) and isinstance(after, dict):
        keys = list(before) + [k for k in after if k not in before]
        for key in keys:
            sub = f"{path}/{key}" if path else str(key)
            if key not in after:
                out.append(FieldChange(sub, summarize(key, before[key]), None, before[key]))
            elif key not in before:
                out.append(FieldChange(sub, None, summarize(key, after[key]), None, after[key]))
            else:
                _walk(before[key], after[key], sub, out)
        return
    if isinstance(before, list) and isinstance(after, list) and (
        any(isinstance(v, dict) for v in before + after)
    ):
        if path == "Triggers":
            _triggers(before, after, out)
        else:
            _ordered(before, after, path, out)
        return
    out.append(FieldChange(path, _leaf(path, before), _leaf(path, after), before, after))


def _leaf(path: str, value: Any) -> str | None:
    return None if value is None else plan_phrases.element_value(path, value)


def _ordered(before: list[Any], after: list[Any], path: str, out: list[FieldChange]) -> None:
    for index in range(max(len(before), len(after))):
        sub = f"{path}[{index}]"
        if index >= len(after):
            out.append(FieldChange(sub, summarize(path, before[index]), None, before[index]))
        elif index >= len(before):
            out.append(FieldChange(sub, None, summarize(path, after[index]), None, after[index]))
        elif _kind(before[index]) and _kind(before[index]) == _kind(after[index]):
            kind = _kind(after[index])
            _walk(before[index][kind], after[index][kind], f"{sub}/{kind}", out)
        else:
            out.append(FieldChange(sub, summarize(path, before[index]), summarize(path, after[index]),
                                   before[index], after[index]))


def _triggers(before: list[Any], after: list[Any], out: list[FieldChange]) -> None:
    """Triggers are a multiset: equal ones match whatever their position; the rest
    pair up by kind, in order, and show field by field."""
    remaining_before = list(before)
    unmatched_after: list[tuple[int, Any]] = []
    for index, trigger in enumerate(after):
        if trigger in remaining_before:
            remaining_before.remove(trigger)
        else:
            unmatched_after.append((index, trigger))
    for index, trigger in unmatched_after:
        kind = _kind(trigger)
        partner = next((b for b in remaining_before if _kind(b) == kind), None)
        if partner is not None:
            remaining_before.remove(partner)
            _walk(partner[kind], trigger[kind], f"Triggers[{index}]/{kind}", out)
        else:
            out.append(FieldChange(f"Triggers[{index}]", None, trigger_summary(trigger), None, trigger))
    for trigger in remaining_before:
        out.append(FieldChange("Triggers[-]", trigger_summary(trigger), None, trigger))


def summarize(context: Any, value: Any) -> str:
    if context in ("Triggers",) and isinstance(value, dict):
        return trigger_summary(value)
    if context in ("Actions",) and isinstance(value, dict):
        return action_summary(value)
    return plan_phrases.element_value(str(context), value)


def readable(form: dict[str, Any]) -> dict[str, Any]:
    """The canonical form as people review it: a runner action's payload (base64 JSON)
    shown as the actions and run block it carries (``Actions[0]/Runner/run/after``), so
    a change in a run block shows field by field. For display only: plans compare the
    canonical form itself."""
    actions = form.get("Actions")
    if not isinstance(actions, list) or not any(
            "reconciler.runner" in str(a.get("Exec", {}).get("Arguments", "")) for a in actions
            if isinstance(a, dict) and isinstance(a.get("Exec"), dict)):
        return form  # no runner action: nothing to decode (and no import of workflow)
    from . import workflow
    from .runner.secrets import redact_run_urls

    shown = []
    changed = False
    for action in actions:
        body = action.get("Exec") if isinstance(action, dict) else None
        parsed = (workflow.parse_runner_action(body.get("Command", ""), body.get("Arguments"))
                  if isinstance(body, dict) and body.get("Arguments") else None)
        if parsed is None:
            shown.append(action)
            continue
        changed = True
        shown.append({"Runner": {"python": parsed["runner"]["python"], "home": parsed["runner"]["home"],
                                 "task": parsed["task"], "actions": parsed["actions"],
                                 "run": redact_run_urls(parsed["run"])}})
    return {**form, "Actions": shown} if changed else form


def changes(before: dict[str, Any], after: dict[str, Any]) -> list[FieldChange]:
    if before == after:
        return []
    out: list[FieldChange] = []
    _walk(readable(before), readable(after), "", out)
    return out


def field_changes(before: Any, after: Any, path: str) -> list[FieldChange]:
    """The differences between two parts of a task found at ``path`` (a trigger, an
    action), with paths below it."""
    out: list[FieldChange] = []
    _walk(before, after, path, out)
    return out


def _clock(start: str | None) -> str:
    return start[11:16] if start and len(start) >= 16 else "?"


def trigger_summary(trigger: dict[str, Any]) -> str:
    """``daily at 09:30``, ``Mon, Fri at 08:00 every 15m for 8h45m``, ``at startup``..."""
    kind = _kind(trigger) or "?"
    body = trigger.get(kind, {}) if isinstance(trigger, dict) else {}
    if not isinstance(body, dict):
        return kind
    describe = _TRIGGERS.get(kind)
    text = describe(trigger, body) if describe is not None else kind
    return text + _repetition(body.get("Repetition")) + _delay_and_state(body)


def _calendar(trigger: dict[str, Any], body: dict[str, Any]) -> str:
    text = "CalendarTrigger"
    for element, describe in _SCHEDULES.items():
        if element in body:
            text = describe(body[element])
            break
    return text + f" at {_clock(body.get('StartBoundary'))}"


def _days(schedule: dict[str, Any]) -> str:
    return plan_phrases.runs([_DAY_ABBREVIATION.get(d, d) for d in schedule.get("DaysOfWeek", [])],
                             tuple(_DAY_ABBREVIATION.values()))


def _of_months(schedule: dict[str, Any]) -> str:
    months = schedule.get("Months", [])
    return "" if len(months) == 12 else " of " + ", ".join(m[:3] for m in months)


def _by_day(schedule: dict[str, Any]) -> str:
    every = schedule.get("DaysInterval", 1)
    return "daily" if every == 1 else f"every {every} days"


def _by_week(schedule: dict[str, Any]) -> str:
    every = schedule.get("WeeksInterval", 1)
    return f"weekly on {_days(schedule)}" + (f" every {every} weeks" if every != 1 else "")


def _by_month(schedule: dict[str, Any]) -> str:
    return "monthly on day " + ", ".join(schedule.get("DaysOfMonth", [])) + _of_months(schedule)


def _by_month_day_of_week(schedule: dict[str, Any]) -> str:
    weeks = ", ".join(schedule.get("Weeks", []))
    return f"monthly on week {weeks} {_days(schedule)}" + _of_months(schedule)


_SCHEDULES: dict[str, Callable[[dict[str, Any]], str]] = {
    "ScheduleByDay": _by_day,
    "ScheduleByWeek": _by_week,
    "ScheduleByMonth": _by_month,
    "ScheduleByMonthDayOfWeek": _by_month_day_of_week,
}


def _event(trigger: dict[str, Any], body: dict[str, Any]) -> str:
    from . import workflow

    dependency = workflow.wake_trigger_task(trigger)
    return f"when {dependency} finishes (run.after)" if dependency else "on event"


_TRIGGERS: dict[str, Callable[[dict[str, Any], dict[str, Any]], str]] = {
    "CalendarTrigger": _calendar,
    "TimeTrigger": lambda trigger, body: f"once at {body.get('StartBoundary')}",
    "BootTrigger": lambda trigger, body: "at startup",
    "LogonTrigger": lambda trigger, body: "at logon" + (
        f" of {accounts.display(body['UserId'])}" if body.get("UserId") else ""),
    "IdleTrigger": lambda trigger, body: "on idle",
    "RegistrationTrigger": lambda trigger, body: "on registration",
    "EventTrigger": _event,
    "SessionStateChangeTrigger": lambda trigger, body: f"on {body.get('StateChange', 'session change')}",
}


def _repetition(repetition: Any) -> str:
    if not (isinstance(repetition, dict) and "Interval" in repetition):
        return ""
    from .durations import parse_iso

    text = ""
    try:
        text += f" every {parse_iso(repetition['Interval']).short()}"
        if "Duration" in repetition:
            text += f" for {parse_iso(repetition['Duration']).short()}"
    except ValueError:
        text += f" every {repetition['Interval']}"
    return text


def _delay_and_state(body: dict[str, Any]) -> str:
    delay = body.get("Delay")
    text = f" after {delay}" if delay and delay != "PT0S" else ""
    return text + (" (disabled)" if body.get("Enabled") is False else "")


def action_summary(action: dict[str, Any]) -> str:
    kind = _kind(action) or "?"
    body = action.get(kind, {})
    if kind == "Runner" and isinstance(body, dict):
        from . import cmdline

        def one(a: dict[str, Any]) -> str:
            arguments = a.get("arguments")
            if isinstance(arguments, list):
                arguments = cmdline.join([str(x) for x in arguments])
            return a.get("command", "") + (f" {arguments}" if arguments else "")

        inner = "; ".join(one(a) for a in body.get("actions", []))
        run = body.get("run") or {}
        extra = f" (after {', '.join(str(x if isinstance(x, str) else x.get('task')) for x in run['after'])})" \
            if run.get("after") else ""
        return f"via the runner: {inner}{extra}"
    if kind == "Exec" and isinstance(body, dict):
        text = body.get("Command", "")
        if body.get("Arguments"):
            text += " " + body["Arguments"]
        return text
    if kind == "ComHandler" and isinstance(body, dict):
        return f"COM handler {body.get('ClassId', '')}"
    return kind
