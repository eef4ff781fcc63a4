"""written summaries in the domain database; refused SMTP connections per outbox run

Summaries were written under each machine's var folder (`stored_summary.directory`).
Their files move into `stored_summary_file` rows (bytes in `file_blob`); a row whose
files are gone keeps a note instead. The folder column goes: a summary is in the
database, and `roadmap summary -o` writes a copy wherever asked.

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FORMATS = ("docx", "html", "md", "xlsx")
MISSING_NOTE = (
    "файлы справки не найдены в {directory} при обновлении: справка сохранена без файлов; "
    "сформируйте её заново (roadmap summary --cycle {cycle} или запуск потока summary)"
)


def upgrade() -> None:
    op.create_table(
        "stored_summary_file",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("summary_id", sa.Integer(), nullable=False),
        sa.Column("format", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("file_name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("blob_id", sa.Integer(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.ForeignKeyConstraint(["blob_id"], ["file_blob.id"]),
        sa.ForeignKeyConstraint(["summary_id"], ["stored_summary.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("summary_id", "format"),
    )
    with op.batch_alter_table("stored_summary_file", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_stored_summary_file_summary_id"), ["summary_id"], unique=False
        )
    with op.batch_alter_table("stored_summary", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("note", sqlmodel.sql.sqltypes.AutoString(), nullable=False, server_default="")
        )
    _load_files()
    with op.batch_alter_table("stored_summary", schema=None) as batch_op:
        batch_op.drop_column("directory")
    op.create_index(
        "uq_stored_summary_all_roadmaps",
        "stored_summary",
        ["cycle", "kind"],
        unique=True,
        sqlite_where=sa.text("roadmap_id IS NULL"),
        postgresql_where=sa.text("roadmap_id IS NULL"),
    )
    with op.batch_alter_table("outbox_run", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "connection_refused", sa.Boolean(), nullable=False, server_default=sa.false()
            )
        )


def _load_files() -> None:
    """Each stored summary's files from its folder, where they still are; a note where
    they are not (a folder on another machine, or deleted). Never fails the upgrade."""
    bind = op.get_bind()
    rows = bind.execute(sa.text("SELECT id, cycle, directory FROM stored_summary")).all()
    blob = sa.table("file_blob", sa.column("id", sa.Integer), sa.column("content", sa.LargeBinary))
    for summary_id, cycle, directory in rows:
        stem = f"summary-{str(cycle).replace('/', '-')}"
        found: list[tuple[str, str, bytes]] = []
        for fmt in FORMATS:
            try:
                path = Path(directory or "") / f"{stem}.{fmt}"
                if directory and path.is_file():
                    found.append((fmt, path.name, path.read_bytes()))
            except OSError:
                continue
        if not found:
            note = MISSING_NOTE.format(directory=directory or "(папка не записана)", cycle=cycle)
            bind.execute(
                sa.text("UPDATE stored_summary SET note = :note WHERE id = :id"),
                {"note": note, "id": summary_id},
            )
            continue
        for fmt, name, content in found:
            blob_id = bind.execute(
                sa.insert(blob).values(content=content).returning(blob.c.id)
            ).scalar_one()
            bind.execute(
                sa.text(
                    "INSERT INTO stored_summary_file "
                    "(summary_id, format, file_name, blob_id, size, sha256) "
                    "VALUES (:summary_id, :format, :file_name, :blob_id, :size, :sha256)"
                ),
                {
                    "summary_id": summary_id,
                    "format": fmt,
                    "file_name": name,
                    "blob_id": blob_id,
                    "size": len(content),
                    "sha256": hashlib.sha256(content).hexdigest(),
                },
            )


def downgrade() -> None:
    with op.batch_alter_table("outbox_run", schema=None) as batch_op:
        batch_op.drop_column("connection_refused")
    op.drop_index("uq_stored_summary_all_roadmaps", table_name="stored_summary")
    with op.batch_alter_table("stored_summary", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "directory", sqlmodel.sql.sqltypes.AutoString(), nullable=False, server_default=""
            )
        )
        batch_op.drop_column("note")
    bind = op.get_bind()
    blob_ids = [r[0] for r in bind.execute(sa.text("SELECT blob_id FROM stored_summary_file"))]
    with op.batch_alter_table("stored_summary_file", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_stored_summary_file_summary_id"))
    op.drop_table("stored_summary_file")
    if blob_ids:
        bind.execute(
            sa.text("DELETE FROM file_blob WHERE id IN :ids").bindparams(
                sa.bindparam("ids", expanding=True)
            ),
            {"ids": blob_ids},
        )
