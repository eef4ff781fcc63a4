"""Answers by email reply, end to end: task emails sent through real SMTP (aiosmtpd),
replies delivered to a real IMAP server (dovecot, by APPEND), read by the inbox, and
landing where they should, once, also when `roadmap inbox --once` is killed mid-run."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from email.charset import QP, Charset
from email.message import EmailMessage
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import make_msgid
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from config.settings import Settings
from domain.db import make_engine, session_scope, upgrade
from domain.emails import OutgoingEmail
from domain.enums import NoticeKind, OrgKind, Role, TaskEventKind, TaskStatus
from domain.evidence import Evidence, EvidenceFile
from domain.inbound import InboundMessage, InboundStatus
from domain.notices import OwedNotice
from domain.organisations import Organisation
from domain.reminders import owed_notices
from domain.roadmap import Roadmap, RoadmapItem
from domain.tasks import Occurrence, Task, TaskEvent
from flows.context import policy as reminder_policy
from notifications.delivery import deliver_due
from notifications.imap import read_inbox
from notifications.inbox import Source, process_message
from notifications.outbox import queue_notices
from portal.app import create_app
from portal.auth import create_admin
from tests.conftest import ROOT, make_settings
from tests.imap import PASSWORD, USER, Dovecot
from tests.portal_world import login
from tests.smtp import CaughtMessage, SmtpSink

START = datetime(2022, 9, 5, 6, 0, tzinfo=UTC)  # Monday 09:00 in Moscow
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
CENTRE = "imcso@levokumskoe.example"
REPLY = "otvet+{token}@imcso.example"
ADMIN_EMAIL = "metodist@imcso.example"
ADMIN_PASSWORD = "верный-пароль-2022"
BASE = "http://127.0.0.1:8765"

SPEC_5 = {
    "fields": [
        {"name": "summary", "label": "Что сделано", "kind": "text", "required": True},
        {"name": "held_on", "label": "Дата приказа", "kind": "date", "required": True},
        {"name": "order", "label": "Приказ (скан)", "kind": "file", "required": True},
        {"name": "page", "label": "Ссылка на сайт", "kind": "url", "required": False},
    ]
}
SPEC_13 = {
    "fields": [
        {"name": "mentors", "label": "Количество наставников", "kind": "number", "required": True},
        {
            "name": "mentees",
            "label": "Количество наставляемых",
            "kind": "number",
            "required": False,
        },
        {"name": "comment", "label": "Комментарий", "kind": "long_text", "required": False},
    ]
}
ORGS = ("a", "b", "c", "d")


def head(code: str) -> str:
    return f"head.{code}@school.example"


def curator(code: str) -> str:
    return f"curator.{code}@school.example"


@dataclass
class World:
    settings: Settings
    engine: Engine
    smtp: SmtpSink
    imap: Dovecot
    tasks: dict[str, int]  # "a5", "a13", ...

    def deliver(self, at: datetime = START) -> list[CaughtMessage]:
        asyncio.run(deliver_due(engine=self.engine, settings=self.settings, now=at))
        with self.smtp.handler.lock:
            caught = list(self.smtp.handler.messages)
            self.smtp.handler.messages.clear()
        return caught

    def read(self, at: datetime = START) -> dict[str, int]:
        report = read_inbox(engine=self.engine, settings=self.settings, clock=lambda: at)
        assert not report.errors, report.errors
        return {k: v for k, v in vars(report).items() if isinstance(v, int) and v}

    def task(self, key: str) -> Task:
        with Session(self.engine) as s:
            task = s.get(Task, self.tasks[key])
            assert task is not None
            return task

    def evidence(self, key: str) -> list[Evidence]:
        with Session(self.engine) as s:
            return list(
                s.exec(
                    select(Evidence)
                    .where(Evidence.task_id == self.tasks[key])
                    .order_by(col(Evidence.version))
                ).all()
            )

    def messages(self) -> list[InboundMessage]:
        with Session(self.engine) as s:
            return list(s.exec(select(InboundMessage).order_by(col(InboundMessage.id))).all())

    def count(self, model: type) -> int:
        with Session(self.engine) as s:
            return int(s.exec(select(func.count()).select_from(model)).one())


def inbox_settings(tmp_path: Path, smtp: SmtpSink, imap: Dovecot, **extra: object) -> Settings:
    return make_settings(
        tmp_path,
        smtp_host="127.0.0.1",
        smtp_port=smtp.port,
        smtp_timeout=5,
        imap_host="127.0.0.1",
        imap_port=imap.port,
        imap_username=USER,
        imap_password=PASSWORD,
        reply_address=REPLY,
        centre_email=CENTRE,
        roadmap_file=tmp_path / "no-roadmap.yaml",
        **extra,
    )


def build(settings: Settings, engine: Engine) -> dict[str, int]:
    """Items 5 (text, date, a file) and 13 (numbers) for four schools, each task to the
    head; the heads of A, B and D got single emails, C's head a digest of both."""
    tasks: dict[str, int] = {}
    with Session(engine, expire_on_commit=False) as s:
        roadmap = Roadmap(key="r209", title="Дорожная карта", order_date=date(2022, 4, 8))
        s.add(roadmap)
        s.flush()
        assert roadmap.id is not None
        items = {}
        for number, title, spec in (
            (5, "Издание приказа о закреплении наставнических пар", SPEC_5),
            (13, "Формирование базы наставников", SPEC_13),
        ):
            item = RoadmapItem(
                roadmap_id=roadmap.id,
                number=number,
                slug=f"item-{number}",
                section="Организационные мероприятия",
                title=title,
                schedule_text="до 15.09.2022г., далее ежегодно",
                responsible="руководители образовательных организаций",
                expected_result="Приказ",
                evidence_spec=spec,
            )
            s.add(item)
            s.flush()
            assert item.id is not None
            occ = Occurrence(
                item_id=item.id,
                cycle="2022/2023",
                opens=date(2022, 9, 1),
                due=date(2022, 9, 14),
                opened_at=START,
            )
            s.add(occ)
            s.flush()
            items[number] = (item, occ)
        for code in ORGS:
            org = Organisation(
                name=f"МКОУ СОШ «{code.upper()}»",
                short_name=f"СОШ {code.upper()}",
                kind=OrgKind.school,
                head_name=f"Директор {code.upper()}",
                head_email=head(code),
                curator_name=f"Куратор {code.upper()}",
                curator_email=curator(code),
            )
            s.add(org)
            s.flush()
            for number, (item, occ) in items.items():
                assert occ.id is not None and item.id is not None and org.id is not None
                task = Task(
                    occurrence_id=occ.id,
                    item_id=item.id,
                    organisation_id=org.id,
                    assignee_key=f"org:{org.id}",
                    role=Role.head,
                    due=occ.due,
                    opened_at=START,
                    updated_at=START,
                )
                s.add(task)
                s.flush()
                assert task.id is not None
                tasks[f"{code}{number}"] = task.id
        owed = []
        for code in ORGS:
            days = (
                (date(2022, 9, 5), date(2022, 9, 5))
                if code == "c"
                else (
                    date(2022, 9, 5),
                    date(2022, 9, 6),
                )
            )
            for number, day in zip((5, 13), days, strict=True):
                owed.append(
                    OwedNotice(tasks[f"{code}{number}"], NoticeKind.opened, 0, day, head(code))
                )
        queue_notices(session=s, owed=owed, settings=settings, now=START)
        create_admin(session=s, email=ADMIN_EMAIL, password=ADMIN_PASSWORD, name="М", now=START)
        s.commit()
    return tasks


