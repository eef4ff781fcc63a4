"""The head's deputy on the pages: the form on the organisation's page (only for the
head's own link), the centre's page for an organisation's deputy, and who answered."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlmodel import Session, col, select

from domain.access import AccessLink
from domain.deputies import (
    BY_CENTRE,
    BY_HEAD,
    Deputy,
    DeputyError,
    deputy_holds,
    deputy_of,
    read_deputy,
)
from domain.enums import TaskEventKind
from domain.organisations import Organisation
from domain.tasks import Task, TaskEvent
from portal.app import DbId, Portal, portal_of
from services.deputies import (
    answered_by,
    clear_deputy,
    set_deputy,
    shown_changes,
)
from services.links import LinkError, LinkProblem, resolve_org_token

router = APIRouter(include_in_schema=False)

NOTICES = {
    "saved": "Заместитель назначен: на эти дни задачи придут ему, а вам — копии писем.",
    "cleared": "Заместитель снят: задачи снова приходят руководителю.",
    "same": "Ничего не изменилось.",
}


def org_csrf(portal: Portal, link_id: int) -> str:
    """The deputy form's token on an organisation's page: tied to the page's link, so a
    form posted from elsewhere (or for another link) is refused."""
    key = portal.settings.secret_key.get_secret_value().encode("utf-8")
    return hmac.new(key, f"roadmap.org-deputy.v1:{link_id}".encode(), hashlib.sha256).hexdigest()


def _is_head(link: AccessLink, org: Organisation) -> bool:
    return link.recipient.strip().lower() == org.head_email.strip().lower()


def _form_of(org: Organisation) -> dict[str, str]:
    deputy = deputy_of(org)
    if deputy is None:
        return {"name": "", "email": "", "from": "", "until": ""}
    return {
        "name": deputy.name,
        "email": deputy.email,
        "from": deputy.from_day.isoformat(),
        "until": deputy.until_day.isoformat(),
    }


@dataclass(frozen=True)
class AnswerLine:
    at: datetime
    who: str


def answer_lines(
    session: Session, org: Organisation, tasks: Sequence[Task]
) -> dict[int, list[AnswerLine]]:
    """Per task, every answer given and who gave it (a deputy named as such)."""
    ids = [t.id for t in tasks if t.id is not None]
    found: dict[int, list[AnswerLine]] = {}
    if not ids:
        return found
    for event in session.exec(
        select(TaskEvent)
        .where(col(TaskEvent.task_id).in_(ids), TaskEvent.kind == TaskEventKind.submitted)
        .order_by(col(TaskEvent.at), col(TaskEvent.id))
    ).all():
        found.setdefault(event.task_id, []).append(
            AnswerLine(event.at, answered_by(org, event.actor, event.note))
        )
    return found


def deputy_context(
    session: Session,
    portal: Portal,
    link: AccessLink,
    org: Organisation,
    *,
    token: str,
    tasks: Sequence[Task],
    notice: str = "",
) -> dict[str, Any]:
    """What the organisation's page shows about the deputy; the form only to the head."""
    assert link.id is not None and org.id is not None
    can_edit = _is_head(link, org)
    return {
        "token": token,
        "deputy": deputy_of(org),
        "deputy_holds": deputy_holds(org, portal.today()),
        "can_name_deputy": can_edit,
        "deputy_csrf": org_csrf(portal, link.id) if can_edit else "",
        "deputy_form": _form_of(org),
        "deputy_errors": {},
        "deputy_notice": NOTICES.get(notice, ""),
        "deputy_history": shown_changes(session, org.id),
        "answers": answer_lines(session, org, tasks),
    }


def _apply(
    session: Session,
    org: Organisation,
    *,
    action: str,
    form: dict[str, str],
    by: str,
    actor: str,
    now: datetime,
) -> str:
    """Set or clear the deputy from a form; returns the notice key. DeputyError on bad
    input."""
    if action == "clear":
        change = clear_deputy(session, org, by=by, actor=actor, now=now)
        return "cleared" if change is not None else "same"
    deputy: Deputy = read_deputy(
        org,
        name=form["name"],
        email=form["email"],
        from_text=form["from"],
        until_text=form["until"],
    )
    change = set_deputy(session, org, deputy, by=by, actor=actor, now=now)
    return "saved" if change is not None else "same"


