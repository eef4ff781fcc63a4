"""The district at a glance: the matrix's arithmetic, its page, its workbook, paged lists,
and the item artifacts the outbox flow brings up to date after answers and reviews."""

from __future__ import annotations

import io
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import Engine
from sqlmodel import Session, select

from config.settings import Settings
from domain.calendar import RUSSIAN_CALENDAR
from domain.enums import OrgKind, TaskStatus
from domain.matrix import (
    TASK_STATUSES,
    CellStatus,
    ItemIn,
    OrgIn,
    TaskIn,
    build_matrix,
    natural_key,
)
from domain.tasks import Task
from portal.app import create_app
from services.reviews import accept_task, return_task
from tests.matrix_world import NOW, District, build_district
from tests.portal_world import login

BASE = "http://127.0.0.1:8765"


# --- the arithmetic -----------------------------------------------------------------------


def test_natural_order_reads_numbers_as_numbers() -> None:
    names = ["Д/с № 10", "Д/с № 2", "д/с № 1", "СОШ № 11", "СОШ № 3", "Д/с №  2а", "Ёлочка"]
    assert sorted(names, key=natural_key) == [
        "д/с № 1",
        "Д/с № 2",
        "Д/с №  2а",
        "Д/с № 10",
        "Ёлочка",
        "СОШ № 3",
        "СОШ № 11",
    ]


def _task(
    task_id: int,
    org: int | None,
    status: TaskStatus,
    due: date,
    *,
    item: int = 1,
    opens: date = date(2022, 9, 1),
    answered: date | None = None,
    continuous: bool = False,
) -> TaskIn:
    return TaskIn(task_id, item, org, status, due, opens, continuous, answered)


def test_each_cell_has_the_status_of_its_organisations_latest_task() -> None:
    today = date(2022, 11, 14)  # Monday
    items = [
        ItemIn(1, 1, "1", "Раздел А", "Первое", "Иванова"),
        ItemIn(2, 2, "2", "Раздел А", "Второе", ""),
        ItemIn(3, 3, "3", "Раздел Б", "Третье", ""),
    ]
    orgs = [
        OrgIn(10, "МКДОУ д/с № 10", "Д/с № 10", OrgKind.kindergarten, True),
        OrgIn(2, "МКДОУ д/с № 2", "Д/с № 2", OrgKind.kindergarten, True),
        OrgIn(3, "МКОУ СОШ № 3", "СОШ № 3", OrgKind.school, True),
        OrgIn(4, "МКОУ СОШ № 4", "СОШ № 4", OrgKind.school, False),  # closed, no tasks
    ]
    tasks = [
        _task(1, 10, TaskStatus.accepted, date(2022, 11, 1), answered=date(2022, 10, 30)),
        _task(2, 2, TaskStatus.submitted, date(2022, 11, 1), answered=date(2022, 11, 3)),
        _task(3, 3, TaskStatus.open, date(2022, 11, 11)),  # past due
        _task(4, 10, TaskStatus.open, date(2022, 11, 16), item=2),  # 2 working days away
        _task(5, 2, TaskStatus.returned, date(2022, 11, 30), item=2),
        _task(6, 3, TaskStatus.open, date(2022, 12, 30), item=2),
        # a quarterly item: the earlier occurrence's task is not the cell
        _task(7, 10, TaskStatus.open, date(2022, 9, 30), item=3, opens=date(2022, 7, 1)),
        _task(
            8,
            10,
            TaskStatus.submitted,
            date(2022, 12, 30),
            item=3,
            opens=date(2022, 10, 1),
            continuous=True,
            answered=date(2022, 11, 2),
        ),
        _task(9, None, TaskStatus.open, date(2022, 12, 30), item=3),  # the centre's own
    ]
    m = build_matrix(
        items=items,
        organisations=orgs,
        tasks=tasks,
        today=today,
        working_days_between=RUSSIAN_CALENDAR.working_days_between,
    )
    assert [c.short_name for c in m.columns] == ["Д/с № 2", "Д/с № 10", "СОШ № 3", "Центр"]
    assert [s.title for s in m.sections] == ["Раздел А", "Раздел Б"]
    grid = [[c.status for c in row.cells] for row in m.rows]
    assert grid == [
        [CellStatus.review, CellStatus.done, CellStatus.overdue, CellStatus.none],
        [CellStatus.returned, CellStatus.soon, CellStatus.open, CellStatus.none],
        # a journal's entry waiting for review is "на проверке", as on every page
        [CellStatus.none, CellStatus.review, CellStatus.none, CellStatus.open],
    ]
    assert m.rows[2].cells[1].task_id == 8
    first = m.rows[0]
    assert (first.done, first.total, first.overdue, first.next_due) == (1, 3, 1, None)
    assert m.rows[1].next_due == date(2022, 11, 16)
    assert m.rows[0].item.owner == "Иванова"
    d2, d10, s3, centre = m.columns
    assert (d2.on_time, d2.answered_late, d2.falling_due) == (0, 1, 1)  # answered 03.11
    assert (d10.on_time, d10.falling_due, d10.share_on_time) == (2, 2, 1.0)
    assert (s3.falling_due, s3.share_on_time) == (1, 0.0)
    assert [c.task_id for c in s3.open_tasks] == [3, 6]
    assert centre.organisation_id is None and centre.total == 1
    assert m.total == 9 - 1  # one task was an earlier occurrence
    assert (m.counts[CellStatus.done], m.counts[CellStatus.review]) == (1, 2)

    schools = build_matrix(
        items=items,
        organisations=orgs,
        tasks=tasks,
        today=today,
        working_days_between=RUSSIAN_CALENDAR.working_days_between,
        kinds=(OrgKind.school,),
    )
    assert [c.short_name for c in schools.columns] == ["СОШ № 3", "Центр"]
    overdue = build_matrix(
        items=items,
        organisations=orgs,
        tasks=tasks,
        today=today,
        working_days_between=RUSSIAN_CALENDAR.working_days_between,
        status=CellStatus.overdue,
    )
    assert [c.short_name for c in overdue.columns] == ["СОШ № 3"]
    assert [r.item.label for r in overdue.rows] == ["1"]


