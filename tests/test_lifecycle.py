"""One table says what a task's status means; every page, count and rule asks it.

An answer waiting for the centre's review is "на проверке" everywhere (its own colour),
never the green "выполнено", and never counted as done."""

from __future__ import annotations

import ast
import re
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, select

from config.settings import Settings
from domain import lifecycle
from domain.enums import NoticeKind, TaskEventKind, TaskStatus
from domain.lifecycle import Stage, Timeliness, TransitionError
from domain.progress import item_progress, status_label
from domain.reminders import Policy, owed_steps
from domain.summary import task_outcome
from domain.tasks import TaskEvent, change_status
from portal.app import create_app
from portal.views import Light, traffic_light
from tests.factories import JOURNAL_VIEW, task_view
from tests.factories import unsaved_task as a_task
from tests.portal_world import BASE, START, Clock, World, build_world, login, submit

NOW = datetime(2022, 9, 1, 9, tzinfo=UTC)


# --- the table ----------------------------------------------------------------------------


def test_every_status_has_one_meaning_and_the_stages_split_them() -> None:
    assert set(lifecycle.MEANINGS) == set(TaskStatus)
    stages = (lifecycle.WAITING, lifecycle.IN_REVIEW, lifecycle.DONE)
    assert set().union(*stages) == set(TaskStatus)
    assert sum(len(s) for s in stages) == len(TaskStatus)
    assert {TaskStatus.open, TaskStatus.returned} == lifecycle.WAITING
    assert {TaskStatus.submitted} == lifecycle.IN_REVIEW
    assert {TaskStatus.accepted} == lifecycle.DONE
    assert {TaskStatus.submitted, TaskStatus.accepted} == lifecycle.ANSWERED
    assert TaskStatus.accepted not in lifecycle.ANSWERABLE
    assert lifecycle.stage(TaskStatus.submitted) is Stage.review
    assert not lifecycle.is_done(TaskStatus.submitted)


@pytest.mark.parametrize(
    ("status", "due", "answered_on", "today", "expected"),
    [
        (TaskStatus.submitted, date(2022, 9, 14), date(2022, 9, 14), date(2022, 9, 20), "on_time"),
        (TaskStatus.accepted, date(2022, 9, 14), date(2022, 9, 15), date(2022, 9, 20), "late"),
        (TaskStatus.open, date(2022, 9, 14), None, date(2022, 9, 15), "overdue"),
        (TaskStatus.returned, date(2022, 9, 14), None, date(2022, 9, 14), "pending"),
    ],
)
def test_on_time_or_late_is_the_answer_day_against_the_due_date(
    status: TaskStatus, due: date, answered_on: date | None, today: date, expected: str
) -> None:
    got = lifecycle.timeliness(status, due=due, answered_on=answered_on, today=today)
    assert got is Timeliness(expected)


def test_overdue_only_while_the_organisation_owes_the_answer() -> None:
    late = date(2022, 9, 20)
    assert lifecycle.is_overdue(TaskStatus.open, date(2022, 9, 14), late)
    assert lifecycle.is_overdue(TaskStatus.returned, date(2022, 9, 14), late)
    assert not lifecycle.is_overdue(TaskStatus.submitted, date(2022, 9, 14), late)
    assert not lifecycle.is_overdue(TaskStatus.open, date(2022, 9, 20), late)
    assert status_label(a_task(TaskStatus.open), late) == "просрочено (ожидает ответа)"
    assert status_label(a_task(TaskStatus.submitted), late) == "ответ получен, на проверке"


# --- change_status takes the move from the table ------------------------------------------


@pytest.mark.parametrize(
    ("start", "event", "to"),
    [
        (TaskStatus.open, TaskEventKind.submitted, TaskStatus.submitted),
        (TaskStatus.submitted, TaskEventKind.accepted, TaskStatus.accepted),
        (TaskStatus.submitted, TaskEventKind.returned, TaskStatus.returned),
        (TaskStatus.returned, TaskEventKind.submitted, TaskStatus.submitted),
    ],
)
def test_the_event_decides_the_new_status(
    start: TaskStatus, event: TaskEventKind, to: TaskStatus
) -> None:
    t = a_task(start)
    record = change_status(t, event=event, actor="a@b.example", now=NOW)
    assert t.status is to
    assert (record.kind, record.from_status, record.to_status) == (event, start, to)


