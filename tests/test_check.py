"""Operations: `roadmap check`, `GET /healthz`, and a run that fails for a configuration
reason failing loudly."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from fastapi.testclient import TestClient
from sqlalchemy import Engine, make_url
from typer.testing import CliRunner

from cli.main import app
from config.runtime import cached_engine
from config.settings import get_settings
from domain.db import make_engine, upgrade
from flows.outbox import raise_on_problem
from notifications.delivery import DeliveryProblem, deliver_due
from notifications.sink import free_port
from portal.app import create_app
from tests.conftest import make_settings, postgres_url
from tests.smtp import SinkHandler, SmtpSink
from tests.test_delivery import queue_plain
from tests.test_notifications import NOW

SECRET = "s3cr3t-pass"
UNKNOWN_HOST = "smtp.roadmap-check.invalid"  # RFC 6761: never resolves


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    var = tmp_path / "var"
    url = f"sqlite:///{(var / 'roadmap.db').as_posix()}"
    monkeypatch.setenv("ROADMAP_VAR_DIR", str(var))
    monkeypatch.setenv("ROADMAP_DATABASE_URL", url)
    monkeypatch.chdir(tmp_path)  # no stray .env
    for name in (
        "ROADMAP_SMTP_HOST",
        "ROADMAP_SMTP_PORT",
        "ROADMAP_SMTP_USERNAME",
        "ROADMAP_SMTP_PASSWORD",
        "PREFECT_API_URL",
    ):
        monkeypatch.delenv(name, raising=False)
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    get_settings.cache_clear()
    cached_engine.cache_clear()
    yield var
    get_settings.cache_clear()
    cached_engine.cache_clear()


@pytest.fixture
def login_server() -> Iterator[tuple[SinkHandler, int]]:
    handler = SinkHandler()

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = isinstance(auth_data, LoginPassword) and auth_data.password == SECRET.encode()
        return AuthResult(success=ok, handled=False)

    controller = Controller(
        handler,
        hostname="127.0.0.1",
        port=free_port(),
        authenticator=authenticator,
        auth_require_tls=False,
    )
    controller.start()
    yield handler, int(controller.port)
    controller.stop()


def test_a_healthy_setup_passes(env: Path, monkeypatch: pytest.MonkeyPatch, smtp: SmtpSink):
    monkeypatch.setenv("ROADMAP_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("ROADMAP_SMTP_PORT", str(smtp.port))
    result = CliRunner().invoke(app, ["check"])
    assert result.exit_code == 0, result.output
    assert "✓ база данных: доступна, схема" in result.output
    assert f"✓ почта: 127.0.0.1:{smtp.port}: соединение — в порядке" in result.output
    assert "Всё в порядке." in result.output
    assert smtp.messages == []  # nothing is sent


def test_a_wrong_smtp_host_or_port_is_named(env: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("ROADMAP_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("ROADMAP_SMTP_PORT", str(free_port()))  # nobody listens
    monkeypatch.setenv("ROADMAP_SMTP_TIMEOUT", "3")
    result = CliRunner().invoke(app, ["check"])
    assert result.exit_code == 1
    assert "✗ почта: не удалось подключиться к 127.0.0.1" in result.output
    assert "ROADMAP_SMTP_HOST и ROADMAP_SMTP_PORT" in result.output
    assert "Traceback" not in result.output


def test_an_unknown_smtp_host_is_named(env: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("ROADMAP_SMTP_HOST", UNKNOWN_HOST)
    monkeypatch.setenv("ROADMAP_SMTP_TIMEOUT", "5")
    result = CliRunner().invoke(app, ["check"])
    assert result.exit_code == 1
    assert f"✗ почта: почтовый сервер «{UNKNOWN_HOST}» не найден" in result.output
    assert "проверьте ROADMAP_SMTP_HOST" in result.output
    assert "Traceback" not in result.output


def test_a_refused_login_names_the_variables(
    env: Path, monkeypatch: pytest.MonkeyPatch, login_server: tuple[SinkHandler, int]
):
    _, port = login_server
    monkeypatch.setenv("ROADMAP_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("ROADMAP_SMTP_PORT", str(port))
    monkeypatch.setenv("ROADMAP_SMTP_USERNAME", "roadmap")
    monkeypatch.setenv("ROADMAP_SMTP_PASSWORD", "wrong")
    result = CliRunner().invoke(app, ["check"])
    assert result.exit_code == 1
    assert "не принял вход" in result.output
    assert "ROADMAP_SMTP_USERNAME и ROADMAP_SMTP_PASSWORD" in result.output
    monkeypatch.setenv("ROADMAP_SMTP_PASSWORD", SECRET)
    result = CliRunner().invoke(app, ["check"])
    assert result.exit_code == 0, result.output
    assert "соединение, вход — в порядке" in result.output
    assert SECRET not in result.output


def test_a_wrong_database_url_is_named_without_its_password(
    env: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv(
        "ROADMAP_DATABASE_URL",
        f"postgresql+psycopg://roadmap:{SECRET}@127.0.0.1:{free_port()}/roadmap",
    )
    result = CliRunner().invoke(app, ["check"])
    assert result.exit_code == 1
    assert "✗ база данных: база данных недоступна" in result.output
    assert "проверьте ROADMAP_DATABASE_URL" in result.output
    assert SECRET not in result.output


@pytest.mark.postgres
def test_a_wrong_password_or_database_name_is_said_in_words(
    env: Path, monkeypatch: pytest.MonkeyPatch
):
    real = make_url(postgres_url())
    wrong_password = real.set(password=SECRET).render_as_string(hide_password=False)
    monkeypatch.setenv("ROADMAP_DATABASE_URL", wrong_password)
    result = CliRunner().invoke(app, ["check"])
    assert result.exit_code == 1
    assert f"не принял пользователя «{real.username}» или его пароль" in result.output
    assert "проверьте ROADMAP_DATABASE_URL" in result.output and SECRET not in result.output
    missing = real.set(database="roadmap_no_such_db").render_as_string(hide_password=False)
    monkeypatch.setenv("ROADMAP_DATABASE_URL", missing)
    result = CliRunner().invoke(app, ["check"])
    assert result.exit_code == 1
    assert "базы данных «roadmap_no_such_db» на сервере" in result.output
    # /healthz says what is wrong but names no user, database or server
    dead = make_engine(wrong_password)
    response = TestClient(create_app(make_settings(env), engine=dead)).get("/healthz")
    dead.dispose()
    assert response.status_code == 503
    assert "не принял пользователя или его пароль" in response.json()["problems"][0]
    for secret in (SECRET, real.username or "-", str(real.host)):
        assert secret not in response.text


def test_a_database_folder_that_cannot_be_made_is_named(
    env: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("ROADMAP_DATABASE_URL", f"sqlite:///{blocker.as_posix()}/db/roadmap.db")
    result = CliRunner().invoke(app, ["check"])
    assert result.exit_code == 1
    assert "✗ база данных: не удаётся создать папку" in result.output
    assert "ROADMAP_DATABASE_URL" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_bad_settings_and_an_unreachable_prefect_are_named(
    env: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("PREFECT_API_URL", f"http://127.0.0.1:{free_port()}/api")
    result = CliRunner().invoke(app, ["check"])
    assert result.exit_code == 1
    assert "✗ Prefect: сервер Prefect не отвечает" in result.output
    assert "проверьте PREFECT_API_URL" in result.output
    assert "✓ почта: ROADMAP_SMTP_HOST не задан" in result.output
    monkeypatch.setenv("ROADMAP_SMTP_PORT", "сто")
    result = CliRunner().invoke(app, ["check"])
    assert result.exit_code == 1
    assert "✗ настройки:" in result.output and "ROADMAP_SMTP_PORT" in result.output


async def test_a_run_that_cannot_log_in_is_marked_failed_after_recording(
    engine: Engine, tmp_path: Path, login_server: tuple[SinkHandler, int]
):
    _, port = login_server
    settings = make_settings(
        tmp_path,
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_username="roadmap",
        smtp_password="wrong",
    )
    queue_plain(engine, 2)
    report = await deliver_due(engine=engine, settings=settings, now=NOW)
    assert report.retried == 2 and report.sent == 0
    assert "ROADMAP_SMTP_PASSWORD" in report.problem
    with pytest.raises(DeliveryProblem, match="почта не отправлена: почтовый сервер"):
        raise_on_problem({"retried": 2, "problem": report.problem})

    # the portal's health check shows the failed run; nothing secret
    client = TestClient(create_app(settings, engine=engine))
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["ok"] is False
    assert body["outbox"]["in_retry"] == 2 and body["outbox"]["failed"] == 0
    assert body["outbox"]["last_run"]["retried"] == 2
    assert any("ROADMAP_SMTP_PASSWORD" in p for p in body["problems"])
    assert "wrong" not in response.text and "sqlite" not in response.text

    # a good password: the next run sends both, and health is green
    good = make_settings(
        tmp_path,
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_username="roadmap",
        smtp_password=SECRET,
    )
    later = NOW.replace(hour=NOW.hour + 1)
    report = await deliver_due(engine=engine, settings=good, now=later)
    assert report.sent == 2 and report.problem == ""
    raise_on_problem({"sent": 2, "problem": ""})
    response = client.get("/healthz")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["ok"] is True and body["problems"] == []
    assert body["database"]["schema"]["current"] == body["database"]["schema"]["newest"]
    assert body["outbox"]["last_run"]["sent"] == 2
    assert body["outbox"]["last_run"]["age_seconds"] >= 0
    assert body["outbox"]["in_retry"] == 0


async def test_an_unknown_smtp_host_fails_the_run_and_shows_on_health(
    engine: Engine, tmp_path: Path
):
    settings = make_settings(tmp_path, smtp_host=UNKNOWN_HOST, smtp_timeout=5)
    queue_plain(engine, 2)
    report = await deliver_due(engine=engine, settings=settings, now=NOW)
    assert report.retried == 2 and report.sent == 0
    assert f"«{UNKNOWN_HOST}» не найден" in report.problem
    assert "ROADMAP_SMTP_HOST" in report.problem
    with pytest.raises(DeliveryProblem, match="ROADMAP_SMTP_HOST"):
        raise_on_problem({"retried": 2, "problem": report.problem})
    response = TestClient(create_app(settings, engine=engine)).get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["outbox"]["in_retry"] == 2
    assert any("ROADMAP_SMTP_HOST" in p for p in body["problems"])


async def test_health_says_when_due_mail_waits_with_no_deliverer(
    engine: Engine, tmp_path: Path, smtp: SmtpSink
):
    """Mail due for half an hour means no outbox run is working (no `serve`, no worker):
    /healthz turns red and says so, before anyone misses a letter; a run clears it."""
    settings = make_settings(tmp_path, smtp_host="127.0.0.1", smtp_port=smtp.port)
    queue_plain(engine, 3)

    def health_at(minutes: int) -> tuple[int, dict[str, Any]]:
        at = NOW + timedelta(minutes=minutes)
        response = TestClient(create_app(settings, engine, lambda: at)).get("/healthz")
        return response.status_code, response.json()

    status, body = health_at(10)
    assert status == 200, body
    assert body["outbox"] == {
        "last_run": None,
        "in_retry": 0,
        "failed": 0,
        "due_now": 3,
        "waiting_seconds": 600,
    }
    status, body = health_at(45)
    assert status == 503
    [problem] = body["problems"]
    assert problem.startswith("письма ждут отправки 45 мин (сейчас к отправке: 3)")
    assert "доставка ещё ни разу не запускалась" in problem and "roadmap worker" in problem

    report = await deliver_due(engine=engine, settings=settings, now=NOW + timedelta(minutes=46))
    assert report.sent == 3 and len(smtp.messages) == 3
    status, body = health_at(47)
    assert status == 200 and body["problems"] == [], body
    assert body["outbox"]["due_now"] == 0 and body["outbox"]["waiting_seconds"] == 0


def test_health_says_when_the_database_is_unreachable(tmp_path: Path):
    settings = make_settings(tmp_path)
    dead = make_engine(f"postgresql+psycopg://roadmap:{SECRET}@127.0.0.1:{free_port()}/x")
    client = TestClient(create_app(settings, engine=dead))
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["database"] == {"reachable": False}
    assert "ROADMAP_DATABASE_URL" in response.json()["problems"][0]
    assert SECRET not in response.text


@pytest.mark.prefect
def test_tick_exits_non_zero_when_mail_cannot_log_in(
    env: Path,
    monkeypatch: pytest.MonkeyPatch,
    login_server: tuple[SinkHandler, int],
    prefect_harness: None,
):
    handler, port = login_server
    monkeypatch.setenv("ROADMAP_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("ROADMAP_SMTP_PORT", str(port))
    monkeypatch.setenv("ROADMAP_SMTP_USERNAME", "roadmap")
    monkeypatch.setenv("ROADMAP_SMTP_PASSWORD", "wrong")
    orgs = Path(__file__).resolve().parent.parent / "config" / "demo" / "organisations.csv"
    runner = CliRunner()
    assert runner.invoke(app, ["orgs", "import", str(orgs)]).exit_code == 0
    result = runner.invoke(app, ["tick", "--at", "2022-04-08T09:00"])
    assert result.exit_code == 1
    assert "почта не отправлена" in result.output
    assert "ROADMAP_SMTP_PASSWORD" in result.output
    assert handler.messages == []


@pytest.mark.parametrize("command", ["deploy", "worker"])
def test_deploy_and_worker_name_an_unreachable_prefect_before_touching_anything(
    tmp_path: Path, command: str
):
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "ROADMAP_"))}
    env.update(
        ROADMAP_VAR_DIR=str(tmp_path / "var"),
        PREFECT_API_URL=f"http://127.0.0.1:{free_port()}/api",
        PREFECT_HOME=str(tmp_path / "prefect"),
    )
    done = subprocess.run(
        [sys.executable, "-m", "cli.main", command, "--pool", "centre"],
        env=env,
        cwd=Path(__file__).resolve().parent.parent,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "сервер Prefect" in done.stderr and "проверьте PREFECT_API_URL" in done.stderr
    assert "Traceback" not in done.stderr
    # nothing was activated or created on the way
    assert not (tmp_path / "var" / "roadmap.db").exists()
