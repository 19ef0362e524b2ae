"""simulate: start times of canonical time-based triggers."""
from __future__ import annotations

import datetime
import time
from typing import Any

import pytest

from reconciler import cron, model, normalize, render, simulate

D = datetime.datetime


def _base(start: str, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"Enabled": True, "StartBoundary": start, "ExecutionTimeLimit": "PT72H",
                            "RandomDelay": "PT0S"}
    body.update(extra)
    return body


def _repeat(interval: str, duration: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"Interval": interval, "StopAtDurationEnd": False}
    if duration is not None:
        out["Duration"] = duration
    return out


def time_trigger(start: str, **extra: Any) -> dict[str, Any]:
    return {"TimeTrigger": _base(start, **extra)}


def calendar_trigger(start: str, schedule: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"CalendarTrigger": {**_base(start, **extra), **schedule}}


def daily(interval: int = 1) -> dict[str, Any]:
    return {"ScheduleByDay": {"DaysInterval": interval}}


def weekly(days: list[str], interval: int = 1) -> dict[str, Any]:
    return {"ScheduleByWeek": {"WeeksInterval": interval, "DaysOfWeek": days}}


def monthly(days: list[str], months: tuple[str, ...] = model.MONTHS) -> dict[str, Any]:
    return {"ScheduleByMonth": {"DaysOfMonth": days, "Months": list(months)}}


def monthly_dow(weeks: list[str], days: list[str], months: tuple[str, ...] = model.MONTHS) -> dict[str, Any]:
    return {"ScheduleByMonthDayOfWeek": {"Weeks": weeks, "DaysOfWeek": days, "Months": list(months)}}


YEAR_2028 = (D(2028, 1, 1), D(2029, 1, 1))


# --- TimeTrigger --------------------------------------------------------------------------

def test_time_trigger_fires_once_at_its_start_boundary() -> None:
    trigger = time_trigger("2028-03-04T05:06:07")
    assert simulate.fire_times([trigger], *YEAR_2028) == [D(2028, 3, 4, 5, 6, 7)]
    assert simulate.fire_times([trigger], D(2028, 3, 4, 5, 6, 8), D(2029, 1, 1)) == []


def test_window_is_half_open() -> None:
    trigger = time_trigger("2028-03-04T05:06:00")
    assert simulate.fire_times([trigger], D(2028, 3, 4, 5, 6), D(2028, 3, 4, 5, 7)) == [D(2028, 3, 4, 5, 6)]
    assert simulate.fire_times([trigger], D(2028, 3, 4, 5, 5), D(2028, 3, 4, 5, 6)) == []


def test_repetition_duration_counts_both_ends() -> None:
    trigger = time_trigger("2028-03-04T09:00:00", Repetition=_repeat("PT15M", "PT1H"))
    assert simulate.fire_times([trigger], *YEAR_2028) == [
        D(2028, 3, 4, 9, 0), D(2028, 3, 4, 9, 15), D(2028, 3, 4, 9, 30), D(2028, 3, 4, 9, 45),
        D(2028, 3, 4, 10, 0)]


def test_repetition_without_duration_runs_forever() -> None:
    trigger = time_trigger("2000-01-03T00:05:00", Repetition=_repeat("PT10M"))
    fired = simulate.fire_times([trigger], D(2028, 2, 29, 23, 40), D(2028, 3, 1, 0, 20))
    assert fired == [D(2028, 2, 29, 23, 45), D(2028, 2, 29, 23, 55), D(2028, 3, 1, 0, 5),
                     D(2028, 3, 1, 0, 15)]


def test_random_delay_is_ignored_nominal_times() -> None:
    trigger = time_trigger("2028-03-04T09:00:00", RandomDelay="PT1H")
    assert simulate.fire_times([trigger], *YEAR_2028) == [D(2028, 3, 4, 9, 0)]


def test_stop_at_duration_end_does_not_change_starts() -> None:
    repetition = {**_repeat("PT30M", "PT1H"), "StopAtDurationEnd": True}
    trigger = time_trigger("2028-03-04T09:00:00", Repetition=repetition)
    assert len(simulate.fire_times([trigger], *YEAR_2028)) == 3


