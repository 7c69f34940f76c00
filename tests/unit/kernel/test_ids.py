import time
import uuid
from collections.abc import Iterator
from types import SimpleNamespace

import pytest

from creditline.kernel import ids
from creditline.kernel.ids import is_id, new_id


def _ms(identifier: str) -> int:
    return uuid.UUID(identifier).int >> 80


@pytest.fixture
def fake_time(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Drive `new_id`'s clock with a list of nanosecond readings (the last one repeats)."""
    readings: list[int] = []

    def time_ns() -> int:
        return readings.pop(0) if len(readings) > 1 else readings[0]

    monkeypatch.setattr(ids, "time", SimpleNamespace(time_ns=time_ns))
    monkeypatch.setattr(ids, "_last_ms", 0)
    monkeypatch.setattr(ids, "_counter", 0)
    yield readings


def test_new_id_is_a_canonical_uuid_version_7() -> None:
    identifier = new_id()
    parsed = uuid.UUID(identifier)
    assert parsed.version == 7
    assert parsed.variant == uuid.RFC_4122
    assert str(parsed) == identifier
    assert is_id(identifier)


def test_new_id_carries_its_creation_millisecond() -> None:
    before = time.time_ns() // 1_000_000
    identifier = new_id()
    after = time.time_ns() // 1_000_000
    assert before <= _ms(identifier) <= after + 1


def test_ids_sort_in_creation_order_and_are_unique() -> None:
    made = [new_id() for _ in range(5_000)]
    assert made == sorted(made)
    assert len(set(made)) == len(made)


def test_ids_in_one_millisecond_keep_their_order(fake_time: list[int]) -> None:
    fake_time.append(1_800_000_000_000 * 1_000_000)
    made = [new_id() for _ in range(5_000)]  # more than the 12-bit counter holds
    assert made == sorted(made)
    assert len(set(made)) == len(made)
    assert _ms(made[0]) == 1_800_000_000_000
    assert _ms(made[-1]) > _ms(made[0])  # the counter overflowed into the next millisecond
    assert all(uuid.UUID(m).version == 7 for m in made)


def test_ids_keep_their_order_when_the_clock_goes_back(fake_time: list[int]) -> None:
    start_ns = 1_800_000_000_000 * 1_000_000
    fake_time.extend([start_ns, start_ns - 5_000_000_000, start_ns - 10_000_000_000])
    made = [new_id() for _ in range(3)]
    assert made == sorted(made)
    assert [_ms(m) for m in made] == [1_800_000_000_000] * 3


@pytest.mark.parametrize(
    "text",
    [
        "",
        "not-an-id",
        "0190c3f2-7a7b-7cde-8f01-23456789ABCD",
        "0190c3f27a7b7cde8f0123456789abcd",
        "{0190c3f2-7a7b-7cde-8f01-23456789abcd}",
        "urn:uuid:0190c3f2-7a7b-7cde-8f01-23456789abcd",
        None,
        123,
    ],
)
def test_is_id_refuses_non_canonical_text(text: object) -> None:
    assert not is_id(text)  # type: ignore[arg-type]


def test_is_id_accepts_a_canonical_lowercase_uuid() -> None:
    assert is_id("0190c3f2-7a7b-7cde-8f01-23456789abcd")


def test_an_unordered_id_is_a_uuid7_of_now_and_unique() -> None:
    before = time.time_ns() // 1_000_000
    made = [ids.new_unordered_id() for _ in range(10_000)]
    after = time.time_ns() // 1_000_000
    assert len(set(made)) == len(made)
    for text in made[:100]:
        parsed = uuid.UUID(text)  # the standard library's reading, not ours
        assert str(parsed) == text and is_id(text)
        assert (parsed.version, parsed.variant) == (7, uuid.RFC_4122)
        assert before <= parsed.int >> 80 <= after
