"""Set-up without YAML over HTTP: an order uploaded as Word, text or CSV becomes a draft
(not a roadmap) whose page shows every item with its first due dates, who gets a task and
the import's warnings; a "needs dates" item is fixed with an external plan's dates; the
organisations list is uploaded with its rejected rows; the first emails are previewed
with nothing written; activation starts the roadmap; an edit after it is kept in the
history, applies from then on, and loses no answer."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, date, datetime
from html import unescape as html_unescape
from pathlib import Path
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import Engine
from sqlmodel import Session, col, func, select

from config.settings import Settings
from domain.db import make_engine, upgrade
from domain.emails import OutgoingEmail
from domain.enums import TaskStatus
from domain.evidence import Evidence
from domain.organisations import Organisation
from domain.roadmap import Roadmap, RoadmapItem
from domain.roadmap_setup_models import RoadmapChange, RoadmapDraft
from domain.tasks import Occurrence, Task
from portal.app import create_app
from services.opening import open_item
from tests.conftest import make_settings
from tests.portal_world import Clock
from tests.setup_world import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    NOW,
    ROWS,
    SEED_ORDER,
    add_admin,
    csrf_of,
    order_csv,
    order_docx,
    organisations_xlsx,
)

BASE = "http://127.0.0.1:8765"


class Installation:
    def __init__(self, settings: Settings, engine: Engine, clock: Clock) -> None:
        self.settings, self.engine, self.clock = settings, engine, clock
        self.client = TestClient(create_app(settings, engine, clock), base_url=BASE)

    def login(self) -> None:
        page = self.client.get("/admin/login")
        done = self.client.post(
            "/admin/login",
            data={
                "email": ADMIN_EMAIL,
                "password": ADMIN_PASSWORD,
                "csrf_token": csrf_of(page.text),
                "next": "/admin/setup",
            },
            follow_redirects=False,
        )
        assert done.status_code == 303, done.text

    def at(self, moment: datetime) -> None:
        """Move the clock (a session lasts 12 hours: log in again)."""
        self.clock.now = moment
        self.login()

    def csrf(self) -> str:
        return csrf_of(self.client.get("/admin/setup").text)

    def upload_order(self, name: str, content: bytes) -> str:
        """The draft page's path."""
        sent = self.client.post(
            "/admin/setup/order",
            data={"csrf_token": self.csrf()},
            files={"file": (name, content, "application/octet-stream")},
            follow_redirects=False,
        )
        assert sent.status_code == 303, sent.text
        return str(sent.headers["location"])

    def upload_orgs(self, back: str = "/admin/setup") -> str:
        page = self.client.post(
            "/admin/setup/organisations",
            data={"csrf_token": self.csrf(), "back": back},
            files={"file": ("orgs.xlsx", organisations_xlsx(), "application/octet-stream")},
        )
        assert page.status_code == 200, page.text
        text: str = page.text
        return text

    def item_form(self, path: str, label: str) -> dict[str, object]:
        """The item's form as the page fills it."""
        page = self.client.get(f"{path}/items/{quote(label)}")
        assert page.status_code == 200, page.text
        html = page.text

        def value(name: str) -> str:
            found = re.search(rf'name="{name}" value="([^"]*)"', html)
            return unescape(found[1]) if found else ""

        def area(name: str) -> str:
            found = re.search(rf'name="{name}"[^>]*>(.*?)</textarea>', html, re.S)
            return unescape(found[1]) if found else ""

        organisations = re.search(r'name="organisations" value="(\w*)" checked', html)
        return {
            "csrf_token": csrf_of(html),
            "schedule_text": value("schedule_text"),
            "plan_dates": area("plan_dates"),
            "owner_name": value("owner_name"),
            "owner_email": value("owner_email"),
            "centre": "1" if re.search(r'name="centre" value="1" checked', html) else "",
            "organisations": organisations[1] if organisations else "",
            "kinds": re.findall(r'name="kinds" value="(\w+)" checked', html),
            "evidence": area("evidence"),
        }

    def save_item(self, path: str, label: str, **changes: object) -> Response:
        form = self.item_form(path, label) | changes
        sent: Response = self.client.post(
            f"{path}/items/{quote(label)}", data=form, follow_redirects=False
        )
        return sent


