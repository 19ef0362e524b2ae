"""A task with a password is registered through PowerShell's Register-ScheduledTask, the
password only in the child's environment (SPEC "Backends"): against the PowerShell
emulator (tests/emulator/powershell_emulator.py), which shares its machine with the
schtasks emulator. The password must never show up in any argv, in the CLI's output, in
a file left behind, or in an error message."""
from __future__ import annotations

import io
import json
import os
import shutil
import sys
from pathlib import Path

import pytest

from conftest import run_cli
from reconciler.backends import powershell
from reconciler.backends.schtasks import SchtasksBackend
from reconciler.backends.schtasks_output import principal_user
from reconciler.errors import BackendError

EMULATOR_DIR = Path(__file__).resolve().parent / "emulator"
SCHTASKS = EMULATOR_DIR / "schtasks_emulator.py"
POWERSHELL = EMULATOR_DIR / "powershell_emulator.py"
sys.path.insert(0, str(EMULATOR_DIR))

import powershell_emulator  # noqa: E402

NS = "http://schemas.microsoft.com/windows/2004/02/mit/task"
ROOT = "\\Orchestrator\\"
PASSWORD = "s3cr3t P\u00e4ss \"w0rd\" & $env:X 'q'"  # quotes, spaces, $: no quoting may touch it


def task(user: str = "CONTOSO\\svc-report", logon: str = "Password") -> str:
    return (f'<Task version="1.2" xmlns="{NS}">\n'
            f'  <Principals><Principal id="Author"><UserId>{user}</UserId><LogonType>{logon}</LogonType>'
            f'</Principal></Principals>\n'
            f'  <Actions Context="Author"><Exec><Command>C:\\jobs\\report.exe</Command></Exec></Actions>\n'
            f'</Task>')


def logged(state: Path, name: str) -> str:
    log = state / name
    return log.read_text(encoding="utf-8") if log.exists() else ""


def leaks(folder: Path, secret: str = PASSWORD) -> list[str]:
    """Files under ``folder`` holding the password in any common encoding."""
    forms = [secret.encode(e) for e in ("utf-8", "utf-16-le", "latin-1", "cp1252") if _encodable(secret, e)]
    return [str(p) for p in folder.rglob("*") if p.is_file() and any(f in p.read_bytes() for f in forms)]


def _encodable(text: str, encoding: str) -> bool:
    try:
        text.encode(encoding)
        return True
    except UnicodeEncodeError:
        return False


@pytest.fixture
def machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    state = tmp_path / "machine"
    temp = tmp_path / "temp"
    temp.mkdir()
    monkeypatch.setattr("tempfile.tempdir", str(temp))
    monkeypatch.setenv("SCHTASKS_EMULATOR_STATE", str(state))
    monkeypatch.setenv("SCHTASKS_EMULATOR_SEED", "0")
    monkeypatch.setenv("SCHTASKS_EMULATOR_ACCOUNT_FORM", "name")
    monkeypatch.setenv("RECONCILE_SCHTASKS", str(SCHTASKS))
    monkeypatch.setenv("RECONCILE_POWERSHELL", str(POWERSHELL))
    for name in ("SCHTASKS_EMULATOR_FAULT", "POWERSHELL_EMULATOR_FAULT", "RECONCILE_SCHTASKS_TIMEOUT",
                 powershell.VAR_PASSWORD):
        monkeypatch.delenv(name, raising=False)
    return state


# --- the fixed invocation ---------------------------------------------------------------
def test_the_command_line_is_fixed_and_quote_free() -> None:
    assert powershell.ARGUMENTS[:-1] == ("-NoProfile", "-NonInteractive", "-ExecutionPolicy", "Bypass", "-Command")
    assert powershell.ARGUMENTS[-1] == powershell.SCRIPT
    assert '"' not in powershell.SCRIPT and "\n" not in powershell.SCRIPT
    assert "]::" not in powershell.SCRIPT  # no .NET calls: Constrained Language Mode allows cmdlets only
    assert powershell_emulator.check_invocation(list(powershell.ARGUMENTS), PASSWORD) == powershell.SCRIPT
    # The password is taken out of the environment before the cmdlet runs.
    script = powershell.SCRIPT
    assert script.index("Remove-Item") < script.index("Register-ScheduledTask")


