"""The "run finished" event that wakes dependent tasks.

When a real run ends (succeeded or failed), the runner writes one classic event to the
**Application** log: source ``reconcile.py``, event ID 4100, and as event data the strings
(task path, result, exit code, run id). A task whose ``run.after`` names this task has an
EventTrigger subscribed to exactly that (``workflow.wake_triggers``), so Task Scheduler
starts it; its own runner then decides from the recorded outcomes whether to run.

Why this and not ``schtasks /Run`` or the TaskScheduler Operational log:
- the Operational log may be disabled (it is on some editions and images), and an
  EventTrigger cannot fire on an event that was never logged;
- ``/Run`` needs rights on the dependent task, which a dependency running as a less
  privileged account does not have (a SYSTEM task is not startable by a normal user);
- any process may write to the Application log under its default access rules (Microsoft's
  policy text: "all authenticated users and system services can write"), and writing
  needs no admin right. An unregistered source name still logs to the Application log
  (Microsoft, "Event Sources"), only without a message text; ``runner-install``
  registers the source so Event Viewer shows the data readably.

Off Windows nothing is written, except for tests: when ``RECONCILE_RUNNER_EVENT_LOG``
names a file, each event is appended to it as one JSON line (also on Windows)."""
from __future__ import annotations

import json
import os
import sys

from . import EVENT_ID, EVENT_LOG, EVENT_SOURCE, SUCCEEDED

HOOK_VARIABLE = "RECONCILE_RUNNER_EVENT_LOG"

_EVENTLOG_ERROR_TYPE = 0x0001
_EVENTLOG_INFORMATION_TYPE = 0x0004


def event_data(task_path: str, result: str, exit_code: int | None, run_id: str,
               detail: str | None = None) -> list[str]:
    data = [task_path, result, "" if exit_code is None else str(exit_code), run_id]
    return data + [detail[:2000]] if detail else data


def write_finished(task_path: str, result: str, exit_code: int | None, run_id: str,
                   detail: str | None = None) -> str | None:
    """Write the event; returns an error message, or None when it was written. ``detail``
    (a runner error's message) is a fifth string, for whoever reads the log."""
    data = event_data(task_path, result, exit_code, run_id, detail)
    errors = []
    hook = os.environ.get(HOOK_VARIABLE)
    if hook:
        try:
            line = json.dumps({"log": EVENT_LOG, "source": EVENT_SOURCE, "eventId": EVENT_ID,
                               "type": "information" if result == SUCCEEDED else "error",
                               "data": data}, ensure_ascii=False)
            with open(hook, "a", encoding="utf-8") as handle:
                handle.write(line + "\n")
        except OSError as err:
            errors.append(f"test hook {hook}: {err}")
    if sys.platform == "win32":  # pragma: no cover - Windows
        error = _report_event(data, _EVENTLOG_INFORMATION_TYPE if result == SUCCEEDED
                              else _EVENTLOG_ERROR_TYPE)
        if error:
            errors.append(error)
    return "; ".join(errors) or None


def _report_event(strings: list[str], event_type: int) -> str | None:  # pragma: no cover - Windows
    if sys.platform != "win32":  # ctypes.WinDLL exists only there; this also narrows for mypy
        return None
    import ctypes
    from ctypes import wintypes

    advapi32 = ctypes.WinDLL("advapi32", use_last_error=True)
    advapi32.RegisterEventSourceW.restype = wintypes.HANDLE
    advapi32.RegisterEventSourceW.argtypes = (wintypes.LPCWSTR, wintypes.LPCWSTR)
    advapi32.ReportEventW.restype = wintypes.BOOL
    advapi32.ReportEventW.argtypes = (wintypes.HANDLE, wintypes.WORD, wintypes.WORD, wintypes.DWORD,
                                      ctypes.c_void_p, wintypes.WORD, wintypes.DWORD,
                                      ctypes.POINTER(wintypes.LPCWSTR), ctypes.c_void_p)
    advapi32.DeregisterEventSource.argtypes = (wintypes.HANDLE,)
    handle = advapi32.RegisterEventSourceW(None, EVENT_SOURCE)
    if not handle:
        return f"RegisterEventSource failed (error {ctypes.get_last_error()})"
    try:
        array = (wintypes.LPCWSTR * len(strings))(*strings)
        if not advapi32.ReportEventW(handle, event_type, 0, EVENT_ID, None, len(strings), 0, array, None):
            return f"ReportEvent failed (error {ctypes.get_last_error()})"
        return None
    finally:
        advapi32.DeregisterEventSource(handle)
