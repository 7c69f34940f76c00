"""The lender's own attributes loaded in batches: a borrower's latest value of each registered
attribute, as text in the registry's spelling (docs/decisions/0022).

Revision ID: 0025
Revises: 0024
"""

import sqlalchemy as sa
from alembic import op

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "lender_attribute_values",
        sa.Column("borrower_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("value", sa.Text(), nullable=True),
        sa.Column("loaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("borrower_id", "name", name=op.f("pk_lender_attribute_values")),
    )


def downgrade() -> None:
    op.drop_table("lender_attribute_values")
