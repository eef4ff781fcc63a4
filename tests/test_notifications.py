"""Outbox: owed notices become one email each per recipient and day, rendered in Russian."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from icalendar import Calendar
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from config.settings import Settings
from domain.emails import Notice, OutgoingEmail
from domain.enums import NoticeKind, Role, TaskEventKind, TaskStatus
from domain.evidence import Evidence, EvidenceFile
from domain.formatting import ru_date
from domain.models import Occurrence, Organisation, RoadmapItem, Task, TaskEvent
from domain.notices import OwedNotice
from domain.summary import Counts, YearlySummary
from notifications.ics import DueEvent, due_calendar
from notifications.outbox import (
    Attachment,
    digest_message_id,
    notice_message_id,
    queue_email,
    queue_notices,
)
from notifications.render import KINDS, render, ru_plural
from services.links import resolve_task_token
from tests.factories import a_roadmap, a_school, a_task, an_item, an_occurrence

NOW = datetime(2022, 9, 15, 6, 0, tzinfo=UTC)  # Thu 15.09.2022, 09:00 in Moscow
TODAY = date(2022, 9, 15)
DOMAIN = "imcso-levokumskoe.example"
OWNER = "metodist@imcso.example"


@dataclass
class World:
    item13: RoadmapItem  # heads answer
    item5: RoadmapItem  # curators answer, head in copy
    orgs: list[Organisation]
    tasks13: list[Task]  # one per organisation, due 14.09.2022
    tasks5: list[Task]  # one per organisation, due 30.09.2022


ITEM_13 = {
    "number": 13,
    "section": "Организационные мероприятия",
    "title": "Утверждение приказов о закреплении наставнических пар",
    "schedule_text": "до 15.09.2022г., далее ежегодно",
    "responsible": "руководители образовательных организаций",
    "expected_result": "Приказ о закреплении наставнических пар",
}
ITEM_5_CURATORS = {
    "number": 5,
    "section": "Методическое сопровождение",
    "title": "Заседание Совета наставников",
    "schedule_text": "сентябрь",
    "responsible": "Кураторы",
    "expected_result": "Протокол заседания",
}
OPENED_AT = datetime(2022, 9, 1, 6, 0, tzinfo=UTC)


def build_world(session: Session, n_orgs: int = 3) -> World:
    """Items 13 (heads) and 5 (curators, head in copy) of the mentoring roadmap, `n_orgs`
    schools with both, and each school's open task of each item."""
    roadmap = a_roadmap(
        session, key="mentoring", title="Дорожная карта по наставничеству", order_number="209-од"
    )
    owner: dict[str, Any] = {"owner_name": "Петрова А. В.", "owner_email": OWNER}
    item13 = an_item(
        session,
        roadmap,
        like=ITEM_13,
        evidence_spec={
            "fields": [
                {"name": "order", "label": "Реквизиты приказа", "kind": "text"},
                {"name": "scan", "label": "Скан приказа", "kind": "file"},
                {"name": "pairs", "label": "Число пар", "kind": "number"},
            ]
        },
        **owner,
    )
    item5 = an_item(session, roadmap, like=ITEM_5_CURATORS, **owner)
    orgs = [
        a_school(
            session,
            i,
            name=f"МКОУ СОШ № {i}",
            short_name=f"СОШ {i}",
            head_name=f"Иванов {i}",
            head_email=f"head{i}@school{i}.example",
            curator_name=f"Сидорова {i}",
            curator_email=f"curator{i}@school{i}.example",
        )
        for i in range(1, n_orgs + 1)
    ]
    occ13 = an_occurrence(
        session, item13, opens=date(2022, 4, 8), due=date(2022, 9, 14), opened_at=OPENED_AT
    )
    occ5 = an_occurrence(
        session, item5, opens=date(2022, 9, 1), due=date(2022, 9, 30), opened_at=OPENED_AT
    )
    tasks13: list[Task] = []
    tasks5: list[Task] = []
    for org in orgs:  # ids in the order they always had: each school's two tasks together
        tasks13.append(a_task(session, occ13, org, role=Role.head))
        tasks5.append(a_task(session, occ5, org, role=Role.curator))
    return World(item13, item5, orgs, tasks13, tasks5)


