"""Replies from a deputy, end to end: task emails sent through real SMTP (aiosmtpd) to the
deputy with the head in copy, replies delivered to a real IMAP server (dovecot, by APPEND)
and read by the inbox. While the deputy holds, a reply (to the task's own address or to the
centre's, threaded) is the organisation's answer, recorded as the deputy's; once the period
ended, the deputy's reply waits for the centre's review, even with the task's address."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import date
from email.utils import formataddr
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from config.settings import Settings
from domain.enums import NoticeKind, TaskEventKind, TaskStatus
from domain.evidence import Evidence
from domain.inbound import InboundMessage, InboundStatus
from domain.notices import OwedNotice
from domain.organisations import Organisation
from domain.recipients import task_recipients
from domain.roadmap import RoadmapItem
from domain.tasks import Task, TaskEvent
from notifications.delivery import deliver_due
from notifications.imap import read_inbox
from notifications.inbox import addresses_on_record
from notifications.outbox import queue_notices
from tests.deputy_world import (
    CENTRE,
    DEPUTY_A,
    DEPUTY_FROM,
    DEPUTY_NAME,
    DEPUTY_UNTIL,
    HEAD_A,
    DeputyWorld,
    at,
    build_world,
)
from tests.imap import Dovecot
from tests.smtp import CaughtMessage, SmtpSink
from tests.test_inbox import inbox_settings, reply_to, sent_to

DURING = date(2022, 9, 12)
AFTER = date(2022, 9, 16)


@pytest.fixture
def imap() -> Iterator[Dovecot]:
    with Dovecot() as server:
        yield server


class Mailroom:
    def __init__(self, world: DeputyWorld, smtp: SmtpSink, imap: Dovecot) -> None:
        self.world, self.smtp, self.imap = world, smtp, imap

    @property
    def engine(self) -> Engine:
        return self.world.engine

    @property
    def settings(self) -> Settings:
        return self.world.settings

    def announce(self, task_id: int, day: date) -> None:
        """The task's opening email on `day`, to whoever the rule says gets it that day."""
        with Session(self.engine) as s:
            task = s.get(Task, task_id)
            assert task is not None and task.organisation_id is not None
            org = s.get(Organisation, task.organisation_id)
            item = s.get(RoadmapItem, task.item_id)
            assert item is not None
            to, cc = task_recipients(task, org, item, CENTRE, on_day=day)
            owed = [OwedNotice(task_id, NoticeKind.opened, 0, day, to, cc)]
            queue_notices(session=s, owed=owed, settings=self.settings, now=at(day))
            s.commit()

    def deliver(self, day: date) -> list[CaughtMessage]:
        asyncio.run(deliver_due(engine=self.engine, settings=self.settings, now=at(day, 9)))
        with self.smtp.handler.lock:
            caught = list(self.smtp.handler.messages)
            self.smtp.handler.messages.clear()
        return caught

    def read(self, day: date) -> None:
        report = read_inbox(engine=self.engine, settings=self.settings, clock=lambda: at(day, 8))
        assert not report.errors, report.errors

    def messages(self) -> list[InboundMessage]:
        with Session(self.engine) as s:
            return list(s.exec(select(InboundMessage).order_by(col(InboundMessage.id))).all())


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def room(
    request: pytest.FixtureRequest, tmp_path: Path, smtp: SmtpSink, imap: Dovecot
) -> Iterator[Mailroom]:
    settings = inbox_settings(tmp_path, smtp, imap, portal_url="http://127.0.0.1:8765")
    if request.param == "sqlite":
        from domain.db import make_engine, upgrade

        engine = make_engine(settings.effective_database_url)
        upgrade(engine)
    else:
        engine = request.getfixturevalue("pg_engine")
    yield Mailroom(build_world(settings, engine), smtp, imap)
    if request.param == "sqlite":
        engine.dispose()


