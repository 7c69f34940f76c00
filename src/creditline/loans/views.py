"""What a caller sees of a loan: its schedule with each instalment's state, arrears and payoff.

Amounts are decimal strings in major units.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from creditline.kernel.money import format_minor
from creditline.ledger.ports import Line, line_document
from creditline.loans.arrears import days_past_due, instalment_states
from creditline.loans.model import ARREARS_ORDER, LoanState, bucket, business_date
from creditline.loans.records import Posted, Refunded, Repaid
from creditline.loans.waterfall import Payoff, payoff


def loan_document(
    loan: LoanState, line_id: str, stored: dict[str, Any], now: datetime
) -> dict[str, Any]:
    """The full loan as of `now`: `stored` holds the facts kept beside its state."""

    def money(minor: int) -> str:
        return format_minor(minor, loan.currency)

    today = business_date(loan.terms, now)
    dpd = days_past_due(loan, today)
    states = instalment_states(loan, today)
    overdue = [i for i, state in zip(loan.instalments, states, strict=True) if state == "overdue"]
    past_due = [i for i in loan.instalments if i.due_date < today]
    upcoming = [i for i in loan.instalments if i.due_date >= today and i.unpaid_minor > 0]
    return {
        **loan_summary(loan, line_id, stored, now),
        "method": loan.terms.method.value,
        "start_date": loan.start_date.isoformat(),
        "upfront_fee": money(stored["upfront_fee_minor"]),
        "opened_at": stored["opened_at"],
        "settled_at": stored["settled_at"],
        "business_date": today.isoformat(),
        "grace_days": loan.terms.grace_days,
        # Arrears are cleared one instalment at a time, the oldest first, each through the
        # waterfall's steps in order.
        "arrears_order": ARREARS_ORDER,
        "waterfall": [step.value for step in loan.terms.waterfall],
        "overpayment": loan.terms.overpayment.value,
        "prepayment_effect": loan.terms.prepayment_effect.value,
        "penalty_charged": money(loan.penalty_minor),
        "penalty_outstanding": money(loan.unpaid_penalty_minor),
        "interest_accrued": money(loan.interest_accrued_minor),
        "last_end_of_day": None if loan.eod_date is None else loan.eod_date.isoformat(),
        "overdue": {
            "instalments": [i.number for i in overdue],
            # Everything past its due date, charges for lateness included.
            "amount": money(sum(i.unpaid_minor for i in past_due)),
        },
        "next_due": (
            {"date": upcoming[0].due_date.isoformat(), "amount": money(upcoming[0].unpaid_minor)}
            if upcoming
            else None
        ),
        # What settles the loan today: interest only to date, no fee not yet due.
        "payoff_today": None if loan.settled else _payoff_document(payoff(loan, today), money),
        "dpd": dpd,
        "bucket": bucket(dpd),
        "instalments": _instalment_documents(loan, states, money),
    }


def _payoff_document(settle: Payoff, money: Callable[[int], str]) -> dict[str, str]:
    """What settles the loan, by kind, as `money` writes amounts."""
    return {
        "total": money(settle.total_minor),
        "penalty": money(settle.penalty_minor),
        "fees": money(settle.fees_minor),
        "interest": money(settle.interest_minor),
        "principal": money(settle.principal_minor),
        "reapplied": money(settle.reapplied_minor),
    }


def _instalment_documents(
    loan: LoanState, states: tuple[str, ...], money: Callable[[int], str]
) -> list[dict[str, Any]]:
    """Each instalment with its state (`arrears.instalment_states`)."""
    return [
        {
            "number": i.number,
            "due_date": i.due_date.isoformat(),
            "state": state,
            "principal": money(i.principal_minor),
            "interest": money(i.interest_minor),
            "fee": money(i.fee_minor),
            "late_fee": money(i.late_fee_minor),
            "penalty": money(i.penalty_minor),
            "paid": money(i.paid_minor),
            "outstanding": money(i.unpaid_minor),
            "paid_on": None if i.paid_on is None else i.paid_on.isoformat(),
        }
        for i, state in zip(loan.instalments, states, strict=True)
    ]


def schedule_document(loan: LoanState) -> list[dict[str, Any]]:
    """The instalments still owing something: what each asks for and when (a repayment that
    re-amortised the loan answers with it, and its notice shows it)."""
    return [
        {
            "number": i.number,
            "due_date": i.due_date.isoformat(),
            "amount": format_minor(i.unpaid_minor, loan.currency),
            "principal": format_minor(i.unpaid_principal_minor, loan.currency),
            "interest": format_minor(i.unpaid_interest_minor, loan.currency),
            "fee": format_minor(i.unpaid_fee_minor, loan.currency),
        }
        for i in loan.instalments
        if i.unpaid_minor > 0
    ]


def loan_summary(
    loan: LoanState, line_id: str, stored: dict[str, Any], now: datetime
) -> dict[str, Any]:
    """A loan in a list: what it is, what it owes and how late it is."""

    def money(minor: int) -> str:
        return format_minor(minor, loan.currency)

    dpd = days_past_due(loan, business_date(loan.terms, now))
    return {
        "id": loan.id,
        "line_id": line_id,
        "status": "settled" if loan.settled else "open",
        "product": loan.terms.product,
        "currency": loan.currency,
        "principal": money(loan.principal_minor),
        "principal_outstanding": money(loan.principal_outstanding_minor),
        "term_months": len(loan.instalments),
        "apr_percent": stored["apr_percent"],
        "credit_balance": money(loan.credit_minor),
        "dpd": dpd,
        "bucket": bucket(dpd),
    }


def quote_document(quote: dict[str, Any], line: Line, principal_minor: int) -> dict[str, Any]:
    """A quote on a line: the price, and whether the line has the credit for it now."""
    return {
        **quote,
        "line_id": line.id,
        "available": format_minor(line.available_minor, line.currency),
        "within_available": principal_minor <= line.available_minor,
    }


def posted_document(posted: Posted) -> dict[str, Any]:
    """A hold posted as a loan: what was lent, released and paid out, and the loan's price."""
    currency = posted.line.currency
    disbursed_minor = posted.post_minor - posted.upfront_fee_minor
    return {
        "id": posted.drawdown.id,
        "status": "posted",
        "loan_id": posted.loan_id,
        "amount": format_minor(posted.post_minor, currency),
        "released": format_minor(posted.drawdown.amount_minor - posted.post_minor, currency),
        # The borrower receives the principal less the upfront fee.
        "disbursed": format_minor(disbursed_minor, currency),
        "loan": posted.quote,
        # Who funds the loan (CN-3): each funder's part of the principal.
        "funding": [
            {"funder": funder, "amount": format_minor(minor, currency)}
            for funder, minor in sorted(posted.funding.items())
        ],
        "line": line_document(posted.line),
    }


