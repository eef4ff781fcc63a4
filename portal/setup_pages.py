"""Set-up without YAML, in the admin portal: upload the order (a draft), see every item
with its first due dates, who gets a task and the import's warnings, fix an item, upload
the organisations, preview the first emails, activate; then edit the running roadmap
with its history. Plain forms, POST-redirect-GET; the work is services.roadmap_setup's."""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import RedirectResponse, Response
from sqlmodel import Session, col, select

from domain.matrix import natural_key
from domain.organisations import Organisation
from domain.roadmap import Centre, Roadmap
from domain.roadmap_file import RoadmapFile
from domain.roadmap_setup import (
    HISTORY_LABELS,
    KIND_WORDS,
    ROLE_CHOICES,
    ItemForm,
    ItemFormError,
    form_of,
    read_day,
)
from domain.roadmap_setup_models import RoadmapDraft
from domain.roadmaps import all_roadmaps
from portal.admin import AdminContext, _admin_post, _login_redirect, require_admin
from portal.app import DbId, Portal, portal_of
from portal.workplace import KIND_LABELS
from services.roadmap_setup import (
    SetupError,
    SetupView,
    activate_draft,
    create_draft,
    draft_by_id,
    draft_view,
    drafts,
    edit_item,
    existing_roadmap,
    history,
    is_running,
    roadmap_for_setup,
    roadmap_view,
    save_draft_heading,
    save_draft_item,
)

if TYPE_CHECKING:
    from notifications.preview import PreviewEmail

# The readers of Word, Excel and the email templates load on first use, not at start-up.
router = APIRouter(prefix="/admin/setup", include_in_schema=False)

ORDER_ACCEPT = ".docx,.txt,.csv"  # domain.roadmap_sources.FORMATS
ORGS_ACCEPT = ".xlsx,.csv,.txt"
# An email preview is framed by its page, and styled by its own inline CSS only.
EMAIL_FRAME_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "img-src data:; frame-ancestors 'self'",
    "X-Frame-Options": "SAMEORIGIN",
}


def centre_of(portal: Portal) -> Centre:
    s = portal.settings
    return Centre(
        name=s.centre_name,
        short_name=s.centre_short_name,
        aliases=list(s.centre_aliases),
        address=s.centre_address,
    )


def message(portal: Portal, request: Request, title: str, text: str, status: int) -> Response:
    return portal.render(
        request, "message.html", {"title": title, "message": text}, status_code=status
    )


@dataclass
class Target:
    """A draft or a roadmap, as the set-up pages show it."""

    view: SetupView
    base: str  # "/admin/setup/drafts/3", "/admin/setup/roadmaps/209-od-2022"
    draft: RoadmapDraft | None = None
    roadmap: Roadmap | None = None

    @property
    def file(self) -> RoadmapFile:
        return self.view.file

    def item_url(self, label: str) -> str:
        return f"{self.base}/items/{quote(label, safe='')}"


def _draft_target(session: Session, draft_id: int) -> Target:
    draft = draft_by_id(session, draft_id)
    return Target(draft_view(session, draft), f"/admin/setup/drafts/{draft_id}", draft=draft)


def _roadmap_target(session: Session, key: str, portal: Portal) -> Target:
    roadmap = roadmap_for_setup(session, key)
    view = roadmap_view(session, roadmap, portal.settings.tz, portal.today())
    return Target(view, f"/admin/setup/roadmaps/{quote(roadmap.key)}", roadmap=roadmap)


def _context(ctx: AdminContext, **values: Any) -> dict[str, Any]:
    return {"admin": ctx.admin, "csrf": ctx.state.csrf, **values}


# --- the start page: upload the order, the organisations ---------------------------------


def _start_page(
    portal: Portal,
    request: Request,
    session: Session,
    ctx: AdminContext,
    *,
    order_errors: list[str] | None = None,
    status_code: int = 200,
) -> Response:
    active = session.exec(select(Organisation).where(col(Organisation.active).is_(True))).all()
    return portal.render(
        request,
        "admin/setup/start.html",
        _context(
            ctx,
            drafts=drafts(session),
            roadmaps=all_roadmaps(session),
            organisations=len(active),
            order_errors=order_errors or [],
            order_accept=ORDER_ACCEPT,
            orgs_accept=ORGS_ACCEPT,
            back="/admin/setup",
        ),
        status_code=status_code,
    )


