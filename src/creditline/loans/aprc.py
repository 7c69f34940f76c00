"""The annual percentage rate of charge (APRC) of the EU Consumer Credit Directive.

The Directive's APRC annex (Annex I of Directive 2008/48/EC as amended by Directive
2011/90/EU; Directive (EU) 2023/2225 keeps its equation and remarks) sets one equation: on an
annual basis, the present value of the drawdowns equals the present value of the repayments
and charges,

    sum over k of C_k (1 + X) ** -t_k  =  sum over l of D_l (1 + X) ** -s_l

where X is the APRC, C_k the drawdowns, D_l the repayments and charges, and t_k, s_l the
intervals in years from the first drawdown (remark (b): the first drawdown starts the clock).
X is an *effective* rate: it compounds once a year, unlike the nominal actuarial APR of
`loans/apr.py`.

Intervals (remark (c)): a year has 365 days, or 366 in a leap year, or 12 equal months. An
interval that is not a whole number of months is whole months, counted back from the later
date, and then the days left to the first drawdown; those days are over the days (365 or 366)
of the complete year that ends on the last of them (`years_between`). A date the schedule
reached by adding whole months to the start, clamped to a month's last day (31 January ->
28 February), is a whole number of months away. Weeks are not used: creditline's schedules
are monthly.

The result is rounded half up to one decimal place (remark (d)), or more places when asked.
Pure `Decimal` arithmetic on integer minor units: no float, no I/O, no clock.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, localcontext

from creditline.kernel.errors import InvalidInput
from creditline.kernel.money import AMOUNT_MINOR_MAX
from creditline.kernel.months import MONTHS_PER_YEAR, add_months

# More flows than 100 years of monthly payments is a mistake, not a loan.
FLOWS_MAX = 1200
PLACES_MIN = 1  # remark (d): at least one decimal place
PLACES_MAX = 4
# The solved rate stays within (-99%, 10^9 %) a year: wide enough for payday pricing.
GROWTH_MIN = Decimal("0.01")
GROWTH_MAX = Decimal(10) ** 7
ITERATIONS_MAX = 200
_PRECISION = 40
# Solve ln(1 + X) to this: far below what the fourth decimal place of a percent needs.
_TOLERANCE = Decimal("1e-20")


@dataclass(frozen=True, slots=True)
class DatedAmount:
    """An amount of money that changes hands on a date: a drawdown, a repayment or a charge."""

    date: dt.date
    amount_minor: int

    def __post_init__(self) -> None:
        if type(self.date) is not dt.date:  # a datetime is a date too: refuse it
            raise InvalidInput("an APRC flow's date must be a date")
        if type(self.amount_minor) is not int or not 0 < self.amount_minor <= AMOUNT_MINOR_MAX:
            raise InvalidInput("an APRC flow's amount is a positive number of minor units")


def aprc_percent(
    drawdowns: Sequence[DatedAmount], payments: Sequence[DatedAmount], places: int = 1
) -> Decimal:
    """The APRC in percent, rounded half up to `places` decimal places.

    `drawdowns` are what the borrower receives (the credit, less any fee kept from it);
    `payments` every repayment and charge they pay. Raises `InvalidInput` for a schedule
    without both, with a flow before the first drawdown, or with no rate in range.
    """
    if not drawdowns or not payments:
        raise InvalidInput("an APRC needs at least one drawdown and one payment")
    if len(drawdowns) + len(payments) > FLOWS_MAX:
        raise InvalidInput("too many flows", flows_max=FLOWS_MAX)
    start = min(flow.date for flow in drawdowns)
    if min(flow.date for flow in payments) < start:
        raise InvalidInput("a payment falls before the first drawdown")
    with localcontext() as context:
        context.prec = _PRECISION
        flows = [(Decimal(f.amount_minor), years_between(start, f.date)) for f in drawdowns]
        flows += [(-Decimal(f.amount_minor), years_between(start, f.date)) for f in payments]
    return aprc_of_intervals(flows, places)


def aprc_of_intervals(flows: Sequence[tuple[Decimal, Decimal]], places: int = 1) -> Decimal:
    """The APRC in percent of `(amount, years)` flows: drawdowns positive, repayments and
    charges negative, each `years` after the first drawdown (remark (e): one sum of flows)."""
    if not PLACES_MIN <= places <= PLACES_MAX:
        raise InvalidInput(f"places must be {PLACES_MIN}–{PLACES_MAX}")
    with localcontext() as context:
        context.prec = _PRECISION
        log_growth = _solve([(Decimal(a), Decimal(t)) for a, t in flows])
        rate = log_growth.exp() - 1
        quantum = Decimal(1).scaleb(-places)
        return (rate * 100).quantize(quantum, rounding=ROUND_HALF_UP)


def years_between(start: dt.date, day: dt.date) -> Decimal:
    """The interval from `start` to `day` in years by remark (c): whole months over 12, then the
    days left over the days of the complete year ending on the last of them (365 or 366)."""
    if day < start:
        raise InvalidInput("an interval cannot end before it starts")
    months = (day.year - start.year) * MONTHS_PER_YEAR + day.month - start.month
    while months > 0 and not _whole_months(start, day, months):
        months -= 1
    if months > 0 and add_months(start, months) == day:
        return Decimal(months) / MONTHS_PER_YEAR  # a schedule's due date: whole months
    anchor = add_months(day, -months)  # where the days, counted back, end
    days = (anchor - start).days
    year_before = add_months(anchor, -MONTHS_PER_YEAR)
    return Decimal(months) / MONTHS_PER_YEAR + Decimal(days) / (anchor - year_before).days


def _whole_months(start: dt.date, day: dt.date, months: int) -> bool:
    """Whether `months` whole months fit between `start` and `day`, counted back from `day`
    (or reached from `start` as a schedule reaches its due dates)."""
    return add_months(day, -months) >= start or add_months(start, months) == day


def _solve(flows: list[tuple[Decimal, Decimal]]) -> Decimal:
    """The `u = ln(1 + X)` at which the flows' present value is zero.

    The present value `sum(amount * exp(-years * u))` falls as `u` rises when the repayments
    come after the drawdowns; Newton's method runs inside a bracket that shrinks each step,
    and a step that would leave it is a bisection instead. A flow a whole number of months
    away is discounted by a power of one month's factor: one `exp` a step, not one a flow.
    """
    low, high = GROWTH_MIN.ln(), GROWTH_MAX.ln()
    months = [_whole(years * MONTHS_PER_YEAR) for _, years in flows]

    def value_and_slope(u: Decimal) -> tuple[Decimal, Decimal]:
        month_factor = (-u / MONTHS_PER_YEAR).exp()
        value = slope = Decimal(0)
        for (amount, years), whole in zip(flows, months, strict=True):
            factor = (-years * u).exp() if whole is None else month_factor**whole
            term = amount * factor
            value += term
            slope -= years * term
        return value, slope

    value_low = value_and_slope(low)[0]
    if (value_low > 0) == (value_and_slope(high)[0] > 0):
        raise InvalidInput("no rate in range makes the flows' present value zero")
    u = Decimal("0.1")  # about 10.5% a year
    for _ in range(ITERATIONS_MAX):
        value, slope = value_and_slope(u)
        if value == 0:
            return u
        if (value > 0) == (value_low > 0):
            low, value_low = u, value
        else:
            high = u
        step = u - value / slope if slope != 0 else None
        next_u = step if step is not None and low < step < high else (low + high) / 2
        if abs(next_u - u) < _TOLERANCE or high - low < _TOLERANCE:
            return next_u
        u = next_u
    return u


def _whole(count: Decimal) -> int | None:
    """`count` as an int when it is a whole number (of months), else None."""
    return int(count) if count == count.to_integral_value() else None
