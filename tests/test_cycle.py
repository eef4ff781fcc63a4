"""A school year walked with `tick` through real Prefect runs and a real SMTP server:
exactly which emails each head and the centre receive, on which days."""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from icalendar import Calendar
from sqlmodel import Session, func, select

from domain.emails import Notice, OutgoingEmail
from services.links import resolve_task_token
from tests.cycle_world import CENTRE, World, curator, days, head, make_world
from tests.smtp import CaughtMessage

pytestmark = pytest.mark.prefect

LINK = re.compile(r"http://127\.0\.0\.1:8765/t/([A-Za-z0-9_\-\.]+)")


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, smtp, prefect_harness) -> World:
    # item 3: the centre alone, continuous; item 11: every head, "до 01.05.2022 г."
    return make_world(tmp_path, monkeypatch, smtp, items=[3, 11])


def kind_of(message) -> str:
    return (
        str(message.message["Message-ID"]).split(".")[1]
        if "task-" in str(message.message["Message-ID"])
        else "digest"
    )


def test_spring_2022_for_item_11(world: World) -> None:
    """Opening 08.04, reminder 26.04, chases 04.05 / 12.05 / 19.05 (May holidays
    skipped), escalation with the second chase; nothing on days off."""
    received: dict[str, list[tuple[date, CaughtMessage]]] = defaultdict(list)
    for day in days(date(2022, 4, 8), date(2022, 5, 31)):
        world.tick(world.at(day))
        if day == date(2022, 4, 20):
            world.answer(11, "sosh2", world.at(day, 14))
            world.tick(world.at(day, 14, 5))
        if day == date(2022, 5, 6):
            world.answer(11, "ds3", world.at(day, 14))
            world.tick(world.at(day, 14, 5))
        for message in world.take_mail():
            for rcpt in message.rcpt_tos:
                received[rcpt].append((day, message))

    def on(addr: str) -> list[date]:
        return [d for d, _ in received[addr]]

    assert on(head("sosh1")) == [
        date(2022, 4, 8),
        date(2022, 4, 26),
        date(2022, 5, 4),
        date(2022, 5, 12),
        date(2022, 5, 19),
    ]
    assert on(head("sosh2")) == [date(2022, 4, 8), date(2022, 4, 20)]
    assert on(head("ds3")) == [
        date(2022, 4, 8),
        date(2022, 4, 26),
        date(2022, 5, 4),
        date(2022, 5, 6),
    ]
    # the centre: its own task for item 3 and one escalation about СОШ № 1
    assert on(CENTRE) == [date(2022, 4, 8), date(2022, 5, 12)]
    escalation = received[CENTRE][1][1].text()
    assert "СОШ № 1" in escalation and "СОШ № 2" not in escalation
    assert not received[curator("sosh1")], "item 11 is the heads' task"
    weekend = [d for addr in received for d, _ in received[addr] if d.weekday() >= 5]
    assert weekend == []


def test_repeating_a_tick_sends_nothing_new(world: World) -> None:
    moment = world.at(date(2022, 4, 8))
    world.tick(moment)
    first = world.take_mail()
    assert len(first) == 4  # three heads + the centre's own task
    world.tick(moment)
    world.tick(moment)
    assert world.take_mail() == []
    with Session(world.engine) as session:
        assert session.exec(select(func.count()).select_from(OutgoingEmail)).one() == 4
        assert session.exec(select(func.count()).select_from(Notice)).one() == 4


def test_each_task_email_carries_a_working_link_and_a_calendar_entry(world: World) -> None:
    world.tick(world.at(date(2022, 4, 8)))
    world.tick(world.at(date(2022, 4, 26)))
    messages = world.take_mail()
    assert len(messages) == 4 + 3
    for message in messages:
        tokens = LINK.findall(message.text())
        assert tokens, message.subject
        with Session(world.engine) as session:
            link = resolve_task_token(
                session=session,
                token=tokens[0],
                settings=world.settings,
                now=world.at(date(2022, 4, 27)),
            )
        assert link.recipient in message.rcpt_tos
        calendars = [a for a in message.attachments() if a.get_content_type() == "text/calendar"]
        assert calendars, message.subject
        cal = Calendar.from_ical(calendars[0].get_content())
        starts = [e.decoded("dtstart") for e in cal.walk("VEVENT")]
        assert date(2022, 4, 29) in starts or date(2022, 8, 31) in starts


def test_item_and_chase_runs_publish_artifacts_the_ui_shows(world: World) -> None:
    import asyncio
    import json

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        ArtifactCollectionFilter,
        ArtifactCollectionFilterKey,
    )

    from flows.chase import chase_flow

    world.tick(world.at(date(2022, 4, 8)))
    world.answer(11, "sosh2", world.at(date(2022, 4, 20), 14))
    world.tick(world.at(date(2022, 4, 20), 15))
    chase_flow(world.at(date(2022, 5, 12)))

    async def latest(keys: list[str]) -> dict[str, Any]:
        async with get_client() as client:
            found = await client.read_latest_artifacts(
                artifact_filter=ArtifactCollectionFilter(key=ArtifactCollectionFilterKey(any_=keys))
            )
        return {a.key: a.data for a in found if a.key}

    data = asyncio.run(
        latest(
            [
                "item-209-od-2022-11-status",
                "item-209-od-2022-11-progress",
                "item-209-od-2022-11-overview",
                "chase-overdue",
            ]
        )
    )
    table = data["item-209-od-2022-11-status"]
    rows = json.loads(table) if isinstance(table, str) else table
    assert {r["Организация"] for r in rows} == {"СОШ № 1", "СОШ № 2", "Д/с № 3"}
    # one of three answered, refreshed by the chase: in review, so not yet done
    assert data["item-209-od-2022-11-progress"] == 0.0
    assert "до 01.05.2022" in str(data["item-209-od-2022-11-overview"])
    assert "на проверке: 1;" in str(data["item-209-od-2022-11-overview"])
    overdue = data["chase-overdue"]
    overdue_rows = json.loads(overdue) if isinstance(overdue, str) else overdue
    assert {r["Организация"] for r in overdue_rows} == {"СОШ № 1", "Д/с № 3"}


def test_two_items_opening_on_one_day_reach_each_head_as_one_digest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, smtp, prefect_harness
) -> None:
    world = make_world(tmp_path, monkeypatch, smtp, items=[11, 13])
    world.tick(world.at(date(2022, 4, 8)))
    messages = world.take_mail()
    to_head = [m for m in messages if head("sosh1") in m.rcpt_tos]
    assert len(to_head) == 1
    text = to_head[0].text()
    assert "11" in text and "13" in text
    assert len(messages) == 3  # one per head


def test_the_daily_chase_opens_what_a_missed_item_run_left(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, smtp, prefect_harness
) -> None:
    from flows.chase import chase_flow
    from flows.outbox import outbox_flow

    world = make_world(tmp_path, monkeypatch, smtp, items=[11])
    # nothing ran on 08.04 (the server was down); the chase on Tuesday catches up
    counts = chase_flow(world.at(date(2022, 4, 12)))
    assert counts["items_opened"] == 1
    outbox_flow(world.at(date(2022, 4, 12), 9, 5))
    assert sorted(r for m in world.take_mail() for r in m.rcpt_tos) == sorted(
        head(code) for code in ("sosh1", "sosh2", "ds3")
    )
    assert chase_flow(world.at(date(2022, 4, 12), 10))["items_opened"] == 0
