"""Views of a FleetReport: text for a terminal, JSON for machines, Markdown for a pull
request or a job summary, and one self-contained HTML page (the fleet's dashboard:
hosts, their tasks' last result and next run, drift). They only read the report."""
from __future__ import annotations

import datetime as dt
import html
import json
from typing import Any, Callable

from ..model import Action
from .report import ChangeGroup, FleetReport, HostRow, task_lines

_SYMBOL = {Action.CREATE: "+", Action.UPDATE: "~", Action.DELETE: "-"}


def _cell(value: int | None) -> str:
    return "-" if value is None else str(value)


def _counts(row: HostRow) -> list[str]:
    return [_cell(row.count(Action.CREATE)), _cell(row.count(Action.UPDATE)), _cell(row.count(Action.DELETE)),
            _cell(row.drift), _cell(row.unmanaged)]


def _result(row: HostRow) -> str:
    return f"{row.result}: {row.note}" if row.note else row.result


def where(group: ChangeGroup, hosts: tuple[str, ...]) -> str:
    """``on all 4 hosts``, ``on 3 of 4 hosts (not srv-b02)``, ``on srv-a01, srv-b01``."""
    count, total = len(group.hosts), len(hosts)
    if count == total and total > 1:
        return f"on all {total} hosts"
    if count > 2 and count > total / 2:
        missing = [h for h in hosts if h not in group.hosts]
        return f"on {count} of {total} hosts (not {', '.join(missing)})"
    return "on " + ", ".join(group.hosts)


def _what(group: ChangeGroup) -> str:
    if group.action is Action.UPDATE and group.fields:
        shown = "; ".join(f"{f.field}: {f.before if f.before is not None else '(none)'} -> "
                          f"{f.after if f.after is not None else '(none)'}" for f in group.fields[:3])
        more = f"; and {len(group.fields) - 3} more" if len(group.fields) > 3 else ""
        return shown + more + (" (drift)" if group.drift else "")
    return group.reason


def summary_line(report: FleetReport) -> str:
    results: dict[str, int] = {}
    for row in report.rows:
        results[row.result] = results.get(row.result, 0) + 1
    words = {"changes": "with changes", "no changes": "unchanged"}
    parts = ", ".join(f"{count} {words.get(result, result)}" for result, count in results.items())
    verdict = "OK" if report.ok else "NOT OK"
    return f"Fleet: {len(report.hosts)} host(s): {parts}. {verdict}."


# --- text -------------------------------------------------------------------------------------

def text(report: FleetReport) -> str:
    table = [["HOST", "+", "~", "-", "DRIFT", "UNMANAGED", "RESULT"]]
    table += [[row.host] + _counts(row) + [_result(row)] for row in report.rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(table[0]) - 1)]
    out = ["  ".join(cell.ljust(width) for cell, width in zip(line, widths)) + "  " + line[-1]
           for line in table]
    if report.groups:
        out += ["", "Changes:"]
        for group in report.groups:
            out.append(f"  {_SYMBOL[group.action]} {group.path}  {_what(group)}  {where(group, report.hosts)}")
    out += [f"warning: {w}" for w in report.warnings]
    out += ["", summary_line(report)]
    return "\n".join(out) + "\n"


# --- JSON -------------------------------------------------------------------------------------

def as_dict(report: FleetReport) -> dict[str, Any]:
    def row(r: HostRow) -> dict[str, Any]:
        made = r.report.made if r.report is not None else None
        return {"host": r.host, "result": r.result, "ok": r.ok, "note": r.note or None,
                "add": r.count(Action.CREATE), "change": r.count(Action.UPDATE),
                "delete": r.count(Action.DELETE), "drift": r.drift, "unmanaged": r.unmanaged,
                "made": made.isoformat() if made else None,
                "commit": r.report.commit if r.report is not None else None,
                "source": r.report.source if r.report is not None else None}

    return {"format_version": 1, "inventory": report.inventory, "ok": report.ok,
            "summary": summary_line(report), "hosts": [row(r) for r in report.rows],
            "changes": [{"action": g.action.value, "path": g.path, "drift": g.drift, "reason": g.reason,
                         "fields": [{"field": f.field, "before": f.before, "after": f.after} for f in g.fields],
                         "hosts": list(g.hosts)} for g in report.groups],
            "warnings": list(report.warnings)}


def as_json(report: FleetReport) -> str:
    return json.dumps(as_dict(report), indent=2, ensure_ascii=False) + "\n"


# --- Markdown (GitHub Flavored) ---------------------------------------------------------------

_MD_ESCAPED = "\\|*_`[]()!~#"  # emphasis, code, links and images, strikethrough: shown as written


def _md(text_: str) -> str:
    """Text (a host's error included: a pull report is written by the host) as a
    Markdown table cell that stays text: no link, image, HTML or code span can start in
    it. ``&``, ``<`` and ``>`` become entities, the other punctuation is backslash-escaped
    (CommonMark "Backslash escapes")."""
    text_ = text_.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\n", " ")
    return "".join("\\" + c if c in _MD_ESCAPED else c for c in text_)


