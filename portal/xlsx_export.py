"""Lists and the matrix as Excel workbooks: real numbers and dates, a frozen header,
autofilter, set widths, print settings (landscape, fit to width, header repeated).

Text from schools (names, titles) is stored as text even when it starts with "=", "+",
"-" or "@": it never becomes a formula (reports.xlsx.put)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from typing import TYPE_CHECKING

from openpyxl import Workbook
from openpyxl.styles import Alignment, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from domain.matrix import CELL_LABELS, CellStatus, Matrix
from reports.xlsx import BOLD, GRID, HEADER_FILL, PLAIN, header_text, put

if TYPE_CHECKING:
    from portal.views import TaskRow
    from services.undelivered import Undelivered

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MAX_WIDTH = 50
FILLS = {
    CellStatus.done: "C8E6C9",
    CellStatus.review: "BBDEFB",
    CellStatus.returned: "E1BEE7",
    CellStatus.soon: "FFE0A3",
    CellStatus.overdue: "FFCDD2",
    CellStatus.open: "ECEFF1",
}
Value = str | int | float | date | datetime | None


@dataclass(frozen=True)
class Sheet:
    title: str
    headers: Sequence[str]
    rows: Sequence[Sequence[Value]]
    # per column: an Excel number format for numbers and dates ("" for text)
    formats: Sequence[str] = ()
    fills: Sequence[Sequence[str | None]] = ()  # per row, per column: an RGB fill or None
    heading: str = ""  # the printed page's header (default: the sheet's title)


def _text_width(value: Value) -> int:
    if value is None:
        return 0
    if isinstance(value, date | datetime):
        return 10
    return max((len(line) for line in str(value).splitlines()), default=0)


def write_sheet(sheet: Worksheet, spec: Sheet) -> None:
    sheet.title = spec.title[:31]
    for col, header in enumerate(spec.headers, start=1):
        cell = sheet.cell(row=1, column=col)
        put(cell, header)
        cell.font = BOLD
        cell.fill = HEADER_FILL
        cell.border = GRID
        cell.alignment = Alignment(wrap_text=True, vertical="top")
    for r, values in enumerate(spec.rows, start=2):
        fills = spec.fills[r - 2] if spec.fills else ()
        for c, value in enumerate(values, start=1):
            cell = sheet.cell(row=r, column=c)
            put(cell, value)
            cell.font = PLAIN
            cell.border = GRID
            fmt = spec.formats[c - 1] if c - 1 < len(spec.formats) else ""
            if fmt and isinstance(value, int | float | date | datetime):
                cell.number_format = fmt
            if c - 1 < len(fills) and fills[c - 1]:
                cell.fill = PatternFill("solid", fgColor=fills[c - 1])
            if isinstance(value, str) and len(value) > MAX_WIDTH:
                cell.alignment = Alignment(wrap_text=True, vertical="top")
    for c, header in enumerate(spec.headers, start=1):
        longest_word = max((len(w) for w in header.split()), default=4)
        widest = max([longest_word] + [_text_width(row[c - 1]) for row in spec.rows[:2000]])
        sheet.column_dimensions[get_column_letter(c)].width = min(MAX_WIDTH, widest + 2)
    last = get_column_letter(max(1, len(spec.headers)))
    sheet.freeze_panes = "B2" if len(spec.headers) > 6 else "A2"
    sheet.auto_filter.ref = f"A1:{last}{len(spec.rows) + 1}"
    sheet.page_setup.orientation = "landscape"
    sheet.page_setup.paperSize = sheet.PAPERSIZE_A4
    sheet.page_setup.fitToWidth = 1
    sheet.page_setup.fitToHeight = 0
    sheet.sheet_properties.pageSetUpPr.fitToPage = True
    sheet.print_title_rows = "1:1"
    sheet.print_options.gridLines = False
    sheet.oddHeader.center.text = header_text(spec.heading or spec.title)
    sheet.oddFooter.center.text = "&P / &N"


def workbook(sheets: Sequence[Sheet]) -> bytes:
    book = Workbook()
    first = True
    for spec in sheets:
        sheet = book.active if first else book.create_sheet()
        assert isinstance(sheet, Worksheet)
        write_sheet(sheet, spec)
        first = False
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def matrix_sheets(matrix: Matrix, title: str) -> list[Sheet]:
    headers = ["№", "Раздел", "Мероприятие"] + [c.short_name for c in matrix.columns]
    headers += ["Выполнено", "Всего", "Просрочено"]
    rows: list[list[Value]] = []
    fills: list[list[str | None]] = []
    for row in matrix.rows:
        rows.append(
            [row.item.label, row.item.section, row.item.title]
            + [CELL_LABELS[c.status] if c.status is not CellStatus.none else "" for c in row.cells]
            + [row.done, row.total, row.overdue]
        )
        blank: list[str | None] = [None, None, None]
        fills.append(blank + [FILLS.get(c.status) for c in row.cells])
    items = Sheet(
        title="Мероприятия",
        headers=[
            "№",
            "Мероприятие",
            "Ответственный",
            "Выполнено",
            "Всего",
            "Доля выполнения",
            "Просрочено",
            "Ближайший срок",
        ],
        rows=[
            [
                r.item.label,
                r.item.title,
                r.item.owner,
                r.done,
                r.total,
                r.share_done,
                r.overdue,
                r.next_due,
            ]
            for r in matrix.rows
        ],
        formats=["", "", "", "0", "0", "0%", "0", "DD.MM.YYYY"],
    )
    orgs = Sheet(
        title="Организации",
        headers=[
            "Организация",
            "Краткое наименование",
            "Ответов в срок",
            "С опозданием",
            "Подлежало сдаче",
            "Доля в срок",
            "Открыто",
            "Просрочено",
        ],
        rows=[
            [
                c.name,
                c.short_name,
                c.on_time,
                c.answered_late,
                c.falling_due,
                c.share_on_time,
                len(c.open_tasks),
                c.counts[CellStatus.overdue],
            ]
            for c in matrix.columns
        ],
        formats=["", "", "0", "0", "0", "0%", "0", "0"],
    )
    grid = Sheet(
        title="Сводка",
        headers=headers,
        rows=rows,
        formats=[""] * (len(headers) - 3) + ["0", "0", "0"],
        fills=fills,
    )
    return [
        Sheet(**{**vars(spec), "heading": f"{title}: {spec.title.lower()}"})
        for spec in (grid, items, orgs)
    ]


def matrix_workbook(matrix: Matrix, *, title: str) -> bytes:
    return workbook(matrix_sheets(matrix, title))


def task_workbook(rows: Sequence[TaskRow], *, today: date, tz: tzinfo) -> bytes:
    """A task list (every row of its filter) as one sheet."""
    from domain.progress import status_label
    from portal.views import LIGHT_LABELS, ROLE_LABELS

    def local(moment: datetime | None) -> datetime | None:
        return moment.astimezone(tz).replace(tzinfo=None) if moment else None

    return workbook(
        [
            Sheet(
                title="Задачи",
                headers=[
                    "Задача",
                    "Учебный год",
                    "№ мероприятия",
                    "Мероприятие",
                    "Организация",
                    "Получатель",
                    "Срок",
                    "Статус",
                    "Светофор",
                    "Ответ отправлен",
                    "Принято",
                    "Возвратов",
                ],
                rows=[
                    [
                        r.task.id,
                        r.occurrence.cycle,
                        r.item.label,
                        r.item.title,
                        r.assignee,
                        ROLE_LABELS[r.task.role],
                        r.task.due,
                        status_label(r.task, today),
                        LIGHT_LABELS[r.light],
                        local(r.task.submitted_at),
                        local(r.task.accepted_at),
                        r.task.revision,
                    ]
                    for r in rows
                ],
                formats=[
                    "0",
                    "",
                    "",
                    "",
                    "",
                    "",
                    "DD.MM.YYYY",
                    "",
                    "",
                    "DD.MM.YYYY HH:MM",
                    "DD.MM.YYYY HH:MM",
                    "0",
                ],
                heading=f"Задачи на {today:%d.%m.%Y}",
            )
        ]
    )


def undelivered_workbook(rows: Sequence[Undelivered], *, today: date, tz: tzinfo) -> bytes:
    """Mail that did not arrive (every message of the list's filter) as one sheet: who to
    call about which address, and what the server said."""

    def local(moment: datetime | None) -> datetime | None:
        return moment.astimezone(tz).replace(tzinfo=None) if moment else None

    return workbook(
        [
            Sheet(
                title="Недоставленные",
                headers=[
                    "Письмо",
                    "Состояние",
                    "Организация",
                    "Руководитель",
                    "Адрес",
                    "Чей адрес",
                    "Ответ сервера",
                    "Тема",
                    "Вид",
                    "Поставлено в очередь",
                    "Попыток",
                    "Задачи",
                ],
                rows=[
                    [
                        r.email.id,
                        "не доставлено" if r.state == "failed" else "не уходит",
                        r.organisation.short_name if r.organisation else "",
                        r.head_name,
                        r.address,
                        ", ".join(p for p in (r.field_label, r.person) if p),
                        r.reason,
                        r.email.subject,
                        r.kind_label,
                        local(r.email.created_at),
                        r.email.attempts,
                        ", ".join(f"№ {t}" for t in r.task_ids),
                    ]
                    for r in rows
                ],
                formats=["0", "", "", "", "", "", "", "", "", "DD.MM.YYYY HH:MM", "0", ""],
                heading=f"Недоставленные письма на {today:%d.%m.%Y}",
            )
        ]
    )
