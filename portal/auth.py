"""Administrators: password hashes (argon2), the signed session cookie, CSRF tokens."""

from __future__ import annotations

import base64
import binascii
import contextlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from itsdangerous import BadSignature, SignatureExpired, TimestampSigner, URLSafeTimedSerializer
from sqlmodel import Session, select

from config.settings import Settings
from domain.access import AdminUser

SESSION_COOKIE = "roadmap_admin"
SESSION_MAX_AGE = timedelta(hours=12)
_SESSION_SALT = "roadmap.admin-session.v1"
PASSWORD_MIN_LENGTH = 10

_hasher = PasswordHasher()
# Verifying against this keeps a login for an unknown email as slow as a real one.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


class AdminError(ValueError):
    pass


def normalise_email(email: str) -> str:
    return email.strip().lower()


def hash_password(password: str) -> str:
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
        raise AdminError(f"{email!r} is not an email address")
    if len(password) < PASSWORD_MIN_LENGTH:
        raise AdminError(f"the password must have at least {PASSWORD_MIN_LENGTH} characters")
    admin = session.exec(select(AdminUser).where(AdminUser.email == address)).first()
    if admin is not None and not replace:
        raise AdminError(f"administrator {address} already exists (use --replace to reset)")
    if admin is None:
        admin = AdminUser(email=address, name=name, password_hash="", created_at=now)
    elif name:
        admin.name = name
    admin.password_hash = hash_password(password)
    admin.active = True
    session.add(admin)
    session.flush()
    return admin


def authenticate(*, session: Session, email: str, password: str) -> AdminUser | None:
    """The active administrator with this email and password, or None."""
    admin = session.exec(select(AdminUser).where(AdminUser.email == normalise_email(email))).first()
    if admin is None or not admin.active:
        with contextlib.suppress(VerificationError):
            _hasher.verify(_DUMMY_HASH, password)
        return None
    try:
        _hasher.verify(admin.password_hash, password)
    except (VerificationError, InvalidHashError):
        return None
    if _hasher.check_needs_rehash(admin.password_hash):
        admin.password_hash = hash_password(password)
        session.add(admin)
    return admin


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
    """What the signed cookie carries: who (None before login) and the CSRF token."""

    admin_id: int | None
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

    def new(self, admin_id: int | None) -> AdminSession:
        return AdminSession(admin_id=admin_id, csrf=secrets.token_urlsafe(32))

    def dumps(self, value: AdminSession) -> str:
        return str(self._serializer.dumps({"a": value.admin_id, "c": value.csrf}))

    def loads(self, cookie: str | None) -> AdminSession | None:
        if not cookie:
            return None
        try:
            data = self._serializer.loads(cookie, max_age=int(SESSION_MAX_AGE.total_seconds()))
        except (BadSignature, SignatureExpired):
            return None
        if not isinstance(data, dict):
            return None
        admin_id, csrf = data.get("a"), data.get("c")
        if not isinstance(csrf, str) or not (admin_id is None or isinstance(admin_id, int)):
            return None
        return AdminSession(admin_id=admin_id, csrf=csrf)
