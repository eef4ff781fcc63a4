"""`roadmap tick --at`: everything due up to an instant, through the same flows and tasks."""

from __future__ import annotations

from datetime import date, datetime, tzinfo
from typing import Any

from prefect import flow
from sqlmodel import Session, col, select

from domain.access import SUMMARY_YEARLY, StoredSummary
from domain.cycles import Cycle, academic_year_of
from domain.roadmap import RoadmapItem
from domain.roadmaps import activation_day, all_roadmaps
from domain.tasks import Occurrence
from flows.context import local_day, moment, run_name, runtime
from flows.items import open_due_items
from flows.mailing import queue_owed
from flows.outbox import deliver, raise_on_problem, republish_stale_artifacts
from flows.summary import summary_flow


def cycles_to_summarise(session: Session, today: date, tz: tzinfo) -> list[tuple[str, str]]:
    """(roadmap key, cycle) for cycles that ended before `today`, had occurrences, ended
    after the roadmap's activation, and have no yearly summary yet."""
    current = academic_year_of(today).name
    found: list[tuple[str, str]] = []
    for roadmap in all_roadmaps(session):
        activated = activation_day(roadmap, tz)
        if activated is None:
            continue
        with_work = set(
            session.exec(
                select(Occurrence.cycle)
                .join(RoadmapItem, col(RoadmapItem.id) == Occurrence.item_id)
                .where(RoadmapItem.roadmap_id == roadmap.id)
                .distinct()
            ).all()
        )
        done = set(
            session.exec(
                select(StoredSummary.cycle).where(
                    StoredSummary.roadmap_id == roadmap.id, StoredSummary.kind == SUMMARY_YEARLY
                )
            ).all()
        )
        for cycle in sorted(with_work - done):
            if cycle < current and Cycle.parse(cycle).ends >= activated:
                found.append((roadmap.key, cycle))
    return found


@flow(name="tick", flow_run_name=run_name("tick"), persist_result=False)
def tick_flow(
    at: datetime | None = None, summarise: bool = True, republish: bool = True
) -> dict[str, Any]:
    """Catch up to `at`: open due occurrences (one item flow each), queue the reminders,
    chases and escalations owed, deliver the outbox, bring the artifacts of items that
    changed up to date (with `republish`), and summarise ended cycles.
    Running it twice for the same instant sends nothing new. Queuing and delivery run
    as plain calls, not task runs (each task run costs the Prefect server three recorded
    state events: the demo ran about 15% faster without them); each opening is a task
    run of its own."""
    when = moment(at)
    settings, engine = runtime()
    today = local_day(when, settings)
    opened = open_due_items(when)
    notices = queue_owed(settings=settings, engine=engine, at=when)
    with Session(engine) as session:
        due = cycles_to_summarise(session, today, settings.tz) if summarise else []
    for key, cycle in due:
        summary_flow(cycle, when, roadmap=key)
    delivered = deliver(when)
    # As the outbox runs do: the artifacts of every item whose tasks changed since they
    # were last published (the day's openings, answers and reviews in the portal).
    republished = republish_stale_artifacts(when) if republish else 0
    raise_on_problem(delivered)
    several = len({key for key, _ in due}) > 1
    return {
        "opened": opened,
        "notices": notices,
        "delivered": delivered,
        "artifacts_republished": republished,
        "summaries": [f"{key} {cycle}" if several else cycle for key, cycle in due],
    }
