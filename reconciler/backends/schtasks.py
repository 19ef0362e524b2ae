"""The Windows backend: ``schtasks.exe``.

Reads the whole machine with ONE ``schtasks /Query /XML ONE`` and filters to the root
after parsing; registers with ``/Create /XML FILE /TN PATH /F`` from a private UTF-16LE
file; deletes with ``/Delete /TN PATH /F``. This is the only module of the package that
starts processes: never through a shell, always with a timeout, and never with a password
on a command line.

``RECONCILE_SCHTASKS`` names the executable (a ``.py`` file is run with this Python, for
the emulator in tests/emulator); ``RECONCILE_SCHTASKS_TIMEOUT`` the seconds a call may
take; ``RECONCILE_LOCK_DIR`` the folder of the apply lock (default
``%ProgramData%\\reconcile``)."""
from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Iterator

from lxml import etree

from .. import accounts, lock as lock_module, names
from ..errors import BackendError, PartialReadError
from ..taskxml import TASK_NS, TaskXmlError, localname, parse
from .base import LiveTask, RunInfo, State

DEFAULT_TIMEOUT = 120.0
DEFAULT_EXECUTABLE = "schtasks.exe"
ENV_EXECUTABLE = "RECONCILE_SCHTASKS"
ENV_TIMEOUT = "RECONCILE_SCHTASKS_TIMEOUT"
ENV_LOCK_DIR = "RECONCILE_LOCK_DIR"
LOCK_NAME = "apply.lock"

_DECLARATION = re.compile(r"^\ufeff?\s*<\?xml[^>]*\?>")
_PATH_COMMENT = re.compile(r"^<!--\s*(\\.*?)\s*-->\s*$", re.MULTILINE)
# "(29,24):Interval:PT5S": where Task Scheduler found a problem in the task XML.
_XML_POSITION = re.compile(r"^\(\d+,\d+\):")
_NO_TASKS = "INFO: There are no scheduled tasks presently available"


def console_codepage() -> str:
    """The codec of the console's OEM code page: schtasks writes it on older or
    localised Windows (reference §3.5). Off Windows there is no console code page to
    ask; cp437 (the US OEM page) stands in."""
    if sys.platform == "win32":  # pragma: no cover - Windows only
        try:
            import ctypes

            page = ctypes.windll.kernel32.GetOEMCP()
            codec = f"cp{page}"
            "".encode(codec)
            return codec
        except (OSError, AttributeError, LookupError):
            return "cp437"
    return "cp437"


def decode_output(raw: bytes) -> str:
    """schtasks output bytes to text. The encoding differs between Windows builds
    (reference §3.5): a UTF-16 BOM decides; then strict UTF-8 (Win11 24H2); then the
    console's OEM code page. Never guesses silently: a failure to decode is replaced
    characters in the last step only."""
    if raw.startswith(b"\xff\xfe") or raw.startswith(b"\xfe\xff"):
        return raw.decode("utf-16", errors="replace")
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode(console_codepage(), errors="replace")


def format_exit(code: int) -> str:
    """An exit code as people look it up: small ones in decimal, HRESULTs in hex
    (a POSIX status is 0..255; Windows may report E_FAIL as 2147500037 or negative)."""
    if 0 <= code <= 255:
        return str(code)
    return f"0x{code & 0xFFFFFFFF:08X}"


def error_text(stdout: str, stderr: str) -> str:
    """The lines schtasks explains a failure with, joined into one: ``ERROR: …`` (the
    prefix dropped) plus any ``(line,col):Element:value`` position, or failing those the
    first non-empty line of its output."""
    lines = [ln.strip() for ln in (stderr + "\n" + stdout).splitlines() if ln.strip()]
    picked: list[str] = []
    for line in lines:
        if line.upper().startswith("ERROR:"):
            picked.append(line[6:].strip())
        elif _XML_POSITION.match(line) or line.upper().startswith("WARNING:"):
            picked.append(line)
    if not picked and lines:
        picked = lines[:1]
    return " ".join(picked) if picked else "no message"


