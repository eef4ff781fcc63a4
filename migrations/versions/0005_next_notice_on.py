"""an indexed next look per task: the daily scan reads only what may be owed

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("task", schema=None) as batch_op:
        batch_op.add_column(sa.Column("next_notice_on", sa.Date(), nullable=True))
        batch_op.create_index("ix_task_next_notice_on", ["next_notice_on"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("task", schema=None) as batch_op:
        batch_op.drop_index("ix_task_next_notice_on")
        batch_op.drop_column("next_notice_on")
