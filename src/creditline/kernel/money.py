"""Money as integer minor units with an ISO 4217 currency.

`Decimal` is used only to parse and render. Floats are refused everywhere: a float has already
lost the exact amount the caller meant.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from creditline.kernel.errors import CurrencyMismatch, InvalidAmount, UnknownCurrency

# Currencies a lender on creditline may book, with their ISO 4217 minor-unit exponent.
CURRENCY_EXPONENTS: dict[str, int] = {
    "CNY": 2,
    "HKD": 2,
    "USD": 2,
    "EUR": 2,
    "GBP": 2,
    "SGD": 2,
    "JPY": 0,
    "KRW": 0,
    "KWD": 3,
}

# Any single amount above this is refused: it keeps every sum of amounts far inside a signed
# 64-bit column (9.2e18) and catches typos of many extra zeros.
AMOUNT_MINOR_MAX = 10**15

_TEXT_LENGTH_MAX = 40
# The one form of an amount: ASCII digits, no leading zeros, no `+`, no space of any kind.
# Decimal() alone would also take " 5", "+5", "5_000", full-width digits and "1e3".
_DECIMAL_TEXT = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?", re.ASCII)


def currency_exponent(currency: str) -> int:
    """Minor-unit exponent of `currency`; `UnknownCurrency` when it is not supported."""
    try:
        return CURRENCY_EXPONENTS[currency]
    except (KeyError, TypeError):
        # Echo only ASCII: raw input may not even encode (a lone surrogate).
        shown = str(currency).encode("ascii", "backslashreplace").decode()[:16]
        raise UnknownCurrency(
            f"unknown currency {shown}",
            currency=shown,
            supported=sorted(CURRENCY_EXPONENTS),
        ) from None


@dataclass(frozen=True, slots=True)
class Money:
    """An exact amount: `minor` units of `currency` (for CNY, fen)."""

    minor: int
    currency: str

    def __post_init__(self) -> None:
        if type(self.minor) is not int:  # bool is an int subclass; refuse it too
            raise InvalidAmount("amount must be an integer number of minor units")
        currency_exponent(self.currency)
        if abs(self.minor) > AMOUNT_MINOR_MAX:
            raise InvalidAmount("amount is too large", amount_minor_max=AMOUNT_MINOR_MAX)

    @classmethod
    def parse(cls, text: object, currency: str) -> Money:
        """Parse a decimal string in major units ("5000.00") exactly, in one strict form.

        Accepted: ASCII digits without leading zeros, an optional `-` and an optional fraction
        ("0.50", "5000", "-12.5"). Refused with `invalid_amount`: non-strings and floats,
        surrounding or inner whitespace of any kind, a leading `+`, leading zeros, negative
        zero, full-width or other non-ASCII digits, underscores, exponents, more decimals than
        the currency has, and amounts beyond `AMOUNT_MINOR_MAX`. Every accepted string comes
        back from `format` as itself, padded to the currency's places.
        """
        exponent = currency_exponent(currency)
        if not isinstance(text, str):
            raise InvalidAmount(
                'amount must be a decimal string such as "5000.00", not a JSON number'
            )
        if len(text) > _TEXT_LENGTH_MAX or not _DECIMAL_TEXT.fullmatch(text):
            shown = text[:_TEXT_LENGTH_MAX].encode("ascii", "backslashreplace").decode()
            raise InvalidAmount(f"amount {shown!r} is not a plain decimal string such as 5000.00")
        negative = text.startswith("-")
        whole, _, fraction = text.lstrip("-").partition(".")
        if negative and not whole.strip("0") and not fraction.strip("0"):
            raise InvalidAmount("amount -0 is not a plain decimal string; write 0")
        if len(fraction) > exponent:
            raise InvalidAmount(
                f"{currency} has {exponent} decimal places; got {len(fraction)}",
                currency=currency,
                decimals_max=exponent,
            )
        # Integer arithmetic on the checked digits: exact, and cheaper than Decimal.
        minor = int(whole) * 10**exponent + int(fraction.ljust(exponent, "0") or "0")
        return cls(-minor if negative else minor, currency)

    @property
    def exponent(self) -> int:
        """The currency's number of decimal places."""
        return CURRENCY_EXPONENTS[self.currency]

    def to_decimal(self) -> Decimal:
        """The exact amount in major units."""
        return Decimal(self.minor).scaleb(-self.exponent)

    def format(self) -> str:
        """The amount as a decimal string in major units with all the currency's places."""
        return _major_units(self.minor, self.exponent)

    def __str__(self) -> str:
        return f"{self.format()} {self.currency}"

    def _same_currency(self, other: Money) -> None:
        if self.currency != other.currency:
            raise CurrencyMismatch(
                f"cannot combine {self.currency} and {other.currency}",
                expected=self.currency,
                got=other.currency,
            )

    def __add__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(self.minor + other.minor, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(self.minor - other.minor, self.currency)

    def is_positive(self) -> bool:
        """True for an amount above zero."""
        return self.minor > 0


def round_half_up(value: Decimal) -> int:
    """Round a Decimal amount of minor units to an integer, half away from zero."""
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def format_minor(minor: int, currency: str) -> str:
    """Render `minor` units of `currency` as a decimal string in major units."""
    exponent = currency_exponent(currency)
    if type(minor) is not int or abs(minor) > AMOUNT_MINOR_MAX:
        Money(minor, currency)  # raises, saying why
    return _major_units(minor, exponent)


def _major_units(minor: int, exponent: int) -> str:
    """`minor` as major units with `exponent` places ("-0.05"), in integer arithmetic."""
    if exponent == 0:
        return str(minor)
    whole, fraction = divmod(abs(minor), 10**exponent)
    return f"{'-' if minor < 0 else ''}{whole}.{str(fraction).zfill(exponent)}"


def group_thousands(amount: str) -> str:
    """'-20000.00' → '-20,000.00': a formatted amount regrouped for reading (text only)."""
    sign, digits = ("-", amount[1:]) if amount.startswith("-") else ("", amount)
    whole, dot, fraction = digits.partition(".")
    groups: list[str] = []
    while len(whole) > 3:
        whole, groups = whole[:-3], [whole[-3:], *groups]
    return sign + ",".join([whole, *groups]) + dot + fraction


def display_amount(amount: str, currency: str, language: str) -> str:
    """How a formatted amount reads to a borrower: 'CNY 20,000.00', or '20,000.00 元'."""
    grouped = group_thousands(amount)
    if language == "zh-CN" and currency == "CNY":
        return f"{grouped} 元"
    return f"{currency} {grouped}"
