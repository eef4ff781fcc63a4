"""Calendar attachments: one all-day VEVENT per task due date (RFC 5545, icalendar)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from icalendar import Calendar, Event

PRODID = "-//Roadmap engine//Дорожная карта//RU"
ICS_FILENAME = "srok.ics"
# RFC 6047: a calendar object sent by email names its method; the text is UTF-8
ICS_CONTENT_TYPE = "text/calendar; method=PUBLISH; charset=UTF-8"


@dataclass(frozen=True)
class DueEvent:
    """A task's due date as a calendar entry.

    `uid` stays the same for one task whatever its due date, and `sequence` grows
    when the date moves (a returned task), so calendars update the entry in place.
    """

    uid: str
    day: date
    summary: str
    description: str = ""
    url: str = ""
    sequence: int = 0
    stamp: datetime | None = None


def task_uid(task_id: int, domain: str) -> str:
    return f"task-{task_id}-due@{domain}"


def due_calendar(events: Iterable[DueEvent]) -> bytes:
    """A VCALENDAR with one all-day VEVENT per event, ready to attach."""
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    count = 0
    for item in events:
        event = Event()
        event.add("uid", item.uid)
        event.add("dtstamp", (item.stamp or datetime(item.day.year, 1, 1, tzinfo=UTC)))
        event.add("dtstart", item.day)
        event.add("dtend", item.day + timedelta(days=1))
        event.add("summary", item.summary)
        if item.description:
            event.add("description", item.description)
        if item.url:
            event.add("url", item.url)
        event.add("sequence", item.sequence)
        event.add("transp", "TRANSPARENT")
        cal.add_component(event)
        count += 1
    if count == 0:
        raise ValueError("a calendar needs at least one event")
    return bytes(cal.to_ical())
