"""`Money.parse` takes one form of an amount and nothing else; `format` gives back what it took."""

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from creditline.kernel.errors import InvalidAmount
from creditline.kernel.money import CURRENCY_EXPONENTS, Money

ODD_FORMS = [
    " 5000.00",
    "5000.00 ",
    "\t5000.00",
    "5000.00\n",
    "+5000.00",
    "+0",
    "5\u00a0000.00",  # non-breaking space
    "\u00a05000.00",
    "5000.00\u3000",  # ideographic space
    "5\u202f000",  # narrow no-break space
    "5\u2009000",  # thin space
    "5 000.00",
    "５０００.００",  # full-width digits
    "5000.0０",
    "٥٠٠٠",  # Arabic-Indic digits
    "5_000.00",
    "1e3",
    "1E3",
    "5.0e2",
    "0x10",
    "05000.00",
    "00.50",
    "-0",
    "-0.00",
    "--5",
    "-+5",
    ".50",
    "5.",
    "5..0",
    "5,000.00",
    "5000,00",
    "",
    "-",
    "Infinity",
    "NaN",
    "sNaN",
    "5000.00元",
    "¥5000.00",
]


@pytest.mark.parametrize("text", ODD_FORMS)
def test_every_odd_form_is_refused_as_invalid_amount(text: str) -> None:
    with pytest.raises(InvalidAmount) as refused:
        Money.parse(text, "CNY")
    assert refused.value.code == "invalid_amount"


def test_a_lone_surrogate_is_refused_and_the_message_stays_ascii() -> None:
    with pytest.raises(InvalidAmount) as refused:
        Money.parse("5\ud800", "CNY")
    assert refused.value.message.isascii()


def _padded(text: str, currency: str) -> str:
    """`text` with its fraction right-padded to the currency's places."""
    places = CURRENCY_EXPONENTS[currency]
    whole, _, fraction = text.partition(".")
    return whole + ("." + fraction.ljust(places, "0") if places else "")


@given(st.text(max_size=24), st.sampled_from(sorted(CURRENCY_EXPONENTS)))
def test_any_string_the_parser_accepts_round_trips_through_format(text: str, currency: str) -> None:
    try:
        money = Money.parse(text, currency)
    except InvalidAmount:
        return
    assert money.format() == _padded(text, currency)
    assert Money.parse(money.format(), currency) == money


_PLAIN = re.compile(r"-?(?:0|[1-9][0-9]{0,11})(?:\.[0-9]{1,3})?", re.ASCII)


@given(st.from_regex(_PLAIN, fullmatch=True), st.sampled_from(sorted(CURRENCY_EXPONENTS)))
def test_plain_decimal_strings_round_trip_through_format(text: str, currency: str) -> None:
    try:
        money = Money.parse(text, currency)
    except InvalidAmount as refused:
        # Only negative zero and more places than the currency has are refused in this form.
        places = len(text.partition(".")[2])
        assert text.lstrip("-").strip("0.") == "" or places > CURRENCY_EXPONENTS[currency]
        assert refused.code == "invalid_amount"
        return
    assert money.format() == _padded(text, currency)


@given(
    st.from_regex(_PLAIN, fullmatch=True),
    st.sampled_from(["", " ", "\u00a0", "\u3000", "\t", "+", "_", "\n"]),
    st.sampled_from(["", " ", "\u00a0", "\u3000", "\t", "e0", "_", "\n"]),
)
def test_any_decoration_of_a_plain_amount_is_refused(text: str, before: str, after: str) -> None:
    if not before and not after:
        return
    with pytest.raises(InvalidAmount):
        Money.parse(before + text + after, "KWD")
