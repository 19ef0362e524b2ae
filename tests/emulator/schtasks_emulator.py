#!/usr/bin/env python3
"""A stand-in for schtasks.exe that behaves as Windows is documented to, so the schtasks
backend can be proven on any machine. Point the backend at it with
``RECONCILE_SCHTASKS=/path/to/schtasks_emulator.py``.

Supported calls (switches case-insensitive, as on Windows):
  /Create /XML FILE /TN PATH [/F] [/RU USER] [/RP [PASSWORD]] [/HRESULT]
  /Query [/TN PATH] /XML [ONE]         /Query [/TN PATH] /FO CSV [/V] [/NH]
  /Delete /TN PATH [/F]                /Change /TN PATH /ENABLE|/DISABLE
  /Run /TN PATH [/I]                   /End /TN PATH

Environment:
  SCHTASKS_EMULATOR_STATE            the emulated machine's folder (required): one file per
                                     task under tasks/, index.json, calls.log (one JSON
                                     line per invocation: {"call", "argv", "pid", "time"})
  SCHTASKS_EMULATOR_SEED             1 (default): a new machine starts with Windows' own
                                     tasks (seeds.py); 0: empty
  SCHTASKS_EMULATOR_USER_SID         the caller's SID (fills a missing Principal)
  SCHTASKS_EMULATOR_ORDER            win10 (default) | 2012r2: element order of the XML out
  SCHTASKS_EMULATOR_OUTPUT_ENCODING  cp437 (default: the console code page, what Windows 10
                                     and Server 2016-2022 write to a pipe; a character it
                                     cannot hold becomes "?") | utf-8 (Windows 11 24H2) |
                                     utf-16 (with a BOM) | any codec
  SCHTASKS_EMULATOR_ACCOUNT_FORM     sid (default, Win10) | name (Win7 on a domain)
  SCHTASKS_EMULATOR_TN_ONE           wrapped (default) | bare: /Query /TN X /XML ONE output
  SCHTASKS_EMULATOR_DELAY_MS         sleep this long in every call, outside the state lock
  SCHTASKS_EMULATOR_HOSTNAME         HostName in CSV output (default EMULATOR)
  SCHTASKS_EMULATOR_RUN_RESULT       Last Result after /Run (default 0; decimal, negative or
                                     0x… hex); 0x41301 (267009, SCHED_S_TASK_RUNNING) leaves
                                     the task running until /End
  SCHTASKS_EMULATOR_LOCALE           en-US (default) | en-GB | de-DE | ja-JP: dates, N/A,
                                     status words and the header of /FO CSV output
  SCHTASKS_EMULATOR_NOW              the emulated clock, ISO 8601 (default: the real one):
                                     /Run's Last Run Time and CSV Next Run Time use it
  SCHTASKS_EMULATOR_HANG_SECONDS     how long "hang" sleeps (default 3600)
  SCHTASKS_EMULATOR_FAULT            comma-separated faults:
      access-denied     every call: "ERROR: Access is denied." exit 1
      hang              every call sleeps (a timeout test)
      garbage           /Query prints bytes that are no XML, exit 0
      truncated         /Query output cut in the middle, exit 0
      xxe               /Query output carries a DOCTYPE with an external entity
      broken-task:PATH  /Query prints that task's XML cut short
      fail-on-call:N    the N-th invocation (counting every one) fails, exit 1
      fail-create       every /Create fails, exit 1
      fail-delete       every /Delete fails, exit 1
      fail-end          every /End fails: "ERROR: Access is denied." exit 1 (any verb
                        takes fail-VERB)
      csv-fail          /Query /FO … fails: "ERROR: Access is denied." exit 1
      csv-garbage       /Query /FO … prints bytes that are no CSV, exit 0
      csv-truncated     /Query /FO … output cut in the middle of a record, exit 0
      csv-headers       /Query /FO CSV prints the header per folder even with /NH
                        (ref §3.4 [OBS]: repeated headers seen when listing all tasks)

Exit codes: 0 success; 1 errors, as schtasks; syntax errors E_FAIL 0x80004005, which a
POSIX exit status holds as its low byte 5 (see windows_rules.exit_status).
Windows behaviour itself lives in windows_rules.py; this file is plumbing.
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import io
import json
import os
import sys
import time
from pathlib import Path
TYPE_CHECKING = False  # typing itself is not imported: every emulated call starts Python
if TYPE_CHECKING:
    from typing import IO, Any, Iterator, Mapping

_HERE = Path(__file__).resolve().parent
if str(_HERE) not in sys.path:
    sys.path.insert(0, str(_HERE))

import windows_rules as rules  # noqa: E402
from seeds import SEEDS  # noqa: E402

from lxml import etree  # noqa: E402

ENV = "SCHTASKS_EMULATOR_"


class Console:
    def __init__(self) -> None:
        self.out: list[str] = []
        self.err: list[str] = []
        self.raw_out: bytes | None = None  # replaces ``out`` (garbage/truncated output)

    def print(self, text: str) -> None:
        self.out.append(text + "\n")

    def error(self, text: str) -> None:
        self.err.append(text + "\n")


class Store:
    """The emulated machine: index.json (paths, run data, counters) and one file per
    task, stored as Windows stores them (UTF-16LE with a BOM). Every call works under an
    exclusive file lock, so parallel calls are safe."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.tasks = root / "tasks"
        self.index_file = root / "index.json"

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        self.tasks.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".lock", "a+b") as handle:
            if sys.platform == "win32":  # pragma: no cover - exercised on Windows CI
                import msvcrt

                while True:
                    try:
                        handle.seek(0)  # locking() locks from the current position
                        msvcrt.locking(handle.fileno(), msvcrt.LK_LOCK, 1)
                        break
                    except OSError:
                        continue
                try:
                    yield
                finally:
                    handle.seek(0)
                    msvcrt.locking(handle.fileno(), msvcrt.LK_UNLCK, 1)
            else:
                import fcntl

                fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
                try:
                    yield
                finally:
                    fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    def load(self) -> dict[str, Any]:
        if self.index_file.exists():
            return json.loads(self.index_file.read_text(encoding="utf-8"))
        return {"tasks": {}, "folders": {}, "accounts": {}, "next": 1, "seeded": False, "calls": 0}

    def save(self, index: dict[str, Any]) -> None:
        temporary = self.index_file.with_suffix(".tmp")
        temporary.write_text(json.dumps(index, indent=1, ensure_ascii=False), encoding="utf-8")
        os.replace(temporary, self.index_file)

    def read(self, entry: dict[str, Any]) -> str:
        return (self.tasks / entry["file"]).read_bytes().decode("utf-16")

    def write(self, entry: dict[str, Any], task: etree._Element) -> None:
        text = rules.single_document(rules.layout(task, "win10"))
        (self.tasks / entry["file"]).write_bytes(b"\xff\xfe" + text.encode("utf-16-le"))

    def remove(self, entry: dict[str, Any]) -> None:
        with contextlib.suppress(FileNotFoundError):
            (self.tasks / entry["file"]).unlink()


