"""Delivery: send the outbox rows that are due, exactly once each, and record every outcome.

A row is first *claimed* by a conditional UPDATE (queued/retry and due, or a lapsed
claim) that sets status=sending and a lease, committed before anything is sent; only
rows whose UPDATE changed exactly one row are sent. So two deliverers never send the
same row, and a deliverer that dies after its claim leaves rows that a later run (past
the lease) picks up again. Each outcome is written in its own transaction, guarded by
the same claim, so one bad row never holds up the others.

Leases are wall-clock instants: a run for a logical `now` in the past (`roadmap tick
--at ...`) still holds its rows against a run on the real clock, and the other way round.
Whether a row is due is decided by the logical `now`.

Failures that are not the message's fault (no connection, TLS, login, timeouts before the
message was accepted) never fail a row for good: it is retried with the capped backoff
until the server takes it. Only a reply about the message itself can: a 5xx reply to
MAIL, RCPT or DATA at once, a 4xx reply after MAX_ATTEMPTS tries.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path

import aiosmtplib
from sqlalchemy import ColumnElement, Engine, and_, or_, update
from sqlmodel import Session, col, select

from config.settings import Settings, SmtpSecurity
from domain.emails import Notice, OutgoingEmail
from domain.enums import EmailStatus
from domain.formatting import local_time
from notifications.mime import address_of, build_message, mail_domain, safe_filename_part
from notifications.outbox import queue_email
from notifications.render import render

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=2)
BACKOFF = (
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=15),
    timedelta(minutes=60),
    timedelta(hours=4),
)
MAX_ATTEMPTS = 10
DELIVERY_FAILURE_KIND = "delivery_failure"


@dataclass
class DeliveryReport:
    sent: int = 0  # accepted by the SMTP server
    retried: int = 0  # temporary failure: will be tried again
    failed: int = 0  # permanent failure (or gave up after MAX_ATTEMPTS)
    written_to_files: int = 0  # no SMTP host configured: written as .eml files


class Result(StrEnum):
    sent = "sent"
    temporary = "temporary"
    permanent = "permanent"


@dataclass(frozen=True)
class Outcome:
    result: Result
    detail: str = ""  # the server's reply (or what went wrong); kept in last_error
    refused: str = ""  # sent, but some recipients were refused for good: tell the centre
    refused_addrs: tuple[str, ...] = ()  # those recipients
    # The server or our configuration failed, not the message: a temporary failure that
    # is retried without limit.
    not_the_message: bool = False


def _unreachable(detail: str) -> Outcome:
    return Outcome(Result.temporary, detail, not_the_message=True)


def backoff(attempts: int) -> timedelta:
    """The wait after the `attempts`-th failed attempt (1, 5, 15, 60 min, then 4 h)."""
    return BACKOFF[min(max(attempts, 1), len(BACKOFF)) - 1]


def wall_clock(now: datetime) -> datetime:
    """The instant leases are measured against: the real clock, or `now` if later."""
    return max(now, datetime.now(UTC))


# -- claiming -------------------------------------------------------------------------


def _claimable(now: datetime, clock: datetime) -> ColumnElement[bool]:
    """Due at the logical `now` and not under a lease that holds at the wall `clock`."""
    claimed_until = col(OutgoingEmail.claimed_until)
    lease_free = or_(claimed_until.is_(None), claimed_until <= clock)
    return or_(
        and_(
            col(OutgoingEmail.status).in_([EmailStatus.queued, EmailStatus.retry]),
            col(OutgoingEmail.next_attempt_at) <= now,
            lease_free,
        ),
        # A deliverer claimed it and died before recording the outcome.
        and_(
            col(OutgoingEmail.status) == EmailStatus.sending,
            col(OutgoingEmail.claimed_until) <= clock,
        ),
    )


def claim_due(
    *, engine: Engine, now: datetime, lease_until: datetime, limit: int
) -> list[OutgoingEmail]:
    """Claim up to `limit` rows due at `now` for this deliverer and commit; returns the
    claimed rows (detached). Rows another deliverer claimed first are skipped; a lease
    counts as lapsed once the wall clock (or `now`, if later) reaches its end, so
    `lease_until` must be a wall-clock instant (see `wall_clock`)."""
    claimed: list[int] = []
    while not claimed:
        clock = wall_clock(now)
        with Session(engine) as session:
            candidates = session.exec(
                select(OutgoingEmail.id)
                .where(_claimable(now, clock))
                .order_by(col(OutgoingEmail.next_attempt_at), col(OutgoingEmail.id))
                .limit(limit)
            ).all()
        if not candidates:
            return []
        # A fresh transaction whose first statement is a write: on SQLite it takes the
        # write lock at once (waiting for other writers) instead of failing on a stale
        # read snapshot.
        with Session(engine) as session:
            for email_id in candidates:
                result = session.execute(
                    update(OutgoingEmail)
                    .where(col(OutgoingEmail.id) == email_id, _claimable(now, clock))
                    .values(status=EmailStatus.sending, claimed_until=lease_until)
                )
                if result.rowcount == 1:  # type: ignore[attr-defined]
                    assert email_id is not None
                    claimed.append(email_id)
            session.commit()
        # Losing every candidate to another deliverer means they are no longer
        # claimable: look again for the rows behind them.
    with Session(engine, expire_on_commit=False) as session:
        rows = list(
            session.exec(
                select(OutgoingEmail)
                .where(col(OutgoingEmail.id).in_(claimed))
                .order_by(col(OutgoingEmail.next_attempt_at), col(OutgoingEmail.id))
            ).all()
        )
        session.expunge_all()
    return rows


# -- recording ------------------------------------------------------------------------


def record_outcome(
    *,
    engine: Engine,
    row: OutgoingEmail,
    outcome: Outcome,
    settings: Settings,
    now: datetime,
    lease_until: datetime,
) -> Result | None:
    """Write what happened to one claimed row in its own transaction. Returns the final
    result (a temporary reply about the message on its last attempt becomes permanent), or
    None when the claim had lapsed and another deliverer owns the row now.

    `attempts` counts the tries, except that failures which are not the message's fault
    stop adding to it once the backoff is at its cap: a long outage neither fails the row
    nor uses up the tries a later temporary reply about the message is owed."""
    result = outcome.result
    detail = outcome.detail.strip()[:2000]
    if outcome.not_the_message and result is Result.temporary:
        attempts = max(row.attempts, min(row.attempts + 1, len(BACKOFF)))
    else:
        attempts = row.attempts + 1
        if result is Result.temporary and attempts >= MAX_ATTEMPTS:
            result = Result.permanent
            detail = (
                f"после {attempts} попыток сервер так и не принял письмо; последний ответ: {detail}"
            )
    values: dict[str, object] = {"attempts": attempts, "claimed_until": None}
    if result is Result.sent:
        values.update(status=EmailStatus.sent, sent_at=now, last_error=detail)
    elif result is Result.temporary:
        values.update(
            status=EmailStatus.retry, next_attempt_at=now + backoff(attempts), last_error=detail
        )
    else:
        values.update(status=EmailStatus.failed, last_error=detail)
    with Session(engine) as session:
        # The write comes first (see claim_due); the claim guard means a deliverer whose
        # lease lapsed cannot overwrite the outcome of the one that took the row over.
        changed = session.execute(
            update(OutgoingEmail)
            .where(
                col(OutgoingEmail.id) == row.id,
                col(OutgoingEmail.status) == EmailStatus.sending,
                col(OutgoingEmail.claimed_until) == lease_until,
            )
            .values(**values)
        )
        if changed.rowcount != 1:  # type: ignore[attr-defined]
            session.rollback()
            log.warning("outgoing email %s: claim lapsed before its outcome was recorded", row.id)
            return None
        if row.kind != DELIVERY_FAILURE_KIND:
            if result is Result.permanent:
                _queue_failure_notice(session, row, detail, attempts, settings, now)
            elif outcome.refused:
                _queue_failure_notice(
                    session,
                    row,
                    outcome.refused,
                    attempts,
                    settings,
                    now,
                    refused=outcome.refused_addrs,
                )
        session.commit()
    return result


def _queue_failure_notice(
    session: Session,
    row: OutgoingEmail,
    reason: str,
    attempts: int,
    settings: Settings,
    now: datetime,
    *,
    refused: Sequence[str] = (),
) -> None:
    """Tell the centre that a message could not be delivered (never about such a notice
    itself, so a dead centre mailbox cannot start a loop). `refused` names the recipients
    refused when the others received it."""
    refused_keys = {a.strip().lower() for a in refused}
    delivered = [a for a in [row.to_addr, *row.cc_addrs] if a.strip().lower() not in refused_keys]
    task_ids = session.exec(
        select(Notice.task_id).where(Notice.email_id == row.id).distinct()
    ).all()
    base = settings.portal_url.rstrip("/")
    review_links = [f"{base}/admin/tasks/{task_id}" for task_id in sorted(set(task_ids))]
    rendered = render(
        DELIVERY_FAILURE_KIND,
        {
            "centre_name": settings.centre_name,
            "centre_email": settings.centre_email,
            "failed_to": row.to_addr,
            "failed_cc": list(row.cc_addrs),
            "failed_subject": row.subject,
            "failed_message_id": row.message_id,
            "created_at": local_time(row.created_at, settings.tz),
            "attempts": attempts,
            "reason": reason,
            "refused": list(refused) if refused else [],
            "delivered": delivered if refused else [],
            "review_links": review_links,
        },
    )
    queue_email(
        session=session,
        kind=DELIVERY_FAILURE_KIND,
        to=settings.centre_email,
        subject=rendered.subject,
        text_body=rendered.text,
        html_body=rendered.html,
        message_id=f"<delivery-failure-{row.id}@{mail_domain(settings)}>",
        now=now,
    )


# -- sending --------------------------------------------------------------------------


def _reply(code: int, message: str) -> str:
    return f"{code} {' '.join(message.split())}".strip()


def classify(exc: Exception) -> Outcome:
    """Permanent means the message itself is refused (a 5xx reply to MAIL, RCPT or DATA);
    a 4xx reply to them is temporary. Anything else (a broken connection, a timeout, a
    reply to another command, our own configuration: login, TLS) is not the message's
    fault: temporary, and never given up on."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        replies = [f"{r.recipient}: {_reply(r.code, r.message)}" for r in exc.recipients]
        permanent = bool(exc.recipients) and all(r.code >= 500 for r in exc.recipients)
        return Outcome(Result.permanent if permanent else Result.temporary, "; ".join(replies))
    if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
        return _unreachable(
            f"сервер не принял вход ({_reply(exc.code, exc.message)}): проверьте "
            "ROADMAP_SMTP_USERNAME и ROADMAP_SMTP_PASSWORD"
        )
    if isinstance(exc, aiosmtplib.SMTPConnectResponseError | aiosmtplib.SMTPHeloError):
        reply = _reply(exc.code, exc.message)
        return _unreachable(f"почтовый сервер отказал в соединении: {reply}")
    if isinstance(
        exc,
        aiosmtplib.SMTPSenderRefused | aiosmtplib.SMTPRecipientRefused | aiosmtplib.SMTPDataError,
    ):
        kind = Result.permanent if exc.code >= 500 else Result.temporary
        return Outcome(kind, _reply(exc.code, exc.message))
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return _unreachable(f"ответ почтового сервера: {_reply(exc.code, exc.message)}")
    if isinstance(exc, aiosmtplib.SMTPNotSupported):
        return _unreachable(f"почтовый сервер: {exc} (проверьте ROADMAP_SMTP_TLS)")
    if isinstance(exc, aiosmtplib.SMTPTimeoutError | TimeoutError):
        return _unreachable(f"почтовый сервер не ответил вовремя: {exc}")
    if isinstance(exc, aiosmtplib.SMTPException | OSError):
        return _unreachable(f"{type(exc).__name__}: {exc}")
    if isinstance(exc, ValueError):  # an address or attachment that cannot be sent
        return Outcome(Result.permanent, f"письмо не может быть отправлено: {exc}")
    return Outcome(Result.temporary, f"{type(exc).__name__}: {exc}")


