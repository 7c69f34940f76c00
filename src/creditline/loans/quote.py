"""A price quote: the full schedule, its totals and its APR, without touching any ledger.

The APR counts every fee (CN-4, US-7): an upfront fee is taken from the advance, so the
borrower receives less than the principal they repay, and a service fee is paid with every
instalment. Late fees and penalty interest are contingent, so no schedule contains them.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from creditline.kernel.errors import CurrencyMismatch, InvalidAmount, InvalidInput
from creditline.kernel.money import Money
from creditline.loans.apr import CashFlow, apr_actuarial, apr_daily
from creditline.loans.aprc import DatedAmount, aprc_percent
from creditline.loans.products import Product, check_apr_cap
from creditline.loans.schedule import Rate, RepaymentMethod, Schedule, build_schedule


def quote(
    principal: Money,
    term_months: int,
    method: RepaymentMethod,
    rate: Rate,
    start_date: dt.date,
    upfront_fee: Money | None = None,
    instalment_fee: Money | None = None,
) -> dict[str, Any]:
    """The schedule of a loan of `principal`, its totals, and its APR by IRR."""
    upfront_minor, instalment_fee_minor = (
        _fee_minor(fee, principal) for fee in (upfront_fee, instalment_fee)
    )
    if upfront_minor >= principal.minor:
        raise InvalidInput("the upfront fee must be less than the principal")
    schedule = build_schedule(method, principal.minor, term_months, start_date, rate)
    return document(schedule, principal.currency, start_date, upfront_minor, instalment_fee_minor)


def product_quote(
    product: Product,
    principal: Money,
    term_months: int,
    method: str | None,
    start_date: dt.date,
) -> tuple[Schedule, dict[str, Any]]:
    """A quote at `product`'s price; refused when its APR is above the profile's cap."""
    if principal.currency != product.currency:
        raise CurrencyMismatch(
            f"product {product.code} lends in {product.currency}",
            expected=product.currency,
            got=principal.currency,
        )
    if principal.minor <= 0:
        raise InvalidAmount("amount must be greater than zero")
    product.check_term(term_months)
    chosen = product.method(method)
    upfront_minor = product.upfront_fee_minor(principal.minor)
    instalment_fee_minor = product.instalment_fee_minor(principal.minor)
    if upfront_minor >= principal.minor:
        raise InvalidInput("the amount is too small to cover the upfront fee")
    schedule = build_schedule(chosen, principal.minor, term_months, start_date, product.rate)
    quoted = document(schedule, principal.currency, start_date, upfront_minor, instalment_fee_minor)
    if product.profile.apr_method == "aprc":
        # EU: the APRC of the Directive's annex is the figure shown first and capped.
        aprc = aprc_of_schedule(schedule, start_date, upfront_minor, instalment_fee_minor)
        quoted = {"aprc_percent": str(aprc), **quoted}
    check_apr_cap(product, Decimal(quoted.get("aprc_percent", quoted["apr_percent"])))
    quoted["product"] = product.code
    quoted["profile"] = product.profile.code
    quoted["apr_cap_percent"] = str(product.profile.apr_cap_percent)
    return schedule, quoted


def aprc_of_schedule(
    schedule: Schedule, start_date: dt.date, upfront_fee_minor: int, instalment_fee_minor: int
) -> Decimal:
    """The APRC of a loan: the principal less the upfront fee is drawn on `start_date`, and
    each instalment is repaid with its fee."""
    drawn = [DatedAmount(start_date, schedule.principal_minor - upfront_fee_minor)]
    repaid = [
        DatedAmount(i.due_date, i.payment_minor + instalment_fee_minor)
        for i in schedule.instalments
        if i.payment_minor + instalment_fee_minor > 0
    ]
    return aprc_percent(drawn, repaid)


def _fee_minor(fee: Money | None, principal: Money) -> int:
    if fee is None:
        return 0
    if fee.currency != principal.currency:
        raise CurrencyMismatch(
            "the fee and the principal are in different currencies",
            expected=principal.currency,
            got=fee.currency,
        )
    if fee.minor < 0:
        raise InvalidInput("a fee cannot be negative")
    return fee.minor


def document(
    schedule: Schedule,
    currency: str,
    start_date: dt.date,
    upfront_fee_minor: int,
    instalment_fee_minor: int,
) -> dict[str, Any]:
    """The quote document of `schedule` with its fees, APR first."""
    flows = [CashFlow(start_date, -(schedule.principal_minor - upfront_fee_minor))] + [
        CashFlow(i.due_date, i.payment_minor + instalment_fee_minor) for i in schedule.instalments
    ]
    instalment_fees_minor = instalment_fee_minor * len(schedule.instalments)
    fees_minor = upfront_fee_minor + instalment_fees_minor

    def money(minor: int) -> str:
        return Money(minor, currency).format()

    return {
        "currency": currency,
        "principal": money(schedule.principal_minor),
        "term_months": len(schedule.instalments),
        "method": schedule.method.value,
        "start_date": start_date.isoformat(),
        # The APR first: it is the figure the borrower compares (CN-4).
        "apr_percent": str(apr_actuarial(flows)),
        "effective_annual_rate_percent": str(apr_daily(flows)),
        "upfront_fee": money(upfront_fee_minor),
        "instalment_fee": money(instalment_fee_minor),
        "total_interest": money(schedule.total_interest_minor),
        "total_fees": money(fees_minor),
        "total_cost": money(schedule.total_interest_minor + fees_minor),
        "total_repaid": money(schedule.total_payment_minor + instalment_fees_minor),
        "instalments": [
            {
                "number": i.number,
                "due_date": i.due_date.isoformat(),
                "payment": money(i.payment_minor + instalment_fee_minor),
                "principal": money(i.principal_minor),
                "interest": money(i.interest_minor),
                "fee": money(instalment_fee_minor),
                "balance_after": money(i.balance_after_minor),
            }
            for i in schedule.instalments
        ],
    }
