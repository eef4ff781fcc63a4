"""Untrusted text stays text in every output: an organisation named like a spreadsheet
formula, with Markdown and HTML in it and a control character pasted from Word, comes
out as that text in the summary (Markdown, HTML, Word, Excel), the combined report, and
the admin's CSV and Excel exports; no file refuses to be written because of it."""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Iterator
from datetime import date

import pytest
from docx import Document
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import Engine
from sqlmodel import Session, select

from domain.combined import RoadmapPart, combine
from domain.db import make_engine, upgrade
from domain.organisations import Organisation
from domain.roadmap import RoadmapItem
from domain.summary import YearlySummary, build_summary
from portal.app import create_app
from reports.combined import render_combined_all
from reports.text import printable, printable_copy
from reports.write import render_all
from tests.conftest import make_settings
from tests.portal_world import BASE, START, Clock, World, build_world, login
from tests.test_summary import AS_OF, CYCLE, seed_world
from tests.test_summary import START as ROADMAP_START

FORMULA = '=HYPERLINK("http://evil.example/?x","Школа")'
# a formula, Markdown, HTML, and a vertical tab and a NUL (what Word and broken imports leave)
EVIL_NAME = f"{FORMULA} | *жирный* [ссылка](http://evil.example) <b>школа</b>\x0bкорпус\x00 2"
SHOWN_NAME = f"{FORMULA} | *жирный* [ссылка](http://evil.example) <b>школа</b> корпус 2"
EVIL_TITLE = "+Формирование банка наставников\x0cи пар"


def test_printable_drops_what_xml_cannot_hold_and_keeps_the_rest() -> None:
    assert printable("a\x0bb\x0cc\x00d\x1fe\ufffef") == "a b cdef"
    kept = "Школа № 1\tи\nдетский\r\nсад — «Ёлочка» =1 +2 -3 @4 &amp; <b>"
    assert printable(kept) is kept
    assert printable("\ud800x") == "x"  # a lone surrogate


def test_printable_copy_reaches_every_string_and_keeps_the_rest() -> None:
    from domain.summary import Counts

    counts = Counts(asked=3, on_time=1)
    data = {"a\x01": ("b\x0b", ["c\x00", counts]), "ok": "fine"}
    assert printable_copy(data) == {"a": ("b ", ["c", counts]), "ok": "fine"}
    clean = {"ok": ("fine", [counts])}
    assert printable_copy(clean) is clean


def evil_summary(engine: Engine) -> YearlySummary:
    with Session(engine) as session:
        seed_world(session)
        org = session.exec(select(Organisation).where(Organisation.short_name == "СОШ 1")).one()
        org.name = org.short_name = EVIL_NAME
        item = session.exec(select(RoadmapItem).where(RoadmapItem.number == 15)).one()
        item.title = EVIL_TITLE
        session.commit()
        return build_summary(session=session, cycle=CYCLE, roadmap_start=ROADMAP_START, as_of=AS_OF)


@pytest.fixture(scope="module")
def summary(tmp_path_factory: pytest.TempPathFactory) -> Iterator[YearlySummary]:
    folder = tmp_path_factory.mktemp("untrusted")
    engine = make_engine(make_settings(folder).effective_database_url)
    upgrade(engine)
    yield evil_summary(engine)
    engine.dispose()


def worksheet_xml(data: bytes) -> str:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return "".join(
            archive.read(name).decode("utf-8")
            for name in archive.namelist()
            if name.startswith("xl/worksheets/")
        )


def assert_workbook_keeps_text(data: bytes, expected: str) -> None:
    """`expected` is in the workbook as text (never a formula), and no formula at all."""
    book = load_workbook(io.BytesIO(data))
    cells = [
        cell
        for sheet in book.worksheets
        for row in sheet.iter_rows()
        for cell in row
        if isinstance(cell.value, str) and cell.value.startswith("=HYPERLINK")
    ]
    assert cells, "the name is in the workbook"
    assert all(c.data_type == "s" for c in cells)
    assert any(c.value == expected for c in cells), [c.value for c in cells[:3]]
    assert "<f>" not in worksheet_xml(data)


