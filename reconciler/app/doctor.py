"""``doctor``: evidence from a real machine, gathered safely.

Nobody can trust a model of Windows more than Windows. doctor registers a set of tasks
that covers every trigger kind, the settings, each account kind the machine offers,
non-ASCII and long names, several actions and a two-task runner chain
(``templates/doctor.yaml``) through the same apply as ``reconcile.py apply``, then checks
what the machine made of them: read back (canonical form equal to what was rendered),
plan (``No changes.``), status and next run times against what the scheduler reports,
the chain run through the real scheduler, and delete.

It works only inside a scratch folder ``\\reconcile-doctor-<random>\\`` that it creates
and removes — also when interrupted (Ctrl+C, SIGTERM) — so it touches nothing else; it
needs the rights ``apply`` needs. Each check ends ok, DIFFERS (what was expected and what
was seen) or SKIPPED (and why); the evidence can be written as JSON for a bug report."""
from __future__ import annotations

import contextlib
import datetime as dt
import locale
import os
import platform
import secrets
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from .. import diff, names
from ..backends.base import Backend
from ..errors import ReconcileError
from ..model import Action
from . import plans, status as status_app

OK, DIFFERS, SKIPPED = "ok", "DIFFERS", "SKIPPED"
PASSWORD_VARIABLE = "RECONCILE_DOCTOR_PASSWORD"
CHAIN_FIRST, CHAIN_SECOND = "chain\\chain-first", "chain\\chain-second"


@dataclass(frozen=True)
class Check:
    name: str
    result: str  # OK | DIFFERS | SKIPPED
    detail: str = ""
    observed: dict[str, Any] = field(default_factory=dict)


@dataclass
class Evidence:
    machine: dict[str, Any]
    root: str
    checks: list[Check] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(c.result != DIFFERS for c in self.checks)

    def count(self, result: str) -> int:
        return sum(1 for c in self.checks if c.result == result)


@dataclass(frozen=True)
class DoctorOptions:
    timeout: float = 120.0  # seconds the runner chain may take on a real scheduler
    password_account: str | None = None  # also register a password logon for this account
    now: dt.datetime | None = None  # the clock next runs are compared from (tests)


def scratch_root() -> str:
    return f"\\reconcile-doctor-{secrets.token_hex(4)}\\"


# --- the machine ------------------------------------------------------------------------

def machine_facts(backend_name: str) -> dict[str, Any]:
    """What a bug report needs to know about the machine the evidence comes from."""
    facts: dict[str, Any] = {
        "backend": backend_name, "platform": sys.platform, "python": platform.python_version(),
        # Not platform.platform(): it starts `uname -p` on Linux, and doctor starts no process.
        "reconcile": _version(), "os": f"{platform.system()} {platform.release()} {platform.machine()}",
    }
    if sys.platform == "win32":  # pragma: no cover - Windows only
        facts.update(_windows_facts())
    else:
        facts["locale"] = os.environ.get("LC_ALL") or os.environ.get("LANG") or "C"
    # What Python reads and writes files and pipes in, when nothing names an encoding.
    facts["preferred_encoding"] = locale.getpreferredencoding(False)
    return facts


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("reconcile")
    except Exception:  # noqa: BLE001 - a source checkout that was never installed
        return "unknown"


def _windows_facts() -> dict[str, Any]:  # pragma: no cover - Windows only
    if sys.platform != "win32":  # mypy checks what follows for Windows only
        return {}
    import ctypes

    kernel32 = ctypes.windll.kernel32
    name = ctypes.create_unicode_buffer(85)
    kernel32.GetUserDefaultLocaleName(name, len(name))
    build = sys.getwindowsversion()
    return {"windows_build": f"{build.major}.{build.minor}.{build.build}", "locale": name.value,
            "oem_code_page": int(kernel32.GetOEMCP()), "ansi_code_page": int(kernel32.GetACP()),
            "console_output_code_page": int(kernel32.GetConsoleOutputCP())}


def current_user() -> str:
    """The account running doctor, as Task Scheduler names it (DOMAIN\\user)."""
    user = os.environ.get("USERNAME") or os.environ.get("USER") or "user"
    domain = os.environ.get("USERDOMAIN") or platform.node() or "."
    return f"{domain}\\{user}"


# --- the manifests ----------------------------------------------------------------------

