"""Annual percentage rate of a loan from its full cash-flow schedule.

Two methods, both pure Decimal arithmetic on integer minor units:

- `apr_actuarial` follows Regulation Z Appendix J (US-7) for monthly unit periods: each flow is
  discounted to the start of the term as ``amount / ((1 + f*i) * (1 + i)**t)``, where ``t`` is
  the number of whole months and ``f`` the odd days over 30. The APR is the *nominal* rate
  ``i * 12``. The same IRR-on-the-schedule figure is what PBOC Announcement 2021 No. 3 (CN-4)
  asks for, so it is the APR shown to Chinese borrowers too.
- `apr_daily` is the XIRR convention: flows discounted by ``(1 + r) ** (days / 365)`` and the
  *effective* annual rate ``r`` returned. It compounds within the year, so for the same
  schedule it is higher than the nominal actuarial APR (12% nominal monthly is about 12.68%
  effective), and it counts actual days instead of equal months.

Both return a percent quantized to 0.01 (``Decimal("12.00")``).
"""

from __future__ import annotations

import calendar
import datetime as dt
import itertools
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, localcontext

from creditline.kernel.errors import InvalidInput
from creditline.kernel.money import AMOUNT_MINOR_MAX

# A schedule longer than 100 years of monthly flows is a mistake, not a loan.
FLOWS_MAX = 1200
# Odd days in a monthly unit period are counted as 1/30 of a month (Appendix J (b)(5)).
DAYS_PER_MONTH = Decimal(30)
DAYS_PER_YEAR = Decimal(365)
MONTHS_PER_YEAR = 12
# Bracket for the solved rate: a rate is "per unit period" for the actuarial method and
# "per year" for the daily one. The bracket is wide enough for payday-style pricing.
RATE_MIN = Decimal("-0.99")
RATE_PER_MONTH_MAX = Decimal(100)
RATE_PER_YEAR_MAX = Decimal(10) ** 9
# Solve to within 0.0001 percentage point of the reported annual rate.
TOLERANCE_PERCENT = Decimal("0.0001")
ITERATIONS_MAX = 200
_PERCENT_QUANTUM = Decimal("0.01")
_PRECISION = 40


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
    """APR in percent by the Appendix J actuarial method, monthly unit periods.

    The term starts at the earliest flow. The unit period must be one month: the most common
    interval between consecutive payments is a whole month. Raises `InvalidInput` for an empty
    or one-sided schedule, a non-monthly one, or one with no rate in range.
    """
    ordered = _checked(flows)
    _require_monthly_unit_period(ordered)
    start = ordered[0].date
    terms = [
        (Decimal(flow.amount_minor), *_months_and_odd_days(start, flow.date)) for flow in ordered
    ]

    def present_value(rate: Decimal) -> Decimal:
        return sum(
            (
                amount / ((1 + Decimal(odd_days) / DAYS_PER_MONTH * rate) * (1 + rate) ** months)
                for amount, months, odd_days in terms
            ),
            Decimal(0),
        )

    tolerance = TOLERANCE_PERCENT / (MONTHS_PER_YEAR * 100)
    rate = _bisect(present_value, RATE_MIN, RATE_PER_MONTH_MAX, tolerance)
    return _percent(rate * MONTHS_PER_YEAR)


def apr_daily(flows: Sequence[CashFlow]) -> Decimal:
    """Effective annual rate in percent, XIRR style: ``(1 + r) ** (days / 365)`` discounting.

    Raises `InvalidInput` for an empty or one-sided schedule or one with no rate in range.
    """
    ordered = _checked(flows)
    start = ordered[0].date
    terms = [
        (Decimal(flow.amount_minor), Decimal((flow.date - start).days) / DAYS_PER_YEAR)
        for flow in ordered
    ]

    def present_value(rate: Decimal) -> Decimal:
        return sum((amount / (1 + rate) ** years for amount, years in terms), Decimal(0))

    rate = _bisect(present_value, RATE_MIN, RATE_PER_YEAR_MAX, TOLERANCE_PERCENT / 100)
    return _percent(rate)


def _checked(flows: Sequence[CashFlow]) -> list[CashFlow]:
    if len(flows) > FLOWS_MAX:
        raise InvalidInput("too many cash flows", flows_max=FLOWS_MAX)
    if not any(flow.amount_minor < 0 for flow in flows):
        raise InvalidInput("a schedule needs at least one advance (a negative flow)")
    if not any(flow.amount_minor > 0 for flow in flows):
        raise InvalidInput("a schedule needs at least one payment (a positive flow)")
    return sorted(flows, key=lambda flow: flow.date)


def _months_back(day: dt.date, months: int) -> dt.date:
    """`day` moved back `months` months, clamped to the month's last day (Feb 30 -> Feb 28)."""
    month_index = day.year * 12 + day.month - 1 - months
    year, month = divmod(month_index, 12)
    month += 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _months_and_odd_days(start: dt.date, day: dt.date) -> tuple[int, int]:
    """Whole months from `start` to `day`, counted back from `day`, and the odd days left over.

    Appendix J puts the fraction of a unit period at the start of the term.
    """
    months = (day.year - start.year) * 12 + day.month - start.month
    while months > 0 and _months_back(day, months) < start:
        months -= 1
    return months, (_months_back(day, months) - start).days


def _whole_months_between(earlier: dt.date, later: dt.date) -> int | None:
    """Months from `earlier` to `later` when they are whole months apart, else None."""
    months = (later.year - earlier.year) * 12 + later.month - earlier.month
    if months > 0 and _months_back(later, months) == earlier:
        return months
    last_day = calendar.monthrange(later.year, later.month)[1]
    earlier_last_day = calendar.monthrange(earlier.year, earlier.month)[1]
    # Month-end to month-end (Jan 31 -> Feb 28 -> Mar 31) counts as whole months too.
    if months > 0 and later.day == last_day and earlier.day == earlier_last_day:
        return months
    return None


def _require_monthly_unit_period(ordered: list[CashFlow]) -> None:
    payment_dates = sorted({flow.date for flow in ordered if flow.amount_minor > 0})
    intervals = Counter(
        _whole_months_between(earlier, later)
        for earlier, later in itertools.pairwise(payment_dates)
    )
    if not intervals or intervals.most_common(1)[0][0] != 1:
        raise InvalidInput(
            "the actuarial APR here needs a monthly unit period; use apr_daily otherwise",
            payment_count=len(payment_dates),
        )


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


def _percent(rate: Decimal) -> Decimal:
    return (rate * 100).quantize(_PERCENT_QUANTUM, rounding=ROUND_HALF_UP)
