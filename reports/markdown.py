"""The summary as Markdown (for reading in a repository, a wiki or a chat)."""

from __future__ import annotations

import re

from domain.summary import YearlySummary, item_text
from reports.tables import (
    TABLE_HEADINGS,
    CellKind,
    Table,
    all_tables,
    format_cell,
    needs_dates_lines,
)

# Characters that Markdown (or HTML inside it) would read as markup.
_SPECIAL = re.compile(r"([\\`*_\[\]<>|])")


def escape_md(text: str) -> str:
    """Text as literal Markdown: markup characters escaped, line breaks as spaces."""
    return _SPECIAL.sub(r"\\\1", " ".join(text.split()))


def _table(table: Table) -> list[str]:
    if not table.rows:
        return [escape_md(table.empty_text)]
    width = len(table.columns)
    lines = [
        "| " + " | ".join(escape_md(col.header) for col in table.columns) + " |",
        "|"
        + "|".join("---:" if col.kind is not CellKind.text else "---" for col in table.columns)
        + "|",
    ]
    for group, rows in table.grouped():
        if group is not None:
            lines.append("| " + f"**{escape_md(group)}**" + " |" * width)
        for row in rows:
            cells = (
                escape_md(format_cell(value, col.kind))
                for value, col in zip(row, table.columns, strict=True)
            )
            lines.append("| " + " | ".join(cells) + " |")
    return lines


def render_markdown(summary: YearlySummary) -> str:
    lines = [f"# {escape_md(summary.title)}", ""]
    if summary.roadmap_title:
        order = f" (приказ {summary.roadmap_order})" if summary.roadmap_order else ""
        lines += [f"**Дорожная карта:** {escape_md(summary.roadmap_title + order)}", ""]
    lines += [
        f"**Период:** {summary.period_label}; на дату {summary.as_of:%d.%m.%Y}.",
        "",
        "## Итоги",
        "",
    ]
    for sentence in summary.text:
        lines += [escape_md(sentence), ""]
    lines += ["## Исполнение мероприятий по разделам", ""]
    for section in summary.sections:
        lines += [f"### {escape_md(section.name)}", ""]
        for item in section.items:
            lines += [f"**№ {item.number}. {escape_md(item.title)}**", ""]
            lines += [escape_md(" ".join(item_text(item, summary))), ""]
    for heading, entries in (
        ("Выводы", summary.conclusions),
        ("Рекомендации", summary.recommendations),
    ):
        lines += [f"## {heading}", ""]
        lines += [f"{n}. {escape_md(t)}" for n, t in enumerate(entries, start=1)]
        lines.append("")
    missing_dates = needs_dates_lines(summary)
    if missing_dates:
        lines += ["## Мероприятия без установленных сроков", ""]
        lines += [f"- {escape_md(line)}" for line in missing_dates]
        lines.append("")
    for table in all_tables(summary):
        lines += [f"## {TABLE_HEADINGS[table.key]}", ""]
        lines += _table(table)
        lines.append("")
    return "\n".join(lines)