def test_an_item_still_to_open_is_not_called_not_this_organisations() -> None:
    """Early in the year most items have not opened: their cells say "откроется позже"
    for those who will get them, and the row's next due date is the item's next one."""
    today = date(2022, 9, 5)
    schools_later = ItemIn(1, 1, "1", "", "Для школ", "", frozenset({OrgKind.school}),
                           upcoming=date(2022, 10, 31))  # fmt: skip
    everyone = ItemIn(2, 2, "2", "", "Для всех", "", frozenset(OrgKind), centre=True,
                      upcoming=date(2022, 12, 30))  # fmt: skip
    past = ItemIn(3, 3, "3", "", "Было весной", "", frozenset(OrgKind))  # nothing ahead
    orgs = [
        OrgIn(1, "МКДОУ д/с № 1", "Д/с № 1", OrgKind.kindergarten, True),
        OrgIn(2, "МКОУ СОШ № 2", "СОШ № 2", OrgKind.school, True),
        OrgIn(3, "МКОУ СОШ № 3", "СОШ № 3", OrgKind.school, True),
    ]
    tasks = [
        _task(1, 2, TaskStatus.open, date(2022, 9, 30), item=2),  # item 2 opened early here
        _task(2, None, TaskStatus.open, date(2022, 9, 30), item=3),  # the centre's, past item
    ]
    m = build_matrix(
        items=[schools_later, everyone, past],
        organisations=orgs,
        tasks=tasks,
        today=today,
        working_days_between=RUSSIAN_CALENDAR.working_days_between,
    )
    assert [c.short_name for c in m.columns] == ["Д/с № 1", "СОШ № 2", "СОШ № 3", "Центр"]
    lt, no, op = CellStatus.later, CellStatus.none, CellStatus.open
    assert [[c.status for c in row.cells] for row in m.rows] == [
        [no, lt, lt, no],  # schools only; the centre has no part in it
        [lt, op, lt, lt],
        [no, no, no, op],
    ]
    assert m.rows[0].cells[1].due == date(2022, 10, 31) and m.rows[0].cells[1].task_id is None
    assert [r.total for r in m.rows] == [0, 1, 1]  # a cell still to open is no task yet
    assert m.counts[CellStatus.later] == 5 and m.total == 2
    # the next due date: the item's next window, or an open task's
    soon = date(2022, 9, 30)
    assert [r.next_due for r in m.rows] == [date(2022, 10, 31), soon, soon]
    assert CellStatus.later not in TASK_STATUSES
    # an item waiting for an external plan's dates will come to them too
    waiting = ItemIn(4, 4, "4", "", "По плану СКИРО", "", frozenset(OrgKind), needs_dates=True)
    m = build_matrix(
        items=[waiting],
        organisations=orgs,
        tasks=[],
        today=today,
        working_days_between=RUSSIAN_CALENDAR.working_days_between,
    )
    assert [c.status for c in m.rows[0].cells] == [lt, lt, lt]
    assert m.rows[0].next_due is None and m.rows[0].cells[0].due is None