def owed(task: Task, kind: NoticeKind, step: int = 0, to: str = "", **kw: object) -> OwedNotice:
    assert task.id is not None
    return OwedNotice(
        task_id=task.id,
        kind=kind,
        step=step,
        on_day=kw.pop("on_day", TODAY),  # type: ignore[arg-type]
        recipient=to,
        cc=tuple(kw.pop("cc", ())),  # type: ignore[arg-type]
    )


def ics_events(email: OutgoingEmail) -> list[Any]:
    icals = [a for a in email.attachments if a["content_type"].startswith("text/calendar")]
    assert len(icals) == 1, email.attachments
    cal = Calendar.from_ical(base64.b64decode(icals[0]["content_b64"]))
    return list(cal.walk("VEVENT"))


def token_of(link: str, settings: Settings) -> str:
    prefix = f"{settings.portal_url}/t/"
    assert link.startswith(prefix), link
    return link[len(prefix) :]


def link_in(text: str, settings: Settings) -> str:
    start = text.index(f"{settings.portal_url}/t/")
    return text[start:].split()[0]


def test_queuing_the_same_notices_twice_writes_one_email(any_engine: Engine, settings: Settings):
    with Session(any_engine) as session:
        world = build_world(session, n_orgs=1)
        task = world.tasks13[0]
        notice = owed(task, NoticeKind.opened, to=world.orgs[0].head_email)
        first = queue_notices(session=session, owed=[notice, notice], settings=settings, now=NOW)
        assert len(first) == 1
        first_id = first[0].id
        session.commit()
    with Session(any_engine) as session:
        again = queue_notices(session=session, owed=[notice], settings=settings, now=NOW)
        session.commit()
        assert again == []
        assert len(session.exec(select(OutgoingEmail)).all()) == 1
        notices = session.exec(select(Notice)).all()
        assert [(n.kind, n.step, n.email_id) for n in notices] == [(NoticeKind.opened, 0, first_id)]


def test_an_opened_email_carries_the_personal_link_and_the_due_date(
    engine: Engine, settings: Settings
):
    with Session(engine) as session:
        world = build_world(session, n_orgs=1)
        task, org = world.tasks13[0], world.orgs[0]
        [email] = queue_notices(
            session=session,
            owed=[owed(task, NoticeKind.opened, to=org.head_email, on_day=date(2022, 9, 1))],
            settings=settings,
            now=NOW,
        )
        session.commit()
        assert email.kind == "opened"
        assert email.to_addr == org.head_email and email.cc_addrs == []
        assert email.message_id == f"<task-{task.id}.opened.0@{DOMAIN}>"
        assert "п. 13" in email.subject and "14.09.2022" in email.subject
        assert email.text_body.startswith("Здравствуйте!\n")  # "Иванов 1": no name to use
        assert "Приказ о закреплении наставнических пар" in email.text_body
        assert "Реквизиты приказа" in email.text_body
        assert "без пароля" in email.text_body and "без пароля" in email.html_body
        assert "14.09.2022" in email.html_body
        link = link_in(email.text_body, settings)
        assert f'href="{link}"' in email.html_body
        access = resolve_task_token(
            session=session, token=token_of(link, settings), settings=settings, now=NOW
        )
        assert access.task_id == task.id and access.recipient == org.head_email
        [event] = ics_events(email)
        assert event.decoded("dtstart") == date(2022, 9, 14)
        assert event.decoded("dtend") == date(2022, 9, 15)
        assert str(event["uid"]) == f"task-{task.id}-due@{DOMAIN}"
        assert "Срок: п. 13" in str(event["summary"])


