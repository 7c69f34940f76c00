"""Idempotency lives in one place (idempotency_keys, db/commands.py): applications and
verifications lose their own request keys and fingerprints.

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_applications_request", "applications")
    with op.batch_alter_table("applications") as batch:
        batch.drop_column("request_key")
        batch.drop_column("request_hash")
    op.drop_index("ix_verifications_request", "verifications")
    with op.batch_alter_table("verifications") as batch:
        batch.drop_column("request_key")


def downgrade() -> None:
    # The keys of requests made since are in idempotency_keys; older rows get their own id.
    with op.batch_alter_table("verifications") as batch:
        batch.add_column(sa.Column("request_key", sa.String(255), nullable=True))
    op.execute("UPDATE verifications SET request_key = id")
    op.create_index(
        "ix_verifications_request", "verifications", ["borrower_id", "request_key"], unique=True
    )
    with op.batch_alter_table("applications") as batch:
        batch.add_column(sa.Column("request_key", sa.String(255), nullable=True))
        batch.add_column(sa.Column("request_hash", sa.String(64), nullable=True))
    op.execute("UPDATE applications SET request_key = id, request_hash = ''")
    op.create_index(
        "ix_applications_request", "applications", ["borrower_id", "request_key"], unique=True
    )
