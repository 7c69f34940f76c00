"""Annual percentage rate of a loan from its full cash-flow schedule.

Two methods, both pure Decimal arithmetic on integer minor units:

- `apr_actuarial` follows Regulation Z Appendix J (US-7), general equation (b)(8): each flow
  is discounted to the start of the term as ``amount / ((1 + f*i) * (1 + i)**t)``, where ``t``
  is the number of whole unit periods and ``f`` the fraction of a unit period left over. The
  APR is the *nominal* rate: ``i`` times the unit periods in a year ((b)(1)). The unit period
  is the standard interval the transaction follows most often ((b)(3)-(5), counted in
  `loans/unit_periods.py`): a month for creditline's schedules (odd days over 30, 12 a year,
  and months measured back by the month-end rule of (b)(3)(iv), so that a loan drawn on the
  31st and due on the last day of later months counts whole months). A single advance repaid
  by a single payment has its term as its unit period, but at most a year ((b)(4)(ii); see
  `_single_advance_single_payment`). The same IRR-on-the-schedule figure is what PBOC
  Announcement 2021 No. 3 (CN-4) asks for, so it is the APR shown to Chinese borrowers too.
- `apr_daily` is the XIRR convention: flows discounted by ``(1 + r) ** (days / 365)`` and the
  *effective* annual rate ``r`` returned. It compounds within the year, so for the same
  schedule it is higher than the nominal actuarial APR (12% nominal monthly is about 12.68%
  effective), and it counts actual days instead of equal months.

Both return a percent quantized to 0.01 (``Decimal("12.00")``).

Appendix J is 12 CFR part 1026, Appendix J (https://www.consumerfinance.gov/rules-policy/
regulations/1026/J/; also http://www.fdic.gov/regulations/laws/rules/6500-3550.html). The
paragraph numbers cited here were checked against public transcriptions of its text.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, localcontext

from creditline.kernel.errors import InvalidInput
from creditline.kernel.money import AMOUNT_MINOR_MAX
from creditline.kernel.months import MONTHS_PER_YEAR, months_and_odd_days, series_day_of
from creditline.loans.unit_periods import YEAR, Interval, unit_period

# A schedule longer than 100 years of monthly flows is a mistake, not a loan.
FLOWS_MAX = 1200
# Odd days in a unit period of a year, or of a term under a year, are over 365
# (Appendix J (b)(5)(v)(B) and (vii)).
DAYS_PER_YEAR = Decimal(365)
# Bracket for the solved rate: a rate is "per unit period" for the actuarial method and
# "per year" for the daily one. The bracket is wide enough for payday-style pricing.
RATE_MIN = Decimal("-0.99")
RATE_PER_UNIT_PERIOD_MAX = Decimal(100)
RATE_PER_YEAR_MAX = Decimal(10) ** 9
# Solve to within 0.0001 percentage point of the reported annual rate.
TOLERANCE_PERCENT = Decimal("0.0001")
ITERATIONS_MAX = 200
_PERCENT_QUANTUM = Decimal("0.01")
_PRECISION = 40
# Where Newton's method starts: about 12% a year.
GUESS_PER_YEAR = Decimal("0.12")


@dataclass(frozen=True, slots=True)
class CashFlow:
    """One dated flow seen from the lender: advances negative, payments positive."""

    date: dt.date
    amount_minor: int

    def __post_init__(self) -> None:
        if type(self.date) is not dt.date:  # datetime is a date subclass; refuse it too
            raise InvalidInput("cash flow date must be a date")
        if type(self.amount_minor) is not int:
            raise InvalidInput("cash flow amount must be an integer number of minor units")
        if abs(self.amount_minor) > AMOUNT_MINOR_MAX:
            raise InvalidInput("cash flow amount is too large", amount_minor_max=AMOUNT_MINOR_MAX)


def apr_actuarial(flows: Sequence[CashFlow]) -> Decimal:
    """APR in percent by the Appendix J actuarial method.

    The term starts at the earliest flow. The unit period is the standard interval the
    transaction's periods follow most often (Appendix J (b)(4)(i), `unit_periods.unit_period`):
    a month for creditline's schedules; a day, a week, a semimonth or several weeks or months
    for others. A single advance repaid by a single payment has the term as its unit period, up
    to a year, and a year for a longer term ((b)(4)(ii)). Raises `InvalidInput` for an empty or
    one-sided schedule, or one with no rate in range.
    """
    ordered = _checked(flows)
    if sum(flow.amount_minor for flow in ordered) == 0:
        return _percent(Decimal(0))  # repaid exactly what was advanced: no cost at any timing
    single = _single_advance_single_payment(ordered)
    if single is not None:
        return single
    start = ordered[0].date
    payment_dates = [flow.date for flow in ordered if flow.amount_minor > 0]
    unit = unit_period(
        start, [flow.date for flow in ordered if flow.amount_minor < 0], payment_dates
    )
    # A monthly series measures its months from its own day of the month ((b)(3)(iv)).
    series_day = series_day_of(payment_dates) if unit.interval is Interval.MONTH else None
    fractions = [
        (Decimal(flow.amount_minor), *unit.count(start, flow.date, series_day)) for flow in ordered
    ]

    def present_value(rate: Decimal) -> tuple[Decimal, Decimal]:
        """The present value at `rate` and its slope d/d(rate)."""
        value = slope = Decimal(0)
        for amount, periods, fraction in fractions:
            odd = 1 + fraction * rate
            term = amount / (odd * (1 + rate) ** periods)
            value += term
            slope -= term * (fraction / odd + periods / (1 + rate))
        return value, slope

    tolerance = TOLERANCE_PERCENT / (unit.per_year * 100)
    guess = GUESS_PER_YEAR / unit.per_year
    rate = _solve(present_value, RATE_MIN, RATE_PER_UNIT_PERIOD_MAX, tolerance, guess)
    return _percent(rate * unit.per_year)


def apr_daily(flows: Sequence[CashFlow]) -> Decimal:
    """Effective annual rate in percent, XIRR style: ``(1 + r) ** (days / 365)`` discounting.

    Raises `InvalidInput` for an empty or one-sided schedule or one with no rate in range.
    """
    ordered = _checked(flows)
    if sum(flow.amount_minor for flow in ordered) == 0:
        return _percent(Decimal(0))
    start = ordered[0].date
    terms = [
        (Decimal(flow.amount_minor), Decimal((flow.date - start).days) / DAYS_PER_YEAR)
        for flow in ordered
    ]

    def present_value(rate: Decimal) -> tuple[Decimal, Decimal]:
        """The present value at `rate` and its slope d/d(rate); one logarithm per rate."""
        log_growth = (1 + rate).ln()
        value = slope = Decimal(0)
        for amount, years in terms:
            term = amount * (-years * log_growth).exp()
            value += term
            slope -= term * years / (1 + rate)
        return value, slope

    rate = _solve(
        present_value, RATE_MIN, RATE_PER_YEAR_MAX, TOLERANCE_PERCENT / 100, GUESS_PER_YEAR
    )
    return _percent(rate)


def _checked(flows: Sequence[CashFlow]) -> list[CashFlow]:
    if len(flows) > FLOWS_MAX:
        raise InvalidInput("too many cash flows", flows_max=FLOWS_MAX)
    if not any(flow.amount_minor < 0 for flow in flows):
        raise InvalidInput("a schedule needs at least one advance (a negative flow)")
    if not any(flow.amount_minor > 0 for flow in flows):
        raise InvalidInput("a schedule needs at least one payment (a positive flow)")
    # A zero flow is no payment: it neither moves the rate nor sets the unit period.
    return sorted((flow for flow in flows if flow.amount_minor), key=lambda flow: flow.date)


def _single_advance_single_payment(ordered: list[CashFlow]) -> Decimal | None:
    """APR of one advance repaid by one payment (None for any other schedule).

    Appendix J (b)(4)(ii): the unit period is the term, but at most a year.

    - A term of at most a year is one unit period. A whole number of months (counted as
      (b)(3)(iv) counts them: 31 January to 28 February is a month) has 12 / months unit
      periods a year ((b)(5)(vi), which also allows 365 / days; months are used here);
      otherwise 365 / days ((b)(5)(vii)). The periodic rate is exact: payment / advance - 1.
    - A longer term has a unit period of a year, one a year ((b)(5)(v)): ``t`` whole years
      counted back from the payment, and a fraction ``f`` for the rest, its whole months over
      12 ((v)(A)) or else its days over 365 ((v)(B)). The rate solves the general equation
      ``advance = payment / ((1 + f*i) * (1 + i)**t)`` ((b)(8)).
    """
    if len(ordered) != 2 or not ordered[0].amount_minor < 0 < ordered[1].amount_minor:
        return None
    advance, payment = ordered
    days = (payment.date - advance.date).days
    if days <= 0:
        raise InvalidInput("the payment must fall after the advance")
    advanced = Decimal(-advance.amount_minor)
    repaid = Decimal(payment.amount_minor)
    months, odd_days = months_and_odd_days(advance.date, payment.date)
    with localcontext() as context:
        context.prec = _PRECISION
        if odd_days == 0 and months <= MONTHS_PER_YEAR:
            return _percent((repaid / advanced - 1) * MONTHS_PER_YEAR / months)
        if months < MONTHS_PER_YEAR:
            return _percent((repaid / advanced - 1) * DAYS_PER_YEAR / days)
        years, fraction = YEAR.count(advance.date, payment.date)

    def present_value(rate: Decimal) -> Decimal:
        return repaid / ((1 + fraction * rate) * (1 + rate) ** years) - advanced

    # (1 + f*i)(1 + i)**t >= 1 + i with t >= 1, so the rate is at most repaid / advanced - 1.
    high = max(repaid / advanced, Decimal(1))
    return _percent(_bisect(present_value, RATE_MIN, high, TOLERANCE_PERCENT / 100))


def _bisect(
    present_value: Callable[[Decimal], Decimal], low: Decimal, high: Decimal, tolerance: Decimal
) -> Decimal:
    """The rate where `present_value` crosses zero, by bisection, to within `tolerance`."""
    with localcontext() as context:
        context.prec = _PRECISION
        value_low = present_value(low)
        if value_low == 0:
            return low
        if (value_low > 0) == (present_value(high) > 0):
            raise InvalidInput("no rate in range makes the schedule's present value zero")
        for _ in range(ITERATIONS_MAX):
            middle = (low + high) / 2
            value_middle = present_value(middle)
            if value_middle == 0 or high - low < tolerance:
                return middle
            if (value_middle > 0) == (value_low > 0):
                low, value_low = middle, value_middle
            else:
                high = middle
        return (low + high) / 2


def _solve(
    present_value: Callable[[Decimal], tuple[Decimal, Decimal]],
    low: Decimal,
    high: Decimal,
    tolerance: Decimal,
    guess: Decimal,
) -> Decimal:
    """The rate where the present value crosses zero, to within `tolerance`.

    Newton's method from `guess`, kept inside a bracket that shrinks with every step; a step
    that would leave the bracket is a bisection instead. Converges in a handful of steps where
    bisection alone takes some fifty, each a full pass over the schedule.
    """
    with localcontext() as context:
        context.prec = _PRECISION
        value_low = present_value(low)[0]
        if value_low == 0:
            return low
        if (value_low > 0) == (present_value(high)[0] > 0):
            raise InvalidInput("no rate in range makes the schedule's present value zero")
        rate = guess if low < guess < high else (low + high) / 2
        for _ in range(ITERATIONS_MAX):
            value, slope = present_value(rate)
            if value == 0:
                return rate
            if (value > 0) == (value_low > 0):
                low, value_low = rate, value
            else:
                high = rate
            newton = rate - value / slope if slope != 0 else None
            if newton is not None and low < newton < high:
                if abs(newton - rate) < tolerance / 4:
                    return newton
                rate = newton
            else:
                if high - low < tolerance:
                    return (low + high) / 2
                rate = (low + high) / 2
        return rate


def _percent(rate: Decimal) -> Decimal:
    return (rate * 100).quantize(_PERCENT_QUANTUM, rounding=ROUND_HALF_UP)
