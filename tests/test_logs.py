"""The portal's access log and the structured logs: no link token, no query string, no
password in any line; ROADMAP_LOG_FORMAT=json writes one JSON object a line."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from config.logs import (
    ACCESS_LOGGER,
    JsonFormatter,
    configure_logging,
    mask_path,
    reset_logging,
)
from config.settings import LogFormat, Settings, SettingsError, load_settings
from notifications.delivery import deliver_due
from portal.app import create_app
from tests.conftest import make_settings
from tests.portal_world import START, build_world
from tests.smtp import SinkHandler
from tests.test_check import SECRET, login_server  # noqa: F401  (the fixture)
from tests.test_delivery import queue_plain
from tests.test_notifications import NOW

WRONG_PASSWORD = "wr0ng-Passw0rd-42"


@pytest.fixture
def our_handler() -> Iterator[list[logging.Handler]]:
    """What configure_logging set up, undone after the test."""
    made: list[logging.Handler] = []
    yield made
    reset_logging()


class Console:
    """What the configured console handler prints, to a buffer: its formatter and its
    filters on a handler of the root logger (the console's own stream is the process's
    stderr, which pytest's capture does not always see)."""

    def __init__(self, like: logging.Handler) -> None:
        assert isinstance(like.formatter, JsonFormatter)
        self.buffer = io.StringIO()
        self.handler = logging.StreamHandler(self.buffer)
        self.handler.setFormatter(like.formatter)
        for f in like.filters:
            self.handler.addFilter(f)
        logging.getLogger().addHandler(self.handler)

    def read(self) -> str:
        logging.getLogger().removeHandler(self.handler)
        return self.buffer.getvalue()


def test_paths_are_masked() -> None:
    assert mask_path("/t/AbC-123_x") == "/t/***"
    assert mask_path("/t/AbC-123_x/files/7") == "/t/***/files/7"
    assert mask_path("/o/tok3n", "page=2&key=x") == "/o/***?***"
    assert mask_path("/admin/tasks", "status=overdue") == "/admin/tasks?***"
    assert mask_path("/healthz") == "/healthz"
    assert mask_path("/static/portal.css") == "/static/portal.css"


def test_the_log_format_setting(tmp_path: Path) -> None:
    assert make_settings(tmp_path).log_format is LogFormat.text
    assert load_settings(log_format="json").log_format is LogFormat.json
    with pytest.raises(SettingsError, match="ROADMAP_LOG_FORMAT"):
        load_settings(log_format="xml")


def test_an_answer_link_request_logs_no_token(
    settings: Settings, engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    world = build_world(settings, engine)
    client = TestClient(create_app(settings, engine, lambda: START))
    with caplog.at_level(logging.INFO, logger=ACCESS_LOGGER):
        assert client.get(world.path).status_code == 200
        client.get(f"{world.path}?secret=shh")
        client.get("/o/not-a-real-token-1234")
        client.get("/healthz")
    lines = [r for r in caplog.records if r.name == ACCESS_LOGGER]
    assert len(lines) == 4
    first = lines[0]
    assert (first.method, first.path, first.status) == ("GET", "/t/***", 200)  # type: ignore[attr-defined]
    assert first.duration_ms >= 0 and first.client  # type: ignore[attr-defined]
    assert lines[1].path == "/t/***?***"  # type: ignore[attr-defined]
    assert lines[2].path == "/o/***" and lines[2].status == 403  # type: ignore[attr-defined]
    assert lines[3].path == "/healthz"  # type: ignore[attr-defined]
    assert world.token not in caplog.text and "shh" not in caplog.text
    assert "not-a-real-token" not in caplog.text


def test_json_lines_when_asked_and_secrets_scrubbed(
    tmp_path: Path,
    engine: Engine,
    our_handler: list[logging.Handler],
) -> None:
    settings = make_settings(tmp_path, log_format="json", smtp_password=WRONG_PASSWORD)
    world = build_world(settings, engine)
    console = Console(configure_logging(settings))
    client = TestClient(create_app(settings, engine, lambda: START))
    assert client.get(world.path).status_code == 200
    # even a careless line is scrubbed: the password, a link token in a message
    logging.getLogger("notifications.test").warning(
        "login with %s failed for %s", WRONG_PASSWORD, world.link
    )
    err = console.read()
    records = [json.loads(line) for line in err.splitlines() if line.strip()]
    access = [r for r in records if r["logger"] == ACCESS_LOGGER]
    assert len(access) == 1
    line = access[0]
    assert line["method"] == "GET" and line["path"] == "/t/***" and line["status"] == 200
    assert isinstance(line["duration_ms"], float) and line["client"]
    assert {"time", "level", "message"} <= set(line)
    careless = next(r for r in records if r["logger"] == "notifications.test")
    assert WRONG_PASSWORD not in careless["message"] and "***" in careless["message"]
    assert world.token not in err and WRONG_PASSWORD not in err


async def test_a_refused_smtp_login_logs_no_password(
    tmp_path: Path,
    engine: Engine,
    login_server: tuple[SinkHandler, int],  # noqa: F811
    caplog: pytest.LogCaptureFixture,
    our_handler: list[logging.Handler],
) -> None:
    _, port = login_server
    settings = make_settings(
        tmp_path,
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_username="roadmap",
        smtp_password=WRONG_PASSWORD,
        log_format="json",
    )
    console = Console(configure_logging(settings, level=logging.DEBUG))
    queue_plain(engine, 1)
    with caplog.at_level(logging.DEBUG):
        report = await deliver_due(engine=engine, settings=settings, now=NOW)
    assert "ROADMAP_SMTP_PASSWORD" in report.problem
    err = console.read()
    assert caplog.records, "the run logged something"
    assert WRONG_PASSWORD not in caplog.text, "the code never logs the password"
    assert WRONG_PASSWORD not in err and SECRET not in err
    assert WRONG_PASSWORD not in report.problem