def unescape(text: str) -> str:
    return html_unescape(text)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[Installation]:
    settings = make_settings(tmp_path)
    engine = make_engine(settings.effective_database_url)
    upgrade(engine)
    add_admin(engine)
    installation = Installation(settings, engine, Clock(NOW))
    installation.login()
    yield installation
    engine.dispose()


def counts(engine: Engine) -> dict[str, int]:
    with Session(engine) as s:
        return {
            "roadmaps": s.exec(select(func.count()).select_from(Roadmap)).one(),
            "drafts": s.exec(select(func.count()).select_from(RoadmapDraft)).one(),
            "outgoing": s.exec(select(func.count()).select_from(OutgoingEmail)).one(),
            "tasks": s.exec(select(func.count()).select_from(Task)).one(),
        }


# --- upload -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content", "key"),
    [("prikaz.docx", order_docx(), "209-od-2022"), ("prikaz.csv", order_csv(), "prikaz")],
    ids=["docx", "csv"],
)
def test_an_order_becomes_a_draft_that_shows_every_item_and_its_warnings(
    world: Installation, name: str, content: bytes, key: str
) -> None:
    path = world.upload_order(name, content)
    assert re.fullmatch(r"/admin/setup/drafts/\d+", path)
    assert counts(world.engine) == {"roadmaps": 0, "drafts": 1, "outgoing": 0, "tasks": 0}
    page = world.client.get(path)
    assert page.status_code == 200
    html = unescape(page.text)
    assert "черновик" in html and f"Ключ: <strong>{key}</strong>" in html
    for title in ("Формирование базы наставников", "Повышение квалификации наставников",
                  "Заседание экспертной комиссии", "Мониторинг реализации"):  # fmt: skip
        assert title in html
    # first occurrences in ДД.ММ.ГГГГ, who gets the task, evidence fields
    first = r"Первые сроки</dt><dd[^>]*>30\.09\.2022 <span class=\"num\">\(с 01\.09\.2022\)"
    assert re.search(first, html)
    assert "руководители" in html and "кураторы (руководитель в копии)" in html
    assert "Количество наставников (число)" in html  # the evidence field of item 1
    # the import's warnings, highlighted, and each item's open issue
    assert re.search(r'<li class="warn">[^<]*пункт 2:[^<]*нужны даты', html)
    assert re.search(r'<li class="warn">[^<]*пункт 3:[^<]*назначено центру', html)
    assert 'id="item-2"' in html and "нужны даты: даты задаёт внешний план" in html
    assert "нет действующих организаций" in html  # none loaded yet
    # what to do is said in the words of these pages: no options, no roadmap file fields
    warnings = html.split('id="warnings"')[1].split('id="items"')[0]
    for word in ("--", "assignees", "responsible_rules", "YAML"):
        assert word not in warnings
    assert "кому задание, выбирается в пункте: «Кто получает задачу»" in warnings
    if name.endswith(".csv"):  # no heading: the title and the date are the page's to set
        assert warnings.count("в разделе «Ключ, название, номер и дата приказа»") == 2


def test_the_seed_order_as_text_gives_its_seventeen_items(world: Installation) -> None:
    path = world.upload_order(SEED_ORDER.name, SEED_ORDER.read_bytes())
    html = unescape(world.client.get(path).text)
    assert html.count('class="setup-item') == 17
    assert "нужны даты" in html
    with Session(world.engine) as s:
        draft = s.exec(select(RoadmapDraft)).one()
    assert draft.created_by == ADMIN_EMAIL and draft.activated_at is None


