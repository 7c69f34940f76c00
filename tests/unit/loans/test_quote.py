import datetime as dt
from decimal import Decimal

import pytest

from creditline.kernel.errors import CurrencyMismatch, InvalidInput
from creditline.kernel.money import Money
from creditline.loans.quote import quote
from creditline.loans.schedule import AnnualRate, DayCount, RepaymentMethod

RATE = AnnualRate(Decimal("0.12"), DayCount.ACT_365)
START = dt.date(2026, 1, 15)


def cny(text: str) -> Money:
    return Money.parse(text, "CNY")


def test_a_quote_adds_up_and_puts_the_fee_into_the_apr() -> None:
    plain = quote(cny("100000.00"), 12, RepaymentMethod.EQUAL_INSTALMENT, RATE, START)
    with_fee = quote(
        cny("100000.00"), 12, RepaymentMethod.EQUAL_INSTALMENT, RATE, START, cny("500.00")
    )
    assert plain["total_fees"] == "0.00"
    assert with_fee["total_cost"] == "7089.16"  # 6,589.16 interest + 500.00 fee
    assert with_fee["total_interest"] == plain["total_interest"] == "6589.16"
    assert sum(cny(i["principal"]).minor for i in with_fee["instalments"]) == 10_000_000
    assert Decimal(plain["apr_percent"]) < Decimal(with_fee["apr_percent"]) == Decimal("12.90")
    assert with_fee["instalments"][0]["due_date"] == "2026-02-15"


def test_a_fee_as_large_as_the_loan_or_in_another_currency_is_refused() -> None:
    with pytest.raises(InvalidInput):
        quote(cny("100.00"), 3, RepaymentMethod.EQUAL_PRINCIPAL, RATE, START, cny("100.00"))
    with pytest.raises(CurrencyMismatch):
        quote(
            cny("100.00"),
            3,
            RepaymentMethod.EQUAL_PRINCIPAL,
            RATE,
            START,
            Money.parse("1.00", "USD"),
        )