# --- the page and the workbook -------------------------------------------------------------


@pytest.fixture
def district(engine: Engine) -> District:
    return build_district(engine, organisations=12)


@pytest.fixture
def admin_client(settings: Settings, engine: Engine, district: District) -> TestClient:
    client = TestClient(create_app(settings, engine, lambda: NOW), base_url=BASE)
    assert login(client).status_code == 303
    return client


def test_the_matrix_page_needs_a_login(settings: Settings, engine: Engine, district: District):
    client = TestClient(create_app(settings, engine, lambda: NOW), base_url=BASE)
    page = client.get("/admin/matrix", follow_redirects=False)
    assert page.status_code == 303 and "/admin/login" in page.headers["location"]
    assert client.get("/admin/matrix.xlsx", follow_redirects=False).status_code == 303


def test_the_matrix_page_shows_every_cell_in_natural_order(
    admin_client: TestClient, district: District, engine: Engine
) -> None:
    page = admin_client.get("/admin/matrix")
    assert page.status_code == 200
    text = page.text
    heads = [text.index(f">Д/с № {n}") for n in (1, 3, 5, 7, 9, 11)]
    assert heads == sorted(heads), "№ 3 comes before № 11"
    with Session(engine) as s:
        tasks = s.exec(select(Task)).all()
    for task in tasks:
        assert f'href="/admin/tasks/{task.id}"' in text
    assert text.count('class="c c-none"') == 17 * 12 - len(tasks)
    assert "Учебный год" in text and "2022/2023" in text
    # the item summaries: progress, overdue, next due date and owner
    assert "ответственный: Методист 1" in text
    assert "ближайший срок" in text
    # each organisation's card leads to its deputy's page (the centre names one there)
    assert f'href="/admin/orgs/{district.org_ids[0]}/deputy"' in text

    schools = admin_client.get("/admin/matrix?kind=school")
    assert ">Д/с № 1<" not in schools.text and ">СОШ № 2" in schools.text
    overdue = admin_client.get("/admin/matrix?status=overdue")
    grid = overdue.text.split('id="matrix"')[1].split("</table>")[0]
    assert 'class="c c-overdue"' in grid
    unknown = admin_client.get("/admin/matrix?cycle=2030/2031")
    assert unknown.status_code == 404 and "2022/2023" in unknown.text
    missing = admin_client.get("/admin/matrix?roadmap=nope")
    assert missing.status_code == 404 and "r209" in missing.text


def test_the_overview_the_filters_and_the_item_artifacts_list_organisations_in_natural_order(
    admin_client: TestClient, district: District, engine: Engine
) -> None:
    from domain.progress import item_progress

    def positions(text: str, names: list[str]) -> list[int]:
        return [text.index(name) for name in names]

    natural = [f">Д/с № {n}<" for n in (1, 3, 5, 7, 9, 11)]
    overview = admin_client.get("/admin").text
    by_org = overview.split("По организациям")[1]
    assert positions(by_org, natural) == sorted(positions(by_org, natural))
    assert by_org.index(">СОШ № 2<") < by_org.index(">СОШ № 10<")
    # the task list's organisation filter reads the same way
    choices = admin_client.get("/admin/tasks").text.split('name="org"')[1].split("</select>")[0]
    options = [f">{name[1:-1]}</option>" for name in natural]
    assert positions(choices, options) == sorted(positions(choices, options))
    # and so does the status table of an item's Prefect artifacts
    with Session(engine) as s:
        progress = item_progress(
            session=s, item_id=district.item_ids[0], today=NOW.date(), tz=NOW.tzinfo or UTC
        )
    shown = [r.organisation for r in progress.rows]
    assert shown == sorted(shown, key=natural_key)
    assert shown.index("СОШ № 2") < shown.index("СОШ № 10")