def test_a_target_that_is_not_the_events_is_refused_and_changes_nothing() -> None:
    t = a_task(TaskStatus.submitted)
    with pytest.raises(TransitionError, match="accepted"):
        change_status(
            t, TaskStatus.accepted, event=TaskEventKind.returned, actor="a@b.example", now=NOW
        )
    assert t.status is TaskStatus.submitted
    with pytest.raises(TransitionError, match="cannot be accepted"):
        change_status(a_task(TaskStatus.open), event=TaskEventKind.accepted, actor="x", now=NOW)
    with pytest.raises(TransitionError):  # a notice is not a state change
        change_status(a_task(TaskStatus.open), event=TaskEventKind.reminded, actor="x", now=NOW)


# --- the rules ask the table --------------------------------------------------------------


def test_the_colour_count_rule_and_report_of_an_answer_in_review() -> None:
    today = date(2022, 9, 20)
    for continuous in (False, True):
        task = a_task(TaskStatus.submitted)
        assert traffic_light(task, continuous=continuous, today=today) is Light.review
    assert traffic_light(a_task(TaskStatus.accepted), continuous=True, today=today) is Light.done
    # a journal waiting for review is still nudged when a quarter passes without an entry
    view = task_view(JOURNAL_VIEW, status=TaskStatus.submitted)
    sent = {(NoticeKind.opened, 0)}
    assert owed_steps(view, sent=sent, entry_days=[], today=date(2022, 10, 3), policy=Policy()) == [
        (NoticeKind.nudge, 1)
    ]
    # the summary counts an answer in review as answered, by its day
    answered = a_task(TaskStatus.submitted)
    answered.submitted_at = datetime(2022, 9, 14, 8, tzinfo=UTC)
    from domain.calendar import RUSSIAN_CALENDAR
    from domain.summary import Outcome

    got = task_outcome(answered, as_of=today, calendar=RUSSIAN_CALENDAR)
    assert got == (Outcome.on_time, 0)


# --- the pages ----------------------------------------------------------------------------


def overview_row(page: str, label: str) -> list[str]:
    """The cells of the overview's row whose first cell contains `label`."""
    for row in re.findall(r"<tr>(.*?)</tr>", page, flags=re.S):
        cells = re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, flags=re.S)
        if cells and label in cells[0]:
            return [re.sub(r"<[^>]+>", "", c).strip() for c in cells]
    raise AssertionError(f"no overview row for {label}")


@pytest.mark.parametrize("continuous", [False, True], ids=["task", "journal"])
def test_an_answer_in_review_is_na_proverke_on_every_page_and_not_done(
    settings: Settings, engine: Engine, continuous: bool
) -> None:
    world: World = build_world(settings, engine, continuous=continuous)
    clock = Clock(START)
    client = TestClient(create_app(settings, engine, clock), base_url=BASE)
    assert submit(client, world).status_code == 303
    review = '<span class="light light-review">на проверке</span>'
    done = '<span class="light light-done">выполнено</span>'

    # the organisation's page
    from services.links import issue_org_link

    with Session(engine) as s:
        url = issue_org_link(
            session=s,
            organisation_id=world.org_a,
            recipient="head@school1.example",
            settings=settings,
            now=clock.now,
        )
        s.commit()
    org_page = client.get(url.removeprefix(settings.portal_url)).text
    assert review in org_page and done not in org_page

    assert login(client).status_code == 303
    # the review queue
    queue = client.get("/admin/tasks?status=awaiting").text
    assert review in queue and done not in queue and "СОШ № 1" in queue
    # the admin task page, with the review form
    page = client.get(f"/admin/tasks/{world.task_id}").text
    assert review in page and done not in page and "Принять" in page
    # the overview: a count of its own, not in "выполнено"
    overview = client.get("/admin").text
    cells = overview_row(overview, "№ 5.")
    # Мероприятие, Всего, На проверке, Просрочено, Срок скоро, Выполнено
    assert cells[1:] == ["2", "1", "0", "0", "0"]
    # the district matrix: its cell is "?" (на проверке), a journal's too
    grid = client.get("/admin/matrix").text.split('id="matrix"')[1].split("</table>")[0]
    assert 'class="c c-review"' in grid and 'class="c c-done"' not in grid
    # the item's progress artifact counts it in review, not done
    with Session(engine) as s:
        progress = item_progress(
            session=s, item_id=world.item_id, today=date(2022, 9, 12), tz=settings.tz
        )
    assert (progress.done, progress.review, progress.total) == (0, 1, 2)
    assert progress.share_done == 0.0

    # once accepted, it is done everywhere
    form = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert form is not None
    accepted = client.post(
        f"/admin/tasks/{world.task_id}/accept",
        data={"csrf_token": form[1]},
        follow_redirects=False,
    )
    assert accepted.status_code == 303
    overview = client.get("/admin").text
    assert overview_row(overview, "№ 5.")[1:] == ["2", "0", "0", "0", "1"]
    assert done in client.get(url.removeprefix(settings.portal_url)).text
    with Session(engine) as s:
        kinds = s.exec(select(TaskEvent.kind).where(TaskEvent.task_id == world.task_id)).all()
    assert list(kinds) == [TaskEventKind.submitted, TaskEventKind.accepted]


