"""The loans' side of the books: what the reconciler checks against the ledger's facts.

- a line's outstanding principal equals what its open loans owe;
- every loan's outstanding principal equals its journal (drawn less repaid), so no settled
  loan left principal unrestored, and equals what its instalments still owe of principal;
- every settled loan was announced to its borrower;
- a loan's penalty totals equal its instalments' penalty interest;
- a loan's credit balance equals what its repayments left over, less what was refunded, and
  every refund has its journal entry on the line and its notice.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, func, literal, select

from creditline.ledger.ports import (
    Finding,
    journal_entries_by_loan,
    journal_principal_by_loan,
    line_principals,
)
from creditline.loans.tables import instalments, loans, refunds, repayments
from creditline.notices.outbox import Topic, announced


def loan_checks(connection: Connection) -> Iterable[Finding]:
    """Every finding on the loans' side of the books."""
    yield from _utilisation_equals_open_loans(connection)
    yield from _loans_equal_journal(connection)
    yield from _loans_equal_instalments(connection)
    yield from _settlements_announced(connection)
    yield from _penalty_equals_instalments(connection)
    yield from _credit_equals_overpayments_less_refunds(connection)
    yield from _refunds_journaled_and_announced(connection)


def _utilisation_equals_open_loans(connection: Connection) -> Iterable[Finding]:
    owed = dict(
        connection.execute(
            select(loans.c.line_id, func.sum(loans.c.principal_outstanding_minor))
            .where(loans.c.status == "open")
            .group_by(loans.c.line_id)
        ).all()
    )
    for line_id, principal in line_principals(connection).items():
        by_loans = int(owed.get(line_id) or 0)
        if principal != by_loans:
            yield Finding(
                "utilisation_equals_open_loans",
                line_id,
                f"line principal {principal} but open loans owe {by_loans}",
            )


def _loans_equal_journal(connection: Connection) -> Iterable[Finding]:
    journal = journal_principal_by_loan(connection)
    query = select(loans.c.id, loans.c.line_id, loans.c.status, loans.c.principal_outstanding_minor)
    for loan_id, line_id, status, outstanding in connection.execute(query):
        net = journal.get(loan_id, 0)
        if outstanding != net:
            yield Finding(
                "loan_principal_restored",
                line_id,
                f"loan {loan_id} ({status}) owes {outstanding} but its journal nets {net}: "
                "repaid principal not restored to the line",
            )


def _loans_equal_instalments(connection: Connection) -> Iterable[Finding]:
    unpaid = instalments.c.principal_minor - instalments.c.paid_principal_minor
    owed = (
        select(instalments.c.loan_id, func.sum(unpaid).label("owed"))
        .group_by(instalments.c.loan_id)
        .subquery()
    )
    schedule = func.coalesce(owed.c.owed, literal(0))
    query = (
        select(loans.c.id, loans.c.line_id, loans.c.principal_outstanding_minor, schedule)
        .select_from(loans.outerjoin(owed, owed.c.loan_id == loans.c.id))
        .where(loans.c.principal_outstanding_minor != schedule)
    )
    for row in connection.execute(query):
        yield Finding(
            "loan_equals_schedule",
            row.line_id,
            f"loan {row.id} owes {row.principal_outstanding_minor} of principal but its "
            f"instalments owe {row[3]}",
        )


def _settlements_announced(connection: Connection) -> Iterable[Finding]:
    told = announced(connection, Topic.LOAN_SETTLED.value)
    settled = select(loans.c.id, loans.c.line_id).where(loans.c.status == "settled")
    for loan_id, line_id in connection.execute(settled):
        if loan_id not in told:
            yield Finding("notice_written", line_id, f"settled loan {loan_id} has no notice")


def _penalty_equals_instalments(connection: Connection) -> Iterable[Finding]:
    i = instalments.c
    charged = (
        select(
            i.loan_id,
            func.sum(i.penalty_minor).label("penalty"),
            func.sum(i.paid_penalty_minor).label("paid"),
        )
        .group_by(i.loan_id)
        .subquery()
    )
    query = select(
        loans.c.id, loans.c.line_id, loans.c.penalty_minor, loans.c.paid_penalty_minor,
        charged.c.penalty, charged.c.paid,
    ).select_from(loans.join(charged, charged.c.loan_id == loans.c.id))  # fmt: skip
    for loan_id, line_id, penalty, paid, by_instalments, paid_by_instalments in connection.execute(
        query
    ):
        if (penalty, paid) != (int(by_instalments), int(paid_by_instalments)):
            yield Finding(
                "penalty_equals_instalments",
                line_id,
                f"loan {loan_id} records penalty {penalty} (paid {paid}) but its instalments "
                f"{by_instalments} (paid {paid_by_instalments})",
            )


def _sums_by_loan(connection: Connection, table: Any, column: Any) -> dict[str, int]:
    rows = connection.execute(select(table.c.loan_id, func.sum(column)).group_by(table.c.loan_id))
    return {row[0]: int(row[1] or 0) for row in rows}


def _credit_equals_overpayments_less_refunds(connection: Connection) -> Iterable[Finding]:
    left_over = _sums_by_loan(connection, repayments, repayments.c.credit_minor)
    refunded = _sums_by_loan(connection, refunds, refunds.c.amount_minor)
    query = select(loans.c.id, loans.c.line_id, loans.c.credit_minor)
    for loan_id, line_id, credit in connection.execute(query):
        expected = left_over.get(loan_id, 0) - refunded.get(loan_id, 0)
        if credit != expected:
            yield Finding(
                "credit_equals_overpayments_less_refunds",
                line_id,
                f"loan {loan_id} holds a credit balance of {credit} but its repayments left "
                f"{left_over.get(loan_id, 0)} and {refunded.get(loan_id, 0)} was refunded",
            )


def _refunds_journaled_and_announced(connection: Connection) -> Iterable[Finding]:
    journaled = journal_entries_by_loan(connection, "refund")
    told = announced(connection, Topic.REFUND_PAID.value)
    counted: dict[str, int] = {}
    query = select(refunds.c.id, refunds.c.loan_id, refunds.c.line_id)
    lines: dict[str, str] = {}
    for refund_id, loan_id, line_id in connection.execute(query):
        counted[loan_id] = counted.get(loan_id, 0) + 1
        lines[loan_id] = line_id
        if refund_id not in told:
            yield Finding("notice_written", line_id, f"refund {refund_id} has no notice")
    for loan_id in sorted(set(counted) | set(journaled)):
        if counted.get(loan_id, 0) != journaled.get(loan_id, 0):
            yield Finding(
                "refund_journaled",
                lines.get(loan_id),
                f"loan {loan_id} has {counted.get(loan_id, 0)} refunds but "
                f"{journaled.get(loan_id, 0)} refund entries in its line's journal",
            )
