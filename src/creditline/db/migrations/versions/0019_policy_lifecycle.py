"""Policy governance: versions, their steps, impact simulations, and the changes announced to
borrowers ahead of time. Every table is append-only: UPDATE and DELETE are refused.

Revision ID: 0019
Revises: 0018
"""

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

_TABLES = (
    "policy_versions",
    "policy_steps",
    "policy_simulations",
    "policy_simulation_lines",
    "policy_changes",
    "policy_change_outcomes",
)
_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "policy_versions",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("submitted_by", sa.String(160), nullable=False),
        sa.Column("submitted_at", _TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", "version", name=op.f("pk_policy_versions")),
    )
    op.create_table(
        "policy_steps",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("policy_id", sa.String(64), nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(160), nullable=False),
        sa.Column("at", _TIME, nullable=False),
        sa.Column("justification", sa.Text(), nullable=True),
        sa.Column("effective_at", _TIME, nullable=True),
        sa.Column("simulation_id", sa.String(36), nullable=True),
        sa.Column("details", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "state IN ('draft', 'linted', 'simulated', 'approved', 'scheduled', 'active', "
            "'retired')",
            name=op.f("ck_policy_steps_state_known"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_policy_steps")),
    )
    op.create_index("ix_policy_steps_version", "policy_steps", ["policy_id", "version", "id"])
    op.create_table(
        "policy_simulations",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("policy_id", sa.String(64), nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("against", sa.String(160), nullable=True),
        sa.Column("actor", sa.String(160), nullable=False),
        sa.Column("at", _TIME, nullable=False),
        sa.Column("lines_total", sa.BigInteger(), nullable=False),
        sa.Column("adverse_count", sa.BigInteger(), nullable=False),
        sa.Column("close_count", sa.BigInteger(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("chart", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_policy_simulations")),
    )
    op.create_index("ix_policy_simulations_version", "policy_simulations", ["policy_id", "version"])
    op.create_table(
        "policy_simulation_lines",
        sa.Column("simulation_id", sa.String(36), nullable=False),
        sa.Column("line_id", sa.String(36), nullable=False),
        sa.Column("change_id", sa.String(36), nullable=False),
        sa.Column("notice_id", sa.String(36), nullable=False),
        sa.Column("borrower_id", sa.String(64), nullable=False),
        sa.Column("change", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint(
            "simulation_id", "line_id", name=op.f("pk_policy_simulation_lines")
        ),
    )
    op.create_table(
        "policy_changes",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("policy_id", sa.String(64), nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("line_id", sa.String(36), nullable=False),
        sa.Column("borrower_id", sa.String(64), nullable=False),
        sa.Column("change", sa.Text(), nullable=False),
        sa.Column("announced_at", _TIME, nullable=False),
        sa.Column("effective_at", _TIME, nullable=False),
        sa.Column("notice_id", sa.String(36), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_policy_changes")),
    )
    op.create_index("ix_policy_changes_line", "policy_changes", ["line_id", "effective_at"])
    op.create_index("ix_policy_changes_version", "policy_changes", ["policy_id", "version"])
    op.create_table(
        "policy_change_outcomes",
        sa.Column("change_id", sa.String(36), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("decision_id", sa.String(36), nullable=True),
        sa.Column("at", _TIME, nullable=False),
        sa.PrimaryKeyConstraint("change_id", name=op.f("pk_policy_change_outcomes")),
    )
    _append_only()


def _append_only() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            """
            CREATE FUNCTION policy_governance_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION 'policy governance is append-only: % on % refused',
                    TG_OP, TG_TABLE_NAME;
            END $$
            """
        )
        for table in _TABLES:
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION policy_governance_append_only()"
            )
        return
    for table in _TABLES:
        for operation in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_no_{operation.lower()} BEFORE {operation} "
                f"ON {table} BEGIN SELECT RAISE(ABORT, "
                f"'policy governance is append-only: {operation} on {table} refused'); END"
            )


def downgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    for table in _TABLES:
        if postgresql:
            op.execute(f"DROP TRIGGER {table}_append_only ON {table}")
        else:
            op.execute(f"DROP TRIGGER {table}_no_update")
            op.execute(f"DROP TRIGGER {table}_no_delete")
    if postgresql:
        op.execute("DROP FUNCTION policy_governance_append_only()")
    for table in reversed(_TABLES):
        op.drop_table(table)
