"""Shared fixtures: settings in a temporary folder, real databases, a real SMTP server."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import DBAPIError

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


def scratch_database(prefix: str) -> tuple[str, Callable[[], None]]:
    """A new, empty database on the test PostgreSQL server: its URL and how to drop it."""
    base = postgres_url()
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        try:
            drop_database(admin, name)
        finally:
            admin.dispose()

    return base.rsplit("/", 1)[0] + "/" + name, drop


def drop_database(admin: Engine, name: str) -> None:
    """Drop a scratch database even while something still uses it.

    `DROP DATABASE … WITH (FORCE)` is not used: it refuses to end an autovacuum worker
    unless the role is in `pg_signal_backend`, which the test role is not. The test role's
    own sessions are ended here, and a plain DROP stops autovacuum itself; a session that
    connects in between (a pool reconnecting) is ended on the next try.
    """
    for attempt in range(40):
        with admin.connect() as conn:
            conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = :name AND usename = current_user "
                    "AND pid <> pg_backend_pid()"
                ),
                {"name": name},
            )
            try:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
                return
            except DBAPIError as error:
                if not isinstance(error.orig, psycopg.errors.ObjectInUse) or attempt == 39:
                    raise
        time.sleep(0.25)


@pytest.fixture
def pg_engine() -> Iterator[Engine]:
    """A fresh, migrated database on the real PostgreSQL server."""
    url, drop = scratch_database("roadmap_t")
    eng = make_engine(url)
    upgrade(eng)
    yield eng
    eng.dispose()
    drop()


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
