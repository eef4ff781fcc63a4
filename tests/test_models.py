"""The schema: migrations on SQLite and PostgreSQL, uniqueness, aware datetimes."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, SQLModel, select

from domain.enums import OrgKind, Role, TaskStatus
from domain.models import Occurrence, Organisation, Roadmap, RoadmapItem, Task

NOW = datetime(2022, 9, 1, 6, 0, tzinfo=UTC)


def seed_task_parts(session: Session) -> tuple[RoadmapItem, Occurrence, Organisation]:
    roadmap = Roadmap(key="t", title="t", order_date=date(2022, 4, 8))
    session.add(roadmap)
    session.flush()
    assert roadmap.id is not None
    item = RoadmapItem(
        roadmap_id=roadmap.id,
        number=13,
        slug="item-13",
        section="s",
        title="t",
        schedule_text="до 15.09.2022г., далее ежегодно",
        responsible="руководители образовательных организаций",
        expected_result="r",
    )
    org = Organisation(
        name="МКОУ СОШ № 1",
        short_name="СОШ 1",
        kind=OrgKind.school,
        head_name="И. И. Иванов",
        head_email="head1@school1.example",
    )
    session.add_all([item, org])
    session.flush()
    assert item.id is not None
    occ = Occurrence(
        item_id=item.id, cycle="2022/2023", opens=date(2022, 9, 1), due=date(2022, 9, 14)
    )
    session.add(occ)
    session.flush()
    assert occ.id is not None
    return item, occ, org


def test_migrations_match_the_models(any_engine: Engine) -> None:
    with any_engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    assert diff == [], "models changed without a migration: regenerate migrations/versions"


def test_a_task_is_unique_per_occurrence_and_organisation(any_engine: Engine) -> None:
    with Session(any_engine) as session:
        item, occ, org = seed_task_parts(session)
        assert item.id is not None and occ.id is not None
        for _ in range(2):
            session.add(
                Task(
                    occurrence_id=occ.id,
                    item_id=item.id,
                    organisation_id=org.id,
                    assignee_key=f"org:{org.id}",
                    role=Role.head,
                    due=occ.due,
                    opened_at=NOW,
                    updated_at=NOW,
                )
            )
        with pytest.raises(IntegrityError):
            session.commit()


def test_datetimes_come_back_aware_in_utc(any_engine: Engine) -> None:
    moscow = timezone(timedelta(hours=3))
    with Session(any_engine) as session:
        item, occ, _org = seed_task_parts(session)
        assert item.id is not None and occ.id is not None
        session.add(
            Task(
                occurrence_id=occ.id,
                item_id=item.id,
                organisation_id=None,
                assignee_key="centre",
                role=Role.centre,
                due=occ.due,
                opened_at=datetime(2022, 9, 1, 9, 0, tzinfo=moscow),
                updated_at=NOW,
            )
        )
        session.commit()
    with Session(any_engine) as session:
        task = session.exec(select(Task)).one()
        assert task.opened_at == datetime(2022, 9, 1, 6, 0, tzinfo=UTC)
        assert task.opened_at.tzinfo is not None
        assert task.status is TaskStatus.open
