"""Opening an item's occurrences: one task per responsible organisation (and the centre)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlmodel import Session, col, select

from domain.calendar import RUSSIAN_CALENDAR, WorkingCalendar
from domain.cycles import cycle_of
from domain.enums import Role, TaskEventKind, TaskStatus
from domain.organisations import Organisation
from domain.roadmap import RoadmapItem
from domain.schedule import Schedule, Window
from domain.tasks import Occurrence, Task, TaskEvent, assignee_key


@dataclass(frozen=True)
class Opened:
    """What opening created. Announcing the new tasks is owed from now on
    (domain.reminders), so the day's notices go out together as one digest."""

    occurrences: list[Occurrence]
    tasks: list[Task]


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
    starts when the centre starts, and nobody is told about deadlines that passed before."""
    if item.needs_dates or item.withdrawn:
        return []
    return [
        w
        for w in item_schedule(item).occurrences(roadmap_start, today, calendar)
        if w.opens <= today and (tracked_from is None or w.due >= tracked_from)
    ]


def responsible_organisations(
    item: RoadmapItem, organisations: Sequence[Organisation]
) -> list[Organisation]:
    rule = item.assignee_rule
    if rule.organisations is None:
        return []
    return [o for o in organisations if o.active and o.kind in rule.kinds]


def unopened_windows(
    *,
    session: Session,
    item: RoadmapItem,
    roadmap_start: date,
    today: date,
    tracked_from: date | None = None,
    calendar: WorkingCalendar = RUSSIAN_CALENDAR,
) -> list[Window]:
    """Windows open by `today` whose occurrence has not been opened yet."""
    assert item.id is not None
    opened = set(
        session.exec(
            select(col(Occurrence.opens)).where(
                Occurrence.item_id == item.id, col(Occurrence.opened_at).is_not(None)
            )
        ).all()
    )
    return [
        w
        for w in windows_open_by(
            item,
            roadmap_start=roadmap_start,
            today=today,
            tracked_from=tracked_from,
            calendar=calendar,
        )
        if w.opens not in opened
    ]


def open_item(
    *,
    session: Session,
    item: RoadmapItem,
    roadmap_start: date,
    now: datetime,
    today: date,
    tracked_from: date | None = None,
    calendar: WorkingCalendar = RUSSIAN_CALENDAR,
) -> Opened:
    """Open every window of `item` that has opened by `today` and is not open yet:
    the occurrence and its tasks, unique per occurrence and assignee, so a re-run
    creates nothing. Every task gets its `opened` event row."""
    assert item.id is not None
    organisations = session.exec(select(Organisation).order_by(col(Organisation.name))).all()
    targets = responsible_organisations(item, organisations)
    rule = item.assignee_rule
    new_occurrences: list[Occurrence] = []
    new_tasks: list[Task] = []
    for window in unopened_windows(
        session=session,
        item=item,
        roadmap_start=roadmap_start,
        today=today,
        tracked_from=tracked_from,
        calendar=calendar,
    ):
        occurrence = session.exec(
            select(Occurrence).where(
                Occurrence.item_id == item.id, Occurrence.opens == window.opens
            )
        ).first()
        if occurrence is None:
            occurrence = Occurrence(
                item_id=item.id,
                cycle=cycle_of(window.opens, roadmap_start).name,
                opens=window.opens,
                due=window.due,
                continuous=window.continuous,
            )
        occurrence.opened_at = now
        session.add(occurrence)
        session.flush()
        assert occurrence.id is not None
        new_occurrences.append(occurrence)
        existing = set(
            session.exec(
                select(col(Task.assignee_key)).where(Task.occurrence_id == occurrence.id)
            ).all()
        )
        parties: list[tuple[Organisation | None, Role]] = []
        if rule.centre:
            parties.append((None, Role.centre))
        assert rule.organisations is not None or not targets
        parties.extend((org, rule.organisations or Role.head) for org in targets)
        for org, role in parties:
            key = assignee_key(org.id if org else None)
            if key in existing:
                continue
            task = Task(
                occurrence_id=occurrence.id,
                item_id=item.id,
                organisation_id=org.id if org else None,
                assignee_key=key,
                role=role,
                status=TaskStatus.open,
                due=occurrence.due,
                opened_at=now,
                updated_at=now,
            )
            session.add(task)
            session.flush()
            assert task.id is not None
            session.add(
                TaskEvent(
                    task_id=task.id,
                    at=now,
                    kind=TaskEventKind.opened,
                    to_status=TaskStatus.open,
                    actor="system",
                )
            )
            new_tasks.append(task)
    session.flush()
    return Opened(new_occurrences, new_tasks)
