"""The outbox: owed notices become email rows (and Notice rows) in the caller's transaction.

Delivery (notifications/delivery.py) sends the rows later; writing them here, in the
same transaction as whatever made them owed, means a crash never loses a message and a
re-run never writes one twice: (task, kind, step) is unique in Notice and the
Message-ID is unique in OutgoingEmail.
"""

from __future__ import annotations

import hashlib
import logging
from array import array
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import Engine, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError
from sqlalchemy.orm import make_transient_to_detached
from sqlmodel import Session, col, select

from config.settings import Settings
from domain import lifecycle
from domain.calendar import RUSSIAN_CALENDAR
from domain.emails import Notice, OutgoingEmail
from domain.enums import EmailStatus, NoticeKind, TaskEventKind
from domain.notices import OwedNotice
from domain.reminders import Looked, Policy, scan_owed, series_step, write_next_looks
from domain.tasks import TaskEvent
from notifications.context import (
    ChaseSent,
    OverdueItem,
    ReopenedEntry,
    TaskParts,
    TaskView,
    chases_sent,
    chases_sent_to,
    due_event,
    entry_due_event,
    last_entry_day,
    load_task,
    load_tasks,
    overdue_items,
    receipt,
    reopened_entry,
    return_reason,
    task_view,
)
from notifications.ics import ICS_CONTENT_TYPE, ICS_FILENAME, DueEvent, due_calendar
from notifications.mime import Attachment, address_of, mail_domain
from notifications.render import render
from notifications.reply import reply_address
from services.links import issue_org_link, issue_org_links, issue_task_links

__all__ = [
    "Attachment",
    "DayQueued",
    "digest_message_id",
    "notice_message_id",
    "queue_day",
    "queue_email",
    "queue_notices",
]

log = logging.getLogger(__name__)

QUEUE_FAILURE_KIND = "queue_failure"

NoticeKey = tuple[int, NoticeKind, int]

_EVENT_FOR_KIND = {
    NoticeKind.reminder: TaskEventKind.reminded,
    NoticeKind.chase: TaskEventKind.chased,
    NoticeKind.escalation: TaskEventKind.escalated,
    NoticeKind.nudge: TaskEventKind.nudged,
}

# Kinds whose email carries the due date as a calendar entry.
_CALENDAR_KINDS = frozenset(
    {
        NoticeKind.opened,
        NoticeKind.reminder,
        NoticeKind.chase,
        NoticeKind.returned,
        NoticeKind.nudge,
    }
)


def notice_message_id(task_id: int, kind: NoticeKind | str, step: int, domain: str) -> str:
    return f"<task-{task_id}.{NoticeKind(kind).value}.{step}@{domain}>"


def digest_message_id(keys: Sequence[NoticeKey], domain: str) -> str:
    joined = "\n".join(sorted(f"{t}.{NoticeKind(k).value}.{s}" for t, k, s in keys))
    return f"<digest-{hashlib.sha1(joined.encode('utf-8')).hexdigest()[:20]}@{domain}>"


@lru_cache(maxsize=2)
def _insert_email(dialect: str) -> Any:
    """INSERT … ON CONFLICT (message_id) DO NOTHING RETURNING id, built once."""
    table = OutgoingEmail.__table__  # type: ignore[attr-defined]
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return insert(table).on_conflict_do_nothing(index_elements=["message_id"]).returning(table.c.id)


def queue_email(
    *,
    session: Session,
    kind: str,
    to: str,
    cc: Sequence[str] = (),
    subject: str,
    text_body: str,
    html_body: str,
    attachments: Sequence[Attachment] = (),
    message_id: str,
    now: datetime,
    reply_to: str = "",
) -> OutgoingEmail:
    """Put one message in the outbox, due now. Idempotent by `message_id`: if a row with
    that Message-ID exists (even one another transaction is writing), it is returned
    unchanged. Does not commit."""
    if not (message_id.startswith("<") and message_id.endswith(">") and "@" in message_id):
        raise ValueError(f"Message-ID must look like <local@domain>, got {message_id!r}")
    address_of(to)  # a clear error for a malformed recipient, before anything is written
    for addr in cc:
        address_of(addr)
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")

    def existing() -> OutgoingEmail | None:
        return session.exec(
            select(OutgoingEmail).where(OutgoingEmail.message_id == message_id)
        ).first()

    values = _email_values(
        kind=kind,
        to=to,
        cc=cc,
        subject=subject,
        text_body=text_body,
        html_body=html_body,
        attachments=attachments,
        message_id=message_id,
        now=now,
        reply_to=reply_to,
    )
    dialect = session.get_bind().dialect.name
    if dialect in ("postgresql", "sqlite"):
        # ON CONFLICT DO NOTHING: a row already there (or one a concurrent writer is
        # writing) wins quietly instead of failing the caller's whole transaction. A new
        # row is not read back: the object is built from the values written.
        session.flush()  # an unflushed row with this Message-ID conflicts as a flushed one
        new_id = session.execute(_insert_email(dialect), values).scalar()
        if new_id is None:
            found = existing()
            assert found is not None
            return found
        email = OutgoingEmail(id=new_id, **values)
        make_transient_to_detached(email)
        session.add(email)
        return email
    found = existing()
    if found is not None:
        return found
    email = OutgoingEmail(**values)
    session.add(email)
    session.flush()
    return email


