"""`roadmap import-roadmap FILE`: the order's roadmap table into the roadmap file (YAML)."""

from __future__ import annotations

import os
from datetime import date, timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from cli.common import err_console, fail, no_traceback, parse_date, settings_or_exit
from domain.assignees import describe_rule
from domain.calendar import RUSSIAN_CALENDAR
from domain.roadmap_file import dump_roadmap_file
from domain.roadmap_import import FORMATS, ImportResult, RoadmapImportError, import_roadmap
from domain.schedule import Schedule, ScheduleKind
from domain.summary import count_ru

console = Console(highlight=False)

HELP = """Read the order's roadmap table into the roadmap file (YAML) with parsed schedules.

FILE is one of:

- .txt as in seed/roadmap-order-209-od-2022.txt: a heading with the order
  («от 08.04.2022 г. № 209-од») and a bold title (**…**), then a tab-separated table
  «№ п/п / Наименование мероприятия / Сроки исполнения / Ответственный исполнитель /
  Результат»; section rows are <b>…</b>; a row with an empty number continues the item
  above it (page breaks).

- .docx with the same table (heading paragraphs above it, the title in bold); section
  rows are merged across the table or bold with an empty number.

- .csv (UTF-8 or Windows-1251; ',' or ';') with the header
  number,section,title,schedule,responsible,result (section is optional) or the
  order's Russian headings (№ п/п, Наименование мероприятия, Сроки исполнения,
  Ответственный исполнитель, Результат, and optionally Раздел). A row with an empty
  number and only the title filled starts a section. A CSV has no heading: pass
  --order-date, --order-number and --title.

Errors name the line (or table row) and column; nothing is written then (exit 1).
A schedule phrase that cannot be read is a warning: the item is flagged «needs dates»
(«нужны даты»). Messages are in Russian.
"""


SCHEDULE_KINDS: dict[ScheduleKind | None, str] = {
    ScheduleKind.once: "разово",
    ScheduleKind.recurring: "периодически",
    ScheduleKind.continuous: "постоянно",
    ScheduleKind.external: "по внешнему плану",
    None: "не распознано",
}
PROBLEMS = ("ошибка", "ошибки", "ошибок")
ITEMS = ("мероприятие", "мероприятия", "мероприятий")
SECTIONS = ("разделе", "разделах", "разделах")


def _first_dates(schedule: Schedule, start: date) -> str:
    if schedule.needs_dates:
        return "нужны даты"
    windows = schedule.occurrences(start, start + timedelta(days=2 * 366), RUSSIAN_CALENDAR)
    if not windows:
        return "-"
    first = windows[0]
    return f"{first.opens:%d.%m.%Y} → {first.due:%d.%m.%Y}"


def _summary(result: ImportResult, output: Path) -> None:
    roadmap = result.roadmap
    sections = list(dict.fromkeys(item.section for item in roadmap.items))
    table = Table(
        title=f"{roadmap.code}: {count_ru(len(roadmap.items), ITEMS)} "
        f"в {count_ru(len(sections), SECTIONS)}",
        show_lines=False,
    )
    table.add_column("№", justify="right")
    table.add_column("раздел")
    table.add_column("сроки")
    table.add_column("первый срок")
    table.add_column("кому задания")
    for item in roadmap.items:
        schedule = result.schedules[item.number]
        table.add_row(
            str(item.number),
            str(sections.index(item.section) + 1),
            SCHEDULE_KINDS.get(schedule.kind, str(schedule.kind)),
            _first_dates(schedule, roadmap.order_date),
            describe_rule(item.assignees),
        )
    console.print(table)
    for number, section in enumerate(sections, 1):
        console.print(f"  раздел {number}: {escape(section)}")
    console.print(f"Записан файл {escape(str(output))}")


def _write(output: Path, text: str) -> None:
    output.parent.mkdir(parents=True, exist_ok=True)
    temporary = output.with_name(f".{output.name}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, output)


@no_traceback
def import_roadmap_command(
    file: Annotated[Path, typer.Argument(help=".txt, .docx or .csv", show_default=False)],
    output: Annotated[
        Path | None,
        typer.Option(
            "-o",
            "--output",
            help="Where to write the YAML (default: ROADMAP_ROADMAP_FILE, the shipped "
            "config/roadmap.yaml).",
            show_default=False,
        ),
    ] = None,
    code: Annotated[
        str | None, typer.Option(help="Roadmap code (default: from the order, 209-od-2022).")
    ] = None,
    title: Annotated[str | None, typer.Option(help="Title, if the file has none.")] = None,
    order_number: Annotated[
        str | None, typer.Option(help="The order's number, e.g. 209-од.")
    ] = None,
    order_date: Annotated[
        str | None, typer.Option(help="The order's date, YYYY-MM-DD (the roadmap's start).")
    ] = None,
    district: Annotated[str | None, typer.Option(help="The district's name.")] = None,
) -> None:
    target = output if output is not None else settings_or_exit().roadmap_file
    when = parse_date(order_date, "--order-date") if order_date else None
    if not file.exists():
        raise fail(f"{file}: файл не найден; проверьте путь")
    if file.is_dir():
        raise fail(f"{file}: это папка, а не файл; укажите файл .txt, .docx или .csv")
    if file.suffix.lower() not in FORMATS:
        suffix = file.suffix.lower() or "(без расширения)"
        raise fail(f"{file}: формат {suffix} не поддерживается; нужен .txt, .docx или .csv")
    try:
        result = import_roadmap(
            file,
            code=code,
            title=title,
            order_number=order_number,
            order_date=when,
            district=district,
        )
    except RoadmapImportError as exc:
        for problem in exc.problems:
            err_console.print(
                f"[red]ошибка:[/red] {escape(file.name)}, {escape(str(problem))}",
                highlight=False,
                soft_wrap=True,
            )
        raise fail(
            f"{count_ru(len(exc.problems), PROBLEMS)} в {file}; файл не записан; "
            "исправьте указанные строки и запустите импорт ещё раз"
        ) from None
    for warning in result.warnings:
        err_console.print(
            f"[yellow]предупреждение:[/yellow] {escape(file.name)}, {escape(str(warning))}",
            highlight=False,
            soft_wrap=True,
        )
    try:
        _write(target, dump_roadmap_file(result.roadmap))
    except OSError as exc:
        raise fail(f"не удаётся записать {target}: {exc.strerror or exc}") from None
    _summary(result, target)


def register(app: typer.Typer) -> None:
    """Add `import-roadmap`."""
    app.command("import-roadmap", help=HELP)(import_roadmap_command)
