"""An organisation's deputy: validation, who gets the mail on and around the dates, the
escalation ladder, links that know they went to the deputy, who answered, and the
history of who named the deputy (SQLite and PostgreSQL)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, col, select
from typer.testing import CliRunner

from cli import orgs_cmd
from cli.main import app
from config.settings import Settings, get_settings
from domain.access import AccessLink
from domain.calendar import RUSSIAN_CALENDAR
from domain.deputies import (
    BY_CENTRE,
    BY_CLI,
    BY_HEAD,
    DEPUTY_ROLE,
    DeputyChange,
    DeputyError,
    deputy_holds,
    read_deputy,
)
from domain.emails import Notice, OutgoingEmail
from domain.enums import NoticeKind, OrgKind, Role, TaskEventKind
from domain.evidence import Evidence
from domain.organisations import Organisation
from domain.recipients import task_recipients
from domain.reminders import Policy, owed_notices
from domain.roadmap import RoadmapItem
from domain.tasks import Task, TaskEvent
from notifications.outbox import queue_notices
from portal.app import create_app
from services.links import LinkError, LinkProblem, issue_org_link, resolve_task_token
from tests.conftest import make_settings
from tests.deputy_world import (
    ADMIN_EMAIL,
    CENTRE,
    CURATOR_B,
    DEPUTY_A,
    DEPUTY_FROM,
    DEPUTY_NAME,
    DEPUTY_UNTIL,
    HEAD_A,
    HEAD_B,
    START,
    DeputyWorld,
    at,
    build_world,
)
from tests.portal_world import Clock, csrf_of, login

BASE = "http://127.0.0.1:8765"


def org(**changes: object) -> Organisation:
    values: dict[str, object] = {
        "id": 1,
        "name": "МКОУ СОШ № 1",
        "short_name": "СОШ № 1",
        "kind": OrgKind.school,
        "head_name": "Иванов И. И.",
        "head_email": HEAD_A,
        "curator_name": "Куратор",
        "curator_email": "curator.a@school.example",
    }
    values.update(changes)
    return Organisation(**values)  # type: ignore[arg-type]


# --- validation ---------------------------------------------------------------------------


def test_a_deputy_needs_a_name_an_address_of_its_own_and_dates_in_order() -> None:
    school = org()
    deputy = read_deputy(
        school,
        name="  Петрова  Анна ",
        email=DEPUTY_A,
        from_text="08.09.2022",
        until_text="2022-09-15",
    )
    assert (deputy.name, deputy.from_day, deputy.until_day) == (
        "Петрова Анна",
        DEPUTY_FROM,
        DEPUTY_UNTIL,
    )
    # one day is a period too
    read_deputy(school, name="П", email=DEPUTY_A, from_text="08.09.2022", until_text="08.09.2022")

    with pytest.raises(DeputyError) as empty:
        read_deputy(school, name=" ", email="", from_text="", until_text="")
    assert set(empty.value.errors) == {"name", "email", "from", "until"}
    assert "ДД.ММ.ГГГГ" in empty.value.errors["from"]

    with pytest.raises(DeputyError) as bad:
        read_deputy(
            school, name="П", email="zam.school.example", from_text="31.02.2022", until_text="x"
        )
    assert "не похож на адрес" in bad.value.errors["email"]
    assert "«31.02.2022» не дата" in bad.value.errors["from"]
    assert "«x» не дата" in bad.value.errors["until"]

    with pytest.raises(DeputyError) as order:
        read_deputy(
            school, name="П", email=DEPUTY_A, from_text="15.09.2022", until_text="08.09.2022"
        )
    assert order.value.errors == {
        "until": "Последний день (08.09.2022) раньше первого (15.09.2022): укажите «по» "
        "не раньше, чем «с»."
    }
    for own in (HEAD_A.upper(), "curator.a@school.example"):
        with pytest.raises(DeputyError) as same:
            read_deputy(school, name="П", email=own, from_text="1.9.2022", until_text="2.9.2022")
        assert "адрес" in same.value.errors["email"]


# --- who gets the mail --------------------------------------------------------------------


def test_recipients_on_and_around_the_dates() -> None:
    school = org(
        deputy_name=DEPUTY_NAME,
        deputy_email=DEPUTY_A,
        deputy_from=DEPUTY_FROM,
        deputy_until=DEPUTY_UNTIL,
    )
    item = RoadmapItem(
        id=1, roadmap_id=1, number=5, slug="i5", section="", title="", schedule_text="",
        responsible="", expected_result="", owner_email="owner@imcso.example",
    )  # fmt: skip
    head_task = Task(
        id=1, occurrence_id=1, item_id=1, organisation_id=1, assignee_key="org:1",
        role=Role.head, due=date(2022, 9, 14), opened_at=START, updated_at=START,
    )  # fmt: skip
    curator_task = Task(**{**head_task.model_dump(), "id": 2, "role": Role.curator})
    centre_task = Task(**{**head_task.model_dump(), "id": 3, "role": Role.centre})

    def to(task: Task, day: date | None) -> tuple[str, tuple[str, ...]]:
        return task_recipients(task, school, item, CENTRE, on_day=day)

    day_before, day_after = DEPUTY_FROM - timedelta(days=1), DEPUTY_UNTIL + timedelta(days=1)
    assert to(head_task, day_before) == (HEAD_A, ())
    assert to(head_task, DEPUTY_FROM) == (DEPUTY_A, (HEAD_A,))
    assert to(head_task, date(2022, 9, 12)) == (DEPUTY_A, (HEAD_A,))
    assert to(head_task, DEPUTY_UNTIL) == (DEPUTY_A, (HEAD_A,))
    assert to(head_task, day_after) == (HEAD_A, ())
    assert to(head_task, None) == (HEAD_A, ())  # no day, no deputy
    # a curator's task stays the curator's, the centre's the owner's
    assert to(curator_task, DEPUTY_FROM) == ("curator.a@school.example", (HEAD_A,))
    assert to(centre_task, DEPUTY_FROM) == ("owner@imcso.example", ())
    assert deputy_holds(school, DEPUTY_UNTIL) and not deputy_holds(school, day_after)
    assert not deputy_holds(org(), DEPUTY_FROM)


def world_settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path, centre_email=CENTRE, portal_url=BASE)


@pytest.fixture
def world(tmp_path: Path, any_engine: Engine) -> DeputyWorld:
    return build_world(world_settings(tmp_path), any_engine)


def run_days(world: DeputyWorld, first: date, last: date) -> None:
    """The daily scan on every working day from `first` to `last`, as the tick runs it."""
    day = first
    while day <= last:
        if RUSSIAN_CALENDAR.is_working_day(day):
            with Session(world.engine) as s:
                owed = owed_notices(
                    session=s,
                    today=day,
                    policy=Policy(),
                    centre_email=CENTRE,
                    tz=world.settings.tz,
                )
                queue_notices(session=s, owed=owed, settings=world.settings, now=at(day))
                s.commit()
        day += timedelta(days=1)


def mail_of(world: DeputyWorld, task_id: int) -> dict[tuple[str, int], tuple[date, OutgoingEmail]]:
    with Session(world.engine) as s:
        rows = s.exec(
            select(Notice, OutgoingEmail)
            .join(OutgoingEmail, col(OutgoingEmail.id) == Notice.email_id)
            .where(Notice.task_id == task_id)
        ).all()
        return {(n.kind.value, n.step): (n.on_day, e) for n, e in rows}


def test_mail_goes_to_the_deputy_while_it_holds_and_escalations_climb_the_heads_ladder(
    world: DeputyWorld,
) -> None:
    run_days(world, date(2022, 9, 5), date(2022, 9, 30))
    a5 = mail_of(world, world.a5)
    announced_on, announcement = a5[("opened", 0)]
    reminded_on, reminder = a5[("reminder", 0)]
    first_on, first_chase = a5[("chase", 1)]
    second_on, second_chase = a5[("chase", 2)]
    escalated_on, escalation = a5[("escalation", 0)]
    # before the period: the head alone
    assert announced_on == date(2022, 9, 5)
    assert (announcement.to_addr, announcement.cc_addrs) == (HEAD_A, [])
    # during it (both tasks in one digest): the deputy, the head in copy
    assert reminded_on == date(2022, 9, 9) and reminder.kind == "digest"
    assert (reminder.to_addr, reminder.cc_addrs) == (DEPUTY_A, [HEAD_A])
    assert reminder.text_body.startswith("Уважаемая Анна Ивановна!")
    # its last day counts
    assert first_on == DEPUTY_UNTIL
    assert (first_chase.to_addr, first_chase.cc_addrs) == (DEPUTY_A, [HEAD_A])
    # after it: back to the head by itself
    assert second_on > DEPUTY_UNTIL
    assert (second_chase.to_addr, second_chase.cc_addrs) == (HEAD_A, [])
    # the escalation goes to the centre and names the head, as without a deputy
    assert escalated_on > DEPUTY_UNTIL
    assert (escalation.to_addr, escalation.cc_addrs) == (CENTRE, [])
    assert HEAD_A in escalation.text_body and DEPUTY_A not in escalation.text_body
    # school B's curator task: the curator, head in copy, every time
    for _, email in mail_of(world, world.b5).values():
        if email.kind != "escalation":
            assert (email.to_addr, email.cc_addrs) == (CURATOR_B, [HEAD_B])


def test_an_escalation_during_the_period_still_goes_to_the_centre(world: DeputyWorld) -> None:
    """A long deputy period: the chases go to the deputy, the escalation up the head's
    ladder (to the centre, naming the head)."""
    with Session(world.engine) as s:
        school = s.get(Organisation, world.org_a)
        assert school is not None
        school.deputy_until = date(2022, 10, 31)
        s.add(school)
        s.commit()
    run_days(world, date(2022, 9, 5), date(2022, 9, 30))
    a5 = mail_of(world, world.a5)
    _, chase = a5[("chase", 2)]
    _, escalation = a5[("escalation", 0)]
    assert (chase.to_addr, chase.cc_addrs) == (DEPUTY_A, [HEAD_A])
    assert escalation.to_addr == CENTRE and HEAD_A in escalation.text_body


# --- links and answers --------------------------------------------------------------------


def token_in(text: str) -> str:
    match = re.search(r"/t/([A-Za-z0-9_.\-]+)", text)
    assert match is not None, text
    return match[1]


def test_the_deputys_link_answers_as_the_deputy_and_stops_after_the_period(
    world: DeputyWorld,
) -> None:
    run_days(world, date(2022, 9, 5), date(2022, 9, 9))
    _, reminder = mail_of(world, world.a5)[("reminder", 0)]
    with Session(world.engine) as s:
        link = s.exec(
            select(AccessLink).where(
                AccessLink.task_id == world.a5, AccessLink.recipient == DEPUTY_A
            )
        ).one()
        assert (link.recipient_role, link.recipient_name) == (DEPUTY_ROLE, DEPUTY_NAME)
        head_link = s.exec(
            select(AccessLink).where(AccessLink.task_id == world.a5, AccessLink.recipient == HEAD_A)
        ).one()
        assert head_link.recipient_role == ""
    # the digest links the organisation's page; the task's own link is on that page
    clock = Clock(at(date(2022, 9, 12), 8))
    client = TestClient(create_app(world.settings, world.engine, clock), base_url=BASE)
    org_page = re.search(r"/o/([A-Za-z0-9_.\-]+)", reminder.text_body)
    assert org_page is not None
    page = client.get(f"/o/{org_page[1]}")
    assert page.status_code == 200
    assert "Сохранить заместителя" not in page.text  # only the head names a deputy
    token = token_in(page.text)
    answered = client.post(
        f"/t/{token}", data={"comment": "Приказ № 12 издан"}, follow_redirects=False
    )
    assert answered.status_code == 303, answered.text
    with Session(world.engine) as s:
        [evidence] = s.exec(select(Evidence).where(Evidence.task_id == world.a5)).all()
        assert evidence.submitted_by == DEPUTY_A
        [event] = s.exec(
            select(TaskEvent).where(
                TaskEvent.task_id == world.a5, TaskEvent.kind == TaskEventKind.submitted
            )
        ).all()
        assert event.actor == DEPUTY_A
        assert event.note == f"версия 1; ответил(а): {DEPUTY_NAME}, заместитель"
        # the receipt greets the deputy by name
        receipt = s.exec(
            select(OutgoingEmail).where(OutgoingEmail.kind == NoticeKind.receipt.value)
        ).one()
        assert receipt.to_addr == DEPUTY_A
        assert receipt.cc_addrs == [HEAD_A]  # the head sees what the deputy sent
        assert receipt.text_body.startswith("Уважаемая Анна Ивановна!")

    # the centre's task page and the head's organisation page say who answered
    assert login(client).status_code == 303
    admin_view = client.get(f"/admin/tasks/{world.a5}")
    assert f"ответил(а): {DEPUTY_NAME}, заместитель" in admin_view.text
    assert DEPUTY_A in admin_view.text
    with Session(world.engine) as s:
        head_url = issue_org_link(
            session=s,
            organisation_id=world.org_a,
            recipient=HEAD_A,
            settings=world.settings,
            now=clock.now,
        )
        s.commit()
    head_page = client.get(head_url.removeprefix(BASE))
    assert f"ответил(а): {DEPUTY_NAME}, заместитель" in head_page.text

    # the day after the period the deputy's link is refused; the head's still opens
    clock.now = at(DEPUTY_UNTIL + timedelta(days=1), 8)
    refused = client.get(f"/t/{token}")
    assert refused.status_code == 410
    assert "срок замещения сейчас не действует" in refused.text
    with Session(world.engine) as s:
        with pytest.raises(LinkError) as ended:
            resolve_task_token(session=s, token=token, settings=world.settings, now=clock.now)
        assert ended.value.problem is LinkProblem.deputy_ended
    head_token = token_in(head_page.text)
    assert client.get(f"/t/{head_token}").status_code == 200


# --- naming a deputy and the history ------------------------------------------------------


def test_the_head_names_a_deputy_on_the_page_and_every_change_is_recorded(
    tmp_path: Path, any_engine: Engine
) -> None:
    world = build_world(world_settings(tmp_path), any_engine, with_deputy=False)
    clock = Clock(START)
    client = TestClient(create_app(world.settings, world.engine, clock), base_url=BASE)
    with Session(world.engine) as s:
        head_url = issue_org_link(
            session=s, organisation_id=world.org_a, recipient=HEAD_A, settings=world.settings,
            now=START,
        )  # fmt: skip
        curator_url = issue_org_link(
            session=s, organisation_id=world.org_b, recipient=CURATOR_B, settings=world.settings,
            now=START,
        )  # fmt: skip
        s.commit()
    path = head_url.removeprefix(BASE)
    page = client.get(path)
    assert "Заместитель не назначен" in page.text and "Сохранить заместителя" in page.text
    csrf = csrf_of(page.text)
    form = {
        "csrf_token": csrf,
        "name": DEPUTY_NAME,
        "email": DEPUTY_A,
        "from_day": "2022-09-08",
        "until_day": "2022-09-15",
    }
    # a wrong token, or a form from another site, changes nothing
    assert client.post(f"{path}/deputy", data={**form, "csrf_token": "x"}).status_code == 403
    foreign = client.post(f"{path}/deputy", data=form, headers={"Origin": "https://evil.example"})
    assert foreign.status_code == 403
    # bad dates: the form again, with the reason
    wrong = client.post(f"{path}/deputy", data={**form, "until_day": "2022-09-01"})
    assert wrong.status_code == 422
    assert "раньше первого" in wrong.text and DEPUTY_NAME in wrong.text
    saved = client.post(f"{path}/deputy", data=form, follow_redirects=False)
    assert saved.status_code == 303
    shown = client.get(saved.headers["location"])
    assert "Заместитель назначен" in shown.text
    assert f"{DEPUTY_NAME} &lt;{DEPUTY_A}&gt;, с 08.09.2022 по 15.09.2022" in shown.text
    # the same again is no change
    client.post(f"{path}/deputy", data=form)

    # the curator's page shows the deputy block but no form, and may not post one
    curator_path = curator_url.removeprefix(BASE)
    assert "Сохранить заместителя" not in client.get(curator_path).text
    refused = client.post(f"{curator_path}/deputy", data=form)
    assert refused.status_code == 403

    # the centre changes the period, then clears the deputy
    assert login(client).status_code == 303
    admin_page = client.get(f"/admin/orgs/{world.org_a}/deputy")
    assert admin_page.status_code == 200 and DEPUTY_A in admin_page.text
    admin_csrf = csrf_of(admin_page.text)
    clock.now = START + timedelta(hours=1)
    changed = client.post(
        f"/admin/orgs/{world.org_a}/deputy",
        data={**form, "csrf_token": admin_csrf, "until_day": "20.09.2022"},
        follow_redirects=False,
    )
    assert changed.status_code == 303
    no_csrf = client.post(f"/admin/orgs/{world.org_a}/deputy", data={**form, "csrf_token": ""})
    assert no_csrf.status_code == 403
    clock.now = START + timedelta(hours=2)
    cleared = client.post(
        f"/admin/orgs/{world.org_a}/deputy",
        data={"csrf_token": admin_csrf, "action": "clear"},
        follow_redirects=False,
    )
    assert cleared.status_code == 303
    task_page = client.get(f"/admin/tasks/{world.a5}")
    assert "Заместитель руководителя:</strong> не назначен" in task_page.text

    with Session(world.engine) as s:
        changes = s.exec(
            select(DeputyChange)
            .where(DeputyChange.organisation_id == world.org_a)
            .order_by(col(DeputyChange.id))
        ).all()
        school = s.get(Organisation, world.org_a)
        assert school is not None and school.deputy_email == "" and school.deputy_from is None
    named = {"name": DEPUTY_NAME, "email": DEPUTY_A, "from": "2022-09-08", "until": "2022-09-15"}
    assert [(c.by, c.actor, c.before, c.after) for c in changes] == [
        (BY_HEAD, HEAD_A, {}, named),
        (BY_CENTRE, ADMIN_EMAIL, named, {**named, "until": "2022-09-20"}),
        (BY_CENTRE, ADMIN_EMAIL, {**named, "until": "2022-09-20"}, {}),
    ]
    history = client.get(path).text
    assert "руководитель (head.a@school.example)" in history
    assert "методический центр (metodist@imcso.example)" in history
    assert "стало — нет" in history


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[DeputyWorld]:
    monkeypatch.setattr(orgs_cmd.console, "width", 200)
    url = f"sqlite:///{(tmp_path / 'cli.db').as_posix()}"
    monkeypatch.setenv("ROADMAP_DATABASE_URL", url)
    monkeypatch.setenv("ROADMAP_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("USER", "operator")
    get_settings.cache_clear()
    from domain.db import make_engine, upgrade

    settings = make_settings(tmp_path, database_url=url)
    engine = make_engine(url)
    upgrade(engine)
    yield build_world(settings, engine, with_deputy=False)
    engine.dispose()
    get_settings.cache_clear()


def test_the_command_line_names_and_clears_a_deputy(cli_env: DeputyWorld) -> None:
    runner = CliRunner()
    bad = runner.invoke(
        app,
        ["orgs", "deputy", "СОШ № 1", "--name", DEPUTY_NAME, "--email", "zam",
         "--from", "15.09.2022", "--until", "08.09.2022"],
    )  # fmt: skip
    assert bad.exit_code == 1
    assert "--email" in bad.output and "--until: Последний день" in bad.output
    ok = runner.invoke(
        app,
        ["orgs", "deputy", "СОШ № 1", "--name", DEPUTY_NAME, "--email", DEPUTY_A,
         "--from", "08.09.2022", "--until", "15.09.2022"],
    )  # fmt: skip
    assert ok.exit_code == 0, ok.output
    assert "с 08.09.2022 по 15.09.2022 включительно" in ok.output
    shown = runner.invoke(app, ["orgs", "deputy", "СОШ № 1"])
    assert DEPUTY_A in shown.output
    assert "администратор (командная строка) (operator)" in shown.output
    assert runner.invoke(app, ["orgs", "deputy", "СОШ № 1", "--clear", "--name", "x"]).exit_code
    cleared = runner.invoke(app, ["orgs", "deputy", "СОШ № 1", "--clear"])
    assert cleared.exit_code == 0 and "заместитель снят" in cleared.output
    with Session(cli_env.engine) as s:
        changes = s.exec(select(DeputyChange).order_by(col(DeputyChange.id))).all()
    assert [(c.by, c.actor, bool(c.after)) for c in changes] == [
        (BY_CLI, "operator", True),
        (BY_CLI, "operator", False),
    ]
