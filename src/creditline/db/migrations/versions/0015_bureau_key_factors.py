"""Bureau reports keep the key factors that adversely affected the score, as the bureau gave
them, for the adverse-action notices that disclose them (FCRA 615(a), US-4).

Revision ID: 0015
Revises: 0014
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("bureau_reports", sa.Column("key_factors", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("bureau_reports") as batch:
        batch.drop_column("key_factors")
