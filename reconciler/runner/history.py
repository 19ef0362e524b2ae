"""Reading the runs the runner recorded: merge each run's lines, select, and present them
as text, JSON or a self-contained HTML page (a daily report, no scripts).

Standard library only, so the same report is available on a machine that has only the
runner (``python -m reconciler.runner history``) and through ``reconcile.py history``."""
from __future__ import annotations

import datetime as dt
import html
import json
import os
import socket
import sys
from typing import Any, Iterable

from . import RUNNING
from .paths import history_roots
from .store import read_history

INTERRUPTED = "interrupted"
REAL = ("succeeded", "failed", RUNNING, INTERRUPTED)


class AmbiguousName(LookupError):
    """NAME matches several tasks."""


def pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    if sys.platform == "win32":  # pragma: no cover - Windows
        import ctypes
        from ctypes import wintypes

        kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
        kernel32.OpenProcess.restype = wintypes.HANDLE
        kernel32.OpenProcess.argtypes = (wintypes.DWORD, wintypes.BOOL, wintypes.DWORD)
        kernel32.GetExitCodeProcess.argtypes = (wintypes.HANDLE, ctypes.POINTER(wintypes.DWORD))
        kernel32.CloseHandle.argtypes = (wintypes.HANDLE,)
        handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
        if not handle:
            return ctypes.get_last_error() == 5  # access denied: it exists
        try:
            code = wintypes.DWORD()
            kernel32.GetExitCodeProcess(handle, ctypes.byref(code))
            return code.value == 259  # STILL_ACTIVE
        finally:
            kernel32.CloseHandle(handle)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def merge(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """One record per run: the lines of a run (running, then the outcome, then the
    notifications) folded in file order."""
    runs: dict[str, dict[str, Any]] = {}
    for record in records:
        run_id = record.get("run")
        if not isinstance(run_id, str):
            continue
        runs.setdefault(run_id, {}).update(record)
    host = socket.gethostname()
    out = []
    for run in runs.values():
        if "task" not in run or "result" not in run:
            continue
        if (run["result"] == RUNNING and run.get("host") == host and isinstance(run.get("pid"), int)
                and not pid_alive(run["pid"])):
            run["result"] = INTERRUPTED
            run.setdefault("reason", "the runner ended before the run was recorded as finished")
        out.append(run)
    out.sort(key=lambda r: (str(r.get("start", "")), str(r.get("task", ""))))
    return out


def load(home: str) -> list[dict[str, Any]]:
    """Every run recorded under ``home`` (its own history and each account's)."""
    records: list[dict[str, Any]] = []
    for root in history_roots(home):
        for folder, _dirs, files in os.walk(root):
            for name in sorted(files):
                if name.endswith(".jsonl"):
                    records.extend(read_history(os.path.join(folder, name)))
    return merge(records)


def last_runs(home: str, real_only: bool = True) -> dict[str, dict[str, Any]]:
    """The latest run of each task (task path -> record); with ``real_only``, only runs
    that executed the actions (succeeded, failed, running, interrupted)."""
    out: dict[str, dict[str, Any]] = {}
    for run in load(home):
        if real_only and run.get("result") not in REAL:
            continue
        out[run["task"]] = run
    return out


def select(runs: list[dict[str, Any]], name: str | None) -> list[dict[str, Any]]:
    """The runs of the task NAME (``metadata.name``, ``folder\\name`` or a full path, as
    the CLI reads NAME). Raises AmbiguousName when NAME fits several tasks."""
    if not name:
        return runs
    wanted = [s.casefold() for s in name.replace("/", "\\").split("\\") if s]
    absolute = name.startswith("\\")

    def fits(path: str) -> bool:
        segments = [s.casefold() for s in path.split("\\") if s]
        if absolute:
            return segments == wanted
        return len(segments) >= len(wanted) and segments[-len(wanted):] == wanted

    tasks = sorted({r["task"] for r in runs if fits(r["task"])}, key=str.casefold)
    if len(tasks) > 1:
        raise AmbiguousName(f"{name!r} is ambiguous: {', '.join(tasks)}; write folder\\name or the full path")
    return [r for r in runs if r["task"] in tasks]


def since(runs: list[dict[str, Any]], days: int | None, today: dt.date | None = None) -> list[dict[str, Any]]:
    if not days:
        return runs
    first = (today or dt.date.today()) - dt.timedelta(days=days - 1)
    return [r for r in runs if _day(r) is None or _day(r) >= first]  # type: ignore[operator]


def _parse(text: Any) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(str(text))
    except ValueError:
        return None


def _day(run: dict[str, Any]) -> dt.date | None:
    start = _parse(run.get("start"))
    return start.date() if start else None


def duration(run: dict[str, Any]) -> float | None:
    start, end = _parse(run.get("start")), _parse(run.get("end"))
    if start is None or end is None:
        return None
    return max(0.0, (end - start).total_seconds())


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    if value < 60:
        return f"{value:.1f}s"
    minutes, seconds = divmod(int(value), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{seconds:02d}s"


def _attempts(run: dict[str, Any]) -> int:
    attempts = run.get("attempts")
    return len(attempts) if isinstance(attempts, list) else 0


def _details(run: dict[str, Any]) -> str:
    parts = []
    if run.get("reason"):
        parts.append(str(run["reason"]))
    for outcome in run.get("notify") or []:
        if isinstance(outcome, dict):
            parts.append(f"notify {outcome.get('kind')} " + ("sent" if outcome.get("ok")
                                                             else f"failed: {outcome.get('error')}"))
    return "; ".join(parts)


# --- text and JSON ------------------------------------------------------------------------

def render_text(runs: list[dict[str, Any]]) -> str:
    if not runs:
        return "No runs recorded.\n"
    width = max(len(r["task"]) for r in runs)
    lines = [f"{'START':<19}  {'TASK':<{width}}  {'RESULT':<11}  {'EXIT':>5}  {'TRIES':>5}  "
             f"{'TIME':>7}  DETAILS"]
    for run in runs:
        code = run.get("exitCode")
        lines.append(
            f"{str(run.get('start', ''))[:19].replace('T', ' '):<19}  {run['task']:<{width}}  "
            f"{run.get('result', '?'):<11}  {'-' if code is None else code:>5}  "
            f"{_attempts(run) or '-':>5}  {_seconds(duration(run)):>7}  {_details(run)}".rstrip())
    return "\n".join(lines) + "\n"


def render_json(runs: list[dict[str, Any]], home: str) -> str:
    return json.dumps({"format_version": 1, "home": home, "runs": runs}, indent=2,
                      ensure_ascii=False) + "\n"


# --- HTML ------------------------------------------------------------------------------------

_CSS = """
body{font:14px/1.45 Segoe UI,Helvetica,Arial,sans-serif;color:#1f2328;margin:24px;max-width:1200px}
h1{font-size:20px;margin:0 0 4px} h2{font-size:16px;margin:28px 0 8px;border-bottom:1px solid #d0d7de;padding-bottom:4px}
p.meta{color:#59636e;margin:0 0 16px}
table{border-collapse:collapse;width:100%} th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #eaeef2;vertical-align:top}
th{background:#f6f8fa;font-weight:600} td.num{text-align:right;font-variant-numeric:tabular-nums}
td.path{font-family:Consolas,Menlo,monospace;font-size:13px} td.details{color:#59636e}
.badge{display:inline-block;padding:0 8px;border-radius:10px;font-size:12px;font-weight:600;color:#fff}
.succeeded{background:#1a7f37} .failed,.error,.interrupted{background:#cf222e} .running{background:#0969da}
.waiting,.skipped,.busy{background:#8c959f}
tr.r-failed td,tr.r-error td,tr.r-interrupted td{background:#fff5f5}
""".strip()


def _badge(result: str) -> str:
    safe = html.escape(result)
    return f'<span class="badge {safe}">{safe}</span>'


def render_html(runs: list[dict[str, Any]], home: str, days: int | None = None,
                generated: dt.datetime | None = None) -> str:
    generated = generated or dt.datetime.now().astimezone().replace(microsecond=0)
    host = socket.gethostname()
    esc = html.escape
    dates = [d for d in (_day(r) for r in runs) if d]
    span = (f"{min(dates).isoformat()} to {max(dates).isoformat()}" if dates else "no runs")
    out = [
        "<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
        f"<title>reconcile.py runs on {esc(host)}</title>", f"<style>{_CSS}</style>", "</head>", "<body>",
        f"<h1>Task runs on {esc(host)}</h1>",
        f'<p class="meta">{esc(span)}' + (f" (last {days} days)" if days else "")
        + f" &middot; {len(runs)} run(s) &middot; generated {esc(generated.isoformat())} &middot; "
        f"history in {esc(home)}</p>",
    ]
    tasks: dict[str, list[dict[str, Any]]] = {}
    for run in runs:
        tasks.setdefault(run["task"], []).append(run)
    out += ["<h2>Tasks</h2>", '<table class="summary">',
            "<tr><th>Task</th><th>Last result</th><th>Last run</th><th>Runs</th><th>Succeeded</th>"
            "<th>Failed</th><th>Waiting / skipped</th></tr>"]
    for task in sorted(tasks, key=str.casefold):
        items = tasks[task]
        real = [r for r in items if r.get("result") in REAL]
        last = real[-1] if real else items[-1]
        count = {k: sum(1 for r in items if r.get("result") in k)
                 for k in (("succeeded",), ("failed", "error", "interrupted"), ("waiting", "skipped", "busy"))}
        out.append(
            f'<tr><td class="path">{esc(task)}</td><td>{_badge(str(last.get("result", "?")))}</td>'
            f'<td>{esc(str(last.get("start", ""))[:19].replace("T", " "))}</td>'
            f'<td class="num">{len(items)}</td><td class="num">{count[("succeeded",)]}</td>'
            f'<td class="num">{count[("failed", "error", "interrupted")]}</td>'
            f'<td class="num">{count[("waiting", "skipped", "busy")]}</td></tr>')
    out.append("</table>")
    by_day: dict[dt.date | None, list[dict[str, Any]]] = {}
    for run in runs:
        by_day.setdefault(_day(run), []).append(run)
    for day in sorted(by_day, key=lambda d: d or dt.date.min, reverse=True):
        title = day.strftime("%A %Y-%m-%d") if day else "Unknown date"
        out += [f"<h2>{esc(title)}</h2>", '<table class="runs">',
                "<tr><th>Start</th><th>Task</th><th>Result</th><th>Exit code</th><th>Attempts</th>"
                "<th>Duration</th><th>Details</th><th>Log</th></tr>"]
        for run in by_day[day]:
            result = str(run.get("result", "?"))
            code = run.get("exitCode")
            out.append(
                f'<tr class="r-{esc(result)}" data-run="{esc(str(run["run"]))}">'
                f'<td>{esc(str(run.get("start", ""))[11:19])}</td>'
                f'<td class="path">{esc(run["task"])}</td><td>{_badge(result)}</td>'
                f'<td class="num">{"" if code is None else esc(str(code))}</td>'
                f'<td class="num">{_attempts(run) or ""}</td>'
                f'<td class="num">{esc(_seconds(duration(run)))}</td>'
                f'<td class="details">{esc(_details(run))}</td>'
                f'<td class="path">{esc(str(run.get("log") or ""))}</td></tr>')
        out.append("</table>")
    out += ["</body>", "</html>"]
    return "\n".join(out) + "\n"


def render(runs: list[dict[str, Any]], form: str, home: str, days: int | None = None) -> str:
    if form == "json":
        return render_json(runs, home)
    if form == "html":
        return render_html(runs, home, days)
    return render_text(runs)
