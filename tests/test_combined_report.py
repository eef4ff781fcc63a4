"""One report for every roadmap of a cycle (`roadmap summary --all-roadmaps`): a title
block naming each roadmap, a section per roadmap, the organisations across them; the
same figures in md, html, docx and xlsx, read back against the database; the Word file
converted by LibreOffice keeps every word inside its page and no header word split."""

from __future__ import annotations

import html
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from docx import Document
from openpyxl import load_workbook
from sqlalchemy import Engine, func
from sqlmodel import Session, col, select
from typer.testing import CliRunner

from domain.combined import CombinedSummary, build_combined
from domain.cycles import Cycle
from domain.enums import TaskStatus
from domain.evidence import Evidence
from domain.roadmap import Roadmap, RoadmapItem
from domain.roadmap_file import SHIPPED_ROADMAP, load_roadmap_file, sync_roadmap
from domain.tasks import Occurrence, Task
from reports.combined import (
    ORGANISATIONS_HEADING,
    combined_organisations_table,
    render_combined_all,
    roadmaps_table,
)
from services.opening import open_item
from tests.summary_world import AS_OF, CYCLE, END, MSK, START, build_district
from tests.test_report_pdf import EDGE_PT, WORD, _layout_pages, _pages, _tool

SECOND = "tochka-rosta-2026"
LATE_ONE = "novaya-2024"  # activated after the cycle's end: left out


@dataclass
class World:
    engine: Engine
    folder: Path
    combined: CombinedSummary


def add_roadmaps(engine: Engine) -> None:
    """A second roadmap (items 8 and 13 again) with answers to every other task, and a
    third one activated after the cycle ended."""
    shipped = load_roadmap_file(SHIPPED_ROADMAP)
    second = shipped.model_copy(
        update={
            "key": SECOND,
            "title": "План мероприятий «Точка роста»",
            "order_number": "15-од",
            "items": [i for i in shipped.items if i.label in ("8", "13")],
        }
    )
    third = shipped.model_copy(
        update={"key": LATE_ONE, "title": "Новая карта", "order_number": "99-од"}
    )
    with Session(engine) as s:
        roadmap = sync_roadmap(session=s, roadmap=second)
        later = sync_roadmap(session=s, roadmap=third)
        later.activated_at = datetime(2024, 1, 10, 9, 0, tzinfo=UTC)
        s.add(later)
        s.flush()
        items = s.exec(select(RoadmapItem).where(RoadmapItem.roadmap_id == roadmap.id)).all()
        for item in items:
            open_item(
                session=s,
                item=item,
                roadmap_start=START,
                now=datetime(2022, 4, 8, 7, 0, tzinfo=MSK),
                today=END,
            )
        s.flush()
        tasks = s.exec(
            select(Task)
            .join(Occurrence, col(Occurrence.id) == Task.occurrence_id)
            .where(col(Task.item_id).in_([i.id for i in items]), Occurrence.cycle == CYCLE.name)
            .order_by(col(Task.id))
        ).all()
        for n, task in enumerate(tasks):
            if n % 2 or task.id is None:
                continue
            at = datetime.combine(task.due, datetime.min.time(), MSK).replace(hour=10)
            s.add(Evidence(task_id=task.id, version=1, submitted_at=at, values={}))
            task.status = TaskStatus.accepted
            task.submitted_at = at
            task.updated_at = at
            s.add(task)
        s.commit()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    folder = tmp_path_factory.mktemp("combined")
    district = build_district(folder)
    add_roadmaps(district.engine)
    with Session(district.engine) as s:
        combined = build_combined(session=s, cycle=CYCLE, as_of=AS_OF, tz=MSK)
    yield World(district.engine, folder, combined)
    district.engine.dispose()


def db_tasks_per_organisation(engine: Engine, keys: list[str], cycle: Cycle) -> dict[int, int]:
    """Straight from the rows: organisation tasks of the cycle, per organisation."""
    with Session(engine) as s:
        rows = s.exec(
            select(Task.organisation_id, func.count())
            .join(Occurrence, col(Occurrence.id) == Task.occurrence_id)
            .join(RoadmapItem, col(RoadmapItem.id) == Task.item_id)
            .join(Roadmap, col(Roadmap.id) == RoadmapItem.roadmap_id)
            .where(
                Occurrence.cycle == cycle.name,
                col(Roadmap.key).in_(keys),
                col(Task.organisation_id).is_not(None),
            )
            .group_by(col(Task.organisation_id))
        ).all()
    return {int(org): int(n) for org, n in rows if org is not None}