# --- the command line -----------------------------------------------------------------
_ARITY = {  # 1: takes a value; 0: a flag; "opt": an optional value
    "create": {"xml": 1, "tn": 1, "f": 0, "ru": 1, "rp": "opt", "hresult": 0},
    "query": {"tn": 1, "xml": "opt", "fo": 1, "nh": 0, "v": 0, "hresult": 0},
    "delete": {"tn": 1, "f": 0, "hresult": 0},
    "change": {"tn": 1, "enable": 0, "disable": 0, "hresult": 0},
    "run": {"tn": 1, "i": 0, "hresult": 0},
    "end": {"tn": 1, "hresult": 0},
}
# Real schtasks switches the emulator does not model: a clear refusal, not a fake.
_NOT_EMULATED = {"s", "u", "p", "sc", "mo", "d", "m", "i", "tr", "st", "ri", "et", "du", "k",
                 "sd", "ed", "it", "np", "z", "v1", "rl", "delay", "ec"}


class NotEmulated(Exception):
    pass


def parse_args(argv: list[str]) -> tuple[str, dict[str, Any]]:
    verb = argv[0].lstrip("/").lower() if argv[0].startswith("/") else ""
    if verb not in _ARITY:
        raise rules.SyntaxErr(f"Invalid argument/option - '{argv[0]}'.")
    arity = _ARITY[verb]
    options: dict[str, Any] = {}
    i = 1
    while i < len(argv):
        token = argv[i]
        name = token[1:].lower() if token.startswith("/") else None
        if name is None or name not in arity:
            if name in _NOT_EMULATED:
                raise NotEmulated(f"ERROR: emulator: {token} is not emulated")
            raise rules.SyntaxErr(f"Invalid argument/option - '{token}'.", verb)
        if name in options:
            raise rules.SyntaxErr(
                f"Invalid syntax. '{token}' option is not allowed more than '1' time(s).", verb)
        kind = arity[name]
        if kind == 0:
            options[name] = True
        elif kind == 1:
            if i + 1 >= len(argv):
                raise rules.SyntaxErr(f"Invalid syntax. Value expected for '{token}'.", verb)
            options[name] = argv[i + 1]
            i += 1
        else:
            if i + 1 < len(argv) and not argv[i + 1].startswith("/"):
                options[name] = argv[i + 1]
                i += 1
            else:
                options[name] = True
        i += 1
    required = {"create": ["tn", "xml"], "delete": ["tn"], "change": ["tn"], "run": ["tn"],
                "end": ["tn"]}.get(verb, [])
    for name in required:
        if name not in options:
            raise rules.SyntaxErr(f"Invalid syntax. Mandatory option '/{name.upper()}' is missing.", verb)
    if verb == "change" and ("enable" in options) == ("disable" in options):
        raise rules.SyntaxErr("Invalid syntax. Specify exactly one of /ENABLE and /DISABLE.", verb)
    if verb == "query":
        xml = options.get("xml")
        if isinstance(xml, str) and xml.upper() != "ONE":
            raise rules.SyntaxErr(f"Invalid argument/option - '{xml}'.", verb)
        if "xml" in options and "fo" in options:
            raise rules.SyntaxErr("Invalid syntax. '/XML' and '/FO' cannot be used together.", verb)
        if "fo" in options and options["fo"].upper() not in ("TABLE", "LIST", "CSV"):
            raise rules.SyntaxErr(f"Invalid value '{options['fo']}' for '/FO' option.", verb)
    return verb, options


