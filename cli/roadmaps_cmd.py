"""Several roadmaps side by side: `roadmaps list`, `activate`, `export`, `load`, `retire`.

The database is the record; the YAML file is the editable export.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from sqlmodel import Session, col, func, select

from cli.common import err_console, fail, no_traceback, parse_date, settings_or_exit
from config.runtime import open_engine
from domain.db import session_scope
from domain.roadmap import Roadmap, RoadmapItem
from domain.roadmap_file import (
    RoadmapFile,
    RoadmapFileError,
    dump_roadmap_file,
    load_roadmap_file,
    roadmap_file_of,
)
from domain.roadmaps import RoadmapChoiceError, all_roadmaps, roadmap_by_key
from domain.tasks import Occurrence
from services.roadmap_setup import restart_tracking, sync_with_history

console = Console(highlight=False)
roadmaps_app = typer.Typer(help="The roadmaps in the database.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(roadmaps_app, name="roadmaps")
    app.command("activate")(activate_command)
    app.command("export")(export_command)
    app.command("load")(load_command)
    app.command("retire")(retire_command)


def _by_key(session: Session, key: str) -> Roadmap:
    try:
        return roadmap_by_key(session, key)
    except RoadmapChoiceError as exc:
        raise fail(str(exc), 2) from None


def write_text_file(output: Path, text: str) -> None:
    """Write a file whole or not at all (a temporary file renamed into place)."""
    import os

    output.parent.mkdir(parents=True, exist_ok=True)
    temporary = output.with_name(f".{output.name}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, output)


def _local(moment: datetime | None, tz: Any) -> str | None:
    return moment.astimezone(tz).isoformat() if moment else None


def roadmap_rows(session: Session, tz: Any) -> list[dict[str, Any]]:
    rows = []
    for roadmap in all_roadmaps(session):
        flags = session.exec(
            select(RoadmapItem.needs_dates).where(
                RoadmapItem.roadmap_id == roadmap.id, col(RoadmapItem.withdrawn).is_(False)
            )
        ).all()
        opened = session.exec(
            select(func.count())
            .select_from(Occurrence)
            .join(RoadmapItem, col(RoadmapItem.id) == Occurrence.item_id)
            .where(RoadmapItem.roadmap_id == roadmap.id)
        ).one()
        rows.append(
            {
                "key": roadmap.key,
                "title": roadmap.title,
                "order_number": roadmap.order_number,
                "order_date": roadmap.order_date.isoformat(),
                "activated_at": (
                    roadmap.activated_at.astimezone(tz).isoformat()
                    if roadmap.activated_at
                    else None
                ),
                "retired_at": (
                    roadmap.retired_at.astimezone(tz).isoformat() if roadmap.retired_at else None
                ),
                "items": len(flags),
                "needs_dates": sum(1 for flag in flags if flag),
                "occurrences_opened": int(opened or 0),
            }
        )
    return rows


@roadmaps_app.command("list")
@no_traceback
def list_command(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Every roadmap: key, title, order, activation, items, how many need dates."""
    settings = settings_or_exit()
    engine = open_engine(settings)
    with Session(engine) as session:
        rows = roadmap_rows(session, settings.tz)
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    table = Table("ключ", "название", "приказ", "отслеживается с", "пунктов", "нужны даты")
    for row in rows:
        order = f"№ {row['order_number']} от " if row["order_number"] else "от "
        order += datetime.fromisoformat(row["order_date"]).strftime("%d.%m.%Y")
        since = (
            datetime.fromisoformat(row["activated_at"]).strftime("%d.%m.%Y %H:%M")
            if row["activated_at"]
            else "не запускалась"
        )
        if row["retired_at"]:
            since += " (выведена)"
        table.add_row(
            row["key"],
            escape(row["title"][:60]),
            order,
            since,
            str(row["items"]),
            str(row["needs_dates"]),
        )
    console.print(table)
    if not rows:
        console.print("дорожных карт нет: загрузите приказ командой `roadmap import-roadmap FILE`")


