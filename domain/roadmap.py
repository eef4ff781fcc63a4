"""The roadmap (дорожная карта) and its items (мероприятия)."""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import BaseModel
from pydantic import Field as PydField
from sqlalchemy import JSON, Column, UniqueConstraint
from sqlmodel import Field, SQLModel

from domain.enums import EvidenceFieldKind, OrgKind, Role


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


class Roadmap(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(index=True, unique=True, max_length=64)
    title: str
    order_number: str = ""
    order_date: date
    district: str = ""


class RoadmapItem(SQLModel, table=True):
    __tablename__ = "roadmap_item"
    __table_args__ = (UniqueConstraint("roadmap_id", "number"),)

    id: int | None = Field(default=None, primary_key=True)
    roadmap_id: int = Field(foreign_key="roadmap.id", index=True)
    number: int
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

    @property
    def assignee_rule(self) -> AssigneeRule:
        return AssigneeRule.model_validate(self.assignees)

    @property
    def evidence(self) -> EvidenceSpec:
        return EvidenceSpec.model_validate(self.evidence_spec)
