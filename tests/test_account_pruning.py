"""Login attempts and administrators' sessions do not pile up: each login attempt deletes
the attempts the limits no longer read (older than a day) and the sessions that ended or
expired more than a day ago; everything the limits and live sessions need stays."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from domain.access import AdminSessionRecord, LoginAttempt
from portal.auth import (
    LOGIN_FREE_FAILURES,
    attempt_login,
    create_admin,
    session_admin,
    start_session,
)

NOW = datetime(2023, 3, 1, 9, 0, tzinfo=UTC)
EMAIL = "metodist@imcso.example"
PASSWORD = "верный-пароль-2022"


def _admin(engine: Engine) -> int:
    with Session(engine) as s:
        admin = create_admin(session=s, email=EMAIL, password=PASSWORD, now=NOW - timedelta(days=9))
        s.commit()
        assert admin.id is not None
        return admin.id


def _session_row(
    admin_id: int, mark: str, *, created: datetime, ended: datetime | None = None
) -> AdminSessionRecord:
    """A session row told apart by its hash's first letter (p-s are never hex)."""
    return AdminSessionRecord(
        key_hash=mark * 64,
        admin_id=admin_id,
        created_at=created,
        expires_at=created + timedelta(hours=12),
        ended_at=ended,
    )


def test_a_login_deletes_old_attempts_and_dead_sessions_only(any_engine: Engine) -> None:
    admin_id = _admin(any_engine)
    with Session(any_engine) as s:
        for hours in (49, 25):  # beyond the limits' day: read by nothing
            s.add(LoginAttempt(at=NOW - timedelta(hours=hours), email=EMAIL, address="10.0.0.9"))
        s.add(LoginAttempt(at=NOW - timedelta(hours=23), email=EMAIL, address="10.0.0.9"))
        s.add(_session_row(admin_id, "p", created=NOW - timedelta(days=3)))  # expired 2.5 days
        s.add(
            _session_row(
                admin_id, "q", created=NOW - timedelta(hours=30), ended=NOW - timedelta(hours=29)
            )
        )  # ended 29 hours ago (it had not yet expired)
        s.add(_session_row(admin_id, "r", created=NOW - timedelta(hours=20)))  # expired 8 h ago
        s.add(
            _session_row(
                admin_id, "s", created=NOW - timedelta(hours=2), ended=NOW - timedelta(hours=1)
            )
        )  # logged out an hour ago
        s.commit()
    with Session(any_engine) as s:
        live = start_session(session=s, admin_id=admin_id, now=NOW - timedelta(hours=1))
        s.commit()

    got = attempt_login(
        engine=any_engine, email=EMAIL, password="не тот пароль", address="10.0.0.9", now=NOW
    )
    assert got.admin_id is None and got.retry_after == 0

    with Session(any_engine) as s:
        attempts = s.exec(select(LoginAttempt).order_by(col(LoginAttempt.at))).all()
        assert [a.at for a in attempts] == [NOW - timedelta(hours=23), NOW]
        kept = {row.key_hash[0] for row in s.exec(select(AdminSessionRecord))}
        # p and q died more than a day ago; r, s and the live one (a hex hash) stay
        assert kept & set("pqrs") == {"r", "s"} and len(kept) == 3
        found = session_admin(session=s, key=live, now=NOW)
        assert found is not None and found.id == admin_id


def test_pruning_keeps_what_the_login_limits_count(any_engine: Engine) -> None:
    _admin(any_engine)
    with Session(any_engine) as s:
        for n in range(LOGIN_FREE_FAILURES - 1):
            s.add(LoginAttempt(at=NOW - timedelta(hours=2, minutes=n), email=EMAIL, address="x"))
        s.add(LoginAttempt(at=NOW - timedelta(days=3), email=EMAIL, address="x"))
        s.commit()
    first = attempt_login(engine=any_engine, email=EMAIL, password="мимо", address="x", now=NOW)
    assert first.admin_id is None and first.retry_after == 0
    # the fifth failure within the day was recorded; the next try waits, pruning or not
    held = attempt_login(
        engine=any_engine,
        email=EMAIL,
        password=PASSWORD,
        address="x",
        now=NOW + timedelta(seconds=1),
    )
    assert held.admin_id is None and held.retry_after > 0
    with Session(any_engine) as s:
        assert len(s.exec(select(LoginAttempt)).all()) == LOGIN_FREE_FAILURES
