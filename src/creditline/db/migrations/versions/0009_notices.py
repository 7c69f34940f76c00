"""Notice delivery: leases and retries on the outbox, deliveries per channel, the inbox and
borrowers' preferences.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_OUTBOX_COLUMNS = (
    ("claimed_until", sa.DateTime(timezone=True)),
    ("claim_token", sa.String(36)),
    ("next_attempt_at", sa.DateTime(timezone=True)),
    ("last_error", sa.Text()),
    ("dead_at", sa.DateTime(timezone=True)),
)


def upgrade() -> None:
    for name, kind in _OUTBOX_COLUMNS:
        op.add_column("outbox", sa.Column(name, kind, nullable=True))
    op.create_table(
        "deliveries",
        sa.Column("notice_id", sa.String(36), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("notice_id", "channel", name=op.f("pk_deliveries")),
    )
    op.create_table(
        "inbox",
        sa.Column("notice_id", sa.String(36), nullable=False),
        sa.Column("borrower_id", sa.String(64), nullable=False),
        sa.Column("line_id", sa.String(36), nullable=False),
        sa.Column("topic", sa.String(64), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("notice_id", name=op.f("pk_inbox")),
    )
    op.create_index("ix_inbox_borrower", "inbox", ["borrower_id", "created_at"])
    op.create_table(
        "preferences",
        sa.Column("borrower_id", sa.String(64), nullable=False),
        sa.Column("email", sa.String(254), nullable=True),
        sa.Column("language", sa.String(8), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("borrower_id", name=op.f("pk_preferences")),
    )


def downgrade() -> None:
    op.drop_table("preferences")
    op.drop_index("ix_inbox_borrower", "inbox")
    op.drop_table("inbox")
    op.drop_table("deliveries")
    with op.batch_alter_table("outbox") as batch:
        for name, _ in reversed(_OUTBOX_COLUMNS):
            batch.drop_column(name)
