"""Delivery: send the outbox rows that are due, exactly once each, and record every outcome.

A row is first *claimed* by a conditional UPDATE (queued/retry and due, or a lapsed
claim) that sets status=sending, this deliverer's claim token and a lease, committed
before anything is sent. So two deliverers never send the same row:

- the lease is renewed (every third of it) while the deliverer works, so a slow relay
  never lets it lapse under a live deliverer;
- right before a connection sends a slice of its rows (a few, _Slice.MAX_SLICE at most;
  the next slice is checked while the last rows of the current one go out) they are
  re-checked in the database (still `sending` under this token) and marked
  `sending_since`, all in one statement; a row that fails the check is not sent. A
  deliverer that stops on an exception takes the mark back from the rows it never
  reached;
- a claim whose lease lapsed without a transaction begun (the deliverer died before
  sending) is claimable again; one marked begun is *reconciled*: marked sent with a
  note, never sent a second time (a deliverer that dies mid-slice leaves the rest of
  its slice so: at most once rather than twice);
- outcomes are written in batches (one transaction per batch), each row guarded by the
  claim token, so a deliverer that lost a row cannot overwrite another's outcome.

Leases are wall-clock instants: a run for a logical `now` in the past (`roadmap tick
--at ...`) still holds its rows against a run on the real clock, and the other way round.
Whether a row is due is decided by the logical `now`.

A run works until nothing is due (or until its time budget, then the next run takes
over): claims come in chunks sized to the measured rate and are fed to one worker per
SMTP connection, so a connection never waits for a chunk boundary. The database work
(claims, re-checks, outcomes) is batched and runs in worker threads, in plain SQL
statements rather than ORM objects: at the wire's speed it is most of what a message
costs besides SMTP itself (bench/mail).

Failures that are not the message's fault (no connection, TLS, login, timeouts before the
message was accepted) never fail a row for good: it is retried with the capped backoff
until the server takes it. Only a reply about the message itself can: a 5xx reply to
MAIL, RCPT or DATA at once, a 4xx reply after MAX_ATTEMPTS tries.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import ssl
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

import aiosmtplib
from sqlalchemy import ColumnElement, Engine, and_, bindparam, or_, type_coerce, update
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.types import NullType
from sqlmodel import Session, col, select

from config.settings import Settings, SmtpSecurity
from domain.emails import Notice, OutboxRun, OutgoingEmail
from domain.enums import EmailStatus
from domain.formatting import local_time
from domain.types import UTCDateTime
from notifications.mime import address_of, build_message, mail_domain, safe_filename_part
from notifications.outbox import queue_email
from notifications.refusals import refusal_problem, refused_connection
from notifications.render import render
from notifications.wire import message_bytes

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=2)  # the default of ROADMAP_SMTP_LEASE_SECONDS
BACKOFF = (
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=15),
    timedelta(minutes=60),
    timedelta(hours=4),
)
MAX_ATTEMPTS = 10
DELIVERY_FAILURE_KIND = "delivery_failure"
RECONCILED_NOTE = (
    "исход не подтверждён: письмо было передано на отправку, но отправитель не записал "
    "ответ сервера до конца срока захвата; письмо не отправлялось повторно, чтобы не "
    "прийти дважды"
)


@dataclass
class DeliveryReport:
    sent: int = 0  # accepted by the SMTP server
    retried: int = 0  # temporary failure: will be tried again
    failed: int = 0  # permanent failure (or gave up after MAX_ATTEMPTS)
    written_to_files: int = 0  # no SMTP host configured: written as .eml files
    # Nothing went out and the reason is our configuration (unknown host, refused login,
    # TLS): what to fix, in Russian. Not part of the counts' equality.
    problem: str = field(default="", compare=False)
    # every connection was refused and nothing sent (notifications/refusals.py)
    connection_refused: bool = field(default=False, compare=False)


class DeliveryProblem(RuntimeError):
    """Raised by the outbox flow (after recording every outcome) when a run delivered
    nothing for a configuration reason; the message says which variable to fix."""


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
    config_problem: str = ""  # our settings are wrong (see config_problem())
    connection_refused: bool = False  # nothing listens there: a restart, or a wrong port


def _unreachable(detail: str) -> Outcome:
    return Outcome(Result.temporary, detail, not_the_message=True)


def config_problem(exc: BaseException, settings: Settings) -> str:
    """What to fix when `exc` (from connecting or logging in) is our configuration's
    fault; empty when it is not (a server that is down, a busy relay)."""
    if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
        return (
            f"почтовый сервер {settings.smtp_host} не принял вход "
            f"({_reply(exc.code, exc.message)}): проверьте ROADMAP_SMTP_USERNAME и "
            "ROADMAP_SMTP_PASSWORD"
        )
    causes = [exc, exc.__cause__, exc.__context__]
    if any(isinstance(c, socket.gaierror) for c in causes):
        return (
            f"почтовый сервер «{settings.smtp_host}» не найден (нет такого имени в DNS): "
            "проверьте ROADMAP_SMTP_HOST"
        )
    if isinstance(exc, aiosmtplib.SMTPNotSupported) or any(
        isinstance(c, ssl.SSLError) for c in causes
    ):
        return (
            f"не удалось установить защищённое соединение с {settings.smtp_host}:"
            f"{settings.smtp_port} ({exc}): проверьте ROADMAP_SMTP_TLS и ROADMAP_SMTP_PORT"
        )
    return ""


def backoff(attempts: int) -> timedelta:
    """The wait after the `attempts`-th failed attempt (1, 5, 15, 60 min, then 4 h)."""
    return BACKOFF[min(max(attempts, 1), len(BACKOFF)) - 1]


def wall_clock(now: datetime) -> datetime:
    """The instant leases are measured against: the real clock, or `now` if later."""
    return max(now, datetime.now(UTC))


def lease_of(settings: Settings) -> timedelta:
    return timedelta(seconds=settings.smtp_lease_seconds)


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
        # A deliverer claimed it and died before its SMTP transaction began.
        and_(
            col(OutgoingEmail.status) == EmailStatus.sending,
            col(OutgoingEmail.claimed_until) <= clock,
            col(OutgoingEmail.sending_since).is_(None),
        ),
    )


def reconcile_lapsed(*, engine: Engine, now: datetime) -> int:
    """Rows whose deliverer began the SMTP transaction and then lost its claim (died,
    or stalled past the lease) without recording the reply: the server may well have
    taken the message, so it is marked sent with a note instead of being sent again."""
    clock = wall_clock(now)
    with engine.begin() as conn:
        result = conn.execute(
            update(OutgoingEmail)
            .where(
                col(OutgoingEmail.status) == EmailStatus.sending,
                col(OutgoingEmail.claimed_until) <= clock,
                col(OutgoingEmail.sending_since).is_not(None),
            )
            .values(
                status=EmailStatus.sent,
                sent_at=OutgoingEmail.sending_since,
                attempts=OutgoingEmail.attempts + 1,
                claimed_until=None,
                claim_token=None,
                last_error=RECONCILED_NOTE,
            )
        )
    count = int(result.rowcount)
    if count:
        log.warning("%d outgoing email(s) reconciled: transaction begun, reply unknown", count)
    return count


@dataclass(slots=True)
class ClaimedEmail:
    """A row as its deliverer claimed it: what sending it and recording the outcome need,
    as a plain object (loading thousands of ORM instances per chunk cost more than
    sending them)."""

    id: int
    message_id: str
    kind: str
    to_addr: str
    cc_addrs: list[str]
    subject: str
    text_body: str
    html_body: str
    attachments: list[dict[str, Any]]
    attempts: int
    created_at: datetime
    next_attempt_at: datetime
    reply_to: str
    claim_token: str | None


# Returned by the claim as the driver gives them: SQLAlchemy's JSON and datetime result
# processing cost more per row than the claim's SQL (see _claimed).
_RAW = frozenset({"cc_addrs", "attachments", "created_at", "next_attempt_at"})
_CLAIMED_COLUMNS = [
    type_coerce(column, NullType()).label(name) if name in _RAW else column
    for name in ClaimedEmail.__dataclass_fields__
    for column in [OutgoingEmail.__table__.c[name]]  # type: ignore[attr-defined]
]


def _json_list(value: Any) -> Any:
    """A JSON column's value: text on SQLite (mostly an empty list), already decoded on
    PostgreSQL."""
    if isinstance(value, str):
        return [] if value == "[]" else json.loads(value)
    return value


def _utc(value: Any) -> datetime:
    """A UTCDateTime column's value: naive UTC text on SQLite, aware on PostgreSQL."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    assert isinstance(value, datetime)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _claimed(row: Sequence[Any]) -> ClaimedEmail:
    (
        id_,
        message_id,
        kind,
        to_addr,
        cc,
        subject,
        text,
        html,
        attachments,
        attempts,
        created_at,
        next_attempt_at,
        reply_to,
        claim_token,
    ) = row
    return ClaimedEmail(
        id_,
        message_id,
        kind,
        to_addr,
        _json_list(cc),
        subject,
        text,
        html,
        _json_list(attachments),
        attempts,
        _utc(created_at),
        _utc(next_attempt_at),
        reply_to,
        claim_token,
    )


