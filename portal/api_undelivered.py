"""Mail that did not arrive, in the JSON API: the list «Недоставленные письма» shows, and
its one action (fix the address, send again), with the same bearer tokens as the rest of
`/api/admin`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Body, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from domain.roadmaps import all_roadmaps
from portal.admin import page_of
from portal.api_admin import AUTH, BEARER, Problem, TokenProblem, token_user
from portal.app import DbId, Portal, portal_of
from services.undelivered import (
    ResendError,
    count_undelivered,
    fix_and_resend,
    list_undelivered,
    mail_figures,
    undelivered_out,
)

router = APIRouter(prefix="/api/admin", tags=["admin"], dependencies=[Depends(BEARER)])


class UndeliveredOut(BaseModel):
    id: int
    state: str = Field(description="failed: refused for good; deferred: retried too long")
    reason: str = Field(description="the server's reply (or what went wrong)")
    address: str
    cc: list[str]
    subject: str
    kind: str
    kind_label: str
    created_at: datetime
    next_attempt_at: datetime | None
    attempts: int
    organisation_id: int | None
    organisation: str | None
    head_name: str | None
    field: str | None = Field(description="the organisation's contact field with the address")
    field_label: str | None
    roadmaps: list[str]
    task_ids: list[int]


class UndeliveredPageOut(BaseModel):
    total: int
    page: int
    pages: int
    per_page: int
    failed: int
    deferred: int
    deferred_hours: float
    problem: str = Field(description="the last outbox run's configuration problem, or empty")
    items: list[UndeliveredOut]


class ResendIn(BaseModel):
    address: str = Field(description="the fixed address", max_length=400)


class ResendOut(BaseModel):
    email_id: int
    organisation_id: int | None
    organisation: str
    field: str
    old_address: str
    new_address: str
    resent: list[int] = Field(description="the outgoing rows queued to the new address")
    already: list[int] = Field(description="rows an earlier fix to this address queued")


def refusal(exc: ResendError) -> JSONResponse:
    problem = {404: "not_found", 409: "conflict"}.get(exc.status, "invalid")
    return JSONResponse(
        {"detail": {"problem": problem, "field": exc.field or None, "message": exc.message}},
        status_code=exc.status,
    )


@router.get("/undelivered", response_model=UndeliveredPageOut, responses=AUTH)
def get_undelivered(
    request: Request,
    roadmap: str = Query("", max_length=64, description="a roadmap's key; empty: every one"),
    page: str = Query("1", description="1, 2, …; past the end: the last page"),
    per_page: str = Query("50", description="50, 100, 200 or 500"),
    portal: Portal = Depends(portal_of),
) -> Any:
    """Permanent delivery failures and mail retried longer than
    ROADMAP_MAIL_DEFERRED_HOURS, the newest first, each with the server's reason, the
    recipient, the organisation (and its head) and the contact field the address is in."""
    with portal.session() as session:
        try:
            token_user(portal, request, session)
        except TokenProblem as exc:
            return exc.response()
        now = portal.now()
        settings = portal.settings
        if roadmap and roadmap not in {r.key for r in all_roadmaps(session)}:
            return JSONResponse(
                {"detail": {"problem": "not_found", "message": f"Дорожной карты {roadmap} нет."}},
                status_code=404,
            )
        shown = page_of(
            count_undelivered(session, now=now, settings=settings, roadmap=roadmap), page, per_page
        )
        rows = list_undelivered(
            session,
            now=now,
            settings=settings,
            roadmap=roadmap,
            offset=shown.offset,
            limit=shown.per_page,
        )
        figures = mail_figures(session, now=now, settings=settings)
        return UndeliveredPageOut(
            total=shown.total,
            page=shown.number,
            pages=shown.pages,
            per_page=shown.per_page,
            failed=figures.failed,
            deferred=figures.deferred,
            deferred_hours=figures.deferred_hours,
            problem=figures.problem,
            items=[UndeliveredOut(**undelivered_out(r)) for r in rows],
        )


@router.post(
    "/undelivered/{email_id}/resend",
    response_model=ResendOut,
    responses={
        **AUTH,
        404: {"model": Problem, "description": "no such message"},
        409: {"model": Problem, "description": "already resent, or not undelivered"},
        422: {"model": Problem, "description": "the address is not valid"},
    },
)
def post_resend(
    email_id: DbId,
    request: Request,
    body: ResendIn = Body(...),
    portal: Portal = Depends(portal_of),
) -> Any:
    """Fix the address an undelivered message went to (the organisation's contact field is
    updated) and queue every undelivered message to the old address again to the new one,
    each once; the old rows keep their history."""
    with portal.session() as session:
        try:
            admin = token_user(portal, request, session)
        except TokenProblem as exc:
            return exc.response()
        try:
            result = fix_and_resend(
                session,
                email_id=email_id,
                address=body.address,
                actor=admin.email,
                now=portal.now(),
                settings=portal.settings,
            )
        except ResendError as exc:
            session.rollback()
            return refusal(exc)
        return ResendOut(
            email_id=result.email_id,
            organisation_id=result.organisation_id,
            organisation=result.organisation,
            field=result.field,
            old_address=result.old_address,
            new_address=result.new_address,
            resent=result.resent,
            already=result.already,
        )
