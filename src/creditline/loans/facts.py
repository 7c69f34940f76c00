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
from creditline.loans.tables import instalments, loans

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
    return {
        row.line_id: RepaymentFacts(
            settled_loans=row.settled or 0,
            dpd=row.dpd or 0,
            instalments_fallen_due=row.fallen_due or 0,
            instalments_paid_on_time=row.on_time or 0,
            days_late_max_12m=row.late_paid_max or 0,
            oldest_unpaid_due_date=Transaction.read_date(row.oldest_unpaid),
        )
        for row in connection.execute(query)
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
