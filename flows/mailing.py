"""The day's notices queued as outbox rows: one email per person, none before morning."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, time

from prefect import task
from sqlalchemy import Engine

from config.settings import Settings
from domain.db import session_scope
from domain.reminders import owed_notices
from flows.context import local_day, policy, runtime
from notifications.outbox import queue_notices

SEND_FROM = time(8, 0)  # the day's mail leaves no earlier than this


def queue_owed(*, settings: Settings, engine: Engine, at: datetime) -> dict[str, int]:
    """Everything owed on `at`'s day, queued in one commit: the task's body, and what
    the tick calls directly."""
    today = local_day(at, settings)
    with session_scope(engine) as session:
        owed = owed_notices(
            session=session,
            today=today,
            policy=policy(settings),
            centre_email=settings.centre_email,
            tz=settings.tz,
        )
        emails = queue_notices(session=session, owed=owed, settings=settings, now=at)
        # Everything here is owed today; a catch-up run in the small hours holds its
        # mail until the working morning rather than waking anybody.
        not_before = datetime.combine(today, SEND_FROM, tzinfo=settings.tz)
        for email in emails:
            if email.next_attempt_at < not_before:
                email.next_attempt_at = not_before
                session.add(email)
    counts = Counter(n.kind.value for n in owed)
    return {**counts, "emails": len(emails)}


@task(retries=2, retry_delay_seconds=5)
def queue_owed_notices(at: datetime) -> dict[str, int]:
    """Everything owed today (openings to announce, reminders, chases, escalations,
    nudges), queued as outbox rows in one commit: one email per person per day."""
    settings, engine = runtime()
    return queue_owed(settings=settings, engine=engine, at=at)
