"""The figures of a realistic 30-organisation district, recounted from the database rows
and found the same in the summary and in every format (docx, xlsx, md, html read back)."""

from __future__ import annotations

import html as html_lib
import re
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
from docx import Document
from openpyxl import load_workbook
from sqlmodel import Session, col, select

from domain.enums import OrgKind, TaskStatus
from domain.evidence import Evidence
from domain.organisations import Organisation
from domain.roadmap import RoadmapItem
from domain.summary import YearlySummary, format_number_ru, format_share_ru, task_outcome
from domain.tasks import Occurrence, Task
from reports import write_all
from tests.summary_world import AS_OF, CYCLE, District, build_district, district_summary
from tests.test_summary_formats import docx_tables

JOURNAL_ITEM = 17  # "Информационная поддержка": a journal of publications
JOURNAL_FIELD = "publications"


@dataclass
class Written:
    district: District
    summary: YearlySummary
    paths: dict[str, Path]


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Written]:
    folder = tmp_path_factory.mktemp("figures")
    district = build_district(folder)
    summary = district_summary(district)
    yield Written(district, summary, write_all(summary, folder / "out"))
    district.engine.dispose()


def _recount_journal(district: District) -> tuple[int, int, dict[OrgKind, int], int]:
    """(sum of every entry, sum of each task's last entry, per kind, entries) from rows."""
    with Session(district.engine) as session:
        item = session.exec(select(RoadmapItem).where(RoadmapItem.number == JOURNAL_ITEM)).one()
        occ_ids = [
            o.id
            for o in session.exec(
                select(Occurrence).where(
                    Occurrence.item_id == item.id, Occurrence.cycle == CYCLE.name
                )
            )
        ]
        tasks = {
            t.id: t for t in session.exec(select(Task).where(col(Task.occurrence_id).in_(occ_ids)))
        }
        kinds = {o.id: o.kind for o in session.exec(select(Organisation))}
        rows = list(
            session.exec(
                select(Evidence)
                .where(col(Evidence.task_id).in_(list(tasks)))
                .order_by(col(Evidence.task_id), col(Evidence.version))
            )
        )
    every, last = 0, {}
    per_kind: dict[OrgKind, int] = defaultdict(int)
    for row in rows:
        value = int(row.values[JOURNAL_FIELD])
        every += value
        last[row.task_id] = value
        org = tasks[row.task_id].organisation_id
        if org is not None:
            per_kind[kinds[org]] += value
    return every, sum(last.values()), dict(per_kind), len(rows)


def _recount_outcomes(district: District) -> tuple[int, int, int]:
    """(asked, on time, late) over every organisation task of the cycle, from rows."""
    from domain.calendar import RUSSIAN_CALENDAR
    from domain.summary import Outcome

    with Session(district.engine) as session:
        occs = {
            o.id: o for o in session.exec(select(Occurrence).where(Occurrence.cycle == CYCLE.name))
        }
        tasks = [
            t
            for t in session.exec(select(Task).where(col(Task.occurrence_id).in_(list(occs))))
            if t.organisation_id is not None
        ]
        outcomes = [
            task_outcome(
                t,
                as_of=AS_OF,
                calendar=RUSSIAN_CALENDAR,
                continuous=occs[t.occurrence_id].continuous,
            )[0]
            for t in tasks
        ]
    assert any(t.status is TaskStatus.open for t in tasks)  # some never answered
    return (
        len(tasks),
        outcomes.count(Outcome.on_time),
        outcomes.count(Outcome.late),
    )


def test_journal_items_sum_every_entry(written: Written) -> None:
    every, last_only, per_kind, entries = _recount_journal(written.district)
    assert every > last_only  # the old arithmetic (last entry per task) would be wrong
    total = next(
        i
        for i in written.summary.indicators
        if i.item_number == JOURNAL_ITEM and i.field_name == JOURNAL_FIELD
    )
    assert total.journal
    assert total.total == every
    assert total.reported == entries
    assert {k.kind: k.total for k in total.by_kind} == per_kind
    assert sum(per_kind.values()) == every


