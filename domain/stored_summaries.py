"""Written summaries kept in the domain database: every machine sees them, backups
hold them. One `stored_summary` row per (roadmap, cycle, kind) (one per (cycle, kind)
for the combined report of all roadmaps), its files in `stored_summary_file` rows whose
bytes are `file_blob` rows. Writing a summary again replaces the row's files.

Plain code: no Prefect, no clock (the time is passed in)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import UniqueConstraint
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Field, Session, SQLModel, col, delete, select

from domain.access import StoredSummary
from domain.evidence import FileBlob

SUMMARY_COMBINED = "combined"  # every roadmap of a cycle in one report (roadmap_id None)


class StoredSummaryFile(SQLModel, table=True):
    """One written format of a stored summary (md, html, docx, xlsx)."""

    __tablename__ = "stored_summary_file"
    __table_args__ = (UniqueConstraint("summary_id", "format"),)

    id: int | None = Field(default=None, primary_key=True)
    summary_id: int = Field(foreign_key="stored_summary.id", index=True)
    format: str = Field(max_length=8)
    file_name: str = Field(max_length=200)
    blob_id: int = Field(foreign_key="file_blob.id")
    size: int
    sha256: str = Field(max_length=64)


@dataclass(frozen=True)
class SummaryFile:
    """A file to store: its name (a plain file name, never a path) and bytes."""

    file_name: str
    content: bytes


def find_summary(
    session: Session, *, roadmap_id: int | None, cycle: str, kind: str
) -> StoredSummary | None:
    query = select(StoredSummary).where(
        StoredSummary.cycle == cycle,
        StoredSummary.kind == kind,
        col(StoredSummary.roadmap_id).is_(None)
        if roadmap_id is None
        else StoredSummary.roadmap_id == roadmap_id,
    )
    return session.exec(query.order_by(col(StoredSummary.id))).first()


def drop_files(session: Session, summary_id: int) -> None:
    """Delete a stored summary's files and their bytes."""
    blob_ids = list(
        session.exec(
            select(StoredSummaryFile.blob_id).where(StoredSummaryFile.summary_id == summary_id)
        ).all()
    )
    session.exec(delete(StoredSummaryFile).where(col(StoredSummaryFile.summary_id) == summary_id))
    if blob_ids:
        session.exec(delete(FileBlob).where(col(FileBlob.id).in_(blob_ids)))


def attach_files(session: Session, summary_id: int, files: Mapping[str, SummaryFile]) -> None:
    """Store `files` ({format: file}) for the summary `summary_id` (which has none)."""
    for fmt, file in sorted(files.items()):
        if "/" in file.file_name or "\\" in file.file_name:
            raise ValueError(f"a stored summary's file name is a plain name: {file.file_name!r}")
        blob = FileBlob(content=file.content)
        session.add(blob)
        session.flush()
        assert blob.id is not None
        session.add(
            StoredSummaryFile(
                summary_id=summary_id,
                format=fmt,
                file_name=file.file_name,
                blob_id=blob.id,
                size=len(file.content),
                sha256=hashlib.sha256(file.content).hexdigest(),
            )
        )
    session.flush()


def store_summary(
    session: Session,
    *,
    roadmap_id: int | None,
    cycle: str,
    kind: str,
    as_of: date,
    at: datetime,
    files: Mapping[str, SummaryFile],
) -> StoredSummary:
    """The summary of (roadmap, cycle, kind) with `files`: written again, the row and
    its files are replaced, never added."""
    row = find_summary(session, roadmap_id=roadmap_id, cycle=cycle, kind=kind)
    if row is None:
        # Another machine may be writing the same summary at this moment: ON CONFLICT
        # waits for its transaction and leaves its row, which this one then replaces.
        table = StoredSummary.__table__  # type: ignore[attr-defined]
        insert = (
            postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
        )
        session.execute(
            insert(table).on_conflict_do_nothing(),
            {"roadmap_id": roadmap_id, "cycle": cycle, "kind": kind, "created_at": at, "note": ""},
        )
        row = find_summary(session, roadmap_id=roadmap_id, cycle=cycle, kind=kind)
        assert row is not None
    row.as_of = as_of
    row.created_at = at
    row.note = ""
    session.add(row)
    session.flush()
    assert row.id is not None
    drop_files(session, row.id)
    attach_files(session, row.id, files)
    return row


def summary_files(session: Session, summary_id: int) -> list[StoredSummaryFile]:
    return list(
        session.exec(
            select(StoredSummaryFile)
            .where(StoredSummaryFile.summary_id == summary_id)
            .order_by(col(StoredSummaryFile.format))
        ).all()
    )


def file_content(session: Session, file: StoredSummaryFile) -> bytes:
    blob = session.get(FileBlob, file.blob_id)
    if blob is None:
        raise LookupError(f"stored summary file {file.id} has no bytes (file_blob {file.blob_id})")
    return blob.content
