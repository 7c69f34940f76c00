"""Applications for a line, with the underwriting decision each received.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "applications",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("borrower_id", sa.String(64), nullable=False),
        sa.Column("request_key", sa.String(255), nullable=False),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("income_monthly_minor", sa.BigInteger(), nullable=False),
        sa.Column("income_evidence", sa.Boolean(), nullable=False),
        sa.Column("income_evidence_expires_on", sa.Date(), nullable=True),
        sa.Column("birth_date", sa.Date(), nullable=False),
        sa.Column("employment", sa.String(32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("granted_limit_minor", sa.BigInteger(), nullable=False),
        sa.Column("line_id", sa.String(36), nullable=True),
        sa.Column("reason_codes", sa.Text(), nullable=False),
        sa.Column("evidence", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_applications")),
        sa.CheckConstraint(
            "income_monthly_minor >= 0", name=op.f("ck_applications_income_non_negative")
        ),
        sa.CheckConstraint(
            "outcome IN ('approved', 'declined')", name=op.f("ck_applications_outcome_known")
        ),
        sa.CheckConstraint(
            "outcome = 'approved' OR line_id IS NULL",
            name=op.f("ck_applications_declined_has_no_line"),
        ),
    )
    op.create_index("ix_applications_borrower", "applications", ["borrower_id", "created_at"])
    op.create_index(
        "ix_applications_request", "applications", ["borrower_id", "request_key"], unique=True
    )
