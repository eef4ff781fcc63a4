"""Links issued in bulk for a day's queue follow the same rules as one at a time."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Engine
from sqlmodel import Session, col, func, select

from config.settings import Settings
from domain.access import AccessLink
from domain.db import session_scope
from domain.enums import OrgKind
from domain.organisations import Organisation
from domain.roadmap_file import SHIPPED_ROADMAP, load_roadmap_file, sync_roadmap
from domain.roadmaps import item_by_label
from domain.tasks import Task
from services.links import (
    issue_org_link,
    issue_org_links,
    issue_task_link,
    issue_task_links,
    revoke_links,
)
from services.opening import open_item

START = datetime(2022, 4, 8, 6, 0, tzinfo=UTC)


def _tasks(engine: Engine, count: int) -> list[int]:
    roadmap = load_roadmap_file(SHIPPED_ROADMAP)
    roadmap = roadmap.model_copy(update={"items": [i for i in roadmap.items if i.label == "13"]})
    with session_scope(engine) as session:
        row = sync_roadmap(session=session, roadmap=roadmap)
        for n in range(count):
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
        open_item(
            session=session, item=item, roadmap_start=row.order_date, now=START, today=START.date()
        )
    with Session(engine) as session:
        return list(session.exec(select(Task.id).order_by(col(Task.id))).all())  # type: ignore[arg-type]


def test_bulk_task_links_reuse_extend_and_respect_revocation(
    engine: Engine, settings: Settings
) -> None:
    ids = _tasks(engine, 4)
    fresh, live, short, revoked = ids
    later = START + timedelta(days=1)
    with session_scope(engine) as session:
        tasks = {t.id: t for t in session.exec(select(Task)).all()}
        live_url = issue_task_link(
            session=session, task=tasks[live], recipient="a@x.ru", settings=settings, now=START
        )
        issue_task_link(
            session=session, task=tasks[short], recipient="a@x.ru", settings=settings, now=START
        )
        issue_task_link(
            session=session, task=tasks[revoked], recipient="a@x.ru", settings=settings, now=START
        )
        link = session.exec(select(AccessLink).where(AccessLink.task_id == short)).one()
        link.expires_at = START + timedelta(days=2)  # shorter than the task's due date asks
        session.add(link)
        revoke_links(session=session, task_id=revoked, now=START)
    with session_scope(engine) as session:
        tasks = {t.id: t for t in session.exec(select(Task)).all()}
        wanted = [(tasks[i], "a@x.ru") for i in ids] + [(tasks[fresh], "a@x.ru")]
        urls = issue_task_links(session=session, wanted=wanted, settings=settings, now=later)
    assert set(urls) == {(i, "a@x.ru") for i in ids}
    assert urls[(live, "a@x.ru")] == live_url
    with session_scope(engine) as session:
        tasks = {t.id: t for t in session.exec(select(Task)).all()}
        # one at a time now gives the very same links: nothing new is created
        for i in ids:
            one = issue_task_link(
                session=session, task=tasks[i], recipient="a@x.ru", settings=settings, now=later
            )
            assert one == urls[(i, "a@x.ru")]
        extended = session.exec(select(AccessLink).where(AccessLink.task_id == short)).one()
        assert extended.expires_at.date() > date(2022, 9, 1)  # follows the due date again
        # the revoked link stays revoked: no live one was handed out
        on_revoked = session.exec(select(AccessLink).where(AccessLink.task_id == revoked)).all()
        assert len(on_revoked) == 1 and on_revoked[0].revoked_at is not None
        assert session.exec(select(func.count()).select_from(AccessLink)).one() == 4


def test_bulk_org_links_match_one_at_a_time(engine: Engine, settings: Settings) -> None:
    _tasks(engine, 3)
    with session_scope(engine) as session:
        orgs = list(session.exec(select(Organisation.id).order_by(col(Organisation.id))).all())
        assert all(o is not None for o in orgs)
        first = issue_org_link(
            session=session,
            organisation_id=orgs[0],  # type: ignore[arg-type]
            recipient="h@x.ru",
            settings=settings,
            now=START,
        )
    with session_scope(engine) as session:
        wanted = [(o, "h@x.ru") for o in orgs if o is not None]
        urls = issue_org_links(
            session=session, wanted=wanted + wanted, settings=settings, now=START
        )
        assert urls[(wanted[0][0], "h@x.ru")] == first
        for org_id, recipient in wanted:
            assert urls[(org_id, recipient)] == issue_org_link(
                session=session,
                organisation_id=org_id,
                recipient=recipient,
                settings=settings,
                now=START,
            )
        assert session.exec(select(func.count()).select_from(AccessLink)).one() == 3
