"""`roadmap serve`: one deployment per roadmap item, with schedules from the roadmap."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from prefect.client.schemas.schedules import CronSchedule
from sqlmodel import Session

from config.runtime import cached_engine, open_engine
from config.settings import get_settings
from domain.roadmap import RoadmapItem
from flows.schedules import item_schedules, yearly_cron
from flows.serve import build_deployments, chase_schedules

pytestmark = pytest.mark.prefect


@pytest.fixture
def shipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("ROADMAP_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv(
        "ROADMAP_DATABASE_URL", f"sqlite:///{(tmp_path / 'var' / 'roadmap.db').as_posix()}"
    )
    monkeypatch.delenv("ROADMAP_ROADMAP_FILE", raising=False)
    get_settings.cache_clear()
    cached_engine.cache_clear()
    settings = get_settings()
    return settings, open_engine(settings)


def test_yearly_windows_become_a_cron_line() -> None:
    assert yearly_cron([date(2026, 5, 1), date(2027, 5, 1), date(2028, 5, 1)]) == "0 7 1 5 *"
    assert (
        yearly_cron(
            [
                date(2027, 1, 1),
                date(2027, 4, 1),
                date(2027, 7, 1),
                date(2027, 10, 1),
                date(2028, 1, 1),
            ]
        )
        == "0 7 1 1,4,7,10 *"
    )
    assert yearly_cron([date(2027, 5, 1), date(2027, 5, 15)]) is None
    assert yearly_cron([date(2027, 5, 1)]) is None


def test_the_daily_chase_also_runs_on_working_saturdays() -> None:
    from datetime import datetime

    from domain.calendar import RUSSIAN_CALENDAR, WorkingCalendar

    weekdays, saturdays = chase_schedules(today=date(2024, 4, 28), timezone="Europe/Moscow")
    assert weekdays.cron == "0 9 * * 1-5" and weekdays.timezone == "Europe/Moscow"
    assert saturdays.rrule is not None and saturdays.timezone == "Europe/Moscow"
    lines = dict(line.split(":", 1) for line in saturdays.rrule.splitlines())
    assert lines["RRULE"] == "FREQ=DAILY;COUNT=1"
    stamps = [lines["DTSTART"], *lines["RDATE"].split(",")]
    runs = [datetime.strptime(stamp, "%Y%m%dT%H%M%S") for stamp in stamps]
    # from the day after 27.04.2024: the working Saturdays of the shipped calendar file
    assert [r.date() for r in runs] == RUSSIAN_CALENDAR.working_weekends(
        date(2024, 4, 28), date(2030, 12, 31)
    )
    assert [r.date() for r in runs][:3] == [
        date(2024, 11, 2),
        date(2024, 12, 28),
        date(2025, 11, 1),
    ]
    assert {(r.hour, r.minute, r.weekday()) for r in runs} == {(9, 0, 5)}
    # no working Saturdays ahead: the weekday line alone
    plain = chase_schedules(today=date(2024, 4, 28), timezone="UTC", calendar=WorkingCalendar())
    assert [s.cron for s in plain] == ["0 9 * * 1-5"]


def test_every_item_gets_a_deployment_named_after_it(shipped) -> None:
    settings, engine = shipped
    with Session(engine) as session:
        deployments = build_deployments(
            session=session, settings=settings, today=date(2026, 11, 25)
        )
    items = [d for d in deployments if d.name.startswith("item-")]
    assert len(items) == 17
    assert {d.name for d in deployments} >= {"daily-chase", "outbox-delivery", "yearly-summary"}
    by_number = {int(d.parameters["item_number"]): d for d in items}
    assert by_number[13].name == "item-209-od-2022-13"
    assert by_number[13].parameters["roadmap"] == "209-od-2022"
    # item 2 waits for the regional institute's plan: no schedule, flagged
    assert by_number[2].schedules == [] and "needs-dates" in by_number[2].tags
    # a past one-off (item 11, before 01.05.2022) has nothing ahead
    assert by_number[11].schedules == []
    assert by_number[8].schedules
    cron = by_number[8].schedules[0].schedule
    assert isinstance(cron, CronSchedule)
    assert cron.cron == "0 7 1 4 *" and cron.timezone == "Europe/Moscow"


def test_schedules_follow_the_parsed_schedule(shipped) -> None:
    _, engine = shipped
    with Session(engine) as session:
        from sqlmodel import select

        quarterly = session.exec(select(RoadmapItem).where(RoadmapItem.number == 15)).one()
        schedules = item_schedules(
            quarterly,
            roadmap_start=date(2022, 4, 8),
            today=date(2026, 11, 25),
            timezone="Europe/Moscow",
        )
    assert schedules[0].cron == "0 7 1 1,4,7,10 *"


def test_deployments_register_with_the_prefect_api(shipped, prefect_harness) -> None:
    settings, engine = shipped
    with Session(engine) as session:
        deployments = build_deployments(
            session=session, settings=settings, today=date(2026, 11, 25)
        )

    async def apply_and_read() -> dict[str, int]:
        from prefect.client.orchestration import get_client

        for deployment in deployments:
            await deployment.apply()  # type: ignore[misc]
        async with get_client() as client:
            found = await client.read_deployments()
        return {d.name: len(d.schedules) for d in found}

    registered = asyncio.run(apply_and_read())
    item_names = [n for n in registered if n.startswith("item-")]
    assert len(item_names) == 17
    # weekdays, plus the working Saturday ahead (20.02.2027)
    assert registered["daily-chase"] == 2
    assert sum(1 for n in item_names if registered[n] > 0) >= 12


def test_roadmap_serve_starts_and_registers_the_deployments(shipped, prefect_harness) -> None:
    from prefect.settings import PREFECT_API_URL

    async def forget_deployments() -> None:
        from prefect.client.orchestration import get_client

        async with get_client() as client:
            for deployment in await client.read_deployments():
                await client.delete_deployment(deployment.id)

    asyncio.run(forget_deployments())
    env = dict(os.environ, PREFECT_API_URL=str(PREFECT_API_URL.value()))
    proc = subprocess.Popen(
        [sys.executable, "-m", "cli.main", "serve", "--no-portal"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )

    async def deployments() -> dict[str, Any]:
        from prefect.client.orchestration import get_client

        async with get_client() as client:
            return {d.name: d for d in await client.read_deployments()}

    async def names() -> set[str]:
        return set(await deployments())

    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            found = asyncio.run(names())
            if {"daily-chase", "outbox-delivery"} <= found:
                assert len([n for n in found if n.startswith("item-")]) == 17
                break
            time.sleep(1)
        else:
            pytest.fail("roadmap serve did not register its deployments in 90 s")

        # it runs what is scheduled: an outbox run (nothing queued, so quick) completes,
        # which also means the runner is under way and a SIGTERM reaches its shutdown
        async def run_outbox() -> Any:
            from prefect.client.orchestration import get_client

            async with get_client() as client:
                deployment = (await deployments())["outbox-delivery"]
                run = await client.create_flow_run_from_deployment(
                    deployment.id, parameters={"republish": False}
                )
                deadline = time.monotonic() + 120
                while time.monotonic() < deadline:
                    state = (await client.read_flow_run(run.id)).state
                    if state is not None and state.is_final():
                        return state
                    await asyncio.sleep(1)
                return None

        state = asyncio.run(run_outbox())
        assert state is not None and state.is_completed(), state
        # stopping it (SIGTERM, as systemd does) pauses nothing: another machine's serve
        # or worker goes on running every deployment on its schedule
        proc.terminate()
        proc.wait(timeout=30)
        after = asyncio.run(deployments())
        assert {"daily-chase", "outbox-delivery"} <= set(after)
        for name, deployment in after.items():
            assert not deployment.paused, name
            assert all(s.active for s in deployment.schedules), name
        assert after["daily-chase"].schedules
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=30)
