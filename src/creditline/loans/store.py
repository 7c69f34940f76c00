"""Loan statements: a loan's frozen terms and schedule in, its state out, its changes back.

The ledger locks the loan's row (with its line's) before any of these run inside a command; end
of day locks the loans it works on. The instalment rows are only ever written under that lock.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import bindparam, select, update

from creditline.db.unit_of_work import Database, Transaction
from creditline.kernel.ids import is_id
from creditline.kernel.invariant import fail
from creditline.ledger.ports import MOVEMENT_GUARD
from creditline.loans.model import (
    Allocation,
    InstalmentState,
    LoanState,
    LoanTerms,
    Overpayment,
    PrepaymentEffect,
    Step,
)
from creditline.loans.schedule import AnnualRate, DailyRate, DayCount, RepaymentMethod
from creditline.loans.statements import (
    INSTALMENT_FIELDS,
    REPAYMENT_GUARDED,
    insert_all,
    instalment_save,
    loan_save,
    repayment_parts,
    repayment_statement,
)
from creditline.loans.tables import instalments, loan_funding, loans, refunds, repayments

_LOAN_STATE_COLUMNS = (
    loans.c.id,
    loans.c.currency,
    loans.c.principal_minor,
    loans.c.start_date,
    loans.c.product,
    loans.c.method,
    loans.c.rate_kind,
    loans.c.rate,
    loans.c.day_count_basis,
    loans.c.day_count,
    loans.c.instalment_fee_minor,
    loans.c.late_fee_minor,
    loans.c.penalty_rate,
    loans.c.penalty_basis_days,
    loans.c.grace_days,
    loans.c.waterfall,
    loans.c.overpayment,
    loans.c.timezone,
    loans.c.prepayment_effect,
    loans.c.credit_minor,
    loans.c.interest_accrued_minor,
    loans.c.dpd,
    loans.c.eod_date,
)


def rate_columns(terms: LoanTerms) -> dict[str, Any]:
    """How a loan's rate is stored: kind, the exact decimal as text, and the day-count basis."""
    if isinstance(terms.rate, AnnualRate):
        return {
            "rate_kind": "annual",
            "rate": str(terms.rate.annual_rate),
            "day_count_basis": terms.rate.day_count.basis_days,
            "day_count": terms.rate.day_count.value,
        }
    return {
        "rate_kind": "daily",
        "rate": str(terms.rate.daily_rate),
        "day_count_basis": 365,
        "day_count": DayCount.ACT_365.value,
    }


def terms_of(row: dict[str, Any]) -> LoanTerms:
    """The frozen terms of a stored loan."""
    rate = (
        AnnualRate(Decimal(row["rate"]), DayCount(row["day_count"]))
        if row["rate_kind"] == "annual"
        else DailyRate(Decimal(row["rate"]))
    )
    return LoanTerms(
        product=row["product"],
        method=RepaymentMethod(row["method"]),
        rate=rate,
        instalment_fee_minor=row["instalment_fee_minor"],
        late_fee_minor=row["late_fee_minor"],
        penalty_annual_rate=Decimal(row["penalty_rate"]),
        penalty_basis_days=row["penalty_basis_days"],
        grace_days=row["grace_days"],
        waterfall=tuple(Step(s) for s in row["waterfall"].split(",")),
        overpayment=Overpayment(row["overpayment"]),
        timezone=row["timezone"],
        prepayment_effect=PrepaymentEffect(row["prepayment_effect"]),
    )


