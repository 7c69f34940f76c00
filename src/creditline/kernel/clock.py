"""Injected time. The domain takes `now` as an argument; services hold a `Clock`."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """A source of the current instant."""

    def now(self) -> datetime:
        """The current instant, tz-aware UTC."""
        ...


def utc(value: datetime) -> datetime:
    """`value` as tz-aware UTC; a naive value is refused (ambiguous)."""
    if value.tzinfo is None:
        raise ValueError("naive datetime: time must be tz-aware")
    return value.astimezone(UTC)


def utc_text(value: datetime, separator: str) -> str:
    """`value` in UTC as `strftime(f"%Y-%m-%d{separator}%H:%M:%S.%f")` writes it, at about
    half its cost (a hold writes four). A naive `value` is taken as local time, as there."""
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    if value.year < 1000:  # isoformat pads the year to four digits; strftime does not
        return value.strftime(f"%Y-%m-%d{separator}%H:%M:%S.%f")
    return value.isoformat(separator, "microseconds")[:26]


class SystemClock:
    """Wall-clock UTC time."""

    def now(self) -> datetime:
        """The wall clock's instant, tz-aware UTC."""
        return datetime.now(UTC)


class FixedClock:
    """Always the same instant, until moved with `set` or `advance`."""

    def __init__(self, at: datetime) -> None:
        self._at = utc(at)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        """The fixed instant."""
        with self._lock:
            return self._at

    def set(self, at: datetime) -> None:
        """Move to `at` (tz-aware)."""
        with self._lock:
            self._at = utc(at)

    def advance(self, by: timedelta) -> None:
        """Move forward by `by`."""
        with self._lock:
            self._at += by


class SteppingClock:
    """Returns `start`, then moves forward by `step` on every call (strictly increasing)."""

    def __init__(self, start: datetime, step: timedelta = timedelta(microseconds=1)) -> None:
        if step <= timedelta(0):
            raise ValueError("step must be positive")
        self._next = utc(start)
        self._step = step
        self._lock = threading.Lock()

    def now(self) -> datetime:
        """The next instant: each call returns one `step` later than the previous."""
        with self._lock:
            at = self._next
            self._next += self._step
            return at
