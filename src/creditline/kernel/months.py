"""Calendar months: a date or a time moved by whole months, clamped to the month's last day
(31 January plus one month is 28 or 29 February), the time of day and zone kept."""

from __future__ import annotations

import calendar
import datetime as dt
from typing import TypeVar

MONTHS_PER_YEAR = 12

_Day = TypeVar("_Day", dt.date, dt.datetime)


def add_months(day: _Day, months: int) -> _Day:
    """`day` moved `months` calendar months (back when negative), clamped to the month's end."""
    year, month = divmod(day.year * MONTHS_PER_YEAR + day.month - 1 + months, MONTHS_PER_YEAR)
    last_day = calendar.monthrange(year, month + 1)[1]
    return day.replace(year=year, month=month + 1, day=min(day.day, last_day))
