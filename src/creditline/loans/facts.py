"""What the loans capability knows about a line's borrowing record, for reviews.

Published through `loans.ports`: the decisions capability reads these facts, never the loans'
tables.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Connection, Integer, and_, case, cast, func, select

from creditline.db.unit_of_work import Transaction
from creditline.loans.tables import instalments, loans, repayments

_DAY = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class RepaymentFacts:
    """A line's loans and how they were repaid, as of a business date."""

    settled_loans: int
    dpd: int  # days past due of its latest open loan
    instalments_fallen_due: int
    instalments_paid_on_time: int
    days_late_max_12m: int  # the most days late of an instalment paid in the last 12 months
    oldest_unpaid_due_date: date | None

    @property
    def on_time_ratio(self) -> float | None:
        """The share of fallen-due instalments paid in full by their due date."""
        if not self.instalments_fallen_due:
            return None
        return self.instalments_paid_on_time / self.instalments_fallen_due

    def max_dpd_12m(self, today: date) -> int:
        """The most days late in 12 months: paid late, or still unpaid today."""
        unpaid = self.oldest_unpaid_due_date
        return max(self.days_late_max_12m, 0 if unpaid is None else (today - unpaid).days)


def repayment_facts(
    connection: Connection, today: date, line_ids: list[str] | None = None
) -> dict[str, RepaymentFacts]:
    """Per line with loans (only `line_ids` when given): its repayment record as of `today`,
    the lender's business date (instalments due before it have fallen due)."""
    loan_facts = (
        select(
            loans.c.line_id,
            func.sum(case((loans.c.status == "settled", 1), else_=0)).label("settled"),
            func.max(case((loans.c.status == "open", loans.c.dpd), else_=0)).label("dpd"),
        )
        .group_by(loans.c.line_id)
        .subquery()
    )
    record = _instalment_record(connection, today)
    query = select(
        loan_facts.c.line_id,
        loan_facts.c.settled,
        loan_facts.c.dpd,
        record.c.fallen_due,
        record.c.on_time,
        record.c.late_paid_max,
        record.c.oldest_unpaid,
    ).select_from(loan_facts.outerjoin(record, record.c.line_id == loan_facts.c.line_id))
    if line_ids is not None:
        query = query.where(loan_facts.c.line_id.in_(line_ids))
    # Rows unpacked as tuples: by name, their attributes cost more than the facts built.
    return {
        line_id: RepaymentFacts(
            settled_loans=settled or 0,
            dpd=dpd or 0,
            instalments_fallen_due=fallen_due or 0,
            instalments_paid_on_time=on_time or 0,
            days_late_max_12m=late_paid_max or 0,
            oldest_unpaid_due_date=Transaction.read_date(oldest_unpaid),
        )
        for line_id, settled, dpd, fallen_due, on_time, late_paid_max, oldest_unpaid in (
            connection.execute(query).all()
        )
    }


def _instalment_record(connection: Connection, today: date) -> Any:
    """Per line: instalments fallen due, those paid in full by their due date, the most days
    late of any paid in the last 12 months, and the oldest still unpaid."""
    i = instalments.c
    fallen = i.due_date < today
    days_late: ColumnElement[Any]
    if connection.dialect.name == "sqlite":
        days_late = cast(func.julianday(i.paid_on) - func.julianday(i.due_date), Integer)
    else:
        days_late = i.paid_on - i.due_date
    return (
        select(
            loans.c.line_id,
            func.sum(case((fallen, 1), else_=0)).label("fallen_due"),
            func.sum(case((and_(fallen, i.paid_on <= i.due_date), 1), else_=0)).label("on_time"),
            func.max(
                case((and_(i.paid_on > i.due_date, i.paid_on > today - 365 * _DAY), days_late))
            ).label("late_paid_max"),
            func.min(case((and_(fallen, i.paid_on.is_(None)), i.due_date))).label("oldest_unpaid"),
        )
        .select_from(instalments.join(loans, loans.c.id == i.loan_id))
        .group_by(loans.c.line_id)
        .subquery()
    )