def test_an_unreadable_order_says_why_and_keeps_nothing(world: Installation) -> None:
    sent = world.client.post(
        "/admin/setup/order",
        data={"csrf_token": world.csrf()},
        files={"file": ("prikaz.pdf", b"%PDF-1.4", "application/pdf")},
    )
    assert sent.status_code == 422
    assert "формат .pdf не поддерживается; нужен .txt, .docx или .csv" in unescape(sent.text)
    assert counts(world.engine)["drafts"] == 0


def test_an_upload_without_a_session_is_refused_before_it_is_read(world: Installation) -> None:
    other = TestClient(create_app(world.settings, world.engine, world.clock), base_url=BASE)
    refused = other.post(
        "/admin/setup/order", files={"file": ("prikaz.csv", order_csv(), "text/csv")}
    )
    assert refused.status_code == 403
    assert counts(world.engine)["drafts"] == 0


# --- fixing items -------------------------------------------------------------------------


def test_a_needs_dates_item_is_fixed_with_an_external_plans_dates(world: Installation) -> None:
    path = world.upload_order("prikaz.docx", order_docx())
    saved = world.save_item(path, "2", plan_dates="15.10.2022\n01.03.2023 – 20.03.2023")
    assert saved.status_code == 303, saved.text
    assert saved.headers["location"].startswith(f"{path}?done=saved")
    html = unescape(world.client.get(saved.headers["location"]).text)
    assert "Пункт сохранён" in html
    item2 = html[html.index('id="item-2"') : html.index('id="item-3"')]
    assert "по плану СКИРО ПК и ПРО (15.10.2022, с 01.03.2023 по 20.03.2023)" in item2
    assert '15.10.2022; 20.03.2023 <span class="num">(с 01.03.2023)' in item2
    assert "нужны даты" not in item2
    # the import's warning about it is shown as fixed
    assert re.search(r'<li class="fixed"><strong>Исправлено:</strong>[^<]*пункт 2:', html)
    with Session(world.engine) as s:
        draft = s.exec(select(RoadmapDraft)).one()
    spec = next(i for i in draft.roadmap["items"] if i["label"] == "2")
    assert spec["needs_dates"] is False and spec["schedule"]["kind"] == "once"


def test_wrong_fields_are_refused_in_russian_next_to_the_field(world: Installation) -> None:
    path = world.upload_order("prikaz.docx", order_docx())
    before = world.client.get(path).text
    refused = world.save_item(
        path,
        "1",
        schedule_text="когда-нибудь потом",
        owner_email="ivanova-at-imc",
        organisations="head",
        kinds=[],
        evidence="Количество наставников; цифра",
    )
    assert refused.status_code == 422
    html = unescape(refused.text)
    assert "Пункт не сохранён" in html
    beside = r'has-error">\s*<label for="schedule_text">.*?<p class="error">срок «когда-нибудь'
    assert re.search(beside, html, re.S)
    assert "«ivanova-at-imc» — не адрес электронной почты" in html
    assert "отметьте хотя бы один тип организаций" in html
    assert "строка 1: тип «цифра» не известен" in html
    dates = world.save_item(path, "2", plan_dates="31.02.2023")
    assert "строка 1: «31.02.2023» — такой даты нет в календаре" in unescape(dates.text)
    assert world.client.get(path).text == before  # nothing saved


def test_owner_who_gets_the_task_and_evidence_fields_are_saved(world: Installation) -> None:
    path = world.upload_order("prikaz.docx", order_docx())
    saved = world.save_item(
        path,
        "3",
        owner_name="Иванова Мария Петровна",
        owner_email="ivanova@imc.example",
        centre="",
        organisations="curator",
        kinds=["school"],
        evidence="Протокол заседания; файл\nЧисло участников; число; необязательно",
    )
    assert saved.status_code == 303
    html = unescape(world.client.get(path).text)
    item3 = html[html.index('id="item-3"') : html.index('id="item-4"')]
    assert "Иванова Мария Петровна <ivanova@imc.example>" in item3
    assert "кураторы (руководитель в копии) [школы]" in item3
    assert "Протокол заседания (файл); Число участников (число, необязательно)" in item3
    assert "назначено центру" not in item3
    assert re.search(r'<li class="fixed"><strong>Исправлено:</strong>[^<]*пункт 3:', html)


