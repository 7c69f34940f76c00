import datetime as dt
from decimal import Decimal

import pytest

from creditline.kernel.errors import CurrencyMismatch, InvalidInput, RateAboveCap
from creditline.kernel.money import Money
from creditline.loans import pricing as pricing_module
from creditline.loans.pricing import ProductPricing
from creditline.loans.products import Product, load_catalogue, parse_catalogue
from creditline.loans.quote import product_quote, quote
from creditline.loans.schedule import AnnualRate, DailyRate, DayCount, Rate, RepaymentMethod

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


# --- the instalment (service) fee -----------------------------------------------------------------


def test_an_instalment_fee_is_paid_with_every_instalment_and_raises_the_apr() -> None:
    args = (cny("10000.00"), 12, RepaymentMethod.EQUAL_INSTALMENT, RATE, START)
    plain = quote(*args)
    upfront_only = quote(*args, cny("50.00"))
    with_fees = quote(*args, cny("50.00"), cny("5.00"))

    for bare, charged in zip(plain["instalments"], with_fees["instalments"], strict=True):
        assert cny(charged["payment"]).minor == cny(bare["payment"]).minor + 500
        assert charged["fee"] == "5.00"
        assert charged["principal"] == bare["principal"]
        assert charged["interest"] == bare["interest"]
    assert with_fees["instalments"][0]["payment"] == "893.49"  # the 888.49 annuity + 5.00
    assert with_fees["instalment_fee"] == "5.00"
    assert with_fees["upfront_fee"] == "50.00"
    assert with_fees["total_fees"] == "110.00"  # 50.00 + 5.00 × 12
    assert with_fees["total_interest"] == plain["total_interest"]
    assert cny(with_fees["total_cost"]).minor == cny(plain["total_interest"]).minor + 11_000
    assert cny(with_fees["total_repaid"]).minor == cny(plain["total_repaid"]).minor + 6_000
    assert (
        Decimal(plain["apr_percent"])
        < Decimal(upfront_only["apr_percent"])
        < Decimal(with_fees["apr_percent"])
    )
    assert Decimal(upfront_only["effective_annual_rate_percent"]) < Decimal(
        with_fees["effective_annual_rate_percent"]
    )


def test_a_fee_only_one_month_loan_has_the_fee_as_its_monthly_rate() -> None:
    # 10,000.00 at 0% from 01-31, repaid 02-28 (a whole month, month end to month end) with a
    # 112.00 service fee: 10,112.00 for 10,000.00 is 1.12% a month, an APR of 13.44%.
    zero = AnnualRate(Decimal(0), DayCount.ACT_365)
    quoted = quote(
        cny("10000.00"),
        1,
        RepaymentMethod.EQUAL_PRINCIPAL,
        zero,
        dt.date(2026, 1, 31),
        instalment_fee=cny("112.00"),
    )

    assert quoted["total_interest"] == "0.00"
    assert quoted["total_fees"] == "112.00"
    assert quoted["instalments"][0]["payment"] == "10112.00"
    assert quoted["instalments"][0]["due_date"] == "2026-02-28"
    assert quoted["apr_percent"] == "13.44"


def test_an_instalment_fee_in_another_currency_or_negative_is_refused() -> None:
    args = (cny("1000.00"), 3, RepaymentMethod.EQUAL_PRINCIPAL, RATE, START)
    with pytest.raises(CurrencyMismatch) as refused:
        quote(*args, instalment_fee=Money.parse("1.00", "USD"))
    assert refused.value.details == {"expected": "CNY", "got": "USD"}
    with pytest.raises(InvalidInput):
        quote(*args, instalment_fee=cny("-1.00"))


# --- quotes at a product's price ------------------------------------------------------------------


