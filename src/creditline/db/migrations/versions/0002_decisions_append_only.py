"""Decisions are append-only: the record of why a line changed can't be rewritten.

Revision ID: 0002
Revises: 0001
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            """
            CREATE FUNCTION decisions_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION 'decisions are append-only: % refused', TG_OP;
            END $$
            """
        )
        op.execute(
            "CREATE TRIGGER decisions_append_only BEFORE UPDATE OR DELETE ON decisions "
            "FOR EACH ROW EXECUTE FUNCTION decisions_append_only()"
        )
    else:
        for operation in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER decisions_no_{operation.lower()} BEFORE {operation} "
                f"ON decisions BEGIN "
                f"SELECT RAISE(ABORT, 'decisions are append-only: {operation} refused'); END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER decisions_append_only ON decisions")
        op.execute("DROP FUNCTION decisions_append_only()")
    else:
        op.execute("DROP TRIGGER decisions_no_update")
        op.execute("DROP TRIGGER decisions_no_delete")
