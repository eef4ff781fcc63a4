"""A mail server that keeps refusing connections (a wrong port): after a few outbox runs
in a row it is a configuration problem (the run fails, /healthz says which variables to
fix); one refused connection, or a streak a good run broke, stays a temporary failure."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from domain.emails import OutboxRun
from flows.outbox import raise_on_problem
from notifications.delivery import DeliveryProblem, config_problem, deliver_due
from notifications.refusals import REFUSED_RUNS, refused_connection
from notifications.sink import free_port
from portal.app import create_app
from tests.conftest import make_settings
from tests.smtp import SmtpSink
from tests.test_delivery import queue_plain
from tests.test_notifications import NOW


def closed_port() -> int:
    """A loopback port nothing listens on (connecting gets ECONNREFUSED)."""
    return free_port()


async def test_a_server_that_keeps_refusing_is_a_configuration_problem(
    engine: Engine, tmp_path: Path
) -> None:
    port = closed_port()
    settings = make_settings(tmp_path, smtp_host="127.0.0.1", smtp_port=port, smtp_timeout=5)
    queue_plain(engine, 2)
    at = NOW
    reports = []
    for _ in range(REFUSED_RUNS):
        report = await deliver_due(engine=engine, settings=settings, now=at)
        reports.append(report)
        at += timedelta(hours=5)  # past every backoff: the rows are due again
    first, *_, last = reports
    # the first refusals are a server restarting: retried, the run not failed
    assert first.retried == 2 and first.sent == 0 and first.problem == ""
    assert first.connection_refused
    raise_on_problem({"retried": 2, "problem": first.problem})
    # the third run in a row: a configuration problem naming the variables
    assert last.retried == 2 and last.sent == 0
    assert "ROADMAP_SMTP_HOST" in last.problem and "ROADMAP_SMTP_PORT" in last.problem
    assert f"127.0.0.1:{port}" in last.problem and "отказывает в соединении" in last.problem
    with pytest.raises(DeliveryProblem, match="ROADMAP_SMTP_PORT"):
        raise_on_problem({"retried": 2, "problem": last.problem})
    with Session(engine) as s:
        runs = s.exec(select(OutboxRun).order_by(col(OutboxRun.id))).all()
    assert [r.connection_refused for r in runs] == [True] * REFUSED_RUNS
    assert [bool(r.problem) for r in runs] == [False] * (REFUSED_RUNS - 1) + [True]

    client = TestClient(create_app(settings, engine=engine))
    response = client.get("/healthz")
    assert response.status_code == 503
    assert any("ROADMAP_SMTP_PORT" in p for p in response.json()["problems"])


async def test_one_refusal_after_a_good_run_stays_temporary(
    engine: Engine, tmp_path: Path, smtp: SmtpSink
) -> None:
    refused = make_settings(tmp_path, smtp_host="127.0.0.1", smtp_port=closed_port())
    good = make_settings(tmp_path, smtp_host="127.0.0.1", smtp_port=smtp.port)
    queue_plain(engine, 1, prefix="a")
    at = NOW
    for _ in range(REFUSED_RUNS - 1):
        assert (await deliver_due(engine=engine, settings=refused, now=at)).problem == ""
        at += timedelta(hours=5)
    sent = await deliver_due(engine=engine, settings=good, now=at)
    assert sent.sent == 1 and sent.problem == ""
    queue_plain(engine, 1, prefix="b")
    again = await deliver_due(engine=engine, settings=refused, now=at + timedelta(hours=5))
    assert again.retried == 1 and again.problem == "", "the good run ended the streak"
    # runs with nothing due in between neither count nor break it
    empty = await deliver_due(engine=engine, settings=refused, now=at + timedelta(hours=5))
    assert empty.retried == 0 and not empty.connection_refused


async def test_a_refused_connection_is_told_apart_from_other_failures(tmp_path: Path) -> None:
    import aiosmtplib

    settings = make_settings(tmp_path, smtp_host="127.0.0.1", smtp_port=closed_port())
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=settings.smtp_port, timeout=5)
    with pytest.raises(aiosmtplib.SMTPConnectError) as caught:
        await client.connect()
    assert refused_connection(caught.value)
    assert config_problem(caught.value, settings) == "", "one refusal is not a setting"
    assert not refused_connection(TimeoutError("slow"))
