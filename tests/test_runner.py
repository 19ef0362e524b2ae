"""The runner as Task Scheduler would run it: each start is a real process
(``<runner.python> <Arguments split by the Windows rules>``) running real commands (small
Python scripts), against a real runner home in tmp_path. A tiny stand-in for Task
Scheduler starts the tasks whose wake trigger matches an event the runner wrote (the
``RECONCILE_RUNNER_EVENT_LOG`` hook). Loopback servers only; no internet."""
from __future__ import annotations

import base64
import html.parser
import http.server
import json
import os
import socketserver
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from reconciler import cmdline, workflow
from reconciler.cli import main
from reconciler.history import last_runs
from reconciler.model import ExecAction
from reconciler.runner import EVENT_ID, EVENT_SOURCE, EXIT_TIMEOUT
from reconciler.runner import history as reading

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX process groups; Windows CI has its own")

REPO = Path(__file__).resolve().parents[1]
ROOT = "\\Orchestrator\\"

STEP = """
import os, sys, time
name, journal, control = sys.argv[1], sys.argv[2], sys.argv[3]
sleep = os.path.join(control, name + ".sleep")
if os.path.exists(sleep):
    time.sleep(float(open(sleep).read()))
code_file = os.path.join(control, name + ".code")
code = int(open(code_file).read()) if os.path.exists(code_file) else 0
with open(journal, "a") as handle:
    handle.write(f"{name} {code}\\n")
print(f"step {name} ran, exit code {code}")
sys.exit(code)
"""

FLAKY = """
import sys, time
counter, succeed_on = sys.argv[1], int(sys.argv[2])
try:
    count = int(open(counter).read()) + 1
except FileNotFoundError:
    count = 1
open(counter, "w").write(str(count))
with open(counter + ".times", "a") as handle:
    handle.write(f"{time.monotonic()}\\n")
print(f"attempt {count}", flush=True)
sys.exit(0 if count >= succeed_on else 5)
"""

HANG = """
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
with open(sys.argv[1], "a") as handle:
    handle.write(f"{child.pid}\\n")
print("started a child and hanging", flush=True)
time.sleep(60)
"""