def test_the_combined_figures_are_the_databases(world: World) -> None:
    combined = world.combined
    keys = [p.key for p in combined.parts]
    assert keys == ["209-od-2022", SECOND], "the roadmap activated after the cycle is left out"
    per_org = db_tasks_per_organisation(world.engine, keys, CYCLE)
    assert {o.organisation_id: o.counts.asked for o in combined.organisations} == per_org
    assert combined.counts.asked == sum(per_org.values())
    both = [o for o in combined.organisations if o.roadmaps == 2]
    assert both, "organisations with tasks of both roadmaps"
    for org in both:
        parts = [
            next(x for x in p.summary.organisations if x.organisation_id == org.organisation_id)
            for p in combined.parts
        ]
        assert org.counts.on_time == sum(x.counts.on_time for x in parts)
        assert org.counts.late == sum(x.counts.late for x in parts)
    second = combined.parts[1].summary
    assert second.counts.on_time > 0 and second.counts.asked == sum(
        db_tasks_per_organisation(world.engine, [SECOND], CYCLE).values()
    )


def _numbers(cells: list[str]) -> list[str]:
    return [c.replace("\xa0", " ").strip() for c in cells]


def expected_rows(combined: CombinedSummary) -> dict[str, list[str]]:
    """Organisation → [roadmaps, tasks, on time, late, not submitted] as shown."""
    return {
        o.short_name: [
            str(o.roadmaps),
            str(o.counts.asked),
            str(o.counts.on_time),
            str(o.counts.late),
            str(o.counts.missing),
        ]
        for o in combined.organisations
    }


def test_every_format_shows_the_same_figures(world: World) -> None:
    combined = world.combined
    files = render_combined_all(combined)
    assert set(files) == {"md", "html", "docx", "xlsx"}
    want = expected_rows(combined)
    totals = roadmaps_table(combined).rows[-1]
    assert totals[0] == "Всего" and totals[2] == combined.counts.asked

    md = files["md"].decode("utf-8")
    assert md.startswith("# Сводная аналитическая справка о реализации дорожных карт")
    for part in combined.parts:
        assert part.summary.roadmap_title in md
    orgs_md = md.split(f"{ORGANISATIONS_HEADING}", 1)[1]
    got_md = {}
    for line in orgs_md.splitlines()[4:]:
        if line.startswith("| "):
            cells = [c.strip() for c in line.strip("|").split(" | ")]
            got_md[cells[0].replace("\\", "")] = cells[2:7]
    assert got_md == want

    page = files["html"].decode("utf-8")
    last_table = page.rsplit("<table>", 1)[1]
    got_html = {}
    for row in re.findall(r"<tr>(.*?)</tr>", last_table)[1:]:
        cells = [re.sub(r"<[^>]+>", "", c) for c in re.findall(r"<td[^>]*>(.*?)</td>", row)]
        got_html[html.unescape(cells[0])] = [html.unescape(c) for c in cells[2:7]]
    assert got_html == want

    path = world.folder / "combined.docx"
    path.write_bytes(files["docx"])
    doc = Document(str(path))
    headers = [c.header for c in combined_organisations_table(combined).columns]
    table = next(t for t in doc.tables if [c.text for c in t.rows[0].cells] == headers)
    got_docx = {  # no-break spaces ("№ 12" on one line) read as spaces
        row.cells[0].text.replace("\u00a0", " "): _numbers([c.text for c in row.cells[2:7]])
        for row in table.rows[1:]
    }
    assert got_docx == want
    text = "\n".join(p.text for p in doc.paragraphs)
    assert "СВОДНАЯ АНАЛИТИЧЕСКАЯ СПРАВКА" in text
    for part in combined.parts:
        assert part.summary.roadmap_title in text

    path = world.folder / "combined.xlsx"
    path.write_bytes(files["xlsx"])
    book = load_workbook(path)
    sheet = book[ORGANISATIONS_HEADING[:31]]
    got_xlsx = {
        str(r[0]): [str(v) for v in r[2:7]] for r in sheet.iter_rows(min_row=2, values_only=True)
    }
    assert got_xlsx == want
    assert sheet.freeze_panes == "A2" and sheet.auto_filter.ref
    assert f"Мероприятия {SECOND}" in book.sheetnames
    assert [r[2] for r in book["Дорожные карты"].iter_rows(min_row=2, values_only=True)] == [
        *(p.summary.counts.asked for p in combined.parts),
        combined.counts.asked,
    ]


