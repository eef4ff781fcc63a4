"""The portal's test world (item 5, two schools, an administrator) and the helpers the
portal's tests share: logging in, the CSRF token, a good answer, counting rows. Its
fixtures (`clock`, `world`, `client`) reach every test module through
`pytest_plugins` in tests/conftest.py."""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func
from sqlmodel import Session, select

from config.settings import Settings
from domain.access import AccessLink
from domain.emails import OutgoingEmail
from domain.enums import Role
from domain.evidence import Evidence, EvidenceFile
from domain.tasks import Task, TaskEvent
from portal.app import create_app
from portal.auth import create_admin
from services.links import issue_org_link, issue_task_link
from tests.factories import a_roadmap, a_school, a_task, an_item, an_occurrence

MSK = timedelta(hours=3)
START = datetime(2022, 9, 5, 6, 0, tzinfo=UTC)  # Monday 09:00 in Moscow
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 40
BASE = "http://127.0.0.1:8765"
ADMIN_EMAIL = "metodist@imcso.example"
ADMIN_PASSWORD = "верный-пароль-2022"

EVIDENCE_SPEC = {
    "fields": [
        {"name": "summary", "label": "Что сделано", "kind": "text", "required": True},
        {
            "name": "mentors",
            "label": "Число наставников",
            "kind": "number",
            "required": True,
            "help": "Сколько педагогов закреплено наставниками",
        },
        {"name": "held_on", "label": "Дата приказа", "kind": "date", "required": True},
        {"name": "order", "label": "Приказ (скан)", "kind": "file", "required": True},
        {"name": "page", "label": "Ссылка на сайт", "kind": "url", "required": False},
    ]
}


class Clock:
    """A clock the tests move by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@dataclass
class World:
    settings: Settings
    engine: Engine
    item_id: int
    org_a: int
    org_b: int
    task_id: int  # org A's task (head)
    task_b: int  # org B's task (curator, head in copy)
    link: str  # org A's head's link to task_id

    @property
    def token(self) -> str:
        return self.link.rsplit("/", 1)[1]

    @property
    def path(self) -> str:
        return self.link.removeprefix(self.settings.portal_url)


def build_world(settings: Settings, engine: Engine, *, continuous: bool = False) -> World:
    """Item 5 with two schools: A's head task (with the head's link) and B's curator task."""
    with Session(engine, expire_on_commit=False) as s:
        item = an_item(s, a_roadmap(s), evidence_spec=EVIDENCE_SPEC)
        a, b = a_school(s, 1), a_school(s, 2)
        occ = an_occurrence(s, item, continuous=continuous, opened_at=START)
        ta = a_task(s, occ, a, role=Role.head)
        tb = a_task(s, occ, b, role=Role.curator)
        link = issue_task_link(
            session=s, task=ta, recipient=a.head_email, settings=settings, now=START
        )
        create_admin(
            session=s, email=ADMIN_EMAIL, password=ADMIN_PASSWORD, name="Методист", now=START
        )
        s.commit()
        assert item.id and a.id and b.id and ta.id and tb.id
        return World(settings, engine, item.id, a.id, b.id, ta.id, tb.id, link)


@pytest.fixture
def clock() -> Clock:
    return Clock(START)


@pytest.fixture
def world(settings: Settings, engine: Engine) -> World:
    return build_world(settings, engine)


@pytest.fixture
def client(world: World, clock: Clock) -> TestClient:
    return TestClient(create_app(world.settings, world.engine, clock), base_url=BASE)


def good_form() -> dict[str, str]:
    return {
        "summary": "Приказ издан, пары закреплены",
        "mentors": "4",
        "held_on": "02.09.2022",
        "page": "https://school1.example/news/42",
    }


def pdf_file(
    name: str = "приказ.pdf", content: bytes = PDF
) -> list[tuple[str, tuple[str, bytes, str]]]:
    return [("order", (name, content, "application/pdf"))]


def counts(engine: Engine) -> dict[str, int]:
    with Session(engine) as s:
        return {
            model.__name__: s.exec(select(func.count()).select_from(model)).one()
            for model in (Evidence, EvidenceFile, TaskEvent, OutgoingEmail, AccessLink)
        }


def get_task(engine: Engine, task_id: int) -> Task:
    with Session(engine) as s:
        task = s.get(Task, task_id)
        assert task is not None
        return task


def uploaded_files(settings: Settings) -> list[Path]:
    return (
        [p for p in settings.uploads_dir.rglob("*") if p.is_file()]
        if settings.uploads_dir.exists()
        else []
    )


def login(client: TestClient, email: str = ADMIN_EMAIL, password: str = ADMIN_PASSWORD):
    page = client.get("/admin/login")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf is not None
    return client.post(
        "/admin/login",
        data={"email": email, "password": password, "csrf_token": csrf[1], "next": "/admin"},
        follow_redirects=False,
    )


def csrf_of(page_text: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page_text)
    assert match is not None
    return match[1]


def submit(client: TestClient, world: World, **overrides: str):
    form = good_form() | overrides
    return client.post(world.path, data=form, files=pdf_file(), follow_redirects=False)


def basic(email: str, password: str) -> dict[str, str]:
    raw = f"{email}:{password}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


def api_token(engine: Engine, email: str = ADMIN_EMAIL) -> dict[str, str]:
    """A personal API token of the administrator, as the header that carries it."""
    from portal.api_tokens import issue_token

    with Session(engine) as s:
        token = issue_token(session=s, email=email, now=START)
        s.commit()
    return {"Authorization": f"Bearer {token}"}


def org_page_url(world: World) -> str:
    with Session(world.engine) as s:
        url = issue_org_link(
            session=s,
            organisation_id=world.org_a,
            recipient="head@school1.example",
            settings=world.settings,
            now=START,
        )
        s.commit()
    return url.removeprefix(world.settings.portal_url)


def tamper(token: str) -> str:
    index = len(token) - 3
    swap = "A" if token[index] != "A" else "B"
    return token[:index] + swap + token[index + 1 :]
