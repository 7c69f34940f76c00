"""Regulation Z Appendix J's unit periods: which standard interval of time is a transaction's
unit period, and how many unit periods, whole and a fraction, lie between two dates.

Pure calendar arithmetic on dates and `Decimal`; `loans/apr.py` solves the general equation with
what this module counts. Paragraphs cited are those of 12 CFR 1026 Appendix J (b):

- (3) Time intervals. A period is the interval between advances or between payments, and from
  the start of the term to the first payment; a common period occurs more than once; a
  standard interval is a day, a week, a semimonth, a month, or a multiple of a week or a month
  up to a year. All months are equal; the month-end rule of (3)(iv) is in
  `creditline.kernel.months.months_and_odd_days`.
- (4)(i) The unit period is the common period that occurs most frequently (the smaller of two
  as frequent), or with no common period the standard interval nearest the average period (the
  lower of two as near). A single advance repaid by a single payment is `apr.py`'s own case.
- (5) Counting: (ii) months, measured back from the later date, and the odd days over 30;
  (iii) a semimonth or a multiple of a month up to 11: 30 days a whole month plus the odd
  days, over 15 or 30 a month of the multiple; (iv) a day or weeks: the days over the days of
  the unit period; (v) a year: whole years measured back, then the months left over 12 when
  whole, else the days left over 365.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from creditline.kernel.errors import InvalidInput
from creditline.kernel.months import (
    LAST_DAY_OF_MONTH,
    MONTHS_PER_YEAR,
    add_months,
    is_month_end,
    months_and_odd_days,
    months_back,
)

DAYS_PER_MONTH = 30  # (b)(5)(ii)-(iii): a month's odd days are thirtieths
DAYS_PER_SEMIMONTH = 15
DAYS_PER_YEAR = 365
DAYS_PER_WEEK = 7
WEEKS_PER_YEAR = 52
SEMIMONTHS_PER_YEAR = 24
HALF_MONTH_DAY = 15  # a semimonthly series runs on a day and on the day 15 after it


class Interval(StrEnum):
    """A standard interval of time ((b)(3)(iii)), multiplied by `UnitPeriod.multiple`."""

    DAY = "day"
    WEEK = "week"
    SEMIMONTH = "semimonth"
    MONTH = "month"


@dataclass(frozen=True, slots=True)
class UnitPeriod:
    """A standard interval of time: a day, a semimonth, 1-52 weeks or 1-12 months."""

    interval: Interval
    multiple: int = 1

    @property
    def per_year(self) -> Decimal:
        """Unit periods in a year: 365, 52 / weeks, 24, 12 / months ((b)(5)(ii)-(v))."""
        return {
            Interval.DAY: Decimal(DAYS_PER_YEAR),
            Interval.WEEK: Decimal(WEEKS_PER_YEAR) / self.multiple,
            Interval.SEMIMONTH: Decimal(SEMIMONTHS_PER_YEAR),
            Interval.MONTH: Decimal(MONTHS_PER_YEAR) / self.multiple,
        }[self.interval]

    @property
    def average_days(self) -> Decimal:
        """The interval's length in days on average over a 365-day year: to order intervals
        and to round an average period to the nearest one ((b)(4)(i)(B))."""
        return Decimal(DAYS_PER_YEAR) / self.per_year

    def count(
        self, start: dt.date, day: dt.date, series_day: int | None = None
    ) -> tuple[int, Decimal]:
        """Whole unit periods `t` and the fraction `f` of one from `start` to `day` ((b)(5))."""
        if self.interval in (Interval.DAY, Interval.WEEK):
            days_per_unit = DAYS_PER_WEEK * self.multiple if self.interval is Interval.WEEK else 1
            whole, odd = divmod((day - start).days, days_per_unit)
            return whole, Decimal(odd) / days_per_unit
        months, odd_days = months_and_odd_days(start, day, series_day)
        if self.interval is Interval.MONTH and self.multiple == 1:
            return months, Decimal(odd_days) / DAYS_PER_MONTH
        if self.interval is Interval.MONTH and self.multiple == MONTHS_PER_YEAR:
            return _years(start, day, months, odd_days, series_day)
        days_per_unit = (
            DAYS_PER_SEMIMONTH
            if self.interval is Interval.SEMIMONTH
            else DAYS_PER_MONTH * self.multiple
        )
        whole, odd = divmod(DAYS_PER_MONTH * months + odd_days, days_per_unit)
        return whole, Decimal(odd) / days_per_unit


MONTH = UnitPeriod(Interval.MONTH)
YEAR = UnitPeriod(Interval.MONTH, MONTHS_PER_YEAR)
# Every standard interval, shortest first ((b)(3)(iii)).
STANDARD_INTERVALS = sorted(
    [UnitPeriod(Interval.DAY), UnitPeriod(Interval.SEMIMONTH)]
    + [UnitPeriod(Interval.WEEK, weeks) for weeks in range(1, WEEKS_PER_YEAR + 1)]
    + [UnitPeriod(Interval.MONTH, months) for months in range(1, MONTHS_PER_YEAR + 1)],
    key=lambda unit: unit.average_days,
)


def _years(
    start: dt.date, day: dt.date, months: int, odd_days: int, series_day: int | None
) -> tuple[int, Decimal]:
    """(b)(5)(v): whole years measured back from `day`, and what is left: its months over 12
    when it is a whole number of months, else its days over 365."""
    years, months_left = divmod(months, MONTHS_PER_YEAR)
    if odd_days == 0:
        return years, Decimal(months_left) / MONTHS_PER_YEAR
    whole_years_back = months_back(day, years * MONTHS_PER_YEAR, series_day)
    return years, Decimal((whole_years_back - start).days) / DAYS_PER_YEAR


def interval_between(earlier: dt.date, later: dt.date) -> UnitPeriod | None:
    """The standard interval `later` is after `earlier`, if it is exactly one."""
    months, odd_days = months_and_odd_days(earlier, later)
    if odd_days == 0 and 0 < months <= MONTHS_PER_YEAR:
        return UnitPeriod(Interval.MONTH, months)
    if later in _half_a_month_after(earlier):
        return UnitPeriod(Interval.SEMIMONTH)
    days = (later - earlier).days
    if days == 1:
        return UnitPeriod(Interval.DAY)
    weeks, odd = divmod(days, DAYS_PER_WEEK)
    if odd == 0 and 0 < weeks <= WEEKS_PER_YEAR:
        return UnitPeriod(Interval.WEEK, weeks)
    return None


def _half_a_month_after(day: dt.date) -> set[dt.date]:
    """The dates half a month after `day` in a semimonthly series: from the first half of a
    month, 15 days on (the 1st to the 16th; the 15th to the 30th or to the month's last day);
    from the second half, the same day less 15 in the next month (the 16th to the 1st; a
    month's last day to the 15th too)."""
    if day.day <= HALF_MONTH_DAY:
        later = {months_back(day, 0, day.day + HALF_MONTH_DAY)}
        return (
            later | {months_back(day, 0, LAST_DAY_OF_MONTH)} if day.day == HALF_MONTH_DAY else later
        )
    next_month = add_months(day.replace(day=1), 1)
    later = {next_month.replace(day=day.day - HALF_MONTH_DAY)}
    return later | {next_month.replace(day=HALF_MONTH_DAY)} if is_month_end(day) else later


def unit_period(
    start: dt.date, advance_dates: Sequence[dt.date], payment_dates: Sequence[dt.date]
) -> UnitPeriod:
    """The unit period of a transaction whose term starts on `start` ((b)(4)(i)).

    Its periods run between consecutive advances, between consecutive payments, and from
    `start` to the first payment. Raises `InvalidInput` when there is no period at all.
    """
    periods = [
        (earlier, later)
        for dates in (sorted(set(advance_dates)), [start, *sorted(set(payment_dates))])
        for earlier, later in itertools.pairwise(dates)
        if later > earlier
    ]
    if not periods:
        raise InvalidInput("a schedule needs a payment after the start of its term")
    standard = Counter(interval_between(earlier, later) for earlier, later in periods)
    common = {unit: count for unit, count in standard.items() if unit is not None and count > 1}
    if common:
        most = max(common.values())
        return min((unit for unit, count in common.items() if count == most), key=_days)
    total_days = sum((later - earlier).days for earlier, later in periods)
    average_days = Decimal(total_days) / len(periods)
    return min(
        STANDARD_INTERVALS, key=lambda unit: (abs(unit.average_days - average_days), _days(unit))
    )


def _days(unit: UnitPeriod) -> Decimal:
    return unit.average_days
