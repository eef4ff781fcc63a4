"""outbox claims read an index, not the rows: (status, claimed_until, sending_since,
next_attempt_at)

A claim asks which rows are due and not under a live lease; with only `status` indexed
it read every unsent row (message bodies and all) on each claim. The new index holds
every column the question needs, so the answer comes from the index. The index on status
alone stays: SQLite uses it for (status, id) lookups, such as the re-check of a batch of
rows by id right before sending.

Revision ID: 0014
Revises: 0013
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = ["status", "claimed_until", "sending_since", "next_attempt_at"]


def upgrade() -> None:
    op.create_index("ix_outgoing_email_due", "outgoing_email", COLUMNS, unique=False)


def downgrade() -> None:
    op.drop_index("ix_outgoing_email_due", table_name="outgoing_email")
