"""The summary as an Excel workbook for the people who re-count: one sheet per table with
real numbers, frozen headers, autofilter, set widths and print settings (landscape, fit
to width, header row repeated), and the text laid out in cells that wrap.

Text from schools (names, answers, mail errors) is stored as text even when it starts
with "=", "+", "-" or "@": it never becomes a formula.
"""

from __future__ import annotations

import io
import math
from datetime import date

from openpyxl import Workbook
from openpyxl.cell.cell import Cell as SheetCell
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from domain.summary import YearlySummary, roadmap_genitive
from reports.tables import CellKind, Column, Table, all_tables, format_cell, needs_dates_lines
from reports.text import printable

NUMBER_FORMATS = {
    CellKind.int: "0",
    CellKind.num: "0.##",
    CellKind.share: "0.0%",
    CellKind.date: "DD.MM.YYYY",
}
# Sheet order: the views the centre asked for, then the per-period detail.
SHEET_ORDER = (
    "items",
    "kinds",
    "organisations",
    "indicators",
    "escalations",
    "delivery",
    "occurrences",
)
TABLE_FONT = "Arial"  # Liberation Sans has its metrics
TEXT_FONT = "Times New Roman"  # Liberation Serif has its metrics
BOLD = Font(name=TABLE_FONT, size=10, bold=True)
PLAIN = Font(name=TABLE_FONT, size=10)
HEADER_FILL = PatternFill("solid", fgColor="DDE4EE")
THIN = Side(style="thin", color="9AA5B1")
GRID = Border(left=THIN, right=THIN, top=THIN, bottom=THIN)
FORMULA_STARTS = ("=", "+", "-", "@")
TEXT_COLUMN_CHARS = 76  # the text sheet's one column: a portrait page's width
MAX_WIDTH = 40  # wider text wraps


def put(cell: SheetCell, value: object) -> None:
    """Set a cell; text that a spreadsheet would read as a formula stays text, and text
    with a character a workbook cannot hold loses it (reports.text.printable)."""
    if isinstance(value, str):
        value = printable(value)
    cell.value = value
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        cell.data_type = "s"
        cell.quotePrefix = True


def header_text(text: str) -> str:
    """Text for a printed page's header as it is: "&" starts a code there ("&P" is the
    page number), so it is doubled; at most the 255 characters a header holds."""
    return printable(text)[:120].replace("&", "&&")


