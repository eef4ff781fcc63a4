"""The centre's review of an answer: accept, return (to the curator with the head in copy),
resubmit, revoke links, journals, the review rules and the evidence files."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from config.settings import Settings
from domain.emails import OutgoingEmail
from domain.enums import NoticeKind, TaskEventKind, TaskStatus
from domain.evidence import Evidence
from domain.tasks import Task, TaskEvent
from portal.app import create_app
from services.answers import AnswerError, UploadedFile, submit_answer
from services.links import issue_org_link
from services.reviews import accept_task, return_task
from tests.portal_world import (
    ADMIN_EMAIL,
    BASE,
    PDF,
    START,
    Clock,
    World,
    build_world,
    csrf_of,
    get_task,
    good_form,
    login,
    submit,
)


def test_accept_return_and_resubmit_change_the_status_and_write_events(
    client: TestClient, world: World, clock: Clock
) -> None:
    assert submit(client, world).status_code == 303
    assert login(client).status_code == 303
    detail = client.get(f"/admin/tasks/{world.task_id}")
    assert detail.status_code == 200 and "Приказ издан" in detail.text
    assert 'value="19.09.2022"' in detail.text  # 10 working days after Mon 05.09.2022
    csrf = csrf_of(detail.text)

    # a return needs a reason and a later date
    bad = client.post(
        f"/admin/tasks/{world.task_id}/return",
        data={"csrf_token": csrf, "reason": " ", "new_due": "01.09.2022"},
    )
    assert bad.status_code == 422
    assert "Напишите, что нужно исправить" in bad.text and "позже сегодняшнего" in bad.text

    returned = client.post(
        f"/admin/tasks/{world.task_id}/return",
        data={"csrf_token": csrf, "reason": "Нет подписи руководителя", "new_due": "19.09.2022"},
        follow_redirects=False,
    )
    assert returned.status_code == 303
    task = get_task(world.engine, world.task_id)
    assert task.status is TaskStatus.returned and task.due == date(2022, 9, 19)
    assert task.revision == 1
    with Session(world.engine) as s:
        evidence = s.exec(select(Evidence)).one()
        assert evidence.review_note == "Нет подписи руководителя"
        email = s.exec(
            select(OutgoingEmail).where(OutgoingEmail.kind == NoticeKind.returned.value)
        ).one()
        assert email.to_addr == "head@school1.example"
        assert "Нет подписи руководителя" in email.text_body

    # the head sees the note and answers again: version 2
    page = client.get(world.path)
    assert "возвращено на доработку" in page.text and "Нет подписи руководителя" in page.text
    clock.now = START + timedelta(hours=2)
    assert submit(client, world, summary="Приказ с подписью").status_code == 303
    task = get_task(world.engine, world.task_id)
    assert task.status is TaskStatus.submitted and task.submitted_at == clock.now

    accepted = client.post(
        f"/admin/tasks/{world.task_id}/accept", data={"csrf_token": csrf}, follow_redirects=False
    )
    assert accepted.status_code == 303
    task = get_task(world.engine, world.task_id)
    assert task.status is TaskStatus.accepted and task.accepted_at == clock.now
    with Session(world.engine) as s:
        kinds = [
            (e.kind, e.actor)
            for e in s.exec(select(TaskEvent).order_by(col(TaskEvent.at), col(TaskEvent.id))).all()
        ]
        versions = s.exec(select(Evidence.version).order_by(col(Evidence.version))).all()
    assert kinds == [
        (TaskEventKind.submitted, "head@school1.example"),
        (TaskEventKind.returned, ADMIN_EMAIL),
        (TaskEventKind.submitted, "head@school1.example"),
        (TaskEventKind.accepted, ADMIN_EMAIL),
    ]
    assert versions == [1, 2]
    page = client.get(world.path)
    assert '<span class="status status-accepted">принято</span>' in page.text
    assert 'type="file"' not in page.text
    again = submit(client, world)
    assert again.status_code == 422 and "Задача уже выполнена" in again.text


def test_revoking_links_from_the_review_page(client: TestClient, world: World) -> None:
    assert login(client).status_code == 303
    csrf = csrf_of(client.get(f"/admin/tasks/{world.task_id}").text)
    response = client.post(
        f"/admin/tasks/{world.task_id}/revoke", data={"csrf_token": csrf}, follow_redirects=False
    )
    assert response.status_code == 303
    assert client.get(world.path).status_code == 410
    with Session(world.engine) as s:
        event = s.exec(select(TaskEvent)).one()
    assert event.kind is TaskEventKind.link_revoked and event.actor == ADMIN_EMAIL
    # a new link for the recipient can be shown to pass on
    shown = client.post(f"/admin/tasks/{world.task_id}/link", data={"csrf_token": csrf})
    new = re.search(r'value="(http://127\.0\.0\.1:8765/t/[^"]+)"', shown.text)
    assert new is not None and new[1] != world.link
    assert client.get(new[1].removeprefix(BASE)).status_code == 200


def test_a_curator_task_is_returned_to_the_curator_with_the_head_in_copy(
    world: World, engine: Engine
) -> None:
    with Session(engine, expire_on_commit=False) as s:
        task = s.get(Task, world.task_b)
        assert task is not None
        submit_answer(
            session=s,
            task=task,
            values=good_form(),
            files=[UploadedFile("order", "p.pdf", PDF, "application/pdf")],
            by="curator@school2.example",
            settings=world.settings,
            now=START,
        )
        return_task(
            session=s,
            task=task,
            reason="Приложите приказ целиком",
            new_due=date(2022, 9, 20),
            admin_email=ADMIN_EMAIL,
            settings=world.settings,
            now=START,
        )
        s.commit()
        email = s.exec(
            select(OutgoingEmail).where(OutgoingEmail.kind == NoticeKind.returned.value)
        ).one()
    assert email.to_addr == "curator@school2.example"
    assert email.cc_addrs == ["head@school2.example"]


def test_review_rules(world: World, engine: Engine) -> None:
    with Session(engine, expire_on_commit=False) as s:
        task = s.get(Task, world.task_id)
        assert task is not None
        with pytest.raises(AnswerError) as not_yet:
            accept_task(session=s, task=task, admin_email=ADMIN_EMAIL, now=START)
        assert "task" in not_yet.value.errors
        with pytest.raises(AnswerError):
            return_task(
                session=s,
                task=task,
                reason="x",
                new_due=date(2022, 9, 30),
                admin_email=ADMIN_EMAIL,
                settings=world.settings,
                now=START,
            )


def test_a_continuous_task_is_a_log_of_entries(
    settings: Settings, engine: Engine, clock: Clock
) -> None:
    world = build_world(settings, engine, continuous=True)
    client = TestClient(create_app(settings, engine, clock), base_url=BASE)
    assert submit(client, world, summary="Заседание совета наставников").status_code == 303
    clock.now = START + timedelta(days=30)
    assert submit(client, world, summary="Открытый урок наставника").status_code == 303
    page = client.get(world.path)
    assert "Записи журнала" in page.text and "Новая запись" in page.text
    assert "Заседание совета наставников" in page.text and "Открытый урок наставника" in page.text
    with Session(engine) as s:
        assert s.exec(select(Evidence.version).order_by(col(Evidence.version))).all() == [1, 2]
        url = issue_org_link(
            session=s,
            organisation_id=world.org_a,
            recipient="head@school1.example",
            settings=settings,
            now=clock.now,
        )
        s.commit()
    assert get_task(engine, world.task_id).status is TaskStatus.submitted
    org_page = client.get(url.removeprefix(settings.portal_url))
    assert '<span class="light light-review">на проверке</span>' in org_page.text


def test_admin_downloads_evidence_files(client: TestClient, world: World) -> None:
    assert submit(client, world).status_code == 303
    assert login(client).status_code == 303
    page = client.get(f"/admin/tasks/{world.task_id}")
    href = re.search(r'href="(/admin/files/\d+)"', page.text)
    assert href is not None
    got = client.get(href[1])
    assert got.status_code == 200 and got.content == PDF
    assert got.headers["content-type"] == "application/octet-stream"
    assert client.get("/admin/files/999").status_code == 404
    # a head's link cannot fetch a file of another task's answer
    assert client.get(f"{world.path}/files/999").status_code == 404
