"""Set-up without YAML in a real Chromium at 1280 px and 375 px: a methodologist uploads
a Word order, fixes a "needs dates" item, uploads the organisations (two rows rejected),
previews a first email and activates; no page has an element wider than the screen or a
header cell that breaks a word."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, ViewportSize
from sqlalchemy import Engine
from sqlmodel import Session, select

from config.settings import Settings
from domain.db import make_engine, upgrade
from domain.organisations import Organisation
from domain.roadmap import Roadmap, RoadmapItem
from domain.roadmaps import activation_day
from domain.tasks import Task
from portal.app import create_app
from services.links import issue_task_link
from services.opening import open_item
from tests.browser import chromium, loopback_socket, serving
from tests.conftest import make_settings
from tests.portal_world import Clock
from tests.setup_world import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    NOW,
    add_admin,
    order_docx,
    organisations_xlsx,
)
from tests.test_browser_matrix import BROKEN_WORDS, OVERFLOWING

pytestmark = pytest.mark.browser

DESKTOP: ViewportSize = {"width": 1280, "height": 900}
PHONE: ViewportSize = {"width": 375, "height": 740}
SHOTS = Path("/tmp")
# Header cells, headings, labels and buttons keep every word whole.
WORDS_WHOLE = "th, h1, h2, h3, dt, legend, button, .admin-nav a"


@dataclass
class Served:
    settings: Settings
    engine: Engine
    base: str
    clock: Clock


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    sock, base = loopback_socket()
    settings = make_settings(tmp_path, portal_url=base)
    engine = make_engine(settings.effective_database_url)
    upgrade(engine)
    add_admin(engine)
    clock = Clock(NOW)
    app = create_app(settings, engine, clock)
    try:
        with serving(app, sock):
            yield Served(settings, engine, base, clock)
    finally:
        engine.dispose()


@pytest.fixture
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


def check_layout(page: Page, name: str, viewport: ViewportSize) -> None:
    page.screenshot(path=str(SHOTS / f"setup-{name}.png"), full_page=True)
    assert page.evaluate(OVERFLOWING) == [], name
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"], name
    assert page.evaluate(BROKEN_WORDS, WORDS_WHOLE) == [], name


@pytest.mark.parametrize(("size", "viewport"), [("1280", DESKTOP), ("375", PHONE)])
def test_a_methodologist_sets_up_a_roadmap_without_yaml(
    served: Served, browser: Browser, tmp_path: Path, size: str, viewport: ViewportSize
) -> None:
    order = tmp_path / "Приказ 209-од.docx"
    order.write_bytes(order_docx())
    orgs = tmp_path / "Организации.xlsx"
    orgs.write_bytes(organisations_xlsx())

    page = browser.new_context(viewport=viewport, locale="ru-RU").new_page()
    page.goto(f"{served.base}/admin/setup")
    page.fill("#email", ADMIN_EMAIL)
    page.fill("#password", ADMIN_PASSWORD)
    page.click("button[type=submit].primary")
    page.wait_for_selector("#order-file")
    check_layout(page, f"{size}-start", viewport)

    # the order: a draft with its items and warnings
    page.set_input_files("#order-file", str(order))
    page.click("text=Загрузить приказ")
    page.wait_for_selector("#item-2")
    assert "черновик" in page.inner_text(".facts")
    warning = page.locator(".setup-warnings li.warn", has_text="пункт 2:")
    assert "нужны даты" in warning.inner_text()
    assert "нужны даты" in page.inner_text("#item-2 .setup-issues")
    check_layout(page, f"{size}-draft", viewport)
    draft_url = page.url

    # the "needs dates" item gets its external plan's dates
    page.click("#item-2 >> text=Исправить пункт 2")
    page.wait_for_selector("#plan_dates")
    check_layout(page, f"{size}-item", viewport)
    page.fill("#plan_dates", "15.10.2022\n01.03.2023 – 20.03.2023")
    page.click("text=Сохранить пункт")
    page.wait_for_selector("text=Пункт сохранён, предпросмотр обновлён.")
    item2 = page.inner_text("#item-2")
    assert "нужны даты" not in item2
    assert "15.10.2022; 20.03.2023 (с 01.03.2023)" in item2
    assert page.locator(".setup-warnings li.fixed", has_text="пункт 2:").count() == 1

    # the organisations, two rows rejected with their reasons
    page.set_input_files("#orgs-file", str(orgs))
    page.click("text=Загрузить организации")
    page.wait_for_selector("#orgs-accepted")
    assert "Принято строк: 3" in page.inner_text("#orgs-accepted")
    rejected = page.locator("table.setup-rejected tbody tr").all_inner_texts()
    assert len(rejected) == 2 and rejected[0].startswith("5")
    assert "неверный адрес электронной почты" in rejected[0]
    check_layout(page, f"{size}-organisations", viewport)
    page.click("text=Вернуться к настройке")
    page.wait_for_url(draft_url)

    # the first emails of a school, in the real template, in a sandboxed frame
    page.click("text=Посмотреть первые письма")
    page.select_option("select[name=org]", label="СОШ № 1")
    page.click("button:has-text('Показать')")
    page.wait_for_selector("iframe.setup-frame")
    frame = page.frame_locator("iframe.setup-frame").first
    assert "Для вашей организации открыта задача" in frame.locator("body").inner_text()
    assert "Формирование базы наставников" in page.inner_text("main")
    check_layout(page, f"{size}-emails", viewport)
    page.goto(draft_url)

    # activation from a day
    page.fill("#from-day", "2022-09-01")
    page.click("text=Запустить дорожную карту")
    page.wait_for_selector("text=Дорожная карта запущена.")
    assert "запущена с 01.09.2022" in page.inner_text(".facts")
    check_layout(page, f"{size}-running", viewport)
    with Session(served.engine) as s:
        roadmap = s.exec(select(Roadmap)).one()
        item2_row = s.exec(select(RoadmapItem).where(RoadmapItem.label == "2")).one()
    assert roadmap.key == "209-od-2022" and roadmap.activated_at is not None
    assert not item2_row.needs_dates

    # September opens item 1 for the schools; a head answers, the matrix follows
    served.clock.now = OPENED
    task, link = open_first_item(served)
    desk = page.context.new_page()
    desk.goto(f"{served.base}/admin/matrix?roadmap=209-od-2022")
    # three days on, the session of 29.08 has ended: the centre signs in again
    desk.fill("#email", ADMIN_EMAIL)
    desk.fill("#password", ADMIN_PASSWORD)
    desk.click("button[type=submit].primary")
    desk.wait_for_selector("#matrix")
    assert cell_of(desk, task) in ("c c-open", "c c-soon")
    # items 2 and 4 open later in the year for the three organisations: their cells say
    # so; item 3 is the centre's alone, not theirs; the order has no sections (no blank row)
    assert desk.locator("#matrix td.c-later").count() == 6
    assert desk.locator("#matrix td.c-none").count() == 3
    assert "откроется позже, срок 15.10.2022" in str(
        desk.locator("#matrix td.c-later").first.get_attribute("title")
    )
    assert desk.locator("#matrix tr.section").count() == 0
    head = browser.new_context(viewport=viewport, locale="ru-RU").new_page()
    head.goto(link)
    head.fill("#f-comment", "База наставников сформирована")
    head.fill("input[pattern]", "12")  # «Количество наставников», a required number
    head.click("button[type=submit].primary")
    head.wait_for_selector("text=Ответ получен и отправлен на проверку в центр")
    desk.reload()
    assert cell_of(desk, task) == "c c-review"
    desk.click(f"#matrix a[href='/admin/tasks/{task}']")
    desk.click("text=Принять")
    desk.wait_for_selector("text=Ответ принят")
    desk.goto(f"{served.base}/admin/matrix?roadmap=209-od-2022")
    assert cell_of(desk, task) == "c c-done"
    check_layout(desk, f"{size}-matrix", viewport)


OPENED = datetime(2022, 9, 1, 7, 0, tzinfo=UTC)  # 10:00 in Moscow, item 1's first day


def open_first_item(served: Served) -> tuple[int, str]:
    """Open item 1 as that morning's run would; (a school's task id, its head's link)."""
    with Session(served.engine) as s:
        roadmap = s.exec(select(Roadmap)).one()
        item = s.exec(
            select(RoadmapItem).where(
                RoadmapItem.roadmap_id == roadmap.id, RoadmapItem.label == "1"
            )
        ).one()
        open_item(
            session=s,
            item=item,
            roadmap_start=roadmap.order_date,
            now=OPENED,
            today=OPENED.date(),
            tracked_from=activation_day(roadmap, served.settings.tz),
        )
        s.flush()
        org = s.exec(select(Organisation).where(Organisation.short_name == "СОШ № 1")).one()
        task = s.exec(
            select(Task).where(Task.item_id == item.id, Task.organisation_id == org.id)
        ).one()
        assert task.id is not None
        link = issue_task_link(
            session=s, task=task, recipient=org.head_email, settings=served.settings, now=OPENED
        )
        s.commit()
        return task.id, link


def cell_of(page: Page, task_id: int) -> str:
    return str(
        page.evaluate(
            "(id) => document.querySelector(`#matrix a[href='/admin/tasks/${id}']`)"
            ".parentElement.className",
            task_id,
        )
    )
