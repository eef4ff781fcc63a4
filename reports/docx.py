"""The summary as a Word document written the way a department's analytical report is:
a title block, the year in prose, one section per roadmap section, the organisations,
conclusions and recommendations, then the detailed tables as landscape appendices.

Fonts are Times New Roman (LibreOffice substitutes the metric-compatible Liberation
Serif), tables have fixed column widths computed from their content so that no word
breaks, charts are scaled to fit the page.
"""

from __future__ import annotations

import io
import re
import struct
import textwrap
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from docx import Document
from docx.document import Document as DocumentObject
from docx.enum.section import WD_ORIENT, WD_SECTION
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_TAB_ALIGNMENT, WD_TAB_LEADER
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.section import Section
from docx.shared import Cm, Emu, Pt, RGBColor
from docx.table import _Row
from docx.text.paragraph import Paragraph

from domain.summary import YearlySummary, item_text, roadmap_genitive, schedule_line
from reports.charts import (
    ALL_ORGANISATIONS_UP_TO,
    GROUP,
    all_charts,
    organisations_with_tasks,
    weakest_organisations,
)
from reports.font_metrics import text_pt
from reports.tables import (
    TABLE_HEADINGS,
    CellKind,
    Table,
    all_tables,
    format_cell,
    item_indicators_table,
    kinds_table,
    needs_dates_lines,
    organisations_compact_table,
    typeset,
    without_empty_optional,
)

BODY_FONT = "Times New Roman"
NBSP = "\u00a0"
PORTRAIT = (Cm(21.0), Cm(29.7))
PORTRAIT_MARGINS = {"left": Cm(2.5), "right": Cm(1.5), "top": Cm(2.0), "bottom": Cm(2.0)}
LANDSCAPE_MARGIN = Cm(1.5)
CELL_MARGIN_CM = 0.1  # each cell's left and right margin (Word's default is 0.19 cm)
CELL_PADDING_CM = 2 * CELL_MARGIN_CM + 0.06  # both margins and a little slack
BODY_TABLE_PT = 9.0
APPENDIX_TABLE_PT = 8.0
# A wide table keeps this share of the width for its text columns to wrap in, shrinking
# its font down to COMFORT_PT for it (a title squeezed to its longest word is unreadable).
TEXT_ROOM = 0.1
COMFORT_PT = 7.0
KEEP_TOGETHER_ROWS = 12  # a table this short is kept on one page
APPENDICES = ("items", "occurrences", "organisations", "indicators", "escalations", "delivery")


# --- fonts and small XML helpers ---------------------------------------------------


def _set_font(style: Any, name: str, size: float, bold: bool | None = None) -> None:
    font = style.font
    font.name = name
    font.size = Pt(size)
    if bold is not None:
        font.bold = bold
    font.color.rgb = RGBColor(0, 0, 0)
    rpr = style.element.get_or_add_rPr()
    fonts = rpr.find(qn("w:rFonts"))
    if fonts is None:
        fonts = OxmlElement("w:rFonts")
        rpr.append(fonts)
    # Theme fonts (Calibri in the default template) would win over the named one.
    for theme in ("w:asciiTheme", "w:hAnsiTheme", "w:cstheme", "w:eastAsiaTheme"):
        if fonts.get(qn(theme)) is not None:
            del fonts.attrib[qn(theme)]
    for slot in ("w:ascii", "w:hAnsi", "w:cs", "w:eastAsia"):
        fonts.set(qn(slot), name)


def _field(paragraph: Paragraph, instruction: str, shown: str = "") -> None:
    """A Word field (PAGE, PAGEREF …) with `shown` as its last computed value."""
    for kind, text in (("begin", None), ("instr", instruction), ("separate", None)):
        run = paragraph.add_run()
        if kind == "instr":
            instr = OxmlElement("w:instrText")
            instr.set(qn("xml:space"), "preserve")
            instr.text = f" {text} "
            run._r.append(instr)
        else:
            char = OxmlElement("w:fldChar")
            char.set(qn("w:fldCharType"), kind)
            run._r.append(char)
    paragraph.add_run(shown)
    end = paragraph.add_run()
    char = OxmlElement("w:fldChar")
    char.set(qn("w:fldCharType"), "end")
    end._r.append(char)