# --- organisations ------------------------------------------------------------------------


def test_the_organisations_list_shows_accepted_and_rejected_rows(world: Installation) -> None:
    path = world.upload_order("prikaz.docx", order_docx())
    html = unescape(world.upload_orgs(back=path))
    assert "Принято строк: 3" in html and "новых 3" in html
    assert "Отклонено строк: 2" in html
    rows = re.findall(r"<tr><td>(\d+)</td><td>([^<]*)</td><td>([^<]*)</td></tr>", html)
    assert [(line, field) for line, field, _ in rows] == [
        ("5", "«E-mail руководителя»"),
        ("6", "«Краткое наименование»"),
    ]
    assert "неверный адрес электронной почты" in rows[0][2]
    assert "не заполнен столбец «Краткое наименование»" in rows[1][2]
    assert f'href="{path}"' in html  # back to the draft
    with Session(world.engine) as s:
        assert len(s.exec(select(Organisation)).all()) == 3
    draft = unescape(world.client.get(path).text)
    assert "руководители: организаций — 3" in draft  # the preview counts them now
    assert "кураторы (руководитель в копии): организаций — 3" in draft


# --- emails -------------------------------------------------------------------------------


def test_the_first_emails_are_the_real_template_and_nothing_is_written(
    world: Installation,
) -> None:
    path = world.upload_order("prikaz.docx", order_docx())
    world.upload_orgs()
    with Session(world.engine) as s:
        school = s.exec(select(Organisation).where(Organisation.short_name == "СОШ № 1")).one()
    page = world.client.get(f"{path}/emails", params={"org": str(school.id)})
    assert page.status_code == 200
    html = unescape(page.text)
    # item 1 (heads) opens 01.09.2022; item 4 (curators, head in copy) opens 01.12.2022
    assert "01.09.2022: Новая задача: п. 1 «Формирование базы наставников», срок 30.09.2022" in html
    assert "Кому: sosh1@school.example" in html
    assert "Кому: kurator1@school.example; копия: sosh1@school.example" in html
    assert "Уважаемая Анна Петровна!" in html  # the text version, greeting the head
    frames = re.findall(r'<iframe[^>]*sandbox src="([^"]+)"', page.text)
    assert len(frames) == 2  # 01.09 (item 1) and 01.12 (item 4); item 2 has no dates yet
    for src in frames:
        framed = world.client.get(unescape(src))
        assert framed.status_code == 200
        assert "Для вашей организации открыта задача" in framed.text
    email = world.client.get(unescape(frames[0]))
    assert "frame-ancestors 'self'" in email.headers["content-security-policy"]
    assert email.headers["x-frame-options"] == "SAMEORIGIN"
    centre = unescape(world.client.get(f"{path}/emails", params={"org": "centre"}).text)
    assert "п. 3 «Заседание экспертной комиссии»" in centre  # the centre's own task
    assert counts(world.engine) == {"roadmaps": 0, "drafts": 1, "outgoing": 0, "tasks": 0}
    with Session(world.engine) as s:
        from domain.access import AccessLink

        assert s.exec(select(func.count()).select_from(AccessLink)).one() == 0


# --- activation and history ---------------------------------------------------------------


def activate(world: Installation, path: str, day: str = "2022-09-01") -> str:
    page = world.client.get(path)
    sent = world.client.post(
        f"{path}/activate",
        data={"csrf_token": csrf_of(page.text), "from_day": day},
        follow_redirects=False,
    )
    assert sent.status_code == 303, sent.text
    return str(sent.headers["location"]).split("?")[0]


