"""Personal links: a refused link (tampered, expired, revoked, unknown, another
organisation's) shows a Russian page and writes nothing; a link answers only its own task; a
revocation sticks."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from domain.access import AccessLink
from domain.enums import TaskStatus
from domain.evidence import Evidence
from domain.tasks import Task
from services.links import issue_org_link, issue_task_link, revoke_links
from tests.portal_world import (
    BASE,
    START,
    Clock,
    World,
    counts,
    get_task,
    good_form,
    org_page_url,
    pdf_file,
    tamper,
    uploaded_files,
)


def _refuse(kind: str, world: World, clock: Clock) -> tuple[str, int, str]:
    """Break the link the way `kind` says; returns (token, expected status, message)."""
    if kind == "tampered":
        return tamper(world.token), 403, "Ссылка повреждена"
    if kind == "expired":
        clock.now = datetime(2022, 11, 13, 21, 0, tzinfo=UTC)  # 14.11 00:00 in Moscow
        return world.token, 410, "Срок действия ссылки истёк"
    with Session(world.engine) as s:
        if kind == "revoked":
            revoke_links(session=s, task_id=world.task_id, now=START)
            s.commit()
            return world.token, 410, "Ссылка отозвана"
        if kind == "unknown":
            for link in s.exec(select(AccessLink)).all():
                s.delete(link)
            s.commit()
            return world.token, 404, "Такой ссылки нет"
        if kind == "another_org":
            url = issue_org_link(
                session=s,
                organisation_id=world.org_b,
                recipient="head@school2.example",
                settings=world.settings,
                now=START,
            )
            s.commit()
            return url.rsplit("/", 1)[1], 403, "Ссылка повреждена"
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["tampered", "expired", "revoked", "unknown", "another_org"])
def test_a_refused_link_shows_a_russian_page_and_writes_nothing(
    client: TestClient, world: World, clock: Clock, kind: str
) -> None:
    token, status, message = _refuse(kind, world, clock)
    before = counts(world.engine)

    page = client.get(f"/t/{token}")
    assert page.status_code == status
    assert "Ссылка не работает" in page.text and message in page.text
    assert world.settings.centre_email in page.text  # how to get a new link

    posted = client.post(f"/t/{token}", data=good_form(), files=pdf_file())
    assert posted.status_code == status and message in posted.text

    api_get = client.get(f"/api/tasks/{token}")
    assert api_get.status_code == status and message in api_get.json()["detail"]["message"]
    api_post = client.post(f"/api/tasks/{token}/answer", data=good_form(), files=pdf_file())
    assert api_post.status_code == status and api_post.json()["detail"]["problem"] in kind.replace(
        "another_org", "tampered"
    )

    assert counts(world.engine) == before
    assert uploaded_files(world.settings) == []
    assert get_task(world.engine, world.task_id).status is TaskStatus.open


def test_the_link_still_works_on_the_last_day(
    client: TestClient, world: World, clock: Clock
) -> None:
    clock.now = datetime(2022, 11, 13, 20, 59, tzinfo=UTC)  # 13.11 23:59 in Moscow
    assert client.get(world.path).status_code == 200


def test_one_organisations_link_answers_only_its_own_task(client: TestClient, world: World) -> None:
    with Session(world.engine, expire_on_commit=False) as s:
        task_b = s.get(Task, world.task_b)
        assert task_b is not None
        link_b = issue_task_link(
            session=s,
            task=task_b,
            recipient="curator@school2.example",
            settings=world.settings,
            now=START,
        )
        s.commit()
    token_b = link_b.rsplit("/", 1)[1]
    assert client.get(f"/api/tasks/{token_b}").json()["id"] == world.task_b
    posted = client.post(f"/api/tasks/{token_b}/answer", data=good_form(), files=pdf_file())
    assert posted.status_code == 201 and posted.json()["id"] == world.task_b
    assert get_task(world.engine, world.task_b).status is TaskStatus.submitted
    assert get_task(world.engine, world.task_id).status is TaskStatus.open
    with Session(world.engine) as s:
        evidence = s.exec(select(Evidence)).one()
    assert evidence.task_id == world.task_b and evidence.submitted_by == "curator@school2.example"


def test_a_revoked_link_is_not_replaced_by_the_organisation_page_or_a_reminder(
    client: TestClient, world: World
) -> None:
    org_page = org_page_url(world)
    with Session(world.engine) as s:
        assert revoke_links(session=s, task_id=world.task_id, now=START) == 1
        s.commit()
    before = counts(world.engine)

    page = client.get(org_page)
    assert page.status_code == 200
    assert "Ссылка отозвана, обратитесь в центр:" in page.text
    assert f'href="mailto:{world.settings.centre_email}"' in page.text
    assert re.findall(r'href="(http://127\.0\.0\.1:8765/t/[^"]+)"', page.text) == []
    assert counts(world.engine) == before  # no fresh link was minted

    # what a reminder email gets: the revoked link itself, which opens the "revoked" page
    with Session(world.engine) as s:
        task = s.get(Task, world.task_id)
        assert task is not None
        url = issue_task_link(
            session=s,
            task=task,
            recipient="head@school1.example",
            settings=world.settings,
            now=START,
        )
        s.commit()
    assert url == world.link
    refused = client.get(url.removeprefix(BASE))
    assert refused.status_code == 410 and "Ссылка отозвана" in refused.text
    assert counts(world.engine) == before

    # an administrator passes a new link on; from then on the page links to it
    with Session(world.engine) as s:
        task = s.get(Task, world.task_id)
        assert task is not None
        fresh = issue_task_link(
            session=s,
            task=task,
            recipient="head@school1.example",
            settings=world.settings,
            now=START,
            reissue=True,
        )
        s.commit()
    assert fresh != world.link and client.get(fresh.removeprefix(BASE)).status_code == 200
    page = client.get(org_page)
    assert "Ссылка отозвана" not in page.text
    assert re.findall(r'href="(http://127\.0\.0\.1:8765/t/[^"]+)"', page.text) == [fresh]
