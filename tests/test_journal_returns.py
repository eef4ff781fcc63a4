"""A journal (a continuous item, e.g. item 12) is its entries: returning one entry reopens
that entry, not the journal's due date; nudges count from the last entry or return; the
summary sums every entry."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import date, datetime, time

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from config.settings import Settings
from domain.cycles import Cycle
from domain.emails import Notice, OutgoingEmail
from domain.enums import NoticeKind, Role, TaskEventKind, TaskStatus
from domain.evidence import Evidence
from domain.reminders import Policy, owed_notices, owed_steps
from domain.summary import build_summary
from domain.tasks import Task, TaskEvent
from notifications.outbox import queue_notices
from portal.app import create_app
from services.answers import AnswerError, submit_answer
from services.links import issue_task_link
from services.reviews import return_task
from tests.factories import (
    ITEM_12,
    JOURNAL_VIEW,
    a_roadmap,
    a_school,
    a_task,
    an_item,
    an_occurrence,
    task_view,
)
from tests.portal_world import BASE

JOURNAL_DUE = date(2023, 8, 31)
HEAD = "head@school1.example"
SPEC = {
    "fields": [
        {"name": "event", "label": "Что проведено", "kind": "text", "required": True},
        {"name": "people", "label": "Участников", "kind": "number", "required": True},
    ]
}


@dataclass
class Journal:
    settings: Settings
    engine: Engine
    task_id: int
    item_id: int

    def at(self, day: date, hour: int = 10) -> datetime:
        return datetime.combine(day, time(hour), tzinfo=self.settings.tz)

    def tick(self, day: date) -> list[tuple[NoticeKind, int]]:
        """Queue what is owed on `day`, as the daily chase does; the journal's notices."""
        with Session(self.engine) as s:
            owed = owed_notices(
                session=s,
                today=day,
                policy=Policy(),
                centre_email=self.settings.centre_email,
                tz=self.settings.tz,
            )
            queue_notices(session=s, owed=owed, settings=self.settings, now=self.at(day, 9))
            s.commit()
        return [(n.kind, n.step) for n in owed if n.task_id == self.task_id]

    def entry(self, day: date, event: str, people: int) -> None:
        with Session(self.engine) as s:
            task = s.get(Task, self.task_id)
            assert task is not None
            submit_answer(
                session=s,
                task=task,
                values={"event": event, "people": str(people)},
                files=[],
                by=HEAD,
                settings=self.settings,
                now=self.at(day),
            )
            s.commit()

    def give_back(self, moment: datetime, reason: str, new_due: date) -> None:
        with Session(self.engine) as s:
            task = s.get(Task, self.task_id)
            assert task is not None
            return_task(
                session=s,
                task=task,
                reason=reason,
                new_due=new_due,
                admin_email="metodist@imcso.example",
                settings=self.settings,
                now=moment,
            )
            s.commit()

    def task(self) -> Task:
        with Session(self.engine) as s:
            task = s.get(Task, self.task_id)
            assert task is not None
            return task

    def answer_page(self, now: datetime) -> str:
        with Session(self.engine) as s:
            task = s.get(Task, self.task_id)
            assert task is not None
            url = issue_task_link(
                session=s, task=task, recipient=HEAD, settings=self.settings, now=now
            )
            s.commit()
        client = TestClient(create_app(self.settings, self.engine, lambda: now), base_url=BASE)
        response = client.get(url.removeprefix(self.settings.portal_url))
        assert response.status_code == 200
        return str(response.text)

    def nudges_sent(self) -> list[int]:
        with Session(self.engine) as s:
            return list(
                s.exec(
                    select(Notice.step)
                    .where(Notice.task_id == self.task_id, Notice.kind == NoticeKind.nudge)
                    .order_by(col(Notice.step))
                ).all()
            )


@pytest.fixture
def journal(settings: Settings, engine: Engine) -> Journal:
    """Item 12 (a journal, "постоянно") for school № 1's head, opened 01.09.2022."""
    opened = datetime(2022, 9, 1, 7, tzinfo=settings.tz)
    with Session(engine, expire_on_commit=False) as s:
        item = an_item(s, a_roadmap(s), like=ITEM_12, evidence_spec=SPEC)
        org = a_school(s, 1, curator=False, head_email=HEAD)
        occ = an_occurrence(s, item, due=JOURNAL_DUE, continuous=True, opened_at=opened)
        task = a_task(s, occ, org, role=Role.head)
        s.commit()
        assert task.id is not None and item.id is not None
        return Journal(settings, engine, task.id, item.id)