def repayment_document(repaid: Repaid) -> dict[str, Any]:
    """A repayment: how the waterfall split it, and the loan and line after it."""
    split = repaid.split

    def money(minor: int) -> str:
        return format_minor(minor, repaid.line.currency)

    return {
        "id": repaid.repayment_id,
        "loan_id": repaid.loan.id,
        "amount": money(repaid.amount_minor),
        "business_date": repaid.business_date,
        "allocation": {
            "penalty": money(split.penalty_minor),
            "fees": money(split.fees_minor),
            "interest": money(split.interest_minor),
            "principal": money(split.principal_minor),
            "prepaid_principal": money(split.prepaid_minor),
            "reapplied": money(split.reapplied_minor),
            "credit": money(split.credit_minor),
        },
        "loan_status": "settled" if split.settled else "open",
        "principal_outstanding": money(repaid.loan.principal_outstanding_minor),
        "credit_balance": money(repaid.loan.credit_minor),
        # When a prepayment re-amortised the instalments after the running one: the schedule
        # the borrower now pays (null otherwise).
        "rescheduled": split.rescheduled,
        "schedule": schedule_document(repaid.loan) if split.rescheduled else None,
        "line": line_document(repaid.line),
    }


def refund_document(refunded: Refunded) -> dict[str, Any]:
    """A credit balance paid back to the borrower, and what is left of it."""
    currency = refunded.line.currency
    return {
        "id": refunded.refund_id,
        "loan_id": refunded.loan.id,
        "amount": format_minor(refunded.amount_minor, currency),
        "business_date": refunded.business_date,
        "credit_balance": format_minor(refunded.loan.credit_minor, currency),
        "line": line_document(refunded.line),
    }
