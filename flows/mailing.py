"""The day's notices queued as outbox rows: one email per person, none before morning."""

from __future__ import annotations

from datetime import datetime, time

from prefect import task
from sqlalchemy import Engine

from config.settings import Settings
from domain.db import session_scope
from flows.context import local_day, policy, runtime
from notifications.outbox import queue_day

SEND_FROM = time(8, 0)  # the day's mail leaves no earlier than this


def queue_owed(*, settings: Settings, engine: Engine, at: datetime) -> dict[str, int]:
    """Everything owed on `at`'s day, queued a chunk of recipients at a time, each chunk
    committed (a retry, or the next run, writes what a failure left): the task's body,
    and what the tick calls directly."""
    today = local_day(at, settings)
    with session_scope(engine) as session:
        # Everything here is owed today; a catch-up run in the small hours holds its
        # mail until the working morning rather than waking anybody.
        queued = queue_day(
            session=session,
            today=today,
            policy=policy(settings),
            settings=settings,
            now=at,
            send_at=datetime.combine(today, SEND_FROM, tzinfo=settings.tz),
        )
    return {**queued.owed, "emails": queued.emails}


@task(retries=2, retry_delay_seconds=5)
def queue_owed_notices(at: datetime) -> dict[str, int]:
    """Everything owed today (openings to announce, reminders, chases, escalations,
    nudges), queued as outbox rows: one email per person per day."""
    settings, engine = runtime()
    return queue_owed(settings=settings, engine=engine, at=at)
