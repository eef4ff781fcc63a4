"""Personal links: signed, scoped to one task (or one organisation's page), expiring,
revocable. The signature stops tampering; the row says who, until when, and if revoked."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Any

from itsdangerous import BadSignature, URLSafeSerializer
from sqlmodel import Session, col, select

from config.settings import Settings
from domain.access import AccessLink
from domain.deputies import DEPUTY_ROLE, deputy_holds, is_deputy_address
from domain.formatting import local_date
from domain.organisations import Organisation
from domain.tasks import Task

_TASK_SALT = "roadmap.task-link.v1"
_ORG_SALT = "roadmap.org-link.v1"
ORG_LINK_DAYS = 400


class LinkProblem(StrEnum):
    tampered = "tampered"
    unknown = "unknown"
    expired = "expired"
    revoked = "revoked"
    deputy_ended = "deputy_ended"  # mailed to a deputy whose period does not hold today


class LinkError(Exception):
    def __init__(self, problem: LinkProblem) -> None:
        super().__init__(problem.value)
        self.problem = problem


def _serializer(settings: Settings, salt: str) -> URLSafeSerializer:
    return URLSafeSerializer(settings.secret_key.get_secret_value(), salt=salt)


def _recipient_as(session: Session, organisation_id: int | None, recipient: str) -> tuple[str, str]:
    """(role, name) a link to `recipient` records: a deputy's link says so, so that the
    answer it gives is recorded as the deputy's and it stops when the deputy does."""
    org = session.get(Organisation, organisation_id) if organisation_id is not None else None
    if org is not None and is_deputy_address(org, recipient):
        return DEPUTY_ROLE, org.deputy_name
    return "", ""


def _mark_recipient(session: Session, link: AccessLink) -> None:
    link.recipient_role, link.recipient_name = _recipient_as(
        session, link.organisation_id, link.recipient
    )


def task_link_expiry(task: Task, settings: Settings) -> datetime:
    """End of the day `link_days_after_due` days after the task's due date."""
    last = task.due + timedelta(days=settings.link_days_after_due)
    return datetime.combine(last, time(23, 59, 59), tzinfo=settings.tz).astimezone(UTC)


def issue_task_link(
    *,
    session: Session,
    task: Task,
    recipient: str,
    settings: Settings,
    now: datetime,
    reissue: bool = False,
) -> str:
    """The URL of `recipient`'s link to `task`; the same link is reused while valid and
    its expiry follows the task's due date (a returned task gets a later one).

    A revocation sticks: when the centre revoked the recipient's link to the task and no
    live one has been issued since, this returns the URL of the revoked link (it opens the
    "link revoked" page) and creates nothing, so neither the organisation's page nor a
    reminder hands out a working link. Only `reissue=True` (an administrator passing the
    link on) creates a new one."""
    assert task.id is not None
    link = _live_task_link(session, task.id, recipient)
    if link is None and not reissue:
        revoked = _revoked_task_link(session, task.id, recipient)
        if revoked is not None:
            return _task_url(revoked, task.id, settings)
    expires = task_link_expiry(task, settings)
    if link is None:
        link = AccessLink(
            task_id=task.id,
            organisation_id=task.organisation_id,
            recipient=recipient,
            created_at=now,
            expires_at=expires,
        )
    elif link.expires_at < expires:
        link.expires_at = expires
    _mark_recipient(session, link)
    session.add(link)
    session.flush()
    return _task_url(link, task.id, settings)