def _email_values(
    *,
    kind: str,
    to: str,
    cc: Sequence[str],
    subject: str,
    text_body: str,
    html_body: str,
    attachments: Sequence[Attachment],
    message_id: str,
    now: datetime,
    reply_to: str,
    send_at: datetime | None = None,
) -> dict[str, Any]:
    """An outbox row's columns: queued, due at `send_at` (default: now)."""
    return {
        "message_id": message_id,
        "kind": kind,
        "to_addr": to,
        "cc_addrs": list(cc),
        "subject": subject,
        "text_body": text_body,
        "html_body": html_body,
        "attachments": [a.to_row() for a in attachments],
        "status": EmailStatus.queued,
        "attempts": 0,
        "created_at": now.astimezone(UTC),  # as a row read back has them
        "next_attempt_at": max(now, send_at or now).astimezone(UTC),
        "last_error": "",
        "reply_to": reply_to,
    }


def _write_email(session: Session, values: dict[str, Any]) -> int:
    """`queue_email` without an object, for a database without INSERT … ON CONFLICT
    (PostgreSQL and SQLite write a chunk's rows at once, `_write_emails`)."""
    found = session.exec(
        select(OutgoingEmail.id).where(OutgoingEmail.message_id == values["message_id"])
    ).first()
    if found is not None:
        return found
    email = OutgoingEmail(**values)
    session.add(email)
    session.flush()
    assert email.id is not None
    return email.id


# -- owed notices ---------------------------------------------------------------------


@dataclass(frozen=True)
class _Entry:
    """One notice in a group, with what its template shows."""

    notice: OwedNotice
    parts: TaskParts
    task: TaskView
    kind: str
    step: int
    days_before: int = 0
    days_overdue: int = 0
    earlier_chases: int = 0  # chases actually written before this one (a catch-up skips some)
    reason: str = ""
    version: int = 0
    fields: tuple[Any, ...] = ()
    submitted_at: str = ""
    submitted_by: str = ""
    last_entry: date | None = None
    reopened: ReopenedEntry | None = None  # a journal's returned entry, with its own date


def _key(notice: OwedNotice) -> NoticeKey:
    return (notice.task_id, NoticeKind(notice.kind), notice.step)


def _not_yet_noticed(session: Session, owed: Sequence[OwedNotice]) -> list[OwedNotice]:
    seen: set[NoticeKey] = set()
    task_ids = sorted({n.task_id for n in owed})
    if task_ids:
        rows = session.exec(
            select(Notice.task_id, Notice.kind, Notice.step).where(
                col(Notice.task_id).in_(task_ids)
            )
        ).all()
        seen.update((t, NoticeKind(k), s) for t, k, s in rows)
    fresh = []
    for notice in owed:
        key = _key(notice)
        if key not in seen:
            seen.add(key)
            fresh.append(notice)
    return fresh


@dataclass
class _Prefetched:
    """What every group's email needs, read (and links issued) for all groups at once
    instead of a few statements per task; anything missing here is looked up as before."""

    parts: dict[int, TaskParts] = field(default_factory=dict)
    task_links: dict[tuple[int, str], str] = field(default_factory=dict)
    org_links: dict[tuple[int, str], str] = field(default_factory=dict)
    # the chases written before, of the tasks a chase is owed for (None: not read)
    chases: dict[int, list[ChaseSent]] | None = None


def _addresses_ok(group: Sequence[OwedNotice]) -> bool:
    try:
        _check_address(group[0].recipient.strip())
        for notice in group:
            for addr in notice.cc:
                if addr and addr.strip():
                    _check_address(addr.strip())
    except GroupError:
        return False
    return True


def _prefetch(
    session: Session,
    groups: Sequence[Sequence[OwedNotice]],
    settings: Settings,
    now: datetime,
) -> _Prefetched:
    """The tasks of `groups` with their rows, their recipients' task links, and the
    organisation links of the digests that list all their tasks (a longer digest picks
    the ones it shows first, so its links are issued as it is written). Groups whose
    addresses are not addresses are left out: they are reported, and issue nothing."""
    usable = [g for g in groups if _addresses_ok(g)]
    parts = load_tasks(session, [n.task_id for g in usable for n in g])
    task_links = issue_task_links(
        session=session,
        wanted=[
            (parts[n.task_id].task, n.recipient)
            for g in usable
            for n in g
            if n.task_id in parts and NoticeKind(n.kind) is not NoticeKind.escalation
        ],
        settings=settings,
        now=now,
    )
    org_wanted: list[tuple[int, str]] = []
    for g in usable:
        if len(g) < 2 or len(g) > MAX_LISTED or NoticeKind(g[0].kind) is NoticeKind.escalation:
            continue
        for n in g:
            known = parts.get(n.task_id)
            if known is not None and known.task.organisation_id is not None:
                org_wanted.append((known.task.organisation_id, g[0].recipient.strip()))
    org_links = issue_org_links(session=session, wanted=org_wanted, settings=settings, now=now)
    chased = [n.task_id for g in usable for n in g if NoticeKind(n.kind) is NoticeKind.chase]
    return _Prefetched(parts, task_links, org_links, chases_sent_to(session, chased))


