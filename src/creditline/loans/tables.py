"""Loan tables (SQLAlchemy Core): loans with their frozen terms, instalments, repayments,
refunds and end-of-day runs. CHECK constraints repeat the pure model's invariants in the
store."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    text,
)

from creditline.db.metadata import ID, MONEY, UtcDateTime, metadata


def _money(name: str) -> Column[int]:
    return Column(name, MONEY, nullable=False, server_default="0")


loans = Table(
    "loans",
    metadata,
    Column("id", ID, primary_key=True),
    Column("line_id", ID, ForeignKey("lines.id"), nullable=False, index=True),
    Column("drawdown_id", ID, ForeignKey("drawdowns.id"), nullable=False, unique=True),
    Column("currency", String(3), nullable=False),
    Column("principal_minor", MONEY, nullable=False),
    Column("principal_outstanding_minor", MONEY, nullable=False),
    Column("term_months", Integer, nullable=False),
    Column("status", String(16), nullable=False),
    Column("opened_at", UtcDateTime, nullable=False),
    Column("settled_at", UtcDateTime, nullable=True),
    # The product terms frozen at drawdown. Rates are decimal fractions as text ("0.12"): exact
    # on every store; end of day on PostgreSQL casts them to NUMERIC.
    Column("product", String(64), nullable=False),
    Column("method", String(32), nullable=False),
    Column("rate_kind", String(8), nullable=False),  # annual | daily
    Column("rate", String(32), nullable=False),
    Column("day_count_basis", Integer, nullable=False),  # 365 or 360 for annual rates
    # ACT/365, ACT/360 or 30/360 (a daily rate: ACT/365); the basis alone cannot tell the last two.
    Column("day_count", String(8), nullable=False, server_default="ACT/365"),
    Column("start_date", Date, nullable=False),
    Column("apr_percent", String(16), nullable=False),
    _money("upfront_fee_minor"),
    _money("instalment_fee_minor"),
    _money("late_fee_minor"),
    Column("penalty_rate", String(32), nullable=False),  # annual, a fraction
    Column("penalty_basis_days", Integer, nullable=False),
    Column("grace_days", Integer, nullable=False),
    Column("waterfall", String(128), nullable=False),  # step names, comma-separated
    Column("overpayment", String(16), nullable=False),
    Column("timezone", String(64), nullable=False),
    Column("prepayment_effect", String(16), nullable=False, server_default="shorter_term"),
    # What end of day and repayments keep up to date; penalty interest is charged per
    # instalment, and these are its totals over the loan's instalments.
    _money("penalty_minor"),
    _money("paid_penalty_minor"),
    _money("credit_minor"),
    _money("interest_accrued_minor"),
    Column("dpd", Integer, nullable=False, server_default="0"),
    Column("eod_date", Date, nullable=True),
    CheckConstraint("principal_minor > 0", name="principal_positive"),
    CheckConstraint(
        "principal_outstanding_minor >= 0 AND principal_outstanding_minor <= principal_minor",
        name="outstanding_within_principal",
    ),
    CheckConstraint("status IN ('open', 'settled')", name="status_known"),
    CheckConstraint("day_count IN ('ACT/365', 'ACT/360', '30/360')", name="day_count_known"),
    # A loan is settled exactly when its principal is repaid (DESIGN.md §6.4).
    CheckConstraint(
        "(status = 'settled') = (principal_outstanding_minor = 0)", name="settled_iff_repaid"
    ),
    CheckConstraint(
        "paid_penalty_minor >= 0 AND paid_penalty_minor <= penalty_minor", name="penalty_paid"
    ),
    CheckConstraint("credit_minor >= 0 AND dpd >= 0", name="credit_and_dpd_non_negative"),
    # End of day rewrites every open loan daily; free room keeps those updates HOT.
    postgresql_with={"fillfactor": 80},
)
# End of day walks the open loans in id order.
Index(
    "ix_loans_open_id",
    loans.c.id,
    postgresql_where=text("status = 'open'"),
    sqlite_where=text("status = 'open'"),
)

instalments = Table(
    "instalments",
    metadata,
    Column("loan_id", ID, ForeignKey("loans.id"), nullable=False),
    Column("number", Integer, nullable=False),
    Column("due_date", Date, nullable=False),
    _money("principal_minor"),
    _money("interest_minor"),
    _money("fee_minor"),
    _money("late_fee_minor"),
    _money("penalty_minor"),
    _money("paid_principal_minor"),
    _money("paid_interest_minor"),
    _money("paid_fee_minor"),
    _money("paid_late_fee_minor"),
    _money("paid_penalty_minor"),
    # The business date its scheduled amount was covered by what the borrower paid.
    Column("paid_on", Date, nullable=True),
    PrimaryKeyConstraint("loan_id", "number"),
    CheckConstraint("number >= 1", name="number_positive"),
    CheckConstraint(
        "paid_principal_minor >= 0 AND paid_principal_minor <= principal_minor "
        "AND paid_interest_minor >= 0 AND paid_interest_minor <= interest_minor "
        "AND paid_fee_minor >= 0 AND paid_fee_minor <= fee_minor "
        "AND paid_late_fee_minor >= 0 AND paid_late_fee_minor <= late_fee_minor "
        "AND paid_penalty_minor >= 0 AND paid_penalty_minor <= penalty_minor",
        name="paid_within_owed",
    ),
)

repayments = Table(
    "repayments",
    metadata,
    Column("id", ID, primary_key=True),
    Column("loan_id", ID, ForeignKey("loans.id"), nullable=False, index=True),
    Column("line_id", ID, ForeignKey("lines.id"), nullable=False),
    Column("amount_minor", MONEY, nullable=False),
    Column("principal_minor", MONEY, nullable=False),
    _money("penalty_minor"),
    _money("fees_minor"),
    _money("interest_minor"),
    _money("prepaid_minor"),
    _money("credit_minor"),
    _money("reapplied_minor"),
    Column("business_date", Date, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    CheckConstraint("amount_minor > 0", name="amount_positive"),
    CheckConstraint(
        "principal_minor >= 0 AND principal_minor <= amount_minor + reapplied_minor",
        name="principal_within_amount",
    ),
)

# A credit balance paid back to the borrower: the loan's credit goes down by the amount, in the
# transaction that records it, its journal entry and its notice.
refunds = Table(
    "refunds",
    metadata,
    Column("id", ID, primary_key=True),
    Column("loan_id", ID, ForeignKey("loans.id"), nullable=False, index=True),
    Column("line_id", ID, ForeignKey("lines.id"), nullable=False),
    Column("amount_minor", MONEY, nullable=False),
    Column("business_date", Date, nullable=False),
    Column("actor_subject", String(128), nullable=False),
    Column("actor_role", String(16), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    CheckConstraint("amount_minor > 0", name="amount_positive"),
)

eod_runs = Table(
    "eod_runs",
    metadata,
    Column("business_date", Date, primary_key=True),
    Column("started_at", UtcDateTime, nullable=False),
    Column("finished_at", UtcDateTime, nullable=True),
    Column("loans_processed", BigInteger, nullable=False, server_default="0"),
)

# Who funds each loan (CN-3, joint lending): one row per funder, `lender` for the lender's own
# share; the amounts sum exactly to the loan's principal (loans/funding.py's rounding).
loan_funding = Table(
    "loan_funding",
    metadata,
    Column("loan_id", ID, ForeignKey("loans.id"), nullable=False),
    Column("funder", String(64), nullable=False),
    Column("share_basis_points", Integer, nullable=False),
    Column("amount_minor", MONEY, nullable=False),
    PrimaryKeyConstraint("loan_id", "funder"),
    CheckConstraint(
        "share_basis_points > 0 AND share_basis_points <= 10000", name="share_within_whole"
    ),
    CheckConstraint("amount_minor >= 0", name="amount_not_negative"),
)
Index("ix_loan_funding_funder", loan_funding.c.funder)