def test_the_word_file_prints_inside_its_pages(world: World) -> None:
    soffice = _tool("soffice")
    docx = world.folder / "pdf" / "combined-word.docx"
    docx.parent.mkdir(exist_ok=True)
    docx.write_bytes(render_combined_all(world.combined)["docx"])
    subprocess.run(
        [
            soffice,
            f"-env:UserInstallation={(world.folder / 'lo-profile').as_uri()}",
            "--headless",
            "--convert-to",
            "pdf",
            "--outdir",
            str(docx.parent),
            str(docx),
        ],
        check=True,
        capture_output=True,
        timeout=600,
    )
    pdf = docx.with_suffix(".pdf")
    doc = Document(str(docx))
    texts = [p.text for p in doc.paragraphs]
    texts += [cell.text for t in doc.tables for row in t.rows for cell in row.cells]
    for section in doc.sections:
        texts += [p.text for p in section.header.paragraphs + section.footer.paragraphs]
    known = {w.casefold() for text in texts for w in WORD.findall(text)}
    seen: set[str] = set()
    for number, page in enumerate(_pages(pdf), start=1):
        for text, x0, y0, x1, y1 in page.words:
            assert x0 >= EDGE_PT and x1 <= page.width - EDGE_PT, (number, text, x0, x1)
            assert y0 >= 0 and y1 <= page.height, (number, text)
            for word in WORD.findall(text):
                seen.add(word.casefold())
                assert word.casefold() in known, f"page {number}: {word!r} split or clipped"
    # every header the file prints (a page leaves out optional columns empty in every row)
    header_words = {
        w.casefold()
        for table in doc.tables
        for cell in table.rows[0].cells
        for w in WORD.findall(cell.text)
        if len(w) >= 3
    }
    assert {"мероприятие", "заданий", "организация"} <= header_words
    assert not header_words - seen, sorted(header_words - seen)
    pages = [p for p in _layout_pages(pdf) if p.strip()]
    assert len(pages) <= 40, f"{len(pages)} pages"


def test_the_command_writes_one_report_or_all_four(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cli.main import app
    from config.runtime import cached_engine
    from config.settings import get_settings

    monkeypatch.setenv("ROADMAP_DATABASE_URL", str(world.engine.url))
    monkeypatch.setenv("ROADMAP_VAR_DIR", str(tmp_path / "var"))
    get_settings.cache_clear()
    cached_engine.cache_clear()
    runner = CliRunner()
    try:
        args = ["summary", "--all-roadmaps", "--cycle", "2022/2023", "--as-of", "2023-09-15"]
        one = runner.invoke(app, [*args, "-o", str(tmp_path / "all.md")])
        assert one.exit_code == 0, one.output
        assert "Сводная справка записана" in one.output
        assert (tmp_path / "all.md").read_text(encoding="utf-8").startswith("# Сводная")
        folder = runner.invoke(app, [*args, "-o", f"{tmp_path / 'out'}/"])
        assert folder.exit_code == 0, folder.output
        assert {p.name for p in (tmp_path / "out").iterdir()} == {
            f"summary-all-2022-2023.{f}" for f in ("md", "html", "docx", "xlsx")
        }
        both = runner.invoke(app, [*args, "--roadmap", SECOND, "-o", "x.md"])
        assert both.exit_code == 2 and "--all-roadmaps" in both.output
        early = runner.invoke(app, ["summary", "--all-roadmaps", "--cycle", "2020/2021"])
        assert early.exit_code == 1 and "нет дорожных карт" in early.output
    finally:
        get_settings.cache_clear()
        cached_engine.cache_clear()


def test_interim_combined_title(world: World) -> None:
    with Session(world.engine) as s:
        interim = build_combined(session=s, cycle=CYCLE, as_of=date(2023, 3, 1), tz=MSK)
    assert interim.interim and "Промежуточная" in interim.title
    assert "на дату 01.03.2023" in interim.title


@pytest.mark.prefect
def test_the_summary_flow_stores_one_combined_report_per_cycle(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, prefect_harness: None
) -> None:
    from config.runtime import cached_engine
    from config.settings import get_settings
    from domain.access import StoredSummary
    from domain.stored_summaries import SUMMARY_COMBINED, file_content, summary_files
    from flows.summary import summary_flow

    monkeypatch.setenv("ROADMAP_DATABASE_URL", str(world.engine.url))
    monkeypatch.setenv("ROADMAP_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.delenv("ROADMAP_SMTP_HOST", raising=False)
    get_settings.cache_clear()
    cached_engine.cache_clear()
    at = datetime(2023, 9, 1, 7, 0, tzinfo=UTC)
    try:
        files = summary_flow("2022/2023", at)
        assert {k for k in files if k.startswith(f"{SUMMARY_COMBINED}:")} == {
            f"{SUMMARY_COMBINED}:{f}" for f in ("md", "html", "docx", "xlsx")
        }
        summary_flow("2022/2023", at)  # again: replaced, not added
    finally:
        get_settings.cache_clear()
        cached_engine.cache_clear()
    with Session(world.engine) as s:
        rows = s.exec(select(StoredSummary).order_by(col(StoredSummary.id))).all()
        kinds = sorted((r.roadmap_id is None, r.kind) for r in rows)
        combined = next(r for r in rows if r.kind == SUMMARY_COMBINED)
        stored = {f.format: file_content(s, f) for f in summary_files(s, combined.id or 0)}
    # two roadmaps' own reports and one combined; none for the one activated later
    assert kinds == [(False, "yearly"), (False, "yearly"), (True, SUMMARY_COMBINED)]
    assert stored["md"].decode("utf-8").startswith("# Сводная аналитическая справка")
    assert set(stored) == {"md", "html", "docx", "xlsx"}