def _entry(
    session: Session,
    notice: OwedNotice,
    settings: Settings,
    now: datetime,
    known: _Prefetched | None = None,
) -> _Entry:
    known = known or _Prefetched()
    parts = known.parts.get(notice.task_id) or load_task(session, notice.task_id)
    kind = NoticeKind(notice.kind)
    view = task_view(
        parts,
        session=session,
        recipient=notice.recipient,
        settings=settings,
        on_day=notice.on_day,
        now=now,
        with_link=kind is not NoticeKind.escalation,
        link=known.task_links.get((notice.task_id, notice.recipient)),
    )
    entry = _Entry(notice=notice, parts=parts, task=view, kind=kind.value, step=notice.step)
    due = parts.task.due
    if kind is NoticeKind.reminder:
        days = max(0, RUSSIAN_CALENDAR.working_days_between(notice.on_day, due))
        return replace(entry, days_before=days)
    if kind in (NoticeKind.chase, NoticeKind.escalation):
        reopened = None
        if kind is NoticeKind.chase and lifecycle.is_returned(parts.task.status):
            # a journal's returned entry past its own date: the chase is about that entry
            reopened = reopened_entry(session, parts, settings)
            if reopened is not None:
                due = reopened.until
        days = max(0, RUSSIAN_CALENDAR.working_days_between(due, notice.on_day))
        earlier = 0
        if kind is NoticeKind.chase:
            # a return starts a new series: the email speaks of chase n of this series
            # and of the chases sent in it
            revision, number = series_step(notice.step)
            if known.chases is None:
                before = chases_sent(session, parts.task_id, before_step=notice.step)
            else:
                before = known.chases.get(parts.task_id, [])
            earlier = sum(
                1 for c in before if c.step < notice.step and series_step(c.step)[0] == revision
            )
            entry = replace(entry, step=number)
        return replace(entry, days_overdue=days, earlier_chases=earlier, reopened=reopened)
    if kind is NoticeKind.returned:
        reopened = reopened_entry(session, parts, settings)
        if reopened is not None:
            return replace(entry, reason=reopened.reason, reopened=reopened)
        return replace(entry, reason=return_reason(session, parts.task_id))
    if kind is NoticeKind.receipt:
        got = receipt(session, parts, notice.step, settings)
        return replace(
            entry,
            version=got.version,
            fields=tuple(got.fields),
            submitted_at=got.submitted_at,
            submitted_by=got.submitted_by,
        )
    if kind is NoticeKind.nudge:
        return replace(entry, last_entry=last_entry_day(session, parts.task_id, settings))
    return entry


def _base_context(settings: Settings, recipient_name: str, on_day: date) -> dict[str, Any]:
    return {
        "centre_name": settings.centre_name,
        "centre_email": settings.centre_email,
        "portal_url": settings.portal_url,
        "recipient_name": recipient_name,
        "on_day": on_day,
    }


def _single_context(entry: _Entry) -> dict[str, Any]:
    return {
        "task": entry.task,
        "step": entry.step,
        "days_before": entry.days_before,
        "days_overdue": entry.days_overdue,
        "earlier_chases": entry.earlier_chases,
        "reason": entry.reason,
        "version": entry.version,
        "fields": list(entry.fields),
        "submitted_at": entry.submitted_at,
        "submitted_by": entry.submitted_by,
        "last_entry": entry.last_entry,
        "reopened": entry.reopened,
    }


def _calendar(entries: Sequence[_Entry], domain: str, now: datetime) -> list[Attachment]:
    events: dict[str, DueEvent] = {}
    for entry in entries:
        if NoticeKind(entry.kind) not in _CALENDAR_KINDS:
            continue
        if entry.reopened is not None:
            event = entry_due_event(entry.parts, entry.task, entry.reopened, domain=domain, now=now)
        else:
            event = due_event(entry.parts, entry.task, domain=domain, now=now)
        if event.day >= entry.notice.on_day:  # no calendar entry for a past date
            events.setdefault(event.uid, event)
    if not events:
        return []
    return [Attachment(ICS_FILENAME, ICS_CONTENT_TYPE, due_calendar(events.values()))]


# An email lists at most a screenful of tasks; the rest are counted per item and linked.
MAX_LISTED = 25

_URGENCY = {
    NoticeKind.chase.value: 0,
    NoticeKind.returned.value: 1,
    NoticeKind.reminder.value: 2,
    NoticeKind.opened.value: 3,
    NoticeKind.nudge.value: 4,
    NoticeKind.receipt.value: 5,
}


@dataclass(frozen=True)
class MoreItem:
    """Tasks of one item an email does not list, counted."""

    number: str
    title: str
    count: int


def most_urgent(entries: Sequence[_Entry]) -> tuple[list[_Entry], list[MoreItem]]:
    """The MAX_LISTED most urgent entries (longest overdue, then returned, then the
    nearest due date) and the rest counted per item, in the roadmap's order."""
    ranked = sorted(
        entries,
        key=lambda e: (
            _URGENCY.get(e.kind, 9),
            -e.days_overdue,
            e.parts.task.due,
            e.parts.item.number,
            e.task.organisation,
        ),
    )
    shown, rest = ranked[:MAX_LISTED], ranked[MAX_LISTED:]
    return shown, _count_per_item([(e.parts.item, 1) for e in rest])


