"""Stand-in for ``win32com.client`` (tests only): ``Dispatch("Schedule.Service")`` gives
the stand-in Task Scheduler of taskschd_standin.py; any other ProgID is not registered."""
from __future__ import annotations

import pythoncom
import taskschd_standin
from pywintypes import com_error

REGDB_E_CLASSNOTREG = 0x80040154


def Dispatch(progid: str, *args: object, **kwargs: object) -> object:  # noqa: N802 - pywin32's name
    if not pythoncom.initialised():
        raise com_error(pythoncom.CO_E_NOTINITIALIZED, "CoInitialize has not been called.", None, None)
    if progid != "Schedule.Service":
        raise com_error(REGDB_E_CLASSNOTREG, "Class not registered", None, None)
    return taskschd_standin.TaskService()
