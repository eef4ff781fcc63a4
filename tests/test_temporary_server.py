"""The demo's temporary Prefect server: Prefect's migrations run once per installation;
every later empty PREFECT_HOME starts from a copy of that migrated database."""

from __future__ import annotations

import sqlite3
import time
from contextlib import closing
from pathlib import Path

import pytest

import flows.temporary_server as temporary
from flows.temporary_server import (
    TemporaryPrefectServer,
    keep_as_template,
    prefect_database,
    seed_from_template,
)

pytestmark = pytest.mark.prefect


def rows(database: Path, query: str) -> list[tuple[object, ...]]:
    with closing(sqlite3.connect(database)) as conn:
        return conn.execute(query).fetchall()


def test_the_first_migrated_database_is_kept_and_later_servers_start_from_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kept = tmp_path / "installation" / "prefect-x"
    monkeypatch.setattr(temporary, "template_dir", lambda: kept)
    monkeypatch.delenv("PREFECT_API_DATABASE_CONNECTION_URL", raising=False)
    monkeypatch.delenv("PREFECT_SERVER_DATABASE_CONNECTION_URL", raising=False)

    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "first"))
    started = time.monotonic()
    with TemporaryPrefectServer() as server:
        server.wait_ready()
        migrating = time.monotonic() - started
        assert not server.seeded
    template = kept / "prefect.db"
    assert sorted(p.name for p in kept.iterdir()) == ["memo_store.toml", "prefect.db"]
    # one self-contained file: Prefect's schema and block types, and no run of anything
    assert rows(template, "PRAGMA journal_mode") == [("delete",)]
    assert rows(template, "SELECT count(*) FROM alembic_version") == [(1,)]
    assert rows(template, "SELECT count(*) FROM block_type")[0][0] > 0  # type: ignore[operator]
    assert rows(template, "SELECT count(*) FROM flow_run") == [(0,)]
    assert not keep_as_template(prefect_database()), "a kept database is never replaced"

    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "second"))
    started = time.monotonic()
    with TemporaryPrefectServer() as server:
        server.wait_ready()
        from_copy = time.monotonic() - started
        assert server.seeded
    second = tmp_path / "second" / "prefect.db"
    assert rows(second, "SELECT version_num FROM alembic_version") == rows(
        template, "SELECT version_num FROM alembic_version"
    )
    print(f"ready after {migrating:.1f} s migrating, {from_copy:.1f} s from the copy")

    # a home that has its database keeps it; nothing is copied over it
    assert not seed_from_template(prefect_database())


def test_nothing_is_seeded_or_kept_for_a_database_configured_elsewhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    kept = tmp_path / "installation" / "prefect-x"
    kept.mkdir(parents=True)
    (kept / "prefect.db").write_bytes(b"")
    monkeypatch.setattr(temporary, "template_dir", lambda: kept)
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv(
        "PREFECT_SERVER_DATABASE_CONNECTION_URL", f"sqlite+aiosqlite:///{tmp_path}/other.db"
    )
    assert not seed_from_template(prefect_database())
    assert not (tmp_path / "home").exists()
    assert not keep_as_template(prefect_database())
    # set-up's step starts no server on it (a server would migrate that database)
    (kept / "prefect.db").unlink()
    monkeypatch.setattr(temporary, "TemporaryPrefectServer", None)
    monkeypatch.setattr("sys.argv", ["flows.temporary_server"])
    temporary.main()
    assert "none kept" in capsys.readouterr().out
    assert not (kept / "prefect.db").exists()


def test_an_unwritable_installation_folder_leaves_every_start_migrating(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    with closing(sqlite3.connect(home / "prefect.db")) as conn:
        conn.execute("CREATE TABLE alembic_version (version_num TEXT)")
    blocked = tmp_path / "file-not-folder"
    blocked.write_text("")
    monkeypatch.setattr(temporary, "template_dir", lambda: blocked / "prefect-x")
    monkeypatch.setenv("PREFECT_HOME", str(home))
    monkeypatch.delenv("PREFECT_API_DATABASE_CONNECTION_URL", raising=False)
    monkeypatch.delenv("PREFECT_SERVER_DATABASE_CONNECTION_URL", raising=False)
    assert not keep_as_template(prefect_database())


def test_each_demo_starts_prefects_history_afresh_only_in_its_own_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`roadmap demo` runs its own server on `<out>/prefect`: a new run removes the last
    run's flow runs with its database. Prefect's database elsewhere, or another server's
    (PREFECT_API_URL), is never touched."""
    from flows.demo import _reset

    out = tmp_path / "demo"
    history = out / "prefect" / "prefect.db"
    history.parent.mkdir(parents=True)
    history.write_bytes(b"last run")
    (out / "roadmap.db").write_bytes(b"last run")

    monkeypatch.setenv("PREFECT_HOME", str(out / "prefect"))
    _reset(out, own_prefect_server=False)
    assert history.exists() and not (out / "roadmap.db").exists()

    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "elsewhere"))
    _reset(out, own_prefect_server=True)
    assert history.exists()

    monkeypatch.setenv("PREFECT_HOME", str(out / "prefect"))
    _reset(out, own_prefect_server=True)
    assert not (out / "prefect").exists()