def _count_per_item(rows: Sequence[tuple[Any, int]]) -> list[MoreItem]:
    counts: dict[int, tuple[Any, int]] = {}
    for item, n in rows:
        known = counts.get(item.id)
        counts[item.id] = (item, (known[1] if known else 0) + n)
    return [
        MoreItem(item.label, item.title, n)
        for item, n in sorted(counts.values(), key=lambda pair: pair[0].number)
    ]


def _most_overdue(items: Sequence[OverdueItem]) -> tuple[list[OverdueItem], list[MoreItem]]:
    """An escalation lists the MAX_LISTED longest-overdue rows, grouped by item as before,
    and counts the rest per item."""
    flat = [(index, row) for index, item in enumerate(items) for row in item.rows]
    keep = {id(row) for _, row in sorted(flat, key=lambda pair: -pair[1].days_overdue)[:MAX_LISTED]}
    shown: list[OverdueItem] = []
    more: list[MoreItem] = []
    for item in items:
        rows = [row for row in item.rows if id(row) in keep]
        if rows:
            shown.append(replace(item, rows=rows))
        if len(rows) < len(item.rows):
            more.append(MoreItem(item.number, item.title, len(item.rows) - len(rows)))
    return shown, more


def _cc_for(group: Sequence[OwedNotice], recipient: str) -> list[str]:
    cc: list[str] = []
    seen = {recipient.strip().lower()}
    for notice in group:
        for addr in notice.cc:
            if addr and addr.strip().lower() not in seen:
                seen.add(addr.strip().lower())
                cc.append(addr.strip())
    return cc


def _reply_parts(
    email_kind: str, entries: Sequence[_Entry], subject: str, settings: Settings
) -> tuple[str, str]:
    """(subject, Reply-To) of a group's email: a single task's email carries the task's
    reference in its subject and its own reply address; a digest the bare reply mailbox;
    escalations (to the centre) neither."""
    if email_kind == NoticeKind.escalation.value:
        return subject, ""
    if len(entries) == 1:
        view = entries[0].task
        return f"{subject} [{view.reference}]", reply_address(settings, view.task_id) or ""
    return subject, reply_address(settings, None) or ""


@dataclass(frozen=True)
class _Composed:
    """One recipient's email, rendered, with the notices it carries: what is written."""

    group: Sequence[OwedNotice]
    entries: list[_Entry]
    recipient: str
    kind: str
    message_id: str
    subject: str
    text_body: str
    html_body: str
    attachments: list[Attachment]
    reply_to: str

    def message(self) -> dict[str, Any]:
        """The email as `queue_email` / `_email_values` take it (without the times)."""
        return {
            "kind": self.kind,
            "to": self.recipient,
            "cc": _cc_for(self.group, self.recipient),
            "subject": self.subject,
            "text_body": self.text_body,
            "html_body": self.html_body,
            "attachments": self.attachments,
            "message_id": self.message_id,
            "reply_to": self.reply_to,
        }

    def values(self, now: datetime, send_at: datetime | None) -> dict[str, Any]:
        return _email_values(**self.message(), now=now, send_at=send_at)


def _queue_group(
    session: Session,
    group: Sequence[OwedNotice],
    settings: Settings,
    now: datetime,
    known: _Prefetched | None = None,
) -> OutgoingEmail:
    """Write one recipient's email and its Notice (and event) rows."""
    composed = _compose_group(session, group, settings, now, known or _Prefetched())
    email = queue_email(session=session, now=now, **composed.message())
    assert email.id is not None
    _write_notices(session, [(composed, email.id)], now)
    return email


