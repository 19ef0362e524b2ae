from __future__ import annotations

import pytest

from reconciler import durations
from reconciler.durations import Duration


@pytest.mark.parametrize("text, seconds", [
    ("90s", 90), ("15m", 900), ("1h30m", 5400), ("2d", 172800), ("1d2h3m4s", 93784),
    ("PT15M", 900), ("pt15m", 900), ("P1D", 86400), ("PT24H", 86400), ("P1W", 604800),
    ("PT12M0S", 720), ("PT720S", 720), ("P1DT2H47M", 96420),
])
def test_parse(text: str, seconds: int) -> None:
    assert durations.parse(text) == Duration(seconds=seconds)


@pytest.mark.parametrize("text", ["", "15", "m", "1x", "-PT1M", "P", "PT", "1.5h", "PT1.5S", "h1"])
def test_parse_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        durations.parse(text)


@pytest.mark.parametrize("iso, canonical", [
    ("PT12M", "PT12M"), ("PT12M0S", "PT12M"), ("PT720S", "PT12M"), ("PT60M", "PT1H"),
    ("PT24H", "P1D"), ("P1DT0H", "P1D"), ("PT0S", "PT0S"), ("PT0M", "PT0S"), ("P1M", "P1M"),
    ("P2M", "P2M"), ("P1Y", "P1Y"), ("P41DT16H", "P41DT16H"), ("PT25200S", "PT7H"),
])
def test_canonical_iso(iso: str, canonical: str) -> None:
    assert durations.canonical_iso(iso) == canonical


def test_short_round_trip() -> None:
    for seconds in (0, 1, 59, 60, 61, 3600, 5400, 86400, 90061):
        value = Duration(seconds=seconds)
        assert durations.parse(value.short()) == value
        assert durations.parse(value.iso()) == value
