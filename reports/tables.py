"""The summary's views as plain tables, shared by every format (md, html, docx, xlsx)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date
from enum import StrEnum

from domain.enums import OrgKind
from domain.summary import (
    ORG_KIND_LABELS,
    Counts,
    IndicatorTotal,
    OrganisationSummary,
    Outcome,
    YearlySummary,
    format_number_ru,
    format_share_ru,
    report_reason,
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
    # A printed page may leave the column out when no row has a value other than 0 or
    # none (a final report's "in progress", nobody missed); the workbook keeps it.
    optional: bool = False


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
    Outcome.on_time: "принято в срок",
    Outcome.late: "принято с опозданием",
    Outcome.overdue: "не сдано (просрочено)",
    Outcome.in_progress: "в работе",
}
ON_TIME = "Принято в срок"
LATE = "Принято с опозданием"
MISSING = "Не сдано"
IN_PROGRESS_OF_MISSING = "из них в работе"  # not submitted, due date still to come

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


def without_empty_optional(table: Table) -> Table:
    """The table without its optional columns that hold nothing but 0 or no value."""
    kept = [
        index
        for index, column in enumerate(table.columns)
        if not column.optional or any(row[index] not in (0, None, "") for row in table.rows)
    ]
    if len(kept) == len(table.columns):
        return table
    return replace(
        table,
        columns=tuple(table.columns[i] for i in kept),
        rows=tuple(tuple(row[i] for i in kept) for row in table.rows),
    )


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
        Column("Заданий", CellKind.int),
        Column(ON_TIME, CellKind.int),
        Column(LATE, CellKind.int),
        Column("Ср. опоздание, раб. дн.", CellKind.num, optional=True),
        Column("Макс. опоздание, раб. дн.", CellKind.int, optional=True),
        Column("Просрочено", CellKind.int),
        Column("В работе", CellKind.int, optional=True),
        Column("Доля в срок", CellKind.share),
        Column(NOT_ASKED_HEADER, CellKind.int, optional=True),
        Column("Эскалаций", CellKind.int, optional=True),
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
                summary.escalations_of(item.number)[0],
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
        Column("Заданий", CellKind.int),
        Column(ON_TIME, CellKind.int),
        Column(LATE, CellKind.int),
        Column("Просрочено", CellKind.int),
        Column("В работе", CellKind.int, optional=True),
        Column(NOT_ASKED_HEADER, CellKind.int, optional=True),
        Column("Задача центра", width=22),
        Column("Записей", CellKind.int, optional=True),
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
        Column(ON_TIME, CellKind.int),
        Column(LATE, CellKind.int),
        Column("Ср. опоздание, раб. дн.", CellKind.num, optional=True),
        Column(MISSING, CellKind.int),
        Column("из них просрочено", CellKind.int),
        Column("Доля выполнения", CellKind.share),
        Column("Доля в срок", CellKind.share),
        Column("Эскалаций", CellKind.int, optional=True),
    )
    escalated = {row.organisation: row.total for row in summary.escalation_counts}
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
                escalated.get(org.short_name, 0),
            )
        )
    return Table(key="organisations", title="Организации", columns=columns, rows=tuple(rows))


def organisations_compact_table(
    summary: YearlySummary, organisations: Sequence[OrganisationSummary] | None = None
) -> Table:
    """The body's table of organisations: on time, late, not submitted, share."""
    waiting = summary.counts.in_progress > 0
    columns = (
        Column("Организация", width=34),
        Column("Тип", width=16),
        Column("Заданий", CellKind.int),
        Column(ON_TIME, CellKind.int),
        Column(LATE, CellKind.int),
        Column(MISSING, CellKind.int),
        *((Column(IN_PROGRESS_OF_MISSING, CellKind.int),) if waiting else ()),
        Column("Доля в срок", CellKind.share),
    )
    chosen = summary.organisations if organisations is None else organisations
    rows = tuple(
        (
            org.short_name,
            org.kind_label,
            org.counts.asked,
            org.counts.on_time,
            org.counts.late,
            org.counts.missing,
            *((org.counts.in_progress,) if waiting else ()),
            org.counts.on_time_share,
        )
        for org in chosen
        if org.counts.asked
    )
    return Table(key="organisations_compact", title="Организации", columns=columns, rows=rows)