def docx_text(data: bytes) -> str:
    doc = Document(io.BytesIO(data))
    parts = [p.text for p in doc.paragraphs]
    parts += [c.text for t in doc.tables for row in t.rows for c in row.cells]
    return "\n".join(parts)


def test_the_summary_keeps_a_hostile_name_as_text_in_every_format(
    summary: YearlySummary,
) -> None:
    files = render_all(summary)  # one control character used to spoil the Word and Excel files
    assert set(files) == {"md", "html", "docx", "xlsx"}

    assert_workbook_keeps_text(files["xlsx"], SHOWN_NAME)

    word = docx_text(files["docx"])
    assert SHOWN_NAME in word
    assert "Формирование банка наставников и пар" in word

    md = files["md"].decode("utf-8")
    assert "\\[ссылка\\](http://evil.example)" in md  # a literal bracket, not a link
    assert "\\*жирный\\*" in md and "\\<b\\>школа\\</b\\>" in md
    assert re.search(r"\[ссылка\]\(http", md.replace("\\[", "").replace("\\]", "")) is None
    assert FORMULA in md  # shown as it is

    page = files["html"].decode("utf-8")
    assert "&lt;b&gt;школа&lt;/b&gt;" in page and "<b>школа</b>" not in page
    assert 'href="http://evil.example' not in page

    for data in (files["md"], files["html"]):
        assert not re.search(rb"[\x00\x0b\x0c]", data)


def test_the_combined_report_keeps_it_as_text_too(summary: YearlySummary) -> None:
    combined = combine(
        [RoadmapPart("209-od-2022", summary)], cycle=CYCLE.name, as_of=date(2023, 9, 15)
    )
    files = render_combined_all(combined)
    assert_workbook_keeps_text(files["xlsx"], SHOWN_NAME)
    assert SHOWN_NAME in docx_text(files["docx"])
    assert "&lt;b&gt;школа&lt;/b&gt;" in files["html"].decode("utf-8")
    assert "\\[ссылка\\]" in files["md"].decode("utf-8")


# --- the admin's exports --------------------------------------------------------------------


@pytest.fixture
def admin(settings, engine: Engine) -> Iterator[tuple[TestClient, World]]:
    world = build_world(settings, engine)
    with Session(engine) as session:
        org = session.get(Organisation, world.org_a)
        assert org is not None
        org.name = org.short_name = EVIL_NAME
        item = session.get(RoadmapItem, world.item_id)
        assert item is not None
        item.title = "@SUM(1+1)*cmd|' /C calc'!A0"
        session.commit()
    client = TestClient(create_app(settings, engine, Clock(START)), base_url=BASE)
    assert login(client).status_code == 303
    yield client, world


def test_the_task_list_csv_prefixes_what_a_spreadsheet_would_run(
    admin: tuple[TestClient, World],
) -> None:
    client, _world = admin
    export = client.get("/admin/tasks.csv")
    assert export.status_code == 200
    rows = list(csv.reader(io.StringIO(export.text.lstrip("\ufeff")), delimiter=";"))
    header, body = rows[0], rows[1:]
    org, title = header.index("Организация"), header.index("Мероприятие")
    names = {row[org] for row in body}
    assert "'" + EVIL_NAME in names  # the quote makes it text in Excel and LibreOffice
    assert all(row[title] == "'@SUM(1+1)*cmd|' /C calc'!A0" for row in body)
    risky = [cell for row in body for cell in row if cell[:1] in ("=", "+", "-", "@")]
    assert risky == []


def test_the_task_list_and_matrix_workbooks_keep_it_as_text(
    admin: tuple[TestClient, World],
) -> None:
    client, _world = admin
    for path in ("/admin/tasks.xlsx", "/admin/matrix.xlsx"):
        export = client.get(path)
        assert export.status_code == 200, path
        assert_workbook_keeps_text(export.content, SHOWN_NAME)


def test_a_print_header_shows_an_ampersand_as_itself() -> None:
    from reports.xlsx import header_text

    assert header_text("Дорожная карта «Школа & сад»\x0b") == "Дорожная карта «Школа && сад» "
    assert len(header_text("&" * 500)) <= 255
