"""The combined report of every roadmap of a cycle, in the four formats from one
computation (domain/combined.py): a title block naming every roadmap, a section per
roadmap (the same sections as its own report), and the organisations across them."""

from __future__ import annotations

import html
import io

from domain.combined import CombinedSummary
from domain.summary import item_text, roadmap_genitive
from reports.charts import (
    ALL_ORGANISATIONS_UP_TO,
    GROUP,
    organisations_with_tasks,
    weakest_organisations,
)
from reports.markdown import _table as markdown_table
from reports.markdown import escape_md
from reports.tables import (
    LATE,
    MISSING,
    ON_TIME,
    CellKind,
    Column,
    Table,
    format_cell,
    items_table,
    kinds_table,
    organisations_compact_table,
)
from reports.text import printable_copy
from reports.write import FORMATS, Format

ROADMAPS_HEADING = "Дорожные карты"
ORGANISATIONS_HEADING = "Организации по всем дорожным картам"


def roadmaps_table(combined: CombinedSummary) -> Table:
    """One row per roadmap and the total: tasks, on time, late, not submitted, share."""
    columns = (
        Column("Дорожная карта", width=44),
        Column("Мероприятий", CellKind.int),
        Column("Заданий", CellKind.int),
        Column(ON_TIME, CellKind.int),
        Column(LATE, CellKind.int),
        Column(MISSING, CellKind.int),
        Column("Доля в срок", CellKind.share),
    )
    rows = [
        (
            part.summary.roadmap_title or part.key,
            len(part.summary.items),
            c.asked,
            c.on_time,
            c.late,
            c.missing,
            c.on_time_share,
        )
        for part in combined.parts
        for c in (part.summary.counts,)
    ]
    t = combined.counts
    rows.append(
        (
            "Всего",
            sum(len(p.summary.items) for p in combined.parts),
            t.asked,
            t.on_time,
            t.late,
            t.missing,
            t.on_time_share,
        )
    )
    return Table(key="roadmaps", title=ROADMAPS_HEADING, columns=columns, rows=tuple(rows))


def combined_organisations_table(combined: CombinedSummary) -> Table:
    """Every organisation with tasks, its tasks of all roadmaps added up."""
    columns = (
        Column("Организация", width=34),
        Column("Тип", width=16),
        Column("Дорожных карт", CellKind.int),
        Column("Заданий", CellKind.int),
        Column(ON_TIME, CellKind.int),
        Column(LATE, CellKind.int),
        Column(MISSING, CellKind.int),
        Column("Доля в срок", CellKind.share),
    )
    rows = tuple(
        (
            o.short_name,
            o.kind_label,
            o.roadmaps,
            o.counts.asked,
            o.counts.on_time,
            o.counts.late,
            o.counts.missing,
            o.counts.on_time_share,
        )
        for o in combined.organisations
    )
    return Table(key="combined_organisations", title="Организации", columns=columns, rows=rows)


def _part_heading(number: int, title: str) -> str:
    return f"{number}. Дорожная карта «{title}»" if title else f"{number}. Дорожная карта"


# --- Markdown ------------------------------------------------------------------------


def render_combined_markdown(combined: CombinedSummary) -> str:
    lines = [f"# {escape_md(combined.title)}", ""]
    lines += ["**Дорожные карты:**", ""]
    lines += [f"- {escape_md(name)}" for name in combined.roadmap_names]
    lines += ["", f"**На дату:** {combined.as_of:%d.%m.%Y}.", "", "## 1. Общие итоги", ""]
    for sentence in combined.text:
        lines += [escape_md(sentence), ""]
    lines += [*markdown_table(roadmaps_table(combined)), ""]
    for number, part in enumerate(combined.parts, start=2):
        s = part.summary
        lines += [f"## {escape_md(_part_heading(number, s.roadmap_title))}", ""]
        lines += [f"Период: {s.period_label}; на дату {s.as_of:%d.%m.%Y}.", ""]
        for sentence in s.text:
            lines += [escape_md(sentence), ""]
        for section in s.sections:
            lines += [f"### {escape_md(section.name)}", ""]
            for item in section.items:
                lines += [f"**№ {item.number}. {escape_md(item.title)}**", ""]
                lines += [escape_md(" ".join(item_text(item, s))), ""]
        lines += ["### Мероприятия", "", *markdown_table(items_table(s)), ""]
    lines += [f"## {len(combined.parts) + 2}. {ORGANISATIONS_HEADING}", ""]
    lines += [*markdown_table(combined_organisations_table(combined)), ""]
    return "\n".join(lines)


# --- HTML ----------------------------------------------------------------------------