def alive(pid: int) -> bool:
    """A process that exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            state = handle.read().rsplit(")", 1)[1].split()[0]
        return state not in ("Z", "X")
    except FileNotFoundError:
        return False
    except OSError:  # pragma: no cover - no /proc
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True


class Machine:
    """Registered runner tasks, started the way Task Scheduler starts them."""

    def __init__(self, tmp_path: Path) -> None:
        self.base = tmp_path
        self.home = tmp_path / "home"
        self.events = tmp_path / "events.jsonl"
        self.journal = tmp_path / "journal.txt"
        self.control = tmp_path / "control"
        self.control.mkdir()
        self.scripts = tmp_path / "scripts"
        self.scripts.mkdir()
        for name, text in (("step.py", STEP), ("flaky.py", FLAKY), ("hang.py", HANG)):
            (self.scripts / name).write_text(textwrap.dedent(text))
        self.env = {**os.environ, "PYTHONPATH": str(REPO), "RECONCILE_RUNNER_EVENT_LOG": str(self.events)}
        self.tasks: dict[str, dict[str, Any]] = {}
        self._events_seen = 0

    # --- registering ------------------------------------------------------------------
    def script(self, name: str, *arguments: str) -> ExecAction:
        return ExecAction(command=sys.executable,
                          arguments=cmdline.join([str(self.scripts / name), *arguments]))

    def step(self, name: str) -> ExecAction:
        return self.script("step.py", name, str(self.journal), str(self.control))

    def add(self, name: str, actions: tuple[ExecAction, ...], run: dict[str, Any] | None = None,
            account: str | None = None) -> None:
        self.tasks[name] = {"actions": actions, "run": run or {}, "account": account}

    def register(self) -> None:
        """What the compiler does once every task is compiled: resolve after, build the
        runner action and the wake triggers."""
        runs = {name: workflow.RunSpec.from_manifest(t["run"]) for name, t in self.tasks.items()}
        nodes = [workflow.DepNode(path=ROOT + name, name=name, after=runs[name].after,
                                  has_run=True, has_run_retry="retry" in t["run"], account=t["account"])
                 for name, t in self.tasks.items()]
        assert workflow.dependency_problems(nodes) == []
        resolved = workflow.resolve_dependencies(nodes)
        for name, task in self.tasks.items():
            deps = resolved.get((ROOT + name).casefold(), ())
            task["action"] = workflow.runner_action(
                ROOT + name, task["actions"], runs[name], {"python": sys.executable, "home": str(self.home)},
                account=task["account"], dependencies=deps)
            task["triggers"] = workflow.wake_triggers([d.task for d in deps])

    # --- starting -----------------------------------------------------------------------
    def argv(self, name: str) -> list[str]:
        action = self.tasks[name]["action"]
        return [action.command, *cmdline.split(action.arguments)]

    def start(self, name: str) -> subprocess.Popen[str]:
        return subprocess.Popen(self.argv(name), env=self.env, cwd=self.base, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def run(self, name: str, deliver: bool = True) -> int:
        process = self.start(name)
        out, err = process.communicate(timeout=60)
        assert not err.strip() or process.returncode != 0, err
        if deliver:
            self.deliver()
        return process.returncode

    def new_events(self) -> list[dict[str, Any]]:
        if not self.events.exists():
            return []
        lines = self.events.read_text().splitlines()
        new, self._events_seen = lines[self._events_seen:], len(lines)
        return [json.loads(line) for line in new]

    def deliver(self) -> list[str]:
        """Task Scheduler's part: every event wakes the tasks subscribed to it."""
        started = []
        for _ in range(20):
            events = self.new_events()
            if not events:
                return started
            for event in events:
                assert event["source"] == EVENT_SOURCE and event["eventId"] == EVENT_ID
                for name, task in self.tasks.items():
                    for trigger in task["triggers"]:
                        listens = workflow.wake_trigger_task({"EventTrigger": {"Subscription": trigger.subscription}})
                        if listens in event["data"]:
                            started.append(name)
                            self.run(name, deliver=False)
        raise AssertionError("events keep coming")  # pragma: no cover

    # --- reading ------------------------------------------------------------------------
    def runs(self, name: str | None = None) -> list[dict[str, Any]]:
        runs = reading.load(str(self.home))
        return [r for r in runs if name is None or r["task"] == ROOT + name]

    def results(self, name: str) -> list[str]:
        return [r["result"] for r in self.runs(name)]

    def journal_lines(self) -> list[str]:
        return self.journal.read_text().splitlines() if self.journal.exists() else []

    def set(self, name: str, code: int | None = None, sleep: float | None = None) -> None:
        for suffix, value in (("code", code), ("sleep", sleep)):
            path = self.control / f"{name}.{suffix}"
            if value is None:
                path.unlink(missing_ok=True)
            else:
                path.write_text(str(value))


@pytest.fixture
def machine(tmp_path: Path) -> Machine:
    return Machine(tmp_path)


# --- after: the AND-join ---------------------------------------------------------------------

def chain(machine: Machine) -> None:
    machine.add("a", (machine.step("a"),))
    machine.add("b", (machine.step("b"),))
    machine.add("c", (machine.step("c"),), {"after": ["a", "b"]})
    machine.register()


def test_c_runs_only_after_both_succeeded_and_once_per_pair(machine: Machine) -> None:
    chain(machine)
    assert machine.run("a") == 0
    # a's event woke c; b has not run: c waits, runs nothing, exits 0.
    assert machine.results("c") == ["waiting"]
    assert "\\Orchestrator\\b has not run yet" in machine.runs("c")[-1]["reason"]
    assert machine.journal_lines() == ["a 0"]
    assert machine.run("b") == 0
    assert machine.journal_lines() == ["a 0", "b 0", "c 0"]
    assert machine.results("c") == ["waiting", "succeeded"]
    # c's own trigger, and b succeeding again: no new pair, c does not run again.
    assert machine.run("c") == 0
    assert machine.run("b") == 0
    assert machine.journal_lines().count("c 0") == 1
    assert machine.results("c")[-2:] == ["waiting", "waiting"]
    assert "\\Orchestrator\\a has not succeeded since this task last ran" in machine.runs("c")[-1]["reason"]
    # a fails: c is woken, and does not run.
    machine.set("a", code=3)
    assert machine.run("a") == 3
    assert machine.journal_lines().count("c 0") == 1
    assert "\\Orchestrator\\a failed" in machine.runs("c")[-1]["reason"]
    # a succeeds again (and b's second success is still unconsumed): c runs once more.
    machine.set("a", code=None)
    assert machine.run("a") == 0
    assert machine.journal_lines().count("c 0") == 2
    # Only real runs wrote events: a x3, b x2, c x2 (waiting and skipped starts do not).
    events = [json.loads(line)["data"][:2] for line in machine.events.read_text().splitlines()]
    assert events.count(["\\Orchestrator\\c", "succeeded"]) == 2
    assert ["\\Orchestrator\\a", "failed"] in events
    assert len(events) == 7


