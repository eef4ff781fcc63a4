"""Prefect schedules derived from an item's parsed schedule (Europe/Moscow, 07:00)."""

from __future__ import annotations

from datetime import date, timedelta

from prefect.client.schemas.schedules import CronSchedule, RRuleSchedule
from prefect.schedules import Cron, RRule, Schedule

from domain.opening import item_schedule
from domain.roadmap import RoadmapItem

RUN_AT = "070000"  # openings run before the 09:00 chase that announces them
HORIZON_YEARS = 5


def opening_dates(item: RoadmapItem, *, roadmap_start: date, today: date) -> list[date]:
    """Dates on which the item's windows open, from `today` over the next few years."""
    if item.needs_dates:
        return []
    until = today + timedelta(days=366 * HORIZON_YEARS)
    windows = item_schedule(item).occurrences(roadmap_start, until)
    return sorted({w.opens for w in windows if w.opens >= today})


def yearly_cron(dates: list[date]) -> str | None:
    """A cron line when the openings are the 1st of the same months every year."""
    if len(dates) < 2 or any(d.day != 1 for d in dates):
        return None
    months = sorted({d.month for d in dates})
    first, last = dates[0], dates[-1]
    expected = [
        date(y, m, 1)
        for y in range(first.year, last.year + 1)
        for m in months
        if first <= date(y, m, 1) <= last
    ]
    if expected != dates:
        return None
    return f"0 7 1 {','.join(str(m) for m in months)} *"


def item_schedules(
    item: RoadmapItem, *, roadmap_start: date, today: date, timezone: str
) -> list[Schedule]:
    """Cron for regular windows; otherwise the exact dates as an RRULE set. Items that
    need dates, and one-off windows already past, get no schedule."""
    dates = opening_dates(item, roadmap_start=roadmap_start, today=today)
    if not dates:
        return []
    cron = yearly_cron(dates)
    if cron:
        return [Cron(cron, timezone=timezone)]
    first, rest = dates[0], dates[1:]
    lines = [f"DTSTART:{first:%Y%m%d}T{RUN_AT}", "RRULE:FREQ=DAILY;COUNT=1"]
    if rest:
        lines.append("RDATE:" + ",".join(f"{d:%Y%m%d}T{RUN_AT}" for d in rest))
    return [RRule("\n".join(lines), timezone=timezone)]


def describe(schedule: object) -> str:
    """A short text for lists: the cron line or the RRULE."""
    inner = getattr(schedule, "schedule", schedule)
    if isinstance(inner, CronSchedule):
        return f"cron {inner.cron}"
    if isinstance(inner, RRuleSchedule):
        return inner.rrule.replace("\n", " ")
    return str(inner)
