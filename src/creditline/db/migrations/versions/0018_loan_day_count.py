"""A loan keeps its rate's day count by name: ACT/365, ACT/360 or 30/360. The day-count basis
alone (365 or 360) cannot tell ACT/360 from 30/360.

Revision ID: 0018
Revises: 0017
"""

from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

_DAY_COUNTS = "'ACT/365', 'ACT/360', '30/360'"


def upgrade() -> None:
    # A column with its CHECK in one ADD COLUMN: the same statement on both stores, and no
    # table rebuild on SQLite. Loans before it were ACT/365 or ACT/360 (daily rates: ACT/365).
    op.execute(
        "ALTER TABLE loans ADD COLUMN day_count VARCHAR(8) NOT NULL DEFAULT 'ACT/365' "
        f"CONSTRAINT ck_loans_day_count_known CHECK (day_count IN ({_DAY_COUNTS}))"
    )
    op.execute(
        "UPDATE loans SET day_count = 'ACT/360' "
        "WHERE rate_kind = 'annual' AND day_count_basis = 360"
    )


def downgrade() -> None:
    op.drop_column("loans", "day_count")
