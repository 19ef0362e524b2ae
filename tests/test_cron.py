"""cron.convert: expressions -> the exact triggers expected, or a refusal that says why.

Each trigger is described in one short line (``weekly Mon-Fri 09:00 every PT15M for
PT8H45M``) so the tables read like the schedules they stand for. Where croniter 7.0.0
reads an expression differently from crontab(5), a test below says so."""
from __future__ import annotations

import datetime

import pytest
from croniter import croniter
from croniter.croniter import CroniterBadDateError, CroniterBadCronError

from reconciler import cron, model
from reconciler.errors import ReconcileError

_ABBR = {name: name[:3] for name in model.WEEKDAYS + model.MONTHS}


def _runs(tokens: tuple[str, ...]) -> str:
    """('1','2','3','5','Last') -> '1-3,5,Last'."""
    numbers = [int(t) for t in tokens if t.isdigit()]
    parts: list[str] = []
    for n in numbers:
        if parts and parts[-1].split("-")[-1] == str(n - 1):
            parts[-1] = f"{parts[-1].split('-')[0]}-{n}"
        else:
            parts.append(str(n))
    return ",".join(parts + [t for t in tokens if not t.isdigit()])


def _names(names: tuple[str, ...]) -> str:
    return ",".join(_ABBR[n] for n in names)


def describe(trigger: model.Trigger) -> str:
    if isinstance(trigger, model.BootTrigger):
        return "at startup"
    assert trigger.start is not None and trigger.start.startswith("2000-01-03T")
    at = trigger.start[11:16]
    repetition = trigger.repetition
    if isinstance(trigger, model.TimeTrigger):
        assert repetition is not None and repetition.duration is None
        return f"time {at} every {repetition.interval.iso()}"
    assert isinstance(trigger, model.CalendarTrigger)
    schedule = trigger.schedule
    if isinstance(schedule, model.ByDay):
        assert schedule.interval == 1
        text = "daily"
    elif isinstance(schedule, model.ByWeek):
        assert schedule.interval == 1
        text = f"weekly {_names(schedule.days)}"
    elif isinstance(schedule, model.ByMonth):
        text = f"monthly {_runs(schedule.days)}"
    else:
        text = f"monthly week {','.join(schedule.weeks)} {_names(schedule.days)}"
    months = getattr(schedule, "months", model.MONTHS)
    if tuple(months) != model.MONTHS:
        text += f" in {_names(months)}"
    text += f" {at}"
    if repetition is not None:
        assert repetition.duration is not None, "calendar windows are never endless"
        assert repetition.duration.seconds >= 2 * repetition.interval.seconds
        assert repetition.duration.seconds < 86400
        text += f" every {repetition.interval.iso()} for {repetition.duration.iso()}"
    return text


def described(expression: str) -> tuple[list[str], bool]:
    conversion = cron.convert(expression)
    return [describe(t) for t in conversion.triggers], conversion.may_overlap


WEEKDAYS_MON_FRI = "Mon,Tue,Wed,Thu,Fri"

