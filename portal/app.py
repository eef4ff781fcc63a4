"""The answer portal: school heads' personal pages, the centre's review, the JSON API."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import FastAPI, Request, Response
from fastapi import Path as PathParam
from fastapi.exception_handlers import (
    http_exception_handler,
    request_validation_exception_handler,
)
from fastapi.exceptions import RequestValidationError
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from sqlalchemy import Engine
from sqlmodel import Session
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import HTMLResponse, JSONResponse

from config.logs import ACCESS_LOGGER, mask_path
from config.settings import Settings
from domain import lifecycle
from domain.db import session_scope
from domain.formatting import local_date, local_time, ru_date
from domain.progress import status_label
from portal.auth import SessionCodec
from portal.views import EVENT_LABELS, LIGHT_LABELS, ROLE_LABELS
from services.answers import ACCEPT_ATTRIBUTE

HERE = Path(__file__).resolve().parent
TEMPLATES_DIR = HERE / "templates"
STATIC_DIR = HERE / "static"

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    # same-origin: a personal link never leaks to a site an answer links to, and a
    # same-origin form post still carries its Origin for the host check
    "Referrer-Policy": "same-origin",
}
# A database id in a URL: anything past a 64-bit integer names nothing (404, never a 500).
DB_ID_MAX = 2**63 - 1
DbId = Annotated[int, PathParam(ge=0, le=DB_ID_MAX)]

PAGE_CSP = "default-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'"


def file_size(size: int) -> str:
    if size < 1024:
        return f"{size} Б"
    if size < 1024 * 1024:
        return f"{size / 1024:.0f} КБ"
    return f"{size / (1024 * 1024):.1f} МБ".replace(".", ",")


@dataclass
class Portal:
    """What every request needs: settings, the database, the clock, the templates."""

    settings: Settings
    engine: Engine
    clock: Callable[[], datetime]
    templates: Jinja2Templates
    sessions: SessionCodec

    def now(self) -> datetime:
        moment = self.clock()
        if moment.tzinfo is None:
            raise ValueError("the portal clock must return an aware datetime")
        return moment

    def today(self) -> date:
        return local_date(self.now(), self.settings.tz)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """One session per request; commits when the block ends without an error."""
        with session_scope(self.engine) as session:
            yield session

    def render(
        self,
        request: Request,
        name: str,
        context: Mapping[str, Any],
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
    ) -> HTMLResponse:
        response = self.templates.TemplateResponse(
            request,
            name,
            {"settings": self.settings, "today": self.today(), **context},
            status_code=status_code,
        )
        for key, value in (headers or {}).items():
            response.headers[key] = value
        return response

    def local(self, moment: datetime | None) -> str:
        """A stored instant as the district's local date and time."""
        return local_time(moment, self.settings.tz)

    def allowed_hosts(self, request: Request) -> set[str]:
        hosts = {urlsplit(self.settings.portal_url).netloc.lower()}
        if host := request.headers.get("host"):
            hosts.add(host.lower())
        return hosts

    def same_origin(self, request: Request) -> bool:
        """False when the Origin (or Referer) names another site; absent is fine."""
        origin = request.headers.get("origin")
        if origin and origin != "null":
            return urlsplit(origin).netloc.lower() in self.allowed_hosts(request)
        referer = request.headers.get("referer")
        if referer:
            return urlsplit(referer).netloc.lower() in self.allowed_hosts(request)
        return True


def is_api_path(path: str) -> bool:
    return path == "/api" or path.startswith("/api/")


NOT_FOUND_PAGE = {
    "title": "Страница не найдена",
    "message": "Страница не найдена: проверьте адрес. Персональные ссылки на задачи "
    "приходят письмом из методического центра.",
}
BAD_REQUEST_PAGE = {
    "title": "Неверный запрос",
    "message": "Неверный адрес или данные формы. Откройте страницу заново по ссылке из "
    "письма и повторите.",
}
METHOD_PAGE = {
    "title": "Неверный запрос",
    "message": "Такой запрос к этой странице не поддерживается. Откройте страницу по ссылке "
    "из письма.",
}


def error_page(
    request: Request, status_code: int, headers: Mapping[str, str] | None = None
) -> Response:
    """A plain Russian page for an error the framework raised (people never see JSON)."""
    page = (
        NOT_FOUND_PAGE
        if status_code == 404
        else METHOD_PAGE
        if status_code == 405
        else BAD_REQUEST_PAGE
    )
    return portal_of(request).render(
        request, "message.html", page, status_code=status_code, headers=headers
    )