def write_manifests(folder: Path, root: str, options: DoctorOptions, runner_home: Path) -> tuple[Path, Path]:
    """``templates/doctor.yaml`` filled in for this machine, in ``folder/tasks.d``; the
    Defaults with ``templates/doctor-unicode.yaml`` in ``folder/unicode.d``."""
    from ..resources import template

    longest = min(names.MAX_SEGMENT, names.MAX_PATH - len(root))
    text = template("doctor.yaml")
    for key, value in {"${PYTHON}": sys.executable, "${RUNNER_HOME}": str(runner_home),
                       "${USER}": current_user(), "${LONG_NAME}": ("long-" + "x" * longest)[:longest]}.items():
        text = text.replace(key, value.replace("'", "''"))
    if options.password_account:
        account = options.password_account.replace("'", "''")
        text += ("---\napiVersion: reconcile/v1\nkind: ScheduledTask\n"
                 "metadata: {name: password-logon, folder: accounts}\nspec:\n  enabled: false\n"
                 "  triggers: [{once: {at: \"2099-01-01T00:00:00\"}}]\n"
                 "  actions: [{command: C:\\Windows\\System32\\whoami.exe}]\n"
                 f"  runAs: {{user: '{account}', logonType: password, "
                 f"password: {{fromEnv: {PASSWORD_VARIABLE}}}}}\n")
    target, unicode = folder / "tasks.d", folder / "unicode.d"
    for each in (target, unicode):
        each.mkdir(parents=True)
    (target / "doctor.yaml").write_text(text, encoding="utf-8")
    defaults = text[:text.index("\n---\n", text.index("kind: Defaults")) + 1]
    (unicode / "defaults.yaml").write_text(defaults, encoding="utf-8")
    (unicode / "unicode.yaml").write_text(template("doctor-unicode.yaml"), encoding="utf-8")
    return target, unicode


# --- the checks -------------------------------------------------------------------------

Report = Callable[[Check], None]


def _registered(backend: Backend, root: str, directory: Path, report: Report,
                registered: list[str]) -> list[Any]:
    """Apply the manifests; the rendered tasks, for the checks that follow. ``registered``
    gets every path before the first write, for the clean-up."""
    desired = plans.load_desired(str(directory), root, backend)
    registered.extend(d.spec.path for d in desired)
    applied = plans.apply(backend, root, plans.ApplyOptions(), directory=str(directory))
    failed = applied.failed
    created = applied.count(Action.CREATE)
    if failed:
        first = failed[0]
        report(Check("register", DIFFERS, f"{len(failed)} of {len(desired)} task(s) not registered; "
                                          f"first: {first.path}: {first.message or first.status}",
                     {"failed": {o.path: o.message or o.status for o in failed}}))
    else:
        report(Check("register", OK, f"{created} task(s) registered", {"created": created}))
    return desired


def _read_back(backend: Backend, root: str, desired: list[Any], report: Report) -> None:
    actual = {names.key(a.path): a for a in plans.read_actual(backend, root).tasks}
    for item in desired:
        live = actual.get(names.key(item.spec.path))
        name = f"read back {item.spec.path}"
        if live is None:
            report(Check(name, DIFFERS, "not found in the folder after apply"))
        elif live.canonical != item.rendered.canonical:
            first = diff.changes(item.rendered.canonical, live.canonical)[:3]
            shown = "; ".join(f"{c.field}: {c.before} became {c.after}" for c in first)
            report(Check(name, DIFFERS, shown, {"fields": [c.__dict__ for c in first]}))
        else:
            report(Check(name, OK))


def _no_changes(backend: Backend, root: str, directory: Path, report: Report) -> None:
    result = plans.plan(str(directory), root, backend).plan
    changed = [c for c in result.changes if c.action is not Action.NOOP]
    if changed:
        report(Check("plan says No changes.", DIFFERS, f"{result.summary()} first: {changed[0].path} "
                     f"({changed[0].reason})", {"changes": [c.path for c in changed]}))
    else:
        report(Check("plan says No changes.", OK, result.summary()))