@pytest.fixture
def imap() -> Iterator[Dovecot]:
    with Dovecot() as server:
        yield server


@pytest.fixture
def world(tmp_path: Path, smtp: SmtpSink, imap: Dovecot) -> Iterator[World]:
    settings = inbox_settings(tmp_path, smtp, imap)
    engine = make_engine(settings.effective_database_url)
    upgrade(engine)
    tasks = build(settings, engine)
    yield World(settings, engine, smtp, imap, tasks)
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_world(
    request: pytest.FixtureRequest, tmp_path: Path, smtp: SmtpSink, imap: Dovecot
) -> World:
    """The world on SQLite and on PostgreSQL (the engine the tests use directly)."""
    if request.param == "sqlite":
        world = request.getfixturevalue("world")
        assert isinstance(world, World)
        return world
    engine = request.getfixturevalue("pg_engine")
    settings = inbox_settings(tmp_path, smtp, imap)
    return World(settings, engine, smtp, imap, build(settings, engine))


def sent_to(caught: list[CaughtMessage], address: str) -> list[CaughtMessage]:
    return [m for m in caught if address in m.rcpt_tos]


def reply_to(
    original: CaughtMessage,
    body: str,
    *,
    sender: str,
    to: str | None = None,
    attachments: tuple[tuple[str, bytes], ...] = (),
    threaded: bool = True,
    headers: dict[str, str] | None = None,
    subject: str | None = None,
) -> bytes:
    """A person's reply to one of our emails, as a mail client writes it."""
    text = MIMEText(body, "plain", "utf-8")
    msg: EmailMessage | MIMEMultipart | MIMEText = text
    if attachments:
        msg = MIMEMultipart("mixed")
        msg.attach(text)
        for name, content in attachments:
            part = MIMEApplication(content, "pdf")
            part.add_header("Content-Disposition", "attachment", filename=("utf-8", "", name))
            msg.attach(part)
    msg["From"] = sender
    msg["To"] = to or str(original.message["Reply-To"])
    msg["Subject"] = subject or f"Re: {original.subject}"
    msg["Message-ID"] = make_msgid(domain="school.example")
    msg["Date"] = "Mon, 05 Sep 2022 12:00:00 +0300"
    if threaded:
        msg["In-Reply-To"] = str(original.message["Message-ID"])
        msg["References"] = str(original.message["Message-ID"])
    for key, value in (headers or {}).items():
        msg[key] = value
    return msg.as_bytes()


def test_task_emails_carry_reply_address_and_reference(world: World) -> None:
    caught = world.deliver()
    [single] = [m for m in sent_to(caught, head("a")) if "п. 13" in m.subject]
    a13 = world.tasks["a13"]
    assert single.subject.endswith(f"[ДК-13-{a13}]")
    assert str(single.message["Reply-To"]).startswith(f"otvet+{a13}-")
    [digest] = sent_to(caught, head("c"))
    assert str(digest.message["Reply-To"]) == "otvet@imcso.example"
    assert f"[ДК-5-{world.tasks['c5']}]" in digest.text()
    assert f"[ДК-13-{world.tasks['c13']}]" in digest.text()


