"""`roadmap schedule "PHRASE"`: the windows a schedule phrase yields in a span of dates."""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from cli.common import fail, no_traceback, parse_date, settings_or_exit
from domain.schedule import Schedule, ScheduleParseError, Window, parse_schedule

_WEEKDAYS = ("пн", "вт", "ср", "чт", "пт", "сб", "вс")
_KINDS = {
    "once": "однократно",
    "recurring": "повторяется",
    "continuous": "постоянно",
    "external": "по внешнему плану",
}


def one_year_later(day: date) -> date:
    try:
        return day.replace(year=day.year + 1)
    except ValueError:  # 29 February
        return day.replace(year=day.year + 1, day=28)


def schedule_json(schedule: Schedule, windows: list[Window]) -> dict[str, Any]:
    return {
        "phrase": schedule.phrase,
        "kind": None if schedule.kind is None else schedule.kind.value,
        "needs_dates": schedule.needs_dates,
        "reason": schedule.reason,
        "occurrences": [{"opens": w.opens.isoformat(), "due": w.due.isoformat()} for w in windows],
    }


def _print_table(schedule: Schedule, windows: list[Window], start: date, until: date) -> None:
    console = Console()
    kind = "—" if schedule.kind is None else _KINDS[schedule.kind.value]
    console.print(f"[bold]{schedule.phrase}[/bold]: {kind}", highlight=False)
    if schedule.note:
        console.print(f"примечание: {schedule.note}", highlight=False)
    if schedule.needs_dates:
        console.print(f"[yellow]нужны даты:[/yellow] {schedule.reason}", highlight=False)
        return
    table = Table(title=f"{start:%d.%m.%Y} — {until:%d.%m.%Y}")
    table.add_column("№", justify="right")
    table.add_column("открывается")
    table.add_column("срок")
    for number, window in enumerate(windows, start=1):
        table.add_row(
            str(number),
            f"{window.opens:%d.%m.%Y} {_WEEKDAYS[window.opens.weekday()]}",
            f"{window.due:%d.%m.%Y} {_WEEKDAYS[window.due.weekday()]}",
        )
    if windows:
        console.print(table)
    else:
        console.print("в этом промежутке сроков нет", highlight=False)


def register(app: typer.Typer) -> None:
    """Add `roadmap schedule`."""

    @app.command("schedule")
    @no_traceback
    def schedule(
        phrase: Annotated[str, typer.Argument(help="the schedule phrase, e.g. 'апрель, ежегодно'")],
        start_text: Annotated[
            str | None, typer.Option("--from", help="span start, YYYY-MM-DD (default: today)")
        ] = None,
        until_text: Annotated[
            str | None,
            typer.Option("--until", help="span end, YYYY-MM-DD (default: a year after --from)"),
        ] = None,
        as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
    ) -> None:
        """Print the occurrences (opens, due) a schedule phrase yields between two dates."""
        settings_or_exit()  # the calendar takes ROADMAP_WORKING_SATURDAYS_FILE
        start = parse_date(start_text, "--from") if start_text else date.today()
        until = parse_date(until_text, "--until") if until_text else one_year_later(start)
        if until < start:
            raise fail(f"--until {until.isoformat()} is before --from {start.isoformat()}", 2)
        if (until - start) > timedelta(days=366 * 50):
            raise fail("промежуток длиннее 50 лет; выберите покороче", 2)
        try:
            parsed = parse_schedule(phrase)
        except ScheduleParseError as exc:
            parsed = Schedule.unreadable(phrase, exc.reason)
        windows = parsed.occurrences(start, until)
        if as_json:
            typer.echo(json.dumps(schedule_json(parsed, windows), ensure_ascii=False, indent=2))
        elif parsed.kind is not None:
            _print_table(parsed, windows, start, until)
        if parsed.kind is None:
            if not as_json:
                raise fail(f"не удалось прочитать срок: {parsed.reason}", 2)
            raise typer.Exit(2)
