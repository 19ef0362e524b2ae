"""A password never leaks (issue #5).

A task that runs as ``CONTOSO\\svc`` with ``logonType: password`` reads its password from
the environment variable its manifest names, at apply time. The password must never
appear in: plan output in any format, saved plans, the local store, apply output, error
messages (failing writes included), files left in the temp folder, the emulator's logs.
Not even as an unkeyed digest (sha256/sha1/md5 of a password is a dictionary attack
away from the password). A missing variable is a clear error before anything is
written."""
from __future__ import annotations

import base64
import hashlib
import json
import uuid
from pathlib import Path

import pytest

from com_support import com_calls, processes_started, standin_env
from conftest import store_snapshot
from safety_support import (
    POWERSHELL_EMULATOR, STORE, call_log, emulator_env, machine_tasks, new_workspace, reconcile,
    reconcile_process, writes,
)

VAR = "SVC_PASSWORD"
SECRET_MANIFEST = """apiVersion: reconcile/v1
kind: ScheduledTask
metadata:
  name: secret-task
  description: runs as a domain account with a stored password
spec:
  schedule: "0 5 * * *"
  actions:
    - command: C:\\tools\\sync.exe
      arguments: ["--user", "svc"]
  runAs:
    user: CONTOSO\\svc
    logonType: password
    password: {fromEnv: SVC_PASSWORD}
"""
needs_powershell = pytest.mark.skipif(
    not POWERSHELL_EMULATOR.exists(),
    reason="the PowerShell route for password tasks (tests/emulator/powershell_emulator.py) is not there yet")


@pytest.fixture
def password() -> str:
    return f"Zq7-{uuid.uuid4().hex[:12]}-Secr3t"


def forms(secret: str) -> dict[str, bytes]:
    """Every spelling of the password that would give it away."""
    raw = secret.encode("utf-8")
    out = {
        "plain": raw,
        "utf-16": secret.encode("utf-16-le"),
        "base64": base64.b64encode(raw),
        "base64-utf16": base64.b64encode(secret.encode("utf-16-le")),
        "hex": raw.hex().encode(),
    }
    for name in ("sha256", "sha1", "md5", "sha512"):
        out[name] = hashlib.new(name, raw).hexdigest().encode()
        out[name + "-upper"] = out[name].upper()
    return out


def leaks(blob: str | bytes, secret: str, digests: bool = True) -> list[str]:
    data = blob.encode("utf-8", "surrogateescape") if isinstance(blob, str) else blob
    return [name for name, form in forms(secret).items()
            if form in data and (digests or name in ("plain", "utf-16"))]


def leaking_files(folder: Path, secret: str, digests: bool = True, skip: tuple[str, ...] = ()) -> dict[str, list[str]]:
    found = {}
    if not folder.exists():
        return found
    for path in folder.rglob("*"):
        if path.is_file() and path.name not in skip:
            hit = leaks(path.read_bytes(), secret, digests)
            if hit:
                found[str(path)] = hit
    return found


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    workspace = new_workspace(tmp_path / "ws")
    (workspace / "tasks.d" / "secret.yaml").write_text(SECRET_MANIFEST)
    return workspace


@pytest.fixture
def tmpdir_env(tmp_path: Path) -> dict[str, str]:
    folder = tmp_path / "tmp"
    folder.mkdir()
    return {"TMPDIR": str(folder), "TEMP": str(folder), "TMP": str(folder)}


def test_the_leak_detector_sees_every_form(password: str) -> None:
    assert leaks(f"x{password}y", password) == ["plain"]
    assert leaks(password.encode("utf-16-le"), password) == ["utf-16"]
    assert leaks(hashlib.sha256(password.encode()).hexdigest(), password) == ["sha256"]
    assert leaks("nothing here", password) == []


# --- local store ----------------------------------------------------------------------------

