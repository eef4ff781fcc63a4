"""The summary as a Word document in the shape of an аналитическая справка."""

from __future__ import annotations

import io
from typing import Any

from docx import Document
from docx.document import Document as DocumentObject
from docx.enum.section import WD_ORIENT
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Cm, Pt, RGBColor
from docx.table import _Row

from domain.summary import YearlySummary
from reports.charts import all_charts
from reports.tables import (
    TABLE_HEADINGS,
    CellKind,
    Table,
    all_tables,
    format_cell,
    needs_dates_lines,
)

BODY_FONT = "Times New Roman"


def _set_font(style: Any, name: str, size: float, bold: bool | None = None) -> None:
    font = style.font
    font.name = name
    font.size = Pt(size)
    if bold is not None:
        font.bold = bold
    font.color.rgb = RGBColor(0, 0, 0)
    # Word reads the Cyrillic font from the east-Asian/complex-script slots too.
    rpr = style.element.get_or_add_rPr()
    fonts = rpr.find(qn("w:rFonts"))
    if fonts is None:
        fonts = OxmlElement("w:rFonts")
        rpr.append(fonts)
    for slot in ("w:ascii", "w:hAnsi", "w:cs", "w:eastAsia"):
        fonts.set(qn(slot), name)


def _repeat_header(row: _Row) -> None:
    tr_pr = row._tr.get_or_add_trPr()
    flag = OxmlElement("w:tblHeader")
    flag.set(qn("w:val"), "true")
    tr_pr.append(flag)


def _add_table(doc: DocumentObject, table: Table) -> None:
    if not table.rows:
        paragraph = doc.add_paragraph(table.empty_text)
        paragraph.runs[0].italic = True
        return
    width = len(table.columns)
    grid = doc.add_table(rows=1, cols=width)
    grid.style = "Table Grid"
    grid.alignment = WD_TABLE_ALIGNMENT.CENTER
    header = grid.rows[0]
    _repeat_header(header)
    for cell, column in zip(header.cells, table.columns, strict=True):
        cell.text = column.header
        for run in cell.paragraphs[0].runs:
            run.bold = True
            run.font.size = Pt(8)
    for group, rows in table.grouped():
        if group is not None:
            cells = grid.add_row().cells
            merged = cells[0].merge(cells[-1])
            merged.text = group
            for run in merged.paragraphs[0].runs:
                run.bold = True
                run.font.size = Pt(8)
        for row in rows:
            cells = grid.add_row().cells
            for cell, value, column in zip(cells, row, table.columns, strict=True):
                cell.text = format_cell(value, column.kind)
                paragraph = cell.paragraphs[0]
                if column.kind is not CellKind.text:
                    paragraph.alignment = WD_ALIGN_PARAGRAPH.RIGHT
                for run in paragraph.runs:
                    run.font.size = Pt(8)


def build_docx(summary: YearlySummary, charts: list[tuple[str, bytes]] | None = None) -> bytes:
    """The document as bytes; `charts` (caption, PNG) default to the standard charts."""
    pictures = all_charts(summary) if charts is None else charts
    doc = Document()
    section = doc.sections[0]
    # Landscape A4: the item table is wide.
    section.orientation = WD_ORIENT.LANDSCAPE
    section.page_width, section.page_height = Cm(29.7), Cm(21.0)
    for margin in ("left_margin", "right_margin"):
        setattr(section, margin, Cm(2.0))
    section.top_margin = section.bottom_margin = Cm(1.5)
    _set_font(doc.styles["Normal"], BODY_FONT, 12)
    for name in ("Title", "Heading 1", "Heading 2"):
        _set_font(doc.styles[name], BODY_FONT, {"Title": 18, "Heading 1": 16}.get(name, 13))

    props = doc.core_properties
    props.title = summary.title
    props.subject = f"{summary.cycle} учебный год"
    props.author = "Roadmap engine"

    heading = doc.add_heading(summary.title, level=1)
    heading.alignment = WD_ALIGN_PARAGRAPH.CENTER
    if summary.roadmap_title:
        order = f" (приказ {summary.roadmap_order})" if summary.roadmap_order else ""
        line = doc.add_paragraph(f"Дорожная карта: {summary.roadmap_title}{order}")
        line.alignment = WD_ALIGN_PARAGRAPH.CENTER
    period = doc.add_paragraph(
        f"Период: {summary.period_label}; данные на {summary.as_of:%d.%m.%Y}."
    )
    period.alignment = WD_ALIGN_PARAGRAPH.CENTER

    for sentence in summary.text:
        paragraph = doc.add_paragraph(sentence)
        paragraph.alignment = WD_ALIGN_PARAGRAPH.JUSTIFY
        paragraph.paragraph_format.first_line_indent = Cm(1.25)

    missing_dates = needs_dates_lines(summary)
    if missing_dates:
        doc.add_heading("Мероприятия без установленных сроков", level=2)
        for entry in missing_dates:
            doc.add_paragraph(entry, style="List Bullet")

    tables = {table.key: table for table in all_tables(summary)}
    doc.add_heading(TABLE_HEADINGS["items"], level=2)
    _add_table(doc, tables["items"])
    for caption, png in pictures:
        doc.add_picture(io.BytesIO(png), width=Cm(22))
        doc.paragraphs[-1].alignment = WD_ALIGN_PARAGRAPH.CENTER
        note = doc.add_paragraph(caption)
        note.alignment = WD_ALIGN_PARAGRAPH.CENTER
        note.runs[0].italic = True
    for key in ("occurrences", "organisations", "indicators", "escalations", "delivery"):
        doc.add_heading(TABLE_HEADINGS[key], level=2)
        _add_table(doc, tables[key])

    buffer = io.BytesIO()
    doc.save(buffer)
    return buffer.getvalue()
