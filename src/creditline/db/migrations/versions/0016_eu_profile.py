"""The EU profile: a close the lender decides takes effect later (EU-2), a decision says when,
and a borrower's own statement is kept with their human review (EU-1, GDPR Art. 22(3)).

Revision ID: 0016
Revises: 0015
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

_CLOSED_HAS_NO_CLOSING = "closing_at IS NULL OR status <> 'closed'"


def upgrade() -> None:
    # Plain ADD COLUMNs on both stores: no table rebuild, so the decisions' append-only
    # triggers stay.
    op.add_column("lines", sa.Column("closing_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("decisions", sa.Column("effective_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("reviews", sa.Column("statement", sa.Text(), nullable=True))
    # The sweeper scans only lines with a close to come.
    op.create_index(
        "ix_lines_closing_at",
        "lines",
        ["closing_at"],
        postgresql_where=sa.text("closing_at IS NOT NULL"),
        sqlite_where=sa.text("closing_at IS NOT NULL"),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.create_check_constraint(
            op.f("ck_lines_closed_has_no_closing"), "lines", _CLOSED_HAS_NO_CLOSING
        )
        return
    # SQLite adds a CHECK only by rebuilding the table: triggers hold the same rule.
    for operation in ("INSERT", "UPDATE"):
        op.execute(
            f"CREATE TRIGGER lines_closed_has_no_closing_{operation.lower()} "
            f"BEFORE {operation} ON lines "
            "WHEN NEW.closing_at IS NOT NULL AND NEW.status = 'closed' "
            "BEGIN SELECT RAISE(ABORT, 'a closed line has no close still to come'); END"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint(op.f("ck_lines_closed_has_no_closing"), "lines", type_="check")
    else:
        for operation in ("insert", "update"):
            op.execute(f"DROP TRIGGER lines_closed_has_no_closing_{operation}")
    op.drop_index("ix_lines_closing_at", "lines")
    op.drop_column("reviews", "statement")
    op.drop_column("decisions", "effective_at")
    op.drop_column("lines", "closing_at")
