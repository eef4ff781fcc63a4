"""The Word and Excel reports as a methodologist sees them: converted to PDF by
LibreOffice (Debian's libreoffice-writer-nogui / -calc-nogui, installed by `./run test`)
and read back with poppler (pdftotext, pdfimages, pdfinfo).

Two districts: the demo's 30 organisations and a generated one of 300, both written
straight through domain functions (tests/summary_world.py). The bounds checked:

- every word of every page lies inside the page (no table wider than its page);
- every word in the PDF is a word of the report's own text (a word split across lines
  or clipped by a cell would show up as a fragment), table headers included;
- every chart is no larger than the page's text area;
- page counts: the demo's Word report has at most 12 pages of text before the
  appendices (title and contents, about ten of text) and 22 in all, the
  300-organisation one at most 12 and 36; the workbooks print on at most 16 and 40
  pages, the text sheet portrait, the tables landscape;
- every printed sheet has its running header above the cells and its page number
  below them.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree

import pytest
from docx import Document
from openpyxl import load_workbook

from domain.summary import YearlySummary
from reports import render
from reports.tables import all_tables
from tests.summary_world import build_district, district_summary

WORD = re.compile(r"[A-Za-zА-Яа-яЁё]{2,}")
EDGE_PT = 10.0  # words must keep this far from the paper's edge
BOUNDS = {
    # world: (Word pages before the appendices, Word pages in all, Excel pages)
    "demo": (12, 22, 16),
    "big": (12, 36, 40),
}


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is missing: `./run test` installs libreoffice-*-nogui and poppler")
    return path


@dataclass
class Converted:
    summary: YearlySummary
    docx: Path
    xlsx: Path
    word_pdf: Path
    excel_pdf: Path


@pytest.fixture(scope="module")
def converted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Converted]]:
    soffice = _tool("soffice")
    folder = tmp_path_factory.mktemp("pdf")
    worlds: dict[str, Converted] = {}
    sources: list[Path] = []
    for name, size in (("demo", None), ("big", 300)):
        district = build_district(folder / name, size)
        summary = district_summary(district)
        district.engine.dispose()
        docx = folder / f"{name}-word.docx"
        xlsx = folder / f"{name}-excel.xlsx"
        docx.write_bytes(render(summary, "docx"))
        xlsx.write_bytes(render(summary, "xlsx"))
        sources += [docx, xlsx]
        worlds[name] = Converted(
            summary, docx, xlsx, folder / f"{name}-word.pdf", folder / f"{name}-excel.pdf"
        )
    # A private profile: other LibreOffice processes on the machine must not interfere.
    profile = (folder / "lo-profile").as_uri()
    subprocess.run(
        [
            soffice,
            f"-env:UserInstallation={profile}",
            "--headless",
            "--convert-to",
            "pdf",
            "--outdir",
            str(folder),
            *map(str, sources),
        ],
        check=True,
        capture_output=True,
        timeout=600,
    )
    for world in worlds.values():
        assert world.word_pdf.exists() and world.excel_pdf.exists()
    yield worlds


@dataclass
class Page:
    width: float
    height: float
    words: list[tuple[str, float, float, float, float]]  # text, xmin, ymin, xmax, ymax


def _pages(pdf: Path) -> list[Page]:
    out = subprocess.run(
        [_tool("pdftotext"), "-bbox", str(pdf), "-"], check=True, capture_output=True
    ).stdout.decode("utf-8")
    root = ElementTree.fromstring(re.sub(r"<!DOCTYPE[^>]*>", "", out))
    pages = []
    for page in root.iter("{http://www.w3.org/1999/xhtml}page"):
        words = [
            (
                w.text or "",
                float(w.get("xMin", 0)),
                float(w.get("yMin", 0)),
                float(w.get("xMax", 0)),
                float(w.get("yMax", 0)),
            )
            for w in page.iter("{http://www.w3.org/1999/xhtml}word")
        ]
        pages.append(Page(float(page.get("width", 0)), float(page.get("height", 0)), words))
    return pages


def _layout_pages(pdf: Path) -> list[str]:
    out = subprocess.run(
        [_tool("pdftotext"), "-layout", str(pdf), "-"], check=True, capture_output=True
    ).stdout.decode("utf-8")
    return out.split("\f")


def _source_words(world: Converted) -> set[str]:
    """Every word the report itself contains: document text, tables, workbook cells."""
    texts: list[str] = []
    doc = Document(str(world.docx))
    texts += [p.text for p in doc.paragraphs]
    texts += [cell.text for table in doc.tables for row in table.rows for cell in row.cells]
    for section in doc.sections:
        texts += [p.text for p in section.header.paragraphs + section.footer.paragraphs]
    book = load_workbook(world.xlsx)
    for sheet in book.worksheets:
        texts.append(sheet.title)
        texts += [str(cell.value) for row in sheet.iter_rows() for cell in row if cell.value]
        texts += [sheet.oddHeader.center.text or "", "Страница из"]
    return {w.casefold() for text in texts for w in WORD.findall(text)}


def _header_words(world: Converted, fmt: str) -> set[str]:
    """The words of every table header the file prints: the Word file's own header rows
    (a page leaves out an optional column that is empty in every row), every column of
    every table in the workbook."""
    if fmt == "word":
        headers = [
            cell.text for table in Document(str(world.docx)).tables for cell in table.rows[0].cells
        ]
    else:
        headers = [column.header for table in all_tables(world.summary) for column in table.columns]
    return {w.casefold() for header in headers for w in WORD.findall(header) if len(w) >= 3}


@pytest.mark.parametrize("world", ["demo", "big"])
@pytest.mark.parametrize("fmt", ["word", "excel"])
def test_everything_is_inside_its_page_and_no_word_is_split(
    converted: dict[str, Converted], world: str, fmt: str
) -> None:
    c = converted[world]
    pdf = c.word_pdf if fmt == "word" else c.excel_pdf
    pages = _pages(pdf)
    known = _source_words(c)
    pdf_words: set[str] = set()
    for number, page in enumerate(pages, start=1):
        for text, x0, y0, x1, y1 in page.words:
            assert x0 >= EDGE_PT and x1 <= page.width - EDGE_PT, (
                f"page {number}: {text!r} at x {x0:.0f}–{x1:.0f} of {page.width:.0f}"
            )
            assert y0 >= 0 and y1 <= page.height, f"page {number}: {text!r} below the page"
            for word in WORD.findall(text):
                pdf_words.add(word.casefold())
                assert word.casefold() in known, (
                    f"page {number}: {word!r} is not a word of the report (split or clipped?)"
                )
    missing = _header_words(c, fmt) - pdf_words
    assert not missing, f"table header words not found whole: {sorted(missing)}"


@pytest.mark.parametrize("world", ["demo", "big"])
def test_the_workbook_running_header_stays_clear_of_the_cells(
    converted: dict[str, Converted], world: str
) -> None:
    """Every printed sheet page has the report's title above the cells and "Страница N
    из M" below them, neither overlapping the table (nor clipped by it)."""
    c = converted[world]
    first = c.summary.title.split()[0]
    pages = _pages(c.excel_pdf)
    for number, page in enumerate(pages, start=1):
        anchors = [w for w in page.words if w[0] == first and w[2] < 60]
        marks = [w for w in page.words if w[0] == "Страница" and w[4] > page.height - 60]
        assert anchors and marks, f"page {number}: no running header or footer"
        # the words on the title's line and on the page number's line
        header = [w for w in page.words if abs(w[2] - anchors[0][2]) < 1]
        footer = [w for w in page.words if abs(w[2] - marks[0][2]) < 1]
        top = max(w[4] for w in header)
        bottom = min(w[2] for w in footer)
        cells = [w for w in page.words if w not in header and w not in footer]
        assert cells, f"page {number} is empty"
        assert min(w[2] for w in cells) > top, f"page {number}: a cell overlaps the header"
        assert max(w[4] for w in cells) < bottom, f"page {number}: a cell overlaps the footer"


