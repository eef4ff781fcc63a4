"""The daily chase: reminders before the due date, chases after it, escalations."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from prefect import flow, task
from prefect.artifacts import create_table_artifact
from sqlmodel import col, select

from domain.calendar import RUSSIAN_CALENDAR
from domain.db import session_scope
from domain.progress import overdue_tasks
from domain.reminders import owed_notices
from domain.roadmap import RoadmapItem
from domain.tasks import Occurrence
from flows.context import local_day, moment, policy, run_name, runtime
from flows.items import publish_progress
from flows.mailing import queue_owed


@task(retries=2, retry_delay_seconds=5)
def queue_owed_notices(at: datetime) -> dict[str, int]:
    """Everything owed today, queued as outbox rows in one commit; counts by kind."""
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


@task
def publish_overdue(at: datetime) -> int:
    """Who is overdue on what, as a table on the Artifacts page."""
    settings, engine = runtime()
    today = local_day(at, settings)
    with session_scope(engine) as session:
        rows = overdue_tasks(session=session, today=today)
        titles = {i.id: i for i in session.exec(select(RoadmapItem)).all()}
        table = [
            {
                "Мероприятие": f"{titles[t.item_id].number}. {titles[t.item_id].title[:60]}",
                "Организация": org.short_name if org else "Методический центр",
                "Срок": f"{t.due:%d.%m.%Y}",
                "Просрочка, раб. дней": RUSSIAN_CALENDAR.working_days_between(t.due, today),
            }
            for t, org in rows
        ]
    create_table_artifact(
        key="chase-overdue",
        table=table,
        description=f"Просроченные задачи на {today:%d.%m.%Y}: {len(table)}",
    )
    return len(table)


@task
def refresh_item_progress(at: datetime) -> int:
    """Every opened item's artifacts again, so the dashboard shows answers as they come."""
    _, engine = runtime()
    with session_scope(engine) as session:
        numbers = session.exec(
            select(RoadmapItem.number)
            .join(Occurrence, col(Occurrence.item_id) == RoadmapItem.id)
            .distinct()
        ).all()
    for number in sorted(numbers):
        publish_progress(number, at)
    return len(numbers)


@flow(name="chase", flow_run_name=run_name("chase"), log_prints=True)
def chase_flow(at: datetime | None = None) -> dict[str, int]:
    """Run daily on working days; on a day off nothing is owed and nothing is sent."""
    when = moment(at)
    counts = queue_owed_notices(when)
    counts["overdue"] = publish_overdue(when)
    counts["items_published"] = refresh_item_progress(when)
    return counts
