"""Building the roadmap file from an order's table (read by domain.roadmap_sources).

Any district's order imports: the import stops only for what cannot be read at all
(no table, no schedule column, a row with the wrong number of cells), naming the row
and column. Everything else keeps every row and says what it did as a warning:

- an item's number is kept as written ("1", "1.1", "3а"; "1." is "1") in `label`,
  and `number` is its position (1..N). A number written twice keeps both rows: the
  second is "3-2" (the third "3-3", …), the warning names both rows. A row without a
  readable number is labelled by its position (made unique the same way);
- the responsible column is read with the effective rules (domain.assignees): the
  centre's names, heads, curators; anything else is the centre's own task with the
  text kept word for word ("назначено центру, проверьте");
- a missing title is the file's name, a missing order date the import date (`today`,
  passed in), both overridable (`title=`, `order_date=`, `order_number=`);
- an empty title, schedule or responsible cell is a warning (the title becomes
  "Пункт N", the schedule "нужны даты", the responsible the centre).

The key is from the order number and year ("209-od-2022"), else the file's name.
Texts for people are Russian.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from domain.assignees import AssigneeError, CompiledRules, effective_rules, read_responsible
from domain.evidence_rules import evidence_spec
from domain.roadmap import Centre, ResponsibleRule
from domain.roadmap_file import KEY_PATTERN, ItemSpec, RoadmapFile, slug_part, slugify
from domain.roadmap_sources import (
    COLUMNS,
    CSV_COLUMNS,
    FILE,
    FORMATS,
    HEADING,
    Heading,
    ImportProblem,
    RawItem,
    RoadmapImportError,
    SourceTable,
    decode_bytes,
    label_of,
    parse_heading,
    read_csv,
    read_docx,
    read_source,
    read_text,
)
from domain.schedule import Schedule, ScheduleParseError, parse_schedule

__all__ = [
    "COLUMNS",
    "COMMAND_LINE",
    "CSV_COLUMNS",
    "FILE",
    "FORMATS",
    "HEADING",
    "SET_UP_PAGES",
    "Heading",
    "ImportProblem",
    "ImportResult",
    "RawItem",
    "Remedies",
    "RoadmapImportError",
    "SourceTable",
    "build_roadmap",
    "decode_bytes",
    "import_roadmap",
    "parse_heading",
    "read_csv",
    "read_docx",
    "read_source",
    "read_text",
    "roadmap_code",
]


LOOK_AHEAD_DAYS = 3 * 366  # an item with no occurrence this long after the start is warned of


@dataclass(frozen=True)
class Remedies:
    """What a warning tells people to do about a guess, in the words of the place they
    imported from: the command line's options and the roadmap file's fields, or the
    set-up pages' forms (a methodologist there never sees YAML or an option)."""

    title: str  # the title was the file's name
    order_date: str  # the start was the import's day
    schedule: str  # the schedule could not be read
    responsible: str  # the responsible named nobody the rules know
    start: str  # no due date from the order's date on


COMMAND_LINE = Remedies(
    title="укажите --title, чтобы задать другое",
    order_date="укажите --order-date ГГГГ-ММ-ДД (и --order-number), чтобы задать дату приказа",
    schedule="исправьте формулировку срока в файле или задайте даты вручную",
    responsible="кому задания, меняется в assignees пункта или в responsible_rules файла "
    "дорожной карты",
    start="исправьте срок или дату начала (--order-date)",
)
SET_UP_PAGES = Remedies(
    title="другое название задаётся в разделе «Ключ, название, номер и дата приказа»",
    order_date="дата приказа задаётся в разделе «Ключ, название, номер и дата приказа»",
    schedule="исправьте срок пункта или впишите даты вручную",
    responsible="кому задание, выбирается в пункте: «Кто получает задачу»",
    start="исправьте срок пункта или дату приказа",
)


@dataclass
class ImportResult:
    roadmap: RoadmapFile
    schedules: dict[int, Schedule]  # item position -> parsed schedule
    warnings: list[ImportProblem]
    where: dict[int, str]  # item position -> its row in the source ("строка 8")


