"""`roadmap import-roadmap FILE`: the order's roadmap table into the database (or YAML)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from cli.common import err_console, fail, no_traceback, parse_date, settings_or_exit
from cli.roadmaps_cmd import load_into_database, write_text_file
from config.settings import Settings
from domain.assignees import describe_rule
from domain.calendar import RUSSIAN_CALENDAR
from domain.roadmap import Centre
from domain.roadmap_file import RoadmapFileError, dump_roadmap_file, load_roadmap_file
from domain.roadmap_import import FORMATS, ImportResult, RoadmapImportError, import_roadmap
from domain.schedule import Schedule, ScheduleKind
from domain.summary import count_ru

console = Console(highlight=False)

HELP = """Read the order's roadmap table, with parsed schedules, into the database: a new key
adds a roadmap, a known key updates it (items matched by number; answers and history
kept). With -o FILE.yaml it only writes the editable YAML, for review before `roadmap load`.

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
  --order-date, --order-number and --title (else the file's name and today's date).

Any district's order imports: only a file that cannot be read at all (no table, no
schedule column, a row with the wrong number of cells) stops the import; errors name
the line (or table row) and column, and nothing is written then (exit 1). Everything
else is kept with a warning: a schedule phrase that cannot be read (the item is
flagged «нужны даты»), a responsible party that is not the centre, the heads or the
curators (a department, an official, a committee: the centre's own task, the text
kept as written, «назначено центру, проверьте»), a repeated item number (both rows
kept, the second as «3-2»), a missing title (the file's name) or order date (today;
--order-date sets it). Item numbers are kept as written («1», «1.1», «3а»).

The centre (ROADMAP_CENTRE_NAME, _SHORT_NAME, _ALIASES, _ADDRESS) and the rules that
read the responsible column are written into the roadmap file (`centre`,
`responsible_rules`): edit them there and import again with --rules-from FILE.yaml,
or edit an item's `assignees` to change who gets its tasks. Messages are in Russian.
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
WARNINGS = ("предупреждение", "предупреждения", "предупреждений")


def _first_dates(schedule: Schedule, start: date) -> str:
    if schedule.needs_dates:
        return "нужны даты"
    windows = schedule.occurrences(start, start + timedelta(days=2 * 366), RUSSIAN_CALENDAR)
    if not windows:
        return "-"
    first = windows[0]
    return f"{first.opens:%d.%m.%Y} → {first.due:%d.%m.%Y}"


def _summary(result: ImportResult, done: str) -> None:
    roadmap = result.roadmap
    sections = list(dict.fromkeys(item.section for item in roadmap.items))
    table = Table(
        title=f"{roadmap.key}: {count_ru(len(roadmap.items), ITEMS)} "
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
            escape(item.label),
            str(sections.index(item.section) + 1),
            SCHEDULE_KINDS.get(schedule.kind, str(schedule.kind)),
            _first_dates(schedule, roadmap.order_date),
            describe_rule(item.assignees),
        )
    console.print(table)
    for number, section in enumerate(sections, 1):
        console.print(f"  раздел {number}: {escape(section)}")
    if result.warnings:
        unmatched = [i.label for i in roadmap.items if i.assignees.unmatched]
        line = f"{count_ru(len(result.warnings), WARNINGS)} (выше)"
        if unmatched:
            line += f"; задания центру вместо неизвестных исполнителей: {', '.join(unmatched)}"
        console.print(escape(line) + "; проверьте")
    console.print(done)


def centre_of(settings: Settings) -> Centre:
    """The centre running roadmaps, as the settings name it."""
    return Centre(
        name=settings.centre_name,
        short_name=settings.centre_short_name,
        aliases=list(settings.centre_aliases),
        address=settings.centre_address,
    )


def _merged(centre: Centre, default: Centre) -> Centre:
    """A roadmap file's centre, its empty fields taken from the settings."""
    return Centre(
        name=centre.name or default.name,
        short_name=centre.short_name or default.short_name,
        aliases=centre.aliases or default.aliases,
        address=centre.address or default.address,
    )


@no_traceback
def import_roadmap_command(
    file: Annotated[Path, typer.Argument(help=".txt, .docx or .csv", show_default=False)],
    output: Annotated[
        Path | None,
        typer.Option(
            "-o",
            "--output",
            help="Only write the YAML here, for review before `roadmap load` (default: add "
            "or update the roadmap in the database).",
            show_default=False,
        ),
    ] = None,
    code: Annotated[
        str | None,
        typer.Option(
            "--key",
            "--code",
            help="The roadmap's key (default: from the order number, e.g. 209-od-2022, or "
            "the file's name).",
        ),
    ] = None,
    title: Annotated[
        str | None, typer.Option(help="Title, if the file has none (default: the file's name).")
    ] = None,
    order_number: Annotated[
        str | None, typer.Option(help="The order's number, e.g. 209-од.")
    ] = None,
    order_date: Annotated[
        str | None,
        typer.Option(
            help="The order's date, YYYY-MM-DD (the roadmap's start; default: from the "
            "heading, else today)."
        ),
    ] = None,
    district: Annotated[str | None, typer.Option(help="The district's name.")] = None,
    rules_from: Annotated[
        Path | None,
        typer.Option(
            "--rules-from",
            help="A roadmap file (YAML) whose `centre` and `responsible_rules` read the "
            "responsible column (default: the settings' centre and the built-in rules).",
            show_default=False,
        ),
    ] = None,
) -> None:
    settings = settings_or_exit()
    when = parse_date(order_date, "--order-date") if order_date else None
    centre = centre_of(settings)
    rules = []
    if rules_from is not None:
        try:
            source = load_roadmap_file(rules_from)
        except RoadmapFileError as exc:
            raise fail(f"--rules-from: {exc}") from None
        centre = _merged(source.centre, centre)
        rules = source.responsible_rules
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
            centre=centre,
            today=datetime.now(settings.tz).date(),
            rules=rules,
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
    if output is not None:
        try:
            write_text_file(output, dump_roadmap_file(result.roadmap))
        except OSError as exc:
            raise fail(f"не удаётся записать {output}: {exc.strerror or exc}") from None
        _summary(result, f"Записан файл {escape(str(output))}")
        return
    row, added, items = load_into_database(result.roadmap, settings=settings, now=datetime.now(UTC))
    verb = "добавлена в базу" if added else "обновлена в базе (ответы и история сохранены)"
    _summary(result, f"Дорожная карта {escape(row.key)} {verb}: пунктов {items}")
    if row.activated_at is None:
        console.print(
            f"Проверьте предупреждения и начните отслеживание: "
            f"`roadmap activate {escape(row.key)} --from ГГГГ-ММ-ДД`"
        )


def register(app: typer.Typer) -> None:
    """Add `import-roadmap`."""
    app.command("import-roadmap", help=HELP)(import_roadmap_command)
