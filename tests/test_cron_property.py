"""Property tests: for generated cron expressions, the triggers ``cron.convert`` produces,
rendered to XML and read back in canonical form, start the task at exactly the minutes
crontab(5) would, over two years that include 29 February 2028.

The reference is this module's own brute-force crontab(5) matcher, written separately
from reconciler/cron.py, and cross-checked against croniter 7.0.0 configured for Vixie
semantics (implement_cron_bug=True; equal ranges expanded by hand because croniter reads
``a-a`` as the whole cycle; ``a/s`` in day of week spelt ``a-7/s`` because croniter stops
at 6; ``5L`` spelt ``L5``). bench/cron_fidelity.py imports ``reference_minutes`` too.
"""
from __future__ import annotations

import calendar
import datetime
import re
from itertools import repeat

import pytest
from croniter import croniter
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from reconciler import cron, model, normalize, render, simulate

WINDOW = (datetime.datetime(2027, 6, 1), datetime.datetime(2029, 6, 1))  # holds 2028-02-29

# --- the reference: crontab(5) by brute force --------------------------------------------

_NAMES = {
    "month": {n: i for i, n in enumerate("JAN FEB MAR APR MAY JUN JUL AUG SEP OCT NOV DEC".split(), 1)},
    "dow": {n: i for i, n in enumerate("SUN MON TUE WED THU FRI SAT".split())},
}
_LIMITS = {"minute": (0, 59), "hour": (0, 23), "dom": (1, 31), "month": (1, 12), "dow": (0, 7)}
_MACROS = {"@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
           "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *",
           "@hourly": "0 * * * *"}


class ReferenceError_(Exception):
    """The reference does not read this expression (cron.py should refuse it too)."""


def _number(text: str, kind: str) -> int:
    text = text.upper()
    value = _NAMES.get(kind, {}).get(text)
    if value is None:
        if not text.isdigit():
            raise ReferenceError_(text)
        value = int(text)
    low, high = _LIMITS[kind]
    if not low <= value <= high:
        raise ReferenceError_(text)
    return value


def _field(text: str, kind: str) -> tuple[set[int], dict[str, set]]:
    """Values of one field, plus the extensions: L (dom), N#k and NL (dow)."""
    values: set[int] = set()
    extra: dict[str, set] = {"last": set(), "nth": set(), "lastw": set()}
    for item in text.split(","):
        upper = item.upper()
        if kind == "dom" and upper == "L":
            extra["last"].add(True)
            continue
        if kind == "dow" and "#" in upper:
            day, week = upper.split("#")
            if not week.isdigit() or not 1 <= int(week) <= 4:
                raise ReferenceError_(item)
            extra["nth"].add((_number(day, kind) % 7, int(week)))
            continue
        if kind == "dow" and upper.endswith("L") and len(upper) > 1:
            extra["lastw"].add(_number(upper[:-1], kind) % 7)
            continue
        base, _, step_text = upper.partition("/")
        step = 1
        if step_text:
            if not step_text.isdigit() or int(step_text) == 0:
                raise ReferenceError_(item)
            step = int(step_text)
        low, high = _LIMITS[kind]
        if base == "*":
            first, last = low, high
        elif "-" in base:
            a, b = base.split("-")
            first, last = _number(a, kind), _number(b, kind)
            if first > last:
                raise ReferenceError_(item)
        else:
            first = _number(base, kind)
            last = high if step_text else first
        values.update(range(first, last + 1, step))
    if kind == "dow":
        values = {v % 7 for v in values}
    return values, extra


