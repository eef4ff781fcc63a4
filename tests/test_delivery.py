"""Delivery through a real SMTP server (aiosmtpd on loopback): once each, nothing lost."""

from __future__ import annotations

import asyncio
import email
import email.policy
import socket
import threading
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from icalendar import Calendar
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from config.settings import Settings
from domain.emails import OutgoingEmail
from domain.enums import EmailStatus, NoticeKind
from notifications import delivery
from notifications.delivery import LEASE, DeliveryReport, claim_due, deliver_due
from notifications.outbox import Attachment, queue_email, queue_notices
from notifications.sink import free_port
from tests.conftest import make_settings
from tests.smtp import SinkHandler, SmtpSink
from tests.test_notifications import DOMAIN, NOW, build_world, owed

CENTRE = "imcso@levokumskoe.example"


@pytest.fixture
def smtp_settings(tmp_path: Path, smtp: SmtpSink) -> Settings:
    return make_settings(tmp_path, smtp_host="127.0.0.1", smtp_port=smtp.port, smtp_timeout=5)


def queue_plain(engine: Engine, count: int, *, to: str = "", prefix: str = "m") -> list[int]:
    ids = []
    with Session(engine) as session:
        for i in range(count):
            row = queue_email(
                session=session,
                kind="summary",
                to=to or f"user{i}@school.example",
                subject=f"Письмо {prefix}{i}",
                text_body=f"Текст письма {prefix}{i}\n",
                html_body=f"<p>Текст письма {prefix}{i}</p>",
                message_id=f"<{prefix}{i}@{DOMAIN}>",
                now=NOW,
            )
            assert row.id is not None
            ids.append(row.id)
        session.commit()
    return ids


def rows(engine: Engine) -> list[OutgoingEmail]:
    with Session(engine) as session:
        return list(session.exec(select(OutgoingEmail).order_by(col(OutgoingEmail.id))).all())


async def test_a_task_email_arrives_with_its_parts(
    engine: Engine, smtp_settings: Settings, smtp: SmtpSink
):
    with Session(engine) as session:
        world = build_world(session, n_orgs=1)
        org, task = world.orgs[0], world.tasks5[0]
        queue_notices(
            session=session,
            owed=[owed(task, NoticeKind.opened, to=org.curator_email, cc=[org.head_email])],
            settings=smtp_settings,
            now=NOW,
        )
        session.commit()
        curator, head, task_id = org.curator_email, org.head_email, task.id
    report = await deliver_due(engine=engine, settings=smtp_settings, now=NOW)
    assert report == DeliveryReport(sent=1, retried=0, failed=0, written_to_files=0)
    [caught] = smtp.messages
    assert sorted(caught.rcpt_tos) == sorted([curator, head])
    assert caught.mail_from == "roadmap@imcso-levokumskoe.example"
    msg = caught.message
    assert msg["Message-ID"] == f"<task-{task_id}.opened.0@{DOMAIN}>"
    assert msg["To"] == curator and msg["Cc"] == head
    assert "Методический центр" in str(msg["From"])
    assert msg["Date"] is not None
    assert caught.subject.startswith("Новая задача: п. 5")
    assert msg.get_content_type() == "multipart/mixed"
    assert "без пароля" in caught.text() and "<!DOCTYPE html>" in caught.html()
    assert msg["Reply-To"] == CENTRE  # the robot's own mailbox is not read
    assert f"придёт в методический центр ({CENTRE})" in caught.text()
    assert CENTRE in caught.html() and "просто ответьте" not in caught.text()
    [ics] = caught.attachments()
    assert ics.get_content_type() == "text/calendar" and ics.get_filename() == "srok.ics"
    [event] = Calendar.from_ical(ics.get_content()).walk("VEVENT")
    assert event.decoded("dtstart") == date(2022, 9, 30)
    [row] = rows(engine)
    assert row.status == EmailStatus.sent and row.sent_at == NOW and row.attempts == 1
    assert row.claimed_until is None
    # nothing is sent twice
    again = await deliver_due(engine=engine, settings=smtp_settings, now=NOW + timedelta(hours=1))
    assert again == DeliveryReport(0, 0, 0, 0)
    assert len(smtp.messages) == 1


