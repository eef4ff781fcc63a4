"""`backup -o FILE` and `restore FILE [--force]`: the database and the stored files."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from cli.common import fail, no_traceback, settings_or_exit
from config.runtime import open_engine
from domain.backup import BackupError, dump, restore

console = Console()


def register(app: typer.Typer) -> None:
    app.command("backup")(backup)
    app.command("restore")(restore_command)


def _size(n: int) -> str:
    return f"{n / 1024 / 1024:.1f} МиБ" if n >= 1024 * 1024 else f"{n / 1024:.0f} КиБ"


@no_traceback
def backup(
    out: Annotated[Path, typer.Option("-o", "--output", help="The archive to write (.zip)")],
) -> None:
    """Back up the database (every table, ids kept) and the stored files (uploads,
    summaries) into one zip that restores on SQLite or PostgreSQL."""
    settings = settings_or_exit()
    engine = open_engine(settings, sync=False)
    try:
        with engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                conn = conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                report = dump(conn, var_dir=settings.var_dir, out=out, now=datetime.now(UTC))
    except BackupError as exc:
        raise fail(str(exc)) from None
    except OSError as exc:
        raise fail(f"{out}: не удаётся записать архив ({exc.strerror or exc})") from None
    rows = sum(report.rows.values())
    console.print(
        f"резервная копия записана: {out} — строк: {rows} в {len(report.rows)} таблицах, "
        f"файлов: {report.files} ({_size(report.bytes)})",
        highlight=False,
    )
    console.print(
        "[yellow]в копии адреса, ответы и хеши паролей администраторов: храните её "
        "как саму базу[/yellow]"
    )


@no_traceback
def restore_command(
    archive: Annotated[Path, typer.Argument(help="An archive written by `roadmap backup`")],
    force: Annotated[
        bool,
        typer.Option("--force", help="Replace everything in a database that is not empty"),
    ] = False,
) -> None:
    """Restore a backup into an empty database (the schema is created first) and the var
    folder; refuses a database that holds data unless --force."""
    settings = settings_or_exit()
    if not archive.is_file():
        raise fail(f"{archive}: нет такого файла", 2)
    engine = open_engine(settings, sync=False)
    try:
        with engine.begin() as conn:
            report = restore(conn, archive_path=archive, var_dir=settings.var_dir, force=force)
    except BackupError as exc:
        raise fail(str(exc)) from None
    rows = sum(report.rows.values())
    console.print(
        f"восстановлено из {archive}: строк: {rows}, файлов: {report.files} "
        f"({_size(report.bytes)}) в {settings.var_dir}",
        highlight=False,
    )
