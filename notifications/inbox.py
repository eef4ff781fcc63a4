"""Email replies become answers: matching a reply to its task, who may answer, and the
one transaction that records a message (and the answer it gives) exactly once.

Every answer goes through the page's own path (`services.answers.submit_answer`); a reply
that lacks fields leaves the task open and gets a receipt listing what came and what is
missing; anything not clearly an organisation's answer waits in the centre's review list.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import or_
from sqlalchemy.orm import defer
from sqlmodel import Session, col, select

from config.settings import Settings
from domain.deputies import deputy_of, holding_deputy, is_deputy_address
from domain.emails import Notice, OutgoingEmail
from domain.formatting import local_date
from domain.inbound import InboundMessage, InboundStatus
from domain.organisations import Organisation
from domain.recipients import item_owner_email
from domain.roadmap import EvidenceField, RoadmapItem
from domain.tasks import Task
from notifications.context import load_task, task_view
from notifications.inbound import (
    Extraction,
    ParsedReply,
    extract_answer,
    merge_extractions,
    parse_headers,
    parse_reply,
    split_by_references,
)
from notifications.mime import mail_domain
from notifications.outbox import queue_email
from notifications.render import render
from notifications.reply import (
    Reference,
    find_references,
    reply_address,
    task_reference,
    tasks_of_addresses,
)
from services.answers import (
    ANSWERABLE,
    AnswerError,
    answer_fields,
    remove_written,
    submit_answer,
)
from services.deputies import reply_answer_note

_OUR_TASK_ID = re.compile(r"^<(?:task-(\d+)\.[a-z_]+\.\d+|inbox-[0-9a-f]+\.(\d+))@")


# --- who may answer -----------------------------------------------------------------------


def addresses_on_record(
    session: Session, task: Task, settings: Settings, on_day: date | None = None
) -> set[str]:
    """The addresses whose replies count as the organisation's answer to `task`: its head
    and its curator, and its deputy while the deputy holds on `on_day` (only then); for
    the centre's own task, the item's owner and the centre."""
    found: set[str] = set()
    if task.organisation_id is None:
        item = session.get(RoadmapItem, task.item_id)
        if item is not None:
            found.add(item_owner_email(item, settings.centre_email))
        found.add(settings.centre_email)
    else:
        org = session.get(Organisation, task.organisation_id)
        if org is not None:
            found.update(a for a in (org.head_email, org.curator_email) if a)
            deputy = None if on_day is None else holding_deputy(org, on_day)
            if deputy is not None:
                found.add(deputy.email)
    return {a.strip().lower() for a in found if "@" in a}


# --- matching -----------------------------------------------------------------------------


@dataclass
class Match:
    """The tasks a reply is about and how they were found."""

    task_ids: list[int] = field(default_factory=list)
    via: str = ""  # "address", "in-reply-to", "subject", "text"
    token_task_ids: set[int] = field(default_factory=set)


def _referenced_task(session: Session, ref: Reference) -> int | None:
    task = session.get(Task, ref.task_id)
    if task is None:
        return None
    item = session.get(RoadmapItem, task.item_id)
    return ref.task_id if item is not None and item.number == ref.item_number else None


def _valid_references(session: Session, text: str) -> list[int]:
    found: list[int] = []
    for ref in find_references(text):
        task_id = _referenced_task(session, ref)
        if task_id is not None and task_id not in found:
            found.append(task_id)
    return found


def _tasks_of_sent(session: Session, message_ids: Sequence[str], settings: Settings) -> list[int]:
    """The tasks of the first message of ours a reply names (In-Reply-To, then References)."""
    domain = mail_domain(settings)
    for message_id in message_ids:
        email = session.exec(
            select(OutgoingEmail).where(OutgoingEmail.message_id == message_id)
        ).first()
        if email is not None:
            # a message the centre resent to a fixed address: its first row's notices
            told = email.origin_id if email.origin_id is not None else email.id
            rows = session.exec(
                select(Notice.task_id).where(Notice.email_id == told).order_by(col(Notice.id))
            ).all()
            tasks = list(dict.fromkeys(rows))
            if tasks:
                return tasks
            m = _OUR_TASK_ID.match(message_id)
            if m is not None and message_id.endswith(f"@{domain}>"):
                task_id = int(m[1] or m[2])
                if session.get(Task, task_id) is not None:
                    return [task_id]
    return []


def match_reply(session: Session, reply: ParsedReply, settings: Settings) -> Match:
    """By the reply address first, then by the message it answers, then by the subject's
    reference, and last by references written in the text."""
    tokens = [
        t for t in tasks_of_addresses(list(reply.recipients), settings) if session.get(Task, t)
    ]
    if tokens:
        return Match(tokens, "address", set(tokens))
    sent = _tasks_of_sent(session, reply.in_reply_to, settings)
    if sent:
        return Match(sent, "in-reply-to")
    subject = _valid_references(session, reply.subject)
    if subject:
        return Match(subject, "subject")
    return Match(_valid_references(session, reply.new_text), "text")


# --- processing ---------------------------------------------------------------------------


class Review(Exception):
    """The message waits for the centre; the message says why (Russian)."""


@dataclass(frozen=True)
class _Part:
    task: Task
    text: str
    with_attachments: bool


def _plan(session: Session, reply: ParsedReply, match: Match) -> list[_Part]:
    """Which task gets which text; a reply naming several tasks is cut at its references."""
    if not match.task_ids:
        raise Review("Не удалось определить, к какой задаче относится письмо.")
    named = _valid_references(session, reply.new_text)
    if len(match.task_ids) == 1 and len(named) < 2:
        task = session.get(Task, match.task_ids[0])
        assert task is not None
        return [_Part(task, reply.new_text, True)]
    texts: dict[int, list[str]] = {}
    for ref, segment in split_by_references(reply.new_text):
        task_id = _referenced_task(session, ref)
        if task_id is not None:
            texts.setdefault(task_id, []).append(segment)
    if not texts:
        raise Review(
            "Ответ на письмо о нескольких задачах, но в тексте нет ссылок на задачи "
            "вида [ДК-13-204]: разнесите ответ вручную."
        )
    if reply.attachments:
        raise Review(
            "Вложения в ответе о нескольких задачах: неясно, к какой задаче они относятся."
        )
    parts = []
    for task_id, segments in texts.items():
        task = session.get(Task, task_id)
        assert task is not None
        parts.append(_Part(task, "\n\n".join(s for s in segments if s), False))
    return parts


def _org_name(session: Session, task: Task, settings: Settings) -> str:
    if task.organisation_id is None:
        return settings.centre_name
    org = session.get(Organisation, task.organisation_id)
    return org.name if org is not None else f"организация {task.organisation_id}"


def _check_allowed(
    session: Session,
    reply: ParsedReply,
    match: Match,
    parts: Sequence[_Part],
    settings: Settings,
    on_day: date,
) -> None:
    for part in parts:
        assert part.task.id is not None
        _check_not_past_deputy(session, reply, part.task, settings, on_day)
        if part.task.id in match.token_task_ids:
            continue
        if reply.from_addr and reply.from_addr in addresses_on_record(
            session, part.task, settings, on_day
        ):
            continue
        raise Review(
            f"Отправитель {reply.from_addr or '(без адреса)'} не значится среди адресов "
            f"организации «{_org_name(session, part.task, settings)}» "
            f"(задача {_reference_of(session, part.task)})."
        )


def _check_not_past_deputy(
    session: Session, reply: ParsedReply, task: Task, settings: Settings, on_day: date
) -> None:
    """A reply from the organisation's deputy on a day the deputy does not hold waits for
    the centre, even with the task's reply address: the tasks are the head's again."""
    org = session.get(Organisation, task.organisation_id) if task.organisation_id else None
    deputy = None if org is None else deputy_of(org)
    if (
        deputy is None
        or not is_deputy_address(org, reply.from_addr)
        or holding_deputy(org, on_day) is not None
        or reply.from_addr in addresses_on_record(session, task, settings, on_day)
    ):
        return
    raise Review(
        f"Отправитель {reply.from_addr} — заместитель руководителя организации "
        f"«{_org_name(session, task, settings)}» на срок с {deputy.from_day:%d.%m.%Y} по "
        f"{deputy.until_day:%d.%m.%Y}; {on_day:%d.%m.%Y} замещение не действует, поэтому "
        f"ответ на задачу {_reference_of(session, task)} не применён сам: примите его "
        "вручную или откажите."
    )


def _reference_of(session: Session, task: Task) -> str:
    item = session.get(RoadmapItem, task.item_id)
    assert task.id is not None
    return task_reference(item.number if item else 0, task.id)


def _check_answerable(session: Session, parts: Sequence[_Part]) -> None:
    for part in parts:
        if part.task.status not in ANSWERABLE:
            raise Review(
                f"Задача {_reference_of(session, part.task)} уже принята центром: "
                "новый ответ не применён."
            )


def inbox_message_id(key: str, suffix: str, settings: Settings) -> str:
    digest = hashlib.sha1(key.encode("utf-8")).hexdigest()[:16]
    return f"<inbox-{digest}.{suffix}@{mail_domain(settings)}>"


def _queue_partial(
    session: Session,
    *,
    reply: ParsedReply,
    task: Task,
    received: list[tuple[str, str]],
    missing: list[str],
    problems: list[str],
    settings: Settings,
    now: datetime,
) -> None:
    assert task.id is not None
    on_day = local_date(now, settings.tz)
    parts = load_task(session, task.id)
    view = task_view(
        parts, session=session, recipient=reply.from_addr, settings=settings, on_day=on_day, now=now
    )
    context: dict[str, Any] = {
        "centre_name": settings.centre_name,
        "centre_email": settings.centre_email,
        "portal_url": settings.portal_url,
        "recipient_name": parts.person_name(reply.from_addr),
        "on_day": on_day,
        "mode": "partial",
        "task": view,
        "received": received,
        "missing": missing,
        "problems": problems,
        "limit": "",
    }
    rendered = render("inbox_reply", context)
    queue_email(
        session=session,
        kind="inbox_reply",
        to=reply.from_addr,
        subject=f"{rendered.subject} [{view.reference}]",
        text_body=rendered.text,
        html_body=rendered.html,
        message_id=inbox_message_id(reply.key, str(task.id), settings),
        now=now,
        reply_to=reply_address(settings, task.id) or "",
    )


def _answer_part(
    session: Session,
    *,
    reply: ParsedReply,
    part: _Part,
    settings: Settings,
    now: datetime,
    written: list[Path],
) -> dict[str, Any]:
    """Apply one task's part of a reply: the answer when complete, else the receipt that
    lists what is missing. Returns the outcome recorded on the message."""
    task = part.task
    assert task.id is not None
    item = session.get(RoadmapItem, task.item_id)
    assert item is not None
    fields = answer_fields(item)
    got = extract_answer(
        fields=fields,
        text=part.text,
        attachments=reply.attachments if part.with_attachments else (),
        settings=settings,
    )
    earlier = _pending_partials(session, task)
    if earlier:
        got = merge_extractions(
            fields, [_extraction_of(row, o, fields, settings) for row, o in earlier], got
        )
    problems = list(got.refused)
    if got.complete:
        who = reply_answer_note(session, task, reply.from_addr, local_date(now, settings.tz))
        before = ", ".join(dict.fromkeys(row.message_key for row, _ in earlier))
        try:
            evidence = submit_answer(
                session=session,
                task=task,
                values=got.values,
                files=got.files,
                by=reply.from_addr,
                settings=settings,
                now=now,
                written=written,
                via=f"ответ по электронной почте, Message-ID {reply.key}"
                + (f" (дополняет ответ из писем Message-ID {before})" if before else "")
                + (f"; {who}" if who else ""),
            )
        except AnswerError as exc:
            labels = {f.name: f.label for f in fields}
            problems += [f"{labels.get(k, k)}: {v}" for k, v in exc.errors.items()]
        else:
            _mark_completed(session, task, earlier, reply.key, evidence.version)
            return {"task_id": task.id, "outcome": "answered", "version": evidence.version}
    _queue_partial(
        session,
        reply=reply,
        task=task,
        received=got.received,
        missing=got.missing,
        problems=problems,
        settings=settings,
        now=now,
    )
    return {
        "task_id": task.id,
        "outcome": "partial",
        "missing": got.missing,
        "problems": problems,
        # what a follow-up reply adds to: this task's part of the message
        "text": part.text,
        "with_attachments": part.with_attachments,
    }


def _pending_partials(session: Session, task: Task) -> list[tuple[InboundMessage, dict[str, Any]]]:
    """The earlier replies that gave `task` part of its answer since its last answer
    (by email or on the page), oldest first: a follow-up reply adds to them."""
    assert task.id is not None
    since = task.submitted_at or task.opened_at
    rows = session.exec(
        select(InboundMessage)
        .options(defer(InboundMessage.raw))  # type: ignore[arg-type]
        .where(
            col(InboundMessage.status).in_(
                [InboundStatus.partial.value, InboundStatus.accepted.value]
            ),
            or_(col(InboundMessage.received_at) >= since, col(InboundMessage.reviewed_at) >= since),
        )
        .order_by(col(InboundMessage.id))
    ).all()
    found: list[tuple[InboundMessage, dict[str, Any]]] = []
    for row in rows:
        if task.id not in row.task_ids or (row.reviewed_at or row.received_at) < since:
            continue
        if row.raw is None:  # only a refused message has none; it is never partial
            continue
        found += [
            (row, o)
            for o in row.outcomes
            if o.get("task_id") == task.id and o.get("outcome") == "partial"
        ]
    return found


def _extraction_of(
    row: InboundMessage,
    outcome: dict[str, Any],
    fields: Sequence[EvidenceField],
    settings: Settings,
) -> Extraction:
    """What an earlier partial reply gave its task, read again from the stored message."""
    assert row.raw is not None
    reply = parse_reply(row.raw)
    text = outcome.get("text")
    with_attachments = outcome.get("with_attachments")
    if not isinstance(text, str):  # recorded before the outcome kept its text
        text, with_attachments = reply.new_text, len(row.task_ids) == 1
    return extract_answer(
        fields=fields,
        text=text,
        attachments=reply.attachments if with_attachments else (),
        settings=settings,
    )


def _mark_completed(
    session: Session,
    task: Task,
    earlier: Sequence[tuple[InboundMessage, dict[str, Any]]],
    key: str,
    version: int,
) -> None:
    """The earlier partial replies a follow-up completed say so (and, when nothing of
    theirs is missing any more, count as answered)."""
    assert task.id is not None
    rows = {id(r): r for r, _ in earlier}
    for row in rows.values():
        row.outcomes = [
            {"task_id": task.id, "outcome": "completed", "version": version, "completed_by": key}
            if o.get("task_id") == task.id and o.get("outcome") == "partial"
            else o
            for o in row.outcomes
        ]
        note = (
            f"Ответ на задачу {_reference_of(session, task)} дополнен письмом {key} "
            f"(версия {version})."
        )
        row.reason = f"{row.reason} {note}".strip()
        if row.status == InboundStatus.partial.value and all(
            o.get("outcome") in ("answered", "completed") for o in row.outcomes
        ):
            row.status = InboundStatus.answered.value
        session.add(row)


def _apply(
    session: Session,
    row: InboundMessage,
    reply: ParsedReply,
    parts: Sequence[_Part],
    settings: Settings,
    now: datetime,
    written: list[Path],
) -> None:
    outcomes = [
        _answer_part(session, reply=reply, part=p, settings=settings, now=now, written=written)
        for p in parts
    ]
    row.outcomes = outcomes
    row.task_ids = [int(o["task_id"]) for o in outcomes]
    done = all(o["outcome"] == "answered" for o in outcomes)
    row.status = InboundStatus.answered.value if done else InboundStatus.partial.value


def find_message(session: Session, key: str) -> InboundMessage | None:
    return session.exec(select(InboundMessage).where(InboundMessage.message_key == key)).first()


@dataclass(frozen=True)
class Source:
    """Where the server keeps a message."""

    mailbox: str
    uid_validity: int
    uid: int


def process_message(
    session: Session,
    *,
    raw: bytes,
    source: Source,
    settings: Settings,
    now: datetime,
    written: list[Path],
) -> InboundMessage:
    """Record one message and apply what it says, in the caller's transaction. A message
    already recorded (by its Message-ID) is returned as it is: nothing new is written."""
    reply = parse_reply(raw)
    found = find_message(session, reply.key)
    if found is not None:
        return found
    row = InboundMessage(
        message_key=reply.key,
        mailbox=source.mailbox,
        uid_validity=source.uid_validity,
        uid=source.uid,
        received_at=now,
        from_addr=reply.from_addr[:254],
        subject=reply.subject,
        size=len(raw),
        status=InboundStatus.review.value,
        raw=raw,
    )
    session.add(row)
    session.flush()  # the unique Message-ID: a concurrent reader of the same message stops here
    if reply.auto:
        row.status = InboundStatus.ignored.value
        row.reason = reply.auto
        session.add(row)
        session.flush()
        return row
    match = match_reply(session, reply, settings)
    row.task_ids = list(match.task_ids)
    try:
        parts = _plan(session, reply, match)
        _check_allowed(session, reply, match, parts, settings, local_date(now, settings.tz))
        _check_answerable(session, parts)
        if not reply.from_addr:
            raise Review("В письме нет адреса отправителя.")
    except Review as why:
        row.status = InboundStatus.review.value
        row.reason = str(why)
        session.add(row)
        session.flush()
        return row
    _apply(session, row, reply, parts, settings, now, written)
    session.add(row)
    session.flush()
    return row


def size_text(size: int) -> str:
    """A size limit in Russian: 25 МБ, 64 КБ."""
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):.0f} МБ"
    return f"{size // 1024} КБ"


def process_oversized(
    session: Session,
    *,
    headers: bytes,
    size: int,
    source: Source,
    settings: Settings,
    now: datetime,
) -> InboundMessage:
    """A message over ROADMAP_INBOX_MAX_BYTES: recorded from its headers, refused, and its
    sender told so (unless it is an auto-reply or a bounce)."""
    from notifications.inbound import header_auto_reason

    key, sender, subject = parse_headers(headers)
    found = find_message(session, key)
    if found is not None:
        return found
    auto = header_auto_reason(headers)
    limit = size_text(settings.inbox_max_bytes)
    row = InboundMessage(
        message_key=key,
        mailbox=source.mailbox,
        uid_validity=source.uid_validity,
        uid=source.uid,
        received_at=now,
        from_addr=sender[:254],
        subject=" ".join(subject.split()),
        size=size,
        status=(InboundStatus.ignored if auto else InboundStatus.refused).value,
        reason=auto or f"Письмо больше {limit}: не принято, отправителю сообщено.",
        raw=None,
    )
    session.add(row)
    session.flush()
    if not auto and sender:
        on_day = local_date(now, settings.tz)
        rendered = render(
            "inbox_reply",
            {
                "centre_name": settings.centre_name,
                "centre_email": settings.centre_email,
                "portal_url": settings.portal_url,
                "recipient_name": "",
                "on_day": on_day,
                "mode": "refused",
                "task": None,
                "received": [],
                "missing": [],
                "problems": [],
                "limit": limit,
                "original_subject": row.subject,
            },
        )
        queue_email(
            session=session,
            kind="inbox_reply",
            to=sender,
            subject=rendered.subject,
            text_body=rendered.text,
            html_body=rendered.html,
            message_id=inbox_message_id(key, "refused", settings),
            now=now,
        )
    return row


# --- the centre's review ------------------------------------------------------------------


class ReviewError(ValueError):
    """A review action that cannot be done; the message is Russian."""


def accept_as_answer(
    session: Session,
    *,
    message: InboundMessage,
    task: Task,
    admin_email: str,
    settings: Settings,
    now: datetime,
    written: list[Path],
) -> None:
    """The centre takes a message from the review list as the answer of `task`: the text
    the message gives that task (its part of a digest reply, else the whole reply) goes
    through the same path as any reply. Does not commit."""
    if message.status != InboundStatus.review.value:
        raise ReviewError("Это письмо уже разобрано.")
    if message.raw is None:
        raise ReviewError("Текст письма не сохранён: его нельзя принять как ответ.")
    if task.status not in ANSWERABLE:
        raise ReviewError("Задача уже принята центром: новый ответ не применить.")
    reply = parse_reply(message.raw)
    if not reply.from_addr:
        raise ReviewError("В письме нет адреса отправителя.")
    assert task.id is not None
    segments = [s for ref, s in split_by_references(reply.new_text) if ref.task_id == task.id]
    part = _Part(task, "\n\n".join(segments) if segments else reply.new_text, True)
    try:
        _apply(session, message, reply, [part], settings, now, written)
    except BaseException:
        remove_written(written)
        raise
    message.reason = (
        f"{message.reason} Принято центром как ответ на задачу {_reference_of(session, task)}."
    )
    message.status = InboundStatus.accepted.value
    message.reviewed_by = admin_email
    message.reviewed_at = now
    session.add(message)
    session.flush()


def discard_message(
    session: Session, *, message: InboundMessage, admin_email: str, now: datetime
) -> None:
    if message.status != InboundStatus.review.value:
        raise ReviewError("Это письмо уже разобрано.")
    message.status = InboundStatus.discarded.value
    message.reviewed_by = admin_email
    message.reviewed_at = now
    session.add(message)
    session.flush()


def review_list(session: Session) -> list[InboundMessage]:
    return list(
        session.exec(
            select(InboundMessage)
            .where(InboundMessage.status == InboundStatus.review.value)
            .order_by(col(InboundMessage.received_at), col(InboundMessage.id))
        ).all()
    )
