"""The centre's login: passwords, the session cookie, CSRF on every form, logout, and
creating an administrator from the command line."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from domain.enums import TaskStatus
from portal.app import create_app
from tests.portal_world import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    BASE,
    START,
    Clock,
    World,
    counts,
    csrf_of,
    get_task,
    login,
    submit,
)


def test_a_wrong_password_is_refused(client: TestClient) -> None:
    response = login(client, password="не тот пароль")
    assert response.status_code == 401 and "Неверный адрес или пароль" in response.text
    assert client.get("/admin", follow_redirects=False).status_code == 303
    unknown = login(client, email="nobody@imcso.example")
    assert unknown.status_code == 401


def test_admin_pages_need_a_login(client: TestClient, world: World) -> None:
    for path in ("/admin", "/admin/tasks", f"/admin/tasks/{world.task_id}", "/admin/tasks.csv"):
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"].startswith(
            "/admin/login"
        )


def test_the_session_cookie_is_httponly_lax_and_lasts_twelve_hours(
    client: TestClient, world: World, clock: Clock
) -> None:
    response = login(client)
    assert response.status_code == 303
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "max-age=43200" in cookie
    assert client.get("/admin", follow_redirects=False).status_code == 200
    clock.now = START + timedelta(hours=12, minutes=1)
    assert client.get("/admin", follow_redirects=False).status_code == 303


@pytest.mark.parametrize("token", ["", "wrong-token", "other-session"])
def test_a_wrong_or_missing_csrf_token_is_refused_and_writes_nothing(
    client: TestClient, world: World, clock: Clock, token: str
) -> None:
    assert submit(client, world).status_code == 303
    if token == "other-session":
        other = TestClient(create_app(world.settings, world.engine, clock), base_url=BASE)
        token = csrf_of(other.get("/admin/login").text)
    assert login(client).status_code == 303
    before = counts(world.engine)
    for path, data in [
        (f"/admin/tasks/{world.task_id}/accept", {}),
        (
            f"/admin/tasks/{world.task_id}/return",
            {"reason": "Нет подписи", "new_due": "30.09.2022"},
        ),
        (f"/admin/tasks/{world.task_id}/revoke", {}),
    ]:
        response = client.post(path, data={**data, "csrf_token": token}, follow_redirects=False)
        assert response.status_code == 403, path
    assert counts(world.engine) == before
    assert get_task(world.engine, world.task_id).status is TaskStatus.submitted


def test_login_without_the_form_token_is_refused_and_logout_ends_the_session(
    client: TestClient, world: World
) -> None:
    fresh = TestClient(client.app, base_url=BASE)
    refused = fresh.post(
        "/admin/login",
        data={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD, "csrf_token": "x"},
        follow_redirects=False,
    )
    assert refused.status_code == 403
    assert fresh.get("/admin", follow_redirects=False).status_code == 303

    assert login(client).status_code == 303
    csrf = csrf_of(client.get("/admin").text)
    assert client.post("/admin/logout", data={}, follow_redirects=False).status_code == 403
    out = client.post("/admin/logout", data={"csrf_token": csrf}, follow_redirects=False)
    assert out.status_code == 303
    assert client.get("/admin", follow_redirects=False).status_code == 303


def test_admin_create_from_the_command_line(
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
        ok = runner.invoke(
            app,
            ["admin", "create", "Boss@IMCSO.example", "--name", "Начальник", "--password-stdin"],
            input="длинный-пароль-1\n",
        )
        assert ok.exit_code == 0, ok.output
        assert "создан администратор boss@imcso.example" in ok.output
        twice = runner.invoke(
            app,
            ["admin", "create", "boss@imcso.example", "--password-stdin"],
            input="другой-пароль-2\n",
        )
        assert twice.exit_code == 2 and "уже есть" in twice.output
        short = runner.invoke(
            app, ["admin", "create", "x@imcso.example", "--password-stdin"], input="short\n"
        )
        assert short.exit_code == 2 and "не короче 10" in short.output
        prompted = runner.invoke(
            app,
            ["admin", "create", "y@imcso.example"],
            input="пароль-через-ввод\nпароль-через-ввод\n",
        )
        assert prompted.exit_code == 0, prompted.output
    finally:
        get_settings.cache_clear()
    from domain.db import make_engine
    from portal.auth import authenticate

    engine = make_engine(f"sqlite:///{db.as_posix()}")
    with Session(engine) as s:
        assert authenticate(session=s, email="boss@imcso.example", password="длинный-пароль-1")
        assert authenticate(session=s, email="y@imcso.example", password="пароль-через-ввод")
        assert (
            authenticate(session=s, email="boss@imcso.example", password="другой-пароль-2") is None
        )
    engine.dispose()
