"""Several roadmaps side by side: which ones run, the one a command means, activation.

The database is the record: a roadmap is added or updated by its key (`import-roadmap`,
`load`), activated once (tracking starts then), and retired when its order lapses.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, tzinfo

from sqlmodel import Session, col, select

from domain.roadmap import Roadmap, RoadmapItem


class RoadmapChoiceError(LookupError):
    """No roadmap, an unknown key, or several where one is meant (the message is Russian)."""


class NoRoadmap(RoadmapChoiceError):
    """The database holds no roadmap yet."""


def all_roadmaps(session: Session) -> list[Roadmap]:
    return list(session.exec(select(Roadmap).order_by(col(Roadmap.id))))


def running_roadmaps(session: Session) -> list[Roadmap]:
    """Roadmaps that open new work: every one not retired."""
    return [r for r in all_roadmaps(session) if r.retired_at is None]


def roadmap_by_key(session: Session, key: str) -> Roadmap:
    roadmap = session.exec(select(Roadmap).where(Roadmap.key == key)).first()
    if roadmap is None:
        keys = ", ".join(r.key for r in all_roadmaps(session)) or "нет ни одной"
        raise RoadmapChoiceError(f"дорожной карты «{key}» нет; в базе: {keys}")
    return roadmap


def choose_roadmap(session: Session, key: str | None) -> Roadmap:
    """The one rule for "which roadmap" everywhere a single one is meant: the key given,
    or else the only running roadmap (or the only one at all)."""
    if key:
        return roadmap_by_key(session, key)
    every = all_roadmaps(session)
    if not every:
        raise NoRoadmap(
            "в базе пока нет дорожной карты: загрузите приказ командой "
            "`roadmap import-roadmap FILE`"
        )
    running = [r for r in every if r.retired_at is None] or every
    if len(running) > 1:
        keys = ", ".join(r.key for r in running)
        raise RoadmapChoiceError(
            f"в базе несколько дорожных карт ({keys}); укажите нужную: --roadmap КЛЮЧ"
        )
    return running[0]


def roadmaps_meant(session: Session, key: str | None) -> list[Roadmap]:
    """For lists and filters: the roadmap named, or every roadmap."""
    return [roadmap_by_key(session, key)] if key else all_roadmaps(session)


def activate(roadmap: Roadmap, at: datetime) -> None:
    """Set when tracking starts (explicitly: `roadmap activate KEY --from DATE`)."""
    roadmap.activated_at = at


def activate_if_new(roadmaps: Sequence[Roadmap], at: datetime) -> list[Roadmap]:
    """The default activation: the first instant the installation runs a roadmap. Returns
    the roadmaps activated now (the caller adds them to its session)."""
    fresh = [r for r in roadmaps if r.activated_at is None]
    for roadmap in fresh:
        roadmap.activated_at = at
    return fresh


def activation_day(roadmap: Roadmap, tz: tzinfo) -> date | None:
    """The district day tracking started, or None while the roadmap has not run yet."""
    if roadmap.activated_at is None:
        return None
    return roadmap.activated_at.astimezone(tz).date()


def tracked_from(roadmap: Roadmap, tz: tzinfo) -> date:
    """The first day whose due dates are tracked: the activation day (the order date for
    a roadmap that has not run yet, so that a preview shows everything)."""
    return activation_day(roadmap, tz) or roadmap.order_date


def live_items(session: Session, roadmap: Roadmap) -> list[RoadmapItem]:
    """The roadmap's items that open work, in their order."""
    return list(
        session.exec(
            select(RoadmapItem)
            .where(RoadmapItem.roadmap_id == roadmap.id, col(RoadmapItem.withdrawn).is_(False))
            .order_by(col(RoadmapItem.number))
        )
    )


def item_by_label(session: Session, roadmap: Roadmap, label: str) -> RoadmapItem:
    item = session.exec(
        select(RoadmapItem).where(
            RoadmapItem.roadmap_id == roadmap.id, RoadmapItem.label == str(label)
        )
    ).first()
    if item is None:
        raise RoadmapChoiceError(f"в дорожной карте «{roadmap.key}» нет пункта {label}")
    return item


def tracked_since(roadmap: Roadmap, cycle_start: date, tz: tzinfo) -> date | None:
    """The day tracking started, when it started inside a cycle beginning `cycle_start`
    (the report of that cycle says so); None when the whole cycle was tracked."""
    activated = activation_day(roadmap, tz)
    return activated if activated is not None and activated > cycle_start else None
