"""`roadmap tick --at`: everything due up to an instant, through the same flows and tasks."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from prefect import flow
from sqlmodel import Session, select

from domain.access import StoredSummary
from domain.cycles import academic_year_of
from domain.tasks import Occurrence
from flows.context import local_day, moment, run_name, runtime
from flows.items import open_due_items
from flows.mailing import queue_owed_notices
from flows.outbox import deliver, raise_on_problem
from flows.summary import summary_flow


def cycles_to_summarise(session: Session, today: date) -> list[str]:
    """Cycles that ended before `today`, had occurrences, and have no summary yet."""
    current = academic_year_of(today).name
    with_work = set(session.exec(select(Occurrence.cycle).distinct()).all())
    done = set(session.exec(select(StoredSummary.cycle)).all())
    return sorted(c for c in with_work - done if c < current)


@flow(name="tick", flow_run_name=run_name("tick"))
def tick_flow(at: datetime | None = None, summarise: bool = True) -> dict[str, Any]:
    """Catch up to `at`: open due occurrences (one item flow each), queue the reminders,
    chases and escalations owed, deliver the outbox, and summarise ended cycles.
    Running it twice for the same instant sends nothing new."""
    when = moment(at)
    settings, engine = runtime()
    today = local_day(when, settings)
    opened = open_due_items(when)
    notices = queue_owed_notices(when)
    with Session(engine) as session:
        cycles = cycles_to_summarise(session, today) if summarise else []
    for cycle in cycles:
        summary_flow(cycle, when)
    delivered = deliver(when)
    raise_on_problem(delivered)
    return {"opened": opened, "notices": notices, "delivered": delivered, "summaries": cycles}
