"""One run of one task: decide (dependencies, preconditions), execute with retries, record,
notify, wake the dependents. See the package docstring for the exit codes."""
from __future__ import annotations

import datetime as dt
import os
import random
import socket
import sys
import time
import uuid
from typing import IO, Any

from . import (
    BUSY, ERROR, EXIT_NOT_STARTED, EXIT_OK, EXIT_RUNNER_ERROR, EXIT_TIMEOUT, FAILED, REAL_RESULTS,
    RUNNING, SKIPPED, SUCCEEDED, WAITING, events, proctree,
)
from .locks import FileLock
from .paths import Layout, expand
from .payload import PayloadError, decode
from .store import append_history, read_state, write_json

DEFAULT_HOME = r"%ProgramData%\reconcile"
DEFAULT_KEEP = 30
DEFAULT_INITIAL = 30.0
DEFAULT_MAX = 600.0
LOG_TAIL_LINES = 40
_LAST_LOOKS = 3


def now() -> str:
    return dt.datetime.now().astimezone().isoformat(timespec="milliseconds")


def current_user() -> str:
    if sys.platform == "win32":  # pragma: no cover - Windows
        domain, user = os.environ.get("USERDOMAIN", ""), os.environ.get("USERNAME", "")
        return f"{domain}\\{user}" if domain else user
    try:
        import getpass

        return getpass.getuser()
    except Exception:  # noqa: BLE001 - only for the record
        return str(os.getuid()) if hasattr(os, "getuid") else "?"


def main(payload_text: str) -> int:
    try:
        data = decode(payload_text)
    except PayloadError as err:
        print(f"reconcile.py runner: {err}", file=sys.stderr)
        return EXIT_RUNNER_ERROR
    try:
        runner = Runner(data)
    except (KeyError, TypeError, ValueError) as err:
        print(f"reconcile.py runner: the payload lacks {err}", file=sys.stderr)
        return EXIT_RUNNER_ERROR
    try:
        return runner.start()
    except Exception as err:  # noqa: BLE001 - recorded, so the run does not vanish
        return runner._runner_error(f"internal error: {type(err).__name__}: {err}")


