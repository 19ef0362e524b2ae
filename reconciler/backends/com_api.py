"""pywin32 as the com backend uses it: imported lazily, COM initialised in every thread
that calls it, errors read where pywin32 puts them, dates read as Task Scheduler means
them. Nothing here knows about tasks; ``com.py`` does.

pywin32 has no type information: every value read from a COM object is ``Any`` until it
is converted here or in ``com.py`` (``str(...)``, ``int(...)``, ``moment(...)``)."""
from __future__ import annotations

import datetime as dt
import re
import threading
from dataclasses import dataclass
from typing import Any

from .. import results
from ..errors import BackendError

INSTALL = "python -m pip install pywin32"
PROGID = "Schedule.Service"

# HRESULTs as unsigned 32-bit values (pywin32 reports them signed).
DISP_E_EXCEPTION = 0x80020009  # the real error is in excepinfo[5]
RPC_E_CHANGED_MODE = 0x80010106  # COM already initialised in this thread, other model
E_ACCESSDENIED = 0x80070005
ERROR_FILE_NOT_FOUND = 0x80070002
ERROR_PATH_NOT_FOUND = 0x80070003
ERROR_ALREADY_EXISTS = 0x800700B7
# A folder or task that is not there: ERROR_PATH_NOT_FOUND on Windows 8 and later,
# ERROR_FILE_NOT_FOUND on Windows 7 (Wine's conformance tests of taskschd, which pass on
# Windows: dlls/taskschd/tests/scheduler.c, test_GetFolder and test_GetTask).
NOT_FOUND = frozenset({ERROR_FILE_NOT_FOUND, ERROR_PATH_NOT_FOUND})

# Windows' own words (FormatMessage, en-US) for the Win32 codes Task Scheduler's API
# returns most; SCHED_* codes are described by reconciler/results.py.
WIN32_MESSAGES = {
    E_ACCESSDENIED: "Access is denied.",
    ERROR_FILE_NOT_FOUND: "The system cannot find the file specified.",
    ERROR_PATH_NOT_FOUND: "The system cannot find the path specified.",
    ERROR_ALREADY_EXISTS: "Cannot create a file when that file already exists.",
    0x8007007B: "The filename, directory name, or volume label syntax is incorrect.",
    0x80070057: "The parameter is incorrect.",
    0x8007052E: "The user name or password is incorrect.",
    0x80070534: "No mapping between account names and security IDs was done.",
    0x80070569: "Logon failure: the user has not been granted the requested logon type at this computer.",
    0x800706BA: "The RPC server is unavailable.",
    0x80040154: "Class not registered.",
    0x800401F0: "CoInitialize has not been called.",
    0x8001010E: "The application called an interface that was marshalled for a different thread.",
}
# "(41,4):EndBoundary:": where Task Scheduler found a problem in the task XML. A
# registration error carries it as its description (dahall/TaskScheduler issues #101,
# #154: "COMException (0x80041319): (41,4):EndBoundary:").
_XML_POSITION = re.compile(r"^\(\d+,\d+\):")
# Last Run Time of a task that never ran: 1999-11-30 00:00 (measured on Windows Server
# 2016, 2019 and 2022: mondoohq/mql pull request #10383); DATE 0, 1899-12-30, is "no
# time at all" (NextRunTime with nothing scheduled: dahall/TaskScheduler issue #412).
NEVER_RAN = dt.datetime(1999, 11, 30)
FIRST_REAL_YEAR = 1980


@dataclass(frozen=True)
class Pywin32:
    """The three pywin32 modules the backend uses (or stand-ins with their shape)."""

    client: Any  # win32com.client
    pythoncom: Any
    pywintypes: Any

    @property
    def com_error(self) -> type[Exception]:
        error: type[Exception] = self.pywintypes.com_error
        return error


def load() -> Pywin32:
    """pywin32, imported now (by plain import, so a stand-in first on ``sys.path`` is
    used); BackendError in one line naming it when it is not there."""
    try:
        import pythoncom
        import pywintypes
        import win32com.client
    except ImportError as err:  # also a pywin32 whose DLLs cannot be loaded
        raise BackendError(
            f"--backend com needs pywin32, which cannot be imported ({err}); install it with "
            f"`{INSTALL}`, or use --backend schtasks") from None
    return Pywin32(client=win32com.client, pythoncom=pythoncom, pywintypes=pywintypes)


