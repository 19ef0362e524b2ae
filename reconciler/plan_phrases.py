"""Values as a plan says them, in the manifest's spelling: durations as ``5m`` (not
``PT5M``), accounts by name, paths with single backslashes, mappings and lists in YAML's
flow style (``{count: 3, interval: 5m}``), triggers and actions in a few words
(``weekly on Mon-Sat at 02:00``). Pure functions of one value each; ``plan_words``
decides which values a plan shows.

Plain ASCII on purpose (``Mon-Fri``, not an en dash): a plan is also read through a
Windows console code page, which has no arrows and few dashes."""
from __future__ import annotations

import re
from typing import Any, Callable, Sequence

from . import accounts, cmdline, durations
from .import_base import NotRepresentable
from .model import MONTHS, WEEKDAYS

_DAYS = tuple(d[:3] for d in WEEKDAYS)
_MONTHS = tuple(m[:3] for m in MONTHS)
# A value of a Task Scheduler duration element (PT5M, P3D, -PT1S): said as 5m, 3d.
_ISO_DURATION = re.compile(r"^-?P(?=\d|T\d)(?:\d+Y)?(?:\d+M)?(?:\d+W)?(?:\d+D)?(?:T(?:\d+H)?(?:\d+M)?(?:[\d.,]+S)?)?$")
# A string that YAML's flow style would read as something else, or cut apart.
_FLOW_UNSAFE = re.compile(r"^$|^[\s\-?:,\[\]{}#&*!|>'\"%@`]|[,\[\]{}]|:\s|\s#|\s$")


def duration(value: str) -> str:
    """``PT1H30M`` -> ``1h30m``; anything that is not a duration is left as it is."""
    if not _ISO_DURATION.match(value):
        return value
    try:
        return durations.parse_iso(value).short()
    except ValueError:
        return value


def scalar(value: Any) -> str:
    """One value on its own: strings as they are (quoted only when empty or edged with
    spaces, so they stay visible), booleans as the manifest writes them."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, str):
        return f'"{value}"' if value == "" or value != value.strip() else value
    if isinstance(value, (dict, list, tuple)):
        return flow(value)
    return str(value)


def flow(value: Any) -> str:
    """A value in YAML's flow style, as a manifest could write it on one line."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{key}: {flow(item)}" for key, item in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(flow(item) for item in value) + "]"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'" if _FLOW_UNSAFE.search(value) else value
    return scalar(value)


def element_value(path: str, value: Any) -> str:
    """A value of the task's XML as a drift line shows it: its element's words where the
    element says what it holds (a duration, an account), the value itself otherwise."""
    leaf = path.rsplit("/", 1)[-1]
    if isinstance(value, str) and leaf in ("UserId", "GroupId"):
        return accounts.display(value)
    if isinstance(value, str) and leaf == "Subscription":
        from .workflow import wake_trigger_task

        dependency = wake_trigger_task({"EventTrigger": {"Subscription": value}})
        if dependency is not None:  # the trigger run.after derives: said, not its query
            return f"(the event of a finished run of {dependency})"
    if isinstance(value, str):
        return scalar(duration(value))
    return scalar(value)


def runs(items: Sequence[str], order: Sequence[str]) -> str:
    """``Mon, Tue, Wed, Fri`` -> ``Mon-Wed, Fri``: three or more in a row as a range."""
    out: list[str] = []
    group: list[str] = []

    def close() -> None:
        out.extend([f"{group[0]}-{group[-1]}"] if len(group) >= 3 else group)

    for item in items:
        if group and item in order and group[-1] in order and order.index(item) == order.index(group[-1]) + 1:
            group.append(item)
            continue
        close()
        group = [item]
    close()
    return ", ".join(out)


# --- triggers ---------------------------------------------------------------------------------

def _at(body: dict[str, Any]) -> str:
    return f" at {body.pop('at')}" if "at" in body else ""


def _months(body: dict[str, Any]) -> str:
    months = body.pop("months", None)
    return " in " + runs([str(m) for m in months], _MONTHS) if months else ""


def _daily(body: dict[str, Any]) -> str:
    every = body.pop("every", 1)
    return ("daily" if every == 1 else f"every {every} days") + _at(body)


def _weekly(body: dict[str, Any]) -> str:
    every = body.pop("every", 1)
    days = runs([str(d) for d in body.pop("days", [])], _DAYS)
    return f"weekly on {days}" + (f" every {every} weeks" if every != 1 else "") + _at(body)


