"""Reminders sent, one per thing they are about.

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reminders",
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("about", sa.String(128), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("kind", "about", name=op.f("pk_reminders")),
    )


def downgrade() -> None:
    op.drop_table("reminders")