def _compose_group(
    session: Session,
    group: Sequence[OwedNotice],
    settings: Settings,
    now: datetime,
    known: _Prefetched,
) -> _Composed:
    """Render one recipient's email (its addresses checked). Reads, and writes nothing
    but a personal link the prefetch did not issue."""
    first = group[0]
    recipient, on_day = first.recipient.strip(), first.on_day
    _check_address(recipient)
    for notice in group:
        for addr in notice.cc:
            if addr and addr.strip():
                _check_address(addr.strip())
    domain = mail_domain(settings)
    keys = [_key(n) for n in group]
    entries = [_entry(session, n, settings, now, known) for n in group]
    name = next(
        (e.parts.person_name(recipient) for e in entries if e.parts.person_name(recipient)), ""
    )
    context = _base_context(settings, name, on_day)
    attachments: list[Attachment] = []

    context.update(more=[], more_total=0, more_link="")
    if all(NoticeKind(n.kind) is NoticeKind.escalation for n in group):
        email_kind = NoticeKind.escalation.value
        parts_list = [e.parts for e in entries]
        shown_items, more = _most_overdue(overdue_items(session, parts_list, settings, on_day))
        context.update(
            items=shown_items,
            organisations_count=len({p.task.assignee_key for p in parts_list}),
            tasks_count=len(parts_list),
            more=more,
            more_total=sum(m.count for m in more),
            more_link=f"{settings.portal_url}/admin/tasks?status=overdue",
        )
    elif len(entries) == 1:
        email_kind = entries[0].kind
        context.update(_single_context(entries[0]))
        attachments = _calendar(entries, domain, now)
    else:
        email_kind = "digest"
        shown, more = most_urgent(entries)
        attachments = _calendar(shown, domain, now)
        org_links = []
        seen_orgs: set[int] = set()
        for e in shown:
            org_id = e.parts.task.organisation_id
            if org_id is not None and org_id not in seen_orgs:
                seen_orgs.add(org_id)
                link = known.org_links.get((org_id, recipient)) or issue_org_link(
                    session=session,
                    organisation_id=org_id,
                    recipient=recipient,
                    settings=settings,
                    now=now,
                )
                org_links.append({"organisation": e.task.organisation, "link": link})
        context.update(
            entries=shown,
            org_links=org_links,
            has_calendar=bool(attachments),
            more=more,
            more_total=sum(m.count for m in more),
            # the organisation's page lists every task; the centre's own ones are in its pages
            more_link=org_links[0]["link"]
            if len(org_links) == 1
            else f"{settings.portal_url}/admin/tasks",
        )

    message_id = (
        notice_message_id(*keys[0], domain) if len(keys) == 1 else digest_message_id(keys, domain)
    )
    rendered = render(email_kind, context)
    subject, reply_to = _reply_parts(email_kind, entries, rendered.subject, settings)
    if known.chases is not None:  # a later entry of this run counts this chase as earlier
        for notice in group:
            if NoticeKind(notice.kind) is NoticeKind.chase:
                known.chases.setdefault(notice.task_id, []).append(
                    ChaseSent(notice.step, notice.on_day)
                )
    return _Composed(
        group=group,
        entries=entries,
        recipient=recipient,
        kind=email_kind,
        message_id=message_id,
        subject=subject,
        text_body=rendered.text,
        html_body=rendered.html,
        attachments=attachments,
        reply_to=reply_to,
    )


def _write_notices(
    session: Session, written: Sequence[tuple[_Composed, int]], now: datetime
) -> None:
    """The Notice rows (and events) of emails written, as multi-row INSERTs; tasks
    escalated for the first time get their `escalated_at`."""
    notices: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    for composed, email_id in written:
        recipient, message_id = composed.recipient, composed.message_id
        for entry in composed.entries:
            notice = entry.notice
            kind = NoticeKind(notice.kind)
            notices.append(
                {
                    "task_id": notice.task_id,
                    "kind": kind,
                    "step": notice.step,
                    "on_day": notice.on_day,
                    "recipient": recipient,
                    "email_id": email_id,
                    "created_at": now,
                }
            )
            event_kind = _EVENT_FOR_KIND.get(kind)
            if event_kind is not None:
                events.append(
                    {
                        "task_id": notice.task_id,
                        "at": now,
                        "kind": event_kind,
                        "from_status": None,
                        "to_status": None,
                        "actor": "system",
                        "note": f"шаг {notice.step}: письмо {message_id} для {recipient}",
                    }
                )
            if kind is NoticeKind.escalation and entry.parts.task.escalated_at is None:
                entry.parts.task.escalated_at = now
                session.add(entry.parts.task)
    if notices:
        session.execute(Notice.__table__.insert(), notices)  # type: ignore[attr-defined]
    if events:
        session.execute(TaskEvent.__table__.insert(), events)  # type: ignore[attr-defined]
    session.flush()


def _write_emails(
    session: Session, composed: Sequence[_Composed], now: datetime, send_at: datetime | None
) -> list[int]:
    """The emails' rows in multi-row INSERTs (a row that already has the Message-ID is
    kept and its id used), their ids in order."""
    if not composed:
        return []
    dialect = session.get_bind().dialect.name
    values = [c.values(now, send_at) for c in composed]
    if dialect not in ("postgresql", "sqlite"):
        return [_write_email(session, v) for v in values]
    table = OutgoingEmail.__table__  # type: ignore[attr-defined]
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = (
        insert(table)
        .on_conflict_do_nothing(index_elements=["message_id"])
        .returning(table.c.message_id, table.c.id)
    )
    ids: dict[str, int] = dict(session.execute(statement, values).tuples().all())
    missing = [c.message_id for c in composed if c.message_id not in ids]
    if missing:
        ids.update(
            session.execute(
                select(col(OutgoingEmail.message_id), col(OutgoingEmail.id)).where(
                    col(OutgoingEmail.message_id).in_(missing)
                )
            )
            .tuples()
            .all()
        )
    return [ids[c.message_id] for c in composed]


class GroupError(ValueError):
    """Why one recipient's email could not be written (Russian: it goes to the centre)."""


def _check_address(addr: str) -> None:
    try:
        address_of(addr)
    except ValueError:
        raise GroupError(f"«{addr}» не является адресом электронной почты") from None


