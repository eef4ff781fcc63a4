"""The summary as an Excel workbook for the people who re-count: one sheet per table with
real numbers, frozen headers, autofilter, set widths and print settings (landscape, fit
to width, header row repeated), and the text laid out in cells that wrap.

Text from schools (names, answers, mail errors) is stored as text even when it starts
with "=", "+", "-" or "@": it never becomes a formula.
"""

from __future__ import annotations

import io
from datetime import date

from openpyxl import Workbook
from openpyxl.cell.cell import Cell as SheetCell
from openpyxl.styles import Alignment, Border, PatternFill, Side
from openpyxl.styles import Font as CellFont
from openpyxl.utils import get_column_letter
from openpyxl.utils.indexed_list import IndexedList
from openpyxl.worksheet.pagebreak import Break
from openpyxl.worksheet.worksheet import Worksheet

from domain.summary import YearlySummary, roadmap_genitive
from reports.font_metrics import Font, text_pt
from reports.tables import (
    CellKind,
    Column,
    Table,
    all_tables,
    format_cell,
    needs_dates_lines,
    typeset,
)
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
BOLD = CellFont(name=TABLE_FONT, size=10, bold=True)
PLAIN = CellFont(name=TABLE_FONT, size=10)
HEADER_FILL = PatternFill("solid", fgColor="DDE4EE")
THIN = Side(style="thin", color="9AA5B1")
GRID = Border(left=THIN, right=THIN, top=THIN, bottom=THIN)
FORMULA_STARTS = ("=", "+", "-", "@")
TEXT_COLUMN_CHARS = 88  # the text sheet's one column: a portrait page's width
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


# Column widths are in characters of the workbook's default font (Calibri 11: 7 pixels
# a character at 96 dpi); text is measured with Arial's (Liberation Sans') metrics.
PX_PER_UNIT = 7.0
PX_PER_PT = 96 / 72


def _units(text: str, size_pt: float = 10, bold: bool = False) -> float:
    """The width of `text` on one line, in column-width units."""
    return text_pt(text, size_pt, "sans-bold" if bold else "sans") * PX_PER_PT / PX_PER_UNIT


def _width(column: Column, values: list[str]) -> float:
    """The column's width: the longest value, at most the column's suggestion (text
    wraps; a header in up to three lines), never less than the longest word (so that no
    word breaks, headers included)."""
    header_words = [_units(w, bold=True) for w in column.header.split()]
    value_words = [_units(w) for v in values for w in v.split()]
    longest_word = max([*header_words, *value_words, 3.0])
    longest = max([_units(column.header, bold=True) / 3, *(_units(v) for v in values)])
    if column.width:
        longest = min(longest, column.width * 0.8)
    return round(max(min(max(5.0, longest), MAX_WIDTH), longest_word) + 1.5, 1)


def _wrapped_lines(
    text: str, width_units: float, size_pt: float = 10, font: Font = "sans", bold: bool = False
) -> int:
    """How many lines `text` takes when wrapped at word boundaries in a column
    `width_units` wide (spreadsheets do not grow rows for text written by a library)."""
    if bold:
        font = "serif-bold" if font.startswith("serif") else "sans-bold"
    room = (width_units * PX_PER_UNIT - 6) / PX_PER_PT  # points, less the cell's padding
    space = text_pt(" ", size_pt, font)
    total = 0
    for paragraph in text.split("\n"):
        lines, used = 1, 0.0
        for word in paragraph.split(" "):
            if not word:
                continue
            size = text_pt(word, size_pt, font)
            if used and used + space + size > room:
                lines, used = lines + 1, size
            else:
                used = used + space + size if used else size
        total += lines
    return max(total, 1)


def _print_setup(sheet: Worksheet, title: str, landscape: bool = True) -> None:
    sheet.page_setup.orientation = "landscape" if landscape else "portrait"
    sheet.page_setup.paperSize = sheet.PAPERSIZE_A4
    sheet.page_setup.fitToWidth = 1
    sheet.page_setup.fitToHeight = 0
    sheet.sheet_properties.pageSetUpPr.fitToPage = True
    sheet.print_options.gridLines = False
    # The header and footer sit in the top and bottom margins, clear of the cells.
    sheet.page_margins.left = sheet.page_margins.right = 0.5
    sheet.page_margins.top = sheet.page_margins.bottom = 0.8
    sheet.page_margins.header = sheet.page_margins.footer = 0.3
    sheet.oddHeader.center.text = header_text(title)
    sheet.oddHeader.center.size = 9
    sheet.oddFooter.center.text = "Страница &P из &N"
    sheet.oddFooter.center.size = 9