def test_replies_land_where_they_should_once(any_world: World) -> None:
    world = any_world
    caught = world.deliver()
    t = world.tasks
    mail_a = sent_to(caught, head("a"))
    a13 = next(m for m in mail_a if "п. 13" in m.subject)
    a5 = next(m for m in mail_a if "п. 5" in m.subject)
    b13 = next(m for m in sent_to(caught, head("b")) if "п. 13" in m.subject)
    b5 = next(m for m in sent_to(caught, head("b")) if "п. 5" in m.subject)
    d13 = next(m for m in sent_to(caught, head("d")) if "п. 13" in m.subject)
    [digest_c] = sent_to(caught, head("c"))

    # text only, to the task's own reply address, with a quoted history
    world.imap.append(
        reply_to(
            a13,
            "Наставников: 12\nнаставляемых — 15\nБаза сформирована.\n\nС уважением,\nДиректор\n\n"
            "пн, 5 сент. 2022 г. в 09:00, Методический центр <roadmap@imcso.example>:\n"
            "> Здравствуйте!\n> Новая задача\n",
            sender=head("a"),
        )
    )
    # with an attachment, to the centre's plain address: matched by In-Reply-To
    world.imap.append(
        reply_to(
            a5,
            "Приказ издан, пары закреплены.\nДата приказа: 02.09.2022\n"
            "Новость: https://school-a.example/news/1",
            sender=f"Директор А <{head('a')}>",
            to=CENTRE,
            attachments=(("приказ.pdf", PDF),),
        )
    )
    # from the curator, by the subject's reference only
    world.imap.append(
        reply_to(b13, "Количество наставников: 7", sender=curator("b"), to=CENTRE, threaded=False)
    )
    # from a stranger, by the subject's reference: waits for review
    world.imap.append(
        reply_to(
            b5,
            "Приказ издан. Дата приказа: 01.09.2022",
            sender="someone@elsewhere.example",
            to=CENTRE,
            threaded=False,
            attachments=(("приказ.pdf", PDF),),
        )
    )
    # an auto-reply and a bounce: never answers, never answered
    world.imap.append(
        reply_to(
            a5,
            "Я в отпуске до 20 сентября.",
            sender=head("a"),
            headers={"Auto-Submitted": "auto-replied", "X-Autoreply": "yes"},
        )
    )
    world.imap.append(
        b"From: Mail Delivery System <MAILER-DAEMON@mx.school.example>\r\n"
        b"To: " + CENTRE.encode() + b"\r\nSubject: Undelivered Mail Returned to Sender\r\n"
        b"Message-ID: <bounce-1@mx.school.example>\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="b1"\r\n\r\n'
        b"--b1\r\nContent-Type: text/plain\r\n\r\nDelivery to head.x@school.example failed\r\n"
        b"--b1\r\nContent-Type: message/delivery-status\r\n\r\n"
        b"Reporting-MTA: dns; mx.school.example\r\n\r\nFinal-Recipient: rfc822; x@y\r\n"
        b"Action: failed\r\nStatus: 5.1.1\r\n\r\n--b1--\r\n"
    )
    # a digest reply naming both tasks: the number part is complete, the file part is not
    world.imap.append(
        reply_to(
            digest_c,
            f"[ДК-13-{t['c13']}] наставников: 5\n\n[ДК-5-{t['c5']}] Приказ издан.\n"
            "Дата приказа: 03.09.2022\n",
            sender=head("c"),
            to="otvet@imcso.example",
        )
    )
    # cp1251, quoted-printable, with the client's quoted history
    cp = Charset("cp1251")
    cp.body_encoding = QP
    old = MIMEText(
        "Наставников: 9\r\n\r\n-----Original Message-----\r\nFrom: Центр\r\n"
        "Количество наставников: 100\r\n",
        "plain",
        cp,  # type: ignore[arg-type]
    )
    old["From"] = head("d")
    old["To"] = str(d13.message["Reply-To"])
    old["Subject"] = f"Re: {d13.subject}"
    old["Message-ID"] = make_msgid(domain="school.example")
    old["In-Reply-To"] = str(d13.message["Message-ID"])
    raw_cp = old.as_bytes()
    assert b'charset="cp1251"' in raw_cp or b"charset=cp1251" in raw_cp
    world.imap.append(raw_cp)
    # nothing to match it by
    world.imap.append(
        reply_to(
            a5, "Когда совещание?", sender=head("a"), to=CENTRE, threaded=False, subject="Вопрос"
        )
    )

    report = world.read()
    assert report == {
        "seen": 9,
        "answered": 4,
        "partial": 1,
        "review": 2,
        "ignored": 2,
    }

    # A13: text, numbers after their labels, the quote and the signature gone
    [ev] = world.evidence("a13")
    assert ev.values["mentors"] == 12 and ev.values["mentees"] == 15
    assert ev.values["comment"] == "Наставников: 12\nнаставляемых — 15\nБаза сформирована."
    assert ev.submitted_by == head("a")
    assert world.task("a13").status is TaskStatus.submitted
    # A5: the attachment stored as the task's file, the link as its link
    [ev5] = world.evidence("a5")
    assert ev5.values["held_on"] == "2022-09-02"
    assert ev5.values["page"] == "https://school-a.example/news/1"
    with Session(world.engine) as s:
        [f] = s.exec(select(EvidenceFile).where(EvidenceFile.evidence_id == ev5.id)).all()
        assert f.original_name == "приказ.pdf" and f.size == len(PDF)
        events = s.exec(
            select(TaskEvent).where(
                TaskEvent.task_id == t["a5"], TaskEvent.kind == TaskEventKind.submitted
            )
        ).all()
        [a5_message] = [m for m in world.messages() if m.task_ids == [t["a5"]]]
        assert [e.note for e in events] == [
            f"версия 1; ответ по электронной почте, Message-ID {a5_message.message_key}"
        ]
    # B13 from the curator
    [evb] = world.evidence("b13")
    assert evb.values["mentors"] == 7 and evb.submitted_by == curator("b")
    # D13 in cp1251: the history's number is not taken
    [evd] = world.evidence("d13")
    assert evd.values["mentors"] == 9
    # C: the digest split; C13 answered, C5 open with a receipt saying what is missing
    [evc] = world.evidence("c13")
    assert evc.values["mentors"] == 5
    assert world.evidence("c5") == [] and world.task("c5").status is TaskStatus.open
    # B5 from a stranger waits; nothing applied
    assert world.evidence("b5") == [] and world.task("b5").status is TaskStatus.open
    by_status = {m.status for m in world.messages()}
    assert by_status == {"answered", "partial", "review", "ignored"}
    review = [m for m in world.messages() if m.status == InboundStatus.review]
    assert sorted(m.from_addr for m in review) == [head("a"), "someone@elsewhere.example"]
    stranger = next(m for m in review if m.from_addr == "someone@elsewhere.example")
    assert "не значится среди адресов" in stranger.reason

    # what goes out: receipts to the senders, the partial receipt to C's head, nothing
    # to the auto-reply, the bounce or the stranger
    mail = world.deliver()
    receipts = {(m.rcpt_tos[0], m.subject.split(":")[0]) for m in mail}
    assert receipts == {
        (head("a"), "Ответ получен"),
        (curator("b"), "Ответ получен"),
        (head("c"), "Ответ получен"),
        (head("d"), "Ответ получен"),
        (head("c"), "Ответ получен не полностью"),
    }
    assert len(mail) == 6  # head A has two receipts (A5 and A13)
    partial = next(m for m in mail if "не полностью" in m.subject)
    assert partial.subject.endswith(f"[ДК-5-{t['c5']}]")
    text = partial.text()
    assert "Дата приказа: 03.09.2022" in text and "Приказ (скан)" in text
    assert f"{BASE}/t/" in text
    assert str(partial.message["Reply-To"]).startswith(f"otvet+{t['c5']}-")

    # the reminders of answered tasks stop; the open ones still get theirs
    with Session(world.engine) as s:
        owed = owed_notices(
            session=s,
            today=date(2022, 9, 9),
            policy=reminder_policy(world.settings),
            centre_email=CENTRE,
            tz=world.settings.tz,
        )
    reminded = {n.task_id for n in owed if n.kind is NoticeKind.reminder}
    assert reminded == {t["b5"], t["c5"], t["d5"]}

    # once: everything is flagged; a second run reads nothing and sends nothing
    done, todo = world.imap.flagged()
    assert len(done) == 9 and todo == []
    assert world.read() == {}
    assert world.deliver() == []
    assert len(world.messages()) == 9

    # the centre accepts the stranger's reply as B5's answer on the review page
    app = create_app(world.settings, world.engine, lambda: START + timedelta(hours=2))
    client = TestClient(app, base_url=BASE)
    page = login(client)
    assert page.status_code == 303, page.text
    listing = client.get("/admin/inbox")
    assert listing.status_code == 200
    assert "someone@elsewhere.example" in listing.text and "Когда совещание?" in listing.text
    csrf = listing.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    bad = client.post(
        f"/admin/inbox/{stranger.id}/accept", data={"csrf_token": "x", "task": str(t["b5"])}
    )
    assert bad.status_code == 403
    ok = client.post(
        f"/admin/inbox/{stranger.id}/accept",
        data={"csrf_token": csrf, "task": f"ДК-5-{t['b5']}"},
        follow_redirects=False,
    )
    assert ok.status_code == 303, ok.text
    [evs] = world.evidence("b5")
    assert evs.submitted_by == "someone@elsewhere.example" and evs.values["held_on"] == "2022-09-01"
    again = client.post(
        f"/admin/inbox/{stranger.id}/accept", data={"csrf_token": csrf, "task": str(t["b5"])}
    )
    assert again.status_code == 409 and "уже разобрано" in again.text
    unmatched = next(m for m in review if m.from_addr == head("a"))
    gone = client.post(
        f"/admin/inbox/{unmatched.id}/discard",
        data={"csrf_token": csrf},
        follow_redirects=False,
    )
    assert gone.status_code == 303
    statuses = {m.id: m.status for m in world.messages()}
    assert statuses[stranger.id] == "accepted" and statuses[unmatched.id] == "discarded"
    assert "Писем на разбор нет" in client.get("/admin/inbox").text
    [receipt_b5] = world.deliver(START + timedelta(hours=2))
    assert receipt_b5.rcpt_tos == ["someone@elsewhere.example"]


