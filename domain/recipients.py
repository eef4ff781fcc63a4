"""Who a task's emails go to: the head, the curator (head in copy), or the item's owner."""

from __future__ import annotations

from domain.enums import Role
from domain.organisations import Organisation
from domain.roadmap import RoadmapItem
from domain.tasks import Task


def item_owner_email(item: RoadmapItem, centre_email: str) -> str:
    return item.owner_email or centre_email


def task_recipients(
    task: Task, organisation: Organisation | None, item: RoadmapItem, centre_email: str
) -> tuple[str, tuple[str, ...]]:
    """(to, cc) for a task's emails.

    A curator task goes to the curator with the head in copy; an organisation without
    a curator address falls back to its head, so that nobody's task goes unread.
    """
    if task.role is Role.centre or organisation is None:
        return item_owner_email(item, centre_email), ()
    if task.role is Role.curator and organisation.curator_email:
        head = organisation.head_email
        cc = (head,) if head and head.lower() != organisation.curator_email.lower() else ()
        return organisation.curator_email, cc
    return organisation.head_email, ()