_KIND_LABELS = {
    NoticeKind.opened: "новая задача",
    NoticeKind.reminder: "напоминание о сроке",
    NoticeKind.chase: "напоминание о просроченной задаче",
    NoticeKind.escalation: "эскалация (просроченные задачи)",
    NoticeKind.nudge: "напоминание о записях в журнале",
    NoticeKind.receipt: "подтверждение получения ответа",
    NoticeKind.returned: "возврат на доработку",
}


def _open_outer_transaction(session: Session) -> None:
    """pysqlite begins no transaction before the first write, and a SAVEPOINT outside one
    would be released as a commit: begin it first, so every savepoint nests in it."""
    connection = session.connection()
    if connection.dialect.name == "sqlite":
        raw: Any = connection.connection.dbapi_connection
        if raw is not None and not raw.in_transaction:
            connection.exec_driver_sql("BEGIN")


def _report_group_failure(
    session: Session,
    group: Sequence[OwedNotice],
    reason: str,
    settings: Settings,
    now: datetime,
) -> OutgoingEmail:
    """Tell the centre, once per (recipient, reason), that an email could not be written;
    its notices stay owed and go out once the record is fixed."""
    recipient = group[0].recipient.strip()
    digest = hashlib.sha1(f"{recipient.lower()}\n{reason}".encode()).hexdigest()[:20]
    base = settings.portal_url.rstrip("/")
    lines = [
        (
            f"{_KIND_LABELS.get(NoticeKind(n.kind), str(n.kind))}, задача {n.task_id}",
            f"{base}/admin/tasks/{n.task_id}",
        )
        for n in group
    ]
    address_problem = "адресом электронной почты" in reason
    if address_problem:
        fix = (
            "Исправьте адрес: для ответственного за пункт дорожной карты — поле owner_email "
            "в config/roadmap.yaml (или в приказе, затем `roadmap import-roadmap`), для "
            "руководителя или куратора — контакты организации (`roadmap orgs import`)."
        )
    else:
        fix = (
            "Проверьте задачи по ссылкам ниже; если причина непонятна, передайте это "
            "письмо администратору системы."
        )
    rendered = render(
        QUEUE_FAILURE_KIND,
        {
            "centre_name": settings.centre_name,
            "centre_email": settings.centre_email,
            "recipient": recipient,
            "on_day": group[0].on_day,
            "reason": reason,
            "fix": fix,
            "lines": lines,
        },
    )
    return queue_email(
        session=session,
        kind=QUEUE_FAILURE_KIND,
        to=settings.centre_email,
        subject=rendered.subject,
        text_body=rendered.text,
        html_body=rendered.html,
        message_id=f"<queue-failure-{digest}@{mail_domain(settings)}>",
        now=now,
    )


def _grouped(notices: Sequence[OwedNotice]) -> list[list[OwedNotice]]:
    """One group per recipient and day (escalations apart), in the order first owed;
    escalations last, so that chases written in the same run are listed in them."""
    groups: dict[tuple[str, date, bool], list[OwedNotice]] = {}
    for notice in notices:
        escalation = NoticeKind(notice.kind) is NoticeKind.escalation
        groups.setdefault((notice.recipient.strip().lower(), notice.on_day, escalation), []).append(
            notice
        )
    return [group for _, group in sorted(groups.items(), key=lambda pair: pair[0][2])]


def _queue_groups(
    session: Session,
    groups: Sequence[Sequence[OwedNotice]],
    settings: Settings,
    now: datetime,
) -> tuple[list[OutgoingEmail], set[int]]:
    """Write each group's email in its own savepoint; returns what was written and the
    tasks of the groups that could not be (reported to the centre, still owed)."""
    if groups:
        _open_outer_transaction(session)
    known = _prefetch(session, groups, settings, now)
    written: list[OutgoingEmail] = []
    failed: set[int] = set()
    for group in groups:
        try:
            with session.begin_nested():
                written.append(_queue_group(session, group, settings, now, known))
        except (OperationalError, InterfaceError):
            raise  # the database itself: nothing to isolate
        except Exception as exc:
            _group_failed(session, group, exc, settings, now)
            failed.update(n.task_id for n in group)
    return written, failed


def _queue_chunk(
    session: Session,
    groups: Sequence[Sequence[OwedNotice]],
    settings: Settings,
    now: datetime,
    send_at: datetime | None,
) -> tuple[int, set[int]]:
    """`_queue_groups` for the day's queue: every group's email rendered first (a group
    that cannot be is reported and left owed), then all rows written at once, in one
    savepoint; should that fail, one savepoint per group again, so that one bad record
    still stops only its own email. Returns how many emails were written and the tasks
    of the groups that were not. (Escalations come in chunks of their own: their email
    lists the chases written before.)"""
    if groups:
        _open_outer_transaction(session)
    known = _prefetch(session, groups, settings, now)
    composed: list[_Composed] = []
    failed: set[int] = set()
    for group in groups:
        try:
            composed.append(_compose_group(session, group, settings, now, known))
        except (OperationalError, InterfaceError):
            raise
        except Exception as exc:
            _group_failed(session, group, exc, settings, now)
            failed.update(n.task_id for n in group)
    try:
        with session.begin_nested():
            ids = _write_emails(session, composed, now, send_at)
            _write_notices(session, list(zip(composed, ids, strict=True)), now)
        return len(composed), failed
    except (OperationalError, InterfaceError):
        raise
    except Exception as exc:
        log.info("the chunk's rows could not be written at once (%s): one by one", exc)
    count = 0
    for one in composed:
        try:
            with session.begin_nested():
                [email_id] = _write_emails(session, [one], now, send_at)
                _write_notices(session, [(one, email_id)], now)
            count += 1
        except (OperationalError, InterfaceError):
            raise
        except Exception as exc:
            _group_failed(session, one.group, exc, settings, now)
            failed.update(n.task_id for n in one.group)
    return count, failed


