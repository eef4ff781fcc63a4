"""Reading an order's roadmap (.txt as in the seed, .docx, .csv) into the roadmap file.

All three formats hold the same five-column table: "№ п/п", "Наименование
мероприятия", "Сроки исполнения", "Ответственный исполнитель", "Результат".
Section rows (a bold heading across the table) name the section of the items
below them. A row whose number cell is empty continues the item above it cell by
cell (Word tables broken across pages), joined with single spaces.

Every problem names where it is (a line of the text or CSV file, a row of the
Word table) and the column, and says what to do; all problems are collected
before giving up, so one run shows everything to fix. A schedule phrase the
parser cannot read is not a problem but a warning: the item is kept and flagged
"needs dates". Problem texts are Russian (the centre's administrators read them
as they are): "строка 7, столбец «Сроки исполнения»: …".
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from domain.assignees import AssigneeError, assignee_rule
from domain.evidence_rules import evidence_spec
from domain.roadmap_file import ItemSpec, RoadmapFile, slugify
from domain.schedule import Schedule, ScheduleParseError, parse_schedule

# Column keys in the order of the order's table, with their Russian headings.
COLUMNS: dict[str, str] = {
    "number": "№ п/п",
    "title": "Наименование мероприятия",
    "schedule": "Сроки исполнения",
    "responsible": "Ответственный исполнитель",
    "result": "Результат",
}
SECTION_LABEL = "Раздел"
# Where a problem is when it is not in a row of the table.
FILE = "файл"
HEADING = "заголовок приказа"
CSV_COLUMNS = ("number", "section", "title", "schedule", "responsible", "result")
FORMATS = (".txt", ".docx", ".csv")

_HEADER_STEMS: dict[str, tuple[str, ...]] = {
    "number": ("№", "п/п", "номер", "n п/п"),
    "title": ("наименован", "мероприят", "содержание"),
    "schedule": ("срок",),
    "responsible": ("ответствен", "исполнител"),
    "result": ("результат",),
    "section": ("раздел",),
}
_NUMBER = re.compile(r"^(\d{1,4})\s*\.?$")
_ORDER_DATE_FIRST = re.compile(
    r"от\s+(\d{1,2})\.(\d{1,2})\.(\d{4})\s*(?:г\.?|года)?\s*№\s*([0-9A-Za-zА-Яа-яЁё/_-]+)"
)
_ORDER_NUMBER_FIRST = re.compile(
    r"№\s*([0-9A-Za-zА-Яа-яЁё/_-]+)\s+от\s+(\d{1,2})\.(\d{1,2})\.(\d{4})"
)
_DISTRICT = re.compile(
    r"\b([А-ЯЁ][а-яё-]+?)(ск|цк)ого\s+(муниципального|городского)\s+(округа|района)"
)
_TAGS = re.compile(r"</?b>|\*\*", re.IGNORECASE)


@dataclass(frozen=True)
class ImportProblem:
    """An error or warning: where in the source, which column, what is wrong and what to do.

    `str()` gives the whole Russian text: "строка 7, столбец «№ п/п»: …"."""

    where: str  # "строка 18", "таблица Word, строка 5", FILE or HEADING
    message: str
    column: str | None = None  # a key of COLUMNS (or "section")

    @property
    def place(self) -> str:
        """ "строка 7, столбец «Сроки исполнения»": the row and the column's heading."""
        label = COLUMNS.get(self.column or "", SECTION_LABEL if self.column else "")
        return f"{self.where}, столбец «{label}»" if label else self.where

    def __str__(self) -> str:
        return f"{self.place}: {self.message}"


