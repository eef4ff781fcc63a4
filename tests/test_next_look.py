"""The indexed next look: a day's scan reads only the tasks that may owe something."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from domain.db import session_scope
from domain.enums import NoticeKind, OrgKind, TaskStatus
from domain.organisations import Organisation
from domain.reminders import NEVER, Policy, owed_notices
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


def test_a_scan_sets_the_next_look_and_a_change_resets_it(engine: Engine) -> None:
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