def test_the_matrix_workbook_has_real_numbers_and_print_settings(
    admin_client: TestClient, district: District
) -> None:
    answer = admin_client.get("/admin/matrix.xlsx")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/vnd.openxmlformats")
    book = load_workbook(io.BytesIO(answer.content))
    assert book.sheetnames == ["Сводка", "Мероприятия", "Организации"]
    grid = book["Сводка"]
    header = [c.value for c in grid[1]]
    assert header[:4] == ["№", "Раздел", "Мероприятие", "Д/с № 1"]
    assert header[-3:] == ["Выполнено", "Всего", "Просрочено"]
    assert grid.freeze_panes == "B2"
    assert grid.auto_filter.ref == f"A1:{grid.cell(1, len(header)).column_letter}18"
    assert grid.page_setup.orientation == "landscape" and grid.print_title_rows == "$1:$1"
    assert isinstance(grid.cell(2, len(header) - 1).value, int)
    items = book["Мероприятия"]
    share = items.cell(2, 6)
    assert isinstance(share.value, float) and share.number_format == "0%"
    next_due = [items.cell(r, 8).value for r in range(2, 19)]
    assert any(isinstance(v, datetime) for v in next_due)
    orgs = book["Организации"]
    assert [orgs.cell(r, 2).value for r in range(2, 6)] == [
        "Д/с № 1",
        "Д/с № 3",
        "Д/с № 5",
        "Д/с № 7",
    ]


def test_a_formula_looking_name_stays_text_in_the_workbook(
    admin_client: TestClient, engine: Engine, district: District
) -> None:
    from domain.organisations import Organisation

    with Session(engine) as s:
        org = s.get(Organisation, district.org_ids[0])
        assert org is not None
        org.short_name = "=HYPERLINK(1)"
        s.add(org)
        s.commit()
    book = load_workbook(io.BytesIO(admin_client.get("/admin/matrix.xlsx").content))
    cell = next(c for c in book["Организации"]["B"] if c.value == "=HYPERLINK(1)")
    assert cell.data_type == "s"


