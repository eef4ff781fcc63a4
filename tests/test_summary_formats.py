"""The summary written as md, html, docx and xlsx, then read back."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from docx import Document
from openpyxl import load_workbook
from sqlalchemy import Engine

from domain.db import make_engine, upgrade
from reports import FORMATS, format_for, write_all, write_summary
from reports.charts import completion_by_item_png
from reports.tables import all_tables
from tests.conftest import make_settings
from tests.test_summary import SCRIPT, build

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    """The four files, written once for the module's read-back tests."""
    folder = tmp_path_factory.mktemp("summary")
    engine = make_engine(make_settings(folder).effective_database_url)
    upgrade(engine)
    yield write_all(build(engine), folder / "out")
    engine.dispose()


def test_write_all_writes_every_format(written: dict[str, Path]) -> None:
    assert set(written) == {"md", "html", "docx", "xlsx"}
    for fmt, path in written.items():
        assert path.name == f"summary-2022-2023.{fmt}"
        assert path.stat().st_size > 0
    assert {p.name for p in written["md"].parent.iterdir()} == {
        f"summary-2022-2023.{fmt}" for fmt in FORMATS
    }  # no temporary files left behind


def test_markdown_has_the_text_and_tables(written: dict[str, Path]) -> None:
    md = written["md"].read_text(encoding="utf-8")
    assert md.startswith("# Аналитическая справка о реализации дорожной карты в 2022/2023")
    assert "**Период:** 08.04.2022 – 31.08.2023; на дату 15.09.2023." in md
    assert "участвовали 3 организации" in md
    assert "| № | Мероприятие | Сроки исполнения | Заданий | Принято в срок |" in md
    row13 = next(line for line in md.splitlines() if line.startswith("| 13 | Формирование"))
    cells = [c.strip() for c in row13.strip("|").split(" | ")]
    assert cells[3:8] == ["3", "1", "2", "2", "3"]  # asked, on time, late, avg, max days
    assert "| 13 | Формирование банка наставников \\<script\\>" in md
    assert "| Количество наставников | последний ответ задания | 57 |" in md
    assert "| Количество наставляемых | последний ответ задания | 61 |" in md
    assert "## Выводы" in md and "## Рекомендации" in md
    assert "550 5.1.1 mailbox unavailable" in md
    assert "<script>" not in md


def test_html_is_self_contained_and_escaped(written: dict[str, Path]) -> None:
    html = written["html"].read_text(encoding="utf-8")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script" not in html
    assert "<style>" in html and "<link" not in html
    images = re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    assert len(images) == 2
    assert all(base64.b64decode(image).startswith(PNG_MAGIC) for image in images)
    assert "<h1>Аналитическая справка" in html
    assert '<td class="num">57</td>' in html
    assert "Мероприятия без установленных сроков" in html


def docx_tables(path: Path) -> dict[str, list[list[str]]]:
    """Every table of the document under the heading above it (the last table of a
    heading wins; the appendices have one table each); no-break spaces read as spaces."""
    from docx.table import Table as DocxTable
    from docx.text.paragraph import Paragraph

    doc = Document(str(path))
    heading, found = "", {}
    for block in doc.element.body.iterchildren():
        if block.tag.endswith("}p"):
            paragraph = Paragraph(block, doc)
            if paragraph.style is not None and paragraph.style.name.startswith("Heading"):
                heading = paragraph.text
        elif block.tag.endswith("}tbl"):
            table = DocxTable(block, doc)
            found[heading] = [
                [cell.text.replace("\u00a0", " ") for cell in row.cells] for row in table.rows
            ]
    return found


