"""The district at a glance in a real Chromium at 1280 px and 375 px: the matrix follows a
head's answer and the centre's review; nothing but the matrix's own scroll box is wider
than the screen; no header cell breaks a word; the headers stay in view as it scrolls."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, ViewportSize
from sqlalchemy import Engine
from sqlmodel import Session

from config.settings import Settings
from domain.db import make_engine, upgrade
from domain.enums import TaskStatus
from domain.tasks import Task
from portal.app import create_app
from services.links import issue_task_link
from tests.browser import chromium, loopback_socket, serving
from tests.conftest import make_settings
from tests.matrix_world import ADMIN_EMAIL, ADMIN_PASSWORD, NOW, District, build_district
from tests.portal_world import Clock

pytestmark = pytest.mark.browser

DESKTOP: ViewportSize = {"width": 1280, "height": 900}
PHONE: ViewportSize = {"width": 375, "height": 740}
SHOTS = Path("/tmp")

# Elements outside the matrix's own scroll box that are wider than the viewport.
OVERFLOWING = """
() => {
  const vw = document.documentElement.clientWidth;
  const box = document.getElementById('matrix');
  const bad = [];
  for (const el of document.querySelectorAll('body *')) {
    if (box && box.contains(el) && el !== box) continue;
    const r = el.getBoundingClientRect();
    if (r.width === 0 && r.height === 0) continue;
    if (r.right > vw + 0.5 || r.left < -0.5) {
      bad.push(`${el.tagName}.${el.className} ${Math.round(r.left)}..${Math.round(r.right)}`);
    }
  }
  return bad;
}
"""
# Words split over two lines, or wider than their cell, in headers and summaries.
BROKEN_WORDS = """
(selector) => {
  const bad = [];
  for (const el of document.querySelectorAll(selector)) {
    const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
    let node;
    while ((node = walker.nextNode())) {
      const words = /\\S+/g;
      let m;
      while ((m = words.exec(node.data))) {
        const range = document.createRange();
        range.setStart(node, m.index);
        range.setEnd(node, m.index + m[0].length);
        const rects = Array.from(range.getClientRects()).filter((r) => r.width > 0);
        if (rects.length > 1) bad.push(`${m[0]} (split)`);
        if (range.getBoundingClientRect().width > el.clientWidth + 0.5) {
          bad.push(`${m[0]} (wider than its ${el.tagName}, ${el.clientWidth}px)`);
        }
      }
    }
  }
  return bad;
}
"""
STICKY = """
() => {
  const box = document.getElementById('matrix');
  box.scrollTop = 400;
  box.scrollLeft = 600;
  const top = box.getBoundingClientRect().top;
  const left = box.getBoundingClientRect().left;
  const head = box.querySelector('thead th.org').getBoundingClientRect();
  const item = box.querySelector('tbody th.item').getBoundingClientRect();
  const result = {
    scrolled: box.scrollTop > 0 && box.scrollLeft > 0,
    headTop: head.top - top,
    itemLeft: item.left - left,
  };
  box.scrollTop = 0;
  box.scrollLeft = 0;
  return result;
}
"""


@dataclass
class Served:
    settings: Settings
    engine: Engine
    district: District
    base: str


def serve(tmp_path: Path, organisations: int) -> Iterator[Served]:
    sock, base = loopback_socket()
    settings = make_settings(tmp_path, portal_url=base)
    engine = make_engine(settings.effective_database_url)
    upgrade(engine)
    district = build_district(engine, organisations=organisations)
    app = create_app(settings, engine, Clock(NOW))
    try:
        with serving(app, sock):
            yield Served(settings, engine, district, base)
    finally:
        engine.dispose()


@pytest.fixture
def district30(tmp_path: Path) -> Iterator[Served]:
    yield from serve(tmp_path, 30)


@pytest.fixture
def district300(tmp_path: Path) -> Iterator[Served]:
    yield from serve(tmp_path, 300)


@pytest.fixture
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


def admin_page(browser: Browser, served: Served, viewport: ViewportSize) -> Page:
    page = browser.new_context(viewport=viewport, locale="ru-RU").new_page()
    page.goto(f"{served.base}/admin/matrix")
    page.fill("#email", ADMIN_EMAIL)
    page.fill("#password", ADMIN_PASSWORD)
    page.click("button[type=submit].primary")
    page.wait_for_selector("#matrix")
    return page


def cell_class(page: Page, task_id: int) -> str:
    return str(
        page.evaluate(
            "(id) => document.querySelector(`#matrix a[href='/admin/tasks/${id}']`)"
            ".parentElement.className",
            task_id,
        )
    )


def check_layout(page: Page, name: str, viewport: ViewportSize) -> None:
    page.screenshot(path=str(SHOTS / f"matrix-{name}.png"), full_page=False)
    page.locator("#matrix").screenshot(path=str(SHOTS / f"matrix-{name}-grid.png"))
    assert page.evaluate(OVERFLOWING) == []
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
    assert page.evaluate(BROKEN_WORDS, "#matrix th, h1, h2, .legend li") == []
    sticky = page.evaluate(STICKY)
    assert sticky["scrolled"], "the matrix scrolls inside its own box"
    assert abs(sticky["headTop"]) <= 2, sticky  # the organisations' row stays on top
    assert abs(sticky["itemLeft"]) <= 2, sticky  # the items' column stays on the left


def open_task(engine: Engine, district: District) -> Task:
    with Session(engine) as s:
        for task_id in district.task_ids.values():
            task = s.get(Task, task_id)
            assert task is not None
            if task.status is TaskStatus.open and task.due >= NOW.date():
                return task
    raise AssertionError("the district has no open task due later")


def test_the_matrix_follows_an_answer_and_a_review_at_1280_and_375(
    district30: Served, browser: Browser
) -> None:
    served = district30
    task = open_task(served.engine, served.district)
    assert task.id is not None
    with Session(served.engine) as s:
        link = issue_task_link(
            session=s, task=task, recipient="head@org.example", settings=served.settings, now=NOW
        )
        s.commit()

    desk = admin_page(browser, served, DESKTOP)
    assert cell_class(desk, task.id) in ("c c-open", "c c-soon")
    # natural order: № 3 before № 11, in the headers as read
    headers = [
        h.replace("\u00a0", " ") for h in desk.locator("#matrix thead th.org").all_inner_texts()
    ]
    assert headers.index("Д/с № 3") < headers.index("Д/с № 11")
    check_layout(desk, "1280", DESKTOP)

    # the head answers from the link on a phone
    head = browser.new_context(viewport=PHONE, locale="ru-RU").new_page()
    head.goto(link)
    head.fill("#f-comment", "Приказ издан, пары закреплены")
    head.click("button[type=submit].primary")
    head.wait_for_selector("text=Ответ получен и отправлен на проверку в центр")

    desk.reload()
    assert cell_class(desk, task.id) == "c c-review"

    # the centre opens the cell and accepts the answer
    desk.click(f"#matrix a[href='/admin/tasks/{task.id}']")
    desk.click("text=Принять")
    desk.wait_for_selector("text=Ответ принят")
    desk.goto(f"{served.base}/admin/matrix")
    assert cell_class(desk, task.id) == "c c-done"

    phone = admin_page(browser, served, PHONE)
    assert cell_class(phone, task.id) == "c c-done"
    check_layout(phone, "375", PHONE)
    phone.screenshot(path=str(SHOTS / "matrix-375-full.png"), full_page=True)

    # the overview and the paged list keep their words whole too
    desk.goto(f"{served.base}/admin")
    assert desk.evaluate(BROKEN_WORDS, "table.grid th") == []
    desk.screenshot(path=str(SHOTS / "overview-1280.png"), full_page=False)
    phone.goto(f"{served.base}/admin/tasks")
    assert phone.evaluate(OVERFLOWING) == []
    assert "Страница 1 из" in phone.inner_text("main")


def test_three_hundred_organisations_stay_usable(district300: Served, browser: Browser) -> None:
    for name, viewport in (("300-1280", DESKTOP), ("300-375", PHONE)):
        page = admin_page(browser, district300, viewport)
        assert page.locator("#matrix thead th.org").count() == 300
        check_layout(page, name, viewport)