def test_c_never_runs_after_a_failed(machine: Machine) -> None:
    chain(machine)
    machine.set("a", code=2)
    assert machine.run("a") == 2
    assert machine.run("b") == 0
    assert machine.run("c") == 0
    assert "c 0" not in machine.journal_lines()
    assert set(machine.results("c")) == {"waiting"}


def test_require_completed_runs_after_a_failure(machine: Machine) -> None:
    machine.add("a", (machine.step("a"),))
    machine.add("c", (machine.step("c"),), {"after": [{"task": "a", "require": "completed"}]})
    machine.register()
    machine.set("a", code=4)
    assert machine.run("a") == 4
    assert machine.journal_lines() == ["a 4", "c 0"]


def test_concurrent_starts_of_c_run_it_once(machine: Machine) -> None:
    chain(machine)
    assert machine.run("a", deliver=False) == 0
    assert machine.run("b", deliver=False) == 0
    machine.set("c", sleep=0.6)
    # Both wake-ups arrive at once (Task Scheduler queues or runs them in parallel).
    first, second = machine.start("c"), machine.start("c")
    assert first.wait(30) == 0 and second.wait(30) == 0
    assert machine.journal_lines().count("c 0") == 1
    assert sorted(machine.results("c")) == ["succeeded", "waiting"]


def test_concurrent_starts_of_a_task_without_after_one_is_busy(machine: Machine) -> None:
    machine.add("d", (machine.step("d"),))
    machine.register()
    machine.set("d", sleep=0.8)
    first = machine.start("d")
    time.sleep(0.3)  # the first holds the lock
    second = machine.start("d")
    assert first.wait(30) == 0 and second.wait(30) == 0
    assert machine.journal_lines() == ["d 0"]
    busy = [r for r in machine.runs("d") if r["result"] == "busy"]
    assert len(busy) == 1 and "still running" in busy[0]["reason"]


def test_dependency_running_as_another_account_is_found(machine: Machine) -> None:
    machine.add("a", (machine.step("a"),), account="CONTOSO\\svc-download")
    machine.add("c", (machine.step("c"),), {"after": ["a"]})
    machine.register()
    assert machine.run("a") == 0
    store = workflow.store_account("CONTOSO\\svc-download")
    assert (machine.home / "accounts" / store / "state" / "Orchestrator" / "a.json").exists()
    assert (machine.home / "accounts" / store / "logs" / "Orchestrator" / "a").is_dir()
    assert machine.journal_lines() == ["a 0", "c 0"]
    # history reads every store
    assert {r["task"] for r in machine.runs()} == {"\\Orchestrator\\a", "\\Orchestrator\\c"}


# --- retries and timeouts ---------------------------------------------------------------------

def test_flaky_command_succeeds_on_third_attempt_with_growing_delays(machine: Machine) -> None:
    counter = machine.base / "counter"
    machine.add("flaky", (machine.script("flaky.py", str(counter), "3"),),
                {"retry": {"attempts": 5, "initial": 0.1, "max": 5}})
    machine.register()
    assert machine.run("flaky") == 0
    (run,) = machine.runs("flaky")
    assert run["result"] == "succeeded" and run["exitCode"] == 0
    assert [a["exitCode"] for a in run["attempts"]] == [5, 5, 0]
    assert [a["delay"] for a in run["attempts"]] == [0, 0.1, 0.2]
    times = [float(t) for t in (machine.base / "counter.times").read_text().split()]
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert gaps[0] >= 0.1 and gaps[1] >= 0.2 and gaps[1] > gaps[0]
    log = Path(run["log"]).read_text()
    assert "attempt 1" in log and "attempt 3" in log and "waiting 0.2s before attempt 3 of 5" in log


