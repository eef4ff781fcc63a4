"""Two machines running the same flow for the same instant against one PostgreSQL
database: the second finds the first's work instead of doing it again or failing. The
runs are made to overlap for certain: a third connection holds a lock until both have
read what is owed and wait to write."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlmodel import Session, col, func, select

from config.settings import Settings
from domain.db import session_scope
from domain.emails import Notice, OutgoingEmail
from domain.enums import NoticeKind, OrgKind
from domain.organisations import Organisation
from domain.reminders import owed_notices
from domain.roadmap import RoadmapItem
from domain.roadmap_file import SHIPPED_ROADMAP, load_roadmap_file, sync_roadmap
from domain.tasks import Occurrence, Task, TaskEvent
from flows.context import policy
from flows.mailing import queue_owed
from notifications.delivery import deliver_due
from notifications.outbox import QUEUE_FAILURE_KIND
from services.opening import open_item
from tests.conftest import make_settings
from tests.smtp import SmtpSink

pytestmark = pytest.mark.postgres

START = datetime(2022, 4, 8, 6, 0, tzinfo=UTC)  # the order's day, 09:00 in Moscow


def district(engine: Engine) -> None:
    """The shipped roadmap and a small district: schools and kindergartens, heads and
    curators, so that the day's mail has digests, single emails and copies."""
    with session_scope(engine) as session:
        sync_roadmap(session=session, roadmap=load_roadmap_file(SHIPPED_ROADMAP), now=START)
        for n in range(1, 5):
            for kind, label in ((OrgKind.school, "СОШ"), (OrgKind.kindergarten, "ДОУ д/с")):
                session.add(
                    Organisation(
                        name=f"МК{label} № {n}",
                        short_name=f"{label} № {n}",
                        kind=kind,
                        head_name=f"Руководитель {label} {n}",
                        head_email=f"head-{kind.value}-{n}@district.ru",
                        curator_name=f"Куратор {label} {n}",
                        curator_email=f"curator-{kind.value}-{n}@district.ru",
                    )
                )


def open_everything(engine: Engine, at: datetime) -> int:
    with session_scope(engine) as session:
        items = session.exec(select(RoadmapItem)).all()
        return sum(
            open_item(
                session=session,
                item=item,
                roadmap_start=date(2022, 4, 8),
                now=at,
                today=at.date(),
            ).tasks
            for item in items
        )


def waiting_on_locks(engine: Engine) -> int:
    """Connections to this database that wait for a lock."""
    with engine.connect() as conn:
        return int(
            conn.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            ).scalar_one()
        )


def race(engine: Engine, table: str, run: Callable[[], Any], runners: int = 2) -> list[Any]:
    """`run` in `runners` threads at once. Writes to `table` are held back until every
    runner waits to write, so that each has read the same state before any commits."""
    url = engine.url.render_as_string(hide_password=False)
    holder = create_engine(url)
    hold = holder.connect()
    held = hold.begin()
    # reads go on, any INSERT/UPDATE/DELETE on the table waits
    hold.execute(text(f"LOCK TABLE {table} IN SHARE ROW EXCLUSIVE MODE"))
    results: list[Any] = [None] * runners
    errors: list[BaseException] = []

    def go(i: int) -> None:
        try:
            results[i] = run()
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=go, args=(i,)) for i in range(runners)]
    try:
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 60
        while waiting_on_locks(engine) < runners:
            assert not errors, errors
            assert all(t.is_alive() for t in threads), "a runner finished without waiting"
            assert time.monotonic() < deadline, "the runners never met at the lock"
            time.sleep(0.05)
    finally:
        held.commit()
        hold.close()
        holder.dispose()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    return results


@pytest.fixture
def world(pg_engine: Engine, tmp_path: Path) -> Iterator[tuple[Engine, Settings]]:
    district(pg_engine)
    url = pg_engine.url.render_as_string(hide_password=False)
    yield pg_engine, make_settings(tmp_path, database_url=url)


