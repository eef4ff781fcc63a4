"""`roadmap orgs import FILE.csv` and `roadmap orgs list`: the organisations registry.

Messages are in Russian: the centre's administrators run these commands.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from sqlmodel import col, select

from cli.common import err_console, fail, no_traceback, settings_or_exit
from config.runtime import open_engine
from domain.db import session_scope
from domain.org_import import (
    COLUMNS,
    decode_csv_bytes,
    parse_organisations_csv,
    upsert_organisations,
)
from domain.organisations import Organisation
from domain.summary import ORG_KIND_LABELS

console = Console(highlight=False)

orgs_app = typer.Typer(
    help="Schools, kindergartens and other organisations with their heads and curators.",
    no_args_is_help=True,
)

IMPORT_HELP = "\n\n".join(
    [
        "Load or update organisations from a CSV file.",
        "The header is " + ",".join(COLUMNS) + " and optionally active. kind is school, "
        "kindergarten or extra (школа, детский сад/ДОУ, доп); curator_name and curator_email "
        "may be empty.",
        "active (optional column): yes/no, да/нет or 1/0; empty or no column means yes. An "
        "organisation imported with active=no (нет, 0) is retired: it gets no new tasks (tasks "
        "it already has stay). Importing it again with active=yes brings it back. "
        "Organisations missing from the file are left as they are (listed as a note).",
        "Rows match the organisations already loaded by name, ignoring letter case, ё/е, extra "
        'spaces, the kind of quotes («» or "") and "№1"/"№ 1"; a match is updated and takes '
        "the file's spelling of the name.",
        "UTF-8 (BOM ok) or Windows-1251; ',' or ';'. Bad rows are rejected with the row, the "
        "column and what to fix (in Russian); good rows are kept. Exit 1 if any row was "
        "rejected.",
    ]
)


def _read_error(file: Path, exc: OSError) -> str:
    if isinstance(exc, FileNotFoundError):
        return f"{file}: файл не найден; проверьте путь"
    if isinstance(exc, IsADirectoryError):
        return f"{file}: это папка, а не файл; укажите CSV-файл"
    if isinstance(exc, PermissionError):
        return f"{file}: нет прав на чтение файла"
    return f"{file}: не удаётся прочитать файл ({exc.strerror or exc})"


def _short_names(names: list[str], short: dict[str, str]) -> str:
    return ", ".join(short.get(name, name) for name in names)


@orgs_app.command("import", help=IMPORT_HELP)
@no_traceback
def import_command(
    file: Annotated[
        Path,
        typer.Argument(
            help="CSV with the header " + ",".join(COLUMNS) + "[,active]; see above.",
            show_default=False,
        ),
    ],
) -> None:
    settings = settings_or_exit()
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise fail(_read_error(file, exc)) from None
    rows, errors = parse_organisations_csv(decode_csv_bytes(data))
    for error in errors:
        err_console.print(
            f"[red]отклонена[/red] {escape(file.name)}, {escape(str(error))}",
            highlight=False,
            soft_wrap=True,
        )
    if errors and not rows and errors[0].line == 1:
        raise fail(f"{file}: ничего не загружено")
    engine = open_engine(settings)
    try:
        with session_scope(engine) as session:
            counts = upsert_organisations(session=session, rows=rows, now=datetime.now(UTC))
            short = {
                org.name: org.short_name or org.name for org in session.exec(select(Organisation))
            }
    finally:
        engine.dispose()
    counts.rejected = len(errors)
    table = Table(title=f"Организации из {file.name}")
    for name in ("добавлено", "обновлено", "без изменений", "отклонено"):
        table.add_column(name, justify="right")
    table.add_row(
        str(counts.created), str(counts.updated), str(counts.unchanged), str(counts.rejected)
    )
    console.print(table)
    notes = (
        ("deactivated", "Выведены из работы (новых заданий не получат)"),
        ("reactivated", "Снова действуют"),
    )
    for outcome, label in notes:
        names = counts.names.get(outcome, [])
        if names:
            console.print(f"{label}: {len(names)} — {escape(_short_names(names, short))}")
    absent = counts.names.get("absent", [])
    if absent and not errors:
        console.print(
            f"Нет в файле, остаются действующими: {escape(_short_names(absent, short))}. "
            "Чтобы вывести организацию из работы, загрузите её со значением active=нет."
        )
    if errors:
        console.print(
            f"Отклонено строк: {len(errors)}; исправьте отклонённые строки и загрузите файл "
            "ещё раз (уже загруженные строки не задвоятся)."
        )
        raise typer.Exit(1)


@orgs_app.command("list")
@no_traceback
def list_command(
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list.")] = False,
) -> None:
    """Print the organisations and their contacts."""
    settings = settings_or_exit()
    engine = open_engine(settings)
    try:
        with session_scope(engine) as session:
            orgs = list(session.exec(select(Organisation).order_by(col(Organisation.id))))
    finally:
        engine.dispose()
    if as_json:
        data = [
            {
                "id": org.id,
                **{name: str(getattr(org, name)) for name in COLUMNS},
                "active": org.active,
            }
            for org in orgs
        ]
        typer.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    if not orgs:
        console.print("Организаций пока нет: загрузите их командой `roadmap orgs import FILE.csv`.")
        return
    table = Table(title=f"Организации ({len(orgs)})")
    for name in (
        "id",
        "краткое название",
        "тип",
        "руководитель",
        "e-mail руководителя",
        "куратор",
        "e-mail куратора",
    ):
        table.add_column(name)
    for org in orgs:
        table.add_row(
            str(org.id),
            escape(org.short_name) + ("" if org.active else " (не действует)"),
            ORG_KIND_LABELS.get(org.kind, org.kind.value),
            escape(org.head_name),
            escape(org.head_email),
            escape(org.curator_name),
            escape(org.curator_email),
        )
    console.print(table)


def register(app: typer.Typer) -> None:
    """Add `orgs import` and `orgs list`."""
    app.add_typer(orgs_app, name="orgs")
