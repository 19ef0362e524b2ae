"""Stand-in for pywin32's ``pythoncom`` (tests only; see taskschd_standin.py).

As the real module does, importing it initialises COM in the importing thread
(single-threaded apartment); any other thread must call ``CoInitializeEx`` before it
creates a COM object (``win32com.client.Dispatch`` raises CO_E_NOTINITIALIZED
otherwise), and initialising a thread again in the other model raises
RPC_E_CHANGED_MODE. ``Empty`` is the empty VARIANT.

With ``COM_STANDIN_PROCESS_LOG=FILE`` set, every process this Python process starts from
then on (subprocess, os.system, exec, spawn, fork, CreateProcess) is appended to FILE,
one JSON line each, through an audit hook (PEP 578): the com backend must start none."""
from __future__ import annotations

import json
import os
import sys
import threading

from pywintypes import com_error

COINIT_MULTITHREADED = 0x0
COINIT_APARTMENTTHREADED = 0x2
RPC_E_CHANGED_MODE = 0x80010106
CO_E_NOTINITIALIZED = 0x800401F0


class _Variant:
    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"pythoncom.{self.name}"


Empty = _Variant("Empty")
Missing = _Variant("Missing")

_apartments = threading.local()  # this thread's COM model, once initialised


def CoInitializeEx(flags: int) -> None:  # noqa: N802 - pywin32's name
    model = getattr(_apartments, "model", None)
    if model is not None and model != flags:
        raise com_error(RPC_E_CHANGED_MODE, "Cannot change thread mode after it is set.", None, None)
    _apartments.model = flags


def CoInitialize() -> None:  # noqa: N802 - pywin32's name
    CoInitializeEx(COINIT_APARTMENTTHREADED)


def CoUninitialize() -> None:  # noqa: N802 - pywin32's name
    _apartments.model = None


def initialised() -> bool:
    """Whether COM is initialised in the calling thread (the stand-in's own helper)."""
    return getattr(_apartments, "model", None) is not None


_PROCESS_EVENTS = frozenset({"subprocess.Popen", "os.system", "os.exec", "os.spawn", "os.posix_spawn",
                             "os.fork", "os.forkpty", "os.startfile", "_winapi.CreateProcess", "pty.spawn"})


def _audit(event: str, args: tuple) -> None:
    if event not in _PROCESS_EVENTS:
        return
    target = os.environ.get("COM_STANDIN_PROCESS_LOG")
    if target:
        with open(target, "a", encoding="utf-8") as log:
            log.write(json.dumps({"event": event, "what": repr(args[:2])[:300], "pid": os.getpid()}) + "\n")


if not getattr(sys, "_com_standin_audit", False):  # once per process, however often imported
    sys.addaudithook(_audit)
    sys._com_standin_audit = True  # type: ignore[attr-defined]
CoInitializeEx(getattr(sys, "coinit_flags", COINIT_APARTMENTTHREADED))  # as pywin32 does
