"""The stand-in Task Scheduler's plumbing (see taskschd_standin.py): the emulated
machine it opens (tests/emulator), COM errors as pywin32 raises them, the machine-wide
count and log of method calls with their faults, and objects bound to the thread that
made them."""
from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any, Iterator

_EMULATOR = Path(__file__).resolve().parent.parent / "emulator"
if str(_EMULATOR) not in sys.path:
    sys.path.insert(0, str(_EMULATOR))

import schtasks_emulator as emulator  # noqa: E402
import windows_rules as rules  # noqa: E402

import pythoncom  # noqa: E402
from pywintypes import com_error  # noqa: E402

ENV = "COM_STANDIN_"
DISP_E_EXCEPTION = 0x80020009
RPC_E_WRONG_THREAD = 0x8001010E
E_INVALIDARG = 0x80070057
ERROR_ALREADY_EXISTS = 0x800700B7
ERROR_DIR_NOT_EMPTY = 0x80070091
SCHED_E_INVALID_TASK_HASH = 0x80041321
ERROR_ONLY_IF_CONNECTED = 0x800704E3
TASK_VALIDATE_ONLY, TASK_CREATE, TASK_UPDATE = 0x1, 0x2, 0x4
TASK_ENUM_HIDDEN = 1
(TASK_LOGON_NONE, TASK_LOGON_PASSWORD, TASK_LOGON_S4U, TASK_LOGON_INTERACTIVE_TOKEN, TASK_LOGON_GROUP,
 TASK_LOGON_SERVICE_ACCOUNT, TASK_LOGON_INTERACTIVE_TOKEN_OR_PASSWORD) = range(7)
_LOGON_XML = {TASK_LOGON_PASSWORD: "Password", TASK_LOGON_S4U: "S4U",
              TASK_LOGON_INTERACTIVE_TOKEN: "InteractiveToken",
              TASK_LOGON_INTERACTIVE_TOKEN_OR_PASSWORD: "InteractiveTokenOrPassword"}
TASK_STATE_DISABLED, TASK_STATE_READY, TASK_STATE_RUNNING = 1, 3, 4
NEVER_RAN = _dt.datetime(1999, 11, 30)  # LastRunTime of a task that never ran
NO_TIME = _dt.datetime(1899, 12, 30)  # DATE 0: NextRunTime with nothing scheduled
MESSAGES = {**rules.MESSAGES, E_INVALIDARG: "The parameter is incorrect.",
            ERROR_ALREADY_EXISTS: "Cannot create a file when that file already exists.",
            ERROR_DIR_NOT_EMPTY: "The directory is not empty.",
            SCHED_E_INVALID_TASK_HASH: "The task image is corrupt or has been tampered with.",
            ERROR_ONLY_IF_CONNECTED: "This operation is supported only when you are connected to the server."}


def service_error(hresult: int, description: str | None = None) -> com_error:
    """An error the Task Scheduler service raised, as pywin32 delivers it."""
    text = description if description is not None else MESSAGES.get(hresult, f"0x{hresult:08X}")
    return com_error(DISP_E_EXCEPTION, "Exception occurred.", (0, None, text, None, 0, _signed(hresult)), None)


def _signed(value: int) -> int:
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value >= 1 << 31 else value


def _from_sched(err: rules.SchedError) -> com_error:
    """A Windows rule's refusal (windows_rules.SchedError) as COM raises it: the text is
    the position line schtasks prints under its ERROR line, if there is one."""
    lines = err.text().splitlines()
    description = lines[1] if len(lines) > 1 else MESSAGES.get(err.hresult)
    return service_error(err.hresult, description)


def _empty(value: object) -> bool:
    return value is None or value is pythoncom.Empty or value is pythoncom.Missing or value == ""


# --- the machine ----------------------------------------------------------------------

class Session:
    """This process's view of the machine: the environment, the call counter, faults."""

    def __init__(self) -> None:
        state = os.environ.get(emulator.ENV + "STATE")
        if not state:
            raise com_error(0x80040154, "Class not registered (stand-in: set SCHTASKS_EMULATOR_STATE)",
                            None, None)
        self.env = dict(os.environ)
        self.store = emulator.Store(Path(state))
        self.faults = [f.strip() for f in self.env.get(ENV + "FAULT", "").split(",") if f.strip()]

    def call(self, method: str, *args: object) -> None:
        """Count and log one method call; raise the fault planned for it, if any."""
        delay = float(self.env.get(ENV + "DELAY_MS", "0") or 0)
        if delay:
            time.sleep(delay / 1000)
        self.store.root.mkdir(parents=True, exist_ok=True)
        with self.store.locked():
            counter = self.store.root / "com-calls.json"
            counts = json.loads(counter.read_text()) if counter.exists() else {"total": 0}
            counts["total"] += 1
            counts[method] = counts.get(method, 0) + 1
            counter.write_text(json.dumps(counts))
            with open(self.store.root / "com-calls.log", "a", encoding="utf-8") as log:
                log.write(json.dumps({"call": counts["total"], "method": method,
                                      "args": [_shown(a) for a in args], "pid": os.getpid(),
                                      "thread": threading.get_ident()}, ensure_ascii=False) + "\n")
        planned = {f.casefold() for f in self.faults}
        if planned & {"access-denied", f"fail-on-call:{counts['total']}", f"fail-{method}".casefold(),
                      f"fail-on:{method}:{counts[method]}".casefold()}:
            raise service_error(rules.E_ACCESSDENIED)

    @contextlib.contextmanager
    def machine(self) -> Iterator[emulator.Machine]:
        with emulator.open_machine(self.env, emulator.Console()) as machine:
            yield machine

    def fault_for(self, kind: str, path: str) -> bool:
        return f"{kind}:{rules.path_key(path)}" in {f.casefold() for f in self.faults}


def _shown(value: object) -> object:
    if isinstance(value, Secret):
        return "***"
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value if not (isinstance(value, str) and len(value) > 200) else value[:60] + "..."
    return repr(value)


class Secret(str):
    """A password argument, so the call log can tell it apart."""


class _ComObject:
    """A COM object of the stand-in: usable only from the thread that made it."""

    def __init__(self, session: Session) -> None:
        self._session = session
        self._thread = threading.get_ident()

    def _check(self) -> None:
        if threading.get_ident() != self._thread:
            raise com_error(RPC_E_WRONG_THREAD, MESSAGES.get(RPC_E_WRONG_THREAD,
                            "The application called an interface that was marshalled for a different thread."),
                            None, None)

    def _call(self, method: str, *args: object) -> None:
        self._check()
        self._session.call(method, *args)


class Collection(_ComObject):
    """A COM collection: iterable (``_NewEnum``), ``Count``, ``Item(i)`` from 1."""

    def __init__(self, session: Session, items: list[Any]) -> None:
        super().__init__(session)
        self._items = items

    def __iter__(self) -> Iterator[Any]:
        self._check()
        return iter(list(self._items))

    def __len__(self) -> int:
        return len(self._items)

    @property
    def Count(self) -> int:  # noqa: N802 - COM's name
        self._check()
        return len(self._items)

    def Item(self, index: int) -> Any:  # noqa: N802 - COM's name
        self._check()
        if not 1 <= index <= len(self._items):
            raise service_error(E_INVALIDARG)
        return self._items[index - 1]


