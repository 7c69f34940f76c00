"""Consents to credit-bureau pulls, and the bureau reports loaded under them.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_COUNTS = (
    "inquiries_1m",
    "inquiries_3m",
    "inquiries_6m",
    "lenders_with_open_loans",
    "other_limits_minor",
    "bureau_score",
)


def upgrade() -> None:
    op.create_table(
        "consents",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("borrower_id", sa.String(64), nullable=False),
        sa.Column("purpose", sa.String(32), nullable=False),
        sa.Column("granted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.String(160), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consents")),
        sa.CheckConstraint("purpose IN ('credit_bureau')", name=op.f("ck_consents_purpose_known")),
    )
    op.create_index("ix_consents_borrower", "consents", ["borrower_id", "purpose"])
    op.create_table(
        "bureau_reports",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("borrower_id", sa.String(64), nullable=False),
        sa.Column("consent_id", sa.String(36), nullable=False),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("loaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("loaded_by", sa.String(160), nullable=False),
        *[sa.Column(name, sa.BigInteger(), nullable=True) for name in _COUNTS],
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bureau_reports")),
        sa.ForeignKeyConstraint(
            ["consent_id"], ["consents.id"], name=op.f("fk_bureau_reports_consent_id_consents")
        ),
        sa.CheckConstraint(
            "COALESCE(inquiries_1m, 0) >= 0 AND COALESCE(inquiries_3m, 0) >= 0 "
            "AND COALESCE(inquiries_6m, 0) >= 0 AND COALESCE(lenders_with_open_loans, 0) >= 0 "
            "AND COALESCE(other_limits_minor, 0) >= 0",
            name=op.f("ck_bureau_reports_counts_non_negative"),
        ),
    )
    # A report is its borrower, time and source: loading it twice stores it once.
    op.create_index(
        "ix_bureau_reports_borrower",
        "bureau_reports",
        ["borrower_id", "reported_at", "source"],
        unique=True,
    )
