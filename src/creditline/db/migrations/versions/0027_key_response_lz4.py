"""A command's stored response compressed with lz4 on PostgreSQL.

A hold's response (its quote, 2.8 KB) is the one value on the hot path long enough to be
compressed; pglz took ~50 µs of the server's CPU a hold, lz4 ~14 µs at about the same size
(docs/performance.md §5, "Three waits and lz4"). Only new rows are compressed anew: a replay
reads either. SQLite stores text as it is; a server built without lz4 keeps its default.
`pg_dump` then writes `SET COMPRESSION lz4`: restore on a server without lz4 with
`--no-toast-compression`.

Revision ID: 0027
Revises: 0026
"""

import sqlalchemy as sa
from alembic import op

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None

_HAS_LZ4 = sa.text(
    "SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'"
)


def _set_compression(method: str) -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql" and bind.execute(_HAS_LZ4).scalar():
        # Every command writes this table: fail after a short wait, to be run again, rather
        # than queue every command behind the ALTER on a busy server.
        op.execute("SET LOCAL lock_timeout = '5s'")
        op.execute(f"ALTER TABLE idempotency_keys ALTER COLUMN response SET COMPRESSION {method}")
        op.execute("RESET lock_timeout")  # the migrations after this one wait as they did


def upgrade() -> None:
    _set_compression("lz4")


def downgrade() -> None:
    _set_compression("DEFAULT")  # as before: the server's default_toast_compression
