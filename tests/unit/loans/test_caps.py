"""Rate caps on what the borrower actually pays (CN-4, CN-5; loans/caps.py, loans/every_date.py)
and the longest interest-first term (CN-2). Expected figures are worked by hand in each test."""

from __future__ import annotations

import copy
import datetime as dt
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest

from creditline.kernel.errors import InvalidInput, RateAboveCap, TermAboveCap
from creditline.kernel.money import Money
from creditline.kernel.months import add_months
from creditline.loans.caps import Measure, shipped_lpr
from creditline.loans.every_date import Price, upper_bounds
from creditline.loans.products import Product, load_catalogue, parse_catalogue
from creditline.loans.quote import product_quote, quote
from creditline.loans.schedule import AnnualRate, DayCount, RepaymentMethod

PROFILE = {
    "name": "Test CN profile",
    "currency": "CNY",
    "apr_cap_percent": "24.00",
    "penalty_annual_rate_cap_percent": "24.00",
    "late_fee_cap": "50.00",
    "timezone": "Asia/Shanghai",
}
PRODUCT = {
    "name": "Test loan",
    "profile": "CN",
    "currency": "CNY",
    "methods": ["equal_instalment"],
    "default_method": "equal_instalment",
    "terms": [1, 12],
    "annual_rate_percent": "12.00",
}
TEN_THOUSAND = Money.parse("10000.00", "CNY")


def catalogue_document(
    profile: dict[str, Any] | None = None, lpr: dict[str, Any] | None = None, **product: Any
) -> dict[str, Any]:
    """One profile, one product; `product` overrides fields (None removes one)."""
    spec = {**copy.deepcopy(PRODUCT), **product}
    document = {
        "profiles": {"CN": {**copy.deepcopy(PROFILE), **(profile or {})}},
        "products": {"test-loan": {k: v for k, v in spec.items() if v is not None}},
    }
    if lpr is not None:
        document["lpr"] = lpr
    return document


def product_of(
    profile: dict[str, Any] | None = None, lpr: dict[str, Any] | None = None, **product: Any
) -> Product:
    return parse_catalogue(catalogue_document(profile, lpr, **product)).product("test-loan")


def days(start: dt.date, end: dt.date) -> list[dt.date]:
    return [start + dt.timedelta(days=n) for n in range((end - start).days)]