class RoadmapImportError(Exception):
    """The source cannot be imported; `problems` lists every reason."""

    def __init__(self, problems: Sequence[ImportProblem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


@dataclass
class Heading:
    """What the order says about itself, above the table."""

    title: str = ""
    order_number: str = ""
    order_date: date | None = None
    district: str = ""


@dataclass
class RawItem:
    where: str
    number: str
    section: str
    cells: dict[str, str]


@dataclass
class SourceTable:
    heading: Heading
    items: list[RawItem]
    problems: list[ImportProblem] = field(default_factory=list)


@dataclass
class ImportResult:
    roadmap: RoadmapFile
    schedules: dict[int, Schedule]  # item number -> parsed schedule
    warnings: list[ImportProblem]
    where: dict[int, str]  # item number -> its row in the source ("строка 8")


def _clean(text: str) -> str:
    return " ".join(text.split())


def _header_key(cell: str) -> str | None:
    text = _clean(cell).lower()
    if text in CSV_COLUMNS:
        return text
    for key, stems in _HEADER_STEMS.items():
        if any(text.startswith(s) or s in text.split() for s in stems):
            return key
    return None


def _header_columns(cells: Sequence[str]) -> dict[str, int] | None:
    """Column key -> index when `cells` is the table's header row, else None."""
    found: dict[str, int] = {}
    for index, cell in enumerate(cells):
        key = _header_key(cell)
        if key is not None and key not in found:
            found[key] = index
    return found if all(k in found for k in COLUMNS) else None


def _is_column_numbers(cells: Sequence[str]) -> bool:
    """The "1 2 3 4 5" row under the header."""
    values = [_clean(c) for c in cells]
    return values == [str(i) for i in range(1, len(values) + 1)]


def _strip_tags(text: str) -> str:
    return _clean(_TAGS.sub("", text))


def _no_table(kind: str) -> ImportProblem:
    heads = " / ".join(COLUMNS.values())
    return ImportProblem(
        FILE,
        f"таблица не найдена: нет строки заголовков {kind} «{heads}»; проверьте, что это "
        "файл дорожной карты и что заголовки столбцов написаны так же",
    )


class _Collector:
    """Turns classified rows into items: sections, new items, continuations."""

    def __init__(self) -> None:
        self.items: list[RawItem] = []
        self.problems: list[ImportProblem] = []
        self.section = ""
        self.current: RawItem | None = None

    def add_section(self, text: str) -> None:
        self.section = _strip_tags(text)
        self.current = None

    def add_item(self, where: str, cells: dict[str, str], section: str = "") -> None:
        number = _clean(cells.get("number", ""))
        values = {k: _clean(cells.get(k, "")) for k in COLUMNS if k != "number"}
        item = RawItem(where, number, section or self.section, values)
        self.items.append(item)
        self.current = item

    def continue_item(self, where: str, cells: dict[str, str]) -> None:
        if self.current is None:
            self.problems.append(
                ImportProblem(
                    where,
                    "нет номера пункта: в строке есть текст, но выше нет пункта, который она "
                    "могла бы продолжать; впишите номер пункта",
                    "number",
                )
            )
            return
        for key, value in cells.items():
            text = _clean(value)
            if key != "number" and text:
                before = self.current.cells.get(key, "")
                self.current.cells[key] = f"{before} {text}" if before else text


# --- the heading -------------------------------------------------------------------------


def _district(text: str) -> str:
    """ "Левокумского муниципального округа" → "Левокумский муниципальный округ"."""
    match = _DISTRICT.search(text)
    if match is None:
        return ""
    stem, suffix, kind, unit = match.groups()
    adjective = {"муниципального": "муниципальный", "городского": "городской"}[kind]
    noun = {"округа": "округ", "района": "район"}[unit]
    return f"{stem}{suffix}ий {adjective} {noun}"


def _order(text: str) -> tuple[str, date | None, str | None]:
    """(order number, order date, problem) from the heading text."""
    day = month = year = ""
    number = ""
    match = _ORDER_DATE_FIRST.search(text)
    if match:
        day, month, year, number = match.groups()
    else:
        other = _ORDER_NUMBER_FIRST.search(text)
        if other:
            number, day, month, year = other.groups()
    if not number:
        return "", None, None
    try:
        return number, date(int(year), int(month), int(day)), None
    except ValueError:
        return (
            number,
            None,
            f"дата приказа {day}.{month}.{year} не существует; исправьте её в заголовке "
            "или укажите --order-date ГГГГ-ММ-ДД",
        )


def parse_heading(lines: Iterable[str], title: str = "") -> tuple[Heading, list[ImportProblem]]:
    text = _clean(" ".join(lines))
    number, when, problem = _order(text)
    heading = Heading(title=title, order_number=number, order_date=when, district=_district(text))
    return heading, [ImportProblem(HEADING, problem)] if problem else []


def _text_title(lines: Sequence[str]) -> str:
    joined = "\n".join(lines)
    match = re.search(r"\*\*(.+?)\*\*", joined, re.DOTALL)
    if match:
        return _clean(match.group(1))
    for i, line in enumerate(lines):
        if re.match(r"\s*(дорожная карта|план мероприятий)", line, re.IGNORECASE):
            block = []
            for following in lines[i:]:
                if not following.strip():
                    break
                block.append(following)
            return _strip_tags(" ".join(block))
    return ""


# --- .txt ---------------------------------------------------------------------------------


def read_text(text: str) -> SourceTable:
    """The seed's text format: a heading, then a tab-separated table."""
    lines = text.lstrip("\ufeff").splitlines()
    header_at: int | None = None
    columns: dict[str, int] = {}
    for index, line in enumerate(lines):
        if "\t" in line:
            found = _header_columns(line.split("\t"))
            if found is not None:
                header_at, columns = index, found
                break
    if header_at is None:
        return SourceTable(Heading(), [], [_no_table("(столбцы через табуляцию)")])
    heading_lines = lines[:header_at]
    heading, problems = parse_heading(heading_lines, _text_title(heading_lines))
    width = len(lines[header_at].split("\t"))
    last = max(i for i, line in enumerate(lines) if "\t" in line)
    collect = _Collector()
    collect.problems.extend(problems)
    for index in range(header_at + 1, last + 1):
        line = lines[index]
        where = f"строка {index + 1}"
        if not line.strip():
            continue
        cells = line.split("\t")
        if len(cells) != width:
            collect.problems.append(
                ImportProblem(
                    where,
                    f"неверное число столбцов: {len(cells)} через табуляцию, а в строке "
                    f"заголовков {width}; уберите из текста ячеек табуляции и переносы строк",
                )
            )
            continue
        if _is_column_numbers(cells):
            continue
        by_key = {key: cells[i] for key, i in columns.items()}
        filled = [c for c in cells if c.strip()]
        number = _clean(by_key["number"])
        if len(filled) == 1 and (_TAGS.search(filled[0]) or (number and not _NUMBER.match(number))):
            collect.add_section(filled[0])
        elif not number:
            collect.continue_item(where, by_key)
        else:
            collect.add_item(where, by_key)
    collect.problems.extend(_check_items(collect.items))
    return SourceTable(heading, collect.items, collect.problems)


# --- .docx --------------------------------------------------------------------------------


def _bold(paragraphs: Sequence[Any]) -> bool:
    """Every run with text is bold (directly, by its character style or the paragraph's)."""
    seen = False
    for paragraph in paragraphs:
        style_bold = bool(paragraph.style is not None and paragraph.style.font.bold)
        for run in paragraph.runs:
            if not run.text.strip():
                continue
            seen = True
            bold = run.bold
            if bold is None:
                bold = style_bold or bool(run.style is not None and run.style.font.bold)
            if not bold:
                return False
    return seen


def read_docx(path: Path) -> SourceTable:
    """A Word file with the same table (python-docx)."""
    import docx
    from docx.opc.exceptions import PackageNotFoundError
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    try:
        document = docx.Document(str(path))
    except (
        PackageNotFoundError,
        zipfile.BadZipFile,
        KeyError,
        ValueError,
        OSError,
        SyntaxError,  # lxml's XMLSyntaxError: a damaged part inside the archive
    ):
        raise RoadmapImportError(
            [
                ImportProblem(
                    FILE,
                    f"не удаётся прочитать {path.name} как документ Word (.docx): файл "
                    "повреждён или это другой формат; откройте его в Word и сохраните "
                    "заново как «Документ Word (.docx)»",
                )
            ]
        ) from None
    before: list[Paragraph] = []
    table: Table | None = None
    columns: dict[str, int] = {}
    header_row = 0
    for block in document.iter_inner_content():
        if isinstance(block, Paragraph):
            if table is None:
                before.append(block)
            continue
        for index, row in enumerate(block.rows[:3]):
            found = _header_columns([c.text for c in row.cells])
            if found is not None:
                table, columns, header_row = block, found, index
                break
        if table is not None:
            break
    if table is None:
        return SourceTable(Heading(), [], [_no_table("таблицы Word")])

    title_parts: list[str] = []
    for paragraph in before:
        if paragraph.text.strip() and _bold([paragraph]):
            title_parts.append(paragraph.text)
        elif title_parts:
            break
    heading, problems = parse_heading([p.text for p in before], _strip_tags(" ".join(title_parts)))
    collect = _Collector()
    collect.problems.extend(problems)
    width = max(columns.values()) + 1
    previous: list[Any] = []
    for index, row in enumerate(table.rows):
        if index <= header_row:
            previous = [c._tc for c in row.cells]
            continue
        where = f"таблица Word, строка {index + 1}"
        cells = list(row.cells)
        tcs = [c._tc for c in cells]
        if len({id(tc) for tc in tcs}) == 1 and cells[0].text.strip():
            collect.add_section(cells[0].text)
            previous = tcs
            continue
        if len(cells) < width:
            collect.problems.append(
                ImportProblem(
                    where,
                    f"неверное число столбцов: {len(cells)}, а нужно {width}; проверьте, "
                    "не удалены ли ячейки в этой строке таблицы",
                )
            )
            previous = tcs
            continue
        texts: list[str] = []
        for i, cell in enumerate(cells):
            merged_left = i > 0 and tcs[i] is tcs[i - 1]
            merged_up = i < len(previous) and tcs[i] is previous[i]
            texts.append("" if merged_left or merged_up else cell.text)
        previous = tcs
        if _is_column_numbers(texts[:width]):
            continue
        by_key = {key: texts[i] for key, i in columns.items()}
        filled = [i for i, t in enumerate(texts) if t.strip()]
        if not filled:
            continue
        number = _clean(by_key["number"])
        single = len(filled) == 1
        if single and (
            (not number and _bold(cells[filled[0]].paragraphs))
            or (number and not _NUMBER.match(number))
        ):
            collect.add_section(texts[filled[0]])
        elif len({_clean(texts[i]) for i in range(width)}) == 1:
            collect.add_section(texts[0])
        elif not number:
            collect.continue_item(where, by_key)
        else:
            collect.add_item(where, by_key)
    collect.problems.extend(_check_items(collect.items))
    return SourceTable(heading, collect.items, collect.problems)


# --- .csv ---------------------------------------------------------------------------------


def decode_bytes(data: bytes) -> str:
    """UTF-8 (with or without a BOM), else Windows-1251 as older Excel writes it."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1251")


def read_csv(text: str) -> SourceTable:
    """A CSV table: `number,section,title,schedule,responsible,result` (section optional),
    or the order's Russian headings (and optionally "Раздел"). A row with an empty
    number and only the title filled is a section row."""
    text = text.lstrip("\ufeff")
    first = text.split("\n", 1)[0]
    delimiter = max((";", ",", "\t"), key=first.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration:
        return SourceTable(Heading(), [], [_no_table("CSV")])
    columns: dict[str, int] = {}
    problems: list[ImportProblem] = []
    for index, cell in enumerate(header):
        key = _header_key(cell)
        if key is None or key in columns:
            if cell.strip():
                problems.append(
                    ImportProblem(
                        "строка 1",
                        f"неизвестный или повторный столбец «{_clean(cell)}»; назовите "
                        "столбцы " + ",".join(CSV_COLUMNS) + " или заголовками из приказа "
                        "(«№ п/п», «Наименование мероприятия», …, «Раздел»)",
                    )
                )
            continue
        columns[key] = index
    missing = [k for k in COLUMNS if k not in columns]
    if missing:
        names = ", ".join(f"{k} («{COLUMNS[k]}»)" for k in missing)
        problems.append(_no_table("CSV"))
        problems.append(
            ImportProblem("строка 1", f"нет столбцов: {names}; добавьте их в строку заголовков")
        )
        return SourceTable(Heading(), [], problems)
    collect = _Collector()
    collect.problems.extend(problems)
    width = len(header)
    line = reader.line_num + 1
    for cells in reader:
        start, line = line, reader.line_num + 1
        where = f"строка {start}"
        if not any(c.strip() for c in cells):
            continue
        extra = any(c.strip() for c in cells[width:])
        if len(cells) < width or extra:
            collect.problems.append(
                ImportProblem(
                    where,
                    f"неверное число столбцов: {len(cells)}, а в строке заголовков {width}; "
                    "проверьте разделители и кавычки в этой строке",
                )
            )
            continue
        by_key = {key: cells[i] for key, i in columns.items()}
        others = [by_key[k] for k in ("schedule", "responsible", "result")]
        if (
            not by_key["number"].strip()
            and by_key["title"].strip()
            and not any(c.strip() for c in others)
        ):
            collect.add_section(by_key["title"])
        elif not by_key["number"].strip():
            collect.problems.append(
                ImportProblem(
                    where,
                    "нет номера пункта; впишите номер (в строке раздела заполняется только "
                    "наименование)",
                    "number",
                )
            )
        else:
            section = _strip_tags(by_key.get("section", ""))
            if section:
                collect.section = section
            collect.add_item(where, by_key, section)
    collect.problems.extend(_check_items(collect.items))
    return SourceTable(Heading(), collect.items, collect.problems)


# --- checks and the roadmap file ---------------------------------------------------------


def _check_items(items: Sequence[RawItem]) -> list[ImportProblem]:
    problems: list[ImportProblem] = []
    seen: dict[int, str] = {}
    for item in items:
        match = _NUMBER.match(item.number)
        if match is None:
            problems.append(
                ImportProblem(
                    item.where,
                    f"номер «{item.number}» не число; напишите номер цифрами, например 1 или 1.",
                    "number",
                )
            )
        else:
            number = int(match.group(1))
            if number in seen:
                problems.append(
                    ImportProblem(
                        item.where,
                        f"номер {number} повторяется (он уже есть: {seen[number]}); "
                        "дайте каждому пункту свой номер",
                        "number",
                    )
                )
            else:
                seen[number] = item.where
        for key in ("title", "schedule", "responsible"):
            if not item.cells.get(key):
                problems.append(
                    ImportProblem(
                        item.where,
                        f"пункт {item.number.rstrip('.')}: ячейка пуста; заполните её",
                        key,
                    )
                )
    if not items:
        problems.append(
            ImportProblem(
                FILE, "в таблице нет ни одного пункта; добавьте строки мероприятий с номерами"
            )
        )
    return problems


def roadmap_code(order_number: str, order_date: date) -> str:
    """ "209-od-2022": the order number in ASCII and its year."""
    ascii_number = slugify(0, order_number, words=10).removeprefix("item-0").strip("-")
    return f"{ascii_number}-{order_date.year}" if ascii_number else f"roadmap-{order_date.year}"


def build_roadmap(
    table: SourceTable,
    *,
    code: str | None = None,
    title: str | None = None,
    order_number: str | None = None,
    order_date: date | None = None,
    district: str | None = None,
) -> ImportResult:
    """The roadmap file from a read table; keyword values override the heading.

    Raises RoadmapImportError with every problem when anything is wrong."""
    problems = list(table.problems)
    if not table.items and problems:
        raise RoadmapImportError(problems)  # no table: the heading does not matter yet
    heading = table.heading
    final_title = title or heading.title
    final_number = order_number if order_number is not None else heading.order_number
    final_date = order_date or heading.order_date
    if not final_title:
        problems.append(
            ImportProblem(
                HEADING,
                "не найдено название (строка жирным шрифтом «Дорожная карта …»); выделите "
                "его жирным в файле или укажите --title",
            )
        )
    if final_date is None:
        problems.append(
            ImportProblem(
                HEADING,
                "не найдена дата приказа (строка вида «от 08.04.2022 г. № 209-од»); "
                "добавьте её в заголовок или укажите --order-date ГГГГ-ММ-ДД "
                "(и --order-number)",
            )
        )
    warnings: list[ImportProblem] = []
    specs: list[ItemSpec] = []
    schedules: dict[int, Schedule] = {}
    where: dict[int, str] = {}
    for item in table.items:
        match = _NUMBER.match(item.number)
        if match is None:
            continue  # reported by _check_items
        number = int(match.group(1))
        cells = item.cells
        try:
            assignees = assignee_rule(cells["responsible"])
        except AssigneeError as exc:
            if cells["responsible"]:
                problems.append(ImportProblem(item.where, str(exc), "responsible"))
            continue
        try:
            schedule = parse_schedule(cells["schedule"])
        except ScheduleParseError as exc:
            schedule = Schedule.unreadable(cells["schedule"], exc.reason)
            if cells["schedule"]:
                reason = exc.reason
                if cells["schedule"] not in reason:
                    reason = f"срок «{cells['schedule']}»: {reason}"
                warnings.append(
                    ImportProblem(
                        item.where,
                        f"пункт {number}: {reason}; пункт помечен «нужны даты» — исправьте "
                        "формулировку срока в файле или задайте даты вручную",
                        "schedule",
                    )
                )
        schedules[number] = schedule
        where[number] = item.where
        specs.append(
            ItemSpec(
                number=number,
                slug=slugify(number, cells["title"]),
                section=item.section,
                title=cells["title"],
                schedule_text=cells["schedule"],
                schedule=schedule.model_dump(mode="json"),
                needs_dates=schedule.needs_dates,
                needs_dates_reason=schedule.reason if schedule.needs_dates else None,
                responsible=cells["responsible"],
                assignees=assignees,
                expected_result=cells["result"],
                evidence=evidence_spec(cells["result"]),
            )
        )
    if problems:
        raise RoadmapImportError(problems)
    assert final_date is not None
    roadmap = RoadmapFile(
        key=code or roadmap_code(final_number, final_date),
        title=final_title,
        order_number=final_number,
        order_date=final_date,
        district=district if district is not None else heading.district,
        items=specs,
    )
    return ImportResult(roadmap, schedules, warnings, where)


def read_source(path: Path) -> SourceTable:
    """Read a .txt, .docx or .csv file; RoadmapImportError when it cannot be read."""
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise RoadmapImportError(
            [
                ImportProblem(
                    FILE,
                    f"формат {suffix or '(без расширения)'} не поддерживается; "
                    "нужен .txt, .docx или .csv",
                )
            ]
        )
    if path.is_dir():
        raise RoadmapImportError(
            [ImportProblem(FILE, f"{path} — это папка, а не файл; укажите файл {suffix}")]
        )
    if not path.is_file():
        raise RoadmapImportError([ImportProblem(FILE, f"файл {path} не найден; проверьте путь")])
    if suffix == ".docx":
        return read_docx(path)
    try:
        text = decode_bytes(path.read_bytes())
    except OSError as exc:
        raise RoadmapImportError(
            [
                ImportProblem(
                    FILE,
                    f"не удаётся прочитать файл {path} ({exc.strerror or exc}); проверьте, "
                    "что он доступен для чтения",
                )
            ]
        ) from None
    return read_text(text) if suffix == ".txt" else read_csv(text)


def import_roadmap(
    path: Path,
    *,
    code: str | None = None,
    title: str | None = None,
    order_number: str | None = None,
    order_date: date | None = None,
    district: str | None = None,
) -> ImportResult:
    """Read `path` and build the roadmap file; RoadmapImportError lists every problem."""
    return build_roadmap(
        read_source(path),
        code=code,
        title=title,
        order_number=order_number,
        order_date=order_date,
        district=district,
    )
