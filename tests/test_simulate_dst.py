"""``next`` on the days clocks change (reconciler/simulate_dst.py), in real time zones.

The model, README "Daylight saving time": a start that does not exist (clocks go
forward) runs at the first time that exists after it (documented for weekly and monthly
triggers: WeeklyTrigger, MonthlyTrigger, MonthlyDOWTrigger remarks); a start that exists
twice (clocks go back) runs once, the first time; a repetition steps in elapsed time from
its start (undocumented: chosen); a boundary with a UTC offset is that instant."""
from __future__ import annotations

import datetime
import sys
from typing import Any

import pytest

from reconciler import cron, model, render, simulate
from reconciler.simulate_dst import SystemZone, TzZone

zoneinfo = pytest.importorskip("zoneinfo")

D = datetime.datetime


def zone(name: str) -> TzZone:
    try:
        return TzZone(zoneinfo.ZoneInfo(name))
    except zoneinfo.ZoneInfoNotFoundError:  # Windows without the tzdata package
        pytest.skip(f"no time zone data for {name}")


BERLIN = "Europe/Berlin"  # 2027: 28 March 02:00 -> 03:00, 31 October 03:00 -> 02:00
NEW_YORK = "America/New_York"  # 2027: 14 March 02:00 -> 03:00, 7 November 02:00 -> 01:00


def task_of(expression: str) -> dict[str, Any]:
    """The canonical task a cron expression renders to."""
    spec = model.TaskSpec(path="\\Orchestrator\\t", name="t", folder=(), description=None,
                          triggers=cron.convert(expression).triggers,
                          actions=(model.ExecAction(command="C:\\x.exe"),), principal=model.Principal(user_id="SYSTEM"))
    return render.render(spec, "\\Orchestrator\\").canonical


def trigger_task(*triggers: dict[str, Any]) -> dict[str, Any]:
    return {"Settings": {"Enabled": True}, "Triggers": list(triggers)}


def daily(start: str, **extra: Any) -> dict[str, Any]:
    return {"CalendarTrigger": {"StartBoundary": start, "ScheduleByDay": {"DaysInterval": 1}, **extra}}


def runs(task: dict[str, Any], after: D, count: int, where: str) -> list[str]:
    return [r.isoformat(timespec="minutes") for r in simulate.next_runs(task, after, count, zone=zone(where))]


def test_a_start_that_does_not_exist_runs_when_the_clock_has_moved_on() -> None:
    task = task_of("30 2 * * *")
    assert runs(task, D(2027, 3, 26, 12), 3, BERLIN) == ["2027-03-27T02:30", "2027-03-28T03:00", "2027-03-29T02:30"]
    assert runs(task, D(2027, 3, 13, 12), 3, NEW_YORK) == ["2027-03-14T03:00", "2027-03-15T02:30", "2027-03-16T02:30"]


def test_a_start_that_exists_twice_runs_once_and_says_which() -> None:
    task = task_of("30 2 * * *")
    found = simulate.next_runs(task, D(2027, 10, 30, 12), 3, zone=zone(BERLIN))
    assert [r.isoformat() for r in found] == ["2027-10-31T02:30:00+02:00", "2027-11-01T02:30:00", "2027-11-02T02:30:00"]


def test_an_hourly_endless_repetition_runs_twice_in_the_hour_that_repeats() -> None:
    task = task_of("0 * * * *")  # a TimeTrigger repeating every hour from 2000-01-03
    assert runs(task, D(2027, 10, 31, 0, 30), 5, BERLIN) == [
        "2027-10-31T01:00", "2027-10-31T02:00+02:00", "2027-10-31T02:00+01:00", "2027-10-31T03:00", "2027-10-31T04:00"]
    assert runs(task, D(2027, 3, 28, 0, 30), 3, BERLIN) == ["2027-03-28T01:00", "2027-03-28T03:00", "2027-03-28T04:00"]


