"""`roadmap serve`: one deployment per roadmap item plus chase, outbox, summary, tick."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from prefect.deployments.runner import RunnerDeployment
from prefect.schedules import Cron, Interval, RRule, Schedule
from sqlmodel import Session

from config.settings import Settings
from domain.calendar import RUSSIAN_CALENDAR, WorkingCalendar
from domain.roadmap_file import slug_part
from domain.roadmaps import activation_day, live_items, running_roadmaps
from flows.chase import chase_flow
from flows.inbox import inbox_flow
from flows.items import item_flow
from flows.outbox import outbox_flow
from flows.schedules import HORIZON_YEARS, item_schedules
from flows.summary import summary_flow
from flows.tick import tick_flow

OUTBOX_EVERY_SECONDS = 300
INBOX_EVERY_SECONDS = 300


def _deployment(flow: Any, **options: Any) -> RunnerDeployment:
    """`Flow.to_deployment` is sync-or-async; called from sync code it is sync."""
    deployment = flow.to_deployment(**options)
    assert isinstance(deployment, RunnerDeployment)
    return deployment


def chase_schedules(
    *, today: date, timezone: str, calendar: WorkingCalendar = RUSSIAN_CALENDAR
) -> list[Schedule]:
    """Weekdays at 09:00 (a weekday holiday run finds nothing owed), plus the transferred
    working Saturdays ahead as exact dates: the production calendar's working days."""
    schedules: list[Schedule] = [Cron("0 9 * * 1-5", timezone=timezone)]
    ahead = calendar.working_weekends(today, today + timedelta(days=366 * HORIZON_YEARS))
    if ahead:
        lines = [f"DTSTART:{ahead[0]:%Y%m%d}T090000", "RRULE:FREQ=DAILY;COUNT=1"]
        if ahead[1:]:
            lines.append("RDATE:" + ",".join(f"{d:%Y%m%d}T090000" for d in ahead[1:]))
        schedules.append(RRule("\n".join(lines), timezone=timezone))
    return schedules


def build_deployments(
    *, session: Session, settings: Settings, today: date
) -> list[RunnerDeployment]:
    roadmaps = running_roadmaps(session)
    if not roadmaps:
        raise LookupError(
            "в базе нет действующей дорожной карты: загрузите её (roadmap import-roadmap ФАЙЛ)"
        )
    tz = settings.timezone
    deployments: list[RunnerDeployment] = []
    for roadmap in roadmaps:
        key = slug_part(roadmap.key)
        start = max(today, activation_day(roadmap, settings.tz) or today)
        for item in live_items(session, roadmap):
            schedules = item_schedules(
                item, roadmap_start=roadmap.order_date, today=start, timezone=tz
            )
            note = (
                f"НУЖНЫ ДАТЫ: {item.needs_dates_reason}. "
                if item.needs_dates
                else ("Окон впереди нет. " if not schedules else "")
            )
            deployments.append(
                _deployment(
                    item_flow,
                    name=f"item-{key}-{slug_part(item.label)}",
                    # the daily chase (09:00) announces what the item runs (07:00) open
                    parameters={"item_number": item.label, "notify": False, "roadmap": roadmap.key},
                    schedules=schedules,
                    tags=["roadmap", f"roadmap-{key}", f"item-{slug_part(item.label)}"]
                    + (["needs-dates"] if item.needs_dates else []),
                    description=(
                        f"{note}{roadmap.title} ({roadmap.key}), {item.label}. {item.title} — "
                        f"сроки: {item.schedule_text}"
                    ),
                )
            )
    deployments += [
        _deployment(
            chase_flow,
            name="daily-chase",
            schedules=chase_schedules(today=today, timezone=tz),
            tags=["roadmap"],
            description="Открытие пропущенного, письма дня (новые задачи, напоминания, "
            "просрочки, эскалации), сводка на панели: рабочие дни (и рабочие субботы "
            "производственного календаря), 09:00",
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