def test_docx_is_an_analytical_report(written: dict[str, Path]) -> None:
    doc = Document(str(written["docx"]))
    texts = [p.text for p in doc.paragraphs]
    assert "АНАЛИТИЧЕСКАЯ СПРАВКА" in texts[:3]
    assert "на дату 15.09.2023" in texts
    headings = [
        p.text for p in doc.paragraphs if p.style is not None and p.style.name == "Heading 1"
    ]
    assert headings[:5] == [
        "1. Общие итоги",
        "2. Исполнение мероприятий по разделам дорожной карты",
        "3. Исполнение по организациям",
        "4. Выводы",
        "5. Рекомендации",
    ]
    assert [h.split(".")[0] for h in headings[5:]] == [f"Приложение {n}" for n in range(1, 7)]
    body = "\n".join(texts).replace("\u00a0", " ")  # no-break spaces read as spaces
    assert "Период: 08.04.2022 – 31.08.2023" not in body  # one date format, in the title
    assert "период 08.04.2022 – 31.08.2023" in body
    assert "Принято в срок 3 задания (33,3 %)" in body
    assert "№ 13. Формирование банка наставников <script>alert(1)</script>" in body
    tables = docx_tables(written["docx"])
    items = tables["Приложение 1. Исполнение мероприятий"]
    assert items[0][:6] == [
        "№",
        "Мероприятие",
        "Сроки исполнения",
        "Заданий",
        "Принято в срок",
        "Принято с опозданием",
    ]
    item_rows = {row[0]: row for row in items}
    assert item_rows["13"][3:6] == ["3", "1", "2"]
    assert item_rows["13"][1] == f"Формирование банка наставников {SCRIPT}"
    orgs = {row[0]: row for row in tables["Приложение 3. Исполнение по организациям"]}
    assert orgs["МКОУ СОШ № 1"][3:5] == ["4", "3"]
    totals = {row[2]: row[4] for row in tables["Приложение 4. Показатели по округу"]}
    assert totals["Количество наставников"] == "57"
    assert totals["Количество наставляемых"] == "61"
    escalations = tables["Приложение 5. Эскалации по организациям и мероприятиям"]
    assert escalations[1] == [f"СОШ 2 {SCRIPT}", "школа", "1", "№ 15 (1)"]
    assert "owner@imcso.example" not in body + str(tables)  # counts, not a list of emails
    delivery = tables["Приложение 6. Недоставленные письма"]
    assert delivery[1][2] == "h2@s2.example"
    assert len(doc.inline_shapes) >= 1
    picture = doc.inline_shapes[0]._inline.graphic.graphicData.pic
    blob = doc.part.related_parts[picture.blipFill.blip.embed].blob
    assert blob.startswith(PNG_MAGIC)
    sections = doc.sections
    first, last = sections[0], sections[-1]
    assert int(first.page_width or 0) < int(first.page_height or 0)  # the text: portrait
    assert int(last.page_width or 0) > int(last.page_height or 0)  # appendices: landscape


def test_xlsx_has_one_sheet_per_view(written: dict[str, Path]) -> None:
    book = load_workbook(written["xlsx"])
    for name in (
        "Справка",
        "Мероприятия",
        "Типы организаций",
        "Организации",
        "Показатели",
        "Эскалации",
        "Доставка",
    ):
        assert name in book.sheetnames
    items = book["Мероприятия"]
    assert items.freeze_panes == "A2"
    assert all(cell.font.bold for cell in items[1])
    assert items.column_dimensions["C"].width >= 30
    header = [cell.value for cell in items[1]]
    assert header[:4] == ["Раздел", "№", "Мероприятие", "Сроки исполнения"]
    rows = {row[1]: row for row in items.iter_rows(min_row=2, values_only=True)}
    assert rows[13][4:7] == (3, 1, 2)
    assert rows[13][0] == "Организация работы в ОО"
    share = rows[13][header.index("Доля в срок")]
    assert isinstance(share, float) and abs(share - 1 / 3) < 1e-9

    indicators = book["Показатели"]
    head = [cell.value for cell in indicators[1]]
    column = head.index("Итого по округу")
    totals = {row[2]: row[column] for row in indicators.iter_rows(min_row=2, values_only=True)}
    assert totals == {
        "Количество наставников": 57,
        "Количество наставляемых": 61,
        "Число участников": 10,
    }
    assert all(isinstance(v, int) for v in totals.values())

    escalations = list(book["Эскалации"].iter_rows(min_row=2, values_only=True))
    assert escalations == [(f"СОШ 2 {SCRIPT}", "школа", 1, "№ 15 (1)")]
    delivery = list(book["Доставка"].iter_rows(min_row=2, values_only=True))
    assert [(r[2], r[4]) for r in delivery] == [("h2@s2.example", "550 5.1.1 mailbox unavailable")]
    orgs = {row[0]: row for row in book["Организации"].iter_rows(min_row=2, values_only=True)}
    assert orgs["МКОУ СОШ № 1"][3:6] == (4, 3, 0)
    for sheet in book.worksheets[1:]:
        assert sheet.page_setup.orientation == "landscape"
        assert sheet.page_setup.fitToWidth == 1 and sheet.page_setup.fitToHeight == 0
        assert sheet.sheet_properties.pageSetUpPr.fitToPage
        assert sheet.print_title_rows in ("1:1", "$1:$1")
        assert sheet.freeze_panes == "A2"
        if sheet.max_row > 1:
            assert sheet.auto_filter.ref
    front = book["Справка"]
    assert all(cell.alignment.wrap_text for (cell,) in front.iter_rows(max_col=1) if cell.value)
    assert front.column_dimensions["A"].width <= 100  # a portrait page's width