@pytest.mark.parametrize("world", ["demo", "big"])
def test_charts_fit_the_page(converted: dict[str, Converted], world: str) -> None:
    pdf = converted[world].word_pdf
    pages = _pages(pdf)
    listing = subprocess.run(
        [_tool("pdfimages"), "-list", str(pdf)], check=True, capture_output=True
    ).stdout.decode("utf-8")
    images = [f for f in (line.split() for line in listing.splitlines()[2:]) if f[2] == "image"]
    expected = 2 if world == "demo" else 3  # items; all organisations, or weakest and strongest
    assert len(images) == expected
    for fields in images:
        page, width_px, height_px, x_ppi, y_ppi = (
            int(fields[0]),
            int(fields[3]),
            int(fields[4]),
            float(fields[12]),
            float(fields[13]),
        )
        width_pt, height_pt = width_px / x_ppi * 72, height_px / y_ppi * 72
        size = pages[page - 1]
        assert width_pt <= size.width - 2 * 42, f"chart on page {page} is {width_pt:.0f} pt wide"
        assert height_pt <= size.height - 2 * 56, f"chart on page {page} is {height_pt:.0f} pt tall"
        assert width_pt >= 300  # and not shrunk to a stamp: labels stay readable


@pytest.mark.parametrize("world", ["demo", "big"])
def test_page_counts_stay_within_bounds(converted: dict[str, Converted], world: str) -> None:
    text_bound, word_bound, excel_bound = BOUNDS[world]
    c = converted[world]
    word_pages = _layout_pages(c.word_pdf)
    word_pages = [p for p in word_pages if p.strip()]
    appendix = next(
        n for n, p in enumerate(word_pages, start=1) if "Приложение 1. Исполнение" in p and n > 1
    )
    assert appendix - 1 <= text_bound, f"{appendix - 1} pages before the appendices"
    assert len(word_pages) <= word_bound
    excel_pages = [p for p in _layout_pages(c.excel_pdf) if p.strip()]
    assert len(excel_pages) <= excel_bound
    sizes = _pages(c.excel_pdf)
    first = next(n for n, p in enumerate(sizes) if p.width > p.height)
    assert first <= 2, "the text sheet prints on one or two portrait pages"
    assert all(p.width > p.height for p in sizes[first:]), "table sheets print landscape"