def _bookmark(paragraph: Paragraph, name: str, number: int) -> None:
    start = OxmlElement("w:bookmarkStart")
    start.set(qn("w:id"), str(number))
    start.set(qn("w:name"), name)
    end = OxmlElement("w:bookmarkEnd")
    end.set(qn("w:id"), str(number))
    paragraph._p.insert(1 if paragraph._p.pPr is not None else 0, start)
    paragraph._p.append(end)


def _repeat_header(row: _Row) -> None:
    tr_pr = row._tr.get_or_add_trPr()
    flag = OxmlElement("w:tblHeader")
    flag.set(qn("w:val"), "true")
    tr_pr.append(flag)


def _cell_margins(table_properties: Any, cm: float) -> None:
    """The table's default left and right cell margins."""
    margins = OxmlElement("w:tblCellMar")
    for side in ("left", "right"):
        margin = OxmlElement(f"w:{side}")
        margin.set(qn("w:w"), str(round(cm / 2.54 * 1440)))
        margin.set(qn("w:type"), "dxa")
        margins.append(margin)
    table_properties.append(margins)


def _update_fields_on_open(doc: DocumentObject) -> None:
    """Word recomputes the table of contents' page numbers when the file is opened."""
    settings = doc.settings.element
    flag = OxmlElement("w:updateFields")
    flag.set(qn("w:val"), "true")
    settings.append(flag)


# --- column widths -----------------------------------------------------------------


def text_width_cm(text: str, size_pt: float, bold: bool = False) -> float:
    """The width `text` takes on one line at `size_pt` in Times New Roman (Liberation
    Serif's metrics), with 3 % to spare for the renderer's rounding."""
    return text_pt(text, size_pt, "serif-bold" if bold else "serif") / 72 * 2.54 * 1.03


def _words(text: str) -> list[str]:
    """The pieces a line breaks text into: at ordinary spaces (never at no-break ones)
    and after the hyphen of a compound ("программно-" | "методических"), as Word and
    LibreOffice both do."""
    pieces = [p for w in re.split(r"[ \t\n]+", text) for p in re.split(r"(?<=\w-)(?=\w)", w)]
    return [p for p in pieces if p] or [""]


def _measure(
    headers: Sequence[str], rows: Sequence[Sequence[str]], size_pt: float
) -> tuple[list[float], list[float]]:
    """Each column's (minimum, natural) width in cm at `size_pt`: its longest word (so
    that no word breaks), and its longest text on one line (headers wrap at words)."""
    count = len(headers)
    minimum = [0.0] * count
    natural = [0.0] * count
    for index, header in enumerate(headers):
        minimum[index] = max(text_width_cm(w, size_pt, bold=True) for w in _words(header))
        natural[index] = minimum[index]  # headers wrap at their words
    for row in rows:
        for index, text in enumerate(row):
            longest = max(text_width_cm(w, size_pt) for w in _words(text))
            minimum[index] = max(minimum[index], longest)
            natural[index] = max(natural[index], text_width_cm(text, size_pt))
    minimum = [m + CELL_PADDING_CM for m in minimum]
    natural = [max(n + CELL_PADDING_CM, m) for n, m in zip(natural, minimum, strict=True)]
    return minimum, natural


def column_widths(
    headers: Sequence[str], rows: Sequence[Sequence[str]], available_cm: float, size_pt: float
) -> list[float]:
    """Widths (cm) for a table: each column at least as wide as its longest word (so that
    no word breaks), the rest of the page shared out by how much text each column has."""
    minimum, natural = _measure(headers, rows, size_pt)
    if sum(natural) <= available_cm:
        return natural
    spare = available_cm - sum(minimum)
    if spare <= 0:
        return minimum  # the caller picks a smaller font
    wants = [n - m for n, m in zip(natural, minimum, strict=True)]
    total_want = sum(wants) or 1.0
    return [m + spare * w / total_want for m, w in zip(minimum, wants, strict=True)]