@router.get("", response_class=Response)
def start(request: Request, portal: Portal = Depends(portal_of)) -> Response:
    with portal.session() as session:
        ctx = require_admin(portal, request, session)
        if ctx is None:
            return _login_redirect(request)
        return _start_page(portal, request, session, ctx)


@router.post("/order", response_class=Response)
def upload_order(
    request: Request,
    csrf_token: str = Form(""),
    file: UploadFile | None = File(None),
    portal: Portal = Depends(portal_of),
) -> Response:
    with portal.session() as session:
        ctx = _admin_post(portal, request, session, csrf_token)
        if isinstance(ctx, Response):
            return ctx
        if file is None or not file.filename:
            return _start_page(
                portal,
                request,
                session,
                ctx,
                order_errors=["Выберите файл приказа: .docx, .txt или .csv."],
                status_code=422,
            )
        from domain.roadmap_import import (
            SET_UP_PAGES,
            RoadmapImportError,
            build_roadmap,
            read_source,
        )

        name = Path(file.filename).name
        content = file.file.read()
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / (Path(name).stem[:80] + Path(name).suffix.lower()[:10])
            path.write_bytes(content)
            try:
                result = build_roadmap(
                    read_source(path),
                    centre=centre_of(portal),
                    today=portal.today(),
                    source_name=Path(name).stem,
                    remedies=SET_UP_PAGES,
                )
            except RoadmapImportError as exc:
                return _start_page(
                    portal,
                    request,
                    session,
                    ctx,
                    order_errors=[f"{name}: {p}" for p in exc.problems],
                    status_code=422,
                )
        draft = create_draft(
            session, result=result, source_name=name, who=ctx.admin.email, now=portal.now()
        )
        url = f"/admin/setup/drafts/{draft.id}"
    return RedirectResponse(url, status_code=303)


@cache
def _field_pattern() -> re.Pattern[str]:
    from domain.org_import import COLUMNS, OPTIONAL_COLUMNS

    return re.compile(r"«[^»]+»|\b(?:" + "|".join(COLUMNS + OPTIONAL_COLUMNS) + r")\b")


def rejected_fields(reason: str) -> str:
    """The columns a rejected row's reason names ("«E-mail руководителя», kind")."""
    found = list(dict.fromkeys(_field_pattern().findall(reason)))
    return ", ".join(found) or "—"


def _safe_back(value: str) -> str:
    return value if value.startswith("/admin/setup") and "//" not in value else "/admin/setup"


@router.post("/organisations", response_class=Response)
def upload_organisations(
    request: Request,
    csrf_token: str = Form(""),
    back: str = Form("/admin/setup"),
    file: UploadFile | None = File(None),
    portal: Portal = Depends(portal_of),
) -> Response:
    with portal.session() as session:
        ctx = _admin_post(portal, request, session, csrf_token)
        if isinstance(ctx, Response):
            return ctx
        from domain.org_import import read_organisations, upsert_organisations

        back = _safe_back(back)
        if file is None or not file.filename:
            return portal.render(
                request,
                "admin/setup/organisations.html",
                _context(
                    ctx,
                    parsed=None,
                    counts=None,
                    problem="Выберите файл со списком организаций: .xlsx или .csv.",
                    back=back,
                    rejected_fields=rejected_fields,
                ),
                status_code=422,
            )
        parsed = read_organisations(file.file.read(), Path(file.filename).name)
        counts = None
        if not parsed.fatal:
            counts = upsert_organisations(session=session, rows=parsed.rows, now=portal.now())
        return portal.render(
            request,
            "admin/setup/organisations.html",
            _context(
                ctx,
                parsed=parsed,
                counts=counts,
                problem=parsed.errors[0].reason if parsed.fatal else "",
                back=back,
                rejected_fields=rejected_fields,
                filename=Path(file.filename).name,
            ),
            status_code=422 if parsed.fatal else 200,
        )


# --- a draft or a roadmap: its items -------------------------------------------------------


