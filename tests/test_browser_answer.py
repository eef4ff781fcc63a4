"""A school head answers from the emailed link in a real Chromium on a phone-sized screen,
the centre returns the answer in the browser, the head answers again, the centre accepts.
Mail goes through the real delivery code to a real SMTP server on loopback."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import FilePayload, Page, ViewportSize
from sqlalchemy import Engine
from sqlmodel import Session

from config.settings import Settings
from domain.db import make_engine, upgrade
from domain.enums import NoticeKind, TaskStatus
from domain.notices import OwedNotice
from domain.tasks import Task
from notifications.delivery import deliver_due
from notifications.outbox import queue_notices
from portal.app import create_app
from tests.browser import chromium, loopback_socket, serving
from tests.conftest import make_settings
from tests.portal_world import ADMIN_EMAIL, ADMIN_PASSWORD, PDF, START, Clock, World, build_world
from tests.smtp import CaughtMessage, SmtpSink

PHONE: ViewportSize = {"width": 360, "height": 740}
SCREENSHOT = Path("/tmp/portal-answer-form-360.png")
HEAD = "head@school1.example"


@dataclass
class Running:
    settings: Settings
    engine: Engine
    world: World
    clock: Clock
    base: str


@pytest.fixture
def running(tmp_path: Path, smtp: SmtpSink) -> Iterator[Running]:
    """The portal served by uvicorn on a free loopback port, in a background thread."""
    sock, base = loopback_socket()
    settings = make_settings(tmp_path, portal_url=base, smtp_host="127.0.0.1", smtp_port=smtp.port)
    engine = make_engine(settings.effective_database_url)
    upgrade(engine)
    world = build_world(settings, engine)
    clock = Clock(START)
    app = create_app(settings, engine, clock)
    try:
        with serving(app, sock):
            yield Running(settings, engine, world, clock, base)
    finally:
        engine.dispose()


def deliver(run: Running) -> None:
    """Run the delivery in its own thread: Playwright's sync API owns this thread's loop."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        report = pool.submit(
            asyncio.run, deliver_due(engine=run.engine, settings=run.settings, now=run.clock.now)
        ).result(timeout=60)
    assert report.failed == 0


def wait_for_mail(smtp: SmtpSink, address: str, count: int) -> list[CaughtMessage]:
    deadline = time.monotonic() + 10
    while len(smtp.handler.to(address)) < count:
        assert time.monotonic() < deadline, f"no email #{count} for {address}"
        time.sleep(0.02)
    return smtp.handler.to(address)


def link_in(message: CaughtMessage, base: str) -> str:
    found = re.search(re.escape(base) + r"/t/[A-Za-z0-9._-]+", message.text())
    assert found is not None, message.text()
    return found[0]


def fill_answer(page: Page, summary: str) -> None:
    page.fill("#f-summary", summary)
    page.fill("#f-mentors", "4")
    page.fill("#f-held_on", "02.09.2022")
    page.fill("#f-page", "https://school1.example/news/42")
    upload: FilePayload = {"name": "приказ.pdf", "mimeType": "application/pdf", "buffer": PDF}
    page.set_input_files("#f-order", files=[upload])


def task_status(run: Running) -> TaskStatus:
    with Session(run.engine) as s:
        task = s.get(Task, run.world.task_id)
        assert task is not None
        return task.status


@pytest.mark.browser
def test_a_head_answers_from_the_emailed_link_and_the_centre_reviews(
    running: Running, smtp: SmtpSink
) -> None:
    run = running
    with Session(run.engine) as s:
        queue_notices(
            session=s,
            owed=[
                OwedNotice(
                    task_id=run.world.task_id,
                    kind=NoticeKind.opened,
                    step=0,
                    on_day=START.date(),
                    recipient=HEAD,
                )
            ],
            settings=run.settings,
            now=run.clock.now,
        )
        s.commit()
    deliver(run)
    opened = wait_for_mail(smtp, HEAD, 1)[0]
    link = link_in(opened, run.base)

    with chromium() as browser:
        head = browser.new_context(viewport=PHONE, locale="ru-RU").new_page()
        head.goto(link)
        assert "Издание приказа о закреплении наставнических пар" in head.inner_text("h1")
        # one column on a phone: nothing wider than the screen
        assert head.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        fill_answer(head, "Приказ издан, пары закреплены")
        head.screenshot(path=str(SCREENSHOT), full_page=True)
        button = head.locator("button[type=submit].primary").bounding_box()
        assert button is not None and button["height"] >= 44
        head.click("button[type=submit].primary")
        head.wait_for_selector("text=Ответ получен и отправлен на проверку в центр")
        assert task_status(run) is TaskStatus.submitted

        deliver(run)
        receipt = wait_for_mail(smtp, HEAD, 2)[1]
        assert "Приказ издан, пары закреплены" in receipt.text()
        assert "приказ.pdf" in receipt.text()

        # the centre returns it with a reason
        run.clock.now = START + timedelta(hours=2)
        desktop: ViewportSize = {"width": 1000, "height": 800}
        admin = browser.new_context(viewport=desktop).new_page()
        admin.goto(f"{run.base}/admin/tasks/{run.world.task_id}")
        admin.fill("#email", ADMIN_EMAIL)
        admin.fill("#password", ADMIN_PASSWORD)
        admin.click("button[type=submit].primary")
        admin.wait_for_selector("#reason")
        admin.fill("#reason", "Нет подписи руководителя на приказе")
        admin.click("text=Вернуть на доработку")
        admin.wait_for_selector("text=Задача возвращена на доработку")
        assert task_status(run) is TaskStatus.returned

        deliver(run)
        returned = wait_for_mail(smtp, HEAD, 3)[2]
        assert "Нет подписи руководителя на приказе" in returned.text()
        again = link_in(returned, run.base)

        # the head opens the link again and answers anew
        head.goto(again)
        assert "Нет подписи руководителя на приказе" in head.inner_text(".note")
        fill_answer(head, "Приказ подписан и загружен заново")
        head.click("button[type=submit].primary")
        head.wait_for_selector("text=Ответ получен и отправлен на проверку в центр")
        assert task_status(run) is TaskStatus.submitted

        admin.goto(f"{run.base}/admin/tasks/{run.world.task_id}")
        assert "Приказ подписан и загружен заново" in admin.content()
        admin.click("button:has-text('Принять')")
        admin.wait_for_selector("text=Ответ принят.")
        assert task_status(run) is TaskStatus.accepted

        head.goto(again)
        assert "Статус: принято" in head.inner_text(".facts")
        assert head.locator("input[type=file]").count() == 0
