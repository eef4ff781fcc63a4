"""Server-side administrator sessions and login attempts.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import domain.types

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "admin_session",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("admin_id", sa.Integer(), nullable=False),
        sa.Column("created_at", domain.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", domain.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ended_at", domain.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["admin_id"], ["admin_user.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key_hash"),
    )
    with op.batch_alter_table("admin_session", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_admin_session_admin_id"), ["admin_id"], unique=False)

    op.create_table(
        "login_attempt",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", domain.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("email", sqlmodel.sql.sqltypes.AutoString(length=254), nullable=False),
        sa.Column("address", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("succeeded", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("login_attempt", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_login_attempt_at"), ["at"], unique=False)
        batch_op.create_index(batch_op.f("ix_login_attempt_email"), ["email"], unique=False)
        batch_op.create_index(batch_op.f("ix_login_attempt_address"), ["address"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("login_attempt", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_login_attempt_address"))
        batch_op.drop_index(batch_op.f("ix_login_attempt_email"))
        batch_op.drop_index(batch_op.f("ix_login_attempt_at"))
    op.drop_table("login_attempt")
    with op.batch_alter_table("admin_session", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_admin_session_admin_id"))
    op.drop_table("admin_session")