def test_on_time_and_late_counts_match_the_rows(written: Written) -> None:
    asked, on_time, late = _recount_outcomes(written.district)
    counts = written.summary.counts
    assert (counts.asked, counts.on_time, counts.late) == (asked, on_time, late)
    assert late > 0 and counts.overdue > 0
    assert sum(k.counts.on_time for k in written.summary.kinds) == on_time
    assert sum(k.counts.late for k in written.summary.kinds) == late


def _journal_and_kinds(summary: YearlySummary) -> tuple[int | float, dict[str, int | float]]:
    total = next(
        i
        for i in summary.indicators
        if i.item_number == JOURNAL_ITEM and i.field_name == JOURNAL_FIELD
    )
    return total.total, {k.kind_label: k.total for k in total.by_kind}


def test_docx_figures_are_the_database_figures(written: Written) -> None:
    summary = written.summary
    every, _last, _kinds, _n = _recount_journal(written.district)
    counts = summary.counts
    doc = Document(str(written.paths["docx"]))
    # No-break spaces keep "№ 12" and "46,7 %" on one line; they read as spaces.
    body = "\n".join(p.text for p in doc.paragraphs).replace("\u00a0", " ")
    assert f"Принято в срок {counts.on_time} " in body
    assert (
        f"({format_share_ru(counts.on_time_share)}); принято с опозданием — {counts.late}" in body
    )
    assert f"количество публикаций — {every} (" in body
    tables = docx_tables(written.paths["docx"])
    kinds = {row[0]: row for row in tables["1. Общие итоги"]}
    assert kinds["Всего"][2:5] == [str(counts.asked), str(counts.on_time), str(counts.late)]
    for k in summary.kinds:
        assert kinds[k.kind_label][3:5] == [str(k.counts.on_time), str(k.counts.late)]
    indicators = tables["Приложение 4. Показатели по округу"]
    header = indicators[0]
    row = next(
        r for r in indicators if r[0] == str(JOURNAL_ITEM) and r[2].startswith("Количество публ")
    )
    assert row[header.index("Итого по округу")] == str(every)
    assert row[header.index("Как считается")] == "сумма всех записей журнала"
    _total, per_kind = _journal_and_kinds(summary)
    assert row[header.index("Школы")] == format_number_ru(per_kind["школа"])
    assert row[header.index("Детские сады")] == format_number_ru(per_kind["детский сад"])
    orgs = {r[0]: r for r in tables["Приложение 3. Исполнение по организациям"]}
    for org in summary.organisations:
        assert orgs[org.name][4:6] == [str(org.counts.on_time), str(org.counts.late)]


def test_xlsx_figures_are_the_database_figures(written: Written) -> None:
    summary = written.summary
    every, _last, _kinds, _n = _recount_journal(written.district)
    book = load_workbook(written.paths["xlsx"])
    sheet = book["Показатели"]
    header = [c.value for c in sheet[1]]
    rows = [r for r in sheet.iter_rows(min_row=2, values_only=True) if r[0] == JOURNAL_ITEM]
    journal = next(r for r in rows if str(r[2]).startswith("Количество публ"))
    assert journal[header.index("Итого по округу")] == every
    _total, per_kind = _journal_and_kinds(summary)
    assert journal[header.index("Школы")] == per_kind["школа"]
    kinds = {r[0]: r for r in book["Типы организаций"].iter_rows(min_row=2, values_only=True)}
    counts = summary.counts
    assert kinds["Всего"][2:5] == (counts.asked, counts.on_time, counts.late)
    front = "\n".join(
        str(c.value) for (c,) in book["Справка"].iter_rows(max_col=1) if c.value
    ).replace("\u00a0", " ")
    assert f"Принято в срок {counts.on_time} " in front
    assert f"принято с опозданием — {counts.late}" in front
    orgs = {r[0]: r for r in book["Организации"].iter_rows(min_row=2, values_only=True)}
    for org in summary.organisations:
        assert orgs[org.name][4:6] == (org.counts.on_time, org.counts.late)


