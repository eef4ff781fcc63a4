"""The report while a cycle runs and what it concludes: shares count only tasks whose due
date has come, nobody is judged for work not yet due, items still to come or due before
tracking began say so, journals are judged once they have been open a quarter, and the
organisations that need support are the weakest by one ranking everywhere.

Two districts written straight through domain functions: the demo's (tests/summary_world)
and a centre that starts tracking the shipped roadmap on 07.12.2026 with nothing answered.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path

import pytest
from docx import Document
from sqlalchemy import Engine
from sqlmodel import Session, select

from domain.cycles import Cycle
from domain.db import make_engine, session_scope, upgrade
from domain.roadmap import RoadmapItem
from domain.roadmap_file import SHIPPED_ROADMAP, load_roadmap_file, sync_roadmap
from domain.summary import (
    SUPPORT_BELOW,
    SUPPORT_GAP,
    YearlySummary,
    build_summary,
    item_text,
    lagging_organisations,
    organisations_by_share,
    report_reason,
    schedule_line,
    silent_journals,
)
from reports import render
from services.opening import open_item
from tests.summary_world import MSK, District, _organisations, build_district, district_summary
from tests.test_summary_formats import docx_tables

STARTED = date(2026, 12, 7)
CYCLE = Cycle.parse("2026/2027")


@dataclass
class Fresh:
    engine: Engine
    roadmap_id: int
    order_date: date


def _open_up_to(fresh: Fresh, day: date) -> None:
    """What the flows would have opened by `day` (nobody answers anything)."""
    with session_scope(fresh.engine) as session:
        items = session.exec(
            select(RoadmapItem).where(RoadmapItem.roadmap_id == fresh.roadmap_id)
        ).all()
        for item in items:
            open_item(
                session=session,
                item=item,
                roadmap_start=fresh.order_date,
                now=datetime.combine(day, time(9), MSK).astimezone(UTC),
                today=day,
                tracked_from=STARTED,
            )


def _summary(fresh: Fresh, as_of: date) -> YearlySummary:
    with Session(fresh.engine) as session:
        return build_summary(
            session=session,
            cycle=CYCLE,
            roadmap_start=fresh.order_date,
            as_of=as_of,
            roadmap_id=fresh.roadmap_id,
            tracked_since=STARTED,
        )


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fresh]:
    """The shipped roadmap and the demo's 30 organisations, tracked from 07.12.2026."""
    folder = tmp_path_factory.mktemp("fresh")
    engine = make_engine(f"sqlite:///{(folder / 'roadmap.db').as_posix()}")
    upgrade(engine)
    with session_scope(engine) as session:
        roadmap = sync_roadmap(session=session, roadmap=load_roadmap_file(SHIPPED_ROADMAP))
        roadmap.activated_at = datetime.combine(STARTED, time(9), MSK).astimezone(UTC)
        session.add(roadmap)
        session.add_all(_organisations(None))
        assert roadmap.id is not None
        world = Fresh(engine, roadmap.id, roadmap.order_date)
    _open_up_to(world, STARTED)
    yield world
    engine.dispose()


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[District]:
    district = build_district(tmp_path_factory.mktemp("demo"))
    yield district
    district.engine.dispose()


def _texts(summary: YearlySummary) -> dict[int, str]:
    return {item.number: " ".join(item_text(item, summary)) for item in summary.items}


def test_on_the_first_day_of_tracking_nobody_is_judged(fresh: Fresh) -> None:
    summary = _summary(fresh, STARTED)
    counts = summary.counts
    assert summary.interim and counts.asked > 0
    assert counts.in_progress == counts.asked and counts.falling_due == 0
    assert counts.on_time_share is None  # shown as "—", not 0 %
    text = " ".join(summary.text)
    assert "Срок ни одного задания ещё не наступил: в работе — 150." in text
    assert "Наибольшее отставание" not in text and "Ниже всего" not in text
    assert "Собственные задания методического центра (4) в работе: срок не наступил." in text
    assert summary.conclusions == (
        "Срок ни одного задания ещё не наступил; выводы об исполнительской дисциплине делать рано.",
    )
    assert lagging_organisations(summary) == () and silent_journals(summary) == ()
    assert not any("Руководителям" in r or "журнала" in r for r in summary.recommendations)
    document = Document(io.BytesIO(render(summary, "docx")))  # the Word file says the same
    body = " ".join(p.text for p in document.paragraphs).replace("\u00a0", " ")
    assert "ПРОМЕЖУТОЧНАЯ АНАЛИТИЧЕСКАЯ СПРАВКА" in body
    assert "выводы об исполнительской дисциплине делать рано" in body


def test_items_still_to_come_or_due_before_tracking_say_so(fresh: Fresh) -> None:
    texts = _texts(_summary(fresh, STARTED))
    # March, yearly: the cycle's window is still ahead
    assert texts[9] == (
        "Срок ещё не наступил: по графику задания будут направлены 01.03.2027, срок — 31.03.2027."
    )
    # "до 15.09.2022г., далее ежегодно": this year's was due before tracking began
    assert texts[13] == (
        "Срок (14.09.2026) наступил до начала мониторинга (07.12.2026): задания не направлялись."
    )
    # "август 2022 г.": once, long ago
    assert texts[7] == "По графику дорожной карты в этом учебном году мероприятие не предусмотрено."
    assert texts[15].startswith("Направлено 30 заданий (срок: 30.12.2026): срок ещё не наступил.")