# --- nobody else decides -----------------------------------------------------------------

ROOT = Path(__file__).resolve().parent.parent
LAYERS = ("cli", "config", "domain", "flows", "notifications", "portal", "reports", "services")
TABLE = {ROOT / "domain" / "lifecycle.py", ROOT / "domain" / "enums.py"}


def _names_a_status(node: ast.AST) -> bool:
    """`TaskStatus.accepted`, or a tuple/list/set holding one."""
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        return node.value.id == "TaskStatus" and node.attr in TaskStatus.__members__
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        return any(_names_a_status(e) for e in node.elts)
    return False


def status_decisions(source: str) -> list[int]:
    """Lines that compare with a status member (==, !=, is, in) or filter by a list of
    them (`col(Task.status).in_([...])`): what the lifecycle table's questions are for."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        compares = isinstance(node, ast.Compare) and any(
            _names_a_status(n) for n in (node.left, *node.comparators)
        )
        filters = (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "in_"
            and any(_names_a_status(a) for a in node.args)
        )
        if compares or filters:
            lines.append(getattr(node, "lineno", 0))
    return lines


def test_the_guard_sees_a_status_decision() -> None:
    assert status_decisions("x = t.status is TaskStatus.accepted\n") == [1]
    assert status_decisions("y = s in (TaskStatus.open, TaskStatus.returned)\n") == [1]
    assert status_decisions("q.where(col(Task.status).in_([TaskStatus.open]))\n") == [1]
    assert status_decisions("q.where(Task.status == TaskStatus.returned)\n") == [1]
    assert status_decisions("row = {'status': TaskStatus.open}\n") == []  # a value, not a test
    assert status_decisions("ok = lifecycle.is_done(t.status)\n") == []


def test_no_module_decides_what_a_status_means_but_the_table() -> None:
    found = []
    for layer in LAYERS:
        for path in sorted((ROOT / layer).rglob("*.py")):
            if path in TABLE or "migrations" in path.parts:
                continue
            for line in status_decisions(path.read_text(encoding="utf-8")):
                found.append(f"{path.relative_to(ROOT)}:{line}")
    assert found == [], "ask domain.lifecycle instead:\n" + "\n".join(found)


def test_no_template_compares_a_status() -> None:
    templates = [*(ROOT / "portal").rglob("*.html"), *(ROOT / "notifications").rglob("*.html")]
    templates += list((ROOT / "notifications" / "templates").rglob("*.txt"))
    compared = re.compile(r"task\.status(\.value)?\s*(==|!=|\bin\b)|\.(status|light)\.value\s*==")
    found = [
        f"{path.relative_to(ROOT)}:{n}"
        for path in templates
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if compared.search(line)
    ]
    assert found == [], "ask in_review / is_answerable / is_returned instead:\n" + "\n".join(found)
