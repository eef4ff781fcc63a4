"""The day's queue in chunks (`queue_day`): the same emails as one big transaction, each
chunk committed with its tasks' next looks, so that a run that dies half-way loses
nothing and the next run doubles nothing."""

from __future__ import annotations

import logging
from collections import Counter
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, event
from sqlmodel import Session, col, select

from config.settings import Settings
from domain.db import make_engine, session_scope, upgrade
from domain.emails import Notice, OutgoingEmail
from domain.enums import NoticeKind, OrgKind
from domain.organisations import Organisation
from domain.reminders import Policy, owed_notices
from domain.roadmap_file import SHIPPED_ROADMAP, load_roadmap_file, sync_roadmap
from domain.roadmaps import live_items
from domain.tasks import Task
from notifications.outbox import QUEUE_FAILURE_KIND, queue_day, queue_notices
from services.opening import open_item
from tests.conftest import make_settings
from tests.test_notifications import NOW, OWNER, build_world

START = datetime(2022, 4, 8, 6, 0, tzinfo=UTC)  # 09:00 in Moscow: five items open
DAY = date(2022, 4, 8)
SHARED_HEAD = "both@schools.example"  # one person heads two schools: one email
BAD_HEAD = "директор школы № 6"  # not an address: that school's email cannot be written


def build(engine: Engine) -> None:
    """The shipped order's first instant opened for seven schools."""
    with session_scope(engine) as session:
        roadmap = sync_roadmap(session=session, roadmap=load_roadmap_file(SHIPPED_ROADMAP))
        for n in range(7):
            head = {0: SHARED_HEAD, 1: SHARED_HEAD, 6: BAD_HEAD}.get(n, f"head{n}@school.example")
            session.add(
                Organisation(
                    name=f"МКОУ СОШ № {n}",
                    short_name=f"СОШ № {n}",
                    kind=OrgKind.school,
                    head_name="Иванова Анна Петровна",
                    head_email=head,
                    curator_name="",
                    curator_email="",
                )
            )
        session.flush()
        for item in live_items(session, roadmap):
            open_item(
                session=session, item=item, roadmap_start=roadmap.order_date, now=START, today=DAY
            )


def run_day(engine: Engine, settings: Settings, chunk: int) -> int:
    # a plain session, which expires what it holds at every commit
    with Session(engine) as session:
        queued = queue_day(
            session=session, today=DAY, policy=Policy(), settings=settings, now=START, chunk=chunk
        )
        session.commit()
        return queued.emails


def outcome(engine: Engine) -> dict[str, Any]:
    """What a day's queue leaves: the emails (by recipient and Message-ID, which names the
    notices they carry), the notices, and every task's next look."""
    with Session(engine) as session:
        emails = session.exec(select(OutgoingEmail)).all()
        return {
            "emails": sorted((e.to_addr, e.kind, e.message_id) for e in emails),
            "notices": sorted(
                (n.task_id, n.kind.value, n.step, n.recipient)
                for n in session.exec(select(Notice)).all()
            ),
            "looks": sorted(
                (t.id, t.next_notice_on)
                for t in session.exec(select(Task).order_by(col(Task.id))).all()
            ),
        }


def second_database(tmp_path: Path, name: str) -> Engine:
    engine = make_engine(f"sqlite:///{(tmp_path / f'{name}.db').as_posix()}")
    upgrade(engine)
    build(engine)
    return engine


