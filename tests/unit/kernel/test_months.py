"""Whole months between two dates as Regulation Z Appendix J counts them: measured back from the
later date, months equal, the month-end rule of (b)(3)(iv). Every expected figure is counted on
a calendar by hand."""

from __future__ import annotations

import datetime as dt

import pytest

from creditline.kernel.months import months_and_odd_days, series_day_of

D = dt.date


@pytest.mark.parametrize(
    ("start", "day", "series_day", "expected"),
    [
        # A date the start reaches by whole months, clamped to the month's end, is whole months
        # away: how a schedule drawn on the 29th, 30th or 31st sets its due dates.
        pytest.param(D(2026, 1, 31), D(2026, 2, 28), None, (1, 0), id="31-jan-28-feb"),
        pytest.param(D(2026, 1, 30), D(2026, 2, 28), None, (1, 0), id="30-jan-28-feb"),
        pytest.param(D(2026, 1, 29), D(2026, 2, 28), None, (1, 0), id="29-jan-28-feb"),
        pytest.param(D(2024, 1, 31), D(2024, 2, 29), None, (1, 0), id="31-jan-29-feb-leap"),
        pytest.param(D(2026, 1, 31), D(2026, 4, 30), None, (3, 0), id="31-jan-30-apr"),
        # Last day to last day.
        pytest.param(D(2026, 2, 28), D(2026, 3, 31), None, (1, 0), id="28-feb-31-mar"),
        pytest.param(D(2026, 4, 30), D(2026, 7, 31), None, (3, 0), id="30-apr-31-jul"),
        # 28 February 2024 is not February's last day: back from 31 March is 29 February.
        pytest.param(D(2024, 2, 28), D(2024, 3, 31), None, (1, 1), id="28-feb-leap-31-mar"),
        # Appendix J (c)(1)(ii): 2-10-78 to 4-1-78 is 1 month back to 3-1 and 19 days.
        pytest.param(D(1978, 2, 10), D(1978, 4, 1), None, (1, 19), id="appendix-j-c-1-ii"),
        # An odd first period before a series on the last day of each month: back from 28
        # February to 31 January, 16 days from the 15th; by the date's own day, 28 January.
        pytest.param(D(2026, 1, 15), D(2026, 2, 28), 31, (1, 16), id="series-last-day"),
        pytest.param(D(2026, 1, 15), D(2026, 2, 28), None, (1, 13), id="own-day"),
        pytest.param(D(2026, 1, 15), D(2026, 2, 28), 30, (1, 15), id="series-30th"),
        pytest.param(D(2026, 1, 15), D(2026, 2, 10), None, (0, 26), id="under-a-month"),
        pytest.param(D(2026, 1, 15), D(2026, 1, 15), None, (0, 0), id="same-day"),
    ],
)
def test_months_and_odd_days_measures_back_from_the_later_date(
    start: dt.date, day: dt.date, series_day: int | None, expected: tuple[int, int]
) -> None:
    assert months_and_odd_days(start, day, series_day) == expected


def test_months_and_odd_days_refuses_a_later_date_before_the_earlier() -> None:
    with pytest.raises(ValueError):
        months_and_odd_days(D(2026, 2, 1), D(2026, 1, 1))


@pytest.mark.parametrize(
    ("dates", "series_day"),
    [
        pytest.param([D(2026, 2, 28), D(2026, 3, 31), D(2026, 4, 30)], 31, id="last-days"),
        pytest.param([D(2026, 2, 28), D(2026, 3, 30), D(2026, 4, 30)], 30, id="30th"),
        pytest.param([D(2026, 2, 28), D(2026, 3, 29)], 29, id="29th"),
        pytest.param([D(2026, 2, 28), D(2026, 3, 28)], 28, id="28th"),
        pytest.param([D(2026, 2, 15), D(2026, 3, 15)], 15, id="15th"),
        pytest.param([D(2026, 2, 10), D(2026, 3, 11)], None, id="not-one-series"),
        pytest.param([D(2026, 3, 30), D(2026, 4, 29)], None, id="29th-in-a-30-day-month"),
        pytest.param([], None, id="none"),
    ],
)
def test_series_day_of_a_monthly_series(dates: list[dt.date], series_day: int | None) -> None:
    assert series_day_of(dates) == series_day