def test_an_endless_two_hour_repetition_would_drift_an_hour_in_summer() -> None:
    """The shape cron used to have for 0 */2: in elapsed time it runs at odd hours from
    the spring change on, which is why cron now writes fixed daily times."""
    old_shape = trigger_task({"TimeTrigger": {"StartBoundary": "2000-01-03T00:00:00",
                                              "Repetition": {"Interval": "PT2H"}}})
    assert runs(old_shape, D(2027, 1, 10, 9, 30), 2, BERLIN) == ["2027-01-10T10:00", "2027-01-10T12:00"]
    assert runs(old_shape, D(2027, 7, 10, 9, 30), 2, BERLIN) == ["2027-07-10T11:00", "2027-07-10T13:00"]
    assert runs(task_of("0 */2 * * *"), D(2027, 7, 10, 9, 30), 2, BERLIN) == ["2027-07-10T10:00", "2027-07-10T12:00"]


def test_a_window_across_the_change_ends_an_hour_late_in_elapsed_time() -> None:
    old_shape = trigger_task(daily("2000-01-03T00:00:00", Repetition={"Interval": "PT1H", "Duration": "PT5H"}))
    assert runs(old_shape, D(2027, 3, 27, 23), 6, BERLIN) == [
        "2027-03-28T00:00", "2027-03-28T01:00", "2027-03-28T03:00", "2027-03-28T04:00", "2027-03-28T05:00",
        "2027-03-28T06:00"]
    # cron cuts the window at 01:00-04:00: cron's own times (02:00 moves to 03:00).
    assert runs(task_of("0 0-5 * * *"), D(2027, 3, 27, 23), 5, BERLIN) == [
        "2027-03-28T00:00", "2027-03-28T01:00", "2027-03-28T03:00", "2027-03-28T04:00", "2027-03-28T05:00"]


def test_a_utc_offset_is_an_instant_shown_in_local_time() -> None:
    task = trigger_task(daily("2027-01-04T09:00:00Z"))
    assert runs(task, D(2027, 1, 10), 1, BERLIN) == ["2027-01-10T10:00"]
    assert runs(task, D(2027, 7, 10), 1, BERLIN) == ["2027-07-10T11:00"]


@pytest.mark.parametrize("expression", ["5 13 * * 1-5", "*/15 9-17 * * 1-5", "0 */2 * * *", "*/10 * * * *",
                                        "0 0 1 * *", "30 2 * * 0"])
def test_away_from_the_changes_the_zone_changes_nothing(expression: str) -> None:
    task = task_of(expression)
    for after in (D(2027, 1, 15, 7, 7), D(2027, 7, 15, 7, 7)):
        naive = [r.isoformat(timespec="minutes") for r in simulate.next_runs(task, after, 8)]
        assert runs(task, after, 8, BERLIN) == naive


def test_end_boundary_is_an_instant_too() -> None:
    task = trigger_task(daily("2027-03-01T02:30:00", EndBoundary="2027-03-28T02:45:00"))
    assert runs(task, D(2027, 3, 26), 5, BERLIN) == ["2027-03-26T02:30", "2027-03-27T02:30"]


@pytest.mark.skipif(sys.platform == "win32", reason="the TZ variable selects a POSIX zone rule; Windows reads its own")
def test_next_uses_the_machines_zone(tmp_path: Any) -> None:
    from conftest import run_cli

    folder = tmp_path / "tasks.d"
    folder.mkdir()
    (folder / "t.yaml").write_text("apiVersion: reconcile/v1\nkind: ScheduledTask\nmetadata: {name: t}\nspec:\n"
                                   "  schedule: '30 2 * * *'\n  actions: [{command: C:\\x.exe}]\n  runAs: {user: SYSTEM}\n",
                                   encoding="utf-8")
    result = run_cli("next", "t", "-n", "3", "--from", "2027-03-27T12:00", cwd=tmp_path, env={"TZ": BERLIN})
    assert result.code == 0, result.err
    assert result.out.splitlines() == ["2027-03-28T03:00:00", "2027-03-29T02:30:00", "2027-03-30T02:30:00"]
    assert SystemZone().local(SystemZone().instant(D(2027, 1, 1, 12))) == D(2027, 1, 1, 12)
