"""The loans' side of the books: what the reconciler checks against the ledger's facts.

- a line's outstanding principal equals what its open loans owe;
- every loan's outstanding principal equals its journal (drawn less repaid), so no settled
  loan left principal unrestored, and equals what its instalments still owe of principal;
- every settled loan was announced to its borrower.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Connection, func, literal, select

from creditline.ledger.ports import Finding, journal_principal_by_loan, line_principals
from creditline.loans.tables import instalments, loans
from creditline.notices.outbox import Topic, announced


def loan_checks(connection: Connection) -> Iterable[Finding]:
    """Every finding on the loans' side of the books."""
    yield from _utilisation_equals_open_loans(connection)
    yield from _loans_equal_journal(connection)
    yield from _loans_equal_instalments(connection)
    yield from _settlements_announced(connection)


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
