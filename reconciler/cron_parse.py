"""Reading a cron expression (crontab(5), Vixie) into its five fields, or the clearest
reason it is not crontab syntax (Quartz, Jenkins and other dialects are named)."""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

from .errors import ReconcileError
from .model import MONTHS, WEEKDAYS


class CronError(ReconcileError):
    """A cron expression that is refused; ``str(err)`` is one line, the cause and a way
    out, without the expression (the caller quotes it with its file and line)."""


DAY_NAMES = WEEKDAYS[-1:] + WEEKDAYS[:-1]  # in cron's numbering: Sunday is 0
_MONTH_NAMES = {name[:3].upper(): i for i, name in enumerate(MONTHS, 1)}
_DOW_NAMES = {name[:3].upper(): i for i, name in enumerate(DAY_NAMES)}

MACROS = {
    "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}


@dataclass(frozen=True)
class _Field:
    name: str
    low: int
    high: int
    names: dict[str, int]

    @property
    def value_pattern(self) -> str:
        return "|".join([r"\d+", *self.names])


_MINUTE = _Field("minute", 0, 59, {})
_HOUR = _Field("hour", 0, 23, {})
_DOM = _Field("day-of-month", 1, 31, {})
_MONTH = _Field("month", 1, 12, _MONTH_NAMES)
_DOW = _Field("day-of-week", 0, 7, _DOW_NAMES)  # crontab(5): 0-7, 0 and 7 are Sunday


@dataclass(frozen=True)
class Cron:
    """The five fields as read: sets of values, and the day fields' extensions."""

    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]  # 1..31
    last_day: bool  # L
    day_star: bool  # the field's text starts with '*'
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday .. 6
    nth: frozenset[tuple[int, int]]  # (weekday, k): N#k
    last_weekdays: frozenset[int]  # NL
    weekday_star: bool


@dataclass
class _Items:
    """One field as read: plain values, plus L (day of month), N#k and NL (day of week)."""

    values: set[int] = dataclasses.field(default_factory=set)
    last: bool = False
    nth: set[tuple[int, int]] = dataclasses.field(default_factory=set)
    last_weekdays: set[int] = dataclasses.field(default_factory=set)


def _value(token: str, field: _Field) -> int:
    if len(token) > 6:  # no field value has more digits; a long one is only echoed short
        raise CronError(f"{token[:6]}… is out of range for the {field.name} field "
                        f"({field.low}-{field.high})")
    number = field.names[token] if token in field.names else int(token)
    if not field.low <= number <= field.high:
        raise CronError(f"{token} is out of range for the {field.name} field "
                                 f"({field.low}-{field.high})")
    return number


def _diagnose(item: str, field: _Field) -> CronError:
    """The clearest reason an item is not crontab(5) syntax."""
    upper = item.upper()
    if "?" in upper:
        return CronError("'?' is Quartz syntax, not crontab: write * instead")
    if upper.startswith("H") and upper[:3] not in field.names:
        return CronError(f"'{item}' in the {field.name} field is Jenkins' hashed 'H', "
                                  "which is not supported: choose a fixed value")
    if "W" in upper and not any(name in upper for name in field.names):
        return CronError(f"'{item}': 'W' (nearest weekday) is not supported, Task "
                                  "Scheduler cannot express it: name the days instead")
    if "#" in upper and field is not _DOW:
        return CronError(f"'{item}': '#' is only valid in the day-of-week field")
    if "L" in upper and not any(name in upper for name in field.names):
        if field is _DOM:
            return CronError(f"'{item}': only a plain L (the last day of the month) "
                                      "is supported in the day-of-month field")
        if field is _DOW:
            if upper == "L":
                return CronError("'L' alone in the day-of-week field is ambiguous: "
                                          "write 5L for the last Friday, or 6 for Saturday")
            number = re.fullmatch(r"L([0-7])", upper)
            if number:
                weekday = int(number.group(1)) % 7
                return CronError(f"'{item}': write the last {DAY_NAMES[weekday]} of the "
                                          f"month as {number.group(1)}L")
            return CronError(f"cannot read '{item}' in the day-of-week field: the last "
                                      "Friday of the month is 5L")
        return CronError(f"'{item}': 'L' is only valid in the day-of-month and "
                                  "day-of-week fields")
    if re.search(r"[A-Z]{3}", upper) and not field.names:
        return CronError(f"cannot read '{item}' in the {field.name} field: names "
                                  "are for months (JAN-DEC) and days of the week (SUN-SAT)")
    shown = item if len(item) <= 40 else item[:36] + "…"
    return CronError(f"cannot read '{shown}' in the {field.name} field")


