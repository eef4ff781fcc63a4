"""`roadmap serve`: one deployment per roadmap item plus chase, outbox, summary, tick."""

from __future__ import annotations

from datetime import date
from typing import Any

from prefect.deployments.runner import RunnerDeployment
from prefect.schedules import Cron, Interval
from sqlmodel import Session, col, select

from config.settings import Settings
from domain.roadmap import RoadmapItem
from domain.roadmap_file import current_roadmap
from flows.chase import chase_flow
from flows.inbox import inbox_flow
from flows.items import item_flow
from flows.outbox import outbox_flow
from flows.schedules import item_schedules
from flows.summary import summary_flow
from flows.tick import tick_flow

OUTBOX_EVERY_SECONDS = 300
INBOX_EVERY_SECONDS = 300


def _deployment(flow: Any, **options: Any) -> RunnerDeployment:
    """`Flow.to_deployment` is sync-or-async; called from sync code it is sync."""
    deployment = flow.to_deployment(**options)
    assert isinstance(deployment, RunnerDeployment)
    return deployment


def build_deployments(
    *, session: Session, settings: Settings, today: date
) -> list[RunnerDeployment]:
    roadmap = current_roadmap(session)
    if roadmap is None:
        raise LookupError("no roadmap loaded: run `roadmap import-roadmap` first")
    tz = settings.timezone
    deployments: list[RunnerDeployment] = []
    items = session.exec(
        select(RoadmapItem)
        .where(RoadmapItem.roadmap_id == roadmap.id)
        .order_by(col(RoadmapItem.number))
    ).all()
    for item in items:
        schedules = item_schedules(item, roadmap_start=roadmap.order_date, today=today, timezone=tz)
        note = (
            f"НУЖНЫ ДАТЫ: {item.needs_dates_reason}. "
            if item.needs_dates
            else ("Окон впереди нет. " if not schedules else "")
        )
        deployments.append(
            _deployment(
                item_flow,
                name=item.slug,
                # the daily chase (09:00) announces what the item runs (07:00) open
                parameters={"item_number": item.number, "notify": False},
                schedules=schedules,
                tags=["roadmap", f"item-{item.number}"]
                + (["needs-dates"] if item.needs_dates else []),
                description=f"{note}{item.number}. {item.title} — сроки: {item.schedule_text}",
            )
        )
    deployments += [
        _deployment(
            chase_flow,
            name="daily-chase",
            schedules=[Cron("0 9 * * 1-5", timezone=tz)],
            tags=["roadmap"],
            description="Открытие пропущенного, письма дня (новые задачи, напоминания, "
            "просрочки, эскалации), сводка на панели: рабочие дни, 09:00",
        ),
        _deployment(
            outbox_flow,
            name="outbox-delivery",
            schedules=[Interval(OUTBOX_EVERY_SECONDS, timezone=tz)],
            tags=["roadmap"],
            description="Отправка писем из очереди",
        ),
        _deployment(
            summary_flow,
            name="yearly-summary",
            schedules=[Cron("0 9 1 9 *", timezone=tz)],
            tags=["roadmap"],
            description="Аналитическая справка после окончания учебного года",
        ),
        _deployment(
            tick_flow,
            name="catch-up",
            tags=["roadmap"],
            description="Догнать всё, что должно было произойти к указанному моменту",
        ),
    ]
    if settings.imap_host:
        deployments.append(
            _deployment(
                inbox_flow,
                name="inbox",
                schedules=[Interval(INBOX_EVERY_SECONDS, timezone=tz)],
                tags=["roadmap"],
                description="Ответы письмом: чтение почтового ящика центра (IMAP)",
            )
        )
    return deployments