CONVERSIONS: list[tuple[str, list[str], bool]] = [
    # The SPEC's example: one window, Duration counting both ends.
    ("*/15 9-17 * * 1-5", [f"weekly {WEEKDAYS_MON_FRI} 09:00 every PT15M for PT8H45M"], False),
    ("*/15 9-17 * * MON-FRI", [f"weekly {WEEKDAYS_MON_FRI} 09:00 every PT15M for PT8H45M"], False),
    # All day, every day, a fixed period: a TimeTrigger (no wait for the next midnight).
    ("*/10 * * * *", ["time 00:00 every PT10M"], False),
    ("* * * * *", ["time 00:00 every PT1M"], False),
    ("0-59 * * * *", ["time 00:00 every PT1M"], False),
    ("5/15 * * * *", ["time 00:05 every PT15M"], False),
    ("7 * * * *", ["time 00:07 every PT1H"], False),
    ("@hourly", ["time 00:00 every PT1H"], False),
    # A period that does not divide an hour would drift an hour after a daylight saving
    # change if Windows steps repetitions in elapsed time: fixed daily times instead.
    ("0 */2 * * *", [f"daily {h:02d}:00" for h in range(0, 24, 2)], False),
    ("0 1-23/2 * * *", [f"daily {h:02d}:00" for h in range(1, 24, 2)], False),
    ("*/30 */2 * * *", [f"daily {h:02d}:{m:02d}" for h in range(0, 24, 2) for m in (0, 30)], False),
    ("15 */6 * * *", ["daily 00:15", "daily 06:15", "daily 12:15", "daily 18:15"], False),
    # ... or, past 48 triggers, daily windows cut where clocks change.
    ("*/10 */2 * * *", [f"daily {h:02d}:{m:02d}" for h in (0, 2) for m in range(0, 60, 10)]
     + [f"daily 04:{m:02d} every PT2H for PT18H" for m in range(0, 60, 10)], False),
    # */7 restarts at :00 every hour: one column per minute, never a drifting PT7M.
    ("*/7 * * * *", [f"time 00:{m:02d} every PT1H" for m in range(0, 60, 7)], False),
    ("*/7 9-17 * * *", [f"daily {h:02d}:00 every PT7M for PT56M" for h in range(9, 18)], False),
    ("20,30,40,50 * * * *", ["time 00:20 every PT30M", "time 00:30 every PT1H",
                             "time 00:40 every PT1H"], False),
    # Hours merged into one window wherever exact.
    ("30 9-17 * * *", ["daily 09:30 every PT1H for PT8H"], False),
    ("0,30 9-10 * * *", ["daily 09:00 every PT30M for PT1H30M"], False),
    ("30 8-23/3 * * *", ["daily 08:30 every PT3H for PT15H"], False),
    # A window is cut at 01:00, 02:00, 03:00 and 04:00, where clocks change.
    ("0 0,6,12,18 * * 1-5", [f"weekly {WEEKDAYS_MON_FRI} 00:00", f"weekly {WEEKDAYS_MON_FRI} 06:00 every PT6H for PT12H"],
     False),
    ("0 0-6 * * *", ["daily 00:00", "daily 01:00", "daily 02:00", "daily 03:00", "daily 04:00 every PT1H for PT2H"], False),
    ("25 0,6-23 * * *", ["daily 00:25", "daily 06:25 every PT1H for PT17H"], False),
    ("*/5 * * * 1-5", [f"weekly {WEEKDAYS_MON_FRI} {h:02d}:00 every PT5M for PT55M" for h in range(4)]
     + [f"weekly {WEEKDAYS_MON_FRI} 04:00 every PT5M for PT19H55M"], False),
    ("* 0-4,22-23 * * 1-5", [f"weekly {WEEKDAYS_MON_FRI} {h:02d}:00 every PT1M for PT59M" for h in range(5)]
     + [f"weekly {WEEKDAYS_MON_FRI} 22:00 every PT1M for PT1H59M"], False),
    # Windows never wrap midnight (exact from the first minute of start_date).
    ("0 22-23,0-5 * * *", [f"daily {h:02d}:00" for h in (0, 1, 2, 3, 4, 5, 22, 23)], False),
    # Two fires would need Duration == Interval: two plain triggers instead.
    ("0 9,17 * * *", ["daily 09:00", "daily 17:00"], False),
    ("0,30 9 * * *", ["daily 09:00", "daily 09:30"], False),
    # Days.
    ("0 9 * * *", ["daily 09:00"], False),
    ("@daily", ["daily 00:00"], False),
    ("@midnight", ["daily 00:00"], False),
    ("@weekly", ["weekly Sun 00:00"], False),
    ("@monthly", ["monthly 1 00:00"], False),
    ("@yearly", ["monthly 1 in Jan 00:00"], False),
    ("@annually", ["monthly 1 in Jan 00:00"], False),
    ("@reboot", ["at startup"], False),
    ("0 9 * * 0", ["weekly Sun 09:00"], False),
    ("0 9 * * 7", ["weekly Sun 09:00"], False),
    ("0 9 * * 5-7", ["weekly Fri,Sat,Sun 09:00"], False),
    ("0 9 * * 5/1", ["weekly Fri,Sat,Sun 09:00"], False),  # a/s runs to 7 (Sunday)
    ("0 9 * * */2", ["weekly Tue,Thu,Sat,Sun 09:00"], False),
    ("0 9 * * mon,Wed,FRI", ["weekly Mon,Wed,Fri 09:00"], False),
    ("0 0 */2 * *", ["monthly 1,3,5,7,9,11,13,15,17,19,21,23,25,27,29,31 00:00"], False),
    ("0 0 L * *", ["monthly Last 00:00"], False),
    ("0 0 1,15,L * *", ["monthly 1,15,Last 00:00"], False),
    ("0 0 31 * *", ["monthly 31 in Jan,Mar,May,Jul,Aug,Oct,Dec 00:00"], False),
    ("0 0 29 2 *", ["monthly 29 in Feb 00:00"], False),
    ("0 0 * jan,JUL *", ["monthly 1-31 in Jan,Jul 00:00"], False),
    ("0 0 1 */3 *", ["monthly 1 in Jan,Apr,Jul,Oct 00:00"], False),
    ("0 9 * * 1#2", ["monthly week 2 Mon 09:00"], False),
    ("0 9 * * 5L", ["monthly week Last Fri 09:00"], False),
    ("0 9 * * FRIL", ["monthly week Last Fri 09:00"], False),
    ("0 9 * * MON#1,MON#3,FRI#1,FRI#3", ["monthly week 1,3 Mon,Fri 09:00"], False),
    ("0 9 * * 1#4,1L", ["monthly week 4,Last Mon 09:00"], False),
    ("0 9 * * 1-5,0#1", [f"weekly {WEEKDAYS_MON_FRI} 09:00", "monthly week 1 Sun 09:00"], False),
    ("0 9 * 12 5L", ["monthly week Last Fri in Dec 09:00"], False),
    ("0 9 * 1-3 1-5", [f"monthly week 1,2,3,4,Last {WEEKDAYS_MON_FRI} in Jan,Feb,Mar 09:00"], False),
    # Both day fields restricted: OR, two patterns that can meet on one day.
    ("30 05 01-07 * 1", ["monthly 1-7 05:30", "weekly Mon 05:30"], True),
    ("0 0 13 * 5", ["monthly 13 00:00", "weekly Fri 00:00"], True),
    ("8 8 8 8 5", ["monthly 8 in Aug 08:08", "monthly week 1,2,3,4,Last Fri in Aug 08:08"], True),
    ("0 0 15 * 1#2", ["monthly 15 00:00", "monthly week 2 Mon 00:00"], False),  # never the same day
    ("0 0 10 * 1#2", ["monthly 10 00:00", "monthly week 2 Mon 00:00"], True),
    ("0 0 1-31 * 1", ["daily 00:00"], False),  # the day of month covers every day
    # A field starting with '*' makes an AND; expressible when it is whole weeks.
    ("5 12 */100,1-7 * 1", ["monthly week 1 Mon 12:05"], False),  # the first Monday
    ("0 0 1-7 * */2", ["monthly week 1 Tue,Thu,Sat,Sun 00:00"], False),
    ("0 0 22-31 * */3", ["monthly week 4,Last Wed,Sat,Sun 00:00"], False),
    ("0 0 */1 * 1", ["weekly Mon 00:00"], False),
    ("0 0 */2 * */1", ["monthly 1,3,5,7,9,11,13,15,17,19,21,23,25,27,29,31 00:00"], False),
    # Equal ranges are single values (croniter reads them as the whole cycle).
    ("30-30 * * * *", ["time 00:30 every PT1H"], False),
    ("0 9-9 * * MON-MON", ["weekly Mon 09:00"], False),
    ("17 23-23/24 * * *", ["daily 23:17"], False),
    # Odd but valid crontab.
    ("0 */45 * * *", ["daily 00:00"], False),
    ("* * * * */10", [f"weekly Sun {h:02d}:00 every PT1M for PT59M" for h in range(4)]
     + ["weekly Sun 04:00 every PT1M for PT19H59M"], False),
    ("  0   9  *  *  1  ", ["weekly Mon 09:00"], False),
]