def kinds_table(summary: YearlySummary) -> Table:
    """Per kind of organisation."""
    waiting = summary.counts.in_progress > 0
    columns = (
        Column("Тип организаций", width=20),
        Column("Организаций", CellKind.int),
        Column("Заданий", CellKind.int),
        Column(ON_TIME, CellKind.int),
        Column(LATE, CellKind.int),
        Column(MISSING, CellKind.int),
        *((Column(IN_PROGRESS_OF_MISSING, CellKind.int),) if waiting else ()),
        Column("Доля в срок", CellKind.share),
    )
    rows: list[tuple[Cell, ...]] = [
        (
            k.kind_label,
            k.organisations,
            k.counts.asked,
            k.counts.on_time,
            k.counts.late,
            k.counts.missing,
            *((k.counts.in_progress,) if waiting else ()),
            k.counts.on_time_share,
        )
        for k in summary.kinds
    ]
    c = summary.counts
    if rows:
        rows.append(
            (
                "Всего",
                summary.organisations_involved,
                c.asked,
                c.on_time,
                c.late,
                c.missing,
                *((c.in_progress,) if waiting else ()),
                c.on_time_share,
            )
        )
    return Table(key="kinds", title="Типы организаций", columns=columns, rows=tuple(rows))


INDICATOR_KINDS = (OrgKind.school, OrgKind.kindergarten, OrgKind.extra)


def _indicator_cells(ind: IndicatorTotal) -> tuple[Cell, ...]:
    per = {k.kind: k.total for k in ind.by_kind}
    return (
        ind.total,
        *(per.get(kind, 0) for kind in INDICATOR_KINDS),
        ind.centre_total,
    )


def _indicator_columns() -> tuple[Column, ...]:
    return (
        Column("Итого по округу", CellKind.num),
        Column("Школы", CellKind.num),
        Column("Детские сады", CellKind.num),
        Column("Доп. образование", CellKind.num),
        Column("Методический центр", CellKind.num),
    )


def item_indicators_table(summary: YearlySummary, item_number: int) -> Table:
    """One item's indicators: totals and per kind, as in the appendix and the workbook."""
    columns = (Column("Показатель", width=36), *_indicator_columns())
    rows = tuple((ind.label, *_indicator_cells(ind)) for ind in summary.indicators_of(item_number))
    return Table(key=f"indicators-{item_number}", title="Показатели", columns=columns, rows=rows)


def indicators_table(summary: YearlySummary) -> Table:
    columns = (
        Column("№", CellKind.int, 5),
        Column("Мероприятие", width=40),
        Column("Показатель", width=36),
        Column("Как считается", width=24),
        *_indicator_columns(),
        Column("Ответов с числом", CellKind.int),
        Column("Ответов без числа", CellKind.int),
    )
    rows = tuple(
        (
            ind.item_number,
            ind.item_title,
            ind.label,
            "сумма всех записей журнала" if ind.journal else "последний ответ задания",
            *_indicator_cells(ind),
            ind.reported,
            ind.ignored,
        )
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
    """Escalations counted per organisation and item, never listed one by one."""
    columns = (
        Column("Организация", width=34),
        Column("Тип", width=16),
        Column("Эскалаций", CellKind.int),
        Column("По мероприятиям: № (эскалаций)", width=40),
    )
    rows = tuple(
        (
            row.organisation,
            ORG_KIND_LABELS.get(row.kind, str(row.kind)) if row.kind else "центр",
            row.total,
            row.items_label,
        )
        for row in summary.escalation_counts
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
    "kinds": "Исполнение по типам организаций",
    "organisations_compact": "Исполнение по организациям",
    "items": "Исполнение мероприятий",
    "occurrences": "Исполнение по срокам",
    "organisations": "Исполнение по организациям",
    "indicators": "Показатели по округу",
    "escalations": "Эскалации по организациям и мероприятиям",
    "delivery": "Недоставленные письма",
}


def all_tables(summary: YearlySummary) -> tuple[Table, ...]:
    """Every view, in the order the reading formats show them."""
    return (
        kinds_table(summary),
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
        + (f" — {report_reason(item.needs_dates_reason)}" if item.needs_dates_reason else "")
        for item in summary.needs_dates
    ]


_TYPESET = (
    (re.compile(r"№ (?=\d)"), "№\u00a0"),  # "№ 12" stays on one line
    (re.compile(r"(?<=\d) (?=%)"), "\u00a0"),  # so does "46,7 %"
    (re.compile(r" (?=— )"), "\u00a0"),  # a dash never starts a line
)


def typeset(text: str) -> str:
    """Russian typesetting of a line of running text: no-break spaces where a line must
    not break (after "№", before "%" and before a dash)."""
    for pattern, replacement in _TYPESET:
        text = pattern.sub(replacement, text)
    return text
