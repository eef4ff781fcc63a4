"""Administrator accounts: login attempts are limited per account and per address, sessions
live in the database so that logout, a new password or deactivation end them at once, and
the cookie is Secure behind https."""

from __future__ import annotations

import base64
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, select

from domain.access import AccessLink, AdminSessionRecord, LoginAttempt
from portal.app import create_app
from portal.auth import create_admin, deactivate_admin
from tests.conftest import make_settings
from tests.portal_world import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    BASE,
    START,
    Clock,
    World,
    build_world,
    csrf_of,
    login,
)


def revoked_links(world: World) -> int:
    with Session(world.engine) as s:
        rows = s.exec(select(AccessLink).where(AccessLink.task_id == world.task_id)).all()
        return sum(1 for link in rows if link.revoked_at is not None)


def test_a_copied_cookie_is_dead_after_logout(client: TestClient, world: World) -> None:
    assert login(client).status_code == 303
    csrf = csrf_of(client.get("/admin").text)
    copied = dict(client.cookies)
    out = client.post("/admin/logout", data={"csrf_token": csrf}, follow_redirects=False)
    assert out.status_code == 303

    thief = TestClient(client.app, base_url=BASE, cookies=copied)
    assert thief.get("/admin", follow_redirects=False).status_code == 303
    revoke = thief.post(
        f"/admin/tasks/{world.task_id}/revoke", data={"csrf_token": csrf}, follow_redirects=False
    )
    assert revoke.status_code == 403
    assert revoked_links(world) == 0
    with Session(world.engine) as s:
        sessions = s.exec(select(AdminSessionRecord)).all()
        assert len(sessions) == 1 and sessions[0].ended_at is not None


def test_a_new_password_ends_every_session(client: TestClient, world: World) -> None:
    assert login(client).status_code == 303
    assert client.get("/admin", follow_redirects=False).status_code == 200
    with Session(world.engine) as s:
        create_admin(
            session=s, email=ADMIN_EMAIL, password="новый-пароль-2023", now=START, replace=True
        )
        s.commit()
    assert client.get("/admin", follow_redirects=False).status_code == 303
    assert login(client, password="новый-пароль-2023").status_code == 303


def test_deactivation_ends_every_session(client: TestClient, world: World) -> None:
    assert login(client).status_code == 303
    with Session(world.engine) as s:
        assert deactivate_admin(session=s, email=ADMIN_EMAIL, now=START) == 1
        s.commit()
    assert client.get("/admin", follow_redirects=False).status_code == 303
    with Session(world.engine) as s:
        assert all(row.ended_at is not None for row in s.exec(select(AdminSessionRecord)))
    assert login(client).status_code == 401


def test_the_session_ends_after_twelve_hours_in_the_database_too(
    client: TestClient, world: World, clock: Clock
) -> None:
    assert login(client).status_code == 303
    clock.now = START + timedelta(hours=12, minutes=1)
    assert client.get("/admin", follow_redirects=False).status_code == 303


def test_login_attempts_are_limited_per_account(
    client: TestClient, world: World, clock: Clock
) -> None:
    for _ in range(5):
        assert login(client, password="не тот пароль").status_code == 401
    held = login(client)  # even the right password waits now
    assert held.status_code == 429
    wait = int(held.headers["Retry-After"])
    assert 1 <= wait <= 60
    assert "Слишком много попыток" in held.text
    clock.now += timedelta(seconds=wait + 1)
    assert login(client, password="не тот пароль").status_code == 401
    again = login(client)
    assert again.status_code == 429
    assert int(again.headers["Retry-After"]) > wait  # the wait grows
    clock.now += timedelta(seconds=int(again.headers["Retry-After"]) + 1)
    assert login(client).status_code == 303


def test_login_attempts_are_limited_per_address(client: TestClient, world: World) -> None:
    for n in range(5):
        assert login(client, email=f"guess{n}@imcso.example").status_code == 401
    assert login(client).status_code == 429


