"""Queueing owed notices as outbox rows, held until their working day's morning."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import date, datetime, time

from prefect import task
from sqlmodel import Session, col, select

from config.settings import Settings
from domain.db import session_scope
from domain.emails import Notice, OutgoingEmail
from domain.notices import OwedNotice
from domain.reminders import owed_notices
from flows.context import local_day, policy, runtime
from notifications.outbox import queue_notices

SEND_FROM = time(8, 0)  # messages owed on a later working day leave that morning


def queue_owed(
    *, session: Session, owed: Sequence[OwedNotice], settings: Settings, now: datetime
) -> list[OutgoingEmail]:
    """Queue `owed` in the caller's transaction; a notice owed on a later day (an
    opening on a Sunday) waits in the outbox until that working day."""
    emails = queue_notices(session=session, owed=owed, settings=settings, now=now)
    if not emails:
        return emails
    days: dict[int, date] = dict(
        session.exec(
            select(col(Notice.email_id), col(Notice.on_day)).where(
                col(Notice.email_id).in_([e.id for e in emails])
            )
        ).all()
    )
    for email in emails:
        day = days.get(email.id) if email.id is not None else None
        if day is None:
            continue
        not_before = datetime.combine(day, SEND_FROM, tzinfo=settings.tz)
        if not_before > now:
            email.next_attempt_at = not_before
            session.add(email)
    return emails


@task(retries=2, retry_delay_seconds=5)
def queue_owed_notices(at: datetime) -> dict[str, int]:
    """Everything owed today (openings to announce, reminders, chases, escalations,
    nudges), queued as outbox rows in one commit: one email per person per day."""
    settings, engine = runtime()
    today = local_day(at, settings)
    with session_scope(engine) as session:
        owed = owed_notices(
            session=session,
            today=today,
            policy=policy(settings),
            centre_email=settings.centre_email,
            tz=settings.tz,
        )
        emails = queue_owed(session=session, owed=owed, settings=settings, now=at)
    counts = Counter(n.kind.value for n in owed)
    return {**counts, "emails": len(emails)}
