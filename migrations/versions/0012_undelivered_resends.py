"""mail that did not arrive: resent rows point to the row they replace; address fixes

Revision ID: 0012
Revises: 0011
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import domain.types

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outgoing_email", schema=None) as batch_op:
        batch_op.add_column(sa.Column("resent_from_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("origin_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            "fk_outgoing_email_resent_from_id", "outgoing_email", ["resent_from_id"], ["id"]
        )
        batch_op.create_foreign_key(
            "fk_outgoing_email_origin_id", "outgoing_email", ["origin_id"], ["id"]
        )
        batch_op.create_index(
            batch_op.f("ix_outgoing_email_resent_from_id"), ["resent_from_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_outgoing_email_origin_id"), ["origin_id"], unique=False)

    op.create_table(
        "address_correction",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", domain.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor", sqlmodel.sql.sqltypes.AutoString(length=254), nullable=False),
        sa.Column("email_id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=True),
        sa.Column("field", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("old_address", sqlmodel.sql.sqltypes.AutoString(length=254), nullable=False),
        sa.Column("new_address", sqlmodel.sql.sqltypes.AutoString(length=254), nullable=False),
        sa.Column("resent", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["email_id"], ["outgoing_email.id"]),
        sa.ForeignKeyConstraint(["organisation_id"], ["organisation.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("address_correction", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_address_correction_at"), ["at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_address_correction_email_id"), ["email_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_address_correction_organisation_id"), ["organisation_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("address_correction", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_address_correction_organisation_id"))
        batch_op.drop_index(batch_op.f("ix_address_correction_email_id"))
        batch_op.drop_index(batch_op.f("ix_address_correction_at"))
    op.drop_table("address_correction")
    with op.batch_alter_table("outgoing_email", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outgoing_email_origin_id"))
        batch_op.drop_index(batch_op.f("ix_outgoing_email_resent_from_id"))
        batch_op.drop_constraint("fk_outgoing_email_origin_id", type_="foreignkey")
        batch_op.drop_constraint("fk_outgoing_email_resent_from_id", type_="foreignkey")
        batch_op.drop_column("origin_id")
        batch_op.drop_column("resent_from_id")
