"""Personal API tokens (`roadmap admin token EMAIL`): the JSON API's only credential.

A token is shown once when it is made; the database keeps its SHA-256 only, so a copy of
the table opens nothing. A browser never sends `Authorization: Bearer …` by itself, so no
page on another site can make an administrator's browser act through the API."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from sqlmodel import Session, col, select

from domain.access import AdminUser, ApiToken
from portal.auth import AdminError, normalise_email

TOKEN_PREFIX = "rmt_"
MAX_TOKEN_LENGTH = 200


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _admin(session: Session, email: str) -> AdminUser:
    who = normalise_email(email)
    admin = session.exec(select(AdminUser).where(AdminUser.email == who)).first()
    if admin is None:
        raise AdminError(
            f"администратора {who} нет: создайте его командой `roadmap admin create {who}`"
        )
    return admin


def issue_token(*, session: Session, email: str, now: datetime) -> str:
    """A new token for an active administrator; returns it (shown once, never stored)."""
    admin = _admin(session, email)
    if not admin.active:
        raise AdminError(f"администратор {admin.email} отключён: токен не выдан")
    assert admin.id is not None
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(ApiToken(token_hash=token_hash(token), admin_id=admin.id, created_at=now))
    session.flush()
    return token


def revoke_tokens(*, session: Session, email: str, now: datetime) -> int:
    """Revoke every live token of an administrator; returns how many."""
    admin = _admin(session, email)
    rows = session.exec(
        select(ApiToken).where(ApiToken.admin_id == admin.id, col(ApiToken.revoked_at).is_(None))
    ).all()
    for row in rows:
        row.revoked_at = now
        session.add(row)
    session.flush()
    return len(rows)


def bearer_token(header: str | None) -> str | None:
    """The token of an `Authorization: Bearer …` header, or None."""
    if not header:
        return None
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    value = value.strip()
    return value if value and len(value) <= MAX_TOKEN_LENGTH else None


def token_admin(*, session: Session, token: str | None, now: datetime) -> AdminUser | None:
    """The active administrator of a live token (recording its use), or None."""
    if not token:
        return None
    row = session.exec(select(ApiToken).where(ApiToken.token_hash == token_hash(token))).first()
    if row is None or row.revoked_at is not None:
        return None
    admin = session.get(AdminUser, row.admin_id)
    if admin is None or not admin.active:
        return None
    row.last_used_at = now
    session.add(row)
    return admin
