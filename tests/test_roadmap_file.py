"""The roadmap file as administrators edit it: loading, syncing, re-reading schedules."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
import yaml
from sqlalchemy import Engine
from sqlmodel import Session, select

from domain.opening import item_schedule
from domain.roadmap import RoadmapItem
from domain.roadmap_file import (
    SHIPPED_ROADMAP,
    RoadmapFileError,
    dump_roadmap_file,
    load_roadmap_file,
    sync_roadmap,
)


def item(engine: Engine, number: int) -> RoadmapItem:
    with Session(engine) as session:
        return session.exec(select(RoadmapItem).where(RoadmapItem.number == number)).one()


def test_the_shipped_roadmap_loads_into_17_items(any_engine: Engine) -> None:
    with Session(any_engine) as session:
        sync_roadmap(session=session, roadmap=load_roadmap_file(SHIPPED_ROADMAP))
        session.commit()
        sync_roadmap(session=session, roadmap=load_roadmap_file(SHIPPED_ROADMAP))
        session.commit()
        assert len(session.exec(select(RoadmapItem)).all()) == 17
    assert item(any_engine, 2).needs_dates
    assert item(any_engine, 13).slug.startswith("item-13-")


def test_entering_an_external_plans_dates_in_the_file_schedules_the_item(
    engine: Engine, tmp_path: Path
) -> None:
    roadmap = load_roadmap_file(SHIPPED_ROADMAP)
    for spec in roadmap.items:
        if spec.number == 2:
            spec.schedule_text = "октябрь, ежегодно, по плану СКИРО ПК и ПРО"
    path = tmp_path / "roadmap.yaml"
    path.write_text(dump_roadmap_file(roadmap), encoding="utf-8")
    with Session(engine) as session:
        sync_roadmap(session=session, roadmap=load_roadmap_file(path))
        session.commit()
    edited = item(engine, 2)
    assert not edited.needs_dates
    windows = item_schedule(edited).occurrences(date(2022, 4, 8), date(2023, 8, 31))
    assert [(w.opens, w.due) for w in windows] == [(date(2022, 10, 1), date(2022, 10, 31))]


def test_an_unreadable_edit_is_flagged_not_guessed(engine: Engine, tmp_path: Path) -> None:
    roadmap = load_roadmap_file(SHIPPED_ROADMAP)
    for spec in roadmap.items:
        if spec.number == 7:
            spec.schedule_text = "когда получится"
    path = tmp_path / "roadmap.yaml"
    path.write_text(dump_roadmap_file(roadmap), encoding="utf-8")
    with Session(engine) as session:
        sync_roadmap(session=session, roadmap=load_roadmap_file(path))
        session.commit()
    edited = item(engine, 7)
    assert edited.needs_dates and edited.needs_dates_reason


def test_an_owner_address_that_is_not_one_is_refused_when_the_file_is_loaded(
    tmp_path: Path,
) -> None:
    """The day's queuing once failed on "Иванова (методист)": such a file never loads."""
    data = yaml.safe_load(SHIPPED_ROADMAP.read_text(encoding="utf-8"))
    data["items"][11]["owner"] = {"name": "Иванова", "email": "Иванова (методист)"}
    path = tmp_path / "roadmap.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(RoadmapFileError) as refused:
        load_roadmap_file(path)
    message = str(refused.value)
    assert "items.11.owner.email" in message
    assert "«Иванова (методист)» — не адрес электронной почты" in message
    data["items"][11]["owner"] = {"name": "Иванова", "email": " ivanova@imc.example "}
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    assert load_roadmap_file(path).items[11].owner.email == "ivanova@imc.example"