def claim_due(
    *,
    engine: Engine,
    now: datetime,
    lease_until: datetime,
    limit: int,
    token: str | None = None,
) -> list[ClaimedEmail]:
    """Claim up to `limit` rows due at `now` for the deliverer `token` (a fresh one if not
    given) and commit; returns the claimed rows (`claim_token` set), the longest waiting
    first. Rows another deliverer claimed first are skipped; a lease counts as lapsed
    once the wall clock (or `now`, if later) reaches its end, so `lease_until` must be a
    wall-clock instant (see `wall_clock`)."""
    token = token or uuid.uuid4().hex
    reconcile_lapsed(engine=engine, now=now)
    while True:
        clock = wall_clock(now)
        candidates = (
            select(OutgoingEmail.id)
            .where(_claimable(now, clock))
            .order_by(col(OutgoingEmail.next_attempt_at), col(OutgoingEmail.id))
            .limit(limit)
        )
        # One statement, and a write: on SQLite it takes the write lock at once (waiting
        # for other writers) instead of failing on a stale read snapshot; on PostgreSQL
        # the outer WHERE is re-checked on each locked row.
        with engine.begin() as conn:
            won = conn.execute(
                update(OutgoingEmail)
                .where(col(OutgoingEmail.id).in_(candidates), _claimable(now, clock))
                .values(
                    status=EmailStatus.sending,
                    claimed_until=lease_until,
                    claim_token=token,
                    sending_since=None,
                )
                .returning(*_CLAIMED_COLUMNS)
            ).all()
        if won:
            claimed = [_claimed(row) for row in won]
            claimed.sort(key=lambda r: (r.next_attempt_at, r.id))
            return claimed
        # Losing every candidate to another deliverer means they are no longer
        # claimable: look again for the rows behind them, if there are any.
        with engine.connect() as conn:
            left = conn.execute(
                select(OutgoingEmail.id).where(_claimable(now, wall_clock(now))).limit(1)
            ).first()
        if left is None:
            return []