def issue_task_links(
    *,
    session: Session,
    wanted: Sequence[tuple[Task, str]],
    settings: Settings,
    now: datetime,
) -> dict[tuple[int, str], str]:
    """`issue_task_link` for many (task, recipient) pairs at once, keyed by (task id,
    recipient): the same reuse, expiry and revocation rules, in a few reads and one
    flush instead of a read and a write per link."""
    tasks: dict[tuple[int, str], Task] = {}
    for task, recipient in wanted:
        assert task.id is not None
        tasks.setdefault((task.id, recipient), task)
    live: dict[tuple[int, str], AccessLink] = {}
    revoked: dict[tuple[int, str], AccessLink] = {}
    ids = sorted({task_id for task_id, _ in tasks})
    for start in range(0, len(ids), _READ_CHUNK):
        for link in session.exec(
            select(AccessLink)
            .where(col(AccessLink.task_id).in_(ids[start : start + _READ_CHUNK]))
            .order_by(col(AccessLink.id))
        ).all():
            assert link.task_id is not None
            key = (link.task_id, link.recipient)
            if key not in tasks:
                continue
            if link.revoked_at is None:
                live.setdefault(key, link)  # the oldest live one, as _live_task_link
            else:
                revoked[key] = link  # the newest revoked one, as _revoked_task_link
    urls: dict[tuple[int, str], str] = {}
    issued: dict[tuple[int, str], int] = {}
    new_keys: list[tuple[int, str]] = []
    new_rows: list[dict[str, Any]] = []
    for key, task in tasks.items():
        held = live.get(key)
        if held is None and key in revoked:
            urls[key] = _task_url(revoked[key], key[0], settings)
            continue
        expires = task_link_expiry(task, settings)
        role, name = _recipient_as(session, task.organisation_id, key[1])  # from the map
        if held is None:
            new_keys.append(key)
            new_rows.append(
                {
                    "task_id": task.id,
                    "organisation_id": task.organisation_id,
                    "recipient": key[1],
                    "recipient_role": role,
                    "recipient_name": name,
                    "created_at": now,
                    "expires_at": expires,
                    "revoked_at": None,
                }
            )
            continue
        if held.expires_at < expires:
            held.expires_at = expires
        held.recipient_role, held.recipient_name = role, name
        session.add(held)
        assert held.id is not None
        issued[key] = held.id
    issued.update(zip(new_keys, _insert_links(session, new_rows), strict=True))
    session.flush()
    serializer = _serializer(settings, _TASK_SALT)
    for key, link_id in issued.items():
        urls[key] = f"{settings.portal_url}/t/" + serializer.dumps({"l": link_id, "t": key[0]})
    return urls


def _insert_links(session: Session, rows: list[dict[str, Any]]) -> list[int]:
    """New AccessLink rows in multi-row INSERTs, their ids in the rows' order (no
    objects: a day's queue issues a link per task)."""
    if not rows:
        return []
    table = AccessLink.__table__  # type: ignore[attr-defined]
    statement = table.insert().returning(table.c.id, sort_by_parameter_order=True)
    return [link_id for (link_id,) in session.execute(statement, rows).all()]


def issue_org_links(
    *,
    session: Session,
    wanted: Sequence[tuple[int, str]],
    settings: Settings,
    now: datetime,
) -> dict[tuple[int, str], str]:
    """`issue_org_link` for many (organisation id, recipient) pairs at once."""
    keys = set(wanted)
    found: dict[tuple[int, str], AccessLink] = {}
    ids = sorted({org_id for org_id, _ in keys})
    for start in range(0, len(ids), _READ_CHUNK):
        for link in session.exec(
            select(AccessLink)
            .where(
                col(AccessLink.organisation_id).in_(ids[start : start + _READ_CHUNK]),
                AccessLink.task_id.is_(None),  # type: ignore[union-attr]
                AccessLink.revoked_at.is_(None),  # type: ignore[union-attr]
                AccessLink.expires_at > now,
            )
            .order_by(col(AccessLink.id))
        ).all():
            assert link.organisation_id is not None
            key = (link.organisation_id, link.recipient)
            if key in keys:
                found.setdefault(key, link)
    issued: dict[tuple[int, str], int] = {}
    for key, link in found.items():
        _mark_recipient(session, link)
        session.add(link)
        assert link.id is not None
        issued[key] = link.id
    missing = sorted(keys - set(found))
    rows: list[dict[str, Any]] = []
    for org_id, recipient in missing:
        role, name = _recipient_as(session, org_id, recipient)
        rows.append(
            {
                "task_id": None,
                "organisation_id": org_id,
                "recipient": recipient,
                "recipient_role": role,
                "recipient_name": name,
                "created_at": now,
                "expires_at": now + timedelta(days=ORG_LINK_DAYS),
                "revoked_at": None,
            }
        )
    issued.update(zip(missing, _insert_links(session, rows), strict=True))
    session.flush()
    serializer = _serializer(settings, _ORG_SALT)
    return {
        key: f"{settings.portal_url}/o/" + serializer.dumps({"l": link_id, "o": key[0]})
        for key, link_id in issued.items()
    }


_READ_CHUNK = 500  # ids per IN (...): well under both databases' parameter limits


def task_link_revoked(*, session: Session, task_id: int, recipient: str) -> bool:
    """True when the recipient's link to the task was revoked and no live one replaced it
    (then `issue_task_link` gives out no working link without `reissue`)."""
    return (
        _live_task_link(session, task_id, recipient) is None
        and _revoked_task_link(session, task_id, recipient) is not None
    )


