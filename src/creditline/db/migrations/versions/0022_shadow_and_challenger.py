"""Shadow versions and champion/challenger experiments: a version's life may pass through
`shadow`, `challenger` and `stopped`; what a shadow would have decided, experiments, their
events and every decision made while one runs, each line's cell with it. Every new table is
append-only, like the rest of policy governance (docs/decisions/0018).

Revision ID: 0022
Revises: 0021
"""

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

_TABLES = (
    "policy_shadow_decisions",
    "policy_experiments",
    "policy_experiment_events",
    "policy_experiment_decisions",
)
_TIME = sa.DateTime(timezone=True)
_ID = sa.String(36)
_STATES = "'draft', 'linted', 'simulated', 'approved', 'scheduled', 'active', 'retired'"
_NEW_STATES = ", 'shadow', 'challenger', 'stopped'"


def upgrade() -> None:
    _policy_step_states(_STATES + _NEW_STATES)
    op.create_table(
        "policy_shadow_decisions",
        sa.Column("id", _ID, nullable=False),
        sa.Column("policy_id", sa.String(64), nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("line_id", _ID, nullable=False),
        sa.Column("at", _TIME, nullable=False),
        sa.Column("active_policy", sa.String(160), nullable=False),
        sa.Column("limit_minor", sa.BigInteger(), nullable=False),
        sa.Column("active_action", sa.String(16), nullable=False),
        sa.Column("active_limit_minor", sa.BigInteger(), nullable=False),
        sa.Column("active_reason_codes", sa.Text(), nullable=False),
        sa.Column("shadow_action", sa.String(16), nullable=False),
        sa.Column("shadow_limit_minor", sa.BigInteger(), nullable=False),
        sa.Column("shadow_reason_codes", sa.Text(), nullable=False),
        sa.Column("shadow_rule", sa.String(64), nullable=True),
        sa.Column("adverse", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_policy_shadow_decisions")),
    )
    op.create_index(
        "ix_policy_shadow_decisions_version",
        "policy_shadow_decisions",
        ["policy_id", "version", "id"],
    )
    op.create_table(
        "policy_experiments",
        sa.Column("id", _ID, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("policy_id", sa.String(64), nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("champion", sa.String(160), nullable=False),
        sa.Column("salt", sa.String(64), nullable=False),
        sa.Column("share_bp", sa.Integer(), nullable=False),
        sa.Column("adverse_rate_max_bp", sa.Integer(), nullable=False),
        sa.Column("exposure_change_max_bp", sa.Integer(), nullable=False),
        sa.Column("decisions_min", sa.Integer(), nullable=False),
        sa.Column("simulation_id", _ID, nullable=False),
        sa.CheckConstraint(
            "share_bp BETWEEN 1 AND 5000", name=op.f("ck_policy_experiments_share_bp_within")
        ),
        sa.CheckConstraint(
            "adverse_rate_max_bp BETWEEN 0 AND 10000 AND exposure_change_max_bp BETWEEN 0 AND "
            "10000 AND decisions_min >= 1",
            name=op.f("ck_policy_experiments_guardrails_within"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_policy_experiments")),
    )
    op.create_table(
        "policy_experiment_events",
        sa.Column("id", _ID, nullable=False),
        sa.Column("experiment_id", _ID, nullable=False),
        sa.Column("event", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(160), nullable=False),
        sa.Column("at", _TIME, nullable=False),
        sa.Column("justification", sa.Text(), nullable=True),
        sa.Column("details", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "event IN ('started', 'stopped')", name=op.f("ck_policy_experiment_events_event_known")
        ),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["policy_experiments.id"],
            name=op.f("fk_policy_experiment_events_experiment_id_policy_experiments"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_policy_experiment_events")),
    )
    op.create_index(
        "ix_policy_experiment_events_experiment",
        "policy_experiment_events",
        ["experiment_id", "id"],
    )
    op.create_table(
        "policy_experiment_decisions",
        sa.Column("id", _ID, nullable=False),
        sa.Column("experiment_id", _ID, nullable=False),
        sa.Column("line_id", _ID, nullable=False),
        sa.Column("cell", sa.String(16), nullable=False),
        sa.Column("bucket", sa.Integer(), nullable=False),
        sa.Column("policy", sa.String(160), nullable=False),
        sa.Column("at", _TIME, nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("adverse", sa.Boolean(), nullable=False),
        sa.Column("limit_before_minor", sa.BigInteger(), nullable=False),
        sa.Column("limit_after_minor", sa.BigInteger(), nullable=False),
        sa.Column("reason_codes", sa.Text(), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("decision_id", _ID, nullable=True),
        sa.CheckConstraint(
            "cell IN ('champion', 'challenger')",
            name=op.f("ck_policy_experiment_decisions_cell_known"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_policy_experiment_decisions")),
    )
    op.create_index(
        "ix_policy_experiment_decisions_cell",
        "policy_experiment_decisions",
        ["experiment_id", "cell", "line_id"],
    )
    postgresql = op.get_bind().dialect.name == "postgresql"
    for table in _TABLES:
        _append_only(table, postgresql)


def _append_only(table: str, postgresql: bool) -> None:
    """Refuse UPDATE and DELETE on `table`, as 0019 does for the governance tables."""
    if postgresql:  # the function 0019 made
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION policy_governance_append_only()"
        )
        return
    for operation in ("UPDATE", "DELETE"):
        op.execute(
            f"CREATE TRIGGER {table}_no_{operation.lower()} BEFORE {operation} "
            f"ON {table} BEGIN SELECT RAISE(ABORT, "
            f"'policy governance is append-only: {operation} on {table} refused'); END"
        )


def _policy_step_states(states: str) -> None:
    """The states a step may record. SQLite rebuilds the table to change a CHECK constraint,
    which drops its triggers: they are made again."""
    name = op.f("ck_policy_steps_state_known")
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint(name, "policy_steps", type_="check")
        op.create_check_constraint(name, "policy_steps", f"state IN ({states})")
        return
    for operation in ("update", "delete"):
        op.execute(f"DROP TRIGGER policy_steps_no_{operation}")
    with op.batch_alter_table("policy_steps", recreate="always") as batch:
        batch.drop_constraint(name, type_="check")
        batch.create_check_constraint(name, f"state IN ({states})")
    _append_only("policy_steps", postgresql=False)


def downgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    for table in _TABLES:
        if postgresql:
            op.execute(f"DROP TRIGGER {table}_append_only ON {table}")
        else:
            op.execute(f"DROP TRIGGER {table}_no_update")
            op.execute(f"DROP TRIGGER {table}_no_delete")
    op.drop_index("ix_policy_experiment_decisions_cell", "policy_experiment_decisions")
    op.drop_table("policy_experiment_decisions")
    op.drop_index("ix_policy_experiment_events_experiment", "policy_experiment_events")
    op.drop_table("policy_experiment_events")
    op.drop_table("policy_experiments")
    op.drop_index("ix_policy_shadow_decisions_version", "policy_shadow_decisions")
    op.drop_table("policy_shadow_decisions")
    # Steps into the new states cannot be kept under the old constraint; nor can they be
    # deleted (append-only): a store that used them stays at this revision.
    _policy_step_states(_STATES)
