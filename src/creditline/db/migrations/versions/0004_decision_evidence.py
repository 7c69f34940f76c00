"""A decision keeps the evidence an automated decision saw: score, grade, trace, features.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN on both stores: no table rebuild, so the append-only triggers stay.
    op.add_column("decisions", sa.Column("evidence", sa.Text(), nullable=True))