def _width(column: Column, values: list[str]) -> float:
    """Characters: the longest value, at most the column's suggestion (text wraps), never
    less than the longest word (so that no word breaks, headers included)."""
    longest_word = max([len(w) for v in [column.header, *values] for w in v.split()] or [4])
    longest = max([len(column.header) // 2 + 1, *(len(v) for v in values)])
    if column.width:
        longest = min(longest, int(column.width * 0.8))
    return float(max(min(max(6, longest), MAX_WIDTH), longest_word) + 2)


def _wrapped_lines(text: str, width: float) -> int:
    """How many lines `text` takes when wrapped at word boundaries in `width` characters
    (spreadsheets do not grow rows for wrapped text written by a library)."""
    lines, used = 1, 0.0
    for word in text.split():
        size = len(word) * 0.9
        if used and used + 1 + size > width:
            lines, used = lines + 1, size
        else:
            used = used + 1 + size if used else size
    return lines


def _print_setup(sheet: Worksheet, title: str, landscape: bool = True) -> None:
    sheet.page_setup.orientation = "landscape" if landscape else "portrait"
    sheet.page_setup.paperSize = sheet.PAPERSIZE_A4
    sheet.page_setup.fitToWidth = 1
    sheet.page_setup.fitToHeight = 0
    sheet.sheet_properties.pageSetUpPr.fitToPage = True
    sheet.print_options.gridLines = False
    sheet.page_margins.left = sheet.page_margins.right = 0.5
    sheet.page_margins.top = sheet.page_margins.bottom = 0.6
    sheet.oddHeader.center.text = header_text(title)
    sheet.oddHeader.center.size = 9
    sheet.oddFooter.center.text = "Страница &P из &N"
    sheet.oddFooter.center.size = 9


def _write_table(book: Workbook, table: Table, title: str) -> None:
    sheet = book.create_sheet(title=table.title)
    columns: list[Column] = list(table.columns)
    rows: list[tuple[object, ...]] = list(table.rows)
    if table.groups:
        columns = [Column("Раздел", width=30), *columns]
        rows = [(group, *row) for group, row in zip(table.groups, table.rows, strict=True)]
    for index, column in enumerate(columns, start=1):
        cell = sheet.cell(row=1, column=index)
        put(cell, column.header)
        cell.font = BOLD
        cell.fill = HEADER_FILL
        cell.border = GRID
        cell.alignment = Alignment(wrap_text=True, vertical="center", horizontal="center")
    for r, row in enumerate(rows, start=2):
        for c, value in enumerate(row, start=1):
            cell = sheet.cell(row=r, column=c)
            put(cell, value)
            cell.border = GRID
            cell.font = PLAIN
            column = columns[c - 1]
            if column.kind in NUMBER_FORMATS and isinstance(value, int | float | date):
                cell.number_format = NUMBER_FORMATS[column.kind]
                cell.alignment = Alignment(vertical="top")
            else:
                cell.alignment = Alignment(wrap_text=True, vertical="top")
    header_lines = 1
    for index, column in enumerate(columns, start=1):
        texts = [
            format_cell(row[index - 1], column.kind)  # type: ignore[arg-type]
            for row in rows
            if row[index - 1] is not None
        ]
        width = _width(column, texts)
        sheet.column_dimensions[get_column_letter(index)].width = width
        header_lines = max(header_lines, math.ceil(len(column.header) / max(width - 2, 1)))
    sheet.row_dimensions[1].height = 13.5 * min(header_lines + 1, 6)
    widths = [
        sheet.column_dimensions[get_column_letter(i)].width for i in range(1, len(columns) + 1)
    ]
    for r, row in enumerate(rows, start=2):
        lines = 1
        for value, width, column in zip(row, widths, columns, strict=True):
            if isinstance(value, str) and column.kind is CellKind.text:
                lines = max(lines, _wrapped_lines(value, width - 1.5))
        sheet.row_dimensions[r].height = 13.0 * lines + 1
    sheet.freeze_panes = "A2"
    if rows:
        sheet.auto_filter.ref = f"A1:{get_column_letter(len(columns))}{len(rows) + 1}"
    _print_setup(sheet, title)
    sheet.print_title_rows = "1:1"


def _text_row(sheet: Worksheet, text: str, *, bold: bool = False, size: float = 11) -> None:
    row = sheet.max_row + 1 if sheet.max_row > 1 or sheet["A1"].value else 1
    cell = sheet.cell(row=row, column=1)
    put(cell, text)
    cell.font = Font(name=TEXT_FONT, bold=bold, size=size)
    cell.alignment = Alignment(wrap_text=True, vertical="top")
    lines = max(1, math.ceil(len(text) * (size / 11) / (TEXT_COLUMN_CHARS * 1.2)))
    sheet.row_dimensions[row].height = round(lines * 15 * size / 11 + 3, 1)


def _front(book: Workbook, summary: YearlySummary) -> None:
    front = book.active
    assert front is not None
    front.title = "Справка"
    front.column_dimensions["A"].width = TEXT_COLUMN_CHARS
    if summary.district:
        _text_row(front, summary.district)
    _text_row(front, summary.title, bold=True, size=13)
    _text_row(front, f"о реализации {roadmap_genitive(summary.roadmap_title)}")
    if summary.roadmap_order:
        _text_row(front, f"(приказ {summary.roadmap_order})")
    _text_row(front, f"Период: {summary.period_label}; на дату {summary.as_of:%d.%m.%Y}.")
    for heading, lines in (
        ("Общие итоги", summary.text),
        ("Выводы", [f"{n}. {t}" for n, t in enumerate(summary.conclusions, start=1)]),
        ("Рекомендации", [f"{n}. {t}" for n, t in enumerate(summary.recommendations, start=1)]),
        ("Мероприятия без установленных сроков", needs_dates_lines(summary)),
    ):
        if not lines:
            continue
        _text_row(front, "")
        _text_row(front, heading, bold=True, size=12)
        for line in lines:
            _text_row(front, line)
    _text_row(front, "")
    _text_row(front, "Таблицы — на следующих листах; все числа — те же, что в тексте справки.")
    _print_setup(front, summary.title, landscape=False)


def build_xlsx(summary: YearlySummary) -> bytes:
    book = Workbook()
    _front(book, summary)
    tables = {table.key: table for table in all_tables(summary)}
    for key in SHEET_ORDER:
        _write_table(book, tables[key], summary.title)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
