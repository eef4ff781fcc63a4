"""Mail that did not arrive, in a real Chromium at 1280 px and 375 px: the overview shows
the figures the day an address breaks, the centre fixes a bounced address and the mail is
resent (and arrives once, at the new address only); nothing is wider than the screen and
no header cell is narrower than its longest word."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, ViewportSize
from sqlalchemy import Engine

from config.settings import Settings
from domain.db import make_engine, upgrade
from notifications.delivery import deliver_due
from portal.app import create_app
from tests.browser import chromium, loopback_socket, serving
from tests.conftest import make_settings
from tests.matrix_world import ADMIN_EMAIL, ADMIN_PASSWORD, NOW, District, build_district
from tests.portal_world import Clock
from tests.smtp import SmtpSink
from tests.test_browser_matrix import BROKEN_WORDS, OVERFLOWING
from tests.test_undelivered import queue_task_mail

pytestmark = pytest.mark.browser

DESKTOP: ViewportSize = {"width": 1280, "height": 900}
PHONE: ViewportSize = {"width": 375, "height": 740}
SHOTS = Path("/tmp")
GONE = "head1@org.example"
GONE_TOO = "head3@org.example"

# Header cells (shown ones) narrower than their longest word.
NARROW_HEADERS = """
() => {
  const bad = [];
  for (const th of document.querySelectorAll('th')) {
    const box = th.getBoundingClientRect();
    if (box.width <= 1 || box.height <= 1) continue;  // visually hidden (a phone's thead)
    const walker = document.createTreeWalker(th, NodeFilter.SHOW_TEXT);
    let node;
    while ((node = walker.nextNode())) {
      const words = /\\S+/g;
      let m;
      while ((m = words.exec(node.data))) {
        const range = document.createRange();
        range.setStart(node, m.index);
        range.setEnd(node, m.index + m[0].length);
        const rects = Array.from(range.getClientRects()).filter((r) => r.width > 0);
        if (rects.length > 1 || range.getBoundingClientRect().width > th.clientWidth + 0.5) {
          bad.push(`${m[0]} in a ${Math.round(th.clientWidth)}px header`);
        }
      }
    }
  }
  return bad;
}
"""


@dataclass
class Served:
    settings: Settings
    engine: Engine
    district: District
    base: str
    smtp: SmtpSink


@pytest.fixture
def served(tmp_path: Path, smtp: SmtpSink) -> Iterator[Served]:
    sock, base = loopback_socket()
    settings = make_settings(
        tmp_path, portal_url=base, smtp_host="127.0.0.1", smtp_port=smtp.port, smtp_timeout=5
    )
    engine = make_engine(settings.effective_database_url)
    upgrade(engine)
    district = build_district(engine, organisations=30)
    try:
        with serving(create_app(settings, engine, Clock(NOW)), sock):
            yield Served(settings, engine, district, base, smtp)
    finally:
        engine.dispose()


@pytest.fixture
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


def deliver(served: Served, minutes: int) -> None:
    """An outbox run, in its own thread (Playwright's loop runs in this one)."""

    def run() -> None:
        asyncio.run(
            deliver_due(
                engine=served.engine,
                settings=served.settings,
                now=NOW + timedelta(minutes=minutes),
            )
        )

    worker = threading.Thread(target=run)
    worker.start()
    worker.join(timeout=60)
    assert not worker.is_alive()


def admin_page(browser: Browser, served: Served, viewport: ViewportSize) -> Page:
    page = browser.new_context(viewport=viewport, locale="ru-RU").new_page()
    page.goto(f"{served.base}/admin")
    page.fill("#email", ADMIN_EMAIL)
    page.fill("#password", ADMIN_PASSWORD)
    page.click("button[type=submit].primary")
    page.wait_for_selector("#mail-figures")
    return page


def check_layout(page: Page, name: str, viewport: ViewportSize) -> None:
    page.screenshot(path=str(SHOTS / f"undelivered-{name}.png"), full_page=True)
    assert page.evaluate(OVERFLOWING) == []
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
    assert page.evaluate(NARROW_HEADERS) == []
    assert page.evaluate(BROKEN_WORDS, "h1, h2, .figures li") == []


def fix(page: Page, email_id: int, address: str) -> None:
    card = page.locator(f"#mail-{email_id}")
    card.locator("input[name=address]").fill(address)
    card.locator("button[type=submit]").click()
    page.wait_for_selector("text=Адрес исправлен")


def test_a_bounced_address_is_fixed_and_resent_at_1280_and_375(
    served: Served, browser: Browser
) -> None:
    smtp = served.smtp
    smtp.handler.fail_with[GONE] = "550 5.1.1 mailbox unavailable"
    smtp.handler.fail_with[GONE_TOO] = "550 5.1.1 mailbox unavailable"
    first = [queue_task_mail(served.engine, served.district, 0, i, minutes_ago=20) for i in (0, 1)]
    other = queue_task_mail(served.engine, served.district, 2, 0, minutes_ago=20)
    deliver(served, 0)
    smtp.handler.fail_with.clear()  # anything sent to the old addresses now would arrive
    smtp.handler.clear()

    desk = admin_page(browser, served, DESKTOP)
    assert desk.inner_text("#failed-count") == "3"
    assert desk.inner_text("#deferred-count") == "0"
    # the overview uses the width (no longer a 46rem column): each table spans the screen
    tables = desk.locator("table.grid").evaluate_all(
        "(ts) => ts.map((t) => t.getBoundingClientRect().width)"
    )
    assert len(tables) == 2 and min(tables) > 1100, tables
    check_layout(desk, "overview-1280", DESKTOP)

    desk.click("text=Исправить адреса и отправить заново")
    desk.wait_for_selector("#undelivered")
    assert "mailbox unavailable" in desk.inner_text(f"#mail-{first[0]}")
    assert "Д/с № 1" in desk.inner_text(f"#mail-{first[0]}")
    check_layout(desk, "list-1280", DESKTOP)
    fix(desk, first[0], "direktor1@org.example")
    assert "писем отправлено заново: 2" in desk.inner_text("main")
    assert desk.locator(f"#mail-{first[0]}").count() == 0
    assert desk.locator(f"#mail-{first[1]}").count() == 0  # the same address: resent too

    phone = admin_page(browser, served, PHONE)
    assert phone.inner_text("#failed-count") == "1"
    check_layout(phone, "overview-375", PHONE)
    phone.goto(f"{served.base}/admin/undelivered")
    check_layout(phone, "list-375", PHONE)
    fix(phone, other, "d-s-3@org.example")
    check_layout(phone, "list-375-fixed", PHONE)
    assert "Недоставленных писем нет" in phone.inner_text("main")

    deliver(served, 1)
    deliver(served, 10)
    assert smtp.handler.to(GONE) == [] and smtp.handler.to(GONE_TOO) == []
    assert len(smtp.handler.to("direktor1@org.example")) == 2
    assert len(smtp.handler.to("d-s-3@org.example")) == 1
    desk.goto(f"{served.base}/admin")
    assert desk.inner_text("#failed-count") == "0"