def _catalogue_product(**changes: str) -> Product:
    product = {
        "name": "Test loan",
        "profile": "CN",
        "currency": "CNY",
        "methods": ["equal_instalment", "equal_principal"],
        "default_method": "equal_instalment",
        "terms": [3, 12],
        "annual_rate_percent": "12.00",
        "upfront_fee_percent": "0.50",
        "instalment_fee_percent": "0.05",
        "late_fee": "20.00",
        "penalty_annual_rate_percent": "18.00",
        "grace_days": 3,
        **changes,
    }
    profile = {
        "name": "Test CN profile",
        "currency": "CNY",
        "apr_cap_percent": "24.00",
        "penalty_annual_rate_cap_percent": "24.00",
        "late_fee_cap": "50.00",
        "timezone": "Asia/Shanghai",
    }
    catalogue = parse_catalogue({"profiles": {"CN": profile}, "products": {"test-loan": product}})
    return catalogue.product("test-loan")


def test_a_product_quote_names_the_product_profile_and_cap() -> None:
    product = _catalogue_product()

    schedule, quoted = product_quote(product, cny("10000.00"), 12, None, START)

    assert quoted["product"] == "test-loan"
    assert quoted["profile"] == "CN"
    assert quoted["apr_cap_percent"] == "24.00"
    assert quoted["method"] == "equal_instalment"  # the product's default
    assert quoted["upfront_fee"] == "50.00"  # 0.50% of 10,000.00
    assert quoted["instalment_fee"] == "5.00"  # 0.05% of 10,000.00
    assert quoted["total_fees"] == "110.00"
    assert quoted["instalments"][0]["payment"] == "893.49"
    assert len(schedule.instalments) == 12
    assert [i["principal"] for i in quoted["instalments"]] == [
        Money(i.principal_minor, "CNY").format() for i in schedule.instalments
    ]
    # The same price as a plain quote with the product's fees.
    plain = quote(
        cny("10000.00"),
        12,
        RepaymentMethod.EQUAL_INSTALMENT,
        RATE,
        START,
        cny("50.00"),
        cny("5.00"),
    )
    assert quoted["apr_percent"] == plain["apr_percent"]


def test_a_product_quote_above_the_apr_cap_is_refused() -> None:
    # 20% a year is under the cap, but a 5% upfront fee on 3 months is not.
    product = _catalogue_product(annual_rate_percent="20.00", upfront_fee_percent="5.00")

    with pytest.raises(RateAboveCap) as refused:
        product_quote(product, cny("10000.00"), 3, "equal_principal", START)

    assert refused.value.code == "rate_above_cap"
    assert refused.value.details["measure"] == "apr"
    assert refused.value.details["calendar"] == "drawdown"
    assert refused.value.details["cap_percent"] == "24.00"
    assert refused.value.details["profile"] == "CN"
    assert Decimal(refused.value.details["rate_percent"]) > Decimal("24.00")


def test_a_product_quote_in_another_currency_is_refused() -> None:
    with pytest.raises(CurrencyMismatch) as refused:
        product_quote(_catalogue_product(), Money.parse("10000.00", "USD"), 12, None, START)

    assert refused.value.details == {"expected": "CNY", "got": "USD"}


def test_a_product_quote_refuses_a_term_or_method_the_product_does_not_offer() -> None:
    product = _catalogue_product()

    with pytest.raises(InvalidInput):
        product_quote(product, cny("10000.00"), 6, None, START)
    with pytest.raises(InvalidInput):
        product_quote(product, cny("10000.00"), 12, "interest_first", START)


def test_a_product_quote_too_small_for_its_upfront_fee_is_refused() -> None:
    product = _catalogue_product(upfront_fee_percent="100")

    with pytest.raises(InvalidInput) as refused:
        product_quote(product, cny("100.00"), 3, None, START)
    assert "upfront fee" in refused.value.message


def test_a_zero_rate_interest_first_loan_over_two_years_is_quoted_as_a_single_payment() -> None:
    # 0% interest first: nothing is paid until the principal at month 24. With a 100.00 upfront
    # fee the borrower gets 9,900.00 and repays 10,000.00 two years later: a single advance,
    # single payment longer than a year, so the unit period is a year (Appendix J (b)(5)(v)):
    # (1 + i)² = 10,000 / 9,900, i = 0.50378%. The 730 days are two 365-day years, so the
    # effective daily rate is the same.
    zero = AnnualRate(Decimal(0), DayCount.ACT_365)
    quoted = quote(cny("10000.00"), 24, RepaymentMethod.INTEREST_FIRST, zero, START, cny("100.00"))

    assert [i["payment"] for i in quoted["instalments"]] == ["0.00"] * 23 + ["10000.00"]
    assert quoted["total_cost"] == "100.00"
    assert quoted["apr_percent"] == "0.50"
    assert quoted["effective_annual_rate_percent"] == "0.50"