# --- boundaries and flags -----------------------------------------------------------------

def test_end_boundary_is_exclusive_and_cuts_repetition() -> None:
    trigger = calendar_trigger("2028-01-01T09:00:00", daily(), EndBoundary="2028-01-03T09:30:00",
                               Repetition=_repeat("PT15M", "PT1H"))
    fired = simulate.fire_times([trigger], *YEAR_2028)
    expected = []
    for day in (1, 2):
        expected += [D(2028, 1, day, 9, 0) + datetime.timedelta(minutes=15 * k) for k in range(5)]
    expected += [D(2028, 1, 3, 9, 0), D(2028, 1, 3, 9, 15)]
    assert fired == expected


def test_start_boundary_date_is_the_first_day() -> None:
    trigger = calendar_trigger("2028-05-10T08:00:00", daily())
    fired = simulate.fire_times([trigger], D(2028, 5, 1), D(2028, 5, 13))
    assert fired == [D(2028, 5, 10, 8), D(2028, 5, 11, 8), D(2028, 5, 12, 8)]


def test_disabled_trigger_never_fires() -> None:
    trigger = calendar_trigger("2028-01-01T09:00:00", daily(), Enabled=False)
    assert simulate.fire_times([trigger], *YEAR_2028) == []


def test_offsets_are_read_as_naive_wall_clock() -> None:
    for start in ("2028-03-04T09:00:00Z", "2028-03-04T09:00:00+02:00", "2028-03-04T09:00:00.000-05:00"):
        assert simulate.fire_times([time_trigger(start)], *YEAR_2028) == [D(2028, 3, 4, 9)]


def test_non_time_triggers_and_unreadable_ones_are_ignored() -> None:
    triggers = [
        {"BootTrigger": {"Enabled": True, "Delay": "PT0S"}},
        {"LogonTrigger": {"Enabled": True, "Delay": "PT0S"}},
        {"TimeTrigger": _base("$(Arg0)")},  # a template placeholder: not a dateTime
        {"CalendarTrigger": _base("2028-01-01T09:00:00")},  # no schedule
    ]
    assert simulate.fire_times(triggers, *YEAR_2028) == []


def test_triggers_union_sorted_and_unique() -> None:
    a = calendar_trigger("2028-01-01T09:00:00", weekly(["Monday"]))
    b = calendar_trigger("2028-01-01T09:00:00", monthly(["1", "3"]))
    fired = simulate.fire_times([a, b], D(2028, 1, 1), D(2028, 1, 11))
    # 1 Jan (Sat, day 1), 3 Jan (Monday and day 3: once), 10 Jan (Monday)
    assert fired == [D(2028, 1, 1, 9), D(2028, 1, 3, 9), D(2028, 1, 10, 9)]


# --- calendar schedules -------------------------------------------------------------------

def test_by_day_interval_counts_from_the_start_boundary() -> None:
    trigger = calendar_trigger("2028-01-02T06:00:00", daily(3))
    fired = simulate.fire_times([trigger], D(2028, 1, 1), D(2028, 1, 12))
    assert [t.day for t in fired] == [2, 5, 8, 11]


def test_by_week_days() -> None:
    trigger = calendar_trigger("2000-01-03T07:30:00", weekly(["Monday", "Friday"]))
    fired = simulate.fire_times([trigger], D(2028, 2, 1), D(2028, 2, 15))
    assert fired == [D(2028, 2, d, 7, 30) for d in (4, 7, 11, 14)]


def test_by_week_interval_counts_weeks_that_start_on_sunday() -> None:
    # Start on Wednesday 2028-01-05; its week began Sunday 2028-01-02. Every other week:
    # the weeks of 2 Jan, 16 Jan, 30 Jan. Sunday 9 Jan belongs to an off week.
    trigger = calendar_trigger("2028-01-05T10:00:00", weekly(["Sunday", "Monday"], interval=2))
    fired = simulate.fire_times([trigger], D(2028, 1, 1), D(2028, 2, 1))
    assert [t.day for t in fired] == [16, 17, 30, 31]