def _group_failed(
    session: Session,
    group: Sequence[OwedNotice],
    exc: Exception,
    settings: Settings,
    now: datetime,
) -> None:
    """A group that could not be written: left to a concurrent run that wrote it, or
    reported to the centre (once) and left owed."""
    if isinstance(exc, IntegrityError) and len(_not_yet_noticed(session, group)) < len(group):
        # Another run (a second machine, the same instant) wrote these notices
        # and committed while this one was writing them: its email is the one,
        # and whatever of this group it did not cover stays owed for the next run.
        log.info("notices for %r queued by a concurrent run", group[0].recipient)
        return
    reason = str(exc) if isinstance(exc, GroupError) else f"{type(exc).__name__}: {exc}"
    log.warning(
        "notices for %r (%s) not queued: %s",
        group[0].recipient,
        ", ".join(f"task {n.task_id} {NoticeKind(n.kind).value}" for n in group),
        reason,
    )
    try:
        with session.begin_nested():  # the report never takes the others down
            _report_group_failure(session, group, reason, settings, now)
    except (OperationalError, InterfaceError):
        raise
    except Exception:
        log.exception("the centre could not be told about %r", group[0].recipient)


def queue_notices(
    *, session: Session, owed: Sequence[OwedNotice], settings: Settings, now: datetime
) -> list[OutgoingEmail]:
    """Write the emails for `owed` notices; skips any (task, kind, step) already noticed.

    Notices to one recipient on one day go as one email (a digest when there are
    several); escalations go as their own digest to the item's owner. Each email is
    written in its own savepoint: a group that cannot be written (an address that is not
    one, a broken record, a template error) is rolled back, reported to the centre once,
    and stays owed, while every other email is written. Flushes, never commits: the
    caller owns the transaction. Returns the emails written, in order. (The day's whole
    queue is `queue_day`, which commits as it goes.)
    """
    groups = _grouped(_not_yet_noticed(session, owed))
    written, _ = _queue_groups(session, groups, settings, now)
    return written


# -- the day's queue, in chunks -------------------------------------------------------

# Notices written (and committed) at a time: the memory the day's queue holds besides
# the compact list of what is owed, and what a crash can cost (the chunk is rolled back
# and written by the next run).
QUEUE_CHUNK = 1000

_KINDS = list(NoticeKind)
_KIND_CODE = {kind: code for code, kind in enumerate(_KINDS)}


class _OwedDay:
    """The day's owed notices, compactly: a few numbers each in arrays, and each
    recipient's address once, grouped as `queue_notices` groups them (one email per
    recipient, escalations last). The scan is read once; the groups are then written a
    chunk at a time. Each task's next look is carried by the notice written last (its
    escalation, if it owes one), so that it is stored only when all it owes is written."""

    def __init__(self, on_day: date) -> None:
        self.on_day = on_day
        self.task = array("q")
        self.kind = array("b")
        self.step = array("i")
        self.recipient = array("i")
        self.cc = array("i")
        self.group = array("i")
        self.look = array("i")  # date ordinal of the next look, or 0 (not carried)
        self.recipients: list[str] = []
        self.ccs: list[tuple[str, ...]] = [()]
        self.escalation_group = array("b")  # by group: 1 for an owner's escalations
        self.counts: Counter[str] = Counter()
        self._recipient_index: dict[str, int] = {}
        self._cc_index: dict[tuple[str, ...], int] = {(): 0}
        self._group_index: dict[tuple[str, bool], int] = {}

    def add(self, looked: Looked) -> None:
        notices = looked.owed
        carrier = next((i for i, n in enumerate(notices) if n.kind is NoticeKind.escalation), 0)
        for index, notice in enumerate(notices):
            assert notice.on_day == self.on_day
            escalation = notice.kind is NoticeKind.escalation
            key = (notice.recipient.strip().lower(), escalation)
            group = self._group_index.get(key)
            if group is None:
                group = self._group_index[key] = len(self.escalation_group)
                self.escalation_group.append(escalation)
            recipient = self._recipient_index.get(notice.recipient)
            if recipient is None:
                recipient = self._recipient_index[notice.recipient] = len(self.recipients)
                self.recipients.append(notice.recipient)
            cc = self._cc_index.get(notice.cc)
            if cc is None:
                cc = self._cc_index[notice.cc] = len(self.ccs)
                self.ccs.append(notice.cc)
            self.task.append(notice.task_id)
            self.kind.append(_KIND_CODE[NoticeKind(notice.kind)])
            self.step.append(notice.step)
            self.recipient.append(recipient)
            self.cc.append(cc)
            self.group.append(group)
            self.look.append(looked.next_look.toordinal() if index == carrier else 0)
            self.counts[NoticeKind(notice.kind).value] += 1

    def _notice(self, i: int) -> OwedNotice:
        return OwedNotice(
            self.task[i],
            _KINDS[self.kind[i]],
            self.step[i],
            self.on_day,
            self.recipients[self.recipient[i]],
            self.ccs[self.cc[i]],
        )

    def chunks(self, size: int) -> Iterator[tuple[list[list[OwedNotice]], list[tuple[int, date]]]]:
        """(groups, next looks they carry) of about `size` notices at a time, whole
        groups only, in the order `queue_notices` writes them."""
        self._group_index.clear()  # not needed any more
        self._recipient_index.clear()
        groups = len(self.escalation_group)
        order = [g for g in range(groups) if not self.escalation_group[g]]
        order += [g for g in range(groups) if self.escalation_group[g]]
        # the notices of each group together, groups in that order (a counting sort)
        counts = array("i", [0]) * groups
        for g in self.group:
            counts[g] += 1
        begin = array("i", [0]) * groups  # where group g's notices start in `placed`
        at = 0
        for g in order:
            begin[g] = at
            at += counts[g]
        placed = array("i", [0]) * len(self.task)
        fill = array("i", begin)
        for i, g in enumerate(self.group):
            placed[fill[g]] = i
            fill[g] += 1
        batch: list[list[OwedNotice]] = []
        looks: list[tuple[int, date]] = []
        size_now = 0
        in_escalations = False
        for g in order:
            escalation = bool(self.escalation_group[g])
            if batch and escalation and not in_escalations:
                # escalations start a chunk of their own: their email lists the chases
                # the chunks before wrote
                yield batch, looks
                batch, looks, size_now = [], [], 0
            in_escalations = escalation
            members = placed[begin[g] : begin[g] + counts[g]]
            batch.append([self._notice(i) for i in members])
            looks.extend(
                (self.task[i], date.fromordinal(self.look[i])) for i in members if self.look[i]
            )
            size_now += len(members)
            if size_now >= size:
                yield batch, looks
                batch, looks, size_now = [], [], 0
        if batch:
            yield batch, looks


