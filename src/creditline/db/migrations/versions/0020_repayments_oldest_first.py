"""Penalty interest belongs to an instalment, so that arrears are cleared oldest first; a
loan's prepayment effect; refunds of credit balances.

Revision ID: 0020
Revises: 0019
"""

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

_PAID_WITHIN_OWED = (
    "paid_principal_minor >= 0 AND paid_principal_minor <= principal_minor "
    "AND paid_interest_minor >= 0 AND paid_interest_minor <= interest_minor "
    "AND paid_fee_minor >= 0 AND paid_fee_minor <= fee_minor "
    "AND paid_late_fee_minor >= 0 AND paid_late_fee_minor <= late_fee_minor"
)
_UNPAID = (
    "(j.principal_minor - j.paid_principal_minor + j.interest_minor - j.paid_interest_minor"
    " + j.fee_minor - j.paid_fee_minor + j.late_fee_minor - j.paid_late_fee_minor) > 0"
)
# Penalty charged before this revision was kept per loan: it goes to the loan's oldest
# instalment still owing something (its last one when none does), paid part and all.
_PENALTY_TO_INSTALMENTS = f"""
UPDATE instalments SET
    penalty_minor = (SELECT l.penalty_minor FROM loans l WHERE l.id = instalments.loan_id),
    paid_penalty_minor = (
        SELECT l.paid_penalty_minor FROM loans l WHERE l.id = instalments.loan_id
    )
WHERE loan_id IN (SELECT id FROM loans WHERE penalty_minor > 0)
  AND number = COALESCE(
    (SELECT MIN(j.number) FROM instalments j
     WHERE j.loan_id = instalments.loan_id AND {_UNPAID}),
    (SELECT MAX(j.number) FROM instalments j WHERE j.loan_id = instalments.loan_id)
  )
"""


def _money(name: str) -> sa.Column[int]:
    return sa.Column(name, sa.BigInteger(), nullable=False, server_default="0")


def upgrade() -> None:
    with op.batch_alter_table("instalments") as batch:
        batch.add_column(_money("penalty_minor"))
        batch.add_column(_money("paid_penalty_minor"))
    op.execute(_PENALTY_TO_INSTALMENTS)
    with op.batch_alter_table("instalments") as batch:
        batch.drop_constraint(op.f("ck_instalments_paid_within_owed"), type_="check")
        batch.create_check_constraint(
            op.f("ck_instalments_paid_within_owed"),
            _PAID_WITHIN_OWED
            + " AND paid_penalty_minor >= 0 AND paid_penalty_minor <= penalty_minor",
        )
    op.add_column(
        "loans",
        sa.Column(
            "prepayment_effect", sa.String(16), nullable=False, server_default="shorter_term"
        ),
    )
    op.create_table(
        "refunds",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("loan_id", sa.String(36), nullable=False),
        sa.Column("line_id", sa.String(36), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("actor_subject", sa.String(128), nullable=False),
        sa.Column("actor_role", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refunds")),
        sa.ForeignKeyConstraint(["loan_id"], ["loans.id"], name=op.f("fk_refunds_loan_id_loans")),
        sa.ForeignKeyConstraint(["line_id"], ["lines.id"], name=op.f("fk_refunds_line_id_lines")),
        sa.CheckConstraint("amount_minor > 0", name=op.f("ck_refunds_amount_positive")),
    )
    op.create_index(op.f("ix_refunds_loan_id"), "refunds", ["loan_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_refunds_loan_id"), "refunds")
    op.drop_table("refunds")
    with op.batch_alter_table("loans") as batch:
        batch.drop_column("prepayment_effect")
    with op.batch_alter_table("instalments") as batch:
        batch.drop_constraint(op.f("ck_instalments_paid_within_owed"), type_="check")
        batch.create_check_constraint(op.f("ck_instalments_paid_within_owed"), _PAID_WITHIN_OWED)
        batch.drop_column("paid_penalty_minor")
        batch.drop_column("penalty_minor")
