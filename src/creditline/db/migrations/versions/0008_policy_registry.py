"""Every policy that has decided, stored once per id@version and never changed.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "policies",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("activated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", "version", name=op.f("pk_policies")),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            """
            CREATE FUNCTION policies_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION 'stored policies are immutable: % refused', TG_OP;
            END $$
            """
        )
        op.execute(
            "CREATE TRIGGER policies_immutable BEFORE UPDATE OR DELETE ON policies "
            "FOR EACH ROW EXECUTE FUNCTION policies_immutable()"
        )
    else:
        for operation in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER policies_no_{operation.lower()} BEFORE {operation} "
                f"ON policies BEGIN "
                f"SELECT RAISE(ABORT, 'stored policies are immutable: {operation} refused'); END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER policies_immutable ON policies")
        op.execute("DROP FUNCTION policies_immutable()")
    op.drop_table("policies")
