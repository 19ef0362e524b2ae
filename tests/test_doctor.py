"""``reconcile.py doctor`` off Windows: against the local store, the schtasks emulator
and the stand-in pywin32, as the SPEC asks. It must pass where the model is right, say
DIFFERS with the cause where it is not, and always leave the machine as it found it:
its scratch folder gone, every other task byte for byte as it was."""
from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from com_support import processes_started, standin_env
from conftest import run_cli, store_snapshot
from reconciler.app import doctor, plans
from reconciler.backends import open_backend
from reconciler.backends.base import RunData, RunInfo, State
from safety_support import emulator_env, machine_tasks, reconcile_process

STORE = Path(".reconcile") / "store"


def _lines(out: str) -> list[str]:
    return [line for line in out.splitlines() if line]


def _seeded_store(workspace: Path) -> dict[str, bytes]:
    """A store that already holds a managed task of the real root and a stranger's task."""
    (workspace / "tasks.d").mkdir(parents=True)
    (workspace / "tasks.d" / "keep.yaml").write_text(
        "apiVersion: reconcile/v1\nkind: ScheduledTask\nmetadata: {name: keep}\n"
        "spec:\n  runAs: {user: SYSTEM}\n  actions: [{command: C:\\\\keep.exe}]\n", encoding="utf-8")
    assert run_cli("apply", cwd=workspace).code == 0
    outside = workspace / STORE / "Vendor" / "their-task"
    outside.parent.mkdir(parents=True)
    outside.write_bytes((workspace / STORE / "Orchestrator" / "keep").read_bytes())
    return store_snapshot(workspace / STORE)


def test_doctor_passes_on_the_local_store_and_leaves_it_as_it_was(tmp_path: Path) -> None:
    before = _seeded_store(tmp_path)
    result = run_cli("doctor", "--out", "evidence.json", cwd=tmp_path)
    assert result.code == 0, result.out + result.err
    lines = _lines(result.out)
    assert lines[0].startswith("ok       register — ")
    assert all(line.split()[0] in ("ok", "SKIPPED") for line in lines[:-1]), result.out
    assert "plan says No changes." in result.out
    assert "SKIPPED  next run times — the local backend keeps no schedule of its own" in lines
    assert lines[-1].startswith("doctor: ") and lines[-1].endswith("everything matched.")
    assert store_snapshot(tmp_path / STORE) == before  # scratch folder gone, the rest untouched
    evidence = json.loads((tmp_path / "evidence.json").read_text(encoding="utf-8"))
    assert evidence["passed"] is True and evidence["format_version"] == 1
    assert evidence["root"].startswith("\\reconcile-doctor-") and evidence["root"].endswith("\\")
    assert evidence["machine"]["backend"] == "local" and evidence["machine"]["python"]
    assert evidence["machine"]["preferred_encoding"]  # whatever the platform
    assert any(c["name"] == "status states" and c["result"] == "ok" for c in evidence["checks"])
    names = [c["name"] for c in evidence["checks"]]
    assert any("日本語" in n for n in names) and any("long-xxx" in n for n in names)
    assert {c["result"] for c in evidence["checks"]} <= {"ok", "SKIPPED"}


def test_doctor_covers_every_trigger_kind_account_kind_and_a_chain(tmp_path: Path) -> None:
    backend = open_backend("local", root="\\reconcile-doctor-test\\", store=str(tmp_path / "store"))
    main, unicode = doctor.write_manifests(tmp_path / "work", "\\reconcile-doctor-test\\",
                                           doctor.DoctorOptions(password_account="CONTOSO\\svc"),
                                           tmp_path / "home")
    specs = plans.load_tasks(str(main), "\\reconcile-doctor-test\\")
    kinds = {type(t).__name__ for s in specs for t in s.triggers}
    assert kinds >= {"CalendarTrigger", "TimeTrigger", "BootTrigger", "LogonTrigger", "IdleTrigger",
                     "EventTrigger", "SessionStateChangeTrigger", "RegistrationTrigger"}
    logons = {(s.principal.user_id or s.principal.group_id, s.principal.logon_type) for s in specs}
    assert {("SYSTEM", None), ("LOCAL SERVICE", None), ("NETWORK SERVICE", None),
            ("BUILTIN\\Users", None), ("CONTOSO\\svc", "Password")} <= logons
    assert {lt for _, lt in logons} >= {"S4U", "InteractiveToken", "Password"}
    assert max(len(s.actions) for s in specs) >= 3
    chain = [s for s in specs if s.run is not None]
    assert sorted(s.name for s in chain) == ["chain-first", "chain-second"]
    assert len(plans.load_tasks(str(unicode), "\\reconcile-doctor-test\\")) == 1
    assert backend.read_state("\\reconcile-doctor-test\\").tasks == {}