def markdown(report: FleetReport) -> str:
    out = [f"### reconcile.py fleet report ({_md(report.inventory)})", "",
           "| host | + | ~ | - | drift | unmanaged | result |", "|---|---:|---:|---:|---:|---:|---|"]
    for row in report.rows:
        mark = "" if row.ok else "**"
        out.append(f"| {_md(row.host)} | " + " | ".join(_counts(row))
                   + f" | {mark}{_md(_result(row))}{mark} |")
    out += ["", f"**{_md(summary_line(report))}**", ""]
    if report.groups:
        out += ["| change | task | what | hosts |", "|---|---|---|---|"]
        for group in report.groups:
            out.append(f"| `{_SYMBOL[group.action]}` | {_md(group.path)} | {_md(_what(group))} "
                       f"| {_md(where(group, report.hosts))} |")
        out.append("")
    out += [f"- warning: {_md(w)}" for w in report.warnings]
    return "\n".join(out) + "\n"


# --- HTML -------------------------------------------------------------------------------------

_STYLE = """
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",sans-serif;margin:1.5em;color:#1f2328}
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.6em}
table{border-collapse:collapse;margin:.5em 0}th,td{border:1px solid #d0d7de;padding:.3em .6em;text-align:left}
th{background:#f6f8fa}td.n{text-align:right}td.nowrap{white-space:nowrap}.bad{background:#ffebe9;font-weight:600}.ok{background:#dafbe1}
.drift{color:#9a6700;font-weight:600}code{font:12px ui-monospace,Consolas,monospace}
.verdict{font-weight:700;padding:.4em .8em;display:inline-block}
"""


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _host_table(report: FleetReport) -> list[str]:
    out = ['<table id="hosts"><thead><tr><th>host</th><th>+</th><th>~</th><th>-</th><th>drift</th>'
           "<th>unmanaged</th><th>result</th><th>made</th><th>commit</th></tr></thead><tbody>"]
    for row in report.rows:
        made = row.report.made.strftime("%Y-%m-%d %H:%M UTC") if row.report and row.report.made else ""
        commit = (row.report.commit or "")[:12] if row.report else ""
        cells = "".join(f'<td class="n">{_e(c)}</td>' for c in _counts(row))
        out.append(f'<tr data-host="{_e(row.host)}" class="{"ok" if row.ok else "bad"}">'
                   f'<td class="nowrap"><a href="#host-{_e(row.host)}">{_e(row.host)}</a></td>{cells}'
                   f'<td>{_e(_result(row))}</td><td class="nowrap">{_e(made)}</td>'
                   f"<td><code>{_e(commit)}</code></td></tr>")
    out.append("</tbody></table>")
    return out


def _task_table(row: HostRow, now: dt.datetime) -> list[str]:
    out = [f'<h2 id="host-{_e(row.host)}">{_e(row.host)} — {_e(_result(row))}</h2>']
    if row.report is None or row.report.plan is None:
        return out + ["<p>No tasks known for this host.</p>"]
    out.append('<table class="tasks"><thead><tr><th>task</th><th>plan</th><th>drift</th><th>last run</th>'
               "<th>last result</th><th>next run</th></tr></thead><tbody>")
    for line in task_lines(row.report, now):
        action = Action(line.action)
        plan = "unchanged" if action is Action.NOOP else f"{_SYMBOL[action]} {action.value}"
        drift = '<span class="drift">drift</span>' if line.drift else ""
        out.append(f"<tr><td><code>{_e(line.path)}</code></td><td>{_e(plan)}</td><td>{drift}</td>"
                   f"<td>{_e(line.last_run or '')}</td><td>{_e(line.last_result or '—')}</td>"
                   f"<td>{_e(line.next_run or '—')}</td></tr>")
    return out + ["</tbody></table>"]


def page(report: FleetReport, now: dt.datetime | None = None) -> str:
    """One HTML page with everything inline: it can be mailed or kept as an artifact."""
    now = now or dt.datetime.now().replace(second=0, microsecond=0)
    verdict = "ok" if report.ok else "bad"
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           f"<title>reconcile.py fleet — {_e(report.inventory)}</title><style>{_STYLE}</style></head><body>",
           f"<h1>reconcile.py fleet — {_e(report.inventory)}</h1>",
           f'<p id="verdict" class="verdict {verdict}">{_e(summary_line(report))}</p>']
    out += _host_table(report)
    if report.groups:
        out.append('<h2>Changes across hosts</h2><table id="changes"><thead><tr><th></th><th>task</th>'
                   "<th>what</th><th>hosts</th></tr></thead><tbody>")
        out += [f"<tr><td><code>{_SYMBOL[g.action]}</code></td><td><code>{_e(g.path)}</code></td>"
                f"<td>{_e(_what(g))}</td><td>{_e(where(g, report.hosts))}</td></tr>" for g in report.groups]
        out.append("</tbody></table>")
    for row in report.rows:
        out += _task_table(row, now)
    out += [f"<p>warning: {_e(w)}</p>" for w in report.warnings]
    out.append(f"<footer><p>Made {_e(report.made.isoformat(timespec='seconds'))}.</p></footer></body></html>")
    return "\n".join(out) + "\n"


VIEWS: dict[str, Callable[[FleetReport], str]] = {"text": text, "json": as_json, "markdown": markdown,
                                                  "html": page}


def render(report: FleetReport, form: str) -> str:
    return VIEWS[form](report)