def test_the_task_list_pages_instead_of_stopping(
    admin_client: TestClient, district: District
) -> None:
    first = admin_client.get("/admin/tasks?per_page=50")
    assert first.status_code == 200
    assert first.text.count('href="/admin/tasks/') - first.text.count('href="/admin/tasks/?') >= 50
    assert "Страница 1 из" in first.text and "page=2" in first.text
    total = len(district.task_ids)
    pages = -(-total // 50)
    last = admin_client.get(f"/admin/tasks?per_page=50&page={pages}")
    assert f"Страница {pages} из {pages}" in last.text
    shown = set()
    for n in range(1, pages + 1):
        text = admin_client.get(f"/admin/tasks?per_page=50&page={n}").text
        for task_id in district.task_ids.values():
            if f'href="/admin/tasks/{task_id}"' in text:
                shown.add(task_id)
    assert shown == set(district.task_ids.values()), "every task is on some page"
    beyond = admin_client.get(f"/admin/tasks?per_page=50&page={pages + 5}")
    assert beyond.status_code == 200 and f"Страница {pages} из {pages}" in beyond.text
    workbook = admin_client.get("/admin/tasks.xlsx")
    book = load_workbook(io.BytesIO(workbook.content))
    assert book.active is not None and book.active.max_row == total + 1
    assert isinstance(book.active.cell(2, 7).value, datetime)  # the due date is a date


# --- artifacts that follow answers and reviews ---------------------------------------------


@pytest.mark.prefect
def test_the_outbox_flow_republishes_artifacts_of_items_that_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, smtp: Any, prefect_harness: None
) -> None:
    import asyncio

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        ArtifactCollectionFilter,
        ArtifactCollectionFilterKey,
    )

    from domain.db import session_scope
    from flows.outbox import outbox_flow
    from tests.cycle_world import make_world

    world = make_world(tmp_path, monkeypatch, smtp, items=[11])
    key = "item-209-od-2022-11"

    async def latest() -> dict[str, Any]:
        async with get_client() as client:
            found = await client.read_latest_artifacts(
                artifact_filter=ArtifactCollectionFilter(
                    key=ArtifactCollectionFilterKey(
                        any_=[f"{key}-status", f"{key}-progress", f"{key}-overview"]
                    )
                )
            )
        return {a.key: (a.data, a.description) for a in found if a.key}

    def status_of(data: Any) -> dict[str, str]:
        rows = json.loads(data) if isinstance(data, str) else data
        return {r["Организация"]: r["Статус"] for r in rows}

    # opens item 11 and publishes its artifacts; tick republishes (and records) what
    # changed, as the outbox runs do, so the next outbox run has nothing to republish
    ticked = world.tick(world.at(date(2022, 4, 8)))
    assert ticked["artifacts_republished"] == 1
    assert outbox_flow(world.at(date(2022, 4, 8), 9, 5))["artifacts_republished"] == 0
    assert outbox_flow(world.at(date(2022, 4, 8), 9, 10))["artifacts_republished"] == 0

    # an answer in the portal, outside Prefect
    world.answer(11, "sosh2", world.at(date(2022, 4, 20), 14))
    assert outbox_flow(world.at(date(2022, 4, 20), 14, 5))["artifacts_republished"] == 1
    data = asyncio.run(latest())
    # an answer on review is not done yet: progress counts accepted answers only
    assert data[f"{key}-progress"][0] == 0
    assert "на 20.04.2022" in data[f"{key}-progress"][1]
    assert status_of(data[f"{key}-status"][0])["СОШ № 2"] == "ответ получен, на проверке"
    assert outbox_flow(world.at(date(2022, 4, 20), 14, 10))["artifacts_republished"] == 0

    # a review in the portal: accepted, and another returned
    world.answer(11, "ds3", world.at(date(2022, 4, 21), 10))
    with session_scope(world.engine) as session:
        accept_task(
            session=session,
            task=session.get(Task, world.task(11, "sosh2").id),  # type: ignore[arg-type]
            admin_email="metodist@imcso.example",
            now=world.at(date(2022, 4, 21), 11),
        )
        return_task(
            session=session,
            task=session.get(Task, world.task(11, "ds3").id),  # type: ignore[arg-type]
            reason="Нет подписи",
            new_due=date(2022, 4, 28),
            admin_email="metodist@imcso.example",
            settings=world.settings,
            now=world.at(date(2022, 4, 21), 11),
        )
    assert outbox_flow(world.at(date(2022, 4, 21), 11, 5))["artifacts_republished"] == 1
    data = asyncio.run(latest())
    statuses = status_of(data[f"{key}-status"][0])
    assert statuses["СОШ № 2"] == "принято"
    assert statuses["Д/с № 3"] == "возвращено на доработку"
    assert data[f"{key}-progress"][0] == 33.3  # one of three accepted
    assert "на 21.04.2022" in data[f"{key}-status"][1]
    assert "на 21.04.2022" in str(data[f"{key}-overview"][0])


def test_stale_items_follow_task_changes(engine: Engine, district: District) -> None:
    from domain.db import session_scope
    from domain.staleness import mark_published, stale_items

    with session_scope(engine) as session:
        stale = stale_items(session)
        assert [s.label for s in stale] == [str(n) for n in range(1, 18)]
        for item in stale:
            mark_published(
                session, item_id=item.item_id, published_at=NOW, changes_upto=item.changed_at
            )
    with session_scope(engine) as session:
        assert stale_items(session) == []
        task = session.get(Task, district.task_ids[(district.item_ids[4], district.org_ids[1])])
        assert task is not None
        task.updated_at = NOW + timedelta(minutes=1)
        session.add(task)
    with session_scope(engine) as session:
        assert [s.label for s in stale_items(session)] == ["5"]
