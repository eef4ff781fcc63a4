"""answers by email reply: inbound messages, reply addresses on outgoing email

Revision ID: 0004
Revises: 0003
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import domain.types

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "inbound_message",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_key", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("mailbox", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("uid_validity", sa.BigInteger(), nullable=False),
        sa.Column("uid", sa.BigInteger(), nullable=False),
        sa.Column("received_at", domain.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("from_addr", sqlmodel.sql.sqltypes.AutoString(length=254), nullable=False),
        sa.Column("subject", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("task_ids", sa.JSON(), nullable=False),
        sa.Column("outcomes", sa.JSON(), nullable=False),
        sa.Column("raw", sa.LargeBinary(), nullable=True),
        sa.Column("reviewed_by", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("reviewed_at", domain.types.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("message_key"),
        sa.UniqueConstraint("mailbox", "uid_validity", "uid"),
    )
    with op.batch_alter_table("inbound_message", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_inbound_message_received_at"), ["received_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_inbound_message_status"), ["status"], unique=False)
    with op.batch_alter_table("outgoing_email", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "reply_to",
                sqlmodel.sql.sqltypes.AutoString(length=254),
                nullable=False,
                server_default="",
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("outgoing_email", schema=None) as batch_op:
        batch_op.drop_column("reply_to")
    with op.batch_alter_table("inbound_message", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_inbound_message_status"))
        batch_op.drop_index(batch_op.f("ix_inbound_message_received_at"))
    op.drop_table("inbound_message")