class SchtasksBackend:
    """Task Scheduler through schtasks.exe (see the module docstring)."""

    name = "schtasks"

    def __init__(self, root: str, *, executable: str | None = None,
                 timeout: float | None = None, lock_dir: str | os.PathLike[str] | None = None) -> None:
        self.root = names.normalize_root(root)
        self.executable = executable or os.environ.get(ENV_EXECUTABLE) or DEFAULT_EXECUTABLE
        if timeout is None:
            text = os.environ.get(ENV_TIMEOUT)
            try:
                timeout = float(text) if text else DEFAULT_TIMEOUT
            except ValueError:
                raise BackendError(f"{ENV_TIMEOUT}={text!r} is not a number of seconds") from None
        self.timeout = timeout
        self._lock_dir = lock_dir
        self._counter = threading.Lock()
        self.calls = 0
        self.call_log: list[list[str]] = []  # argv after the executable, one per call

    # --- running schtasks -------------------------------------------------------------
    def _command(self) -> list[str]:
        executable = self.executable
        if executable.lower().endswith(".py"):
            return [sys.executable, executable]
        found = shutil.which(executable)
        if found is None:
            if os.path.sep in executable or (os.altsep and os.altsep in executable):
                found = executable
            else:
                raise BackendError(
                    f"{executable} was not found on PATH (the schtasks backend needs Windows; "
                    f"set {ENV_EXECUTABLE} to use another program, or use --backend local)")
        return [found]

    def _run(self, args: list[str], what: str) -> subprocess.CompletedProcess[bytes]:
        """Run one schtasks call; raises BackendError on a timeout or if it cannot start.
        ``what`` names the call in messages (``\\Orchestrator\\x: schtasks /Create``)."""
        command = self._command() + args
        with self._counter:
            self.calls += 1
            self.call_log.append(list(args))
        extra = {}
        if sys.platform == "win32":  # pragma: no cover - Windows only
            extra["creationflags"] = getattr(subprocess, "CREATE_NO_WINDOW", 0)
        try:
            return subprocess.run(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, timeout=self.timeout, shell=False,
                                  check=False, **extra)
        except subprocess.TimeoutExpired:
            raise BackendError(
                f"{what} timed out after {self.timeout:g} s (the process was stopped; set "
                f"{ENV_TIMEOUT} to allow longer)") from None
        except OSError as err:
            raise BackendError(f"{what} could not be started: {err.strerror or err}") from None

    def _failure(self, what: str, result: subprocess.CompletedProcess[bytes]) -> str:
        message = error_text(decode_output(result.stdout), decode_output(result.stderr))
        hint = ""
        if "access is denied" in message.lower():
            hint = " (run from an elevated, administrator prompt)"
        return f"{what} failed (exit {format_exit(result.returncode)}): {message}{hint}"

    def _check_path(self, path: str) -> None:
        """Every path written or deleted lies under the root (defence in depth: the
        planner already guarantees it)."""
        if not names.is_under(path, self.root) or "\\\\" in path or path.endswith("\\"):
            raise BackendError(f"{path}: refused: it is not a task path under the root {self.root}")

    # --- reading ----------------------------------------------------------------------
    def read_state(self, root: str) -> State:
        root = names.normalize_root(root)
        what = "schtasks /Query /XML ONE"
        result = self._run(["/Query", "/XML", "ONE"], what)
        stdout = decode_output(result.stdout)
        if result.returncode != 0:
            raise PartialReadError(self._failure(what, result) + "; nothing was changed")
        tasks, warnings = split_tasks(stdout, root)
        return State(tasks=tasks, warnings=tuple(warnings), calls=1)

    def run_info(self, root: str) -> dict[str, RunInfo] | None:
        # TODO(status issue): one `/Query /FO CSV /V /NH` call, parsed into RunInfo per
        # task key (Last Result is decimal; dates follow the locale).
        return None

    # --- writing ----------------------------------------------------------------------
    def register(self, path: str, xml: str, *, password: str | None = None) -> None:
        self._check_path(path)
        if password is not None:
            # A password never goes on a command line; the PowerShell route comes later.
            raise BackendError(f"{path}: password registration is not implemented yet")
        data = task_file_bytes(xml)
        what = f"{path}: schtasks /Create"
        with private_file(data) as file:
            result = self._run(["/Create", "/XML", str(file), "/TN", path, "/F"], what)
        if result.returncode != 0:
            raise BackendError(self._failure(what, result))

    def delete(self, path: str) -> None:
        self._check_path(path)
        what = f"{path}: schtasks /Delete"
        result = self._run(["/Delete", "/TN", path, "/F"], what)
        if result.returncode != 0:
            raise BackendError(self._failure(what, result))

    # --- accounts and the lock --------------------------------------------------------
    def resolve_account(self, name: str) -> str:
        return accounts.chained(lookup_account_sid)(name)

    def lock_path(self) -> Path:
        folder = self._lock_dir or os.environ.get(ENV_LOCK_DIR)
        if not folder:
            if sys.platform == "win32":  # pragma: no cover - Windows only
                folder = os.path.join(os.environ.get("ProgramData", r"C:\ProgramData"), "reconcile")
            else:
                folder = os.path.join(tempfile.gettempdir(), "reconcile")
        return Path(folder) / LOCK_NAME

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        with lock_module.acquire(self.lock_path()):
            yield