def test_notices_to_one_person_on_one_day_go_as_one_digest(engine: Engine, settings: Settings):
    with Session(engine) as session:
        world = build_world(session, n_orgs=1)
        org = world.orgs[0]
        chased, reminded = world.tasks13[0], world.tasks5[0]
        head = org.head_email
        batch = [
            owed(chased, NoticeKind.chase, 1, to=head),
            owed(reminded, NoticeKind.reminder, 1, to=head),
            owed(reminded, NoticeKind.reminder, 1, to=head, on_day=date(2022, 9, 16)),  # dup
        ]
        emails = queue_notices(session=session, owed=batch, settings=settings, now=NOW)
        session.commit()
        assert len(emails) == 1
        [email] = emails
        assert email.kind == "digest"
        keys = [(chased.id, NoticeKind.chase, 1), (reminded.id, NoticeKind.reminder, 1)]
        assert email.message_id == digest_message_id(keys, DOMAIN)  # type: ignore[arg-type]
        assert email.message_id.startswith("<digest-") and len(email.message_id) == len(
            f"<digest-{'0' * 20}@{DOMAIN}>"
        )
        for body in (email.text_body, email.html_body):
            assert "п.&nbsp;13" in body or "п. 13" in body
            assert "Утверждение приказов" in body and "Заседание Совета наставников" in body
            assert "14.09.2022" in body and "30.09.2022" in body
            assert "МКОУ СОШ № 1" in body
            # the status of the overdue task, worded as on the dashboard (domain/progress)
            assert "просрочено (ожидает ответа)" in body
        assert "/o/" in email.text_body  # the organisation's own page
        links = {w for w in email.text_body.split() if "/t/" in w}
        resolved = {
            resolve_task_token(
                session=session, token=token_of(w, settings), settings=settings, now=NOW
            ).task_id
            for w in links
        }
        assert resolved == {chased.id, reminded.id}
        # the chase's date (14.09) has passed: only the reminder's goes into the calendar
        days = sorted(e.decoded("dtstart") for e in ics_events(email))
        assert days == [date(2022, 9, 30)]
        notices = session.exec(select(Notice).order_by(col(Notice.id))).all()
        assert {(n.task_id, n.kind) for n in notices} == {
            (chased.id, NoticeKind.chase),
            (reminded.id, NoticeKind.reminder),
        }
        assert all(n.email_id == email.id for n in notices)
        events = session.exec(select(TaskEvent)).all()
        assert {(e.task_id, e.kind) for e in events} == {
            (chased.id, TaskEventKind.chased),
            (reminded.id, TaskEventKind.reminded),
        }


def test_different_days_and_people_get_separate_emails(engine: Engine, settings: Settings):
    with Session(engine) as session:
        world = build_world(session, n_orgs=2)
        t1, t2 = world.tasks13
        emails = queue_notices(
            session=session,
            owed=[
                owed(t1, NoticeKind.reminder, 1, to=world.orgs[0].head_email),
                owed(t2, NoticeKind.reminder, 1, to=world.orgs[1].head_email),
                owed(
                    t1,
                    NoticeKind.chase,
                    1,
                    to=world.orgs[0].head_email,
                    on_day=TODAY.replace(day=16),
                ),
            ],
            settings=settings,
            now=NOW,
        )
        assert [e.kind for e in emails] == ["reminder", "reminder", "chase"]
        assert emails[0].message_id == notice_message_id(t1.id, "reminder", 1, DOMAIN)  # type: ignore[arg-type]
        assert len({e.message_id for e in emails}) == 3


def test_a_curator_task_has_the_head_in_copy(engine: Engine, settings: Settings):
    with Session(engine) as session:
        world = build_world(session, n_orgs=1)
        org, task = world.orgs[0], world.tasks5[0]
        [email] = queue_notices(
            session=session,
            owed=[
                owed(
                    task,
                    NoticeKind.opened,
                    to=org.curator_email,
                    cc=[org.head_email, org.curator_email],
                )
            ],
            settings=settings,
            now=NOW,
        )
        assert email.to_addr == org.curator_email
        assert email.cc_addrs == [org.head_email]
        assert "Здравствуйте!" in email.text_body
        access = resolve_task_token(
            session=session,
            token=token_of(link_in(email.text_body, settings), settings),
            settings=settings,
            now=NOW,
        )
        assert access.recipient == org.curator_email