def _items(text: str, field: _Field) -> _Items:
    out = _Items()
    for item in text.split(","):
        if not item:
            raise CronError(f"empty item in the {field.name} field (two commas, or a "
                            "comma at an end)")
        upper = item.upper()
        values = _range(item, upper, field)
        if values is not None:
            out.values.update(values)
        elif field is _DOM and upper == "L":
            out.last = True
        elif not (field is _DOW and _weekday_in_month(item, upper, out)):
            raise _diagnose(item, field)
    return out


def _range(item: str, upper: str, field: _Field) -> range | None:
    """``*``, ``a``, ``a-b``, each with an optional ``/step``; None for another form."""
    value = field.value_pattern
    star = re.fullmatch(r"\*(?:/(\d+))?", upper)
    ranged = re.fullmatch(rf"({value})(?:-({value}))?(?:/(\d+))?", upper)
    if star:
        low, high, step_text = field.low, field.high, star.group(1)
    elif ranged:
        low = _value(ranged.group(1), field)
        high = field.high if ranged.group(2) is None else _value(ranged.group(2), field)
        step_text = ranged.group(3)
        if ranged.group(2) is None and step_text is None:
            high = low
        if low > high:
            hint = f" (write {ranged.group(1)}-7: 7 is Sunday)" if field is _DOW and high == 0 else ""
            raise CronError(f"reversed range {item} in the {field.name} field: "
                            f"crontab does not wrap around{hint}; write it as two "
                            "ranges in a list")
    else:
        return None
    step = 1 if step_text is None else int(step_text)
    if step == 0:
        raise CronError(f"step 0 in '{item}' in the {field.name} field: a step "
                        "must be at least 1")
    return range(low, high + 1, step)


def _weekday_in_month(item: str, upper: str, out: _Items) -> bool:
    """``N#k`` (the k-th weekday N) and ``NL`` (the last one) into ``out``; False for
    another form."""
    value = _DOW.value_pattern
    nth = re.fullmatch(rf"({value})#(\d+)", upper)
    last = re.fullmatch(rf"({value})L", upper)
    if nth:
        weekday = _value(nth.group(1), _DOW) % 7
        week = int(nth.group(2))
        if week == 5:
            raise CronError(f"a 5th {DAY_NAMES[weekday]} does not exist every "
                            "month and Task Scheduler has no 5th week: use "
                            f"{weekday}L for the last {DAY_NAMES[weekday]}")
        if not 1 <= week <= 4:
            raise CronError(f"week {week} in '{item}' is out of range (1-4)")
        out.nth.add((weekday, week))
        return True
    if last:
        out.last_weekdays.add(_value(last.group(1), _DOW) % 7)
        return True
    return False


def parse(expression: str) -> Cron:
    """Five fields (macros already expanded), or CronError."""
    fields = expression.split()
    if len(fields) == 6:
        raise CronError("six fields: seconds are not supported; write the five "
                                 "crontab fields (minute hour day-of-month month day-of-week)")
    if len(fields) == 7:
        raise CronError("seven fields: seconds and years are not supported; write the "
                                 "five crontab fields (minute hour day-of-month month day-of-week)")
    if len(fields) != 5:
        raise CronError(f"{len(fields)} fields: write five (minute hour day-of-month "
                                 "month day-of-week)")
    minute, hour, dom, month, dow = (
        _items(text, field)
        for text, field in zip(fields, (_MINUTE, _HOUR, _DOM, _MONTH, _DOW))
    )
    return Cron(
        minutes=frozenset(minute.values), hours=frozenset(hour.values),
        days=frozenset(dom.values), last_day=dom.last, day_star=fields[2].startswith("*"),
        months=frozenset(month.values),
        weekdays=frozenset(v % 7 for v in dow.values), nth=frozenset(dow.nth),
        last_weekdays=frozenset(dow.last_weekdays), weekday_star=fields[4].startswith("*"),
    )