def owed_now(engine: Engine, settings: Settings, at: datetime) -> set[tuple[int, str, int]]:
    """What a run at `at` would queue, read and rolled back."""
    with Session(engine) as session:
        owed = owed_notices(
            session=session,
            today=at.astimezone(settings.tz).date(),
            policy=policy(settings),
            centre_email=settings.centre_email,
            tz=settings.tz,
        )
        session.rollback()
    return {(n.task_id, NoticeKind(n.kind).value, n.step) for n in owed}


def test_two_queueing_runs_at_once_write_one_set_of_notices_and_send_once(
    world: tuple[Engine, Settings], tmp_path: Path
) -> None:
    engine, settings = world
    assert open_everything(engine, START) > 0
    days = [
        START,  # the openings: digests to heads and curators, the centre's own tasks
        datetime(2022, 9, 15, 6, 0, tzinfo=UTC),  # the day after item 13's due date: chases
        datetime(2022, 10, 4, 6, 0, tzinfo=UTC),  # later chases, escalations to owners
    ]
    with SmtpSink() as sink:
        mail = make_settings(
            tmp_path, database_url=settings.database_url, smtp_host="127.0.0.1", smtp_port=sink.port
        )
        for at in days:
            expected = owed_now(engine, settings, at)
            assert expected, f"nothing owed on {at:%d.%m.%Y}: the test would prove nothing"
            with Session(engine) as s:
                emails_before = s.exec(select(func.count()).select_from(OutgoingEmail)).one()
            counts = race(
                engine,
                "outgoing_email",
                lambda at=at: queue_owed(  # type: ignore[misc]
                    settings=settings, engine=engine, at=at
                ),
            )
            # together they queued each owed notice once; neither wrote a failure report
            with Session(engine) as s:
                notices = s.exec(select(Notice)).all()
                emails = s.exec(select(OutgoingEmail).order_by(col(OutgoingEmail.id))).all()
            keys = {(n.task_id, NoticeKind(n.kind).value, n.step) for n in notices}
            assert expected <= keys
            assert [e.subject for e in emails if e.kind == QUEUE_FAILURE_KIND] == []
            noticed = Counter(n.email_id for n in notices)
            new = emails[emails_before:]
            assert new and all(noticed[e.id or 0] > 0 for e in new), "an email nobody is told by"
            # one email per person and day (escalations apart), as one run would write
            per_person = Counter((e.to_addr, e.kind == NoticeKind.escalation.value) for e in new)
            assert max(per_person.values()) == 1, per_person
            # the second found the first's work done (it waited on the tasks' rows)
            assert sorted(c["emails"] for c in counts) == [0, len(new)]
            # a third run for the same instant owes and writes nothing
            assert queue_owed(settings=settings, engine=engine, at=at)["emails"] == 0
            # and every email leaves once
            report = await_delivery(engine, mail, at)
            assert report == len(new)
        ids = Counter(m.message["Message-ID"] for m in sink.messages)
    assert ids and max(ids.values()) == 1
    with Session(engine) as s:
        assert len(ids) == s.exec(select(func.count()).select_from(OutgoingEmail)).one()
        kinds = set(s.exec(select(Notice.kind)).all())
    assert {NoticeKind.opened, NoticeKind.chase, NoticeKind.escalation} <= {
        NoticeKind(k) for k in kinds
    }


def await_delivery(engine: Engine, settings: Settings, at: datetime) -> int:
    import asyncio

    report = asyncio.run(deliver_due(engine=engine, settings=settings, now=at + timedelta(hours=1)))
    assert report.retried == report.failed == 0, report
    return report.sent


def test_two_openings_of_the_same_item_at_once_open_each_task_once(
    world: tuple[Engine, Settings],
) -> None:
    engine, _ = world
    opened = race(engine, "task", lambda: open_everything(engine, START))
    with Session(engine) as s:
        tasks = s.exec(select(func.count()).select_from(Task)).one()
        occurrences = s.exec(select(func.count()).select_from(Occurrence)).one()
        events = Counter(s.exec(select(TaskEvent.task_id)).all())
    assert sum(opened) == tasks > 0
    assert occurrences > 0
    assert len(events) == tasks and set(events.values()) == {1}


