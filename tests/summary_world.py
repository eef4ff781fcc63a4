"""A realistic district for the report tests, written straight through domain functions
(no Prefect, no SMTP): the shipped roadmap, the demo's 30 organisations or a generated
district of any size, every occurrence of 2022/2023 opened by `open_item`, and answers on
time, late and missing, journal entries in some quarters, escalations and failed mail.

The figures the report must show are then read back from the rows themselves.
"""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from domain.calendar import RUSSIAN_CALENDAR
from domain.cycles import Cycle
from domain.db import make_engine, session_scope, upgrade
from domain.emails import Notice, OutgoingEmail
from domain.enums import EmailStatus, EvidenceFieldKind, NoticeKind, OrgKind, TaskStatus
from domain.evidence import Evidence
from domain.organisations import Organisation
from domain.roadmap import RoadmapItem
from domain.roadmap_file import SHIPPED_ROADMAP, load_roadmap_file, sync_roadmap
from domain.summary import YearlySummary, build_summary
from domain.tasks import Occurrence, Task
from services.opening import open_item

MSK = ZoneInfo("Europe/Moscow")
CYCLE = Cycle.parse("2022/2023")
START = date(2022, 4, 8)
END = date(2023, 8, 31)
AS_OF = date(2023, 9, 15)
CENTRE = "imcso@levokumskoe.example"
DEMO_ORGS = Path(__file__).resolve().parent.parent / "config" / "demo" / "organisations.csv"
VILLAGES = ("Левокумское", "Правокумское", "Владимировка", "Николо-Александровское", "Турксад")


@dataclass
class District:
    engine: Engine
    roadmap_id: int
    organisations: int


def _msk(day: date, hour: int = 10) -> datetime:
    return datetime.combine(day, time(hour), MSK).astimezone(UTC)


def _organisations(count: int | None) -> list[Organisation]:
    """The demo's 30 organisations (count None) or a generated district of `count`."""
    if count is None:
        with DEMO_ORGS.open(encoding="utf-8") as handle:
            return [
                Organisation(
                    name=row["name"],
                    short_name=row["short_name"],
                    kind=OrgKind(row["kind"]),
                    head_name=row["head_name"],
                    head_email=row["head_email"],
                    curator_name=row["curator_name"],
                    curator_email=row["curator_email"],
                )
                for row in csv.DictReader(handle)
            ]
    result = []
    for n in range(1, count + 1):
        kind = (OrgKind.school, OrgKind.kindergarten, OrgKind.school, OrgKind.kindergarten)[n % 4]
        if n % 15 == 0:
            kind = OrgKind.extra
        village = VILLAGES[n % len(VILLAGES)]
        if kind is OrgKind.school:
            name, short = f"МКОУ СОШ № {n} с. {village}", f"СОШ № {n} с. {village}"
        elif kind is OrgKind.kindergarten:
            name, short = f"МКДОУ Детский сад № {n} с. {village}", f"Д/с № {n} с. {village}"
        else:
            name, short = f"МКУ ДО Центр творчества № {n} с. {village}", f"ЦДТ № {n}"
        result.append(
            Organisation(
                name=name,
                short_name=short,
                kind=kind,
                head_name="Руководитель",
                head_email=f"head{n}@district.example",
                curator_name="Куратор",
                curator_email=f"curator{n}@district.example",
            )
        )
    return result


def _values(item: RoadmapItem, day: date, rng: random.Random) -> dict[str, object]:
    values: dict[str, object] = {}
    for spec in item.evidence.fields:
        if spec.kind is EvidenceFieldKind.number:
            values[spec.name] = str(rng.randint(1, 9))
        elif spec.kind is EvidenceFieldKind.date:
            values[spec.name] = day.strftime("%d.%m.%Y")
        elif spec.kind is EvidenceFieldKind.url:
            values[spec.name] = "https://school.example/mentor"
        elif spec.kind is EvidenceFieldKind.long_text and rng.random() < 0.3:
            values[spec.name] = f"Выполнено {day:%d.%m.%Y}"
    return values