# --- the day count (30/360, ACT/365, ACT/360) --------------------------------------------------


def test_a_30_360_equal_instalment_at_12_percent_has_an_apr_of_12_00_on_every_start_date() -> None:
    # 30/360 charges 1% of the balance each month, and the annuity is computed at 1% a month, so
    # the flows are the annuity's own: an IRR of exactly 1% a month, 12.00% a year, whatever
    # the start date (drawn on the 31st the months are whole months too, Appendix J (b)(3)(iv)).
    rate = AnnualRate(Decimal("0.12"), DayCount.THIRTY_360)
    start, aprs = dt.date(2024, 1, 1), set()
    while start < dt.date(2026, 1, 1):
        quoted = quote(cny("10000.00"), 12, RepaymentMethod.EQUAL_INSTALMENT, rate, start)
        aprs.add((quoted["apr_percent"], quoted["day_count"], quoted["annual_rate_percent"]))
        start += dt.timedelta(days=1)

    assert aprs == {("12.00", "30/360", "12.00")}


@pytest.mark.parametrize(
    ("rate", "shown"),
    [
        (AnnualRate(Decimal("0.12"), DayCount.ACT_365), {"annual_rate_percent": "12.00"}),
        (AnnualRate(Decimal("0.0725"), DayCount.ACT_360), {"annual_rate_percent": "7.25"}),
        (AnnualRate(Decimal("0.108"), DayCount.THIRTY_360), {"annual_rate_percent": "10.80"}),
        (DailyRate(Decimal("0.0004")), {"daily_rate_percent": "0.04"}),
    ],
    ids=["ACT/365", "ACT/360", "30/360", "daily"],
)
def test_a_quote_shows_its_rate_and_day_count(rate: Rate, shown: dict[str, str]) -> None:
    quoted = quote(cny("1000.00"), 3, RepaymentMethod.EQUAL_PRINCIPAL, rate, START)

    day_count = rate.day_count.value if isinstance(rate, AnnualRate) else "ACT/365"
    assert {**shown, "day_count": day_count}.items() <= quoted.items()


def test_a_product_quote_shows_the_products_day_count() -> None:
    product = _catalogue_product(day_count="30/360")

    _, quoted = product_quote(product, cny("10000.00"), 12, None, dt.date(2026, 1, 31))

    assert (quoted["day_count"], quoted["annual_rate_percent"]) == ("30/360", "12.00")
    # The fees lift the APR above the nominal rate; the 30/360 interest itself is 12.00%.
    assert Decimal(quoted["apr_percent"]) > Decimal("12.00")


def test_a_hold_at_a_price_already_quoted_is_not_priced_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    catalogue = load_catalogue()
    pricing = ProductPricing(catalogue)
    at = dt.datetime(2026, 3, 10, 9, 30, tzinfo=dt.UTC)
    product = catalogue.default_for("CNY")
    start = product.profile.business_date(at)
    fresh = product_quote(product, cny("1234.56"), 12, None, start)[1]
    first = pricing.price_hold(None, "CNY", 123_456, 12, None, at)
    assert (first.product, first.method, first.quote) == (product.code, fresh["method"], fresh)

    priced: list[object] = []

    class Priced(Exception):
        pass

    def reprice(*args: object) -> None:
        priced.append(args)
        raise Priced

    monkeypatch.setattr(pricing_module, "product_quote", reprice)
    later_that_day = at + dt.timedelta(hours=2)
    assert pricing.price_hold(product.code, "CNY", 123_456, 12, None, later_that_day) == first
    assert priced == []  # remembered: same product, amount, term, method and date
    with pytest.raises(Priced):  # another amount is priced
        pricing.price_hold(None, "CNY", 123_457, 12, None, at)
    assert len(priced) == 1
