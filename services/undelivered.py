"""Mail that did not arrive: permanent delivery failures and long-deferred mail, and the
centre's one action on them: fix the address and send again.

A message is *undelivered* when its row failed for good (a 5xx reply, or given up), or
when it is still being retried `mail_deferred_hours` after it was queued, and no row
resends it yet. Fixing the address writes the new address into the organisation's
contact field the mail went to, and queues every undelivered message to the old address
again to the new one, as a *new* row (`resent_from_id` -> the row it replaces), so the
old row keeps its history. Exactly once:

- the new row's Message-ID is made of the first message of the chain and the new
  address, and Message-IDs are unique: the same message is never queued twice to one
  address, however often the fix is posted;
- a row still being retried (or queued) is taken out of delivery by a conditional
  UPDATE (queued/retry -> failed, noted) in the same transaction that queues its
  replacement; a row a deliverer claimed first is left to it (nothing is queued for it).
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import ColumnElement, String, and_, case, cast, exists, func, or_, update
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from config.settings import Settings
from domain.emails import Notice, OutboxRun, OutgoingEmail
from domain.enums import EmailStatus
from domain.organisations import Organisation
from domain.roadmap import Roadmap, RoadmapItem
from domain.tasks import Task
from domain.undelivered import (
    FIELD_LABELS,
    AddressCorrection,
    fields_with,
    person_of,
    same_address,
)
from notifications.mime import Attachment, mail_domain
from notifications.outbox import queue_email

KIND_LABELS = {
    "opened": "новая задача",
    "reminder": "напоминание о сроке",
    "chase": "срок прошёл",
    "escalation": "эскалация",
    "nudge": "напоминание о записях",
    "receipt": "ответ получен",
    "returned": "возврат на доработку",
    "digest": "сводное письмо о задачах",
    "summary": "итоговый отчёт",
    "delivery_failure": "уведомление центра о недоставке",
    "queue_failure": "уведомление центра об ошибке",
    "inbox_reply": "ответ на письмо",
}
RESENT_NOTE = "не отправлялось больше: адрес исправлен на {address}, письмо отправлено заново"


class ResendError(Exception):
    """The fix cannot be made; `message` says why in Russian, `field` which input."""

    def __init__(self, message: str, *, field: str = "address", status: int = 422) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.status = status


# --- which rows ----------------------------------------------------------------------------


def deferred_since(now: datetime, settings: Settings) -> datetime:
    """Mail queued before this instant and still retried counts as long-deferred."""
    return now - timedelta(hours=settings.mail_deferred_hours)


def not_resent() -> ColumnElement[bool]:
    """No row resends this one (the fix of its address queued none)."""
    later = aliased(OutgoingEmail)
    return ~exists().where(col(later.resent_from_id) == col(OutgoingEmail.id))


def _failed() -> ColumnElement[bool]:
    return and_(col(OutgoingEmail.status) == EmailStatus.failed, not_resent())


def _deferred(since: datetime) -> ColumnElement[bool]:
    return and_(
        col(OutgoingEmail.status) == EmailStatus.retry,
        col(OutgoingEmail.created_at) <= since,
        not_resent(),
    )


def _in_roadmap(key: str) -> ColumnElement[bool]:
    """The message (or the first of its chain) told a task of the roadmap `key`."""
    origin = func.coalesce(col(OutgoingEmail.origin_id), col(OutgoingEmail.id))
    return exists().where(
        col(Notice.email_id) == origin,
        col(Task.id) == col(Notice.task_id),
        col(RoadmapItem.id) == col(Task.item_id),
        col(Roadmap.id) == col(RoadmapItem.roadmap_id),
        col(Roadmap.key) == key,
    )


def _undelivered(since: datetime, roadmap: str) -> list[ColumnElement[bool]]:
    where = [or_(_failed(), _deferred(since))]
    if roadmap:
        where.append(_in_roadmap(roadmap))
    return where


@dataclass(frozen=True)
class MailFigures:
    """What the overview shows about mail (and `/healthz` counts)."""

    failed: int
    deferred: int
    deferred_hours: float
    problem: str  # the last outbox run's configuration problem, "" when it had none
    problem_at: datetime | None


def mail_figures(session: Session, *, now: datetime, settings: Settings) -> MailFigures:
    since = deferred_since(now, settings)
    failed = session.exec(select(func.count()).select_from(OutgoingEmail).where(_failed())).one()
    deferred = session.exec(
        select(func.count()).select_from(OutgoingEmail).where(_deferred(since))
    ).one()
    last = session.exec(
        select(OutboxRun).order_by(col(OutboxRun.finished_at).desc(), col(OutboxRun.id).desc())
    ).first()
    problem = last.problem if last is not None else ""
    return MailFigures(
        failed=int(failed),
        deferred=int(deferred),
        deferred_hours=settings.mail_deferred_hours,
        problem=problem,
        problem_at=last.finished_at if last is not None and problem else None,
    )


# --- the list ------------------------------------------------------------------------------


@dataclass
class Undelivered:
    email: OutgoingEmail
    state: str  # "failed" or "deferred"
    kind_label: str
    organisation: Organisation | None
    field: str  # the organisation's contact field holding the address, "" if none does
    field_label: str
    person: str  # the name beside that field
    head_name: str
    roadmaps: list[str] = dataclasses.field(default_factory=list)
    task_ids: list[int] = dataclasses.field(default_factory=list)

    @property
    def reason(self) -> str:
        return self.email.last_error or "причина не записана"

    @property
    def address(self) -> str:
        return self.email.to_addr


def count_undelivered(
    session: Session, *, now: datetime, settings: Settings, roadmap: str = ""
) -> int:
    query = select(func.count()).select_from(OutgoingEmail)
    for cond in _undelivered(deferred_since(now, settings), roadmap):
        query = query.where(cond)
    return int(session.exec(query).one())


def list_undelivered(
    session: Session,
    *,
    now: datetime,
    settings: Settings,
    roadmap: str = "",
    offset: int = 0,
    limit: int = 100,
) -> list[Undelivered]:
    """A page of undelivered mail, the newest first, each with its organisation."""
    query = select(OutgoingEmail)
    for cond in _undelivered(deferred_since(now, settings), roadmap):
        query = query.where(cond)
    rows = session.exec(
        query.order_by(col(OutgoingEmail.created_at).desc(), col(OutgoingEmail.id).desc())
        .offset(offset)
        .limit(limit)
    ).all()
    return [describe(session, row) for row in rows]


def origin_of(row: OutgoingEmail) -> int:
    assert row.id is not None
    return row.origin_id if row.origin_id is not None else row.id


def describe(session: Session, row: OutgoingEmail) -> Undelivered:
    """The row with what the centre needs to act: the organisation and the field the
    address came from (through the tasks its notices name, else by the address)."""
    told = session.exec(
        select(Task.id, Task.organisation_id, Roadmap.key)
        .join(Notice, col(Notice.task_id) == col(Task.id))
        .join(RoadmapItem, col(RoadmapItem.id) == col(Task.item_id))
        .join(Roadmap, col(Roadmap.id) == col(RoadmapItem.roadmap_id))
        .where(Notice.email_id == origin_of(row))
        .order_by(col(Task.id))
    ).all()
    task_ids = list(dict.fromkeys(t for t, _, _ in told if t is not None))
    roadmaps = list(dict.fromkeys(k for _, _, k in told))
    org = organisation_of(session, row, [o for _, o, _ in told if o is not None])
    fields = fields_with(org, row.to_addr) if org is not None else []
    chosen = fields[0] if fields else ""
    return Undelivered(
        email=row,
        state="failed" if row.status is EmailStatus.failed else "deferred",
        kind_label=KIND_LABELS.get(row.kind, row.kind),
        organisation=org,
        field=chosen,
        field_label=FIELD_LABELS.get(chosen, ""),
        person=person_of(org, chosen) if org is not None and chosen else "",
        head_name=org.head_name if org is not None else "",
        roadmaps=roadmaps,
        task_ids=task_ids,
    )


def organisation_of(
    session: Session, row: OutgoingEmail, org_ids: list[int]
) -> Organisation | None:
    """The organisation a message was for: the one of its tasks whose contacts hold its
    address (or the first of its tasks), else one whose contacts hold the address."""
    told = [o for o in (session.get(Organisation, i) for i in dict.fromkeys(org_ids)) if o]
    for org in told:
        if fields_with(org, row.to_addr):
            return org
    if told:
        return told[0]
    for org in session.exec(select(Organisation).order_by(col(Organisation.id))).all():
        if fields_with(org, row.to_addr):
            return org
    return None


# --- fix and resend ------------------------------------------------------------------------


def valid_address(text: str) -> str:
    """The address as typed, checked and normalised; ResendError says what is wrong."""
    address = text.strip().removeprefix("mailto:").strip("<> ")
    if not address:
        raise ResendError("Укажите новый адрес электронной почты.")
    if any(c.isspace() or c in ",;" for c in address):
        raise ResendError(
            f"«{address}»: здесь пробел или несколько адресов; укажите один адрес вида имя@домен."
        )
    try:
        return validate_email(address, check_deliverability=False).normalized
    except EmailNotValidError:
        raise ResendError(
            f"«{address}» — неверный адрес электронной почты; укажите адрес вида имя@домен."
        ) from None


def resend_message_id(row: OutgoingEmail, address: str, settings: Settings) -> str:
    """One Message-ID per (first message of the chain, address): a second fix to the
    same address finds the row the first one queued."""
    digest = hashlib.sha1(address.strip().lower().encode("utf-8")).hexdigest()[:16]
    return f"<resend-{origin_of(row)}.{digest}@{mail_domain(settings)}>"


@dataclass(frozen=True)
class ResendResult:
    email_id: int
    organisation_id: int | None
    organisation: str
    field: str  # the contact field changed, "" when no record held the old address
    old_address: str
    new_address: str
    resent: list[int]  # the new rows queued (ids), one per undelivered message
    already: list[int]  # rows an earlier fix to the same address had queued


def _replace(addresses: list[str], old: str, new: str) -> list[str]:
    out: list[str] = []
    for a in addresses:
        b = new if same_address(a, old) else a
        if not any(same_address(b, c) for c in out):
            out.append(b)
    return out


def _undelivered_to(session: Session, old: str, now: datetime, settings: Settings) -> list[int]:
    """Every row still owed to `old` (as To or Cc) that has not arrived: failed, retried
    or queued, not resent yet."""
    rows = session.exec(
        select(OutgoingEmail.id, OutgoingEmail.to_addr, OutgoingEmail.cc_addrs).where(
            col(OutgoingEmail.status).in_(
                [EmailStatus.failed, EmailStatus.retry, EmailStatus.queued]
            ),
            not_resent(),
            or_(
                func.lower(col(OutgoingEmail.to_addr)) == old.strip().lower(),
                cast(col(OutgoingEmail.cc_addrs), String).ilike(f"%{old.strip()}%"),
            ),
        )
    ).all()
    return sorted(
        i
        for i, to, cc in rows
        if i is not None and (same_address(to, old) or any(same_address(c, old) for c in cc))
    )


def fix_and_resend(
    session: Session,
    *,
    email_id: int,
    address: str,
    actor: str,
    now: datetime,
    settings: Settings,
) -> ResendResult:
    """Write `address` into the contact field the undelivered message `email_id` went to
    and queue every undelivered message to the old address again to the new one; the
    fix is recorded (AddressCorrection). Does not commit; ResendError changes nothing."""
    row = session.get(OutgoingEmail, email_id)
    if row is None:
        raise ResendError("Такого письма нет.", field="", status=404)
    new = valid_address(address)
    old = row.to_addr
    if same_address(new, old):
        raise ResendError(f"Новый адрес совпадает с прежним ({old}): укажите исправленный адрес.")
    later = session.exec(
        select(OutgoingEmail.id).where(OutgoingEmail.resent_from_id == row.id)
    ).first()
    if later is not None:
        raise ResendError(
            f"Письмо уже отправлено заново (письмо № {later}); исправляйте то письмо, если "
            "и оно не дошло.",
            field="",
            status=409,
        )
    if row.status not in (EmailStatus.failed, EmailStatus.retry):
        raise ResendError(
            "Письмо не числится недоставленным (оно отправлено или отправляется сейчас).",
            field="",
            status=409,
        )
    found = describe(session, row)
    org = found.organisation
    if org is not None and found.field:
        setattr(org, found.field, new)
        org.updated_at = now
        session.add(org)
    resent: list[int] = []
    already: list[int] = []
    ids = _undelivered_to(session, old, now, settings)
    if email_id not in ids:
        ids.insert(0, email_id)
    for old_id in ids:
        taken = _take_out_of_delivery(session, old_id, new)
        if taken is None:
            continue  # a deliverer has it now: its outcome decides
        message_id = resend_message_id(taken, new, settings)
        existing = session.exec(
            select(OutgoingEmail.id).where(OutgoingEmail.message_id == message_id)
        ).first()
        recipients = _replace([taken.to_addr, *taken.cc_addrs], old, new)
        copy = queue_email(
            session=session,
            kind=taken.kind,
            to=recipients[0],
            cc=recipients[1:],
            subject=taken.subject,
            text_body=taken.text_body,
            html_body=taken.html_body,
            attachments=[Attachment.from_row(a, email_id=taken.id) for a in taken.attachments],
            message_id=message_id,
            now=now,
            reply_to=taken.reply_to,
        )
        assert copy.id is not None
        if existing is not None:
            already.append(copy.id)
            continue
        copy.resent_from_id = taken.id
        copy.origin_id = origin_of(taken)
        session.add(copy)
        resent.append(copy.id)
    session.add(
        AddressCorrection(
            at=now,
            actor=actor,
            email_id=email_id,
            organisation_id=org.id if org is not None else None,
            field=found.field,
            old_address=old,
            new_address=new,
            resent=len(resent),
        )
    )
    session.flush()
    return ResendResult(
        email_id=email_id,
        organisation_id=org.id if org is not None else None,
        organisation=org.short_name if org is not None else "",
        field=found.field,
        old_address=old,
        new_address=new,
        resent=resent,
        already=already,
    )


def _take_out_of_delivery(session: Session, email_id: int, new: str) -> OutgoingEmail | None:
    """The row, once no deliverer can send it any more: a queued or retried row becomes
    failed with a note (a conditional UPDATE, so a row claimed meanwhile is left alone);
    None when a deliverer holds it (or it went out)."""
    note = RESENT_NOTE.format(address=new)
    changed = session.execute(
        update(OutgoingEmail)
        .where(
            col(OutgoingEmail.id) == email_id,
            col(OutgoingEmail.status).in_([EmailStatus.queued, EmailStatus.retry]),
        )
        .values(
            status=EmailStatus.failed,
            last_error=case(
                (col(OutgoingEmail.last_error) == "", note),
                else_=col(OutgoingEmail.last_error) + "; " + note,
            ),
        )
        .execution_options(synchronize_session=False)
    )
    del changed  # whatever the UPDATE did, the row as it is now decides
    row = session.get(OutgoingEmail, email_id)
    if row is None:
        return None
    session.refresh(row)
    return row if row.status is EmailStatus.failed else None


def undelivered_out(item: Undelivered) -> dict[str, Any]:
    """A list row as plain data (the JSON API)."""
    e = item.email
    org = item.organisation
    return {
        "id": e.id,
        "state": item.state,
        "reason": item.reason,
        "address": e.to_addr,
        "cc": list(e.cc_addrs),
        "subject": e.subject,
        "kind": e.kind,
        "kind_label": item.kind_label,
        "created_at": e.created_at,
        "next_attempt_at": e.next_attempt_at if e.status is EmailStatus.retry else None,
        "attempts": e.attempts,
        "organisation_id": org.id if org is not None else None,
        "organisation": org.short_name if org is not None else None,
        "head_name": item.head_name or None,
        "field": item.field or None,
        "field_label": item.field_label or None,
        "roadmaps": item.roadmaps,
        "task_ids": item.task_ids,
    }
