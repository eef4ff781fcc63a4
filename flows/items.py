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
from sqlmodel import Session

from domain.db import session_scope
from domain.progress import item_progress
from domain.roadmap import Roadmap, RoadmapItem
from domain.roadmap_file import slug_part
from domain.roadmaps import (
    RoadmapChoiceError,
    activate_if_new,
    activation_day,
    choose_roadmap,
    item_by_label,
    live_items,
    running_roadmaps,
)
from flows.context import local_day, moment, runtime
from flows.mailing import queue_owed_notices
from services.opening import open_item, unopened_windows


class UnknownItem(LookupError):
    pass


def load_item(
    session: Session, number: int | str, roadmap_key: str | None = None
) -> tuple[Roadmap, RoadmapItem]:
    """An item by its number as written, in the roadmap named (or the only one)."""
    try:
        roadmap = choose_roadmap(session, roadmap_key)
        return roadmap, item_by_label(session, roadmap, str(number))
    except RoadmapChoiceError as exc:
        raise UnknownItem(str(exc)) from None


def artifact_key(roadmap: Roadmap, item: RoadmapItem) -> str:
    """`item-209-od-2022-13`: artifact keys allow lowercase letters, digits and dashes."""
    return f"item-{slug_part(roadmap.key)}-{slug_part(item.label)}"


def activate_new_roadmaps(at: datetime) -> list[str]:
    """Tracking starts the first time this installation runs a roadmap: record it."""
    _, engine = runtime()
    with session_scope(engine) as session:
        fresh = activate_if_new(running_roadmaps(session), at)
        for roadmap in fresh:
            session.add(roadmap)
        return [r.key for r in fresh]


@task(retries=2, retry_delay_seconds=5, task_run_name="open-item-{item_number}")
def open_item_occurrences(
    item_number: str, at: datetime, roadmap_key: str | None = None
) -> dict[str, Any]:
    """Create the occurrence(s) and their tasks in one commit."""
    settings, engine = runtime()
    with session_scope(engine) as session:
        roadmap, item = load_item(session, item_number, roadmap_key)
        if roadmap.retired_at is not None:
            return {"occurrences": [], "tasks": 0, "retired": True}
        if roadmap.activated_at is None:
            activate_if_new([roadmap], at)
            session.add(roadmap)
        opened = open_item(
            session=session,
            item=item,
            roadmap_start=roadmap.order_date,
            now=at,
            today=local_day(at, settings),
            tracked_from=activation_day(roadmap, settings.tz),
        )
        return {
            "occurrences": [
                {"cycle": o.cycle, "opens": o.opens.isoformat(), "due": o.due.isoformat()}
                for o in opened.occurrences
            ],
            "tasks": opened.tasks,
        }


@task(task_run_name="publish-item-{item_number}")
def publish_item_progress(item_number: str, at: datetime, roadmap_key: str | None = None) -> float:
    return publish_progress(item_number, at, roadmap_key)


def publish_progress(item_number: int | str, at: datetime, roadmap_key: str | None = None) -> float:
    """Artifacts with stable keys per roadmap and item: the organisations' table,
    progress, an overview, each saying as of when."""
    settings, engine = runtime()
    today = local_day(at, settings)
    with session_scope(engine) as session:
        roadmap, item = load_item(session, item_number, roadmap_key)
        assert item.id is not None
        progress = item_progress(session=session, item_id=item.id, today=today, tz=settings.tz)
    key = artifact_key(roadmap, item)
    label = f"{roadmap.key}, мероприятие {item.label}"
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
        description=f"{label}: {window}; на {today:%d.%m.%Y}",
    )
    create_progress_artifact(
        key=f"{key}-progress",
        progress=round(100 * progress.share_done, 1),
        description=(
            f"{label}: выполнено {progress.done} из {progress.total}, "
            f"на проверке {progress.review} на {today:%d.%m.%Y}"
        ),
    )
    schedule_note = (
        f"нужны даты: {item.needs_dates_reason}" if item.needs_dates else item.schedule_text
    )
    create_markdown_artifact(
        key=f"{key}-overview",
        markdown=(
            f"## {item.label}. {item.title}\n\n"
            f"* **Дорожная карта:** {roadmap.title} ({roadmap.key})\n"
            f"* **Сроки:** {schedule_note}\n"
            f"* **Окно:** {window}\n"
            f"* **Ответственные:** {item.responsible}\n"
            f"* **Результат:** {item.expected_result}\n"
            f"* **Выполнено:** {progress.done} из {progress.total}; "
            f"на проверке: {progress.review}; "
            f"просрочено: {progress.overdue} (на {today:%d.%m.%Y})\n"
        ),
        description=f"{label} на {today:%d.%m.%Y}",
    )
    return progress.share_done


