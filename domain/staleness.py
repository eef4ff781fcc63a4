"""Which items' Prefect artifacts show an old snapshot.

Every change of a task's state (opening, an answer, a review, a return) sets its
`updated_at` (domain.tasks.change_status), whether it happens in a flow or in the
portal. An item is stale when one of its tasks changed after the change its artifacts
last showed (`artifact_publish.changes_upto`), or when they were never published."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, func, select

from domain.access import ArtifactPublish
from domain.roadmap import Roadmap, RoadmapItem
from domain.tasks import Task


@dataclass(frozen=True)
class StaleItem:
    roadmap_key: str
    label: str
    item_id: int
    changed_at: datetime  # its latest task change


def stale_items(session: Session) -> list[StaleItem]:
    """Items with a task change their artifacts have not shown, in roadmap order."""
    latest = (
        select(Task.item_id, func.max(Task.updated_at).label("changed_at"))
        .group_by(col(Task.item_id))
        .subquery()
    )
    rows = session.exec(
        select(Roadmap.key, RoadmapItem.label, RoadmapItem.id, latest.c.changed_at)
        .join(RoadmapItem, col(RoadmapItem.id) == latest.c.item_id)
        .join(Roadmap, col(Roadmap.id) == RoadmapItem.roadmap_id)
        .join(
            ArtifactPublish,
            col(ArtifactPublish.item_id) == RoadmapItem.id,
            isouter=True,
        )
        .where(
            col(ArtifactPublish.item_id).is_(None)
            | col(ArtifactPublish.changes_upto).is_(None)
            | (col(ArtifactPublish.changes_upto) < latest.c.changed_at)
        )
        .order_by(col(Roadmap.id), col(RoadmapItem.number))
    ).all()
    return [
        StaleItem(roadmap_key=key, label=label, item_id=item_id, changed_at=changed)
        for key, label, item_id, changed in rows
        if item_id is not None
    ]


def mark_published(
    session: Session, *, item_id: int, published_at: datetime, changes_upto: datetime
) -> None:
    """Record that the item's artifacts now show every change up to `changes_upto`."""
    row = session.get(ArtifactPublish, item_id)
    if row is None:
        # Two runs at once (another machine's outbox run) may both publish a new item:
        # ON CONFLICT waits for the other's transaction and leaves its row to update.
        table = ArtifactPublish.__table__  # type: ignore[attr-defined]
        insert = (
            postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
        )
        session.execute(
            insert(table).on_conflict_do_nothing(index_elements=["item_id"]),
            {"item_id": item_id, "published_at": published_at, "changes_upto": changes_upto},
        )
        row = session.get(ArtifactPublish, item_id)
        assert row is not None
    row.published_at = published_at
    if row.changes_upto is None or row.changes_upto < changes_upto:
        row.changes_upto = changes_upto
    session.add(row)