def _next_runs(backend: Backend, root: str, now: dt.datetime, report: Report) -> None:
    """Our simulation of each task's next run against the scheduler's NextRunTime."""
    from .. import simulate
    from ..simulate_dst import SystemZone

    if not backend.capabilities.run_history:
        report(Check("next run times", SKIPPED, f"the {backend.name} backend keeps no schedule of its own"))
        return
    data = backend.run_info(root)
    if data.tasks is None:
        report(Check("next run times", DIFFERS, "; ".join(data.warnings) or "no run data"))
        return
    for task in plans.read_actual(backend, root).tasks:
        run = data.tasks.get(names.key(task.path))
        # In the machine's own zone, as ``next`` shows them: a start with a UTC offset is
        # that instant (ITrigger::StartBoundary, Microsoft Learn), NextRunTime local time.
        ours = simulate.next_runs(task.canonical, now, 1, zone=SystemZone())
        expected = ours[0].isoformat(timespec="seconds") if ours else None
        seen = run.next_run if run is not None else None
        name = f"next run {task.path}"
        observed = {"reconcile": expected, "scheduler": seen}
        if run is None:
            report(Check(name, DIFFERS, "the scheduler reports no run data for it", observed))
        elif expected == seen:
            report(Check(name, OK, expected or "none", observed))
        else:
            report(Check(name, DIFFERS, f"reconcile.py says {expected or 'none'}, the scheduler "
                                        f"{seen or 'none'}", observed))


def _status(backend: Backend, root: str, desired: list[Any], home: Path, report: Report) -> None:
    """``status`` lists every task, each in the state its manifest asks for. Next run
    times are compared on their own (``_next_runs``)."""
    found = status_app.status(backend, root, str(home))
    rows = {names.key(row.path): row for row in found.rows}
    missing = [d.spec.path for d in desired if names.key(d.spec.path) not in rows]
    observed = {"rows": len(found.rows), "warnings": list(found.warnings)}
    if missing:
        report(Check("status lists every task", DIFFERS, f"missing: {', '.join(missing[:3])}", observed))
    else:
        report(Check("status lists every task", OK, f"{len(found.rows)} managed task(s)", observed))
    _states(backend, [(d, rows[names.key(d.spec.path)]) for d in desired if names.key(d.spec.path) in rows],
            report)


def _states(backend: Backend, listed: list[tuple[Any, Any]], report: Report) -> None:
    """Each task's state against its manifest: ``enabled: false`` is disabled, anything
    else ready (nothing has run yet). Task Scheduler's own word is taken where it is an
    English one; a localised word or none leaves the state ``status`` worked out."""
    counts: dict[str, int] = {}
    unknown = 0
    for item, row in listed:
        enabled = item.rendered.canonical.get("Settings", {}).get("Enabled", True) is not False
        expected = "ready" if enabled else "disabled"
        seen = status_app.reported_state(row.status) or row.state
        if seen == "unknown":
            unknown += 1
        elif seen == expected:
            counts[seen] = counts.get(seen, 0) + 1
        else:
            word = f" (the scheduler says {row.status!r})" if row.status else ""
            report(Check(f"status {item.spec.path}", DIFFERS, f"expected {expected}, found {seen}{word}",
                         {"expected": expected, "found": seen, "scheduler": row.status}))
    if counts or unknown:
        shown = ", ".join(f"{n} {state}" for state, n in sorted(counts.items())) or "none"
        rest = f"; the {backend.name} backend reports no state for {unknown} task(s)" if unknown else ""
        report(Check("status states", OK, f"as declared: {shown}{rest}", {**counts, "unknown": unknown}))


def _chain(backend: Backend, root: str, timeout: float, report: Report) -> None:
    """Start the chain's first task through the scheduler; the second must wake and run."""
    name = "runner chain: chain-first run -> chain-second wakes and runs"
    if sys.platform != "win32" or not backend.capabilities.can_run:
        report(Check(name, SKIPPED, "only a real Task Scheduler runs actions and wakes a dependent "
                                    f"(here: {backend.name} on {sys.platform})"))
        return
    second = root + CHAIN_SECOND  # pragma: no cover - Windows only
    before = _run_of(backend, root, second)  # pragma: no cover
    backend.run(root + CHAIN_FIRST)  # pragma: no cover
    deadline = time.monotonic() + timeout  # pragma: no cover
    while time.monotonic() < deadline:  # pragma: no cover
        now = _run_of(backend, root, second)
        if now is not None and now.last_run and now.last_run != (before.last_run if before else None) \
                and now.status != "Running":
            result = OK if now.last_result == 0 else DIFFERS
            report(Check(name, result, f"chain-second ran at {now.last_run}, result {now.last_result}",
                         {"last_run": now.last_run, "last_result": now.last_result}))
            return
        time.sleep(1)
    report(Check(name, DIFFERS, f"chain-second did not run within {timeout:g} s"))  # pragma: no cover


