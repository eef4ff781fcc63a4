"""A small district for the deputy tests: two items due 14.09.2022, school A (its head's
tasks on both items, a deputy from 08.09 to 15.09) and school B (a curator's task)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy import Engine
from sqlmodel import Session

from config.settings import Settings
from domain.deputies import BY_CENTRE, Deputy
from domain.enums import OrgKind, Role
from domain.organisations import Organisation
from domain.roadmap import Roadmap, RoadmapItem
from domain.tasks import Occurrence, Task
from portal.auth import create_admin
from services.deputies import set_deputy

START = datetime(2022, 9, 5, 6, 0, tzinfo=UTC)  # Monday 09:00 in Moscow
DUE = date(2022, 9, 14)
DEPUTY_FROM = date(2022, 9, 8)
DEPUTY_UNTIL = date(2022, 9, 15)
CENTRE = "imcso@levokumskoe.example"
ADMIN_EMAIL = "metodist@imcso.example"
ADMIN_PASSWORD = "верный-пароль-2022"
HEAD_A = "head.a@school.example"
HEAD_B = "head.b@school.example"
CURATOR_B = "curator.b@school.example"
DEPUTY_A = "zam.a@school.example"
DEPUTY_NAME = "Петрова Анна Ивановна"


def at(day: date, hour_utc: int = 6) -> datetime:
    return datetime(day.year, day.month, day.day, hour_utc, 0, tzinfo=UTC)


@dataclass
class DeputyWorld:
    settings: Settings
    engine: Engine
    org_a: int
    org_b: int
    a5: int
    a13: int
    b5: int


def build_world(settings: Settings, engine: Engine, *, with_deputy: bool = True) -> DeputyWorld:
    with Session(engine, expire_on_commit=False) as s:
        roadmap = Roadmap(key="r209", title="Дорожная карта", order_date=date(2022, 4, 8))
        s.add(roadmap)
        s.flush()
        assert roadmap.id is not None
        occurrences = {}
        for number, title in (
            (5, "Издание приказа о закреплении наставнических пар"),
            (13, "Формирование базы наставников"),
        ):
            item = RoadmapItem(
                roadmap_id=roadmap.id,
                number=number,
                slug=f"item-{number}",
                section="Организационные мероприятия",
                title=title,
                schedule_text="до 14.09.2022г.",
                responsible="руководители образовательных организаций",
                expected_result="Приказ",
                evidence_spec={},
            )
            s.add(item)
            s.flush()
            assert item.id is not None
            occ = Occurrence(
                item_id=item.id, cycle="2022/2023", opens=date(2022, 9, 1), due=DUE, opened_at=START
            )
            s.add(occ)
            s.flush()
            occurrences[number] = occ
        org_a = Organisation(
            name="МКОУ СОШ № 1",
            short_name="СОШ № 1",
            kind=OrgKind.school,
            head_name="Иванов Иван Иванович",
            head_email=HEAD_A,
        )
        org_b = Organisation(
            name="МКОУ СОШ № 2",
            short_name="СОШ № 2",
            kind=OrgKind.school,
            head_name="Сидоров Пётр Петрович",
            head_email=HEAD_B,
            curator_name="Куратор Б",
            curator_email=CURATOR_B,
        )
        s.add(org_a)
        s.add(org_b)
        s.flush()
        assert org_a.id is not None and org_b.id is not None
        ids: dict[str, int] = {}
        for key, org, number, role in (
            ("a5", org_a, 5, Role.head),
            ("a13", org_a, 13, Role.head),
            ("b5", org_b, 5, Role.curator),
        ):
            occ = occurrences[number]
            assert occ.id is not None and org.id is not None
            task = Task(
                occurrence_id=occ.id,
                item_id=occ.item_id,
                organisation_id=org.id,
                assignee_key=f"org:{org.id}",
                role=role,
                due=DUE,
                opened_at=START,
                updated_at=START,
            )
            s.add(task)
            s.flush()
            assert task.id is not None
            ids[key] = task.id
        if with_deputy:
            set_deputy(
                s,
                org_a,
                Deputy(DEPUTY_NAME, DEPUTY_A, DEPUTY_FROM, DEPUTY_UNTIL),
                by=BY_CENTRE,
                actor=ADMIN_EMAIL,
                now=START,
            )
        create_admin(session=s, email=ADMIN_EMAIL, password=ADMIN_PASSWORD, name="М", now=START)
        s.commit()
        return DeputyWorld(settings, engine, org_a.id, org_b.id, ids["a5"], ids["a13"], ids["b5"])