def table_font_size(
    headers: Sequence[str], rows: Sequence[Sequence[str]], available_cm: float, size_pt: float
) -> float:
    """The largest size from `size_pt` down at which the table fits the width with
    TEXT_ROOM of it left for long text to wrap in (down to COMFORT_PT; below that,
    the largest at which its words fit at all, down to 6 pt)."""
    size = size_pt

    def least(at: float) -> float:
        return sum(_measure(headers, rows, at)[0])

    while size > COMFORT_PT and least(size) > available_cm * (1 - TEXT_ROOM):
        size -= 0.5
    while size > 6 and least(size) > available_cm:
        size -= 0.5
    return size


# --- building blocks ---------------------------------------------------------------


class _Builder:
    def __init__(self, summary: YearlySummary) -> None:
        self.summary = summary
        self.doc = Document()
        self.bookmarks: list[tuple[int, str, str]] = []  # (level, text, bookmark)
        self.toc: Paragraph | None = None
        self._setup()

    def _setup(self) -> None:
        doc = self.doc
        section = doc.sections[0]
        self._portrait(section)
        _set_font(doc.styles["Normal"], BODY_FONT, 12)
        normal = doc.styles["Normal"].paragraph_format
        normal.space_after = Pt(4)
        normal.space_before = Pt(0)
        for name, size in (("Title", 16), ("Heading 1", 14), ("Heading 2", 13), ("Heading 3", 12)):
            _set_font(doc.styles[name], BODY_FONT, size, bold=True)
            fmt = doc.styles[name].paragraph_format
            fmt.space_before = Pt(10 if name != "Heading 3" else 6)
            fmt.space_after = Pt(4)
            fmt.keep_with_next = True
        for name in ("List Bullet", "List Number", "Caption"):
            _set_font(doc.styles[name], BODY_FONT, 12 if name != "Caption" else 10)
        props = doc.core_properties
        props.title = self.summary.title
        props.subject = f"{self.summary.cycle} учебный год"
        props.author = "Roadmap engine"
        self._header_footer(section)
        _update_fields_on_open(doc)

    def _portrait(self, section: Section) -> None:
        section.orientation = WD_ORIENT.PORTRAIT
        section.page_width, section.page_height = PORTRAIT
        section.left_margin = PORTRAIT_MARGINS["left"]
        section.right_margin = PORTRAIT_MARGINS["right"]
        section.top_margin = PORTRAIT_MARGINS["top"]
        section.bottom_margin = PORTRAIT_MARGINS["bottom"]
        section.header_distance = section.footer_distance = Cm(1.0)

    def _header_footer(self, section: Section) -> None:
        header = section.header.paragraphs[0]
        name = textwrap.shorten(
            self.summary.roadmap_title or "Дорожная карта", width=90, placeholder="…"
        )
        header.text = f"{name} · {self.summary.cycle} учебный год"
        header.alignment = WD_ALIGN_PARAGRAPH.CENTER
        for run in header.runs:
            run.font.size = Pt(9)
            run.italic = True
        footer = section.footer.paragraphs[0]
        footer.alignment = WD_ALIGN_PARAGRAPH.CENTER
        _field(footer, "PAGE", "1")
        for run in footer.runs:
            run.font.size = Pt(10)

    @property
    def text_width_cm(self) -> float:
        return _text_area_cm(self.doc.sections[-1])[0]

    @property
    def text_height_cm(self) -> float:
        return _text_area_cm(self.doc.sections[-1])[1]

    def heading(self, text: str, level: int, in_toc: bool = True) -> Paragraph:
        paragraph: Paragraph = self.doc.add_heading(text, level=level)
        if in_toc:
            mark = f"_Toc_r{len(self.bookmarks) + 1}"
            _bookmark(paragraph, mark, len(self.bookmarks) + 1)
            self.bookmarks.append((level, text, mark))
        return paragraph

    def para(self, text: str, *, indent: bool = True, bold: bool = False) -> Paragraph:
        paragraph = self.doc.add_paragraph()
        run = paragraph.add_run(typeset(text))
        run.bold = bold
        paragraph.alignment = WD_ALIGN_PARAGRAPH.JUSTIFY
        if indent:
            paragraph.paragraph_format.first_line_indent = Cm(1.25)
        return paragraph

    def centred(self, text: str, *, size: float = 12, bold: bool = False) -> Paragraph:
        paragraph = self.doc.add_paragraph()
        run = paragraph.add_run(text)
        run.bold = bold
        run.font.size = Pt(size)
        paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER
        paragraph.paragraph_format.space_after = Pt(2)
        return paragraph

    def table(self, table: Table, size_pt: float = BODY_TABLE_PT) -> None:
        if not table.rows:
            paragraph = self.doc.add_paragraph(table.empty_text)
            paragraph.runs[0].italic = True
            return
        table = without_empty_optional(table)
        headers = [column.header for column in table.columns]
        # Numbers stay on one line ("81,7 %" does not break before its sign).
        texts = [
            [
                format_cell(value, column.kind).replace(" ", NBSP)
                if column.kind is not CellKind.text
                else typeset(format_cell(value, column.kind))
                for value, column in zip(row, table.columns, strict=True)
            ]
            for row in table.rows
        ]
        available = self.text_width_cm - 0.2
        size = table_font_size(headers, texts, available, size_pt)
        widths = column_widths(headers, texts, available, size)
        grid = self.doc.add_table(rows=1, cols=len(headers))
        grid.style = "Table Grid"
        grid.alignment = WD_TABLE_ALIGNMENT.CENTER
        grid.autofit = False
        layout = OxmlElement("w:tblLayout")
        layout.set(qn("w:type"), "fixed")
        grid._tbl.tblPr.append(layout)
        _cell_margins(grid._tbl.tblPr, CELL_MARGIN_CM)
        for column, width in zip(grid.columns, widths, strict=True):
            column.width = Cm(width)
        header = grid.rows[0]
        _repeat_header(header)
        for cell, text, width in zip(header.cells, headers, widths, strict=True):
            cell.width = Cm(width)
            self._cell_text(cell.paragraphs[0], text, size, bold=True, centre=True)
        numeric = [column.kind is not CellKind.text for column in table.columns]
        by_row = iter(texts)
        for group, rows in table.grouped():
            if group is not None:
                cells = grid.add_row().cells
                for cell, width in zip(cells, widths, strict=True):
                    cell.width = Cm(width)
                merged = cells[0].merge(cells[-1])
                self._cell_text(merged.paragraphs[0], group, size, bold=True)
                # a section's name never ends a page: it goes with its first row
                merged.paragraphs[0].paragraph_format.keep_with_next = True
            for _row in rows:
                row_texts = next(by_row)
                cells = grid.add_row().cells
                for cell, text, width, right in zip(cells, row_texts, widths, numeric, strict=True):
                    cell.width = Cm(width)
                    self._cell_text(cell.paragraphs[0], text, size, right=right)
        if len(table.rows) <= KEEP_TOGETHER_ROWS:
            for row in grid.rows[:-1]:
                for cell in row.cells:
                    for paragraph in cell.paragraphs:
                        paragraph.paragraph_format.keep_with_next = True
        for row in grid.rows:
            flag = OxmlElement("w:cantSplit")
            flag.set(qn("w:val"), "true")
            row._tr.get_or_add_trPr().append(flag)
        self.doc.add_paragraph().paragraph_format.space_after = Pt(2)

    @staticmethod
    def _cell_text(
        paragraph: Paragraph,
        text: str,
        size: float,
        *,
        bold: bool = False,
        right: bool = False,
        centre: bool = False,
    ) -> None:
        run = paragraph.add_run(text)
        run.font.size = Pt(size)
        run.bold = bold
        fmt = paragraph.paragraph_format
        fmt.space_after = Pt(0)
        fmt.first_line_indent = Cm(0)
        if right:
            paragraph.alignment = WD_ALIGN_PARAGRAPH.RIGHT
        elif centre:
            paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER
        else:
            paragraph.alignment = WD_ALIGN_PARAGRAPH.LEFT

    def picture(self, caption: str, png: bytes) -> None:
        """A chart scaled to the text width, or smaller so that it and its caption fit
        the page's height."""
        width_px, height_px = _png_size(png)
        width = self.text_width_cm
        height_limit = self.text_height_cm - 3.0
        if width * height_px / width_px > height_limit:
            width = height_limit * width_px / height_px
        self.doc.add_picture(io.BytesIO(png), width=Cm(width))
        picture = self.doc.paragraphs[-1]
        picture.alignment = WD_ALIGN_PARAGRAPH.CENTER
        picture.paragraph_format.keep_with_next = True
        picture.paragraph_format.first_line_indent = Cm(0)
        note = self.doc.add_paragraph()
        run = note.add_run(caption)
        run.italic = True
        run.font.size = Pt(10)
        note.alignment = WD_ALIGN_PARAGRAPH.CENTER

    def landscape_section(self) -> None:
        section = self.doc.add_section(WD_SECTION.NEW_PAGE)
        section.orientation = WD_ORIENT.LANDSCAPE
        section.page_width, section.page_height = PORTRAIT[1], PORTRAIT[0]
        for margin in ("left_margin", "right_margin", "top_margin", "bottom_margin"):
            setattr(section, margin, LANDSCAPE_MARGIN)

    def fill_toc(self) -> None:
        """The table of contents: headings with page references (LibreOffice computes
        them on layout; Word updates them on opening)."""
        assert self.toc is not None
        anchor = self.toc
        width = self.text_width_cm_first
        for level, text, mark in reversed(self.bookmarks):
            if level > 2:
                continue
            paragraph = anchor.insert_paragraph_before()
            anchor._p.addnext(paragraph._p)  # moved: entries end up in order after it
            fmt = paragraph.paragraph_format
            fmt.left_indent = Cm(0.6 * (level - 1))
            fmt.space_after = Pt(1)
            fmt.tab_stops.add_tab_stop(Cm(width), WD_TAB_ALIGNMENT.RIGHT, WD_TAB_LEADER.DOTS)
            paragraph.add_run(f"{text}\t")
            _field(paragraph, f"PAGEREF {mark} \\h", "")

    @property
    def text_width_cm_first(self) -> float:
        return _text_area_cm(self.doc.sections[0])[0]


