"""When each instalment was paid in full, and the reviews borrowers ask for.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("instalments", sa.Column("paid_on", sa.Date(), nullable=True))
    # Instalments paid before this revision have no recorded date: they count as paid on time.
    op.execute(
        "UPDATE instalments SET paid_on = due_date WHERE paid_principal_minor = principal_minor"
        " AND paid_interest_minor = interest_minor AND paid_fee_minor = fee_minor"
        " AND paid_late_fee_minor = late_fee_minor"
    )
    op.create_table(
        "reviews",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("line_id", sa.String(36), nullable=False),
        sa.Column("borrower_id", sa.String(64), nullable=False),
        sa.Column("requested_by", sa.String(128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decision_id", sa.String(36), nullable=True),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reviews")),
        sa.ForeignKeyConstraint(["line_id"], ["lines.id"], name=op.f("fk_reviews_line_id_lines")),
    )
    op.create_index("ix_reviews_borrower", "reviews", ["borrower_id", "created_at"])
    op.create_index("ix_reviews_line", "reviews", ["line_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_reviews_line", "reviews")
    op.drop_index("ix_reviews_borrower", "reviews")
    op.drop_table("reviews")
    with op.batch_alter_table("instalments") as batch:
        batch.drop_column("paid_on")