def test_token_carries_the_task_and_an_oversized_reply_is_refused(
    tmp_path: Path, smtp: SmtpSink, imap: Dovecot
) -> None:
    settings = inbox_settings(tmp_path, smtp, imap, inbox_max_bytes=64 * 1024)
    engine = make_engine(settings.effective_database_url)
    upgrade(engine)
    world = World(settings, engine, smtp, imap, build(settings, engine))
    caught = world.deliver()
    b13 = next(m for m in sent_to(caught, head("b")) if "п. 13" in m.subject)
    # forwarded to a deputy whose address is not on record: the token lets it in
    imap.append(reply_to(b13, "Количество наставников: 4", sender="zam.b@school.example"))
    big = reply_to(
        b13,
        "Список во вложении",
        sender=head("b"),
        attachments=(("список.pdf", PDF + b"0" * 100_000),),
    )
    imap.append(big)
    assert world.read() == {"seen": 2, "answered": 1, "refused": 1}
    [ev] = world.evidence("b13")
    assert ev.submitted_by == "zam.b@school.example" and ev.values["mentors"] == 4
    mail = world.deliver()
    refused = next(m for m in mail if m.rcpt_tos == [head("b")])
    assert refused.subject == "Письмо не принято: больше 64 КБ"
    assert "не принято" in refused.text()
    engine.dispose()


def test_a_crash_after_the_commit_only_flags_the_message(world: World) -> None:
    caught = world.deliver()
    a13 = next(m for m in sent_to(caught, head("a")) if "п. 13" in m.subject)
    raw = reply_to(a13, "Наставников: 3", sender=head("a"))
    world.imap.append(raw)
    # the run that died: recorded and committed, never flagged on the server
    with session_scope(world.engine) as s:
        process_message(
            s,
            raw=raw,
            source=Source("INBOX", 1, 1),
            settings=world.settings,
            now=START,
            written=[],
        )
    assert world.imap.flagged() == ([], [1])
    assert world.read() == {"seen": 1, "already": 1}
    assert world.imap.flagged() == ([1], [])
    assert len(world.evidence("a13")) == 1 and len(world.messages()) == 1
    # the same message delivered again (another copy, another UID): recorded once
    world.imap.append(raw)
    assert world.read() == {"seen": 1, "already": 1}
    assert len(world.evidence("a13")) == 1 and len(world.messages()) == 1
    assert world.deliver() != []  # the one receipt, queued by the first run
    assert world.deliver() == []


def test_processed_messages_can_be_moved(tmp_path: Path, smtp: SmtpSink, imap: Dovecot) -> None:
    settings = inbox_settings(tmp_path, smtp, imap, imap_processed_mailbox="Обработано")
    engine = make_engine(settings.effective_database_url)
    upgrade(engine)
    world = World(settings, engine, smtp, imap, build(settings, engine))
    a13 = next(m for m in sent_to(world.deliver(), head("a")) if "п. 13" in m.subject)
    imap.append(reply_to(a13, "Наставников: 2", sender=head("a")))
    assert world.read() == {"seen": 1, "answered": 1}
    assert imap.count("INBOX") == 0
    engine.dispose()