def test_returning_one_entry_reopens_that_entry_and_keeps_the_journal(journal: Journal) -> None:
    assert journal.tick(date(2022, 9, 1)) == [(NoticeKind.opened, 0)]
    journal.entry(date(2022, 9, 20), "Заседание совета наставников", 5)
    assert journal.tick(date(2022, 10, 3)) == []  # the quarter had an entry
    assert journal.tick(date(2023, 1, 9)) == [(NoticeKind.nudge, 2)]  # Oct-Dec had none
    journal.entry(date(2023, 1, 10), "Открытый урок наставника", 7)

    journal.give_back(journal.at(date(2023, 1, 11)), "Нет списка участников", date(2023, 1, 20))
    task = journal.task()
    assert task.status is TaskStatus.returned
    assert task.due == JOURNAL_DUE  # the journal's due date stays
    with Session(journal.engine) as s:
        notes = {
            e.version: (e.review_note, e.reopened_until)
            for e in s.exec(select(Evidence).where(Evidence.task_id == journal.task_id)).all()
        }
        returned = s.exec(
            select(TaskEvent).where(
                TaskEvent.task_id == journal.task_id, TaskEvent.kind == TaskEventKind.returned
            )
        ).one()
        returned_notices = s.exec(
            select(Notice.step).where(
                Notice.task_id == journal.task_id, Notice.kind == NoticeKind.returned
            )
        ).all()
    # only that entry is reopened, with its own date
    assert notes == {1: ("", None), 2: ("Нет списка участников", date(2023, 1, 20))}
    assert returned.note.startswith("Нет списка участников")
    assert "Запись журнала № 2 от 10.01.2023" in returned.note
    assert "до 20.01.2023" in returned.note
    assert list(returned_notices) == [1]  # the head is told once
    # ... of that entry and its date, not of the journal's due date as a "new" one
    with Session(journal.engine) as s:
        told = s.exec(select(OutgoingEmail).where(OutgoingEmail.kind == "returned")).one()
    assert "исправить до 20.01.2023" in told.subject and "31.08.2023" not in told.subject
    for body in (told.text_body, told.html_body):
        assert "запись журнала № 2 от 10.01.2023" in body
        assert "Причина:" in body and "Нет списка участников" in body
        assert "исправленную запись до" in body and "20.01.2023" in body
        assert "дополните ответ до" not in body
    [ics] = told.attachments
    calendar = base64.b64decode(ics["content_b64"]).decode("utf-8")
    assert "DTSTART;VALUE=DATE:20230120" in calendar
    assert f"UID:task-{journal.task_id}-entry-2-due@" in calendar  # the journal's stays
    page = journal.answer_page(journal.at(date(2023, 1, 11), 11))
    assert "Центр вернул запись журнала № 2 от 10.01.2023 10:00 на доработку" in page
    assert "Внесите исправленную запись до 20.01.2023" in page
    assert "Срок:</strong> 31.08.2023" in page

    # a minute later, and on the following days: no "no entries this quarter" nudge
    assert journal.tick(date(2023, 1, 11)) == []
    assert journal.tick(date(2023, 1, 12)) == []
    assert journal.tick(date(2023, 1, 20)) == []  # the entry's own date: not late yet
    assert journal.task().due == JOURNAL_DUE

    journal.entry(date(2023, 1, 16), "Открытый урок наставника, список участников", 8)
    assert journal.task().status is TaskStatus.submitted
    assert journal.tick(date(2023, 4, 3)) == []  # entries in Jan-Mar
    assert journal.tick(date(2023, 7, 3)) == [(NoticeKind.nudge, 4)]  # Apr-Jun: none
    assert journal.tick(date(2023, 7, 4)) == []  # once
    assert journal.nudges_sent() == [2, 4]

    # the summary sums every entry of the journal and counts it answered in time
    with Session(journal.engine) as s:
        summary = build_summary(
            session=s,
            cycle=Cycle(2022),
            roadmap_start=date(2022, 4, 8),
            as_of=date(2023, 9, 1),
        )
    item = next(i for i in summary.items if i.number == 12)
    assert item.entries == 3
    assert (item.counts.asked, item.counts.on_time, item.counts.overdue) == (1, 1, 0)
    people = next(i for i in summary.indicators if i.field_name == "people")
    assert (people.total, people.reported, people.journal) == (20, 3, True)


