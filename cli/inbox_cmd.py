"""`roadmap inbox [--once]`: answers by email reply, read over IMAP."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.console import Console

from cli.common import fail, no_traceback, settings_or_exit
from config.runtime import open_engine
from notifications.imap import ImapError, InboxReport, read_inbox, wait_for_mail

console = Console(highlight=False)


def register(app: typer.Typer) -> None:
    app.command("inbox")(inbox)


def _line(report: InboxReport) -> str:
    return (
        f"новых писем: {report.seen}; приняты как ответ: {report.answered}; "
        f"ответ неполный: {report.partial}; на разбор центру: {report.review}; "
        f"автоответы и отчёты о доставке: {report.ignored}; слишком большие: {report.refused}; "
        f"уже обработаны: {report.already}; ошибки: {report.failed}"
    )


@no_traceback
def inbox(
    once: Annotated[bool, typer.Option("--once", help="Read the mailbox once and stop.")] = False,
    every: Annotated[
        int,
        typer.Option(
            "--every",
            min=5,
            help="Without --once: the longest wait between passes; new mail announced by "
            "IMAP IDLE is read at once.",
        ),
    ] = 60,
) -> None:
    """Read replies to task emails from the centre's mailbox (ROADMAP_IMAP_*) and apply them."""
    settings = settings_or_exit()
    if not settings.imap_host:
        raise fail("не задан ROADMAP_IMAP_HOST: укажите почтовый ящик центра (IMAP)", 2)
    engine = open_engine(settings)
    while True:
        try:
            report = read_inbox(engine=engine, settings=settings, clock=lambda: datetime.now(UTC))
        except ImapError as exc:
            if once:
                raise fail(str(exc)) from None
            console.print(f"почта: {exc}; следующая попытка через {every} с")
            time.sleep(every)
            continue
        console.print(_line(report))
        for error in report.errors:
            console.print(f"  {error}")
        if once:
            if report.failed:
                raise typer.Exit(1)
            return
        try:
            wait_for_mail(settings, every)
        except (ImapError, OSError) as exc:
            console.print(f"почта: {exc}; следующая попытка через {every} с")
            time.sleep(every)