def test_scrub() -> None:
    assert powershell.scrub(f"bad {PASSWORD}!", PASSWORD) == "bad ***!"
    mangled = PASSWORD.encode("utf-8").decode("latin-1")  # read with the wrong code page
    assert PASSWORD not in powershell.scrub(mangled, PASSWORD) and "***" in powershell.scrub(mangled, PASSWORD)
    assert powershell.scrub("nothing", "") == "nothing"


def test_the_user_comes_from_the_principal() -> None:
    assert principal_user(task()) == "CONTOSO\\svc-report"
    assert principal_user(task().replace("<UserId>CONTOSO\\svc-report</UserId>", "")) is None
    assert principal_user("<not xml") is None


# --- registering ----------------------------------------------------------------------
def test_a_password_task_goes_through_powershell(machine: Path, tmp_path: Path) -> None:
    backend = SchtasksBackend(ROOT)
    backend.register("\\Orchestrator\\Finance\\report", task(), password=PASSWORD)
    assert backend.calls == 0  # no schtasks call at all: no /RP anywhere
    index = json.loads((machine / "index.json").read_text(encoding="utf-8"))
    entry = index["tasks"]["\\orchestrator\\finance\\report"]
    assert entry["path"] == "\\Orchestrator\\Finance\\report" and entry["password"] is True
    assert entry["credentials"] == {"user": "CONTOSO\\svc-report",
                                    "sha256": powershell_emulator.fingerprint(PASSWORD)}
    calls = [json.loads(line) for line in logged(machine, "powershell.log").splitlines()]
    assert len(calls) == 1
    assert calls[0]["argv"] == list(powershell.ARGUMENTS)
    assert calls[0]["env"] == sorted([powershell.VAR_PASSWORD, powershell.VAR_XML, powershell.VAR_NAME,
                                      powershell.VAR_FOLDER, powershell.VAR_USER])
    # Read back through schtasks: the same machine.
    state = backend.read_state(ROOT)
    assert "CONTOSO\\svc-report" in state.tasks["\\orchestrator\\finance\\report"].xml
    assert PASSWORD not in logged(machine, "calls.log") + logged(machine, "powershell.log")
    assert leaks(machine) == [] and list((tmp_path / "temp").iterdir()) == []
    assert powershell.VAR_PASSWORD not in os.environ  # nothing left behind in this process


def test_a_task_without_password_still_uses_schtasks(machine: Path) -> None:
    backend = SchtasksBackend(ROOT)
    backend.register("\\Orchestrator\\plain", task(user="SYSTEM", logon="S4U"))
    assert backend.call_log[0][0] == "/Create" and logged(machine, "powershell.log") == ""


