"""Ledger: lines, drawdowns, loans, repayments, decisions, journal, outbox, idempotency keys.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "idempotency_keys",
        sa.Column("scope", sa.String(length=128), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("response", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("scope", "key", name=op.f("pk_idempotency_keys")),
    )
    op.create_table(
        "lines",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("borrower_id", sa.String(length=64), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("limit_minor", sa.BigInteger(), nullable=False),
        sa.Column("principal_outstanding_minor", sa.BigInteger(), nullable=False),
        sa.Column("held_minor", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("frozen_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status_decision_id", sa.String(length=36), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("head_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "(status = 'frozen') = (frozen_until IS NOT NULL)", name=op.f("ck_lines_frozen_has_end")
        ),
        sa.CheckConstraint(
            "status IN ('active', 'frozen', 'suspended', 'closed')",
            name=op.f("ck_lines_status_known"),
        ),
        sa.CheckConstraint(
            "held_minor + principal_outstanding_minor <= limit_minor",
            name=op.f("ck_lines_utilisation_within_limit"),
        ),
        sa.CheckConstraint("held_minor >= 0", name=op.f("ck_lines_held_non_negative")),
        sa.CheckConstraint("limit_minor >= 0", name=op.f("ck_lines_limit_non_negative")),
        sa.CheckConstraint(
            "principal_outstanding_minor >= 0", name=op.f("ck_lines_principal_non_negative")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lines")),
    )
    op.create_index(op.f("ix_lines_borrower_id"), "lines", ["borrower_id"], unique=False)

    op.create_table(
        "outbox",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("topic", sa.String(length=64), nullable=False),
        sa.Column("line_id", sa.String(length=36), nullable=False),
        sa.Column("borrower_id", sa.String(length=64), nullable=False),
        sa.Column("ref_id", sa.String(length=36), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
    )
    op.create_index(op.f("ix_outbox_ref_id"), "outbox", ["ref_id"], unique=False)
    op.create_index(
        "ix_outbox_undelivered",
        "outbox",
        ["created_at"],
        unique=False,
        postgresql_where=sa.text("delivered_at IS NULL"),
        sqlite_where=sa.text("delivered_at IS NULL"),
    )

    op.create_table(
        "decisions",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("line_id", sa.String(length=36), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("adverse", sa.Boolean(), nullable=False),
        sa.Column("limit_before_minor", sa.BigInteger(), nullable=False),
        sa.Column("limit_after_minor", sa.BigInteger(), nullable=False),
        sa.Column("status_before", sa.String(length=16), nullable=False),
        sa.Column("status_after", sa.String(length=16), nullable=False),
        sa.Column("until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reason_codes", sa.Text(), nullable=False),
        sa.Column("actor_subject", sa.String(length=128), nullable=False),
        sa.Column("actor_role", sa.String(length=16), nullable=False),
        sa.Column("policy_version", sa.String(length=64), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["line_id"], ["lines.id"], name=op.f("fk_decisions_line_id_lines")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_decisions")),
    )
    op.create_index(op.f("ix_decisions_line_id"), "decisions", ["line_id"], unique=False)

    op.create_table(
        "drawdowns",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("line_id", sa.String(length=36), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("term_months", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("posted_minor", sa.BigInteger(), nullable=True),
        sa.Column("loan_id", sa.String(length=36), nullable=True),
        sa.CheckConstraint(
            "(status = 'posted') = (loan_id IS NOT NULL)", name=op.f("ck_drawdowns_posted_has_loan")
        ),
        sa.CheckConstraint(
            "status IN ('held', 'posted', 'voided', 'expired')",
            name=op.f("ck_drawdowns_status_known"),
        ),
        sa.CheckConstraint("amount_minor > 0", name=op.f("ck_drawdowns_amount_positive")),
        sa.CheckConstraint(
            "posted_minor IS NULL OR (posted_minor > 0 AND posted_minor <= amount_minor)",
            name=op.f("ck_drawdowns_posted_within_hold"),
        ),
        sa.ForeignKeyConstraint(["line_id"], ["lines.id"], name=op.f("fk_drawdowns_line_id_lines")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_drawdowns")),
    )
    op.create_index(
        "ix_drawdowns_held_expires_at",
        "drawdowns",
        ["expires_at"],
        unique=False,
        postgresql_where=sa.text("status = 'held'"),
        sqlite_where=sa.text("status = 'held'"),
    )
    op.create_index(op.f("ix_drawdowns_line_id"), "drawdowns", ["line_id"], unique=False)

    op.create_table(
        "journal",
        sa.Column("line_id", sa.String(length=36), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("limit_delta_minor", sa.BigInteger(), nullable=False),
        sa.Column("principal_delta_minor", sa.BigInteger(), nullable=False),
        sa.Column("held_delta_minor", sa.BigInteger(), nullable=False),
        sa.Column("limit_after_minor", sa.BigInteger(), nullable=False),
        sa.Column("principal_after_minor", sa.BigInteger(), nullable=False),
        sa.Column("held_after_minor", sa.BigInteger(), nullable=False),
        sa.Column("status_after", sa.String(length=16), nullable=False),
        sa.Column("drawdown_id", sa.String(length=36), nullable=True),
        sa.Column("loan_id", sa.String(length=36), nullable=True),
        sa.Column("decision_id", sa.String(length=36), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.CheckConstraint("seq >= 1", name=op.f("ck_journal_seq_positive")),
        sa.ForeignKeyConstraint(["line_id"], ["lines.id"], name=op.f("fk_journal_line_id_lines")),
        sa.PrimaryKeyConstraint("line_id", "seq", name=op.f("pk_journal")),
    )
    op.create_table(
        "loans",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("line_id", sa.String(length=36), nullable=False),
        sa.Column("drawdown_id", sa.String(length=36), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("principal_minor", sa.BigInteger(), nullable=False),
        sa.Column("principal_outstanding_minor", sa.BigInteger(), nullable=False),
        sa.Column("term_months", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("settled_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "(status = 'settled') = (principal_outstanding_minor = 0)",
            name=op.f("ck_loans_settled_iff_repaid"),
        ),
        sa.CheckConstraint("status IN ('open', 'settled')", name=op.f("ck_loans_status_known")),
        sa.CheckConstraint("principal_minor > 0", name=op.f("ck_loans_principal_positive")),
        sa.CheckConstraint(
            "principal_outstanding_minor >= 0 AND principal_outstanding_minor <= principal_minor",
            name=op.f("ck_loans_outstanding_within_principal"),
        ),
        sa.ForeignKeyConstraint(
            ["drawdown_id"], ["drawdowns.id"], name=op.f("fk_loans_drawdown_id_drawdowns")
        ),
        sa.ForeignKeyConstraint(["line_id"], ["lines.id"], name=op.f("fk_loans_line_id_lines")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_loans")),
        sa.UniqueConstraint("drawdown_id", name=op.f("uq_loans_drawdown_id")),
    )
    op.create_index(op.f("ix_loans_line_id"), "loans", ["line_id"], unique=False)

    op.create_table(
        "repayments",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("loan_id", sa.String(length=36), nullable=False),
        sa.Column("line_id", sa.String(length=36), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("principal_minor", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("amount_minor > 0", name=op.f("ck_repayments_amount_positive")),
        sa.CheckConstraint(
            "principal_minor >= 0 AND principal_minor <= amount_minor",
            name=op.f("ck_repayments_principal_within_amount"),
        ),
        sa.ForeignKeyConstraint(
            ["line_id"], ["lines.id"], name=op.f("fk_repayments_line_id_lines")
        ),
        sa.ForeignKeyConstraint(
            ["loan_id"], ["loans.id"], name=op.f("fk_repayments_loan_id_loans")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_repayments")),
    )
    op.create_index(op.f("ix_repayments_loan_id"), "repayments", ["loan_id"], unique=False)
    _make_journal_append_only()


def downgrade() -> None:
    _drop_journal_guard()
    op.drop_index(op.f("ix_repayments_loan_id"), table_name="repayments")
    op.drop_table("repayments")
    op.drop_index(op.f("ix_loans_line_id"), table_name="loans")
    op.drop_table("loans")
    op.drop_table("journal")
    op.drop_index(op.f("ix_drawdowns_line_id"), table_name="drawdowns")
    op.drop_index("ix_drawdowns_held_expires_at", table_name="drawdowns")
    op.drop_table("drawdowns")
    op.drop_index(op.f("ix_decisions_line_id"), table_name="decisions")
    op.drop_table("decisions")
    op.drop_index("ix_outbox_undelivered", table_name="outbox")
    op.drop_index(op.f("ix_outbox_ref_id"), table_name="outbox")
    op.drop_table("outbox")
    op.drop_index(op.f("ix_lines_borrower_id"), table_name="lines")
    op.drop_table("lines")
    op.drop_table("idempotency_keys")


# The journal is append-only (DESIGN.md §6.2): the store refuses UPDATE and DELETE on it.
def _make_journal_append_only() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            """
            CREATE FUNCTION journal_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION 'journal is append-only: % refused', TG_OP;
            END $$
            """
        )
        op.execute(
            "CREATE TRIGGER journal_append_only BEFORE UPDATE OR DELETE ON journal "
            "FOR EACH ROW EXECUTE FUNCTION journal_append_only()"
        )
    else:
        for operation in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER journal_no_{operation.lower()} BEFORE {operation} ON journal "
                f"BEGIN SELECT RAISE(ABORT, 'journal is append-only: {operation} refused'); END"
            )


def _drop_journal_guard() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER journal_append_only ON journal")
        op.execute("DROP FUNCTION journal_append_only()")
    else:
        op.execute("DROP TRIGGER journal_no_update")
        op.execute("DROP TRIGGER journal_no_delete")
