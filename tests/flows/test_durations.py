"""Durations and cron lines as the config writes them."""

from __future__ import annotations

from datetime import timedelta

import pytest

from flows.durations import check_cron, check_every, format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "duration"),
    [
        ("90s", timedelta(seconds=90)),
        ("15m", timedelta(minutes=15)),
        (" 24h ", timedelta(hours=24)),
        ("7d", timedelta(days=7)),
        ("2w", timedelta(weeks=2)),
        ("0m", timedelta(0)),
    ],
)
def test_parse_duration(text: str, duration: timedelta) -> None:
    assert parse_duration(text) == duration


@pytest.mark.parametrize("text", ["", "m", "15", "15 m", "1.5h", "-5m", "15y", "fifteen minutes"])
def test_parse_duration_rejects_what_is_no_duration(text: str) -> None:
    with pytest.raises(ValueError, match="is not a duration like 30m"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("duration", "text"),
    [
        (timedelta(seconds=90), "90s"),
        (timedelta(minutes=10), "10m"),
        (timedelta(hours=1), "1h"),
        (timedelta(weeks=2), "14d"),
        (timedelta(minutes=90), "90m"),
    ],
)
def test_format_duration_writes_the_largest_unit_that_divides(
    duration: timedelta, text: str
) -> None:
    assert format_duration(duration) == text
    assert parse_duration(text) == duration


@pytest.mark.parametrize("text", ["0m", "0s", "soon", "15"])
def test_an_interval_must_be_a_duration_longer_than_zero(text: str) -> None:
    with pytest.raises(ValueError, match="not an interval like 90s"):
        check_every(text)


@pytest.mark.parametrize("line", ["*/15 * * * *", "0 6 * * 1-5"])
def test_cron_lines_prefect_accepts_pass(line: str) -> None:
    assert check_cron(line) == line


@pytest.mark.parametrize("line", ["every hour", "61 * * * *", "* * *"])
def test_cron_lines_prefect_refuses_are_errors(line: str) -> None:
    with pytest.raises(ValueError, match="not a cron line"):
        check_cron(line)


def test_unset_timings_pass_as_unset() -> None:
    assert check_every(None) is None
    assert check_cron(None) is None