def test_failure_after_last_attempt_exits_with_the_command_code(machine: Machine) -> None:
    counter = machine.base / "counter"
    machine.add("flaky", (machine.script("flaky.py", str(counter), "99"),),
                {"retry": {"attempts": 2, "initial": 0.05, "max": 0.05}})
    machine.register()
    assert machine.run("flaky") == 5
    (run,) = machine.runs("flaky")
    assert run["result"] == "failed" and len(run["attempts"]) == 2
    assert run["reason"] == "action 1 exited with 5 on attempt 2"


def test_hung_attempt_is_killed_with_its_children(machine: Machine) -> None:
    pids = machine.base / "children"
    machine.add("hang", (machine.script("hang.py", str(pids)),),
                {"attemptTimeout": 0.7, "retry": {"attempts": 2, "initial": 0.05, "max": 1}})
    machine.register()
    began = time.monotonic()
    # Windows shows 1460 (ERROR_TIMEOUT); a POSIX exit status keeps its low 8 bits.
    assert machine.run("hang") == EXIT_TIMEOUT & 0xFF
    assert time.monotonic() - began < 10
    (run,) = machine.runs("hang")
    assert run["result"] == "failed" and run["exitCode"] == EXIT_TIMEOUT
    assert [a.get("timedOut") for a in run["attempts"]] == [True, True]
    assert "timed out on attempt 2" in run["reason"]
    children = [int(p) for p in pids.read_text().split()]
    assert len(children) == 2
    deadline = time.monotonic() + 5
    while any(alive(p) for p in children) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(alive(p) for p in children)
    assert "stopped (with its child processes) at attemptTimeout 0.7s" in Path(run["log"]).read_text()


def test_command_that_cannot_start(machine: Machine) -> None:
    machine.add("missing", (ExecAction(command=str(machine.base / "no-such-program")),))
    machine.register()
    assert machine.run("missing") == 2
    (run,) = machine.runs("missing")
    assert run["result"] == "failed" and "cannot start" in run["reason"]


def test_several_actions_run_in_order_and_stop_at_the_first_failure(machine: Machine) -> None:
    machine.add("multi", (machine.step("one"), machine.step("two"), machine.step("three")))
    machine.register()
    machine.set("two", code=9)
    assert machine.run("multi") == 9
    assert machine.journal_lines() == ["one 0", "two 9"]


# --- preconditions ---------------------------------------------------------------------------

@pytest.fixture
def web() -> Any:
    posts: list[dict[str, Any]] = []
    state = {"status": 200}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            code = 200 if self.path == "/ok" else 503
            self.send_response(code)
            self.end_headers()
            self.wfile.write(b"ok" if code == 200 else b"down")

        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            posts.append({"path": self.path, "headers": dict(self.headers), "body": json.loads(body)})
            self.send_response(state["status"])
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield {"url": f"http://127.0.0.1:{server.server_address[1]}", "posts": posts, "state": state}
    server.shutdown()
    server.server_close()


def test_precondition_file_skips_with_reason(machine: Machine) -> None:
    flag = machine.base / "ready.flag"
    machine.add("p", (machine.step("p"),), {"when": [{"fileExists": str(flag)}]})
    machine.register()
    assert machine.run("p") == 0
    (run,) = machine.runs("p")
    assert run["result"] == "skipped"
    assert run["reason"] == f"precondition 1 (fileExists) failed: {flag} does not exist"
    assert machine.journal_lines() == []
    assert not machine.events.exists()  # a skipped run wakes nobody
    flag.write_text("x")
    assert machine.run("p") == 0
    assert machine.journal_lines() == ["p 0"]


