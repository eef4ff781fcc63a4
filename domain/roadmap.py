"""The roadmap (дорожная карта) and its items (мероприятия)."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel
from pydantic import Field as PydField
from sqlalchemy import JSON, Column, UniqueConstraint, event
from sqlmodel import Field, SQLModel

from domain.enums import EvidenceFieldKind, OrgKind, Role
from domain.types import UTCDateTime


class ResponsibleMeaning(StrEnum):
    centre = "centre"
    heads = "heads"
    curators = "curators"


class AssigneeRule(BaseModel):
    """Who gets a task for an item, read from its "responsible" column.

    `centre`: the centre has its own task (done by the item's owner).
    `organisations`: each organisation gets a task addressed to this role
    (its head, or its curator with the head in copy); None means no school tasks.
    """

    centre: bool = False
    organisations: Role | None = None
    kinds: list[OrgKind] = PydField(
        default_factory=lambda: [OrgKind.school, OrgKind.kindergarten, OrgKind.extra]
    )
    # The responsible text named nobody the rules know (a department, an official, a
    # committee): the centre does the task; the import warned "назначено центру, проверьте".
    unmatched: bool = False


class EvidenceField(BaseModel):
    name: str
    label: str
    kind: EvidenceFieldKind = EvidenceFieldKind.text
    required: bool = True
    help: str | None = None


class EvidenceSpec(BaseModel):
    """What an answer to an item must carry (from the "Результат" column)."""

    fields: list[EvidenceField] = PydField(default_factory=list)

    def field(self, name: str) -> EvidenceField | None:
        return next((f for f in self.fields if f.name == name), None)


class ResponsibleRule(BaseModel):
    """One line of the "who gets a task" table, kept with the roadmap and editable in its
    file: a part of the responsible column matching `pattern` (a regular expression,
    case-insensitive, "ё" read as "е") means the centre, the organisations' heads, or
    their curators (head in copy)."""

    pattern: str
    means: ResponsibleMeaning


class Centre(BaseModel):
    """The methodology centre that runs a roadmap, as its order names it."""

    name: str = ""  # empty: ROADMAP_CENTRE_NAME
    short_name: str = ""
    aliases: list[str] = PydField(default_factory=list)  # other names it goes by in orders
    address: str = ""


class Roadmap(SQLModel, table=True):
    """One order's roadmap. Tracking starts at `activated_at`: nothing due before it is
    opened, chased or summarised. A retired roadmap opens no new work; its history stays."""

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(index=True, unique=True, max_length=64)
    title: str
    order_number: str = ""
    order_date: date
    district: str = ""
    centre: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    responsible_rules: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    activated_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    retired_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime | None = Field(default=None, sa_type=UTCDateTime)

    @property
    def centre_spec(self) -> Centre:
        return Centre.model_validate(self.centre)


class RoadmapItem(SQLModel, table=True):
    """An activity. `label` is its number as the order writes it ("1", "1.1", "3а") and
    names it everywhere; `number` is its position in the roadmap (1, 2, …), for order."""

    __tablename__ = "roadmap_item"
    __table_args__ = (UniqueConstraint("roadmap_id", "label"),)

    id: int | None = Field(default=None, primary_key=True)
    roadmap_id: int = Field(foreign_key="roadmap.id", index=True)
    number: int
    label: str = Field(default="", max_length=32)  # empty on creation: str(number)
    slug: str = Field(max_length=120)
    section: str
    title: str
    schedule_text: str
    schedule: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    needs_dates: bool = False
    needs_dates_reason: str | None = None
    responsible: str
    assignees: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    expected_result: str
    evidence_spec: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False)
    )
    owner_name: str = ""
    owner_email: str = ""
    withdrawn: bool = False  # no longer in the roadmap's file: opens nothing new
    # the day its current schedule applies from (changed after activation): windows due
    # earlier are not opened under it; None: the roadmap's activation day
    schedule_from: date | None = None

    @property
    def assignee_rule(self) -> AssigneeRule:
        return AssigneeRule.model_validate(self.assignees)

    @property
    def evidence(self) -> EvidenceSpec:
        return EvidenceSpec.model_validate(self.evidence_spec)


@event.listens_for(RoadmapItem, "before_insert")
def _label_from_number(_mapper: Any, _conn: Any, item: RoadmapItem) -> None:
    if not item.label:
        item.label = str(item.number)