def item_run_name() -> str:
    """`item-13 · 2022/2023 · до 14.09.2022`: readable names in the runs list."""
    params = flow_run.parameters or {}
    number = params.get("item_number", "?")
    key = params.get("roadmap")
    at = params.get("at")
    prefix = f"item-{key}-{number}" if key else f"item-{number}"
    try:
        settings, engine = runtime()
        when = moment(at if isinstance(at, datetime) else None)
        with Session(engine) as session:
            roadmap, item = load_item(session, str(number), key)
        from domain.cycles import cycle_of
        from domain.opening import windows_open_by

        windows = windows_open_by(
            item,
            roadmap_start=roadmap.order_date,
            today=local_day(when, settings),
            tracked_from=activation_day(roadmap, settings.tz),
        )
        if windows:
            last = windows[-1]
            cycle = cycle_of(last.opens, roadmap.order_date).name
            return f"{prefix} · {cycle} · до {last.due:%d.%m.%Y}"
    except Exception:  # a name must never fail a run
        pass
    return prefix


@flow(name="item", flow_run_name=item_run_name, log_prints=True, persist_result=False)
def item_flow(
    item_number: str | int,
    at: datetime | None = None,
    notify: bool = True,
    roadmap: str | None = None,
) -> dict[str, Any]:
    """Open what is due for one roadmap item up to `at` (default: now) and show progress.

    `roadmap` is the roadmap's key (may be left out while the database holds one).
    Every run means "catch up to now": a skipped or late run loses nothing. With
    `notify` it also queues everything owed today (the new tasks' announcements among
    them, one email per person); scheduled runs leave that to the daily chase, which
    runs after them, so that a head whose school gets two items on one day gets one
    email, not two.
    """
    when = moment(at)
    label = str(item_number)
    result = open_item_occurrences(label, when, roadmap)
    if notify:
        result["notices"] = queue_owed_notices(when)
    result["share_done"] = publish_item_progress(label, when, roadmap)
    return result


def items_to_open(session: Session, today: date, tz: Any) -> list[tuple[str, str]]:
    """(roadmap key, item number) of the items of every running roadmap with a window
    open by `today` that is not opened yet."""
    found: list[tuple[str, str]] = []
    for roadmap in running_roadmaps(session):
        tracked = activation_day(roadmap, tz)
        for item in live_items(session, roadmap):
            if unopened_windows(
                session=session,
                item=item,
                roadmap_start=roadmap.order_date,
                today=today,
                tracked_from=tracked,
            ):
                found.append((roadmap.key, item.label))
    return found


def opened_key(roadmap_key: str, label: str, several: bool) -> str:
    return f"{roadmap_key}/{label}" if several else label


def open_due_items(at: datetime) -> dict[str, dict[str, Any]]:
    """Catch up on openings inside the calling flow (the tick, the daily chase): one
    `open-item-N` task run per item with a window open by `at` that is not opened yet;
    the caller then notifies once and brings the items' artifacts up to date. (A
    subflow per item cost a whole flow run each: most of a catch-up's time.) Roadmaps
    that have never run are activated at `at` first."""
    settings, engine = runtime()
    activate_new_roadmaps(at)
    with Session(engine) as session:
        due = items_to_open(session, local_day(at, settings), settings.tz)
        several = len(running_roadmaps(session)) > 1
    return {
        opened_key(key, label, several): open_item_occurrences(label, at, key) for key, label in due
    }
