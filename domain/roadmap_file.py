"""The roadmap file (YAML): what import writes, what administrators edit, what runs."""

from __future__ import annotations

import re
from datetime import date, datetime
from pathlib import Path
from typing import Any

import yaml
from pydantic import (
    AliasChoices,
    BaseModel,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from sqlmodel import Session, col, select

from domain.roadmap import (
    AssigneeRule,
    Centre,
    EvidenceSpec,
    ResponsibleRule,
    Roadmap,
    RoadmapItem,
)

SHIPPED_ROADMAP = Path(__file__).resolve().parent.parent / "config" / "roadmap.yaml"


class RoadmapFileError(ValueError):
    pass


_EMAIL = re.compile(r"^[^@\s<>(),;:\"\[\]]+@[^@\s<>(),;:\"\[\]]+\.[^@\s<>(),;:\"\[\]]+$")


class Owner(BaseModel):
    name: str = ""
    email: str = ""  # empty: the centre's address (ROADMAP_CENTRE_EMAIL)

    @field_validator("email")
    @classmethod
    def _an_address(cls, value: str) -> str:
        value = value.strip()
        if value and not _EMAIL.match(value):
            raise ValueError(
                f"«{value}» — не адрес электронной почты; впишите адрес вида "
                "ivanova@imc.example или оставьте пустым (тогда письма идут на адрес центра)"
            )
        return value


class ItemSpec(BaseModel):
    number: int  # position in the roadmap, 1..N
    label: str = ""  # the number as the order writes it ("1.1", "3а"); default str(number)
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

    @model_validator(mode="after")
    def _default_label(self) -> ItemSpec:
        if not self.label:
            self.label = str(self.number)
        return self


class RoadmapFile(BaseModel):
    # `code` is the name earlier files used for the key
    key: str = Field(validation_alias=AliasChoices("key", "code"))
    title: str
    order_number: str = ""
    order_date: date
    district: str = ""
    centre: Centre = Field(default_factory=Centre)
    # empty: the built-in rules (domain.assignees) with the centre's names
    responsible_rules: list[ResponsibleRule] = Field(default_factory=list)
    items: list[ItemSpec]

    @model_validator(mode="after")
    def _unique_labels(self) -> RoadmapFile:
        seen: set[str] = set()
        for item in self.items:
            if item.label in seen:
                raise ValueError(
                    f"номер мероприятия {item.label!r} встречается дважды; "
                    "номера не должны повторяться"
                )
            seen.add(item.label)
        return self


_LATIN = str.maketrans(
    {
        "а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "е": "e", "ё": "e", "ж": "zh",
        "з": "z", "и": "i", "й": "y", "к": "k", "л": "l", "м": "m", "н": "n", "о": "o",
        "п": "p", "р": "r", "с": "s", "т": "t", "у": "u", "ф": "f", "х": "h", "ц": "ts",
        "ч": "ch", "ш": "sh", "щ": "sch", "ъ": "", "ы": "y", "ь": "", "э": "e", "ю": "yu",
        "я": "ya",
    }
)  # fmt: skip


def load_roadmap_file(path: Path) -> RoadmapFile:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise RoadmapFileError(f"{path}: cannot read the roadmap file: {exc}") from exc
    try:
        return RoadmapFile.model_validate(data)
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            where = ".".join(str(p) for p in error["loc"]) or "файл"
            lines.append(f"{path}: {where}: {error['msg'].removeprefix('Value error, ')}")
        raise RoadmapFileError("\n".join(lines)) from exc


def dump_roadmap_file(roadmap: RoadmapFile) -> str:
    """Deterministic YAML: the same roadmap always gives the same bytes."""
    data = roadmap.model_dump(mode="json")
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=100)


KEY_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


def transliterate(text: str) -> str:
    """Russian letters in ASCII, lower case: "Точка роста" → "tochka rosta"."""
    return text.lower().translate(_LATIN)


def slug_part(text: str) -> str:
    """Lowercase ASCII letters, digits and dashes: "1.1" → "1-1", "3а" → "3a"."""
    return "-".join(p for p in re.split(r"[^a-z0-9]+", transliterate(text)) if p)


def slugify(number: int | str, title: str, words: int = 3) -> str:
    """`item-13-formirovanie-banka-nastavnikov`: a readable, ASCII name for an item."""
    parts = slug_part(title).split("-")[:words]
    return "-".join([f"item-{slug_part(str(number))}", *[p for p in parts if p]])


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


def sync_roadmap(*, session: Session, roadmap: RoadmapFile, now: datetime | None = None) -> Roadmap:
    """Write the file's roadmap and items into the database: a new key adds a roadmap,
    a known key updates it, items matched by their number as written (`label`), so that
    tasks, answers and history stay with their item. Items the file no longer has are
    kept (their history matters) but open nothing new."""
    row = session.exec(select(Roadmap).where(Roadmap.key == roadmap.key)).first()
    if row is None:
        row = Roadmap(
            key=roadmap.key, title=roadmap.title, order_date=roadmap.order_date, created_at=now
        )
    row.title = roadmap.title
    row.order_number = roadmap.order_number
    row.order_date = roadmap.order_date
    row.district = roadmap.district
    row.centre = roadmap.centre.model_dump(mode="json")
    row.responsible_rules = [r.model_dump(mode="json") for r in roadmap.responsible_rules]
    session.add(row)
    session.flush()
    assert row.id is not None
    existing = {
        item.label: item
        for item in session.exec(select(RoadmapItem).where(RoadmapItem.roadmap_id == row.id))
    }
    wanted = {spec.label for spec in roadmap.items}
    # positions move when items are added or removed: park the old ones out of the way
    for label, item in existing.items():
        if label not in wanted:
            item.withdrawn = True
            session.add(item)
    for spec in roadmap.items:
        spec = with_current_schedule(spec)
        item = existing.get(spec.label) or RoadmapItem(
            roadmap_id=row.id,
            number=spec.number,
            label=spec.label,
            slug=spec.slug,
            section=spec.section,
            title=spec.title,
            schedule_text=spec.schedule_text,
            responsible=spec.responsible,
            expected_result=spec.expected_result,
        )
        item.number = spec.number
        item.withdrawn = False
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


def roadmap_file_of(*, session: Session, roadmap: Roadmap) -> RoadmapFile:
    """The editable file of a roadmap as the database holds it (`roadmap export`)."""
    items = session.exec(
        select(RoadmapItem)
        .where(RoadmapItem.roadmap_id == roadmap.id, col(RoadmapItem.withdrawn).is_(False))
        .order_by(col(RoadmapItem.number))
    ).all()
    return RoadmapFile(
        key=roadmap.key,
        title=roadmap.title,
        order_number=roadmap.order_number,
        order_date=roadmap.order_date,
        district=roadmap.district,
        centre=roadmap.centre_spec,
        responsible_rules=[ResponsibleRule.model_validate(r) for r in roadmap.responsible_rules],
        items=[
            ItemSpec(
                number=item.number,
                label=item.label,
                slug=item.slug,
                section=item.section,
                title=item.title,
                schedule_text=item.schedule_text,
                schedule=item.schedule,
                needs_dates=item.needs_dates,
                needs_dates_reason=item.needs_dates_reason,
                responsible=item.responsible,
                assignees=item.assignee_rule,
                expected_result=item.expected_result,
                evidence=item.evidence,
                owner=Owner(name=item.owner_name, email=item.owner_email),
            )
            for item in items
        ],
    )