def test_journals_are_judged_once_open_a_quarter(fresh: Fresh) -> None:
    _open_up_to(fresh, date(2027, 3, 15))
    early = _summary(fresh, date(2027, 1, 15))
    assert silent_journals(early) == ()
    assert not any("Журнал по мероприятию" in c for c in early.conclusions)
    later = _summary(fresh, date(2027, 3, 15))  # 98 days after tracking began
    assert [i.number for i in silent_journals(later)] == [6, 12, 17]
    assert "Журнал по мероприятию № 17 не ведут 30 организаций из 30." in later.conclusions
    assert any("журнала по мероприятиям № 6, № 12, № 17" in r for r in later.recommendations)
    # item 15's quarter due 30.12.2026 is overdue now: everyone's share is 0 %
    assert later.counts.overdue == 30 and later.counts.on_time_share == 0
    assert len(lagging_organisations(later)) == 30


def test_shares_count_only_tasks_fallen_due(demo: District) -> None:
    """The demo's last quarter of item 15 (due 29.09.2023) is still open on 15.09.2023:
    those tasks count against nobody, as on the dashboard."""
    summary = district_summary(demo)
    c = summary.counts
    assert c.in_progress > 0
    assert c.falling_due == c.asked - c.in_progress == c.on_time + c.late + c.overdue
    assert c.on_time_share == pytest.approx(c.on_time / c.falling_due)
    assert c.done_share == pytest.approx((c.on_time + c.late) / c.falling_due)
    text = " ".join(summary.text)
    assert f"Доли считаются от {c.falling_due} заданий, срок которых наступил" in text
    tables = docx_tables_of(summary)
    kinds = tables["1. Общие итоги"]
    assert kinds[0][6] == "из них в работе"
    assert kinds[-1][6] == str(c.in_progress)


def docx_tables_of(summary: YearlySummary) -> dict[str, list[list[str]]]:
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "s.docx"
        path.write_bytes(render(summary, "docx"))
        return docx_tables(path)


def test_who_needs_support_is_ranked_one_way_everywhere(demo: District) -> None:
    summary = district_summary(demo)
    district = summary.counts.on_time_share
    assert district is not None
    lagging = lagging_organisations(summary)
    for org in summary.organisations:
        share = org.counts.on_time_share
        weak = share is not None and (share < SUPPORT_BELOW or share <= district - SUPPORT_GAP)
        assert (org in lagging) == weak, org.short_name
    # the relative rule matters in the demo: some need support though over half on time
    assert any((o.counts.on_time_share or 0) >= SUPPORT_BELOW for o in lagging)
    weakest = organisations_by_share(summary, weakest_first=True)
    assert list(lagging) == list(weakest[: len(lagging)])
    text = " ".join(summary.text)
    named = re.search(r"Наибольшее отставание у организаций: (.*?)\.", text)
    assert named is not None
    first_three = [o.short_name for o in weakest[:3]]
    assert [part.split(" (")[0] for part in named.group(1).split("; ")] == first_three
    support = next(c for c in summary.conclusions if "в методической поддержке" in c)
    assert all(o.short_name in support for o in lagging)
    assert f"Нуждаются в методической поддержке {len(lagging)} организаций" in support


def test_the_report_reads_clean(demo: District, fresh: Fresh) -> None:
    """No doubled punctuation from the roadmap's own text, no instruction meant for the
    administrator, numerals agreeing with their nouns."""
    for summary in (district_summary(demo), _summary(fresh, STARTED)):
        sentences = [
            *summary.text,
            *summary.conclusions,
            *summary.recommendations,
            *(" ".join(item_text(i, summary)) for i in summary.items),
            *(schedule_line(i) for i in summary.items),
            *(i.note for i in summary.items),
        ]
        for sentence in sentences:
            assert not re.search(r"(?<!\.)\.\.(?!\.)|,\.|\s\.", sentence), sentence
            assert "введите" not in sentence, sentence
            assert not re.search(r"\b1 (организаций|организации\b|заданий|мероприятий)", sentence)
            assert "ведут 1 " not in sentence and "ведёт 2 " not in sentence, sentence
    assert schedule_line(next(i for i in district_summary(demo).items if i.number == 7)) == (
        "Сроки: август 2022 г. Ответственные: МКУ «ИМЦСО ЛМО СК», кураторы, наставники."
    )
    assert report_reason("даты задаёт внешний план (по плану X): введите их вручную") == (
        "даты задаёт внешний план (по плану X)"
    )


def test_a_page_leaves_out_optional_columns_empty_in_every_row(fresh: Fresh) -> None:
    """Nobody escalated, nobody late on day one: the Word appendix drops those columns to
    give the items' titles room; the workbook keeps every column for re-counting."""
    from openpyxl import load_workbook

    summary = _summary(fresh, STARTED)
    header = docx_tables_of(summary)["Приложение 1. Исполнение мероприятий"][0]
    assert "Эскалаций" not in header and "Ср. опоздание, раб. дн." not in header
    assert "В работе" in header and "Принято с опозданием" in header
    book = load_workbook(io.BytesIO(render(summary, "xlsx")))
    sheet = [cell.value for cell in book["Мероприятия"][1]]
    assert "Эскалаций" in sheet and "Ср. опоздание, раб. дн." in sheet