def test_repeated_headers_on_long_tables(converted: dict[str, Converted]) -> None:
    """The 300 organisations' table runs over several pages, each with its header row."""
    pages = _layout_pages(converted["big"].word_pdf)
    heading = re.compile(r"^\s*Приложение 3\. Исполнение по организациям\s*$", re.MULTILINE)
    start = next(n for n, p in enumerate(pages) if heading.search(p))
    following = [p for p in pages[start + 1 :] if "Приложение 4." not in p][:3]
    assert following and all("Организация" in p and "Заданий" in p for p in following)


@pytest.mark.parametrize("world", ["demo", "big"])
def test_no_page_of_the_text_sheet_ends_with_a_heading(
    converted: dict[str, Converted], world: str
) -> None:
    """The workbook's text sheet breaks its pages before a heading that would otherwise
    end a page apart from its first paragraph (rows have no "keep with next")."""
    headings = {"Общие итоги", "Выводы", "Рекомендации", "Мероприятия без установленных сроков"}
    c = converted[world]
    sizes = _pages(c.excel_pdf)
    texts = _layout_pages(c.excel_pdf)
    portrait = [t for t, size in zip(texts, sizes, strict=False) if size.height > size.width]
    assert portrait
    for number, text in enumerate(portrait, start=1):
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        body = [line for line in lines[1:] if not line.startswith("Страница ")]
        assert body and body[-1] not in headings, f"text page {number} ends with {body[-1]!r}"