def test_by_month_days_last_and_missing_days() -> None:
    trigger = calendar_trigger("2000-01-03T00:00:00", monthly(["30", "31", "Last"]))
    fired = simulate.fire_times([trigger], D(2028, 1, 1), D(2028, 5, 1))
    assert fired == [D(2028, 1, 30), D(2028, 1, 31), D(2028, 2, 29), D(2028, 3, 30),
                     D(2028, 3, 31), D(2028, 4, 30)]


def test_by_month_leap_day() -> None:
    trigger = calendar_trigger("2000-01-03T12:00:00", monthly(["29"], ("February",)))
    fired = simulate.fire_times([trigger], D(2027, 1, 1), D(2033, 1, 1))
    assert fired == [D(2028, 2, 29, 12), D(2032, 2, 29, 12)]


def test_by_month_day_of_week_weeks_and_last() -> None:
    trigger = calendar_trigger("2000-01-03T09:00:00", monthly_dow(["1", "4", "Last"], ["Monday"],
                                                                  ("January", "May")))
    fired = simulate.fire_times([trigger], *YEAR_2028)
    # January 2028 Mondays: 3, 10, 17, 24, 31 (the 5th is only "Last"); May: 1 .. 29.
    assert fired == [D(2028, 1, 3, 9), D(2028, 1, 24, 9), D(2028, 1, 31, 9),
                     D(2028, 5, 1, 9), D(2028, 5, 22, 9), D(2028, 5, 29, 9)]


def test_week_four_and_last_on_the_same_day_fire_once() -> None:
    trigger = calendar_trigger("2000-01-03T09:00:00", monthly_dow(["4", "Last"], ["Monday"], ("February",)))
    fired = simulate.fire_times([trigger], D(2027, 2, 1), D(2027, 3, 1))
    assert fired == [D(2027, 2, 22, 9)]


# --- repetition on calendar triggers --------------------------------------------------------

def test_daily_window_counts_both_ends() -> None:
    trigger = calendar_trigger("2000-01-03T09:00:00", weekly(["Monday", "Tuesday", "Wednesday",
                                                              "Thursday", "Friday"]),
                               Repetition=_repeat("PT15M", "PT8H45M"))
    fired = simulate.fire_times([trigger], D(2028, 3, 3), D(2028, 3, 5))  # Fri, Sat
    assert len(fired) == 36
    assert fired[0] == D(2028, 3, 3, 9) and fired[-1] == D(2028, 3, 3, 17, 45)


def test_window_that_crosses_midnight() -> None:
    trigger = calendar_trigger("2028-01-01T23:00:00", daily(), Repetition=_repeat("PT30M", "PT2H"))
    fired = simulate.fire_times([trigger], D(2028, 1, 2), D(2028, 1, 3))
    assert fired == [D(2028, 1, 2, 0), D(2028, 1, 2, 0, 30), D(2028, 1, 2, 1),
                     D(2028, 1, 2, 23), D(2028, 1, 2, 23, 30)]


def test_windows_longer_than_a_day_overlap_without_duplicates() -> None:
    trigger = calendar_trigger("2028-01-01T00:00:00", daily(), Repetition=_repeat("PT12H", "P2D"))
    fired = simulate.fire_times([trigger], D(2028, 1, 1), D(2028, 1, 4))
    assert fired == [D(2028, 1, d, h) for d in (1, 2, 3) for h in (0, 12)]


def test_endless_repetition_on_a_calendar_trigger_stacks_chains() -> None:
    # Every day at 00:00 starts a PT7M chain that never ends; 1440 = 7 * 205 + 5, so
    # each day's chain is offset from yesterday's: their union is what Windows runs.
    trigger = calendar_trigger("2028-01-01T00:00:00", daily(), Repetition=_repeat("PT7M"))
    low, high = D(2028, 1, 3), D(2028, 1, 3, 1)
    fired = simulate.fire_times([trigger], low, high)
    expected = set()
    for day in (1, 2, 3):
        t = D(2028, 1, day)
        while t < high:
            if t >= low:
                expected.add(t)
            t += datetime.timedelta(minutes=7)
    assert fired == sorted(expected)


# --- next_runs -----------------------------------------------------------------------------

def _task(triggers: list[dict[str, Any]], enabled: bool = True) -> dict[str, Any]:
    return {"Settings": {"Enabled": enabled}, "Triggers": triggers}


