"""The inbox: every few minutes, read new replies from the centre's mailbox."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from prefect import flow, task

from flows.context import run_name, runtime
from notifications.imap import read_inbox


@task(retries=1, retry_delay_seconds=60)
def read_replies() -> dict[str, Any]:
    """Records, applies and flags each new message; a crash mid-way loses and doubles
    nothing (see notifications/imap.py). Replies are stamped with the real clock."""
    settings, engine = runtime()
    report = read_inbox(engine=engine, settings=settings, clock=lambda: datetime.now(UTC))
    return asdict(report)


@flow(name="inbox", flow_run_name=run_name("inbox"), persist_result=False)
def inbox_flow() -> dict[str, Any]:
    """Answers by email reply: matched, checked and applied, or put up for review."""
    return read_replies()
