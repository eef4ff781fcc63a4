"""The centre's JSON API under `/api/admin` (OpenAPI at /docs): the roadmaps, the matrix
of a roadmap's cycle, an order's draft, activation. Every route needs a personal API token
(`roadmap admin token EMAIL`, sent as `Authorization: Bearer …`): never a password, never
the session cookie, so no page on another site can act with an administrator's rights."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any

from fastapi import APIRouter, Body, Depends, Query, Request
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPBearer
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import Session, col, select

from domain.access import AdminUser
from domain.enums import OrgKind
from domain.matrix import CELL_LABELS, TASK_STATUSES, CellStatus, Matrix
from domain.progress import status_label
from domain.roadmap import Roadmap, RoadmapItem
from domain.roadmaps import RoadmapChoiceError, all_roadmaps, roadmap_by_key
from portal.admin import count_tasks, filtered_tasks, page_of, parse_filter
from portal.api_tokens import bearer_token, token_admin
from portal.app import Portal, portal_of
from portal.views import task_rows
from portal.workplace import MatrixChoiceError, load_matrix, roadmap_cycles
from services.roadmap_setup import (
    SetupError,
    activate_draft,
    create_draft,
    draft_by_id,
    draft_file,
    existing_roadmap,
    is_running,
    newest_draft,
    restart_tracking,
)

# Declares the bearer scheme in the OpenAPI document (the "Authorize" button of /docs);
# the check itself is token_user's, so that every refusal is the same Russian 401.
BEARER = HTTPBearer(auto_error=False, description="`roadmap admin token EMAIL`")
router = APIRouter(prefix="/api/admin", tags=["admin"], dependencies=[Depends(BEARER)])


class Problem(BaseModel):
    detail: dict[str, Any]


class TokenProblem(Exception):
    """The request carries no live API token: 401 with a Russian message."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def response(self) -> JSONResponse:
        return token_refusal(self.message)


def token_refusal(message: str) -> JSONResponse:
    return JSONResponse(
        {"detail": {"problem": "auth", "message": message}},
        status_code=401,
        headers={"WWW-Authenticate": 'Bearer realm="roadmap"'},
    )


NO_TOKEN = (
    "Нужен API-токен администратора: заголовок Authorization: Bearer <токен> "
    "(выдаёт команда `roadmap admin token EMAIL`)."
)
BAD_TOKEN = "API-токен неверен или отозван: получите новый командой `roadmap admin token EMAIL`."


def token_user(portal: Portal, request: Request, session: Session) -> AdminUser:
    """The administrator of the request's bearer token, or TokenProblem."""
    token = bearer_token(request.headers.get("authorization"))
    if token is None:
        raise TokenProblem(NO_TOKEN)
    admin = token_admin(session=session, token=token, now=portal.now())
    if admin is None:
        raise TokenProblem(BAD_TOKEN)
    return admin


AUTH: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem, "description": "no API token, or a revoked or unknown one"},
}
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": Problem, "description": "no such roadmap or cycle"},
}


def not_found(message: str) -> JSONResponse:
    return JSONResponse({"detail": {"problem": "not_found", "message": message}}, status_code=404)


# --- roadmaps -----------------------------------------------------------------------------


class RoadmapOut(BaseModel):
    key: str
    title: str
    order_number: str
    order_date: date
    district: str
    activated_at: datetime | None
    retired_at: datetime | None
    items: int
    needs_dates: int
    cycles: list[str]


def roadmap_out(session: Session, roadmap: Roadmap) -> RoadmapOut:
    flags = session.exec(
        select(RoadmapItem.needs_dates).where(
            RoadmapItem.roadmap_id == roadmap.id, col(RoadmapItem.withdrawn).is_(False)
        )
    ).all()
    return RoadmapOut(
        key=roadmap.key,
        title=roadmap.title,
        order_number=roadmap.order_number,
        order_date=roadmap.order_date,
        district=roadmap.district,
        activated_at=roadmap.activated_at,
        retired_at=roadmap.retired_at,
        items=len(flags),
        needs_dates=sum(1 for f in flags if f),
        cycles=roadmap_cycles(session, roadmap),
    )


@router.get("/roadmaps", response_model=list[RoadmapOut], responses=AUTH)
def list_roadmaps(request: Request, portal: Portal = Depends(portal_of)) -> Any:
    """Every roadmap: key, title, order, since when it is tracked, items, how many need
    dates, the cycles it has tasks in."""
    with portal.session() as session:
        try:
            token_user(portal, request, session)
        except TokenProblem as exc:
            return exc.response()
        return [roadmap_out(session, r) for r in all_roadmaps(session)]