@dataclass(frozen=True, slots=True)
class InstalmentDue:
    """An instalment of an open loan that still owes something, with the terms a reminder
    names: what is unpaid on it and what lateness costs under the loan's product."""

    loan_id: str
    line_id: str
    currency: str
    product: str
    timezone: str  # the loan's business time zone
    number: int
    due_date: date
    unpaid_minor: int  # principal, interest, service fee and late fee still owed on it
    unpaid_scheduled_minor: int  # the same without a late fee
    grace_days: int
    late_fee_minor: int
    penalty_rate: str  # annual, a fraction as text: "0.18"


def _unpaid_scheduled() -> Any:
    """What an instalment still owes of its schedule: principal, interest and service fee (late
    fees and penalty interest, which lateness adds, are apart)."""
    i = instalments.c
    return (
        i.principal_minor
        - i.paid_principal_minor
        + i.interest_minor
        - i.paid_interest_minor
        + i.fee_minor
        - i.paid_fee_minor
    )


def unpaid_instalments(connection: Connection, first: date, last: date) -> list[InstalmentDue]:
    """The unpaid instalments of open loans falling due from `first` to `last`, in loan and
    instalment order; an instalment whose scheduled amount is covered (`paid_on`) is not among
    them, even while charges for lateness stay owed (they never make a payment late)."""
    i = instalments.c
    scheduled = _unpaid_scheduled()
    late = i.late_fee_minor - i.paid_late_fee_minor
    rows = connection.execute(
        select(
            loans.c.id,
            loans.c.line_id,
            loans.c.currency,
            loans.c.product,
            loans.c.timezone,
            i.number,
            i.due_date,
            (scheduled + late).label("unpaid"),
            scheduled.label("scheduled"),
            loans.c.grace_days,
            loans.c.late_fee_minor,
            loans.c.penalty_rate,
        )
        .select_from(instalments.join(loans, loans.c.id == i.loan_id))
        .where(
            loans.c.status == "open",
            i.due_date >= first,
            i.due_date <= last,
            i.paid_on.is_(None),
            (scheduled + late) > 0,
        )
        .order_by(loans.c.id, i.number)
    )
    return [
        InstalmentDue(
            loan_id=row[0],
            line_id=row[1],
            currency=row[2],
            product=row[3],
            timezone=row[4],
            number=row[5],
            due_date=Transaction.read_date(row[6]) or date.min,
            unpaid_minor=int(row[7]),
            unpaid_scheduled_minor=int(row[8]),
            grace_days=row[9],
            late_fee_minor=row[10],
            penalty_rate=row[11],
        )
        for row in rows
    ]


def overdue_of_loans(connection: Connection, loan_ids: list[str], today: date) -> dict[str, int]:
    """Per loan: principal, interest and service fees still owed on instalments due before
    `today` (late fees and penalty interest, which lateness adds, are not in it)."""
    i = instalments.c
    scheduled = _unpaid_scheduled()
    rows = connection.execute(
        select(i.loan_id, func.sum(scheduled))
        .where(i.loan_id.in_(loan_ids), i.due_date < today)
        .group_by(i.loan_id)
    )
    return {row[0]: int(row[1] or 0) for row in rows}


@dataclass(frozen=True, slots=True)
class LoanInStatement:
    """One loan of a monthly statement: its APR and, while it is open, what falls due next."""

    loan_id: str
    apr_percent: str
    next_due_on: date | None
    next_due_minor: int


@dataclass(frozen=True, slots=True)
class LineMonth:
    """A line's borrowing over a calendar month, from its loans and their repayments."""

    line_id: str
    currency: str
    opening_principal_minor: int
    drawn_minor: int
    repaid_minor: int  # every repayment received, whatever it paid
    principal_repaid_minor: int
    interest_paid_minor: int
    penalty_paid_minor: int
    fees_paid_minor: int
    loans: tuple[LoanInStatement, ...]

    @property
    def closing_principal_minor(self) -> int:
        """Principal outstanding at the end of the month."""
        return self.opening_principal_minor + self.drawn_minor - self.principal_repaid_minor


