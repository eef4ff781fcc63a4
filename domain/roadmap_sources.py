"""Reading an order's roadmap table from a .txt (as in the seed), .docx or .csv file.

The table has the order's columns: "№ п/п", "Наименование мероприятия", "Сроки
исполнения", "Ответственный исполнитель", "Результат" (headings are recognised by
their word stems: "Мероприятие", "Срок", "Ответственные", "Ожидаемый результат" do
too). Only the title and schedule columns are required; a missing number,
responsible or result column is a warning. Section rows (a bold heading across the
table, or a Roman-numbered row with only a title) name the section of the items
below them. A row whose number cell is empty continues the item above it cell by
cell (Word tables broken across pages), joined with single spaces.

Reading stops only for what cannot be read at all (no table, a row with the wrong
number of cells); everything else is the builder's (domain.roadmap_import) to keep,
with warnings. Problems name the line of the text or CSV file, or the row of the
Word table, and the column; their texts are Russian:
"строка 7, столбец «Сроки исполнения»: …".
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
# Without these a table cannot be read; the others may be missing (with a warning).
REQUIRED = ("title", "schedule")
FORMATS = (".txt", ".docx", ".csv")

_HEADER_STEMS: dict[str, tuple[str, ...]] = {
    "number": ("№", "п/п", "номер", "n п/п"),
    "title": ("наименован", "мероприят", "содержание"),
    "schedule": ("срок", "дата", "период"),
    "responsible": ("ответствен", "исполнител"),
    "result": ("результат", "форма отчет", "отчетн", "отчётн"),
    "section": ("раздел",),
}
# An item's number as orders write it: "1", "1.", "1.1", "1.1.", "3а", "3 а)", "12)".
_LABEL = re.compile(r"^(\d{1,4}(?:\.\d{1,4}){0,3})\.?\s*([а-яёa-z])?[.)]?$", re.IGNORECASE)
# A section's number: "I.", "IV", "Раздел 2", "Раздел II."
_SECTION_NUMBER = re.compile(r"^([ivxlc]{1,6}|раздел\s+\w+)\.?$", re.IGNORECASE)
_MONTHS = (
    "января",
    "февраля",
    "марта",
    "апреля",
    "мая",
    "июня",
    "июля",
    "августа",
    "сентября",
    "октября",
    "ноября",
    "декабря",
)
# "08.04.2022", "12 января 2023", "«12» января 2023"
_DATE = r"«?\s*(\d{1,2})\s*»?(?:\.(\d{1,2})\.|\s+(" + "|".join(_MONTHS) + r")\s+)(\d{4})"
_ORDER_NUMBER = r"№\s*([0-9A-Za-zА-Яа-яЁё/_-]+)"
_ORDER_DATE_FIRST = re.compile(rf"от\s+{_DATE}\s*(?:г\.?|года)?\s*{_ORDER_NUMBER}", re.IGNORECASE)
_ORDER_NUMBER_FIRST = re.compile(rf"{_ORDER_NUMBER}\s+от\s+{_DATE}", re.IGNORECASE)
_ORDER_DATE_ONLY = re.compile(rf"\bот\s+{_DATE}", re.IGNORECASE)
_DISTRICT = re.compile(
    r"\b([А-ЯЁ][а-яё-]+?)(ск|цк)ого\s+(муниципального|городского)\s+(округа|района)"
)
_TITLE_START = re.compile(r"\s*(дорожная карта|план\b)", re.IGNORECASE)
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
    problems: list[ImportProblem] = field(default_factory=list)  # errors
    warnings: list[ImportProblem] = field(default_factory=list)
    heading_problems: list[ImportProblem] = field(default_factory=list)  # a wrong order date
    columns: list[str] = field(default_factory=lambda: list(COLUMNS))  # the table's columns


def label_of(number: str) -> str | None:
    """The item's number as written, tidied ("1." → "1", "3 а)" → "3а"); None when the
    cell does not read as an item number."""
    match = _LABEL.match(_clean(number))
    if match is None:
        return None
    digits, letter = match.groups()
    return digits + (letter or "").lower()


def is_section_number(number: str) -> bool:
    return bool(_SECTION_NUMBER.match(_clean(number)))


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
    return found if all(k in found for k in REQUIRED) else None


def _missing_required(where: str, cells: Sequence[str]) -> ImportProblem | None:
    """A header row that names at least two of the order's columns but lacks a required
    one: the table is there, and cannot be read without that column."""
    found = {key for key in map(_header_key, cells) if key in COLUMNS}
    missing = [k for k in REQUIRED if k not in found]
    if len(found) < 2 or not missing:
        return None
    names = ", ".join(f"«{COLUMNS[k]}»" for k in missing)
    return ImportProblem(
        where,
        f"в строке заголовков нет столбца {names}: без него таблицу не прочитать; добавьте "
        "столбец (заголовок «Сроки исполнения» или «Срок», «Наименование мероприятия» или "
        "«Мероприятие»)",
    )


def missing_columns(columns: dict[str, int], where: str) -> list[ImportProblem]:
    """Warnings for the optional columns a table lacks, saying what the import does."""
    what = {
        "number": "пункты нумеруются по порядку строк",
        "responsible": "все пункты назначены центру, проверьте",
        "result": "ожидаемый результат пуст, в ответе — свободный текст",
    }
    return [
        ImportProblem(
            where,
            f"нет столбца «{COLUMNS[key]}»: {text}; добавьте столбец, если он нужен",
        )
        for key, text in what.items()
        if key not in columns
    ]


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
        f"таблица не найдена: нет строки заголовков {kind} «{heads}» (обязательны "
        "«Наименование мероприятия» и «Сроки исполнения»); проверьте, что это файл "
        "дорожной карты и что заголовки столбцов написаны так же",
    )


class _Collector:
    """Turns classified rows into items: sections, new items, continuations."""

    def __init__(self, columns: dict[str, int]) -> None:
        self.items: list[RawItem] = []
        self.problems: list[ImportProblem] = []
        self.numbered = "number" in columns
        self.section = ""
        self.current: RawItem | None = None

    def add_row(self, where: str, cells: dict[str, str]) -> None:
        """A row that is not a section: a new item, or the continuation of the one above
        (an empty number); a row with no item above it is an item of its own."""
        if self.numbered and not _clean(cells.get("number", "")) and self.current is not None:
            self.continue_item(cells)
        else:
            self.add_item(where, cells)

    def is_section(self, cells: dict[str, str]) -> bool:
        """A numbered section row: "I." or "Раздел 2" and only a title."""
        others = [cells.get(k, "") for k in ("schedule", "responsible", "result")]
        return (
            is_section_number(cells.get("number", ""))
            and bool(_clean(cells.get("title", "")))
            and not any(_clean(c) for c in others)
        )

    def table(
        self,
        heading: Heading,
        columns: dict[str, int],
        header_where: str,
        heading_problems: list[ImportProblem],
    ) -> SourceTable:
        problems = list(self.problems)
        if not self.items and not problems:
            problems.append(
                ImportProblem(FILE, "в таблице нет ни одного пункта; добавьте строки мероприятий")
            )
        return SourceTable(
            heading,
            self.items,
            problems,
            missing_columns(columns, header_where),
            heading_problems,
            [key for key in COLUMNS if key in columns],
        )

    def add_section(self, text: str) -> None:
        self.section = _strip_tags(text)
        self.current = None

    def add_item(self, where: str, cells: dict[str, str], section: str = "") -> None:
        number = _clean(cells.get("number", ""))
        values = {k: _clean(cells.get(k, "")) for k in COLUMNS if k != "number"}
        item = RawItem(where, number, section or self.section, values)
        self.items.append(item)
        self.current = item

    def continue_item(self, cells: dict[str, str]) -> None:
        assert self.current is not None
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
    groups: Sequence[str | None]
    if match := _ORDER_DATE_FIRST.search(text):
        *groups, number = match.groups()
    elif match := _ORDER_NUMBER_FIRST.search(text):
        number, *groups = match.groups()
    elif match := _ORDER_DATE_ONLY.search(text):
        number, groups = "", match.groups()
    else:
        return "", None, None
    day, digits, word, year = (g or "" for g in groups)
    month = digits or str(_MONTHS.index(word.lower()) + 1)
    try:
        return number, date(int(year), int(month), int(day)), None
    except ValueError:
        return (
            number,
            None,
            f"дата приказа {day}.{month}.{year} не существует (исправьте её в заголовке)",
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
        if _TITLE_START.match(line):
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
    partial: ImportProblem | None = None
    for index, line in enumerate(lines):
        if "\t" in line:
            found = _header_columns(line.split("\t"))
            if found is not None:
                header_at, columns = index, found
                break
            partial = partial or _missing_required(f"строка {index + 1}", line.split("\t"))
    if header_at is None:
        return SourceTable(Heading(), [], [partial or _no_table("(столбцы через табуляцию)")])
    heading_lines = lines[:header_at]
    heading, heading_problems = parse_heading(heading_lines, _text_title(heading_lines))
    width = len(lines[header_at].split("\t"))
    last = max(i for i, line in enumerate(lines) if "\t" in line)
    collect = _Collector(columns)
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
        number = _clean(by_key.get("number", ""))
        if len(filled) == 1 and (_TAGS.search(filled[0]) or (number and not label_of(number))):
            collect.add_section(filled[0])
        elif collect.is_section(by_key):
            collect.add_section(by_key["title"])
        else:
            collect.add_row(where, by_key)
    return collect.table(heading, columns, "строка заголовков", heading_problems)


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


def _auto_numbered(paragraphs: Sequence[Any]) -> bool:
    """A paragraph numbered by Word's list numbering (its own or its style's `numPr`)."""
    for paragraph in paragraphs:
        p_pr = paragraph._p.pPr
        if p_pr is not None and p_pr.numPr is not None:
            return True
        style = paragraph.style
        while style is not None:
            style_pr = style.element.pPr
            if style_pr is not None and style_pr.numPr is not None:
                return True
            style = style.base_style
    return False


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
    partial: ImportProblem | None = None
    for block in document.iter_inner_content():
        if isinstance(block, Paragraph):
            if table is None:
                before.append(block)
            continue
        for index, row in enumerate(block.rows[:3]):
            heads = [c.text for c in row.cells]
            found = _header_columns(heads)
            if found is not None:
                table, columns, header_row = block, found, index
                break
            partial = partial or _missing_required(f"таблица Word, строка {index + 1}", heads)
        if table is not None:
            break
    if table is None:
        return SourceTable(Heading(), [], [partial or _no_table("таблицы Word")])

    title_parts: list[str] = []
    for paragraph in before:
        if paragraph.text.strip() and _bold([paragraph]):
            title_parts.append(paragraph.text)
        elif title_parts:
            break
    if not title_parts:
        title_parts = [p.text for p in before if _TITLE_START.match(p.text)][:1]
    heading, heading_problems = parse_heading(
        [p.text for p in before], _strip_tags(" ".join(title_parts))
    )
    collect = _Collector(columns)
    width = max(columns.values()) + 1
    previous: list[Any] = []
    auto = 0  # items numbered by Word's automatic numbering, so far
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
        merged_up: list[bool] = []
        for i, cell in enumerate(cells):
            merged_left = i > 0 and tcs[i] is tcs[i - 1]
            merged_up.append(i < len(previous) and tcs[i] is previous[i])
            texts.append("" if merged_left or merged_up[i] else cell.text)
        previous = tcs
        if _is_column_numbers(texts[:width]):
            continue
        at = columns.get("number")
        if at is not None and not merged_up[at] and any(t.strip() for t in texts):
            if not texts[at].strip() and _auto_numbered(cells[at].paragraphs):
                auto += 1
                texts[at] = str(auto)
            if label_of(texts[at]):
                # a new item: a cell merged down from the row above is its text too
                for i, cell in enumerate(cells):
                    if merged_up[i] and not (i > 0 and tcs[i] is tcs[i - 1]):
                        texts[i] = cell.text
        by_key = {key: texts[i] for key, i in columns.items()}
        filled = [i for i, t in enumerate(texts) if t.strip()]
        if not filled:
            continue
        number = _clean(by_key.get("number", ""))
        single = len(filled) == 1
        if single and (
            (not number and _bold(cells[filled[0]].paragraphs)) or (number and not label_of(number))
        ):
            collect.add_section(texts[filled[0]])
        elif len({_clean(texts[i]) for i in range(width)}) == 1:
            collect.add_section(texts[0])
        elif collect.is_section(by_key):
            collect.add_section(by_key["title"])
        else:
            collect.add_row(where, by_key)
    result = collect.table(
        heading, columns, f"таблица Word, строка {header_row + 1}", heading_problems
    )
    if auto:
        result.warnings.append(
            ImportProblem(
                f"таблица Word, строка {header_row + 1}",
                f"номера пунктов ({auto}) проставлены автонумерацией Word: они взяты по порядку "
                "(1, 2, …); проверьте, что они совпадают с номерами в документе",
                "number",
            )
        )
    return result


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
    ignored: list[ImportProblem] = []
    for index, cell in enumerate(header):
        key = _header_key(cell)
        if key is None or key in columns:
            if cell.strip():
                ignored.append(
                    ImportProblem(
                        "строка 1",
                        f"столбец «{_clean(cell)}» не распознан или повторяется и не "
                        "читается; если он нужен, назовите столбцы "
                        + ",".join(CSV_COLUMNS)
                        + " или заголовками из приказа («№ п/п», «Наименование "
                        "мероприятия», …, «Раздел»)",
                    )
                )
            continue
        columns[key] = index
    missing = [k for k in REQUIRED if k not in columns]
    if missing:
        names = ", ".join(f"{k} («{COLUMNS[k]}»)" for k in missing)
        return SourceTable(
            Heading(),
            [],
            [
                _no_table("CSV"),
                ImportProblem(
                    "строка 1", f"нет столбцов: {names}; добавьте их в строку заголовков"
                ),
            ],
            ignored,
        )
    collect = _Collector(columns)
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
        number = _clean(by_key.get("number", ""))
        others = [by_key.get(k, "") for k in ("schedule", "responsible", "result")]
        if (
            not number
            and by_key["title"].strip()
            and not any(c.strip() for c in others)
            and collect.numbered
        ) or collect.is_section(by_key):
            collect.add_section(by_key["title"])
        else:  # CSV cells hold whole texts: a row is never a continuation
            section = _strip_tags(by_key.get("section", ""))
            if section:
                collect.section = section
            collect.add_item(where, by_key, section)
    table = collect.table(Heading(), columns, "строка 1", [])
    table.warnings[:0] = ignored
    return table


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