def test_the_deputys_address_is_on_record_only_while_the_deputy_holds(room: Mailroom) -> None:
    with Session(room.engine) as s:
        task = s.get(Task, room.world.a5)
        assert task is not None

        def on(day: date | None) -> set[str]:
            return addresses_on_record(s, task, room.settings, day)

        assert DEPUTY_A in on(DEPUTY_FROM) and DEPUTY_A in on(DEPUTY_UNTIL)
        assert DEPUTY_A not in on(date(2022, 9, 7)) and DEPUTY_A not in on(AFTER)
        assert DEPUTY_A not in on(None)
        assert HEAD_A in on(DURING) and HEAD_A in on(AFTER)


def submitted_events(room: Mailroom, task_id: int) -> list[TaskEvent]:
    with Session(room.engine) as s:
        return list(
            s.exec(
                select(TaskEvent)
                .where(TaskEvent.task_id == task_id, TaskEvent.kind == TaskEventKind.submitted)
                .order_by(col(TaskEvent.id))
            ).all()
        )


def test_a_deputys_reply_is_the_organisations_answer_while_it_holds_and_waits_after(
    room: Mailroom,
) -> None:
    world = room.world
    room.announce(world.a5, DEPUTY_FROM)
    room.announce(world.a13, date(2022, 9, 9))
    caught = room.deliver(date(2022, 9, 9))
    to_deputy = sent_to(caught, DEPUTY_A)
    assert len(to_deputy) == 2
    for message in to_deputy:
        assert message.message["To"] == DEPUTY_A
        assert message.message["Cc"] == HEAD_A and HEAD_A in message.rcpt_tos
    a5 = next(m for m in to_deputy if "п. 5" in m.subject)
    a13 = next(m for m in to_deputy if "п. 13" in m.subject)

    # to the task's own reply address, the name as a mail client encodes it
    room.imap.append(
        reply_to(a5, "Приказ издан, пары закреплены.", sender=formataddr((DEPUTY_NAME, DEPUTY_A)))
    )
    # to the centre's plain address, threaded: accepted because the deputy is on record
    room.imap.append(reply_to(a13, "Наставников: 12", sender=DEPUTY_A, to=CENTRE))
    room.read(DURING)
    answered = [m for m in room.messages() if m.status == InboundStatus.answered]
    assert len(answered) == 2 and {m.from_addr for m in answered} == {DEPUTY_A}
    for task_id in (world.a5, world.a13):
        [event] = submitted_events(room, task_id)
        assert event.actor == DEPUTY_A
        assert event.note.endswith(f"; ответил(а): {DEPUTY_NAME}, заместитель")
        assert "ответ по электронной почте, Message-ID" in event.note
    with Session(room.engine) as s:
        [evidence] = s.exec(select(Evidence).where(Evidence.task_id == world.a5)).all()
        assert evidence.submitted_by == DEPUTY_A
        task = s.get(Task, world.a5)
        assert task is not None and task.status is TaskStatus.submitted
    receipts = room.deliver(DURING)
    assert sorted((m.rcpt_tos[0], m.subject.split(":")[0]) for m in receipts) == [
        (DEPUTY_A, "Ответ получен"),
        (DEPUTY_A, "Ответ получен"),
    ]

    # after the period: the same deputy, even to the task's own address, waits for review
    room.imap.append(reply_to(a5, "Уточнение: приказ № 12 от 02.09.2022.", sender=DEPUTY_A))
    room.imap.append(reply_to(a13, "Наставников: 14", sender=DEPUTY_A, to=CENTRE))
    room.read(AFTER)
    late = [m for m in room.messages() if m.status == InboundStatus.review]
    assert len(late) == 2
    for waiting in late:
        assert waiting.from_addr == DEPUTY_A
        assert "замещение не действует" in waiting.reason
        assert "15.09.2022" in waiting.reason
    # nothing applied: still one answer each, and nobody is answered automatically
    assert len(submitted_events(room, world.a5)) == 1
    assert len(submitted_events(room, world.a13)) == 1
    assert room.deliver(AFTER) == []
    # read again: nothing new, nothing doubled
    room.read(AFTER)
    assert len(room.messages()) == 4