def _live_task_link(session: Session, task_id: int, recipient: str) -> AccessLink | None:
    return session.exec(
        select(AccessLink)
        .where(
            AccessLink.task_id == task_id,
            AccessLink.recipient == recipient,
            AccessLink.revoked_at.is_(None),  # type: ignore[union-attr]
        )
        .order_by(col(AccessLink.id))
    ).first()


def _revoked_task_link(session: Session, task_id: int, recipient: str) -> AccessLink | None:
    return session.exec(
        select(AccessLink)
        .where(
            AccessLink.task_id == task_id,
            AccessLink.recipient == recipient,
            col(AccessLink.revoked_at).is_not(None),
        )
        .order_by(col(AccessLink.id).desc())
    ).first()


def _task_url(link: AccessLink, task_id: int, settings: Settings) -> str:
    token = _serializer(settings, _TASK_SALT).dumps({"l": link.id, "t": task_id})
    return f"{settings.portal_url}/t/{token}"


def issue_org_link(
    *, session: Session, organisation_id: int, recipient: str, settings: Settings, now: datetime
) -> str:
    """The URL of an organisation's own page (all its tasks), for digests."""
    link = session.exec(
        select(AccessLink).where(
            AccessLink.organisation_id == organisation_id,
            AccessLink.task_id.is_(None),  # type: ignore[union-attr]
            AccessLink.recipient == recipient,
            AccessLink.revoked_at.is_(None),  # type: ignore[union-attr]
            AccessLink.expires_at > now,
        )
    ).first()
    if link is None:
        link = AccessLink(
            organisation_id=organisation_id,
            recipient=recipient,
            created_at=now,
            expires_at=now + timedelta(days=ORG_LINK_DAYS),
        )
    _mark_recipient(session, link)
    session.add(link)
    session.flush()
    token = _serializer(settings, _ORG_SALT).dumps({"l": link.id, "o": organisation_id})
    return f"{settings.portal_url}/o/{token}"


def _resolve(
    session: Session, token: str, settings: Settings, now: datetime, salt: str, scope_key: str
) -> AccessLink:
    try:
        data = _serializer(settings, salt).loads(token)
    except BadSignature:
        raise LinkError(LinkProblem.tampered) from None
    if not isinstance(data, dict) or not isinstance(data.get("l"), int):
        raise LinkError(LinkProblem.tampered)
    link = session.get(AccessLink, data["l"])
    scoped = None if link is None else (link.task_id if scope_key == "t" else link.organisation_id)
    if link is None or scoped != data.get(scope_key):
        raise LinkError(LinkProblem.unknown)
    if scope_key == "o" and link.task_id is not None:
        raise LinkError(LinkProblem.unknown)
    if link.revoked_at is not None:
        raise LinkError(LinkProblem.revoked)
    if link.expires_at <= now:
        raise LinkError(LinkProblem.expired)
    if link.recipient_role == DEPUTY_ROLE and not deputy_link_holds(
        session, link, local_date(now, settings.tz)
    ):
        raise LinkError(LinkProblem.deputy_ended)
    return link


def deputy_link_holds(session: Session, link: AccessLink, day: date) -> bool:
    """A deputy's link opens while its recipient is still the organisation's deputy and
    the period holds on `day`; after that the organisation's tasks are the head's again."""
    org = session.get(Organisation, link.organisation_id) if link.organisation_id else None
    return is_deputy_address(org, link.recipient) and deputy_holds(org, day)


def resolve_task_token(
    *, session: Session, token: str, settings: Settings, now: datetime
) -> AccessLink:
    """The link a task token names; LinkError says why it is refused."""
    return _resolve(session, token, settings, now, _TASK_SALT, "t")


def resolve_org_token(
    *, session: Session, token: str, settings: Settings, now: datetime
) -> AccessLink:
    return _resolve(session, token, settings, now, _ORG_SALT, "o")


def revoke_links(*, session: Session, task_id: int, now: datetime) -> int:
    """Revoke every live link to a task; returns how many."""
    links = session.exec(
        select(AccessLink).where(
            AccessLink.task_id == task_id,
            AccessLink.revoked_at.is_(None),  # type: ignore[union-attr]
        )
    ).all()
    for link in links:
        link.revoked_at = now
        session.add(link)
    return len(links)