def _text_area_cm(section: Section) -> tuple[float, float]:
    """The width and height of a section's text area, in cm."""
    sizes = (
        section.page_width,
        section.page_height,
        section.left_margin,
        section.right_margin,
        section.top_margin,
        section.bottom_margin,
    )
    page_w, page_h, left, right, top, bottom = (int(v or 0) for v in sizes)
    return Emu(page_w - left - right).cm, Emu(page_h - top - bottom).cm


def _without_empty_columns(table: Table, keep: int) -> Table:
    """The table without rows that are all zero and without columns (after the first
    `keep`) that are zero or empty in every row: a centre-only item shows no per-kind
    columns, an item with no answers no table."""
    rows = [row for row in table.rows if any(v not in (0, None, "") for v in row[1:])]
    kept = [
        index
        for index in range(len(table.columns))
        if index < keep or any(row[index] not in (0, None, "") for row in rows)
    ]
    return replace(
        table,
        columns=tuple(table.columns[i] for i in kept),
        rows=tuple(tuple(row[i] for i in kept) for row in rows),
    )


def _png_size(png: bytes) -> tuple[int, int]:
    """A PNG's pixel size from its IHDR chunk."""
    width, height = struct.unpack(">II", png[16:24])
    return int(width), int(height)


# --- the document ------------------------------------------------------------------