class Runner:
    def __init__(self, data: dict[str, Any]) -> None:
        self.task: str = data["task"]
        self.home: str = data.get("home") or DEFAULT_HOME
        self.layout = Layout(self.home, data.get("account"))
        self.actions: list[dict[str, Any]] = list(data.get("actions") or [])
        self.spec: dict[str, Any] = dict(data.get("run") or {})
        self.run_id = uuid.uuid4().hex
        self.host = socket.gethostname()
        self.user = current_user()
        self.history = self.layout.history_file(self.task)
        self.state_file = self.layout.state_file(self.task)
        self.started = now()

    # --- records ---------------------------------------------------------------------------
    def record(self, **fields: Any) -> None:
        append_history(self.history, {
            "v": 1, "run": self.run_id, "task": self.task, "host": self.host, "user": self.user,
            "pid": os.getpid(), "start": self.started, **fields,
        })

    def _runner_error(self, message: str, permission: bool = False) -> int:
        if permission and self.layout.account:
            message += (f" (a task that runs as another account than SYSTEM keeps its history in "
                        f"{self.layout.store}: create it with reconcile.py runner-install --account ACCOUNT)")
        print(f"reconcile.py runner: {self.task}: {message}", file=sys.stderr)
        try:
            self.record(result=ERROR, end=now(), reason=message, exitCode=EXIT_RUNNER_ERROR)
        except OSError:
            pass
        events.write_finished(self.task, ERROR, EXIT_RUNNER_ERROR, self.run_id, detail=message)
        return EXIT_RUNNER_ERROR

    # --- the decision ------------------------------------------------------------------------
    def start(self) -> int:
        after = list(self.spec.get("after") or [])
        lock = FileLock(self.layout.lock_file(self.task))
        try:
            if after:
                # A dependent waits its turn: the start that holds the lock may be a real
                # run, and this start must then look again at what it consumed.
                lock.acquire()
            elif not lock.try_acquire():
                self.record(result=BUSY, end=now(), reason="another start of this task is still running")
                return EXIT_OK
        except OSError as err:
            return self._runner_error(f"cannot take the lock {lock.path}: {err}",
                                      isinstance(err, PermissionError))
        try:
            return self._decide(lock, after)
        except OSError as err:
            return self._runner_error(f"{type(err).__name__}: {err}", isinstance(err, PermissionError))
        finally:
            lock.release()

    def _decide(self, lock: FileLock, after: list[dict[str, Any]]) -> int:
        seen: dict[str, str] | None = None
        for _ in range(_LAST_LOOKS):
            if after:
                ready, reason, seen = self.dependencies(after)
                if not ready:
                    self.record(result=WAITING, end=now(), reason=reason)
                    # The last look: a dependency that finished while this start was
                    # deciding may have had its wake-up dropped by Task Scheduler (an
                    # instance was running). Look once more without the lock; if it is
                    # ready now, decide again under the lock.
                    lock.release()
                    if not self.dependencies(after)[0]:
                        return EXIT_OK
                    lock.acquire()
                    continue
            when = list(self.spec.get("when") or [])
            holds, why = True, None
            if when:
                from . import conditions  # imported only when needed: a fast start

                holds, why = conditions.check(when)
            if not holds:
                self.record(result=SKIPPED, end=now(), reason=why)
                return EXIT_OK
            return self.execute(seen)
        return EXIT_OK  # pragma: no cover - three races in a row

    def dependencies(self, after: list[dict[str, Any]]) -> tuple[bool, str | None, dict[str, str]]:
        """Whether every dependency has a new outcome this task has not consumed yet:
        (ready, why not, {dependency key: its run id})."""
        own = read_state(self.state_file, self.history)
        consumed = own.get("consumed") or {}
        waiting: list[str] = []
        seen: dict[str, str] = {}
        for dependency in after:
            path = str(dependency["task"])
            key = path.casefold()
            require = dependency.get("require", "succeeded")
            layout = Layout(dependency.get("home") or self.home, dependency.get("account"))
            state_file = layout.state_file(path)
            last = read_state(state_file, layout.history_file(path)).get("last")
            if not isinstance(last, dict) or last.get("result") not in REAL_RESULTS:
                where = "" if not os.path.exists(state_file) or os.access(state_file, os.R_OK) \
                    else f" (its state {state_file} cannot be read)"
                waiting.append(f"{path} has not run yet{where}")
            elif require == "succeeded" and last.get("result") != SUCCEEDED:
                waiting.append(f"{path} failed at {last.get('end')} (exit code {last.get('exitCode')})")
            elif last.get("run") == consumed.get(key):
                verb = "succeeded" if require == "succeeded" else "finished"
                waiting.append(f"{path} has not {verb} since this task last ran")
            else:
                seen[key] = str(last.get("run"))
        if waiting:
            return False, "waiting: " + "; ".join(waiting), seen
        return True, None, seen

    # --- the run -----------------------------------------------------------------------------
    def execute(self, consumed: dict[str, str] | None) -> int:
        self.started = now()
        state = read_state(self.state_file, self.history)
        state["task"] = self.task
        state["lastStart"] = {"run": self.run_id, "start": self.started}
        if consumed is not None:
            # Recorded before the actions start: a crash mid-run never runs them twice
            # for the same pair of successes.
            state["consumed"] = consumed
        write_json(self.state_file, state)
        log_path, log = self._open_log()
        attempts: list[dict[str, Any]] = []
        try:
            # What it consumed goes into the history too: the state file's backup.
            self.record(result=RUNNING, log=log_path, **({"consumed": consumed} if consumed is not None else {}))
            code = self._actions(log, attempts)
        finally:
            log.flush()
        result = SUCCEEDED if code == 0 else FAILED
        end = now()
        state["last"] = {"run": self.run_id, "result": result, "exitCode": code,
                         "start": self.started, "end": end}
        write_json(self.state_file, state)
        summary = {"result": result, "exitCode": code, "end": end, "attempts": attempts,
                   "log": log_path}
        if result == FAILED:
            summary["reason"] = _failure_reason(attempts)
        self.record(**summary)
        error = events.write_finished(self.task, result, code, self.run_id)
        if error:
            self._log(log, f"could not write the wake-up event: {error}")
        if result == FAILED:
            self._notify(log, log_path, summary)
        log.close()
        return code

    def _open_log(self) -> tuple[str, IO[bytes]]:
        settings = self.spec.get("log") or {}
        folder = expand(settings.get("dir")) or self.layout.default_log_dir(self.task)
        os.makedirs(folder, exist_ok=True)
        stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S.%f")[:-3]
        path = os.path.join(folder, f"{stamp}-{self.run_id[:8]}.log")
        handle = open(path, "ab", buffering=0)  # noqa: SIM115 - closed in execute()
        _prune(folder, int(settings.get("keep", DEFAULT_KEEP)))
        return path, handle

    def _log(self, log: IO[bytes], text: str) -> None:
        try:
            log.write(f"=== {now()} {text}\n".encode("utf-8"))
        except (OSError, ValueError):
            pass

    def _actions(self, log: IO[bytes], attempts: list[dict[str, Any]]) -> int:
        retry = self.spec.get("retry") or {}
        tries = max(1, int(retry.get("attempts", 1)))
        initial = float(retry.get("initial", DEFAULT_INITIAL))
        maximum = float(retry.get("max", DEFAULT_MAX))
        jitter = min(1.0, max(0.0, float(retry.get("jitter", 0))))
        timeout = self.spec.get("attemptTimeout")
        self._log(log, f"run {self.run_id} of {self.task} on {self.host} as {self.user}")
        for index, action in enumerate(self.actions):
            code = EXIT_OK
            for number in range(1, tries + 1):
                if number > 1:
                    delay = min(maximum, initial * 2 ** (number - 2))
                    delay *= 1 - jitter * random.random()
                    self._log(log, f"waiting {delay:g}s before attempt {number} of {tries}")
                    time.sleep(delay)
                else:
                    delay = 0.0
                outcome = self._attempt(log, index, action, number, tries,
                                        None if timeout is None else float(timeout))
                outcome["delay"] = round(delay, 3)
                attempts.append(outcome)
                code = outcome["exitCode"]
                if code == 0:
                    break
            if code != 0:
                return code
        return EXIT_OK

    def _attempt(self, log: IO[bytes], index: int, action: dict[str, Any], number: int, tries: int,
                 timeout: float | None) -> dict[str, Any]:
        command, arguments, cwd = proctree.expanded(action)
        outcome: dict[str, Any] = {"action": index + 1, "attempt": number, "start": now()}
        self._log(log, f"action {index + 1} of {len(self.actions)}, attempt {number} of {tries}: "
                       f"{proctree.command_line(command, arguments)}"
                       + (f" (in {cwd})" if cwd else ""))
        began = time.monotonic()
        try:
            started = proctree.start(command, arguments, cwd, log)
        except OSError as err:
            outcome.update(end=now(), exitCode=EXIT_NOT_STARTED, error=f"cannot start {command}: {err}")
            self._log(log, outcome["error"])
            return outcome
        code = started.wait(timeout)
        if code is None:
            started.kill_tree()
            outcome["timedOut"] = True
            code = EXIT_TIMEOUT
            self._log(log, f"stopped (with its child processes) at attemptTimeout {timeout:g}s")
        code = _exit_code(code)
        outcome.update(end=now(), exitCode=code, seconds=round(time.monotonic() - began, 3))
        self._log(log, f"exit code {code} after {outcome['seconds']:g}s")
        return outcome

    def _notify(self, log: IO[bytes], log_path: str, summary: dict[str, Any]) -> None:
        entries = list((self.spec.get("notify") or {}).get("onFailure") or [])
        if not entries:
            return
        report = {"task": self.task, "host": self.host, "result": summary["result"],
                  "exitCode": summary["exitCode"], "start": self.started, "end": summary["end"],
                  "attemptCount": len(summary["attempts"]), "reason": summary.get("reason"),
                  "log": log_path, "run": self.run_id}
        from . import notify

        outcomes = notify.send_all(entries, report, _tail(log_path))
        for outcome in outcomes:
            state = "sent" if outcome["ok"] else f"FAILED: {outcome.get('error')}"
            self._log(log, f"notify {outcome['kind']} {outcome['target']}: {state}")
        try:
            append_history(self.history, {"v": 1, "run": self.run_id, "task": self.task, "notify": outcomes})
        except OSError:
            pass