def test_activation_starts_the_roadmap_from_the_day_given(world: Installation) -> None:
    path = world.upload_order("prikaz.docx", order_docx())
    world.save_item(path, "2", plan_dates="15.10.2022")
    page = world.client.get(path)
    bad = world.client.post(
        f"{path}/activate", data={"csrf_token": csrf_of(page.text), "from_day": "завтра"}
    )
    assert bad.status_code == 422 and "Укажите дату начала" in unescape(bad.text)
    roadmap_path = activate(world, path)
    assert roadmap_path == "/admin/setup/roadmaps/209-od-2022"
    with Session(world.engine) as s:
        roadmap = s.exec(select(Roadmap)).one()
        items = s.exec(select(RoadmapItem).order_by(col(RoadmapItem.number))).all()
        draft = s.exec(select(RoadmapDraft)).one()
    assert roadmap.activated_at is not None
    assert roadmap.activated_at.astimezone(world.settings.tz) == datetime(
        2022, 9, 1, tzinfo=world.settings.tz
    )
    assert [i.label for i in items] == ["1", "2", "3", "4"]
    assert items[1].schedule_text == "по плану СКИРО ПК и ПРО (15.10.2022)"
    assert not items[1].needs_dates
    assert draft.roadmap_id == roadmap.id and draft.activated_at == NOW
    assert world.client.get(path, follow_redirects=False).headers["location"] == roadmap_path
    html = unescape(world.client.get(f"{roadmap_path}?done=activated").text)
    assert "Дорожная карта запущена." in html and "запущена</strong> с 01.09.2022 00:00" in html
    again = world.client.post(
        f"{path}/activate", data={"csrf_token": csrf_of(page.text), "from_day": "2022-09-01"}
    )
    assert again.status_code == 409


