"""The centre's review list of email replies: each message the inbox could not apply by
itself (unmatched, from an address not on record, a digest reply without references),
accepted as the answer of a task or discarded, never lost and never applied silently."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlmodel import Session, col, func, select

from domain.inbound import InboundMessage, InboundStatus
from domain.organisations import Organisation
from domain.roadmap import RoadmapItem
from domain.tasks import Task
from notifications.inbound import parse_reply
from notifications.inbox import ReviewError, accept_as_answer, discard_message, review_list
from notifications.reply import find_references, task_reference
from portal.admin import _admin_post, _login_redirect, forbidden, page_of, require_admin
from portal.app import Portal, portal_of
from services.answers import remove_written

router = APIRouter(prefix="/admin/inbox", include_in_schema=False)

RECENT_PER_PAGE = 50  # processed messages a page, newest first; older ones on later pages

STATUS_LABELS = {
    InboundStatus.answered: "принято как ответ",
    InboundStatus.partial: "ответ неполный, задача открыта",
    InboundStatus.review: "ждёт разбора",
    InboundStatus.accepted: "принято центром",
    InboundStatus.discarded: "отклонено центром",
    InboundStatus.ignored: "автоответ или отчёт о доставке",
    InboundStatus.refused: "слишком большое, отказано",
}

DONE_NOTICES = {
    "accepted": "Письмо принято как ответ на задачу.",
    "discarded": "Письмо отклонено.",
}


@dataclass(frozen=True)
class TaskChoice:
    task_id: int
    reference: str
    label: str


@dataclass(frozen=True)
class ReviewRow:
    message: InboundMessage
    text: str
    attachments: list[str]
    choices: list[TaskChoice]


def _choice(session: Session, task_id: int) -> TaskChoice | None:
    task = session.get(Task, task_id)
    if task is None:
        return None
    item = session.get(RoadmapItem, task.item_id)
    org = session.get(Organisation, task.organisation_id) if task.organisation_id else None
    number = item.number if item else 0
    who = org.short_name or org.name if org else "центр"
    title = item.title if item else ""
    return TaskChoice(task_id, task_reference(number, task_id), f"п. {number} {title[:60]} · {who}")


def _row(session: Session, message: InboundMessage) -> ReviewRow:
    text, attachments = "", []
    ids = list(message.task_ids)
    if message.raw is not None:
        reply = parse_reply(message.raw)
        text = reply.new_text or reply.text
        attachments = [a.filename for a in reply.attachments]
        ids += [r.task_id for r in find_references(f"{reply.subject}\n{reply.new_text}")]
    choices = [c for c in (_choice(session, t) for t in dict.fromkeys(ids)) if c is not None]
    return ReviewRow(message, text, attachments, choices)


def parse_task_choice(value: str) -> int | None:
    """A task named by its number (204) or its reference (ДК-13-204)."""
    value = value.strip()
    if value.isdigit():
        return int(value)
    refs = find_references(value)
    return refs[0].task_id if len(refs) == 1 else None


@router.get("", response_class=Response)
def inbox_page(
    request: Request, done: str = "", page: str = "1", portal: Portal = Depends(portal_of)
) -> Response:
    with portal.session() as session:
        ctx = require_admin(portal, request, session)
        if ctx is None:
            return _login_redirect(request)
        return _page(
            portal, request, session, ctx.admin.email, ctx.state.csrf, done=done, page=page
        )


def _page(
    portal: Portal,
    request: Request,
    session: Session,
    admin_email: str,
    csrf: str,
    *,
    done: str = "",
    error: str = "",
    status_code: int = 200,
    page: str = "1",
) -> Response:
    waiting = [_row(session, m) for m in review_list(session)]
    processed = InboundMessage.status != InboundStatus.review.value
    total = session.exec(select(func.count(col(InboundMessage.id))).where(processed)).one()
    pages = page_of(int(total), page, str(RECENT_PER_PAGE))
    recent = session.exec(
        select(InboundMessage)
        .where(processed)
        .order_by(col(InboundMessage.received_at).desc(), col(InboundMessage.id).desc())
        .offset(pages.offset)
        .limit(pages.per_page)
    ).all()
    return portal.render(
        request,
        "admin/inbox.html",
        {
            "admin": {"email": admin_email},
            "csrf": csrf,
            "waiting": waiting,
            "recent": recent,
            "page": pages,
            "labels": {k.value: v for k, v in STATUS_LABELS.items()},
            "notice": DONE_NOTICES.get(done, ""),
            "error": error,
        },
        status_code=status_code,
    )


def _message(session: Session, message_id: int) -> InboundMessage | None:
    return session.get(InboundMessage, message_id)


@router.post("/{message_id}/accept", response_class=Response)
def accept(
    message_id: int,
    request: Request,
    csrf_token: str = Form(""),
    task: str = Form(""),
    portal: Portal = Depends(portal_of),
) -> Response:
    written: list[Path] = []
    try:
        with portal.session() as session:
            ctx = _admin_post(portal, request, session, csrf_token)
            if isinstance(ctx, Response):
                return ctx
            message = _message(session, message_id)
            if message is None:
                return forbidden(portal, request, "Такого письма нет.")
            task_id = parse_task_choice(task)
            target = session.get(Task, task_id) if task_id is not None else None
            if target is None:
                return _page(
                    portal,
                    request,
                    session,
                    ctx.admin.email,
                    ctx.state.csrf,
                    error=f"Задача «{task}» не найдена: укажите номер задачи или ссылку "
                    "вида ДК-13-204.",
                    status_code=400,
                )
            try:
                accept_as_answer(
                    session,
                    message=message,
                    task=target,
                    admin_email=ctx.admin.email,
                    settings=portal.settings,
                    now=portal.now(),
                    written=written,
                )
            except ReviewError as exc:
                return _page(
                    portal,
                    request,
                    session,
                    ctx.admin.email,
                    ctx.state.csrf,
                    error=str(exc),
                    status_code=409,
                )
    except BaseException:
        remove_written(written)
        raise
    return RedirectResponse("/admin/inbox?done=accepted", status_code=303)


@router.post("/{message_id}/discard", response_class=Response)
def discard(
    message_id: int,
    request: Request,
    csrf_token: str = Form(""),
    portal: Portal = Depends(portal_of),
) -> Response:
    with portal.session() as session:
        ctx = _admin_post(portal, request, session, csrf_token)
        if isinstance(ctx, Response):
            return ctx
        message = _message(session, message_id)
        if message is None:
            return forbidden(portal, request, "Такого письма нет.")
        try:
            discard_message(session, message=message, admin_email=ctx.admin.email, now=portal.now())
        except ReviewError as exc:
            return _page(
                portal,
                request,
                session,
                ctx.admin.email,
                ctx.state.csrf,
                error=str(exc),
                status_code=409,
            )
    return RedirectResponse("/admin/inbox?done=discarded", status_code=303)
