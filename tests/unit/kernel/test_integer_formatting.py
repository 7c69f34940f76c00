"""Money and ids are formatted and parsed in integer arithmetic on the hold path; these check
the results against the standard library's own (Decimal, uuid) on random inputs."""

import uuid
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from creditline.kernel.ids import is_id, new_id
from creditline.kernel.money import (
    AMOUNT_MINOR_MAX,
    CURRENCY_EXPONENTS,
    Money,
    format_minor,
)

minors = st.integers(min_value=-AMOUNT_MINOR_MAX, max_value=AMOUNT_MINOR_MAX)
currencies = st.sampled_from(sorted(CURRENCY_EXPONENTS))


@given(minors, currencies)
def test_format_minor_is_decimals_rendering(minor: int, currency: str) -> None:
    exponent = CURRENCY_EXPONENTS[currency]
    assert format_minor(minor, currency) == f"{Decimal(minor).scaleb(-exponent):.{exponent}f}"


@given(minors, currencies)
def test_parse_reads_back_what_format_wrote(minor: int, currency: str) -> None:
    assert Money.parse(format_minor(minor, currency), currency) == Money(minor, currency)


@given(minors, st.integers(min_value=0, max_value=3), currencies)
def test_parse_is_decimals_reading_of_fewer_places(minor: int, places: int, currency: str) -> None:
    """A text with at most the currency's places reads as Decimal reads it."""
    exponent = CURRENCY_EXPONENTS[currency]
    places = min(places, exponent)
    text = f"{Decimal(minor).scaleb(-places):.{places}f}"
    if text.startswith("-") and Decimal(text).is_zero():
        return  # -0 is refused, checked in test_money_strict
    expected = int(Decimal(text).scaleb(exponent))
    if abs(expected) <= AMOUNT_MINOR_MAX:
        assert Money.parse(text, currency).minor == expected


def _uuid_is_id(text: object) -> bool:
    """The definition: `text` is what uuid prints for the UUID it parses to."""
    try:
        return str(uuid.UUID(text)) == text  # type: ignore[arg-type]
    except (ValueError, AttributeError, TypeError):
        return False


@given(st.integers(min_value=0, max_value=2**128 - 1))
def test_is_id_agrees_with_uuid_on_uuids(value: int) -> None:
    for text in (str(uuid.UUID(int=value)), str(uuid.UUID(int=value)).upper()):
        assert is_id(text) == _uuid_is_id(text)


@given(st.text(alphabet="0123456789abcdefABCDEF-{}:urn ", max_size=45))
def test_is_id_agrees_with_uuid_on_near_misses(text: str) -> None:
    assert is_id(text) == _uuid_is_id(text)


def test_new_id_prints_as_uuid_prints_it() -> None:
    for _ in range(1_000):
        made = new_id()
        assert str(uuid.UUID(made)) == made