def test_a_change_after_activation_is_kept_applies_from_then_on_and_loses_no_answer(
    world: Installation,
) -> None:
    path = world.upload_order("prikaz.docx", order_docx())
    world.upload_orgs()
    roadmap_path = activate(world, path)
    # September: item 1 opens for the three organisations; one answers
    world.clock.now = datetime(2022, 9, 5, 7, 0, tzinfo=NOW.tzinfo)
    with Session(world.engine) as s:
        roadmap = s.exec(select(Roadmap)).one()
        item = s.exec(select(RoadmapItem).where(RoadmapItem.label == "1")).one()
        opened = open_item(
            session=s,
            item=item,
            roadmap_start=roadmap.order_date,
            now=world.clock.now,
            today=date(2022, 9, 5),
            tracked_from=date(2022, 9, 1),
        )
        assert opened.tasks == 3
        task = s.exec(select(Task)).first()
        assert task is not None and task.id is not None
        task.status = TaskStatus.submitted
        task.submitted_at = world.clock.now
        s.add(task)
        s.add(
            Evidence(
                task_id=task.id,
                version=1,
                values={"mentors": 7},
                submitted_by="sosh1@school.example",
                submitted_at=world.clock.now,
            )
        )
        s.commit()
        task_id = task.id
    # 20 September: the centre moves item 1 to "октябрь 2022 г." and names its owner
    world.at(datetime(2022, 9, 20, 7, 0, tzinfo=NOW.tzinfo))
    saved = world.save_item(
        roadmap_path,
        "1",
        schedule_text="октябрь 2022 г.",
        owner_name="Иванова Мария Петровна",
        owner_email="ivanova@imc.example",
    )
    assert saved.status_code == 303, saved.text
    history = unescape(world.client.get(f"{roadmap_path}/history").text)
    assert "20.09.2022 10:00, metodist@imcso.example · пункт 1 · <strong>Срок</strong>" in history
    assert "было: сентябрь 2022 г." in history and "стало: октябрь 2022 г." in history
    assert "стало: Иванова Мария Петровна <ivanova@imc.example>" in history
    with Session(world.engine) as s:
        changes = s.exec(select(RoadmapChange).order_by(col(RoadmapChange.id))).all()
        item = s.exec(select(RoadmapItem).where(RoadmapItem.label == "1")).one()
        roadmap = s.exec(select(Roadmap)).one()
        assert [(c.field, c.who) for c in changes] == [
            ("schedule_text", ADMIN_EMAIL),
            ("owner", ADMIN_EMAIL),
        ]
        assert item.schedule_from == date(2022, 9, 20)
        # the answer and the September tasks stay
        assert s.exec(select(func.count()).select_from(Task)).one() == 3
        kept = s.get(Task, task_id)
        assert kept is not None and kept.status is TaskStatus.submitted
        assert s.exec(select(Evidence)).one().values == {"mentors": 7}
        # October's window opens under the new schedule from then on
        october = open_item(
            session=s,
            item=item,
            roadmap_start=roadmap.order_date,
            now=datetime(2022, 10, 3, 7, 0, tzinfo=NOW.tzinfo),
            today=date(2022, 10, 3),
            tracked_from=date(2022, 9, 1),
        )
        assert october.tasks == 3
        dues = sorted(o.due for o in s.exec(select(Occurrence)).all())
        assert dues == [date(2022, 9, 30), date(2022, 10, 31)]
    # a changed schedule never opens what fell due before the change
    world.at(datetime(2022, 11, 1, 7, 0, tzinfo=NOW.tzinfo))
    world.save_item(roadmap_path, "4", schedule_text="с 01.09.2022 по 15.10.2022")
    with Session(world.engine) as s:
        item4 = s.exec(select(RoadmapItem).where(RoadmapItem.label == "4")).one()
        roadmap = s.exec(select(Roadmap)).one()
        late = open_item(
            session=s,
            item=item4,
            roadmap_start=roadmap.order_date,
            now=world.clock.now,
            today=date(2022, 11, 1),
            tracked_from=date(2022, 9, 1),
        )
        assert late.tasks == 0
    unchanged = world.save_item(roadmap_path, "4")
    assert "done=unchanged" in unchanged.headers["location"]


def test_a_re_uploaded_order_keeps_every_change_in_the_history_and_a_new_item_starts_today(
    world: Installation,
) -> None:
    path = world.upload_order("prikaz.docx", order_docx())
    world.upload_orgs()
    roadmap_path = activate(world, path)  # tracked from 01.09.2022
    # 1 November: the order again, item 3 renamed, item 4 gone, a September item 5 added
    world.at(datetime(2022, 11, 1, 7, 0, tzinfo=NOW.tzinfo))
    rows = [list(r) for r in ROWS[:3]]
    rows[2][1] = "Заседание экспертной комиссии по наставничеству"
    rows.append(["5", "Семинар наставников", "сентябрь 2022 г.",
                 "руководители образовательных организаций", "Программа семинара"])  # fmt: skip
    second = world.upload_order("prikaz-2.docx", order_docx(rows))
    page = world.client.get(second).text
    sent = world.client.post(
        f"{second}/activate", data={"csrf_token": csrf_of(page)}, follow_redirects=False
    )
    assert sent.status_code == 303, sent.text
    with Session(world.engine) as s:
        changes = s.exec(select(RoadmapChange).order_by(col(RoadmapChange.id))).all()
        roadmap = s.exec(select(Roadmap)).one()
        added = s.exec(select(RoadmapItem).where(RoadmapItem.label == "5")).one()
        gone = s.exec(select(RoadmapItem).where(RoadmapItem.label == "4")).one()
        assert [(c.item_label, c.field, c.before, c.after) for c in changes] == [
            ("3", "title", "Заседание экспертной комиссии",
             "Заседание экспертной комиссии по наставничеству"),
            ("5", "added", "", "5. Семинар наставников"),
            ("4", "withdrawn", "4. Мониторинг реализации программ наставничества", ""),
        ]  # fmt: skip
        assert changes[2].item_id == gone.id and gone.withdrawn
        assert roadmap.activated_at == datetime(2022, 8, 31, 21, 0, tzinfo=UTC)  # kept
        # the new item applies from the day it came: September's window, already past,
        # is not opened (nor announced overdue)
        assert added.schedule_from == date(2022, 11, 1)
        late = open_item(
            session=s,
            item=added,
            roadmap_start=roadmap.order_date,
            now=world.clock.now,
            today=date(2022, 11, 1),
            tracked_from=date(2022, 9, 1),
        )
        assert late.tasks == 0
    history = unescape(world.client.get(f"{roadmap_path}/history").text)
    assert "пункт 5 · <strong>Пункт добавлен</strong>" in history
    assert "пункт 4 · <strong>Пункт исключён</strong>" in history
    assert "пункт 3 · <strong>Наименование</strong>" in history


