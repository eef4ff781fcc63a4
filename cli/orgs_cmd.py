"""`roadmap orgs import FILE.csv` and `roadmap orgs list`: the organisations registry."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
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

console = Console(highlight=False)

orgs_app = typer.Typer(
    help="Schools, kindergartens and other organisations with their heads and curators.",
    no_args_is_help=True,
)


@orgs_app.command("import")
@no_traceback
def import_command(
    file: Annotated[
        Path,
        typer.Argument(
            help="CSV with the header " + ",".join(COLUMNS) + "; kind is school, "
            "kindergarten or extra. UTF-8 (BOM ok) or Windows-1251; ',' or ';'.",
            show_default=False,
        ),
    ],
) -> None:
    """Load or update organisations by name; bad rows are rejected with reasons, good rows
    are kept. Exit 1 if any row was rejected."""
    settings = settings_or_exit()
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise fail(f"cannot read {file}: {exc.strerror or exc}") from None
    rows, errors = parse_organisations_csv(decode_csv_bytes(data))
    for error in errors:
        err_console.print(
            f"[red]rejected[/red] {file.name}:{error}", highlight=False, soft_wrap=True
        )
    if errors and not rows and errors[0].line == 1:
        raise fail(f"{file}: nothing imported")
    engine = open_engine(settings)
    try:
        with session_scope(engine) as session:
            counts = upsert_organisations(session=session, rows=rows, now=datetime.now(UTC))
    finally:
        engine.dispose()
    counts.rejected = len(errors)
    table = Table(title=f"Organisations from {file.name}")
    for name in ("created", "updated", "unchanged", "rejected"):
        table.add_column(name, justify="right")
    table.add_row(
        str(counts.created), str(counts.updated), str(counts.unchanged), str(counts.rejected)
    )
    console.print(table)
    if errors:
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
        console.print("No organisations yet: load them with `roadmap orgs import FILE.csv`.")
        return
    table = Table(title=f"Organisations ({len(orgs)})")
    for name in ("id", "short name", "kind", "head", "head email", "curator", "curator email"):
        table.add_column(name)
    for org in orgs:
        table.add_row(
            str(org.id),
            org.short_name + ("" if org.active else " (inactive)"),
            org.kind.value,
            org.head_name,
            org.head_email,
            org.curator_name,
            org.curator_email,
        )
    console.print(table)


def register(app: typer.Typer) -> None:
    """Add `orgs import` and `orgs list`."""
    app.add_typer(orgs_app, name="orgs")