def test_a_failure_is_one_scrubbed_line_naming_the_task(machine: Path, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POWERSHELL_EMULATOR_FAULT", "fail")  # its message echoes the password
    with pytest.raises(BackendError) as caught:
        SchtasksBackend(ROOT).register("\\Orchestrator\\report", task(), password=PASSWORD)
    message = str(caught.value)
    assert message.startswith("\\Orchestrator\\report: PowerShell Register-ScheduledTask failed (exit 1): ")
    assert "The user name or password is incorrect." in message and "***" in message
    assert PASSWORD not in message and "\n" not in message
    assert caught.value.__cause__ is None and caught.value.__context__ is None
    assert list((tmp_path / "temp").iterdir()) == [] and leaks(machine) == []


def test_windows_refusing_the_task_is_reported(machine: Path) -> None:
    bad = task().replace("<Exec><Command>C:\\jobs\\report.exe</Command></Exec>", "")
    with pytest.raises(BackendError, match=r"\\Orchestrator\\x: PowerShell Register-ScheduledTask failed "
                                           r"\(exit 1\): The task XML is missing a required element"):
        SchtasksBackend(ROOT).register("\\Orchestrator\\x", bad, password=PASSWORD)


def test_a_hanging_powershell_times_out(machine: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POWERSHELL_EMULATOR_FAULT", "hang")
    monkeypatch.setenv("POWERSHELL_EMULATOR_HANG_SECONDS", "30")
    with pytest.raises(BackendError, match="timed out after 2 s") as caught:
        SchtasksBackend(ROOT, timeout=2).register("\\Orchestrator\\x", task(), password=PASSWORD)
    assert PASSWORD not in str(caught.value)


def test_a_password_needs_a_user(machine: Path) -> None:
    with pytest.raises(BackendError, match="names no Principal/UserId"):
        SchtasksBackend(ROOT).register("\\Orchestrator\\x", task().replace("CONTOSO\\svc-report", ""),
                                       password=PASSWORD)


@pytest.mark.parametrize("value, message", [
    ("{missing}.py", "RECONCILE_POWERSHELL={missing}.py: no such file"),
    ("{missing}.exe", "RECONCILE_POWERSHELL={missing}.exe was not found: a task with a password"),
    ("no-such-powershell-here.exe", "RECONCILE_POWERSHELL=no-such-powershell-here.exe was not found on PATH"),
])
def test_a_missing_powershell_is_a_clear_error(machine: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               value: str, message: str) -> None:
    missing = str(tmp_path / "nowhere" / "powershell")
    monkeypatch.setenv("RECONCILE_POWERSHELL", value.format(missing=missing))
    with pytest.raises(BackendError) as caught:
        SchtasksBackend(ROOT).register("\\Orchestrator\\x", task(), password=PASSWORD)
    assert message.format(missing=missing) in str(caught.value)
    assert list((tmp_path / "temp").iterdir()) == []


def test_default_is_powershell_exe_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RECONCILE_POWERSHELL", raising=False)
    assert powershell.executable() == "powershell.exe"
    if shutil.which("powershell.exe") is None:
        with pytest.raises(BackendError, match="^powershell.exe was not found on PATH: a task with a password"):
            powershell.command("powershell.exe")


# --- the emulator refuses anything else -----------------------------------------------
def run_emulator(argv: list[str], env: dict[str, str]) -> tuple[int, str]:
    out, err = io.BytesIO(), io.BytesIO()
    code = powershell_emulator.main(argv, env, stdout=out, stderr=err)
    return code, (out.getvalue() + err.getvalue()).decode("utf-8")


@pytest.mark.parametrize("argv, env, refusal", [
    (["-Command", powershell.SCRIPT], {}, "expected -noprofile"),
    (list(powershell.ARGUMENTS[:-1]) + [powershell.SCRIPT + f"; $p = '{PASSWORD}'"], {}, "on the command line"),
    (list(powershell.ARGUMENTS[:-1]) + [powershell.SCRIPT.replace("'Stop'", '"Stop"')], {}, "double quote"),
    (list(powershell.ARGUMENTS[:-1]) + [powershell.SCRIPT.replace("Remove-Item", "Get-Item")], {},
     "never removes the password"),
    (list(powershell.ARGUMENTS[:-1]) + ["[Console]::OutputEncoding = 'x'; " + powershell.SCRIPT], {}, "calls .NET"),
    (list(powershell.ARGUMENTS), {powershell.VAR_PASSWORD: None}, "is not in the environment"),
])
def test_the_emulator_refuses_other_invocations(tmp_path: Path, argv: list[str], env: dict[str, str | None],
                                                refusal: str) -> None:
    xml = tmp_path / "private" / "task.xml"
    xml.parent.mkdir(mode=0o700)
    xml.write_bytes(b"\xff\xfe" + task().encode("utf-16-le"))
    xml.chmod(0o600)
    full = {"SCHTASKS_EMULATOR_STATE": str(tmp_path / "m"), "SCHTASKS_EMULATOR_SEED": "0",
            powershell.VAR_PASSWORD: PASSWORD, powershell.VAR_XML: str(xml), powershell.VAR_NAME: "x",
            powershell.VAR_FOLDER: "\\Orchestrator\\", powershell.VAR_USER: "CONTOSO\\svc-report", **env}
    code, text = run_emulator(argv, {k: v for k, v in full.items() if v is not None})
    assert code == 1 and refusal in text, text
    assert PASSWORD not in text
    good = {k: v for k, v in full.items() if v is not None}
    good[powershell.VAR_PASSWORD] = PASSWORD
    assert run_emulator(list(powershell.ARGUMENTS), good)[0] == 0
    if sys.platform != "win32":
        xml.chmod(0o644)
        assert "readable by others" in run_emulator(list(powershell.ARGUMENTS), good)[1]


# --- the command line, end to end -------------------------------------------------------
MANIFEST = """apiVersion: reconcile/v1
kind: ScheduledTask
metadata:
  name: report
  folder: Finance
spec:
  schedule: "5 13 * * 1-5"
  actions:
    - command: C:\\\\jobs\\\\report.exe
  runAs:
    user: CONTOSO\\\\svc-report
    logonType: password
    password: {fromEnv: REPORT_PASSWORD}
"""


@pytest.fixture
def workspace(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    (tmp_path / "tasks.d").mkdir()
    (tmp_path / "tasks.d" / "report.yaml").write_text(MANIFEST, encoding="utf-8")
    temp = tmp_path / "temp"
    temp.mkdir()
    env = {"RECONCILE_SCHTASKS": str(SCHTASKS), "RECONCILE_POWERSHELL": str(POWERSHELL),
           "SCHTASKS_EMULATOR_STATE": str(tmp_path / "machine"), "SCHTASKS_EMULATOR_SEED": "1",
           "SCHTASKS_EMULATOR_ACCOUNT_FORM": "name", "RECONCILE_LOCK_DIR": str(tmp_path / "lock"),
           "RECONCILE_SCHTASKS_TIMEOUT": "30", "REPORT_PASSWORD": PASSWORD,
           "TMPDIR": str(temp), "TEMP": str(temp), "TMP": str(temp)}
    return tmp_path, env


def test_apply_with_a_password_end_to_end(workspace: tuple[Path, dict[str, str]]) -> None:
    folder, env = workspace
    applied = run_cli("--backend", "schtasks", "apply", cwd=folder, env=env)
    assert applied.code == 0, applied.err
    assert "Apply complete: 1 added" in applied.out
    plan = run_cli("--backend", "schtasks", "plan", "--detailed-exitcode", cwd=folder, env=env)
    assert plan.code == 0 and plan.out.strip().splitlines()[-1] == "No changes.", plan.out + plan.err
    state = Path(env["SCHTASKS_EMULATOR_STATE"])
    schtasks_calls = [json.loads(line)["argv"] for line in logged(state, "calls.log").splitlines()]
    assert not any(c[0].lower() == "/create" for c in schtasks_calls)
    assert not any(a.lower() == "/rp" for c in schtasks_calls for a in c)
    assert len(logged(state, "powershell.log").splitlines()) == 1
    for text in (applied.out, applied.err, plan.out, plan.err, logged(state, "calls.log"),
                 logged(state, "powershell.log")):
        assert PASSWORD not in text
    assert leaks(folder) == []  # the state, the lock folder, the temp folder
    assert list((folder / "temp").iterdir()) == []
    index = json.loads((state / "index.json").read_text(encoding="utf-8"))
    credentials = index["tasks"]["\\orchestrator\\finance\\report"]["credentials"]
    assert credentials["sha256"] == powershell_emulator.fingerprint(PASSWORD)


def test_a_failed_password_registration_is_scrubbed_end_to_end(workspace: tuple[Path, dict[str, str]]) -> None:
    folder, env = workspace
    failed = run_cli("--backend", "schtasks", "apply", cwd=folder, env={**env, "POWERSHELL_EMULATOR_FAULT": "fail"})
    assert failed.code == 1
    assert "\\Orchestrator\\Finance\\report" in failed.err and "password is incorrect" in failed.err
    assert PASSWORD not in failed.out + failed.err
    assert "Traceback" not in failed.err
    assert leaks(folder) == [] and list((folder / "temp").iterdir()) == []
    missing = run_cli("--backend", "schtasks", "apply", cwd=folder,
                      env={**env, "RECONCILE_POWERSHELL": str(folder / "no-powershell.exe")})
    assert missing.code == 1 and "was not found" in missing.err and PASSWORD not in missing.out + missing.err
