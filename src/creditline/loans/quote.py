"""A price quote: the full schedule, its totals and its APR, without touching any ledger.

The APR counts every fee (CN-4, US-7): an upfront fee is taken from the advance, so the
borrower receives less than the principal they repay, and a service fee is paid with every
instalment. Late fees and penalty interest are contingent, so no schedule contains them.

A quote by a product is refused above its profile's rate cap on the drawdown date, measured on
what the borrower pays: the rate itself, the APR (or APRC) and, where the profile says so, the
effective annual rate, each on this drawdown's schedule and on the dearest calendar
(`loans/caps.py`).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from creditline.kernel.errors import CurrencyMismatch, InvalidAmount, InvalidInput
from creditline.kernel.money import Money
from creditline.loans.apr import apr_actuarial, apr_daily
from creditline.loans.caps import Calendar, Figure, Measure, check_figures, rate_figures
from creditline.loans.every_date import Price, aprc_of_schedule, cash_flows, dearest_above
from creditline.loans.products import Product
from creditline.loans.schedule import (
    DailyRate,
    DayCount,
    Rate,
    RepaymentMethod,
    Schedule,
    build_schedule,
)

_HUNDRED = Decimal(100)
_PLACES = Decimal("0.01")


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
    quoted = document(schedule, principal.currency, start_date, upfront_minor, instalment_fee_minor)
    return {**quoted, **rate_document(rate)}


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
    chosen = product.method(method)
    product.check_term(term_months, chosen)
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
    cap = product.profile.rate_cap(start_date)
    check_figures(_drawdown_figures(product, quoted), cap, product.code)
    price = Price(
        product.rate, chosen, principal.minor, term_months, upfront_minor, instalment_fee_minor
    )
    dearest = dearest_above(price, _capped(product), cap.percent)
    check_figures([] if dearest is None else [dearest], cap, product.code)
    quoted.update(rate_document(product.rate))
    quoted["product"] = product.code
    quoted["profile"] = product.profile.code
    quoted["apr_cap_percent"] = str(cap.percent)
    quoted["rate_cap_basis"] = cap.basis
    return schedule, quoted


def rate_document(rate: Rate) -> dict[str, str]:
    """The quoted rate and its day count: an annual rate with its convention, or a daily rate
    charged on every actual day (ACT/365)."""
    if isinstance(rate, DailyRate):
        return {
            "daily_rate_percent": _percent_text(rate.daily_rate),
            "day_count": DayCount.ACT_365.value,
        }
    return {
        "annual_rate_percent": _percent_text(rate.annual_rate),
        "day_count": rate.day_count.value,
    }


def _percent_text(fraction: Decimal) -> str:
    """A rate given as a fraction, in percent with at least two places: 0.12 is "12.00"."""
    percent = fraction * _HUNDRED
    shown = percent.quantize(_PLACES)
    return str(shown if shown == percent else percent.normalize())


def _capped(product: Product) -> tuple[Measure, ...]:
    """What the product's profile caps besides the rate itself: the APR or the APRC, and the
    effective annual rate where the profile says so."""
    profile = product.profile
    capped = [Measure.APRC if profile.apr_method == "aprc" else Measure.APR]
    if profile.cap_effective_annual_rate:
        capped.append(Measure.EFFECTIVE_ANNUAL_RATE)
    return tuple(capped)


def _drawdown_figures(product: Product, quoted: dict[str, Any]) -> list[Figure]:
    """The product's rate, and what this drawdown's flows cost, in the measures it is capped
    on (loans/caps.py)."""
    keys = {
        Measure.APR: "apr_percent",
        Measure.APRC: "aprc_percent",
        Measure.EFFECTIVE_ANNUAL_RATE: "effective_annual_rate_percent",
    }
    return rate_figures(product.rate) + [
        Figure(measure, Decimal(quoted[keys[measure]]), Calendar.DRAWDOWN)
        for measure in _capped(product)
    ]


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
    flows = cash_flows(schedule, start_date, upfront_fee_minor, instalment_fee_minor)
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