def lookup_account_sid(name: str) -> str | None:
    """The SID Windows has for an account name (LookupAccountNameW), or None."""
    if sys.platform != "win32":
        return None
    return _lookup_windows(name)  # pragma: no cover - Windows only


def _lookup_windows(name: str) -> str | None:  # pragma: no cover - Windows only
    import ctypes
    from ctypes import wintypes

    try:
        advapi32 = ctypes.WinDLL("advapi32", use_last_error=True)
        kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
        sid_size, domain_size = wintypes.DWORD(0), wintypes.DWORD(0)
        use = wintypes.DWORD()
        advapi32.LookupAccountNameW(None, name, None, ctypes.byref(sid_size), None,
                                    ctypes.byref(domain_size), ctypes.byref(use))
        if sid_size.value == 0:
            return None
        sid = ctypes.create_string_buffer(sid_size.value)
        domain = ctypes.create_unicode_buffer(domain_size.value)
        if not advapi32.LookupAccountNameW(None, name, sid, ctypes.byref(sid_size), domain,
                                           ctypes.byref(domain_size), ctypes.byref(use)):
            return None
        text = wintypes.LPWSTR()
        if not advapi32.ConvertSidToStringSidW(sid, ctypes.byref(text)):
            return None
        try:
            return text.value
        finally:
            kernel32.LocalFree(text)
    except (OSError, AttributeError, ValueError):
        return None


def task_file_bytes(xml: str) -> bytes:
    """The file /Create reads: UTF-16LE with a BOM and a matching declaration, CRLF
    line ends (reference §2.5: the only form every Windows accepts)."""
    body = _DECLARATION.sub("", xml, count=1).lstrip("\r\n")
    text = '<?xml version="1.0" encoding="UTF-16"?>\n' + body
    text = text.replace("\r\n", "\n").replace("\n", "\r\n")
    if not text.endswith("\r\n"):
        text += "\r\n"
    return b"\xff\xfe" + text.encode("utf-16-le")


@contextlib.contextmanager
def private_file(data: bytes) -> Iterator[Path]:
    """A file only this user can read (0600 in a 0700 folder; on Windows the user's own
    temp folder), removed afterwards whatever happens."""
    folder = Path(tempfile.mkdtemp(prefix="reconcile-"))
    file = folder / "task.xml"
    try:
        fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        yield file
    finally:
        with contextlib.suppress(OSError):
            file.unlink()
        with contextlib.suppress(OSError):
            folder.rmdir()