def test_precondition_url(machine: Machine, web: Any) -> None:
    machine.add("up", (machine.step("up"),), {"when": [{"urlReachable": web["url"] + "/ok"}]})
    machine.add("down", (machine.step("down"),), {"when": [{"urlReachable": {"url": web["url"] + "/down",
                                                                          "timeout": "5s"}}]})
    machine.add("gone", (machine.step("gone"),), {"when": [{"urlReachable": "http://127.0.0.1:9/"}]})
    machine.register()
    for name in ("up", "down", "gone"):
        assert machine.run(name) == 0
    assert machine.journal_lines() == ["up 0"]
    assert "answered 503" in machine.runs("down")[0]["reason"]
    assert "is not reachable" in machine.runs("gone")[0]["reason"]


def test_precondition_command(machine: Machine) -> None:
    check = {"command": sys.executable, "arguments": ["-c", "import sys; sys.exit(3)"]}
    machine.add("cmd", (machine.step("cmd"),), {"when": [{"fileExists": str(machine.base)}, {"command": check}]})
    machine.add("ok", (machine.step("ok"),), {"when": [{"command": {"command": sys.executable,
                                                                     "arguments": ["-c", "pass"]}}]})
    machine.register()
    assert machine.run("cmd") == 0 and machine.run("ok") == 0
    assert machine.journal_lines() == ["ok 0"]
    reason = machine.runs("cmd")[0]["reason"]
    assert reason.startswith("precondition 2 (command) failed:") and reason.endswith("exited with 3")


# --- logs --------------------------------------------------------------------------------------

def test_logs_one_file_per_run_pruned_beyond_keep(machine: Machine, tmp_path: Path) -> None:
    folder = tmp_path / "logs"
    machine.add("l", (machine.step("l"),), {"log": {"dir": str(folder), "keep": 2}})
    machine.register()
    for _ in range(4):
        assert machine.run("l") == 0
    files = sorted(folder.iterdir())
    runs = machine.runs("l")
    assert len(runs) == 4 and len(files) == 2
    assert [str(f) for f in files] == [r["log"] for r in runs[-2:]]
    assert "step l ran, exit code 0" in files[-1].read_text()


def test_history_records_running_before_the_command_starts(machine: Machine) -> None:
    machine.add("slow", (machine.step("slow"),))
    machine.register()
    machine.set("slow", sleep=0.8)
    process = machine.start("slow")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not machine.runs("slow"):
        time.sleep(0.05)
    assert [r["result"] for r in machine.runs("slow")] == ["running"]
    process.kill()  # the runner dies mid-run (Task Scheduler's /End)
    process.wait()
    # a crash leaves a record, read as interrupted; the lock is not stuck
    assert machine.results("slow") == ["interrupted"]
    machine.set("slow", sleep=None)
    assert machine.run("slow") == 0
    assert machine.results("slow") == ["interrupted", "succeeded"]


# --- notifications -----------------------------------------------------------------------------

class SMTPHandler(socketserver.StreamRequestHandler):
    """Just enough SMTP (RFC 5321) for smtplib: EHLO, AUTH PLAIN, MAIL, RCPT, DATA, QUIT."""

    def send(self, line: str) -> None:
        self.wfile.write(line.encode() + b"\r\n")

    def handle(self) -> None:
        server: Any = self.server
        self.send("220 localhost test ESMTP")
        message: dict[str, Any] = {"rcpt": []}
        while True:
            line = self.rfile.readline().decode(errors="replace").rstrip("\r\n")
            if not line:
                return
            verb = line.split(" ", 1)[0].upper()
            if verb == "EHLO":
                self.send("250-localhost")
                self.send("250 AUTH PLAIN")
            elif verb == "AUTH":
                server.logins.append(base64.b64decode(line.split()[2]).split(b"\0")[1:])
                self.send("235 2.7.0 Authentication successful")
            elif verb == "MAIL":
                message["from"] = line
                self.send("250 OK")
            elif verb == "RCPT":
                message["rcpt"].append(line)
                self.send("250 OK")
            elif verb == "DATA":
                self.send("354 go ahead")
                data = []
                while True:
                    text = self.rfile.readline().decode(errors="replace")
                    if text.rstrip("\r\n") == ".":
                        break
                    data.append(text)
                message["data"] = "".join(data)
                server.messages.append(message)
                message = {"rcpt": []}
                self.send("250 OK queued")
            elif verb == "QUIT":
                self.send("221 bye")
                return
            else:
                self.send("250 OK")