def test_markdown_and_html_figures_are_the_database_figures(written: Written) -> None:
    every, _last, _kinds, _n = _recount_journal(written.district)
    counts = written.summary.counts
    md = written.paths["md"].read_text(encoding="utf-8")
    page = html_lib.unescape(re.sub(r"<[^>]+>", " ", written.paths["html"].read_text("utf-8")))
    for text in (md, page):
        flat = " ".join(text.split())
        assert f"Принято в срок {counts.on_time} " in flat
        assert f"принято с опозданием — {counts.late}" in flat
        assert f"количество публикаций — {every} (" in flat
    row = next(
        line
        for line in md.splitlines()
        if line.startswith(f"| {JOURNAL_ITEM} |") and "публикаций" in line
    )
    cells = [c.strip() for c in row.strip("|").split(" | ")]
    assert cells[3:5] == ["сумма всех записей журнала", str(every)]


def test_dates_have_one_format(written: Written) -> None:
    """ДД.ММ.ГГГГ in every format: the texts, the Word tables, the workbook's date cells."""
    from datetime import datetime

    doc = Document(str(written.paths["docx"]))
    book = load_workbook(written.paths["xlsx"])
    cells = [c for sheet in book.worksheets for row in sheet.iter_rows() for c in row]
    texts = {
        "md": written.paths["md"].read_text(encoding="utf-8"),
        "html": written.paths["html"].read_text(encoding="utf-8"),
        "docx": "\n".join(
            [p.text for p in doc.paragraphs]
            + [cell.text for t in doc.tables for row in t.rows for cell in row.cells]
        ),
        "xlsx": "\n".join(str(c.value) for c in cells if isinstance(c.value, str)),
    }
    for fmt, text in texts.items():
        assert not re.search(r"\b\d{4}-\d{2}-\d{2}\b", text), fmt
        assert re.findall(r"\b\d{2}\.\d{2}\.\d{4}\b", text), fmt
    dated = [c for c in cells if isinstance(c.value, datetime)]
    assert dated and all(c.number_format == "DD.MM.YYYY" for c in dated)


def test_untrusted_text_stays_text(written: Written) -> None:
    """The failed mail's address starts with "=", its subject with "+", its error with
    "-": the workbook keeps them as text, never as formulas."""
    book = load_workbook(written.paths["xlsx"])
    sheet = book["Доставка"]
    cells = [c for row in sheet.iter_rows(min_row=2) for c in row if isinstance(c.value, str)]
    risky = [c for c in cells if c.value.startswith(("=", "+", "-", "@"))]
    assert {c.value[0] for c in risky} == {"=", "+", "-"}
    assert all(c.data_type == "s" for c in risky)
    with written.paths["xlsx"].open("rb") as handle:
        import zipfile

        with zipfile.ZipFile(handle) as archive:
            sheets = "".join(
                archive.read(name).decode("utf-8")
                for name in archive.namelist()
                if name.startswith("xl/worksheets/")
            )
    assert "<f>" not in sheets  # no formula anywhere
    assert sheets.count("HYPERLINK") == sheets.count('t="inlineStr"><is><t>=HYPERLINK') == 3
    md = written.paths["md"].read_text(encoding="utf-8")
    assert '=HYPERLINK("http://x.example";"0")@bad.example' in md  # shown as it is


def test_an_interim_report_says_so(written: Written) -> None:
    interim = district_summary(written.district, as_of=date(2023, 3, 1))
    assert interim.interim
    assert interim.title.startswith("Промежуточная аналитическая справка")
    assert "(на дату 01.03.2023)" in interim.title
    assert "Мониторинг ведётся с 08.04.2022." in interim.text
    assert interim.counts.in_progress > 0
