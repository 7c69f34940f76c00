"""Ledger tables (SQLAlchemy Core). CHECK constraints repeat the model's invariants in the store."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    text,
)

from creditline.db.metadata import ID, MONEY, UtcDateTime, metadata

lines = Table(
    "lines",
    metadata,
    Column("id", ID, primary_key=True),
    Column("borrower_id", String(64), nullable=False, index=True),
    Column("currency", String(3), nullable=False),
    Column("limit_minor", MONEY, nullable=False),
    Column("principal_outstanding_minor", MONEY, nullable=False),
    Column("held_minor", MONEY, nullable=False),
    Column("status", String(16), nullable=False),
    Column("frozen_until", UtcDateTime, nullable=True),
    Column("status_decision_id", ID, nullable=True),
    Column("version", Integer, nullable=False),
    Column("head_hash", String(64), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    # When a close the lender decided takes effect (EU-2); the line is usable until then.
    Column("closing_at", UtcDateTime, nullable=True),
    CheckConstraint("limit_minor >= 0", name="limit_non_negative"),
    CheckConstraint("held_minor >= 0", name="held_non_negative"),
    CheckConstraint("principal_outstanding_minor >= 0", name="principal_non_negative"),
    CheckConstraint(
        "held_minor + principal_outstanding_minor <= limit_minor", name="utilisation_within_limit"
    ),
    CheckConstraint("status IN ('active', 'frozen', 'suspended', 'closed')", name="status_known"),
    CheckConstraint("(status = 'frozen') = (frozen_until IS NOT NULL)", name="frozen_has_end"),
    CheckConstraint("closing_at IS NULL OR status <> 'closed'", name="closed_has_no_closing"),
)

# The sweeper scans only lines with a close still to come.
Index(
    "ix_lines_closing_at",
    lines.c.closing_at,
    postgresql_where=text("closing_at IS NOT NULL"),
    sqlite_where=text("closing_at IS NOT NULL"),
)

drawdowns = Table(
    "drawdowns",
    metadata,
    Column("id", ID, primary_key=True),
    Column("line_id", ID, ForeignKey("lines.id"), nullable=False, index=True),
    Column("amount_minor", MONEY, nullable=False),
    Column("term_months", Integer, nullable=False),
    Column("status", String(16), nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("resolved_at", UtcDateTime, nullable=True),
    Column("posted_minor", MONEY, nullable=True),
    Column("loan_id", ID, nullable=True),
    # What the hold was priced with; the post freezes a schedule built from them.
    Column("product", String(64), nullable=True),
    Column("method", String(32), nullable=True),
    CheckConstraint("amount_minor > 0", name="amount_positive"),
    CheckConstraint(
        "posted_minor IS NULL OR (posted_minor > 0 AND posted_minor <= amount_minor)",
        name="posted_within_hold",
    ),
    CheckConstraint("status IN ('held', 'posted', 'voided', 'expired')", name="status_known"),
    CheckConstraint("(status = 'posted') = (loan_id IS NOT NULL)", name="posted_has_loan"),
)
# The sweeper scans only live holds.
Index(
    "ix_drawdowns_held_expires_at",
    drawdowns.c.expires_at,
    postgresql_where=text("status = 'held'"),
    sqlite_where=text("status = 'held'"),
)

decisions = Table(
    "decisions",
    metadata,
    Column("id", ID, primary_key=True),
    Column("line_id", ID, ForeignKey("lines.id"), nullable=False, index=True),
    Column("action", String(16), nullable=False),
    Column("adverse", Boolean, nullable=False),
    Column("limit_before_minor", MONEY, nullable=False),
    Column("limit_after_minor", MONEY, nullable=False),
    Column("status_before", String(16), nullable=False),
    Column("status_after", String(16), nullable=False),
    Column("until", UtcDateTime, nullable=True),
    Column("reason_codes", Text, nullable=False),  # JSON array of 1–4 catalogue codes
    Column("actor_subject", String(128), nullable=False),
    Column("actor_role", String(16), nullable=False),
    Column("policy_version", String(64), nullable=True),
    Column("note", Text, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    # JSON: what an automated decision saw (policy, score, grade, trace, features).
    Column("evidence", Text, nullable=True),
    # A close still to come: when it takes effect (EU-2).
    Column("effective_at", UtcDateTime, nullable=True),
)

journal = Table(
    "journal",
    metadata,
    Column("line_id", ID, ForeignKey("lines.id"), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("limit_delta_minor", MONEY, nullable=False),
    Column("principal_delta_minor", MONEY, nullable=False),
    Column("held_delta_minor", MONEY, nullable=False),
    Column("limit_after_minor", MONEY, nullable=False),
    Column("principal_after_minor", MONEY, nullable=False),
    Column("held_after_minor", MONEY, nullable=False),
    Column("status_after", String(16), nullable=False),
    Column("drawdown_id", ID, nullable=True),
    Column("loan_id", ID, nullable=True),
    Column("decision_id", ID, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    PrimaryKeyConstraint("line_id", "seq"),
    CheckConstraint("seq >= 1", name="seq_positive"),
)

# A borrower's own requests about their line (close it, lower its limit): staff act on one
# with a decision naming it, and it is done in the decision's transaction.
borrower_requests = Table(
    "borrower_requests",
    metadata,
    Column("id", ID, primary_key=True),
    Column("line_id", ID, ForeignKey("lines.id"), nullable=False, index=True),
    Column("borrower_id", String(64), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("limit_minor", MONEY, nullable=True),
    Column("status", String(16), nullable=False),
    Column("decision_id", ID, ForeignKey("decisions.id"), nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("done_at", UtcDateTime, nullable=True),
    # Staff act by then: the profile's review_days after the request, as the borrower was told.
    Column("due_at", UtcDateTime, nullable=False),
    Column("withdrawn_at", UtcDateTime, nullable=True),
    CheckConstraint("kind IN ('close', 'decrease')", name="kind_known"),
    CheckConstraint("(kind = 'decrease') = (limit_minor IS NOT NULL)", name="decrease_has_limit"),
    CheckConstraint("limit_minor IS NULL OR limit_minor > 0", name="limit_positive"),
    CheckConstraint("status IN ('open', 'done', 'withdrawn')", name="status_known"),
    CheckConstraint(
        "(status = 'done') = (decision_id IS NOT NULL AND done_at IS NOT NULL)",
        name="done_has_decision",
    ),
    CheckConstraint(
        "(status = 'withdrawn') = (withdrawn_at IS NOT NULL)", name="withdrawn_has_time"
    ),
    CheckConstraint("due_at > created_at", name="due_after_created"),
)
# The staff queue: the requests of a status, oldest first.
Index(
    "ix_borrower_requests_status_created_at",
    borrower_requests.c.status,
    borrower_requests.c.created_at,
    borrower_requests.c.id,
)
# A line has one open request at a time.
Index(
    "ux_borrower_requests_open_line",
    borrower_requests.c.line_id,
    unique=True,
    postgresql_where=text("status = 'open'"),
    sqlite_where=text("status = 'open'"),
)