def test_the_password_appears_nowhere_on_the_local_backend(ws: Path, password: str,
                                                           tmpdir_env: dict[str, str]) -> None:
    env = {VAR: password, **tmpdir_env}
    outputs = []
    for args in (("plan",), ("plan", "--format", "json"), ("plan", "--format", "markdown"),
                 ("plan", "--out", "plan.json"), ("--github", "plan")):
        result = reconcile(*args, cwd=ws, env=env)
        assert result.code == 0, (args, result.err)
        outputs.append(result.text)
    assert "\\Orchestrator\\secret-task" in outputs[0]
    saved = json.loads((ws / "plan.json").read_text())
    assert VAR in json.dumps(saved), "the saved plan names the variable, never its value"
    applied = reconcile("apply", "--plan", "plan.json", cwd=ws, env=env)
    assert applied.code == 0, applied.err
    outputs.append(applied.text)
    # A change later, applied from the manifests.
    manifest = ws / "tasks.d" / "secret.yaml"
    manifest.write_text(manifest.read_text().replace('"0 5 * * *"', '"0 6 * * *"'))
    for args in (("plan", "--format", "json"), ("apply",), ("apply",), ("status", "--format", "json"),
                 ("render", "secret-task")):
        result = reconcile(*args, cwd=ws, env=env)
        assert result.code == 0, (args, result.err)
        outputs.append(result.text)
    imported = reconcile("import", "--all", "--out", "imported", cwd=ws, env=env)
    outputs.append(imported.text)
    for text in outputs:
        assert leaks(text, password) == [], text
    assert leaking_files(ws, password) == {}
    assert leaking_files(Path(tmpdir_env["TMPDIR"]), password) == {}
    store = (ws / STORE / "Orchestrator" / "secret-task").read_bytes().decode("utf-16")
    assert "<LogonType>Password</LogonType>" in store
    imported_manifest = ws / "imported" / "secret-task.yaml"
    if imported_manifest.exists():  # import writes a fromEnv placeholder, never a password
        assert "fromEnv" in imported_manifest.read_text()


def test_a_failing_write_does_not_leak_the_password(ws: Path, password: str,
                                                     tmpdir_env: dict[str, str]) -> None:
    env = {VAR: password, **tmpdir_env}
    assert reconcile("apply", cwd=ws, env=env).code == 0
    manifest = ws / "tasks.d" / "secret.yaml"
    manifest.write_text(manifest.read_text().replace('"0 5 * * *"', '"0 6 * * *"'))
    before = store_snapshot(ws / STORE)
    # Call 1 is the read, call 2 the one write: the password task's.
    failed = reconcile_process("apply", cwd=ws, driver=True, env={**env, "SAFETY_FAIL_CALL": "2"})
    assert failed.code == 1, failed.out + failed.err
    assert "\\Orchestrator\\secret-task" in failed.err and "Traceback" not in failed.err
    assert leaks(failed.text, password) == []
    assert store_snapshot(ws / STORE) == before
    assert leaking_files(ws, password) == {}
    assert leaking_files(Path(tmpdir_env["TMPDIR"]), password) == {}


