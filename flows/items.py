"""The item flow: open an item's occurrences (tasks + opening emails), show progress."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from prefect import flow, task
from prefect.artifacts import (
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
)
from prefect.runtime import flow_run
from sqlmodel import Session, col, select

from domain.db import session_scope
from domain.opening import open_item, unopened_windows
from domain.progress import item_progress
from domain.roadmap import Roadmap, RoadmapItem
from domain.roadmap_file import current_roadmap
from flows.context import local_day, moment, runtime
from flows.mailing import queue_owed_notices


class UnknownItem(LookupError):
    pass


def load_item(session: Session, number: int) -> tuple[Roadmap, RoadmapItem]:
    roadmap = current_roadmap(session)
    if roadmap is None:
        raise UnknownItem("no roadmap loaded: run `roadmap import-roadmap` first")
    item = session.exec(
        select(RoadmapItem).where(
            RoadmapItem.roadmap_id == roadmap.id, RoadmapItem.number == number
        )
    ).first()
    if item is None:
        raise UnknownItem(f"the roadmap has no item {number}")
    return roadmap, item


@task(retries=2, retry_delay_seconds=5, task_run_name="open-item-{item_number}")
def open_item_occurrences(item_number: int, at: datetime) -> dict[str, Any]:
    """Create the occurrence(s) and their tasks in one commit."""
    settings, engine = runtime()
    with session_scope(engine) as session:
        roadmap, item = load_item(session, item_number)
        opened = open_item(
            session=session,
            item=item,
            roadmap_start=roadmap.order_date,
            now=at,
            today=local_day(at, settings),
        )
        return {
            "occurrences": [
                {"cycle": o.cycle, "opens": o.opens.isoformat(), "due": o.due.isoformat()}
                for o in opened.occurrences
            ],
            "tasks": len(opened.tasks),
        }


@task(task_run_name="publish-item-{item_number}")
def publish_item_progress(item_number: int, at: datetime) -> float:
    return publish_progress(item_number, at)


def publish_progress(item_number: int, at: datetime) -> float:
    """Artifacts with stable keys: the organisations' table, progress, an overview."""
    settings, engine = runtime()
    today = local_day(at, settings)
    with session_scope(engine) as session:
        _, item = load_item(session, item_number)
        assert item.id is not None
        progress = item_progress(session=session, item_id=item.id, today=today, tz=settings.tz)
    key = f"item-{item_number}"
    occurrence = progress.occurrence
    window = (
        f"{occurrence.opens:%d.%m.%Y} – {occurrence.due:%d.%m.%Y} ({occurrence.cycle})"
        if occurrence
        else "ещё не открывалось"
    )
    create_table_artifact(
        key=f"{key}-status",
        table=[
            {
                "Организация": r.organisation,
                "Статус": r.status,
                "Срок": f"{r.due:%d.%m.%Y}",
                "Ответ": r.answered,
            }
            for r in progress.rows
        ],
        description=f"Мероприятие {item_number}: {window}",
    )
    create_progress_artifact(
        key=f"{key}-progress",
        progress=round(100 * progress.share_done, 1),
        description=f"Мероприятие {item_number}: выполнено {progress.done} из {progress.total}",
    )
    schedule_note = (
        f"нужны даты: {item.needs_dates_reason}" if item.needs_dates else item.schedule_text
    )
    create_markdown_artifact(
        key=f"{key}-overview",
        markdown=(
            f"## {item_number}. {item.title}\n\n"
            f"* **Сроки:** {schedule_note}\n"
            f"* **Окно:** {window}\n"
            f"* **Ответственные:** {item.responsible}\n"
            f"* **Результат:** {item.expected_result}\n"
            f"* **Выполнено:** {progress.done} из {progress.total}; "
            f"просрочено: {progress.overdue}\n"
        ),
        description=f"Мероприятие {item_number} на {today:%d.%m.%Y}",
    )
    return progress.share_done


def item_run_name() -> str:
    """`item-13 · 2022/2023 · до 14.09.2022`: readable names in the runs list."""
    params = flow_run.parameters or {}
    number = params.get("item_number", "?")
    at = params.get("at")
    try:
        settings, engine = runtime()
        when = moment(at if isinstance(at, datetime) else None)
        with Session(engine) as session:
            roadmap, item = load_item(session, int(number))
        from domain.cycles import cycle_of
        from domain.opening import windows_open_by

        windows = windows_open_by(
            item, roadmap_start=roadmap.order_date, today=local_day(when, settings)
        )
        if windows:
            last = windows[-1]
            cycle = cycle_of(last.opens, roadmap.order_date).name
            return f"item-{number} · {cycle} · до {last.due:%d.%m.%Y}"
    except Exception:  # a name must never fail a run
        pass
    return f"item-{number}"


@flow(name="item", flow_run_name=item_run_name, log_prints=True)
def item_flow(item_number: int, at: datetime | None = None, notify: bool = True) -> dict[str, Any]:
    """Open what is due for one roadmap item up to `at` (default: now) and show progress.

    Every run means "catch up to now": a skipped or late run loses nothing. With
    `notify` it also queues everything owed today (the new tasks' announcements among
    them, one email per person); scheduled runs leave that to the daily chase, which
    runs after them, so that a head whose school gets two items on one day gets one
    email, not two.
    """
    when = moment(at)
    result = open_item_occurrences(item_number, when)
    if notify:
        result["notices"] = queue_owed_notices(when)
    result["share_done"] = publish_item_progress(item_number, when)
    return result


def items_to_open(session: Session, today: date) -> list[int]:
    """Numbers of the items with a window open by `today` that is not opened yet."""
    roadmap = current_roadmap(session)
    if roadmap is None:
        return []
    items = session.exec(
        select(RoadmapItem)
        .where(RoadmapItem.roadmap_id == roadmap.id)
        .order_by(col(RoadmapItem.number))
    ).all()
    return [
        item.number
        for item in items
        if unopened_windows(
            session=session, item=item, roadmap_start=roadmap.order_date, today=today
        )
    ]


def open_due_items(at: datetime) -> dict[str, dict[str, Any]]:
    """Catch up on openings: one item flow (without notifying) per item with a window
    open by `at` that is not opened yet; the caller then notifies once."""
    settings, engine = runtime()
    with Session(engine) as session:
        numbers = items_to_open(session, local_day(at, settings))
    return {str(n): item_flow(n, at, notify=False) for n in numbers}
