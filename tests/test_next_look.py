"""The indexed next look: a day's scan reads only the tasks that may owe something."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from domain.db import session_scope
from domain.enums import NoticeKind, OrgKind, TaskStatus
from domain.organisations import Organisation
from domain.reminders import NEVER, Policy, earliest_look, looks_due, owed_notices
from domain.roadmap_file import SHIPPED_ROADMAP, load_roadmap_file, sync_roadmap
from domain.roadmaps import item_by_label
from domain.tasks import Task
from services.opening import open_item

START = datetime(2022, 4, 8, 6, 0, tzinfo=UTC)
MSK = ZoneInfo("Europe/Moscow")


def owed_on(engine: Engine, day: date) -> list[tuple[int, NoticeKind]]:
    with session_scope(engine) as session:
        found = owed_notices(
            session=session, today=day, policy=Policy(), centre_email="c@centre.ru", tz=MSK
        )
    return sorted((n.task_id, NoticeKind(n.kind)) for n in found)


def open_item_13(engine: Engine) -> None:
    """Item 13 of the shipped order opened on 08.04.2022 for three schools."""
    roadmap = load_roadmap_file(SHIPPED_ROADMAP)
    roadmap = roadmap.model_copy(update={"items": [i for i in roadmap.items if i.label == "13"]})
    with session_scope(engine) as session:
        row = sync_roadmap(session=session, roadmap=roadmap)
        for n in range(3):
            session.add(
                Organisation(
                    name=f"МКОУ СОШ № {n}",
                    short_name=f"СОШ № {n}",
                    kind=OrgKind.school,
                    head_name="Иванова Анна Петровна",
                    head_email=f"head{n}@school.ru",
                    curator_name="",
                    curator_email="",
                )
            )
        session.flush()
        item = item_by_label(session, row, "13")
        assert (
            open_item(
                session=session,
                item=item,
                roadmap_start=row.order_date,
                now=START,
                today=START.date(),
            ).tasks
            == 3
        )


def test_a_scan_sets_the_next_look_and_a_change_resets_it(engine: Engine) -> None:
    open_item_13(engine)
    first = owed_on(engine, date(2022, 4, 8))
    assert [kind for _, kind in first] == [NoticeKind.opened] * 3
    with Session(engine) as session:
        looks = set(session.exec(select(col(Task.next_notice_on))).all())
    # due Wed 14.09.2022: the next look is the reminder, three working days before
    assert looks == {date(2022, 9, 9)}
    # the same day again, and every day until then, reads nothing
    assert owed_on(engine, date(2022, 4, 8)) == []
    assert owed_on(engine, date(2022, 6, 1)) == []
    # a change of state (here: returned with a new due date) makes the task looked at again
    with session_scope(engine) as session:
        task = session.exec(select(Task).order_by(col(Task.id))).first()
        assert task is not None
        task.status = TaskStatus.returned
        task.due = date(2022, 6, 3)
        task.revision = 1
        session.add(task)
    with Session(engine) as session:
        changed = session.get(Task, task.id)
        assert changed is not None and changed.next_notice_on is None
    # (this test records no Notice rows, so its announcement is still the first thing owed)
    assert owed_on(engine, date(2022, 6, 1)) == [(task.id, NoticeKind.opened)]
    # a task that owes nothing more is never read again until it changes
    with session_scope(engine) as session:
        done = session.get(Task, task.id)
        assert done is not None
        done.status = TaskStatus.submitted
        session.add(done)
    assert owed_on(engine, date(2022, 6, 6)) == []
    with Session(engine) as session:
        reread = session.get(Task, task.id)
        assert reread is not None and reread.next_notice_on is None  # not scanned: submitted
    assert date(2199, 1, 1) < NEVER


def test_the_earliest_look_is_the_first_day_a_scan_can_find_work(engine: Engine) -> None:
    """What a caller stepping through days (the demo) may jump to: never a day on which
    `looks_due` would be true is skipped."""
    with Session(engine) as session:
        assert earliest_look(session, date(2022, 4, 8)) is None  # no task at all
    open_item_13(engine)
    with Session(engine) as session:
        # never looked at: from its opening day (a Friday), or from a later `after`
        assert earliest_look(session, date(2022, 4, 1)) == date(2022, 4, 8)
        assert earliest_look(session, date(2022, 4, 9)) == date(2022, 4, 11)  # Sat -> Mon
    owed_on(engine, date(2022, 4, 8))  # announced; the next look is the reminder
    with Session(engine) as session:
        assert earliest_look(session, date(2022, 4, 9)) == date(2022, 9, 9)
        assert not looks_due(session, date(2022, 9, 8))
        assert looks_due(session, date(2022, 9, 9))
    with session_scope(engine) as session:
        for task in session.exec(select(Task)).all():
            task.status = TaskStatus.submitted  # waiting for the centre: never looked at
            session.add(task)
    with Session(engine) as session:
        assert earliest_look(session, date(2022, 4, 9)) is None