def test_chases_grow_firmer_step_by_step(engine: Engine, settings: Settings):
    with Session(engine) as session:
        world = build_world(session, n_orgs=1)
        task, head = world.tasks13[0], world.orgs[0].head_email
        texts = []
        for step, day in ((1, date(2022, 9, 15)), (2, date(2022, 9, 21)), (3, date(2022, 9, 28))):
            [email] = queue_notices(
                session=session,
                owed=[owed(task, NoticeKind.chase, step, to=head, on_day=day)],
                settings=settings,
                now=NOW,
            )
            texts.append((email.subject, email.text_body))
        assert texts[0][0].startswith("Срок истёк")
        assert texts[1][0].startswith("Повторно")
        assert texts[2][0].startswith("Срочно")
        assert "просрочен на 5 рабочих дней" in texts[1][1]  # 14.09 -> 21.09
        assert "Повторно напоминаем" in texts[1][1]
        assert "Петрова А. В." in texts[2][1]
        assert "несмотря на предыдущие напоминания" in texts[2][1]


def test_after_a_return_the_chases_count_again_from_the_first(engine: Engine, settings: Settings):
    """A returned task's new due date starts a new series (steps `revision * 10 + n`):
    its first chase reads as a first one, and the chases of the old date are not its."""
    with Session(engine) as session:
        world = build_world(session, n_orgs=1)
        task, head = world.tasks13[0], world.orgs[0].head_email
        for step, day in ((1, date(2022, 9, 15)), (2, date(2022, 9, 21))):
            queue_notices(
                session=session,
                owed=[owed(task, NoticeKind.chase, step, to=head, on_day=day)],
                settings=settings,
                now=NOW,
            )
        task.revision, task.due = 1, date(2022, 10, 14)  # returned with a new due date
        session.add(task)
        session.flush()
        [first] = queue_notices(
            session=session,
            owed=[owed(task, NoticeKind.chase, 11, to=head, on_day=date(2022, 10, 17))],
            settings=settings,
            now=NOW,
        )
        assert first.subject.startswith("Срок истёк") and "14.10.2022" in first.subject
        for body in (first.text_body, first.html_body):
            assert "Повторно" not in body and "незамедлительно" not in body
        [second] = queue_notices(
            session=session,
            owed=[owed(task, NoticeKind.chase, 12, to=head, on_day=date(2022, 10, 21))],
            settings=settings,
            now=NOW,
        )
        assert second.subject.startswith("Повторно: ответ просрочен")
        digest_task = world.tasks5[0]
        [digest] = queue_notices(
            session=session,
            owed=[
                owed(digest_task, NoticeKind.chase, 1, to=head, on_day=date(2022, 10, 28)),
                owed(task, NoticeKind.chase, 13, to=head, on_day=date(2022, 10, 28)),
            ],
            settings=settings,
            now=NOW,
        )
        assert "напоминание № 3" in digest.text_body
        assert "№ 13" not in digest.text_body and "№ 13" not in digest.html_body
        # the owner hears of the chases of the new date, numbered as the head got them
        [escalation] = queue_notices(
            session=session,
            owed=[owed(task, NoticeKind.escalation, 10, to=OWNER, on_day=date(2022, 10, 28))],
            settings=settings,
            now=NOW,
        )
        assert "№ 1 от 17.10.2022, № 2 от 21.10.2022, № 3 от 28.10.2022" in escalation.text_body
        assert "15.09.2022" not in escalation.text_body and "№ 11" not in escalation.text_body


