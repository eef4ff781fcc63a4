"""What a task's status means, and which event moves a task from one status to another.

This is the one place that says it: the pages, the emails, the reports, the artifacts and
the reminder rules ask this table rather than listing statuses of their own.

- waiting: the organisation owes an answer (a new task, or one the centre returned);
- review: the organisation answered and the centre has not yet reviewed it ("на проверке",
  never counted as done);
- done: the centre accepted the answer.

An answer is on time or late by its day (in the district's zone) against the task's due
date; an unanswered task is overdue once its due date has passed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from domain.enums import TaskEventKind, TaskStatus


class Stage(StrEnum):
    waiting = "waiting"  # waiting for the organisation
    review = "review"  # waiting for the centre's review
    done = "done"  # accepted


class Timeliness(StrEnum):
    on_time = "on_time"  # answered on or before the due date
    late = "late"  # answered after the due date
    overdue = "overdue"  # not answered, due date passed
    pending = "pending"  # not answered, still in time


@dataclass(frozen=True)
class Meaning:
    stage: Stage
    label: str  # Russian, as every page, email and report shows it
    answerable: bool  # the organisation may send an answer (or a journal entry) now
    returned: bool = False  # the centre sent the answer (or an entry) back for rework


MEANINGS: dict[TaskStatus, Meaning] = {
    TaskStatus.open: Meaning(Stage.waiting, "ожидает ответа", answerable=True),
    TaskStatus.returned: Meaning(
        Stage.waiting, "возвращено на доработку", answerable=True, returned=True
    ),
    TaskStatus.submitted: Meaning(Stage.review, "ответ получен, на проверке", answerable=True),
    TaskStatus.accepted: Meaning(Stage.done, "принято", answerable=False),
}

# (status, event) -> the status the event leads to; any other pair is refused.
TRANSITIONS: dict[tuple[TaskStatus, TaskEventKind], TaskStatus] = {
    (TaskStatus.open, TaskEventKind.submitted): TaskStatus.submitted,
    (TaskStatus.returned, TaskEventKind.submitted): TaskStatus.submitted,
    (TaskStatus.submitted, TaskEventKind.submitted): TaskStatus.submitted,  # a new version
    (TaskStatus.submitted, TaskEventKind.accepted): TaskStatus.accepted,
    (TaskStatus.submitted, TaskEventKind.returned): TaskStatus.returned,
}


class TransitionError(ValueError):
    """A move the table does not allow, or a target that is not the event's."""


def meaning(status: TaskStatus) -> Meaning:
    return MEANINGS[status]


def stage(status: TaskStatus) -> Stage:
    return MEANINGS[status].stage


def label(status: TaskStatus) -> str:
    return MEANINGS[status].label


def _with_stage(*stages: Stage) -> frozenset[TaskStatus]:
    return frozenset(s for s, m in MEANINGS.items() if m.stage in stages)


WAITING: frozenset[TaskStatus] = _with_stage(Stage.waiting)
IN_REVIEW: frozenset[TaskStatus] = _with_stage(Stage.review)
DONE: frozenset[TaskStatus] = _with_stage(Stage.done)
ANSWERED: frozenset[TaskStatus] = _with_stage(Stage.review, Stage.done)
ANSWERABLE: frozenset[TaskStatus] = frozenset(s for s, m in MEANINGS.items() if m.answerable)
RETURNED: frozenset[TaskStatus] = frozenset(s for s, m in MEANINGS.items() if m.returned)


def waits_for_organisation(status: TaskStatus) -> bool:
    return status in WAITING


def in_review(status: TaskStatus) -> bool:
    return status in IN_REVIEW


def is_done(status: TaskStatus) -> bool:
    return status in DONE


def is_answerable(status: TaskStatus) -> bool:
    """The organisation may send an answer (or a journal entry) now."""
    return status in ANSWERABLE


def is_returned(status: TaskStatus) -> bool:
    """The centre sent the answer back; the organisation owes a corrected one."""
    return status in RETURNED


def is_answered(status: TaskStatus) -> bool:
    """Answered, whether or not the centre has reviewed it yet."""
    return status in ANSWERED


def is_overdue(status: TaskStatus, due: date, today: date) -> bool:
    """The organisation still owes the answer and its due date has passed."""
    return status in WAITING and due < today


def timeliness(
    status: TaskStatus, *, due: date, answered_on: date | None, today: date
) -> Timeliness:
    """On time or late for an answered task (by the day it was answered, in the
    district's zone); overdue or pending for one the organisation still owes."""
    if status in ANSWERED and answered_on is not None:
        return Timeliness.on_time if answered_on <= due else Timeliness.late
    if due < today:
        return Timeliness.overdue
    return Timeliness.pending


def targets(status: TaskStatus) -> frozenset[TaskStatus]:
    """Every status a task in `status` may move to."""
    return frozenset(to for (source, _), to in TRANSITIONS.items() if source is status)


def next_status(status: TaskStatus, event: TaskEventKind) -> TaskStatus:
    """The status `event` moves a task in `status` to; TransitionError if it may not."""
    try:
        return TRANSITIONS[(status, event)]
    except KeyError:
        raise TransitionError(
            f"a task that is {status.value} ({label(status)}) cannot be {event.value}"
        ) from None
