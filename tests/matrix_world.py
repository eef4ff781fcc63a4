"""A district for the workplace's tests and bench/matrix: one roadmap of 17 items in three
sections, N organisations (schools and kindergartens, numbered so that text order and
natural order differ), one occurrence per item in 2022/2023 and a task per organisation
in a spread of states, plus an administrator."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Engine
from sqlmodel import Session

from domain.enums import OrgKind, Role, TaskStatus
from domain.organisations import Organisation
from domain.roadmap import Roadmap, RoadmapItem
from domain.tasks import Occurrence, Task
from portal.auth import create_admin

NOW = datetime(2022, 11, 14, 7, 0, tzinfo=UTC)  # Monday 10:00 in Moscow
TODAY = date(2022, 11, 14)
ADMIN_EMAIL = "metodist@imcso.example"
ADMIN_PASSWORD = "верный-пароль-2022"
SECTIONS = ("Организационные мероприятия", "Методическое сопровождение", "Мониторинг и отчётность")


@dataclass
class District:
    roadmap_key: str
    item_ids: list[int]
    org_ids: list[int]  # in creation order: "… № 1", "… № 2", …
    task_ids: dict[tuple[int, int], int]  # (item id, organisation id) -> task id


def build_district(engine: Engine, organisations: int = 30, items: int = 17) -> District:
    with Session(engine, expire_on_commit=False) as s:
        roadmap = Roadmap(
            key="r209",
            title="Дорожная карта наставничества",
            order_date=date(2022, 4, 8),
            activated_at=datetime(2022, 4, 8, tzinfo=UTC),
        )
        s.add(roadmap)
        s.flush()
        assert roadmap.id is not None
        item_rows = [
            RoadmapItem(
                roadmap_id=roadmap.id,
                number=n,
                slug=f"item-{n}",
                section=SECTIONS[(n - 1) * len(SECTIONS) // items],
                title=f"Мероприятие номер {n}: методическое сопровождение наставничества",
                schedule_text="ноябрь 2022 г.",
                responsible="руководители образовательных организаций",
                expected_result="Приказ",
                owner_name=f"Методист {n}",
            )
            for n in range(1, items + 1)
        ]
        kinds = (OrgKind.school, OrgKind.kindergarten)
        org_rows = []
        for n in range(1, organisations + 1):
            kind = kinds[n % 2]
            prefix = "МКОУ СОШ" if kind is OrgKind.school else "МКДОУ д/с"
            org_rows.append(
                Organisation(
                    name=f"{prefix} № {n} района",
                    short_name=f"{'СОШ' if kind is OrgKind.school else 'Д/с'} № {n}",
                    kind=kind,
                    head_name=f"Руководитель {n}",
                    head_email=f"head{n}@org.example",
                )
            )
        s.add_all(item_rows)
        s.add_all(org_rows)
        s.flush()
        task_ids: dict[tuple[int, int], int] = {}
        tasks: list[Task] = []
        for i, item in enumerate(item_rows):
            assert item.id is not None
            due = TODAY + timedelta(days=(i % 5) * 7 - 14)  # past, soon and later dues
            occ = Occurrence(
                item_id=item.id,
                cycle="2022/2023",
                opens=date(2022, 9, 1),
                due=due,
                opened_at=NOW - timedelta(days=60),
            )
            s.add(occ)
            s.flush()
            assert occ.id is not None
            for j, org in enumerate(org_rows):
                if (i + j) % 11 == 10:
                    continue  # not this organisation's item
                assert org.id is not None
                state = (i * 7 + j) % 6
                status = (
                    TaskStatus.accepted,
                    TaskStatus.submitted,
                    TaskStatus.returned,
                    TaskStatus.open,
                    TaskStatus.open,
                    TaskStatus.submitted,
                )[state]
                answered = (
                    NOW - timedelta(days=20 + state)
                    if status in (TaskStatus.accepted, TaskStatus.submitted)
                    else None
                )
                tasks.append(
                    Task(
                        occurrence_id=occ.id,
                        item_id=item.id,
                        organisation_id=org.id,
                        assignee_key=f"org:{org.id}",
                        role=Role.head,
                        status=status,
                        due=due,
                        opened_at=NOW - timedelta(days=60),
                        submitted_at=answered,
                        updated_at=NOW - timedelta(days=10),
                    )
                )
        s.add_all(tasks)
        s.flush()
        for t in tasks:
            assert t.id is not None and t.organisation_id is not None
            task_ids[(t.item_id, t.organisation_id)] = t.id
        create_admin(
            session=s, email=ADMIN_EMAIL, password=ADMIN_PASSWORD, name="Методист", now=NOW
        )
        s.commit()
        return District(
            roadmap_key=roadmap.key,
            item_ids=[i.id for i in item_rows if i.id is not None],
            org_ids=[o.id for o in org_rows if o.id is not None],
            task_ids=task_ids,
        )
