"""Reading the centre's mailbox over IMAP (imaplib): each new message is processed once
and then flagged (and moved, when ROADMAP_IMAP_PROCESSED_MAILBOX is set).

Crash safety: a message is recorded and applied in one database transaction, keyed by
its Message-ID, and flagged on the server only after that commit. A run killed before
the commit leaves nothing behind and the message unflagged, so the next run does it; a
run killed after the commit but before the flag finds the message recorded next time
and only flags it. Nothing is lost and nothing is done twice.
"""

from __future__ import annotations

import base64
import imaplib
import logging
import re
import select
import ssl
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from config.settings import Settings, SmtpSecurity
from domain.db import session_scope
from notifications.inbound import parse_headers
from notifications.inbox import Source, find_message, process_message, process_oversized
from services.answers import remove_written

log = logging.getLogger(__name__)

DONE_KEYWORD = "$RoadmapDone"


class ImapError(RuntimeError):
    """The mailbox cannot be read; the message says which setting to check."""


@dataclass
class InboxReport:
    seen: int = 0  # new messages found on the server
    answered: int = 0
    partial: int = 0
    review: int = 0
    ignored: int = 0
    refused: int = 0
    already: int = 0  # recorded before (a re-run after a crash, or a duplicate copy)
    failed: int = 0  # left unflagged for the next run
    errors: list[str] = field(default_factory=list)


def _check(result: tuple[str, list[Any]], what: str) -> list[Any]:
    status, data = result
    if status != "OK":
        raise ImapError(f"IMAP {what}: {status} {data!r}")
    return data


def mailbox_name(name: str) -> str:
    """A mailbox name in IMAP's modified UTF-7 (RFC 3501 5.1.3): «Обработано» works."""
    out: list[str] = []
    pending: list[str] = []

    def flush() -> None:
        if pending:
            data = "".join(pending).encode("utf-16-be")
            encoded = base64.b64encode(data).decode("ascii").rstrip("=").replace("/", ",")
            out.append(f"&{encoded}-")
            pending.clear()

    for ch in name:
        if 0x20 <= ord(ch) <= 0x7E:
            flush()
            out.append("&-" if ch == "&" else ch)
        else:
            pending.append(ch)
    flush()
    return "".join(out)


def _quote(mailbox: str) -> str:
    name = mailbox_name(mailbox)
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


@contextmanager
def connect(settings: Settings) -> Iterator[imaplib.IMAP4]:
    """A logged-in connection with the inbox mailbox selected (read-write)."""
    if not settings.imap_host:
        raise ImapError("ROADMAP_IMAP_HOST is not set: there is no mailbox to read")
    try:
        if settings.imap_tls is SmtpSecurity.tls:
            conn: imaplib.IMAP4 = imaplib.IMAP4_SSL(
                settings.imap_host,
                settings.imap_port,
                ssl_context=ssl.create_default_context(),
                timeout=settings.imap_timeout,
            )
        else:
            conn = imaplib.IMAP4(settings.imap_host, settings.imap_port, settings.imap_timeout)
            if settings.imap_tls is SmtpSecurity.starttls:
                conn.starttls(ssl.create_default_context())
    except OSError as exc:
        raise ImapError(
            f"cannot connect to ROADMAP_IMAP_HOST {settings.imap_host}:{settings.imap_port}: {exc}"
        ) from None
    try:
        password = settings.imap_password.get_secret_value() if settings.imap_password else ""
        try:
            conn.login(settings.imap_username or "", password)
        except imaplib.IMAP4.error as exc:
            raise ImapError(
                f"IMAP login refused for ROADMAP_IMAP_USERNAME {settings.imap_username!r}: {exc}"
            ) from None
        _check(conn.select(_quote(settings.imap_mailbox)), f"select {settings.imap_mailbox}")
        yield conn
    finally:
        with suppress(imaplib.IMAP4.error, OSError):
            conn.logout()


def _uid_validity(conn: imaplib.IMAP4, mailbox: str) -> int:
    _, data = conn.response("UIDVALIDITY")
    value = data[0] if data else None
    if isinstance(value, bytes) and value.strip().isdigit():
        return int(value)
    status = _check(conn.status(_quote(mailbox), "(UIDVALIDITY)"), "status")
    m = re.search(rb"UIDVALIDITY (\d+)", status[0] if isinstance(status[0], bytes) else b"")
    return int(m[1]) if m else 0


def new_uids(conn: imaplib.IMAP4) -> list[int]:
    """Messages not yet flagged as processed, oldest first."""
    data = _check(conn.uid("SEARCH", "UNKEYWORD", DONE_KEYWORD), "search")
    raw = data[0] if data and isinstance(data[0], bytes) else b""
    return sorted(int(u) for u in raw.split())