def build_district(folder: Path, organisations: int | None = None, seed: int = 2022) -> District:
    """The district in a fresh SQLite database under `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    engine = make_engine(f"sqlite:///{(folder / 'roadmap.db').as_posix()}")
    upgrade(engine)
    rng = random.Random(seed)
    with session_scope(engine) as session:
        roadmap = sync_roadmap(session=session, roadmap=load_roadmap_file(SHIPPED_ROADMAP))
        assert roadmap.id is not None
        orgs = _organisations(organisations)
        session.add_all(orgs)
        session.flush()
        diligence = {org.id: rng.uniform(0.5, 0.98) for org in orgs}
        items = list(session.exec(select(RoadmapItem).where(RoadmapItem.roadmap_id == roadmap.id)))
        for item in items:
            open_item(
                session=session,
                item=item,
                roadmap_start=START,
                now=_msk(START),
                today=END,
            )
        session.flush()
        by_id = {item.id: item for item in items}
        occurrences = {
            occ.id: occ
            for occ in session.exec(select(Occurrence).where(Occurrence.cycle == CYCLE.name))
        }
        tasks = list(
            session.exec(
                select(Task)
                .where(col(Task.occurrence_id).in_(list(occurrences)))
                .order_by(col(Task.id))
            )
        )
        escalation_mail = OutgoingEmail(
            message_id="<escalations@roadmap>",
            kind="escalation",
            to_addr=CENTRE,
            subject="Эскалации",
            text_body="t",
            html_body="h",
            status=EmailStatus.sent,
            created_at=_msk(START),
            next_attempt_at=_msk(START),
        )
        session.add(escalation_mail)
        session.flush()
        assert escalation_mail.id is not None
        for task in tasks:
            assert task.id is not None
            occ = occurrences[task.occurrence_id]
            item = by_id[task.item_id]
            p = 0.97 if task.organisation_id is None else diligence[task.organisation_id]
            if occ.continuous:
                version = 0
                day = occ.opens
                while day <= occ.due:
                    if rng.random() < p * 0.8:
                        version += 1
                        entry_day = day + timedelta(days=rng.randint(5, 60))
                        session.add(
                            Evidence(
                                task_id=task.id,
                                version=version,
                                submitted_at=_msk(entry_day),
                                submitted_by="head",
                                values=_values(item, entry_day, rng),
                            )
                        )
                        task.status = TaskStatus.submitted
                        task.submitted_at = _msk(entry_day)
                    day += timedelta(days=91)
                continue
            roll = rng.random()
            if roll < p * 0.8:
                done = RUSSIAN_CALENDAR.add_working_days(occ.due, -rng.randint(0, 5))
                done = max(done, occ.opens)
            elif roll < p:
                done = RUSSIAN_CALENDAR.add_working_days(occ.due, rng.randint(1, 12))
            else:
                done = None
            late = done is None or done > occ.due
            if late and task.organisation_id is not None:
                chase_end = min(AS_OF, done or AS_OF)
                day = RUSSIAN_CALENDAR.add_working_days(occ.due, 6)
                step = 0
                while day < chase_end and step < 3:
                    session.add(
                        Notice(
                            task_id=task.id,
                            kind=NoticeKind.escalation,
                            step=step,
                            on_day=day,
                            recipient=CENTRE,
                            email_id=escalation_mail.id,
                            created_at=_msk(day),
                        )
                    )
                    step += 1
                    day = RUSSIAN_CALENDAR.add_working_days(day, 20)
            if done is None or done > AS_OF:
                continue
            for version in (1, 2) if rng.random() < 0.1 else (1,):
                session.add(
                    Evidence(
                        task_id=task.id,
                        version=version,
                        submitted_at=_msk(done),
                        submitted_by="head",
                        values=_values(item, done, rng),
                    )
                )
            task.status = TaskStatus.accepted if rng.random() < 0.6 else TaskStatus.submitted
            task.submitted_at = _msk(done)
            task.updated_at = _msk(done)
        for n in range(3):
            session.add(
                OutgoingEmail(
                    message_id=f"<failed-{n}@roadmap>",
                    kind="chase",
                    to_addr=f'=HYPERLINK("http://x.example";"{n}")@bad.example',
                    subject=f"+Просрочено задание {n}",
                    text_body="t",
                    html_body="h",
                    status=EmailStatus.failed,
                    attempts=3,
                    last_error="-550 5.1.1 mailbox unavailable",
                    created_at=_msk(date(2023, 1, 10 + n)),
                    next_attempt_at=_msk(date(2023, 1, 10 + n)),
                )
            )
        count = len(orgs)
        roadmap_id = roadmap.id
    return District(engine, roadmap_id, count)


def district_summary(district: District, as_of: date = AS_OF) -> YearlySummary:
    with Session(district.engine) as session:
        return build_summary(
            session=session,
            cycle=CYCLE,
            roadmap_start=START,
            as_of=as_of,
            roadmap_id=district.roadmap_id,
            tracked_since=START,
        )
