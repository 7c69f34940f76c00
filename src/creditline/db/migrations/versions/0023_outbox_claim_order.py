"""The outbox at book scale: the claim reads undelivered messages in (created_at, id) order
from one index.

A policy change announces up to a million notices in one statement, all with one created_at:
indexed on created_at alone, each claim sorted every undelivered row by id to pick its batch.

Revision ID: 0023
Revises: 0022
"""

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None

_UNDELIVERED = sa.text("delivered_at IS NULL")


def upgrade() -> None:
    op.drop_index("ix_outbox_undelivered", table_name="outbox")
    op.create_index(
        "ix_outbox_undelivered",
        "outbox",
        ["created_at", "id"],
        postgresql_where=_UNDELIVERED,
        sqlite_where=_UNDELIVERED,
    )


def downgrade() -> None:
    op.drop_index("ix_outbox_undelivered", table_name="outbox")
    op.create_index(
        "ix_outbox_undelivered",
        "outbox",
        ["created_at"],
        postgresql_where=_UNDELIVERED,
        sqlite_where=_UNDELIVERED,
    )
