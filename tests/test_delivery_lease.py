"""Exactly once under a slow relay: leases renewed while sending, a re-check right before
sending (per slice of a connection's rows), and a begun transaction reconciled rather
than sent again."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import Engine
from sqlmodel import Session, select

from domain.emails import OutgoingEmail
from domain.enums import EmailStatus
from notifications import delivery
from notifications.delivery import (
    RECONCILED_NOTE,
    DeliveryReport,
    Outcome,
    Result,
    begin_transactions,
    claim_due,
    deliver_due,
    record_outcomes,
)
from notifications.sink import free_port
from tests.conftest import make_settings
from tests.smtp import SinkHandler, SmtpSink
from tests.test_delivery import queue_plain, rows
from tests.test_notifications import DOMAIN, NOW

LEASE_SECONDS = 2.0
STALL_SECONDS = 3.0  # longer than the lease


class StallingHandler(SinkHandler):
    """A relay that takes longer than the lease over each message (each command is
    answered well within the client's timeout, but the transaction is slow)."""

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        await asyncio.sleep(STALL_SECONDS)
        return await super().handle_DATA(server, session, envelope)


async def test_overlapping_deliverers_on_a_stalling_relay_send_each_message_once(
    any_engine: Engine, tmp_path: Path
):
    handler = StallingHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        settings = make_settings(
            tmp_path,
            smtp_host="127.0.0.1",
            smtp_port=int(controller.port),
            smtp_timeout=10,
            smtp_concurrency=2,
            smtp_lease_seconds=LEASE_SECONDS,
        )
        queue_plain(any_engine, 6)
        started = time.monotonic()

        async def deliverer(delay: float) -> DeliveryReport:
            await asyncio.sleep(delay)
            return await deliver_due(engine=any_engine, settings=settings, now=NOW)

        # the second and third start after the first one's initial lease has lapsed,
        # while its messages are still in the relay's hands
        reports = await asyncio.gather(deliverer(0), deliverer(2.5), deliverer(5.0))
        elapsed = time.monotonic() - started
    finally:
        controller.stop()
    assert elapsed > LEASE_SECONDS * 3  # the run really outlived several leases
    counts = Counter(m.message["Message-ID"] for m in handler.messages)
    assert counts == {f"<m{i}@{DOMAIN}>": 1 for i in range(6)}
    assert sum(r.sent for r in reports) == 6
    assert reports[1] == reports[2] == DeliveryReport()
    assert all(r.status == EmailStatus.sent and r.attempts == 1 for r in rows(any_engine))
    assert all(r.claim_token is None and r.sending_since is None for r in rows(any_engine))


async def test_a_begun_transaction_whose_deliverer_vanished_is_reconciled_not_resent(
    any_engine: Engine, tmp_path: Path
):
    handler = SinkHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        settings = make_settings(
            tmp_path, smtp_host="127.0.0.1", smtp_port=int(controller.port), smtp_timeout=5
        )
        queue_plain(any_engine, 2)
        # a deliverer claims both, begins the transaction of the first, and then stops
        # (dies, or hangs past its lease) before the server's reply is recorded
        lease_until = datetime.now(UTC) + timedelta(seconds=0.5)
        claimed = claim_due(
            engine=any_engine, now=NOW, lease_until=lease_until, limit=10, token="a"
        )
        first, second = claimed
        assert first.id is not None
        begun = begin_transactions(
            engine=any_engine,
            token="a",
            ids=[first.id],
            at=datetime.now(UTC),
            lease_until=lease_until,
        )
        assert begun == {first.id}
        # while the lease holds nobody takes either
        assert await deliver_due(engine=any_engine, settings=settings, now=NOW) == DeliveryReport()
        await asyncio.sleep(0.7)
        report = await deliver_due(engine=any_engine, settings=settings, now=NOW)
        # the one never begun is sent; the begun one is not sent a second time
        assert report == DeliveryReport(sent=1)
        assert [m.message["Message-ID"] for m in handler.messages] == [second.message_id]
        with Session(any_engine) as session:
            row = session.exec(select(OutgoingEmail).where(OutgoingEmail.id == first.id)).one()
        assert row.status == EmailStatus.sent and row.last_error == RECONCILED_NOTE
        assert row.claim_token is None and row.sent_at is not None
        # the old deliverer coming back cannot overwrite what was recorded
        late = record_outcomes(
            engine=any_engine,
            items=[(first, Outcome(Result.permanent, "550 too late"))],
            settings=settings,
            now=NOW,
            token="a",
        )
        assert late == [None]
        assert rows(any_engine)[0].last_error == RECONCILED_NOTE
        again = await deliver_due(engine=any_engine, settings=settings, now=NOW + timedelta(days=1))
    finally:
        controller.stop()
    assert again == DeliveryReport()
    assert len(handler.messages) == 1


def test_the_re_check_before_sending_refuses_a_row_another_deliverer_took(any_engine: Engine):
    queue_plain(any_engine, 2)
    short = datetime.now(UTC) + timedelta(seconds=0.3)
    mine = claim_due(engine=any_engine, now=NOW, lease_until=short, limit=10, token="a")
    assert len(mine) == 2
    time.sleep(0.4)  # a's lease lapses (its deliverer stalled) and b claims the rows
    lease_b = datetime.now(UTC) + timedelta(minutes=2)
    theirs = claim_due(engine=any_engine, now=NOW, lease_until=lease_b, limit=10, token="b")
    assert {r.id for r in theirs} == {r.id for r in mine}
    ids = [r.id for r in mine if r.id is not None]
    assert (
        begin_transactions(
            engine=any_engine, token="a", ids=ids, at=datetime.now(UTC), lease_until=lease_b
        )
        == set()
    )
    assert begin_transactions(
        engine=any_engine, token="b", ids=ids, at=datetime.now(UTC), lease_until=lease_b
    ) == set(ids)
    # a's outcome, arriving late, is not recorded over b's claim
    assert record_outcomes(
        engine=any_engine,
        items=[(mine[0], Outcome(Result.sent))],
        settings=make_settings(Path("/nonexistent")),
        now=NOW,
        token="a",
    ) == [None]
    assert all(r.status == EmailStatus.sending and r.claim_token == "b" for r in rows(any_engine))


class Stop(Exception):
    """The deliverer stops on an error of its own, not the relay's."""


async def test_a_deliverer_stopping_mid_slice_takes_back_the_rows_it_never_reached(
    engine: Engine, tmp_path: Path, smtp: SmtpSink, monkeypatch: pytest.MonkeyPatch
):
    # one connection: the five rows are one slice, re-checked and marked begun together
    # right before the first of them is sent
    settings = make_settings(
        tmp_path,
        smtp_host="127.0.0.1",
        smtp_port=smtp.port,
        smtp_concurrency=1,
        smtp_lease_seconds=1,
    )
    queue_plain(engine, 5)
    real_send = delivery.SmtpConnection.send
    calls = 0

    async def stops_at_the_second(
        self: delivery.SmtpConnection, row: delivery.ClaimedEmail, *, now: datetime
    ) -> delivery.Outcome | None:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise Stop
        return await real_send(self, row, now=now)

    monkeypatch.setattr(delivery.SmtpConnection, "send", stops_at_the_second)
    with pytest.raises(BaseException) as caught:
        await deliver_due(engine=engine, settings=settings, now=NOW)
    error = caught.value
    assert isinstance(error, BaseExceptionGroup) and error.subgroup(Stop) is not None
    first, second, *rest = rows(engine)
    assert [m.message["Message-ID"] for m in smtp.messages] == [first.message_id]
    # the one sent and the one being sent stay marked: their outcome is unknown
    assert first.sending_since is not None and second.sending_since is not None
    # the three never reached are not: after the lease they are sent, not reconciled
    assert all(r.status == EmailStatus.sending and r.sending_since is None for r in rest)

    monkeypatch.setattr(delivery.SmtpConnection, "send", real_send)
    await asyncio.sleep(1.2)
    report = await deliver_due(engine=engine, settings=settings, now=NOW)
    assert report == DeliveryReport(sent=3)
    counts = Counter(m.message["Message-ID"] for m in smtp.messages)
    assert counts == {r.message_id: 1 for r in [first, *rest]}  # the second never went
    after = rows(engine)
    assert [r.last_error for r in after[:2]] == [RECONCILED_NOTE, RECONCILED_NOTE]
    assert all(r.status == EmailStatus.sent and r.attempts == 1 for r in after)
    assert all(r.last_error == "" for r in after[2:])


async def test_a_stopping_deliverer_takes_the_mark_back_from_the_next_slice_too(
    engine: Engine, tmp_path: Path, smtp: SmtpSink, monkeypatch: pytest.MonkeyPatch
):
    # the next slice is re-checked while the last rows of the current one are sent (the
    # 32nd row ends the second slice of 16); a deliverer that stops then leaves only the
    # row it was sending marked begun
    settings = make_settings(
        tmp_path,
        smtp_host="127.0.0.1",
        smtp_port=smtp.port,
        smtp_concurrency=1,
        smtp_lease_seconds=1,
    )
    queue_plain(engine, 60)
    real_send = delivery.SmtpConnection.send
    calls = 0

    async def stops_at_the_thirty_second(
        self: delivery.SmtpConnection, row: delivery.ClaimedEmail, *, now: datetime
    ) -> delivery.Outcome | None:
        nonlocal calls
        calls += 1
        if calls == 32:
            raise Stop
        return await real_send(self, row, now=now)

    monkeypatch.setattr(delivery.SmtpConnection, "send", stops_at_the_thirty_second)
    with pytest.raises(BaseExceptionGroup) as caught:
        await deliver_due(engine=engine, settings=settings, now=NOW)
    assert caught.value.subgroup(Stop) is not None
    sent = {m.message["Message-ID"] for m in smtp.messages}
    assert len(sent) == 31
    before = rows(engine)
    stopped = [r for r in before if r.sending_since is not None and r.message_id not in sent]
    assert len(stopped) == 1  # the one being sent when it stopped
    assert all(
        r.sending_since is None for r in before if r.message_id not in sent and r not in stopped
    )

    monkeypatch.setattr(delivery.SmtpConnection, "send", real_send)
    await asyncio.sleep(1.2)
    await deliver_due(engine=engine, settings=settings, now=NOW)
    counts = Counter(m.message["Message-ID"] for m in smtp.messages)
    assert counts == {r.message_id: 1 for r in before if r not in stopped}
    assert all(r.status == EmailStatus.sent for r in rows(engine))
