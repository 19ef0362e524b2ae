"""The planner as a table: (desired, live) -> the actions and fields expected."""
from __future__ import annotations

import dataclasses


from reconciler import normalize, render
from reconciler.durations import parse
from reconciler.model import (Action, ByDay, CalendarTrigger, ExecAction, Principal, TaskSpec)
from reconciler.planner import Actual, Desired, plan
from reconciler.state import live_fingerprint
from reconciler.taskxml import parse as parse_xml
from reconciler import marker

ROOT = "\\Orchestrator\\"


def spec(name: str = "job", **changes) -> TaskSpec:
    base = TaskSpec(
        path=ROOT + name, name=name.rsplit("\\", 1)[-1], folder=(), description=None,
        triggers=(CalendarTrigger(start="2000-01-03T09:30:00", schedule=ByDay()),),
        actions=(ExecAction(command="C:\\job.exe"),), principal=Principal(user_id="SYSTEM"),
        settings=(("ExecutionTimeLimit", parse("30m")),),
    )
    return dataclasses.replace(base, **changes)


def desired(task: TaskSpec) -> Desired:
    return Desired(task, render.render(task, ROOT))


def live(task: TaskSpec, *, path: str | None = None, managed: bool = True, edit=None) -> Actual:
    """A live task as apply would have written it (optionally edited afterwards)."""
    xml = render.render(task, ROOT).xml if managed else render.serialize(render.build(task))
    if edit:
        xml = edit(xml)
    element = parse_xml(xml)
    return Actual(path=path or task.path, canonical=normalize.canonical(element),
                  marker=marker.read(element), fingerprint=live_fingerprint(xml))


def actions(result) -> list[tuple[str, str]]:
    return [(c.action.value, c.path) for c in result.changes]


def test_create_when_absent() -> None:
    result = plan([desired(spec())], [], ROOT)
    assert actions(result) == [("create", ROOT + "job")]
    assert result.summary() == "Plan: 1 to add, 0 to change, 0 to delete."


def test_no_change_when_equal() -> None:
    result = plan([desired(spec())], [live(spec())], ROOT)
    assert actions(result) == [("no-op", ROOT + "job")]
    assert result.summary() == "No changes." and not result.has_changes


def test_update_shows_the_changed_field() -> None:
    wanted = spec(settings=(("ExecutionTimeLimit", parse("1h")),))
    result = plan([desired(wanted)], [live(spec())], ROOT)
    (change,) = result.changes
    assert change.action is Action.UPDATE and not change.drift
    # Said as a manifest writes durations, kept as Task Scheduler writes them for JSON.
    assert [(f.field, f.before, f.after, f.old, f.new) for f in change.fields] == [
        ("Settings/ExecutionTimeLimit", "30m", "1h", "PT30M", "PT1H")]
    assert change.reason == "manifest changed"


def test_drift_is_a_change_made_on_the_machine() -> None:
    edited = live(spec(), edit=lambda x: x.replace("<Settings>", "<Settings>\n    <Enabled>false</Enabled>"))
    (change,) = plan([desired(spec())], [edited], ROOT).changes
    assert change.action is Action.UPDATE and change.drift
    assert change.reason.startswith("drift")
    assert [(f.field, f.before, f.after) for f in change.fields] == [("Settings/Enabled", "false", "true")]


def test_drift_and_manifest_change_together() -> None:
    edited = live(spec(), edit=lambda x: x.replace("PT30M", "PT45M"))
    wanted = spec(settings=(("ExecutionTimeLimit", parse("1h")),))
    (change,) = plan([desired(wanted)], [edited], ROOT).changes
    assert change.drift and change.reason == "changed in the manifests and on the machine"


def test_managed_task_without_manifest_is_deleted() -> None:
    result = plan([], [live(spec())], ROOT)
    assert actions(result) == [("delete", ROOT + "job")]


def test_protected_task_is_kept_after_its_manifest_is_gone() -> None:
    result = plan([], [live(spec(protect=True))], ROOT)
    assert actions(result) == [] and result.protected == (ROOT + "job",)
    assert result.summary() == "No changes."


def test_unmanaged_tasks_are_listed_and_left_alone() -> None:
    result = plan([], [live(spec("hand-made"), managed=False)], ROOT)
    assert actions(result) == [] and result.unmanaged == (ROOT + "hand-made",)