def roadmap_code(order_number: str, order_date: date, source_name: str = "") -> str:
    """ "209-od-2022": the order number in ASCII and its year; without a number, the
    file's name ("plan-sport-2023"); never empty."""
    ascii_number = slug_part(order_number)
    if ascii_number:
        key = f"{ascii_number}-{order_date.year}"
    else:
        key = slug_part(source_name) or f"roadmap-{order_date.year}"
    key = key[:63].strip("-")
    return key if KEY_PATTERN.match(key) else f"roadmap-{order_date.year}"


def _labels(items: Sequence[RawItem]) -> tuple[list[str], dict[int, ImportProblem]]:
    """Each item's label (its number as written, made unique) and the warnings, by the
    item's index."""
    written = [label_of(item.number) for item in items]
    reserved = {label for label in written if label}
    used: dict[str, str] = {}  # label -> the row that has it
    labels: list[str] = []
    warnings: dict[int, ImportProblem] = {}

    def free(base: str) -> str:
        suffix = 2
        while f"{base}-{suffix}" in used or f"{base}-{suffix}" in reserved:
            suffix += 1
        return f"{base}-{suffix}"

    for position, (item, label) in enumerate(zip(items, written, strict=True), 1):
        if label is None:
            chosen = str(position)
            if chosen in used or chosen in reserved:
                chosen = free(chosen)
            what = (
                f"номер «{item.number}» не читается как номер пункта"
                if item.number
                else "нет номера пункта"
            )
            warnings[position - 1] = ImportProblem(
                item.where,
                f"{what}; пункт сохранён под номером «{chosen}» (по порядку строк); "
                "впишите номер цифрами, например 4, 4.1 или 4а",
                "number",
            )
        elif label in used:
            chosen = free(label)
            warnings[position - 1] = ImportProblem(
                item.where,
                f"номер {label} повторяется (он уже есть: {used[label]}); оба пункта "
                f"сохранены, этот — под номером «{chosen}»; проверьте нумерацию",
                "number",
            )
        else:
            chosen = label
        used[chosen] = item.where
        labels.append(chosen)
    return labels, warnings


def _heading_warnings(
    heading: Heading,
    table: SourceTable,
    *,
    title: str | None,
    order_date: date | None,
    source_name: str,
    today: date,
    remedies: Remedies,
) -> tuple[str, date, list[ImportProblem]]:
    warnings: list[ImportProblem] = []
    final_title = title or heading.title
    if not final_title:
        final_title = source_name or "Дорожная карта"
        warnings.append(
            ImportProblem(
                HEADING,
                "не найдено название (строка жирным шрифтом «Дорожная карта …» или «План "
                f"…»); взято имя файла «{final_title}»; {remedies.title}",
            )
        )
    final_date = order_date or heading.order_date
    if final_date is None:
        found = [p.message for p in table.heading_problems] or [
            "не найдена дата приказа (строка вида «от 08.04.2022 г. № 209-од»)"
        ]
        final_date = today
        warnings.append(
            ImportProblem(
                HEADING,
                f"{'; '.join(found)}; начало дорожной карты — дата импорта "
                f"{today:%d.%m.%Y}; {remedies.order_date}",
            )
        )
    return final_title, final_date, warnings