@pytest.fixture
def smtp() -> Any:
    server: Any = socketserver.ThreadingTCPServer(("127.0.0.1", 0), SMTPHandler)
    server.daemon_threads = True
    server.messages, server.logins = [], []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_failure_sends_one_email_and_one_webhook(machine: Machine, smtp: Any, web: Any) -> None:
    machine.env.update(SMTP_USER="robot", SMTP_PASSWORD="s3cret-pw", HOOK_TOKEN="Bearer t0ken")
    notify = {"onFailure": [
        {"email": {"to": ["ops@example.com", "dev@example.com"], "from": "tasks@example.com",
                   "smtp": {"host": "127.0.0.1", "port": smtp.server_address[1], "tls": "none",
                            "userFromEnv": "SMTP_USER", "passwordFromEnv": "SMTP_PASSWORD"}}},
        {"webhook": {"url": web["url"] + "/hook", "headersFromEnv": {"Authorization": "HOOK_TOKEN"}}},
    ]}
    machine.add("f", (machine.step("f"),), {"retry": {"attempts": 2, "initial": 0.05, "max": 0.05},
                                            "notify": notify})
    machine.register()
    machine.set("f", code=7)
    assert machine.run("f") == 7
    assert len(smtp.messages) == 1 and len(web["posts"]) == 1
    mail = smtp.messages[0]
    assert len(mail["rcpt"]) == 2
    assert "Subject: [reconcile.py] \\Orchestrator\\f failed on" in mail["data"]
    assert "(exit code 7)" in mail["data"] and "step f ran, exit code 7" in mail["data"]
    assert smtp.logins == [[b"robot", b"s3cret-pw"]]
    post = web["posts"][0]
    assert post["headers"]["Authorization"] == "Bearer t0ken"
    body = post["body"]
    assert body["event"] == "reconcile.run.failed" and body["task"] == "\\Orchestrator\\f"
    assert body["exitCode"] == 7 and body["attemptCount"] == 2 and body["result"] == "failed"
    (run,) = machine.runs("f")
    assert [o["ok"] for o in run["notify"]] == [True, True]
    # the password never reaches a file the runner writes
    for path in [*machine.home.rglob("*")]:
        if path.is_file():
            assert "s3cret-pw" not in path.read_text(errors="replace"), path


def test_success_notifies_nobody(machine: Machine, smtp: Any, web: Any) -> None:
    machine.add("ok", (machine.step("ok"),), {"notify": {"onFailure": [
        {"email": {"to": ["ops@example.com"], "smtp": {"host": "127.0.0.1", "port": smtp.server_address[1]}}},
        {"webhook": {"url": web["url"] + "/hook"}}]}})
    machine.register()
    assert machine.run("ok") == 0
    assert smtp.messages == [] and web["posts"] == []


def test_notify_failure_does_not_change_the_exit_code(machine: Machine, smtp: Any, web: Any) -> None:
    web["state"]["status"] = 500
    machine.env.update(SMTP_USER="robot", SMTP_PASSWORD="s3cret-pw")
    notify = {"onFailure": [
        # nothing listens on port 9 of the loopback
        {"email": {"to": ["ops@example.com"], "smtp": {"host": "127.0.0.1", "port": 9, "timeout": "5s"}}},
        # a server without STARTTLS: the login is not sent in clear text
        {"email": {"to": ["ops@example.com"], "smtp": {"host": "127.0.0.1", "port": smtp.server_address[1],
                                                     "userFromEnv": "SMTP_USER", "passwordFromEnv": "SMTP_PASSWORD"}}},
        {"email": {"to": ["ops@example.com"], "smtp": {"host": "127.0.0.1", "port": smtp.server_address[1],
                                                     "userFromEnv": "NOT_SET", "passwordFromEnv": "SMTP_PASSWORD"}}},
        {"webhook": {"url": web["url"] + "/hook"}},
    ]}
    machine.add("f", (machine.step("f"),), {"notify": notify})
    machine.register()
    machine.set("f", code=6)
    assert machine.run("f") == 6
    (run,) = machine.runs("f")
    outcomes = run["notify"]
    assert [o["ok"] for o in outcomes] == [False, False, False, False]
    assert "clear text" in outcomes[1]["error"]
    assert "NOT_SET" in outcomes[2]["error"]
    assert "500" in outcomes[3]["error"]
    assert smtp.logins == [] and smtp.messages == []
    log = Path(run["log"]).read_text()
    assert "notify webhook" in log and "FAILED" in log and "s3cret-pw" not in log