async def test_attachments_and_html_escaping_survive_delivery(
    engine: Engine, smtp_settings: Settings, smtp: SmtpSink
):
    with Session(engine) as session:
        queue_email(
            session=session,
            kind="summary",
            to=CENTRE,
            subject="Аналитическая справка",
            text_body="Справка во вложении\n",
            html_body="<p>Справка: &lt;script&gt;</p>",
            attachments=[
                Attachment("справка 2022.docx", "application/octet-stream", b"PK\x03\x04")
            ],
            message_id=f"<summary-1@{DOMAIN}>",
            now=NOW,
        )
        session.commit()
    await deliver_due(engine=engine, settings=smtp_settings, now=NOW)
    [caught] = smtp.handler.to(CENTRE)
    [att] = caught.attachments()
    assert att.get_filename() == "справка 2022.docx"
    assert att.get_content() == b"PK\x03\x04"
    assert "&lt;script&gt;" in caught.html() and "<script>" not in caught.html()


async def test_many_messages_share_few_connections(engine: Engine, tmp_path: Path):
    class CountingHandler(SinkHandler):
        def __init__(self) -> None:
            super().__init__()
            self.sessions: set[int] = set()

        async def handle_DATA(self, server, session, envelope):
            self.sessions.add(id(session))
            return await super().handle_DATA(server, session, envelope)

    handler = CountingHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        port = int(controller.port)
        settings = make_settings(
            tmp_path, smtp_host="127.0.0.1", smtp_port=port, smtp_concurrency=2
        )
        queue_plain(engine, 12)
        report = await deliver_due(engine=engine, settings=settings, now=NOW)
    finally:
        controller.stop()
    assert report.sent == 12
    assert len(handler.messages) == 12
    assert 1 <= len(handler.sessions) <= 2


async def test_a_temporary_failure_is_retried_later_and_nothing_is_lost(
    engine: Engine, smtp_settings: Settings, smtp: SmtpSink
):
    queue_plain(engine, 3)
    smtp.handler.fail_with["user1@school.example"] = "451 4.3.0 Try later"
    smtp.handler.fail_times["user1@school.example"] = 2

    report = await deliver_due(engine=engine, settings=smtp_settings, now=NOW)
    assert (report.sent, report.retried, report.failed) == (2, 1, 0)
    row = rows(engine)[1]
    assert row.status == EmailStatus.retry and row.attempts == 1
    assert row.next_attempt_at == NOW + timedelta(minutes=1)
    assert "451 4.3.0 Try later" in row.last_error

    # not due yet
    early = await deliver_due(
        engine=engine, settings=smtp_settings, now=NOW + timedelta(seconds=30)
    )
    assert early == DeliveryReport(0, 0, 0, 0)

    second = await deliver_due(
        engine=engine, settings=smtp_settings, now=NOW + timedelta(minutes=1)
    )
    assert second.retried == 1
    row = rows(engine)[1]
    assert row.attempts == 2 and row.next_attempt_at == NOW + timedelta(minutes=6)

    third = await deliver_due(engine=engine, settings=smtp_settings, now=NOW + timedelta(minutes=6))
    assert third.sent == 1
    row = rows(engine)[1]
    assert row.status == EmailStatus.sent and row.sent_at == NOW + timedelta(minutes=6)
    assert Counter(m.message["Message-ID"] for m in smtp.messages) == {
        f"<m{i}@{DOMAIN}>": 1 for i in range(3)
    }