def renew_claims(*, engine: Engine, token: str, lease_until: datetime) -> int:
    """Extend every claim `token` still holds; returns how many rows it holds."""
    with engine.begin() as conn:
        result = conn.execute(
            update(OutgoingEmail)
            .where(
                col(OutgoingEmail.claim_token) == token,
                col(OutgoingEmail.status) == EmailStatus.sending,
            )
            .values(claimed_until=lease_until)
        )
        return int(result.rowcount)


# Built once: this runs before every SMTP transaction, and building the statement costs
# more than running it.
_BEGIN = (
    update(OutgoingEmail)
    .where(
        col(OutgoingEmail.id).in_(bindparam("ids", expanding=True)),
        col(OutgoingEmail.claim_token) == bindparam("token"),
        col(OutgoingEmail.status) == EmailStatus.sending,
    )
    .values(
        sending_since=bindparam("at", type_=UTCDateTime()),
        claimed_until=bindparam("until", type_=UTCDateTime()),
    )
    .returning(col(OutgoingEmail.id))
)


def begin_transactions(
    *, engine: Engine, token: str, ids: Sequence[int], at: datetime, lease_until: datetime
) -> set[int]:
    """The re-check right before sending: of `ids`, the rows still claimed by `token`,
    now marked as having their SMTP transaction begun (and their lease extended)."""
    # A plain connection: the ORM's bookkeeping would cost more than the statement.
    with engine.begin() as conn:
        held = conn.execute(
            _BEGIN, {"ids": list(ids), "token": token, "at": at, "until": lease_until}
        )
        return {int(email_id) for (email_id,) in held if email_id is not None}


