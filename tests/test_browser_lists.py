"""The workplace's other lists in a real Chromium at 1280 px and 375 px: the summaries,
the reply mail already processed, and an empty one of each; nothing is wider than the
screen and no header, heading or label breaks a word (the global `overflow-wrap: anywhere`
once broke the inbox's headers into "Получен о", "Тем а" on a phone)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, ViewportSize
from sqlalchemy import Engine
from sqlmodel import Session

from domain.access import SUMMARY_INTERIM, SUMMARY_YEARLY, StoredSummary
from domain.db import make_engine, upgrade
from domain.inbound import InboundMessage, InboundStatus
from portal.app import create_app
from tests.browser import chromium, loopback_socket, serving
from tests.conftest import make_settings
from tests.matrix_world import ADMIN_EMAIL, ADMIN_PASSWORD, NOW, build_district
from tests.portal_world import Clock
from tests.test_browser_matrix import BROKEN_WORDS, OVERFLOWING

pytestmark = pytest.mark.browser

DESKTOP: ViewportSize = {"width": 1280, "height": 900}
PHONE: ViewportSize = {"width": 375, "height": 740}
SHOTS = Path("/tmp")
# what must keep its words whole: header cells shown (a phone's stacked table hides its
# thead and labels each cell instead), headings, each stacked cell's label
WORDS_WHOLE = "h1, h2, .admin-nav a, .grid.stack tbody th"


@dataclass
class Served:
    engine: Engine
    base: str


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    sock, base = loopback_socket()
    settings = make_settings(tmp_path, portal_url=base)
    engine = make_engine(settings.effective_database_url)
    upgrade(engine)
    build_district(engine, organisations=6, items=3)
    try:
        with serving(create_app(settings, engine, Clock(NOW)), sock):
            yield Served(engine, base)
    finally:
        engine.dispose()


@pytest.fixture
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


def fill(engine: Engine) -> None:
    """Two summaries and three processed replies, with long words and addresses."""
    with Session(engine) as s:
        for kind, as_of in ((SUMMARY_YEARLY, None), (SUMMARY_INTERIM, date(2022, 11, 1))):
            s.add(
                StoredSummary(
                    roadmap_id=1,
                    cycle="2022/2023",
                    kind=kind,
                    as_of=as_of,
                    created_at=NOW,
                    note="файлы не сохранились",
                )
            )
        for n, status in enumerate(
            (InboundStatus.answered, InboundStatus.ignored, InboundStatus.discarded), 1
        ):
            s.add(
                InboundMessage(
                    message_key=f"<reply-{n}@school.example>",
                    mailbox="INBOX",
                    uid_validity=1,
                    uid=n,
                    received_at=NOW - timedelta(hours=n),
                    from_addr=f"zamestitel.direktora.po.uchebnoy.rabote{n}@sosh-nomer-odin.example",
                    subject="Re: Новая задача: п. 13 «Формирование базы наставников» [ДК-13-204]",
                    status=status.value,
                    reason="автоответ: «Нахожусь в отпуске до 15.11.2022»" if n == 2 else "",
                )
            )
        s.commit()


def login(page: Page, base: str, path: str) -> None:
    page.goto(f"{base}{path}")
    page.fill("#email", ADMIN_EMAIL)
    page.fill("#password", ADMIN_PASSWORD)
    page.click("button[type=submit].primary")
    page.wait_for_selector("h1")


def check_layout(page: Page, name: str, viewport: ViewportSize) -> None:
    page.screenshot(path=str(SHOTS / f"lists-{name}.png"), full_page=True)
    assert page.evaluate(OVERFLOWING) == [], name
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"], name
    assert page.evaluate(BROKEN_WORDS, WORDS_WHOLE) == [], name
    # a header cell shown on this screen keeps its words whole too
    shown_heads = page.evaluate(
        "() => Array.from(document.querySelectorAll('thead th'))"
        ".filter((th) => th.getBoundingClientRect().width > 1).length"
    )
    if shown_heads:
        assert page.evaluate(BROKEN_WORDS, "thead th") == [], name


@pytest.mark.parametrize(("size", "viewport"), [("1280", DESKTOP), ("375", PHONE)])
def test_summaries_and_processed_replies_fit_the_screen(
    served: Served, browser: Browser, size: str, viewport: ViewportSize
) -> None:
    page = browser.new_context(viewport=viewport, locale="ru-RU").new_page()
    login(page, served.base, "/admin/inbox")
    assert "Обработанных писем пока нет" in page.inner_text("main")
    check_layout(page, f"inbox-empty-{size}", viewport)
    page.goto(f"{served.base}/admin/summaries")
    assert "Справок пока нет" in page.inner_text("main")
    assert "--" not in page.inner_text("main")  # no command line options for the centre
    check_layout(page, f"summaries-empty-{size}", viewport)

    fill(served.engine)
    page.goto(f"{served.base}/admin/inbox")
    recent = page.locator("#recent li").all_inner_texts()
    assert len(recent) == 3 and "Нахожусь в отпуске" in recent[1]
    check_layout(page, f"inbox-{size}", viewport)
    page.goto(f"{served.base}/admin/summaries")
    assert page.locator("table.summaries tbody tr").count() == 2
    check_layout(page, f"summaries-{size}", viewport)