def test_doctor_tries_every_rule_between_settings_and_triggers(tmp_path: Path) -> None:
    """The settings Task Scheduler 2.1+ added and the registration rules reconcile.py
    enforces (README "What Task Scheduler refuses"), each at the edge reconcile.py allows."""
    root = "\\reconcile-doctor-test\\"
    backend = open_backend("local", root=root, store=str(tmp_path / "store"))
    main, _ = doctor.write_manifests(tmp_path / "work", root, doctor.DoctorOptions(), tmp_path / "home")
    xml = {d.spec.name: d.rendered.xml for d in plans.load_desired(str(main), root, backend)}
    maintenance = xml["maintenance"]
    assert "<UseUnifiedSchedulingEngine>true</UseUnifiedSchedulingEngine>" in maintenance
    assert "<Period>P1D</Period>" in maintenance and "<Deadline>P1DT1H</Deadline>" in maintenance
    assert "<Exclusive>true</Exclusive>" in maintenance
    newer = xml["newer-settings"]
    assert all(f"<{e}>{v}</{e}>" in newer for e, v in (
        ("Volatile", "true"), ("DisallowStartOnRemoteAppSession", "true"), ("AllowHardTerminate", "false")))
    network = xml["network"]
    assert "<NetworkProfileName>reconcile-doctor</NetworkProfileName>" in network
    assert "<NetworkSettings>" in network and "<Id>{6f1c3c52-8d52-4b8e-9d1e-7c0c5e0a2f10}</Id>" in network
    assert "<DeleteExpiredTaskAfter>PT0S</DeleteExpiredTaskAfter>" in xml["expires"]
    assert "<EndBoundary>" in xml["expires"]
    assert all(f"{offset}</StartBoundary>" in xml["utc-offset"] for offset in ("+05:30", "Z", "-08:00"))
    assert "<Interval>PT1H</Interval>" in xml["repeat-once"] and "<Duration>PT1H</Duration>" in xml["repeat-once"]
    events = xml["event-queries"]
    assert events.count("&lt;QueryList&gt;") == 3  # the whole query, the wrapped XPath, the source and id
    assert "EventID=64997" in events and "<PeriodOfOccurrence>PT1M</PeriodOfOccurrence>" in events
    assert "<ValueQueries>" in events and "<MatchingElement>" in events
    # Enabled (with starts in 2099), so status and the next run times compare them too.
    specs = {s.name: s for s in plans.load_tasks(str(main), root)}
    assert all(dict(specs[name].settings).get("Enabled", True) for name in ("utc-offset", "repeat-once", "expires"))


def test_doctor_passes_on_the_emulator_and_touches_nothing_else(tmp_path: Path) -> None:
    env = {**emulator_env(tmp_path), "SCHTASKS_EMULATOR_OUTPUT_ENCODING": "utf-8",
           # Off Windows nothing resolves a domain account to its SID: the emulator keeps names.
           "SCHTASKS_EMULATOR_ACCOUNT_FORM": "name"}
    assert run_cli("--backend", "schtasks", "status", cwd=tmp_path, env=env).code == 0  # seeds the machine
    before = machine_tasks(tmp_path / "machine")
    result = run_cli("--backend", "schtasks", "doctor", cwd=tmp_path, env=env)
    assert result.code == 0, result.out + result.err
    assert "ok       next run \\reconcile-doctor-" in result.out  # compared with the emulator's own
    # schtasks.exe cannot remove a folder: the only thing it leaves is the empty folder.
    assert "SKIPPED  clean up the scratch folder — every task deleted; the schtasks backend cannot " \
           "remove the empty folder" in result.out
    assert machine_tasks(tmp_path / "machine") == before


def test_doctor_says_what_a_console_code_page_loses_and_still_cleans_up(tmp_path: Path) -> None:
    env = {**emulator_env(tmp_path), "SCHTASKS_EMULATOR_OUTPUT_ENCODING": "cp437",
           "SCHTASKS_EMULATOR_ACCOUNT_FORM": "name"}
    result = run_cli("--backend", "schtasks", "doctor", "--out", "evidence.json", cwd=tmp_path, env=env)
    assert result.code == 1
    (differs,) = [line for line in _lines(result.out) if line.startswith("DIFFERS")]
    assert "a name outside every console code page" in differs and "cp437" in differs
    assert _lines(result.out)[-1].endswith("Windows and reconcile.py disagree.")
    assert not [p for p in machine_tasks(tmp_path / "machine") if "reconcile-doctor" in p]
    evidence = json.loads((tmp_path / "evidence.json").read_text(encoding="utf-8"))
    assert evidence["passed"] is False


