"""What the pages show about tasks: events and roles in Russian, the traffic light,
submissions (status labels are domain.progress's, shared with the emails and reports)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Any

from sqlmodel import Session, col, select

from domain import lifecycle
from domain.calendar import RUSSIAN_CALENDAR, WorkingCalendar
from domain.enums import EvidenceFieldKind, Role, TaskEventKind
from domain.evidence import Evidence, EvidenceFile
from domain.formatting import ru_date
from domain.lifecycle import Stage
from domain.organisations import Organisation
from domain.roadmap import EvidenceField, RoadmapItem
from domain.tasks import Occurrence, Task, TaskEvent
from services.answers import answer_fields, parse_evidence_date

DUE_SOON_WORKING_DAYS = 3

EVENT_LABELS: dict[TaskEventKind, str] = {
    TaskEventKind.opened: "задача открыта",
    TaskEventKind.reminded: "напоминание",
    TaskEventKind.chased: "письмо о просрочке",
    TaskEventKind.escalated: "передано в центр (эскалация)",
    TaskEventKind.nudged: "напоминание о записи в журнал",
    TaskEventKind.submitted: "ответ отправлен",
    TaskEventKind.accepted: "принято",
    TaskEventKind.returned: "возвращено на доработку",
    TaskEventKind.link_revoked: "ссылки отозваны",
}

ROLE_LABELS: dict[Role, str] = {
    Role.head: "руководитель",
    Role.curator: "куратор",
    Role.centre: "центр",
}


class Light(StrEnum):
    done = "done"
    review = "review"
    soon = "soon"
    overdue = "overdue"
    open = "open"


LIGHT_LABELS: dict[Light, str] = {
    Light.done: "выполнено",
    Light.review: "на проверке",
    Light.soon: "срок скоро",
    Light.overdue: "просрочено",
    Light.open: "в работе",
}


def traffic_light(
    task: Task, *, continuous: bool, today: date, calendar: WorkingCalendar = RUSSIAN_CALENDAR
) -> Light:
    """The lifecycle table's colour: done once accepted; review while the answer (or a
    journal's entry) waits for the centre; for what the organisation still owes, overdue
    past due, soon within 3 working days, open otherwise. A journal (`continuous`) is
    coloured like any task: its entries wait for review like any answer."""
    stage = lifecycle.stage(task.status)
    if stage is Stage.done:
        return Light.done
    if stage is Stage.review:
        return Light.review
    if lifecycle.is_overdue(task.status, task.due, today):
        return Light.overdue
    if calendar.working_days_between(today, task.due) <= DUE_SOON_WORKING_DAYS:
        return Light.soon
    return Light.open


@dataclass
class ShownValue:
    label: str
    kind: str
    text: str
    href: str | None = None


@dataclass
class ShownFile:
    id: int
    field: str
    name: str
    size: int
    sha256: str


@dataclass
class ShownVersion:
    evidence: Evidence
    values: list[ShownValue] = field(default_factory=list)
    files: list[ShownFile] = field(default_factory=list)


def show_value(spec: EvidenceField | None, name: str, value: Any) -> ShownValue:
    label = spec.label if spec is not None else name
    kind = spec.kind if spec is not None else EvidenceFieldKind.text
    text = "" if value is None else str(value)
    if kind is EvidenceFieldKind.date and (day := parse_evidence_date(text)) is not None:
        text = ru_date(day)
    href = (
        text if kind is EvidenceFieldKind.url and text.startswith(("http://", "https://")) else None
    )
    return ShownValue(label=label, kind=kind.value, text=text, href=href)


def submissions(*, session: Session, task: Task, item: RoadmapItem) -> list[ShownVersion]:
    """Every evidence version of a task, newest first, with labelled values and files."""
    versions = session.exec(
        select(Evidence).where(Evidence.task_id == task.id).order_by(col(Evidence.version).desc())
    ).all()
    ids = [v.id for v in versions]
    files: dict[int, list[EvidenceFile]] = defaultdict(list)
    if ids:
        for f in session.exec(
            select(EvidenceFile)
            .where(col(EvidenceFile.evidence_id).in_(ids))
            .order_by(col(EvidenceFile.id))
        ).all():
            files[f.evidence_id].append(f)
    fields = answer_fields(item)
    by_name = {f.name: f for f in fields}
    shown = []
    for version in versions:
        assert version.id is not None
        values = [
            show_value(f, f.name, version.values[f.name])
            for f in fields
            if f.name in version.values
        ]
        values += [
            show_value(None, name, value)
            for name, value in version.values.items()
            if name not in by_name
        ]
        shown.append(
            ShownVersion(
                evidence=version,
                values=values,
                files=[
                    ShownFile(
                        id=f.id or 0,
                        field=f.field,
                        name=f.original_name,
                        size=f.size,
                        sha256=f.sha256,
                    )
                    for f in files[version.id]
                ],
            )
        )
    return shown


def events(*, session: Session, task_id: int) -> list[TaskEvent]:
    return list(
        session.exec(
            select(TaskEvent)
            .where(TaskEvent.task_id == task_id)
            .order_by(col(TaskEvent.at), col(TaskEvent.id))
        ).all()
    )


@dataclass
class TaskRow:
    """One line of a task list."""

    task: Task
    item: RoadmapItem
    occurrence: Occurrence
    organisation: Organisation | None
    light: Light

    @property
    def assignee(self) -> str:
        return self.organisation.short_name if self.organisation is not None else "Центр"


def task_rows(*, session: Session, tasks: list[Task], today: date) -> list[TaskRow]:
    item_ids = {t.item_id for t in tasks}
    occ_ids = {t.occurrence_id for t in tasks}
    org_ids = {t.organisation_id for t in tasks if t.organisation_id is not None}
    items = (
        {
            i.id: i
            for i in session.exec(select(RoadmapItem).where(col(RoadmapItem.id).in_(item_ids)))
        }
        if item_ids
        else {}
    )
    occs = (
        {o.id: o for o in session.exec(select(Occurrence).where(col(Occurrence.id).in_(occ_ids)))}
        if occ_ids
        else {}
    )
    orgs = (
        {
            o.id: o
            for o in session.exec(select(Organisation).where(col(Organisation.id).in_(org_ids)))
        }
        if org_ids
        else {}
    )
    rows = []
    for task in tasks:
        occ = occs[task.occurrence_id]
        rows.append(
            TaskRow(
                task=task,
                item=items[task.item_id],
                occurrence=occ,
                organisation=orgs.get(task.organisation_id) if task.organisation_id else None,
                light=traffic_light(task, continuous=occ.continuous, today=today),
            )
        )
    return rows