STYLE = """
body { font-family: "DejaVu Sans", "Segoe UI", Arial, sans-serif; margin: 2rem auto;
       max-width: 1200px; padding: 0 1rem; color: #1f2328; line-height: 1.45; }
h1 { font-size: 1.6rem; } h2 { font-size: 1.2rem; margin-top: 2rem;
     border-bottom: 1px solid #d0d7de; }
table { border-collapse: collapse; width: 100%; font-size: .85rem; margin: .5rem 0 1rem; }
th, td { border: 1px solid #d0d7de; padding: .3rem .45rem; vertical-align: top; }
th { background: #f6f8fa; text-align: left; font-size: .8rem; }
td.num { text-align: right; white-space: nowrap; }
tr.group td { background: #eef2f6; font-weight: bold; }
.meta { color: #57606a; } .empty { color: #57606a; font-style: italic; }
"""


def _html_table(table: Table) -> str:
    if not table.rows:
        return f'<p class="empty">{html.escape(table.empty_text)}</p>'
    head = "".join(f"<th>{html.escape(c.header)}</th>" for c in table.columns)
    body: list[str] = []
    for group, rows in table.grouped():
        if group is not None:
            body.append(
                f'<tr class="group"><td colspan="{len(table.columns)}">'
                f"{html.escape(group)}</td></tr>"
            )
        for row in rows:
            cells = "".join(
                f'<td class="num">{html.escape(format_cell(v, c.kind))}</td>'
                if c.kind is not CellKind.text
                else f"<td>{html.escape(format_cell(v, c.kind))}</td>"
                for v, c in zip(row, table.columns, strict=True)
            )
            body.append(f"<tr>{cells}</tr>")
    return (
        f'<div class="scroll"><table><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


def render_combined_html(combined: CombinedSummary) -> str:
    e = html.escape
    out = [
        '<!DOCTYPE html>\n<html lang="ru">\n<head>\n<meta charset="utf-8">',
        f"<title>{e(combined.title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>",
        f"<h1>{e(combined.title)}</h1>",
    ]
    if combined.district:
        out.append(f'<p class="meta">{e(combined.district)}</p>')
    out.append('<p class="meta">Дорожные карты:</p><ul>')
    out += [f"<li>{e(name)}</li>" for name in combined.roadmap_names]
    out.append(f'</ul><p class="meta">На дату {combined.as_of:%d.%m.%Y}.</p>')
    out.append("<h2>1. Общие итоги</h2>")
    out += [f"<p>{e(sentence)}</p>" for sentence in combined.text]
    out.append(_html_table(roadmaps_table(combined)))
    for number, part in enumerate(combined.parts, start=2):
        s = part.summary
        out.append(f"<h2>{e(_part_heading(number, s.roadmap_title))}</h2>")
        out.append(f'<p class="meta">Период: {s.period_label}; на дату {s.as_of:%d.%m.%Y}.</p>')
        out += [f"<p>{e(sentence)}</p>" for sentence in s.text]
        for section in s.sections:
            out.append(f"<h3>{e(section.name)}</h3>")
            for item in section.items:
                out.append(f"<p><strong>№ {item.number}. {e(item.title)}</strong></p>")
                out.append(f"<p>{e(' '.join(item_text(item, s)))}</p>")
        out.append("<h3>Мероприятия</h3>")
        out.append(_html_table(items_table(s)))
    out.append(f"<h2>{len(combined.parts) + 2}. {ORGANISATIONS_HEADING}</h2>")
    out.append(_html_table(combined_organisations_table(combined)))
    out.append("</body>\n</html>\n")
    return "\n".join(out)


# --- Word ----------------------------------------------------------------------------


def build_combined_docx(combined: CombinedSummary) -> bytes:
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.shared import Pt

    from reports.docx import APPENDIX_TABLE_PT, _Builder, items_by_section

    assert combined.parts, "a combined report needs at least one roadmap"
    b = _Builder(combined.parts[0].summary)
    doc = b.doc
    doc.core_properties.title = combined.title
    header = doc.sections[0].header.paragraphs[0]
    header.text = f"Дорожные карты ({len(combined.parts)}) · {combined.cycle} учебный год"
    header.alignment = WD_ALIGN_PARAGRAPH.CENTER
    for run in header.runs:
        run.font.size = Pt(9)
        run.italic = True

    if combined.district:
        b.centred(combined.district, size=12)
    b.centred("")
    b.centred(
        "ПРОМЕЖУТОЧНАЯ СВОДНАЯ АНАЛИТИЧЕСКАЯ СПРАВКА"
        if combined.interim
        else "СВОДНАЯ АНАЛИТИЧЕСКАЯ СПРАВКА",
        size=16,
        bold=True,
    )
    b.centred("о реализации дорожных карт", size=13, bold=True)
    for name in combined.roadmap_names:
        b.centred(name, size=12)
    b.centred(f"за {combined.cycle} учебный год", size=12)
    b.centred(f"на дату {combined.as_of:%d.%m.%Y}", size=12, bold=True)
    contents = doc.add_paragraph()
    contents.add_run("Содержание").bold = True
    contents.paragraph_format.space_before = Pt(12)
    b.toc = contents

    b.heading("1. Общие итоги", 1).paragraph_format.page_break_before = True
    for sentence in combined.text:
        b.para(sentence)
    b.table(roadmaps_table(combined))

    for number, part in enumerate(combined.parts, start=2):
        s = part.summary
        b.summary = s
        heading = b.heading(_part_heading(number, s.roadmap_title), 1)
        heading.paragraph_format.page_break_before = True
        b.para(f"Период: {s.period_label}; на дату {s.as_of:%d.%m.%Y}.")
        for sentence in s.text:
            b.para(sentence)
        if s.kinds:
            b.table(kinds_table(s))
        items_by_section(b, s, str(number))
        b.heading(f"{number}.{len(s.sections) + 1}. Исполнение по организациям", 2)
        with_tasks = organisations_with_tasks(s)
        weakest = weakest_organisations(s)
        if len(with_tasks) <= ALL_ORGANISATIONS_UP_TO or not weakest:
            b.table(organisations_compact_table(s))
        else:
            b.para(
                f"Организаций с заданиями — {len(with_tasks)}; ниже {GROUP} с наименьшей "
                "долей заданий, принятых в срок; все — в таблице организаций по всем картам."
            )
            b.table(organisations_compact_table(s, weakest))
        if s.conclusions:
            b.heading(f"{number}.{len(s.sections) + 2}. Выводы", 2)
            for n, sentence in enumerate(s.conclusions, start=1):
                b.para(f"{n}. {sentence}")

    last = len(combined.parts) + 2
    b.heading(f"{last}. {ORGANISATIONS_HEADING}", 1).paragraph_format.page_break_before = True
    b.table(combined_organisations_table(combined))

    b.landscape_section()
    for index, part in enumerate(combined.parts, start=1):
        title = part.summary.roadmap_title or part.key
        heading = b.heading(f"Приложение {index}. Мероприятия: {title}", 1)
        heading.paragraph_format.page_break_before = index > 1
        b.table(items_table(part.summary), APPENDIX_TABLE_PT)
    b.fill_toc()
    buffer = io.BytesIO()
    doc.save(buffer)
    return buffer.getvalue()


# --- Excel ---------------------------------------------------------------------------


def _sheet_title(text: str, used: set[str]) -> str:
    """An Excel sheet name: at most 31 characters, none of []:*?/\\, unique."""
    clean = "".join(" " if ch in "[]:*?/\\" else ch for ch in text).strip()[:31] or "Лист"
    name, n = clean, 2
    while name in used:
        suffix = f" ({n})"
        name, n = clean[: 31 - len(suffix)] + suffix, n + 1
    used.add(name)
    return name


def build_combined_xlsx(combined: CombinedSummary) -> bytes:
    from dataclasses import replace

    from openpyxl import Workbook

    from reports.xlsx import TEXT_COLUMN_CHARS, _print_setup, _text_row, _write_table

    book = Workbook()
    front = book.active
    assert front is not None
    front.title = "Справка"
    front.column_dimensions["A"].width = TEXT_COLUMN_CHARS
    if combined.district:
        _text_row(front, combined.district)
    _text_row(front, combined.title, bold=True, size=13)
    _text_row(front, "Дорожные карты:", bold=True)
    for name in combined.roadmap_names:
        _text_row(front, f"— {name}")
    _text_row(front, f"На дату {combined.as_of:%d.%m.%Y}.")
    _text_row(front, "")
    _text_row(front, "Общие итоги", bold=True, size=12)
    for sentence in combined.text:
        _text_row(front, sentence)
    for part in combined.parts:
        _text_row(front, "")
        _text_row(front, f"Итоги {roadmap_genitive(part.summary.roadmap_title)}", bold=True)
        for sentence in part.summary.text:
            _text_row(front, sentence)
    _text_row(front, "")
    _text_row(front, "Таблицы — на следующих листах; все числа — те же, что в тексте справки.")
    _print_setup(front, combined.title, landscape=False)

    used = {"Справка"}
    tables: list[Table] = [roadmaps_table(combined)]
    tables.append(replace(combined_organisations_table(combined), title=ORGANISATIONS_HEADING[:31]))
    for part in combined.parts:
        tables.append(replace(items_table(part.summary), title=f"Мероприятия {part.key}"))
    for table in tables:
        _write_table(book, replace(table, title=_sheet_title(table.title, used)), combined.title)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def render_combined(combined: CombinedSummary, fmt: Format) -> bytes:
    """The combined report in format `fmt`; its text made printable (reports.text)."""
    combined = printable_copy(combined)
    if fmt == "md":
        return render_combined_markdown(combined).encode("utf-8")
    if fmt == "html":
        return render_combined_html(combined).encode("utf-8")
    if fmt == "docx":
        return build_combined_docx(combined)
    if fmt == "xlsx":
        return build_combined_xlsx(combined)
    raise ValueError(f"unknown summary format {fmt!r}; use one of {', '.join(FORMATS)}")


def render_combined_all(combined: CombinedSummary) -> dict[Format, bytes]:
    """All four formats of the combined report: {format: bytes}."""
    combined = printable_copy(combined)  # once: each format's copy is then the same object
    return {fmt: render_combined(combined, fmt) for fmt in FORMATS}
