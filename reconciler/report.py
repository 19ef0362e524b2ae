"""Views of a Plan: text for a terminal, JSON for machines, Markdown for a pull request.
They only read the Plan; nothing here decides anything."""
from __future__ import annotations

import datetime as dt
import html
import json
from typing import TYPE_CHECKING, Callable

from . import plan_words
from .model import Action, Change, Plan
from .plan_json import as_dict

if TYPE_CHECKING:
    from .apply import Outcome


class Palette:
    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def _wrap(self, code: str, text: str) -> str:
        return f"\033[{code}m{text}\033[0m" if self.enabled else text

    def action(self, action: Action, text: str) -> str:
        code = {Action.CREATE: "32", Action.UPDATE: "33", Action.DELETE: "31"}.get(action)
        return self._wrap(code, text) if code else text

    def dim(self, text: str) -> str:
        return self._wrap("2", text)

    def bold(self, text: str) -> str:
        return self._wrap("1", text)


def _line_text(line: plan_words.Line, action: Action) -> str:
    """``timeout: 30m -> 45m`` (an update), ``timeout: 30m`` (a create)."""
    if action is Action.CREATE:
        return f"{line.label}: {line.after}"
    return f"{line.label}: {line.before or plan_words.NONE} -> {line.after or plan_words.NONE}"


def text(plan: Plan, palette: Palette | None = None, quiet: bool = False,
         next_runs: Callable[[Change], list[str]] | None = None) -> str:
    palette = palette or Palette(False)
    out: list[str] = []
    for change in plan.changes:
        if change.action is Action.NOOP:
            continue
        if quiet:
            continue
        head = f"{change.action.symbol} {change.path}"
        note = f"  ({change.reason})" if change.action is not Action.CREATE or change.replaces else ""
        out.append(palette.action(change.action, head) + palette.dim(note))
        out.extend("    " + _line_text(line, change.action) for line in plan_words.describe(change, plan.root))
    for message in plan.conflicts:
        out.append(f"! conflict: {message}")
    if plan.protected and not quiet:
        out.append("")
        out.append("Kept because they carry protect: true (their manifests are gone):")
        out.extend(f"  {path}" for path in plan.protected)
    if plan.unmanaged and not quiet:
        out.append("")
        out.append(f"Unmanaged tasks in {plan.root} (not created by reconcile.py; left alone):")
        out.extend(f"  {path}" for path in plan.unmanaged)
    for warning in plan.warnings:
        out.append(f"warning: {warning}")
    if out:
        out.append("")
    out.append(palette.bold(plan.summary()))
    return "\n".join(out) + "\n"


def as_json(plan: Plan) -> str:
    return json.dumps(as_dict(plan), indent=2, ensure_ascii=False) + "\n"


def _md_escape(text: str) -> str:
    return (text.replace("\\", "\\\\").replace("|", "\\|").replace("<", "&lt;")
            .replace(">", "&gt;").replace("*", "\\*").replace("_", "\\_").replace("`", "\\`"))


def _md_code(text: str) -> str:
    """Inline code that survives any backticks inside."""
    fence = "`"
    while fence in text:
        fence += "`"
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _md_lines(change: Change, root: str) -> list[str]:
    """An update as a table (what, before, after); a create as a list of its attributes."""
    lines = plan_words.describe(change, root)
    if change.action is Action.UPDATE and lines:
        return ["| field | before | after |", "|---|---|---|"] + [
            f"| {_md_escape(line.label)} | {_md_code(line.before or plan_words.NONE)} "
            f"| {_md_code(line.after or plan_words.NONE)} |" for line in lines]
    return [f"- {_md_escape(line.label)}: {_md_code(line.after or plan_words.NONE)}" for line in lines]