def test_a_chase_after_a_catch_up_does_not_speak_of_chases_never_sent(
    engine: Engine, settings: Settings
):
    """A catch-up writes only the latest chase owed: no earlier one was ever sent."""
    with Session(engine) as session:
        world = build_world(session, n_orgs=2)
        task, head = world.tasks13[0], world.orgs[0].head_email
        [third] = queue_notices(
            session=session,
            owed=[owed(task, NoticeKind.chase, 3, to=head, on_day=date(2022, 9, 28))],
            settings=settings,
            now=NOW,
        )
        assert third.subject.startswith("Срочно")
        for body in (third.text_body, third.html_body):
            assert "несмотря на предыдущие напоминания" not in body
            assert "Петрова А. В." in body
        other, other_head = world.tasks13[1], world.orgs[1].head_email
        [second] = queue_notices(
            session=session,
            owed=[owed(other, NoticeKind.chase, 2, to=other_head, on_day=date(2022, 9, 21))],
            settings=settings,
            now=NOW,
        )
        assert second.subject.startswith("Ответ просрочен")
        assert "Повторно" not in second.text_body and "Повторно" not in second.html_body
        # in a digest, no "напоминание № 3" when it is the first one sent
        digest_task = world.tasks5[0]
        [digest] = queue_notices(
            session=session,
            owed=[
                owed(digest_task, NoticeKind.chase, 3, to=head, on_day=date(2022, 10, 20)),
                owed(task, NoticeKind.chase, 4, to=head, on_day=date(2022, 10, 20)),
            ],
            settings=settings,
            now=NOW,
        )
        assert digest.kind == "digest"
        assert "напоминание № 3" not in digest.text_body
        assert "напоминание № 4" in digest.text_body  # chase № 3 of that task was sent


def test_escalations_go_to_the_owner_as_one_digest_grouped_by_item(
    engine: Engine, settings: Settings
):
    with Session(engine) as session:
        world = build_world(session, n_orgs=3)
        late13 = world.tasks13[:2]  # СОШ 1 and СОШ 2 never answered item 13
        late5 = world.tasks5[2]  # СОШ 3 never answered item 5
        world.tasks13[2].status = TaskStatus.submitted
        first_chase = date(2022, 9, 15)
        queue_notices(
            session=session,
            owed=[
                owed(t, NoticeKind.chase, 1, to=o.head_email, on_day=first_chase)
                for t, o in zip(late13, world.orgs, strict=False)
            ],
            settings=settings,
            now=NOW,
        )
        day = date(2022, 10, 5)
        queue_notices(
            session=session,
            owed=[
                owed(late13[0], NoticeKind.chase, 2, to=world.orgs[0].head_email, on_day=day),
                owed(late5, NoticeKind.chase, 1, to=world.orgs[2].curator_email, on_day=day),
                *(owed(t, NoticeKind.escalation, 1, to=OWNER, on_day=day) for t in late13),
                owed(late5, NoticeKind.escalation, 1, to=OWNER, on_day=day),
            ],
            settings=settings,
            now=NOW,
        )
        session.commit()
        escalations = session.exec(
            select(OutgoingEmail).where(OutgoingEmail.kind == "escalation")
        ).all()
        assert len(escalations) == 1
        [email] = escalations
        assert email.to_addr == OWNER and email.attachments == []
        assert email.message_id.startswith("<digest-")
        assert "Здравствуйте!" in email.text_body
        assert "05.10.2022" in email.subject and "3 организации" in email.subject
        text = email.text_body
        # grouped by item, items in order of their number
        assert text.index("п. 5. Заседание") < text.index("п. 13. Утверждение")
        block13 = text[text.index("п. 13. Утверждение") :]
        assert "МКОУ СОШ № 1" in block13 and "МКОУ СОШ № 2" in block13
        assert "МКОУ СОШ № 3" not in block13
        # 14.09 -> 05.10.2022: 15 working days
        assert "просрочено на 15 рабочих дней" in text
        assert "№ 1 от 15.09.2022, № 2 от 05.10.2022" in text  # СОШ 1's chases
        assert "№ 1 от 05.10.2022" in text  # СОШ 3's chase for item 5 in the same run
        assert "куратор Сидорова 3 <curator3@school3.example>" in text
        assert "МКОУ СОШ № 2" in email.html_body and "15 рабочих дней" in email.html_body
        for task in [*late13, late5]:
            session.refresh(task)
            assert task.escalated_at == NOW
        kinds = session.exec(
            select(TaskEvent.kind).where(TaskEvent.kind == TaskEventKind.escalated)
        ).all()
        assert len(kinds) == 3


