"""Durations: the manifest's short forms (``90s``, ``1h30m``), ISO 8601 as Task Scheduler
writes it (``PT1H30M``, ``P1D``), and one canonical spelling so that ``PT12M``,
``PT12M0S`` and ``PT720S`` compare equal."""
from __future__ import annotations

import re
from dataclasses import dataclass

_SHORT = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
_ISO = re.compile(
    r"^(-)?P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?"
    r"(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:[.,]\d+)?)S)?)?$"
)

SECOND = 1
MINUTE = 60
HOUR = 3600
DAY = 86400


@dataclass(frozen=True, order=True)
class Duration:
    """A length of time. Months and years stay symbolic: they have no fixed length."""

    months: int = 0
    seconds: int = 0

    def iso(self) -> str:
        """The canonical ISO 8601 spelling: largest units first, zero parts left out."""
        if self.months == 0 and self.seconds == 0:
            return "PT0S"
        out = "P"
        years, months = divmod(self.months, 12)
        if years:
            out += f"{years}Y"
        if months:
            out += f"{months}M"
        days, rest = divmod(self.seconds, DAY)
        hours, rest = divmod(rest, HOUR)
        minutes, seconds = divmod(rest, MINUTE)
        if days:
            out += f"{days}D"
        if hours or minutes or seconds:
            out += "T"
            if hours:
                out += f"{hours}H"
            if minutes:
                out += f"{minutes}M"
            if seconds:
                out += f"{seconds}S"
        return out

    def short(self) -> str:
        """The manifest's short spelling (``1h30m``); months fall back to ISO."""
        if self.months:
            return self.iso()
        if self.seconds == 0:
            return "0s"
        days, rest = divmod(self.seconds, DAY)
        hours, rest = divmod(rest, HOUR)
        minutes, seconds = divmod(rest, MINUTE)
        parts = [(days, "d"), (hours, "h"), (minutes, "m"), (seconds, "s")]
        return "".join(f"{n}{unit}" for n, unit in parts if n)


def parse_iso(text: str) -> Duration:
    """Parse an ISO 8601 duration as Task Scheduler accepts it. Raises ValueError."""
    match = _ISO.match(text.strip())
    if not match or text.strip() in ("P", "PT") or text.strip().endswith("T"):
        raise ValueError(f"not an ISO 8601 duration: {text!r}")
    negative, years, months, weeks, days, hours, minutes, seconds = match.groups()
    if negative:
        raise ValueError(f"negative duration: {text!r}")
    whole_seconds = float((seconds or "0").replace(",", "."))
    if whole_seconds != int(whole_seconds):
        # Task Scheduler has no sub-second resolution; keep the value exact or refuse.
        raise ValueError(f"fractional seconds are not supported: {text!r}")
    total = (
        int(weeks or 0) * 7 * DAY
        + int(days or 0) * DAY
        + int(hours or 0) * HOUR
        + int(minutes or 0) * MINUTE
        + int(whole_seconds)
    )
    return Duration(months=int(years or 0) * 12 + int(months or 0), seconds=total)


# The longest duration a manifest may give. Task Scheduler refuses huge values (it took
# P3650D and refused P99999999D, as reported in LowyShin/giip-dev-agent PR #64); ten
# years is the largest seen working.
MAX_MANIFEST = 3650 * DAY


def parse(text: str) -> Duration:
    """Parse a manifest duration: ``90s``, ``15m``, ``1h30m``, ``2d`` or ISO 8601, up to
    ten years."""
    value = str(text).strip()
    if len(value) > 40:
        raise ValueError(f"not a duration: {value[:20]!r}… is too long")
    duration = _parse(value, text)
    if duration.months * 31 * DAY + duration.seconds > MAX_MANIFEST:
        raise ValueError(f"{value!r} is longer than Task Scheduler accepts (at most 3650d, ten years)")
    return duration


def _parse(value: str, text: str) -> Duration:
    if value.upper().startswith("P"):
        return parse_iso(value.upper())
    match = _SHORT.match(value.lower())
    if not value or not match or not any(match.groups()):
        raise ValueError(
            f"not a duration: {text!r} (write e.g. 90s, 15m, 1h30m, 2d or PT15M)"
        )
    days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return Duration(seconds=days * DAY + hours * HOUR + minutes * MINUTE + seconds)


def canonical_iso(text: str) -> str:
    """The canonical spelling of an ISO duration read from task XML."""
    return parse_iso(text).iso()