# --- splitting /Query /XML ONE --------------------------------------------------------
def split_tasks(text: str, root: str) -> tuple[dict[str, LiveTask], list[str]]:
    """The tasks under ``root`` in ``/Query /XML ONE`` output, and warnings.

    The output is one document: ``<Tasks>`` holding, for each task, a ``<!-- \\path -->``
    comment and the ``<Task>`` (reference §3.4); a bare ``<Task>`` document (``/TN X /XML
    ONE`` on some builds) is accepted too, its path read from RegistrationInfo/URI. A
    task outside the root that cannot be read is a warning; anything that leaves the
    root's tasks in doubt (bad output, truncation, a task in the root that cannot be
    read) raises PartialReadError, so nothing gets written."""
    stripped = text.strip()
    if stripped.startswith(_NO_TASKS):
        return {}, []  # schtasks' own word that there is nothing (to this account)
    if not stripped:
        # Windows always has tasks of its own: silence is a failure, not an empty machine.
        raise PartialReadError("schtasks /Query /XML ONE printed nothing; nothing was changed")
    try:
        document = parse(stripped, "schtasks /Query /XML ONE output")
    except TaskXmlError as err:
        return _split_damaged(stripped, root, str(err))
    tasks: dict[str, LiveTask] = {}
    warnings: list[str] = []
    if localname(document) == "Task":
        path = _uri(document)
        if path is None:
            raise PartialReadError("schtasks /Query /XML ONE returned a task without a path; "
                                   "nothing was changed")
        _keep(tasks, path, document, root)
        return tasks, warnings
    if localname(document) != "Tasks":
        raise PartialReadError(f"schtasks /Query /XML ONE returned <{localname(document)}>, "
                               "not <Tasks>; nothing was changed")
    path: str | None = None
    for node in document:
        if isinstance(node, etree._Comment):
            path = (node.text or "").strip()
            continue
        if not isinstance(node.tag, str):
            continue
        where = path if path else _uri(node)
        path = None
        if localname(node) != "Task" or where is None:
            problem = f"an element <{localname(node)}> without a task path"
            raise PartialReadError(f"schtasks /Query /XML ONE output holds {problem}; nothing was changed")
        if etree.QName(node).namespace != TASK_NS:
            message = f"{where}: the task's XML is not in the Task Scheduler namespace"
            if names.is_under(where, root):
                raise PartialReadError(message + "; nothing was changed")
            warnings.append(message + "; skipped (outside the root)")
            continue
        _keep(tasks, where, node, root)
    return tasks, warnings


def _uri(task: etree._Element) -> str | None:
    for info in task:
        if isinstance(info.tag, str) and localname(info) == "RegistrationInfo":
            for child in info:
                if isinstance(child.tag, str) and localname(child) == "URI" and (child.text or "").strip():
                    return (child.text or "").strip()
    return None


def _keep(tasks: dict[str, LiveTask], path: str, task: etree._Element, root: str) -> None:
    if not names.is_under(path, root):
        return
    text = etree.tostring(task, encoding="unicode", with_tail=False)
    tasks[names.key(path)] = LiveTask(path=path, xml=text)


def _split_damaged(text: str, root: str, error: str) -> tuple[dict[str, LiveTask], list[str]]:
    """The document as a whole is not well-formed: find out whether the damage is
    confined to tasks outside the root (warnings) or not (PartialReadError)."""
    if "<!DOCTYPE" in text or "<!ENTITY" in text:
        raise PartialReadError(f"{error}; nothing was changed")
    opening = text.find("<Tasks>")
    closing = text.rfind("</Tasks>")
    if opening < 0 or closing < 0 or text[closing + len("</Tasks>"):].strip():
        raise PartialReadError(
            f"schtasks /Query /XML ONE output is incomplete or not XML ({error}); nothing was changed")
    body = text[opening + len("<Tasks>"):closing]
    matches = list(_PATH_COMMENT.finditer(body))
    if not matches or body[:matches[0].start()].strip():
        raise PartialReadError(
            f"schtasks /Query /XML ONE output is not as expected ({error}); nothing was changed")
    tasks: dict[str, LiveTask] = {}
    warnings: list[str] = []
    for i, match in enumerate(matches):
        path = match.group(1).strip()
        end = matches[i + 1].start() if i + 1 < len(matches) else len(body)
        chunk = body[match.end():end]
        try:
            task = parse(chunk, path)
            if localname(task) != "Task" or etree.QName(task).namespace != TASK_NS:
                raise TaskXmlError(f"{path}: not a Task Scheduler task")
        except TaskXmlError as err:
            if names.is_under(path, root):
                raise PartialReadError(f"{err}; nothing was changed") from None
            warnings.append(f"{err}; skipped (outside the root)")
            continue
        _keep(tasks, path, task, root)
    if not warnings:
        # Every task reads on its own, yet the whole did not: the damage is between
        # tasks, so what is in the root cannot be trusted.
        raise PartialReadError(
            f"schtasks /Query /XML ONE output is not well-formed ({error}); nothing was changed")
    return tasks, warnings
