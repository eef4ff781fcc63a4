"""An organisation's deputy in the JSON API: what the centre's deputy page shows (the
deputy, whether it holds today, the history) and its actions (name or change, clear),
with the same bearer tokens as the rest of `/api/admin`."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from fastapi import APIRouter, Body, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlmodel import Session

from domain.deputies import BY_CENTRE, DeputyError, deputy_holds, deputy_of, read_deputy
from domain.formatting import local_date
from domain.organisations import Organisation
from portal.api_admin import AUTH, BEARER, Problem, TokenProblem, token_user
from portal.app import DbId, Portal, portal_of
from services.deputies import clear_deputy, set_deputy, shown_changes

router = APIRouter(prefix="/api/admin", tags=["admin"], dependencies=[Depends(BEARER)])

ORG_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": Problem, "description": "no such organisation"},
}


class DeputyIn(BaseModel):
    name: str = Field(max_length=200, description="the deputy's full name")
    email: str = Field(max_length=254)
    from_day: str = Field(alias="from", max_length=10, description="ГГГГ-ММ-ДД or ДД.ММ.ГГГГ")
    until_day: str = Field(alias="until", max_length=10, description="the last day, inclusive")


class DeputyOut(BaseModel):
    name: str
    email: str
    from_day: date = Field(serialization_alias="from")
    until_day: date = Field(serialization_alias="until")


class DeputyChangeOut(BaseModel):
    at: datetime
    who: str
    before: str
    after: str


class OrgDeputyOut(BaseModel):
    organisation_id: int
    organisation: str
    head_name: str
    head_email: str
    deputy: DeputyOut | None
    holds_today: bool = Field(description="task mail goes to the deputy (head in copy) today")
    history: list[DeputyChangeOut] = Field(description="every change, newest first")


def _out(session: Session, org: Organisation, today: date) -> OrgDeputyOut:
    assert org.id is not None
    deputy = deputy_of(org)
    return OrgDeputyOut(
        organisation_id=org.id,
        organisation=org.name,
        head_name=org.head_name,
        head_email=org.head_email,
        deputy=DeputyOut(
            name=deputy.name,
            email=deputy.email,
            from_day=deputy.from_day,
            until_day=deputy.until_day,
        )
        if deputy is not None
        else None,
        holds_today=deputy_holds(org, today),
        history=[
            DeputyChangeOut(at=c.at, who=c.who, before=c.before, after=c.after)
            for c in shown_changes(session, org.id)
        ],
    )


def _missing(org_id: int) -> JSONResponse:
    return JSONResponse(
        {"detail": {"problem": "not_found", "message": f"Организации № {org_id} нет."}},
        status_code=404,
    )


@router.get(
    "/orgs/{org_id}/deputy",
    response_model=OrgDeputyOut,
    response_model_by_alias=True,
    responses={**AUTH, **ORG_NOT_FOUND},
)
def get_deputy(org_id: DbId, request: Request, portal: Portal = Depends(portal_of)) -> Any:
    """The organisation's deputy (or null), whether it holds today, and its history."""
    with portal.session() as session:
        try:
            token_user(portal, request, session)
        except TokenProblem as exc:
            return exc.response()
        org = session.get(Organisation, org_id)
        if org is None:
            return _missing(org_id)
        return _out(session, org, local_date(portal.now(), portal.settings.tz))


@router.put(
    "/orgs/{org_id}/deputy",
    response_model=OrgDeputyOut,
    response_model_by_alias=True,
    responses={
        **AUTH,
        **ORG_NOT_FOUND,
        422: {"model": Problem, "description": "a field is wrong (Russian text per field)"},
    },
)
def put_deputy(
    org_id: DbId,
    request: Request,
    body: DeputyIn = Body(...),
    portal: Portal = Depends(portal_of),
) -> Any:
    """Name or change the deputy (recorded in the history as the centre's change)."""
    with portal.session() as session:
        try:
            admin = token_user(portal, request, session)
        except TokenProblem as exc:
            return exc.response()
        org = session.get(Organisation, org_id)
        if org is None:
            return _missing(org_id)
        try:
            deputy = read_deputy(
                org,
                name=body.name,
                email=body.email,
                from_text=body.from_day,
                until_text=body.until_day,
            )
        except DeputyError as exc:
            return JSONResponse(
                {"detail": {"problem": "invalid", "errors": exc.errors}}, status_code=422
            )
        now = portal.now()
        set_deputy(session, org, deputy, by=BY_CENTRE, actor=admin.email, now=now)
        session.commit()
        return _out(session, org, local_date(now, portal.settings.tz))


@router.delete(
    "/orgs/{org_id}/deputy",
    response_model=OrgDeputyOut,
    response_model_by_alias=True,
    responses={**AUTH, **ORG_NOT_FOUND},
)
def delete_deputy(org_id: DbId, request: Request, portal: Portal = Depends(portal_of)) -> Any:
    """Clear the deputy: task mail goes to the head again at once."""
    with portal.session() as session:
        try:
            admin = token_user(portal, request, session)
        except TokenProblem as exc:
            return exc.response()
        org = session.get(Organisation, org_id)
        if org is None:
            return _missing(org_id)
        now = portal.now()
        clear_deputy(session, org, by=BY_CENTRE, actor=admin.email, now=now)
        session.commit()
        return _out(session, org, local_date(now, portal.settings.tz))