def _evidence(
    session: Session, task: Task, values: dict[str, Any], files: list[tuple[str, str]]
) -> None:
    assert task.id is not None
    ev = Evidence(
        task_id=task.id,
        version=1,
        submitted_at=datetime(2022, 9, 13, 8, 30, tzinfo=UTC),
        submitted_by="head1@school1.example",
        values=values,
    )
    session.add(ev)
    session.flush()
    assert ev.id is not None
    for i, (fld, name) in enumerate(files):
        session.add(
            EvidenceFile(
                evidence_id=ev.id,
                field=fld,
                original_name=name,
                stored_name=f"stored-{task.id}-{i}",
                size=10,
                sha256="0" * 64,
            )
        )
    session.flush()


def test_a_receipt_lists_what_was_received_and_escapes_it_in_html(
    engine: Engine, settings: Settings
):
    with Session(engine) as session:
        world = build_world(session, n_orgs=1)
        task, org = world.tasks13[0], world.orgs[0]
        _evidence(
            session,
            task,
            {"order": "Приказ № 12 <script>alert('x')</script>", "pairs": 4, "scan": ["f1"]},
            [("scan", "приказ 12.pdf"), ("scan", "<b>лист2</b>.jpg")],
        )
        [email] = queue_notices(
            session=session,
            owed=[owed(task, NoticeKind.receipt, 1, to=org.head_email)],
            settings=settings,
            now=NOW,
        )
        assert email.kind == "receipt" and email.attachments == []
        assert email.message_id == f"<task-{task.id}.receipt.1@{DOMAIN}>"
        assert "13.09.2022 11:30" in email.text_body  # Moscow time
        assert "- Реквизиты приказа: Приказ № 12 <script>alert('x')</script>" in email.text_body
        assert "- Число пар: 4" in email.text_body
        assert "- Скан приказа: файлы: приказ 12.pdf, <b>лист2</b>.jpg" in email.text_body
        html = email.html_body
        assert "<script>" not in html and "<b>лист2" not in html
        assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in html
        assert "&lt;b&gt;лист2&lt;/b&gt;.jpg" in html
        # a receipt writes no task event: the answer itself did
        assert session.exec(select(TaskEvent)).all() == []


def test_a_returned_email_gives_the_reason_and_the_new_due_date(engine: Engine, settings: Settings):
    with Session(engine) as session:
        world = build_world(session, n_orgs=1)
        task, org = world.tasks13[0], world.orgs[0]
        task.status, task.due, task.revision = TaskStatus.returned, date(2022, 9, 29), 1
        assert task.id is not None
        for at, note in (
            (datetime(2022, 9, 1, tzinfo=UTC), "старая причина"),
            (NOW, "Нет скана <подписи>"),
        ):
            session.add(TaskEvent(task_id=task.id, at=at, kind=TaskEventKind.returned, note=note))
        session.flush()
        [email] = queue_notices(
            session=session,
            owed=[owed(task, NoticeKind.returned, 1, to=org.head_email)],
            settings=settings,
            now=NOW,
        )
        assert "новый срок 29.09.2022" in email.subject
        assert "Причина: Нет скана <подписи>" in email.text_body
        assert "Нет скана &lt;подписи&gt;" in email.html_body
        assert "старая причина" not in email.text_body
        [event] = ics_events(email)
        assert event.decoded("dtstart") == date(2022, 9, 29)
        assert int(event["sequence"]) == 1


def test_a_returned_notice_without_a_reason_is_refused(engine: Engine, settings: Settings):
    with Session(engine) as session:
        world = build_world(session, n_orgs=1)
        # refused for this recipient only: nothing written for it, the centre is told
        written = queue_notices(
            session=session,
            owed=[owed(world.tasks13[0], NoticeKind.returned, 1, to="x@y.example")],
            settings=settings,
            now=NOW,
        )
        assert written == []
        [report] = session.exec(select(OutgoingEmail)).all()
        assert report.kind == "queue_failure" and report.to_addr == settings.centre_email
        assert "no 'returned' event" in report.text_body