def _run_of(backend: Backend, root: str, path: str) -> Any:  # pragma: no cover - Windows only
    data = backend.run_info(root)
    return (data.tasks or {}).get(names.key(path))


def _unicode(backend: Backend, root: str, directory: Path, registered: list[str], report: Report) -> None:
    """The task whose name and text no console code page holds, registered last."""
    desired = plans.load_desired(str(directory), root, backend)
    registered.extend(d.spec.path for d in desired)
    try:
        plans.apply(backend, root, plans.ApplyOptions(), directory=str(directory))
        _read_back(backend, root, desired, report)
        _no_changes(backend, root, directory, report)
    except ReconcileError as err:
        report(Check("a name outside every console code page", DIFFERS, str(err)))


def _delete(backend: Backend, root: str, empty: Path, report: Report) -> None:
    applied = plans.apply(backend, root, plans.ApplyOptions(allow_delete_all=True), directory=str(empty))
    left = plans.read_actual(backend, root).tasks
    if applied.failed or left:
        report(Check("delete", DIFFERS, f"{len(left)} task(s) left after apply with no manifests",
                     {"left": [t.path for t in left]}))
    else:
        report(Check("delete", OK, f"{applied.count(Action.DELETE)} task(s) deleted"))


def _clean_up(backend: Backend, root: str, registered: list[str], report: Report) -> None:
    """Whatever happened: no task and no folder of doctor's is left behind. The folder
    is read to find what is left; where it cannot be read (a name the console code page
    lost), the tasks doctor registered are deleted by the paths it knows."""
    problems: list[str] = []
    try:
        left = [t.path for t in backend.read_state(root).tasks.values()]
    except ReconcileError:
        left = registered
    for path in left:
        try:
            backend.delete(path)
        except ReconcileError:
            pass  # what is left is read again below
    try:
        still = [t.path for t in backend.read_state(root).tasks.values()]
        if still:
            problems.append(f"{len(still)} task(s) could not be deleted: {', '.join(still[:3])}")
    except ReconcileError as err:
        problems.append(f"cannot confirm that every task is gone: {err}")
    if not backend.capabilities.removes_folders:
        if problems:
            report(Check("clean up the scratch folder", DIFFERS, problems[0], {"problems": problems}))
        else:
            report(Check("clean up the scratch folder", SKIPPED,
                         f"every task deleted; the {backend.name} backend cannot remove the empty "
                         f"folder {root}: delete it in the Task Scheduler console"))
        return
    try:
        backend.remove_folder(root)
    except ReconcileError as err:
        problems.append(str(err))
    if problems:
        report(Check("clean up the scratch folder", DIFFERS, problems[0], {"problems": problems}))
    else:
        report(Check("clean up the scratch folder", OK, f"{root} removed"))


@contextlib.contextmanager
def _interruptible() -> Iterator[None]:
    """SIGTERM ends doctor like Ctrl+C does, so the clean-up still runs."""
    def stop(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt
    previous = None
    with contextlib.suppress(ValueError):  # not the main thread: no handler to install
        previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def doctor(open_backend: Callable[[str], Backend], options: DoctorOptions,
           report: Report = lambda check: None) -> Evidence:
    """Run every check in a new scratch folder (``open_backend(root)`` gives the backend
    for it); ``report`` sees each check as it ends. The folder is gone afterwards."""
    root = scratch_root()
    backend = open_backend(root)
    evidence = Evidence(machine_facts(backend.name), root)

    def record(check: Check) -> None:
        evidence.checks.append(check)
        report(check)

    work = Path(tempfile.mkdtemp(prefix="reconcile-doctor-"))
    home = work / "runner"
    registered: list[str] = []
    try:
        with _interruptible():
            try:
                directory, unicode = write_manifests(work, root, options, home)
                (work / "empty").mkdir()
                desired = _registered(backend, root, directory, record, registered)
                _read_back(backend, root, desired, record)
                _no_changes(backend, root, directory, record)
                _status(backend, root, desired, home, record)
                _next_runs(backend, root, options.now or dt.datetime.now().replace(microsecond=0), record)
                _chain(backend, root, options.timeout, record)
                _delete(backend, root, work / "empty", record)
                _unicode(backend, root, unicode, registered, record)
            except ReconcileError as err:
                record(Check("doctor stopped", DIFFERS, str(err)))
            except KeyboardInterrupt:
                record(Check("doctor stopped", DIFFERS, "interrupted"))
                raise
            finally:
                _clean_up(backend, root, registered, record)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return evidence
