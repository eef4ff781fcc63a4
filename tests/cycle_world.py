"""A small district on the shipped roadmap, configured through the environment the way
the flows read it, for tests that run real Prefect flows."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from config.runtime import cached_engine, open_engine
from config.settings import Settings, get_settings
from domain.db import session_scope
from domain.enums import OrgKind
from domain.organisations import Organisation
from domain.roadmap import RoadmapItem
from domain.roadmap_file import SHIPPED_ROADMAP, dump_roadmap_file, load_roadmap_file
from domain.tasks import Task
from tests.smtp import CaughtMessage, SmtpSink

CENTRE = "imcso@levokumskoe.example"
ORGS = [
    ("МКОУ СОШ № 1 с. Левокумское", "СОШ № 1", OrgKind.school, "sosh1"),
    ("МКОУ СОШ № 2 с. Правокумское", "СОШ № 2", OrgKind.school, "sosh2"),
    ("МКДОУ Детский сад № 3 «Солнышко»", "Д/с № 3", OrgKind.kindergarten, "ds3"),
]


def head(code: str) -> str:
    return f"head.{code}@levokumskoe.example"


def curator(code: str) -> str:
    return f"curator.{code}@levokumskoe.example"


@dataclass
class World:
    settings: Settings
    engine: Engine
    smtp: SmtpSink
    tz: Any

    def at(self, day: date, hour: int = 9, minute: int = 0) -> datetime:
        return datetime.combine(day, time(hour, minute), tzinfo=self.tz).astimezone(UTC)

    def tick(self, moment: datetime) -> dict[str, Any]:
        from flows.tick import tick_flow

        return tick_flow(moment)

    def take_mail(self) -> list[CaughtMessage]:
        with self.smtp.handler.lock:
            caught = list(self.smtp.handler.messages)
            self.smtp.handler.messages.clear()
        return caught

    def org(self, code: str) -> Organisation:
        with Session(self.engine) as session:
            return session.exec(
                select(Organisation).where(Organisation.head_email == head(code))
            ).one()

    def task(self, item_number: int, code: str | None) -> Task:
        with Session(self.engine) as session:
            item = session.exec(select(RoadmapItem).where(RoadmapItem.number == item_number)).one()
            query = select(Task).where(Task.item_id == item.id)
            if code is None:
                query = query.where(Task.assignee_key == "centre")
            else:
                query = query.where(Task.organisation_id == self.org(code).id)
            return session.exec(query).one()

    def answer(self, item_number: int, code: str | None, moment: datetime) -> None:
        from flows.demo import sample_answer
        from services.answers import submit_answer

        with session_scope(self.engine) as session:
            task = session.get(Task, self.task(item_number, code).id)
            assert task is not None
            item = session.get(RoadmapItem, task.item_id)
            assert item is not None
            org = session.get(Organisation, task.organisation_id) if code else None
            values, files = sample_answer(item, org, moment.date(), random.Random(1))
            submit_answer(
                session=session,
                task=task,
                values=values,
                files=files,
                by=head(code) if code else CENTRE,
                settings=self.settings,
                now=moment,
            )


def make_world(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, smtp: SmtpSink, items: Sequence[int]
) -> World:
    roadmap = load_roadmap_file(SHIPPED_ROADMAP)
    roadmap = roadmap.model_copy(update={"items": [i for i in roadmap.items if i.number in items]})
    path = tmp_path / "roadmap.yaml"
    path.write_text(dump_roadmap_file(roadmap), encoding="utf-8")
    env = {
        "ROADMAP_VAR_DIR": str(tmp_path / "var"),
        "ROADMAP_DATABASE_URL": f"sqlite:///{(tmp_path / 'var' / 'roadmap.db').as_posix()}",
        "ROADMAP_ROADMAP_FILE": str(path),
        "ROADMAP_SMTP_HOST": "127.0.0.1",
        "ROADMAP_SMTP_PORT": str(smtp.port),
        "ROADMAP_SMTP_TLS": "none",
        "ROADMAP_CENTRE_EMAIL": CENTRE,
        "ROADMAP_PORTAL_URL": "http://127.0.0.1:8765",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    cached_engine.cache_clear()
    settings = get_settings()
    engine = open_engine(settings)
    with session_scope(engine) as session:
        for name, short, kind, code in ORGS:
            session.add(
                Organisation(
                    name=name,
                    short_name=short,
                    kind=kind,
                    head_name="Руководитель",
                    head_email=head(code),
                    curator_name="Куратор",
                    curator_email=curator(code),
                )
            )
    return World(settings, cached_engine(settings.effective_database_url), smtp, settings.tz)


def days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=n) for n in range((end - start).days + 1)]