@router.post("/o/{token}/deputy", response_class=Response)
def head_names_deputy(
    token: str,
    request: Request,
    csrf_token: str = Form(""),
    action: str = Form("set"),
    name: str = Form(""),
    email: str = Form(""),
    from_day: str = Form(""),
    until_day: str = Form(""),
    portal: Portal = Depends(portal_of),
) -> Response:
    from portal.pages import link_error_page, org_page_response, refused_origin_page

    if not portal.same_origin(request):
        return refused_origin_page(portal, request)
    now = portal.now()
    with portal.session() as session:
        try:
            link = resolve_org_token(
                session=session, token=token, settings=portal.settings, now=now
            )
        except LinkError as exc:
            return link_error_page(portal, request, exc.problem)
        org = session.get(Organisation, link.organisation_id) if link.organisation_id else None
        if org is None or link.id is None:
            return link_error_page(portal, request, LinkProblem.unknown)
        if not hmac.compare_digest(csrf_token, org_csrf(portal, link.id)):
            return refused_origin_page(portal, request)
        if not _is_head(link, org):
            return portal.render(
                request,
                "message.html",
                {
                    "title": "Заместителя назначает руководитель",
                    "message": "Назначить заместителя может только руководитель организации "
                    "по своей ссылке (или методический центр).",
                },
                status_code=403,
            )
        form = {"name": name, "email": email, "from": from_day, "until": until_day}
        try:
            done = _apply(
                session, org, action=action, form=form, by=BY_HEAD, actor=link.recipient, now=now
            )
        except DeputyError as exc:
            session.rollback()
            return org_page_response(
                request,
                portal,
                session,
                link,
                org,
                token=token,
                extra={"deputy_form": form, "deputy_errors": exc.errors},
                status_code=422,
            )
    return RedirectResponse(f"/o/{token}?deputy={done}#deputy", status_code=303)


# --- the centre's side --------------------------------------------------------------------


def _admin_page(
    portal: Portal,
    request: Request,
    session: Session,
    org: Organisation,
    *,
    admin: Any,
    csrf: str,
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    notice: str = "",
    status_code: int = 200,
) -> Response:
    assert org.id is not None
    return portal.render(
        request,
        "admin/deputy.html",
        {
            "admin": admin,
            "csrf": csrf,
            "organisation": org,
            "deputy": deputy_of(org),
            "deputy_holds": deputy_holds(org, portal.today()),
            "deputy_form": form or _form_of(org),
            "deputy_errors": errors or {},
            "deputy_notice": notice,
            "deputy_history": shown_changes(session, org.id),
        },
        status_code=status_code,
    )


@router.get("/admin/orgs/{org_id}/deputy", response_class=Response)
def admin_deputy_page(
    org_id: DbId, request: Request, done: str = "", portal: Portal = Depends(portal_of)
) -> Response:
    from portal.admin import _login_redirect, not_found, require_admin

    with portal.session() as session:
        ctx = require_admin(portal, request, session)
        if ctx is None:
            return _login_redirect(request)
        org = session.get(Organisation, org_id)
        if org is None:
            return not_found(portal, request)
        return _admin_page(
            portal,
            request,
            session,
            org,
            admin=ctx.admin,
            csrf=ctx.state.csrf,
            notice=NOTICES.get(done, ""),
        )


@router.post("/admin/orgs/{org_id}/deputy", response_class=Response)
def admin_sets_deputy(
    org_id: DbId,
    request: Request,
    csrf_token: str = Form(""),
    action: str = Form("set"),
    name: str = Form(""),
    email: str = Form(""),
    from_day: str = Form(""),
    until_day: str = Form(""),
    portal: Portal = Depends(portal_of),
) -> Response:
    from portal.admin import current_admin, forbidden, not_found, posted_ok

    now = portal.now()
    with portal.session() as session:
        state = posted_ok(portal, request, csrf_token)
        admin = current_admin(session, state, now)
        if state is None or admin is None:
            return forbidden(
                portal, request, "Форма устарела или вы не вошли. Обновите страницу и повторите."
            )
        org = session.get(Organisation, org_id)
        if org is None:
            return not_found(portal, request)
        form = {"name": name, "email": email, "from": from_day, "until": until_day}
        try:
            done = _apply(
                session, org, action=action, form=form, by=BY_CENTRE, actor=admin.email, now=now
            )
        except DeputyError as exc:
            session.rollback()
            return _admin_page(
                portal,
                request,
                session,
                org,
                admin=admin,
                csrf=state.csrf,
                form=form,
                errors=exc.errors,
                status_code=422,
            )
    return RedirectResponse(f"/admin/orgs/{org_id}/deputy?done={done}", status_code=303)


__all__ = ["answer_lines", "deputy_context", "org_csrf", "router"]
