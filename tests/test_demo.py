"""`roadmap demo` end to end: its summary's figures are what the simulated heads did."""

from __future__ import annotations

import os
import sqlite3
from collections import Counter, defaultdict
from datetime import date
from pathlib import Path

import pytest
from rich.console import Console
from sqlmodel import Session, col, func, select

from config.runtime import cached_engine
from config.settings import get_settings
from domain.cycles import Cycle
from domain.db import make_engine
from domain.emails import OutgoingEmail
from domain.enums import EmailStatus
from domain.summary import build_summary

pytestmark = pytest.mark.prefect

DEMO_VARS = [
    "ROADMAP_DATABASE_URL",
    "ROADMAP_VAR_DIR",
    "ROADMAP_SMTP_HOST",
    "ROADMAP_SMTP_PORT",
    "ROADMAP_SMTP_TLS",
    "ROADMAP_ROADMAP_FILE",
]


def test_the_demo_summary_matches_what_the_heads_did(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As `roadmap demo` runs it: with a temporary Prefect server of its own, started
    before the district is set up, its runs flushed to it before it stops."""
    from flows.demo import Behaviour, run_demo

    for var in DEMO_VARS:  # the demo configures itself through the environment
        monkeypatch.setenv(var, os.environ.get(var, ""))
    monkeypatch.delenv("ROADMAP_ROADMAP_FILE")
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "prefect"))  # the server's database
    try:
        result = run_demo(out=tmp_path / "demo", seed=7, console=Console(quiet=True))
    finally:
        get_settings.cache_clear()
        cached_engine.cache_clear()

    as_of = date(2023, 8, 31)
    expected: dict[int, Counter[str]] = defaultdict(Counter)
    entries: Counter[int] = Counter()
    for plan in result.plans:
        entries[plan.item_number] += len(plan.done)
        if plan.behaviour is Behaviour.log or plan.organisation is None:
            continue
        if plan.done:
            expected[plan.item_number]["on_time" if plan.done[0] <= plan.due else "late"] += 1
        else:
            expected[plan.item_number]["overdue" if plan.due < as_of else "in_progress"] += 1
    behaviours = Counter(p.behaviour for p in result.plans)
    assert behaviours[Behaviour.on_time] and behaviours[Behaviour.late]
    assert behaviours[Behaviour.never] and behaviours[Behaviour.log]

    engine = make_engine(f"sqlite:///{result.database}")
    with Session(engine) as session:
        summary = build_summary(
            session=session, cycle=Cycle(2022), roadmap_start=date(2022, 4, 8), as_of=as_of
        )
        sent = session.exec(
            select(func.count())
            .select_from(OutgoingEmail)
            .where(col(OutgoingEmail.status) == EmailStatus.sent)
        ).one()
    for item in summary.items:
        if item.continuous:
            continue
        counts = item.counts
        got = {
            "on_time": counts.on_time,
            "late": counts.late,
            "overdue": counts.overdue,
            "in_progress": counts.in_progress,
        }
        want = {k: expected[item.number][k] for k in got}
        assert got == want, f"item {item.number}"
        assert item.entries == entries[item.number], f"item {item.number}"
    assert sum(i.counts.late for i in summary.items) > 0
    assert sum(i.counts.overdue for i in summary.items) > 0
    # every message the outbox sent reached the local SMTP server, once
    assert result.mail_count == sent == len(list(result.mail_dir.glob("*.eml")))
    assert {"md", "html", "docx", "xlsx"} <= set(result.summary_files)
    for path in result.summary_files.values():
        assert Path(path).stat().st_size > 0

    # the runs are in the demo's own Prefect server's database, completed
    with sqlite3.connect(tmp_path / "prefect" / "prefect.db") as prefect_db:
        runs = prefect_db.execute(
            "select f.name, r.state_type, count(*) from flow_run r join flow f on f.id = r.flow_id"
            " group by f.name, r.state_type"
        ).fetchall()
        task_runs = [name for (name,) in prefect_db.execute("select name from task_run")]
    states = {(name, state): n for name, state, n in runs}
    assert states.get(("tick", "COMPLETED")) == result.ticks, states
    assert states.get(("outbox", "COMPLETED")), states
    assert {state for _, state in states} == {"COMPLETED"}, states
    assert any(name.startswith("open-item-") for name in task_runs), task_runs