@pytest.mark.parametrize("value", [None, ""], ids=["unset", "empty"])
def test_a_missing_password_variable_stops_apply_before_any_write(ws: Path, password: str, value: str | None,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    assert reconcile("apply", cwd=ws, env={VAR: password}).code == 0
    # Two pending changes: the password task and another one. Neither may be written.
    for name, old, new in (("secret.yaml", '"0 5 * * *"', '"0 6 * * *"'),
                           ("nightly-restart.yaml", "timeout: 5m", "timeout: 6m")):
        path = ws / "tasks.d" / name
        path.write_text(path.read_text().replace(old, new))
    before = store_snapshot(ws / STORE)
    monkeypatch.delenv(VAR, raising=False)
    result = reconcile("apply", cwd=ws, env={} if value is None else {VAR: value})
    assert result.code == 1, result.out + result.err
    assert VAR in result.err and "\\Orchestrator\\secret-task" in result.err, result.err
    assert len(result.err.strip().splitlines()) == 1, result.err
    assert "Traceback" not in result.err
    assert store_snapshot(ws / STORE) == before


def test_a_missing_password_variable_on_a_first_apply_creates_nothing(ws: Path) -> None:
    result = reconcile("apply", cwd=ws, env={VAR: ""})
    assert result.code == 1 and VAR in result.err
    assert not [p for p in (ws / STORE).rglob("*") if p.is_file() and ".reconcile" not in p.name]


def test_plan_needs_no_password(ws: Path) -> None:
    """A pull request's plan runs without the secrets."""
    result = reconcile("plan", cwd=ws, env={VAR: ""})
    assert result.code == 0, result.err
    assert "+ \\Orchestrator\\secret-task" in result.out


# --- the schtasks backend (emulator) ------------------------------------------------------

@needs_powershell
def test_the_password_appears_nowhere_on_the_schtasks_backend(ws: Path, password: str,
                                                              tmpdir_env: dict[str, str]) -> None:
    env = {**emulator_env(ws), VAR: password, **tmpdir_env}
    state = Path(env["SCHTASKS_EMULATOR_STATE"])
    outputs = []
    for args in (("plan", "--format", "markdown"), ("plan", "--out", "plan.json"), ("apply",),
                 ("plan", "--format", "json"), ("apply", "--update-passwords")):
        result = reconcile("--backend", "schtasks", *args, cwd=ws, env=env)
        assert result.code == 0, (args, result.out, result.err)
        outputs.append(result.text)
    for text in outputs:
        assert leaks(text, password) == [], text
    assert not any(a.lower() == "/rp" for call in call_log(state) for a in call), "a password on a command line"
    # The emulator's index.json stands in for Windows' credential store (it keeps a
    # digest by design); everything else of the machine holds no trace of it.
    assert leaking_files(state, password, skip=("index.json",)) == {}
    assert leaking_files(state, password, digests=False) == {}
    assert leaking_files(ws, password, skip=("index.json",)) == {}
    tmp = Path(tmpdir_env["TMPDIR"])
    assert leaking_files(tmp, password) == {}
    assert [p for p in tmp.rglob("*") if p.is_file()] == [], "temporary files left behind"
    assert "\\Orchestrator\\secret-task" in machine_tasks(state)
    registrations = (state / "powershell.log").read_text().splitlines()
    assert len(registrations) == 2, "the password task went through PowerShell, twice"


@needs_powershell
def test_a_failing_password_registration_is_scrubbed(ws: Path, password: str,
                                                     tmpdir_env: dict[str, str]) -> None:
    env = {**emulator_env(ws), VAR: password, **tmpdir_env}
    assert reconcile("--backend", "schtasks", "apply", cwd=ws, env=env).code == 0
    # The emulator's failing Register-ScheduledTask ECHOES the password on stdout and stderr.
    failed = reconcile("--backend", "schtasks", "apply", "--update-passwords", cwd=ws,
                       env={**env, "POWERSHELL_EMULATOR_FAULT": "fail"})
    assert failed.code == 1, failed.out + failed.err
    assert "\\Orchestrator\\secret-task" in failed.err and "Traceback" not in failed.err
    assert leaks(failed.text, password) == [], failed.err
    assert leaking_files(Path(tmpdir_env["TMPDIR"]), password) == {}
    assert [p for p in Path(tmpdir_env["TMPDIR"]).rglob("*") if p.is_file()] == []


@needs_powershell
def test_a_failing_schtasks_write_beside_a_password_task_leaks_nothing(ws: Path, password: str,
                                                                        tmpdir_env: dict[str, str]) -> None:
    env = {**emulator_env(ws), VAR: password, **tmpdir_env}
    failed = reconcile("--backend", "schtasks", "apply", cwd=ws, env={**env, "SCHTASKS_EMULATOR_FAULT": "fail-create"})
    assert failed.code == 1
    assert leaks(failed.text, password) == [], failed.err
    assert leaking_files(Path(env["SCHTASKS_EMULATOR_STATE"]), password, skip=("index.json",)) == {}


@pytest.mark.parametrize("value", [""], ids=["empty"])
def test_a_missing_password_variable_on_the_schtasks_backend_writes_nothing(
        ws: Path, value: str | None, monkeypatch: pytest.MonkeyPatch) -> None:
    env = emulator_env(ws)
    manifest = ws / "tasks.d" / "secret.yaml"
    # First the other tasks, then the password task appears in the manifests.
    manifest.rename(ws / "secret.yaml.off")
    assert reconcile("--backend", "schtasks", "apply", cwd=ws, env=env).code == 0
    (ws / "secret.yaml.off").rename(manifest)
    state = Path(env["SCHTASKS_EMULATOR_STATE"])
    count = len(writes(state))
    before = machine_tasks(state)
    monkeypatch.delenv(VAR, raising=False)
    result = reconcile("--backend", "schtasks", "apply", cwd=ws, env=env if value is None else {**env, VAR: value})
    assert result.code == 1, result.out + result.err
    assert VAR in result.err and "\\Orchestrator\\secret-task" in result.err
    assert writes(state)[count:] == [] and machine_tasks(state) == before
    log = state / "powershell.log"
    assert not log.exists() or log.read_text() == ""


@needs_powershell
def test_an_unchanged_password_task_is_not_registered_again(ws: Path, password: str) -> None:
    # Windows stores CONTOSO\svc as its SID and the backend resolves the name to the same
    # SID (LookupAccountNameW). Off Windows there is no lookup, so the emulator keeps the
    # name (as Windows 7 on a domain does): the two sides still name the same account.
    env = {**emulator_env(ws), VAR: password, "SCHTASKS_EMULATOR_ACCOUNT_FORM": "name"}
    state = Path(env["SCHTASKS_EMULATOR_STATE"])
    assert reconcile("--backend", "schtasks", "apply", cwd=ws, env=env).code == 0
    registered = (state / "powershell.log").read_text().splitlines()
    plan = reconcile("--backend", "schtasks", "plan", "--detailed-exitcode", cwd=ws, env=env)
    again = reconcile("--backend", "schtasks", "apply", cwd=ws, env=env)
    assert again.code == 0
    assert (state / "powershell.log").read_text().splitlines() == registered, "registered again"
    assert plan.code == 0 and plan.out.strip().splitlines()[-1] == "No changes.", plan.out


# --- the com backend (the stand-in pywin32 of tests/standin) ---------------------------------

def test_the_password_appears_nowhere_on_the_com_backend(ws: Path, password: str,
                                                         tmpdir_env: dict[str, str]) -> None:
    env = {**standin_env(ws), VAR: password, **tmpdir_env}
    state = Path(env["SCHTASKS_EMULATOR_STATE"])
    outputs = []
    for args in (("plan", "--format", "markdown"), ("plan", "--out", "plan.json"), ("apply",),
                 ("plan", "--format", "json"), ("apply", "--update-passwords"), ("status", "--format", "json")):
        result = reconcile_process("--backend", "com", *args, cwd=ws, env=env)
        assert result.code == 0, (args, result.out, result.err)
        outputs.append(result.text)
    for text in outputs:
        assert leaks(text, password) == [], text
    # In one process: no command line, no script and no process listing can show it.
    assert processes_started(env) == []
    registrations = [c for c in com_calls(env) if c["method"] == "RegisterTask" and "secret-task" in c["args"][0]]
    assert len(registrations) == 2 and all(c["args"][4] == "***" for c in registrations)
    # The stand-in's index.json stands in for Windows' credential store (it keeps a digest
    # by design); everything else of the machine holds no trace of it.
    assert leaking_files(state, password, skip=("index.json",)) == {}
    assert leaking_files(state, password, digests=False) == {}
    assert leaking_files(ws, password, skip=("index.json",)) == {}
    tmp = Path(tmpdir_env["TMPDIR"])
    assert leaking_files(tmp, password) == {}
    assert [p for p in tmp.rglob("*") if p.is_file()] == [], "temporary files left behind"
    index = json.loads((state / "index.json").read_text(encoding="utf-8"))
    stored = index["tasks"]["\\orchestrator\\secret-task"]["credentials"]
    assert stored["user"] == "CONTOSO\\svc" and stored["sha256"] == hashlib.sha256(password.encode()).hexdigest()


def test_a_failing_password_registration_on_com_is_scrubbed(ws: Path, password: str,
                                                            tmpdir_env: dict[str, str]) -> None:
    env = {**standin_env(ws), VAR: password, **tmpdir_env}
    # The stand-in's failing RegisterTask ECHOES the password in its message.
    failed = reconcile_process("--backend", "com", "apply", cwd=ws, env={**env, "COM_STANDIN_FAULT": "echo-password"})
    assert failed.code == 1, failed.out + failed.err
    assert "\\Orchestrator\\secret-task" in failed.err and "Traceback" not in failed.err
    assert leaks(failed.text, password) == [], failed.err
    assert leaking_files(Path(env["SCHTASKS_EMULATOR_STATE"]), password, skip=("index.json",)) == {}


def test_a_gmsa_task_needs_no_password_on_com(ws: Path) -> None:
    manifest = ws / "tasks.d" / "secret.yaml"
    manifest.write_text(SECRET_MANIFEST.replace("CONTOSO\\svc", "CONTOSO\\svc$")
                        .replace("    password: {fromEnv: SVC_PASSWORD}\n", ""))
    # Off Windows nothing resolves CONTOSO\svc$ to a SID: the machine keeps the name, as
    # in test_an_unchanged_password_task_is_not_registered_again.
    env = {**standin_env(ws), "SCHTASKS_EMULATOR_ACCOUNT_FORM": "name"}
    applied = reconcile_process("--backend", "com", "apply", cwd=ws, env=env)
    assert applied.code == 0, applied.out + applied.err
    (call,) = [c for c in com_calls(env) if c["method"] == "RegisterTask" and "secret-task" in c["args"][0]]
    assert call["args"][3:6] == ["CONTOSO\\svc$", "pythoncom.Empty", 1]  # TASK_LOGON_PASSWORD, no password
    plan = reconcile_process("--backend", "com", "plan", "--detailed-exitcode", cwd=ws, env=env)
    assert plan.code == 0, plan.out + plan.err