def _redacted(argv: list[str]) -> list[str]:
    """The argv for calls.log, with a /RP password replaced (logs must not hold one)."""
    out = list(argv)
    for i, token in enumerate(out[:-1]):
        if token.lower() == "/rp" and not out[i + 1].startswith("/"):
            out[i + 1] = "***"
    return out


# --- the calls ------------------------------------------------------------------------
class Machine:
    def __init__(self, store: Store, index: dict[str, Any], env: Mapping[str, str],
                 stdin: IO[str], console: Console) -> None:
        self.store = store
        self.index = index
        self.env = env
        self.stdin = stdin
        self.console = console
        self.caller = env.get(ENV + "USER_SID", rules.DEFAULT_CALLER_SID)
        self.account_form = env.get(ENV + "ACCOUNT_FORM", "sid")
        self.order = env.get(ENV + "ORDER", "win10")
        self.locale = env.get(ENV + "LOCALE", "en-US")
        rules.csv_locale(self.locale)  # an unknown locale fails every call, loudly

    def now(self) -> _dt.datetime:
        text = self.env.get(ENV + "NOW")
        moment = _dt.datetime.fromisoformat(text) if text else _dt.datetime.now()
        return moment.replace(microsecond=0)

    # state helpers
    def entry(self, path: str) -> dict[str, Any] | None:
        return self.index["tasks"].get(rules.path_key(path))

    def _spelled(self, path: str) -> str:
        """Folders keep the spelling they were created with (they are directories)."""
        parts = path.strip("\\").split("\\")
        out = ""
        for folder in parts[:-1]:
            candidate = out + "\\" + folder
            out = self.index["folders"].setdefault(rules.path_key(candidate), candidate)
        return out + "\\" + parts[-1]

    def _remember(self, name: str, sid: str) -> None:
        self.index["accounts"].setdefault(sid, name)

    def _answer(self, prompt: str) -> bool:
        """A Y/N prompt on stdout; no console answer means no (ref §3.2 [WIN-TEST])."""
        self.console.out.append(prompt)
        try:
            line = self.stdin.readline()
        except (OSError, ValueError):
            line = ""
        self.console.out.append("\n")
        return line.strip().lower() in ("y", "yes")

    def register(self, tn: str, text: str, force: bool, run_as: str | None = None,
                 password: str | bool | None = None, credentials: dict[str, str] | None = None) -> int:
        """Register a task (schtasks /Create, and the PowerShell emulator's
        Register-ScheduledTask). ``credentials`` records that Windows stored a password
        for the account: its user and a fingerprint, never the password itself."""
        path = rules.task_path(tn)
        task = rules.validate(text)
        existing = self.entry(path)
        if existing is not None and not force and not self._answer(rules.prompt_replace(tn)):
            return 1
        principal = rules._child(rules._child(task, "Principals"), "Principal")
        logon = rules._child(principal, "LogonType")
        user = rules._child(principal, "UserId")
        account = run_as if run_as is not None else (user.text or "" if user is not None else "")
        if logon is not None and (logon.text or "").strip() == "Password" and not password \
                and not account.strip().endswith("$"):
            # A password logon needs /RP, except a gMSA ("name$"), whose password Windows
            # fetches itself (SPEC runAs table; [GUESS] on the error code).
            raise rules.SchedError(rules.ERROR_LOGON_FAILURE)
        stored_path = existing["path"] if existing else self._spelled(path)
        form = rules.register_form(task, stored_path, self.caller, run_as, self.account_form,
                                   self._remember)
        if existing is None:
            existing = {"path": stored_path, "file": f"{self.index['next']:06d}.xml",
                        "last_run": None, "last_result": rules.SCHED_S_TASK_HAS_NOT_RUN,
                        "running": False}
            self.index["next"] += 1
            self.index["tasks"][rules.path_key(path)] = existing
        existing["password"] = bool(password)
        if credentials is not None:
            existing["credentials"] = credentials
        else:
            existing.pop("credentials", None)
        self.store.write(existing, form)
        return 0

    def seed(self) -> None:
        for path, text in SEEDS:
            self.register(path, text, force=True)
        self.index["seeded"] = True

    def stored(self, entry: dict[str, Any]) -> etree._Element:
        root, _ = rules.parse(self.store.read(entry))
        return root

    def find(self, tn: str, missing: int = rules.ERROR_FILE_NOT_FOUND) -> dict[str, Any]:
        if "*" in tn or "?" in tn:  # /TN takes no wildcards (ref §3.4 [OBS])
            raise rules.SchedError(rules.ERROR_PATH_NOT_FOUND)
        entry = self.entry(rules.task_path(tn))
        if entry is None:  # ref §3.3 [OBS]
            raise rules.SchedError(missing)
        return entry

    # verbs
    def create(self, options: dict[str, Any]) -> int:
        file = Path(options["xml"])
        try:
            raw = file.read_bytes()
        except OSError:
            raise rules.SchedError(rules.ERROR_FILE_NOT_FOUND) from None
        text = rules.decode_task_file(raw)
        code = self.register(options["tn"], text, bool(options.get("f")), options.get("ru"),
                             options.get("rp"))
        if code == 0:
            self.console.print(rules.msg_created(options["tn"]))
        return code

    def delete(self, options: dict[str, Any]) -> int:
        entry = self.find(options["tn"])
        if not options.get("f") and not self._answer(rules.prompt_delete(options["tn"])):
            return 1
        self.store.remove(entry)
        del self.index["tasks"][rules.path_key(entry["path"])]
        self.console.print(rules.msg_deleted(options["tn"]))
        return 0

    def change(self, options: dict[str, Any]) -> int:
        entry = self.find(options["tn"])
        task = self.stored(entry)
        settings = rules._child(task, "Settings")
        enabled = rules._child(settings, "Enabled")
        if enabled is not None:
            settings.remove(enabled)
        if options.get("disable"):  # Settings/Enabled (ref §3.1, §2.3 [MS]); true is dropped
            rules._sub(settings, "Enabled", "false")
        self.store.write(entry, task)
        self.console.print(rules.msg_changed(options["tn"]))
        return 0

    def run(self, options: dict[str, Any]) -> int:
        entry = self.find(options["tn"])
        settings = {rules._local(c): rules._text(c).strip()
                    for c in rules._kids(rules._child(self.stored(entry), "Settings"))}
        if not options.get("i"):  # /I ignores the constraints (ref §3.1 [MS]); codes [GUESS]
            if settings.get("Enabled") == "false":
                raise rules.SchedError(rules.SCHED_E_TASK_DISABLED)
            if settings.get("AllowStartOnDemand") == "false":
                raise rules.SchedError(rules.SCHED_E_START_ON_DEMAND)
        # The emulator runs nothing: the run is recorded as finished at once, unless its
        # result is "running" (ref §4: a running task shows 0x41301), which lasts until /End.
        entry["last_run"] = self.now().isoformat()
        entry["last_result"] = int(self.env.get(ENV + "RUN_RESULT", "0"), 0)
        entry["running"] = entry["last_result"] & 0xFFFFFFFF == rules.SCHED_S_TASK_RUNNING
        self.console.print(rules.msg_run(options["tn"]))
        return 0

    def end(self, options: dict[str, Any]) -> int:
        # A missing path: "cannot find the path specified" (ref §3.3 [OBS]).
        entry = self.find(options["tn"], missing=rules.ERROR_PATH_NOT_FOUND)
        if entry.get("running"):  # ref §8: a running task gets 0x41306
            entry["running"] = False
            entry["last_result"] = rules.SCHED_S_TASK_TERMINATED
        self.console.print(rules.msg_ended(options["tn"]))  # exit 0 even if not running (§3.2)
        return 0

    def query(self, options: dict[str, Any], faults: list[str]) -> int:
        if "tn" in options:
            entries = [self.find(options["tn"])]
        else:
            by_path = {e["path"]: e for e in self.index["tasks"].values()}
            entries = [by_path[p] for p in rules.folder_order(by_path)]
        broken = {rules.path_key(f.split(":", 1)[1]) for f in faults if f.startswith("broken-task:")}
        if "fo" in options or "xml" not in options:
            return self._query_list(options, entries)
        texts = []
        for entry in entries:
            text = rules.layout(self.stored(entry), self.order)
            if rules.path_key(entry["path"]) in broken:
                text = text[: len(text) // 2]
            texts.append((entry["path"], text))
        xml = options["xml"]
        if xml is True and "tn" not in options:
            document = rules.concatenated(t for _, t in texts)
        elif xml is True or ("tn" in options and self.env.get(ENV + "TN_ONE", "wrapped") == "bare"):
            document = rules.single_document(texts[0][1])
        else:
            document = rules.one_document(texts)
        if "xxe" in faults:
            document = document.replace(
                "<Tasks>",
                '<!DOCTYPE Tasks [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n<Tasks>&xxe;', 1)
        self.console.out.append(document)
        return 0

    def _query_list(self, options: dict[str, Any], entries: list[dict[str, Any]]) -> int:
        if options.get("fo", "TABLE").upper() != "CSV":
            raise NotEmulated("ERROR: emulator: only /FO CSV is emulated for /Query")
        host = self.env.get(ENV + "HOSTNAME", rules.EMULATOR_HOST)
        header = rules.csv_line(list(rules.csv_locale(self.locale).header))
        headers = not options.get("nh") or "csv-headers" in _faults(self.env)
        now = self.now()
        folder = None
        for entry in entries:
            here = entry["path"].rsplit("\\", 1)[0] or "\\"
            if headers and here != folder:  # a header per folder (ref §3.4 [OBS])
                self.console.print(header)
            folder = here
            for row in rules.csv_rows(entry["path"], self.stored(entry), entry, host,
                                      self.index["accounts"], self.locale, now):
                self.console.print(rules.csv_line(row))
        return 0


def _faults(env: Mapping[str, str]) -> list[str]:
    return [f.strip() for f in env.get(ENV + "FAULT", "").split(",") if f.strip()]


def log_call(store: Store, argv: list[str], log: str = "calls.log", count: bool = True) -> int:
    """Append one JSON line for an invocation to ``log`` in the state folder; returns
    its number among the counted calls (schtasks' own; the fail-on-call fault uses it)."""
    with store.locked():
        index = store.load()
        if count:
            index["calls"] += 1
        call = index["calls"]
        with open(store.root / log, "a", encoding="utf-8") as handle:
            handle.write(json.dumps({"call": call, "argv": _redacted(argv), "pid": os.getpid(),
                                     "time": time.time()}, ensure_ascii=False) + "\n")
        store.save(index)
    return call


@contextlib.contextmanager
def open_machine(env: Mapping[str, str], console: Console,
                 stdin: IO[str] | None = None) -> Iterator[Machine]:
    """The emulated machine under its lock, seeded on first use and saved afterwards,
    whatever happens. The PowerShell emulator registers through it too, so both
    emulators share one machine and one way of storing tasks."""
    store = Store(Path(env[ENV + "STATE"]))
    with store.locked():
        index = store.load()
        machine = Machine(store, index, env, stdin if stdin is not None else io.StringIO(""), console)
        try:
            if not index["seeded"]:
                if env.get(ENV + "SEED", "1") != "0":
                    machine.seed()
                index["seeded"] = True
            yield machine
        finally:
            store.save(index)


def _execute(argv: list[str], env: Mapping[str, str], stdin: IO[str], console: Console) -> int:
    state = env.get(ENV + "STATE")
    if not state:
        console.error("ERROR: emulator: set SCHTASKS_EMULATOR_STATE to the emulated machine's folder")
        return 1
    store = Store(Path(state))
    delay = float(env.get(ENV + "DELAY_MS", "0") or 0)
    if delay:
        time.sleep(delay / 1000)  # outside the lock: parallel calls overlap, as on Windows
    faults = _faults(env)
    call = log_call(store, argv)  # every invocation is counted and logged, a hanging one too
    if "hang" in faults:  # outside the lock, so that other calls go on
        time.sleep(float(env.get(ENV + "HANG_SECONDS", "3600")))
        return 1
    if not argv:
        return 0  # "schtasks" alone exits 0 (ref §3.2 [WIN-TEST]); the table is not emulated
    if argv[0] == "/?":
        console.print(__doc__ or "")
        return 0
    hresult_mode = any(a.lower() == "/hresult" for a in argv)
    with open_machine(env, console, stdin) as machine:
        try:
            if "access-denied" in faults or f"fail-on-call:{call}" in faults:
                raise rules.SchedError(rules.E_ACCESSDENIED)
            verb, options = parse_args(argv)
            if f"fail-{verb}" in faults:
                raise rules.SchedError(rules.E_ACCESSDENIED)
            if verb == "query":
                listing = "xml" not in options
                if listing and "csv-fail" in faults:
                    raise rules.SchedError(rules.E_ACCESSDENIED)
                code = machine.query(options, faults)
                garbage = "garbage" in faults or (listing and "csv-garbage" in faults)
                truncated = "truncated" in faults or (listing and "csv-truncated" in faults)
                if code == 0 and (garbage or truncated):
                    data = rules.encode_console("".join(console.out),
                                                env.get(ENV + "OUTPUT_ENCODING", rules.CONSOLE_ENCODING))
                    console.raw_out = (b"\x00\x13\x37 not xml \xfe\x01" * 40) if garbage \
                        else data[: len(data) // 2]
                return code
            return {"create": machine.create, "delete": machine.delete, "change": machine.change,
                    "run": machine.run, "end": machine.end}[verb](options)
        except rules.SchedError as err:
            console.error(err.text())
            return err.hresult if hresult_mode else err.exit_code
        except rules.SyntaxErr as err:
            console.error(err.text())
            return rules.E_FAIL
        except NotEmulated as err:
            console.error(str(err))
            return 1


def main(argv: list[str] | None = None, env: Mapping[str, str] | None = None,
         stdin: IO[str] | None = None, stdout: IO[bytes] | None = None,
         stderr: IO[bytes] | None = None) -> int:
    """Run one schtasks call; returns the process exit status (see exit_status)."""
    argv = sys.argv[1:] if argv is None else argv
    env = os.environ if env is None else env
    console = Console()
    code = _execute(argv, env, stdin if stdin is not None else sys.stdin, console)
    encoding = env.get(ENV + "OUTPUT_ENCODING", rules.CONSOLE_ENCODING)
    out = stdout if stdout is not None else sys.stdout.buffer
    err = stderr if stderr is not None else sys.stderr.buffer
    out.write(console.raw_out if console.raw_out is not None
              else rules.encode_console("".join(console.out), encoding) if console.out else b"")
    if console.err:
        err.write(rules.encode_console("".join(console.err), encoding))
    out.flush()
    err.flush()
    return rules.exit_status(code, sys.platform)


if __name__ == "__main__":
    sys.exit(main())