def two_places(value: float) -> Decimal:
    return Decimal(repr(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


# --- the rate itself: refused when the catalogue is loaded -------------------------------------


@pytest.mark.parametrize(
    ("changes", "measure", "shown", "february_apr"),
    [
        # 26% a year. A one-month loan drawn on 1 February 2026 pays 28 days of it:
        # 10,000.00 × 26% × 28 / 365 = 199.45, an APR of 1.9945% × 12 = 23.93%: under the cap.
        pytest.param(
            {"annual_rate_percent": "26.00"}, "nominal_annual_rate", "26.00", "23.93", id="26%"
        ),
        # 0.07% a day is 25.55% a year; 28 days of it: 1.96% × 12 = 23.52%.
        pytest.param(
            {"annual_rate_percent": None, "daily_rate_percent": "0.07"},
            "daily_rate_x365",
            "25.55",
            "23.52",
            id="0.07%-a-day",
        ),
        # 23.80% ACT/360: a day costs 23.80% / 360, × 365 = 24.1305...%, shown 24.14 (never
        # below the figure). 28 days: 10,000.00 × 23.80% × 28 / 360 = 185.11, × 12 = 22.21%.
        pytest.param(
            {"annual_rate_percent": "23.80", "day_count": "ACT/360"},
            "daily_rate_x365",
            "24.14",
            "22.21",
            id="23.80%-ACT/360",
        ),
    ],
)
def test_a_rate_above_the_cap_refuses_the_product_though_a_february_loan_is_under_it(
    changes: dict[str, Any], measure: str, shown: str, february_apr: str
) -> None:
    # Before, the APR of each drawdown was the only check: February let these products pass.
    rate = product_of(profile={"apr_cap_percent": "30.00"}, **changes).rate
    one_month = quote(TEN_THOUSAND, 1, RepaymentMethod.EQUAL_INSTALMENT, rate, dt.date(2026, 2, 1))
    assert one_month["apr_percent"] == february_apr

    with pytest.raises(RateAboveCap) as refused:
        product_of(**changes)

    error = refused.value
    assert error.code == "rate_above_cap"
    assert (error.details["measure"], error.details["rate_percent"]) == (measure, shown)
    assert (error.details["cap_percent"], error.details["profile"]) == ("24.00", "CN")
    assert "test-loan" in error.message and "24.00%" in error.message and "CN" in error.message


def test_a_30_360_rate_at_the_cap_passes_on_every_date() -> None:
    # 24.00% 30/360 charges 2% a month whatever its length: the APR is 24.00% on every date, and
    # a year of it costs 24%, so the daily rate × 365 does not apply.
    product = product_of(annual_rate_percent="24.00", day_count="30/360")

    aprs = {
        product_quote(product, TEN_THOUSAND, 1, None, day)[1]["apr_percent"]
        for day in days(dt.date(2026, 1, 1), dt.date(2027, 1, 1))
    }
    assert aprs == {"24.00"}


# --- the APR on every drawdown date -------------------------------------------------------------


def test_a_price_under_the_cap_only_in_short_months_is_refused_on_every_date() -> None:
    # 23.80% ACT/365 for one month: 10,000.00 × 23.80% × 31 / 365 = 202.14 in a 31-day month,
    # an APR of 2.0214% × 12 = 24.26%; in February 182.58, 21.91%.
    product = product_of(annual_rate_percent="23.80", day_count="ACT/365", terms=[1])

    for day in days(dt.date(2026, 1, 1), dt.date(2027, 1, 1)):
        with pytest.raises(RateAboveCap) as refused:
            product_quote(product, TEN_THOUSAND, 1, None, day)
        assert refused.value.details["rate_percent"] == "24.26", day
        # Over 31 days the drawdown's own APR is above the cap; otherwise its dearest date's.
        own_days = (add_months(day, 1) - day).days
        calendar = refused.value.details["calendar"]
        assert calendar == ("drawdown" if own_days == 31 else "dearest"), day
        assert ("dearest date" in refused.value.message) == (calendar == "dearest")


def test_a_price_under_the_cap_on_its_dearest_date_passes_on_every_date() -> None:
    # 23.20% for one month: at most 10,000.00 × 23.20% × 31 / 365 = 197.04, 23.64%.
    product = product_of(annual_rate_percent="23.20", day_count="ACT/365", terms=[1])

    aprs = {
        product_quote(product, TEN_THOUSAND, 1, None, day)[1]["apr_percent"]
        for day in days(dt.date(2026, 1, 1), dt.date(2027, 1, 1))
    }
    assert max(aprs) == "23.64"


def test_a_longer_loan_passes_when_no_real_date_prices_it_above_the_cap() -> None:
    # 23.60% ACT/365 over 12 months. Were every month 31 days long the APR would be about
    # 23.60 × 31 / 30.42 = 24.05% (the quick bound), but twelve real months have 365 or 366
    # days, some 23.60 × 30.5 / 30.42 = 23.66% on average: no date refuses it. Swept here:
    # every date whose months differ, four years from a leap year.
    product = product_of(annual_rate_percent="23.60", day_count="ACT/365")
    price = Price(product.rate, RepaymentMethod.EQUAL_INSTALMENT, 1_000_000, 12, 0, 0)
    [bound] = upper_bounds(price, (Measure.APR,))
    assert bound.percent > Decimal("24.00")

    starts = [
        day for day in days(dt.date(2024, 1, 1), dt.date(2028, 1, 1)) if day.day in (1, 29, 30, 31)
    ]
    aprs = {product_quote(product, TEN_THOUSAND, 12, None, day)[1]["apr_percent"] for day in starts}
    assert "23.60" < max(aprs) < "24.00"


# --- the effective annual rate, where the profile says so --------------------------------------


def test_the_effective_annual_rate_is_capped_where_the_profile_says_so() -> None:
    # 21.90% 30/360 for one month: 1.825% a month whatever its length, an APR of 21.90%. By the
    # day, 1.825% over February's 28 days compounds to 1.01825^(365/28) - 1 = 26.59% a year.
    february = two_places(((1 + 0.219 / 12) ** (365 / 28) - 1) * 100)
    changes = {"annual_rate_percent": "21.90", "day_count": "30/360", "terms": [1]}
    assert product_quote(product_of(**changes), TEN_THOUSAND, 1, None, dt.date(2026, 3, 1))

    capped = product_of(profile={"cap_effective_annual_rate": True}, **changes)
    for day in (dt.date(2026, 2, 1), dt.date(2026, 3, 1)):  # 28 days, then 31
        with pytest.raises(RateAboveCap) as refused:
            product_quote(capped, TEN_THOUSAND, 1, None, day)
        error = refused.value
        assert error.details["measure"] == "effective_annual_rate"
        assert Decimal(error.details["rate_percent"]) == february == Decimal("26.59")
        assert "effective annual rate" in error.message


# --- the APRC (EU) ------------------------------------------------------------------------------


def test_an_aprc_capped_profile_holds_its_cap_on_every_date() -> None:
    # 13.50% ACT/365 for one month under a 14% APRC cap. In a 31-day month 1.1466% a month,
    # an APRC of 1.011466^12 - 1 = 14.66%; in February 1.0356%, 13.15%.
    dearest = two_places((1.011466**12 - 1) * 100)  # 114.66 interest
    product = product_of(
        profile={"apr_cap_percent": "14.00", "apr_method": "aprc"},
        annual_rate_percent="13.50",
        terms=[1],
    )
    for day in (dt.date(2026, 2, 1), dt.date(2026, 3, 1)):
        with pytest.raises(RateAboveCap) as refused:
            product_quote(product, TEN_THOUSAND, 1, None, day)
        assert refused.value.details["measure"] == "aprc"
        assert Decimal(refused.value.details["rate_percent"]) == dearest.quantize(Decimal("0.1"))


# --- the judicial cap: 4 × the one-year LPR (CN-5) ---------------------------------------------

LPR = {
    "version": "test-2",
    "valid_through": "2026-12-31",
    "one_year": [
        {"since": "2024-10-21", "percent": "3.10"},
        {"since": "2025-05-20", "percent": "3.00"},
    ],
}


def test_the_judicial_cap_is_a_multiple_of_the_lpr_in_force_on_the_drawdown_date() -> None:
    # 12.20% 30/360: under 4 × 3.10% = 12.40% until 19 May 2025, above 4 × 3.00% = 12.00% from
    # the fixing of 20 May 2025.
    product = product_of(
        profile={"judicial_cap_lpr_multiple": 4},
        lpr=LPR,
        annual_rate_percent="12.20",
        day_count="30/360",
    )

    _, quoted = product_quote(product, TEN_THOUSAND, 12, None, dt.date(2025, 5, 19))
    assert (quoted["apr_percent"], quoted["apr_cap_percent"]) == ("12.20", "12.40")
    assert "4 × the one-year LPR of 3.10% fixed on 2024-10-21" in quoted["rate_cap_basis"]
    with pytest.raises(RateAboveCap) as refused:
        product_quote(product, TEN_THOUSAND, 12, None, dt.date(2025, 5, 20))
    error = refused.value
    assert (error.details["measure"], error.details["cap_percent"]) == (
        "nominal_annual_rate",
        "12.00",
    )
    assert error.details["cap_basis"] == (
        "4 × the one-year LPR of 3.00% fixed on 2025-05-20 (LPR data test-2)"
    )


def test_the_lower_of_the_profile_cap_and_the_judicial_cap_binds() -> None:
    high = {**LPR, "one_year": [{"since": "2024-01-01", "percent": "7.00"}]}  # 4 × 7 = 28%
    product = product_of(profile={"judicial_cap_lpr_multiple": 4}, lpr=high)

    _, quoted = product_quote(product, TEN_THOUSAND, 12, None, dt.date(2026, 1, 15))
    assert (quoted["apr_cap_percent"], quoted["rate_cap_basis"]) == (
        "24.00",
        "the CN profile's cap",
    )


@pytest.mark.parametrize("day", [dt.date(2024, 10, 20), dt.date(2027, 1, 1)], ids=str)
def test_a_date_the_lpr_data_does_not_reach_is_refused(day: dt.date) -> None:
    product = product_of(profile={"judicial_cap_lpr_multiple": 4}, lpr=LPR)

    with pytest.raises(InvalidInput) as refused:
        product_quote(product, TEN_THOUSAND, 12, None, day)
    assert refused.value.details["lpr_version"] == "test-2"
    assert "2024-10-21 to 2026-12-31" in refused.value.message


@pytest.mark.parametrize(
    "lpr",
    [
        {**LPR, "one_year": [{"since": "2025-05-20", "percent": 3.0}]},  # a float
        {**LPR, "one_year": list(reversed(LPR["one_year"]))},  # out of date order
        {**LPR, "valid_through": "2025-01-01"},  # before the last fixing
        {**LPR, "one_year": []},
    ],
    ids=["float", "unordered", "valid-through-too-early", "empty"],
)
def test_malformed_lpr_data_is_refused(lpr: dict[str, Any]) -> None:
    with pytest.raises(InvalidInput):
        product_of(profile={"judicial_cap_lpr_multiple": 4}, lpr=lpr)


def test_the_shipped_lpr_data_is_dated_and_versioned() -> None:
    """One-year LPR fixings as press reports of them give them (lpr.toml says which rows are
    checked): 3.35% from 22 July 2024, 3.10% from 21 October 2024, 3.00% from 20 May 2025
    (S&P Global, 20 May 2025: "cut its one-year loan prime rate (LPR) ... to 3.0% from 3.1%"),
    still 3.00% at the fixing of 24 February 2026 (RTTNews)."""
    lpr = shipped_lpr()

    assert lpr.version == "2026-02-24"
    assert lpr.on(dt.date(2024, 7, 22)).percent == Decimal("3.35")
    assert lpr.on(dt.date(2025, 5, 19)).percent == Decimal("3.10")
    assert lpr.on(dt.date(2025, 5, 20)).percent == Decimal("3.00")
    assert lpr.on(dt.date(2026, 3, 19)).percent == Decimal("3.00")
    with pytest.raises(InvalidInput):
        lpr.on(dt.date(2026, 3, 20))  # the next fixing is not in this version


def test_the_cn_profile_takes_the_judicial_cap_as_an_option() -> None:
    shipped = load_catalogue().product("cn-standard")
    assert shipped.profile.judicial_cap_lpr_multiple is None
    assert shipped.profile.cap_effective_annual_rate is True
    # With the option on, the shipped LPR (3.00%) caps cn-standard at 12.00%: its 12.00%
    # nominal rate passes, its fees do not.
    document = catalogue_document()
    document["profiles"]["CN"]["judicial_cap_lpr_multiple"] = 4
    document["products"]["test-loan"].update(upfront_fee_percent="0.50")
    product = parse_catalogue(document).product("test-loan")

    with pytest.raises(RateAboveCap) as refused:
        product_quote(product, TEN_THOUSAND, 12, None, dt.date(2026, 3, 2))
    assert refused.value.details["measure"] == "apr"
    assert refused.value.details["cap_percent"] == "12.00"
    assert "LPR data 2026-02-24" in refused.value.details["cap_basis"]


# --- interest-first terms (CN-2) ---------------------------------------------------------------

BANK = {"interest_first_term_months_max": 12}
BULLET = {"methods": ["equal_instalment", "interest_first"], "terms": [3, 12, 24]}


def test_an_interest_first_term_longer_than_the_profile_allows_refuses_the_product() -> None:
    with pytest.raises(TermAboveCap) as refused:
        product_of(profile=BANK, **BULLET)

    error = refused.value
    assert error.code == "term_above_cap"
    assert (error.details["term_months"], error.details["term_months_max"]) == (24, 12)
    assert error.details["profile"] == "CN"
    assert "test-loan" in error.message and "CN-2" in error.message


def test_a_longer_interest_first_drawdown_is_refused_and_other_methods_keep_their_terms() -> None:
    product = product_of(profile=BANK, interest_first_terms=[3, 12], **BULLET)

    for term in (3, 12):
        product_quote(product, TEN_THOUSAND, term, "interest_first", dt.date(2026, 1, 15))
    product_quote(product, TEN_THOUSAND, 24, "equal_instalment", dt.date(2026, 1, 15))
    with pytest.raises(TermAboveCap) as refused:
        product_quote(product, TEN_THOUSAND, 24, "interest_first", dt.date(2026, 1, 15))
    assert refused.value.details == {
        "term_months": 24,
        "term_months_max": 12,
        "method": "interest_first",
        "profile": "CN",
        "product": "test-loan",
    }


def test_interest_first_terms_a_product_does_not_list_are_refused_naming_those_it_does() -> None:
    product = product_of(interest_first_terms=[3], **BULLET)  # no profile maximum

    with pytest.raises(InvalidInput) as refused:
        product_quote(product, TEN_THOUSAND, 12, "interest_first", dt.date(2026, 1, 15))
    assert type(refused.value) is InvalidInput
    assert refused.value.details == {"product": "test-loan", "terms": [3]}
    assert "interest_first for 3 months" in refused.value.message


@pytest.mark.parametrize(
    "changes",
    [
        {**BULLET, "interest_first_terms": [6]},  # not among its terms
        {"interest_first_terms": [12]},  # without the method
    ],
    ids=["not-a-term", "no-interest-first"],
)
def test_malformed_interest_first_terms_are_refused(changes: dict[str, Any]) -> None:
    with pytest.raises(InvalidInput):
        product_of(**changes)


def test_the_shipped_bank_profile_runs_interest_first_loans_a_year_at_most() -> None:
    product = load_catalogue().product("cn-bank-standard")
    assert product.profile.interest_first_term_months_max == 12
    assert isinstance(product.rate, AnnualRate) and product.rate.day_count is DayCount.THIRTY_360

    product_quote(product, TEN_THOUSAND, 36, "equal_instalment", dt.date(2026, 1, 15))
    with pytest.raises(TermAboveCap):
        product_quote(product, TEN_THOUSAND, 24, "interest_first", dt.date(2026, 1, 15))
