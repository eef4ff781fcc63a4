"""A head names a deputy in a real Chromium (1280 px and 375 px), the deputy answers from
the link mailed to them, and the centre's task page names the deputy as the one who
answered; no element of any of these pages is wider than the screen."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, ViewportSize
from sqlmodel import Session, col, select

from domain.db import make_engine, upgrade
from domain.deputies import DeputyChange
from domain.emails import OutgoingEmail
from domain.reminders import Policy, owed_notices
from notifications.outbox import queue_notices
from portal.app import create_app
from services.links import issue_org_link
from tests.browser import chromium, loopback_socket, serving
from tests.conftest import make_settings
from tests.deputy_world import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    CENTRE,
    DEPUTY_A,
    DEPUTY_NAME,
    HEAD_A,
    START,
    DeputyWorld,
    at,
    build_world,
)
from tests.portal_world import Clock

pytestmark = pytest.mark.browser

DESKTOP: ViewportSize = {"width": 1280, "height": 900}
PHONE: ViewportSize = {"width": 375, "height": 740}
SHOTS = Path("/tmp")
REMINDER_DAY = date(2022, 9, 9)

# Elements wider than the viewport, or sticking out of it.
OVERFLOWING = """
() => {
  const vw = document.documentElement.clientWidth;
  const bad = [];
  for (const el of document.querySelectorAll('body *')) {
    const r = el.getBoundingClientRect();
    if (r.width === 0 && r.height === 0) continue;
    if (r.width > vw + 0.5 || r.right > vw + 0.5 || r.left < -0.5) {
      bad.push(`${el.tagName}.${el.className} ${Math.round(r.left)}..${Math.round(r.right)}`);
    }
  }
  return bad;
}
"""


@dataclass
class Served:
    world: DeputyWorld
    clock: Clock
    base: str


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    sock, base = loopback_socket()
    settings = make_settings(tmp_path, portal_url=base, centre_email=CENTRE)
    engine = make_engine(settings.effective_database_url)
    upgrade(engine)
    world = build_world(settings, engine, with_deputy=False)
    clock = Clock(START)
    app = create_app(settings, engine, clock)
    try:
        with serving(app, sock):
            yield Served(world, clock, base)
    finally:
        engine.dispose()


@pytest.fixture
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


def check_layout(page: Page, name: str, viewport: ViewportSize) -> None:
    page.screenshot(path=str(SHOTS / f"deputy-{name}.png"), full_page=True)
    assert page.evaluate(OVERFLOWING) == [], name
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"], name


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1280", "375"])
def test_a_head_names_a_deputy_whose_answer_is_recorded_as_theirs(
    served: Served, browser: Browser, viewport: ViewportSize
) -> None:
    world, size = served.world, str(viewport["width"])
    with Session(world.engine) as s:
        head_url = issue_org_link(
            session=s,
            organisation_id=world.org_a,
            recipient=HEAD_A,
            settings=world.settings,
            now=START,
        )
        s.commit()

    # the head names a deputy on the organisation's page; a wrong period is refused first
    head = browser.new_context(viewport=viewport, locale="ru-RU").new_page()
    head.goto(head_url)
    assert "Заместитель не назначен" in head.inner_text("#deputy")
    head.fill("#deputy-name", DEPUTY_NAME)
    head.fill("#deputy-email", DEPUTY_A)
    head.fill("#deputy-from", "2022-09-15")
    head.fill("#deputy-until", "2022-09-08")
    head.click("text=Сохранить заместителя")
    head.wait_for_selector("text=раньше первого")
    check_layout(head, f"org-error-{size}", viewport)
    head.fill("#deputy-from", "2022-09-08")
    head.fill("#deputy-until", "2022-09-15")
    head.click("text=Сохранить заместителя")
    head.wait_for_selector("text=Заместитель назначен")
    assert "с 08.09.2022 по 15.09.2022" in head.inner_text("#deputy")
    assert "руководитель (head.a@school.example)" in head.inner_text("#deputy")
    check_layout(head, f"org-{size}", viewport)
    with Session(world.engine) as s:
        [change] = s.exec(select(DeputyChange)).all()
        assert change.actor == HEAD_A

    # on the reminder's day the task mail goes to the deputy, the head in copy
    with Session(world.engine) as s:
        owed = owed_notices(
            session=s,
            today=REMINDER_DAY,
            policy=Policy(),
            centre_email=CENTRE,
            tz=world.settings.tz,
        )
        queue_notices(session=s, owed=owed, settings=world.settings, now=at(REMINDER_DAY))
        s.commit()
        mail = s.exec(
            select(OutgoingEmail)
            .where(OutgoingEmail.to_addr == DEPUTY_A)
            .order_by(col(OutgoingEmail.id))
        ).all()
    assert mail and all(m.cc_addrs == [HEAD_A] for m in mail)
    org_link = re.search(r"https?://\S+/o/[A-Za-z0-9_.\-]+", mail[0].text_body)
    assert org_link is not None

    # the deputy follows the mailed link and answers a task
    served.clock.now = at(date(2022, 9, 12), 8)
    deputy = browser.new_context(viewport=viewport, locale="ru-RU").new_page()
    deputy.goto(org_link[0])
    assert deputy.locator("text=Сохранить заместителя").count() == 0
    deputy.click("text=Издание приказа о закреплении наставнических пар")
    deputy.fill("#f-comment", "Приказ № 12 от 02.09.2022 издан, пары закреплены")
    check_layout(deputy, f"task-{size}", viewport)
    deputy.click("button[type=submit].primary")
    deputy.wait_for_selector("text=Ответ получен и отправлен на проверку в центр")
    check_layout(deputy, f"done-{size}", viewport)

    # the head's page and the centre's task page say who answered
    head.goto(head_url)
    assert f"ответил(а): {DEPUTY_NAME}, заместитель" in head.inner_text("main")
    check_layout(head, f"org-answered-{size}", viewport)
    admin = browser.new_context(viewport=viewport, locale="ru-RU").new_page()
    admin.goto(f"{served.base}/admin/tasks/{world.a5}")
    admin.fill("#email", ADMIN_EMAIL)
    admin.fill("#password", ADMIN_PASSWORD)
    admin.click("button[type=submit].primary")
    admin.wait_for_selector("text=История")
    history = admin.inner_text("ol.events")
    assert f"ответил(а): {DEPUTY_NAME}, заместитель" in history and DEPUTY_A in history
    assert f"{DEPUTY_NAME} <{DEPUTY_A}>" in admin.inner_text(".deputy-line")
    check_layout(admin, f"admin-task-{size}", viewport)
    admin.click(".deputy-line a")
    admin.wait_for_selector("text=История изменений")
    check_layout(admin, f"admin-deputy-{size}", viewport)