def test_a_nudge_for_a_continuous_task(engine: Engine, settings: Settings):
    with Session(engine) as session:
        world = build_world(session, n_orgs=1)
        task = world.tasks5[0]
        occ = session.get(Occurrence, task.occurrence_id)
        assert occ is not None
        occ.continuous = True
        [email] = queue_notices(
            session=session,
            owed=[owed(task, NoticeKind.nudge, 1, to=world.orgs[0].curator_email)],
            settings=settings,
            now=NOW,
        )
        assert "нет новых записей за квартал" in email.subject
        assert "записей пока нет" in email.text_body
        assert len(ics_events(email)) == 1
        events = session.exec(select(TaskEvent)).all()
        assert [e.kind for e in events] == [TaskEventKind.nudged]


def test_queue_email_is_idempotent_by_message_id(any_engine: Engine, settings: Settings):
    kwargs = {
        "kind": "summary",
        "to": "imcso@levokumskoe.example",
        "subject": "Справка",
        "text_body": "текст",
        "html_body": "<p>текст</p>",
        "message_id": "<summary-2022-2023@x.example>",
        "now": NOW,
    }
    pdf = Attachment("справка.pdf", "application/pdf", b"%PDF-1.4 test")
    with Session(any_engine) as session:
        first = queue_email(session=session, attachments=[pdf], **kwargs)  # type: ignore[arg-type]
        session.commit()
        first_id = first.id
    with Session(any_engine) as session:
        again = queue_email(session=session, **{**kwargs, "subject": "другая"})  # type: ignore[arg-type]
        assert again.id == first_id and again.subject == "Справка"
        assert again.attachments[0]["filename"] == "справка.pdf"
        assert base64.b64decode(again.attachments[0]["content_b64"]) == b"%PDF-1.4 test"
        assert len(session.exec(select(OutgoingEmail)).all()) == 1


def test_queue_email_refuses_a_malformed_message_id(engine: Engine):
    with Session(engine) as session, pytest.raises(ValueError, match="Message-ID"):
        queue_email(
            session=session,
            kind="summary",
            to="a@b.example",
            subject="s",
            text_body="t",
            html_body="h",
            message_id="no-brackets",
            now=NOW,
        )


def test_every_kind_renders_and_helpers_speak_russian():
    assert ru_date(date(2022, 9, 14)) == "14.09.2022"
    assert [ru_plural(n, "день", "дня", "дней") for n in (1, 2, 5, 11, 21, 22, 112)] == [
        "1 день",
        "2 дня",
        "5 дней",
        "11 дней",
        "21 день",
        "22 дня",
        "112 дней",
    ]
    summary = render(
        "summary",
        {
            "cycle": "2022/2023",
            "attachments": ["spravka.docx"],
            "highlights": ["Выполнено 15 из 17 <>"],
        },
    )
    assert summary.subject == "Аналитическая справка по дорожной карте за 2022/2023 учебный год"
    assert "Во вложении: spravka.docx." in summary.text
    assert "Выполнено 15 из 17 &lt;&gt;" in summary.html
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
    full = render(
        "summary",
        {
            "centre_name": "МКУ «ИМЦСО ЛМО СК»",
            "summary": yearly,
            "cycle": "2022/2023",
            "as_of": date(2023, 8, 31),
            "files": {"docx": Path("/var/s/summary.docx"), "xlsx": Path("/var/s/summary.xlsx")},
        },
    )
    assert "«Дорожная карта по наставничеству» за 2022/2023" in full.text
    assert "по состоянию на 31.08.2023" in full.text
    assert "Задачи организаций: 4; в срок 2, с опозданием 1, просрочено 1." in full.text
    assert "- Выполнено 3 задачи из 4." in full.text
    assert "Файлы справки: summary.docx, summary.xlsx." in full.text
    assert full.text.rstrip().splitlines()[-2] == "МКУ «ИМЦСО ЛМО СК»"
    failure = render(
        "delivery_failure",
        {
            "failed_to": "x@y.example",
            "failed_cc": [],
            "failed_subject": "Тема",
            "failed_message_id": "<a@b>",
            "created_at": "15.09.2022 09:00",
            "attempts": 1,
            "reason": "550 5.1.1 No such user",
            "refused": [],
            "delivered": [],
            "review_links": [],
        },
    )
    assert failure.subject == "Письмо не доставлено: x@y.example"
    assert "550 5.1.1 No such user" in failure.text and "&lt;a@b&gt;" in failure.html
    assert set(KINDS) >= {"opened", "digest", "summary", "delivery_failure"}
    with pytest.raises(ValueError, match="unknown email kind"):
        render("bogus", {})