class LoanStore:
    """Prepared statements for one database; methods take the transaction to run in."""

    def __init__(self, db: Database) -> None:
        p = db.prepare
        self._loan_insert = p(insert_all(loans))
        self._instalment_insert = p(insert_all(instalments))
        self._funding_insert = p(insert_all(loan_funding))
        self._repayment_insert = p(insert_all(repayments))
        self._refund_insert = p(insert_all(refunds))
        self._state = p(select(*_LOAN_STATE_COLUMNS).where(loans.c.id == bindparam("id")))
        self._instalments = p(
            select(*(instalments.c[name] for name in INSTALMENT_FIELDS))
            .where(instalments.c.loan_id == bindparam("id"))
            .order_by(instalments.c.number)
        )
        self._line_of = p(select(loans.c.line_id).where(loans.c.id == bindparam("id")))
        self._locked = p(
            select(loans.c.line_id, loans.c.status)
            .where(loans.c.id == bindparam("id"))
            .with_for_update()
        )
        self._of_line = p(
            select(loans.c.id)
            .where(loans.c.line_id == bindparam("id"))
            .order_by(loans.c.id.desc())
            .limit(bindparam("limit"))
        )
        self._facts = p(
            select(
                loans.c.apr_percent,
                loans.c.upfront_fee_minor,
                loans.c.opened_at,
                loans.c.settled_at,
            ).where(loans.c.id == bindparam("id"))
        )
        self._loan_save = p(loan_save())
        self._credit_take = p(
            update(loans)
            .where(
                loans.c.id == bindparam("id"),
                loans.c.credit_minor >= bindparam("amount_minor"),
            )
            .values(credit_minor=loans.c.credit_minor - bindparam("amount_minor"))
        )
        self._instalment_save = p(instalment_save())
        db.one_statement(
            repayment_parts(), repayment_statement(), REPAYMENT_GUARDED, MOVEMENT_GUARD
        )

    def insert(
        self,
        tx: Transaction,
        loan: LoanState,
        *,
        line_id: str,
        drawdown_id: str,
        apr_percent: str,
        upfront_fee_minor: int,
        opened_at: datetime,
    ) -> None:
        """Store a new loan with its frozen terms and schedule."""
        terms = loan.terms
        tx.execute(
            self._loan_insert,
            {
                "id": loan.id,
                "line_id": line_id,
                "drawdown_id": drawdown_id,
                "currency": loan.currency,
                "principal_minor": loan.principal_minor,
                "principal_outstanding_minor": loan.principal_outstanding_minor,
                "term_months": len(loan.instalments),
                "status": "open",
                "opened_at": tx.time(opened_at),
                "settled_at": None,
                "product": terms.product,
                "method": terms.method.value,
                **rate_columns(terms),
                "start_date": tx.date(loan.start_date),
                "apr_percent": apr_percent,
                "upfront_fee_minor": upfront_fee_minor,
                "instalment_fee_minor": terms.instalment_fee_minor,
                "late_fee_minor": terms.late_fee_minor,
                "penalty_rate": str(terms.penalty_annual_rate),
                "penalty_basis_days": terms.penalty_basis_days,
                "grace_days": terms.grace_days,
                "waterfall": ",".join(step.value for step in terms.waterfall),
                "overpayment": terms.overpayment.value,
                "timezone": terms.timezone,
                "prepayment_effect": terms.prepayment_effect.value,
                "penalty_minor": 0,
                "paid_penalty_minor": 0,
                "credit_minor": 0,
                "interest_accrued_minor": 0,
                "dpd": 0,
                "eod_date": None,
            },
        )
        for instalment in loan.instalments:
            row = {name: getattr(instalment, name) for name in INSTALMENT_FIELDS}
            row["due_date"] = tx.date(instalment.due_date)
            row["paid_on"] = tx.date(instalment.paid_on)
            tx.execute(self._instalment_insert, {"loan_id": loan.id, **row})

    def insert_funding(
        self, tx: Transaction, loan_id: str, split: dict[str, int], amounts: dict[str, int]
    ) -> None:
        """Store who funds a new loan: each funder's share (basis points) and amount."""
        for funder, amount_minor in amounts.items():
            row = {"funder": funder, "share_basis_points": split[funder]}
            tx.execute(
                self._funding_insert, {"loan_id": loan_id, "amount_minor": amount_minor, **row}
            )

    def load(self, tx: Transaction, loan_id: str) -> LoanState | None:
        """The loan's state as the pure model sees it (the caller holds the loan's lock)."""
        return self.load_ahead(tx, loan_id)()

    def load_ahead(self, tx: Transaction, loan_id: str) -> Callable[[], LoanState | None]:
        """`load`, its two reads sent now and read when the function returned is called: in a
        pipeline they travel with the transaction's next read (`Transaction.read_ahead`).
        Every writer of a loan or its instalments locks the loan first, so under its lock
        what they return holds until the transaction ends."""
        state = tx.read_ahead(self._state, {"id": loan_id})
        instalments = tx.read_ahead(self._instalments, {"id": loan_id})
        return lambda: self._loaded(state(), instalments())

    @staticmethod
    def _loaded(
        state: list[tuple[Any, ...]], instalments: list[tuple[Any, ...]]
    ) -> LoanState | None:
        if not state:
            return None
        row = dict(zip((c.name for c in _LOAN_STATE_COLUMNS), state[0], strict=True))
        items = []
        for values in instalments:
            item = dict(zip(INSTALMENT_FIELDS, values, strict=True))
            item["due_date"] = Transaction.read_date(item["due_date"])
            item["paid_on"] = Transaction.read_date(item["paid_on"])
            items.append(InstalmentState(**item))
        return LoanState(
            id=row["id"],
            currency=row["currency"],
            principal_minor=row["principal_minor"],
            start_date=Transaction.read_date(row["start_date"]),  # type: ignore[arg-type]
            terms=terms_of(row),
            instalments=tuple(items),
            credit_minor=row["credit_minor"],
            interest_accrued_minor=row["interest_accrued_minor"],
            dpd=row["dpd"],
            eod_date=Transaction.read_date(row["eod_date"]),
        )

    def save(self, tx: Transaction, before: LoanState, after: LoanState, now: datetime) -> None:
        """Write what changed from `before` to `after`: the loan row and changed instalments."""
        tx.expect_one(
            f"loan {after.id} vanished under its lock",
            self._loan_save,
            {
                "id": after.id,
                "principal_outstanding_minor": after.principal_outstanding_minor,
                "status": "settled" if after.settled else "open",
                "settled_at": tx.time(now) if after.settled else None,
                "penalty_minor": after.penalty_minor,
                "paid_penalty_minor": after.paid_penalty_minor,
                "credit_minor": after.credit_minor,
                "interest_accrued_minor": after.interest_accrued_minor,
                "dpd": after.dpd,
                "eod_date": tx.date(after.eod_date),
            },
        )
        for old, new in zip(before.instalments, after.instalments, strict=True):
            if old != new:
                row = {name: getattr(new, name) for name in INSTALMENT_FIELDS}
                row["due_date"] = tx.date(new.due_date)
                row["paid_on"] = tx.date(new.paid_on)
                tx.expect_one(
                    f"instalment {new.number} of loan {after.id} vanished",
                    self._instalment_save,
                    {"loan_id": after.id, **row},
                )

    def take_credit(self, tx: Transaction, loan_id: str, amount_minor: int) -> None:
        """Take `amount_minor` off the loan's credit balance (relatively; never below zero)."""
        tx.expect_one(
            f"loan {loan_id} has less credit than {amount_minor} under its lock",
            self._credit_take,
            {"id": loan_id, "amount_minor": amount_minor},
        )

    def lock(self, tx: Transaction, loan_id: str) -> tuple[str, str] | None:
        """The loan's line id and status, its row locked (a repayment locks the loan, then its
        line: nothing locks them the other way round)."""
        if not is_id(loan_id):
            return None
        row = tx.one(self._locked, {"id": loan_id})
        return None if row is None else (row[0], row[1])

    def line_of(self, tx: Transaction, loan_id: str) -> str | None:
        """The id of the line the loan was drawn on."""
        row = tx.one(self._line_of, {"id": loan_id})
        return None if row is None else row[0]

    def ids_of_line(self, tx: Transaction, line_id: str, limit: int) -> list[str]:
        """The line's loans, newest first (ids are time-ordered), at most `limit`."""
        tx.cursor.execute(self._of_line.sql, self._of_line.bind({"id": line_id, "limit": limit}))
        return [row[0] for row in tx.cursor.fetchall()]

    def facts(self, tx: Transaction, loan_id: str) -> dict[str, Any]:
        """What is kept beside the loan's state: its APR, upfront fee and when it opened and
        settled."""
        row = tx.one(self._facts, {"id": loan_id}) or fail(f"loan {loan_id} vanished")
        opened, settled = (Transaction.read_time(value) for value in row[2:4])
        return {
            "apr_percent": row[0],
            "upfront_fee_minor": row[1],
            "opened_at": None if opened is None else opened.isoformat(),
            "settled_at": None if settled is None else settled.isoformat(),
        }

    def insert_repayment(
        self,
        tx: Transaction,
        repayment_id: str,
        loan: LoanState,
        line_id: str,
        amount_minor: int,
        allocation: Allocation,
        business_date: Any,
        now: datetime,
    ) -> None:
        """Record a repayment and how the waterfall split it."""
        tx.execute(
            self._repayment_insert,
            {
                "id": repayment_id,
                "loan_id": loan.id,
                "line_id": line_id,
                "amount_minor": amount_minor,
                "principal_minor": allocation.principal_minor,
                "penalty_minor": allocation.penalty_minor,
                "fees_minor": allocation.fees_minor,
                "interest_minor": allocation.interest_minor,
                "prepaid_minor": allocation.prepaid_minor,
                "credit_minor": allocation.credit_minor,
                "reapplied_minor": allocation.reapplied_minor,
                "business_date": tx.date(business_date),
                "created_at": tx.time(now),
            },
        )

    def insert_refund(
        self,
        tx: Transaction,
        refund_id: str,
        loan: LoanState,
        line_id: str,
        amount_minor: int,
        actor_subject: str,
        actor_role: str,
        business_date: Any,
        now: datetime,
    ) -> None:
        """Record a credit balance paid back to the borrower."""
        tx.execute(
            self._refund_insert,
            {
                "id": refund_id,
                "loan_id": loan.id,
                "line_id": line_id,
                "amount_minor": amount_minor,
                "business_date": tx.date(business_date),
                "actor_subject": actor_subject,
                "actor_role": actor_role,
                "created_at": tx.time(now),
            },
        )
