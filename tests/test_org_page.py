"""The organisation's own page: its tasks with a traffic light, opened by its own link
only."""

from __future__ import annotations

import re
from datetime import date

from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session

from config.settings import Settings
from domain.enums import Role, TaskStatus
from domain.tasks import Occurrence, Task
from portal.app import create_app
from services.links import issue_org_link
from tests.portal_world import (
    BASE,
    START,
    Clock,
    World,
    build_world,
    tamper,
)


def test_the_organisation_page_lists_tasks_with_a_traffic_light(
    settings: Settings, engine: Engine, clock: Clock
) -> None:
    world = build_world(settings, engine)
    with Session(engine, expire_on_commit=False) as s:
        lights = {
            # (opens, due, status) -> expected label
            "accepted": (date(2022, 4, 8), date(2022, 4, 29), TaskStatus.accepted, "выполнено"),
            "submitted": (date(2022, 5, 1), date(2022, 5, 31), TaskStatus.submitted, "на проверке"),
            "soon": (date(2022, 6, 1), date(2022, 9, 7), TaskStatus.open, "срок скоро"),
            "overdue": (date(2022, 7, 1), date(2022, 8, 31), TaskStatus.returned, "просрочено"),
        }
        for opens, due, status, _label in lights.values():
            occ = Occurrence(item_id=world.item_id, cycle="2022/2023", opens=opens, due=due)
            s.add(occ)
            s.flush()
            assert occ.id is not None
            s.add(
                Task(
                    occurrence_id=occ.id,
                    item_id=world.item_id,
                    organisation_id=world.org_a,
                    assignee_key=f"org:{world.org_a}",
                    role=Role.head,
                    status=status,
                    due=due,
                    opened_at=START,
                    updated_at=START,
                )
            )
        url = issue_org_link(
            session=s,
            organisation_id=world.org_a,
            recipient="head@school1.example",
            settings=settings,
            now=START,
        )
        s.commit()
    client = TestClient(create_app(settings, engine, clock), base_url=BASE)
    page = client.get(url.removeprefix(settings.portal_url))
    assert page.status_code == 200
    text = page.text
    for cls, label in [
        ("done", "выполнено"),
        ("review", "на проверке"),
        ("soon", "срок скоро"),
        ("overdue", "просрочено"),
        ("open", "в работе"),  # the world's own task, due 14.09
    ]:
        assert f'<span class="light light-{cls}">{label}</span>' in text
    links = re.findall(r'href="(http://127\.0\.0\.1:8765/t/[^"]+)"', text)
    assert len(links) == 5
    assert client.get(links[0].removeprefix(BASE)).status_code == 200
    # another organisation's tasks are not on the page
    assert "СОШ № 2" not in text
    bad = client.get("/o/" + tamper(url.rsplit("/", 1)[1]))
    assert bad.status_code == 403 and "Ссылка не работает" in bad.text


def test_a_task_link_does_not_open_the_organisation_page(client: TestClient, world: World) -> None:
    page = client.get(f"/o/{world.token}")
    assert page.status_code == 403
