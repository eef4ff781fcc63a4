"""Who a task's emails go to: the head, the curator (head in copy), the head's deputy
while one holds (head in copy), or the item's owner."""

from __future__ import annotations

from datetime import date

from domain.deputies import holding_deputy
from domain.enums import Role
from domain.organisations import Organisation
from domain.roadmap import RoadmapItem
from domain.tasks import Task


def item_owner_email(item: RoadmapItem, centre_email: str) -> str:
    return item.owner_email or centre_email


def task_recipients(
    task: Task,
    organisation: Organisation | None,
    item: RoadmapItem,
    centre_email: str,
    *,
    on_day: date | None = None,
) -> tuple[str, tuple[str, ...]]:
    """(to, cc) for a task's emails queued on `on_day`.

    A curator task goes to the curator with the head in copy; an organisation without
    a curator address falls back to its head, so that nobody's task goes unread. While
    the head's deputy holds on `on_day`, what would go to the head goes to the deputy
    with the head in copy (a curator's task stays the curator's). Without `on_day` no
    deputy is considered. Escalations are not asked here: they go to the item's owner.
    """
    return role_recipients(task.role, organisation, item, centre_email, on_day=on_day)


def role_recipients(
    role: Role,
    organisation: Organisation | None,
    item: RoadmapItem,
    centre_email: str,
    *,
    on_day: date | None = None,
) -> tuple[str, tuple[str, ...]]:
    """`task_recipients` for a task with this role (the day's scan reads no Task rows)."""
    if role is Role.centre or organisation is None:
        return item_owner_email(item, centre_email), ()
    if role is Role.curator and organisation.curator_email:
        head = organisation.head_email
        cc = (head,) if head and head.lower() != organisation.curator_email.lower() else ()
        return organisation.curator_email, cc
    deputy = None if on_day is None else holding_deputy(organisation, on_day)
    if deputy is not None:
        head = organisation.head_email
        return deputy.email, (head,) if head else ()
    return organisation.head_email, ()
