"""The centre's review pages: login, task lists, a task's answers, accept and return."""

from __future__ import annotations

import csv
import io
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlmodel import Session, col, func, select

from domain import lifecycle
from domain.access import AdminUser
from domain.evidence import Evidence, EvidenceFile
from domain.formatting import ru_date
from domain.matrix import natural_key
from domain.organisations import Organisation
from domain.progress import status_label
from domain.roadmap import Roadmap, RoadmapItem
from domain.roadmaps import all_roadmaps
from domain.tasks import Occurrence, Task
from portal.app import DB_ID_MAX, DbId, Portal, portal_of
from portal.auth import (
    SESSION_COOKIE,
    SESSION_MAX_AGE,
    AdminSession,
    HashingBusy,
    attempt_login,
    end_session,
    session_admin,
    start_session,
)
from portal.pages import download, file_missing
from portal.views import (
    LIGHT_LABELS,
    ROLE_LABELS,
    TaskRow,
    events,
    submissions,
    task_rows,
)
from services.answers import AnswerError, parse_evidence_date
from services.reviews import accept_task, reissue_task_link, return_task, revoke_task_links
from services.undelivered import mail_figures

router = APIRouter(prefix="/admin", include_in_schema=False)

PER_PAGE = 100  # a list shows this many tasks a page, and pages on
PER_PAGE_CHOICES = (50, 100, 200, 500)

DONE_NOTICES = {
    "accepted": "Ответ принят.",
    "returned": "Задача возвращена на доработку; получателю отправлено письмо.",
    "revoked": "Ссылки на задачу отозваны.",
}


class StatusFilter(StrEnum):
    all = "all"
    awaiting = "awaiting"  # submitted, waiting for review
    overdue = "overdue"
    returned = "returned"
    accepted = "accepted"


FILTER_LABELS = {
    StatusFilter.all: "все",
    StatusFilter.awaiting: "ждут проверки",
    StatusFilter.overdue: "просрочены",
    StatusFilter.returned: "возвращены",
    StatusFilter.accepted: "приняты",
}


# --- sessions and CSRF --------------------------------------------------------------------


def read_session(portal: Portal, request: Request) -> AdminSession | None:
    return portal.sessions.loads(request.cookies.get(SESSION_COOKIE))


def set_session(portal: Portal, response: Response, value: AdminSession) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        portal.sessions.dumps(value),
        max_age=int(SESSION_MAX_AGE.total_seconds()),
        path="/",
        httponly=True,
        samesite="lax",
        secure=portal.sessions.secure,
    )


def current_admin(
    session: Session, state: AdminSession | None, now: datetime | None = None
) -> AdminUser | None:
    """The administrator of the cookie's server-side session, if it is still live."""
    if state is None or state.key is None:
        return None
    return session_admin(session=session, key=state.key, now=now or datetime.now(UTC))


def client_address(request: Request) -> str:
    return request.client.host if request.client is not None else "unknown"