def _title_block(b: _Builder) -> None:
    s = b.summary
    if s.district:
        b.centred(s.district, size=12)
    b.centred("")
    b.centred(
        "ПРОМЕЖУТОЧНАЯ АНАЛИТИЧЕСКАЯ СПРАВКА" if s.interim else "АНАЛИТИЧЕСКАЯ СПРАВКА",
        size=16,
        bold=True,
    )
    b.centred(f"о реализации {roadmap_genitive(s.roadmap_title)}", size=13, bold=True)
    if s.roadmap_order:
        b.centred(f"(приказ {s.roadmap_order})", size=12)
    b.centred(f"за {s.cycle} учебный год, период {s.period_label}", size=12)
    b.centred(f"на дату {s.as_of:%d.%m.%Y}", size=12, bold=True)
    if s.tracked_since:
        b.centred(f"Мониторинг ведётся с {s.tracked_since:%d.%m.%Y}", size=11)


def items_by_section(b: _Builder, summary: YearlySummary, number: str, level: int = 2) -> None:
    """Each section of the roadmap (`number`.1, `number`.2, …), each item's result in a
    few sentences and its figures (the combined report reuses it, one level down)."""
    for s_index, section in enumerate(summary.sections, start=1):
        b.heading(f"{number}.{s_index}. {section.name}", level)
        for item in section.items:
            b.heading(f"№ {item.number}. {item.title}", level + 1, in_toc=False)
            b.para(schedule_line(item)).alignment = WD_ALIGN_PARAGRAPH.LEFT
            b.para(" ".join(item_text(item, summary)))
            indicators = _without_empty_columns(item_indicators_table(summary, item.number), 2)
            if indicators.rows:
                b.table(indicators)


