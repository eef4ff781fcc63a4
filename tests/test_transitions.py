"""The task's state machine."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from domain.enums import Role, TaskEventKind, TaskStatus
from domain.tasks import Task, TransitionError, change_status

NOW = datetime(2022, 9, 1, 9, tzinfo=UTC)


def task(status: TaskStatus) -> Task:
    return Task(
        id=7,
        occurrence_id=1,
        item_id=1,
        assignee_key="org:1",
        role=Role.head,
        status=status,
        due=date(2022, 9, 14),
        opened_at=NOW,
        updated_at=NOW,
    )


@pytest.mark.parametrize(
    ("start", "kind", "to"),
    [
        (TaskStatus.open, TaskEventKind.submitted, TaskStatus.submitted),
        (TaskStatus.returned, TaskEventKind.submitted, TaskStatus.submitted),
        (TaskStatus.submitted, TaskEventKind.submitted, TaskStatus.submitted),
        (TaskStatus.submitted, TaskEventKind.accepted, TaskStatus.accepted),
        (TaskStatus.submitted, TaskEventKind.returned, TaskStatus.returned),
    ],
)
def test_allowed_moves_record_an_event(
    start: TaskStatus, kind: TaskEventKind, to: TaskStatus
) -> None:
    t = task(start)
    event = change_status(t, to, event=kind, actor="a@b.example", now=NOW)
    assert t.status is to
    assert (event.from_status, event.to_status, event.task_id) == (start, to, 7)


@pytest.mark.parametrize(
    ("start", "to"),
    [
        (TaskStatus.open, TaskStatus.accepted),
        (TaskStatus.open, TaskStatus.returned),
        (TaskStatus.accepted, TaskStatus.submitted),
        (TaskStatus.accepted, TaskStatus.returned),
        (TaskStatus.returned, TaskStatus.accepted),
    ],
)
def test_other_moves_are_refused_and_change_nothing(start: TaskStatus, to: TaskStatus) -> None:
    t = task(start)
    with pytest.raises(TransitionError):
        change_status(t, to, event=TaskEventKind.accepted, actor="a@b.example", now=NOW)
    assert t.status is start