def test_the_same_owed_notices_queued_twice_at_once_are_written_once(
    world: tuple[Engine, Settings],
) -> None:
    """Below the day's scan (whose task updates already make a second run wait): two
    writers with the same owed notices, both past their "not yet noticed" read."""
    from notifications.outbox import queue_notices

    engine, settings = world
    open_everything(engine, START)
    owed = sorted(owed_now_list(engine, settings, START), key=lambda n: (n.task_id, n.kind, n.step))
    assert owed

    def write() -> int:
        with session_scope(engine) as session:
            return len(queue_notices(session=session, owed=owed, settings=settings, now=START))

    written = race(engine, "outgoing_email", write)
    with Session(engine) as s:
        emails = s.exec(select(OutgoingEmail)).all()
        notices = s.exec(select(func.count()).select_from(Notice)).one()
    assert [e.subject for e in emails if e.kind == QUEUE_FAILURE_KIND] == []
    assert notices == len(owed)
    assert max(written) == len(emails) > 0


def owed_now_list(engine: Engine, settings: Settings, at: datetime) -> list[Any]:
    with Session(engine) as session:
        owed = owed_notices(
            session=session,
            today=at.astimezone(settings.tz).date(),
            policy=policy(settings),
            centre_email=settings.centre_email,
            tz=settings.tz,
        )
        session.rollback()
    return list(owed)


@pytest.mark.parametrize("roadmap", ["one roadmap", "all roadmaps"])
def test_two_summary_runs_at_once_keep_one_summary_with_its_files(
    world: tuple[Engine, Settings], roadmap: str
) -> None:
    from domain.access import SUMMARY_YEARLY, StoredSummary
    from domain.evidence import FileBlob
    from domain.roadmap import Roadmap
    from domain.stored_summaries import (
        SUMMARY_COMBINED,
        StoredSummaryFile,
        SummaryFile,
        store_summary,
    )

    engine, _ = world
    with Session(engine) as s:
        roadmap_id = s.exec(select(Roadmap.id)).one() if roadmap == "one roadmap" else None
    kind = SUMMARY_YEARLY if roadmap_id else SUMMARY_COMBINED
    files = {
        "md": SummaryFile("summary-2022-2023.md", "# Справка\n".encode()),
        "docx": SummaryFile("summary-2022-2023.docx", b"PK\x03\x04word"),
    }

    def write() -> int:
        with session_scope(engine) as session:
            row = store_summary(
                session,
                roadmap_id=roadmap_id,
                cycle="2022/2023",
                kind=kind,
                as_of=date(2023, 8, 31),
                at=datetime(2023, 9, 1, 6, 0, tzinfo=UTC),
                files=files,
            )
            assert row.id is not None
            return row.id

    ids = race(engine, "stored_summary", write)
    with Session(engine) as s:
        rows = s.exec(select(StoredSummary)).all()
        stored = s.exec(select(StoredSummaryFile)).all()
        blobs = s.exec(select(func.count()).select_from(FileBlob)).one()
    assert [(r.roadmap_id, r.cycle, r.kind) for r in rows] == [(roadmap_id, "2022/2023", kind)]
    assert set(ids) == {rows[0].id}
    assert sorted(f.format for f in stored) == ["docx", "md"] and blobs == 2


def test_two_outbox_runs_publishing_the_same_new_item_at_once_both_complete(
    world: tuple[Engine, Settings],
) -> None:
    from domain.access import ArtifactPublish
    from domain.staleness import mark_published, stale_items

    engine, _ = world
    open_everything(engine, START)
    with Session(engine) as s:
        stale = stale_items(s)
    assert stale

    def publish() -> int:
        with session_scope(engine) as session:
            for item in stale:
                mark_published(
                    session, item_id=item.item_id, published_at=START, changes_upto=item.changed_at
                )
        return len(stale)

    race(engine, "artifact_publish", publish)
    with Session(engine) as s:
        assert len(s.exec(select(ArtifactPublish)).all()) == len(stale)
        assert stale_items(s) == []