def _write_table(book: Workbook, table: Table, title: str) -> None:
    sheet = book.create_sheet(title=table.title)
    columns: list[Column] = list(table.columns)
    rows: list[tuple[object, ...]] = list(table.rows)
    if table.groups:
        columns = [Column("Раздел", width=24), *columns]
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
        header_lines = max(header_lines, _wrapped_lines(column.header, width, bold=True))
    sheet.row_dimensions[1].height = 13.0 * min(header_lines, 6) + 4
    widths = [
        sheet.column_dimensions[get_column_letter(i)].width for i in range(1, len(columns) + 1)
    ]
    for r, row in enumerate(rows, start=2):
        lines = 1
        for value, width, column in zip(row, widths, columns, strict=True):
            if isinstance(value, str) and column.kind is CellKind.text:
                lines = max(lines, _wrapped_lines(value, width or 10))
        sheet.row_dimensions[r].height = 12.8 * lines + 2
    sheet.freeze_panes = "A2"
    if rows:
        sheet.auto_filter.ref = f"A1:{get_column_letter(len(columns))}{len(rows) + 1}"
    else:
        # A printed empty sheet says why it is empty.
        cell = sheet.cell(row=2, column=1)
        put(cell, table.empty_text)
        cell.font = CellFont(name=TABLE_FONT, size=10, italic=True)
    _print_setup(sheet, title)
    sheet.print_title_rows = "1:1"


def _text_row(
    sheet: Worksheet,
    text: str,
    *,
    bold: bool = False,
    size: float = 12,
    centre: bool = False,
    space_before: float = 0,
) -> None:
    """One paragraph of the text sheet: a cell of the one wide column that wraps, its row
    as tall as its lines (measured with Times New Roman's metrics)."""
    row = sheet.max_row + 1 if sheet.max_row > 1 or sheet["A1"].value else 1
    cell = sheet.cell(row=row, column=1)
    put(cell, text)
    cell.font = CellFont(name=TEXT_FONT, bold=bold, size=size)
    cell.alignment = Alignment(
        wrap_text=True, vertical="bottom", horizontal="center" if centre else "justify"
    )
    lines = _wrapped_lines(text, TEXT_COLUMN_CHARS, size, "serif", bold) if text else 1
    sheet.row_dimensions[row].height = round(lines * size * 1.17 + space_before + 2, 1)


def _front(book: Workbook, summary: YearlySummary) -> None:
    """The text sheet: the title block and the text of the Word report, as paragraphs."""
    front = book.active
    assert front is not None
    front.title = "Справка"
    front.column_dimensions["A"].width = TEXT_COLUMN_CHARS
    if summary.district:
        _text_row(front, summary.district, centre=True)
    kind = "ПРОМЕЖУТОЧНАЯ АНАЛИТИЧЕСКАЯ СПРАВКА" if summary.interim else "АНАЛИТИЧЕСКАЯ СПРАВКА"
    _text_row(front, kind, bold=True, size=14, centre=True, space_before=10)
    _text_row(
        front, f"о реализации {roadmap_genitive(summary.roadmap_title)}", bold=True, centre=True
    )
    if summary.roadmap_order:
        _text_row(front, f"(приказ {summary.roadmap_order})", centre=True)
    _text_row(front, f"за {summary.cycle} учебный год, период {summary.period_label}", centre=True)
    _text_row(front, f"на дату {summary.as_of:%d.%m.%Y}", bold=True, centre=True)
    headings: list[int] = []
    for heading, lines in (
        ("Общие итоги", summary.text),
        ("Выводы", [f"{n}. {t}" for n, t in enumerate(summary.conclusions, start=1)]),
        ("Рекомендации", [f"{n}. {t}" for n, t in enumerate(summary.recommendations, start=1)]),
        ("Мероприятия без установленных сроков", needs_dates_lines(summary)),
    ):
        if not lines:
            continue
        _text_row(front, heading, bold=True, size=13, space_before=12)
        headings.append(front.max_row)
        for line in lines:
            _text_row(front, typeset(line), space_before=3)
    _text_row(
        front,
        "Таблицы — на следующих листах; все числа — те же, что в тексте справки.",
        space_before=12,
    )
    _print_setup(front, summary.title, landscape=False)
    _page_breaks(front, headings)


# The text sheet's printable height: A4 portrait less the top and bottom margins, with
# a little to spare for the office suite's own rounding.
TEXT_PAGE_PT = (11.69 - 2 * 0.8) * 72 - 20


def _page_breaks(sheet: Worksheet, headings: list[int]) -> None:
    """Page breaks where a row would not fit (rows never split), and before a heading
    that would otherwise end a page apart from its first paragraph."""
    used = 0.0
    for row in range(1, sheet.max_row + 1):
        height = sheet.row_dimensions[row].height or 15.0
        if row in headings:
            height += sheet.row_dimensions[row + 1].height or 15.0
        if used and used + height > TEXT_PAGE_PT:
            sheet.row_breaks.append(Break(id=row - 1))
            used = 0.0
        used += sheet.row_dimensions[row].height or 15.0


def _default_font(book: Workbook) -> None:
    """Arial 10 as the workbook's default font: column widths are counted in its digits,
    and unlike Calibri (the library's default) every office suite has it or its metrics
    (Liberation Sans), so the widths come out the same everywhere."""
    default = CellFont(name=TABLE_FONT, size=10, family=2)
    book._fonts = IndexedList([default])
    book._named_styles["Normal"].font = default


def build_xlsx(summary: YearlySummary) -> bytes:
    book = Workbook()
    _default_font(book)
    _front(book, summary)
    tables = {table.key: table for table in all_tables(summary)}
    for key in SHEET_ORDER:
        _write_table(book, tables[key], summary.title)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