@pytest.mark.parametrize("expression, expected, overlap", CONVERSIONS,
                         ids=[c[0] for c in CONVERSIONS])
def test_conversion(expression: str, expected: list[str], overlap: bool) -> None:
    assert described(expression) == (expected, overlap)


REFUSALS: list[tuple[str, str]] = [
    ("0 0 0 * * *", "six fields: seconds are not supported"),
    ("0 */5 * * * *", "six fields: seconds are not supported"),
    ("0 12 * * ? *", "six fields: seconds are not supported"),
    ("0 0 12 * * ? 2030", "seven fields: seconds and years are not supported"),
    ("* * * *", "4 fields: write five"),
    ("", "empty expression"),
    ("0 0 * * 1#5", "a 5th Monday does not exist every month"),
    ("* * 1-28 * SUN#5", "a 5th Sunday does not exist every month"),
    ("0 0 * * 1#0", "week 0 in '1#0' is out of range (1-4)"),
    ("0 0 30 2 *", "never fires: February has no day 30"),
    ("0 0 30 FEB *", "never fires: February has no day 30"),
    ("0 0 31 4,6 *", "never fires: April and June have no day 31"),
    ("0 0 30 2 */2", "never fires: February has no day 30"),
    ("0 0 */20 * 1#2", "never fires: no date matches both"),
    ("0 0 */2 * 1", "Task Scheduler cannot express"),
    ("0 0 1 * */2", "Task Scheduler cannot express"),
    ("0 0 L * */2", "Task Scheduler cannot express"),
    ("0 0 15W * *", "'W' (nearest weekday) is not supported"),
    ("0 0 LW * *", "'W' (nearest weekday) is not supported"),
    ("H 3 * * *", "Jenkins' hashed 'H'"),
    ("0 H/2 * * *", "Jenkins' hashed 'H'"),
    ("0 0 ? * MON", "'?' is Quartz syntax, not crontab: write * instead"),
    ("@every 5m", "@every is not crontab syntax"),
    ("@often", "unknown macro"),
    ("CRON_TZ=UTC 0 3 * * *", "time zone prefixes are not supported"),
    ("0 22-2 * * *", "reversed range 22-2 in the hour field"),
    ("0 0 * * 5-0", "write 5-7: 7 is Sunday"),
    ("0 0 * * FRI-SUN", "reversed range FRI-SUN"),
    ("60 * * * *", "60 is out of range for the minute field (0-59)"),
    ("0 24 * * *", "24 is out of range for the hour field (0-23)"),
    ("0 0 0 * *", "0 is out of range for the day-of-month field (1-31)"),
    ("0 0 32 * *", "32 is out of range for the day-of-month field (1-31)"),
    ("0 0 * 13 *", "13 is out of range for the month field (1-12)"),
    ("0 0 * * 8", "8 is out of range for the day-of-week field (0-7)"),
    ("*/0 * * * *", "step 0 in '*/0' in the minute field"),
    ("0 0 L-2 * *", "only a plain L (the last day of the month)"),
    ("0 0 * * L", "'L' alone in the day-of-week field is ambiguous"),
    ("0 0 * * L5", "write the last Friday of the month as 5L"),
    ("0 L * * *", "'L' is only valid in the day-of-month and day-of-week fields"),
    ("0 0 1#2 * *", "'#' is only valid in the day-of-week field"),
    ("0 0 * * 1-5#2", "cannot read '1-5#2' in the day-of-week field"),
    ("1,,2 * * * *", "empty item in the minute field"),
    ("0 MON * * *", "names are for months (JAN-DEC) and days of the week (SUN-SAT)"),
    ("0 0 * * MONDAY", "cannot read 'MONDAY' in the day-of-week field"),
    ("* 2- * * *", "cannot read '2-' in the hour field"),
    ("* -1 * * *", "cannot read '-1' in the hour field"),
    ("1-49/1 * 1 * 1#1,2#2", "needs 72 triggers (3 day patterns x 24 time windows), "
                             "Task Scheduler allows 48: split it into two tasks"),
]


