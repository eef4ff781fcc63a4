"""The summary's views as plain tables, shared by every format (md, html, docx, xlsx)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from domain.summary import (
    Counts,
    Outcome,
    YearlySummary,
    format_number_ru,
    format_share_ru,
)

Cell = str | int | float | date | None


class CellKind(StrEnum):
    text = "text"
    int = "int"
    num = "num"  # may be fractional
    share = "share"  # 0..1, shown as a percentage
    date = "date"


@dataclass(frozen=True)
class Column:
    header: str
    kind: CellKind = CellKind.text
    width: int = 0  # suggested width in characters (0: from the content)


@dataclass(frozen=True)
class Table:
    key: str  # a stable name: items, occurrences, organisations, indicators, ...
    title: str  # the Russian heading (and Excel sheet name)
    columns: tuple[Column, ...]
    rows: tuple[tuple[Cell, ...], ...]
    groups: tuple[str, ...] = ()  # when set: the section of each row, parallel to rows
    empty_text: str = "Нет данных."

    def grouped(self) -> list[tuple[str | None, list[tuple[Cell, ...]]]]:
        """Rows in runs of the same group (one run with group None when ungrouped)."""
        if not self.groups:
            return [(None, list(self.rows))]
        runs: list[tuple[str | None, list[tuple[Cell, ...]]]] = []
        for group, row in zip(self.groups, self.rows, strict=True):
            if not runs or runs[-1][0] != group:
                runs.append((group, []))
            runs[-1][1].append(row)
        return runs


OUTCOME_LABELS: dict[Outcome, str] = {
    Outcome.on_time: "выполнено в срок",
    Outcome.late: "выполнено с опозданием",
    Outcome.overdue: "просрочено",
    Outcome.in_progress: "в работе",
}

EMAIL_KIND_LABELS: dict[str, str] = {
    "opened": "новое задание",
    "reminder": "напоминание",
    "chase": "напоминание о просрочке",
    "escalation": "эскалация",
    "nudge": "напоминание о записях",
    "receipt": "подтверждение получения",
    "returned": "возврат на доработку",
    "digest": "сводное письмо",
    "summary": "справка",
    "delivery_failure": "сбой доставки",
}


# Active organisations of the kinds the item's rule covers that got no task: "—" for
# centre-only items and for items not yet opened. Organisations the rule does not cover
# (kindergartens for a schools-only item, everyone for a centre-only one) never count.
NOT_ASKED_HEADER = "Не привлечены (хотя должны)"


def format_cell(value: Cell, kind: CellKind) -> str:
    """A cell as text for the reading formats."""
    if value is None:
        return "—"
    if isinstance(value, date):
        return f"{value:%d.%m.%Y}"
    if kind is CellKind.share and isinstance(value, int | float):
        return format_share_ru(float(value))
    if isinstance(value, float):
        return format_number_ru(value)
    return str(value)


def _late(counts: Counts) -> tuple[Cell, Cell]:
    return counts.avg_late_days, counts.max_late_days


def items_table(summary: YearlySummary) -> Table:
    columns = (
        Column("№", CellKind.int, 5),
        Column("Мероприятие", width=48),
        Column("Сроки исполнения", width=24),
        Column("Привлечено", CellKind.int),
        Column("В срок", CellKind.int),
        Column("С опозданием", CellKind.int),
        Column("Ср. опоздание, раб. дн.", CellKind.num),
        Column("Макс. опоздание, раб. дн.", CellKind.int),
        Column("Просрочено", CellKind.int),
        Column("В работе", CellKind.int),
        Column("Доля в срок", CellKind.share),
        Column(NOT_ASKED_HEADER, CellKind.int),
        Column("Задача центра", width=22),
        Column("Примечание", width=30),
    )
    rows = []
    for item in summary.items:
        c = item.counts
        rows.append(
            (
                item.number,
                item.title,
                item.schedule_text,
                c.asked,
                c.on_time,
                c.late,
                *_late(c),
                c.overdue,
                c.in_progress,
                c.on_time_share,
                item.missed,
                item.centre_label,
                item.note,
            )
        )
    return Table(
        key="items",
        title="Мероприятия",
        columns=columns,
        rows=tuple(rows),
        groups=tuple(item.section for item in summary.items),
    )


def occurrences_table(summary: YearlySummary) -> Table:
    columns = (
        Column("№", CellKind.int, 5),
        Column("Мероприятие", width=48),
        Column("Открыто", CellKind.date),
        Column("Срок", CellKind.date),
        Column("Привлечено", CellKind.int),
        Column("В срок", CellKind.int),
        Column("С опозданием", CellKind.int),
        Column("Просрочено", CellKind.int),
        Column("В работе", CellKind.int),
        Column(NOT_ASKED_HEADER, CellKind.int),
        Column("Задача центра", width=22),
        Column("Записей", CellKind.int),
    )
    rows = []
    for item in summary.items:
        for occ in item.occurrences:
            c = occ.counts
            rows.append(
                (
                    item.number,
                    item.title,
                    occ.opens,
                    occ.due,
                    c.asked,
                    c.on_time,
                    c.late,
                    c.overdue,
                    c.in_progress,
                    item.missed_in(occ),
                    occ.centre.describe_ru(),
                    occ.entries if occ.continuous else None,
                )
            )
    return Table(key="occurrences", title="Периоды", columns=columns, rows=tuple(rows))


def organisations_table(summary: YearlySummary) -> Table:
    columns = (
        Column("Организация", width=40),
        Column("Тип", width=16),
        Column("Мероприятий", CellKind.int),
        Column("Заданий", CellKind.int),
        Column("В срок", CellKind.int),
        Column("С опозданием", CellKind.int),
        Column("Ср. опоздание, раб. дн.", CellKind.num),
        Column("Не выполнено", CellKind.int),
        Column("из них просрочено", CellKind.int),
        Column("Доля выполнения", CellKind.share),
        Column("Доля в срок", CellKind.share),
    )
    rows = []
    for org in summary.organisations:
        c = org.counts
        name = org.name if org.active else f"{org.name} (не действует)"
        rows.append(
            (
                name,
                org.kind_label,
                org.items_asked,
                c.asked,
                c.on_time,
                c.late,
                c.avg_late_days,
                c.missing,
                c.overdue,
                c.done_share,
                c.on_time_share,
            )
        )
    return Table(key="organisations", title="Организации", columns=columns, rows=tuple(rows))


def indicators_table(summary: YearlySummary) -> Table:
    columns = (
        Column("№", CellKind.int, 5),
        Column("Мероприятие", width=40),
        Column("Показатель", width=36),
        Column("Итого по округу", CellKind.num),
        Column("Ответов с числом", CellKind.int),
        Column("Ответов без числа", CellKind.int),
    )
    rows = tuple(
        (ind.item_number, ind.item_title, ind.label, ind.total, ind.reported, ind.ignored)
        for ind in summary.indicators
    )
    return Table(
        key="indicators",
        title="Показатели",
        columns=columns,
        rows=rows,
        empty_text="Мероприятия не запрашивают числовых показателей.",
    )


def escalations_table(summary: YearlySummary) -> Table:
    columns = (
        Column("Дата", CellKind.date),
        Column("№", CellKind.int, 5),
        Column("Мероприятие", width=40),
        Column("Организация", width=30),
        Column("Кому направлено", width=30),
        Column("Состояние задания", width=24),
    )
    rows = tuple(
        (
            row.on_day,
            row.item_number,
            row.item_title,
            row.organisation,
            row.recipient,
            OUTCOME_LABELS[row.outcome],
        )
        for row in summary.escalations
    )
    return Table(
        key="escalations",
        title="Эскалации",
        columns=columns,
        rows=rows,
        empty_text="Эскалаций не было.",
    )


def delivery_table(summary: YearlySummary) -> Table:
    columns = (
        Column("Дата", CellKind.date),
        Column("Вид письма", width=22),
        Column("Кому", width=30),
        Column("Тема", width=44),
        Column("Причина", width=50),
        Column("Попыток", CellKind.int),
    )
    rows = tuple(
        (
            row.created_on,
            EMAIL_KIND_LABELS.get(row.kind, row.kind),
            row.to_addr,
            row.subject,
            row.last_error,
            row.attempts,
        )
        for row in summary.delivery_failures
    )
    return Table(
        key="delivery",
        title="Доставка",
        columns=columns,
        rows=rows,
        empty_text="Все письма доставлены.",
    )


TABLE_HEADINGS: dict[str, str] = {
    "items": "Исполнение мероприятий",
    "occurrences": "Исполнение по срокам",
    "organisations": "Исполнение по организациям",
    "indicators": "Показатели по округу",
    "escalations": "Эскалации",
    "delivery": "Недоставленные письма",
}


def all_tables(summary: YearlySummary) -> tuple[Table, ...]:
    """Every view, in the order the reading formats show them."""
    return (
        items_table(summary),
        occurrences_table(summary),
        organisations_table(summary),
        indicators_table(summary),
        escalations_table(summary),
        delivery_table(summary),
    )


def needs_dates_lines(summary: YearlySummary) -> list[str]:
    """One line per item still waiting for dates."""
    return [
        f"№ {item.number}. {item.title}"
        + (f" — {item.needs_dates_reason}" if item.needs_dates_reason else "")
        for item in summary.needs_dates
    ]
