"""Calendar months: a date or a time moved by whole months, clamped to the month's last day
(31 January plus one month is 28 or 29 February), the time of day and zone kept; and the whole
months between two dates, measured back from the later one as Regulation Z Appendix J counts
them."""

from __future__ import annotations

import calendar
import datetime as dt
from typing import TypeVar

MONTHS_PER_YEAR = 12
# A day of the month no month reaches: "the last day of each month".
LAST_DAY_OF_MONTH = 31

_Day = TypeVar("_Day", dt.date, dt.datetime)


def add_months(day: _Day, months: int) -> _Day:
    """`day` moved `months` calendar months (back when negative), clamped to the month's end."""
    year, month = divmod(day.year * MONTHS_PER_YEAR + day.month - 1 + months, MONTHS_PER_YEAR)
    last_day = calendar.monthrange(year, month + 1)[1]
    return day.replace(year=year, month=month + 1, day=min(day.day, last_day))


def is_month_end(day: dt.date) -> bool:
    """Whether `day` is the last day of its month."""
    return day.day == calendar.monthrange(day.year, day.month)[1]


def months_back(day: dt.date, months: int, series_day: int | None = None) -> dt.date:
    """The date `months` months before `day`, on `series_day` of that month (clamped to its last
    day), or on `day`'s own day of the month when no series day is given."""
    year, month = divmod(day.year * MONTHS_PER_YEAR + day.month - 1 - months, MONTHS_PER_YEAR)
    last_day = calendar.monthrange(year, month + 1)[1]
    return dt.date(year, month + 1, min(series_day or day.day, last_day))


def months_and_odd_days(
    start: dt.date, day: dt.date, series_day: int | None = None
) -> tuple[int, int]:
    """The whole months from `start` to `day`, measured back from `day`, and the days left over
    between `start` and the first whole month.

    Appendix J (b)(3)(iv): all months are equal; a month runs from a date to the same date of
    another month; a series scheduled for the last day of each month runs from last day to last
    day, and one scheduled for the 29th or 30th uses the last day of February. `series_day` is
    the day of the month a series of payments is scheduled for (31: the last day); each month
    counted back from `day` lands on it. A date that `start` reaches by whole months, clamped
    to a month's end (31 January to 28 February), is whole months away whatever the series:
    it is how a schedule drawn on `start` sets its due dates.
    """
    if day < start:
        raise ValueError("the later date comes before the earlier one")
    months = (day.year - start.year) * MONTHS_PER_YEAR + day.month - start.month
    while months > 0:
        if add_months(start, months) == day:
            return months, 0
        anchor = months_back(day, months, series_day)
        if anchor >= start:
            return months, (anchor - start).days
        months -= 1
    return 0, (day - start).days


def series_day_of(dates: list[dt.date]) -> int | None:
    """The day of the month a monthly series of `dates` is scheduled for: 31 when every date is
    its month's last day, otherwise the latest day of the month among them when every date is
    on that day or, in a shorter month, on its last day (30 January, 28 February, 30 March).
    None when the dates are not one such series."""
    if not dates:
        return None
    if all(is_month_end(day) for day in dates):
        return LAST_DAY_OF_MONTH
    series_day = max(day.day for day in dates)
    for day in dates:
        last_day = calendar.monthrange(day.year, day.month)[1]
        if day.day != min(series_day, last_day):
            return None
    return series_day
