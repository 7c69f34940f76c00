"""Loans carry their frozen terms and schedule: instalments, charges, end of day. A hold
records the product and repayment method it was priced with.

Loans drawn before this revision had no schedule: each gets one interest-free instalment for
its principal, due at the end of its term, with what was repaid already marked paid, under the
product name `legacy`, so every loan is owed and reported the same way from now on.

Revision ID: 0003
Revises: 0002
"""

import calendar
import datetime as dt
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_TERMS: list[tuple[str, Any, str]] = [
    ("product", sa.String(64), "legacy"),
    ("method", sa.String(32), "interest_first"),
    ("rate_kind", sa.String(8), "annual"),
    ("rate", sa.String(32), "0"),
    ("day_count_basis", sa.Integer(), "365"),
    ("apr_percent", sa.String(16), "0.00"),
    ("penalty_rate", sa.String(32), "0"),
    ("penalty_basis_days", sa.Integer(), "365"),
    ("grace_days", sa.Integer(), "0"),
    ("waterfall", sa.String(128), "penalty,fees,interest,principal_due,prepayment"),
    ("overpayment", sa.String(16), "refund"),
    ("timezone", sa.String(64), "UTC"),
]
_LOAN_MONEY = [
    "upfront_fee_minor",
    "instalment_fee_minor",
    "late_fee_minor",
    "penalty_minor",
    "paid_penalty_minor",
    "credit_minor",
    "interest_accrued_minor",
]
_REPAYMENT_MONEY = [
    "penalty_minor",
    "fees_minor",
    "interest_minor",
    "prepaid_minor",
    "credit_minor",
    "reapplied_minor",
]
_INSTALMENT_MONEY = [
    "principal_minor",
    "interest_minor",
    "fee_minor",
    "late_fee_minor",
    "paid_principal_minor",
    "paid_interest_minor",
    "paid_fee_minor",
    "paid_late_fee_minor",
]


def _add_months(start: dt.date, months: int) -> dt.date:
    index = start.month - 1 + months
    year, month = start.year + index // 12, index % 12 + 1
    return dt.date(year, month, min(start.day, calendar.monthrange(year, month)[1]))


def _money(name: str) -> sa.Column[int]:
    return sa.Column(name, sa.BigInteger(), nullable=False, server_default="0")


def upgrade() -> None:
    with op.batch_alter_table("loans") as batch:
        for name, type_, default in _TERMS:
            batch.add_column(sa.Column(name, type_, nullable=False, server_default=default))
        for name in _LOAN_MONEY:
            batch.add_column(_money(name))
        # Filled in from opened_at below; the default only lets the column be added NOT NULL.
        batch.add_column(
            sa.Column("start_date", sa.Date(), nullable=False, server_default="1970-01-01")
        )
        batch.add_column(sa.Column("dpd", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("eod_date", sa.Date(), nullable=True))
        batch.create_check_constraint(
            op.f("ck_loans_penalty_paid"),
            "paid_penalty_minor >= 0 AND paid_penalty_minor <= penalty_minor",
        )
        batch.create_check_constraint(
            op.f("ck_loans_credit_and_dpd_non_negative"), "credit_minor >= 0 AND dpd >= 0"
        )
    if op.get_bind().dialect.name == "postgresql":
        # End of day rewrites every open loan's row daily: room on the page keeps those
        # updates HOT (no index writes, no new pages).
        op.execute("ALTER TABLE loans SET (fillfactor = 80)")
    op.create_index(
        op.f("ix_loans_open_id"),
        "loans",
        ["id"],
        postgresql_where=sa.text("status = 'open'"),
        sqlite_where=sa.text("status = 'open'"),
    )
    with op.batch_alter_table("drawdowns") as batch:
        batch.add_column(sa.Column("product", sa.String(64), nullable=True))
        batch.add_column(sa.Column("method", sa.String(32), nullable=True))
    op.create_table(
        "instalments",
        sa.Column("loan_id", sa.String(36), sa.ForeignKey("loans.id"), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        *[_money(name) for name in _INSTALMENT_MONEY],
        sa.PrimaryKeyConstraint("loan_id", "number", name=op.f("pk_instalments")),
        sa.CheckConstraint("number >= 1", name=op.f("ck_instalments_number_positive")),
        sa.CheckConstraint(
            "paid_principal_minor >= 0 AND paid_principal_minor <= principal_minor "
            "AND paid_interest_minor >= 0 AND paid_interest_minor <= interest_minor "
            "AND paid_fee_minor >= 0 AND paid_fee_minor <= fee_minor "
            "AND paid_late_fee_minor >= 0 AND paid_late_fee_minor <= late_fee_minor",
            name=op.f("ck_instalments_paid_within_owed"),
        ),
    )
    with op.batch_alter_table("repayments") as batch:
        for name in _REPAYMENT_MONEY:
            batch.add_column(_money(name))
        batch.add_column(sa.Column("business_date", sa.Date(), nullable=True))
        batch.drop_constraint(op.f("ck_repayments_principal_within_amount"), type_="check")
        batch.create_check_constraint(
            op.f("ck_repayments_principal_within_amount"),
            "principal_minor >= 0 AND principal_minor <= amount_minor + reapplied_minor",
        )
    op.create_table(
        "eod_runs",
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("loans_processed", sa.BigInteger(), nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("business_date", name=op.f("pk_eod_runs")),
    )
    _schedule_legacy_loans()


def _schedule_legacy_loans() -> None:
    bind = op.get_bind()
    rows = bind.execute(
        sa.text(
            "SELECT id, principal_minor, principal_outstanding_minor, term_months, opened_at "
            "FROM loans"
        )
    ).all()
    loans = sa.table("loans", sa.column("id"), sa.column("start_date", sa.Date()))
    instalments = sa.table(
        "instalments",
        sa.column("loan_id"),
        sa.column("number"),
        sa.column("due_date", sa.Date()),
        sa.column("principal_minor"),
        sa.column("paid_principal_minor"),
    )
    for loan_id, principal, outstanding, term, opened_at in rows:
        opened = (
            opened_at
            if isinstance(opened_at, dt.datetime)
            else dt.datetime.fromisoformat(opened_at)
        )
        start = opened.date()
        bind.execute(loans.update().where(loans.c.id == loan_id).values(start_date=start))
        bind.execute(
            instalments.insert().values(
                loan_id=loan_id,
                number=1,
                due_date=_add_months(start, term),
                principal_minor=principal,
                paid_principal_minor=principal - outstanding,
            )
        )