# --- history -------------------------------------------------------------------------------------

class Rows(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.runs: list[str] = []
        self.text: list[str] = []
        self.tags: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        values = dict(attrs)
        if tag == "tr" and values.get("data-run"):
            self.runs.append(str(values["data-run"]))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_history_html_text_json(machine: Machine, tmp_path: Path, capsys: Any) -> None:
    chain(machine)
    machine.add("odd<name>", (machine.step("odd"),), {"when": [{"fileExists": str(tmp_path / "nope")}]})
    machine.register()
    machine.run("a")
    machine.run("b")
    machine.set("a", code=1)
    machine.run("a")
    machine.run("odd<name>")
    runs = machine.runs()
    assert len(runs) == 7  # a, c waiting, b, c, a failed, c waiting, odd skipped
    page = tmp_path / "report.html"
    assert main(["history", "--format", "html", "--out", str(page), "--home", str(machine.home)]) == 0
    parser = Rows()
    parser.feed(page.read_text(encoding="utf-8"))
    assert sorted(parser.runs) == sorted(r["run"] for r in runs)
    assert "script" not in parser.tags and "style" in parser.tags
    text = "".join(parser.text)
    assert "\\Orchestrator\\odd<name>" in text  # escaped in the page, intact as text
    assert "precondition 1 (fileExists) failed" in text
    capsys.readouterr()
    assert main(["history", "c", "--format", "json", "--home", str(machine.home)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert {r["task"] for r in data["runs"]} == {"\\Orchestrator\\c"}
    assert main(["history", "a", "--format", "text", "--home", str(machine.home)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("START") and len(lines) == 3
    assert "failed" in lines[2] and "exited with 1" in lines[2]
    latest = last_runs(str(machine.home))
    assert latest["\\Orchestrator\\a"]["result"] == "failed"
    assert latest["\\Orchestrator\\c"]["result"] == "succeeded"
    assert "\\Orchestrator\\odd<name>" not in latest  # skipped is not a real run
    # the same report from the runner alone
    done = subprocess.run([sys.executable, "-m", "reconciler.runner", "history", "--home", str(machine.home),
                           "--format", "json", "a"], env=machine.env, capture_output=True, text=True)
    assert done.returncode == 0 and len(json.loads(done.stdout)["runs"]) == 2


def test_history_ambiguous_name(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from reconciler.runner.store import append_history

    for path in ("\\Orchestrator\\X\\job", "\\Orchestrator\\Y\\job"):
        append_history(str(tmp_path / "history" / (path.replace("\\", "_") + ".jsonl")),
                       {"run": path, "task": path, "result": "succeeded", "start": "2026-01-01T00:00:00"})
    assert main(["history", "job", "--home", str(tmp_path)]) == 1
    assert "ambiguous" in capsys.readouterr().err
    runs = reading.select(reading.load(str(tmp_path)), "Y\\job")
    assert [r["task"] for r in runs] == ["\\Orchestrator\\Y\\job"]


def test_bad_payload_exits_254(machine: Machine) -> None:
    done = subprocess.run([sys.executable, "-m", "reconciler.runner", "run", "--payload", "bm90IGpzb24"],
                          env=machine.env, capture_output=True, text=True)
    assert done.returncode == 254 and "not JSON" in done.stderr


def test_runner_error_exits_254_and_says_so_in_an_event(machine: Machine) -> None:
    machine.home.write_text("a file where the home folder should be")
    machine.add("e", (machine.step("e"),))
    machine.register()
    process = machine.start("e")
    _out, err = process.communicate(timeout=60)
    assert process.returncode == 254
    assert "reconcile.py runner: \\Orchestrator\\e:" in err
    (event,) = machine.new_events()
    assert event["type"] == "error" and event["data"][:3] == ["\\Orchestrator\\e", "error", "254"]
    assert len(event["data"]) == 5 and event["data"][4] in err
    assert machine.journal_lines() == []