def test_doctor_on_com_starts_no_process(tmp_path: Path) -> None:
    env = {**standin_env(tmp_path), "SCHTASKS_EMULATOR_ACCOUNT_FORM": "name"}
    result = reconcile_process("--backend", "com", "doctor", cwd=tmp_path, env=env)
    assert result.code == 0, result.out + result.err
    assert "ok       clean up the scratch folder" in result.out
    assert "ok       read back \\reconcile-doctor-" in result.out
    assert processes_started(env) == []
    assert not [p for p in machine_tasks(tmp_path / "machine") if "reconcile-doctor" in p]


class _Drifting:
    """A local backend whose machine rewrites one task's description on registration."""

    def __init__(self, inner: object) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> object:
        return getattr(self._inner, name)

    def read_state(self, root: str) -> State:
        state = self._inner.read_state(root)  # type: ignore[attr-defined]
        tasks = {k: type(v)(v.path, v.xml.replace("three actions", "THREE actions")) for k, v in state.tasks.items()}
        return State(tasks=tasks, warnings=state.warnings, calls=state.calls)


def test_a_difference_is_named_and_fails_the_run(tmp_path: Path) -> None:
    seen: list[doctor.Check] = []
    evidence = doctor.doctor(
        lambda root: _Drifting(open_backend("local", root=root, store=str(tmp_path / "store"))),  # type: ignore[return-value]
        doctor.DoctorOptions(), seen.append)
    assert not evidence.passed and seen == evidence.checks
    (bad,) = [c for c in evidence.checks if c.name.startswith("read back") and c.result == "DIFFERS"]
    assert bad.name.endswith("several-actions") and "THREE actions" in bad.detail
    assert not list((tmp_path / "store").glob("reconcile-doctor-*"))


class _AllReady:
    """A local backend whose scheduler reports every task Ready, the disabled ones too."""

    def __init__(self, inner: object) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> object:
        return getattr(self._inner, name)

    def run_info(self, root: str) -> RunData:
        tasks = self._inner.read_state(root).tasks  # type: ignore[attr-defined]
        return RunData({key: RunInfo(status="Ready") for key in tasks})


def test_a_state_other_than_the_manifests_names_the_task(tmp_path: Path) -> None:
    evidence = doctor.doctor(
        lambda root: _AllReady(open_backend("local", root=root, store=str(tmp_path / "store"))),  # type: ignore[return-value]
        doctor.DoctorOptions())
    assert not evidence.passed
    differs = {c.name: c for c in evidence.checks if c.result == "DIFFERS"}
    bad = differs[f"status {evidence.root}settings"]
    assert bad.detail == "expected disabled, found ready (the scheduler says 'Ready')"
    assert bad.observed == {"expected": "disabled", "found": "ready", "scheduler": "Ready"}
    main, _ = doctor.write_manifests(tmp_path / "work", evidence.root, doctor.DoctorOptions(), tmp_path / "home")
    specs = plans.load_tasks(str(main), evidence.root)
    disabled = {s.path for s in specs if not dict(s.settings).get("Enabled", True)}
    assert set(differs) == {f"status {path}" for path in disabled}  # every disabled task, no enabled one
    (states,) = [c for c in evidence.checks if c.name == "status states"]
    assert states.result == "ok" and states.detail == f"as declared: {len(specs) - len(disabled)} ready"


def test_an_interrupted_doctor_removes_its_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(*args: object, **kwargs: object) -> object:
        raise KeyboardInterrupt
    monkeypatch.setattr(doctor.plans, "plan", interrupted)
    seen: list[doctor.Check] = []
    with pytest.raises(KeyboardInterrupt):
        doctor.doctor(lambda root: open_backend("local", root=root, store=str(tmp_path / "store")),
                      doctor.DoctorOptions(), seen.append)
    assert [c.result for c in seen[-2:]] == ["DIFFERS", "ok"]
    assert seen[-2].detail == "interrupted" and seen[-1].name == "clean up the scratch folder"
    assert not list((tmp_path / "store").glob("reconcile-doctor-*"))


@pytest.mark.skipif(not hasattr(signal, "SIGTERM") or os.name == "nt", reason="POSIX signals")
def test_sigterm_ends_doctor_like_ctrl_c() -> None:
    with pytest.raises(KeyboardInterrupt):
        with doctor._interruptible():
            os.kill(os.getpid(), signal.SIGTERM)
            signal.sigtimedwait([], 0) if hasattr(signal, "sigtimedwait") else None


def test_a_password_account_needs_its_password(tmp_path: Path) -> None:
    result = run_cli("doctor", "--account", "CONTOSO\\svc", cwd=tmp_path, env={})
    assert result.code == 1
    assert result.err.strip() == ("error: --account CONTOSO\\svc: set its password in "
                                  "RECONCILE_DOCTOR_PASSWORD")
    assert run_cli("doctor", "--timeout", "0", cwd=tmp_path).code == 1
