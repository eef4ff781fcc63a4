"""The daily chase: reminders before the due date, chases after it, escalations."""

from __future__ import annotations

from datetime import datetime

from prefect import flow, task
from prefect.artifacts import create_table_artifact
from sqlmodel import col, select

from domain.calendar import RUSSIAN_CALENDAR
from domain.db import session_scope
from domain.progress import overdue_tasks
from domain.roadmap import Roadmap, RoadmapItem
from domain.tasks import Occurrence
from flows.context import local_day, moment, run_name, runtime
from flows.items import open_due_items, publish_progress
from flows.mailing import queue_owed_notices


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
                "Мероприятие": f"{titles[t.item_id].label}. {titles[t.item_id].title[:60]}",
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
        opened = session.exec(
            select(Roadmap.key, RoadmapItem.label, RoadmapItem.number)
            .join(RoadmapItem, col(RoadmapItem.roadmap_id) == Roadmap.id)
            .join(Occurrence, col(Occurrence.item_id) == RoadmapItem.id)
            .distinct()
        ).all()
    for key, label, _ in sorted(opened, key=lambda row: (row[0], row[2])):
        publish_progress(label, at, key)
    return len(opened)


@flow(name="chase", flow_run_name=run_name("chase"), log_prints=True, persist_result=False)
def chase_flow(at: datetime | None = None) -> dict[str, int]:
    """Daily on working days: open what a missed item run left unopened, announce the
    day's openings, remind, chase, escalate, nudge (one email per person), and refresh
    the dashboard. On a day off nothing is owed and nothing is sent."""
    when = moment(at)
    opened = open_due_items(when)
    counts = queue_owed_notices(when)
    counts["items_opened"] = len(opened)
    counts["overdue"] = publish_overdue(when)
    counts["items_published"] = refresh_item_progress(when)
    return counts
