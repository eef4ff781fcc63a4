"""The yearly summary's arithmetic on a small world whose answers we know."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from domain.calendar import RUSSIAN_CALENDAR
from domain.cycles import Cycle
from domain.emails import Notice, OutgoingEmail
from domain.enums import (
    EmailStatus,
    EvidenceFieldKind,
    NoticeKind,
    OrgKind,
    Role,
    TaskStatus,
)
from domain.evidence import Evidence
from domain.organisations import Organisation
from domain.roadmap import AssigneeRule, EvidenceField, EvidenceSpec, Roadmap, RoadmapItem
from domain.summary import (
    ORGANISATIONS,
    Counts,
    Outcome,
    build_summary,
    count_ru,
    parse_number,
    plural_ru,
)
from domain.tasks import Occurrence, Task
from tests.factories import a_roadmap, a_school, a_task, an_item, an_occurrence

MSK = timezone(timedelta(hours=3))
CYCLE = Cycle.parse("2022/2023")
START = date(2022, 4, 8)
AS_OF = date(2023, 9, 15)
SCRIPT = "<script>alert(1)</script>"


def msk(y: int, m: int, d: int, hh: int = 10) -> datetime:
    return datetime(y, m, d, hh, 0, tzinfo=MSK)


def spec(*fields: tuple[str, str, EvidenceFieldKind]) -> dict[str, Any]:
    return EvidenceSpec(
        fields=[EvidenceField(name=n, label=label, kind=k) for n, label, k in fields]
    ).model_dump(mode="json")


def rule(centre: bool, role: Role | None, *kinds: OrgKind) -> dict[str, Any]:
    return AssigneeRule(centre=centre, organisations=role, kinds=list(kinds)).model_dump(
        mode="json"
    )


def seed_world(session: Session) -> dict[str, int]:
    """A roadmap of four items, four organisations, and answers with known outcomes.

    Item 13 (schools and kindergartens, due Wed 14.09.2022): СОШ 1 on time, СОШ 2 three
    working days late, ДОУ 3 submitted at 01:30 Moscow time on 15.09 (one day late though
    22:30 UTC on the 14th), ЦДТ not covered. Item 15 (schools + the centre, quarterly):
    Q4 2022: СОШ 1 on time, СОШ 2 never (escalated), centre on time; Q2 2023: СОШ 1
    returned (missing), СОШ 2 three days late, centre open. Item 17 (continuous): СОШ 1
    logged three entries and finished, ДОУ 3 nothing. Item 10: needs dates.
    """
    roadmap = a_roadmap(
        session,
        key="lmo-209",
        title="Дорожная карта по наставничеству",
        order_number="209-од",
        order_date=START,
        district="Левокумский муниципальный округ",
    )
    sections = ("Мониторинг и оценка результатов", "Организация работы в ОО")
    an_item(  # item 10: needs dates
        session,
        roadmap,
        like={
            "number": 10,
            "section": sections[0],
            "title": "Мониторинг эффективности программ наставничества",
            "schedule_text": "ежегодно, по плану СКИРО ПК и ПРО",
            "responsible": "МКУ «ИМЦСО ЛМО СК»",
            "expected_result": "Аналитическая справка",
        },
        needs_dates=True,
        needs_dates_reason="по плану СКИРО ПК и ПРО",
        assignees=rule(True, None),
    )
    item13 = an_item(
        session,
        roadmap,
        like={
            "number": 13,
            "section": sections[1],
            "title": f"Формирование банка наставников {SCRIPT}",
            "schedule_text": "до 15.09.2022г., далее ежегодно",
            "responsible": "руководители образовательных организаций",
            "expected_result": "Банк наставников",
        },
        assignees=rule(False, Role.head, OrgKind.school, OrgKind.kindergarten),
        evidence_spec=spec(
            ("mentors", "Количество наставников", EvidenceFieldKind.number),
            ("mentees", "Количество наставляемых", EvidenceFieldKind.number),
            ("comment", "Комментарий", EvidenceFieldKind.long_text),
        ),
    )
    item15 = an_item(
        session,
        roadmap,
        like={
            "number": 15,
            "section": sections[1],
            "title": "Участие кураторов в работе Совета наставников",
            "schedule_text": "ежеквартально",
            "responsible": "МКУ «ИМЦСО ЛМО СК», кураторы",
            "expected_result": "Протоколы",
        },
        assignees=rule(True, Role.curator, OrgKind.school),
        evidence_spec=spec(("participants", "Число участников", EvidenceFieldKind.number)),
    )
    item17 = an_item(
        session,
        roadmap,
        like={
            "number": 17,
            "section": sections[1],
            "title": "Информационная поддержка системы наставничества",
            "schedule_text": "постоянно",
            "responsible": "Кураторы",
            "expected_result": "Публикации",
        },
        assignees=rule(False, Role.curator, OrgKind.school, OrgKind.kindergarten),
        evidence_spec=spec(("link", "Ссылка", EvidenceFieldKind.url)),
    )
    schools = (
        (OrgKind.school, "МКОУ СОШ № 1", "СОШ 1", "А", "h1@s1.example"),
        (OrgKind.school, f"МКОУ СОШ № 2 {SCRIPT}", f"СОШ 2 {SCRIPT}", "Б", "h2@s2.example"),
        (OrgKind.kindergarten, "МКДОУ Детский сад № 3", "ДОУ 3", "В", "h3@d3.example"),
        (OrgKind.extra, "МКУ ДО Центр детского творчества", "ЦДТ", "Г", "h4@c4.example"),
    )
    a, b, c, _d = (
        a_school(
            session,
            n,
            curator=False,
            kind=kind,
            name=name,
            short_name=short,
            head_name=head,
            head_email=email,
        )
        for n, (kind, name, short, head, email) in enumerate(schools, start=1)
    )

    def occurrence(item: RoadmapItem, opens: date, due: date, **kw: Any) -> Occurrence:
        opened = datetime.combine(opens, datetime.min.time(), MSK)
        return an_occurrence(session, item, opens=opens, due=due, opened_at=opened, **kw)

    def task(
        occ: Occurrence,
        org: Organisation | None,
        status: TaskStatus,
        submitted_at: datetime | None = None,
    ) -> Task:
        row = a_task(
            session,
            occ,
            org,
            role=Role.centre if org is None else Role.head,
            status=status,
            submitted_at=submitted_at,
        )
        row.updated_at = submitted_at or msk(2023, 1, 1)
        return row

    def answer(t: Task, version: int, at: datetime, **values: object) -> None:
        assert t.id is not None
        session.add(Evidence(task_id=t.id, version=version, submitted_at=at, values=values))

    o13 = occurrence(item13, START, date(2022, 9, 14))
    t13a = task(o13, a, TaskStatus.accepted, msk(2022, 9, 13))
    answer(t13a, 1, msk(2022, 9, 13), mentors=20, mentees=30, comment="ok")
    t13b = task(o13, b, TaskStatus.submitted, msk(2022, 9, 19))
    answer(t13b, 1, msk(2022, 9, 16), mentors=5, mentees=5, comment=SCRIPT)
    answer(t13b, 2, msk(2022, 9, 19), mentors="7", mentees=" 31 ", comment=SCRIPT)
    t13c = task(o13, c, TaskStatus.accepted, datetime(2022, 9, 14, 22, 30, tzinfo=UTC))
    answer(t13c, 1, msk(2022, 9, 15, 1), mentors=30.0, mentees="тридцать")

    # Next cycle: must not count.
    o13next = occurrence(item13, date(2023, 9, 1), date(2023, 9, 14), cycle="2023/2024")
    task(o13next, a, TaskStatus.open)

    q4 = occurrence(item15, date(2022, 10, 1), date(2022, 12, 30))
    t15a = task(q4, a, TaskStatus.accepted, msk(2022, 12, 20))
    answer(t15a, 1, msk(2022, 12, 20), participants=4)
    t15b = task(q4, b, TaskStatus.open)
    task(q4, None, TaskStatus.accepted, msk(2022, 12, 28))
    q2 = occurrence(item15, date(2023, 4, 1), date(2023, 6, 30))
    task(q2, a, TaskStatus.returned)
    t15b2 = task(q2, b, TaskStatus.submitted, msk(2023, 7, 5))
    answer(t15b2, 1, msk(2023, 7, 5), participants="6")
    task(q2, None, TaskStatus.open)

    o17 = occurrence(item17, date(2022, 9, 1), date(2023, 8, 31), continuous=True)
    t17a = task(o17, a, TaskStatus.accepted, msk(2023, 8, 30))
    for version, month in enumerate((10, 12, 3), start=1):
        year = 2022 if month > 8 else 2023
        answer(t17a, version, msk(year, month, 5), link=f"https://s1.example/{version}")
    task(o17, c, TaskStatus.open)

    sent = OutgoingEmail(
        message_id="<esc-1@roadmap>",
        kind="escalation",
        to_addr="owner@imcso.example",
        subject="Эскалация: мероприятие 15",
        text_body="t",
        html_body="h",
        status=EmailStatus.sent,
        created_at=msk(2023, 1, 16),
        next_attempt_at=msk(2023, 1, 16),
    )
    failed = OutgoingEmail(
        message_id="<chase-1@roadmap>",
        kind="chase",
        to_addr="h2@s2.example",
        subject=f"Просрочено задание {SCRIPT}",
        text_body="t",
        html_body="h",
        status=EmailStatus.failed,
        attempts=3,
        last_error="550 5.1.1 mailbox unavailable",
        created_at=msk(2023, 1, 10),
        next_attempt_at=msk(2023, 1, 10),
    )
    old_failure = OutgoingEmail(
        message_id="<old@roadmap>",
        kind="opened",
        to_addr="old@example.org",
        subject="До начала дорожной карты",
        text_body="t",
        html_body="h",
        status=EmailStatus.failed,
        last_error="old",
        created_at=msk(2022, 1, 10),
        next_attempt_at=msk(2022, 1, 10),
    )
    session.add_all([sent, failed, old_failure])
    session.flush()
    assert sent.id is not None and t15b.id is not None
    session.add(
        Notice(
            task_id=t15b.id,
            kind=NoticeKind.escalation,
            step=0,
            on_day=date(2023, 1, 16),
            recipient="owner@imcso.example",
            email_id=sent.id,
            created_at=msk(2023, 1, 16),
        )
    )
    session.add(
        Notice(
            task_id=t15b.id,
            kind=NoticeKind.chase,
            step=1,
            on_day=date(2023, 1, 10),
            recipient="h2@s2.example",
            email_id=sent.id,
            created_at=msk(2023, 1, 10),
        )
    )
    session.flush()
    assert roadmap.id is not None
    return {"roadmap_id": roadmap.id}


def build(engine: Engine, as_of: date = AS_OF):
    with Session(engine) as session:
        seed_world(session)
        session.commit()
        return build_summary(session=session, cycle=CYCLE, roadmap_start=START, as_of=as_of)


@pytest.fixture
def summary(engine: Engine):
    return build(engine)


def test_russian_plural_forms() -> None:
    forms = {n: plural_ru(n, ORGANISATIONS) for n in (0, 1, 2, 4, 5, 11, 12, 14, 21, 22, 25, 111)}
    assert forms == {
        0: "организаций",
        1: "организация",
        2: "организации",
        4: "организации",
        5: "организаций",
        11: "организаций",
        12: "организаций",
        14: "организаций",
        21: "организация",
        22: "организации",
        25: "организаций",
        111: "организаций",
    }
    assert count_ru(1, ORGANISATIONS) == "1 организация"
    assert count_ru(2, ORGANISATIONS) == "2 организации"
    assert count_ru(5, ORGANISATIONS) == "5 организаций"


def test_numbers_are_read_from_answers_safely() -> None:
    assert parse_number(57) == Decimal(57)
    assert parse_number("1 200") == Decimal(1200)
    assert parse_number("12,5") == Decimal("12.5")
    assert parse_number(2.5) == Decimal("2.5")
    for bad in ("тридцать", "", None, True, float("nan"), "inf", [1], {"a": 1}):
        assert parse_number(bad) is None


def test_item_counts_per_outcome(any_engine: Engine) -> None:
    result = build(any_engine)
    items = {item.number: item for item in result.items}
    assert [item.number for item in result.items] == [10, 13, 15, 17]

    i13 = items[13]
    assert (i13.counts.asked, i13.counts.on_time, i13.counts.late, i13.counts.missing) == (
        3,
        1,
        2,
        0,
    )
    # СОШ 2: 15, 16, 19 September; ДОУ 3: 15 September in Moscow, though the 14th in UTC.
    assert i13.counts.late_days == (1, 3)
    assert i13.counts.avg_late_days == 2.0
    assert i13.counts.max_late_days == 3
    assert (i13.not_asked, i13.not_asked_in_scope) == (1, 0)  # ЦДТ is outside the rule
    assert i13.centre.asked == 0 and i13.centre_label == "—"
    assert len(i13.occurrences) == 1  # the 2023/2024 occurrence is left out

    i15 = items[15]
    assert (i15.counts.asked, i15.counts.on_time, i15.counts.late) == (4, 1, 1)
    assert (i15.counts.overdue, i15.counts.in_progress) == (2, 0)
    assert i15.counts.late_days == (3,)  # 3, 4 and 5 July
    assert (i15.not_asked, i15.not_asked_in_scope) == (2, 0)
    assert (i15.centre.asked, i15.centre.on_time, i15.centre.overdue) == (2, 1, 1)
    q4, q2 = i15.occurrences
    assert (q4.counts.on_time, q4.counts.overdue, q4.centre.on_time) == (1, 1, 1)
    assert (q2.counts.late, q2.counts.overdue, q2.centre.overdue) == (1, 1, 1)

    i17 = items[17]
    assert i17.continuous
    assert (i17.counts.asked, i17.counts.on_time, i17.counts.overdue) == (2, 1, 1)
    assert (i17.entries, i17.organisations_with_entries) == (3, 1)
    assert (i17.not_asked, i17.not_asked_in_scope) == (2, 1)  # СОШ 2 should have been asked

    i10 = items[10]
    assert i10.needs_dates and not i10.occurrences
    assert i10.counts == Counts()
    assert [item.number for item in result.needs_dates] == [10]

    assert [s.name for s in result.sections] == [
        "Мониторинг и оценка результатов",
        "Организация работы в ОО",
    ]
    total = result.counts
    assert (total.asked, total.on_time, total.late, total.overdue) == (9, 3, 3, 3)
    assert total.avg_late_days == 2.3 and total.max_late_days == 3


def test_organisation_counts(summary) -> None:
    by_name = {org.name: org for org in summary.organisations}
    a = by_name["МКОУ СОШ № 1"]
    assert (a.counts.asked, a.counts.on_time, a.counts.late, a.counts.missing) == (4, 3, 0, 1)
    assert a.items_asked == 3
    assert a.counts.done_share == 0.75
    b = by_name[f"МКОУ СОШ № 2 {SCRIPT}"]
    assert (b.counts.asked, b.counts.on_time, b.counts.late, b.counts.missing) == (3, 0, 2, 1)
    c = by_name["МКДОУ Детский сад № 3"]
    assert (c.counts.asked, c.counts.on_time, c.counts.late, c.counts.missing) == (2, 0, 1, 1)
    d = by_name["МКУ ДО Центр детского творчества"]
    assert d.counts.asked == 0 and d.counts.done_share is None
    assert summary.organisations_involved == 3
    assert len(summary.organisations) == 4


def test_district_totals_use_the_latest_answer_and_skip_words(summary) -> None:
    totals = {(t.item_number, t.label): t for t in summary.indicators}
    assert set(totals) == {
        (13, "Количество наставников"),
        (13, "Количество наставляемых"),
        (15, "Число участников"),
    }
    mentors = totals[(13, "Количество наставников")]
    assert (mentors.total, mentors.reported, mentors.ignored) == (57, 3, 0)
    assert isinstance(mentors.total, int)
    mentees = totals[(13, "Количество наставляемых")]
    assert (mentees.total, mentees.reported, mentees.ignored) == (61, 2, 1)
    assert totals[(15, "Число участников")].total == 10


def test_escalations_and_delivery_failures(summary) -> None:
    assert len(summary.escalations) == 1
    esc = summary.escalations[0]
    assert (esc.item_number, esc.organisation, esc.on_day) == (
        15,
        f"СОШ 2 {SCRIPT}",
        date(2023, 1, 16),
    )
    assert esc.outcome is Outcome.overdue
    assert len(summary.delivery_failures) == 1  # the 2022-01 failure is before the roadmap
    failure = summary.delivery_failures[0]
    assert failure.to_addr == "h2@s2.example"
    assert failure.last_error == "550 5.1.1 mailbox unavailable"
    assert failure.created_on == date(2023, 1, 10)


def test_period_and_generated_text(summary) -> None:
    assert (summary.period_start, summary.period_end) == (START, date(2023, 8, 31))
    assert summary.roadmap_order == "№ 209-од от 08.04.2022"
    text = " ".join(summary.text)
    assert "с 08.04.2022 по 31.08.2023" in text
    assert "участвовали 3 организации" in text
    assert "направлено 9 заданий по 3 мероприятиям" in text
    assert "Принято в срок 3 задания (33,3 %); принято с опозданием — 3" in text
    assert "наибольшее опоздание — 3 рабочих дня" in text
    assert "количество наставников (п. 13) — 57; количество наставляемых (п. 13) — 61" in text
    assert "Мониторинг ведётся" not in text  # no activation date given
    assert not summary.interim and "Промежуточная" not in summary.title
    assert "№ 13" in text and "СОШ 2" in text  # the weakest item and organisation
    assert "Сроки не установлены для 1 мероприятия (№ 10)" in text
    assert "не удалось доставить: 1 письмо" in text


def test_tasks_not_yet_due_are_in_progress(engine: Engine) -> None:
    result = build(engine, as_of=date(2023, 8, 1))
    items = {item.number: item for item in result.items}
    # ДОУ 3's continuous task is due 31.08.2023: not yet overdue on 01.08.
    assert (items[17].counts.overdue, items[17].counts.in_progress) == (0, 1)
    assert items[15].counts.overdue == 2  # due 30.12.2022 and 30.06.2023


def test_an_empty_database_gives_an_empty_summary(engine: Engine) -> None:
    with Session(engine) as session:
        result = build_summary(
            session=session,
            cycle=CYCLE,
            roadmap_start=START,
            as_of=AS_OF,
            calendar=RUSSIAN_CALENDAR,
        )
    assert result.items == () and result.counts == Counts()
    assert result.text[1] == "Задания организациям в этом периоде не направлялись."


def test_the_default_time_zone_is_the_settings_default() -> None:
    """Callers that pass no `tz` (flows/summary.py) get the district's zone from settings."""
    from config.settings import Settings
    from domain.summary import DISTRICT_TZ

    assert str(DISTRICT_TZ) == Settings.model_fields["timezone"].default == "Europe/Moscow"


