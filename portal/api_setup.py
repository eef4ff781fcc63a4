"""The set-up in the JSON API (under `/api/admin`, bearer tokens as the rest of it): list
the uploaded drafts, edit an item of a roadmap or of an uploaded draft, read a roadmap's
history of changes. An
edit is what the set-up page's form does: in a running roadmap it applies from the day it
is made, and is kept in the history."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from fastapi import APIRouter, Body, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from domain.enums import EvidenceFieldKind, OrgKind, Role
from domain.roadmap import EvidenceField, EvidenceSpec
from domain.roadmap_setup import ItemForm, ItemFormError, evidence_lines, form_of
from domain.roadmap_setup_models import RoadmapChange
from domain.roadmaps import item_by_label
from portal.api_admin import AUTH, BEARER, NOT_FOUND, Problem, TokenProblem, not_found, token_user
from portal.app import Portal, portal_of
from services.roadmap_setup import (
    SetupError,
    SetupView,
    draft_file,
    draft_view,
    drafts,
    edit_item,
    existing_roadmap,
    history,
    item_spec,
    newest_draft,
    roadmap_for_setup,
    roadmap_view,
    save_draft_item,
)

router = APIRouter(prefix="/api/admin", tags=["admin"], dependencies=[Depends(BEARER)])


class ChangeOut(BaseModel):
    item: str
    field: str  # schedule_text, owner, assignees, evidence
    before: str
    after: str
    who: str
    at: datetime


class HistoryOut(BaseModel):
    roadmap: str
    changes: list[ChangeOut]  # newest first


@router.get("/roadmaps/{key}/history", response_model=HistoryOut, responses={**AUTH, **NOT_FOUND})
def roadmap_history(key: str, request: Request, portal: Portal = Depends(portal_of)) -> Any:
    """Every change to the roadmap's items (who, when, before → after), newest first."""
    with portal.session() as session:
        try:
            token_user(portal, request, session)
        except TokenProblem as exc:
            return exc.response()
        try:
            roadmap = roadmap_for_setup(session, key)
        except SetupError as exc:
            return not_found(str(exc))
        return HistoryOut(
            roadmap=roadmap.key,
            changes=[_change_out(c) for c in history(session, roadmap)],
        )


class DraftListed(BaseModel):
    draft_id: int  # for PATCH …/items/{label}?draft=ID and POST …/activate {"draft": ID}
    key: str  # the roadmap it becomes (or updates) when activated
    title: str
    source_name: str  # the uploaded file's name
    items: int
    warnings: int  # the import's warnings, as POST /roadmaps listed them
    updates: bool  # a roadmap of this key exists: activating the draft updates it
    created_by: str
    created_at: datetime
    updated_at: datetime
    page: str  # the draft's set-up page


@router.get("/drafts", response_model=list[DraftListed], responses=AUTH)
def list_drafts(request: Request, portal: Portal = Depends(portal_of)) -> Any:
    """Uploaded orders not activated yet, newest first (as the set-up page lists them):
    a draft whose id the upload's answer gave is found here again."""
    with portal.session() as session:
        try:
            token_user(portal, request, session)
        except TokenProblem as exc:
            return exc.response()
        listed = []
        for draft in drafts(session):
            assert draft.id is not None
            file = draft_file(draft)
            listed.append(
                DraftListed(
                    draft_id=draft.id,
                    key=file.key,
                    title=file.title,
                    source_name=draft.source_name,
                    items=len(file.items),
                    warnings=len(draft.warnings),
                    updates=existing_roadmap(session, file.key) is not None,
                    created_by=draft.created_by,
                    created_at=draft.created_at,
                    updated_at=draft.updated_at,
                    page=f"/admin/setup/drafts/{draft.id}",
                )
            )
        return listed


class AssigneesIn(BaseModel):
    centre: bool = False
    organisations: Role | None = Field(None, description="head or curator; null: none")
    kinds: list[OrgKind] = Field(default_factory=lambda: list(OrgKind))


class EvidenceFieldIn(BaseModel):
    label: str
    kind: EvidenceFieldKind = EvidenceFieldKind.text
    required: bool = True


class ItemPatch(BaseModel):
    """The fields to change; the others stay as they are."""

    schedule_text: str | None = None
    plan_dates: list[str] | None = Field(
        None, description="an external plan's dates: DD.MM.YYYY or DD.MM.YYYY – DD.MM.YYYY"
    )
    owner_name: str | None = None
    owner_email: str | None = None
    assignees: AssigneesIn | None = None
    evidence: list[EvidenceFieldIn] | None = None


class WindowOut(BaseModel):
    opens: date
    due: date