def _exit_code(code: int) -> int:
    if code < 0 and sys.platform != "win32":
        return 128 - code  # killed by a signal: the shell's convention
    return code


def _failure_reason(attempts: list[dict[str, Any]]) -> str:
    if not attempts:
        return "no action ran"
    last = attempts[-1]
    if last.get("timedOut"):
        return f"action {last['action']} timed out on attempt {last['attempt']}"
    if last.get("error"):
        return str(last["error"])
    return f"action {last['action']} exited with {last['exitCode']} on attempt {last['attempt']}"


def _prune(folder: str, keep: int) -> None:
    """Delete the oldest run logs beyond ``keep`` (only files this runner names)."""
    import re

    pattern = re.compile(r"^\d{8}-\d{6}\.\d{3}-[0-9a-f]{8}\.log$")
    try:
        logs = sorted(name for name in os.listdir(folder) if pattern.match(name))
    except OSError:
        return
    for name in logs[:max(0, len(logs) - max(1, keep))]:
        try:
            os.unlink(os.path.join(folder, name))
        except OSError:
            pass  # open elsewhere (Windows): pruned next time


def _tail(path: str, lines: int = LOG_TAIL_LINES) -> str:
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - 64 * 1024))
            text = handle.read().decode("utf-8", "replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])
