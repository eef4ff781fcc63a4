"""set-up without YAML: an order's draft, a roadmap's change history, when a changed
schedule applies from

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import domain.types

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "roadmap_draft",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source_name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("roadmap", sa.JSON(), nullable=False),
        sa.Column("warnings", sa.JSON(), nullable=False),
        sa.Column("created_by", sqlmodel.sql.sqltypes.AutoString(length=254), nullable=False),
        sa.Column("created_at", domain.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", domain.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("roadmap_id", sa.Integer(), nullable=True),
        sa.Column("activated_at", domain.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["roadmap_id"], ["roadmap.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("roadmap_draft", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_roadmap_draft_roadmap_id"), ["roadmap_id"], unique=False
        )

    op.create_table(
        "roadmap_change",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("roadmap_id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=True),
        sa.Column("item_label", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("field", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("before", sa.Text(), nullable=False),
        sa.Column("after", sa.Text(), nullable=False),
        sa.Column("who", sqlmodel.sql.sqltypes.AutoString(length=254), nullable=False),
        sa.Column("at", domain.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["item_id"], ["roadmap_item.id"]),
        sa.ForeignKeyConstraint(["roadmap_id"], ["roadmap.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("roadmap_change", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_roadmap_change_at"), ["at"], unique=False)
        batch_op.create_index(batch_op.f("ix_roadmap_change_item_id"), ["item_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_roadmap_change_roadmap_id"), ["roadmap_id"], unique=False
        )

    with op.batch_alter_table("roadmap_item", schema=None) as batch_op:
        batch_op.add_column(sa.Column("schedule_from", sa.Date(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("roadmap_item", schema=None) as batch_op:
        batch_op.drop_column("schedule_from")
    with op.batch_alter_table("roadmap_change", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_roadmap_change_roadmap_id"))
        batch_op.drop_index(batch_op.f("ix_roadmap_change_item_id"))
        batch_op.drop_index(batch_op.f("ix_roadmap_change_at"))
    op.drop_table("roadmap_change")
    with op.batch_alter_table("roadmap_draft", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_roadmap_draft_roadmap_id"))
    op.drop_table("roadmap_draft")
