"""Re-verifications borrowers send, and human reviews (appeals) with their deadlines.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_REVIEW_COLUMNS = (
    ("kind", sa.String(16)),
    ("reason_text", sa.Text()),
    ("due_at", sa.DateTime(timezone=True)),
    ("contested_decision_id", sa.String(36)),
    ("decided_by", sa.String(128)),
    ("decided_at", sa.DateTime(timezone=True)),
    ("note", sa.Text()),
)


def upgrade() -> None:
    op.create_table(
        "verifications",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("borrower_id", sa.String(64), nullable=False),
        sa.Column("request_key", sa.String(255), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("problem", sa.Text(), nullable=True),
        sa.Column("income_monthly_minor", sa.BigInteger(), nullable=True),
        sa.Column("currency", sa.String(3), nullable=True),
        sa.Column("expires_on", sa.Date(), nullable=True),
        sa.Column("verifier", sa.String(64), nullable=False),
        sa.Column("evidence", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_verifications")),
        sa.CheckConstraint(
            "status IN ('accepted', 'rejected')", name=op.f("ck_verifications_status_known")
        ),
    )
    op.create_index(
        "ix_verifications_request", "verifications", ["borrower_id", "request_key"], unique=True
    )
    op.create_index("ix_verifications_borrower", "verifications", ["borrower_id", "created_at"])
    for name, kind in _REVIEW_COLUMNS:
        op.add_column("reviews", sa.Column(name, kind, nullable=True))
    op.execute("UPDATE reviews SET kind = 'automatic'")
    op.create_index("ix_reviews_open", "reviews", ["kind", "outcome", "due_at"])


def downgrade() -> None:
    op.drop_index("ix_reviews_open", "reviews")
    with op.batch_alter_table("reviews") as batch:
        for name, _ in reversed(_REVIEW_COLUMNS):
            batch.drop_column(name)
    op.drop_index("ix_verifications_borrower", "verifications")
    op.drop_index("ix_verifications_request", "verifications")
    op.drop_table("verifications")
