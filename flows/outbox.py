"""Outbox delivery: every few minutes, send what is queued (or write .eml files), and
republish the artifacts of items whose tasks changed since they were last published
(answers and reviews happen in the portal, outside Prefect)."""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from datetime import datetime, timedelta

from prefect import flow, task

from domain.db import session_scope
from domain.staleness import mark_published, stale_items
from flows.context import moment, run_name, runtime
from flows.items import publish_progress
from notifications.delivery import DeliveryProblem, deliver_due


def deliver(at: datetime, budget_seconds: float | None = None) -> dict[str, int | str]:
    """Everything due at `at` (or as much as `budget_seconds` allows; the next run takes
    the rest). Sending is asyncio inside (aiosmtplib, bounded concurrency); the call is
    sync so that the flows calling it stay sync, which costs Prefect far less per run.
    Not a task: the outbox runs every five minutes and a task run costs the Prefect
    server three recorded state events; a run that fails is carried on by the next."""
    settings, engine = runtime()
    budget = timedelta(seconds=budget_seconds) if budget_seconds is not None else None
    report = asyncio.run(deliver_due(engine=engine, settings=settings, now=at, budget=budget))
    return asdict(report)


def raise_on_problem(delivered: dict[str, int | str]) -> None:
    """Fail the run (after every outcome was recorded) when nothing could be sent for a
    configuration reason: the run shows Failed in Prefect and `tick` exits non-zero."""
    problem = delivered.get("problem")
    if problem:
        retried = delivered.get("retried", 0)
        raise DeliveryProblem(
            f"почта не отправлена: {problem}. Письма ({retried}) остаются в очереди и уйдут "
            "после исправления настроек; проверить настройки: roadmap check"
        )


@task
def republish_stale_artifacts(at: datetime) -> int:
    """The status table, progress and overview of every item a task changed on since its
    artifacts were last published; each is recorded once published, so an unchanged item
    is not published again."""
    _, engine = runtime()
    with session_scope(engine) as session:
        stale = stale_items(session)
    for item in stale:
        publish_progress(item.label, at, item.roadmap_key)
        with session_scope(engine) as session:
            mark_published(
                session, item_id=item.item_id, published_at=at, changes_upto=item.changed_at
            )
    return len(stale)


@flow(name="outbox", flow_run_name=run_name("outbox"), persist_result=False)
def outbox_flow(at: datetime | None = None, republish: bool = True) -> dict[str, int | str]:
    """Claims queued rows, sends them, records each outcome; a crash loses nothing. A
    scheduled run stops after ROADMAP_OUTBOX_TIME_BUDGET_SECONDS and the next one
    carries on. Then (with `republish`) brings stale item artifacts up to date."""
    settings, _ = runtime()
    when = moment(at)
    delivered = deliver(when, settings.outbox_time_budget_seconds)
    delivered["artifacts_republished"] = republish_stale_artifacts(when) if republish else 0
    raise_on_problem(delivered)
    return delivered
