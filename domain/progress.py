"""Where the district stands on an item: the rows behind the dashboard artifacts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, tzinfo

from sqlmodel import Session, col, select

from domain import lifecycle
from domain.enums import TaskStatus
from domain.formatting import local_day
from domain.matrix import natural_key
from domain.organisations import Organisation
from domain.tasks import Occurrence, Task

STATUS_LABELS: dict[TaskStatus, str] = {s: lifecycle.label(s) for s in TaskStatus}
CENTRE_LABEL = "Методический центр (своя задача)"


def status_label(task: Task, today: date) -> str:
    if lifecycle.is_overdue(task.status, task.due, today):
        return f"просрочено ({lifecycle.label(task.status)})"
    return lifecycle.label(task.status)


@dataclass(frozen=True)
class ProgressRow:
    organisation: str
    status: str
    due: date
    answered: str


@dataclass(frozen=True)
class ItemProgress:
    occurrence: Occurrence | None
    rows: list[ProgressRow]
    done: int  # accepted
    total: int
    overdue: int
    review: int = 0  # answered, waiting for the centre's review (not done)

    @property
    def share_done(self) -> float:
        return self.done / self.total if self.total else 0.0


def item_progress(*, session: Session, item_id: int, today: date, tz: tzinfo) -> ItemProgress:
    """The latest opened occurrence of an item and every task's state in it; the day of an
    answer in the district's time zone `tz`."""
    occurrence = session.exec(
        select(Occurrence)
        .where(
            Occurrence.item_id == item_id,
            col(Occurrence.opened_at).is_not(None),
            Occurrence.opens <= today,
        )
        .order_by(col(Occurrence.opens).desc())
    ).first()
    if occurrence is None:
        return ItemProgress(None, [], 0, 0, 0)
    rows = session.exec(
        select(Task, Organisation)
        .join(Organisation, col(Organisation.id) == Task.organisation_id, isouter=True)
        .where(Task.occurrence_id == occurrence.id)
    ).all()
    # natural order, as the matrix: "№ 2" before "№ 10"; the centre's own task last
    rows = sorted(
        rows,
        key=lambda row: (
            row[1] is None,
            natural_key(row[1].short_name or row[1].name) if row[1] else (),
            row[0].id or 0,
        ),
    )
    out = [
        ProgressRow(
            organisation=org.short_name if org else CENTRE_LABEL,
            status=status_label(task, today),
            due=task.due,
            answered=local_day(task.submitted_at, tz),
        )
        for task, org in rows
    ]
    done = sum(1 for task, _ in rows if lifecycle.is_done(task.status))
    review = sum(1 for task, _ in rows if lifecycle.in_review(task.status))
    overdue = sum(1 for task, _ in rows if lifecycle.is_overdue(task.status, task.due, today))
    return ItemProgress(occurrence, out, done, len(rows), overdue, review)


def overdue_tasks(*, session: Session, today: date) -> list[tuple[Task, Organisation | None]]:
    rows = session.exec(
        select(Task, Organisation)
        .join(Organisation, col(Organisation.id) == Task.organisation_id, isouter=True)
        .where(col(Task.status).in_(lifecycle.WAITING), Task.due < today)
        .order_by(col(Task.item_id), col(Organisation.name))
    ).all()
    return [(task, org) for task, org in rows]