class SmtpConnection:
    """One worker's SMTP connection, opened on first use and reused for many messages."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.client: aiosmtplib.SMTP | None = None

    def _new_client(self) -> aiosmtplib.SMTP:
        s = self.settings
        password = s.smtp_password.get_secret_value() if s.smtp_password else None
        return aiosmtplib.SMTP(
            hostname=s.smtp_host,
            port=s.smtp_port,
            username=s.smtp_username or None,
            password=password if s.smtp_username else None,
            timeout=s.smtp_timeout,
            use_tls=s.smtp_tls is SmtpSecurity.tls,
            start_tls=s.smtp_tls is SmtpSecurity.starttls,
            # Our own name in EHLO; the default looks up the host's FQDN, which can hang.
            local_hostname=mail_domain(s),
        )

    async def send(self, row: OutgoingEmail, *, now: datetime) -> Outcome:
        try:
            message = build_message(row, settings=self.settings, now=now)
            sender = address_of(self.settings.mail_from)
            recipients = [row.to_addr, *row.cc_addrs]
        except ValueError as exc:
            return Outcome(Result.permanent, f"не удалось составить письмо: {exc}")
        for attempt in (1, 2):
            reused = self.client is not None and self.client.is_connected
            if not reused:
                await self.close()
                client = self._new_client()
                try:
                    await client.connect()
                except Exception as exc:
                    # Greeting, TLS or login failed: never the message's fault, so never
                    # permanent, whatever the reply code.
                    client.close()
                    return _unreachable(
                        "не удалось подключиться к почтовому серверу: " + classify(exc).detail
                    )
                self.client = client
            assert self.client is not None
            try:
                refused, _reply_text = await self.client.send_message(
                    message, sender=sender, recipients=recipients
                )
            except aiosmtplib.SMTPServerDisconnected as exc:
                await self.close()
                if reused and attempt == 1:
                    continue  # the server closed an idle connection: one fresh try
                return classify(exc)
            except Exception as exc:
                outcome = classify(exc)
                # After a reply the client has reset the envelope and the connection
                # stays usable; after anything else its state is unknown.
                answered = aiosmtplib.SMTPResponseException | aiosmtplib.SMTPRecipientsRefused
                if not isinstance(exc, answered):
                    await self.close()  # the connection's state is unknown
                return outcome
            if refused:
                # Delivered to the others: it is not sent again; a permanent refusal is
                # reported to the centre, any refusal is kept in last_error.
                note = "отклонено: " + "; ".join(
                    f"{addr}: {_reply(r.code, r.message)}" for addr, r in refused.items()
                )
                gone = tuple(addr for addr, r in refused.items() if r.code >= 500)
                return Outcome(
                    Result.sent,
                    detail=note,
                    refused="; ".join(
                        f"{addr}: {_reply(refused[addr].code, refused[addr].message)}"
                        for addr in gone
                    ),
                    refused_addrs=gone,
                )
            return Outcome(Result.sent)
        raise AssertionError("unreachable")

    async def close(self) -> None:
        client, self.client = self.client, None
        if client is None:
            return
        try:
            if client.is_connected:
                await client.quit()
        except Exception:  # closing a broken connection: nothing worth reporting
            client.close()


async def _send_rows(
    rows: Sequence[OutgoingEmail],
    *,
    engine: Engine,
    settings: Settings,
    now: datetime,
    lease_until: datetime,
    report: DeliveryReport,
    connections: Sequence[SmtpConnection],
) -> None:
    """Send one claimed chunk: one worker per connection (the connections outlive the
    chunk, so a run reuses each one for many messages)."""
    queue: asyncio.Queue[OutgoingEmail] = asyncio.Queue()
    for row in rows:
        queue.put_nowait(row)

    async def worker(connection: SmtpConnection) -> None:
        while not queue.empty():
            row = queue.get_nowait()
            outcome = await connection.send(row, now=now)
            result = await asyncio.to_thread(
                record_outcome,
                engine=engine,
                row=row,
                outcome=outcome,
                settings=settings,
                now=now,
                lease_until=lease_until,
            )
            if result is Result.sent:
                report.sent += 1
            elif result is Result.temporary:
                report.retried += 1
                log.info("email %s to %s: will retry: %s", row.id, row.to_addr, outcome.detail)
            elif result is Result.permanent:
                report.failed += 1
                log.warning("email %s to %s failed: %s", row.id, row.to_addr, outcome.detail)

    async with asyncio.TaskGroup() as group:
        for connection in connections[: len(rows)]:
            group.create_task(worker(connection))


# -- .eml files when no SMTP host is configured ---------------------------------------


def eml_path(settings: Settings, row: OutgoingEmail) -> Path:
    name = safe_filename_part(row.message_id.strip("<>"))
    return settings.outbox_dir / f"{row.id:06d}-{name}.eml"


def write_eml(row: OutgoingEmail, *, settings: Settings, now: datetime) -> Path:
    """Write the message as an .eml file (8-bit UTF-8 text, readable as it is)."""
    path = eml_path(settings, row)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = build_message(row, settings=settings, now=now, readable=True).as_bytes()
    tmp = path.with_suffix(".eml.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return path


def _write_rows(
    rows: Sequence[OutgoingEmail],
    *,
    engine: Engine,
    settings: Settings,
    now: datetime,
    lease_until: datetime,
    report: DeliveryReport,
) -> None:
    for row in rows:
        try:
            path = write_eml(row, settings=settings, now=now)
            outcome = Outcome(Result.sent)
        except OSError as exc:
            outcome = _unreachable(f"не удалось записать файл в {settings.outbox_dir}: {exc}")
        except ValueError as exc:
            outcome = Outcome(Result.permanent, f"не удалось составить письмо: {exc}")
        result = record_outcome(
            engine=engine,
            row=row,
            outcome=outcome,
            settings=settings,
            now=now,
            lease_until=lease_until,
        )
        if result is Result.sent:
            report.written_to_files += 1
            log.info("email %s written to %s", row.id, path)
        elif result is Result.temporary:
            report.retried += 1
        elif result is Result.permanent:
            report.failed += 1


async def deliver_due(
    *, engine: Engine, settings: Settings, now: datetime, limit: int = 500
) -> DeliveryReport:
    """Send (or, with no SMTP host, write as .eml files) up to `limit` rows due at `now`."""
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    report = DeliveryReport()
    connections = [SmtpConnection(settings) for _ in range(settings.smtp_concurrency)]
    try:
        await _deliver_chunks(
            engine=engine,
            settings=settings,
            now=now,
            limit=limit,
            report=report,
            connections=connections,
        )
    finally:
        for connection in connections:
            await connection.close()
    return report


async def _deliver_chunks(
    *,
    engine: Engine,
    settings: Settings,
    now: datetime,
    limit: int,
    report: DeliveryReport,
    connections: Sequence[SmtpConnection],
) -> None:
    # Small SMTP chunks: a chunk must be done well within its lease even when the server
    # is slow (a few messages per connection, each bounded by the timeout).
    chunk = settings.smtp_concurrency * 3 if settings.email_enabled else 50
    started = time.monotonic()
    remaining = limit
    while remaining > 0:
        # Claims are made chunk by chunk, each leased from the wall clock (or from `now`
        # plus the time this run has taken so far, if that is later), so a long run never
        # holds rows on a lease that has already lapsed, and a run for a past `now` never
        # gives out leases that a run on the real clock sees as lapsed.
        elapsed = timedelta(seconds=time.monotonic() - started)
        lease_until = wall_clock(now + elapsed) + LEASE
        rows = await asyncio.to_thread(
            claim_due, engine=engine, now=now, lease_until=lease_until, limit=min(chunk, remaining)
        )
        if not rows:
            break
        remaining -= len(rows)
        if settings.email_enabled:
            await _send_rows(
                rows,
                engine=engine,
                settings=settings,
                now=now,
                lease_until=lease_until,
                report=report,
                connections=connections,
            )
        else:
            await asyncio.to_thread(
                _write_rows,
                rows,
                engine=engine,
                settings=settings,
                now=now,
                lease_until=lease_until,
                report=report,
            )