# --- errors -----------------------------------------------------------------------------

def hresult(err: Any) -> int:
    """The HRESULT of a pywintypes.com_error, unsigned: ``excepinfo[5]`` (scode) when the
    service raised it (DISP_E_EXCEPTION), else ``hresult`` itself."""
    code = int(err.hresult) & 0xFFFFFFFF
    info = err.excepinfo
    if code == DISP_E_EXCEPTION and info and len(info) > 5 and info[5]:
        return int(info[5]) & 0xFFFFFFFF
    return code


def _description(err: Any) -> str:
    info = err.excepinfo
    if info and len(info) > 2 and info[2]:
        return " ".join(str(info[2]).split())
    return ""


def explain(err: Any) -> str:
    """A com_error in one line: Windows' words for it, its code, and the
    ``(line,col):Element:value`` position a registration error carries."""
    code = hresult(err)
    description = _description(err)
    position = description if _XML_POSITION.match(description) else ""
    if code in results.RESULTS and code not in WIN32_MESSAGES:  # SCHED_* codes
        constant, meaning = results.RESULTS[code]
        words = f"{meaning} (0x{code:08X} {constant})"
    else:
        said = WIN32_MESSAGES.get(code) or (description if not position else "") or str(err.strerror or "")
        words = f"{said or 'unknown error'} (0x{code:08X})"
    text = f"{words} {position}".strip()
    if code == E_ACCESSDENIED:
        text += " (run from an elevated, administrator prompt)"
    return " ".join(text.split())


# --- values -------------------------------------------------------------------------------

def moment(value: object) -> str | None:
    """A COM date as naive ISO 8601, or None for "never". pywin32 returns datetimes
    labelled UTC whose fields are the local wall clock (mhammond/pywin32 issue #1760):
    the fields are kept, the label dropped."""
    if not isinstance(value, dt.datetime):
        return None
    naive = value.replace(tzinfo=None, microsecond=0)
    if naive.year < FIRST_REAL_YEAR or naive == NEVER_RAN:
        return None
    return naive.isoformat(timespec="seconds")


# --- connections ---------------------------------------------------------------------------

class _ThreadState(threading.local):
    service: Any = None
    root: Any = None  # the folder "\"


class Connections:
    """One connection to Task Scheduler per thread that calls it.

    A COM object belongs to the apartment (here: the thread) that made it, and pywin32
    initialises COM only in the thread that imports pythoncom; apply's writes run in a
    thread pool. So every thread initialises COM itself (CoInitializeEx, Microsoft Learn
    "CoInitializeEx function": "You need to initialize the COM library on a thread
    before you call any of the library functions") and makes its own ``Schedule.Service``
    and ``Connect()``; objects are never passed between threads (marshalling into the
    main thread's apartment would need that thread to pump messages, and it waits)."""

    def __init__(self, api: Pywin32) -> None:
        self.api = api
        self._state = _ThreadState()
        self._lock = threading.Lock()
        self.connects = 0  # Connect() calls: one per thread that used the backend

    def _initialise(self) -> None:
        pythoncom = self.api.pythoncom
        try:
            pythoncom.CoInitializeEx(pythoncom.COINIT_APARTMENTTHREADED)
        except self.api.com_error as err:
            if hresult(err) != RPC_E_CHANGED_MODE:  # initialised already: fine either way
                raise BackendError(f"Task Scheduler: COM cannot be initialised: {explain(err)}") from None

    def service(self) -> Any:
        """This thread's connected ``Schedule.Service``."""
        state = self._state
        if state.service is None:
            self._initialise()
            try:
                service = self.api.client.Dispatch(PROGID)
                service.Connect()
            except self.api.com_error as err:
                raise BackendError(f"Task Scheduler: cannot connect ({PROGID}): {explain(err)}") from None
            state.service = service
            with self._lock:
                self.connects += 1
        return state.service

    def root_folder(self) -> Any:
        """This thread's top folder ``\\``: tasks anywhere are reached from it by path."""
        state = self._state
        if state.root is None:
            service = self.service()
            try:
                state.root = service.GetFolder("\\")
            except self.api.com_error as err:
                raise BackendError(f"Task Scheduler: GetFolder \\ failed: {explain(err)}") from None
        return state.root