@pytest.mark.parametrize("expression, reason", REFUSALS, ids=[r[0] or "empty" for r in REFUSALS])
def test_refusal(expression: str, reason: str) -> None:
    with pytest.raises(cron.CronError) as caught:
        cron.convert(expression)
    message = str(caught.value)
    assert reason in message
    assert "\n" not in message
    assert isinstance(caught.value, ReconcileError)


def test_a_refusal_is_the_cause_and_a_way_out() -> None:
    # The manifest compiler prefixes the expression and its position.
    with pytest.raises(cron.CronError) as caught:
        cron.convert("0 0 * * 1#5")
    assert str(caught.value) == (
        "a 5th Monday does not exist every month and Task Scheduler has no 5th week: "
        "use 1L for the last Monday")


def test_start_date_sets_the_date_of_every_start_boundary() -> None:
    conversion = cron.convert("*/15 9-17 * * 1-5", start_date=datetime.date(2026, 5, 1))
    assert [t.start for t in conversion.triggers] == ["2026-05-01T09:00:00"]
    conversion = cron.convert("*/10 * * * *", start_date=datetime.date(2026, 5, 1))
    assert [t.start for t in conversion.triggers] == ["2026-05-01T00:00:00"]


def test_triggers_leave_user_options_at_their_defaults() -> None:
    for expression in ("*/15 9-17 * * 1-5", "*/10 * * * *", "30 05 01-07 * 1", "@reboot"):
        for trigger in cron.convert(expression).triggers:
            assert trigger.enabled is True
            assert trigger.end is None and trigger.time_limit is None
            assert getattr(trigger, "random_delay", None) is None
            assert getattr(trigger, "delay", None) is None


