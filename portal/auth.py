"""Administrators: password hashes (argon2, a few at a time), login attempts and their
limits, sessions kept in the database behind a signed cookie, CSRF tokens."""

from __future__ import annotations

import base64
import binascii
import contextlib
import functools
import hashlib
import hmac
import math
import secrets
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from itsdangerous import BadSignature, SignatureExpired, TimestampSigner, URLSafeTimedSerializer
from sqlalchemy import Engine, delete, or_
from sqlmodel import Session, col, func, select

from config.settings import Settings
from domain.access import AdminSessionRecord, AdminUser, LoginAttempt
from domain.db import session_scope

SESSION_COOKIE = "roadmap_admin"
SESSION_MAX_AGE = timedelta(hours=12)
_SESSION_SALT = "roadmap.admin-session.v1"
PASSWORD_MIN_LENGTH = 10

_hasher = PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    """Verifying against this keeps a login for an unknown email as slow as a real one.
    Made on first use: an argon2 hash costs every process that imports this half a
    second otherwise (each `roadmap` command does)."""
    return _hasher.hash(secrets.token_urlsafe(16))


# Each argon2 hash or check takes about 64 MiB for a moment: only this many at once per
# process; the others queue, and give up after HASH_WAIT_SECONDS.
HASH_SLOTS = 2
HASH_WAIT_SECONDS = 20.0
_hash_slots = threading.BoundedSemaphore(HASH_SLOTS)

# Login attempts: this many failures (per account and per address, since the last success,
# within LOGIN_LOOKBACK) are free; then each waits FIRST_WAIT, doubling, up to MAX_WAIT.
LOGIN_FREE_FAILURES = 5
LOGIN_FIRST_WAIT = timedelta(minutes=1)
LOGIN_MAX_WAIT = timedelta(minutes=15)
LOGIN_LOOKBACK = timedelta(hours=24)
# Rows nobody reads any more are deleted at each login attempt: attempts older than
# LOGIN_LOOKBACK (the limits never look back further), and sessions a day after they
# ended or expired.
DEAD_SESSION_KEPT = timedelta(hours=24)


class AdminError(ValueError):
    pass


class HashingBusy(RuntimeError):
    """Every hashing slot stayed busy: the caller answers 503 and asks to retry."""


@contextlib.contextmanager
def hash_slot() -> Iterator[None]:
    if not _hash_slots.acquire(timeout=HASH_WAIT_SECONDS):
        raise HashingBusy("password hashing is busy; try again in a few seconds")
    try:
        yield
    finally:
        _hash_slots.release()


def normalise_email(email: str) -> str:
    return email.strip().lower()


def hash_password(password: str) -> str:
    with hash_slot():
        return _hasher.hash(password)


def create_admin(
    *,
    session: Session,
    email: str,
    password: str,
    name: str = "",
    now: datetime,
    replace: bool = False,
) -> AdminUser:
    """Add an administrator (or, with `replace`, set a new password). Does not commit."""
    address = normalise_email(email)
    local, _, domain = address.partition("@")
    if not local or "." not in domain or any(c.isspace() for c in address):
        raise AdminError(f"{email!r} — не адрес электронной почты")
    if len(password) < PASSWORD_MIN_LENGTH:
        raise AdminError(f"пароль должен быть не короче {PASSWORD_MIN_LENGTH} символов")
    admin = session.exec(select(AdminUser).where(AdminUser.email == address)).first()
    if admin is not None and not replace:
        raise AdminError(
            f"администратор {address} уже есть (чтобы сменить пароль, добавьте --replace)"
        )
    if admin is None:
        admin = AdminUser(email=address, name=name, password_hash="", created_at=now)
    elif name:
        admin.name = name
    admin.password_hash = hash_password(password)
    admin.active = True
    session.add(admin)
    session.flush()
    if replace and admin.id is not None:
        end_sessions(session=session, admin_id=admin.id, now=now)
    return admin