def test_a_copied_task_is_not_ours() -> None:
    copy = live(spec("original"), path=ROOT + "copy")
    result = plan([], [copy], ROOT)
    assert result.unmanaged == (ROOT + "copy",) and actions(result) == []


def test_manifest_at_an_unmanaged_path_is_a_conflict() -> None:
    result = plan([desired(spec())], [live(spec(), managed=False)], ROOT)
    assert actions(result) == []
    (message,) = result.conflicts
    assert "not managed by reconcile.py" in message and "adopt: true" in message


def test_adopt_equal_content_changes_nothing() -> None:
    result = plan([desired(spec(adopt=True))], [live(spec(), managed=False)], ROOT)
    assert actions(result) == [("no-op", ROOT + "job")]


def test_adopt_different_content_updates_and_takes_over() -> None:
    wanted = spec(adopt=True, settings=(("ExecutionTimeLimit", parse("1h")),))
    (change,) = plan([desired(wanted)], [live(spec(), managed=False)], ROOT).changes
    assert change.action is Action.UPDATE and "adopt" in change.reason
    assert "<Source>reconcile.py</Source>" in change.xml


def test_case_only_rename_is_delete_then_create() -> None:
    result = plan([desired(spec("Job"))], [live(spec("job"))], ROOT)
    assert actions(result) == [("delete", ROOT + "job"), ("create", ROOT + "Job")]
    assert result.changes[1].replaces == ROOT + "job"
    assert result.summary() == "Plan: 1 to add, 0 to change, 1 to delete."


def test_folder_case_is_not_compared() -> None:
    wanted = spec("Finance\\job", folder=("Finance",))
    current = live(spec("finance\\job", folder=("finance",)))
    result = plan([desired(wanted)], [current], ROOT)
    assert actions(result) == [("no-op", ROOT + "finance\\job")]


def test_protect_flag_change_rewrites_the_marker() -> None:
    (change,) = plan([desired(spec(protect=True))], [live(spec())], ROOT).changes
    assert change.action is Action.UPDATE
    assert [(f.field, f.before, f.after) for f in change.fields] == [("protect", "false", "true")]


def test_fingerprints_cover_every_live_task() -> None:
    tasks = [live(spec("a")), live(spec("b"), managed=False)]
    result = plan([], tasks, ROOT)
    assert set(result.fingerprints) == {ROOT + "a", ROOT + "b"}


def test_trigger_changes_are_matched_by_kind() -> None:
    wanted = spec(triggers=(CalendarTrigger(start="2000-01-03T10:00:00", schedule=ByDay()),))
    (change,) = plan([desired(wanted)], [live(spec())], ROOT).changes
    assert [(f.field, f.before, f.after) for f in change.fields] == [
        ("Triggers[0]/CalendarTrigger/StartBoundary", "2000-01-03T09:30:00", "2000-01-03T10:00:00")]


def _password_task(**changes) -> TaskSpec:
    return spec(principal=Principal(user_id="CONTOSO\\svc", logon_type="Password", password_env="SVC_PW"),
                **changes)


def _desired_with_hmac(task: TaskSpec, digest: str | None) -> Desired:
    return Desired(task, render.render(task, ROOT, extra_marker={"pwHmac": digest} if digest else None), digest)


def test_a_password_task_is_not_rewritten_when_nothing_changed() -> None:
    live_task = live(_password_task())
    (change,) = plan([_desired_with_hmac(_password_task(), None)], [live_task], ROOT).changes
    assert change.action is Action.NOOP


def test_a_changed_password_is_seen_through_its_hmac_and_never_shown() -> None:
    task = _password_task()
    current = Desired(task, render.render(task, ROOT, extra_marker={"pwHmac": "old"}), "old")
    live_task = live(task, edit=lambda x: current.rendered.xml)
    (change,) = plan([_desired_with_hmac(task, "new")], [live_task], ROOT).changes
    assert change.action is Action.UPDATE and change.reason == "password"
    assert [(f.field, f.before, f.after) for f in change.fields] == [
        ("password", "(stored)", "(changed in SVC_PW)")]
    (same,) = plan([_desired_with_hmac(task, "old")], [live_task], ROOT).changes
    assert same.action is Action.NOOP


def test_update_passwords_rewrites_every_password_task() -> None:
    result = plan([desired(_password_task()), desired(spec("other"))],
                  [live(_password_task()), live(spec("other"))], ROOT, update_passwords=True)
    assert [(c.action.value, c.path) for c in result.changes] == [
        ("update", ROOT + "job"), ("no-op", ROOT + "other")]