class Reference:
    """crontab(5): a date matches when month matches and, if both day fields are
    restricted (neither starts with '*'), either day field matches, else both."""

    def __init__(self, expression: str) -> None:
        text = expression.strip()
        text = _MACROS.get(text.lower(), text)
        fields = text.split()
        if len(fields) != 5:
            raise ReferenceError_(expression)
        self.minutes, _ = _field(fields[0], "minute")
        self.hours, _ = _field(fields[1], "hour")
        self.days, dom_extra = _field(fields[2], "dom")
        self.last_day = bool(dom_extra["last"])
        self.months, _ = _field(fields[3], "month")
        self.weekdays, dow_extra = _field(fields[4], "dow")
        self.nth = dow_extra["nth"]
        self.last_weekdays = dow_extra["lastw"]
        self.both = not (fields[2].startswith("*") or fields[4].startswith("*"))
        self.times = sorted(h * 60 + m for h in self.hours for m in self.minutes)

    def day_matches(self, date: datetime.date) -> bool:
        if date.month not in self.months:
            return False
        length = calendar.monthrange(date.year, date.month)[1]
        cron_weekday = (date.weekday() + 1) % 7  # Sunday 0
        dom = date.day in self.days or (self.last_day and date.day == length)
        dow = (cron_weekday in self.weekdays
               or (cron_weekday, (date.day - 1) // 7 + 1) in self.nth
               or (cron_weekday in self.last_weekdays and date.day > length - 7))
        return (dom or dow) if self.both else (dom and dow)


_EPOCH = datetime.datetime(1970, 1, 1)


def reference_minutes(expression: str, start: datetime.datetime,
                      end: datetime.datetime) -> list[datetime.datetime]:
    """Every minute in [start, end) (whole days) at which crontab(5) runs the job."""
    reference = Reference(expression)
    out: list[int] = []
    day = start.date()
    while day < end.date():
        if reference.day_matches(day):
            base = (datetime.datetime.combine(day, datetime.time()) - _EPOCH).days * 1440
            out.extend(base + t for t in reference.times)
        day += datetime.timedelta(days=1)
    return list(map(_EPOCH.__add__, map(datetime.timedelta, repeat(0), repeat(0), repeat(0),
                                        repeat(0), out)))


def reference_first(expression: str, start: datetime.datetime, count: int,
                    days: int = 3 * 366) -> list[datetime.datetime]:
    """The first ``count`` minutes at or after ``start`` (looking ``days`` ahead)."""
    found: list[datetime.datetime] = []
    day = start.date()
    while len(found) < count and day < start.date() + datetime.timedelta(days=days):
        following = day + datetime.timedelta(days=1)
        found += [t for t in reference_minutes(expression, datetime.datetime.combine(day, datetime.time()),
                                               datetime.datetime.combine(following, datetime.time()))
                  if t >= start]
        day = following
    return found[:count]


def croniter_spelling(expression: str) -> str | None:
    """The expression as croniter 7.0.0 reads crontab(5), or None where it cannot."""
    text = _MACROS.get(expression.strip().lower(), expression.strip())
    fields = text.split()
    if len(fields) != 5:
        return None
    for index, kind in ((3, "month"), (4, "dow")):  # names to numbers, so 0-SUN is seen equal
        fields[index] = re.sub(r"[A-Za-z]{3}", lambda m: str(_NAMES[kind].get(m.group().upper(), m.group())),
                               fields[index])
    dom = fields[2].upper().split(",")
    if "L" in dom and any("/" in d for d in dom) and any("-" in d and "/" not in d for d in dom):
        # croniter 7.0.0 fires on a day none of the items names: `*/2,L,3-30` fires on
        # the 2nd (found by hypothesis; `*/2,L` and `L,3-30` alone are read right).
        return None
    dow = fields[4].split(",")
    special = [d for d in dow if "#" in d or d.upper().endswith("L")]
    if special and len(dow) > 1:
        return None  # croniter cannot mix N#k with other values
    if special and not fields[2].startswith("*"):
        return None  # croniter ANDs a restricted day of month with N#k / NL; crontab ORs
    fixed = []
    for item in dow:
        upper = item.upper()
        if upper.endswith("L") and len(upper) > 1:
            item = "L" + upper[:-1]
        elif re.fullmatch(r"\w+/\d+", item):
            item = item.replace("/", "-7/", 1)  # crontab(5): a/s runs to 7
        fixed.append(item)
    fields[4] = ",".join(fixed)
    equal = re.compile(r"\b(\w+)-\1(?:/\d+)?\b")
    fields = [equal.sub(r"\1", f) for f in fields]  # croniter: a-a is the whole cycle
    return " ".join(fields)


def croniter_minutes(expression: str, start: datetime.datetime, count: int) -> list[datetime.datetime]:
    spelling = croniter_spelling(expression)
    assert spelling is not None
    it = croniter(spelling, start - datetime.timedelta(minutes=1), implement_cron_bug=True)
    return [it.get_next(datetime.datetime) for _ in range(count)]


# --- the path under test ----------------------------------------------------------------

def rendered_triggers(conversion: cron.Conversion) -> list[dict]:
    spec = model.TaskSpec(
        path="\\Orchestrator\\cron", name="cron", folder=(), description=None,
        triggers=conversion.triggers, actions=(model.ExecAction(command="C:\\job.exe"),),
        principal=model.Principal(user_id="SYSTEM"),
    )
    return normalize.canonical(render.render(spec, "\\Orchestrator\\").xml)["Triggers"]


REFUSALS = ("needs ", "Task Scheduler cannot express", "never fires")

# --- generators ---------------------------------------------------------------------------


def _item(low: int, high: int, names: list[str] | None = None) -> st.SearchStrategy[str]:
    def value(v: int) -> st.SearchStrategy[str]:
        options = [st.just(str(v))]
        if names is not None and 0 <= v - low < len(names):
            name = names[v - low]
            options.append(st.sampled_from([name, name.lower(), name.capitalize()]))
        return st.one_of(options)

    number = st.integers(low, high)
    step = st.integers(1, high - low + 2)
    single = number.flatmap(value)
    ranged = st.tuples(number, number).map(sorted).flatmap(
        lambda ab: st.tuples(value(ab[0]), value(ab[1])).map(lambda t: f"{t[0]}-{t[1]}"))
    equal = number.flatmap(lambda v: value(v).map(lambda s: f"{s}-{s}"))
    return st.one_of(
        single, ranged, equal,
        st.tuples(ranged, step).map(lambda t: f"{t[0]}/{t[1]}"),
        st.tuples(single, step).map(lambda t: f"{t[0]}/{t[1]}"),
    )


def _field_strategy(low: int, high: int, extras: list[st.SearchStrategy[str]] | None = None,
                    names: list[str] | None = None, stars: int = 2) -> st.SearchStrategy[str]:
    item = st.one_of(_item(low, high, names), *(extras or []))
    star = st.one_of(st.just("*"), st.integers(1, high - low + 2).map(lambda s: f"*/{s}"))
    listed = st.lists(item, min_size=1, max_size=4).map(",".join)
    star_list = st.tuples(star, listed).map(lambda t: f"{t[0]},{t[1]}")  # starts with '*'
    # ``stars`` weighs the '*'-led forms: every-minute schedules are a million fires in
    # two years, so the minute field draws them less often (they still come up).
    return st.one_of(*[star] * stars, listed, listed, item, star_list)


_DAY_NAMES = "SUN MON TUE WED THU FRI SAT".split()
MINUTE = st.one_of(_field_strategy(0, 59, stars=1), st.sampled_from(["0", "30", "*/15", "5/10", "*/7"]))
HOUR = st.one_of(_field_strategy(0, 23), st.sampled_from(["9-17", "*/2", "0", "22-23"]))
DOM = _field_strategy(1, 31, extras=[st.just("L"), st.just("l")])
MONTH = _field_strategy(1, 12, names="JAN FEB MAR APR MAY JUN JUL AUG SEP OCT NOV DEC".split())
DOW = _field_strategy(0, 7, names=_DAY_NAMES, extras=[
    st.tuples(st.integers(0, 7), st.integers(1, 4)).map(lambda t: f"{t[0]}#{t[1]}"),
    st.tuples(st.sampled_from(_DAY_NAMES), st.integers(1, 4)).map(lambda t: f"{t[0]}#{t[1]}"),
    st.integers(0, 7).map(lambda d: f"{d}L"),
])
MACRO = st.sampled_from(["@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight",
                         "@hourly"])
EXPRESSION = st.one_of(
    st.tuples(MINUTE, HOUR, DOM, MONTH, DOW).map(" ".join),
    st.tuples(MINUTE, HOUR, st.just("*"), st.just("*"), DOW).map(" ".join),
    st.tuples(MINUTE, HOUR, DOM, st.just("*"), st.just("*")).map(" ".join),
    MACRO,
)


def _check_refusal(expression: str, error: cron.CronError) -> None:
    message = str(error)
    assert "\n" not in message
    assert any(reason in message for reason in REFUSALS), message
    if "never fires" in message:
        reference = Reference(expression)
        day = datetime.date(2001, 1, 1)  # 28 years: every weekday on every date shape
        while day < datetime.date(2029, 1, 1):
            assert not reference.day_matches(day), (expression, day)
            day += datetime.timedelta(days=1)
    if "needs " in message:
        assert int(re.search(r"needs (\d+)", message).group(1)) > cron.MAX_TRIGGERS


@pytest.mark.slow
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(EXPRESSION)
def test_rendered_triggers_fire_exactly_when_cron_does(expression: str) -> None:
    try:
        conversion = cron.convert(expression)
    except cron.CronError as error:
        _check_refusal(expression, error)
        return
    triggers = rendered_triggers(conversion)
    assert len(triggers) <= cron.MAX_TRIGGERS
    fired = simulate.fire_times(triggers, *WINDOW)
    assert fired == reference_minutes(expression, *WINDOW), expression
    if not conversion.may_overlap and len(triggers) > 1:
        total = sum(len(simulate.fire_times([t], *WINDOW)) for t in triggers)
        assert total == len(fired), f"{expression}: triggers overlap but may_overlap is False"


@pytest.mark.slow
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(EXPRESSION, st.integers(0, 3000))
def test_exact_from_the_first_minute_of_start_date(expression: str, offset: int) -> None:
    start_date = datetime.date(2026, 1, 1) + datetime.timedelta(days=offset)
    try:
        conversion = cron.convert(expression, start_date=start_date)
    except cron.CronError:
        return
    start = datetime.datetime.combine(start_date, datetime.time())
    # From a day before start_date: nothing may fire before it.
    window = (start - datetime.timedelta(days=1), start + datetime.timedelta(days=200))
    fired = simulate.fire_times(rendered_triggers(conversion), *window)
    assert fired == reference_minutes(expression, start, window[1]), expression


@pytest.mark.slow
@settings(max_examples=150, deadline=None)
@given(EXPRESSION, st.datetimes(datetime.datetime(2027, 1, 1), datetime.datetime(2029, 1, 1)))
def test_reference_agrees_with_croniter(expression: str, start: datetime.datetime) -> None:
    """The two oracles agree wherever croniter can spell the expression."""
    start = start.replace(second=0, microsecond=0)
    try:
        Reference(expression)
    except ReferenceError_:
        return
    spelling = croniter_spelling(expression)
    assume(spelling is not None)
    ours = reference_first(expression, start, 40)
    if not ours:
        return  # rare dates (29 February on a Monday): croniter searches for decades
    assert croniter_minutes(expression, start, len(ours)) == ours, (expression, spelling)


@pytest.mark.parametrize("expression", ["*/5 * * * *", "*/15 9-17 * * 1-5", "0 0 29 2 *",
                                        "30 05 01-07 * 1", "5 12 */100,1-7 * 1", "*/7 * * * *",
                                        "0 9 * * 1#2,5L", "0 22-23,0-5 * * *"])
def test_known_expressions_over_two_years(expression: str) -> None:
    triggers = rendered_triggers(cron.convert(expression))
    assert simulate.fire_times(triggers, *WINDOW) == reference_minutes(expression, *WINDOW)
