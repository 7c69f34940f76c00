"""Appendix J's unit period of a transaction ((b)(4)(i)) and the unit periods between two dates
((b)(5)); figures counted by hand on a calendar."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from creditline.kernel.errors import InvalidInput
from creditline.kernel.months import add_months
from creditline.loans.unit_periods import Interval, UnitPeriod, interval_between, unit_period

D = dt.date
MONTH = UnitPeriod(Interval.MONTH)
SEMIMONTH = UnitPeriod(Interval.SEMIMONTH)


def _weeks(count: int) -> UnitPeriod:
    return UnitPeriod(Interval.WEEK, count)


@pytest.mark.parametrize(
    ("earlier", "later", "interval"),
    [
        (D(2026, 1, 31), D(2026, 2, 28), MONTH),
        (D(2026, 1, 15), D(2026, 4, 15), UnitPeriod(Interval.MONTH, 3)),
        (D(2026, 1, 15), D(2027, 1, 15), UnitPeriod(Interval.MONTH, 12)),
        (D(1978, 3, 1), D(1978, 3, 16), SEMIMONTH),
        (D(1978, 3, 16), D(1978, 4, 1), SEMIMONTH),
        (D(2026, 2, 15), D(2026, 2, 28), SEMIMONTH),  # the 15th to a month's last day
        (D(2026, 1, 31), D(2026, 2, 15), SEMIMONTH),
        (D(2026, 1, 1), D(2026, 1, 2), UnitPeriod(Interval.DAY)),
        (D(2026, 1, 5), D(2026, 1, 19), _weeks(2)),
        (D(1978, 4, 20), D(1978, 5, 18), _weeks(4)),
        (D(2026, 1, 5), D(2026, 1, 15), None),  # 10 days: no standard interval
        (D(2026, 1, 5), D(2027, 3, 5), None),  # 14 months: longer than a year
    ],
    ids=str,
)
def test_interval_between_names_the_standard_interval(
    earlier: dt.date, later: dt.date, interval: UnitPeriod | None
) -> None:
    assert interval_between(earlier, later) == interval


def test_the_unit_period_is_the_most_frequent_common_period() -> None:
    # A long first period (2-10 to 4-1), then 35 months: a month.
    dues = [add_months(D(1978, 4, 1), n) for n in range(36)]
    assert unit_period(D(1978, 2, 10), [D(1978, 2, 10)], dues) == MONTH


def test_two_common_periods_as_frequent_give_the_smaller() -> None:
    # From 1 January: two months (the start to 1 February, to 1 March), then two fortnights
    # (to 15 March, to 29 March): two each, and a fortnight is the shorter.
    dues = [D(2026, 2, 1), D(2026, 3, 1), D(2026, 3, 15), D(2026, 3, 29)]
    assert unit_period(D(2026, 1, 1), [D(2026, 1, 1)], dues) == _weeks(2)


def test_without_a_common_period_the_average_rounds_to_the_nearest_standard_interval() -> None:
    # Periods of 30 days (1 Jan to 31 Jan) and 43 days (to 15 March): 36.5 days on average.
    # Nearest: 5 weeks (35 days, 1.5 away); a month is 30.4 days, 6 weeks 42.
    assert unit_period(D(2026, 1, 1), [D(2026, 1, 1)], [D(2026, 1, 31), D(2026, 3, 15)]) == (
        _weeks(5)
    )


def test_a_schedule_without_a_payment_after_its_start_has_no_unit_period() -> None:
    with pytest.raises(InvalidInput):
        unit_period(D(2026, 1, 1), [D(2026, 1, 1)], [D(2026, 1, 1)])


@pytest.mark.parametrize(
    ("unit", "start", "day", "series_day", "counted"),
    [
        # (b)(5)(ii): 2-10-78 to 4-1-78, t = 1, f = 19/30 (Appendix J (c)(1)(ii)).
        (MONTH, D(1978, 2, 10), D(1978, 4, 1), None, (1, Decimal(19) / 30)),
        # (b)(5)(iii): 2-23-78 to 3-16-78 is 21 days, 1 semimonth and 6/15 (example (c)(1)(iii)).
        (SEMIMONTH, D(1978, 2, 23), D(1978, 3, 16), None, (1, Decimal(6) / 15)),
        # (b)(5)(iii): 5-23-78 to 10-1-78 is 4 months (back to 6-1) and 9 days: 129 days,
        # 1 quarter and 39/90 (example (c)(1)(iv)).
        (
            UnitPeriod(Interval.MONTH, 3),
            D(1978, 5, 23),
            D(1978, 10, 1),
            None,
            (1, Decimal(39) / 90),
        ),
        # (b)(5)(iv): 3-20-78 to 4-21-78 is 32 days: 4 weeks and 4/7 (example (c)(1)(v)).
        (_weeks(1), D(1978, 3, 20), D(1978, 4, 21), None, (4, Decimal(4) / 7)),
        # (b)(5)(v)(A): 18 months, 1 year and 6/12.
        (
            UnitPeriod(Interval.MONTH, 12),
            D(2025, 1, 15),
            D(2026, 7, 15),
            None,
            (1, Decimal(6) / 12),
        ),
        # (b)(5)(v)(B): 1 year back to 2026-01-01, then 351 days over 365.
        (
            UnitPeriod(Interval.MONTH, 12),
            D(2025, 1, 15),
            D(2027, 1, 1),
            None,
            (1, Decimal(351) / 365),
        ),
        # A month-end series: back from 30 April by 3 to 31 January, 16 days from the 15th.
        (MONTH, D(2026, 1, 15), D(2026, 4, 30), 31, (3, Decimal(16) / 30)),
    ],
)
def test_count_gives_whole_unit_periods_and_the_fraction(
    unit: UnitPeriod,
    start: dt.date,
    day: dt.date,
    series_day: int | None,
    counted: tuple[int, Decimal],
) -> None:
    assert unit.count(start, day, series_day) == counted


@pytest.mark.parametrize(
    ("unit", "per_year"),
    [
        (MONTH, Decimal(12)),
        (SEMIMONTH, Decimal(24)),
        (UnitPeriod(Interval.MONTH, 3), Decimal(4)),
        (_weeks(1), Decimal(52)),
        (_weeks(4), Decimal(13)),
        (UnitPeriod(Interval.DAY), Decimal(365)),
    ],
)
def test_unit_periods_a_year(unit: UnitPeriod, per_year: Decimal) -> None:
    assert unit.per_year == per_year
