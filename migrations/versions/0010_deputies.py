"""An organisation's deputy (from..until), the history of its changes, and links that
know they were mailed to a deputy.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import domain.types

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("organisation", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "deputy_name",
                sqlmodel.sql.sqltypes.AutoString(length=200),
                nullable=False,
                server_default="",
            )
        )
        batch_op.add_column(
            sa.Column(
                "deputy_email",
                sqlmodel.sql.sqltypes.AutoString(length=254),
                nullable=False,
                server_default="",
            )
        )
        batch_op.add_column(sa.Column("deputy_from", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("deputy_until", sa.Date(), nullable=True))

    with op.batch_alter_table("access_link", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "recipient_role",
                sqlmodel.sql.sqltypes.AutoString(length=16),
                nullable=False,
                server_default="",
            )
        )
        batch_op.add_column(
            sa.Column(
                "recipient_name",
                sqlmodel.sql.sqltypes.AutoString(length=200),
                nullable=False,
                server_default="",
            )
        )

    op.create_table(
        "deputy_change",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("at", domain.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("by", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("actor", sqlmodel.sql.sqltypes.AutoString(length=254), nullable=False),
        sa.Column("before", sa.JSON(), nullable=False),
        sa.Column("after", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["organisation_id"], ["organisation.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("deputy_change", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_deputy_change_organisation_id"), ["organisation_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("deputy_change", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_deputy_change_organisation_id"))
    op.drop_table("deputy_change")
    with op.batch_alter_table("access_link", schema=None) as batch_op:
        batch_op.drop_column("recipient_name")
        batch_op.drop_column("recipient_role")
    with op.batch_alter_table("organisation", schema=None) as batch_op:
        batch_op.drop_column("deputy_until")
        batch_op.drop_column("deputy_from")
        batch_op.drop_column("deputy_email")
        batch_op.drop_column("deputy_name")