def test_the_api_takes_no_passwords_so_none_are_guessed_there(
    client: TestClient, world: World
) -> None:
    def basic(password: str) -> dict[str, str]:
        raw = base64.b64encode(f"{ADMIN_EMAIL}:{password}".encode()).decode()
        return {"Authorization": f"Basic {raw}"}

    path = f"/api/admin/tasks/{world.task_id}/accept"
    for password in ["не тот пароль"] * 6 + [ADMIN_PASSWORD]:
        refused = client.post(path, headers=basic(password))
        assert refused.status_code == 401
        assert refused.headers["WWW-Authenticate"].startswith("Bearer")
    with Session(world.engine) as s:
        assert s.exec(select(LoginAttempt)).all() == []  # no password was even tried
    assert login(client).status_code == 303  # nor did the guesses hold the account back


def test_the_cookie_is_secure_behind_https(tmp_path: Path, engine: Engine) -> None:
    settings = make_settings(tmp_path, portal_url="https://roadmap.example")
    build_world(settings, engine)
    client = TestClient(
        create_app(settings, engine, Clock(START)), base_url="https://roadmap.example"
    )
    page = client.get("/admin/login")
    assert "secure" in page.headers["set-cookie"].lower()
    response = login(client)
    assert response.status_code == 303
    assert "secure" in response.headers["set-cookie"].lower()


def test_admin_deactivate_from_the_command_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import typer
    from typer.testing import CliRunner

    from cli import portal_cmd
    from config.settings import get_settings

    app = typer.Typer()
    portal_cmd.register(app)
    db = tmp_path / "cli.db"
    monkeypatch.setenv("ROADMAP_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("ROADMAP_DATABASE_URL", f"sqlite:///{db.as_posix()}")
    monkeypatch.setenv("ROADMAP_ROADMAP_FILE", str(tmp_path / "none.yaml"))
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        made = runner.invoke(
            app, ["admin", "create", "boss@imcso.example", "--password-stdin"], input=("x" * 12)
        )
        assert made.exit_code == 0, made.output
        off = runner.invoke(app, ["admin", "deactivate", "Boss@imcso.example"])
        assert off.exit_code == 0, off.output
        assert "администратор boss@imcso.example отключён" in off.output
        unknown = runner.invoke(app, ["admin", "deactivate", "nobody@imcso.example"])
        assert unknown.exit_code == 2
        assert "администратора nobody@imcso.example нет" in unknown.output
    finally:
        get_settings.cache_clear()


def test_limits_and_sessions_work_on_both_databases(any_engine: Engine) -> None:
    from portal.auth import attempt_login, end_sessions, session_admin, start_session

    with Session(any_engine) as s:
        admin = create_admin(session=s, email=ADMIN_EMAIL, password=ADMIN_PASSWORD, now=START)
        s.commit()
        assert admin.id is not None
        admin_id = admin.id
    now = START
    for _ in range(5):
        got = attempt_login(
            engine=any_engine, email=ADMIN_EMAIL, password="x" * 12, address="10.0.0.1", now=now
        )
        assert got.admin_id is None and got.retry_after == 0
        now += timedelta(seconds=1)
    held = attempt_login(
        engine=any_engine, email=ADMIN_EMAIL, password=ADMIN_PASSWORD, address="10.0.0.2", now=now
    )
    assert held.admin_id is None and 55 <= held.retry_after <= 60
    later = now + timedelta(minutes=2)
    ok = attempt_login(
        engine=any_engine, email=ADMIN_EMAIL, password=ADMIN_PASSWORD, address="10.0.0.2", now=later
    )
    assert ok.admin_id == admin_id and ok.retry_after == 0
    with Session(any_engine) as s:
        key = start_session(session=s, admin_id=admin_id, now=later)
        s.commit()
        found = session_admin(session=s, key=key, now=later)
        assert found is not None and found.id == admin_id
        assert session_admin(session=s, key=key + "x", now=later) is None
        assert end_sessions(session=s, admin_id=admin_id, now=later) == 1
        s.commit()
        assert session_admin(session=s, key=key, now=later) is None
