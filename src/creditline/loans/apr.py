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

Both solve in float first and verify the root in `Decimal` (`_verified`). A loan's one advance
comes first, so its present value falls as the rate rises and has a single root. The float
root stands when the exact present value changes sign across it, the root is then within the
Decimal solver's tolerance of it, and every rate within twice that tolerance of where the sign
changes rounds to the same figure: the Decimal solver, landing within its tolerance of the
same root, would show that figure too. Either way the figure is within 0.0051 point of the
true rate (half the 0.01 shown, plus the 0.0001 tolerance): far inside the 1/8 point that
Regulation Z § 1026.22(a)(2) allows.
A schedule with another shape, a root near a rounding edge or a float overflow is solved in
`Decimal` alone, as `exact=True` solves every schedule.

Appendix J is 12 CFR part 1026, Appendix J (https://www.consumerfinance.gov/rules-policy/
regulations/1026/J/; also http://www.fdic.gov/regulations/laws/rules/6500-3550.html). The
paragraph numbers cited here were checked against public transcriptions of its text.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, localcontext
from functools import lru_cache
from typing import TypeVar

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
# The float solve stops when a step moves it by less than this (a float carries ~16 digits;
# the verification needs the root to within the Decimal solver's tolerance, ~1e-7).
_FLOAT_STEP_MIN = 1e-13
# The sign of the present value is checked this far either side of the float root: half the
# Decimal solver's tolerance in a rate per period; 1e-10 in a day's growth, which moves a
# year's rate by 365e-10 × (1 + rate), under that tolerance (1e-6) below 2,600 % a year.
_HALF = Decimal("0.5")
_DAY_GROWTH_STEP = Decimal("1e-10")
# Patterns of flow dates whose unit periods are remembered (one per term and drawdown date).
DATE_PATTERNS_CACHED_MAX = 1024
# A present value evaluated in float or in Decimal: one formula for both.
Number = TypeVar("Number", float, Decimal)


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


def apr_actuarial(flows: Sequence[CashFlow], *, exact: bool = False) -> Decimal:
    """APR in percent by the Appendix J actuarial method.

    The term starts at the earliest flow. The unit period is the standard interval the
    transaction's periods follow most often (Appendix J (b)(4)(i), `unit_periods.unit_period`):
    a month for creditline's schedules; a day, a week, a semimonth or several weeks or months
    for others. A single advance repaid by a single payment has the term as its unit period, up
    to a year, and a year for a longer term ((b)(4)(ii)). Raises `InvalidInput` for an empty or
    one-sided schedule, or one with no rate in range. `exact` solves in `Decimal` alone.
    """
    ordered = _checked(flows)
    if sum(flow.amount_minor for flow in ordered) == 0:
        return _percent(Decimal(0))  # repaid exactly what was advanced: no cost at any timing
    single = _single_advance_single_payment(ordered)
    if single is not None:
        return single
    per_year, counts = _unit_periods(tuple((flow.date, flow.amount_minor > 0) for flow in ordered))
    counted = [
        (flow.amount_minor, periods, fraction)
        for flow, (periods, fraction) in zip(ordered, counts, strict=True)
    ]

    def present_value(
        terms: list[tuple[Number, int, Number]], rate: Number
    ) -> tuple[Number, Number]:
        """The present value at `rate` and its slope d/d(rate)."""
        value = slope = rate * 0
        for amount, periods, fraction in terms:
            odd = 1 + fraction * rate
            term = amount / (odd * (1 + rate) ** periods)
            value += term
            slope -= term * (fraction / odd + periods / (1 + rate))
        return value, slope

    fractions = [(Decimal(amount), periods, fraction) for amount, periods, fraction in counted]
    tolerance = TOLERANCE_PERCENT / (per_year * 100)
    guess = GUESS_PER_YEAR / per_year
    if not exact and _one_advance_first(ordered):
        quick = [(float(amount), periods, float(fraction)) for amount, periods, fraction in counted]
        shown = _verified(
            lambda rate: present_value(quick, rate),
            lambda rate: present_value(fractions, rate)[0],
            lambda rate: rate,
            (float(RATE_MIN), float(guess), float(RATE_PER_UNIT_PERIOD_MAX)),
            tolerance * _HALF,
            tolerance,
            per_year,
        )
        if shown is not None:
            return shown
    rate = _solve(
        lambda rate: present_value(fractions, rate),
        RATE_MIN,
        RATE_PER_UNIT_PERIOD_MAX,
        tolerance,
        guess,
    )
    return _percent(rate * per_year)


@lru_cache(maxsize=DATE_PATTERNS_CACHED_MAX)
def _unit_periods(
    dated: tuple[tuple[dt.date, bool], ...],
) -> tuple[Decimal, tuple[tuple[int, Decimal], ...]]:
    """The unit periods in a year of flows on `dated` (each a date and whether it is a
    payment, in date order), and the whole unit periods and the fraction of one from the first
    to each. Loans of one term drawn on one date share their dates whatever their amounts, so
    the calendar is counted once for them all."""
    start = dated[0][0]
    payment_dates = [day for day, payment in dated if payment]
    unit = unit_period(start, [day for day, payment in dated if not payment], payment_dates)
    # A monthly series measures its months from its own day of the month ((b)(3)(iv)).
    series_day = series_day_of(payment_dates) if unit.interval is Interval.MONTH else None
    return unit.per_year, tuple(unit.count(start, day, series_day) for day, _ in dated)


def apr_daily(flows: Sequence[CashFlow], *, exact: bool = False) -> Decimal:
    """Effective annual rate in percent, XIRR style: ``(1 + r) ** (days / 365)`` discounting.

    Raises `InvalidInput` for an empty or one-sided schedule or one with no rate in range.
    `exact` solves in `Decimal` alone.
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

    tolerance = TOLERANCE_PERCENT / 100
    if not exact and _one_advance_first(ordered):
        shown = _daily_verified(ordered, tolerance)
        if shown is not None:
            return shown
    rate = _solve(present_value, RATE_MIN, RATE_PER_YEAR_MAX, tolerance, GUESS_PER_YEAR)
    return _percent(rate)


def _daily_verified(ordered: list[CashFlow], tolerance: Decimal) -> Decimal | None:
    """`apr_daily` solved for a day's growth ``g = (1 + r) ** (1/365)``: the flows' present
    value ``sum(amount * g ** -days)`` and the rate ``g ** 365 - 1`` take whole powers only,
    so the verification in `Decimal` needs no logarithm or exponential."""
    start = ordered[0].date
    days = [(flow.amount_minor, (flow.date - start).days) for flow in ordered]

    def present_value(terms: list[tuple[Number, int]], growth: Number) -> tuple[Number, Number]:
        """The present value at a day's `growth` and its slope d/d(growth)."""
        value = slope = growth * 0
        for amount, day in terms:
            term = amount * growth**-day
            value += term
            slope -= term * day / growth
        return value, slope

    quick = [(float(amount), day) for amount, day in days]
    exact = [(Decimal(amount), day) for amount, day in days]
    a_day = 1 / float(DAYS_PER_YEAR)
    return _verified(
        lambda growth: present_value(quick, growth),
        lambda growth: present_value(exact, growth)[0],
        lambda growth: growth ** int(DAYS_PER_YEAR) - 1,
        tuple(float(1 + rate) ** a_day for rate in (RATE_MIN, GUESS_PER_YEAR, RATE_PER_YEAR_MAX)),
        _DAY_GROWTH_STEP,
        tolerance,
        Decimal(1),
    )


def _one_advance_first(ordered: list[CashFlow]) -> bool:
    """Whether the only advance is the first flow: the present value then falls as the rate
    rises, and has at most one root."""
    return ordered[0].amount_minor < 0 < min(flow.amount_minor for flow in ordered[1:])


def _verified(
    quick: Callable[[float], tuple[float, float]],
    exact: Callable[[Decimal], Decimal],
    rate_of: Callable[[Decimal], Decimal],
    low_guess_high: tuple[float, ...],
    step: Decimal,
    tolerance: Decimal,
    per_year: Decimal,
) -> Decimal | None:
    """The annual rate in percent, shown to 0.01, where a falling present value is zero: the
    root of `quick` in float, verified by `exact` in `Decimal` a `step` either side of it
    (`rate_of` turns the solved variable into a rate per period, `per_year` of them a year);
    None when the verification fails."""
    low, guess, high = low_guess_high
    try:
        root = _float_root(quick, low, guess, high)
    except (OverflowError, ZeroDivisionError):
        return None
    if root is None:
        return None
    with localcontext() as context:
        context.prec = _PRECISION
        below, above = Decimal(root) - step, Decimal(root) + step
        shown = _percent((rate_of(below) - 2 * tolerance) * per_year)
        if _percent((rate_of(above) + 2 * tolerance) * per_year) != shown:
            return None  # near a rounding edge: the Decimal solver decides
        return shown if exact(below) > 0 > exact(above) else None


def _float_root(
    present_value: Callable[[float], tuple[float, float]], low: float, guess: float, high: float
) -> float | None:
    """Where a falling `present_value` is zero, in float: Newton's method inside a bracket that
    shrinks with every step, as `_solve`; None when it does not settle."""
    rate = guess
    for _ in range(ITERATIONS_MAX):
        value, slope = present_value(rate)
        if value > 0:
            low = rate
        else:
            high = rate
        newton = rate - value / slope if slope < 0 else math.nan
        if abs(newton - rate) < _FLOAT_STEP_MIN:
            # Settled: a step this small may not move the float at all, so it must not be
            # taken for one that leaves the bracket.
            return newton
        next_rate = newton if low < newton < high else (low + high) / 2
        if abs(next_rate - rate) < _FLOAT_STEP_MIN:
            return next_rate
        rate = next_rate
    return None


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