@dataclass(frozen=True)
class DayQueued:
    """What `queue_day` did: the notices owed by kind, and the emails written."""

    owed: dict[str, int]
    emails: int


def queue_day(
    *,
    session: Session,
    today: date,
    policy: Policy,
    settings: Settings,
    now: datetime,
    send_at: datetime | None = None,
    chunk: int = QUEUE_CHUNK,
) -> DayQueued:
    """Everything owed on `today`, queued as outbox rows (one email per person), a chunk
    of recipients at a time, each chunk committed with its tasks' next looks, so that
    memory does not grow with the number of tasks (beyond a few numbers each) and a
    crash loses nothing: a chunk not committed is owed again at the next run, a chunk
    committed is not owed again. The emails are due at `send_at` (default: now).

    Commits the session as it goes (the caller's session must hold nothing else). On
    PostgreSQL, runs for the same database take turns (an advisory lock held for the
    whole run): a second machine's run waits, then finds the work done."""
    with _one_queue_at_a_time(session):
        return _queue_day(session, today, policy, settings, now, send_at, chunk)


# Any constant: the key of the PostgreSQL advisory lock that serialises the day's queue.
QUEUE_LOCK = 20_220_408_210


@contextmanager
def _one_queue_at_a_time(session: Session) -> Iterator[None]:
    """A session-level advisory lock on a connection of its own, so that it holds across
    the run's commits (and goes with the connection if the process dies)."""
    bind = session.get_bind()
    if bind.dialect.name != "postgresql":
        yield  # SQLite: one machine; writers take turns at every commit
        return
    engine = bind if isinstance(bind, Engine) else bind.engine
    with engine.connect() as holder:
        holder.execute(text("SELECT pg_advisory_lock(:key)"), {"key": QUEUE_LOCK})
        holder.commit()
        try:
            yield
        finally:
            holder.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": QUEUE_LOCK})
            holder.commit()


def _queue_day(
    session: Session,
    today: date,
    policy: Policy,
    settings: Settings,
    now: datetime,
    send_at: datetime | None,
    chunk: int,
) -> DayQueued:
    owed = _OwedDay(today)
    for looked in scan_owed(
        session=session,
        today=today,
        policy=policy,
        centre_email=settings.centre_email,
        tz=settings.tz,
    ):
        # a task that owes nothing today gets its next look now; one that owes, when
        # what it owes is written
        write_next_looks(session, ((one.task_id, one.next_look) for one in looked if not one.owed))
        for one in looked:
            if one.owed:
                owed.add(one)
        session.commit()
        session.expunge_all()
    emails = 0
    for groups, looks in owed.chunks(chunk):
        fresh = _grouped(_not_yet_noticed(session, [n for g in groups for n in g]))
        written, failed = _queue_chunk(session, fresh, settings, now, send_at)
        emails += written
        # a group that could not be written stays owed: its tasks are looked at again
        write_next_looks(session, ((t, day) for t, day in looks if t not in failed))
        session.commit()
        session.expunge_all()
    return DayQueued(dict(owed.counts), emails)