def build_docx(summary: YearlySummary, charts: list[tuple[str, bytes]] | None = None) -> bytes:
    """The document as bytes; `charts` (caption, PNG) default to the standard charts:
    the first is the items' chart, the others the organisations'."""
    pictures = all_charts(summary) if charts is None else charts
    b = _Builder(summary)
    doc = b.doc

    _title_block(b)
    contents = doc.add_paragraph()
    contents.add_run("Содержание").bold = True
    contents.paragraph_format.space_before = Pt(12)
    b.toc = contents

    b.heading("1. Общие итоги", 1).paragraph_format.page_break_before = True
    for sentence in summary.text:
        b.para(sentence)
    if summary.kinds:
        b.table(kinds_table(summary))
    if pictures:
        b.picture(*pictures[0])

    b.heading("2. Исполнение мероприятий по разделам дорожной карты", 1)
    items_by_section(b, summary, "2")

    b.heading("3. Исполнение по организациям", 1)
    with_tasks = organisations_with_tasks(summary)
    weakest = weakest_organisations(summary)
    if len(with_tasks) <= ALL_ORGANISATIONS_UP_TO or not weakest:
        b.table(organisations_compact_table(summary))
    else:
        b.para(
            f"Организаций с заданиями — {len(with_tasks)}; ниже {GROUP} организаций с "
            "наименьшей долей заданий, принятых в срок. Полная таблица — в приложении 3."
        )
        b.table(organisations_compact_table(summary, weakest))
    for caption, png in pictures[1:]:
        b.picture(caption, png)

    b.heading("4. Выводы", 1)
    for number, sentence in enumerate(summary.conclusions, start=1):
        b.para(f"{number}. {sentence}")
    b.heading("5. Рекомендации", 1)
    for number, sentence in enumerate(summary.recommendations, start=1):
        b.para(f"{number}. {sentence}")
    missing_dates = needs_dates_lines(summary)
    if missing_dates:
        b.heading("Мероприятия без установленных сроков", 2)
        for entry in missing_dates:
            doc.add_paragraph(typeset(entry), style="List Bullet")

    tables = {table.key: table for table in all_tables(summary)}
    for number, key in enumerate(APPENDICES, start=1):
        if number == 1:
            b.landscape_section()
        heading = b.heading(f"Приложение {number}. {TABLE_HEADINGS[key]}", 1)
        heading.paragraph_format.page_break_before = number > 1
        b.table(tables[key], APPENDIX_TABLE_PT)
    b.fill_toc()

    buffer = io.BytesIO()
    doc.save(buffer)
    return buffer.getvalue()