def too_large_response(portal: Portal, request: Request, limit: int) -> Response:
    """413 for a body past its route's limit; the connection is closed after it."""
    size = f"{limit / (1024 * 1024):.1f} МБ".replace(".", ",")
    message = (
        f"Слишком большой запрос: не больше {size}. Уменьшите или сожмите файлы "
        "(или отправьте часть из них) и попробуйте ещё раз."
    )
    headers = {"Connection": "close"}
    if is_api_path(request.url.path):
        return JSONResponse(
            {"detail": {"problem": "too_large", "message": message, "limit": limit}},
            status_code=413,
            headers=headers,
        )
    return portal.render(
        request,
        "message.html",
        {"title": "Слишком большой запрос", "message": message},
        status_code=413,
        headers=headers,
    )


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    from portal.limits import BodyTooLarge

    if isinstance(exc, BodyTooLarge):
        return too_large_response(portal_of(request), request, exc.limit)
    if is_api_path(request.url.path):
        return await http_exception_handler(request, exc)
    return error_page(request, exc.status_code, exc.headers)


async def validation_error(request: Request, exc: Exception) -> Response:
    """A malformed path segment (/admin/tasks/abc) names no page: 404; anything else 400."""
    assert isinstance(exc, RequestValidationError)
    in_path = any(error.get("loc", ("",))[0] == "path" for error in exc.errors())
    if is_api_path(request.url.path):
        if in_path:
            return JSONResponse(
                {"detail": {"problem": "not_found", "message": "Такой задачи нет."}},
                status_code=404,
            )
        return await request_validation_exception_handler(request, exc)
    return error_page(request, 404 if in_path else 400)


def portal_of(request: Request) -> Portal:
    portal = request.app.state.portal
    assert isinstance(portal, Portal)
    return portal


def _templates(settings: Settings) -> Jinja2Templates:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["ru_date"] = ru_date
    env.filters["file_size"] = file_size
    env.globals.update(
        status_label=status_label,
        # what a status means: the lifecycle table's questions, never a status compared
        in_review=lifecycle.in_review,
        is_answerable=lifecycle.is_answerable,
        is_returned=lifecycle.is_returned,
        LIGHT_LABELS=LIGHT_LABELS,
        EVENT_LABELS=EVENT_LABELS,
        ROLE_LABELS=ROLE_LABELS,
        ACCEPT_ATTRIBUTE=ACCEPT_ATTRIBUTE,
        centre_email=settings.centre_email,
        centre_name=settings.centre_name,
    )
    env.filters["local"] = lambda moment: local_time(moment, settings.tz)
    return Jinja2Templates(env=env)


access_logger = logging.getLogger(ACCESS_LOGGER)


async def access_log(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    """One line per request: method, path (link tokens and query strings masked),
    status, duration, client; outermost, so refusals and errors are logged too."""
    started = time.perf_counter()
    status = 500
    try:
        response = await call_next(request)
        status = response.status_code
        return response
    finally:
        path = mask_path(request.url.path, request.url.query)
        duration_ms = round((time.perf_counter() - started) * 1000, 1)
        client = request.client.host if request.client else "-"
        access_logger.info(
            '%s "%s %s" %s %.1f ms',
            client,
            request.method,
            path,
            status,
            duration_ms,
            extra={
                "method": request.method,
                "path": path,
                "status": status,
                "duration_ms": duration_ms,
                "client": client,
            },
        )


def create_app(
    settings: Settings,
    engine: Engine | None = None,
    clock: Callable[[], datetime] | None = None,
) -> FastAPI:
    """The portal as an ASGI app; `clock` lets tests move time (default: the real clock)."""
    from portal import admin, api, api_admin, inbox_review, pages, summaries, workplace
    from portal.limits import RequestGuard

    if engine is None:
        from config.runtime import open_engine

        engine = open_engine(settings)
    the_clock = clock or (lambda: datetime.now(UTC))
    portal = Portal(
        settings=settings,
        engine=engine,
        clock=the_clock,
        templates=_templates(settings),
        sessions=SessionCodec(settings, the_clock),
    )
    app = FastAPI(
        title="Дорожная карта: портал ответов",
        description=(
            "Ответы организаций на задачи дорожной карты по персональным ссылкам и "
            "проверка ответов методическим центром."
        ),
        version="1.0",
    )
    app.state.portal = portal
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    # inside the security headers below, so that its refusals carry them too
    app.add_middleware(RequestGuard, portal=portal)

    @app.middleware("http")
    async def security_headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        for key, value in SECURITY_HEADERS.items():
            response.headers.setdefault(key, value)
        path = request.url.path
        if not path.startswith(("/docs", "/redoc")):
            response.headers.setdefault("Content-Security-Policy", PAGE_CSP)
        if path.startswith(("/t/", "/o/", "/admin", "/api")):
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    app.middleware("http")(access_log)

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.include_router(pages.router)
    app.include_router(admin.router)
    app.include_router(inbox_review.router)
    app.include_router(summaries.router)
    app.include_router(api.router)
    from portal import health

    app.include_router(health.router)
    app.include_router(workplace.router)
    app.include_router(api_admin.router)
    from portal import deputies

    app.include_router(deputies.router)
    from portal import api_deputies

    app.include_router(api_deputies.router)
    from portal import api_undelivered, undelivered

    app.include_router(undelivered.router)
    app.include_router(api_undelivered.router)
    from portal import api_setup, setup_pages

    app.include_router(setup_pages.router)
    app.include_router(api_setup.router)
    return app
