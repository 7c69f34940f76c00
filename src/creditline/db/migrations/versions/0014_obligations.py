"""Monthly obligations: as the bureau reports them and as an application states them, so every
opening and increase can run its ability-to-pay calculation (US-6).

Revision ID: 0014
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("bureau_reports", "applications"):
        op.add_column(table, sa.Column("obligations_monthly_minor", sa.BigInteger, nullable=True))


def downgrade() -> None:
    for table in ("bureau_reports", "applications"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("obligations_monthly_minor")