@no_traceback
def activate_command(
    key: Annotated[str, typer.Argument(help="The roadmap's key", show_default=False)],
    from_: Annotated[
        str,
        typer.Option("--from", help="Tracking starts on this date, YYYY-MM-DD (default: now)"),
    ] = "",
) -> None:
    """Start tracking a roadmap: nothing due before the date is opened, chased or
    summarised; what is open on that date is opened and announced once."""
    settings = settings_or_exit()
    engine = open_engine(settings)
    at = (
        datetime.combine(parse_date(from_, "--from"), time(0, 0), tzinfo=settings.tz)
        if from_
        else datetime.now(UTC)
    )
    with session_scope(engine) as session:
        roadmap = _by_key(session, key)
        opened = session.exec(
            select(func.count())
            .select_from(Occurrence)
            .join(RoadmapItem, col(RoadmapItem.id) == Occurrence.item_id)
            .where(RoadmapItem.roadmap_id == roadmap.id, col(Occurrence.opened_at).is_not(None))
        ).one()
        previous = roadmap.activated_at
        # a move of a tracked roadmap's start is kept in its history
        restart_tracking(
            session, roadmap, at, who=CLI_ACTIVATE, now=datetime.now(UTC), tz=settings.tz
        )
    local = at.astimezone(settings.tz)
    console.print(f"дорожная карта {key}: отслеживание с {local:%d.%m.%Y %H:%M}")
    if previous is not None:
        console.print(f"  (было: с {previous.astimezone(settings.tz):%d.%m.%Y %H:%M})")
    if opened:
        err_console.print(
            f"[yellow]предупреждение:[/yellow] уже открыто сроков: {opened}; они остаются, "
            "новая дата действует для того, что откроется дальше",
            highlight=False,
        )


@no_traceback
def export_command(
    key: Annotated[str, typer.Argument(help="The roadmap's key", show_default=False)],
    output: Annotated[
        Path, typer.Option("-o", "--output", help="The YAML file to write", show_default=False)
    ],
) -> None:
    """Write a roadmap as the editable YAML file (`roadmap load` applies it again)."""
    settings = settings_or_exit()
    engine = open_engine(settings)
    with Session(engine) as session:
        data = roadmap_file_of(session=session, roadmap=_by_key(session, key))
    try:
        write_text_file(output, dump_roadmap_file(data))
    except OSError as exc:
        raise fail(f"не удаётся записать {output}: {exc.strerror or exc}") from None
    console.print(f"Записан файл {escape(str(output))}: {len(data.items)} пунктов")


CLI_WHO = "командная строка (roadmap load / import-roadmap)"
CLI_ACTIVATE = "командная строка (roadmap activate)"


def load_into_database(
    roadmap: RoadmapFile, *, settings: Any, now: datetime
) -> tuple[Roadmap, bool, int]:
    """Add or update a roadmap by key; (row, added, items)."""
    engine = open_engine(settings)
    with session_scope(engine) as session:
        added = session.exec(select(Roadmap.id).where(Roadmap.key == roadmap.key)).first() is None
        row = sync_with_history(
            session, roadmap, who=CLI_WHO, now=now, tz=settings.tz
        )  # what changes in a running roadmap is kept in its history
    return row, added, len(roadmap.items)


@no_traceback
def load_command(
    file: Annotated[Path, typer.Argument(help="An edited roadmap YAML", show_default=False)],
) -> None:
    """Apply an edited roadmap file: items matched by number, answers and history kept."""
    settings = settings_or_exit()
    try:
        roadmap = load_roadmap_file(file)
    except RoadmapFileError as exc:
        raise fail(f"{exc}\nфайл не загружен; исправьте указанные места") from None
    row, added, items = load_into_database(roadmap, settings=settings, now=datetime.now(UTC))
    verb = "добавлена" if added else "обновлена"
    console.print(f"дорожная карта {row.key} {verb}: пунктов {items}")
    if row.activated_at is None:
        console.print(
            f"  отслеживание ещё не начато: `roadmap activate {row.key} --from ГГГГ-ММ-ДД` "
            "(или первый запуск tick/serve начнёт его)"
        )


@no_traceback
def retire_command(
    key: Annotated[str, typer.Argument(help="The roadmap's key", show_default=False)],
) -> None:
    """Stop a roadmap opening new work; its tasks, answers and summaries stay."""
    settings = settings_or_exit()
    engine = open_engine(settings)
    with session_scope(engine) as session:
        roadmap = _by_key(session, key)
        roadmap.retired_at = datetime.now(UTC)
        session.add(roadmap)
    console.print(f"дорожная карта {key} выведена: новых задач не будет, история сохранена")