def _cli_env(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROADMAP_")}
    env.update(
        ROADMAP_DATABASE_URL=settings.effective_database_url,
        ROADMAP_VAR_DIR=str(settings.var_dir),
        ROADMAP_ROADMAP_FILE=str(settings.roadmap_file),
        ROADMAP_PORTAL_URL=settings.portal_url,
        ROADMAP_CENTRE_EMAIL=settings.centre_email,
        ROADMAP_IMAP_HOST=str(settings.imap_host),
        ROADMAP_IMAP_PORT=str(settings.imap_port),
        ROADMAP_IMAP_USERNAME=USER,
        ROADMAP_IMAP_PASSWORD=PASSWORD,
        ROADMAP_REPLY_ADDRESS=REPLY,
    )
    return env


def test_inbox_once_killed_mid_run_loses_and_doubles_nothing(world: World) -> None:
    """A mix of replies (numbers, a scan, a stranger's, auto-replies, one that lacks a
    field) read by `roadmap inbox --once`, killed mid-run and run again: each lands where
    it should, once."""
    caught = world.deliver()
    a13 = next(m for m in sent_to(caught, head("a")) if "п. 13" in m.subject)
    a5 = next(m for m in sent_to(caught, head("a")) if "п. 5" in m.subject)
    b13 = next(m for m in sent_to(caught, head("b")) if "п. 13" in m.subject)
    d5 = next(m for m in sent_to(caught, head("d")) if "п. 5" in m.subject)
    total = 40
    for n in range(total):
        kind = n % 4
        if kind == 0:
            raw = reply_to(a13, f"Наставников: {n + 1}", sender=head("a"))
        elif kind == 1:
            raw = reply_to(
                a5,
                f"Приказ № {n} издан.\nДата приказа: 02.09.2022",
                sender=head("a"),
                attachments=((f"приказ-{n}.pdf", PDF + str(n).encode()),),
            )
        elif kind == 2:
            raw = reply_to(b13, f"Наставников: {n}", sender="someone@elsewhere.example", to=CENTRE)
        else:
            raw = reply_to(a13, "Я в отпуске.", sender=head("a"), headers={"X-Autoreply": "yes"})
        world.imap.append(raw)
    world.imap.append(reply_to(d5, "Приказ издан.", sender=head("d")))  # no date, no scan
    total += 1
    command = [str(Path(sys.executable).parent / "roadmap"), "inbox", "--once"]
    env = _cli_env(world.settings)
    proc = subprocess.Popen(
        command, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    deadline = time.monotonic() + 60
    while world.count(InboundMessage) == 0:
        assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
        assert time.monotonic() < deadline
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    first = world.count(InboundMessage)
    assert 0 < first < total, "the run finished before it could be killed"

    second = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "новых писем" in second.stdout
    messages = world.messages()
    assert len(messages) == total
    statuses = [m.status for m in messages]
    assert {s: statuses.count(s) for s in set(statuses)} == {
        "answered": 20,
        "review": 10,
        "ignored": 10,
        "partial": 1,
    }
    versions = [e.values["mentors"] for e in world.evidence("a13")]
    assert sorted(versions) == list(range(1, total, 4))
    scans = world.evidence("a5")
    assert len(scans) == 10 and world.evidence("b13") == [] and world.evidence("d5") == []
    with Session(world.engine) as s:
        names = s.exec(select(EvidenceFile.original_name).order_by(col(EvidenceFile.id))).all()
        assert sorted(names) == sorted(f"приказ-{n}.pdf" for n in range(1, total, 4))
        sent = s.exec(
            select(OutgoingEmail.kind, OutgoingEmail.to_addr).where(
                col(OutgoingEmail.kind).in_([NoticeKind.receipt.value, "inbox_reply"])
            )
        ).all()
    assert sorted(sent) == sorted(
        [(NoticeKind.receipt.value, head("a"))] * 20 + [("inbox_reply", head("d"))]
    )
    assert world.imap.flagged()[1] == []
    files = (
        list((world.settings.uploads_dir).rglob("*")) if world.settings.uploads_dir.exists() else []
    )
    assert [f for f in files if f.is_file()] == []


def test_inbox_command_needs_a_host(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROADMAP_")}
    env["ROADMAP_VAR_DIR"] = str(tmp_path / "var")
    result = subprocess.run(
        [str(Path(sys.executable).parent / "roadmap"), "inbox", "--once"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "ROADMAP_IMAP_HOST" in result.stderr


def test_the_inbox_deployment_exists_only_with_a_mailbox(tmp_path: Path) -> None:
    from config.runtime import open_engine
    from flows.serve import build_deployments

    settings = make_settings(tmp_path)
    engine = open_engine(settings)
    with Session(engine) as session:
        without = build_deployments(session=session, settings=settings, today=date(2026, 11, 25))
        with_host = build_deployments(
            session=session,
            settings=settings.model_copy(update={"imap_host": "127.0.0.1"}),
            today=date(2026, 11, 25),
        )
    assert "inbox" not in {d.name for d in without}
    [inbox] = [d for d in with_host if d.name == "inbox"]
    from prefect.client.schemas.schedules import IntervalSchedule

    assert inbox.schedules
    schedule = inbox.schedules[0].schedule
    assert isinstance(schedule, IntervalSchedule) and schedule.interval == timedelta(minutes=5)
    engine.dispose()


@pytest.mark.prefect
def test_the_inbox_flow_reads_the_mailbox(
    world: World, monkeypatch: pytest.MonkeyPatch, prefect_harness: None
) -> None:
    from config.runtime import cached_engine
    from config.settings import get_settings
    from flows.inbox import inbox_flow

    a13 = next(m for m in sent_to(world.deliver(), head("a")) if "п. 13" in m.subject)
    world.imap.append(reply_to(a13, "Наставников: 6", sender=head("a")))
    for key, value in _cli_env(world.settings).items():
        if key.startswith("ROADMAP_"):
            monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    cached_engine.cache_clear()
    try:
        result = inbox_flow()
    finally:
        get_settings.cache_clear()
        cached_engine.cache_clear()
    assert result["seen"] == 1 and result["answered"] == 1
    [ev] = world.evidence("a13")
    assert ev.values["mentors"] == 6


def test_a_digest_reply_without_references_waits_for_review(world: World) -> None:
    [digest_c] = sent_to(world.deliver(), head("c"))
    world.imap.append(reply_to(digest_c, "Всё сделали, наставников: 4", sender=head("c")))
    partial_reply = reply_to(
        digest_c,
        f"ДК-13-{world.tasks['c13']}: наставников 4\nДК-5-{world.tasks['c5']}: приказ во вложении",
        sender=head("c"),
        attachments=(("приказ.pdf", PDF),),
    )
    world.imap.append(partial_reply)
    assert world.read() == {"seen": 2, "review": 2}
    reasons = [m.reason for m in world.messages()]
    assert "нет ссылок на задачи" in reasons[0]
    assert "Вложения в ответе о нескольких задачах" in reasons[1]
    assert world.evidence("c13") == [] and world.evidence("c5") == []
    assert world.deliver() == []


def test_the_running_inbox_reads_new_mail_at_once_with_idle(world: World) -> None:
    a13 = next(m for m in sent_to(world.deliver(), head("a")) if "п. 13" in m.subject)
    env = {**_cli_env(world.settings), "PYTHONUNBUFFERED": "1"}
    command = [str(Path(sys.executable).parent / "roadmap"), "inbox", "--every", "600"]
    proc = subprocess.Popen(
        command, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline().decode()
        assert "новых писем: 0" in first, first
        world.imap.append(reply_to(a13, "Наставников: 8", sender=head("a")))
        deadline = time.monotonic() + 30  # far less than --every: IDLE woke it
        while not world.evidence("a13"):
            assert proc.poll() is None
            assert time.monotonic() < deadline, "the new reply was not read"
            time.sleep(0.1)
        [ev] = world.evidence("a13")
        assert ev.values["mentors"] == 8
    finally:
        proc.terminate()
        proc.wait(10)


def _owed(world: World, day: date) -> set[tuple[int, NoticeKind]]:
    with Session(world.engine) as s:
        owed = owed_notices(
            session=s,
            today=day,
            policy=reminder_policy(world.settings),
            centre_email=CENTRE,
            tz=world.settings.tz,
        )
    return {(n.task_id, n.kind) for n in owed}


def test_a_follow_up_reply_adds_to_the_reply_that_lacked_a_field(any_world: World) -> None:
    """A reply that lacked a required field leaves the task open; a second reply that
    brings only the missing part completes the answer from both, whichever part came
    first and by whichever way the second reply is matched."""
    world = any_world
    t = world.tasks
    caught = world.deliver()
    a5 = next(m for m in sent_to(caught, head("a")) if "п. 5" in m.subject)
    b5 = next(m for m in sent_to(caught, head("b")) if "п. 5" in m.subject)

    # A: the text and the date, no scan; B: the scan with a few words, no date
    first_a = reply_to(
        a5, "Приказ издан, пары закреплены.\nДата приказа: 02.09.2022", sender=head("a")
    )
    world.imap.append(first_a)
    world.imap.append(
        reply_to(b5, "Приказ во вложении.", sender=head("b"), attachments=(("приказ.pdf", PDF),))
    )
    assert world.read() == {"seen": 2, "partial": 2}
    assert world.evidence("a5") == [] and world.task("a5").status is TaskStatus.open
    receipts = {m.rcpt_tos[0]: m for m in world.deliver()}
    assert set(receipts) == {head("a"), head("b")}
    told_a = receipts[head("a")].text()
    assert "Дата приказа: 02.09.2022" in told_a and "Чего не хватает:" in told_a
    assert "пришлите только то, чего не хватает" in told_a
    assert "Приказ (скан): файлы: приказ.pdf" in receipts[head("b")].text()
    after_due = date(2022, 9, 16)
    assert (t["a5"], NoticeKind.chase) in _owed(world, after_due)

    # A answers the partial receipt with the scan only: the answer is both replies
    later = START + timedelta(hours=1)
    scan_only = reply_to(
        receipts[head("a")],
        "Скан приказа во вложении.",
        sender=head("a"),
        attachments=(("скан.pdf", PDF),),
    )
    world.imap.append(scan_only)
    # B's curator sends the date, matched by the subject's reference only
    world.imap.append(
        reply_to(
            b5,
            "Дата приказа: 01.09.2022",
            sender=curator("b"),
            to=CENTRE,
            threaded=False,
        )
    )
    assert world.read(later) == {"seen": 2, "answered": 2}
    [ev_a] = world.evidence("a5")
    assert ev_a.values["held_on"] == "2022-09-02"
    assert ev_a.values["summary"] == (
        "Приказ издан, пары закреплены.\nДата приказа: 02.09.2022\n\nСкан приказа во вложении."
    )
    assert ev_a.submitted_by == head("a")
    [ev_b] = world.evidence("b5")
    assert ev_b.values["held_on"] == "2022-09-01" and ev_b.submitted_by == curator("b")
    assert ev_b.values["summary"] == "Приказ во вложении.\n\nДата приказа: 01.09.2022"
    with Session(world.engine) as s:
        names = {
            ev.task_id: [
                f.original_name
                for f in s.exec(select(EvidenceFile).where(EvidenceFile.evidence_id == ev.id))
            ]
            for ev in (ev_a, ev_b)
        }
        [note_a] = s.exec(
            select(TaskEvent.note).where(
                TaskEvent.task_id == t["a5"], TaskEvent.kind == TaskEventKind.submitted
            )
        ).all()
    assert names == {t["a5"]: ["скан.pdf"], t["b5"]: ["приказ.pdf"]}
    messages = world.messages()
    first, second = messages[0], messages[2]
    assert first.from_addr == head("a") and second.from_addr == head("a")
    assert note_a == (
        f"версия 1; ответ по электронной почте, Message-ID {second.message_key} "
        f"(дополняет ответ из писем Message-ID {first.message_key})"
    )
    # the first replies now say they were completed; nothing is partial any more
    assert [m.status for m in messages] == ["answered"] * 4
    assert first.outcomes[0]["outcome"] == "completed" and first.outcomes[0]["version"] == 1
    assert f"дополнен письмом {second.message_key}" in first.reason
    # the receipts of the answers go out, and the chases stop
    done = world.deliver(later)
    assert sorted((m.rcpt_tos[0], m.subject.split(":")[0]) for m in done) == [
        (curator("b"), "Ответ получен"),
        (head("a"), "Ответ получен"),
    ]
    owed = _owed(world, after_due)
    assert (t["a5"], NoticeKind.chase) not in owed and (t["b5"], NoticeKind.chase) not in owed
    assert (t["c5"], NoticeKind.chase) in owed

    # once: nothing new on a second pass
    assert world.read(later) == {}
    assert world.deliver(later) == []


def test_a_follow_up_adds_only_to_what_came_since_the_last_answer(world: World) -> None:
    """A reply that lacked a field, then an answer on the page: a later reply with only a
    scan starts afresh (the page's answer was whole), and does not reuse the old reply."""
    from services.answers import UploadedFile, submit_answer

    t = world.tasks
    a5 = next(m for m in sent_to(world.deliver(), head("a")) if "п. 5" in m.subject)
    world.imap.append(reply_to(a5, "Дата приказа: 02.09.2022", sender=head("a")))
    assert world.read() == {"seen": 1, "partial": 1}
    on_page = START + timedelta(hours=1)
    with session_scope(world.engine) as s:
        task = s.get(Task, t["a5"])
        assert task is not None
        submit_answer(
            session=s,
            task=task,
            values={"summary": "Приказ издан", "held_on": "03.09.2022"},
            files=[UploadedFile("order", "приказ.pdf", PDF, "application/pdf")],
            by=head("a"),
            settings=world.settings,
            now=on_page,
        )
    world.deliver(on_page)
    world.imap.append(
        reply_to(a5, "", sender=head("a"), attachments=(("новый.pdf", PDF),), subject="Re: скан")
    )
    assert world.read(on_page + timedelta(hours=1)) == {"seen": 1, "partial": 1}
    assert [e.values["held_on"] for e in world.evidence("a5")] == ["2022-09-03"]
    [receipt] = world.deliver(on_page + timedelta(hours=1))
    assert "Дата приказа" in receipt.text().split("Чего не хватает:", 1)[1]


def test_the_review_list_accepts_a_digest_part_or_a_partial_answer(world: World) -> None:
    """The centre's review list: only for the centre's staff; a stranger's digest reply
    accepted for one task takes that task's part of it; a task it cannot find is said so;
    an accepted reply that lacks a field gets the same receipt as any, and a follow-up
    from the head completes it."""
    t = world.tasks
    caught = world.deliver()
    [digest_c] = sent_to(caught, head("c"))
    world.imap.append(
        reply_to(
            digest_c,
            f"[ДК-13-{t['c13']}] наставников: 5\n\n[ДК-5-{t['c5']}] Приказ издан.",
            sender="secretary@school-c.example",
            to="otvet@imcso.example",
        )
    )
    assert world.read() == {"seen": 1, "review": 1}
    [waiting] = world.messages()
    assert "не значится среди адресов" in waiting.reason

    at = START + timedelta(hours=1)
    client = TestClient(create_app(world.settings, world.engine, lambda: at), base_url=BASE)
    outside = client.get("/admin/inbox", follow_redirects=False)
    assert outside.status_code == 303 and "/admin/login" in outside.headers["location"]
    assert client.post(f"/admin/inbox/{waiting.id}/discard").status_code == 403
    assert world.messages()[0].status == InboundStatus.review
    assert login(client).status_code == 303
    listing = client.get("/admin/inbox")
    assert "secretary@school-c.example" in listing.text
    assert f'<option value="ДК-13-{t["c13"]}">' in listing.text
    assert f'<option value="ДК-5-{t["c5"]}">' in listing.text
    csrf = listing.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    unknown = client.post(
        f"/admin/inbox/{waiting.id}/accept", data={"csrf_token": csrf, "task": "ДК-5-999999"}
    )
    assert unknown.status_code == 400 and "не найдена" in unknown.text
    ok = client.post(
        f"/admin/inbox/{waiting.id}/accept",
        data={"csrf_token": csrf, "task": f"ДК-13-{t['c13']}"},
        follow_redirects=False,
    )
    assert ok.status_code == 303
    [ev] = world.evidence("c13")
    assert ev.values == {"mentors": 5, "comment": "наставников: 5"}
    assert ev.submitted_by == "secretary@school-c.example"
    assert world.evidence("c5") == []
    [accepted] = world.messages()
    assert accepted.status == InboundStatus.accepted and accepted.reviewed_by == ADMIN_EMAIL
    assert "Письмо принято" in client.get("/admin/inbox?done=accepted").text

    # the same stranger, nothing to match: accepted as C5's answer, it lacks the date and
    # the scan; the head's follow-up with both completes it
    world.imap.append(
        reply_to(
            digest_c,
            "Приказ о наставничестве издан.",
            sender="secretary@school-c.example",
            to=CENTRE,
            threaded=False,
            subject="Приказ",
        )
    )
    assert world.read(at) == {"seen": 1, "review": 1}
    second = world.messages()[1]
    assert "Приказ о наставничестве издан." in client.get("/admin/inbox").text
    ok = client.post(
        f"/admin/inbox/{second.id}/accept",
        data={"csrf_token": csrf, "task": str(t["c5"])},
        follow_redirects=False,
    )
    assert ok.status_code == 303
    assert world.evidence("c5") == [] and world.task("c5").status is TaskStatus.open
    mail = world.deliver(at)
    partial = next(m for m in mail if "не полностью" in m.subject)
    assert partial.rcpt_tos == ["secretary@school-c.example"]
    assert "Приказ о наставничестве издан." in partial.text()
    world.imap.append(
        reply_to(
            partial,
            "Дата приказа: 04.09.2022",
            sender=head("c"),
            attachments=(("приказ.pdf", PDF),),
        )
    )
    assert world.read(at) == {"seen": 1, "answered": 1}
    [ev5] = world.evidence("c5")
    assert ev5.values["summary"] == "Приказ о наставничестве издан.\n\nДата приказа: 04.09.2022"
    assert ev5.values["held_on"] == "2022-09-04" and ev5.submitted_by == head("c")
    assert world.messages()[1].outcomes[0]["outcome"] == "completed"


def test_a_reply_is_matched_by_address_then_thread_then_subject(world: World) -> None:
    """When the signals disagree the reply address wins, then In-Reply-To/References,
    then the subject's reference; a forged token or a reference whose item number does
    not fit its task counts for nothing."""
    t = world.tasks
    caught = world.deliver()
    mail_a = sent_to(caught, head("a"))
    a13 = next(m for m in mail_a if "п. 13" in m.subject)
    a5 = next(m for m in mail_a if "п. 5" in m.subject)
    subject_b13 = f"Re: [ДК-13-{t['b13']}]"
    # A13's reply address, threaded under A5's email, B13's reference in the subject
    world.imap.append(
        reply_to(
            a5,
            "наставников: 1",
            sender=head("a"),
            to=str(a13.message["Reply-To"]),
            subject=subject_b13,
        )
    )
    # a forged token: the thread (A13's email) decides, not the subject's B13
    world.imap.append(
        reply_to(
            a13,
            "наставников: 2",
            sender=head("a"),
            to=f"otvet+{t['b13']}-0123456789@imcso.example",
            subject=subject_b13,
        )
    )
    # no token, no thread: the subject; its wrong item number names nothing, the
    # right one names D13 (from a head not D's: waits for review)
    world.imap.append(
        reply_to(
            a13,
            "наставников: 3",
            sender=head("a"),
            to=CENTRE,
            threaded=False,
            subject=f"Re: [ДК-5-{t['d13']}]",
        )
    )
    world.imap.append(
        reply_to(
            a13,
            "наставников: 4",
            sender=curator("d"),
            to=CENTRE,
            threaded=False,
            subject=f"Re: [ДК-13-{t['d13']}]",
        )
    )
    assert world.read() == {"seen": 4, "answered": 3, "review": 1}
    assert [e.values["mentors"] for e in world.evidence("a13")] == [1, 2]
    assert [e.values["mentors"] for e in world.evidence("d13")] == [4]
    assert world.evidence("b13") == [] and world.evidence("a5") == []
    unmatched = next(m for m in world.messages() if m.status == InboundStatus.review)
    assert unmatched.task_ids == [] and "не удалось определить" in unmatched.reason.lower()


def test_replies_are_read_from_the_configured_mailbox(
    tmp_path: Path, smtp: SmtpSink, imap: Dovecot
) -> None:
    """ROADMAP_IMAP_MAILBOX names the folder replies arrive in (a Russian name works);
    each row records the folder, its UIDVALIDITY and the message's UID."""
    import re

    from notifications.imap import mailbox_name

    folder = mailbox_name("Ответы школ")
    with imap.client() as conn:
        assert conn.create(f'"{folder}"')[0] == "OK"
        status = conn.status(f'"{folder}"', "(UIDVALIDITY)")[1][0]
    assert isinstance(status, bytes)
    validity = re.search(rb"UIDVALIDITY (\d+)", status)
    assert validity is not None
    settings = inbox_settings(tmp_path, smtp, imap, imap_mailbox="Ответы школ")
    engine = make_engine(settings.effective_database_url)
    upgrade(engine)
    world = World(settings, engine, smtp, imap, build(settings, engine))
    a13 = next(m for m in sent_to(world.deliver(), head("a")) if "п. 13" in m.subject)
    imap.append(reply_to(a13, "Наставников: 2", sender=head("a")))  # INBOX: not read
    imap.append(reply_to(a13, "Наставников: 3", sender=head("a")), mailbox=f'"{folder}"')
    assert world.read() == {"seen": 1, "answered": 1}
    [row] = world.messages()
    assert (row.mailbox, row.uid_validity, row.uid) == ("Ответы школ", int(validity[1]), 1)
    assert [e.values["mentors"] for e in world.evidence("a13")] == [3]
    assert imap.flagged(f'"{folder}"') == ([1], [])
    assert imap.flagged() == ([], [1])
    engine.dispose()


def test_the_processed_mail_list_pages_instead_of_stopping(tmp_path: Path) -> None:
    """A year of replies is thousands of messages: the review page lists the processed
    ones newest first, 50 a page, and every one of them is reachable; a page past the
    end shows the last; a message waiting for review stays above, on every page."""
    settings = make_settings(tmp_path)
    engine = make_engine(settings.effective_database_url)
    upgrade(engine)
    with session_scope(engine) as s:
        create_admin(session=s, email=ADMIN_EMAIL, password=ADMIN_PASSWORD, name="М", now=START)
        for n in range(120):
            s.add(
                InboundMessage(
                    message_key=f"<m{n}@school.example>",
                    mailbox="INBOX",
                    uid_validity=1,
                    uid=n + 1,
                    received_at=START + timedelta(minutes=n),
                    from_addr=f"head{n}@school.example",
                    subject=f"Ответ № {n:03d}",
                    status=InboundStatus.answered.value,
                )
            )
        s.add(
            InboundMessage(
                message_key="<waiting@school.example>",
                mailbox="INBOX",
                uid_validity=1,
                uid=500,
                received_at=START,
                from_addr="stranger@example.org",
                subject="Без ссылки на задачу",
                status=InboundStatus.review.value,
                reason="не найдена задача",
            )
        )
    client = TestClient(create_app(settings, engine, lambda: START), base_url=BASE)
    assert login(client).status_code == 303

    def subjects(page: str) -> list[int]:
        text = client.get(f"/admin/inbox{page}").text
        assert "Без ссылки на задачу" in text.split('id="recent"', 1)[0]
        return [int(x.split("<", 1)[0]) for x in text.split("Ответ № ")[1:]]

    first = client.get("/admin/inbox").text
    assert "Всего: 120" in first and "Страница 1 из 3" in first and "показаны 1–50" in first
    assert subjects("") == list(range(119, 69, -1))
    assert subjects("?page=2") == list(range(69, 19, -1))
    assert subjects("?page=3") == list(range(19, -1, -1))
    assert subjects("?page=99") == list(range(19, -1, -1))
    assert subjects("?page=x") == list(range(119, 69, -1))
    assert 'href="/admin/inbox?page=2" rel="next"' in first
