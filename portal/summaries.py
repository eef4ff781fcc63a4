"""The centre's stored summaries (аналитические справки), served from the database:
whichever machine runs the portal, it has every summary any machine wrote."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlmodel import col, select

from domain.access import SUMMARY_INTERIM, SUMMARY_YEARLY, StoredSummary
from domain.roadmap import Roadmap
from domain.stored_summaries import (
    SUMMARY_COMBINED,
    StoredSummaryFile,
    file_content,
    summary_files,
)
from portal.admin import _login_redirect, require_admin
from portal.app import DbId, Portal, portal_of
from portal.pages import content_disposition

router = APIRouter(prefix="/admin", include_in_schema=False)

KIND_LABELS = {
    SUMMARY_YEARLY: "итоговая",
    SUMMARY_INTERIM: "промежуточная",
    SUMMARY_COMBINED: "по всем дорожным картам",
}
FORMAT_LABELS = {"docx": "Word", "xlsx": "Excel", "html": "HTML", "md": "Markdown"}
MEDIA_TYPES = {
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "html": "application/octet-stream",  # a download, never a page of this site
    "md": "text/markdown; charset=utf-8",
}


@dataclass(frozen=True)
class SummaryRow:
    summary: StoredSummary
    roadmap: str
    kind: str
    files: list[StoredSummaryFile]


def _missing(portal: Portal, request: Request) -> Response:
    return portal.render(
        request,
        "message.html",
        {"title": "Файл не найден", "message": "Такого файла справки нет."},
        status_code=404,
    )


@router.get("/summaries", response_class=Response)
def summary_list(request: Request, portal: Portal = Depends(portal_of)) -> Response:
    with portal.session() as session:
        ctx = require_admin(portal, request, session)
        if ctx is None:
            return _login_redirect(request)
        titles = {r.id: f"{r.key} — {r.title}" for r in session.exec(select(Roadmap)).all()}
        stored = session.exec(
            select(StoredSummary).order_by(
                col(StoredSummary.cycle).desc(),
                col(StoredSummary.roadmap_id),
                col(StoredSummary.kind),
            )
        ).all()
        rows = [
            SummaryRow(
                summary=s,
                roadmap=titles.get(s.roadmap_id, "—")
                if s.roadmap_id is not None
                else "все дорожные карты",
                kind=KIND_LABELS.get(s.kind, s.kind),
                files=summary_files(session, s.id or 0),
            )
            for s in stored
        ]
        return portal.render(
            request,
            "admin/summaries.html",
            {
                "admin": ctx.admin,
                "csrf": ctx.state.csrf,
                "rows": rows,
                "FORMAT_LABELS": FORMAT_LABELS,
                "wide": True,
            },
        )


@router.get("/summaries/files/{file_id}", response_class=Response)
def summary_file(file_id: DbId, request: Request, portal: Portal = Depends(portal_of)) -> Response:
    with portal.session() as session:
        if require_admin(portal, request, session) is None:
            return _login_redirect(request)
        row = session.get(StoredSummaryFile, file_id)
        if row is None:
            return _missing(portal, request)
        try:
            content = file_content(session, row)
        except LookupError:
            return _missing(portal, request)
        return Response(
            content,
            media_type=MEDIA_TYPES.get(row.format, "application/octet-stream"),
            headers={"Content-Disposition": content_disposition(row.file_name)},
        )
