"""Where an applicant lives, as the application states it (an ISO 3166-2 subdivision code),
for the portfolio's concentration by region. Applications made before it stated none.

Revision ID: 0026
Revises: 0025
"""

import sqlalchemy as sa
from alembic import op

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("applications", sa.Column("region", sa.String(6), nullable=True))


def downgrade() -> None:
    op.drop_column("applications", "region")
