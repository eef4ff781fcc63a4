"""The summary as one self-contained HTML page (inline CSS, charts as base64 PNG)."""

from __future__ import annotations

import base64
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from domain.summary import YearlySummary, item_text
from reports.charts import all_charts
from reports.tables import (
    TABLE_HEADINGS,
    CellKind,
    Table,
    all_tables,
    format_cell,
    needs_dates_lines,
)

TEMPLATES = Path(__file__).resolve().parent / "templates"


@lru_cache(maxsize=1)
def _environment() -> Environment:
    # Autoescape always: names and evidence come from schools and must stay text.
    return Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _table_view(table: Table) -> dict[str, Any]:
    runs = [
        (
            group,
            [
                [
                    (format_cell(value, col.kind), col.kind is not CellKind.text)
                    for value, col in zip(row, table.columns, strict=True)
                ]
                for row in rows
            ],
        )
        for group, rows in table.grouped()
        if rows
    ]
    return {
        "heading": TABLE_HEADINGS[table.key],
        "columns": table.columns,
        "runs": runs,
        "empty_text": table.empty_text,
    }


def render_html(summary: YearlySummary, charts: list[tuple[str, bytes]] | None = None) -> str:
    """The page; `charts` (caption, PNG) default to the summary's standard charts."""
    pictures = all_charts(summary) if charts is None else charts
    return (
        _environment()
        .get_template("summary.html.j2")
        .render(
            summary=summary,
            charts=[(caption, base64.b64encode(png).decode("ascii")) for caption, png in pictures],
            needs_dates=needs_dates_lines(summary),
            sections=[
                (section.name, [(item, item_text(item, summary)) for item in section.items])
                for section in summary.sections
            ],
            tables=[_table_view(table) for table in all_tables(summary)],
        )
    )