def _items_page(
    portal: Portal,
    request: Request,
    session: Session,
    ctx: AdminContext,
    target: Target,
    notice: str = "",
    activate_error: str = "",
    heading: dict[str, str] | None = None,
    heading_errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    file = target.file
    same_key = existing_roadmap(session, file.key) if target.draft is not None else None
    return portal.render(
        request,
        "admin/setup/items.html",
        _context(
            ctx,
            t=target,
            v=target.view,
            notice=notice,
            kinds=KIND_LABELS,
            default_from=max(portal.today(), target.file.order_date),
            orgs_accept=ORGS_ACCEPT,
            activate_error=activate_error,
            heading=heading
            or {
                "key": file.key,
                "title": file.title,
                "order_number": file.order_number,
                "order_date": file.order_date.strftime("%d.%m.%Y"),
            },
            heading_errors=heading_errors or {},
            same_key=same_key,
            same_key_running=is_running(same_key),
        ),
        status_code=status_code,
    )


NOTICES = {
    "saved": "Пункт сохранён, предпросмотр обновлён.",
    "unchanged": "Ничего не изменилось.",
    "activated": "Дорожная карта запущена.",
    "updated": "Дорожная карта обновлена из черновика; изменения записаны в историю.",
}


@router.get("/drafts/{draft_id}", response_class=Response)
def draft_page(
    draft_id: DbId, request: Request, done: str = "", portal: Portal = Depends(portal_of)
) -> Response:
    with portal.session() as session:
        ctx = require_admin(portal, request, session)
        if ctx is None:
            return _login_redirect(request)
        try:
            target = _draft_target(session, draft_id)
        except SetupError as exc:
            return message(portal, request, "Нет такого черновика", str(exc), 404)
        if target.draft is not None and target.draft.roadmap_id is not None:
            roadmap = session.get(Roadmap, target.draft.roadmap_id)
            if roadmap is not None:
                return RedirectResponse(
                    f"/admin/setup/roadmaps/{quote(roadmap.key)}", status_code=303
                )
        return _items_page(portal, request, session, ctx, target, NOTICES.get(done, ""))


@router.get("/roadmaps/{key}", response_class=Response)
def roadmap_page(
    key: str, request: Request, done: str = "", portal: Portal = Depends(portal_of)
) -> Response:
    with portal.session() as session:
        ctx = require_admin(portal, request, session)
        if ctx is None:
            return _login_redirect(request)
        try:
            target = _roadmap_target(session, key, portal)
        except SetupError as exc:
            return message(portal, request, "Нет такой дорожной карты", str(exc), 404)
        return _items_page(portal, request, session, ctx, target, NOTICES.get(done, ""))


# --- fixing an item ----------------------------------------------------------------------


def _item_page(
    portal: Portal,
    request: Request,
    session: Session,
    ctx: AdminContext,
    target: Target,
    label: str,
    form: ItemForm | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    spec = next((s for s in target.file.items if s.label == label), None)
    if spec is None:
        return message(
            portal,
            request,
            "Нет такого пункта",
            f"в дорожной карте «{target.file.key}» нет пункта {label}",
            404,
        )
    preview = next(p for p in target.view.previews if p.label == label)
    changes = []
    if target.roadmap is not None:
        changes = [c for c in history(session, target.roadmap) if c.item_label == label]
    return portal.render(
        request,
        "admin/setup/item.html",
        _context(
            ctx,
            t=target,
            spec=spec,
            p=preview,
            form=form or form_of(spec),
            errors=errors or {},
            roles=ROLE_CHOICES,
            kinds=KIND_LABELS,
            kind_words=KIND_WORDS,
            changes=changes,
            field_labels=HISTORY_LABELS,
        ),
        status_code=status_code,
    )


def posted_item_form(
    schedule_text: str = Form(""),
    plan_dates: str = Form(""),
    owner_name: str = Form(""),
    owner_email: str = Form(""),
    centre: str = Form(""),
    organisations: str = Form(""),
    kinds: list[str] = Form([]),
    evidence: str = Form(""),
) -> ItemForm:
    """An item's form as posted (the same fields for a draft and a running roadmap)."""
    return ItemForm(
        schedule_text=schedule_text,
        plan_dates=plan_dates,
        owner_name=owner_name,
        owner_email=owner_email,
        centre=bool(centre),
        organisations=organisations,
        kinds=kinds,
        evidence=evidence,
    )


def _show_item(
    portal: Portal, request: Request, session: Session, ctx: AdminContext, target: Target, **kw: Any
) -> Response:
    return _item_page(portal, request, session, ctx, target, **kw)


@router.get("/drafts/{draft_id}/items/{label}", response_class=Response)
def draft_item(
    draft_id: DbId, label: str, request: Request, portal: Portal = Depends(portal_of)
) -> Response:
    with portal.session() as session:
        ctx = require_admin(portal, request, session)
        if ctx is None:
            return _login_redirect(request)
        try:
            target = _draft_target(session, draft_id)
        except SetupError as exc:
            return message(portal, request, "Нет такого черновика", str(exc), 404)
        return _show_item(portal, request, session, ctx, target, label=label)


@router.get("/roadmaps/{key}/items/{label}", response_class=Response)
def roadmap_item(
    key: str, label: str, request: Request, portal: Portal = Depends(portal_of)
) -> Response:
    with portal.session() as session:
        ctx = require_admin(portal, request, session)
        if ctx is None:
            return _login_redirect(request)
        try:
            target = _roadmap_target(session, key, portal)
        except SetupError as exc:
            return message(portal, request, "Нет такой дорожной карты", str(exc), 404)
        return _show_item(portal, request, session, ctx, target, label=label)


@router.post("/drafts/{draft_id}/items/{label}", response_class=Response)
def save_draft(
    draft_id: DbId,
    label: str,
    request: Request,
    csrf_token: str = Form(""),
    form: ItemForm = Depends(posted_item_form),
    portal: Portal = Depends(portal_of),
) -> Response:
    with portal.session() as session:
        ctx = _admin_post(portal, request, session, csrf_token)
        if isinstance(ctx, Response):
            return ctx
        try:
            target = _draft_target(session, draft_id)
            assert target.draft is not None
            save_draft_item(session, target.draft, label, form, portal.now())
        except SetupError as exc:
            return message(portal, request, "Пункт не сохранён", str(exc), 404)
        except ItemFormError as exc:
            return _show_item(
                portal,
                request,
                session,
                ctx,
                target,
                label=label,
                form=form,
                errors=exc.errors,
                status_code=422,
            )
    return RedirectResponse(f"{target.base}?done=saved#item-{quote(label)}", status_code=303)


@router.post("/roadmaps/{key}/items/{label}", response_class=Response)
def save_roadmap_item(
    key: str,
    label: str,
    request: Request,
    csrf_token: str = Form(""),
    form: ItemForm = Depends(posted_item_form),
    portal: Portal = Depends(portal_of),
) -> Response:
    with portal.session() as session:
        ctx = _admin_post(portal, request, session, csrf_token)
        if isinstance(ctx, Response):
            return ctx
        try:
            target = _roadmap_target(session, key, portal)
            assert target.roadmap is not None
            written = edit_item(
                session,
                target.roadmap,
                label,
                form,
                who=ctx.admin.email,
                now=portal.now(),
                tz=portal.settings.tz,
            )
        except SetupError as exc:
            return message(portal, request, "Пункт не сохранён", str(exc), 404)
        except ItemFormError as exc:
            session.rollback()
            return _show_item(
                portal,
                request,
                session,
                ctx,
                target,
                label=label,
                form=form,
                errors=exc.errors,
                status_code=422,
            )
    done = "saved" if written else "unchanged"
    return RedirectResponse(f"{target.base}?done={done}#item-{quote(label)}", status_code=303)


# --- activation --------------------------------------------------------------------------


@router.post("/drafts/{draft_id}/heading", response_class=Response)
def save_heading(
    draft_id: DbId,
    request: Request,
    csrf_token: str = Form(""),
    key: str = Form(""),
    title: str = Form(""),
    order_number: str = Form(""),
    order_date: str = Form(""),
    portal: Portal = Depends(portal_of),
) -> Response:
    with portal.session() as session:
        ctx = _admin_post(portal, request, session, csrf_token)
        if isinstance(ctx, Response):
            return ctx
        try:
            target = _draft_target(session, draft_id)
            assert target.draft is not None
            save_draft_heading(
                session,
                target.draft,
                key=key,
                title=title,
                order_number=order_number,
                order_date=order_date,
                now=portal.now(),
            )
        except SetupError as exc:
            return message(portal, request, "Черновик не сохранён", str(exc), 404)
        except ItemFormError as exc:
            heading = {
                "key": key,
                "title": title,
                "order_number": order_number,
                "order_date": order_date,
            }
            return _items_page(
                portal,
                request,
                session,
                ctx,
                target,
                heading=heading,
                heading_errors=exc.errors,
                status_code=422,
            )
    return RedirectResponse(f"{target.base}?done=saved", status_code=303)


@router.post("/drafts/{draft_id}/activate", response_class=Response)
def activate_page(
    draft_id: DbId,
    request: Request,
    csrf_token: str = Form(""),
    from_day: str = Form(""),
    portal: Portal = Depends(portal_of),
) -> Response:
    with portal.session() as session:
        ctx = _admin_post(portal, request, session, csrf_token)
        if isinstance(ctx, Response):
            return ctx
        try:
            target = _draft_target(session, draft_id)
        except SetupError as exc:
            return message(portal, request, "Нет такого черновика", str(exc), 404)
        assert target.draft is not None
        running = is_running(existing_roadmap(session, target.file.key))
        day = read_day(from_day)
        if day is None and not running:
            return _items_page(
                portal,
                request,
                session,
                ctx,
                target,
                activate_error="Укажите дату начала в виде ДД.ММ.ГГГГ.",
                status_code=422,
            )
        try:
            roadmap = activate_draft(
                session,
                target.draft,
                from_day=None if running else day,
                tz=portal.settings.tz,
                who=ctx.admin.email,
                now=portal.now(),
            )
        except SetupError as exc:
            return message(portal, request, "Черновик не запущен", str(exc), 409)
        done = "updated" if running else "activated"
        url = f"/admin/setup/roadmaps/{quote(roadmap.key)}?done={done}"
    return RedirectResponse(url, status_code=303)


# --- the first emails --------------------------------------------------------------------


def _emails(
    session: Session, target: Target, org: str, portal: Portal
) -> tuple[list[Organisation], Organisation | None, list[PreviewEmail]]:
    orgs = sorted(
        session.exec(select(Organisation).where(col(Organisation.active).is_(True))),
        key=lambda o: (natural_key(o.short_name or o.name), o.id or 0),
    )
    from notifications.preview import first_emails

    chosen = next((o for o in orgs if str(o.id) == org), None)
    if chosen is None and org != "centre" and orgs:
        chosen = orgs[0]
    emails = first_emails(
        target.file,
        organisation=chosen,
        tracked_from=target.view.tracked_from,
        settings=portal.settings,
    )
    return orgs, chosen, emails


def _target(session: Session, kind: str, ref: str, portal: Portal) -> Target:
    if kind == "drafts":
        if not (ref.isascii() and ref.isdigit() and len(ref) < 19):
            raise SetupError("нет такого черновика")
        return _draft_target(session, int(ref))
    if kind == "roadmaps":
        return _roadmap_target(session, ref, portal)
    raise SetupError("нет такой страницы")


@router.get("/{kind}/{ref}/emails", response_class=Response)
def emails_page(
    kind: str, ref: str, request: Request, org: str = "", portal: Portal = Depends(portal_of)
) -> Response:
    with portal.session() as session:
        ctx = require_admin(portal, request, session)
        if ctx is None:
            return _login_redirect(request)
        try:
            target = _target(session, kind, ref, portal)
        except SetupError as exc:
            return message(portal, request, "Не найдено", str(exc), 404)
        orgs, chosen, emails = _emails(session, target, org, portal)
        return portal.render(
            request,
            "admin/setup/emails.html",
            _context(
                ctx,
                t=target,
                orgs=orgs,
                chosen=chosen,
                org_param=str(chosen.id) if chosen else "centre",
                emails=emails,
            ),
        )


@router.get("/{kind}/{ref}/emails/{number}", response_class=Response)
def email_frame(
    kind: str,
    ref: str,
    number: int,
    request: Request,
    org: str = "",
    portal: Portal = Depends(portal_of),
) -> Response:
    """One previewed email's HTML, for the sandboxed frame of the preview page."""
    with portal.session() as session:
        if require_admin(portal, request, session) is None:
            return _login_redirect(request)
        try:
            target = _target(session, kind, ref, portal)
        except SetupError as exc:
            return message(portal, request, "Не найдено", str(exc), 404)
        _, _, emails = _emails(session, target, org, portal)
    if not 0 <= number < len(emails):
        return message(portal, request, "Не найдено", "Такого письма в предпросмотре нет.", 404)
    return Response(
        emails[number].email.html,
        media_type="text/html; charset=utf-8",
        headers=EMAIL_FRAME_HEADERS,
    )


# --- history -----------------------------------------------------------------------------


@router.get("/roadmaps/{key}/history", response_class=Response)
def history_page(key: str, request: Request, portal: Portal = Depends(portal_of)) -> Response:
    with portal.session() as session:
        ctx = require_admin(portal, request, session)
        if ctx is None:
            return _login_redirect(request)
        try:
            roadmap = roadmap_for_setup(session, key)
        except SetupError as exc:
            return message(portal, request, "Нет такой дорожной карты", str(exc), 404)
        return portal.render(
            request,
            "admin/setup/history.html",
            _context(
                ctx,
                roadmap=roadmap,
                changes=history(session, roadmap),
                field_labels=HISTORY_LABELS,
                base=f"/admin/setup/roadmaps/{quote(roadmap.key)}",
            ),
        )
