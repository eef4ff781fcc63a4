"""«Недоставленные письма»: mail that failed for good or is long deferred, with the
server's reason and the organisation; the centre fixes the address and resends."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlmodel import Session

from domain.roadmaps import all_roadmaps
from portal.admin import (
    AdminContext,
    _admin_post,
    _login_redirect,
    page_of,
    require_admin,
)
from portal.app import DbId, Portal, portal_of
from services.undelivered import (
    ResendError,
    Undelivered,
    count_undelivered,
    fix_and_resend,
    list_undelivered,
    mail_figures,
)

router = APIRouter(prefix="/admin", include_in_schema=False)

PER_PAGE_CHOICES = (50, 100, 200, 500)


@dataclass(frozen=True)
class Group:
    """The messages of one page to one address of one organisation: one fix for all."""

    first: Undelivered
    rows: list[Undelivered]


def groups_of(rows: list[Undelivered]) -> list[Group]:
    found: dict[tuple[int | None, str], list[Undelivered]] = {}
    for row in rows:
        org_id = row.organisation.id if row.organisation is not None else None
        found.setdefault((org_id, row.address.lower()), []).append(row)
    return [Group(first=g[0], rows=g) for g in found.values()]


def _query(roadmap: str, **more: object) -> str:
    data = {"roadmap": roadmap, **more}
    return urlencode({k: v for k, v in data.items() if v not in (None, "")})


def _page(
    portal: Portal,
    request: Request,
    session: Session,
    ctx: AdminContext,
    *,
    roadmap: str,
    page: str,
    per_page: str,
    errors: dict[int, str] | None = None,
    typed: dict[int, str] | None = None,
    notice: str = "",
    status_code: int = 200,
) -> Response:
    now = portal.now()
    settings = portal.settings
    roadmaps = all_roadmaps(session)
    if roadmap not in {r.key for r in roadmaps}:
        roadmap = ""
    total = count_undelivered(session, now=now, settings=settings, roadmap=roadmap)
    shown = page_of(total, page, per_page if per_page else "50")
    rows = list_undelivered(
        session,
        now=now,
        settings=settings,
        roadmap=roadmap,
        offset=shown.offset,
        limit=shown.per_page,
    )
    return portal.render(
        request,
        "admin/undelivered.html",
        {
            "admin": ctx.admin,
            "csrf": ctx.state.csrf,
            "wide": True,
            "rows": rows,
            "groups": groups_of(rows),
            "page": shown,
            "per_page_choices": PER_PAGE_CHOICES,
            "roadmap": roadmap,
            "roadmaps": roadmaps,
            "figures": mail_figures(session, now=now, settings=settings),
            "query": lambda **more: _query(roadmap, **more),
            "errors": errors or {},
            # an error about a message the page no longer lists (resent meanwhile)
            "loose_errors": [
                m for i, m in (errors or {}).items() if i not in {r.email.id for r in rows}
            ],
            "typed": typed or {},
            "notice": notice,
        },
        status_code=status_code,
    )


@router.get("/undelivered", response_class=Response)
def undelivered_page(
    request: Request,
    roadmap: str = "",
    page: str = "1",
    per_page: str = "",
    done: str = "",
    portal: Portal = Depends(portal_of),
) -> Response:
    with portal.session() as session:
        ctx = require_admin(portal, request, session)
        if ctx is None:
            return _login_redirect(request)
        notice = ""
        if done.isascii() and done.isdigit() and len(done) < 7:
            notice = (
                f"Адрес исправлен; писем отправлено заново: {int(done)}. Они уйдут при "
                "ближайшей отправке почты."
            )
        return _page(
            portal,
            request,
            session,
            ctx,
            roadmap=roadmap[:64],
            page=page,
            per_page=per_page,
            notice=notice,
        )


@router.get("/undelivered.xlsx", response_class=Response)
def undelivered_xlsx(
    request: Request, roadmap: str = "", portal: Portal = Depends(portal_of)
) -> Response:
    """Every message of the list (all its pages) as an Excel workbook."""
    from portal.xlsx_export import XLSX_TYPE, undelivered_workbook

    with portal.session() as session:
        if require_admin(portal, request, session) is None:
            return _login_redirect(request)
        now, settings = portal.now(), portal.settings
        if roadmap not in {r.key for r in all_roadmaps(session)}:
            roadmap = ""
        total = count_undelivered(session, now=now, settings=settings, roadmap=roadmap)
        rows = list_undelivered(
            session, now=now, settings=settings, roadmap=roadmap, offset=0, limit=max(total, 1)
        )
        today = portal.today()
        body = undelivered_workbook(rows, today=today, tz=settings.tz)
    return Response(
        body,
        media_type=XLSX_TYPE,
        headers={
            "Content-Disposition": f'attachment; filename="undelivered-{today.isoformat()}.xlsx"'
        },
    )


@router.post("/undelivered/{email_id}/resend", response_class=Response)
def resend(
    email_id: DbId,
    request: Request,
    csrf_token: str = Form(""),
    address: str = Form(""),
    roadmap: str = Form(""),
    page: str = Form("1"),
    per_page: str = Form(""),
    portal: Portal = Depends(portal_of),
) -> Response:
    with portal.session() as session:
        ctx = _admin_post(portal, request, session, csrf_token)
        if isinstance(ctx, Response):
            return ctx
        try:
            result = fix_and_resend(
                session,
                email_id=email_id,
                address=address[:400],
                actor=ctx.admin.email,
                now=portal.now(),
                settings=portal.settings,
            )
        except ResendError as exc:
            session.rollback()
            return _page(
                portal,
                request,
                session,
                ctx,
                roadmap=roadmap[:64],
                page=page,
                per_page=per_page,
                errors={email_id: exc.message},
                typed={email_id: address[:400]},
                status_code=exc.status,
            )
    target = _query(roadmap[:64], page=page if page != "1" else "", done=len(result.resent))
    return RedirectResponse(f"/admin/undelivered?{target}", status_code=303)
