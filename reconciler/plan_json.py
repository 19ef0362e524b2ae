"""A plan as data: the JSON that ``plan --format json`` prints and ``plan --out`` saves
(with the XML to register). Here, below the views, so that ``savedplan`` (core) and the
reports (views) share one shape without the core importing a view."""
from __future__ import annotations

from typing import Any

from . import plan_words
from .model import Action, Change, FieldChange, Plan

FORMAT_VERSION = 1


def _field_json(field: FieldChange) -> dict[str, Any]:
    return {"field": field.field, "before": field.before, "after": field.after,
            "before_value": field.old, "after_value": field.new}


def _line_json(line: plan_words.Line) -> dict[str, Any]:
    return {"label": line.label, "before": line.before, "after": line.after, "fields": list(line.fields)}


def _change_json(change: Change, with_xml: bool, root: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "path": change.path,
        "action": change.action.value,
        "reason": change.reason,
        "drift": change.drift,
        "manifest": change.origin,
        "protect": change.protect,
        "fields": [_field_json(f) for f in change.fields],
        "lines": [_line_json(line) for line in plan_words.describe(change, root)],
        "before": change.before,
        "after": change.after,
    }
    if change.replaces:
        body["replaces"] = change.replaces
    if with_xml:
        body["xml"] = change.xml
        body["password_env"] = change.password_env  # the variable's name, never its value
    return body


def as_dict(plan: Plan, with_xml: bool = False) -> dict[str, Any]:
    return {
        "format_version": FORMAT_VERSION,
        "root": plan.root,
        "summary": {
            "add": plan.count(Action.CREATE),
            "change": plan.count(Action.UPDATE),
            "delete": plan.count(Action.DELETE),
            "unchanged": plan.count(Action.NOOP),
            "unmanaged": len(plan.unmanaged),
            "protected": len(plan.protected),
            "conflicts": len(plan.conflicts),
            "text": plan.summary(),
        },
        "changes": [_change_json(c, with_xml, plan.root) for c in plan.changes],
        "unmanaged": list(plan.unmanaged),
        "protected": list(plan.protected),
        "conflicts": list(plan.conflicts),
        "warnings": list(plan.warnings),
    }
