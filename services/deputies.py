"""Naming, changing and clearing an organisation's deputy, with the history of who did it,
and how an answer given by a deputy is recorded.

The head names a deputy on the organisation's page, the centre on its pages or with
`roadmap orgs deputy`; each change is a `DeputyChange` row (before -> after) in the
caller's transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlmodel import Session, col, select

from domain.access import AccessLink
from domain.deputies import (
    BY_LABELS,
    DEPUTY_ROLE,
    Deputy,
    DeputyChange,
    answered_as,
    deputy_of,
    holding_deputy,
)
from domain.formatting import ru_date
from domain.organisations import Organisation
from domain.tasks import Task

__all__ = [
    "ShownChange",
    "answered_by",
    "clear_deputy",
    "deputy_changes",
    "link_answer_note",
    "reply_answer_note",
    "set_deputy",
    "shown_changes",
]


def _state(org: Organisation) -> dict[str, Any]:
    deputy = deputy_of(org)
    return deputy.as_row() if deputy is not None else {}


def _record(
    session: Session,
    org: Organisation,
    before: dict[str, Any],
    *,
    by: str,
    actor: str,
    now: datetime,
) -> DeputyChange | None:
    after = _state(org)
    if after == before:
        return None
    assert org.id is not None
    org.updated_at = now
    session.add(org)
    change = DeputyChange(
        organisation_id=org.id, at=now, by=by, actor=actor, before=before, after=after
    )
    session.add(change)
    session.flush()
    return change


def set_deputy(
    session: Session, org: Organisation, deputy: Deputy, *, by: str, actor: str, now: datetime
) -> DeputyChange | None:
    """Name (or change) the organisation's deputy; returns the history row, or None when
    nothing changed. Does not commit."""
    before = _state(org)
    org.deputy_name = deputy.name
    org.deputy_email = deputy.email
    org.deputy_from = deputy.from_day
    org.deputy_until = deputy.until_day
    return _record(session, org, before, by=by, actor=actor, now=now)


def clear_deputy(
    session: Session, org: Organisation, *, by: str, actor: str, now: datetime
) -> DeputyChange | None:
    """Remove the deputy (mail goes to the head again at once); None when there was none."""
    before = _state(org)
    org.deputy_name = ""
    org.deputy_email = ""
    org.deputy_from = None
    org.deputy_until = None
    return _record(session, org, before, by=by, actor=actor, now=now)


def deputy_changes(session: Session, organisation_id: int) -> list[DeputyChange]:
    """The organisation's deputy history, newest first."""
    return list(
        session.exec(
            select(DeputyChange)
            .where(DeputyChange.organisation_id == organisation_id)
            .order_by(col(DeputyChange.at).desc(), col(DeputyChange.id).desc())
        ).all()
    )


def _describe(state: dict[str, Any]) -> str:
    if not state:
        return "нет"
    start, end = date.fromisoformat(state["from"]), date.fromisoformat(state["until"])
    return f"{state['name']} <{state['email']}>, с {ru_date(start)} по {ru_date(end)}"


@dataclass(frozen=True)
class ShownChange:
    """A history row as the pages show it."""

    at: datetime
    who: str
    before: str
    after: str


def shown_changes(session: Session, organisation_id: int) -> list[ShownChange]:
    return [
        ShownChange(
            at=c.at,
            who=BY_LABELS.get(c.by, c.by) + (f" ({c.actor})" if c.actor else ""),
            before=_describe(c.before),
            after=_describe(c.after),
        )
        for c in deputy_changes(session, organisation_id)
    ]


def link_answer_note(link: AccessLink) -> str:
    """What the answer's history adds when the answer came by a link mailed to a deputy
    ("ответил(а): И. О. Фамилия, заместитель"); "" for anyone else's link."""
    return answered_as(link.recipient_name) if link.recipient_role == DEPUTY_ROLE else ""


def reply_answer_note(session: Session, task: Task, sender: str, day: date) -> str:
    """The same for an email reply: "" unless `sender` is the deputy holding on `day`."""
    if task.organisation_id is None:
        return ""
    deputy = holding_deputy(session.get(Organisation, task.organisation_id), day)
    if deputy is None or deputy.email.strip().lower() != sender.strip().lower():
        return ""
    return answered_as(deputy.name)


_ANSWERED = "ответил(а): "


def answered_by(org: Organisation | None, actor: str, note: str) -> str:
    """Who gave an answer, as an organisation's history says it: the deputy's name from
    the answer's note, else the head or curator by their address, else the address."""
    for piece in note.split("; "):
        if piece.startswith(_ANSWERED):
            return piece
    who = actor.strip().lower()
    if org is not None and who:
        if who == org.head_email.strip().lower():
            return f"{_ANSWERED}{org.head_name}, руководитель"
        if org.curator_email and who == org.curator_email.strip().lower():
            return f"{_ANSWERED}{org.curator_name}, куратор"
    return f"{_ANSWERED}{actor}" if actor else ""
