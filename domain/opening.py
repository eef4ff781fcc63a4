"""Which windows of an item have opened, and who is responsible for it: the rules of
opening. Writing the occurrences and their tasks is `services.opening`'s."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from domain.calendar import RUSSIAN_CALENDAR, WorkingCalendar
from domain.organisations import Organisation
from domain.roadmap import RoadmapItem
from domain.schedule import Schedule, Window


def item_schedule(item: RoadmapItem) -> Schedule:
    return Schedule.model_validate(item.schedule)


def windows_open_by(
    item: RoadmapItem,
    *,
    roadmap_start: date,
    today: date,
    tracked_from: date | None = None,
    calendar: WorkingCalendar = RUSSIAN_CALENDAR,
) -> list[Window]:
    """The item's windows that have opened on or before `today`. With `tracked_from`
    (the roadmap's activation day), windows already due before it are left out: tracking
    starts when the centre starts, and nobody is told about deadlines that passed before.
    A schedule changed after activation applies from its `schedule_from` day the same way."""
    if item.needs_dates or item.withdrawn:
        return []
    return [
        w
        for w in item_schedule(item).occurrences(roadmap_start, today, calendar)
        if w.opens <= today
        and (tracked_from is None or w.due >= tracked_from)
        and (item.schedule_from is None or w.due >= item.schedule_from)
    ]


def responsible_organisations(
    item: RoadmapItem, organisations: Sequence[Organisation]
) -> list[Organisation]:
    rule = item.assignee_rule
    if rule.organisations is None:
        return []
    return [o for o in organisations if o.active and o.kind in rule.kinds]
