"""``reconcile.py runner-install [--home DIR] [--account NAME ...]``: set up the runner on
this machine (run it elevated on Windows; it needs no network).

1. creates ``<home>`` (default ``%ProgramData%\\reconcile``; ``.reconcile/runner`` off
   Windows) with ``history``, ``state``, ``locks``, ``logs`` and ``accounts``;
2. creates a virtual environment ``<home>\\venv`` (``python -m venv --without-pip``) and
   copies the runner into it: ``reconciler/runner/*.py`` and ``reconciler/cmdline.py``,
   standard library only, so nothing is downloaded;
3. on Windows: registers the event source ``reconcile.py`` in the Application log (the
   wake-up events), and restricts the home to Administrators and SYSTEM (full control)
   with read and execute for Authenticated Users (every task must be able to start the
   interpreter and read its dependencies' state); ``logs`` and ``history`` are readable
   by Administrators and SYSTEM only;
4. for each ``--account`` (a task's runAs other than SYSTEM), creates
   ``<home>\\accounts\\<account>`` owned by and writable for that account;
5. prints the ``Defaults`` lines (``spec.runner``) that point the manifests at it.

Running it again refreshes the runner files and keeps the history."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Callable

from . import accounts
from .errors import ReconcileError
from .runner import EVENT_LOG, EVENT_SOURCE
from .runner.paths import expand
from .workflow import store_account

ADMINISTRATORS = "*S-1-5-32-544"
SYSTEM = "*S-1-5-18"
AUTHENTICATED_USERS = "*S-1-5-11"
FOLDERS = ("history", "state", "locks", "logs", "accounts")
# In the home: the installed runner's version and payload format, which plan compares
# with its own (README "Workflows: the runner").
RUNNER_STAMP = "runner.json"
PRIVATE_FOLDERS = ("history", "logs")
EVENT_KEY = rf"SYSTEM\CurrentControlSet\Services\EventLog\{EVENT_LOG}\{EVENT_SOURCE}"


def package_dir() -> Path:
    return Path(__file__).resolve().parent


def runner_files() -> dict[str, Path]:
    """Destination (relative to site-packages, '/'-separated) -> source file."""
    base = package_dir()
    files = {"reconciler/cmdline.py": base / "cmdline.py"}
    for source in sorted((base / "runner").glob("*.py")):
        files[f"reconciler/runner/{source.name}"] = source
    return files


def venv_python(venv: Path) -> Path:
    if sys.platform == "win32":  # pragma: no cover - Windows
        return venv / "Scripts" / "python.exe"
    return venv / "bin" / "python"


def _run(argv: list[str], what: str) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise ReconcileError(f"{what}: {err}") from None
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip().splitlines()
        raise ReconcileError(f"{what} failed (exit code {done.returncode})"
                             + (f": {detail[-1]}" if detail else ""))
    return done.stdout


def create_venv(venv: Path, base_python: str) -> Path:
    python = venv_python(venv)
    if not python.exists():
        _run([base_python, "-m", "venv", "--without-pip", str(venv)], f"creating the virtual environment {venv}")
    return python


def copy_runner(python: Path) -> Path:
    """Copy the runner into the venv's site-packages; returns that ``reconciler`` folder."""
    purelib = Path(_run([str(python), "-I", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                        "finding the virtual environment's site-packages").strip())
    target = purelib / "reconciler"
    runner_dir = target / "runner"
    runner_dir.mkdir(parents=True, exist_ok=True)
    files = runner_files()
    for name in os.listdir(runner_dir):  # a file from an older runner must not linger
        if f"reconciler/runner/{name}" not in files:
            path = runner_dir / name
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    (target / "__init__.py").write_text('"""reconcile.py runner (installed by runner-install)."""\n',
                                        encoding="utf-8")
    for destination, source in files.items():
        shutil.copyfile(source, purelib / destination)
    return target


def stamp_text() -> str:
    """What ``<home>\\runner.json`` says: the runner's version and payload format."""
    import json

    from .runner import FORMAT, VERSION

    return json.dumps({"version": VERSION, "format": FORMAT}) + "\n"


def verify(python: Path) -> str:
    """The installed runner answers in isolated mode (no checkout, no PYTHONPATH)."""
    return _run([str(python), "-I", "-m", "reconciler.runner", "--version"], "checking the installed runner").strip()


def prepare_account(home: str, account: str) -> str | None:
    """Create ``<home>\\accounts\\<store>`` for a task that runs as ``account`` (owned by
    it, writable for it; its ``state`` readable by every task); returns the folder, or
    None for SYSTEM, which uses the home itself. ``apply`` may call this too."""
    store = store_account(account)
    if store is None:
        return None
    folder = Path(expand(home) or home) / "accounts" / store
    for sub in ("", "state", "history", "locks", "logs"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    if sys.platform == "win32":  # pragma: no cover - Windows
        who = _icacls_name(account)
        _icacls(folder, "/inheritance:r", "/grant:r", f"{ADMINISTRATORS}:(OI)(CI)F", f"{SYSTEM}:(OI)(CI)F",
                f"{who}:(OI)(CI)M")
        _icacls(folder, "/setowner", who, "/T", "/C", "/Q")
        _icacls(folder / "state", "/grant", f"{AUTHENTICATED_USERS}:(OI)(CI)RX")
    return str(folder)


def _icacls_name(account: str) -> str:
    canonical = accounts.well_known(account)
    return f"*{canonical}" if accounts.is_sid(canonical) else account


def _icacls(path: Path, *arguments: str) -> None:  # pragma: no cover - Windows
    system_root = os.environ.get("SystemRoot", r"C:\Windows")
    _run([os.path.join(system_root, "System32", "icacls.exe"), str(path), *arguments], f"icacls {path}")


def restrict(home: Path) -> None:  # pragma: no cover - Windows
    """Administrators and SYSTEM: full control; Authenticated Users: read and execute
    (the interpreter, the dependencies' state); logs and history: admins and SYSTEM only."""
    _icacls(home, "/inheritance:r", "/grant:r", f"{ADMINISTRATORS}:(OI)(CI)F", f"{SYSTEM}:(OI)(CI)F",
            f"{AUTHENTICATED_USERS}:(OI)(CI)RX")
    _icacls(home, "/setowner", ADMINISTRATORS, "/T", "/C", "/Q")
    for name in os.listdir(home):
        if name != "accounts":
            _icacls(home / name, "/reset", "/T", "/C", "/Q")
    for name in PRIVATE_FOLDERS:
        _icacls(home / name, "/inheritance:r", "/grant:r", f"{ADMINISTRATORS}:(OI)(CI)F", f"{SYSTEM}:(OI)(CI)F")


def register_event_source() -> str:  # pragma: no cover - Windows
    """Register ``reconcile.py`` in the Application log with .NET's EventLogMessages.dll
    (message "%1" for every event ID) when present, so Event Viewer shows the task path.
    Events are written, and wake tasks, even without it."""
    if sys.platform != "win32":  # mypy checks what follows for Windows only
        raise OSError("the Windows event log exists only on Windows")
    import winreg

    root = os.environ.get("SystemRoot", r"C:\Windows")
    message_file = None
    for framework in ("Framework64", "Framework"):
        candidate = os.path.join(root, "Microsoft.NET", framework, "v4.0.30319", "EventLogMessages.dll")
        if os.path.exists(candidate):
            message_file = candidate
            break
    with winreg.CreateKeyEx(winreg.HKEY_LOCAL_MACHINE, EVENT_KEY, 0, winreg.KEY_WRITE) as key:
        winreg.SetValueEx(key, "TypesSupported", 0, winreg.REG_DWORD, 7)
        if message_file:
            winreg.SetValueEx(key, "EventMessageFile", 0, winreg.REG_EXPAND_SZ, message_file)
    return message_file or "(no message file: Event Viewer shows the data without a text)"


def _is_admin() -> bool:  # pragma: no cover - Windows
    if sys.platform != "win32":  # mypy checks what follows for Windows only
        return False
    import ctypes

    try:
        return bool(ctypes.windll.shell32.IsUserAnAdmin())
    except (AttributeError, OSError):
        return False


def _base_interpreter_warning(base_python: str) -> str | None:  # pragma: no cover - Windows
    prefix = os.path.normcase(getattr(sys, "base_prefix", "") or os.path.dirname(base_python))
    if "\\users\\" in prefix or "\\appdata\\" in prefix:
        return (f"the virtual environment runs the Python installed in {sys.base_prefix}, a folder a "
                "non-administrator may be able to change; a task running as SYSTEM would run it. "
                "Install Python for all users (C:\\Program Files) and run runner-install with it.")
    return None


def _yaml(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def defaults_yaml(python: str, home: str) -> str:
    return (f"spec:\n  runner:\n    python: {_yaml(python)}\n    home: {_yaml(home)}\n")


def install(home: str, accounts_: list[str] | tuple[str, ...] = (), base_python: str | None = None,
            say: Callable[[str], None] = print) -> dict[str, str]:
    home_path = Path(expand(home) or home).absolute()
    if sys.platform == "win32" and not _is_admin():  # pragma: no cover - Windows
        raise ReconcileError("runner-install needs an elevated (administrator) shell: it registers an "
                             "event source and sets the folder's permissions")
    for name in FOLDERS:
        (home_path / name).mkdir(parents=True, exist_ok=True)
    base = base_python or sys.executable
    python = create_venv(home_path / "venv", base)
    target = copy_runner(python)
    version = verify(python)
    (home_path / RUNNER_STAMP).write_text(stamp_text(), encoding="utf-8")
    say(f"runner installed: {python} ({version}; files in {target})")
    if sys.platform == "win32":  # pragma: no cover - Windows
        warning = _base_interpreter_warning(base)
        if warning:
            say(f"warning: {warning}")
        say(f"event source {EVENT_SOURCE} registered in the {EVENT_LOG} log ({register_event_source()})")
        restrict(home_path)
        say(f"permissions of {home_path}: Administrators and SYSTEM full control, Authenticated Users "
            "read and execute; logs and history for Administrators and SYSTEM only")
    for account in accounts_:
        folder = prepare_account(str(home_path), account)
        say(f"history folder for {account}: {folder or str(home_path) + ' (SYSTEM uses the home)'}")
    say("")
    say("Add this to the Defaults document (kind: Defaults) of this machine's manifests:")
    say("")
    for line in defaults_yaml(str(python), str(home_path)).splitlines():
        say(line)
    return {"home": str(home_path), "python": str(python), "package": str(target)}