def markdown(plan: Plan, next_runs: Callable[[Change], list[str]] | None = None) -> str:
    out = [f"### reconcile.py plan for `{plan.root}`", ""]
    out += [
        "| add | change | delete | unchanged | unmanaged |",
        "|---:|---:|---:|---:|---:|",
        f"| {plan.count(Action.CREATE)} | {plan.count(Action.UPDATE)} | {plan.count(Action.DELETE)} "
        f"| {plan.count(Action.NOOP)} | {len(plan.unmanaged)} |",
        "",
        f"**{plan.summary()}**",
        "",
    ]
    if plan.warnings:
        out.extend(f"> **Warning:** {_md_escape(w)}" + ("  " if i < len(plan.warnings) - 1 else "")
                   for i, w in enumerate(plan.warnings))
        out.append("")
    if plan.conflicts:
        out.append("**Conflicts** (the plan cannot be applied):")
        out.append("")
        out.extend(f"- {_md_escape(c)}" for c in plan.conflicts)  # prose with paths: escaped
        out.append("")
    for change in plan.changes:
        if change.action is Action.NOOP:
            continue
        drift = " (drift)" if change.drift and "drift" not in change.reason else ""
        out.append("<details>")
        # Inside HTML, markdown escapes are not read: escape for HTML instead.
        out.append(f"<summary><code>{change.action.symbol}</code> {html.escape(change.path)} "
                   f"— {html.escape(change.reason)}{drift}</summary>")
        out.append("")
        out.extend(_md_lines(change, plan.root))
        if next_runs is not None and change.action is not Action.DELETE:
            runs = next_runs(change)
            if runs:
                out.append("")
                out.append("Next runs: " + ", ".join(_md_code(r) for r in runs))
        out.append("")
        out.append("</details>")
        out.append("")
    if plan.unmanaged:
        out.append(f"<details><summary>Unmanaged tasks in {html.escape(plan.root)} "
                   f"({len(plan.unmanaged)}, left alone)</summary>")
        out.append("")
        out.extend(f"- {_md_code(p)}" for p in plan.unmanaged)
        out.append("")
        out.append("</details>")
        out.append("")
    if plan.protected:
        out.append("Kept because they carry `protect: true`: "
                   + ", ".join(_md_code(p) for p in plan.protected))
        out.append("")
    return "\n".join(out)


def upcoming_runs(now: dt.datetime, count: int = 3) -> Callable[[Change], list[str]]:
    """For the Markdown plan: the next few run times of a task as it will be."""
    from . import simulate

    start = now.replace(second=0, microsecond=0)

    def runs(change: Change) -> list[str]:
        if not change.after:
            return []
        return [r.isoformat(timespec="minutes").replace("T", " ")
                for r in simulate.next_runs(change.after, start, count)]
    return runs


# --- apply ------------------------------------------------------------------------------

_DONE = {Action.CREATE: "created", Action.UPDATE: "updated", Action.DELETE: "deleted"}


def outcome_line(outcome: Outcome) -> str | None:
    """One write as it happens: ``created \\Root\\x`` or an error naming the task."""
    if outcome.status == "done":
        ended = " (its running instance was ended first)" if outcome.stopped else ""
        return f"{_DONE[outcome.action]} {outcome.path}{ended}"
    if outcome.status == "not started":
        return None
    message = outcome.message
    if not message.startswith(outcome.path):
        message = f"{outcome.path}: {message}"
    return f"error: failed to {outcome.action.value}: {message}"


def apply_failures(outcomes: list[Outcome]) -> list[str]:
    """After a failed apply, every task's outcome, one a line (nothing if all were done)."""
    if all(o.status == "done" for o in outcomes):
        return []
    return [f"  {o.path}: {o.status if o.status != 'done' else _DONE[o.action]}"
            + (" (see above)" if o.message else "") for o in outcomes]


def apply_summary(outcomes: list[Outcome]) -> str:
    done = [o for o in outcomes if o.status == "done"]
    counts = {a: sum(1 for o in done if o.action is a) for a in Action}
    summary = (f"{counts[Action.CREATE]} added, {counts[Action.UPDATE]} changed, "
               f"{counts[Action.DELETE]} deleted")
    failed = len(outcomes) - len(done)
    if failed:
        return (f"Apply failed: {summary}; {failed} not done. Run apply again once the cause "
                "is fixed.\n")
    return f"Apply complete: {summary}.\n"
