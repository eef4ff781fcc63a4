"""Opening an item's occurrences: one task per responsible organisation (and the centre),
each with its `opened` event, unique per occurrence and assignee so that a re-run (or a
concurrent run) creates nothing twice. The item flow calls this; the rules of which
windows have opened are `domain.opening`'s."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import exists, literal
from sqlalchemy import select as core_select
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, func, select

from domain.calendar import RUSSIAN_CALENDAR, WorkingCalendar
from domain.cycles import cycle_of
from domain.enums import Role, TaskEventKind, TaskStatus
from domain.opening import windows_open_by
from domain.organisations import Organisation
from domain.roadmap import RoadmapItem
from domain.schedule import Window
from domain.tasks import Occurrence, Task, TaskEvent, assignee_key
from domain.types import UTCDateTime


@dataclass(frozen=True)
class Opened:
    """What opening created. Announcing the new tasks is owed from now on
    (domain.reminders), so the day's notices go out together as one digest."""

    occurrences: list[Occurrence]
    tasks: int  # how many tasks were opened


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


CHUNK = 2000  # rows per INSERT: well under SQLite's and PostgreSQL's parameter limits


def _insert_ignoring_duplicates(session: Session, table: Any) -> Any:
    """INSERT … ON CONFLICT DO NOTHING for the two databases we run on."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return insert(table)


def _open_tasks(
    session: Session,
    *,
    occurrence: Occurrence,
    parties: Sequence[tuple[int | None, Role]],
    now: datetime,
) -> int:
    """The occurrence's tasks and their `opened` events in two set-based statements per
    chunk: tasks that already exist (a re-run, a concurrent run) are skipped by the
    uniqueness of (occurrence, assignee), and an event is written only for a task that
    has none yet. Returns how many tasks it opened."""
    assert occurrence.id is not None
    task_table = Task.__table__  # type: ignore[attr-defined]
    before = _task_count(session, occurrence.id)
    statement = _insert_ignoring_duplicates(session, task_table).on_conflict_do_nothing(
        index_elements=["occurrence_id", "assignee_key"]
    )
    for start in range(0, len(parties), CHUNK):
        session.execute(
            statement,
            [
                {
                    "occurrence_id": occurrence.id,
                    "item_id": occurrence.item_id,
                    "organisation_id": org_id,
                    "assignee_key": assignee_key(org_id),
                    "role": role.name,
                    "status": TaskStatus.open.name,
                    "due": occurrence.due,
                    "opened_at": now,
                    "updated_at": now,
                    "revision": 0,
                }
                for org_id, role in parties[start : start + CHUNK]
            ],
        )
    # Under READ COMMITTED a concurrent opener of the same occurrence waits on the
    # unique index until this transaction ends, then finds these events: none twice.
    events = TaskEvent.__table__  # type: ignore[attr-defined]
    tasks = task_table.alias("t")
    already = core_select(events.c.id).where(
        events.c.task_id == tasks.c.id, events.c.kind == TaskEventKind.opened
    )
    session.execute(
        events.insert().from_select(
            ["task_id", "at", "kind", "to_status", "actor", "note"],
            core_select(
                tasks.c.id,
                literal(now, UTCDateTime()),
                literal(TaskEventKind.opened, events.c.kind.type),
                literal(TaskStatus.open, events.c.to_status.type),
                literal("system"),
                literal(""),
            ).where(tasks.c.occurrence_id == occurrence.id, ~exists(already)),
        )
    )
    return _task_count(session, occurrence.id) - before


def _task_count(session: Session, occurrence_id: int) -> int:
    return session.exec(
        select(func.count()).select_from(Task).where(Task.occurrence_id == occurrence_id)
    ).one()


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
    rule = item.assignee_rule
    windows = unopened_windows(
        session=session,
        item=item,
        roadmap_start=roadmap_start,
        today=today,
        tracked_from=tracked_from,
        calendar=calendar,
    )
    if not windows:
        return Opened([], 0)
    parties: list[tuple[int | None, Role]] = []
    if rule.centre:
        parties.append((None, Role.centre))
    if rule.organisations is not None:
        org_ids = session.exec(
            select(Organisation.id)
            .where(col(Organisation.active).is_(True), col(Organisation.kind).in_(rule.kinds))
            .order_by(col(Organisation.name))
        ).all()
        parties.extend((org_id, rule.organisations) for org_id in org_ids)
    new_occurrences: list[Occurrence] = []
    tasks = 0
    find = select(Occurrence).where(Occurrence.item_id == item.id)
    for window in windows:
        occurrence = session.exec(find.where(Occurrence.opens == window.opens)).first()
        if occurrence is None:
            # A concurrent opener of the same window (another machine, the same instant)
            # may be writing it: ON CONFLICT waits for that transaction and then leaves
            # its row, which this one reads and uses instead of failing.
            table = Occurrence.__table__  # type: ignore[attr-defined]
            session.execute(
                _insert_ignoring_duplicates(session, table).on_conflict_do_nothing(
                    index_elements=["item_id", "opens"]
                ),
                {
                    "item_id": item.id,
                    "cycle": cycle_of(window.opens, roadmap_start).name,
                    "opens": window.opens,
                    "due": window.due,
                    "continuous": window.continuous,
                    "opened_at": now,
                },
            )
            occurrence = session.exec(find.where(Occurrence.opens == window.opens)).one()
        if occurrence.opened_at is None:  # else the concurrent opener's instant stays
            occurrence.opened_at = now
        session.add(occurrence)
        session.flush()
        new_occurrences.append(occurrence)
        tasks += _open_tasks(session, occurrence=occurrence, parties=parties, now=now)
    return Opened(new_occurrences, tasks)
