"""Occurrences of an item in a cycle, the tasks they open, and every state change."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import UniqueConstraint, event
from sqlmodel import Field, SQLModel

from domain import lifecycle
from domain.enums import Role, TaskEventKind, TaskStatus
from domain.lifecycle import TransitionError
from domain.types import UTCDateTime

__all__ = [
    "CENTRE_KEY",
    "TRANSITIONS",
    "Occurrence",
    "Task",
    "TaskEvent",
    "TransitionError",
    "assignee_key",
    "change_status",
]

CENTRE_KEY = "centre"


def assignee_key(organisation_id: int | None) -> str:
    """The unique key of a task's assignee: an organisation, or the centre itself."""
    return CENTRE_KEY if organisation_id is None else f"org:{organisation_id}"


class Occurrence(SQLModel, table=True):
    """An item's window in one cycle: when it opens and when it is due."""

    __table_args__ = (UniqueConstraint("item_id", "opens"),)

    id: int | None = Field(default=None, primary_key=True)
    item_id: int = Field(foreign_key="roadmap_item.id", index=True)
    cycle: str = Field(index=True, max_length=9)  # "2022/2023"
    opens: date = Field(index=True)
    due: date
    continuous: bool = False
    opened_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class Task(SQLModel, table=True):
    """One organisation's (or the centre's) task for one occurrence."""

    __table_args__ = (UniqueConstraint("occurrence_id", "assignee_key"),)

    id: int | None = Field(default=None, primary_key=True)
    occurrence_id: int = Field(foreign_key="occurrence.id", index=True)
    item_id: int = Field(foreign_key="roadmap_item.id", index=True)
    organisation_id: int | None = Field(default=None, foreign_key="organisation.id", index=True)
    assignee_key: str = Field(max_length=32)
    role: Role
    status: TaskStatus = Field(default=TaskStatus.open, index=True)
    due: date = Field(index=True)
    opened_at: datetime = Field(sa_type=UTCDateTime)
    submitted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    accepted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    escalated_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revision: int = 0  # how many times the centre returned it
    updated_at: datetime = Field(sa_type=UTCDateTime)
    # The next district day on which the task may owe a notice (domain.reminders): the
    # daily scan reads only tasks due a look through this index. None means "look at the
    # next scan": any change of status, due date or revision resets it, so a stale value
    # can never hide a notice.
    next_notice_on: date | None = Field(default=None, index=True)


class TaskEvent(SQLModel, table=True):
    """A row for every state change of a task (and every notice it caused)."""

    __tablename__ = "task_event"

    id: int | None = Field(default=None, primary_key=True)
    task_id: int = Field(foreign_key="task.id", index=True)
    at: datetime = Field(sa_type=UTCDateTime)
    kind: TaskEventKind
    from_status: TaskStatus | None = None
    to_status: TaskStatus | None = None
    actor: str = ""  # "system", an administrator's email, or the answering head's email
    note: str = ""


# The task's state machine is the lifecycle table's: which status may follow which.
TRANSITIONS: dict[TaskStatus, frozenset[TaskStatus]] = {
    status: lifecycle.targets(status) for status in TaskStatus
}


def change_status(
    task: Task,
    to: TaskStatus | None = None,
    *,
    event: TaskEventKind,
    actor: str,
    now: datetime,
    note: str = "",
) -> TaskEvent:
    """Move `task` as `event` moves it (the lifecycle table says to which status) and
    return the event row recording it (the caller adds both to its session). A move the
    table does not allow, or a target `to` that is not the event's, raises
    TransitionError and changes nothing."""
    target = lifecycle.next_status(task.status, event)
    if to is not None and to is not target:
        raise TransitionError(
            f"task {task.id}: {event.value} makes a {task.status.value} task "
            f"{target.value}, not {to.value}"
        )
    assert task.id is not None
    record = TaskEvent(
        task_id=task.id,
        at=now,
        kind=event,
        from_status=task.status,
        to_status=target,
        actor=actor,
        note=note,
    )
    task.status = target
    task.updated_at = now
    return record


@event.listens_for(Task.status, "set", propagate=True)
@event.listens_for(Task.due, "set", propagate=True)
@event.listens_for(Task.revision, "set", propagate=True)
def _look_again(task: Task, value: Any, old: Any, _initiator: Any) -> None:
    if value != old:
        task.next_notice_on = None