def test_chunks_write_what_one_transaction_writes(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    build(engine)
    whole = second_database(tmp_path, "whole")
    by_hand = second_database(tmp_path, "by_hand")

    written = run_day(engine, settings, chunk=2)  # a chunk per recipient or two
    assert run_day(whole, settings, chunk=10_000) == written
    # ... and what the rules and queue_notices write in the caller's transaction
    with session_scope(by_hand) as session:
        owed = owed_notices(
            session=session,
            today=DAY,
            policy=Policy(),
            centre_email=settings.centre_email,
            tz=settings.tz,
        )
        queue_notices(session=session, owed=owed, settings=settings, now=START)

    chunked, one, reference = outcome(engine), outcome(whole), outcome(by_hand)
    assert chunked == one
    assert chunked["emails"] == reference["emails"]
    assert chunked["notices"] == reference["notices"]

    # one email per person: the head of two schools gets one digest listing both
    recipients = Counter(to for to, kind, _ in chunked["emails"] if kind != QUEUE_FAILURE_KIND)
    assert set(recipients.values()) == {1}
    assert SHARED_HEAD in recipients and BAD_HEAD not in recipients
    with Session(engine) as session:
        shared = session.exec(select(Notice).where(Notice.recipient == SHARED_HEAD)).all()
        orgs = {session.get(Task, n.task_id).organisation_id for n in shared}  # type: ignore[union-attr]
        assert len(orgs) == 2 and len({n.email_id for n in shared}) == 1
        # the school whose head is not an address: reported once, its tasks still owed
        # and looked at again by the next run (their next look is not written)
        bad_org = session.exec(
            select(Organisation).where(Organisation.head_email == BAD_HEAD)
        ).one()
        bad_tasks = session.exec(select(Task).where(Task.organisation_id == bad_org.id)).all()
        assert bad_tasks and all(t.next_notice_on is None for t in bad_tasks)
        noticed = {n.task_id for n in session.exec(select(Notice)).all()}
        assert not noticed & {t.id for t in bad_tasks}
        others = session.exec(select(Task).where(col(Task.id).not_in([t.id for t in bad_tasks])))
        assert all(t.next_notice_on is not None and t.next_notice_on > DAY for t in others)
    assert [kind for _, kind, _ in chunked["emails"]].count(QUEUE_FAILURE_KIND) == 1

    # the same day again: nothing new, not even a second report
    assert run_day(engine, settings, chunk=2) == 0
    assert outcome(engine) == chunked


class Crash(RuntimeError):
    """The process dying at a commit (a fault injected through SQLAlchemy's events)."""


def test_a_run_that_dies_half_way_loses_nothing_and_the_next_doubles_nothing(
    any_engine: Engine, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path)
    build(any_engine)
    commits = 0

    def die_at_the_third_commit(session: Session) -> None:
        nonlocal commits
        if session.in_nested_transaction():
            return  # a savepoint released, not a commit
        commits += 1
        if commits == 3:  # the scan's commit, the first chunk's, then the second chunk's
            raise Crash

    with pytest.raises(Crash), session_scope(any_engine) as session:
        event.listen(session, "before_commit", die_at_the_third_commit)
        queue_day(
            session=session, today=DAY, policy=Policy(), settings=settings, now=START, chunk=2
        )
    half = outcome(any_engine)
    with Session(any_engine) as session:
        tasks = session.exec(select(Task)).all()
        noticed = {n.task_id for n in session.exec(select(Notice)).all()}
    # the first chunk is written with its tasks' next looks; the rest is still owed
    assert half["emails"] and noticed and len(noticed) < len(tasks)
    assert {t.id for t in tasks if t.next_notice_on is not None} == noticed

    assert run_day(any_engine, settings, chunk=2) > 0
    done = outcome(any_engine)
    with Session(any_engine) as session:
        notices = session.exec(select(Notice)).all()
        by_task = Counter((n.task_id, n.kind) for n in notices)
        assert set(by_task.values()) == {1}  # each task announced once
        assert {kind for _, kind in by_task} == {NoticeKind.opened}
        owed_tasks = {t.id for t in session.exec(select(Task)).all()}
        bad_org = session.exec(
            select(Organisation).where(Organisation.head_email == BAD_HEAD)
        ).one()
        bad = {t.id for t in session.exec(select(Task).where(Task.organisation_id == bad_org.id))}
        assert {n.task_id for n in notices} == owed_tasks - bad
        with_notices = {n.email_id for n in notices}
        for email in session.exec(select(OutgoingEmail)).all():
            assert email.kind == QUEUE_FAILURE_KIND or email.id in with_notices
    recipients = Counter(to for to, kind, _ in done["emails"] if kind != QUEUE_FAILURE_KIND)
    assert set(recipients.values()) == {1}
    assert run_day(any_engine, settings, chunk=2) == 0
    assert outcome(any_engine) == done


def test_escalations_written_in_their_own_chunk_list_the_chases_of_the_same_run(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    by_hand = make_engine(f"sqlite:///{(tmp_path / 'by_hand.db').as_posix()}")
    upgrade(by_hand)
    for each in (engine, by_hand):
        with session_scope(each) as session:
            world = build_world(session, n_orgs=3)
            heads = {o.head_email for o in world.orgs}
    announce = date(2022, 9, 1)
    late = date(2022, 9, 21)  # five working days after item 13's due date (14.09)
    for day in (announce, late):
        at = datetime.combine(day, time(6), tzinfo=UTC)
        with session_scope(engine) as session:
            queue_day(
                session=session, today=day, policy=Policy(), settings=settings, now=at, chunk=100
            )
        with session_scope(by_hand) as session:
            owed = owed_notices(
                session=session,
                today=day,
                policy=Policy(),
                centre_email=settings.centre_email,
                tz=settings.tz,
            )
            queue_notices(session=session, owed=owed, settings=settings, now=at)
    # the same emails, notices and next looks as the rules and queue_notices in one go
    assert outcome(engine) == outcome(by_hand)
    with Session(engine) as session:
        today = session.exec(select(OutgoingEmail).where(OutgoingEmail.created_at > NOW)).all()
        chases = [e for e in today if e.to_addr in heads]
        [escalation] = [e for e in today if e.kind == NoticeKind.escalation.value]
    assert len(chases) == 3 and all(e.kind == NoticeKind.chase.value for e in chases)
    assert escalation.to_addr == OWNER
    # each school's chase, written by an earlier chunk of this run, is in the owner's list
    assert escalation.text_body.count("№ 2 от 21.09.2022") == 3


def test_a_chunk_that_cannot_be_written_at_once_is_written_group_by_group(
    pg_engine: Engine, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A writer outside the day's queue (a concurrent one) takes one notice of a chunk
    between the queue's check and its INSERT: the chunk's multi-row write fails, and the
    chunk is written again one recipient at a time: every other email goes out, the
    taken recipient's rest stays owed, and nobody is reported or written twice."""
    settings = make_settings(tmp_path)
    build(pg_engine)
    with Session(pg_engine) as session:
        owed = owed_notices(
            session=session,
            today=DAY,
            policy=Policy(),
            centre_email=settings.centre_email,
            tz=settings.tz,
        )
        session.rollback()
    taken = min(n.task_id for n in owed)  # the first group's: in the first chunk
    other = create_engine(pg_engine.url.render_as_string(hide_password=False))
    fired: list[str] = []

    def concurrent_writer(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if fired or not statement.startswith("INSERT INTO notice"):
            return
        fired.append(statement)
        with other.begin() as writer:
            email_id = writer.execute(
                OutgoingEmail.__table__.insert()  # type: ignore[attr-defined]
                .values(
                    message_id="<concurrent@school.example>",
                    kind="opened",
                    to_addr="someone@school.example",
                    cc_addrs=[],
                    subject="",
                    text_body="",
                    html_body="",
                    attachments=[],
                    status="queued",
                    attempts=0,
                    created_at=START,
                    next_attempt_at=START,
                    last_error="",
                    reply_to="",
                )
                .returning(col(OutgoingEmail.id))
            ).scalar_one()
            writer.execute(
                Notice.__table__.insert().values(  # type: ignore[attr-defined]
                    task_id=taken,
                    kind="opened",
                    step=0,
                    on_day=DAY,
                    recipient="someone@school.example",
                    email_id=email_id,
                    created_at=START,
                )
            )

    event.listen(pg_engine, "before_cursor_execute", concurrent_writer)
    try:
        with caplog.at_level(logging.INFO, logger="notifications.outbox"):
            written = run_day(pg_engine, settings, chunk=10_000)
    finally:
        event.remove(pg_engine, "before_cursor_execute", concurrent_writer)
        other.dispose()
    assert fired
    assert "one by one" in caplog.text and "queued by a concurrent run" in caplog.text
    with Session(pg_engine) as session:
        notices = session.exec(select(Notice)).all()
        taken_to = next(n.recipient for n in owed if n.task_id == taken)
        left = {n.task_id for n in owed if n.recipient == taken_to} - {taken}
        mine = {n.task_id for n in notices if n.recipient != "someone@school.example"}
        assert left and not left & mine  # the taken recipient's other tasks: still owed
        emails = session.exec(select(OutgoingEmail)).all()
    recipients = Counter(e.to_addr for e in emails if e.kind != QUEUE_FAILURE_KIND)
    assert set(recipients.values()) == {1}
    assert written == len(recipients) - 1  # all but the concurrent writer's own
    # one report: the school whose head is not an address, not the taken recipient
    [report] = [e for e in emails if e.kind == QUEUE_FAILURE_KIND]
    assert BAD_HEAD in report.subject
    # the next run writes what the taken recipient is still owed
    assert run_day(pg_engine, settings, chunk=10_000) == 1