def withdraw_begun(*, engine: Engine, token: str, ids: Sequence[int]) -> None:
    """Take back the "transaction begun" mark of rows a deliverer marked in a batch but
    never reached (it is stopping): no transaction of theirs began, so once the lease
    lapses they are claimed and sent again rather than reconciled unsent."""
    with engine.begin() as conn:
        conn.execute(
            update(OutgoingEmail)
            .where(
                col(OutgoingEmail.id).in_(list(ids)),
                col(OutgoingEmail.claim_token) == token,
                col(OutgoingEmail.status) == EmailStatus.sending,
            )
            .values(sending_since=None)
        )


# -- recording ------------------------------------------------------------------------


def _final(row: ClaimedEmail, outcome: Outcome) -> tuple[Result, str, int]:
    """The result to record, its detail and the new attempt count.

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
    return result, detail, attempts


_RELEASED: dict[str, Any] = {"claimed_until": None, "claim_token": None, "sending_since": None}


def record_outcomes(
    *,
    engine: Engine,
    items: Sequence[tuple[ClaimedEmail, Outcome]],
    settings: Settings,
    now: datetime,
    token: str,
) -> list[Result | None]:
    """Write what happened to claimed rows, all in one transaction. Returns each row's
    final result (a temporary reply about the message on its last attempt becomes
    permanent), or None when the row is no longer this deliverer's (`token`): another
    deliverer or the reconciliation owns it now, and its record stands."""
    guard = (
        col(OutgoingEmail.claim_token) == token,
        col(OutgoingEmail.status) == EmailStatus.sending,
    )
    results: list[Result | None] = []
    with Session(engine) as session:
        # Plain successes (the bulk) in one statement; the write comes first (see
        # claim_due).
        plain = [
            row.id
            for row, outcome in items
            if outcome.result is Result.sent and not outcome.detail and not outcome.refused
        ]
        recorded: set[int] = set()
        if plain:
            # Core on the session's connection: the ORM's bulk-update bookkeeping would
            # cost more than the statement.
            done = session.connection().execute(
                update(OutgoingEmail)
                .where(col(OutgoingEmail.id).in_(plain), *guard)
                .values(
                    status=EmailStatus.sent,
                    sent_at=now,
                    last_error="",
                    attempts=OutgoingEmail.attempts + 1,
                    **_RELEASED,
                )
                .returning(col(OutgoingEmail.id))
            )
            recorded = {email_id for (email_id,) in done if email_id is not None}
        plain_ids = set(plain)
        for row, outcome in items:
            if row.id in plain_ids:
                results.append(Result.sent if row.id in recorded else None)
                continue
            result, detail, attempts = _final(row, outcome)
            values: dict[str, Any] = {"attempts": attempts, **_RELEASED}
            if result is Result.sent:
                values.update(status=EmailStatus.sent, sent_at=now, last_error=detail)
            elif result is Result.temporary:
                values.update(
                    status=EmailStatus.retry,
                    next_attempt_at=now + backoff(attempts),
                    last_error=detail,
                )
            else:
                values.update(status=EmailStatus.failed, last_error=detail)
            changed = session.execute(
                update(OutgoingEmail)
                .where(col(OutgoingEmail.id) == row.id, *guard)
                .values(**values)
            )
            if changed.rowcount != 1:  # type: ignore[attr-defined]
                results.append(None)
                continue
            results.append(result)
            if row.kind == DELIVERY_FAILURE_KIND or not (
                result is Result.permanent or outcome.refused
            ):
                continue
            # The centre's notice in its own savepoint: one that cannot be written (a
            # broken ROADMAP_CENTRE_EMAIL, a template error) never loses the outcomes.
            try:
                with session.begin_nested():
                    if result is Result.permanent:
                        _queue_failure_notice(session, row, detail, attempts, settings, now)
                    else:
                        _queue_failure_notice(
                            session,
                            row,
                            outcome.refused,
                            attempts,
                            settings,
                            now,
                            refused=outcome.refused_addrs,
                        )
            except (OperationalError, InterfaceError):
                raise
            except Exception:
                log.exception("outgoing email %s: the centre's failure notice not queued", row.id)
        session.commit()
    for (row, _), got in zip(items, results, strict=True):
        if got is None:
            log.warning("outgoing email %s: claim lost before its outcome was recorded", row.id)
    return results


def _queue_failure_notice(
    session: Session,
    row: ClaimedEmail,
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
        # Asked right before each SMTP transaction whether the row is still ours (and
        # marked begun, with the rest of its slice); False means another deliverer owns
        # it: not sent.
        self.gate: Callable[[ClaimedEmail], Awaitable[bool]] | None = None
        self._sender: str | None = None

    @property
    def connected(self) -> bool:
        return self.client is not None and self.client.is_connected

    @property
    def sender(self) -> str:
        """The envelope sender (ROADMAP_MAIL_FROM's address); ValueError if it has none."""
        if self._sender is None:
            self._sender = address_of(self.settings.mail_from)
        return self._sender

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

    async def send(self, row: ClaimedEmail, *, now: datetime) -> Outcome | None:
        """Send one row; None when the re-check found the claim lost (nothing sent)."""
        checked = self.gate is None
        try:
            message = message_bytes(row, settings=self.settings, now=now)
            sender = self.sender
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
                    return Outcome(
                        Result.temporary,
                        "не удалось подключиться к почтовому серверу: " + classify(exc).detail,
                        not_the_message=True,
                        config_problem=config_problem(exc, self.settings),
                        connection_refused=refused_connection(exc),
                    )
                self.client = client
            assert self.client is not None
            if not checked:
                assert self.gate is not None
                if not await self.gate(row):
                    return None
                checked = True
            try:
                refused, _reply_text = await self.client.sendmail(sender, recipients, message)
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


class _RateLimit:
    """At most `rate` transactions a second over all connections (None: no limit)."""

    def __init__(self, rate: float | None) -> None:
        self.interval = 1.0 / rate if rate else 0.0
        self.next_slot = 0.0

    async def wait(self) -> None:
        if not self.interval:
            return
        loop_now = time.monotonic()
        slot = max(self.next_slot, loop_now)
        self.next_slot = slot + self.interval
        if slot > loop_now:
            await asyncio.sleep(slot - loop_now)


class _Run:
    """One deliverer: its claim token, its clock, its batched re-checks and records."""

    RECORD_BATCH = 250
    MIN_CHUNK_SECONDS = 2.0  # a chunk holds about this much sending at the measured rate
    MAX_CHUNK = 2000

    def __init__(
        self,
        *,
        engine: Engine,
        settings: Settings,
        now: datetime,
        report: DeliveryReport,
        limit: int | None,
        budget: timedelta | None,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.now = now
        self.report = report
        self.limit = limit
        self.budget = budget
        self.token = uuid.uuid4().hex
        self.lease = lease_of(settings)
        self.started = time.monotonic()
        self.claimed = 0
        self.done = 0  # outcomes so far, recorded or not (the rate)
        self.pending: list[tuple[ClaimedEmail, Outcome]] = []
        self.record_lock = asyncio.Lock()
        self.flushes: set[asyncio.Task[None]] = set()
        self.problem = ""
        self.refused = False
        self.gate_waiting: list[tuple[list[int], asyncio.Future[set[int]]]] = []
        self.gate_task: asyncio.Task[None] | None = None
        # rows a stopping worker took the begun mark back from (see _Slice.withdraw)
        self.withdrawn: set[int] = set()

    def clock(self) -> datetime:
        """Wall clock, or the logical `now` plus the time this run has taken, if later."""
        return wall_clock(self.now + timedelta(seconds=time.monotonic() - self.started))

    def lease_until(self) -> datetime:
        return self.clock() + self.lease

    def out_of_time(self) -> bool:
        if self.limit is not None and self.claimed >= self.limit:
            return True
        # Past its budget a run claims no more (it always gets one chunk done).
        return (
            self.budget is not None
            and self.claimed > 0
            and time.monotonic() - self.started >= self.budget.total_seconds()
        )

    async def claim(self, size: int) -> list[ClaimedEmail]:
        if self.limit is not None:
            size = min(size, self.limit - self.claimed)
        if size <= 0:
            return []
        rows = await asyncio.to_thread(
            claim_due,
            engine=self.engine,
            now=self.now,
            lease_until=self.lease_until(),
            limit=size,
            token=self.token,
        )
        self.claimed += len(rows)
        return rows

    async def renew_until(self, stop: asyncio.Event) -> None:
        """Keep this deliverer's claims alive while it works (a slow relay never makes
        them lapse); a failed renewal is only logged, the next one tries again."""
        interval = self.lease.total_seconds() / 3
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), interval)
                return
            except TimeoutError:
                pass
            try:
                await asyncio.to_thread(
                    renew_claims,
                    engine=self.engine,
                    token=self.token,
                    lease_until=self.lease_until(),
                )
            except Exception as exc:
                log.warning("could not renew outbox claims: %s", exc)

    # The re-check before sending, batched: each connection asks for the rows it is about
    # to send in a row (a _Slice), and whatever the connections ask for while one check
    # runs goes into the next one.
    async def begin(self, ids: list[int]) -> set[int]:
        """Of `ids`, those still held by this deliverer, now marked begun."""
        future: asyncio.Future[set[int]] = asyncio.get_running_loop().create_future()
        self.gate_waiting.append((ids, future))
        if self.gate_task is None or self.gate_task.done():
            self.gate_task = asyncio.create_task(self._check_gate())
        return await future

    def _begin(self, ids: list[int], at: datetime, lease_until: datetime) -> set[int]:
        held = begin_transactions(
            engine=self.engine, token=self.token, ids=ids, at=at, lease_until=lease_until
        )
        # Rows whose worker stopped while this ran: it took the mark back before this
        # committed, or this sees it here (the set is filled before the mark is taken).
        late = held & self.withdrawn
        if late:
            withdraw_begun(engine=self.engine, token=self.token, ids=sorted(late))
        return held - late

    async def _check_gate(self) -> None:
        while self.gate_waiting:
            batch, self.gate_waiting = self.gate_waiting, []
            asked = [email_id for ids, _ in batch for email_id in ids]
            try:
                held = await asyncio.to_thread(self._begin, asked, self.clock(), self.lease_until())
            except Exception as exc:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for _, future in batch:
                if not future.done():
                    future.set_result(held)
            for email_id in asked:
                if email_id not in held:
                    log.warning("outgoing email %s: claim lost before sending; not sent", email_id)

    async def record(self, row: ClaimedEmail, outcome: Outcome) -> None:
        """Keep the outcome for the next batch; a full batch is written in the background
        (the connection goes on sending meanwhile)."""
        self.pending.append((row, outcome))
        self.done += 1
        if len(self.pending) >= self.RECORD_BATCH and not self.record_lock.locked():
            task = asyncio.create_task(self.flush())
            self.flushes.add(task)
            task.add_done_callback(self.flushes.discard)

    async def finish_records(self) -> None:
        """Wait for the background writes (re-raising their errors), then write the rest."""
        while self.flushes:
            await asyncio.gather(*list(self.flushes))
        await self.flush()

    async def flush(self) -> None:
        async with self.record_lock:
            items, self.pending = self.pending, []
            if not items:
                return
            results = await asyncio.to_thread(
                record_outcomes,
                engine=self.engine,
                items=items,
                settings=self.settings,
                now=self.now,
                token=self.token,
            )
        for (row, outcome), result in zip(items, results, strict=True):
            self._count(row, outcome, result)

    def _count(self, row: ClaimedEmail, outcome: Outcome, result: Result | None) -> None:
        if outcome.config_problem:
            self.problem = outcome.config_problem
        self.refused = self.refused or outcome.connection_refused
        if result is Result.sent:
            if self.settings.email_enabled:
                self.report.sent += 1
            else:
                self.report.written_to_files += 1
        elif result is Result.temporary:
            self.report.retried += 1
            log.info("email %s to %s: will retry: %s", row.id, row.to_addr, outcome.detail)
        elif result is Result.permanent:
            self.report.failed += 1
            log.warning("email %s to %s failed: %s", row.id, row.to_addr, outcome.detail)

    def chunk_size(self) -> int:
        """Claims sized to the rate this run achieves (at least a slice a connection):
        each claim reads the due rows, so few large ones cost less than many small."""
        floor = self.settings.smtp_concurrency * _Slice.MAX_SLICE
        elapsed = time.monotonic() - self.started
        if elapsed <= 0 or not self.done:
            return floor
        rate = self.done / elapsed
        return max(floor, min(self.MAX_CHUNK, int(rate * self.MIN_CHUNK_SECONDS)))


