"""Start a command so that its whole process tree can be stopped.

POSIX: the command leads a new session (and process group); stopping it is ``killpg``.
Windows: the command is put into a job object right after it starts; stopping it is
``TerminateJobObject``, with ``taskkill /T /F`` as a fallback. The job also has
JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE while the command runs, so if the runner itself is
ended (Task Scheduler's time limit, /End) the command's tree goes with it; the flag is
cleared once the command exits, so processes it deliberately left running survive, as
they would under Task Scheduler."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from typing import IO, Any

from .. import cmdline
from .paths import expand


class Started:
    def __init__(self, process: subprocess.Popen[bytes], job: Any = None) -> None:
        self.process = process
        self.job = job

    @property
    def pid(self) -> int:
        return self.process.pid

    def wait(self, timeout: float | None) -> int | None:
        """The exit code, or None if ``timeout`` passed first."""
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        self._release_job()
        return code

    def kill_tree(self) -> None:
        if sys.platform == "win32":  # pragma: no cover - Windows
            _kill_windows(self)
        else:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:  # pragma: no cover - a process that will not die
            pass
        self._release_job()

    def _release_job(self) -> None:
        if self.job is not None:  # pragma: no cover - Windows
            _job_keep_children(self.job)
            _close(self.job)
            self.job = None


def program_path(command: str) -> str:
    """The program a Command names. Task Scheduler accepts a Command in quotes
    (``"C:\\Program Files\\Tool\\tool.exe"``, common in exported tasks and kept by
    ``import``): one pair of surrounding quotes is not part of the path."""
    if len(command) >= 2 and command[0] == command[-1] == '"' and '"' not in command[1:-1]:
        return command[1:-1]
    return command


def command_line(command: str, arguments: str | None) -> str:
    """The Windows command line Task Scheduler would build from Command and Arguments.
    The program is quoted as CreateProcessW reads it (Microsoft Learn, lpCommandLine: a
    leading quote runs to the next quote, no escapes), once, and only when it has blanks;
    the arguments follow as written."""
    program = program_path(command)
    line = f'"{program}"' if not program or any(c in program for c in " \t") else program
    return f"{line} {arguments}" if arguments else line


def start(command: str, arguments: str | None, cwd: str | None, output: IO[bytes] | int | None,
          stdin: int | None = subprocess.DEVNULL) -> Started:
    """Start ``command`` with ``arguments`` (one Windows command-line string, already
    ``%VAR%``-expanded by the caller). Raises OSError when it cannot be started."""
    stderr = subprocess.STDOUT if output not in (None, subprocess.DEVNULL) else output
    if sys.platform == "win32":  # pragma: no cover - Windows
        process = subprocess.Popen(command_line(command, arguments), cwd=cwd, stdin=stdin,
                                   stdout=output, stderr=stderr)
        job = _job_for(process)
        return Started(process, job)
    argv = [program_path(command)] + (cmdline.split(arguments) if arguments else [])
    process = subprocess.Popen(argv, cwd=cwd, stdin=stdin, stdout=output, stderr=stderr,
                               start_new_session=True)
    return Started(process)


def expanded(action: dict[str, Any]) -> tuple[str, str | None, str | None]:
    return (expand(action["command"]) or "", expand(action.get("arguments")),
            expand(action.get("workingDirectory")))


# --- Windows job objects -----------------------------------------------------------------

_JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE = 0x2000
_JOB_OBJECT_EXTENDED_LIMIT_INFORMATION = 9


def _kernel32() -> Any:  # pragma: no cover - Windows
    if sys.platform != "win32":  # mypy checks what follows for Windows only
        raise OSError("job objects exist only on Windows")
    import ctypes
    from ctypes import wintypes

    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
    kernel32.CreateJobObjectW.restype = wintypes.HANDLE
    kernel32.CreateJobObjectW.argtypes = (ctypes.c_void_p, wintypes.LPCWSTR)
    kernel32.AssignProcessToJobObject.argtypes = (wintypes.HANDLE, wintypes.HANDLE)
    kernel32.SetInformationJobObject.argtypes = (wintypes.HANDLE, ctypes.c_int, ctypes.c_void_p,
                                                 wintypes.DWORD)
    kernel32.TerminateJobObject.argtypes = (wintypes.HANDLE, wintypes.UINT)
    kernel32.CloseHandle.argtypes = (wintypes.HANDLE,)
    return kernel32


def _limits(flags: int) -> Any:  # pragma: no cover - Windows
    import ctypes
    from ctypes import wintypes

    class IoCounters(ctypes.Structure):
        _fields_ = [(name, ctypes.c_ulonglong) for name in (
            "ReadOperationCount", "WriteOperationCount", "OtherOperationCount",
            "ReadTransferCount", "WriteTransferCount", "OtherTransferCount")]

    class Basic(ctypes.Structure):
        _fields_ = [("PerProcessUserTimeLimit", ctypes.c_longlong),
                    ("PerJobUserTimeLimit", ctypes.c_longlong),
                    ("LimitFlags", wintypes.DWORD),
                    ("MinimumWorkingSetSize", ctypes.c_size_t),
                    ("MaximumWorkingSetSize", ctypes.c_size_t),
                    ("ActiveProcessLimit", wintypes.DWORD),
                    ("Affinity", ctypes.c_size_t),
                    ("PriorityClass", wintypes.DWORD),
                    ("SchedulingClass", wintypes.DWORD)]

    class Extended(ctypes.Structure):
        _fields_ = [("BasicLimitInformation", Basic), ("IoInfo", IoCounters),
                    ("ProcessMemoryLimit", ctypes.c_size_t), ("JobMemoryLimit", ctypes.c_size_t),
                    ("PeakProcessMemoryUsed", ctypes.c_size_t), ("PeakJobMemoryUsed", ctypes.c_size_t)]

    info = Extended()
    info.BasicLimitInformation.LimitFlags = flags
    return info


def _job_for(process: subprocess.Popen[bytes]) -> Any:  # pragma: no cover - Windows
    import ctypes

    try:
        kernel32 = _kernel32()
        job = kernel32.CreateJobObjectW(None, None)
        if not job:
            return None
        info = _limits(_JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE)
        kernel32.SetInformationJobObject(job, _JOB_OBJECT_EXTENDED_LIMIT_INFORMATION,
                                         ctypes.byref(info), ctypes.sizeof(info))
        if not kernel32.AssignProcessToJobObject(job, int(process._handle)):  # type: ignore[attr-defined]
            kernel32.CloseHandle(job)
            return None
        return job
    except (OSError, AttributeError):
        return None


def _job_keep_children(job: Any) -> None:  # pragma: no cover - Windows
    import ctypes

    kernel32 = _kernel32()
    info = _limits(0)
    kernel32.SetInformationJobObject(job, _JOB_OBJECT_EXTENDED_LIMIT_INFORMATION,
                                     ctypes.byref(info), ctypes.sizeof(info))


def _close(job: Any) -> None:  # pragma: no cover - Windows
    _kernel32().CloseHandle(job)


def _kill_windows(started: Started) -> None:  # pragma: no cover - Windows
    from . import EXIT_TIMEOUT

    if started.job is not None and _kernel32().TerminateJobObject(started.job, EXIT_TIMEOUT):
        return
    system_root = os.environ.get("SystemRoot", r"C:\Windows")
    subprocess.run([os.path.join(system_root, "System32", "taskkill.exe"), "/T", "/F", "/PID",
                    str(started.pid)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   check=False)