def deactivate_admin(*, session: Session, email: str, now: datetime) -> int:
    """Switch an administrator off and end their sessions; returns how many ended."""
    address = normalise_email(email)
    admin = session.exec(select(AdminUser).where(AdminUser.email == address)).first()
    if admin is None or admin.id is None:
        raise AdminError(f"администратора {address} нет")
    admin.active = False
    session.add(admin)
    return end_sessions(session=session, admin_id=admin.id, now=now)


def authenticate(*, session: Session, email: str, password: str) -> AdminUser | None:
    """The active administrator with this email and password, or None (no limits: the
    portal goes through `attempt_login`)."""
    with hash_slot():
        return _authenticate(session, email, password)


def _authenticate(session: Session, email: str, password: str) -> AdminUser | None:
    admin = session.exec(select(AdminUser).where(AdminUser.email == normalise_email(email))).first()
    if admin is None or not admin.active:
        with contextlib.suppress(VerificationError):
            _hasher.verify(_dummy_hash(), password)
        return None
    try:
        _hasher.verify(admin.password_hash, password)
    except (VerificationError, InvalidHashError):
        return None
    if _hasher.check_needs_rehash(admin.password_hash):
        admin.password_hash = _hasher.hash(password)  # already inside a hashing slot
        session.add(admin)
    return admin


# --- login attempts -----------------------------------------------------------------------


def _wait_for(session: Session, where: Any, now: datetime) -> int:
    """Seconds still to wait for the attempts matching `where`; 0 when a try is allowed."""
    since = now - LOGIN_LOOKBACK
    last_success = session.exec(
        select(func.max(LoginAttempt.at)).where(where, col(LoginAttempt.succeeded))
    ).one()
    if last_success is not None and last_success > since:
        since = last_success
    count, latest = session.exec(
        select(func.count(), func.max(LoginAttempt.at)).where(
            where, col(LoginAttempt.succeeded).is_(False), LoginAttempt.at > since
        )
    ).one()
    if count < LOGIN_FREE_FAILURES or latest is None:
        return 0
    doublings = min(int(count) - LOGIN_FREE_FAILURES, 20)
    wait: timedelta = min(LOGIN_FIRST_WAIT * (2**doublings), LOGIN_MAX_WAIT)
    left: float = (latest + wait - now).total_seconds()
    return max(0, math.ceil(left))


def login_wait(*, session: Session, email: str, address: str, now: datetime) -> int:
    """Seconds before this account may be tried again from this address (0: now)."""
    return max(
        _wait_for(session, LoginAttempt.email == normalise_email(email)[:254], now),
        _wait_for(session, LoginAttempt.address == address[:64], now),
    )


@dataclass(frozen=True)
class LoginOutcome:
    """A login attempt: the administrator, or `retry_after` seconds when it was refused
    without looking at the password."""

    admin_id: int | None
    email: str
    retry_after: int = 0


def attempt_login(
    *, engine: Engine, email: str, password: str, address: str, now: datetime
) -> LoginOutcome:
    """Check a password within the limits and record the attempt (its own transaction).

    The limits are read again once a hashing slot is ours, so that parallel guesses
    queue behind each other and the later ones find the account held back."""
    who, where = normalise_email(email)[:254], address[:64]
    with session_scope(engine) as session:
        wait = login_wait(session=session, email=who, address=where, now=now)
    if wait:
        return LoginOutcome(None, who, wait)
    with hash_slot(), session_scope(engine) as session:
        wait = login_wait(session=session, email=who, address=where, now=now)
        if wait:
            return LoginOutcome(None, who, wait)
        admin = _authenticate(session, who, password)
        session.add(LoginAttempt(at=now, email=who, address=where, succeeded=admin is not None))
        prune_account_rows(session=session, now=now)
        return LoginOutcome(admin.id if admin is not None else None, who)


def prune_account_rows(*, session: Session, now: datetime) -> tuple[int, int]:
    """Delete login attempts the limits no longer read and sessions dead for a day;
    returns (attempts, sessions) deleted. Does not commit."""
    attempts = session.exec(
        delete(LoginAttempt).where(col(LoginAttempt.at) < now - LOGIN_LOOKBACK)
    ).rowcount
    dead_before = now - DEAD_SESSION_KEPT
    sessions = session.exec(
        delete(AdminSessionRecord).where(
            or_(
                col(AdminSessionRecord.expires_at) < dead_before,
                col(AdminSessionRecord.ended_at) < dead_before,
            )
        )
    ).rowcount
    return int(attempts), int(sessions)