def test_a_returned_entry_not_corrected_by_its_date_is_chased_once(journal: Journal) -> None:
    """The entry's own date passes with no corrected entry: one chase about that entry
    (not about the journal, which is not late), once; a later return is chased afresh."""
    journal.tick(date(2022, 9, 1))
    journal.entry(date(2022, 9, 20), "Заседание совета наставников", 5)
    journal.entry(date(2023, 1, 10), "Открытый урок наставника", 7)
    journal.give_back(journal.at(date(2023, 1, 11)), "Нет списка участников", date(2023, 1, 20))
    assert journal.tick(date(2023, 1, 20)) == []
    assert journal.tick(date(2023, 1, 23)) == [(NoticeKind.chase, 11)]  # the working day after
    assert journal.tick(date(2023, 1, 24)) == []
    assert journal.tick(date(2023, 2, 6)) == []  # once: no firmer chases for an entry
    with Session(journal.engine) as s:
        chase = s.exec(select(OutgoingEmail).where(OutgoingEmail.kind == "chase")).one()
    assert chase.subject.startswith(
        "Срок исправления записи журнала истёк: п. 12, запись № 2, срок был 20.01.2023 [ДК-12-"
    )
    for body in (chase.text_body, chase.html_body):
        assert "запись журнала № 2 от 10.01.2023" in body
        assert "нужно было внести до" in body and "20.01.2023" in body
        assert "Нет списка участников" in body
        assert "журнал ведётся до 31.08.2023" in body
        assert "Срок по задаче истёк" not in body and "переданы" not in body
    assert "<title>Срок исправления записи журнала истёк</title>" in chase.html_body
    assert chase.attachments == []  # no calendar entry for a date already past
    assert journal.task().due == JOURNAL_DUE

    # corrected: nothing more is owed; the corrected entry returned again is chased anew
    journal.entry(date(2023, 1, 25), "Открытый урок наставника, список участников", 8)
    assert journal.tick(date(2023, 1, 30)) == []
    journal.give_back(journal.at(date(2023, 1, 31)), "Нет подписи", date(2023, 2, 10))
    assert journal.tick(date(2023, 2, 10)) == []
    assert journal.tick(date(2023, 2, 13)) == [(NoticeKind.chase, 21)]
    with Session(journal.engine) as s:
        latest = s.exec(
            select(OutgoingEmail)
            .where(OutgoingEmail.kind == "chase")
            .order_by(col(OutgoingEmail.id).desc())
        ).first()
    assert latest is not None and "запись № 3" in latest.subject
    assert "Повторно" not in latest.subject


def test_a_return_counts_as_the_journals_last_activity_for_nudges() -> None:
    """The entry of December was returned in December: the quarter was not silent."""
    log = task_view(JOURNAL_VIEW, status=TaskStatus.returned, revision=1, due=JOURNAL_DUE)
    sent = {(NoticeKind.opened, 0)}
    policy = Policy()
    entries = [date(2022, 9, 20)]
    assert owed_steps(
        log, sent=sent, entry_days=entries, today=date(2023, 1, 9), policy=policy
    ) == [(NoticeKind.nudge, 2)]
    assert (
        owed_steps(
            log,
            sent=sent,
            entry_days=entries,
            return_days=[date(2022, 12, 15)],
            today=date(2023, 1, 9),
            policy=policy,
        )
        == []
    )
    # a nudge already sent for that quarter before the return is not sent again
    assert (
        owed_steps(
            log,
            sent=sent | {(NoticeKind.nudge, 2)},
            entry_days=entries,
            today=date(2023, 1, 10),
            policy=policy,
        )
        == []
    )


def test_an_entry_can_be_returned_only_while_it_waits_for_review(journal: Journal) -> None:
    journal.tick(date(2022, 9, 1))
    journal.entry(date(2022, 9, 20), "Заседание совета наставников", 5)
    journal.give_back(journal.at(date(2022, 9, 21)), "Нет протокола", date(2022, 9, 30))
    with pytest.raises(AnswerError) as refused:
        journal.give_back(journal.at(date(2022, 9, 22)), "Ещё раз", date(2022, 9, 30))
    assert "ждёт проверки" in refused.value.errors["task"]
    assert journal.task().revision == 1