class ActivateIn(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    from_: date | None = Field(
        None,
        alias="from",
        description="tracking starts on this day (YYYY-MM-DD); a draft of a running "
        "roadmap's key keeps its start and needs none",
    )
    draft: int | None = Field(
        None,
        description="the draft to activate (`draft_id` of POST /roadmaps); default: "
        "the roadmap of this key, or else the newest draft of this key",
    )


class ActivateProblem(Exception):
    """Activation cannot go ahead: 404 or 422 with a Russian message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def _activate(session: Session, key: str, body: ActivateIn, who: str, portal: Portal) -> Roadmap:
    tz, now = portal.settings.tz, portal.now()
    draft = None
    if body.draft is not None:
        try:
            draft = draft_by_id(session, body.draft)
        except SetupError as exc:
            raise ActivateProblem(404, str(exc)) from None
        if draft.activated_at is not None or draft_file(draft).key != key:
            raise ActivateProblem(
                404, f"черновика № {body.draft} с ключом «{key}», ещё не запущенного, нет"
            )
    elif existing_roadmap(session, key) is None:
        draft = newest_draft(session, key)
    if draft is not None:
        running = is_running(existing_roadmap(session, key))
        if body.from_ is None and not running:
            raise ActivateProblem(422, "укажите from: с какого дня отслеживать (ГГГГ-ММ-ДД)")
        return activate_draft(
            session, draft, from_day=None if running else body.from_, tz=tz, who=who, now=now
        )
    try:
        roadmap = roadmap_by_key(session, key)
    except RoadmapChoiceError as exc:
        raise ActivateProblem(404, str(exc)) from None
    if body.from_ is None:
        raise ActivateProblem(422, "укажите from: с какого дня отслеживать (ГГГГ-ММ-ДД)")
    at = datetime.combine(body.from_, time(0, 0), tzinfo=tz)
    restart_tracking(session, roadmap, at, who=who, now=now, tz=tz)
    return roadmap


@router.post(
    "/roadmaps/{key}/activate",
    response_model=RoadmapOut,
    responses={
        **AUTH,
        **NOT_FOUND,
        422: {"model": Problem, "description": "no day to start from"},
    },
)
def activate_roadmap(
    key: str,
    request: Request,
    body: ActivateIn = Body(...),
    portal: Portal = Depends(portal_of),
) -> Any:
    """Start tracking a roadmap from a day (00:00 district time), as
    `roadmap activate KEY --from DATE`: nothing due before it is opened, chased or
    summarised; a retired roadmap runs again; a move of a tracked roadmap's start is kept
    in its history. A draft uploaded with POST /roadmaps (`draft`, or the newest of a key
    that has no roadmap yet) becomes its roadmap, as the set-up page's "Запустить": a
    running roadmap of its key is updated (its changes kept in the history) and keeps
    its start."""
    with portal.session() as session:
        try:
            admin = token_user(portal, request, session)
        except TokenProblem as exc:
            return exc.response()
        try:
            roadmap = _activate(session, key, body, admin.email, portal)
        except (ActivateProblem, SetupError) as exc:
            session.rollback()
            status = exc.status if isinstance(exc, ActivateProblem) else 409
            return JSONResponse(
                {
                    "detail": {
                        "problem": "not_found" if status == 404 else "invalid",
                        "message": str(exc),
                    }
                },
                status_code=status,
            )
        return roadmap_out(session, roadmap)


# --- the matrix ---------------------------------------------------------------------------


class CellOut(BaseModel):
    status: CellStatus
    label: str
    task_id: int | None
    due: date | None


class ItemOut(BaseModel):
    id: int
    label: str
    title: str
    owner: str


class RowOut(BaseModel):
    item: ItemOut
    cells: list[CellOut]  # one per column, in the columns' order
    total: int
    done: int
    overdue: int
    share_done: float | None
    next_due: date | None


class SectionOut(BaseModel):
    title: str
    rows: list[RowOut]


class ColumnOut(BaseModel):
    organisation_id: int | None  # null: the centre's own tasks
    name: str
    short_name: str
    kind: OrgKind | None
    active: bool
    total: int
    done: int
    overdue: int
    on_time: int
    answered_late: int
    falling_due: int
    share_on_time: float | None
    open_task_ids: list[int]


class MatrixOut(BaseModel):
    roadmap: str
    cycle: str
    as_of: date
    cycles: list[str]
    counts: dict[CellStatus, int]
    columns: list[ColumnOut]
    sections: list[SectionOut]


def matrix_out(key: str, cycle: str, cycles: list[str], m: Matrix) -> MatrixOut:
    return MatrixOut(
        roadmap=key,
        cycle=cycle,
        as_of=m.today,
        cycles=cycles,
        counts={s: m.counts[s] for s in TASK_STATUSES},
        columns=[
            ColumnOut(
                organisation_id=c.organisation_id,
                name=c.name,
                short_name=c.short_name,
                kind=c.kind,
                active=c.active,
                total=c.total,
                done=c.counts[CellStatus.done],
                overdue=c.counts[CellStatus.overdue],
                on_time=c.on_time,
                answered_late=c.answered_late,
                falling_due=c.falling_due,
                share_on_time=c.share_on_time,
                open_task_ids=[t.task_id for t in c.open_tasks if t.task_id is not None],
            )
            for c in m.columns
        ],
        sections=[
            SectionOut(
                title=s.title,
                rows=[
                    RowOut(
                        item=ItemOut(
                            id=r.item.id, label=r.item.label, title=r.item.title, owner=r.item.owner
                        ),
                        cells=[
                            CellOut(
                                status=cell.status,
                                label=CELL_LABELS[cell.status],
                                task_id=cell.task_id,
                                due=cell.due,
                            )
                            for cell in r.cells
                        ],
                        total=r.total,
                        done=r.done,
                        overdue=r.overdue,
                        share_done=r.share_done,
                        next_due=r.next_due,
                    )
                    for r in s.rows
                ],
            )
            for s in m.sections
        ],
    )


@router.get("/roadmaps/{key}/matrix", response_model=MatrixOut, responses={**AUTH, **NOT_FOUND})
def get_matrix(
    key: str,
    request: Request,
    cycle: str = Query("", max_length=9, description="e.g. 2022/2023; default: the current"),
    kind: OrgKind | None = Query(None, description="only organisations of this kind"),
    status: CellStatus | None = Query(None, description="only rows and columns with it"),
    portal: Portal = Depends(portal_of),
) -> Response | MatrixOut:
    """The district at a glance: the roadmap's items (by section) × organisations (in
    natural order), each cell the status of that organisation's task, with totals, each
    item's progress and next due date, each organisation's share answered on time."""
    with portal.session() as session:
        try:
            token_user(portal, request, session)
        except TokenProblem as exc:
            return exc.response()
        try:
            loaded = load_matrix(
                session,
                roadmap_key=key,
                cycle=cycle or None,
                today=portal.today(),
                tz=portal.settings.tz,
                kind=kind,
                status=status,
            )
        except MatrixChoiceError as exc:
            return not_found(str(exc))
        return matrix_out(loaded.roadmap.key, loaded.cycle, loaded.cycles, loaded.matrix)


# --- task lists -------------------------------------------------------------------------


class TaskRowOut(BaseModel):
    id: int
    cycle: str
    item_label: str
    item_title: str
    organisation_id: int | None
    organisation: str
    due: date
    status: str
    status_label: str
    light: str
    submitted_at: datetime | None
    accepted_at: datetime | None
    revision: int


class TaskPageOut(BaseModel):
    total: int
    page: int
    pages: int
    per_page: int
    tasks: list[TaskRowOut]


@router.get("/tasks", response_model=TaskPageOut, responses=AUTH)
def list_tasks(
    request: Request,
    status: str = Query("all", description="all, awaiting, overdue, returned, accepted"),
    item: str = Query("", description="an item's id"),
    org: str = Query("", description="an organisation's id"),
    cycle: str = Query("", max_length=9),
    page: str = Query("1", description="1, 2, …; past the end: the last page"),
    per_page: str = Query("100", description="50, 100, 200 or 500"),
    portal: Portal = Depends(portal_of),
) -> Any:
    """The task list the review pages show, page by page (the same filters and order)."""

    flt = parse_filter(status, item, org, cycle)
    with portal.session() as session:
        try:
            token_user(portal, request, session)
        except TokenProblem as exc:
            return exc.response()
        today = portal.today()
        shown = page_of(count_tasks(session, flt, today), page, per_page)
        rows = task_rows(
            session=session,
            tasks=filtered_tasks(session, flt, today, offset=shown.offset, limit=shown.per_page),
            today=today,
        )
        return TaskPageOut(
            total=shown.total,
            page=shown.number,
            pages=shown.pages,
            per_page=shown.per_page,
            tasks=[
                TaskRowOut(
                    id=r.task.id or 0,
                    cycle=r.occurrence.cycle,
                    item_label=r.item.label,
                    item_title=r.item.title,
                    organisation_id=r.task.organisation_id,
                    organisation=r.assignee,
                    due=r.task.due,
                    status=r.task.status.value,
                    status_label=status_label(r.task, today),
                    light=r.light.value,
                    submitted_at=r.task.submitted_at,
                    accepted_at=r.task.accepted_at,
                    revision=r.task.revision,
                )
                for r in rows
            ],
        )


# --- an order's draft -------------------------------------------------------------------


class ProblemOut(BaseModel):
    where: str  # "строка 18", "таблица Word, строка 5", "файл", "заголовок"
    column: str | None
    message: str
    text: str  # the whole Russian text: where, which column, what is wrong, what to do


class DraftOut(BaseModel):
    draft_id: int  # the stored draft: POST /roadmaps/{key}/activate with {"draft": …}
    page: str  # the draft's set-up page, where it can be checked and fixed too
    updates: bool  # a roadmap of this key exists: activating the draft updates it
    roadmap: dict[str, Any]  # the editable roadmap file (as `roadmap export` writes it)
    warnings: list[ProblemOut]
    where: dict[str, str]  # item number as written -> its row in the source


UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "file": {
                            "type": "string",
                            "format": "binary",
                            "description": "the order: .txt (as in seed/), .docx or .csv",
                        }
                    },
                    "required": ["file"],
                }
            }
        },
    }
}


def problems_out(problems: Any) -> list[ProblemOut]:
    return [
        ProblemOut(where=p.where, column=p.column, message=p.message, text=str(p)) for p in problems
    ]


@router.post(
    "/roadmaps",
    response_model=DraftOut,
    responses={
        **AUTH,
        422: {"model": Problem, "description": "the file cannot be read: {detail: {problems}}"},
    },
    openapi_extra=UPLOAD_BODY,
)
async def draft_roadmap(request: Request, portal: Portal = Depends(portal_of)) -> Any:
    """Read an order (multipart upload, field `file`) into a draft roadmap with its items
    and warnings, as the set-up page's upload does: the draft is kept (nothing runs from
    it) until POST /roadmaps/{key}/activate; PATCH /roadmaps/{key}/items/{label} fixes
    its items first."""
    import tempfile
    from pathlib import Path

    from starlette.concurrency import run_in_threadpool
    from starlette.datastructures import UploadFile

    from domain.roadmap import Centre
    from domain.roadmap_import import (
        SET_UP_PAGES,
        RoadmapImportError,
        build_roadmap,
        read_source,
    )

    def allowed() -> Response | str:
        with portal.session() as session:
            try:
                return token_user(portal, request, session).email
            except TokenProblem as exc:
                return exc.response()

    who = await run_in_threadpool(allowed)
    if isinstance(who, Response):
        return who
    form = await request.form(max_files=1, max_fields=5)
    upload = form.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return JSONResponse(
            {
                "detail": {
                    "problems": [
                        {
                            "where": "файл",
                            "column": None,
                            "message": "нет файла: отправьте приказ полем file "
                            "(multipart/form-data), .txt, .docx или .csv",
                        }
                    ]
                }
            },
            status_code=422,
        )
    name = Path(upload.filename).name
    content = await upload.read()
    settings = portal.settings

    def build() -> Response | DraftOut:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / (Path(name).stem[:80] + Path(name).suffix.lower()[:10])
            path.write_bytes(content)
            try:
                result = build_roadmap(
                    read_source(path),
                    centre=Centre(
                        name=settings.centre_name,
                        short_name=settings.centre_short_name,
                        aliases=list(settings.centre_aliases),
                        address=settings.centre_address,
                    ),
                    today=portal.today(),
                    source_name=Path(name).stem,
                    remedies=SET_UP_PAGES,
                )
            except RoadmapImportError as exc:
                return JSONResponse(
                    {"detail": {"problems": [p.model_dump() for p in problems_out(exc.problems)]}},
                    status_code=422,
                )
        labels = {i.number: i.label for i in result.roadmap.items}
        with portal.session() as session:
            draft = create_draft(
                session, result=result, source_name=name, who=who, now=portal.now()
            )
            assert draft.id is not None
            draft_id = draft.id
            updates = existing_roadmap(session, result.roadmap.key) is not None
            warnings = [  # the import's, and each item an external plan's dates wait for
                ProblemOut(
                    where=str(w["where"]),
                    column=w.get("column"),
                    message=str(w["message"]),
                    text=str(w["text"]),
                )
                for w in draft.warnings
            ]
        return DraftOut(
            draft_id=draft_id,
            page=f"/admin/setup/drafts/{draft_id}",
            updates=updates,
            roadmap=result.roadmap.model_dump(mode="json"),
            warnings=warnings,
            where={labels.get(n, str(n)): row for n, row in result.where.items()},
        )

    return await run_in_threadpool(build)