def too_many_attempts(portal: Portal, request: Request, retry_after: int) -> Response:
    minutes = max(1, -(-retry_after // 60))
    return portal.render(
        request,
        "message.html",
        {
            "title": "Слишком много попыток входа",
            "message": "Слишком много попыток входа с неверным паролем. Попробуйте снова "
            f"через {minutes} мин. Если пароль забыт, обратитесь к администратору портала.",
        },
        status_code=429,
        headers={"Retry-After": str(retry_after)},
    )


def hashing_busy(portal: Portal, request: Request) -> Response:
    return portal.render(
        request,
        "message.html",
        {
            "title": "Портал занят",
            "message": "Сейчас проверяется много входов сразу. Повторите через несколько секунд.",
        },
        status_code=503,
        headers={"Retry-After": "5"},
    )


def forbidden(portal: Portal, request: Request, message: str) -> Response:
    return portal.render(
        request, "message.html", {"title": "Запрос отклонён", "message": message}, status_code=403
    )


@dataclass
class AdminContext:
    admin: AdminUser
    state: AdminSession


def _login_redirect(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse("/admin/login?" + urlencode({"next": target}), status_code=303)


def _safe_next(value: str | None) -> str:
    if value and value.startswith("/admin") and not value.startswith("/admin/login"):
        return value
    return "/admin"


def posted_ok(portal: Portal, request: Request, csrf_token: str) -> AdminSession | None:
    """The session of a valid admin POST: right CSRF token, same site."""
    state = read_session(portal, request)
    if state is None or not state.csrf_ok(csrf_token) or not portal.same_origin(request):
        return None
    return state


# --- login --------------------------------------------------------------------------------


@router.get("/login", response_class=Response)
def login_form(
    request: Request, next: str = "/admin", portal: Portal = Depends(portal_of)
) -> Response:
    state = read_session(portal, request) or portal.sessions.new(None)
    response = portal.render(
        request,
        "admin/login.html",
        {"csrf": state.csrf, "next": _safe_next(next), "error": "", "email": ""},
    )
    set_session(portal, response, state)
    return response


@router.post("/login", response_class=Response)
def login(
    request: Request,
    email: str = Form(""),
    password: str = Form(""),
    csrf_token: str = Form(""),
    next: str = Form("/admin"),
    portal: Portal = Depends(portal_of),
) -> Response:
    state = posted_ok(portal, request, csrf_token)
    if state is None:
        return forbidden(portal, request, "Форма устарела. Откройте страницу входа ещё раз.")
    now = portal.now()
    try:
        outcome = attempt_login(
            engine=portal.engine,
            email=email,
            password=password,
            address=client_address(request),
            now=now,
        )
    except HashingBusy:
        return hashing_busy(portal, request)
    if outcome.retry_after:
        return too_many_attempts(portal, request, outcome.retry_after)
    with portal.session() as session:
        if outcome.admin_id is None:
            return portal.render(
                request,
                "admin/login.html",
                {
                    "csrf": state.csrf,
                    "next": _safe_next(next),
                    "error": "Неверный адрес или пароль.",
                    "email": email,
                },
                status_code=401,
            )
        end_session(session=session, key=state.key, now=now)  # a login replaces any other
        key = start_session(session=session, admin_id=outcome.admin_id, now=now)
    redirect = RedirectResponse(_safe_next(next), status_code=303)
    set_session(portal, redirect, portal.sessions.new(key))  # a fresh CSRF token
    return redirect


@router.post("/logout", response_class=Response)
def logout(
    request: Request, csrf_token: str = Form(""), portal: Portal = Depends(portal_of)
) -> Response:
    state = posted_ok(portal, request, csrf_token)
    if state is None:
        return forbidden(portal, request, "Форма устарела. Обновите страницу.")
    with portal.session() as session:
        end_session(session=session, key=state.key, now=portal.now())
    response = RedirectResponse("/admin/login", status_code=303)
    response.delete_cookie(
        SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=portal.sessions.secure
    )
    return response


# --- lists --------------------------------------------------------------------------------


@dataclass
class ListFilter:
    status: StatusFilter = StatusFilter.all
    item: int | None = None
    org: int | None = None
    cycle: str = ""
    roadmap: str = ""  # a roadmap's key; empty: every roadmap

    def query(self, **changes: Any) -> str:
        data = {
            "status": self.status.value,
            "item": self.item,
            "org": self.org,
            "cycle": self.cycle,
            "roadmap": self.roadmap,
        }
        data.update(changes)
        return urlencode({k: v for k, v in data.items() if v not in (None, "", "all")})


def _is_id(text: str) -> bool:
    """Digits that fit a database id (a 64-bit integer)."""
    return text.isascii() and text.isdigit() and int(text) <= DB_ID_MAX


def parse_filter(status: str, item: str, org: str, cycle: str, roadmap: str = "") -> ListFilter:
    try:
        chosen = StatusFilter(status)
    except ValueError:
        chosen = StatusFilter.all
    return ListFilter(
        status=chosen,
        item=int(item) if _is_id(item) else None,
        org=int(org) if _is_id(org) else None,
        cycle=cycle if len(cycle) <= 9 else "",
        roadmap=roadmap if len(roadmap) <= 64 else "",
    )


def _filtered(query: Any, flt: ListFilter, today: date) -> Any:
    if flt.roadmap:
        query = (
            query.join(RoadmapItem, col(RoadmapItem.id) == col(Task.item_id))
            .join(Roadmap, col(Roadmap.id) == col(RoadmapItem.roadmap_id))
            .where(Roadmap.key == flt.roadmap)
        )
    if flt.item is not None:
        query = query.where(Task.item_id == flt.item)
    if flt.org is not None:
        query = query.where(Task.organisation_id == flt.org)
    if flt.cycle:
        query = query.join(Occurrence, col(Occurrence.id) == col(Task.occurrence_id)).where(
            Occurrence.cycle == flt.cycle
        )
    if flt.status is StatusFilter.awaiting:
        query = query.where(col(Task.status).in_(lifecycle.IN_REVIEW))
    elif flt.status is StatusFilter.returned:
        query = query.where(col(Task.status).in_(lifecycle.RETURNED))
    elif flt.status is StatusFilter.accepted:
        query = query.where(col(Task.status).in_(lifecycle.DONE))
    elif flt.status is StatusFilter.overdue:
        query = query.where(col(Task.status).in_(lifecycle.WAITING), col(Task.due) < today)
    return query


def filtered_tasks(
    session: Session, flt: ListFilter, today: date, *, offset: int = 0, limit: int | None = None
) -> list[Task]:
    """The tasks of a filter in list order (due date, item, id); a page of them with
    `offset`/`limit`, every one without."""
    query = _filtered(select(Task), flt, today).order_by(
        col(Task.due), col(Task.item_id), col(Task.id)
    )
    if limit is not None:
        query = query.offset(offset).limit(limit)
    return list(session.exec(query).all())


def count_tasks(session: Session, flt: ListFilter, today: date) -> int:
    query = _filtered(select(func.count(col(Task.id))).select_from(Task), flt, today)
    return int(session.exec(query).one())


@dataclass
class Page:
    number: int
    pages: int
    per_page: int
    total: int

    @property
    def offset(self) -> int:
        return (self.number - 1) * self.per_page


def page_of(total: int, page: str, per_page: str) -> Page:
    """The page asked for, kept inside 1..pages (a page past the end shows the last)."""
    size = int(per_page) if per_page.isdigit() and int(per_page) in PER_PAGE_CHOICES else PER_PAGE
    pages = max(1, -(-total // size))
    number = int(page) if page.isascii() and page.isdigit() and len(page) < 10 else 1
    return Page(number=min(max(number, 1), pages), pages=pages, per_page=size, total=total)


def require_admin(portal: Portal, request: Request, session: Session) -> AdminContext | None:
    state = read_session(portal, request)
    admin = current_admin(session, state, portal.now())
    if admin is None or state is None:
        return None
    return AdminContext(admin=admin, state=state)


def filter_choices(session: Session) -> dict[str, Any]:
    roadmaps = all_roadmaps(session)
    keys = {r.id: r.key for r in roadmaps}
    items = session.exec(
        select(RoadmapItem).order_by(col(RoadmapItem.roadmap_id), col(RoadmapItem.number))
    ).all()
    orgs = sorted(
        session.exec(select(Organisation)).all(),
        key=lambda o: (natural_key(o.short_name or o.name), o.id or 0),
    )
    cycles = sorted(set(session.exec(select(Occurrence.cycle)).all()), reverse=True)
    return {
        "items": items,
        "orgs": orgs,
        "cycles": cycles,
        "roadmaps": roadmaps,
        "roadmap_keys": keys if len(roadmaps) > 1 else {},
    }


@router.get("", response_class=Response)
def overview(request: Request, portal: Portal = Depends(portal_of)) -> Response:
    with portal.session() as session:
        ctx = require_admin(portal, request, session)
        if ctx is None:
            return _login_redirect(request)
        today = portal.today()
        rows = task_rows(session=session, tasks=list(session.exec(select(Task)).all()), today=today)
        by_item: dict[int, Counter[str]] = {}
        by_org: dict[int | None, Counter[str]] = {}
        for row in rows:
            for counts in (
                by_item.setdefault(row.item.id or 0, Counter()),
                by_org.setdefault(row.task.organisation_id, Counter()),
            ):
                counts[row.light.value] += 1
                counts["total"] += 1
        return portal.render(
            request,
            "admin/overview.html",
            {
                "admin": ctx.admin,
                "csrf": ctx.state.csrf,
                "by_item": by_item,
                "by_org": by_org,
                "wide": True,
                "mail": mail_figures(session, now=portal.now(), settings=portal.settings),
                **filter_choices(session),
            },
        )


@router.get("/tasks", response_class=Response)
def task_list(
    request: Request,
    status: str = "all",
    item: str = "",
    org: str = "",
    cycle: str = "",
    roadmap: str = "",
    page: str = "1",
    per_page: str = "",
    portal: Portal = Depends(portal_of),
) -> Response:
    flt = parse_filter(status, item, org, cycle, roadmap)
    with portal.session() as session:
        ctx = require_admin(portal, request, session)
        if ctx is None:
            return _login_redirect(request)
        today = portal.today()
        shown = page_of(count_tasks(session, flt, today), page, per_page)
        rows = task_rows(
            session=session,
            tasks=filtered_tasks(session, flt, today, offset=shown.offset, limit=shown.per_page),
            today=today,
        )
        return portal.render(
            request,
            "admin/tasks.html",
            {
                "admin": ctx.admin,
                "csrf": ctx.state.csrf,
                "rows": rows,
                "flt": flt,
                "filters": FILTER_LABELS,
                "page": shown,
                "per_page_choices": PER_PAGE_CHOICES,
                **filter_choices(session),
            },
        )


def _csv_cell(value: object) -> str:
    """Text for a spreadsheet cell; a leading = + - @ would make Excel run a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def csv_rows(rows: list[TaskRow], portal: Portal, today: date) -> str:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(
        [
            "Задача",
            "Учебный год",
            "№ мероприятия",
            "Мероприятие",
            "Организация",
            "Получатель",
            "Срок",
            "Статус",
            "Светофор",
            "Ответ отправлен",
            "Принято",
            "Возвратов",
        ]
    )
    for row in rows:
        writer.writerow(
            [
                _csv_cell(v)
                for v in (
                    row.task.id,
                    row.occurrence.cycle,
                    row.item.label,
                    row.item.title,
                    row.assignee,
                    ROLE_LABELS[row.task.role],
                    ru_date(row.task.due),
                    status_label(row.task, today),
                    LIGHT_LABELS[row.light],
                    portal.local(row.task.submitted_at),
                    portal.local(row.task.accepted_at),
                    row.task.revision,
                )
            ]
        )
    return "\ufeff" + out.getvalue()


def _every_row(session: Session, flt: ListFilter, today: date) -> list[TaskRow]:
    """Every task of a filter, unpaged, as list rows (the exports)."""
    return task_rows(session=session, tasks=filtered_tasks(session, flt, today), today=today)


@router.get("/tasks.csv", response_class=Response)
def task_csv(
    request: Request,
    status: str = "all",
    item: str = "",
    org: str = "",
    cycle: str = "",
    roadmap: str = "",
    portal: Portal = Depends(portal_of),
) -> Response:
    flt = parse_filter(status, item, org, cycle, roadmap)
    with portal.session() as session:
        if require_admin(portal, request, session) is None:
            return _login_redirect(request)
        today = portal.today()
        body = csv_rows(_every_row(session, flt, today), portal, today)
    return Response(
        body.encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="tasks-{today.isoformat()}.csv"'},
    )


@router.get("/tasks.xlsx", response_class=Response)
def task_xlsx(
    request: Request,
    status: str = "all",
    item: str = "",
    org: str = "",
    cycle: str = "",
    roadmap: str = "",
    portal: Portal = Depends(portal_of),
) -> Response:
    """Every task of the filter as an Excel workbook (real dates and numbers)."""
    from portal.xlsx_export import XLSX_TYPE, task_workbook

    flt = parse_filter(status, item, org, cycle, roadmap)
    with portal.session() as session:
        if require_admin(portal, request, session) is None:
            return _login_redirect(request)
        today = portal.today()
        body = task_workbook(_every_row(session, flt, today), today=today, tz=portal.settings.tz)
    return Response(
        body,
        media_type=XLSX_TYPE,
        headers={"Content-Disposition": f'attachment; filename="tasks-{today.isoformat()}.xlsx"'},
    )


# --- one task -----------------------------------------------------------------------------


def task_detail(
    portal: Portal,
    request: Request,
    session: Session,
    ctx: AdminContext,
    task: Task,
    *,
    errors: dict[str, str] | None = None,
    form: dict[str, str] | None = None,
    notice: str = "",
    new_link: str = "",
    status_code: int = 200,
) -> Response:
    rows = task_rows(session=session, tasks=[task], today=portal.today())
    row = rows[0]
    default_due = _default_due(portal)
    return portal.render(
        request,
        "admin/task.html",
        {
            "admin": ctx.admin,
            "csrf": ctx.state.csrf,
            "row": row,
            "task": task,
            "item": row.item,
            "versions": submissions(session=session, task=task, item=row.item),
            "events": events(session=session, task_id=task.id or 0),
            "errors": errors or {},
            "form": form or {},
            "default_due": default_due,
            "notice": notice,
            "new_link": new_link,
        },
        status_code=status_code,
    )


def _default_due(portal: Portal) -> date:
    from domain.calendar import RUSSIAN_CALENDAR

    return RUSSIAN_CALENDAR.add_working_days(portal.today(), portal.settings.revision_working_days)


@router.get("/tasks/{task_id}", response_class=Response)
def task_page(task_id: DbId, request: Request, portal: Portal = Depends(portal_of)) -> Response:
    with portal.session() as session:
        ctx = require_admin(portal, request, session)
        if ctx is None:
            return _login_redirect(request)
        task = session.get(Task, task_id)
        if task is None:
            return not_found(portal, request)
        done = request.query_params.get("done", "")
        return task_detail(portal, request, session, ctx, task, notice=DONE_NOTICES.get(done, ""))


def not_found(portal: Portal, request: Request) -> Response:
    return portal.render(
        request,
        "message.html",
        {"title": "Не найдено", "message": "Такой задачи нет."},
        status_code=404,
    )


def _admin_post(
    portal: Portal, request: Request, session: Session, csrf_token: str
) -> AdminContext | Response:
    """The administrator behind a POST, or the refusal (403) to send instead."""
    state = posted_ok(portal, request, csrf_token)
    admin = current_admin(session, state, portal.now())
    if state is None or admin is None:
        return forbidden(
            portal, request, "Форма устарела или вы не вошли. Обновите страницу и повторите."
        )
    return AdminContext(admin=admin, state=state)


def _task_post(
    portal: Portal, request: Request, session: Session, csrf_token: str, task_id: int
) -> tuple[AdminContext, Task] | Response:
    """The administrator and the task behind a POST on a task, or the 403/404 instead."""
    ctx = _admin_post(portal, request, session, csrf_token)
    if isinstance(ctx, Response):
        return ctx
    task = session.get(Task, task_id)
    if task is None:
        return not_found(portal, request)
    return ctx, task


@router.post("/tasks/{task_id}/accept", response_class=Response)
def accept(
    task_id: DbId,
    request: Request,
    csrf_token: str = Form(""),
    portal: Portal = Depends(portal_of),
) -> Response:
    with portal.session() as session:
        found = _task_post(portal, request, session, csrf_token, task_id)
        if isinstance(found, Response):
            return found
        ctx, task = found
        try:
            accept_task(session=session, task=task, admin_email=ctx.admin.email, now=portal.now())
        except AnswerError as exc:
            return task_detail(
                portal, request, session, ctx, task, errors=exc.errors, status_code=409
            )
    return RedirectResponse(f"/admin/tasks/{task_id}?done=accepted", status_code=303)


@router.post("/tasks/{task_id}/return", response_class=Response)
def send_back(
    task_id: DbId,
    request: Request,
    csrf_token: str = Form(""),
    reason: str = Form(""),
    new_due: str = Form(""),
    portal: Portal = Depends(portal_of),
) -> Response:
    with portal.session() as session:
        found = _task_post(portal, request, session, csrf_token, task_id)
        if isinstance(found, Response):
            return found
        ctx, task = found
        form = {"reason": reason, "new_due": new_due}
        due = parse_evidence_date(new_due)
        try:
            if due is None:
                raise AnswerError({"new_due": "Укажите новый срок в виде ДД.ММ.ГГГГ."})
            return_task(
                session=session,
                task=task,
                reason=reason,
                new_due=due,
                admin_email=ctx.admin.email,
                settings=portal.settings,
                now=portal.now(),
            )
        except AnswerError as exc:
            session.rollback()
            return task_detail(
                portal, request, session, ctx, task, errors=exc.errors, form=form, status_code=422
            )
    return RedirectResponse(f"/admin/tasks/{task_id}?done=returned", status_code=303)


@router.post("/tasks/{task_id}/revoke", response_class=Response)
def revoke(
    task_id: DbId,
    request: Request,
    csrf_token: str = Form(""),
    portal: Portal = Depends(portal_of),
) -> Response:
    now = portal.now()
    with portal.session() as session:
        found = _task_post(portal, request, session, csrf_token, task_id)
        if isinstance(found, Response):
            return found
        ctx, _task = found
        revoke_task_links(session=session, task_id=task_id, admin_email=ctx.admin.email, now=now)
    return RedirectResponse(f"/admin/tasks/{task_id}?done=revoked", status_code=303)


@router.post("/tasks/{task_id}/link", response_class=Response)
def new_link(
    task_id: DbId,
    request: Request,
    csrf_token: str = Form(""),
    portal: Portal = Depends(portal_of),
) -> Response:
    """Show the recipient's current link (a new one after a revocation) to pass on."""
    with portal.session() as session:
        found = _task_post(portal, request, session, csrf_token, task_id)
        if isinstance(found, Response):
            return found
        ctx, task = found
        url = reissue_task_link(
            session=session, task=task, settings=portal.settings, now=portal.now()
        )
        return task_detail(portal, request, session, ctx, task, new_link=url)


@router.get("/files/{file_id}", response_class=Response)
def evidence_file(file_id: DbId, request: Request, portal: Portal = Depends(portal_of)) -> Response:
    with portal.session() as session:
        if require_admin(portal, request, session) is None:
            return _login_redirect(request)
        row = session.get(EvidenceFile, file_id)
        if row is None or session.get(Evidence, row.evidence_id) is None:
            return file_missing(portal, request)
        return download(session, row, portal, request)