def build_roadmap(
    table: SourceTable,
    *,
    centre: Centre,
    today: date,
    source_name: str = "",
    rules: Sequence[ResponsibleRule] = (),
    code: str | None = None,
    title: str | None = None,
    order_number: str | None = None,
    order_date: date | None = None,
    district: str | None = None,
    remedies: Remedies = COMMAND_LINE,
) -> ImportResult:
    """The roadmap file from a read table; keyword values override the heading.

    `centre` is the centre running the roadmap (from the settings or a roadmap file),
    `rules` an administrator's responsible rules (empty: the centre's names and the
    built-in ones), `today` the import date (the start when the order has no date),
    `source_name` the file's name without its extension (the default title and key),
    `remedies` the words the warnings use for what to do (the command line's by default).
    Raises RoadmapImportError only when the table cannot be read."""
    if table.problems:
        raise RoadmapImportError(table.problems)
    effective = effective_rules(centre, rules)
    try:
        compiled = CompiledRules.of(effective)
    except AssigneeError as exc:
        raise RoadmapImportError([ImportProblem(FILE, str(exc))]) from None
    heading = table.heading
    final_title, final_date, warnings = _heading_warnings(
        heading,
        table,
        title=title,
        order_date=order_date,
        source_name=source_name,
        today=today,
        remedies=remedies,
    )
    warnings.extend(table.warnings)
    final_number = order_number if order_number is not None else heading.order_number
    labels, label_warnings = _labels(table.items)
    if "number" not in table.columns:  # said once for the whole table
        label_warnings = {}
    specs: list[ItemSpec] = []
    schedules: dict[int, Schedule] = {}
    where: dict[int, str] = {}
    slugs: set[str] = set()
    for position, (item, label) in enumerate(zip(table.items, labels, strict=True), 1):
        if position - 1 in label_warnings:
            warnings.append(label_warnings[position - 1])
        cells = item.cells
        item_title = cells["title"]
        if not item_title:
            item_title = f"Пункт {label}"
            warnings.append(
                ImportProblem(
                    item.where,
                    f"пункт {label}: наименование пусто; пункт сохранён как «{item_title}»; "
                    "впишите наименование мероприятия",
                    "title",
                )
            )
        try:
            schedule = parse_schedule(cells["schedule"])
        except ScheduleParseError as exc:
            schedule = Schedule.unreadable(cells["schedule"], exc.reason)
            reason = exc.reason
            if cells["schedule"] and cells["schedule"] not in reason:
                reason = f"срок «{cells['schedule']}»: {reason}"
            warnings.append(
                ImportProblem(
                    item.where,
                    f"пункт {label}: {reason}; пункт помечен «нужны даты» — {remedies.schedule}",
                    "schedule",
                )
            )
        responsible = cells["responsible"]
        reading = read_responsible(responsible, compiled)
        if reading.empty and "responsible" in table.columns:
            warnings.append(
                ImportProblem(
                    item.where,
                    f"пункт {label}: ответственный исполнитель не указан; назначено центру, "
                    "проверьте",
                    "responsible",
                )
            )
        elif reading.unmatched:
            parts = ", ".join(f"«{p}»" for p in reading.unmatched)
            warnings.append(
                ImportProblem(
                    item.where,
                    f"пункт {label}: {parts} — не центр, не руководители и не кураторы; "
                    "назначено центру, проверьте (текст сохранён как есть; "
                    f"{remedies.responsible})",
                    "responsible",
                )
            )
        if not schedule.needs_dates and not schedule.occurrences(
            final_date, final_date + timedelta(days=LOOK_AHEAD_DAYS)
        ):
            warnings.append(
                ImportProblem(
                    item.where,
                    f"пункт {label}: по сроку «{cells['schedule']}» нет ни одного срока с "
                    f"начала дорожной карты {final_date:%d.%m.%Y} (окно открылось раньше "
                    f"или слишком далеко); задание не откроется — {remedies.start}",
                    "schedule",
                )
            )
        slug = slugify(label, item_title)
        base, suffix = slug, 2
        while slug in slugs:
            slug, suffix = f"{base}-{suffix}", suffix + 1
        slugs.add(slug)
        schedules[position] = schedule
        where[position] = item.where
        specs.append(
            ItemSpec(
                number=position,
                label=label,
                slug=slug,
                section=item.section,
                title=item_title,
                schedule_text=cells["schedule"],
                schedule=schedule.model_dump(mode="json"),
                needs_dates=schedule.needs_dates,
                needs_dates_reason=schedule.reason if schedule.needs_dates else None,
                responsible=responsible,
                assignees=reading.rule,
                expected_result=cells["result"],
                evidence=evidence_spec(cells["result"]),
            )
        )
    roadmap = RoadmapFile(
        key=code or roadmap_code(final_number, final_date, source_name),
        title=final_title,
        order_number=final_number,
        order_date=final_date,
        district=district if district is not None else heading.district,
        centre=centre,
        responsible_rules=effective,
        items=specs,
    )
    return ImportResult(roadmap, schedules, warnings, where)


def import_roadmap(
    path: Path,
    *,
    centre: Centre,
    today: date,
    rules: Sequence[ResponsibleRule] = (),
    code: str | None = None,
    title: str | None = None,
    order_number: str | None = None,
    order_date: date | None = None,
    district: str | None = None,
) -> ImportResult:
    """Read `path` and build the roadmap file (see `build_roadmap`)."""
    return build_roadmap(
        read_source(path),
        centre=centre,
        today=today,
        source_name=path.stem,
        rules=rules,
        code=code,
        title=title,
        order_number=order_number,
        order_date=order_date,
        district=district,
    )
