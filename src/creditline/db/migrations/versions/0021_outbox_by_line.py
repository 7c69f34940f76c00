"""A line's notices, newest first, for the staff console's timeline.

Revision ID: 0021
Revises: 0020
"""

from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_outbox_line_id_created_at", "outbox", ["line_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_outbox_line_id_created_at", "outbox")
