"""Loans: what a drawdown would cost, a loan, a line's loans, repayments and refunds."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Response
from pydantic import Field, StrictInt, StrictStr

from creditline.api.bodies import Amount, Body
from creditline.api.deps import IdempotencyKeyDep, LoansDep, PermissionRoute, requires
from creditline.api.documents import answers
from creditline.api.documents import loans as docs
from creditline.api.replies import command_reply
from creditline.kernel.actors import Actor
from creditline.kernel.permissions import Permission

router = APIRouter(prefix="/v1", route_class=PermissionRoute)


class AskQuote(Body):
    amount: Amount
    term_months: StrictInt = Field(examples=[12])
    method: StrictStr | None = None
    product: StrictStr | None = None


class Repay(Body):
    amount: Amount


class PayRefund(Body):
    # None: the whole credit balance.
    amount: Amount | None = None


@router.post("/lines/{line_id}/quotes", **answers(docs.Quote))
def quote(
    line_id: str,
    body: AskQuote,
    loans: LoansDep,
    actor: Annotated[Actor, requires(Permission.DRAW)],
) -> dict[str, Any]:
    """The schedule, totals and APR of a drawdown, without touching the ledger."""
    return loans.quote(actor, line_id, body.amount, body.term_months, body.method, body.product)


@router.get("/lines/{line_id}/loans", **answers(docs.LineLoans))
def line_loans(
    line_id: str, loans: LoansDep, actor: Annotated[Actor, requires(Permission.READ_LINES)]
) -> dict[str, Any]:
    """The line's loans, newest first, each with its state and arrears, and the line's days
    past due."""
    return loans.line_loans(actor, line_id)


@router.get("/loans/{loan_id}", **answers(docs.Loan))
def get_loan(
    loan_id: str, loans: LoansDep, actor: Annotated[Actor, requires(Permission.READ_LINES)]
) -> dict[str, Any]:
    """The loan's schedule with paid, due and overdue state and what settles it today."""
    return loans.get_loan(actor, loan_id)


@router.post("/loans/{loan_id}/repayments", **answers(docs.Repayment, 201))
def repay(
    loan_id: str,
    body: Repay,
    loans: LoansDep,
    actor: Annotated[Actor, requires(Permission.REPAY)],
    key: IdempotencyKeyDep,
    response: Response,
) -> Response:
    """Apply a repayment through the loan's waterfall; repaid principal is available again at
    once, and money beyond what the loan can take is a credit balance."""
    return command_reply(loans.repay(actor, key, loan_id, body.amount), response, 201)


@router.post("/loans/{loan_id}/refunds", **answers(docs.Refund, 201))
def refund(
    loan_id: str,
    body: PayRefund,
    loans: LoansDep,
    actor: Annotated[Actor, requires(Permission.REFUND)],
    key: IdempotencyKeyDep,
    response: Response,
) -> Response:
    """Pay the loan's credit balance (all of it, or `amount`) back to its borrower: recorded,
    journaled on the line and announced; more than the balance is refused
    (`refund_above_credit_balance`)."""
    return command_reply(loans.refund(actor, key, loan_id, body.amount), response, 201)