# --- server-side sessions -----------------------------------------------------------------


def _key_hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def start_session(*, session: Session, admin_id: int, now: datetime) -> str:
    """A new session for the administrator; returns the key the cookie carries."""
    key = secrets.token_urlsafe(32)
    session.add(
        AdminSessionRecord(
            key_hash=_key_hash(key),
            admin_id=admin_id,
            created_at=now,
            expires_at=now + SESSION_MAX_AGE,
        )
    )
    session.flush()
    return key


def session_admin(*, session: Session, key: str | None, now: datetime) -> AdminUser | None:
    """The active administrator of a live session, or None."""
    if not key or len(key) > 200:
        return None
    row = session.exec(
        select(AdminSessionRecord).where(AdminSessionRecord.key_hash == _key_hash(key))
    ).first()
    if row is None or row.ended_at is not None or row.expires_at <= now:
        return None
    admin = session.get(AdminUser, row.admin_id)
    return admin if admin is not None and admin.active else None


def end_session(*, session: Session, key: str | None, now: datetime) -> None:
    if not key:
        return
    row = session.exec(
        select(AdminSessionRecord).where(AdminSessionRecord.key_hash == _key_hash(key))
    ).first()
    if row is not None and row.ended_at is None:
        row.ended_at = now
        session.add(row)


def end_sessions(*, session: Session, admin_id: int, now: datetime) -> int:
    """End every live session of an administrator; returns how many."""
    rows = session.exec(
        select(AdminSessionRecord).where(
            AdminSessionRecord.admin_id == admin_id, col(AdminSessionRecord.ended_at).is_(None)
        )
    ).all()
    for row in rows:
        row.ended_at = now
        session.add(row)
    session.flush()
    return len(rows)


def basic_credentials(header: str | None) -> tuple[str, str] | None:
    """(email, password) from an `Authorization: Basic …` header."""
    if not header:
        return None
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    email, sep, password = decoded.partition(":")
    return (email, password) if sep else None


# --- the session cookie -------------------------------------------------------------------


@dataclass(frozen=True)
class AdminSession:
    """What the signed cookie carries: the key of the server-side session (None before
    login) and the CSRF token."""

    key: str | None
    csrf: str

    def csrf_ok(self, presented: str | None) -> bool:
        return bool(presented) and hmac.compare_digest(self.csrf.encode(), str(presented).encode())


class _ClockSigner(TimestampSigner):
    """A timestamp signer that reads the app's clock, so tests can move time."""

    def __init__(self, *args: Any, clock: Callable[[], datetime], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clock = clock

    def get_timestamp(self) -> int:
        return int(self._clock().timestamp())


class SessionCodec:
    def __init__(self, settings: Settings, clock: Callable[[], datetime]) -> None:
        self._serializer = URLSafeTimedSerializer(
            settings.secret_key.get_secret_value(),
            salt=_SESSION_SALT,
            signer=_ClockSigner,
            signer_kwargs={"clock": clock},
        )
        self.secure = settings.portal_url.startswith("https://")

    def new(self, key: str | None) -> AdminSession:
        return AdminSession(key=key, csrf=secrets.token_urlsafe(32))

    def dumps(self, value: AdminSession) -> str:
        return str(self._serializer.dumps({"k": value.key, "c": value.csrf}))

    def loads(self, cookie: str | None) -> AdminSession | None:
        if not cookie:
            return None
        try:
            data = self._serializer.loads(cookie, max_age=int(SESSION_MAX_AGE.total_seconds()))
        except (BadSignature, SignatureExpired):
            return None
        if not isinstance(data, dict):
            return None
        key, csrf = data.get("k"), data.get("c")
        if not isinstance(csrf, str) or not (key is None or isinstance(key, str)):
            return None
        return AdminSession(key=key, csrf=csrf)
