from datetime import UTC, datetime, timedelta, timezone
from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from creditline.kernel.clock import FixedClock, SteppingClock, SystemClock, utc, utc_text

START = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
BEIJING = timezone(timedelta(hours=8))


def test_utc_refuses_a_naive_datetime() -> None:
    with pytest.raises(ValueError, match="naive"):
        utc(datetime(2026, 11, 28, 9, 0))


def test_utc_converts_to_utc_keeping_the_instant() -> None:
    converted = utc(datetime(2026, 11, 28, 17, 0, tzinfo=BEIJING))
    assert converted == START
    assert converted.tzinfo is UTC
    assert converted.hour == 9


def test_system_clock_is_aware_utc_and_current() -> None:
    before = datetime.now(UTC)
    now = SystemClock().now()
    after = datetime.now(UTC)
    assert now.tzinfo is UTC
    assert before <= now <= after


def test_fixed_clock_stays_put_until_moved() -> None:
    clock = FixedClock(START)
    assert clock.now() == START
    assert clock.now() == START
    clock.advance(timedelta(minutes=31))
    assert clock.now() == START + timedelta(minutes=31)
    clock.set(START + timedelta(days=2))
    assert clock.now() == START + timedelta(days=2)


def test_fixed_clock_normalises_to_utc() -> None:
    clock = FixedClock(datetime(2026, 11, 28, 17, 0, tzinfo=BEIJING))
    assert clock.now() == START
    assert clock.now().tzinfo is UTC
    clock.set(datetime(2026, 11, 29, 8, 0, tzinfo=BEIJING))
    assert clock.now().tzinfo is UTC
    assert clock.now() == datetime(2026, 11, 29, 0, 0, tzinfo=UTC)


def test_fixed_clock_refuses_naive_times() -> None:
    with pytest.raises(ValueError):
        FixedClock(datetime(2026, 11, 28))
    clock = FixedClock(START)
    with pytest.raises(ValueError):
        clock.set(datetime(2026, 11, 28))
    assert clock.now() == START


def test_stepping_clock_moves_forward_by_its_step() -> None:
    clock = SteppingClock(START, timedelta(seconds=2))
    assert [clock.now() for _ in range(3)] == [
        START,
        START + timedelta(seconds=2),
        START + timedelta(seconds=4),
    ]


def test_stepping_clock_default_step_is_strictly_increasing() -> None:
    clock = SteppingClock(START)
    times = [clock.now() for _ in range(1_000)]
    assert times[1] - times[0] == timedelta(microseconds=1)
    assert all(earlier < later for earlier, later in pairwise(times))


@pytest.mark.parametrize("step", [timedelta(0), timedelta(seconds=-1)])
def test_stepping_clock_refuses_a_step_that_is_not_positive(step: timedelta) -> None:
    with pytest.raises(ValueError, match="positive"):
        SteppingClock(START, step)


def test_stepping_clock_refuses_a_naive_start() -> None:
    with pytest.raises(ValueError):
        SteppingClock(datetime(2026, 11, 28))


offsets = st.integers(min_value=-23 * 60, max_value=23 * 60).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)


@given(
    st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)),
    st.one_of(st.just(UTC), offsets),
    st.sampled_from([" ", "T"]),
)
def test_utc_text_is_what_strftime_writes(moment: datetime, zone: timezone, separator: str) -> None:
    """Years before 1000 included, where isoformat and strftime differ."""
    aware = moment.replace(tzinfo=zone)
    expected = aware.astimezone(UTC).strftime(f"%Y-%m-%d{separator}%H:%M:%S.%f")
    assert utc_text(aware, separator) == expected


def test_utc_text_keeps_whole_seconds_microseconds() -> None:
    assert utc_text(START, " ") == "2026-11-28 09:00:00.000000"
    assert utc_text(START.astimezone(BEIJING), "T") == "2026-11-28T09:00:00.000000"
