"""The centre's workplace: the district at a glance (items × organisations) for a roadmap
and a cycle, on a page and as an Excel workbook. The computation is domain.matrix's; this
module loads its rows and serves it (the JSON API serves the same, portal/api_admin.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, tzinfo
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlmodel import Session, col, select

from domain.calendar import RUSSIAN_CALENDAR
from domain.cycles import Cycle, CycleError, cycle_of
from domain.enums import OrgKind
from domain.matrix import (
    CELL_LABELS,
    CELL_MARKS,
    TASK_STATUSES,
    CellStatus,
    ItemIn,
    Matrix,
    OrgIn,
    TaskIn,
    build_matrix,
)
from domain.opening import item_schedule
from domain.organisations import Organisation
from domain.roadmap import Roadmap, RoadmapItem
from domain.roadmaps import (
    RoadmapChoiceError,
    all_roadmaps,
    choose_roadmap,
    live_items,
    roadmap_by_key,
    tracked_from,
)
from domain.tasks import Occurrence, Task
from portal.admin import _login_redirect, require_admin
from portal.app import Portal, portal_of
from portal.xlsx_export import XLSX_TYPE, matrix_workbook

router = APIRouter(prefix="/admin", include_in_schema=False)

KIND_LABELS: dict[OrgKind, str] = {
    OrgKind.school: "школы",
    OrgKind.kindergarten: "детские сады",
    OrgKind.extra: "доп. образование",
}


class MatrixChoiceError(LookupError):
    """A roadmap or cycle that is not there (the message is Russian)."""


@dataclass
class MatrixQuery:
    roadmap: str = ""
    cycle: str = ""
    kind: OrgKind | None = None
    status: CellStatus | None = None

    def query(self, **changes: Any) -> str:
        data: dict[str, Any] = {
            "roadmap": self.roadmap,
            "cycle": self.cycle,
            "kind": self.kind.value if self.kind else "",
            "status": self.status.value if self.status else "",
        }
        data.update(changes)
        return urlencode({k: v for k, v in data.items() if v})


def parse_query(roadmap: str, cycle: str, kind: str, status: str) -> MatrixQuery:
    """Unknown filter values mean "any": a hand-edited address never fails the page."""
    kinds = {k.value: k for k in OrgKind}
    statuses = {s.value: s for s in TASK_STATUSES}
    return MatrixQuery(
        roadmap=roadmap[:64],
        cycle=cycle[:9],
        kind=kinds.get(kind),
        status=statuses.get(status),
    )


@dataclass
class LoadedMatrix:
    roadmap: Roadmap
    cycle: str
    cycles: list[str]
    matrix: Matrix
    roadmaps: list[Roadmap] = field(default_factory=list)


def roadmap_cycles(session: Session, roadmap: Roadmap) -> list[str]:
    """The cycles the roadmap has occurrences in, newest first."""
    rows = session.exec(
        select(Occurrence.cycle)
        .join(Task, col(Task.occurrence_id) == Occurrence.id)
        .where(col(Occurrence.item_id).in_(_item_ids(session, roadmap)))
        .distinct()
    ).all()
    return sorted(set(rows), reverse=True)


def _item_ids(session: Session, roadmap: Roadmap) -> list[int]:
    return [i.id for i in live_items(session, roadmap) if i.id is not None]


def load_matrix(
    session: Session,
    *,
    roadmap_key: str | None,
    cycle: str | None,
    today: date,
    tz: tzinfo,
    kind: OrgKind | None = None,
    status: CellStatus | None = None,
) -> LoadedMatrix:
    """The matrix of a roadmap (the key given, or the only running one) and a cycle (the
    one given, or the one today falls in, or the latest with tasks)."""
    try:
        roadmap = (
            roadmap_by_key(session, roadmap_key) if roadmap_key else choose_roadmap(session, None)
        )
    except RoadmapChoiceError as exc:
        raise MatrixChoiceError(str(exc)) from None
    items = live_items(session, roadmap)
    cycles = roadmap_cycles(session, roadmap)
    if cycle:
        if cycle not in cycles:
            known = ", ".join(cycles) or "задач ещё нет"
            raise MatrixChoiceError(
                f"в дорожной карте «{roadmap.key}» нет задач учебного года {cycle}; есть: {known}"
            )
        chosen = cycle
    else:
        current = cycle_of(today, roadmap.order_date).name if today >= roadmap.order_date else ""
        chosen = current if current in cycles else (cycles[0] if cycles else current)
    rows = session.exec(
        select(Task, Occurrence)
        .join(Occurrence, col(Occurrence.id) == Task.occurrence_id)
        .where(
            col(Task.item_id).in_([i.id for i in items if i.id is not None]),
            Occurrence.cycle == chosen,
        )
    ).all()
    tasks = [
        TaskIn(
            id=task.id or 0,
            item_id=task.item_id,
            organisation_id=task.organisation_id,
            status=task.status,
            due=task.due,
            opens=occ.opens,
            continuous=occ.continuous,
            answered_on=task.submitted_at.astimezone(tz).date() if task.submitted_at else None,
        )
        for task, occ in rows
    ]
    orgs = [
        OrgIn(id=o.id or 0, name=o.name, short_name=o.short_name, kind=o.kind, active=o.active)
        for o in session.exec(select(Organisation)).all()
    ]
    this_cycle = today >= roadmap.order_date and cycle_of(today, roadmap.order_date).name == chosen
    tracked = tracked_from(roadmap, tz)
    matrix = build_matrix(
        items=[
            ItemIn(
                id=i.id or 0,
                number=i.number,
                label=i.label,
                section=i.section,
                title=i.title,
                owner=i.owner_name or i.owner_email,
                kinds=frozenset(i.assignee_rule.kinds)
                if i.assignee_rule.organisations
                else frozenset(),
                centre=i.assignee_rule.centre,
                upcoming=_upcoming(i, roadmap, chosen, today, tracked) if this_cycle else None,
                needs_dates=i.needs_dates and this_cycle,
            )
            for i in items
        ],
        organisations=orgs,
        tasks=tasks,
        today=today,
        working_days_between=RUSSIAN_CALENDAR.working_days_between,
        kinds=(kind,) if kind else (),
        status=status,
    )
    return LoadedMatrix(
        roadmap=roadmap,
        cycle=chosen,
        cycles=cycles,
        matrix=matrix,
        roadmaps=all_roadmaps(session),
    )


def _upcoming(
    item: RoadmapItem, roadmap: Roadmap, cycle: str, today: date, tracked: date
) -> date | None:
    """The due date of the item's next window in the cycle that has not opened by today's
    run (it opens today or later), as the opening will see it; None if there is none."""
    if item.needs_dates or item.withdrawn or not item.schedule:
        return None
    try:
        _, ends = Cycle.parse(cycle).span(roadmap.order_date)
        windows = item_schedule(item).occurrences(today, ends)
    except (CycleError, ValueError):  # a schedule stored by an older release, unreadable
        return None
    for window in windows:
        if (
            window.opens >= today
            and window.due >= tracked
            and (item.schedule_from is None or window.due >= item.schedule_from)
        ):
            return window.due
    return None


def share(value: float | None) -> str:
    return "—" if value is None else f"{round(100 * value)} %"


def _matrix_or_404(
    session: Session, flt: MatrixQuery, portal: Portal, request: Request
) -> LoadedMatrix | Response:
    """The matrix the filters ask for, or the page that says there is none."""
    try:
        return load_matrix(
            session,
            roadmap_key=flt.roadmap or None,
            cycle=flt.cycle or None,
            today=portal.today(),
            tz=portal.settings.tz,
            kind=flt.kind,
            status=flt.status,
        )
    except MatrixChoiceError as exc:
        return portal.render(
            request,
            "message.html",
            {"title": "Нет такой сводки", "message": f"{exc}. Выберите другую в фильтрах."},
            status_code=404,
        )


@router.get("/matrix", response_class=Response)
def matrix_page(
    request: Request,
    roadmap: str = "",
    cycle: str = "",
    kind: str = "",
    status: str = "",
    portal: Portal = Depends(portal_of),
) -> Response:
    flt = parse_query(roadmap, cycle, kind, status)
    with portal.session() as session:
        ctx = require_admin(portal, request, session)
        if ctx is None:
            return _login_redirect(request)
        loaded = _matrix_or_404(session, flt, portal, request)
        if isinstance(loaded, Response):
            return loaded
        return portal.render(
            request,
            "admin/matrix.html",
            {
                "admin": ctx.admin,
                "csrf": ctx.state.csrf,
                "loaded": loaded,
                "m": loaded.matrix,
                "flt": flt,
                "kinds": KIND_LABELS,
                "statuses": {s: CELL_LABELS[s] for s in TASK_STATUSES},
                "share": share,
                "marks": CELL_MARKS,
                "wide": True,
            },
        )


@router.get("/matrix.xlsx", response_class=Response)
def matrix_xlsx(
    request: Request,
    roadmap: str = "",
    cycle: str = "",
    kind: str = "",
    status: str = "",
    portal: Portal = Depends(portal_of),
) -> Response:

    flt = parse_query(roadmap, cycle, kind, status)
    with portal.session() as session:
        if require_admin(portal, request, session) is None:
            return _login_redirect(request)
        loaded = _matrix_or_404(session, flt, portal, request)
        if isinstance(loaded, Response):
            return loaded
        body = matrix_workbook(loaded.matrix, title=f"{loaded.roadmap.title}, {loaded.cycle}")
        name = f"matrix-{loaded.roadmap.key}-{loaded.cycle.replace('/', '-')}.xlsx"
    return Response(
        body,
        media_type=XLSX_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
