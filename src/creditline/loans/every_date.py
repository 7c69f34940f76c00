"""What a loan costs on every drawdown date: its flows, their APR, APRC and effective annual
rate, and the date that prices the same loan highest.

An ACT/365 loan's interest follows the length of its months, and the effective annual rate by
daily IRR follows the days between its payments, so the same product, amount and term cost a
little more on some drawdown dates than on others. The rate caps (`loans/caps.py`) hold on
every date alike: a price is refused when the same loan drawn on its dearest date is above the
cap, so no date lets a price pass that another date refuses.

Every pattern of months a loan can meet is met by a loan drawn on the 1st, the 29th, the 30th
or the 31st of some month of four years with a leap year among them: drawn on any day up to the
28th, a loan meets the same month lengths as one drawn on the 1st of that month. Pricing these
165 dates is slow, so it is done only when a quick upper bound is above the cap: the loan with
every month 31 days long for the APR and the APRC (which count whole months, so only the
interest grows), and with every month 28 days long, 28 days apart, for the effective annual
rate (each month's interest compounds over the fewest days). Both bounds, and each dearest date
found, are remembered for the same price.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache

from creditline.kernel.months import add_months
from creditline.loans.apr import CashFlow, apr_actuarial, apr_daily
from creditline.loans.aprc import DatedAmount, aprc_percent
from creditline.loans.caps import Calendar, Figure, Measure
from creditline.loans.schedule import (
    AnnualRate,
    DayCount,
    Rate,
    RepaymentMethod,
    Schedule,
    build_schedule,
    schedule_over_periods,
)


def _real_start_dates() -> tuple[dt.date, ...]:
    """The 1st, 29th, 30th and 31st of every month of four years from a leap year (the 1st
    stands for every day to the 28th)."""
    dates = []
    for year in range(2024, 2028):
        for month in range(1, 13):
            last_day = calendar.monthrange(year, month)[1]
            dates += [dt.date(year, month, day) for day in (1, 29, 30, 31) if day <= last_day]
    return tuple(dates)


REAL_START_DATES = _real_start_dates()
_BOUND_START = dt.date(2001, 1, 1)  # only the distances from it count
MONTH_DAYS_LONGEST = 31
MONTH_DAYS_SHORTEST = 28
# Prices remembered: each is a product's rate, method, amount, term and fees.
PRICES_CACHED_MAX = 4096


def cash_flows(
    schedule: Schedule, start_date: dt.date, upfront_fee_minor: int, instalment_fee_minor: int
) -> list[CashFlow]:
    """The loan's flows seen from the lender: the principal less the upfront fee advanced on
    `start_date`, each instalment repaid with its fee."""
    return [CashFlow(start_date, -(schedule.principal_minor - upfront_fee_minor))] + [
        CashFlow(i.due_date, i.payment_minor + instalment_fee_minor) for i in schedule.instalments
    ]


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


@dataclass(frozen=True, slots=True)
class Price:
    """What makes two quotes cost the same on the same date: the rate, the method, the
    principal, the term and the fees in minor units."""

    rate: Rate
    method: RepaymentMethod
    principal_minor: int
    term_months: int
    upfront_fee_minor: int
    instalment_fee_minor: int

    def schedule(self, periods: list[tuple[dt.date, int]]) -> Schedule:
        """The schedule over `periods` (each a due date and the days it charges)."""
        return schedule_over_periods(self.method, self.principal_minor, self.rate, periods)

    def figure(
        self, measure: Measure, schedule: Schedule, start: dt.date, on: dt.date | None = None
    ) -> Figure:
        """`measure` of the flows of `schedule`, drawn on `start`, with this price's fees."""
        fees = (self.upfront_fee_minor, self.instalment_fee_minor)
        if measure is Measure.APRC:
            percent = aprc_of_schedule(schedule, start, *fees)
        else:
            flows = cash_flows(schedule, start, *fees)
            percent = apr_actuarial(flows) if measure is Measure.APR else apr_daily(flows)
        return Figure(measure, percent, Calendar.DEAREST, on)


@lru_cache(maxsize=PRICES_CACHED_MAX)
def upper_bounds(price: Price, capped: tuple[Measure, ...]) -> tuple[Figure, ...]:
    """Figures in the `capped` measures that no drawdown date can beat: interest for 31-day
    months at whole months for the APR and APRC, and for 28-day months 28 days apart for the
    effective rate (30/360 charges 30 days whatever the month)."""
    rate = price.rate
    thirty_360 = isinstance(rate, AnnualRate) and rate.day_count is DayCount.THIRTY_360
    longest, shortest = (30, 30) if thirty_360 else (MONTH_DAYS_LONGEST, MONTH_DAYS_SHORTEST)
    months = range(1, price.term_months + 1)
    long_months = [(add_months(_BOUND_START, n), longest) for n in months]
    short_months = [
        (_BOUND_START + dt.timedelta(days=MONTH_DAYS_SHORTEST * n), shortest) for n in months
    ]
    figures = []
    for measure in capped:
        periods = short_months if measure is Measure.EFFECTIVE_ANNUAL_RATE else long_months
        figures.append(price.figure(measure, price.schedule(periods), _BOUND_START))
    return tuple(figures)


@lru_cache(maxsize=PRICES_CACHED_MAX)
def dearest_above(price: Price, capped: tuple[Measure, ...], cap_percent: Decimal) -> Figure | None:
    """The highest figure above `cap_percent` of the same loan on any drawdown date, naming
    the date; None when it is within the cap on every date."""
    if all(figure.percent <= cap_percent for figure in upper_bounds(price, capped)):
        return None
    figures = []
    for start in REAL_START_DATES:
        schedule = build_schedule(
            price.method, price.principal_minor, price.term_months, start, price.rate
        )
        figures += [price.figure(measure, schedule, start, on=start) for measure in capped]
    return _highest_above(figures, cap_percent)


def _highest_above(figures: Iterable[Figure], cap_percent: Decimal) -> Figure | None:
    above = [figure for figure in figures if figure.percent > cap_percent]
    return max(above, key=lambda figure: figure.percent, default=None)
