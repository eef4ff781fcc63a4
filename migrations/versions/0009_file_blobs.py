"""uploaded files in the domain database: every machine sees them, backups hold them

Revision ID: 0009
Revises: 0008
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "file_blob",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("evidence_file", schema=None) as batch_op:
        batch_op.add_column(sa.Column("blob_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            "fk_evidence_file_blob_id", "file_blob", ["blob_id"], ["id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("evidence_file", schema=None) as batch_op:
        batch_op.drop_constraint("fk_evidence_file_blob_id", type_="foreignkey")
        batch_op.drop_column("blob_id")
    op.drop_table("file_blob")