async def test_backoff_grows_and_gives_up_after_ten_attempts(
    engine: Engine, smtp_settings: Settings, smtp: SmtpSink
):
    queue_plain(engine, 1, to="busy@school.example")
    smtp.handler.fail_with["busy@school.example"] = "452 4.2.2 Mailbox full"
    now = NOW
    waits = []
    for _ in range(9):
        report = await deliver_due(engine=engine, settings=smtp_settings, now=now)
        assert report.retried == 1
        row = rows(engine)[0]
        waits.append(row.next_attempt_at - now)
        now = row.next_attempt_at
    minutes = [int(w.total_seconds() // 60) for w in waits]
    assert minutes == [1, 5, 15, 60, 240, 240, 240, 240, 240]
    report = await deliver_due(engine=engine, settings=smtp_settings, now=now)
    assert report.failed == 1
    failed, notice = rows(engine)
    assert failed.status == EmailStatus.failed and failed.attempts == 10
    assert "после 10 попыток сервер так и не принял письмо" in failed.last_error
    assert "последний ответ: busy@school.example: 452 4.2.2 Mailbox full" in failed.last_error
    assert notice.kind == "delivery_failure" and notice.to_addr == CENTRE


async def test_a_permanent_failure_is_recorded_and_reported_to_the_centre(
    engine: Engine, smtp_settings: Settings, smtp: SmtpSink
):
    ids = queue_plain(engine, 3)
    smtp.handler.fail_with["user1@school.example"] = "550 5.1.1 No such user"

    report = await deliver_due(engine=engine, settings=smtp_settings, now=NOW)
    # the two good messages, then the centre's notice queued during the same run
    assert (report.sent, report.retried, report.failed) == (3, 0, 1)
    bad = rows(engine)[1]
    assert bad.id == ids[1]
    assert bad.status == EmailStatus.failed and bad.attempts == 1
    assert "550 5.1.1 No such user" in bad.last_error
    [notice] = [r for r in rows(engine) if r.kind == "delivery_failure"]
    assert notice.message_id == f"<delivery-failure-{bad.id}@{DOMAIN}>"
    assert notice.to_addr == CENTRE and notice.status == EmailStatus.sent
    [caught] = smtp.handler.to(CENTRE)
    assert caught.subject == "Письмо не доставлено: user1@school.example"
    assert "550 5.1.1 No such user" in caught.text()
    assert "повторных попыток не будет" in caught.text()
    assert "не будет отправлено повторно автоматически" in caught.text()
    assert "Тема: Письмо m1" in caught.text()
    assert len(smtp.messages) == 3


async def test_a_failure_notice_points_to_the_tasks_review_page(
    engine: Engine, smtp_settings: Settings, smtp: SmtpSink
):
    with Session(engine) as session:
        world = build_world(session, n_orgs=1)
        org, task = world.orgs[0], world.tasks13[0]
        queue_notices(
            session=session,
            owed=[owed(task, NoticeKind.opened, to=org.head_email)],
            settings=smtp_settings,
            now=NOW,
        )
        session.commit()
        head, task_id = org.head_email, task.id
    smtp.handler.fail_with[head] = "550 5.1.1 No such user"
    report = await deliver_due(engine=engine, settings=smtp_settings, now=NOW)
    assert (report.sent, report.failed) == (1, 1)
    [caught] = smtp.handler.to(CENTRE)
    text = " ".join(caught.text().split())
    assert f"Письмо не доставлено: {head}" == caught.subject
    assert "отклонено:" not in text and "550 5.1.1 No such user" in text
    assert "не будет отправлено повторно автоматически" in text
    assert f"{smtp_settings.portal_url}/admin/tasks/{task_id}" in text
    assert f'href="{smtp_settings.portal_url}/admin/tasks/{task_id}"' in caught.html()


async def test_a_failed_notice_to_the_centre_starts_no_loop(
    engine: Engine, smtp_settings: Settings, smtp: SmtpSink
):
    queue_plain(engine, 1, to="gone@school.example")
    smtp.handler.fail_with["gone@school.example"] = "550 5.1.1 No such user"
    smtp.handler.fail_with[CENTRE] = "550 5.1.1 No such user"
    report = await deliver_due(engine=engine, settings=smtp_settings, now=NOW)
    assert (report.sent, report.failed) == (0, 2)
    assert [(r.kind, r.status) for r in rows(engine)] == [
        ("summary", EmailStatus.failed),
        ("delivery_failure", EmailStatus.failed),
    ]
    later = await deliver_due(engine=engine, settings=smtp_settings, now=NOW + timedelta(days=1))
    assert later == DeliveryReport()


async def test_a_refused_copy_still_delivers_to_the_others(
    engine: Engine, smtp_settings: Settings, smtp: SmtpSink
):
    with Session(engine) as session:
        queue_email(
            session=session,
            kind="opened",
            to="curator@school.example",
            cc=["gone@school.example"],
            subject="s",
            text_body="t",
            html_body="h",
            message_id=f"<cc-1@{DOMAIN}>",
            now=NOW,
        )
        session.commit()
    smtp.handler.fail_with["gone@school.example"] = "550 5.1.1 No such user"
    report = await deliver_due(engine=engine, settings=smtp_settings, now=NOW)
    assert report.sent == 2  # the message, then the centre's notice
    sent, notice = rows(engine)
    assert sent.status == EmailStatus.sent and "gone@school.example" in sent.last_error
    assert sent.last_error.startswith("отклонено: gone@school.example: 550 5.1.1 No such user")
    assert notice.kind == "delivery_failure"
    assert notice.subject == "Письмо доставлено не всем: отклонён адрес gone@school.example"
    text = " ".join(notice.text_body.split())
    assert "Не доставлено по адресу: gone@school.example" in text
    assert "Остальные получатели (curator@school.example) письмо получили" in text
    assert "Письмо не доставлено: curator" not in text
    assert "повторных попыток не будет" not in text
    assert "550 5.1.1 No such user" in text
    assert "не будет отправлено повторно автоматически" in text
    assert [m.rcpt_tos for m in smtp.messages] == [["curator@school.example"], [CENTRE]]


async def test_a_broken_row_does_not_jam_the_others(
    engine: Engine, smtp_settings: Settings, smtp: SmtpSink
):
    queue_plain(engine, 3)
    with Session(engine) as session:
        bad = session.exec(
            select(OutgoingEmail).where(OutgoingEmail.message_id == f"<m0@{DOMAIN}>")
        ).one()
        bad.attachments = [
            {"filename": "x.pdf", "content_type": "application/pdf", "content_b64": "*"}
        ]
        session.add(bad)
        session.commit()
    report = await deliver_due(engine=engine, settings=smtp_settings, now=NOW)
    assert (report.sent, report.failed) == (3, 1)  # two good ones and the centre's notice
    broken = rows(engine)[0]
    assert broken.status == EmailStatus.failed and "x.pdf" in broken.last_error
    assert len(smtp.messages) == 3 and len(smtp.handler.to(CENTRE)) == 1


async def test_a_refused_connection_is_a_temporary_failure(engine: Engine, tmp_path: Path):
    settings = make_settings(tmp_path, smtp_host="127.0.0.1", smtp_port=free_port(), smtp_timeout=2)
    queue_plain(engine, 2)
    report = await deliver_due(engine=engine, settings=settings, now=NOW)
    assert report == DeliveryReport(sent=0, retried=2, failed=0, written_to_files=0)
    assert all(r.status == EmailStatus.retry and r.last_error for r in rows(engine))


async def test_a_server_that_never_answers_times_out_as_a_temporary_failure(
    engine: Engine, tmp_path: Path
):
    silent = socket.create_server(("127.0.0.1", 0))  # accepts, never greets
    try:
        port = silent.getsockname()[1]
        settings = make_settings(tmp_path, smtp_host="127.0.0.1", smtp_port=port, smtp_timeout=0.3)
        queue_plain(engine, 1)
        report = await deliver_due(engine=engine, settings=settings, now=NOW)
    finally:
        silent.close()
    assert report == DeliveryReport(sent=0, retried=1, failed=0, written_to_files=0)
    [row] = rows(engine)
    assert row.status == EmailStatus.retry
    assert "не удалось подключиться к почтовому серверу" in row.last_error


async def test_a_refused_login_is_temporary_and_a_good_one_delivers(engine: Engine, tmp_path: Path):
    handler = SinkHandler()

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = isinstance(auth_data, LoginPassword) and auth_data.password == b"right"
        return AuthResult(success=ok, handled=False)

    port = free_port()
    controller = Controller(
        handler,
        hostname="127.0.0.1",
        port=port,
        authenticator=authenticator,
        auth_require_tls=False,
    )
    controller.start()
    try:
        queue_plain(engine, 2)
        wrong = make_settings(
            tmp_path,
            smtp_host="127.0.0.1",
            smtp_port=port,
            smtp_username="roadmap",
            smtp_password="wrong",
        )
        report = await deliver_due(engine=engine, settings=wrong, now=NOW)
        assert report == DeliveryReport(sent=0, retried=2, failed=0, written_to_files=0)
        assert all("ROADMAP_SMTP_PASSWORD" in r.last_error for r in rows(engine))
        right = make_settings(
            tmp_path,
            smtp_host="127.0.0.1",
            smtp_port=port,
            smtp_username="roadmap",
            smtp_password="right",
        )
        later = NOW + timedelta(minutes=1)
        report = await deliver_due(engine=engine, settings=right, now=later)
    finally:
        controller.stop()
    assert report.sent == 2 and len(handler.messages) == 2


async def test_configuration_failures_never_fail_a_message_for_good(engine: Engine, tmp_path: Path):
    handler = SinkHandler()

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = isinstance(auth_data, LoginPassword) and auth_data.password == b"right"
        return AuthResult(success=ok, handled=False)

    port = free_port()
    controller = Controller(
        handler,
        hostname="127.0.0.1",
        port=port,
        authenticator=authenticator,
        auth_require_tls=False,
    )
    controller.start()
    try:
        queue_plain(engine, 1, to="greylisted@school.example")
        closed = make_settings(tmp_path, smtp_host="127.0.0.1", smtp_port=free_port())
        wrong = make_settings(
            tmp_path,
            smtp_host="127.0.0.1",
            smtp_port=port,
            smtp_username="roadmap",
            smtp_password="wrong",
        )
        now = NOW
        waits = []
        # nobody listening, then a wrong password: well past MAX_ATTEMPTS tries
        for attempt in range(2 * delivery.MAX_ATTEMPTS):
            settings = closed if attempt % 2 == 0 else wrong
            report = await deliver_due(engine=engine, settings=settings, now=now)
            assert report == DeliveryReport(retried=1), attempt
            [row] = rows(engine)
            assert row.status == EmailStatus.retry, row.last_error
            waits.append(row.next_attempt_at - now)
            now = row.next_attempt_at
        assert waits[-1] == timedelta(hours=4)  # the capped backoff
        [row] = rows(engine)
        assert "не удалось подключиться к почтовому серверу" in row.last_error
        assert "ROADMAP_SMTP_PASSWORD" in row.last_error
        # a greylisting reply after the outage still gets its own tries
        right = make_settings(
            tmp_path,
            smtp_host="127.0.0.1",
            smtp_port=port,
            smtp_username="roadmap",
            smtp_password="right",
        )
        handler.fail_with["greylisted@school.example"] = "451 4.7.1 Greylisted"
        handler.fail_times["greylisted@school.example"] = 1
        report = await deliver_due(engine=engine, settings=right, now=now)
        assert report == DeliveryReport(retried=1)
        [row] = rows(engine)
        report = await deliver_due(engine=engine, settings=right, now=row.next_attempt_at)
    finally:
        controller.stop()
    assert report == DeliveryReport(sent=1)
    assert [r.kind for r in rows(engine)] == ["summary"]  # no failure notice to the centre
    assert len(handler.messages) == 1


async def test_a_run_at_a_past_instant_keeps_to_live_leases(
    engine: Engine, smtp_settings: Settings, smtp: SmtpSink, monkeypatch: pytest.MonkeyPatch
):
    """`roadmap tick --at <past>` and the scheduled outbox flow at once: one send each."""
    queue_plain(engine, 1)
    real_send = delivery.SmtpConnection.send
    started = asyncio.Event()
    release = asyncio.Event()

    async def slow_send(self, row, *, now):
        started.set()
        await release.wait()
        return await real_send(self, row, now=now)

    monkeypatch.setattr(delivery.SmtpConnection, "send", slow_send)
    past_run = asyncio.create_task(deliver_due(engine=engine, settings=smtp_settings, now=NOW))
    await started.wait()
    monkeypatch.setattr(delivery.SmtpConnection, "send", real_send)
    # the scheduled flow, on the real clock, while the past run still holds the row
    assert (
        await deliver_due(engine=engine, settings=smtp_settings, now=datetime.now(UTC))
        == DeliveryReport()
    )
    release.set()
    assert (await past_run).sent == 1
    assert len(smtp.messages) == 1


class Crash(BaseException):
    """Stands for the process dying (not an Exception: nothing may swallow it)."""


async def test_a_crash_after_the_claim_sends_the_row_once_after_the_lease(
    engine: Engine, smtp_settings: Settings, smtp: SmtpSink, monkeypatch: pytest.MonkeyPatch
):
    queue_plain(engine, 1)
    real_send = delivery.SmtpConnection.send

    async def dies_before_sending(self, row, *, now):
        monkeypatch.setattr(delivery.SmtpConnection, "send", real_send)
        raise Crash

    monkeypatch.setattr(delivery.SmtpConnection, "send", dies_before_sending)
    with pytest.raises(BaseException) as caught:
        await deliver_due(engine=engine, settings=smtp_settings, now=NOW)
    error = caught.value
    if isinstance(error, BaseExceptionGroup):  # raised inside the sending task group
        assert error.subgroup(Crash) is not None
    else:
        assert isinstance(error, Crash)
    [row] = rows(engine)
    assert row.status == EmailStatus.sending and row.claimed_until is not None
    assert smtp.messages == []

    # while the lease holds, nobody else takes it
    held = await deliver_due(engine=engine, settings=smtp_settings, now=NOW + timedelta(minutes=1))
    assert held == DeliveryReport()
    # leases run on the wall clock: a run at the real "now" sees it held too
    wall = datetime.now(UTC)
    assert await deliver_due(engine=engine, settings=smtp_settings, now=wall) == DeliveryReport()
    assert smtp.messages == []
    later = datetime.now(UTC) + LEASE + timedelta(seconds=5)
    report = await deliver_due(engine=engine, settings=smtp_settings, now=later)
    assert report.sent == 1
    assert len(smtp.messages) == 1
    [row] = rows(engine)
    assert row.status == EmailStatus.sent and row.sent_at == later
    assert await deliver_due(engine=engine, settings=smtp_settings, now=later) == DeliveryReport()
    assert len(smtp.messages) == 1


def test_a_claim_is_exclusive_and_lapses(any_engine: Engine):
    queue_plain(any_engine, 3)
    lease_until = datetime.now(UTC) + LEASE  # leases are wall-clock instants
    first = claim_due(engine=any_engine, now=NOW, lease_until=lease_until, limit=2)
    second = claim_due(engine=any_engine, now=NOW, lease_until=lease_until, limit=10)
    assert len(first) == 2 and len(second) == 1
    assert {r.id for r in first}.isdisjoint({r.id for r in second})
    assert claim_due(engine=any_engine, now=NOW, lease_until=lease_until, limit=10) == []
    after = lease_until
    again = claim_due(engine=any_engine, now=after, lease_until=after + LEASE, limit=10)
    assert len(again) == 3


async def test_two_deliverers_at_once_send_each_message_once(
    any_engine: Engine, tmp_path: Path, smtp: SmtpSink
):
    # one connection each and small claim chunks, so the two contend for the same rows
    smtp_settings = make_settings(
        tmp_path, smtp_host="127.0.0.1", smtp_port=smtp.port, smtp_concurrency=1
    )
    queue_plain(any_engine, 40)
    reports = await asyncio.gather(
        deliver_due(engine=any_engine, settings=smtp_settings, now=NOW),
        deliver_due(engine=any_engine, settings=smtp_settings, now=NOW),
    )
    assert sum(r.sent for r in reports) == 40
    # and from two threads, each with its own event loop, like two worker processes
    queue_plain(any_engine, 40, prefix="t")
    results: list[DeliveryReport] = []

    def run() -> None:
        results.append(asyncio.run(deliver_due(engine=any_engine, settings=smtp_settings, now=NOW)))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sum(r.sent for r in results) == 40
    counts = Counter(m.message["Message-ID"] for m in smtp.messages)
    assert len(counts) == 80 and set(counts.values()) == {1}
    assert all(r.status == EmailStatus.sent for r in rows(any_engine))


async def test_without_an_smtp_host_mail_is_written_as_readable_eml_files(
    engine: Engine, settings: Settings
):
    assert not settings.email_enabled
    with Session(engine) as session:
        world = build_world(session, n_orgs=2)
        queue_notices(
            session=session,
            owed=[
                owed(t, NoticeKind.opened, to=o.head_email, on_day=date(2022, 9, 1))
                for t, o in zip(world.tasks13, world.orgs, strict=True)
            ],
            settings=settings,
            now=NOW,
        )
        session.commit()
    report = await deliver_due(engine=engine, settings=settings, now=NOW)
    assert report == DeliveryReport(sent=0, retried=0, failed=0, written_to_files=2)
    files = sorted(settings.outbox_dir.glob("*.eml"))
    assert [f.name for f in files] == [
        f"{r.id:06d}-task-{r.message_id[6:].split('.')[0]}.opened.0_{DOMAIN}.eml"
        for r in rows(engine)
    ]
    raw = files[0].read_bytes()
    assert "Здравствуйте!" in raw.decode("utf-8")  # readable as it is
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert msg["To"] == "head1@school1.example"
    assert str(msg["Subject"]).startswith("Новая задача")
    body = msg.get_body(preferencelist=("plain",))
    assert body is not None and "без пароля" in body.get_content()
    assert [a.get_filename() for a in msg.iter_attachments()] == ["srok.ics"]
    assert all(r.status == EmailStatus.sent for r in rows(engine))
    assert await deliver_due(engine=engine, settings=settings, now=NOW) == DeliveryReport()
    assert len(list(settings.outbox_dir.glob("*"))) == 2  # no leftovers


def test_the_wire_bytes_are_the_same_message_as_the_mime_build(settings: Settings):
    from notifications.mime import build_message
    from notifications.wire import message_bytes

    row = OutgoingEmail(
        id=7,
        message_id=f"<w1@{DOMAIN}>",
        kind="opened",
        to_addr="head@school.example",
        cc_addrs=["curator@school.example", "deputy@school.example"],
        subject="Новая задача: п. 13 «Утверждение приказов о закреплении наставнических пар» "
        "— срок 14.09.2022, ответ по личной ссылке",
        text_body="Здравствуйте!\n\nСтрока " + "очень длинная " * 200 + "\n.\nконец\n",
        html_body="<!DOCTYPE html><p>Ссылка &amp; текст</p>",
        attachments=[
            Attachment(
                "справка 2022.docx", "application/octet-stream", b"PK\x03\x04" * 50
            ).to_row(),
            Attachment(
                "srok.ics",
                "text/calendar; method=PUBLISH; charset=UTF-8",
                b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n",
            ).to_row(),
        ],
        reply_to=f"otvet+7-sig@{DOMAIN}",
        created_at=NOW,
        next_attempt_at=NOW,
    )
    raw = message_bytes(row, settings=settings, now=NOW)
    assert raw.isascii() and b"\n" not in raw.replace(b"\r\n", b"")
    assert all(len(line) <= 998 for line in raw.split(b"\r\n"))
    wire = email.message_from_bytes(raw, policy=email.policy.default)
    built = email.message_from_bytes(
        build_message(row, settings=settings, now=NOW).as_bytes(), policy=email.policy.default
    )
    for name in ("Message-ID", "Date", "From", "To", "Cc", "Subject", "Reply-To"):
        assert str(wire[name]) == str(built[name]), name
    assert wire["Auto-Submitted"] == "auto-generated"
    assert wire.get_content_type() == built.get_content_type() == "multipart/mixed"
    for kind in ("plain", "html"):
        got, want = wire.get_body(preferencelist=(kind,)), built.get_body(preferencelist=(kind,))
        assert got is not None and want is not None
        assert got.get_content() == want.get_content()
    assert str(wire["Reply-To"]) == f"otvet+7-sig@{DOMAIN}", "the task's own reply address"
    assert [
        (a.get_filename(), a.get_content_type(), a.get_params(), a.get_payload(decode=True))
        for a in wire.iter_attachments()
    ] == [
        (a.get_filename(), a.get_content_type(), a.get_params(), a.get_payload(decode=True))
        for a in built.iter_attachments()
    ]
    calendar = [a for a in wire.iter_attachments() if a.get_content_type() == "text/calendar"]
    assert calendar[0].get_param("method") == "PUBLISH"
    with pytest.raises(ValueError, match="line break"):
        message_bytes(
            OutgoingEmail(**{**row.model_dump(), "subject": "a\r\nBcc: x@y.example"}),
            settings=settings,
            now=NOW,
        )


async def test_one_run_delivers_everything_due_with_no_cap(
    engine: Engine, smtp_settings: Settings, smtp: SmtpSink
):
    queue_plain(engine, 1200)
    report = await deliver_due(engine=engine, settings=smtp_settings, now=NOW)
    assert report == DeliveryReport(sent=1200)
    assert len({m.message["Message-ID"] for m in smtp.messages}) == len(smtp.messages) == 1200


async def test_a_run_out_of_time_hands_the_rest_to_the_next(
    engine: Engine, smtp_settings: Settings, smtp: SmtpSink
):
    queue_plain(engine, 300)
    first = await deliver_due(
        engine=engine, settings=smtp_settings, now=NOW, budget=timedelta(seconds=0)
    )
    # a run past its budget finishes what it claimed (one chunk) and claims no more
    assert 0 < first.sent < 300
    assert sum(r.status == EmailStatus.queued for r in rows(engine)) == 300 - first.sent
    assert all(r.claim_token is None for r in rows(engine))
    second = await deliver_due(engine=engine, settings=smtp_settings, now=NOW)
    assert first.sent + second.sent == 300 and len(smtp.messages) == 300


async def test_the_rate_limit_spaces_the_transactions(
    engine: Engine, tmp_path: Path, smtp: SmtpSink
):
    settings = make_settings(
        tmp_path, smtp_host="127.0.0.1", smtp_port=smtp.port, smtp_rate_per_second=20
    )
    queue_plain(engine, 11)
    started = time.monotonic()
    report = await deliver_due(engine=engine, settings=settings, now=NOW)
    assert report.sent == 11
    assert time.monotonic() - started >= 10 / 20  # ten gaps of 1/20 s at least


async def test_a_failure_notice_that_cannot_be_written_never_loses_the_outcomes(
    engine: Engine, tmp_path: Path, smtp: SmtpSink
):
    settings = make_settings(
        tmp_path, smtp_host="127.0.0.1", smtp_port=smtp.port, centre_email="методический центр"
    )
    queue_plain(engine, 3)
    smtp.handler.fail_with["user1@school.example"] = "550 5.1.1 No such user"
    report = await deliver_due(engine=engine, settings=settings, now=NOW)
    assert (report.sent, report.failed) == (2, 1)
    assert [r.status for r in rows(engine)] == [
        EmailStatus.sent,
        EmailStatus.failed,
        EmailStatus.sent,
    ]
    assert "550 5.1.1" in rows(engine)[1].last_error
    assert len(smtp.messages) == 2
