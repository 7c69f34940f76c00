"""The loans' writes as statements, and a repayment's spelled out as one PostgreSQL statement
with the line's movement, its message and its idempotency key (docs/decisions/0030)."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from sqlalchemy import bindparam, insert, update

from creditline.db.commands import key_insert
from creditline.ledger.ports import LINE_PART, movement_parts, movement_statement
from creditline.loans.model import InstalmentState
from creditline.loans.tables import instalments, loans, repayments
from creditline.notices.outbox import message_insert

INSTALMENT_FIELDS = tuple(f.name for f in fields(InstalmentState))
# The parts of a repayment's one statement that must change exactly one row.
REPAYMENT_GUARDED = ("loan_", "instalment_", LINE_PART)


def insert_all(table: Any, prefix: str = "") -> Any:
    """An INSERT of every column of `table`, its bound names the columns' after `prefix`."""
    return insert(table).values({c.name: bindparam(prefix + c.name) for c in table.c})


def loan_save(prefix: str = "") -> Any:
    """The loan row's state as `LoanStore.save` writes it; bound names after `prefix`."""
    columns = (
        "principal_outstanding_minor",
        "status",
        "settled_at",
        "penalty_minor",
        "paid_penalty_minor",
        "credit_minor",
        "interest_accrued_minor",
        "dpd",
        "eod_date",
    )
    return (
        update(loans)
        .where(loans.c.id == bindparam(prefix + "id"))
        .values({name: bindparam(prefix + name) for name in columns})
    )


def instalment_save(prefix: str = "") -> Any:
    """One instalment's amounts and paid-on date; bound names after `prefix`."""
    return (
        update(instalments)
        .where(
            instalments.c.loan_id == bindparam(prefix + "loan_id"),
            instalments.c.number == bindparam(prefix + "number"),
        )
        .values({name: bindparam(prefix + name) for name in INSTALMENT_FIELDS[2:]})
    )


def repayment_parts() -> list[tuple[str, Any]]:
    """A repayment's writes as `LoanService.repay` sends them when it changes one instalment
    and queues one message: the loan, the instalment, the repayment, the line's movement, the
    message and the command's idempotency key."""
    loan_parts = [("loan_", loan_save()), ("instalment_", instalment_save())]
    loan_parts.append(("repayment_", insert_all(repayments)))
    return [*loan_parts, *movement_parts(), ("message_", message_insert()), ("key_", key_insert())]


def repayment_statement() -> Any:
    """A repayment's writes (`repayment_parts`) as one PostgreSQL statement: the loan's and
    the instalment's updates return their row, which the movement's guard joins."""
    saved_loan = loan_save("loan_").returning(loans.c.id).cte("saved_loan")
    saved = instalment_save("instalment_").returning(instalments.c.number)
    saved_instalment = saved.cte("saved_instalment")
    return movement_statement(saved_loan, saved_instalment).add_cte(
        saved_loan,
        saved_instalment,
        insert_all(repayments, "repayment_").cte("recorded_repayment"),
        message_insert("message_").cte("queued_message"),
        key_insert("key_").cte("stored_key"),
    )
