"""Upgrades: a database made with the first release's schema, with data, upgrades to head."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, create_engine, text
from sqlmodel import SQLModel

from domain.db import alembic_config, make_engine, upgrade
from tests.conftest import postgres_url


def upgrade_to(engine: Engine, revision: str) -> None:
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


@pytest.fixture(params=["sqlite", "postgres"])
def blank(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        eng = make_engine(f"sqlite:///{(tmp_path / 'old.db').as_posix()}")
        yield eng
        eng.dispose()
        return
    base = postgres_url()
    name = f"roadmap_m_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    eng = make_engine(base.rsplit("/", 1)[0] + "/" + name)
    yield eng
    eng.dispose()
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


FIRST_RELEASE_DATA = [
    "INSERT INTO roadmap (id, code, title, order_number, order_date, district) "
    "VALUES (1, '209-od-2022', 'Дорожная карта', '209-од', '2022-04-08', 'ЛМО')",
    "INSERT INTO roadmap_item (id, roadmap_id, number, slug, section, title, schedule_text, "
    "schedule, needs_dates, responsible, assignees, expected_result, evidence_spec, "
    "owner_name, owner_email) VALUES (1, 1, 13, 'item-13', 'Раздел', 'Банк наставников', "
    "'до 15.09.2022', '{}', false, 'Руководители ОО', '{}', 'Банк', '{}', '', '')",
    "INSERT INTO stored_summary (id, cycle, created_at, directory) "
    "VALUES (1, '2022/2023', '2023-09-01 06:00:00+00', 'a'), "
    "(2, '2022/2023', '2023-09-02 06:00:00+00', 'b')",
]


def test_the_first_release_upgrades_to_head_with_its_data(blank: Engine) -> None:
    upgrade_to(blank, "0001")
    with blank.begin() as conn:
        for statement in FIRST_RELEASE_DATA:
            conn.execute(text(statement))
    upgrade(blank)
    with blank.connect() as conn:
        roadmap = conn.execute(text("SELECT key, centre, activated_at FROM roadmap")).one()
        item = conn.execute(text("SELECT number, label, withdrawn FROM roadmap_item")).one()
        summaries = conn.execute(
            text("SELECT roadmap_id, cycle, kind, note FROM stored_summary")
        ).all()
    assert roadmap.key == "209-od-2022" and roadmap.activated_at is None
    assert (item.number, item.label, bool(item.withdrawn)) == (13, "13", False)
    # the duplicate rows two machines wrote become one, kept per (roadmap, cycle, kind)
    assert [tuple(r)[:3] for r in summaries] == [(1, "2022/2023", "yearly")]
    # its folder "b" is not there: the row stays, with a note saying to write it again
    assert "не найдены в b" in summaries[0].note
    with blank.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    assert diff == [], "the migrations build exactly the schema the models describe"


@pytest.mark.postgres
def test_three_first_starts_at_once_take_turns(tmp_path: Path) -> None:
    """Three processes opening an empty PostgreSQL database at once: one migrates, the
    others wait for it and find the schema current (none dies on `alembic_version`)."""
    import subprocess
    import sys

    base = postgres_url()
    name = f"roadmap_c_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = base.rsplit("/", 1)[0] + "/" + name
    script = (
        "import sys; from domain.db import make_engine, upgrade; upgrade(make_engine(sys.argv[1]))"
    )
    try:
        starts = [
            subprocess.Popen([sys.executable, "-c", script, url], stderr=subprocess.PIPE)
            for _ in range(3)
        ]
        errors = [p.communicate(timeout=120)[1].decode() for p in starts]
        assert [p.returncode for p in starts] == [0, 0, 0], errors
        eng = make_engine(url)
        with eng.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1
        eng.dispose()
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