def _size(conn: imaplib.IMAP4, uid: int) -> int:
    data = _check(conn.uid("FETCH", str(uid), "(RFC822.SIZE)"), "fetch size")
    for item in data:
        text = item[0] if isinstance(item, tuple) else item
        if isinstance(text, bytes) and (m := re.search(rb"RFC822\.SIZE (\d+)", text)):
            return int(m[1])
    raise ImapError(f"IMAP fetch size: no RFC822.SIZE for UID {uid}")


def _fetch(conn: imaplib.IMAP4, uid: int, what: str) -> bytes:
    data = _check(conn.uid("FETCH", str(uid), f"({what})"), "fetch")
    for item in data:
        if isinstance(item, tuple) and isinstance(item[1], bytes):
            return item[1]
    raise ImapError(f"IMAP fetch: UID {uid} has no {what}")


def mark_done(conn: imaplib.IMAP4, uid: int, settings: Settings) -> None:
    """Flag a processed message (and move it, when a processed mailbox is set)."""
    _check(conn.uid("STORE", str(uid), "+FLAGS", f"({DONE_KEYWORD} \\Seen)"), "store")
    target = settings.imap_processed_mailbox
    if target:
        conn.create(_quote(target))  # fails harmlessly when it exists
        _check(conn.uid("MOVE", str(uid), _quote(target)), f"move to {target}")


def wait_for_mail(settings: Settings, timeout: float) -> bool:
    """Wait up to `timeout` seconds for new mail with IMAP IDLE (RFC 2177); True when the
    server announced a message. A server without IDLE makes this a plain wait."""
    with connect(settings) as conn:
        if new_uids(conn):
            return True  # arrived since the last pass, before this wait began
        if "IDLE" not in conn.capabilities:
            time.sleep(timeout)
            return False
        tag = b"RMIDLE"
        conn.send(tag + b" IDLE\r\n")
        if not conn.readline().startswith(b"+"):
            raise ImapError("IMAP IDLE refused by the server")
        announced = False
        deadline = time.monotonic() + timeout
        try:
            while not announced:
                left = deadline - time.monotonic()
                if left <= 0 or not select.select([conn.sock], [], [], left)[0]:
                    break
                line = conn.readline()
                if not line:
                    raise ImapError("IMAP connection closed during IDLE")
                announced = line.startswith(b"*") and (b" EXISTS" in line or b" RECENT" in line)
        finally:
            conn.send(b"DONE\r\n")
            while not (line := conn.readline()).startswith(tag):
                if not line:
                    break
        return announced


def read_inbox(*, engine: Engine, settings: Settings, clock: Callable[[], datetime]) -> InboxReport:
    """One pass over the mailbox: every new message recorded, applied and flagged."""
    report = InboxReport()
    with connect(settings) as conn:
        validity = _uid_validity(conn, settings.imap_mailbox)
        uids = new_uids(conn)
        report.seen = len(uids)
        for uid in uids:
            source = Source(settings.imap_mailbox, validity, uid)
            try:
                outcome = _one(conn, uid, source, engine=engine, settings=settings, clock=clock)
            except ImapError:
                raise
            except Exception as exc:  # one bad message must not stop the others
                log.exception("inbox: UID %s failed", uid)
                report.failed += 1
                report.errors.append(f"UID {uid}: {type(exc).__name__}: {exc}")
                continue
            setattr(report, outcome, getattr(report, outcome) + 1)
            mark_done(conn, uid, settings)
    return report


def _one(
    conn: imaplib.IMAP4,
    uid: int,
    source: Source,
    *,
    engine: Engine,
    settings: Settings,
    clock: Callable[[], datetime],
) -> str:
    """Record one message; returns the report counter it adds to."""
    size = _size(conn, uid)
    if size > settings.inbox_max_bytes:
        headers = _fetch(conn, uid, "BODY.PEEK[HEADER]")
        key = parse_headers(headers)[0]
        try:
            with session_scope(engine) as session:
                if find_message(session, key) is not None:
                    return "already"
                row = process_oversized(
                    session,
                    headers=headers,
                    size=size,
                    source=source,
                    settings=settings,
                    now=clock(),
                )
                return row.status
        except IntegrityError:
            return "already"
    raw = _fetch(conn, uid, "BODY.PEEK[]")
    written: list[Path] = []
    try:
        with session_scope(engine) as session:
            key = parse_headers(raw)[0]
            if find_message(session, key) is not None:
                return "already"
            row = process_message(
                session, raw=raw, source=source, settings=settings, now=clock(), written=written
            )
            status = row.status
    except IntegrityError:
        # another reader recorded the same message (or the same UID) first
        remove_written(written)
        return "already"
    except BaseException:
        remove_written(written)
        raise
    return status
