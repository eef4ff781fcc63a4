"""The JSON API (`/api`, described at /docs and /openapi.json)."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from domain.access import AdminUser
from domain.enums import EvidenceFieldKind, TaskStatus
from domain.progress import status_label
from domain.tasks import Task
from portal.api_admin import BEARER, TokenProblem, token_user
from portal.app import DbId, Portal, portal_of
from portal.pages import (
    LINK_MESSAGES,
    LINK_STATUS,
    TaskPage,
    link_refusal,
    load_task_page,
    read_form,
)
from portal.views import submissions
from services.answers import (
    ALLOWED_TYPES,
    AnswerError,
    answer_fields,
    remove_written,
    submit_answer,
)
from services.deputies import link_answer_note
from services.links import LinkError
from services.reviews import accept_task, return_task

router = APIRouter(prefix="/api", tags=["api"])


class FieldOut(BaseModel):
    name: str
    label: str
    kind: EvidenceFieldKind
    required: bool
    help: str | None = None


class FileOut(BaseModel):
    field: str
    name: str
    size: int
    sha256: str


class SubmissionOut(BaseModel):
    version: int
    submitted_at: datetime
    submitted_by: str
    values: dict[str, Any]
    files: list[FileOut]
    review_note: str


class ItemOut(BaseModel):
    number: str  # as the order writes it: "1", "1.1", "3а"
    title: str
    expected_result: str
    schedule_text: str


class TaskOut(BaseModel):
    id: int
    item: ItemOut
    organisation: str | None
    cycle: str
    due: date
    status: TaskStatus
    status_label: str
    continuous: bool
    revision: int
    evidence_spec: list[FieldOut]
    allowed_file_types: list[str]
    submissions: list[SubmissionOut]


class TaskStateOut(BaseModel):
    id: int
    status: TaskStatus
    due: date
    revision: int


class ReturnIn(BaseModel):
    reason: str = Field(min_length=1, max_length=20_000)
    new_due: date


class Problem(BaseModel):
    detail: dict[str, Any]


LINK_RESPONSES: dict[int | str, dict[str, Any]] = {
    403: {"model": Problem, "description": "the link is damaged (or the origin is foreign)"},
    404: {"model": Problem, "description": "no such link"},
    410: {"model": Problem, "description": "the link expired or was revoked"},
}


def link_problem(exc: LinkError) -> JSONResponse:
    return JSONResponse(
        {"detail": {"problem": exc.problem.value, "message": LINK_MESSAGES[exc.problem]}},
        status_code=LINK_STATUS[exc.problem],
    )


def task_out(session: Session, page: TaskPage, today: date) -> TaskOut:
    task, item = page.task, page.item
    assert task.id is not None
    versions = submissions(session=session, task=task, item=item)
    return TaskOut(
        id=task.id,
        item=ItemOut(
            number=item.label,
            title=item.title,
            expected_result=item.expected_result,
            schedule_text=item.schedule_text,
        ),
        organisation=page.organisation.name if page.organisation is not None else None,
        cycle=page.occurrence.cycle,
        due=task.due,
        status=task.status,
        status_label=status_label(task, today),
        continuous=page.occurrence.continuous,
        revision=task.revision,
        evidence_spec=[FieldOut(**f.model_dump()) for f in answer_fields(item)],
        allowed_file_types=sorted(ALLOWED_TYPES),
        submissions=[
            SubmissionOut(
                version=v.evidence.version,
                submitted_at=v.evidence.submitted_at,
                submitted_by=v.evidence.submitted_by,
                values=v.evidence.values,
                files=[
                    FileOut(field=f.field, name=f.name, size=f.size, sha256=f.sha256)
                    for f in v.files
                ],
                review_note=v.evidence.review_note,
            )
            for v in versions
        ],
    )


@router.get("/tasks/{token}", response_model=TaskOut, responses=LINK_RESPONSES)
def get_task(token: str, portal: Portal = Depends(portal_of)) -> Response | TaskOut:
    """The task a personal link opens: the item, what is expected, the evidence fields,
    its status and every submission so far."""
    with portal.session() as session:
        try:
            page = load_task_page(session, portal, token)
        except LinkError as exc:
            return link_problem(exc)
        return task_out(session, page, portal.today())


ANSWER_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "description": "One form field per evidence field (by its name); files "
                    "as file parts under the file field's name.",
                    "additionalProperties": {"type": "string"},
                }
            }
        },
    }
}


@router.post(
    "/tasks/{token}/answer",
    response_model=TaskOut,
    status_code=201,
    responses={
        **LINK_RESPONSES,
        422: {"model": Problem, "description": "field errors: {detail: {errors: {field: text}}}"},
    },
    openapi_extra=ANSWER_BODY,
)
async def post_answer(
    token: str, request: Request, portal: Portal = Depends(portal_of)
) -> Response | TaskOut:
    """Answer the task (multipart form): a new evidence version; the receipt is emailed."""
    if not portal.same_origin(request):
        return JSONResponse(
            {"detail": {"problem": "origin", "message": "Запрос с другого сайта отклонён."}},
            status_code=403,
        )
    refused = await run_in_threadpool(link_refusal, portal, token)
    if refused is not None:
        return link_problem(refused)
    values, files = await read_form(request, portal)
    written: list[Path] = []

    def save() -> Response | TaskOut:
        with portal.session() as session:
            try:
                page = load_task_page(session, portal, token)
            except LinkError as exc:
                return link_problem(exc)
            try:
                submit_answer(
                    session=session,
                    task=page.task,
                    values=values,
                    files=files,
                    by=page.link.recipient,
                    settings=portal.settings,
                    now=portal.now(),
                    written=written,
                    via=link_answer_note(page.link),
                )
            except AnswerError as exc:
                session.rollback()
                return JSONResponse({"detail": {"errors": exc.errors}}, status_code=422)
            return task_out(session, page, portal.today())

    try:
        return await run_in_threadpool(save)
    except BaseException as exc:
        # the answer's transaction did not commit: its files must not stay behind
        remove_written(written)
        if not isinstance(exc, IntegrityError):
            raise
    return JSONResponse(
        {"detail": {"problem": "conflict", "message": "Одновременно пришёл другой ответ."}},
        status_code=409,
    )


# --- review by administrators -------------------------------------------------------------


class AuthProblem(Exception):
    def __init__(self, status: int, message: str, retry_after: int = 0) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.retry_after = retry_after

    def response(self) -> JSONResponse:
        headers = {"WWW-Authenticate": 'Bearer realm="roadmap"'} if self.status == 401 else {}
        if self.retry_after:
            headers["Retry-After"] = str(self.retry_after)
        return JSONResponse(
            {"detail": {"problem": "auth", "message": self.message}},
            status_code=self.status,
            headers=headers,
        )


def api_admin(portal: Portal, request: Request, session: Session) -> AdminUser:
    """The administrator of the request's personal API token (`Authorization: Bearer …`,
    portal/api_admin.py): no password and no session cookie, so a page on another site
    cannot make an administrator's browser act through the API."""
    try:
        return token_user(portal, request, session)
    except TokenProblem as exc:
        raise AuthProblem(401, exc.message) from None


AUTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem, "description": "no API token, or a revoked or unknown one"},
    404: {"model": Problem, "description": "no such task"},
    409: {"model": Problem, "description": "the task is not waiting for review"},
}


def _review(
    portal: Portal, request: Request, task_id: int, action: str, body: ReturnIn | None
) -> Response | TaskStateOut:
    with portal.session() as session:
        try:
            admin = api_admin(portal, request, session)
        except AuthProblem as exc:
            return exc.response()
        task = session.get(Task, task_id)
        if task is None:
            return JSONResponse(
                {"detail": {"problem": "not_found", "message": "Такой задачи нет."}},
                status_code=404,
            )
        try:
            if action == "accept":
                accept_task(session=session, task=task, admin_email=admin.email, now=portal.now())
            else:
                assert body is not None
                return_task(
                    session=session,
                    task=task,
                    reason=body.reason,
                    new_due=body.new_due,
                    admin_email=admin.email,
                    settings=portal.settings,
                    now=portal.now(),
                )
        except AnswerError as exc:
            session.rollback()
            status = 409 if set(exc.errors) == {"task"} else 422
            return JSONResponse({"detail": {"errors": exc.errors}}, status_code=status)
        assert task.id is not None
        return TaskStateOut(id=task.id, status=task.status, due=task.due, revision=task.revision)


@router.post(
    "/admin/tasks/{task_id}/accept",
    response_model=TaskStateOut,
    responses=AUTH_RESPONSES,
    dependencies=[Depends(BEARER)],
)
def api_accept(
    task_id: DbId, request: Request, portal: Portal = Depends(portal_of)
) -> Response | TaskStateOut:
    """Accept the task's latest answer."""
    return _review(portal, request, task_id, "accept", None)


@router.post(
    "/admin/tasks/{task_id}/return",
    response_model=TaskStateOut,
    responses=AUTH_RESPONSES,
    dependencies=[Depends(BEARER)],
)
def api_return(
    task_id: DbId, body: ReturnIn, request: Request, portal: Portal = Depends(portal_of)
) -> Response | TaskStateOut:
    """Send the answer back with a reason and a new due date; the recipient is emailed."""
    return _review(portal, request, task_id, "return", body)