def line_months(
    connection: Connection, currency: str, first: date, last: date
) -> dict[str, LineMonth]:
    """Per line in `currency` that owed principal or moved money from `first` to `last`
    (business dates): its month. Loans opened, and repayments received, are dated by the
    business date they were made on."""
    drawn = connection.execute(
        select(loans.c.id, loans.c.line_id, loans.c.principal_minor, loans.c.start_date)
        .where(loans.c.currency == currency, loans.c.start_date <= last)
        .order_by(loans.c.id)
    ).all()
    paid = _repaid_by_loan(connection, currency, first, last)
    totals: dict[str, list[int]] = {}
    kept: dict[str, list[str]] = {}
    for loan_id, line_id, principal, start in drawn:
        started = Transaction.read_date(start) or date.min
        before, amount, principal_paid, interest, penalty, fees, count = (
            int(v or 0) for v in paid.get(loan_id, (0,) * 7)
        )
        opening = principal - before if started < first else 0
        drawn_now = principal if started >= first else 0
        if not (opening or drawn_now or count):
            continue
        figures = (opening, drawn_now, amount, principal_paid, interest, penalty, fees)
        line = totals.setdefault(line_id, [0] * 7)
        totals[line_id] = [a + b for a, b in zip(line, figures, strict=True)]
        kept.setdefault(line_id, []).append(loan_id)
    described = _loans_in_statement(connection, [i for ids in kept.values() for i in ids])
    return {
        line_id: LineMonth(
            line_id=line_id,
            currency=currency,
            opening_principal_minor=figures[0],
            drawn_minor=figures[1],
            repaid_minor=figures[2],
            principal_repaid_minor=figures[3],
            interest_paid_minor=figures[4],
            penalty_paid_minor=figures[5],
            fees_paid_minor=figures[6],
            loans=tuple(described[loan_id] for loan_id in kept[line_id]),
        )
        for line_id, figures in totals.items()
    }


def _repaid_by_loan(
    connection: Connection, currency: str, first: date, last: date
) -> dict[str, tuple[Any, ...]]:
    """Per loan: principal repaid before `first`, then what repayments from `first` to `last`
    paid in all, of principal, interest, penalty and fees, and how many there were."""
    r = repayments.c
    in_month = and_(r.business_date >= first, r.business_date <= last)
    return {
        row[0]: row[1:]
        for row in connection.execute(
            select(
                r.loan_id,
                func.sum(case((r.business_date < first, r.principal_minor), else_=0)),
                func.sum(case((in_month, r.amount_minor), else_=0)),
                func.sum(case((in_month, r.principal_minor), else_=0)),
                func.sum(case((in_month, r.interest_minor), else_=0)),
                func.sum(case((in_month, r.penalty_minor), else_=0)),
                func.sum(case((in_month, r.fees_minor), else_=0)),
                func.sum(case((in_month, 1), else_=0)),
            )
            .select_from(repayments.join(loans, loans.c.id == r.loan_id))
            .where(loans.c.currency == currency, r.business_date <= last)
            .group_by(r.loan_id)
        )
    }


def _loans_in_statement(connection: Connection, loan_ids: list[str]) -> dict[str, LoanInStatement]:
    """Each loan's APR and its first instalment still owing something (as of now)."""
    i = instalments.c
    unpaid = (
        i.principal_minor
        - i.paid_principal_minor
        + i.interest_minor
        - i.paid_interest_minor
        + i.fee_minor
        - i.paid_fee_minor
        + i.late_fee_minor
        - i.paid_late_fee_minor
    )
    aprs: dict[str, str] = {
        row[0]: row[1]
        for row in connection.execute(
            select(loans.c.id, loans.c.apr_percent).where(loans.c.id.in_(loan_ids))
        )
    }
    next_due: dict[str, tuple[date, int]] = {}
    for loan_id, due, owed in connection.execute(
        select(i.loan_id, i.due_date, unpaid)
        .select_from(instalments.join(loans, loans.c.id == i.loan_id))
        .where(i.loan_id.in_(loan_ids), loans.c.status == "open", unpaid > 0)
        .order_by(i.loan_id, i.number)
    ):
        if loan_id not in next_due:
            next_due[loan_id] = (Transaction.read_date(due) or date.min, int(owed))
    return {
        loan_id: LoanInStatement(
            loan_id,
            aprs[loan_id],
            next_due[loan_id][0] if loan_id in next_due else None,
            next_due[loan_id][1] if loan_id in next_due else 0,
        )
        for loan_id in loan_ids
    }
