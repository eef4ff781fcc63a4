"""Mail that did not arrive: a real SMTP server refuses one address for good (550) and
defers another (451); the rows are listed with the server's reason and the organisation;
the centre fixes the address and resends, and the new address gets each message once
while the old one never gets it again. The same through the JSON API (a token, a revoked
one, none), on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import io
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from config.settings import Settings
from domain.emails import Notice, OutboxRun, OutgoingEmail
from domain.enums import EmailStatus, NoticeKind
from domain.organisations import Organisation
from domain.undelivered import AddressCorrection
from notifications.delivery import deliver_due
from notifications.outbox import queue_email
from portal.api_tokens import issue_token, revoke_tokens
from portal.app import create_app
from services.undelivered import count_undelivered, list_undelivered, mail_figures
from tests.conftest import make_settings
from tests.matrix_world import ADMIN_EMAIL, NOW, District, build_district
from tests.portal_world import csrf_of, login
from tests.smtp import SmtpSink

BASE = "http://127.0.0.1:8765"
GONE = "head1@org.example"  # refused for good
SLOW = "head2@org.example"  # deferred: the server says "try later", every time
FIXED = "direktor.sosh1@org.example"
FIXED_SLOW = "d-s-2@org.example"


@pytest.fixture
def mail_settings(tmp_path: Path, smtp: SmtpSink) -> Settings:
    return make_settings(tmp_path, smtp_host="127.0.0.1", smtp_port=smtp.port, smtp_timeout=5)


def queue_task_mail(
    engine: Engine, district: District, org_index: int, item_index: int, minutes_ago: int
) -> int:
    """An announcement of one task, queued as the outbox does (row + Notice)."""
    item_id = district.item_ids[item_index]
    org_id = district.org_ids[org_index]
    task_id = district.task_ids[(item_id, org_id)]
    at = NOW - timedelta(minutes=minutes_ago)
    with Session(engine) as s:
        org = s.get(Organisation, org_id)
        assert org is not None
        row = queue_email(
            session=s,
            kind=NoticeKind.opened.value,
            to=org.head_email,
            subject=f"Новая задача: мероприятие {item_index + 1}",
            text_body=f"Здравствуйте, {org.head_name}! Новая задача {task_id}.",
            html_body=f"<p>Здравствуйте, {org.head_name}! Новая задача {task_id}.</p>",
            message_id=f"<task-{task_id}.opened.0@imcso-levokumskoe.example>",
            now=at,
        )
        assert row.id is not None
        s.add(
            Notice(
                task_id=task_id,
                kind=NoticeKind.opened,
                step=0,
                on_day=at.date(),
                recipient=org.head_email,
                email_id=row.id,
                created_at=at,
            )
        )
        s.commit()
        return row.id


def deliver(engine: Engine, settings: Settings, minutes: int = 0) -> None:
    asyncio.run(deliver_due(engine=engine, settings=settings, now=NOW + timedelta(minutes=minutes)))


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_a_bounced_address_is_fixed_and_the_mail_arrives_once(
    any_engine: Engine, mail_settings: Settings, smtp: SmtpSink
) -> None:
    engine, settings = any_engine, mail_settings
    district = build_district(engine, organisations=4, items=3)
    smtp.handler.fail_with[GONE] = "550 5.1.1 <head1@org.example>: нет такого ящика"
    smtp.handler.fail_with[SLOW] = "451 4.3.0 try later"
    gone = [queue_task_mail(engine, district, 0, i, minutes_ago=30) for i in (0, 1)]
    slow = queue_task_mail(engine, district, 1, 0, minutes_ago=7 * 60)
    fine = queue_task_mail(engine, district, 2, 0, minutes_ago=30)
    deliver(engine, settings)

    with Session(engine) as s:
        assert s.get(OutgoingEmail, fine).status is EmailStatus.sent  # type: ignore[union-attr]
        assert [s.get(OutgoingEmail, i).status for i in gone] == [EmailStatus.failed] * 2  # type: ignore[union-attr]
        assert s.get(OutgoingEmail, slow).status is EmailStatus.retry  # type: ignore[union-attr]
        listed = list_undelivered(s, now=NOW, settings=settings)
        assert count_undelivered(s, now=NOW, settings=settings) == 3
        assert count_undelivered(s, now=NOW, settings=settings, roadmap="r209") == 3
        assert count_undelivered(s, now=NOW, settings=settings, roadmap="other") == 0
        figures = mail_figures(s, now=NOW, settings=settings)
    assert (figures.failed, figures.deferred, figures.problem) == (2, 1, "")
    by_id = {r.email.id: r for r in listed}
    assert set(by_id) == {*gone, slow}
    first = by_id[gone[0]]
    assert first.state == "failed" and "550 5.1.1" in first.reason
    assert first.organisation is not None and first.organisation.short_name == "Д/с № 1"
    assert (first.field, first.field_label, first.head_name) == (
        "head_email",
        "руководитель",
        "Руководитель 1",
    )
    assert first.roadmaps == ["r209"] and len(first.task_ids) == 1
    assert by_id[slow].state == "deferred" and "451" in by_id[slow].reason
    # a row retried for less than ROADMAP_MAIL_DEFERRED_HOURS is not listed yet
    with Session(engine) as s:
        assert (
            count_undelivered(
                s, now=NOW, settings=make_settings(Path("/tmp"), mail_deferred_hours=8)
            )
            == 2
        )

    client = TestClient(create_app(settings, engine, lambda: NOW), base_url=BASE)
    assert client.get("/admin/undelivered", follow_redirects=False).status_code == 303
    assert login(client).status_code == 303
    overview = client.get("/admin")
    assert 'id="failed-count">2<' in overview.text and 'id="deferred-count">1<' in overview.text
    assert client.get("/healthz").json()["outbox"]["failed"] == 2
    page = client.get("/admin/undelivered")
    assert page.status_code == 200
    assert "550 5.1.1" in page.text and "Д/с № 1" in page.text and "Руководитель 1" in page.text
    assert "try later" in page.text and "Новая задача: мероприятие 2" in page.text
    csrf = csrf_of(page.text)
    # the list as a workbook: every message, the day queued a real date
    assert 'href="/admin/undelivered.xlsx?"' in page.text
    book = load_workbook(io.BytesIO(client.get("/admin/undelivered.xlsx").content))
    sheet = book.active
    assert sheet is not None and sheet.freeze_panes == "B2" and sheet.auto_filter.ref
    listed_rows = {row[0]: row for row in sheet.iter_rows(min_row=2, values_only=True)}
    assert set(listed_rows) == {*gone, slow}
    _, state, org_name, head, address, whose, reason, *_rest = listed_rows[gone[0]]
    assert (state, org_name, head, address) == ("не доставлено", "Д/с № 1", "Руководитель 1", GONE)
    assert whose == "руководитель, Руководитель 1" and "550 5.1.1" in str(reason)
    assert isinstance(listed_rows[slow][9], datetime) and listed_rows[slow][1] == "не уходит"

    # refused without the form's token, and with a bad address (nothing changes)
    url = f"/admin/undelivered/{gone[0]}/resend"
    assert client.post(url, data={"address": FIXED}).status_code == 403
    bad = client.post(url, data={"address": "direktor@@org.example", "csrf_token": csrf})
    assert bad.status_code == 422 and "неверный адрес" in bad.text
    two = client.post(url, data={"address": "a@org.example b@org.example", "csrf_token": csrf})
    assert two.status_code == 422 and "укажите один адрес" in two.text
    same = client.post(url, data={"address": GONE.upper(), "csrf_token": csrf})
    assert same.status_code == 422 and "совпадает с прежним" in same.text

    smtp.handler.fail_with.pop(GONE)  # from now on the old address would take anything sent
    smtp.handler.clear()
    done = client.post(url, data={"address": FIXED, "csrf_token": csrf}, follow_redirects=False)
    assert done.status_code == 303 and "done=2" in done.headers["location"]
    with Session(engine) as s:
        org = s.get(Organisation, district.org_ids[0])
        assert org is not None and org.head_email == FIXED and org.updated_at == NOW
        fix = s.exec(select(AddressCorrection)).one()
        assert (fix.actor, fix.field, fix.old_address, fix.new_address, fix.resent) == (
            ADMIN_EMAIL,
            "head_email",
            GONE,
            FIXED,
            2,
        )
        old = [s.get(OutgoingEmail, i) for i in gone]
        assert all(o is not None and o.status is EmailStatus.failed for o in old)
        assert all(o is not None and "550" in o.last_error for o in old)  # history kept
    health = client.get("/healthz").json()["outbox"]
    assert (health["failed"], health["in_retry"]) == (0, 1)  # fixed and resent: over
    # posting it again (a double click, a second administrator) queues nothing more
    again = client.post(url, data={"address": FIXED, "csrf_token": csrf})
    assert again.status_code == 409 and "уже отправлено заново" in again.text

    deliver(engine, settings, minutes=1)
    deliver(engine, settings, minutes=10)
    assert smtp.handler.to(GONE) == []
    arrived = smtp.handler.to(FIXED)
    assert sorted(m.subject for m in arrived) == [
        "Новая задача: мероприятие 1",
        "Новая задача: мероприятие 2",
    ]
    assert all("Руководитель 1" in m.text() for m in arrived)
    with Session(engine) as s:
        assert count_undelivered(s, now=NOW, settings=settings) == 1  # the deferred one
        resent = s.exec(
            select(OutgoingEmail).where(col(OutgoingEmail.resent_from_id).in_(gone))
        ).all()
        assert {r.origin_id for r in resent} == set(gone)
        assert all(r.status is EmailStatus.sent and r.to_addr == FIXED for r in resent)
        # a reply to the resent message (In-Reply-To) finds the task of the first one
        from notifications.inbox import _tasks_of_sent

        for r in resent:
            assert _tasks_of_sent(s, [r.message_id], settings) == by_id[r.origin_id].task_ids

    # the JSON API: the deferred one, fixed and resent with a token
    with Session(engine) as s:
        token = issue_token(session=s, email=ADMIN_EMAIL, now=NOW)
        s.commit()
    assert client.get("/api/admin/undelivered").status_code == 401
    api = client.get("/api/admin/undelivered", headers=bearer(token))
    assert api.status_code == 200, api.text
    body = api.json()
    assert (body["total"], body["failed"], body["deferred"]) == (1, 0, 1)
    item = body["items"][0]
    assert item["id"] == slow and item["state"] == "deferred" and "451" in item["reason"]
    assert item["organisation"] == "СОШ № 2" and item["head_name"] == "Руководитель 2"
    assert item["field"] == "head_email" and item["address"] == SLOW
    wrong = client.post(
        f"/api/admin/undelivered/{slow}/resend", json={"address": "нет"}, headers=bearer(token)
    )
    assert wrong.status_code == 422 and wrong.json()["detail"]["field"] == "address"
    assert (
        client.post(
            "/api/admin/undelivered/999999/resend",
            json={"address": FIXED_SLOW},
            headers=bearer(token),
        ).status_code
        == 404
    )
    fixed = client.post(
        f"/api/admin/undelivered/{slow}/resend", json={"address": FIXED_SLOW}, headers=bearer(token)
    )
    assert fixed.status_code == 200, fixed.text
    assert fixed.json()["old_address"] == SLOW and len(fixed.json()["resent"]) == 1
    twice = client.post(
        f"/api/admin/undelivered/{slow}/resend", json={"address": FIXED_SLOW}, headers=bearer(token)
    )
    assert twice.status_code == 409
    with Session(engine) as s:
        row = s.get(OutgoingEmail, slow)
        assert row is not None and row.status is EmailStatus.failed
        assert "451" in row.last_error and "адрес исправлен на d-s-2@org.example" in row.last_error
    smtp.handler.fail_with.pop(SLOW)
    deliver(engine, settings, minutes=300)  # long past the old row's next attempt
    assert smtp.handler.to(SLOW) == [] and len(smtp.handler.to(FIXED_SLOW)) == 1
    with Session(engine) as s:
        assert count_undelivered(s, now=NOW + timedelta(hours=5), settings=settings) == 0
        revoke_tokens(session=s, email=ADMIN_EMAIL, now=NOW)
        s.commit()
    refused = client.get("/api/admin/undelivered", headers=bearer(token))
    assert refused.status_code == 401 and "отозван" in refused.json()["detail"]["message"]
    assert (
        client.post(
            f"/api/admin/undelivered/{slow}/resend",
            json={"address": "x@org.example"},
            headers=bearer(token),
        ).status_code
        == 401
    )


def test_the_overview_says_when_the_last_delivery_failed_for_a_configuration_reason(
    engine: Engine, settings: Settings
) -> None:
    build_district(engine, organisations=2, items=1)
    with Session(engine) as s:
        s.add(
            OutboxRun(
                started_at=NOW - timedelta(minutes=5),
                finished_at=NOW - timedelta(minutes=4),
                retried=3,
                problem="почтовый сервер «smtp.nowhere» не найден: проверьте ROADMAP_SMTP_HOST",
            )
        )
        s.commit()
    client = TestClient(create_app(settings, engine, lambda: NOW), base_url=BASE)
    login(client)
    overview = client.get("/admin").text
    assert 'id="mail-problem"' in overview and "ROADMAP_SMTP_HOST" in overview
    with Session(engine) as s:
        s.add(OutboxRun(started_at=NOW - timedelta(minutes=2), finished_at=NOW, sent=3))
        s.commit()
    assert 'id="mail-problem"' not in client.get("/admin").text


def test_a_message_a_deliverer_holds_is_left_to_it_and_a_fix_twice_queues_once(
    any_engine: Engine, mail_settings: Settings, smtp: SmtpSink
) -> None:
    from notifications.delivery import claim_due, wall_clock
    from services.undelivered import ResendError, fix_and_resend

    engine, settings = any_engine, mail_settings
    district = build_district(engine, organisations=2, items=3)
    smtp.handler.fail_with[GONE] = "550 5.1.1 no such user"
    failed = queue_task_mail(engine, district, 0, 0, minutes_ago=30)
    deliver(engine, settings)
    held = queue_task_mail(engine, district, 0, 1, minutes_ago=0)
    waiting = queue_task_mail(engine, district, 0, 2, minutes_ago=0)
    claimed = claim_due(
        engine=engine,
        now=NOW + timedelta(minutes=1),
        lease_until=wall_clock(NOW) + timedelta(minutes=5),
        limit=1,
    )
    assert [r.id for r in claimed] == [held]  # a deliverer is sending it right now
    with Session(engine) as s:
        result = fix_and_resend(
            s, email_id=failed, address=FIXED, actor=ADMIN_EMAIL, now=NOW, settings=settings
        )
        s.commit()
    assert len(result.resent) == 2  # the failed one and the one still queued
    with Session(engine) as s:
        assert s.get(OutgoingEmail, held).status is EmailStatus.sending  # type: ignore[union-attr]
        queued = s.get(OutgoingEmail, waiting)
        assert queued is not None and queued.status is EmailStatus.failed
        assert "адрес исправлен" in queued.last_error
        sources = s.exec(
            select(OutgoingEmail.resent_from_id).where(col(OutgoingEmail.to_addr) == FIXED)
        ).all()
        assert sorted(i for i in sources if i is not None) == [failed, waiting]
        with pytest.raises(ResendError) as again:
            fix_and_resend(
                s, email_id=failed, address=FIXED, actor=ADMIN_EMAIL, now=NOW, settings=settings
            )
        assert again.value.status == 409
