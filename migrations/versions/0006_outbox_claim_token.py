"""Outbox claims: the deliverer's token and when its SMTP transaction began; outbox runs.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import domain.types

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outgoing_email", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("claim_token", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=True)
        )
        batch_op.add_column(
            sa.Column("sending_since", domain.types.UTCDateTime(timezone=True), nullable=True)
        )


    op.create_table(
        "outbox_run",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("started_at", domain.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", domain.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("sent", sa.Integer(), nullable=False),
        sa.Column("retried", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("written_to_files", sa.Integer(), nullable=False),
        sa.Column("problem", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("outbox_run", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_outbox_run_started_at"), ["started_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("outbox_run", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbox_run_started_at"))
    op.drop_table("outbox_run")
    with op.batch_alter_table("outgoing_email", schema=None) as batch_op:
        batch_op.drop_column("sending_since")
        batch_op.drop_column("claim_token")
