"""Every kind of email, as the outbox writes it, fits a 375 px phone screen in a real
Chromium: nothing wider than the viewport, tables stacked into blocks. Screenshots at
375 and 1280 px go to /tmp/email-<kind>-<width>.png for a person to look at."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser
from sqlalchemy import Engine
from sqlmodel import Session, select

from config.settings import Settings
from domain.emails import OutgoingEmail
from domain.enums import NoticeKind, TaskEventKind, TaskStatus
from domain.evidence import Evidence
from domain.models import Occurrence, TaskEvent
from domain.summary import Counts, YearlySummary
from notifications.outbox import QUEUE_FAILURE_KIND, queue_notices
from notifications.render import KINDS, render
from tests.browser import chromium
from tests.test_notifications import NOW, OWNER, _evidence, build_world, owed

pytestmark = pytest.mark.browser

LONG_URL = "https://school1.example/" + "novosti/2022/09/" * 6 + "prikaz-o-nastavnichestve-12"
LONG_ORG = (
    "Муниципальное казённое общеобразовательное учреждение «Средняя общеобразовательная "
    "школа № 1 имени Героя Советского Союза И. И. Иванова» с. Левокумского"
)


def task_emails(engine: Engine, settings: Settings) -> dict[str, str]:
    """The HTML of one email of each task kind, with long names, titles and links."""
    out: dict[str, str] = {}
    with Session(engine) as session:
        world = build_world(session, n_orgs=3)
        for org in world.orgs:
            org.name = LONG_ORG + f" ({org.short_name})"
            org.head_name = "Олейник Вера Сергеевна"
            session.add(org)
        world.item13.title += " и организация работы наставнических пар в течение учебного года"
        session.add(world.item13)
        session.flush()
        t13, t5 = world.tasks13, world.tasks5
        heads = [o.head_email for o in world.orgs]

        def one(notices: list[Any], kind: str, name: str = "") -> None:
            emails = queue_notices(session=session, owed=notices, settings=settings, now=NOW)
            assert [e.kind for e in emails][-1] == kind, [e.kind for e in emails]
            out[name or kind] = emails[-1].html_body

        one([owed(t13[0], NoticeKind.opened, to=heads[0], on_day=date(2022, 9, 1))], "opened")
        one([owed(t5[0], NoticeKind.reminder, 1, to=world.orgs[0].curator_email)], "reminder")
        one([owed(t13[1], NoticeKind.chase, 1, to=heads[1])], "chase")
        _evidence(
            session,
            t13[2],
            {"order": f"Приказ № 12 от 01.09.2022, опубликован: {LONG_URL}", "pairs": 4},
            [("scan", "prikaz-o-zakreplenii-nastavnicheskih-par-2022-2023-uchebnyi-god.pdf")],
        )
        one([owed(t13[2], NoticeKind.receipt, 1, to=heads[2])], "receipt")
        task = t5[1]
        task.status, task.due, task.revision = TaskStatus.returned, date(2022, 9, 29), 1
        assert task.id is not None
        session.add(TaskEvent(task_id=task.id, at=NOW, kind=TaskEventKind.returned, note=LONG_URL))
        session.flush()
        one([owed(task, NoticeKind.returned, 1, to=world.orgs[1].curator_email)], "returned")
        occ = session.get(Occurrence, t5[2].occurrence_id)
        assert occ is not None
        occ.continuous = True
        session.flush()
        one([owed(t5[2], NoticeKind.nudge, 1, to=world.orgs[2].curator_email)], "nudge")
        occ.continuous = False
        session.flush()
        # a digest: a chase, a reminder and a receipt for one head on one day
        day = date(2022, 9, 16)
        _evidence(session, t5[0], {"pairs": 2, "order": LONG_URL}, [])
        one(
            [
                owed(t13[0], NoticeKind.chase, 1, to=heads[0], on_day=day),
                owed(t5[0], NoticeKind.reminder, 1, to=heads[0], on_day=day),
                owed(t5[0], NoticeKind.receipt, 1, to=heads[0], on_day=day),
            ],
            "digest",
        )
        one(
            [owed(t, NoticeKind.escalation, 1, to=OWNER, on_day=day) for t in (*t13[:2], t5[2])],
            "escalation",
        )
        # a journal's returned entry, not corrected by its own date
        journal = t5[2]
        occ = session.get(Occurrence, journal.occurrence_id)
        assert occ is not None
        occ.continuous = True
        journal.status, journal.revision = TaskStatus.returned, 1
        _evidence(session, journal, {"pairs": 3, "order": LONG_URL}, [])
        entry = session.exec(select(Evidence).where(Evidence.task_id == journal.id)).one()
        entry.review_note, entry.reopened_until = LONG_URL, date(2022, 9, 20)
        session.add_all([occ, journal, entry])
        session.flush()
        chase = owed(journal, NoticeKind.chase, 11, to=world.orgs[2].curator_email, on_day=day)
        one([chase], "chase", "chase_journal_entry")
        out.update(inbox_replies(session, settings, t13[0].id, heads[0]))
        # the centre's notice of an email that could not be written (a bad owner address)
        bad = [owed(t13[1], NoticeKind.escalation, 2, to=BAD_OWNER, on_day=day)]
        assert queue_notices(session=session, owed=bad, settings=settings, now=NOW) == []
        [report] = session.exec(
            select(OutgoingEmail).where(OutgoingEmail.kind == QUEUE_FAILURE_KIND)
        ).all()
        out[QUEUE_FAILURE_KIND] = report.html_body
    return out


# not an address: a name in brackets, and a long word no phone screen holds
BAD_OWNER = "Иванова (методист) metodist_otdela_doshkolnogo_obrazovaniya_levokumskogo_okruga"


def inbox_replies(
    session: Session, settings: Settings, task_id: int | None, sender: str
) -> dict[str, str]:
    """The inbox's replies: an answer by email that lacks something, and one refused for
    its size."""
    from notifications.context import load_task, task_view

    assert task_id is not None
    parts = load_task(session, task_id)
    base = {
        "centre_name": settings.centre_name,
        "centre_email": settings.centre_email,
        "portal_url": settings.portal_url,
        "on_day": date(2022, 9, 16),
        "limit": "25 МБ",
    }
    partial = render(
        "inbox_reply",
        {
            **base,
            "recipient_name": parts.person_name(sender),
            "mode": "partial",
            "task": task_view(
                parts,
                session=session,
                recipient=sender,
                settings=settings,
                on_day=date(2022, 9, 16),
                now=NOW,
            ),
            "received": [("Приказ", LONG_URL), ("Скан", "prikaz-" + "o-zakreplenii-" * 6 + ".pdf")],
            "missing": ["Количество наставнических пар (число)"],
            "problems": [f"Файл {'ochen-dlinnoe-imya-' * 5}.exe: такой тип файлов не принимается"],
        },
    )
    refused = render(
        "inbox_reply",
        {
            **base,
            "recipient_name": "",
            "mode": "refused",
            "task": None,
            "received": [],
            "missing": [],
            "problems": [],
            "original_subject": "Re: " + LONG_URL,
        },
    )
    return {"inbox_reply": partial.html, "inbox_reply_refused": refused.html}


def other_emails() -> dict[str, str]:
    failure = render(
        "delivery_failure",
        {
            "centre_name": "МКУ «ИМЦСО ЛМО СК»",
            "centre_email": "imcso@levokumskoe.example",
            "failed_to": "very.long.address.of.a.head@school-number-one.levokumskoe.example",
            "failed_cc": [],
            "failed_subject": "Новая задача: п. 13 «Утверждение приказов о закреплении пар»",
            "failed_message_id": "<task-1.opened.0@imcso-levokumskoe.example>",
            "created_at": "15.09.2022 09:00",
            "attempts": 3,
            "reason": "550 5.1.1 <very.long.address@school-number-one.example>: "
            "Recipient address rejected: User unknown in virtual mailbox table",
            "refused": [],
            "delivered": [],
            "review_links": [LONG_URL],
        },
    )
    yearly = YearlySummary(
        cycle="2022/2023",
        period_start=date(2022, 4, 8),
        period_end=date(2023, 8, 31),
        as_of=date(2023, 8, 31),
        roadmap_title="Дорожная карта по наставничеству",
        roadmap_order="№ 209-од от 08.04.2022",
        district="Левокумский МО",
        items=(),
        organisations=(),
        indicators=(),
        escalations=(),
        delivery_failures=(),
        counts=Counts(asked=4, on_time=2, late=1, overdue=1),
        centre=Counts(),
        text=("Выполнено 3 задачи из 4.",),
    )
    summary = render(
        "summary",
        {
            "centre_name": "МКУ «ИМЦСО ЛМО СК»",
            "summary": yearly,
            "cycle": "2022/2023",
            "as_of": date(2023, 8, 31),
            "files": {"docx": Path("/var/s/summary.docx"), "xlsx": Path("/var/s/summary.xlsx")},
        },
    )
    return {"delivery_failure": failure.html, "summary": summary.html}


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


MEASURE = """
() => {
  const width = document.documentElement.clientWidth;
  const wide = [];
  for (const el of document.querySelectorAll('body, body *')) {
    const r = el.getBoundingClientRect();
    if (r.width > 0 && r.right > width + 0.5) {
      const text = (el.textContent || '').trim().slice(0, 50);
      wide.push(`${el.tagName} right=${Math.round(r.right)}: ${text}`);
    }
  }
  const stacked = [...document.querySelectorAll('td')].every(
    td => getComputedStyle(td).display === 'block');
  return {width, scroll: document.documentElement.scrollWidth, wide, stacked,
          cells: document.querySelectorAll('td').length};
}
"""


def measure(browser: Browser, html: str, width: int, shot: Path) -> dict[str, Any]:
    context = browser.new_context(viewport={"width": width, "height": 800})
    try:
        page = context.new_page()
        page.set_content(html, wait_until="load")
        page.screenshot(path=str(shot), full_page=True)
        result: dict[str, Any] = page.evaluate(MEASURE)
        return result
    finally:
        context.close()


def test_every_kind_of_email_fits_a_phone(
    engine: Engine, settings: Settings, browser: Browser
) -> None:
    emails = {**task_emails(engine, settings), **other_emails()}
    assert set(emails) == {
        "opened",
        "reminder",
        "chase",
        "chase_journal_entry",
        "receipt",
        "returned",
        "nudge",
        "digest",
        "escalation",
        "inbox_reply",
        "inbox_reply_refused",
        "queue_failure",
        "delivery_failure",
        "summary",
    }
    # every kind the engine renders, the centre's notices among them
    assert set(KINDS) <= set(emails)
    problems = []
    for kind, html in emails.items():
        phone = measure(browser, html, 375, Path(f"/tmp/email-{kind}-375.png"))
        measure(browser, html, 1280, Path(f"/tmp/email-{kind}-1280.png"))
        if phone["scroll"] > 375 or phone["wide"]:
            problems.append((kind, phone["scroll"], phone["wide"][:5]))
        elif phone["cells"] and not phone["stacked"]:
            problems.append((kind, "table cells not stacked at 375 px", phone["cells"]))
    assert problems == [], "\n".join(map(str, problems))


def test_the_digest_keeps_its_status_and_link_on_a_phone(
    engine: Engine, settings: Settings, browser: Browser
) -> None:
    html = task_emails(engine, settings)["digest"]
    context = browser.new_context(viewport={"width": 375, "height": 800})
    try:
        page = context.new_page()
        page.set_content(html, wait_until="load")
        for text in ("Ответить", "просрочено (ожидает ответа)"):
            box = page.get_by_text(text, exact=False).first.bounding_box()
            assert box is not None, text
            assert box["x"] >= 0 and box["x"] + box["width"] <= 375, (text, box)
    finally:
        context.close()


def test_tables_still_read_as_tables_without_media_queries(
    engine: Engine, settings: Settings
) -> None:
    """A client that drops <style> still gets real tables with a header row."""
    html = task_emails(engine, settings)["digest"]
    body = html.split("</head>", 1)[1]
    assert "<table" in body and "<th" in body
    assert "white-space:nowrap" not in html
