"""Shared fixtures: settings in a temporary folder, real databases, a real SMTP server."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

from config.settings import Settings
from domain.db import make_engine, upgrade
from tests.smtp import SmtpSink

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")

ROOT = Path(__file__).resolve().parent.parent

# The portal's test world and its fixtures (`clock`, `world`, `client`); a module that
# defines a fixture of the same name uses its own.
pytest_plugins = ["tests.portal_world"]


def make_settings(tmp_path: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "var_dir": tmp_path / "var",
        "database_url": f"sqlite:///{(tmp_path / 'var' / 'roadmap.db').as_posix()}",
        "portal_url": "http://127.0.0.1:8765",
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    """A migrated SQLite database in the test's folder."""
    eng = make_engine(settings.effective_database_url)
    upgrade(eng)
    yield eng
    eng.dispose()


def postgres_url() -> str:
    url = os.environ.get("ROADMAP_TEST_POSTGRES_URL")
    if not url:
        pytest.fail(
            "PostgreSQL tests need ROADMAP_TEST_POSTGRES_URL; `./run test` starts the server "
            "and sets it"
        )
    return url


@pytest.fixture
def pg_engine() -> Iterator[Engine]:
    """A fresh, migrated database on the real PostgreSQL server."""
    base = postgres_url()
    name = f"roadmap_t_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = base.rsplit("/", 1)[0] + "/" + name
    eng = make_engine(url)
    upgrade(eng)
    yield eng
    eng.dispose()
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def any_engine(request: pytest.FixtureRequest) -> Engine:
    """Runs the test on SQLite and on PostgreSQL."""
    name = "engine" if request.param == "sqlite" else "pg_engine"
    eng = request.getfixturevalue(name)
    assert isinstance(eng, Engine)
    return eng


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    with SmtpSink() as sink:
        yield sink


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    """A temporary Prefect server for the whole session (about 15-20 s to start)."""
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings
    from prefect.testing.utilities import prefect_test_harness

    with (
        prefect_test_harness(server_startup_timeout=90),
        temporary_settings({PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}),
    ):
        yield
