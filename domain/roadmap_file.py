"""The roadmap file (YAML): what import writes, what administrators edit, what runs."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, Field, ValidationError
from sqlmodel import Session, col, select

from domain.roadmap import AssigneeRule, EvidenceSpec, Roadmap, RoadmapItem

SHIPPED_ROADMAP = Path(__file__).resolve().parent.parent / "config" / "roadmap.yaml"


class RoadmapFileError(ValueError):
    pass


class Owner(BaseModel):
    name: str = ""
    email: str = ""  # empty: the centre's address (ROADMAP_CENTRE_EMAIL)


class ItemSpec(BaseModel):
    number: int
    slug: str
    section: str
    title: str
    schedule_text: str
    schedule: dict[str, Any]  # domain.schedule.Schedule, dumped as JSON-able data
    needs_dates: bool = False
    needs_dates_reason: str | None = None
    responsible: str
    assignees: AssigneeRule
    expected_result: str
    evidence: EvidenceSpec = Field(default_factory=EvidenceSpec)
    owner: Owner = Field(default_factory=Owner)


class RoadmapFile(BaseModel):
    code: str
    title: str
    order_number: str = ""
    order_date: date
    district: str = ""
    items: list[ItemSpec]


def load_roadmap_file(path: Path) -> RoadmapFile:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise RoadmapFileError(f"{path}: cannot read the roadmap file: {exc}") from exc
    try:
        return RoadmapFile.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise RoadmapFileError(f"{path}: {where}: {first['msg']}") from exc


def dump_roadmap_file(roadmap: RoadmapFile) -> str:
    """Deterministic YAML: the same roadmap always gives the same bytes."""
    data = roadmap.model_dump(mode="json")
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=100)


def slugify(number: int, title: str, words: int = 3) -> str:
    """`item-13-formirovanie-banka-nastavnikov`: a readable, ASCII deployment name."""
    table = str.maketrans(
        {
            "а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "е": "e", "ё": "e", "ж": "zh",
            "з": "z", "и": "i", "й": "y", "к": "k", "л": "l", "м": "m", "н": "n", "о": "o",
            "п": "p", "р": "r", "с": "s", "т": "t", "у": "u", "ф": "f", "х": "h", "ц": "ts",
            "ч": "ch", "ш": "sh", "щ": "sch", "ъ": "", "ы": "y", "ь": "", "э": "e", "ю": "yu",
            "я": "ya",
        }
    )  # fmt: skip
    latin = title.lower().translate(table)
    parts = [p for p in re.split(r"[^a-z0-9]+", latin) if p][:words]
    return "-".join([f"item-{number}", *parts])


def current_roadmap(session: Session) -> Roadmap | None:
    """The roadmap the engine runs: the one loaded last (a re-import under a new code
    adds a roadmap; the older one stays as a record)."""
    return session.exec(select(Roadmap).order_by(col(Roadmap.id).desc())).first()


def with_current_schedule(spec: ItemSpec) -> ItemSpec:
    """An administrator may edit an item's `schedule_text` in the file (to enter the
    dates of an external plan, say): a text that no longer matches its parsed schedule
    is read again, and flagged "needs dates" if the grammar cannot read it."""
    if spec.schedule.get("phrase") == spec.schedule_text:
        return spec
    from domain.schedule import read_schedule

    schedule = read_schedule(spec.schedule_text)
    return spec.model_copy(
        update={
            "schedule": schedule.model_dump(mode="json"),
            "needs_dates": schedule.needs_dates,
            "needs_dates_reason": schedule.reason if schedule.needs_dates else None,
        }
    )


def sync_roadmap(*, session: Session, roadmap: RoadmapFile) -> Roadmap:
    """Write the file's roadmap and items into the database, updating by item number."""
    row = session.exec(select(Roadmap).where(Roadmap.code == roadmap.code)).first()
    if row is None:
        row = Roadmap(code=roadmap.code, title=roadmap.title, order_date=roadmap.order_date)
    row.title = roadmap.title
    row.order_number = roadmap.order_number
    row.order_date = roadmap.order_date
    row.district = roadmap.district
    session.add(row)
    session.flush()
    assert row.id is not None
    existing = {
        item.number: item
        for item in session.exec(select(RoadmapItem).where(RoadmapItem.roadmap_id == row.id))
    }
    for spec in roadmap.items:
        spec = with_current_schedule(spec)
        item = existing.get(spec.number) or RoadmapItem(
            roadmap_id=row.id,
            number=spec.number,
            slug=spec.slug,
            section=spec.section,
            title=spec.title,
            schedule_text=spec.schedule_text,
            responsible=spec.responsible,
            expected_result=spec.expected_result,
        )
        item.slug = spec.slug
        item.section = spec.section
        item.title = spec.title
        item.schedule_text = spec.schedule_text
        item.schedule = spec.schedule
        item.needs_dates = spec.needs_dates
        item.needs_dates_reason = spec.needs_dates_reason
        item.responsible = spec.responsible
        item.assignees = spec.assignees.model_dump(mode="json")
        item.expected_result = spec.expected_result
        item.evidence_spec = spec.evidence.model_dump(mode="json")
        item.owner_name = spec.owner.name
        item.owner_email = spec.owner.email
        session.add(item)
    session.flush()
    return row
