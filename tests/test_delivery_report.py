"""A delivery run's report (what replaced `test_report_defaults_to_zero`, which compared a
dataclass with its own defaults): every outcome is counted once, an idle run counts
nothing and contacts no server, and each run's counts are the row `/healthz` reads."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from domain.emails import OutboxRun
from domain.enums import EmailStatus
from notifications.delivery import DeliveryReport, deliver_due
from notifications.sink import free_port
from tests.conftest import make_settings
from tests.smtp import SmtpSink
from tests.test_delivery import queue_plain, rows
from tests.test_notifications import NOW


def runs(engine: Engine) -> list[OutboxRun]:
    with Session(engine) as session:
        return list(session.exec(select(OutboxRun).order_by(col(OutboxRun.id))).all())


async def test_each_outcome_is_counted_once_and_recorded_as_the_run(
    engine: Engine, tmp_path: Path, smtp: SmtpSink
) -> None:
    settings = make_settings(tmp_path, smtp_host="127.0.0.1", smtp_port=smtp.port, smtp_timeout=5)
    queue_plain(engine, 4)
    smtp.handler.fail_with["user1@school.example"] = "451 4.3.0 Try again later"
    smtp.handler.fail_with["user2@school.example"] = "550 5.1.1 No such user"

    report = await deliver_due(engine=engine, settings=settings, now=NOW)

    # user0 and user3, then the centre's notice about user2 queued by the same run
    assert report == DeliveryReport(sent=3, retried=1, failed=1, written_to_files=0)
    assert report.problem == ""
    statuses = sorted(r.status for r in rows(engine))
    assert statuses.count(EmailStatus.sent) == 3 and EmailStatus.failed in statuses
    assert len(smtp.messages) == 3
    [run] = runs(engine)
    assert (run.sent, run.retried, run.failed, run.written_to_files) == (3, 1, 1, 0)
    assert run.problem == "" and run.finished_at >= run.started_at


async def test_an_idle_run_counts_nothing_and_needs_no_server(
    engine: Engine, tmp_path: Path
) -> None:
    # nothing listens on this port: a run that tried to connect would report a problem
    settings = make_settings(tmp_path, smtp_host="127.0.0.1", smtp_port=free_port(), smtp_timeout=2)
    report = await deliver_due(engine=engine, settings=settings, now=NOW)
    assert report == DeliveryReport(sent=0, retried=0, failed=0, written_to_files=0)
    assert report.problem == ""
    [run] = runs(engine)
    assert (run.sent, run.retried, run.failed, run.written_to_files) == (0, 0, 0, 0)


async def test_a_later_run_counts_only_its_own_work(
    engine: Engine, tmp_path: Path, smtp: SmtpSink
) -> None:
    settings = make_settings(tmp_path, smtp_host="127.0.0.1", smtp_port=smtp.port, smtp_timeout=5)
    queue_plain(engine, 2)
    smtp.handler.fail_with["user1@school.example"] = "451 4.3.0 Try again later"
    first = await deliver_due(engine=engine, settings=settings, now=NOW)
    assert first == DeliveryReport(sent=1, retried=1)
    smtp.handler.fail_with.clear()
    later = await deliver_due(engine=engine, settings=settings, now=NOW + timedelta(hours=6))
    assert later == DeliveryReport(sent=1)
    assert [(r.sent, r.retried) for r in runs(engine)] == [(1, 1), (1, 0)]
    assert len(smtp.messages) == 2
