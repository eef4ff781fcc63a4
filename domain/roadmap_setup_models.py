"""The set-up's own tables: an order's draft before it runs, and a roadmap's history.

A draft is not a roadmap: no flow sees it, nothing opens or activates it by itself. It
holds the editable roadmap file (as `roadmap export` writes it) and the import's
warnings until an administrator activates it, when it becomes a roadmap by its key.

Every change to an activated roadmap's items is a `RoadmapChange` row: which item, which
field, the value before and after (as people read them), who and when.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Text
from sqlmodel import Field, SQLModel

from domain.types import UTCDateTime


class RoadmapDraft(SQLModel, table=True):
    __tablename__ = "roadmap_draft"

    id: int | None = Field(default=None, primary_key=True)
    source_name: str = Field(max_length=200)  # the uploaded file's name
    roadmap: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # [{where, column, message, label}]: the import's warnings; `label` names the item
    warnings: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    created_by: str = Field(max_length=254)
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)
    # set when the draft became a roadmap (it is kept, read-only, as the upload's record)
    roadmap_id: int | None = Field(default=None, foreign_key="roadmap.id", index=True)
    activated_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class RoadmapChange(SQLModel, table=True):
    __tablename__ = "roadmap_change"

    id: int | None = Field(default=None, primary_key=True)
    roadmap_id: int = Field(foreign_key="roadmap.id", index=True)
    item_id: int | None = Field(default=None, foreign_key="roadmap_item.id", index=True)
    item_label: str = Field(max_length=32)
    field: str = Field(max_length=32)  # domain.roadmap_setup.FIELD_LABELS
    before: str = Field(sa_column=Column(Text, nullable=False))
    after: str = Field(sa_column=Column(Text, nullable=False))
    who: str = Field(max_length=254)
    at: datetime = Field(sa_type=UTCDateTime, index=True)