def test_at_most_48_triggers() -> None:
    conversion = cron.convert("1-49/1 * 1,15 * 1-5")  # 2 day patterns x 24 windows
    assert len(conversion.triggers) == 48
    assert conversion.may_overlap


# --- where croniter 7.0.0 differs from crontab(5) -----------------------------------------

START = datetime.datetime(2027, 3, 1)


def _croniter_next(expression: str, count: int = 3, **options: bool) -> list[datetime.datetime]:
    it = croniter(expression, START, **options)
    return [it.get_next(datetime.datetime) for _ in range(count)]


def test_croniter_differs_equal_range_is_the_whole_cycle() -> None:
    # croniter 6.3+/7.0 reads 30-30 as every minute; crontab(5) reads minute 30 only.
    assert _croniter_next("30-30 * * * *")[:2] == [datetime.datetime(2027, 3, 1, 0, 1),
                                                   datetime.datetime(2027, 3, 1, 0, 2)]
    assert described("30-30 * * * *") == (["time 00:30 every PT1H"], False)
    # 23-23/24 is 23:17 for crontab, 00:17 for croniter.
    assert _croniter_next("17 23-23/24 * * *")[0].hour == 0
    assert described("17 23-23/24 * * *") == (["daily 23:17"], False)


def test_croniter_differs_star_led_day_field_is_ored_by_default() -> None:
    # Without implement_cron_bug croniter ORs */2 with Monday: odd days too.
    assert any(d.weekday() != 0 for d in _croniter_next("0 0 */2 * 1", 5))
    # With it, croniter agrees with crontab: Mondays that are odd days, which Task
    # Scheduler cannot express, so we refuse.
    assert all(d.weekday() == 0 and d.day % 2 == 1
               for d in _croniter_next("0 0 */2 * 1", 5, implement_cron_bug=True))
    with pytest.raises(cron.CronError, match="BOTH"):
        cron.convert("0 0 */2 * 1")


def test_croniter_differs_six_fields_are_seconds_last() -> None:
    # croniter silently reads a sixth field as seconds; crontab has five fields.
    assert croniter("0 */5 * * * *", START).get_next(datetime.datetime) is not None
    with pytest.raises(cron.CronError, match="six fields"):
        cron.convert("0 */5 * * * *")


def test_croniter_differs_reversed_ranges_wrap() -> None:
    hours = {d.hour for d in _croniter_next("0 22-2 * * *", 5)}
    assert hours == {22, 23, 0, 1, 2}
    with pytest.raises(cron.CronError, match="reversed range 22-2"):
        cron.convert("0 22-2 * * *")


def test_croniter_differs_step_from_a_weekday_stops_at_saturday() -> None:
    # crontab(5)'s day of week runs 0-7, so 5/1 is Friday, Saturday and Sunday.
    weekdays = {d.strftime("%a") for d in _croniter_next("0 0 * * 5/1", 6)}
    assert weekdays == {"Fri", "Sat"}
    assert described("0 0 * * 5/1") == (["weekly Fri,Sat,Sun 00:00"], False)


def test_croniter_differs_last_weekday_spelling() -> None:
    with pytest.raises(CroniterBadCronError):
        croniter("0 9 * * 5L", START)
    assert _croniter_next("0 9 * * L5", 1) == [datetime.datetime(2027, 3, 26, 9, 0)]
    assert described("0 9 * * 5L") == (["monthly week Last Fri 09:00"], False)


def test_croniter_differs_nth_weekday_in_a_list() -> None:
    with pytest.raises(CroniterBadCronError):
        croniter("0 9 * * 1#2,5", START)
    assert described("0 9 * * 1#2,5") == (["weekly Fri 09:00", "monthly week 2 Mon 09:00"], False)


def test_croniter_differs_nth_weekday_with_a_day_of_month() -> None:
    # croniter ANDs the 15th with the second Monday (and then finds no date); crontab's
    # rule ORs two restricted day fields, whatever their syntax.
    with pytest.raises(CroniterBadDateError):
        _croniter_next("0 0 15 * 1#2", 1, implement_cron_bug=True)
    assert described("0 0 15 * 1#2") == (["monthly 15 00:00", "monthly week 2 Mon 00:00"], False)


def test_croniter_differs_question_mark_and_w() -> None:
    assert croniter("0 0 ? * 1", START).get_next(datetime.datetime).weekday() == 0
    assert croniter("0 0 15W * *", START).get_next(datetime.datetime) is not None
    for expression in ("0 0 ? * 1", "0 0 15W * *"):
        with pytest.raises(cron.CronError):
            cron.convert(expression)
