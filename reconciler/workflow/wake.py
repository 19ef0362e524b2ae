"""Waking dependents: a task with ``run.after`` gets one EventTrigger per dependency,
subscribed to the "run finished" event the runner writes to the Application log when that
dependency's run ends (``reconciler.runner.events``). Import recognises these triggers
(and only these, exactly as derived) and leaves them out of the manifest: ``after`` says
them already."""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any, Iterable

from .. import names
from ..model import EventTrigger
from ..runner import EVENT_ID, EVENT_LOG, EVENT_SOURCE
from .spec import DEFAULT_TIME_LIMIT


def _xpath_literal(value: str) -> str:
    # XPath 1.0 literals have no escapes; a task path cannot contain '"' (naming rules).
    return f"'{value}'" if "'" not in value else f'"{value}"'


def wake_query(task_path: str) -> str:
    """The event query that matches the "run finished" event of ``task_path``."""
    select = (f"*[System[Provider[@Name='{EVENT_SOURCE}'] and EventID={EVENT_ID}]] and "
              f"*[EventData[Data={_xpath_literal(task_path)}]]")
    query_list = ET.Element("QueryList")
    query = ET.SubElement(query_list, "Query", {"Id": "0", "Path": EVENT_LOG})
    ET.SubElement(query, "Select", {"Path": EVENT_LOG}).text = select
    return ET.tostring(query_list, encoding="unicode")


def wake_triggers(dependency_paths: Iterable[str]) -> tuple[EventTrigger, ...]:
    """One EventTrigger per dependency, sorted by path (deterministic), duplicates once."""
    unique = {names.key(p): p for p in dependency_paths}
    return tuple(EventTrigger(subscription=wake_query(unique[k])) for k in sorted(unique))


_SELECT = re.compile(
    r"^\*\[System\[Provider\[@Name=(['\"])" + re.escape(EVENT_SOURCE) + r"\1\]\s+and\s+EventID="
    + str(EVENT_ID) + r"\]\]\s+and\s+\*\[EventData\[Data=(?:'([^']*)'|\"([^\"]*)\")\]\]$")
# The values a wake trigger's other fields may have in the canonical form: the defaults
# wake_triggers leaves, written out or left out.
_WAKE_DEFAULTS = {"Enabled": (True, None), "Delay": ("PT0S", None), "PeriodOfOccurrence": ("PT0S", None),
                  "NumberOfOccurrences": (1, None), "MatchingElement": (None,),
                  "ExecutionTimeLimit": (DEFAULT_TIME_LIMIT.iso(), None), "ValueQueries": ({}, None)}


def _derived_fields_only(body: dict[str, Any]) -> bool:
    return all(key == "Subscription" or (key in _WAKE_DEFAULTS and value in _WAKE_DEFAULTS[key])
               for key, value in body.items())


def _select_text(subscription: str) -> str | None:
    """The text of the one Select of a QueryList on the Application log, or None."""
    try:
        query_list = ET.fromstring(subscription.strip())
    except ET.ParseError:
        return None
    queries = list(query_list)
    if query_list.tag != "QueryList" or len(queries) != 1 or queries[0].tag != "Query":
        return None
    selects = list(queries[0])
    if (queries[0].get("Path") != EVENT_LOG or len(selects) != 1 or selects[0].tag != "Select"
            or selects[0].get("Path") != EVENT_LOG):
        return None
    return selects[0].text or ""


def wake_trigger_task(canonical_trigger: dict[str, Any]) -> str | None:
    """The dependency path a wake trigger (in the canonical form) listens for, or None
    if the trigger is anything else (or was edited beyond the derived form)."""
    if not isinstance(canonical_trigger, dict) or set(canonical_trigger) != {"EventTrigger"}:
        return None
    body = canonical_trigger["EventTrigger"]
    if not isinstance(body, dict) or not isinstance(body.get("Subscription"), str) or not _derived_fields_only(body):
        return None
    select = _select_text(body["Subscription"])
    match = _SELECT.match(" ".join(select.split())) if select is not None else None
    if not match:
        return None
    return match.group(2) if match.group(2) is not None else match.group(3)


def is_wake_trigger(canonical_trigger: dict[str, Any]) -> bool:
    """True for a trigger derived from ``run.after`` (import drops these)."""
    return wake_trigger_task(canonical_trigger) is not None
