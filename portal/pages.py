"""The pages a school head sees: a task by its personal link, the organisation's page."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from domain.access import AccessLink
from domain.evidence import Evidence, EvidenceFile
from domain.organisations import Organisation
from domain.roadmap import RoadmapItem
from domain.tasks import Occurrence, Task
from portal.app import DbId, Portal, portal_of
from portal.views import submissions, task_rows
from services.answers import (
    FILES_PER_FIELD,
    AnswerError,
    UploadedFile,
    answer_fields,
    remove_written,
    stored_content,
    submit_answer,
)
from services.deputies import link_answer_note
from services.links import (
    LinkError,
    LinkProblem,
    issue_task_link,
    resolve_org_token,
    resolve_task_token,
    task_link_revoked,
)

router = APIRouter(include_in_schema=False)

LINK_STATUS = {
    LinkProblem.tampered: 403,
    LinkProblem.unknown: 404,
    LinkProblem.expired: 410,
    LinkProblem.revoked: 410,
    LinkProblem.deputy_ended: 410,
}
LINK_MESSAGES = {
    LinkProblem.tampered: "Ссылка повреждена: возможно, она скопирована не полностью.",
    LinkProblem.unknown: "Такой ссылки нет: возможно, задача удалена или ссылка заменена новой.",
    LinkProblem.expired: "Срок действия ссылки истёк.",
    LinkProblem.revoked: "Ссылка отозвана методическим центром.",
    LinkProblem.deputy_ended: "Ссылка выдана заместителю руководителя, а срок замещения сейчас "
    "не действует (закончился, ещё не начался или заместитель сменён): задачи организации "
    "снова у руководителя. Если ответ всё же нужен от вас, обратитесь к руководителю или в "
    "методический центр.",
}


def link_error_page(portal: Portal, request: Request, problem: LinkProblem) -> Response:
    return portal.render(
        request,
        "link_error.html",
        {"message": LINK_MESSAGES[problem], "problem": problem.value},
        status_code=LINK_STATUS[problem],
    )


def refused_origin_page(portal: Portal, request: Request) -> Response:
    return portal.render(
        request,
        "message.html",
        {
            "title": "Запрос отклонён",
            "message": "Форма отправлена с другого сайта. Откройте ссылку из письма и "
            "отправьте ответ со страницы задачи.",
        },
        status_code=403,
    )


@dataclass
class TaskPage:
    link: AccessLink
    task: Task
    item: RoadmapItem
    occurrence: Occurrence
    organisation: Organisation | None


def load_task_page(session: Session, portal: Portal, token: str) -> TaskPage:
    """The task a token opens; LinkError when the link is refused."""
    link = resolve_task_token(
        session=session, token=token, settings=portal.settings, now=portal.now()
    )
    task = session.get(Task, link.task_id) if link.task_id is not None else None
    if task is None:
        raise LinkError(LinkProblem.unknown)
    item = session.get(RoadmapItem, task.item_id)
    occurrence = session.get(Occurrence, task.occurrence_id)
    if item is None or occurrence is None:
        raise LinkError(LinkProblem.unknown)
    organisation = session.get(Organisation, task.organisation_id) if task.organisation_id else None
    return TaskPage(link, task, item, occurrence, organisation)


def link_refusal(portal: Portal, token: str) -> LinkError | None:
    """Why this answer link is refused, checked before its body is read; None if it opens."""
    with portal.session() as session:
        try:
            load_task_page(session, portal, token)
        except LinkError as exc:
            return exc
    return None


def task_context(
    session: Session,
    page: TaskPage,
    token: str,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
) -> dict[str, Any]:
    return {
        "token": token,
        "task": page.task,
        "item": page.item,
        "occurrence": page.occurrence,
        "organisation": page.organisation,
        "fields": answer_fields(page.item),
        "versions": submissions(session=session, task=page.task, item=page.item),
        "values": values or {},
        "errors": errors or {},
        "files_per_field": FILES_PER_FIELD,
    }


@router.get("/", response_class=Response)
def home(request: Request, portal: Portal = Depends(portal_of)) -> Response:
    return portal.render(
        request,
        "message.html",
        {
            "title": "Портал ответов по дорожной карте",
            "message": "Здесь организации отвечают на задачи дорожной карты. Страница задачи "
            "открывается по персональной ссылке из письма методического центра; если письма "
            "нет или ссылка не работает, напишите в центр.",
        },
    )


@router.get("/t/{token}", response_class=Response)
def task_page(token: str, request: Request, portal: Portal = Depends(portal_of)) -> Response:
    with portal.session() as session:
        try:
            page = load_task_page(session, portal, token)
        except LinkError as exc:
            return link_error_page(portal, request, exc.problem)
        return portal.render(request, "task.html", task_context(session, page, token))


async def read_form(request: Request, portal: Portal) -> tuple[dict[str, str], list[UploadedFile]]:
    """The posted fields and files; a file is read only up to one byte past the limit,
    which is enough to refuse it."""
    form = await request.form(max_files=FILES_PER_FIELD * 20, max_fields=200)
    values: dict[str, str] = {}
    files: list[UploadedFile] = []
    try:
        for name, value in form.multi_items():
            if isinstance(value, UploadFile):
                if not value.filename:
                    continue
                content = await value.read(portal.settings.upload_max_bytes + 1)
                files.append(
                    UploadedFile(
                        field=name,
                        filename=value.filename,
                        content=content,
                        content_type=value.content_type or "",
                    )
                )
            elif name not in values:
                values[name] = value
    finally:
        await form.close()
    return values, files


@router.post("/t/{token}", response_class=Response)
async def task_answer(
    token: str, request: Request, portal: Portal = Depends(portal_of)
) -> Response:
    if not portal.same_origin(request):
        return refused_origin_page(portal, request)
    refused = await run_in_threadpool(link_refusal, portal, token)
    if refused is not None:
        return link_error_page(portal, request, refused.problem)
    values, files = await read_form(request, portal)
    written: list[Path] = []

    def save() -> Response:
        with portal.session() as session:
            try:
                page = load_task_page(session, portal, token)
            except LinkError as exc:
                return link_error_page(portal, request, exc.problem)
            try:
                evidence = submit_answer(
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
                context = task_context(session, page, token, values=values, errors=exc.errors)
                return portal.render(request, "task.html", context, status_code=422)
            version = evidence.version
        return RedirectResponse(f"/t/{token}/done?v={version}", status_code=303)

    try:
        return await run_in_threadpool(save)
    except BaseException as exc:
        # the answer's transaction did not commit: its files must not stay behind
        remove_written(written)
        if not isinstance(exc, IntegrityError):
            raise
    return portal.render(
        request,
        "message.html",
        {
            "title": "Ответ не сохранён",
            "message": "Одновременно пришёл другой ответ на эту задачу. "
            "Откройте ссылку ещё раз и проверьте, что сохранилось.",
        },
        status_code=409,
    )


@router.get("/t/{token}/done", response_class=Response)
def task_done(
    token: str, request: Request, v: str = "", portal: Portal = Depends(portal_of)
) -> Response:
    """The confirmation after an answer; only for a version the task really has."""
    with portal.session() as session:
        try:
            page = load_task_page(session, portal, token)
        except LinkError as exc:
            return link_error_page(portal, request, exc.problem)
        evidence = (
            session.exec(
                select(Evidence).where(Evidence.task_id == page.task.id, Evidence.version == int(v))
            ).first()
            if v.isascii() and v.isdigit() and len(v) <= 9
            else None
        )
        if evidence is None:
            return RedirectResponse(f"/t/{token}", status_code=303)
        return portal.render(
            request,
            "task_done.html",
            {
                "token": token,
                "task": page.task,
                "item": page.item,
                "occurrence": page.occurrence,
                "evidence": evidence,
                "recipient": page.link.recipient,
            },
        )


@router.get("/t/{token}/files/{file_id}", response_class=Response)
def task_file(
    token: str, file_id: DbId, request: Request, portal: Portal = Depends(portal_of)
) -> Response:
    with portal.session() as session:
        try:
            page = load_task_page(session, portal, token)
        except LinkError as exc:
            return link_error_page(portal, request, exc.problem)
        row = session.get(EvidenceFile, file_id)
        evidence = session.get(Evidence, row.evidence_id) if row is not None else None
        if row is None or evidence is None or evidence.task_id != page.task.id:
            return file_missing(portal, request)
        return download(session, row, portal, request)


def file_missing(portal: Portal, request: Request) -> Response:
    return portal.render(
        request,
        "message.html",
        {"title": "Файл не найден", "message": "Такого файла нет в ответах на задачу."},
        status_code=404,
    )


def download(session: Session, row: EvidenceFile, portal: Portal, request: Request) -> Response:
    """The stored file as an attachment under its original name (never shown inline)."""
    try:
        content = stored_content(session, row, portal.settings)
    except LookupError:
        return file_missing(portal, request)
    return Response(
        content,
        media_type="application/octet-stream",
        headers={"Content-Disposition": content_disposition(row.original_name)},
    )


def content_disposition(filename: str) -> str:
    """`attachment` with the original name, RFC 5987-encoded when it is not ASCII."""
    ascii_name = filename.encode("ascii", "ignore").decode() or "file"
    ascii_name = ascii_name.replace('"', "").replace("\\", "")
    return f"attachment; filename=\"{ascii_name}\"; filename*=utf-8''{quote(filename, safe='')}"


@router.get("/o/{token}", response_class=Response)
def organisation_page(
    token: str, request: Request, portal: Portal = Depends(portal_of)
) -> Response:
    now = portal.now()
    with portal.session() as session:
        try:
            link = resolve_org_token(
                session=session, token=token, settings=portal.settings, now=now
            )
        except LinkError as exc:
            return link_error_page(portal, request, exc.problem)
        organisation = (
            session.get(Organisation, link.organisation_id) if link.organisation_id else None
        )
        if organisation is None:
            return link_error_page(portal, request, LinkProblem.unknown)
        return org_page_response(
            request, portal, session, link, organisation, token=token, extra={}
        )


def org_page_response(
    request: Request,
    portal: Portal,
    session: Session,
    link: AccessLink,
    organisation: Organisation,
    *,
    token: str,
    extra: dict[str, Any],
    status_code: int = 200,
) -> Response:
    """The organisation's page: its tasks (each with its recipient's link) and its
    deputy; `extra` adds or overrides context (the deputy form's values and errors)."""
    from portal.deputies import deputy_context

    now = portal.now()
    tasks = list(
        session.exec(
            select(Task)
            .where(Task.organisation_id == organisation.id)
            .order_by(col(Task.due).desc(), col(Task.id))
        ).all()
    )
    rows = task_rows(session=session, tasks=tasks, today=portal.today())
    # a revoked link stays revoked: the row then says whom to ask instead of linking
    links: dict[int | None, str | None] = {
        row.task.id: None
        if row.task.id is None
        or task_link_revoked(session=session, task_id=row.task.id, recipient=link.recipient)
        else issue_task_link(
            session=session,
            task=row.task,
            recipient=link.recipient,
            settings=portal.settings,
            now=now,
        )
        for row in rows
    }
    context = {
        "organisation": organisation,
        "rows": rows,
        "links": links,
        **deputy_context(
            session,
            portal,
            link,
            organisation,
            token=token,
            tasks=tasks,
            notice=request.query_params.get("deputy", ""),
        ),
        **extra,
    }
    return portal.render(request, "organisation.html", context, status_code=status_code)
