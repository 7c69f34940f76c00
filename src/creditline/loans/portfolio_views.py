"""The loans capability's reads for portfolio reports: Core queries over its own tables, as
of a time and a business date, for the portfolio room to join with the other capabilities'.

A loan's principal outstanding at a time is its principal less the principal its repayments
before then repaid. Its days past due on a business date follow the schedule, as end of day
counts them (`loans/arrears.py`): from the oldest due date before that date whose instalment
was not yet covered (`paid_on` later, or never). An instalment re-amortised by a prepayment
is read as it stands now.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Select, and_, case, func, literal, or_, select

from creditline.db.portable import day_number, days_after, int_divide
from creditline.loans.tables import instalments, loan_funding, loans, repayments

# What a copy of the book needs of the loans' tables, by table.
SOURCES: dict[str, Select[Any]] = {
    "loans": select(
        loans.c.id,
        loans.c.line_id,
        loans.c.currency,
        loans.c.principal_minor,
        loans.c.opened_at,
        loans.c.settled_at,
        loans.c.start_date,
    ),
    "instalments": select(
        instalments.c.loan_id, instalments.c.number, instalments.c.due_date, instalments.c.paid_on
    ),
    "repayments": select(
        repayments.c.loan_id, repayments.c.principal_minor, repayments.c.created_at
    ),
    "loan_funding": select(
        loan_funding.c.loan_id, loan_funding.c.funder, loan_funding.c.amount_minor
    ),
}


def loan_positions(before: datetime, on: date, currency: str) -> Any:
    """The loans in `currency` open at `before` (opened before it, not settled before it):
    loan_id, line_id, start_date, principal_minor (outstanding then), dpd (on `on`),
    lent_minor (the principal lent)."""
    repaid = (
        select(repayments.c.loan_id, func.sum(repayments.c.principal_minor).label("repaid"))
        .where(repayments.c.created_at < before)
        .group_by(repayments.c.loan_id)
        .subquery("repaid")
    )
    i = instalments.c
    overdue = (
        select(i.loan_id, func.min(i.due_date).label("oldest"))
        .where(i.due_date < on, or_(i.paid_on.is_(None), i.paid_on > on))
        .group_by(i.loan_id)
        .subquery("oldest_overdue")
    )
    dpd = case(
        (overdue.c.oldest.is_(None), 0),
        else_=day_number(literal(on)) - day_number(overdue.c.oldest),
    )
    return (
        select(
            loans.c.id.label("loan_id"),
            loans.c.line_id,
            loans.c.start_date,
            (loans.c.principal_minor - func.coalesce(repaid.c.repaid, 0)).label("principal_minor"),
            dpd.label("dpd"),
            loans.c.principal_minor.label("lent_minor"),
        )
        .select_from(
            loans.outerjoin(repaid, repaid.c.loan_id == loans.c.id).outerjoin(
                overdue, overdue.c.loan_id == loans.c.id
            )
        )
        .where(
            loans.c.currency == currency,
            loans.c.opened_at < before,
            or_(loans.c.settled_at.is_(None), loans.c.settled_at >= before),
        )
        .subquery("loan_positions")
    )


def settlements(start: datetime, end: datetime, currency: str) -> Any:
    """Loans in `currency` settled in [start, end): loan_id, line_id, settled_at."""
    return (
        select(loans.c.id.label("loan_id"), loans.c.line_id, loans.c.settled_at)
        .where(
            loans.c.currency == currency,
            loans.c.settled_at >= start,
            loans.c.settled_at < end,
        )
        .subquery("settlements")
    )


def days_past_due_reached(on: date, currency: str, thresholds: tuple[int, ...]) -> Any:
    """Every loan in `currency` opened by `on`, with the first business date (by `on`) its days
    past due reached each threshold: loan_id, line_id, start_date, and `reached_<n>` per
    threshold n (null: not reached). An instalment puts a loan n days past due on its due
    date + n when it was not covered by then."""
    i = instalments.c
    firsts = []
    for threshold in thresholds:
        reached_on = days_after(i.due_date, threshold)
        not_covered = or_(i.paid_on.is_(None), i.paid_on > reached_on)
        firsts.append(
            func.min(case((and_(not_covered, reached_on <= on), reached_on))).label(
                f"reached_{threshold}"
            )
        )
    reached = select(i.loan_id, *firsts).group_by(i.loan_id).subquery("reached")
    return (
        select(
            loans.c.id.label("loan_id"),
            loans.c.line_id,
            loans.c.start_date,
            *(reached.c[f"reached_{threshold}"] for threshold in thresholds),
        )
        .select_from(loans.outerjoin(reached, reached.c.loan_id == loans.c.id))
        .where(loans.c.currency == currency, loans.c.start_date <= on)
        .subquery("days_past_due_reached")
    )


def funded_positions(before: datetime, on: date, currency: str, open_loans: Any = None) -> Any:
    """Each funder's part of the loans in `currency` open at `before` (CN-3): loan_id,
    line_id, funder, funded_minor (its part of the principal lent), principal_minor (its
    part of the principal outstanding then: pro rata, rounded down), dpd (the loan's on `on`).
    `open_loans`: `loan_positions(before, on, currency)` kept by the caller."""
    if open_loans is None:
        open_loans = loan_positions(before, on, currency)
    f = loan_funding.c
    o = open_loans.c
    outstanding = int_divide(o.principal_minor * f.amount_minor, o.lent_minor)
    return (
        select(
            o.loan_id,
            o.line_id,
            f.funder,
            f.amount_minor.label("funded_minor"),
            outstanding.label("principal_minor"),
            o.dpd,
        )
        .select_from(open_loans.join(loan_funding, f.loan_id == o.loan_id))
        .subquery("funded_positions")
    )


def loan_funders() -> Any:
    """Who funds each loan: loan_id, line_id, funder, funded_minor."""
    f = loan_funding.c
    return (
        select(f.loan_id, loans.c.line_id, f.funder, f.amount_minor.label("funded_minor"))
        .select_from(loan_funding.join(loans, loans.c.id == f.loan_id))
        .subquery("loan_funders")
    )