def test_charts_are_png(engine: Engine) -> None:
    png = completion_by_item_png(build(engine))
    assert png.startswith(PNG_MAGIC) and len(png) > 5000


def test_format_follows_the_extension(engine: Engine, tmp_path: Path) -> None:
    assert format_for(Path("a.MD")) == "md"
    assert format_for(Path("a.htm")) == "html"
    assert format_for(Path("a.pdf")) is None
    path = write_summary(build(engine), "md", tmp_path / "deep" / "folder" / "s.md")
    assert path.read_text(encoding="utf-8").startswith("# Аналитическая справка")


def test_an_empty_summary_still_renders(engine: Engine, tmp_path: Path) -> None:
    from sqlmodel import Session

    from domain.cycles import Cycle
    from domain.summary import build_summary

    with Session(engine) as session:
        empty = build_summary(
            session=session,
            cycle=Cycle.parse("2022/2023"),
            roadmap_start=date(2022, 4, 8),
            as_of=date(2023, 9, 1),
        )
    paths = write_all(empty, tmp_path)
    assert "Эскалаций не было." in paths["md"].read_text(encoding="utf-8")
    assert len(Document(str(paths["docx"])).inline_shapes) >= 1
    assert all(not table.rows for table in all_tables(empty))


def test_not_asked_counts_only_organisations_the_rule_covers(engine: Engine) -> None:
    """A centre-only item (like items 1, 3, 4) must not show every school as missed."""
    from sqlmodel import Session, select

    from domain.enums import Role, TaskStatus
    from domain.roadmap import Roadmap, RoadmapItem
    from domain.summary import build_summary
    from domain.tasks import Occurrence, Task, assignee_key
    from reports.markdown import render_markdown
    from reports.tables import items_table, occurrences_table
    from tests.test_summary import AS_OF, CYCLE, START, msk, rule, seed_world

    with Session(engine) as session:
        seed_world(session)
        roadmap = session.exec(select(Roadmap)).one()
        assert roadmap.id is not None
        centre_only = RoadmapItem(
            roadmap_id=roadmap.id,
            number=1,
            slug="item-1",
            section="Организация работы в ОО",
            title="Разработка положения о наставничестве",
            schedule_text="до 30.09.2022",
            responsible="МКУ «ИМЦСО ЛМО СК»",
            assignees=rule(True, None),
            expected_result="Положение",
        )
        session.add(centre_only)
        session.flush()
        assert centre_only.id is not None
        occ = Occurrence(
            item_id=centre_only.id, cycle=CYCLE.name, opens=START, due=date(2022, 9, 30)
        )
        session.add(occ)
        session.flush()
        assert occ.id is not None
        session.add(
            Task(
                occurrence_id=occ.id,
                item_id=centre_only.id,
                organisation_id=None,
                assignee_key=assignee_key(None),
                role=Role.centre,
                status=TaskStatus.open,
                due=occ.due,
                opened_at=msk(2022, 4, 11),
                updated_at=msk(2022, 4, 11),
            )
        )
        session.commit()
        summary = build_summary(session=session, cycle=CYCLE, roadmap_start=START, as_of=AS_OF)

    items = items_table(summary)
    headers = [c.header for c in items.columns]
    assert "Не привлекались" not in headers
    item_column = headers.index("Не привлечены (хотя должны)")
    missed = {row[0]: row[item_column] for row in items.rows}
    # 1: centre only; 10: no dates yet; 13 and 15: every covered kind asked; 17: СОШ 2.
    assert missed == {1: None, 10: None, 13: 0, 15: 0, 17: 1}

    occurrences = occurrences_table(summary)
    column = [c.header for c in occurrences.columns].index("Не привлечены (хотя должны)")
    assert {(row[0], row[column]) for row in occurrences.rows} == {
        (1, None),
        (13, 0),
        (15, 0),
        (17, 1),
    }
    row1 = next(line for line in render_markdown(summary).splitlines() if line.startswith("| 1 |"))
    assert [c.strip() for c in row1.strip("|").split(" | ")][item_column] == "—"
