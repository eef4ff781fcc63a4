"""Answers to tasks (completion evidence), each submission a new version."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Column, LargeBinary, UniqueConstraint
from sqlmodel import Field, SQLModel

from domain.types import UTCDateTime


class Evidence(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("task_id", "version"),)

    id: int | None = Field(default=None, primary_key=True)
    task_id: int = Field(foreign_key="task.id", index=True)
    version: int
    submitted_at: datetime = Field(sa_type=UTCDateTime)
    submitted_by: str = ""
    values: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    review_note: str = ""  # the centre's reason when it returned this version
    # a returned journal entry: the day its corrected entry is due (the journal's task
    # keeps its own due date); None for an ordinary task, whose due date moves instead
    reopened_until: date | None = None


class FileBlob(SQLModel, table=True):
    """A stored file's bytes, in the domain database, so that every machine sees them
    and a backup of the database holds everything."""

    __tablename__ = "file_blob"

    id: int | None = Field(default=None, primary_key=True)
    content: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class EvidenceFile(SQLModel, table=True):
    __tablename__ = "evidence_file"

    id: int | None = Field(default=None, primary_key=True)
    evidence_id: int = Field(foreign_key="evidence.id", index=True)
    field: str
    original_name: str  # data only, never used as a path
    stored_name: str = Field(unique=True)  # generated; relative to the uploads folder
    # where the bytes are: a row of file_blob (every machine sees it); None for files
    # that earlier releases wrote under the uploads folder only
    blob_id: int | None = Field(default=None, foreign_key="file_blob.id")
    size: int
    sha256: str = Field(max_length=64)
    content_type: str = ""
