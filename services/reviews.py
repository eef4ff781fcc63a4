"""The centre's review of an answer: accepting it, returning it with a reason and a new
due date, revoking a task's links and passing a fresh one on. The admin pages, the JSON
API and the demo call these; none of them commits."""

from __future__ import annotations

from datetime import date, datetime

from sqlmodel import Session

from config.settings import Settings
from domain import lifecycle
from domain.enums import NoticeKind, TaskEventKind
from domain.formatting import local_date, ru_date
from domain.notices import OwedNotice
from domain.tasks import Occurrence, Task, TaskEvent, change_status
from notifications.outbox import queue_notices
from services.answers import LONG_TEXT_MAX, AnswerError, latest_evidence, task_recipient
from services.links import issue_task_link, revoke_links


def accept_task(*, session: Session, task: Task, admin_email: str, now: datetime) -> None:
    """The centre accepts the latest answer. Does not commit."""
    assert task.id is not None
    if not lifecycle.in_review(task.status):
        raise AnswerError({"task": "Принять можно только задачу, ответ на которую ждёт проверки."})
    event = change_status(task, event=TaskEventKind.accepted, actor=admin_email, now=now)
    task.accepted_at = now
    session.add(task)
    session.add(event)
    session.flush()


def return_task(
    *,
    session: Session,
    task: Task,
    reason: str,
    new_due: date,
    admin_email: str,
    settings: Settings,
    now: datetime,
) -> None:
    """The centre sends the answer back with a reason and a new due date, and the
    recipient is told. Does not commit."""
    assert task.id is not None
    errors: dict[str, str] = {}
    if not lifecycle.in_review(task.status):
        errors["task"] = "Вернуть можно только задачу, ответ на которую ждёт проверки."
    reason = reason.strip()
    if not reason:
        errors["reason"] = "Напишите, что нужно исправить."
    elif len(reason) > LONG_TEXT_MAX:
        errors["reason"] = f"Слишком длинный текст: не больше {LONG_TEXT_MAX} знаков."
    if new_due <= local_date(now, settings.tz):
        errors["new_due"] = "Новый срок должен быть позже сегодняшнего дня."
    if errors:
        raise AnswerError(errors)

    occurrence = session.get(Occurrence, task.occurrence_id)
    if occurrence is None:
        raise LookupError(f"task {task.id}: occurrence {task.occurrence_id} is missing")
    evidence = latest_evidence(session=session, task_id=task.id)
    note = reason
    if occurrence.continuous and evidence is not None:
        # A journal is its entries: the returned entry is reopened with its own date;
        # the journal keeps its due date (and its nudges count from this return).
        note = (
            f"{reason}\nЗапись журнала № {evidence.version} от "
            f"{ru_date(local_date(evidence.submitted_at, settings.tz))} возвращена: "
            f"исправленную запись внесите до {ru_date(new_due)}."
        )
    event = change_status(task, event=TaskEventKind.returned, actor=admin_email, now=now, note=note)
    if not occurrence.continuous:
        task.due = new_due
    task.revision += 1
    task.accepted_at = None
    session.add(task)
    if evidence is not None:
        evidence.review_note = reason
        if occurrence.continuous:
            evidence.reopened_until = new_due
        session.add(evidence)
    session.add(event)
    session.flush()
    recipient, cc = task_recipient(
        session=session, task=task, settings=settings, on_day=local_date(now, settings.tz)
    )
    queue_notices(
        session=session,
        owed=[
            OwedNotice(
                task_id=task.id,
                kind=NoticeKind.returned,
                step=task.revision,
                on_day=local_date(now, settings.tz),
                recipient=recipient,
                cc=cc,
            )
        ],
        settings=settings,
        now=now,
    )


def revoke_task_links(*, session: Session, task_id: int, admin_email: str, now: datetime) -> int:
    """Revoke every live link to a task and record it in the task's history; returns how
    many were revoked. Does not commit."""
    count = revoke_links(session=session, task_id=task_id, now=now)
    session.add(
        TaskEvent(
            task_id=task_id,
            at=now,
            kind=TaskEventKind.link_revoked,
            actor=admin_email,
            note=f"отозвано ссылок: {count}",
        )
    )
    return count


def reissue_task_link(*, session: Session, task: Task, settings: Settings, now: datetime) -> str:
    """The recipient's current link to a task (a new one after a revocation), for an
    administrator to pass on. Does not commit."""
    recipient, _cc = task_recipient(
        session=session, task=task, settings=settings, on_day=local_date(now, settings.tz)
    )
    return issue_task_link(
        session=session, task=task, recipient=recipient, settings=settings, now=now, reissue=True
    )