class ItemOut(BaseModel):
    label: str
    title: str
    schedule_text: str
    needs_dates: bool
    first_due: list[WindowOut]
    owner_name: str
    owner_email: str
    who: str
    organisations: int
    evidence: list[str]
    issues: list[str]


class ItemEditOut(BaseModel):
    item: ItemOut
    changes: list[ChangeOut]  # what this request changed (empty: nothing)


def _form(patch: ItemPatch, current: ItemForm) -> ItemForm:
    form = current
    if patch.schedule_text is not None:
        form.schedule_text = patch.schedule_text
    if patch.plan_dates is not None:
        form.plan_dates = "\n".join(patch.plan_dates)
    if patch.owner_name is not None:
        form.owner_name = patch.owner_name
    if patch.owner_email is not None:
        form.owner_email = patch.owner_email
    if patch.assignees is not None:
        a = patch.assignees
        form.centre = a.centre
        form.organisations = a.organisations.value if a.organisations else ""
        form.kinds = [k.value for k in a.kinds]
    if patch.evidence is not None:
        form.evidence = evidence_lines(
            EvidenceSpec(
                fields=[
                    EvidenceField(name=f"f{n}", label=f.label, kind=f.kind, required=f.required)
                    for n, f in enumerate(patch.evidence)
                ]
            )
        )
    return form


def _item_out(view: SetupView, label: str) -> ItemOut:
    p = next(p for p in view.previews if p.label == label)
    spec = next(s for s in view.file.items if s.label == label)
    return ItemOut(
        label=p.label,
        title=p.title,
        schedule_text=p.schedule_text,
        needs_dates=p.needs_dates,
        first_due=[WindowOut(opens=w.opens, due=w.due) for w in p.first],
        owner_name=spec.owner.name,
        owner_email=spec.owner.email,
        who=p.who,
        organisations=p.organisations,
        evidence=p.evidence,
        issues=p.issues,
    )


def _change_out(c: RoadmapChange) -> ChangeOut:
    return ChangeOut(
        item=c.item_label, field=c.field, before=c.before, after=c.after, who=c.who, at=c.at
    )


def _invalid(exc: ItemFormError) -> JSONResponse:
    return JSONResponse({"detail": {"problem": "invalid", "errors": exc.errors}}, status_code=422)


@router.patch(
    "/roadmaps/{key}/items/{label}",
    response_model=ItemEditOut,
    responses={
        **AUTH,
        **NOT_FOUND,
        422: {"model": Problem, "description": "a field is wrong: {detail: {errors: {field: …}}}"},
    },
)
def edit_roadmap_item(
    key: str,
    label: str,
    request: Request,
    patch: ItemPatch = Body(...),
    draft: int | None = Query(None, description="a draft's id (POST /roadmaps): edit it"),
    portal: Portal = Depends(portal_of),
) -> Any:
    """Change an item of a roadmap: its schedule text, an external plan's dates, its owner,
    who gets its task, its answer's fields. The change applies to what falls due from
    today; occurrences, tasks and answers already given stay. Every changed field is
    kept in the roadmap's history. A draft not activated yet (`draft`, or the newest of a
    key that has no roadmap) is fixed the same way, before it runs: no history then."""
    with portal.session() as session:
        try:
            admin = token_user(portal, request, session)
        except TokenProblem as exc:
            return exc.response()
        if draft is not None or existing_roadmap(session, key) is None:
            found = (
                newest_draft(session, key)
                if draft is None
                else next((d for d in drafts(session) if d.id == draft), None)
            )
            if found is None or draft_file(found).key != key:
                return not_found(f"дорожной карты или черновика с ключом «{key}» нет")
            try:
                spec = next(s for s in draft_file(found).items if s.label == label)
            except StopIteration:
                return not_found(f"в черновике «{key}» нет пункта {label}")
            try:
                save_draft_item(session, found, label, _form(patch, form_of(spec)), portal.now())
            except ItemFormError as exc:
                session.rollback()
                return _invalid(exc)
            return ItemEditOut(item=_item_out(draft_view(session, found), label), changes=[])
        try:
            roadmap = roadmap_for_setup(session, key)
            item = item_by_label(session, roadmap, label)
        except (SetupError, LookupError) as exc:
            return not_found(str(exc))
        form = _form(patch, form_of(item_spec(item)))
        try:
            rows = edit_item(
                session,
                roadmap,
                label,
                form,
                who=admin.email,
                now=portal.now(),
                tz=portal.settings.tz,
            )
        except ItemFormError as exc:
            session.rollback()
            return _invalid(exc)
        view = roadmap_view(session, roadmap, portal.settings.tz, portal.today())
        return ItemEditOut(item=_item_out(view, label), changes=[_change_out(c) for c in rows])


__all__ = ["router"]
