"""Outbox delivery: every few minutes, send what is queued (or write .eml files)."""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from datetime import datetime

from prefect import flow, task

from flows.context import moment, run_name, runtime
from notifications.delivery import deliver_due


@task(retries=1, retry_delay_seconds=30)
def deliver(at: datetime) -> dict[str, int]:
    """Sending is asyncio inside (aiosmtplib, bounded concurrency); the task is sync so
    that the flows calling it stay sync, which costs Prefect far less per run."""
    settings, engine = runtime()
    report = asyncio.run(deliver_due(engine=engine, settings=settings, now=at))
    return asdict(report)


@flow(name="outbox", flow_run_name=run_name("outbox"))
def outbox_flow(at: datetime | None = None) -> dict[str, int]:
    """Claims queued rows, sends them, records each outcome; a crash loses nothing."""
    return deliver(moment(at))