class _Slice:
    """Rows one connection sends one after another, re-checked and marked begun together
    in one statement: the re-check is per slice, not per message. The first slice of a
    connection is checked when its first row is about to go out (the connection is
    open); the next one while the last rows of the current one are being sent
    (PREFETCH), so a connection never waits for a check. A slice is small (MAX_SLICE):
    a deliverer that dies leaves few rows marked begun and never sent (they are
    reconciled, not sent twice); one that stops on an exception takes the mark back from
    the rows it never reached."""

    MAX_SLICE = 16
    PREFETCH = 2  # rows of the current slice left to send when the next one is checked

    def __init__(self, run: _Run, rows: list[ClaimedEmail]) -> None:
        self.run = run
        self.rows = rows
        self.at = 0  # the row being sent
        self.check: asyncio.Task[set[int]] | None = None
        self.begun: set[int] | None = None

    def start_check(self) -> None:
        """Re-check and mark the rows not yet sent, in the background."""
        if self.check is None:
            self.check = asyncio.create_task(self.run.begin([r.id for r in self.rows[self.at :]]))

    async def gate(self, row: ClaimedEmail) -> bool:
        if self.begun is None:
            self.start_check()
            assert self.check is not None
            self.begun = await self.check
        return row.id in self.begun

    def withdraw(self, first_unreached: int) -> None:
        """After an exception: take the begun mark back from the rows from
        `first_unreached` on, never handed to SMTP (a check still under way takes it
        back itself once done: see _Run.withdrawn)."""
        if self.check is None:
            return  # never marked
        unreached = [r.id for r in self.rows[first_unreached:]]
        if not unreached:
            return
        self.run.withdrawn.update(unreached)
        try:  # synchronously: the loop may be going down
            withdraw_begun(engine=self.run.engine, token=self.run.token, ids=unreached)
        except Exception as exc:
            log.warning("outgoing emails %s stay marked begun: %s", unreached, exc)