def test_summary_errors_are_in_russian(engine: Engine) -> None:
    from domain.summary import SummaryError

    with Session(engine) as session:
        seed_world(session)
        session.add(Roadmap(key="second", title="Вторая", order_date=START))
        session.commit()
        with pytest.raises(SummaryError, match="в базе несколько дорожных карт"):
            build_summary(session=session, cycle=CYCLE, roadmap_start=START, as_of=AS_OF)
        with pytest.raises(SummaryError, match="дорожной карты с id 99 нет в базе"):
            build_summary(
                session=session, cycle=CYCLE, roadmap_start=START, as_of=AS_OF, roadmap_id=99
            )


def test_a_log_with_entries_counts_as_done_however_late_its_last_entry() -> None:
    from datetime import UTC, datetime

    from domain.calendar import RUSSIAN_CALENDAR
    from domain.enums import Role, TaskStatus
    from domain.summary import Outcome, task_outcome
    from domain.tasks import Task

    moment = datetime(2023, 10, 2, 9, tzinfo=UTC)
    log = Task(
        occurrence_id=1,
        item_id=1,
        assignee_key="org:1",
        role=Role.head,
        status=TaskStatus.submitted,
        due=date(2023, 8, 31),
        opened_at=moment,
        submitted_at=moment,
        updated_at=moment,
    )
    assert task_outcome(
        log, as_of=date(2023, 12, 1), calendar=RUSSIAN_CALENDAR, continuous=True
    ) == (Outcome.on_time, 0)
    assert task_outcome(log, as_of=date(2023, 12, 1), calendar=RUSSIAN_CALENDAR)[0] is (
        Outcome.late
    )
    log.status = TaskStatus.open
    assert task_outcome(
        log, as_of=date(2023, 12, 1), calendar=RUSSIAN_CALENDAR, continuous=True
    ) == (Outcome.overdue, 0)
