"""Durations as the config writes them (`90s`, `15m`, `24h`, `7d`, `2w`) and cron lines.

    parse_duration("15m")                   # timedelta(minutes=15)
    format_duration(timedelta(hours=2))     # "2h"

Validators raise ValueError, so pydantic reports them as the key's error.
"""

from __future__ import annotations

from datetime import timedelta

DEFAULT_EVERY = "15m"  # how often sources with no schedule of their own are polled
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_SIZES = (("d", 86400), ("h", 3600), ("m", 60), ("s", 1))  # units `format_duration` writes


def parse_duration(value: str) -> timedelta:
    """`90s`, `15m`, `24h`, `7d` or `2w` as a timedelta; ValueError otherwise."""
    number, unit = value.strip()[:-1], value.strip()[-1:]
    if unit not in _UNITS or not number.isdigit():
        raise ValueError(f"{value!r} is not a duration like 30m, 24h or 7d")
    return timedelta(**{_UNITS[unit]: int(number)})


def check_every(value: str | None) -> str | None:
    """An interval like `90s`, `10m`, `2h` or `1d`, longer than zero; ValueError otherwise."""
    if value is not None:
        try:
            interval = parse_duration(value)
        except ValueError:
            interval = timedelta(0)
        if interval <= timedelta(0):
            raise ValueError("not an interval like 90s, 10m, 2h or 1d")
    return value


def check_cron(value: str | None) -> str | None:
    """A cron line as Prefect's scheduler reads it (`*/15 * * * *`, UTC); ValueError otherwise."""
    if value is not None:
        # Prefect's own validator, so a line accepted here is accepted by the server; imported
        # only when a config has a cron line, since importing Prefect takes a second.
        from prefect.client.schemas.schedules import CronSchedule

        try:
            CronSchedule(cron=value)
        except ValueError:
            message = 'not a cron line like "*/15 * * * *" (minute hour day month weekday)'
            raise ValueError(message) from None
    return value


def format_duration(interval: timedelta) -> str:
    """`10m`, `1h`, `90s`: the interval in the largest unit that divides it."""
    seconds = int(interval.total_seconds())
    unit, size = next((unit, size) for unit, size in _SIZES if seconds % size == 0)
    return f"{seconds // size}{unit}"
