"""`roadmap orgs import FILE`, `list`, `deactivate NAME`, `activate NAME`, `deputy NAME`:
the registry.

Messages are in Russian: the centre's administrators run these commands.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, col, select

from cli.common import err_console, fail, no_traceback, settings_or_exit
from config.runtime import open_engine
from config.settings import Settings
from domain import lifecycle
from domain.db import session_scope
from domain.deputies import BY_CLI, DeputyError, deputy_of, read_deputy
from domain.formatting import local_time
from domain.org_import import (
    COLUMNS,
    RUSSIAN_COLUMNS,
    find_organisations,
    read_organisations,
    set_active,
    upsert_organisations,
)
from domain.organisations import Organisation
from domain.summary import ORG_KIND_LABELS
from domain.tasks import Task
from services.deputies import clear_deputy, set_deputy, shown_changes

console = Console(highlight=False)

orgs_app = typer.Typer(
    help="Schools, kindergartens and other organisations with their heads and curators.",
    no_args_is_help=True,
)

IMPORT_HELP = "\n\n".join(
    [
        "Load or update organisations from an Excel workbook (.xlsx) or a CSV file.",
        "Columns, in English or Russian (any letter case and spacing; the header may sit "
        "below a title row): "
        + ", ".join(f"{c} ({RUSSIAN_COLUMNS[c]})" for c in COLUMNS)
        + ", and optionally active (Действует). kind is school, kindergarten or extra (школа, "
        "детский сад/ДОУ, доп. образование); without a kind column it is told from the name "
        "(СОШ, гимназия…: school; д/с, ДОУ: kindergarten; ДО, ДДТ, ДЮСШ: extra). curator_name "
        "and curator_email may be empty. Other columns are ignored with a warning.",
        "active (optional column): yes/no, да/нет or 1/0; empty or no column means yes. An "
        "organisation imported with active=no (нет, 0) is retired: it gets no new tasks (tasks "
        "it already has stay). Importing it again with active=yes brings it back. "
        "Organisations missing from the file are left as they are (listed as a note); "
        "`roadmap orgs deactivate NAME` retires one without a file.",
        "Rows match the organisations already loaded by name, ignoring letter case, ё/е, extra "
        'spaces, the kind of quotes («» or "") and "№1"/"№ 1"; a match is updated and takes '
        "the file's spelling of the name.",
        "CSV: UTF-8 (BOM ok), UTF-16 (Excel's Unicode text) or Windows-1251; ',', ';' or tab. "
        "Bad rows (empty required cells, bad addresses, control characters, overlong cells) "
        "are rejected with the row, the column and what to fix (in Russian); good rows are "
        "kept. Exit 1 if any row was rejected.",
    ]
)


def _read_error(file: Path, exc: OSError) -> str:
    if isinstance(exc, FileNotFoundError):
        return f"{file}: файл не найден; проверьте путь"
    if isinstance(exc, IsADirectoryError):
        return f"{file}: это папка, а не файл; укажите файл .xlsx или .csv"
    if isinstance(exc, PermissionError):
        return f"{file}: нет прав на чтение файла"
    return f"{file}: не удаётся прочитать файл ({exc.strerror or exc})"


def _short_names(names: list[str], short: dict[str, str]) -> str:
    return ", ".join(short.get(name, name) for name in names)


def _database_error(exc: SQLAlchemyError, opening: bool) -> typer.Exit:
    """A database failure as one Russian line: no SQL, no stack trace."""
    reason = type(getattr(exc, "orig", None) or exc).__name__
    what = (
        "не удаётся открыть базу данных"
        if opening
        else "база данных не приняла изменения; ничего не сохранено"
    )
    return fail(
        f"{what} ({reason}). Проверьте ROADMAP_DATABASE_URL и доступ к базе (подробности: "
        "запустите с ROADMAP_DEBUG=1)"
    )


@contextmanager
def _database(settings: Settings) -> Iterator[Session]:
    """A session on the configured database that commits on success; database errors
    become a message."""
    debug = bool(os.environ.get("ROADMAP_DEBUG"))
    try:
        engine = open_engine(settings)
    except SQLAlchemyError as exc:
        if debug:
            raise
        raise _database_error(exc, opening=True) from None
    try:
        with session_scope(engine) as session:
            yield session
    except SQLAlchemyError as exc:
        if debug:
            raise
        raise _database_error(exc, opening=False) from None
    finally:
        engine.dispose()


@orgs_app.command("import", help=IMPORT_HELP)
@no_traceback
def import_command(
    file: Annotated[
        Path,
        typer.Argument(
            help="An .xlsx or .csv with the columns above (English or Russian names).",
            show_default=False,
        ),
    ],
) -> None:
    settings = settings_or_exit()
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise fail(_read_error(file, exc)) from None
    parsed = read_organisations(data, file.name)
    rows, errors = parsed.rows, parsed.errors
    if parsed.fatal:
        reason = "; ".join(str(e) for e in errors)
        raise fail(f"{escape(str(file))}: {escape(reason)}; ничего не загружено")
    if parsed.source:
        console.print(f"{escape(file.name)}: {escape(parsed.source)}")
    for warning in parsed.warnings:
        err_console.print(
            f"[yellow]внимание[/yellow] {escape(file.name)}: {escape(warning)}",
            highlight=False,
            soft_wrap=True,
        )
    for error in errors:
        err_console.print(
            f"[red]отклонена[/red] {escape(file.name)}, {escape(str(error))}",
            highlight=False,
            soft_wrap=True,
        )
    with _database(settings) as session:
        counts = upsert_organisations(session=session, rows=rows, now=datetime.now(UTC))
        short = {org.name: org.short_name or org.name for org in session.exec(select(Organisation))}
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
            "Чтобы вывести организацию из работы: `roadmap orgs deactivate НАЗВАНИЕ` или "
            "загрузите её со значением active=нет."
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
    with _database(settings) as session:
        orgs = list(session.exec(select(Organisation).order_by(col(Organisation.id))))
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
        console.print(
            "Организаций пока нет: загрузите их командой `roadmap orgs import ФАЙЛ.xlsx` "
            "(или .csv)."
        )
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


def _set_active(name: str, active: bool) -> None:
    settings = settings_or_exit()
    with _database(settings) as session:
        orgs = list(session.exec(select(Organisation).order_by(col(Organisation.id))))
        found = find_organisations(orgs, name)
        if not found:
            raise fail(
                f"организация «{escape(name)}» не найдена ни по наименованию, ни по краткому "
                "наименованию; список: `roadmap orgs list`"
            )
        if len(found) > 1:
            names = "; ".join(f"{o.name} (id {o.id})" for o in found)
            raise fail(
                f"«{escape(name)}» подходит нескольким организациям: {escape(names)}; "
                "укажите полное наименование или id"
            )
        org = found[0]
        label = escape(org.short_name or org.name)
        if not set_active(session=session, org=org, active=active, now=datetime.now(UTC)):
            state = "и так действует" if active else "уже выведена из работы"
            console.print(f"{label} {state}; ничего не изменено.")
            return
        open_tasks = len(
            list(
                session.exec(
                    select(Task.id).where(
                        Task.organisation_id == org.id,
                        col(Task.status).in_(lifecycle.WAITING),
                    )
                )
            )
        )
    if active:
        console.print(f"{label} снова действует: новые задания будут открываться и для неё.")
        return
    console.print(
        f"{label} выведена из работы: новых заданий не получит; её задания, ответы и письма "
        f"сохранены (открытых заданий: {open_tasks}). Вернуть: `roadmap orgs activate`."
    )


@orgs_app.command("deactivate")
@no_traceback
def deactivate_command(
    name: Annotated[str, typer.Argument(help="Full or short name (or id) of the organisation.")],
) -> None:
    """Take an organisation that closed or merged out of new work; its history stays."""
    _set_active(name, active=False)


@orgs_app.command("activate")
@no_traceback
def activate_command(
    name: Annotated[str, typer.Argument(help="Full or short name (or id) of the organisation.")],
) -> None:
    """Bring a deactivated organisation back into new work."""
    _set_active(name, active=True)


def _one_org(session: Session, name: str) -> Organisation:
    orgs = list(session.exec(select(Organisation).order_by(col(Organisation.id))))
    found = find_organisations(orgs, name)
    if not found:
        raise fail(
            f"организация «{escape(name)}» не найдена ни по наименованию, ни по краткому "
            "наименованию; список: `roadmap orgs list`"
        )
    if len(found) > 1:
        names = "; ".join(f"{o.name} (id {o.id})" for o in found)
        raise fail(
            f"«{escape(name)}» подходит нескольким организациям: {escape(names)}; "
            "укажите полное наименование или id"
        )
    return found[0]


@orgs_app.command("deputy")
@no_traceback
def deputy_command(
    name: Annotated[str, typer.Argument(help="Full or short name (or id) of the organisation.")],
    deputy_name: Annotated[str, typer.Option("--name", help="The deputy's full name (ФИО).")] = "",
    email: Annotated[str, typer.Option("--email", help="The deputy's email address.")] = "",
    from_day: Annotated[
        str, typer.Option("--from", help="First day, ДД.ММ.ГГГГ or YYYY-MM-DD (inclusive).")
    ] = "",
    until_day: Annotated[
        str, typer.Option("--until", help="Last day, ДД.ММ.ГГГГ or YYYY-MM-DD (inclusive).")
    ] = "",
    clear: Annotated[
        bool, typer.Option("--clear", help="Remove the deputy: mail goes to the head again.")
    ] = False,
) -> None:
    """Name the head's deputy for a period (task mail then goes to the deputy, head in
    copy), or --clear it; without options, print the current deputy and its history."""
    settings = settings_or_exit()
    now = datetime.now(UTC)
    given = any(v.strip() for v in (deputy_name, email, from_day, until_day))
    if clear and given:
        raise fail("укажите либо --clear, либо --name/--email/--from/--until, но не вместе")
    with _database(settings) as session:
        org = _one_org(session, name)
        label = escape(org.short_name or org.name)
        assert org.id is not None
        if clear:
            change = clear_deputy(session, org, by=BY_CLI, actor=_operator(), now=now)
            if change is None:
                console.print(f"{label}: заместитель не был назначен; ничего не изменено.")
            else:
                console.print(f"{label}: заместитель снят, задачи снова приходят руководителю.")
            return
        if not given:
            deputy = deputy_of(org)
            if deputy is None:
                console.print(f"{label}: заместитель не назначен.")
            else:
                console.print(
                    f"{label}: заместитель {escape(deputy.name)} <{escape(deputy.email)}>, "
                    f"с {deputy.from_day:%d.%m.%Y} по {deputy.until_day:%d.%m.%Y}."
                )
            for row in shown_changes(session, org.id):
                console.print(
                    f"  {local_time(row.at, settings.tz)} {escape(row.who)}: было — "
                    f"{escape(row.before)}; стало — {escape(row.after)}"
                )
            return
        try:
            deputy = read_deputy(
                org, name=deputy_name, email=email, from_text=from_day, until_text=until_day
            )
        except DeputyError as exc:
            options = {"name": "--name", "email": "--email", "from": "--from", "until": "--until"}
            for key, message in exc.errors.items():
                err_console.print(f"{options.get(key, key)}: {escape(message)}")
            raise typer.Exit(1) from None
        change = set_deputy(session, org, deputy, by=BY_CLI, actor=_operator(), now=now)
        if change is None:
            console.print(f"{label}: этот заместитель уже назначен; ничего не изменено.")
            return
        console.print(
            f"{label}: заместитель {escape(deputy.name)} <{escape(deputy.email)}> с "
            f"{deputy.from_day:%d.%m.%Y} по {deputy.until_day:%d.%m.%Y} включительно: "
            "на эти дни письма о задачах идут ему, руководителю — копии."
        )


def _operator() -> str:
    """Who ran the command, for the history (the system user's name)."""
    return os.environ.get("USER", "")[:254]


def register(app: typer.Typer) -> None:
    """Add `orgs import`, `list`, `deactivate`, `activate` and `deputy`."""
    app.add_typer(orgs_app, name="orgs")
