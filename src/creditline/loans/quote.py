"""A price quote: the full schedule, its totals and its APR, without touching any ledger.

The APR counts every fee (CN-4, US-7): an upfront fee is taken from the advance, so the
borrower receives less than the principal they repay.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from creditline.kernel.errors import CurrencyMismatch, InvalidInput
from creditline.kernel.money import Money
from creditline.loans.apr import CashFlow, apr_actuarial, apr_daily
from creditline.loans.schedule import Rate, RepaymentMethod, build_schedule


def quote(
    principal: Money,
    term_months: int,
    method: RepaymentMethod,
    rate: Rate,
    start_date: dt.date,
    upfront_fee: Money | None = None,
) -> dict[str, Any]:
    """The schedule of a loan of `principal`, its totals, and its APR by IRR."""
    if upfront_fee is not None and upfront_fee.currency != principal.currency:
        raise CurrencyMismatch(
            "the fee and the principal are in different currencies",
            expected=principal.currency,
            got=upfront_fee.currency,
        )
    fee_minor = 0 if upfront_fee is None else upfront_fee.minor
    if not 0 <= fee_minor < principal.minor:
        raise InvalidInput("the upfront fee must be at least zero and less than the principal")
    schedule = build_schedule(method, principal.minor, term_months, start_date, rate)
    flows = [CashFlow(start_date, -(principal.minor - fee_minor))] + [
        CashFlow(i.due_date, i.payment_minor) for i in schedule.instalments
    ]

    def money(minor: int) -> str:
        return Money(minor, principal.currency).format()

    return {
        "currency": principal.currency,
        "principal": money(principal.minor),
        "term_months": term_months,
        "method": method.value,
        "start_date": start_date.isoformat(),
        # The APR first: it is the figure the borrower compares (CN-4).
        "apr_percent": str(apr_actuarial(flows)),
        "effective_annual_rate_percent": str(apr_daily(flows)),
        "upfront_fee": money(fee_minor),
        "total_interest": money(schedule.total_interest_minor),
        "total_fees": money(fee_minor),
        "total_cost": money(schedule.total_interest_minor + fee_minor),
        "total_repaid": money(schedule.total_payment_minor),
        "instalments": [
            {
                "number": i.number,
                "due_date": i.due_date.isoformat(),
                "payment": money(i.payment_minor),
                "principal": money(i.principal_minor),
                "interest": money(i.interest_minor),
                "balance_after": money(i.balance_after_minor),
            }
            for i in schedule.instalments
        ],
    }
