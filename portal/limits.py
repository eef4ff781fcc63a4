"""Bounded requests: every body is counted as it streams in, whatever its headers say, up
to a limit per route, and an admin-only route checks who is calling before it reads a byte.

An answer (the answer page's form and the API's answer) may carry files up to the upload
limit; everything else is a small form or JSON document.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from portal.auth import SESSION_COOKIE

if TYPE_CHECKING:
    from portal.app import Portal

SMALL_BODY = 64 * 1024
LOGIN_BODY = 16 * 1024
# the text fields of an answer, on top of its files
ANSWER_TEXT_ALLOWANCE = 512 * 1024
BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

SETUP_UPLOADS = frozenset({"/admin/setup/order", "/admin/setup/organisations"})
_ANSWER_PATHS = (re.compile(r"^/t/[^/]+$"), re.compile(r"^/api/tasks/[^/]+/answer$"))


def answer_limit(upload_max_bytes: int) -> int:
    """The largest answer body: all its files together up to the upload limit, plus text."""
    return upload_max_bytes + ANSWER_TEXT_ALLOWANCE


def body_limit(method: str, path: str, upload_max_bytes: int) -> int:
    if method == "POST" and any(p.match(path) for p in _ANSWER_PATHS):
        return answer_limit(upload_max_bytes)
    if method == "POST" and path == "/api/admin/roadmaps":  # an order's file, for a draft
        return upload_max_bytes
    if method == "POST" and path in SETUP_UPLOADS:  # the set-up pages' files
        return upload_max_bytes
    if path == "/admin/login":
        return LOGIN_BODY
    return SMALL_BODY


def admin_only(method: str, path: str) -> bool:
    if method not in BODY_METHODS:
        return False
    if path.startswith("/api/admin/"):
        return True
    return path.startswith("/admin/") and path != "/admin/login"


class BodyTooLarge(StarletteHTTPException):
    """Raised from `receive` when a body passes its route's limit; the connection closes."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, headers={"Connection": "close"})
        self.limit = limit


class RequestGuard:
    """ASGI middleware: the admin check before the body, and the body's running count."""

    def __init__(self, app: ASGIApp, portal: Portal) -> None:
        self.app = app
        self.portal = portal

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method, path = str(scope["method"]), str(scope["path"])
        limit = body_limit(method, path, self.portal.settings.upload_max_bytes)
        request = Request(scope)
        length = request.headers.get("content-length", "")
        if length.strip().isdigit() and int(length) > limit:
            await self._too_large(request, limit)(scope, receive, send)
            return
        if admin_only(method, path):
            refusal = await self._refuse_anonymous(request)
            if refusal is not None:
                refusal.headers["Connection"] = "close"
                await refusal(scope, receive, send)
                return

        received = 0
        started = False

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except BodyTooLarge:
            if started:
                raise
            await self._too_large(request, limit)(scope, receive, send)

    def _too_large(self, request: Request, limit: int) -> Response:
        from portal.app import too_large_response

        return too_large_response(self.portal, request, limit)

    async def _refuse_anonymous(self, request: Request) -> Response | None:
        """None when the caller is an administrator: on the API a live personal token
        (`Authorization: Bearer …`), on the pages a live session; otherwise the refusal,
        sent without reading the body."""
        portal = self.portal
        if request.url.path.startswith("/api/"):
            from portal.api_admin import BAD_TOKEN, NO_TOKEN, token_refusal
            from portal.api_tokens import bearer_token, token_admin

            token = bearer_token(request.headers.get("authorization"))
            if token is None:
                return token_refusal(NO_TOKEN)

            def token_live() -> bool:
                with portal.session() as session:
                    return token_admin(session=session, token=token, now=portal.now()) is not None

            if await run_in_threadpool(token_live):
                return None
            return token_refusal(BAD_TOKEN)
        state = portal.sessions.loads(request.cookies.get(SESSION_COOKIE))
        if state is not None and state.key is not None:
            from portal.auth import session_admin

            def live() -> bool:
                with portal.session() as session:
                    return (
                        session_admin(session=session, key=state.key, now=portal.now()) is not None
                    )

            if await run_in_threadpool(live):
                return None
        return portal.render(
            request,
            "message.html",
            {
                "title": "Запрос отклонён",
                "message": "Форма устарела или вы не вошли. Обновите страницу и повторите.",
            },
            status_code=403,
        )
