"""Borrower requests: a borrower asks to close their line or to lower its limit, and staff act
on the request with a decision naming it (`borrower_request`, `account_closed_by_borrower`).

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "borrower_requests",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("line_id", sa.String(36), nullable=False),
        sa.Column("borrower_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("limit_minor", sa.BigInteger, nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("decision_id", sa.String(36), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["line_id"], ["lines.id"], name=op.f("fk_borrower_requests_line_id_lines")
        ),
        sa.ForeignKeyConstraint(
            ["decision_id"],
            ["decisions.id"],
            name=op.f("fk_borrower_requests_decision_id_decisions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_borrower_requests")),
        sa.CheckConstraint(
            "kind IN ('close', 'decrease')", name=op.f("ck_borrower_requests_kind_known")
        ),
        sa.CheckConstraint(
            "(kind = 'decrease') = (limit_minor IS NOT NULL)",
            name=op.f("ck_borrower_requests_decrease_has_limit"),
        ),
        sa.CheckConstraint(
            "limit_minor IS NULL OR limit_minor > 0",
            name=op.f("ck_borrower_requests_limit_positive"),
        ),
        sa.CheckConstraint(
            "status IN ('open', 'done')", name=op.f("ck_borrower_requests_status_known")
        ),
        sa.CheckConstraint(
            "(status = 'done') = (decision_id IS NOT NULL AND done_at IS NOT NULL)",
            name=op.f("ck_borrower_requests_done_has_decision"),
        ),
    )
    op.create_index(
        op.f("ix_borrower_requests_line_id"), "borrower_requests", ["line_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_borrower_requests_line_id"), "borrower_requests")
    op.drop_table("borrower_requests")
