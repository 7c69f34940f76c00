"""Who funds each loan (CN-3, joint lending): a row per funder of every loan, its share in
basis points and its amount in minor units, summing to the loan's principal. Loans made before
this revision were the lender's own: each gets one `lender` row of its whole principal.

Revision ID: 0024
Revises: 0023
"""

import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "loan_funding",
        sa.Column("loan_id", sa.String(36), nullable=False),
        sa.Column("funder", sa.String(64), nullable=False),
        sa.Column("share_basis_points", sa.Integer(), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["loan_id"], ["loans.id"], name=op.f("fk_loan_funding_loan_id_loans")
        ),
        sa.PrimaryKeyConstraint("loan_id", "funder", name=op.f("pk_loan_funding")),
        sa.CheckConstraint(
            "share_basis_points > 0 AND share_basis_points <= 10000",
            name=op.f("ck_loan_funding_share_within_whole"),
        ),
        sa.CheckConstraint("amount_minor >= 0", name=op.f("ck_loan_funding_amount_not_negative")),
    )
    op.create_index("ix_loan_funding_funder", "loan_funding", ["funder"])
    op.execute(
        "INSERT INTO loan_funding (loan_id, funder, share_basis_points, amount_minor) "
        "SELECT id, 'lender', 10000, principal_minor FROM loans"
    )


def downgrade() -> None:
    op.drop_index("ix_loan_funding_funder", table_name="loan_funding")
    op.drop_table("loan_funding")