def _monthly(body: dict[str, Any]) -> str:
    days = ", ".join(str(d) for d in body.pop("days", []))
    return f"monthly on day {days}" + _months(body) + _at(body)


def _monthly_by_weekday(body: dict[str, Any]) -> str:
    weeks = ", ".join(str(w) for w in body.pop("weeks", []))
    days = runs([str(d) for d in body.pop("days", [])], _DAYS)
    return f"monthly on the {weeks} {days}" + _months(body) + _at(body)


def _of_user(body: dict[str, Any]) -> str:
    return f" of {accounts.display(body.pop('user'))}" if body.get("user") else ""


def _named(words: str) -> Callable[[dict[str, Any]], str]:
    return lambda body: words + _of_user(body)


_HEADS: dict[str, Callable[[dict[str, Any]], str]] = {
    "daily": _daily,
    "weekly": _weekly,
    "monthly": _monthly,
    "monthlyByWeekday": _monthly_by_weekday,
    "once": lambda body: "once" + _at(body),
    "atStartup": _named("at startup"),
    "atLogon": _named("at logon"),
    "onIdle": _named("on idle"),
    "onRegistration": _named("on registration"),
    "onSessionChange": lambda body: f"on {body.pop('change', 'session change')}" + _of_user(body),
    "onEvent": lambda body: "on event " + flow(body.pop("query", "")),
    "onWnfStateChange": lambda body: f"on WNF state {body.pop('stateName', '')}",
}
# The options every trigger may carry, in the words a manifest writes them with.
_OPTIONS = (("delay", "after {}"), ("from", "from {}"), ("until", "until {}"),
            ("randomDelay", "random delay {}"), ("timeLimit", "time limit {}"), ("utcOffset", "UTC{}"))


def _repeat(body: dict[str, Any]) -> str:
    repeat = body.pop("repeat", None)
    if not isinstance(repeat, dict):
        return ""
    text = f" every {repeat.get('every')}" + (f" for {repeat['for']}" if "for" in repeat else "")
    return text + (" (stop at end)" if repeat.get("stopAtEnd") else "")


def trigger(manifest_form: dict[str, Any]) -> str:
    """One trigger in the manifest's explicit form (``{"weekly": {...}}``, as import
    writes it) in a few words: ``weekly on Mon-Fri at 09:30 every 15m for 8h``. Every key
    of the form is said, so two different triggers never read the same."""
    ((kind, written),) = manifest_form.items()
    body = dict(written) if isinstance(written, dict) else {}
    enabled = body.pop("enabled", True)
    head = _HEADS[kind](body) if kind in _HEADS else kind
    text = head + _repeat(body)
    options = [template.format(body.pop(key)) for key, template in _OPTIONS if key in body]
    options += [f"{key} {flow(value)}" for key, value in body.items()]
    if options:
        text += ", " + ", ".join(options)
    return text + ("" if enabled else " (disabled)")


def trigger_form(canonical_trigger: dict[str, Any]) -> dict[str, Any] | None:
    """The manifest form import would write for a canonical trigger, or None."""
    from .import_triggers import to_trigger

    try:
        return to_trigger(canonical_trigger)
    except (NotRepresentable, KeyError, TypeError, ValueError):
        return None


# --- actions ----------------------------------------------------------------------------------

def arguments_list(arguments: Any) -> list[str] | None:
    """A command's arguments as a list, when the text reads back exactly as that list."""
    if isinstance(arguments, list):
        return [str(a) for a in arguments]
    if isinstance(arguments, str):
        parts = cmdline.split(arguments)
        return parts if cmdline.join(parts) == arguments else None
    return None


def arguments_text(arguments: Any) -> str:
    parts = arguments_list(arguments) if isinstance(arguments, list) else None
    return cmdline.join(parts) if parts is not None else str(arguments or "")


def action(item: dict[str, Any]) -> str:
    """A manifest action: ``C:\\x.exe -m job --out "C:\\a b.xlsx" (in C:\\jobs)``."""
    if "comHandler" in item:
        handler = item["comHandler"] if isinstance(item["comHandler"], dict) else {}
        data = handler.get("data")
        return f"COM handler {handler.get('classId', '')}" + (f" with data {flow(data)}" if data else "")
    text = str(item.get("command", ""))
    if item.get("arguments"):
        text += " " + arguments_text(item["arguments"])
    if item.get("workingDirectory"):
        text += f" (in {item['workingDirectory']})"
    return text
