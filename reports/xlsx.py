"""The summary as an Excel workbook: one sheet per view, numbers as numbers."""

from __future__ import annotations

import io
from datetime import date

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter

from domain.summary import YearlySummary
from reports.tables import CellKind, Column, Table, all_tables, format_cell, needs_dates_lines

NUMBER_FORMATS = {
    CellKind.int: "0",
    CellKind.num: "0.0",
    CellKind.share: "0.0%",
    CellKind.date: "DD.MM.YYYY",
}
# Sheet order: the views the centre asked for, then the per-period detail.
SHEET_ORDER = ("items", "organisations", "indicators", "escalations", "delivery", "occurrences")
BOLD = Font(bold=True)


def _width(column: Column, values: list[str]) -> float:
    longest = max([len(column.header), *(len(v) for v in values)])
    if column.width:
        longest = min(longest, column.width)
    return float(max(6, min(longest, 60)) + 2)


def _write_table(book: Workbook, table: Table) -> None:
    sheet = book.create_sheet(title=table.title)
    columns: list[Column] = list(table.columns)
    rows: list[tuple[object, ...]] = list(table.rows)
    if table.groups:
        columns = [Column("Раздел", width=30), *columns]
        rows = [(group, *row) for group, row in zip(table.groups, table.rows, strict=True)]
    sheet.append([column.header for column in columns])
    for cell in sheet[1]:
        cell.font = BOLD
        cell.alignment = Alignment(wrap_text=True, vertical="top")
    for row in rows:
        sheet.append(list(row))
    for index, column in enumerate(columns, start=1):
        letter = get_column_letter(index)
        texts = []
        for (cell,) in sheet.iter_rows(min_row=2, min_col=index, max_col=index):
            if column.kind in NUMBER_FORMATS and isinstance(cell.value, int | float | date):
                cell.number_format = NUMBER_FORMATS[column.kind]
            texts.append(format_cell(cell.value, column.kind) if cell.value is not None else "")
        sheet.column_dimensions[letter].width = _width(column, texts)
    sheet.freeze_panes = "A2"
    if rows:
        sheet.auto_filter.ref = f"A1:{get_column_letter(len(columns))}{len(rows) + 1}"


def build_xlsx(summary: YearlySummary) -> bytes:
    book = Workbook()
    front = book.active
    front.title = "Справка"
    front.append([summary.title])
    front["A1"].font = Font(bold=True, size=14)
    if summary.roadmap_title:
        order = f" (приказ {summary.roadmap_order})" if summary.roadmap_order else ""
        front.append([f"Дорожная карта: {summary.roadmap_title}{order}"])
    front.append([f"Период: {summary.period_label}; данные на {summary.as_of:%d.%m.%Y}."])
    front.append([])
    for sentence in summary.text:
        front.append([sentence])
    missing_dates = needs_dates_lines(summary)
    if missing_dates:
        front.append([])
        front.append(["Мероприятия без установленных сроков"])
        front.cell(row=front.max_row, column=1).font = BOLD
        for line in missing_dates:
            front.append([line])
    front.column_dimensions["A"].width = 140
    for (cell,) in front.iter_rows(min_col=1, max_col=1):
        cell.alignment = Alignment(wrap_text=True, vertical="top")

    tables = {table.key: table for table in all_tables(summary)}
    for key in SHEET_ORDER:
        _write_table(book, tables[key])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