def test_a_calendar_has_one_all_day_event_per_due_date():
    data = due_calendar(
        [
            DueEvent(uid="task-1-due@x", day=date(2022, 9, 14), summary="Срок: п. 13"),
            DueEvent(uid="task-2-due@x", day=date(2022, 9, 30), summary="Срок: п. 5"),
        ]
    )
    cal = Calendar.from_ical(data)
    events = list(cal.walk("VEVENT"))
    assert [e.decoded("dtstart") for e in events] == [date(2022, 9, 14), date(2022, 9, 30)]
    assert [str(e["summary"]) for e in events] == ["Срок: п. 13", "Срок: п. 5"]
    with pytest.raises(ValueError):
        due_calendar([])


def test_the_centres_own_task_goes_to_the_items_owner(engine: Engine, settings: Settings):
    with Session(engine) as session:
        world = build_world(session, n_orgs=1)
        org_task = world.tasks13[0]
        task = Task(
            occurrence_id=org_task.occurrence_id,
            item_id=org_task.item_id,
            organisation_id=None,
            assignee_key="centre",
            role=Role.centre,
            due=org_task.due,
            opened_at=NOW,
            updated_at=NOW,
        )
        session.add(task)
        session.flush()
        [email] = queue_notices(
            session=session,
            owed=[owed(task, NoticeKind.reminder, 1, to=OWNER, on_day=date(2022, 9, 12))],
            settings=settings,
            now=NOW,
        )
        assert email.to_addr == OWNER
        assert "Здравствуйте!" in email.text_body
        assert f"Организация: {settings.centre_name}" in email.text_body
        assert "осталось 2 рабочих дня" in email.text_body  # 12.09 -> 14.09.2022
        assert len(ics_events(email)) == 1
        # a recipient that is not an address: not written, reported to the centre
        assert (
            queue_notices(
                session=session,
                owed=[owed(task, NoticeKind.chase, 1, to="")],
                settings=settings,
                now=NOW,
            )
            == []
        )
        reports = session.exec(
            select(OutgoingEmail).where(OutgoingEmail.kind == "queue_failure")
        ).all()
        assert ["не является адресом электронной почты" in r.text_body for r in reports] == [True]


def test_an_overdue_chase_attaches_no_calendar_entry(engine: Engine, settings: Settings):
    with Session(engine) as session:
        world = build_world(session, n_orgs=1)
        task, head = world.tasks13[0], world.orgs[0].head_email  # due 14.09, chased 15.09
        [email] = queue_notices(
            session=session,
            owed=[owed(task, NoticeKind.chase, 1, to=head)],
            settings=settings,
            now=NOW,
        )
        assert email.attachments == []
        assert ".ics" not in email.html_body and ".ics" not in email.text_body


def test_the_calendar_part_says_publish_and_utf_8(engine: Engine, settings: Settings):
    from notifications.mime import build_message

    with Session(engine) as session:
        world = build_world(session, n_orgs=1)
        [email] = queue_notices(
            session=session,
            owed=[
                owed(
                    world.tasks13[0],
                    NoticeKind.opened,
                    to=world.orgs[0].head_email,
                    on_day=date(2022, 9, 1),
                )
            ],
            settings=settings,
            now=NOW,
        )
        message = build_message(email, settings=settings, now=NOW)
        [part] = [p for p in message.walk() if p.get_content_type() == "text/calendar"]
        assert part.get_param("method") == "PUBLISH"
        assert str(part.get_param("charset")).upper() == "UTF-8"
        assert part["Content-Type"].startswith("text/calendar")
        payload = part.get_payload(decode=True)
        assert isinstance(payload, bytes) and b"METHOD:PUBLISH" in payload
