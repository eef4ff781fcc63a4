"""Schools, kindergartens and other organisations (ОО, ДОУ) and their contacts."""

from __future__ import annotations

from datetime import date, datetime

from sqlmodel import Field, SQLModel

from domain.enums import OrgKind
from domain.types import UTCDateTime


class Organisation(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True, unique=True, max_length=300)
    short_name: str = Field(max_length=120)
    kind: OrgKind
    head_name: str
    head_email: str = Field(max_length=254)
    curator_name: str = ""
    curator_email: str = Field(default="", max_length=254)
    active: bool = True
    # the head's deputy (domain.deputies): gets the tasks, head in copy, from..until
    # inclusive; empty email = none
    deputy_name: str = Field(default="", max_length=200)
    deputy_email: str = Field(default="", max_length=254)
    deputy_from: date | None = None
    deputy_until: date | None = None
    updated_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
