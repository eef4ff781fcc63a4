"""Outbox delivery: every few minutes, send what is queued (or write .eml files)."""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from datetime import datetime, timedelta

from prefect import flow, task

from flows.context import moment, run_name, runtime
from notifications.delivery import deliver_due


@task(retries=1, retry_delay_seconds=30)
def deliver(at: datetime, budget_seconds: float | None = None) -> dict[str, int]:
    """Everything due at `at` (or as much as `budget_seconds` allows; the next run takes
    the rest). Sending is asyncio inside (aiosmtplib, bounded concurrency); the task is
    sync so that the flows calling it stay sync, which costs Prefect far less per run."""
    settings, engine = runtime()
    budget = timedelta(seconds=budget_seconds) if budget_seconds is not None else None
    report = asyncio.run(deliver_due(engine=engine, settings=settings, now=at, budget=budget))
    return asdict(report)


@flow(name="outbox", flow_run_name=run_name("outbox"))
def outbox_flow(at: datetime | None = None) -> dict[str, int]:
    """Claims queued rows, sends them, records each outcome; a crash loses nothing. A
    scheduled run stops after ROADMAP_OUTBOX_TIME_BUDGET_SECONDS and the next one
    carries on."""
    settings, _ = runtime()
    return deliver(moment(at), settings.outbox_time_budget_seconds)
