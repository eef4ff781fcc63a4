"""several roadmaps side by side: keys, activation, centre, item labels, summary kinds

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import domain.types

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# SQLite keeps the first release's unique constraints unnamed: name them on reflection.
NAMING = {"uq": "uq_%(table_name)s_%(column_0_name)s_%(column_1_name)s"}


def _old_item_unique() -> str:
    if op.get_bind().dialect.name == "postgresql":
        return "roadmap_item_roadmap_id_number_key"
    return "uq_roadmap_item_roadmap_id_number"


def upgrade() -> None:
    with op.batch_alter_table("roadmap", schema=None) as batch_op:
        batch_op.drop_index("ix_roadmap_code")
        batch_op.alter_column("code", new_column_name="key")
        batch_op.add_column(sa.Column("centre", sa.JSON(), nullable=False, server_default="{}"))
        batch_op.add_column(
            sa.Column("responsible_rules", sa.JSON(), nullable=False, server_default="[]")
        )
        batch_op.add_column(
            sa.Column("activated_at", domain.types.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("retired_at", domain.types.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("created_at", domain.types.UTCDateTime(timezone=True), nullable=True)
        )
    with op.batch_alter_table("roadmap", schema=None) as batch_op:
        batch_op.create_index("ix_roadmap_key", ["key"], unique=True)

    with op.batch_alter_table("roadmap_item", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "label",
                sqlmodel.sql.sqltypes.AutoString(length=32),
                nullable=False,
                server_default="",
            )
        )
        batch_op.add_column(
            sa.Column("withdrawn", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    op.execute("UPDATE roadmap_item SET label = CAST(number AS VARCHAR(32))")
    with op.batch_alter_table(
        "roadmap_item", schema=None, naming_convention=NAMING
    ) as batch_op:
        batch_op.drop_constraint(_old_item_unique(), type_="unique")
        batch_op.create_unique_constraint("uq_roadmap_item_roadmap_id_label", ["roadmap_id", "label"])

    with op.batch_alter_table("stored_summary", schema=None) as batch_op:
        batch_op.add_column(sa.Column("roadmap_id", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column(
                "kind",
                sqlmodel.sql.sqltypes.AutoString(length=16),
                nullable=False,
                server_default="yearly",
            )
        )
        batch_op.add_column(sa.Column("as_of", sa.Date(), nullable=True))
        batch_op.create_foreign_key(
            "fk_stored_summary_roadmap_id", "roadmap", ["roadmap_id"], ["id"]
        )
        batch_op.create_index("ix_stored_summary_roadmap_id", ["roadmap_id"], unique=False)
    # Earlier releases stored a row per run: keep the newest per cycle, of the only roadmap.
    op.execute(
        "DELETE FROM stored_summary WHERE id NOT IN "
        "(SELECT MAX(id) FROM stored_summary GROUP BY cycle)"
    )
    op.execute("UPDATE stored_summary SET roadmap_id = (SELECT MIN(id) FROM roadmap)")
    with op.batch_alter_table("stored_summary", schema=None) as batch_op:
        batch_op.create_unique_constraint(
            "uq_stored_summary_roadmap_id_cycle_kind", ["roadmap_id", "cycle", "kind"]
        )


def downgrade() -> None:
    with op.batch_alter_table("stored_summary", schema=None) as batch_op:
        batch_op.drop_constraint("uq_stored_summary_roadmap_id_cycle_kind", type_="unique")
        batch_op.drop_index("ix_stored_summary_roadmap_id")
        batch_op.drop_constraint("fk_stored_summary_roadmap_id", type_="foreignkey")
        batch_op.drop_column("as_of")
        batch_op.drop_column("kind")
        batch_op.drop_column("roadmap_id")
    with op.batch_alter_table("roadmap_item", schema=None) as batch_op:
        batch_op.drop_constraint("uq_roadmap_item_roadmap_id_label", type_="unique")
        batch_op.create_unique_constraint(_old_item_unique(), ["roadmap_id", "number"])
        batch_op.drop_column("withdrawn")
        batch_op.drop_column("label")
    with op.batch_alter_table("roadmap", schema=None) as batch_op:
        batch_op.drop_index("ix_roadmap_key")
        for column in ("created_at", "retired_at", "activated_at", "responsible_rules", "centre"):
            batch_op.drop_column(column)
        batch_op.alter_column("key", new_column_name="code")
    with op.batch_alter_table("roadmap", schema=None) as batch_op:
        batch_op.create_index("ix_roadmap_code", ["code"], unique=True)
