"""Dates and times as people in the district read them (pages, emails, reports)."""

from __future__ import annotations

from datetime import date, datetime, tzinfo


def ru_date(value: date | datetime | None) -> str:
    """14.09.2022; empty for None. A stored instant (an aware datetime) is refused: its
    day depends on the time zone, so show it with `local_day` in district time."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        raise ValueError(
            f"ru_date got the instant {value.isoformat()}: use local_day(moment, tz) so that "
            "it shows the district's day"
        )
    return "" if value is None else value.strftime("%d.%m.%Y")


def local_time(moment: datetime | None, tz: tzinfo) -> str:
    """A stored instant as the local date and time, 14.09.2022 14:05; empty for None."""
    return "" if moment is None else moment.astimezone(tz).strftime("%d.%m.%Y %H:%M")


def local_day(moment: datetime | None, tz: tzinfo) -> str:
    """A stored instant as the district's calendar day, 15.09.2022 (never the UTC day:
    00:30 in Moscow is the evening before in UTC); empty for None."""
    return "" if moment is None else moment.astimezone(tz).strftime("%d.%m.%Y")


def local_date(now: datetime, tz: tzinfo) -> date:
    """The local calendar day of an aware instant."""
    if now.tzinfo is None:
        raise ValueError("local_date needs an aware datetime")
    return now.astimezone(tz).date()