def test_a_drafts_heading_is_set_and_a_known_key_updates_its_roadmap_with_history(
    world: Installation,
) -> None:
    path = world.upload_order("prikaz.csv", order_csv())  # a CSV has no heading
    page = world.client.get(path)
    bad = world.client.post(
        f"{path}/heading",
        data={
            "csrf_token": csrf_of(page.text),
            "key": "Приказ 209",
            "title": "",
            "order_number": "209-од",
            "order_date": "31.04.2022",
        },
    )
    assert bad.status_code == 422
    html = unescape(bad.text)
    assert "ключ — латинские строчные буквы" in html and "впишите название" in html
    assert "укажите дату приказа в виде ДД.ММ.ГГГГ" in html
    saved = world.client.post(
        f"{path}/heading",
        data={
            "csrf_token": csrf_of(page.text),
            "key": "209-od-2022",
            "title": "Дорожная карта наставничества",
            "order_number": "209-од",
            "order_date": "08.04.2022",
        },
        follow_redirects=False,
    )
    assert saved.status_code == 303
    html = unescape(world.client.get(path).text)
    assert "Ключ: <strong>209-od-2022</strong>; приказ № 209-од от 08.04.2022" in html
    activate(world, path)
    # the order again, as Word: the draft says its key is known; item 1 is moved
    second = world.upload_order("prikaz.docx", order_docx())
    html = unescape(world.client.get(second).text)
    assert 'id="same-key"' in html and "при запуске она обновится" in html
    world.save_item(second, "1", schedule_text="октябрь 2022 г.")
    # the roadmap runs: the draft updates it and keeps its start (no day to give)
    form = world.client.get(second).text
    assert 'id="update-running"' in form and 'name="from_day"' not in form
    with Session(world.engine) as s:
        started = s.exec(select(Roadmap)).one().activated_at
    updated = world.client.post(
        f"{second}/activate", data={"csrf_token": csrf_of(form)}, follow_redirects=False
    )
    assert updated.status_code == 303 and "done=updated" in updated.headers["location"]
    with Session(world.engine) as s:
        roadmaps = s.exec(select(Roadmap)).all()
        changes = s.exec(select(RoadmapChange).order_by(col(RoadmapChange.id))).all()
    assert len(roadmaps) == 1 and roadmaps[0].activated_at == started
    # the Word order's title and item 1's new schedule, both in the history
    assert [(c.item_label, c.field, c.before, c.after) for c in changes] == [
        (
            "",
            "roadmap_title",
            "Дорожная карта наставничества",
            "Дорожная карта (план мероприятий) по наставничеству",
        ),
        ("1", "schedule_text", "сентябрь 2022 г.", "октябрь 2022 г."),
    ]
    assert {c.who for c in changes} == {ADMIN_EMAIL}
    history = unescape(
        world.client.get(updated.headers["location"].split("?")[0] + "/history").text
    )
    assert "дорожная карта · <strong>Название дорожной карты</strong>" in history