def test_next_runs_strictly_after() -> None:
    task = _task([calendar_trigger("2000-01-03T09:30:00", daily())])
    assert simulate.next_runs(task, D(2028, 3, 4, 9, 30), 3) == [
        D(2028, 3, 5, 9, 30), D(2028, 3, 6, 9, 30), D(2028, 3, 7, 9, 30)]
    assert simulate.next_runs(task, D(2028, 3, 4, 9, 29, 59), 1) == [D(2028, 3, 4, 9, 30)]


def test_next_runs_of_a_disabled_task_is_empty() -> None:
    task = _task([calendar_trigger("2000-01-03T09:30:00", daily())], enabled=False)
    assert simulate.next_runs(task, D(2028, 3, 4), 5) == []


def test_next_runs_ignores_non_time_triggers() -> None:
    task = _task([{"BootTrigger": {"Enabled": True, "Delay": "PT0S"}}])
    assert simulate.next_runs(task, D(2028, 3, 4), 5) == []


def test_next_runs_finds_rare_dates_and_stops_at_the_end_boundary() -> None:
    leap = _task([calendar_trigger("2000-01-03T00:00:00", monthly(["29"], ("February",)))])
    assert simulate.next_runs(leap, D(2028, 3, 1), 2) == [D(2032, 2, 29), D(2036, 2, 29)]
    ending = _task([calendar_trigger("2000-01-03T00:00:00", daily(),
                                     EndBoundary="2028-03-06T00:00:00")])
    assert simulate.next_runs(ending, D(2028, 3, 3), 10) == [D(2028, 3, 4), D(2028, 3, 5)]
    once = _task([time_trigger("2027-01-01T00:00:00")])
    assert simulate.next_runs(once, D(2028, 1, 1), 1) == []


# --- through the real XML path -------------------------------------------------------------

XML = """<Task version="1.2" xmlns="http://schemas.microsoft.com/windows/2004/02/mit/task">
  <Triggers>
    <CalendarTrigger>
      <StartBoundary>2026-01-01T08:00:00</StartBoundary>
      <Repetition><Interval>PT4H</Interval><Duration>PT8H</Duration></Repetition>
      <ScheduleByMonth><DaysOfMonth><Day>Last</Day></DaysOfMonth></ScheduleByMonth>
    </CalendarTrigger>
    <TimeTrigger><StartBoundary>2028-02-29T12:34:00</StartBoundary><Enabled>false</Enabled></TimeTrigger>
    <BootTrigger/>
  </Triggers>
  <Actions><Exec><Command>cmd.exe</Command></Exec></Actions>
</Task>"""


def test_canonical_form_of_hand_written_xml() -> None:
    triggers = normalize.canonical(XML)["Triggers"]
    fired = simulate.fire_times(triggers, D(2028, 2, 1), D(2028, 4, 1))
    assert fired == [D(2028, 2, 29, h) for h in (8, 12, 16)] + [D(2028, 3, 31, h) for h in (8, 12, 16)]


def _rendered(expression: str) -> list[dict[str, Any]]:
    spec = model.TaskSpec(path="\\Orchestrator\\t", name="t", folder=(), description=None,
                          triggers=cron.convert(expression).triggers,
                          actions=(model.ExecAction(command="cmd.exe"),),
                          principal=model.Principal(user_id="SYSTEM"))
    return normalize.canonical(render.render(spec, "\\Orchestrator\\").xml)["Triggers"]


def test_two_years_of_every_five_minutes_is_fast() -> None:
    triggers = _rendered("*/5 * * * *")
    began = time.perf_counter()
    fired = simulate.fire_times(triggers, D(2027, 6, 1), D(2029, 6, 1))
    elapsed = time.perf_counter() - began
    assert len(fired) == 731 * 288
    assert elapsed < 3.0  # typically ~0.2 s; generous for slow CI machines


@pytest.mark.parametrize("bad", ["P1M"])
def test_a_repetition_in_months_is_refused(bad: str) -> None:
    trigger = time_trigger("2028-01-01T00:00:00", Repetition=_repeat(bad))
    with pytest.raises(ValueError):
        simulate.fire_times([trigger], *YEAR_2028)
