from dataclasses import FrozenInstanceError
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from creditline.kernel.errors import (
    CurrencyMismatch,
    DomainError,
    InvalidAmount,
    InvalidInput,
    UnknownCurrency,
)
from creditline.kernel.money import (
    AMOUNT_MINOR_MAX,
    CURRENCY_EXPONENTS,
    Money,
    format_minor,
    round_half_up,
)


@pytest.mark.parametrize(
    ("text", "currency", "minor"),
    [
        ("5000.00", "CNY", 500_000),
        ("5000", "CNY", 500_000),
        ("12.5", "CNY", 1_250),
        ("0.01", "CNY", 1),
        ("-0.05", "CNY", -5),
        ("7.10", "USD", 710),
        ("0", "CNY", 0),
        ("5000", "JPY", 5_000),
        ("1.234", "KWD", 1_234),
    ],
)
def test_parse_is_exact(text: str, currency: str, minor: int) -> None:
    assert Money.parse(text, currency) == Money(minor, currency)


@pytest.mark.parametrize("value", [5000.0, 5000, Decimal("5000"), None, b"5000.00"])
def test_parse_refuses_anything_but_a_string(value: object) -> None:
    with pytest.raises(InvalidAmount) as refused:
        Money.parse(value, "CNY")
    assert refused.value.code == "invalid_amount"


@pytest.mark.parametrize(
    "text", ["", "   ", "abc", "1e3", "1E3", "NaN", "Infinity", "-Infinity", "1,000.00", "1" * 41]
)
def test_parse_refuses_what_is_not_a_plain_decimal(text: str) -> None:
    with pytest.raises(InvalidAmount):
        Money.parse(text, "CNY")


@pytest.mark.parametrize("text", ["1_000.00", "５０００.00", "٥٠٠"])
def test_parse_refuses_python_only_number_syntax(text: str) -> None:
    # Decimal() also reads digit-group underscores and non-ASCII digits; an API amount is plain
    # ASCII "5000.00", so these must not be taken as numbers.
    with pytest.raises(InvalidAmount):
        Money.parse(text, "CNY")


@pytest.mark.parametrize(
    ("text", "currency"), [("0.001", "CNY"), ("5.5", "JPY"), ("1.2345", "KWD")]
)
def test_parse_refuses_more_decimals_than_the_currency_has(text: str, currency: str) -> None:
    with pytest.raises(InvalidAmount) as refused:
        Money.parse(text, currency)
    assert refused.value.details == {
        "currency": currency,
        "decimals_max": CURRENCY_EXPONENTS[currency],
    }


def test_parse_accepts_the_largest_amount_and_refuses_one_more() -> None:
    assert Money.parse("10000000000000.00", "CNY").minor == AMOUNT_MINOR_MAX
    with pytest.raises(InvalidAmount):
        Money.parse("10000000000000.01", "CNY")


def test_parse_refuses_an_unknown_currency() -> None:
    with pytest.raises(UnknownCurrency) as refused:
        Money.parse("1.00", "XXX")
    assert refused.value.code == "unknown_currency"
    assert refused.value.details["supported"] == sorted(CURRENCY_EXPONENTS)


@pytest.mark.parametrize("currency", ["cny", "", None, ["CNY"]])
def test_money_refuses_an_unknown_currency(currency: object) -> None:
    with pytest.raises(UnknownCurrency):
        Money(1, currency)  # type: ignore[arg-type]


@pytest.mark.parametrize("minor", [5.0, True, Decimal(5), "5"])
def test_money_refuses_a_non_integer_amount(minor: object) -> None:
    with pytest.raises(InvalidAmount):
        Money(minor, "CNY")  # type: ignore[arg-type]


def test_money_bounds_are_symmetric() -> None:
    assert Money(-AMOUNT_MINOR_MAX, "CNY").minor == -AMOUNT_MINOR_MAX
    for minor in (AMOUNT_MINOR_MAX + 1, -AMOUNT_MINOR_MAX - 1):
        with pytest.raises(InvalidAmount):
            Money(minor, "CNY")


def test_money_is_immutable() -> None:
    money = Money(1, "CNY")
    with pytest.raises(FrozenInstanceError):
        money.minor = 2  # type: ignore[misc]


@pytest.mark.parametrize(
    ("money", "text"),
    [
        (Money(500_000, "CNY"), "5000.00"),
        (Money(1, "CNY"), "0.01"),
        (Money(0, "CNY"), "0.00"),
        (Money(-5, "CNY"), "-0.05"),
        (Money(5_000, "JPY"), "5000"),
        (Money(1_234, "KWD"), "1.234"),
        (Money(AMOUNT_MINOR_MAX, "CNY"), "10000000000000.00"),
    ],
)
def test_format_prints_all_the_currency_places(money: Money, text: str) -> None:
    assert money.format() == text
    assert format_minor(money.minor, money.currency) == text


def test_str_and_decimal_views() -> None:
    money = Money(500_050, "CNY")
    assert str(money) == "5000.50 CNY"
    assert money.to_decimal() == Decimal("5000.50")
    assert money.exponent == 2


@given(
    minor=st.integers(-AMOUNT_MINOR_MAX, AMOUNT_MINOR_MAX),
    currency=st.sampled_from(sorted(CURRENCY_EXPONENTS)),
)
def test_format_then_parse_round_trips(minor: int, currency: str) -> None:
    money = Money(minor, currency)
    assert Money.parse(money.format(), currency) == money


def test_arithmetic_in_one_currency() -> None:
    assert Money(700, "CNY") + Money(300, "CNY") == Money(1_000, "CNY")
    assert Money(700, "CNY") - Money(1_000, "CNY") == Money(-300, "CNY")
    assert Money(1, "CNY").is_positive()
    assert not Money(0, "CNY").is_positive()


def test_arithmetic_refuses_mixed_currencies() -> None:
    with pytest.raises(CurrencyMismatch) as refused:
        Money(1, "CNY") + Money(1, "USD")
    assert refused.value.details == {"expected": "CNY", "got": "USD"}
    with pytest.raises(CurrencyMismatch):
        Money(1, "CNY") - Money(1, "USD")


def test_arithmetic_refuses_a_result_beyond_the_maximum() -> None:
    with pytest.raises(InvalidAmount):
        Money(AMOUNT_MINOR_MAX, "CNY") + Money(1, "CNY")


@pytest.mark.parametrize(
    ("value", "rounded"),
    [("2.5", 3), ("2.4999", 2), ("3.5", 4), ("-2.5", -3), ("0.5", 1), ("7", 7)],
)
def test_round_half_up_rounds_halves_away_from_zero(value: str, rounded: int) -> None:
    assert round_half_up(Decimal(value)) == rounded


def test_money_errors_are_expected_rejections() -> None:
    assert issubclass(InvalidAmount, InvalidInput)
    assert issubclass(UnknownCurrency, DomainError)
    assert issubclass(CurrencyMismatch, InvalidInput)
