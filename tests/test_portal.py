"""The answer portal over HTTP (TestClient, real SQLite): personal links, the answer form,
uploads, escaping, the organisation's page, the centre's review, CSRF, CSV and the API."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine, event, func
from sqlmodel import Session, col, select

from config.settings import Settings
from domain.access import AccessLink
from domain.emails import OutgoingEmail
from domain.enums import NoticeKind, OrgKind, Role, TaskEventKind, TaskStatus
from domain.evidence import Evidence, EvidenceFile, FileBlob
from domain.organisations import Organisation
from domain.roadmap import Roadmap, RoadmapItem
from domain.tasks import Occurrence, Task, TaskEvent
from portal.app import create_app
from portal.auth import create_admin
from services.answers import AnswerError, UploadedFile, submit_answer
from services.links import issue_org_link, issue_task_link, revoke_links
from services.reviews import accept_task, return_task
from tests.conftest import make_settings

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
    with Session(engine, expire_on_commit=False) as s:
        roadmap = Roadmap(key="r209", title="Дорожная карта", order_date=date(2022, 4, 8))
        s.add(roadmap)
        s.flush()
        assert roadmap.id is not None
        item = RoadmapItem(
            roadmap_id=roadmap.id,
            number=5,
            slug="item-5",
            section="Организационные мероприятия",
            title="Издание приказа о закреплении наставнических пар",
            schedule_text="до 15.09.2022г., далее ежегодно",
            responsible="руководители образовательных организаций",
            expected_result="Приказ о закреплении наставнических пар",
            evidence_spec=EVIDENCE_SPEC,
        )
        a = Organisation(
            name="МКОУ СОШ № 1 с. Левокумского",
            short_name="СОШ № 1",
            kind=OrgKind.school,
            head_name="Иванова Анна Петровна",
            head_email="head@school1.example",
            curator_name="Петров Пётр",
            curator_email="curator@school1.example",
        )
        b = Organisation(
            name="МКОУ СОШ № 2 п. Новокумского",
            short_name="СОШ № 2",
            kind=OrgKind.school,
            head_name="Сидоров Иван",
            head_email="head@school2.example",
            curator_name="Кураторова Ольга",
            curator_email="curator@school2.example",
        )
        s.add_all([item, a, b])
        s.flush()
        assert item.id and a.id and b.id
        occ = Occurrence(
            item_id=item.id,
            cycle="2022/2023",
            opens=date(2022, 9, 1),
            due=date(2022, 9, 14),
            continuous=continuous,
            opened_at=START,
        )
        s.add(occ)
        s.flush()
        assert occ.id is not None
        ta = Task(
            occurrence_id=occ.id,
            item_id=item.id,
            organisation_id=a.id,
            assignee_key=f"org:{a.id}",
            role=Role.head,
            due=occ.due,
            opened_at=START,
            updated_at=START,
        )
        tb = Task(
            occurrence_id=occ.id,
            item_id=item.id,
            organisation_id=b.id,
            assignee_key=f"org:{b.id}",
            role=Role.curator,
            due=occ.due,
            opened_at=START,
            updated_at=START,
        )
        s.add_all([ta, tb])
        s.flush()
        link = issue_task_link(
            session=s, task=ta, recipient=a.head_email, settings=settings, now=START
        )
        create_admin(
            session=s, email=ADMIN_EMAIL, password=ADMIN_PASSWORD, name="Методист", now=START
        )
        s.commit()
        assert ta.id and tb.id
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


# --- the task page --------------------------------------------------------------------------


def test_the_link_opens_the_task_with_its_form(client: TestClient, world: World) -> None:
    page = client.get(world.path)
    assert page.status_code == 200
    text = page.text
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in text
    assert "№ 5" in text and "Издание приказа о закреплении наставнических пар" in text
    assert "Приказ о закреплении наставнических пар" in text  # expected result
    assert (
        "14.09.2022" in text
        and 'Статус:</strong> <span class="status status-open">ожидает ответа</span>' in text
    )
    assert 'enctype="multipart/form-data"' in text
    for name in ("summary", "mentors", "held_on", "order", "page"):
        assert f'name="{name}"' in text
    assert 'type="file"' in text and "Сколько педагогов закреплено наставниками" in text
    assert text.count('title="обязательно"') == 4  # the url field is optional
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["x-frame-options"] == "DENY"


def test_an_answer_is_saved_as_version_one_with_its_file_and_a_receipt(
    client: TestClient, world: World
) -> None:
    response = submit(client, world)
    assert response.status_code == 303
    done = client.get(response.headers["location"])
    assert done.status_code == 200
    assert "Ответ получен и отправлен на проверку в центр (версия 1, 05.09.2022 09:00)" in done.text
    assert "Ответ принят" not in done.text  # only the centre accepts an answer

    task = get_task(world.engine, world.task_id)
    assert task.status is TaskStatus.submitted and task.submitted_at == START
    with Session(world.engine) as s:
        evidence = s.exec(select(Evidence)).one()
        assert evidence.version == 1 and evidence.submitted_by == "head@school1.example"
        assert evidence.values == {
            "summary": "Приказ издан, пары закреплены",
            "mentors": 4,
            "held_on": "2022-09-02",
            "page": "https://school1.example/news/42",
        }
        stored = s.exec(select(EvidenceFile)).one()
        assert stored.original_name == "приказ.pdf" and stored.field == "order"
        assert stored.sha256 == hashlib.sha256(PDF).hexdigest() and stored.size == len(PDF)
        assert "приказ" not in stored.stored_name and stored.stored_name.endswith(".pdf")
        assert stored.content_type == "application/pdf"
        event = s.exec(select(TaskEvent)).one()
        assert event.kind is TaskEventKind.submitted and event.actor == "head@school1.example"
        email = s.exec(select(OutgoingEmail)).one()
        assert email.kind == NoticeKind.receipt.value and email.to_addr == "head@school1.example"
    # the bytes live in the database, where every machine (and a backup) sees them
    with Session(world.engine) as s:
        blob = s.get(FileBlob, stored.blob_id)
        assert blob is not None and blob.content == PDF
    assert uploaded_files(world.settings) == []

    page = client.get(world.path)
    assert "Ответ 1" in page.text and "приказ.pdf" in page.text and "02.09.2022" in page.text
    file_link = re.search(rf'href="({re.escape(world.path)}/files/\d+)"', page.text)
    assert file_link is not None
    download = client.get(file_link[1])
    assert download.content == PDF and "attachment" in download.headers["content-disposition"]


def test_field_errors_are_shown_next_to_fields_and_values_kept(
    client: TestClient, world: World
) -> None:
    before = counts(world.engine)
    response = client.post(
        world.path,
        data={
            "summary": "Сделано частично",
            "mentors": "-3",
            "held_on": "31.02.2022",
            "page": "школа",
        },
        follow_redirects=False,
    )
    assert response.status_code == 422
    text = response.text
    assert "Укажите целое неотрицательное число" in text
    assert "Укажите дату в виде ДД.ММ.ГГГГ" in text
    assert "Приложите файл." in text
    assert "Укажите адрес ссылки целиком" in text
    assert 'value="Сделано частично"' in text and 'value="-3"' in text
    assert counts(world.engine) == before
    assert get_task(world.engine, world.task_id).status is TaskStatus.open


def test_an_oversize_upload_is_refused(tmp_path: Path, engine: Engine, clock: Clock) -> None:
    settings = make_settings(tmp_path, upload_max_bytes=2048)
    world = build_world(settings, engine)
    client = TestClient(create_app(settings, engine, clock), base_url=BASE)
    before = counts(engine)
    big = PDF + b"0" * 3000
    response = client.post(world.path, data=good_form(), files=pdf_file(content=big))
    assert response.status_code == 422 and "слишком большой" in response.text
    assert counts(engine) == before and uploaded_files(settings) == []


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("setup.exe", b"MZ\x90\x00" + b"\x00" * 60, "такой тип не принимается"),
        ("приказ.pdf", PNG, "не похож на файл PDF"),
        ("scan.png", PDF, "не похож на файл PNG"),
        ("notes.txt", b"\x00\x01\x02binary", "не похож на файл TXT"),
        ("empty.pdf", b"", "пуст"),
    ],
)
def test_a_disallowed_file_is_refused(
    client: TestClient, world: World, name: str, content: bytes, message: str
) -> None:
    before = counts(world.engine)
    response = client.post(world.path, data=good_form(), files=pdf_file(name, content))
    assert response.status_code == 422 and message in response.text
    assert counts(world.engine) == before and uploaded_files(world.settings) == []


def test_office_images_text_and_zip_are_accepted(world: World, engine: Engine) -> None:
    files = [
        UploadedFile("order", "a.docx", b"PK\x03\x04rest", ""),
        UploadedFile("order", "b.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1rest", ""),
        UploadedFile("order", "c.jpg", b"\xff\xd8\xff\xe0rest", ""),
        UploadedFile("order", "d.txt", "Протокол заседания".encode("cp1251"), ""),
        UploadedFile("order", r"C:\Users\head\e.zip", b"PK\x05\x06" + b"\x00" * 18, ""),
    ]
    with Session(engine, expire_on_commit=False) as s:
        task = s.get(Task, world.task_id)
        assert task is not None
        evidence = submit_answer(
            session=s,
            task=task,
            values=good_form(),
            files=files,
            by="x@y.example",
            settings=world.settings,
            now=START,
        )
        names = s.exec(
            select(EvidenceFile.original_name).where(EvidenceFile.evidence_id == evidence.id)
        ).all()
        s.commit()
    assert sorted(names) == ["a.docx", "b.xls", "c.jpg", "d.txt", "e.zip"]


def test_evidence_text_is_escaped_on_the_pages_and_in_the_receipt(
    client: TestClient, world: World
) -> None:
    attack = "<script>alert(1)</script>"
    response = submit(client, world, summary=attack)
    assert response.status_code == 303
    page = client.get(world.path)
    assert attack not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    with Session(world.engine) as s:
        email = s.exec(select(OutgoingEmail)).one()
    assert "<script>" not in email.html_body
    assert "&lt;script&gt;" in email.html_body
    assert login(client).status_code == 303
    admin_page = client.get(f"/admin/tasks/{world.task_id}")
    assert (
        attack not in admin_page.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in admin_page.text
    )


def test_a_form_posted_from_another_site_is_refused(client: TestClient, world: World) -> None:
    before = counts(world.engine)
    response = client.post(
        world.path, data=good_form(), files=pdf_file(), headers={"Origin": "https://evil.example"}
    )
    assert response.status_code == 403
    assert counts(world.engine) == before


# --- refused links ----------------------------------------------------------------------------


def _tamper(token: str) -> str:
    index = len(token) - 3
    swap = "A" if token[index] != "A" else "B"
    return token[:index] + swap + token[index + 1 :]


def _refuse(kind: str, world: World, clock: Clock) -> tuple[str, int, str]:
    """Break the link the way `kind` says; returns (token, expected status, message)."""
    if kind == "tampered":
        return _tamper(world.token), 403, "Ссылка повреждена"
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


# --- the organisation's page ---------------------------------------------------------------


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
    bad = client.get("/o/" + _tamper(url.rsplit("/", 1)[1]))
    assert bad.status_code == 403 and "Ссылка не работает" in bad.text


def test_a_task_link_does_not_open_the_organisation_page(client: TestClient, world: World) -> None:
    page = client.get(f"/o/{world.token}")
    assert page.status_code == 403


# --- the centre's review --------------------------------------------------------------------


def test_a_wrong_password_is_refused(client: TestClient) -> None:
    response = login(client, password="не тот пароль")
    assert response.status_code == 401 and "Неверный адрес или пароль" in response.text
    assert client.get("/admin", follow_redirects=False).status_code == 303
    unknown = login(client, email="nobody@imcso.example")
    assert unknown.status_code == 401


def test_admin_pages_need_a_login(client: TestClient, world: World) -> None:
    for path in ("/admin", "/admin/tasks", f"/admin/tasks/{world.task_id}", "/admin/tasks.csv"):
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"].startswith(
            "/admin/login"
        )


def test_the_session_cookie_is_httponly_lax_and_lasts_twelve_hours(
    client: TestClient, world: World, clock: Clock
) -> None:
    response = login(client)
    assert response.status_code == 303
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "max-age=43200" in cookie
    assert client.get("/admin", follow_redirects=False).status_code == 200
    clock.now = START + timedelta(hours=12, minutes=1)
    assert client.get("/admin", follow_redirects=False).status_code == 303


@pytest.mark.parametrize("token", ["", "wrong-token", "other-session"])
def test_a_wrong_or_missing_csrf_token_is_refused_and_writes_nothing(
    client: TestClient, world: World, clock: Clock, token: str
) -> None:
    assert submit(client, world).status_code == 303
    if token == "other-session":
        other = TestClient(create_app(world.settings, world.engine, clock), base_url=BASE)
        token = csrf_of(other.get("/admin/login").text)
    assert login(client).status_code == 303
    before = counts(world.engine)
    for path, data in [
        (f"/admin/tasks/{world.task_id}/accept", {}),
        (
            f"/admin/tasks/{world.task_id}/return",
            {"reason": "Нет подписи", "new_due": "30.09.2022"},
        ),
        (f"/admin/tasks/{world.task_id}/revoke", {}),
    ]:
        response = client.post(path, data={**data, "csrf_token": token}, follow_redirects=False)
        assert response.status_code == 403, path
    assert counts(world.engine) == before
    assert get_task(world.engine, world.task_id).status is TaskStatus.submitted


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


def test_lists_filter_by_status_and_export_csv(client: TestClient, world: World) -> None:
    assert submit(client, world).status_code == 303
    assert login(client).status_code == 303

    def listed(query: str) -> list[str]:
        page = client.get(f"/admin/tasks?{query}")
        assert page.status_code == 200
        return re.findall(r'<span class="meta">(СОШ № \d)', page.text)

    assert listed("status=awaiting") == ["СОШ № 1"]
    assert sorted(listed(f"item={world.item_id}")) == ["СОШ № 1", "СОШ № 2"]
    assert listed(f"org={world.org_b}") == ["СОШ № 2"]
    assert listed("status=overdue") == []
    assert listed("status=returned") == []
    overview = client.get("/admin")
    assert overview.status_code == 200 and "По мероприятиям" in overview.text

    export = client.get("/admin/tasks.csv?status=all")
    assert export.status_code == 200
    assert export.headers["content-type"].startswith("text/csv")
    assert export.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(export.content.decode("utf-8-sig")), delimiter=";"))
    assert rows[0][:4] == ["Задача", "Учебный год", "№ мероприятия", "Мероприятие"]
    assert len(rows) == 3
    by_name = {r[4]: r for r in rows[1:]}
    assert by_name["СОШ № 1"][7] == "ответ получен, на проверке"
    assert by_name["СОШ № 1"][5] == "руководитель"
    assert by_name["СОШ № 2"][5] == "куратор" and by_name["СОШ № 2"][6] == "14.09.2022"

    awaiting_csv = client.get("/admin/tasks.csv?status=awaiting")
    assert len(awaiting_csv.content.decode("utf-8-sig").strip().splitlines()) == 2


def test_lists_filter_by_roadmap_when_there_are_several(
    client: TestClient, world: World, engine: Engine
) -> None:
    assert login(client).status_code == 303
    single = client.get("/admin/tasks")
    assert 'name="roadmap"' not in single.text, "one roadmap: no roadmap filter"
    with Session(engine) as s:
        s.add(Roadmap(key="gia-2027", title="ГИА-2027", order_date=date(2026, 9, 1)))
        s.commit()

    def listed(query: str) -> list[str]:
        page = client.get(f"/admin/tasks?{query}")
        assert page.status_code == 200
        return re.findall(r'<span class="meta">(СОШ № \d)', page.text)

    page = client.get("/admin/tasks")
    assert 'name="roadmap"' in page.text and "ГИА-2027 (gia-2027)" in page.text
    assert sorted(listed("roadmap=r209")) == ["СОШ № 1", "СОШ № 2"]
    assert listed("roadmap=gia-2027") == []
    assert sorted(listed("")) == ["СОШ № 1", "СОШ № 2"]
    export = client.get("/admin/tasks.csv?roadmap=gia-2027")
    assert len(export.content.decode("utf-8-sig").strip().splitlines()) == 1


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


# --- the JSON API ---------------------------------------------------------------------------


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


def test_the_api_reads_and_answers_a_task(client: TestClient, world: World) -> None:
    got = client.get(f"/api/tasks/{world.token}")
    assert got.status_code == 200
    body = got.json()
    assert (
        body["item"]["number"] == "5" and body["status"] == "open" and body["due"] == "2022-09-14"
    )
    assert [f["name"] for f in body["evidence_spec"]] == [
        "summary",
        "mentors",
        "held_on",
        "order",
        "page",
    ]
    assert body["submissions"] == []

    bad = client.post(f"/api/tasks/{world.token}/answer", data={"mentors": "много"})
    assert bad.status_code == 422
    errors = bad.json()["detail"]["errors"]
    assert set(errors) == {"summary", "mentors", "held_on", "order"}

    posted = client.post(f"/api/tasks/{world.token}/answer", data=good_form(), files=pdf_file())
    assert posted.status_code == 201
    result = posted.json()
    assert result["status"] == "submitted"
    assert result["submissions"][0]["values"]["mentors"] == 4
    assert result["submissions"][0]["files"][0]["name"] == "приказ.pdf"

    schema = client.get("/openapi.json").json()
    assert "/api/tasks/{token}/answer" in schema["paths"]
    assert "/api/admin/tasks/{task_id}/return" in schema["paths"]
    assert client.get("/docs").status_code == 200


def test_the_api_review_needs_an_administrator(client: TestClient, world: World) -> None:
    assert (
        client.post(
            f"/api/tasks/{world.token}/answer", data=good_form(), files=pdf_file()
        ).status_code
        == 201
    )
    before = counts(world.engine)
    url = f"/api/admin/tasks/{world.task_id}/accept"
    assert client.post(url).status_code == 401
    # the API takes no passwords, and a personal link is not an administrator's credential
    assert client.post(url, headers=basic(ADMIN_EMAIL, ADMIN_PASSWORD)).status_code == 401
    assert client.post(url, headers={"Authorization": f"Bearer {world.token}"}).status_code == 401
    # nor the session cookie: a page on another site could make the browser send it
    assert login(client).status_code == 303
    csrf = csrf_of(client.get("/admin").text)
    assert client.post(url, headers={"X-CSRF-Token": csrf}).status_code == 401
    assert counts(world.engine) == before

    token = api_token(world.engine)
    returned = client.post(
        f"/api/admin/tasks/{world.task_id}/return",
        json={"reason": "Нет печати", "new_due": "2022-09-21"},
        headers=token,
    )
    assert returned.status_code == 200
    assert returned.json() == {
        "id": world.task_id,
        "status": "returned",
        "due": "2022-09-21",
        "revision": 1,
    }
    again = client.post(url, headers=token)
    assert again.status_code == 409  # returned, not waiting for review

    anonymous = TestClient(client.app, base_url=BASE)
    assert (
        anonymous.post(
            f"/api/tasks/{world.token}/answer", data=good_form(), files=pdf_file()
        ).status_code
        == 201
    )
    accepted = anonymous.post(url, headers=token)
    assert accepted.status_code == 200 and accepted.json()["status"] == "accepted"
    got = anonymous.get(f"/api/tasks/{world.token}").json()
    assert got["status"] == "accepted" and [s["version"] for s in got["submissions"]] == [2, 1]
    assert got["submissions"][1]["review_note"] == "Нет печати"


# --- the command line ---------------------------------------------------------------------


def test_admin_create_from_the_command_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import typer
    from typer.testing import CliRunner

    from cli import portal_cmd
    from config.settings import get_settings

    app = typer.Typer()
    portal_cmd.register(app)

    db = tmp_path / "cli.db"
    monkeypatch.setenv("ROADMAP_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("ROADMAP_DATABASE_URL", f"sqlite:///{db.as_posix()}")
    monkeypatch.setenv("ROADMAP_ROADMAP_FILE", str(tmp_path / "none.yaml"))
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        ok = runner.invoke(
            app,
            ["admin", "create", "Boss@IMCSO.example", "--name", "Начальник", "--password-stdin"],
            input="длинный-пароль-1\n",
        )
        assert ok.exit_code == 0, ok.output
        assert "created administrator boss@imcso.example" in ok.output
        twice = runner.invoke(
            app,
            ["admin", "create", "boss@imcso.example", "--password-stdin"],
            input="другой-пароль-2\n",
        )
        assert twice.exit_code == 2 and "already exists" in twice.output
        short = runner.invoke(
            app, ["admin", "create", "x@imcso.example", "--password-stdin"], input="short\n"
        )
        assert short.exit_code == 2 and "at least 10" in short.output
        prompted = runner.invoke(
            app,
            ["admin", "create", "y@imcso.example"],
            input="пароль-через-ввод\nпароль-через-ввод\n",
        )
        assert prompted.exit_code == 0, prompted.output
    finally:
        get_settings.cache_clear()
    from domain.db import make_engine
    from portal.auth import authenticate

    engine = make_engine(f"sqlite:///{db.as_posix()}")
    with Session(engine) as s:
        assert authenticate(session=s, email="boss@imcso.example", password="длинный-пароль-1")
        assert authenticate(session=s, email="y@imcso.example", password="пароль-через-ввод")
        assert (
            authenticate(session=s, email="boss@imcso.example", password="другой-пароль-2") is None
        )
    engine.dispose()


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


def test_login_without_the_form_token_is_refused_and_logout_ends_the_session(
    client: TestClient, world: World
) -> None:
    fresh = TestClient(client.app, base_url=BASE)
    refused = fresh.post(
        "/admin/login",
        data={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD, "csrf_token": "x"},
        follow_redirects=False,
    )
    assert refused.status_code == 403
    assert fresh.get("/admin", follow_redirects=False).status_code == 303

    assert login(client).status_code == 303
    csrf = csrf_of(client.get("/admin").text)
    assert client.post("/admin/logout", data={}, follow_redirects=False).status_code == 403
    out = client.post("/admin/logout", data={"csrf_token": csrf}, follow_redirects=False)
    assert out.status_code == 303
    assert client.get("/admin", follow_redirects=False).status_code == 303


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


# --- review fixes: revocation sticks, overdue status, confirmation, errors, files -----------


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


def test_the_task_page_says_when_the_answer_is_overdue(
    client: TestClient, world: World, clock: Clock
) -> None:
    on_due_day = client.get(world.path)
    assert "ожидает ответа" in on_due_day.text and "просрочено" not in on_due_day.text
    clock.now = datetime(2022, 9, 15, 6, 0, tzinfo=UTC)  # the day after the due date
    page = client.get(world.path)
    assert '<span class="status status-open">просрочено (ожидает ответа)</span>' in page.text
    assert client.get(f"/api/tasks/{world.token}").json()["status_label"] == (
        "просрочено (ожидает ответа)"
    )
    assert "просрочено (ожидает ответа)" in client.get(org_page_url(world)).text


def test_the_confirmation_is_shown_only_for_a_version_that_exists(
    client: TestClient, world: World
) -> None:
    for query in ("v=1", "v=99", "v=abc", "v=-1", ""):
        response = client.get(f"{world.path}/done?{query}", follow_redirects=False)
        assert response.status_code == 303, query
        assert response.headers["location"] == world.path
    assert submit(client, world).status_code == 303
    done = client.get(f"{world.path}/done?v=1")
    assert done.status_code == 200 and "отправлен на проверку в центр" in done.text
    missing = client.get(f"{world.path}/done?v=2", follow_redirects=False)
    assert missing.status_code == 303 and missing.headers["location"] == world.path


def test_people_get_russian_error_pages_and_the_api_keeps_json(
    client: TestClient, world: World
) -> None:
    home = client.get("/")
    assert home.status_code == 200 and "персональной ссылке из письма" in home.text
    for path in ("/t/", "/o/", "/nothing", f"{world.path}/files/abc", "/admin/tasks/abc"):
        page = client.get(path)
        assert page.status_code == 404, path
        assert page.headers["content-type"].startswith("text/html"), path
        assert "Страница не найдена" in page.text and '"detail"' not in page.text, path
    wrong_method = client.post("/")
    assert wrong_method.status_code == 405 and "не поддерживается" in wrong_method.text
    broken = client.post(
        world.path,
        content=b"--xyz\r\nContent-Disposition: form-data\r\n\r\nno name\r\n--xyz--\r\n",
        headers={"content-type": "multipart/form-data; boundary=xyz"},
    )
    assert broken.status_code == 400 and "Неверный адрес или данные формы" in broken.text
    assert "Invalid" not in broken.text
    assert get_task(world.engine, world.task_id).status is TaskStatus.open

    assert client.get("/api/nothing").json() == {"detail": "Not Found"}
    # who is asking comes first (before the path, before any body), then a bad id names no task
    assert client.post("/api/admin/tasks/abc/accept").status_code == 401
    api = client.post("/api/admin/tasks/abc/accept", headers=api_token(world.engine))
    assert api.status_code == 404 and api.json()["detail"]["problem"] == "not_found"


def _fail_after_files_are_written(engine: Engine, where: str) -> None:
    """Make the database refuse the answer after its files are on disk: inside the
    submission (a trigger refuses the receipt) or only at COMMIT (a deferred foreign key
    broken by a trigger)."""
    with engine.begin() as conn:
        if where == "flush":
            conn.exec_driver_sql(
                "CREATE TRIGGER refuse_receipt BEFORE INSERT ON outgoing_email "
                "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
            )
        else:
            conn.exec_driver_sql(
                "CREATE TRIGGER break_task AFTER INSERT ON task_event "
                "BEGIN UPDATE task SET occurrence_id = 999999 WHERE id = NEW.task_id; END"
            )

    if where == "commit":

        @event.listens_for(engine, "begin")
        def _defer(conn: Connection) -> None:
            conn.exec_driver_sql("PRAGMA defer_foreign_keys=ON")


@pytest.mark.parametrize("where", ["flush", "commit"])
@pytest.mark.parametrize("route", ["page", "api"])
def test_a_failed_answer_leaves_no_files_behind(
    client: TestClient, world: World, where: str, route: str
) -> None:
    _fail_after_files_are_written(world.engine, where)
    before = counts(world.engine)
    path = world.path if route == "page" else f"/api/tasks/{world.token}/answer"
    response = client.post(path, data=good_form(), files=pdf_file(), follow_redirects=False)
    assert response.status_code == 409
    assert counts(world.engine) == before
    assert uploaded_files(world.settings) == []
    assert get_task(world.engine, world.task_id).status is TaskStatus.open


def test_an_answer_at_00_30_in_moscow_shows_its_moscow_day_everywhere(
    client: TestClient, world: World
) -> None:
    """21:30 UTC on 14.09 is 00:30 on 15.09 in Moscow: the centre sees the 15th."""
    from domain.formatting import local_day, ru_date
    from domain.progress import item_progress

    late_evening = datetime(2022, 9, 14, 21, 30, tzinfo=UTC)
    with Session(world.engine, expire_on_commit=False) as s:
        task = s.get(Task, world.task_id)
        assert task is not None
        submit_answer(
            session=s,
            task=task,
            values=good_form(),
            files=[UploadedFile("order", "приказ.pdf", PDF, "application/pdf")],
            by="head@school1.example",
            settings=world.settings,
            now=late_evening,
        )
        s.commit()
        progress = item_progress(
            session=s, item_id=world.item_id, today=date(2022, 9, 15), tz=world.settings.tz
        )
    assert local_day(late_evening, world.settings.tz) == "15.09.2022"
    with pytest.raises(ValueError, match="local_day"):
        ru_date(late_evening)  # the UTC day would be the 14th
    answered = {row.organisation: row.answered for row in progress.rows}
    assert answered["СОШ № 1"] == "15.09.2022"
    assert login(client).status_code == 303
    page = client.get(f"/admin/tasks/{world.task_id}").text
    assert "15.09.2022 00:30" in page and "14.09.2022 21:30" not in page
    rows = list(csv.reader(io.StringIO(client.get("/admin/tasks.csv").text), delimiter=";"))
    assert any("15.09.2022 00:30" in row for row in rows)