async def _send_all(run: _Run, connections: Sequence[SmtpConnection]) -> None:
    """Feed claimed rows to one worker per connection until nothing is due (or the run is
    out of time); the next chunk is claimed while the connections still have work."""
    queue: asyncio.Queue[ClaimedEmail | None] = asyncio.Queue()
    hungry = asyncio.Event()
    hungry.set()
    rate = run.settings.smtp_rate_per_second
    limiter = _RateLimit(rate)
    # at most a second's worth of rows in a slice under a rate limit
    max_slice = max(1, min(_Slice.MAX_SLICE, int(rate))) if rate else _Slice.MAX_SLICE
    # the next chunk is claimed once the queue is down to this (a claim takes a while)
    low_water = len(connections) * max_slice
    stop_renewing = asyncio.Event()

    def take(rows: list[ClaimedEmail]) -> tuple[list[ClaimedEmail], bool]:
        """`rows` topped up to a fair share of the waiting rows (a slice at most), and
        whether the end-of-work mark came too."""
        size = max(1, min(max_slice, (queue.qsize() + len(rows)) // len(connections)))
        while len(rows) < size and not queue.empty():
            row = queue.get_nowait()
            if row is None:
                queue.task_done()
                return rows, True
            rows.append(row)
        if queue.qsize() <= low_water:
            hungry.set()
        return rows, False

    async def worker(connection: SmtpConnection) -> None:
        last = False  # this worker's end-of-work mark is taken
        upcoming: _Slice | None = None
        while True:
            if upcoming is not None:
                piece, upcoming = upcoming, None
            elif last:
                return
            else:
                first = await queue.get()
                if first is None:
                    queue.task_done()
                    return
                rows, last = take([first])
                piece = _Slice(run, rows)
            connection.gate = piece.gate
            try:
                for at, row in enumerate(piece.rows):
                    piece.at = at
                    if (
                        at == max(0, len(piece.rows) - _Slice.PREFETCH)
                        and not last
                        and not queue.empty()
                        and connection.connected
                    ):
                        rows, last = take([])
                        if rows:
                            upcoming = _Slice(run, rows)
                            upcoming.start_check()
                    try:
                        await limiter.wait()
                        outcome = await connection.send(row, now=run.now)
                        if outcome is not None:
                            await run.record(row, outcome)
                    finally:
                        queue.task_done()
            except BaseException:
                piece.withdraw(piece.at + 1)
                if upcoming is not None:
                    upcoming.withdraw(0)
                raise

    async def feeder() -> None:
        nonlocal low_water
        try:
            while not run.out_of_time():
                await hungry.wait()
                hungry.clear()
                rows = await run.claim(run.chunk_size())
                if not rows:
                    # Outcomes still unrecorded may queue more (the centre's failure
                    # notices, due at once): finish them and look once more.
                    await queue.join()
                    await run.finish_records()
                    rows = await run.claim(run.chunk_size())
                    if not rows:
                        break
                for row in rows:
                    queue.put_nowait(row)
                low_water = max(len(connections) * max_slice, len(rows) // 4)
                if queue.qsize() <= low_water:
                    hungry.set()
        finally:
            for _ in connections:
                queue.put_nowait(None)

    async with asyncio.TaskGroup() as group:
        group.create_task(run.renew_until(stop_renewing))
        workers = [group.create_task(worker(c)) for c in connections]
        group.create_task(feeder())
        try:
            await asyncio.gather(*workers)
            await run.finish_records()
        finally:
            stop_renewing.set()


# -- .eml files when no SMTP host is configured ---------------------------------------


def eml_path(settings: Settings, row: ClaimedEmail) -> Path:
    name = safe_filename_part(row.message_id.strip("<>"))
    return settings.outbox_dir / f"{row.id:06d}-{name}.eml"


def write_eml(row: ClaimedEmail, *, settings: Settings, now: datetime) -> Path:
    """Write the message as an .eml file (8-bit UTF-8 text, readable as it is)."""
    path = eml_path(settings, row)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = build_message(row, settings=settings, now=now, readable=True).as_bytes()
    tmp = path.with_suffix(".eml.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return path


async def _write_all(run: _Run) -> None:
    """No SMTP host: write each due row as an .eml file, chunk by chunk, until none is due."""
    while not run.out_of_time():
        rows = await run.claim(50)
        if not rows:
            break
        for row in rows:
            try:
                path = await asyncio.to_thread(write_eml, row, settings=run.settings, now=run.now)
                outcome = Outcome(Result.sent)
                log.debug("email %s written to %s", row.id, path)
            except OSError as exc:
                outcome = _unreachable(
                    f"не удалось записать файл в {run.settings.outbox_dir}: {exc}"
                )
            except ValueError as exc:
                outcome = Outcome(Result.permanent, f"не удалось составить письмо: {exc}")
            await run.record(row, outcome)
        await run.finish_records()


async def deliver_due(
    *,
    engine: Engine,
    settings: Settings,
    now: datetime,
    limit: int | None = None,
    budget: timedelta | None = None,
) -> DeliveryReport:
    """Send (or, with no SMTP host, write as .eml files) every row due at `now`, including
    the centre's failure notices the run itself queues. `budget` stops claiming after that
    long (what is left waits for the next run); `limit` caps the rows claimed."""
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    report = DeliveryReport()
    started = datetime.now(UTC)
    run = _Run(engine=engine, settings=settings, now=now, report=report, limit=limit, budget=budget)
    if not settings.email_enabled:
        await _write_all(run)
    else:
        connections = [SmtpConnection(settings) for _ in range(settings.smtp_concurrency)]
        try:
            await _send_all(run, connections)
        finally:
            for connection in connections:
                await connection.close()
        if run.problem and not report.sent:
            report.problem = run.problem
        elif run.refused and not report.sent:
            report.connection_refused = True
            report.problem = await asyncio.to_thread(_refusals, engine, settings, started)
    await asyncio.to_thread(_record_run, engine, report, started)
    return report


def _refusals(engine: Engine, settings: Settings, started: datetime) -> str:
    with Session(engine) as session:
        return refusal_problem(session, settings, started)


def _record_run(engine: Engine, report: DeliveryReport, started: datetime) -> None:
    with Session(engine) as session:
        session.add(
            OutboxRun(
                started_at=started,
                finished_at=datetime.now(UTC),
                sent=report.sent,
                retried=report.retried,
                failed=report.failed,
                written_to_files=report.written_to_files,
                problem=report.problem,
                connection_refused=report.connection_refused,
            )
        )
        session.commit()
