"""Personal API tokens of administrators; when each item's artifacts were last published.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import domain.types

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_token",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("admin_id", sa.Integer(), nullable=False),
        sa.Column("created_at", domain.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", domain.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", domain.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["admin_id"], ["admin_user.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    with op.batch_alter_table("api_token", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_token_admin_id"), ["admin_id"], unique=False)

    op.create_table(
        "artifact_publish",
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("published_at", domain.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("changes_upto", domain.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["item_id"], ["roadmap_item.id"]),
        sa.PrimaryKeyConstraint("item_id"),
    )


def downgrade() -> None:
    op.drop_table("artifact_publish")
    with op.batch_alter_table("api_token", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_token_admin_id"))
    op.drop_table("api_token")
