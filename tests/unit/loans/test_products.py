"""The product catalogue: loading, the jurisdiction caps, and what a product resolves to."""

from __future__ import annotations

import copy
import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from creditline.kernel.errors import InvalidInput, ProductNotFound, RateAboveCap
from creditline.kernel.money import Money
from creditline.loans.model import DEFAULT_WATERFALL, Overpayment, Step
from creditline.loans.products import (
    Catalogue,
    Product,
    load_catalogue,
    parse_catalogue,
)
from creditline.loans.quote import product_quote
from creditline.loans.schedule import AnnualRate, DailyRate, DayCount, RepaymentMethod

CN = {
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
    "methods": ["equal_instalment", "equal_principal"],
    "default_method": "equal_principal",
    "terms": [3, 12],
    "annual_rate_percent": "12.00",
    "upfront_fee_percent": "0.50",
    "instalment_fee_percent": "0.05",
    "late_fee": "20.00",
    "penalty_annual_rate_percent": "18.00",
    "grace_days": 3,
}


def document(**product: Any) -> dict[str, Any]:
    """A one-product catalogue document; `product` overrides fields (None removes one)."""
    spec = copy.deepcopy(PRODUCT)
    for key, value in product.items():
        if value is None:
            spec.pop(key, None)
        else:
            spec[key] = value
    return {"profiles": {"CN": copy.deepcopy(CN)}, "products": {"test-loan": spec}}


def product_of(**product: Any) -> Product:
    return parse_catalogue(document(**product)).product("test-loan")


# --- the shipped catalogue ------------------------------------------------------------------------


def test_the_shipped_catalogue_loads() -> None:
    catalogue = load_catalogue()

    products = {p.code: p for p in catalogue}
    assert set(products) == {
        "cn-standard",
        "cn-daily",
        "cn-bank-standard",
        "us-instalment",
        "eu-instalment",
    }
    for product in products.values():
        assert product.currency == product.profile.currency
        assert product.default_method in product.methods
        assert product.penalty_annual_rate * 100 <= product.profile.penalty_annual_rate_cap_percent
        assert 0 <= product.late_fee_minor <= product.profile.late_fee_cap_minor
    assert products["cn-standard"].profile.code == "CN"
    assert products["cn-daily"].rate == DailyRate(Decimal("0.0004"))
    assert products["cn-daily"].overpayment is Overpayment.NEXT_INSTALMENT
    assert Step.PREPAYMENT not in products["cn-daily"].waterfall
    assert products["us-instalment"].currency == "USD"
    assert products["us-instalment"].profile.apr_cap_percent == Decimal("36.00")


def _every_quote() -> list[Any]:
    return [
        pytest.param(product, term, method, id=f"{product.code}-{term}m-{method.value}")
        for product in load_catalogue()
        for method in product.methods
        for term in (
            product.interest_first_terms or product.terms
            if method is RepaymentMethod.INTEREST_FIRST
            else product.terms
        )
    ]


@pytest.mark.parametrize(("product", "term", "method"), _every_quote())
@pytest.mark.parametrize("start", [dt.date(2026, 1, 15), dt.date(2026, 1, 31)], ids=str)
def test_every_shipped_quote_at_10000_is_under_its_cap(
    product: Product, term: int, method: RepaymentMethod, start: dt.date
) -> None:
    principal = Money.parse("10000.00", product.currency)

    schedule, quoted = product_quote(product, principal, term, method.value, start)

    apr = Decimal(quoted.get("aprc_percent", quoted["apr_percent"]))  # the capped rate
    assert Decimal(0) < apr <= product.profile.apr_cap_percent
    assert quoted["apr_cap_percent"] == str(product.profile.apr_cap_percent)
    assert len(schedule.instalments) == term


def test_the_shipped_catalogue_is_loaded_once() -> None:
    assert load_catalogue() is load_catalogue()


# --- caps enforced when the catalogue is loaded ---------------------------------------------------


def test_a_penalty_rate_at_the_cap_is_accepted() -> None:
    product = product_of(penalty_annual_rate_percent="24.00")

    assert product.penalty_annual_rate == Decimal("0.24")


def test_a_penalty_rate_above_the_cap_is_refused_naming_the_product() -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_catalogue(document(penalty_annual_rate_percent="24.01"))

    assert "test-loan" in refused.value.message
    assert "24.00%" in refused.value.message
    assert refused.value.details["product"] == "test-loan"


@pytest.mark.parametrize("day_count", ["ACT/360", "30/360"])
def test_a_penalty_charged_over_a_360_day_year_is_capped_on_what_a_year_late_costs(
    day_count: str,
) -> None:
    # A day late costs the penalty rate / 360, so a year late costs it × 365 / 360: at 24.00%
    # that is 24.3333%, above the 24.00% cap though the rate is at it. 23.67% × 365 / 360 =
    # 23.9985% is within it.
    with pytest.raises(InvalidInput) as refused:
        parse_catalogue(document(day_count=day_count, penalty_annual_rate_percent="24.00"))
    assert "24.34%" in refused.value.message and "24.00%" in refused.value.message
    assert refused.value.details["product"] == "test-loan"

    product = product_of(day_count=day_count, penalty_annual_rate_percent="23.67")
    assert product.loan_terms(RepaymentMethod.EQUAL_INSTALMENT, 100_000).penalty_basis_days == 360


def test_a_late_fee_at_the_cap_is_accepted() -> None:
    assert product_of(late_fee="50.00").late_fee_minor == 5_000


@pytest.mark.parametrize("late_fee", ["50.01", "1000.00", "-1.00"])
def test_a_late_fee_outside_zero_to_the_cap_is_refused_naming_the_product(late_fee: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_catalogue(document(late_fee=late_fee))

    assert "test-loan" in refused.value.message
    assert refused.value.details["product"] == "test-loan"


# --- malformed catalogues -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "names"),
    [
        pytest.param({"profile": "HK"}, ["test-loan", "HK"], id="unknown-profile"),
        pytest.param({"currency": "USD"}, ["test-loan", "USD", "CNY"], id="currency-mismatch"),
        pytest.param(
            {"daily_rate_percent": "0.04"}, ["test-loan"], id="both-annual-and-daily-rate"
        ),
        pytest.param({"annual_rate_percent": None}, ["test-loan"], id="neither-rate"),
        pytest.param(
            {"default_method": "interest_first"}, ["test-loan"], id="default-method-not-offered"
        ),
        pytest.param({"colour": "red"}, ["colour"], id="unknown-product-field"),
        pytest.param({"annual_rate_percent": "NaN"}, ["annual_rate_percent"], id="nan-rate"),
        pytest.param({"annual_rate_percent": "101"}, ["annual_rate_percent"], id="rate-above-100"),
        pytest.param({"terms": [0]}, ["terms"], id="term-below-1"),
        pytest.param({"terms": [37]}, ["terms"], id="term-above-36"),
        pytest.param({"terms": []}, ["terms"], id="no-terms"),
        pytest.param({"methods": ["balloon"]}, ["methods"], id="unknown-method"),
        pytest.param({"overpayment": "keep"}, ["overpayment"], id="unknown-overpayment"),
        pytest.param({"grace_days": 31}, ["grace_days"], id="grace-days-above-30"),
        pytest.param({"name": None}, ["name"], id="missing-name"),
    ],
)
def test_a_malformed_product_is_refused(changes: dict[str, Any], names: list[str]) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_catalogue(document(**changes))

    for name in names:
        assert name in refused.value.message


@pytest.mark.parametrize(
    "steps",
    [
        pytest.param(["penalty", "fees", "interest"], id="no-principal-due"),
        pytest.param(
            ["prepayment", "penalty", "fees", "interest", "principal_due"], id="prepayment-first"
        ),
        pytest.param(["penalty", "fees", "fees", "interest", "principal_due"], id="duplicate"),
        pytest.param(["penalty", "fees", "interest", "principal"], id="unknown-step"),
        # Principal before a charge: repaid principal must mean a settled loan.
        pytest.param(["principal_due", "interest", "fees", "penalty"], id="principal-first"),
        pytest.param(
            ["penalty", "fees", "principal_due", "interest", "prepayment"],
            id="principal-before-interest",
        ),
        pytest.param(["fees", "interest", "principal_due", "penalty"], id="penalty-last"),
    ],
)
def test_a_malformed_waterfall_is_refused_naming_the_product(steps: list[str]) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_catalogue(document(waterfall=steps))

    assert "product test-loan" in refused.value.message
    assert refused.value.details["product"] == "test-loan"


@pytest.mark.parametrize(
    "steps",
    [
        pytest.param(["penalty", "fees", "interest", 4], id="an-int"),
        pytest.param(["penalty", "fees", "interest", None], id="a-none"),
        pytest.param(["penalty", "fees", "interest", ["principal_due"]], id="a-list"),
        pytest.param("penalty,fees,interest,principal_due", id="not-a-list"),
    ],
)
def test_a_waterfall_of_anything_but_step_names_is_refused(steps: object) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_catalogue(document(waterfall=steps))

    assert "test-loan" in refused.value.message
    assert "waterfall" in refused.value.message


def test_a_custom_order_of_the_charges_is_kept_on_the_product_and_its_loans() -> None:
    product = product_of(waterfall=["interest", "fees", "penalty", "principal_due", "prepayment"])

    expected = (Step.INTEREST, Step.FEES, Step.PENALTY, Step.PRINCIPAL_DUE, Step.PREPAYMENT)
    assert product.waterfall == expected
    assert product.loan_terms(RepaymentMethod.EQUAL_PRINCIPAL, 100_000).waterfall == expected


# --- strict types: what TOML parses as a number or a bool is not a rate, term or day count ------


@pytest.mark.parametrize(
    ("field", "value", "drop"),
    [
        pytest.param("annual_rate_percent", 12.0, None, id="annual-rate-float"),
        pytest.param("annual_rate_percent", 12, None, id="annual-rate-int"),
        pytest.param("daily_rate_percent", 0.04, "annual_rate_percent", id="daily-rate-float"),
        pytest.param("upfront_fee_percent", 0.5, None, id="upfront-fee-float"),
        pytest.param("upfront_fee_percent", 0, None, id="upfront-fee-int-zero"),
        pytest.param("instalment_fee_percent", 0.05, None, id="instalment-fee-float"),
        pytest.param("penalty_annual_rate_percent", 18.0, None, id="penalty-rate-float"),
        pytest.param("annual_rate_percent", True, None, id="annual-rate-bool"),
    ],
)
def test_a_product_rate_that_is_not_a_decimal_string_is_refused(
    field: str, value: object, drop: str | None
) -> None:
    changes: dict[str, Any] = {field: value}
    if drop is not None:
        changes[drop] = None

    with pytest.raises(InvalidInput) as refused:
        parse_catalogue(document(**changes))

    assert field in refused.value.message
    assert "decimal string" in refused.value.message


@pytest.mark.parametrize("field", ["apr_cap_percent", "penalty_annual_rate_cap_percent"])
@pytest.mark.parametrize("value", [24.0, 24], ids=["float", "int"])
def test_a_profile_cap_that_is_not_a_decimal_string_is_refused(field: str, value: object) -> None:
    doc = document()
    doc["profiles"]["CN"][field] = value

    with pytest.raises(InvalidInput) as refused:
        parse_catalogue(doc)

    assert field in refused.value.message


def test_a_toml_float_rate_in_a_catalogue_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "products.toml"
    path.write_text(
        """
[profiles.CN]
name = "CN"
currency = "CNY"
apr_cap_percent = "24.00"
penalty_annual_rate_cap_percent = "24.00"
late_fee_cap = "50.00"
timezone = "Asia/Shanghai"

[products.test-loan]
name = "Test loan"
profile = "CN"
currency = "CNY"
methods = ["equal_principal"]
default_method = "equal_principal"
terms = [3]
annual_rate_percent = 12.1
""",
        encoding="utf-8",
    )

    with pytest.raises(InvalidInput) as refused:
        load_catalogue(path)

    assert "annual_rate_percent" in refused.value.message
    # Quoted, the same file loads.
    path.write_text(
        path.read_text(encoding="utf-8").replace("= 12.1", '= "12.1"'), encoding="utf-8"
    )
    assert load_catalogue(path).product("test-loan").rate == AnnualRate(
        Decimal("0.121"), DayCount.ACT_365
    )


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        pytest.param({"terms": [3.0]}, "terms", id="term-float"),
        pytest.param({"terms": [True]}, "terms", id="term-bool"),
        pytest.param({"terms": ["3"]}, "terms", id="term-string"),
        pytest.param({"terms": [3, 12.0]}, "terms", id="second-term-float"),
        pytest.param({"grace_days": True}, "grace_days", id="grace-days-bool"),
        pytest.param({"grace_days": "3"}, "grace_days", id="grace-days-string"),
        pytest.param({"grace_days": 3.0}, "grace_days", id="grace-days-float"),
        pytest.param({"grace_days": -1}, "grace_days", id="grace-days-negative"),
    ],
)
def test_terms_and_grace_days_must_be_plain_integers(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_catalogue(document(**changes))

    assert field in refused.value.message
    assert "test-loan" in refused.value.message


@pytest.mark.parametrize("late_fee", ["20.001", "20.5e0", "twenty", "NaN"])
def test_a_late_fee_that_is_not_a_cny_amount_is_refused_naming_the_product(late_fee: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_catalogue(document(late_fee=late_fee))

    assert refused.value.message.startswith("product catalogue: product test-loan: ")
    assert refused.value.details == {"product": "test-loan"}


def test_a_three_decimal_late_fee_says_how_many_decimals_cny_has() -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_catalogue(document(late_fee="20.001"))

    assert "2 decimal places" in refused.value.message


@pytest.mark.parametrize("late_fee", [20.0, 20], ids=["float", "int"])
def test_a_late_fee_written_as_a_toml_number_is_refused(late_fee: object) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_catalogue(document(late_fee=late_fee))

    assert "products.test-loan.late_fee" in refused.value.message


# --- what a product resolves to -------------------------------------------------------------------


def test_a_product_resolves_its_rate_and_loan_terms() -> None:
    product = product_of(
        day_count="ACT/360", waterfall=["penalty", "fees", "interest", "principal_due"]
    )

    assert product.rate == AnnualRate(Decimal("0.12"), DayCount.ACT_360)
    assert product.terms == (3, 12)
    # 0.05% of 1,234.57 = 0.617285 -> 0.62 (half-up); 0.50% of it = 6.17285 -> 6.17.
    assert product.instalment_fee_minor(123_457) == 62
    assert product.upfront_fee_minor(123_457) == 617
    terms = product.loan_terms(RepaymentMethod.EQUAL_INSTALMENT, 123_457)
    assert terms.product == "test-loan"
    assert terms.method is RepaymentMethod.EQUAL_INSTALMENT
    assert terms.instalment_fee_minor == 62
    assert terms.late_fee_minor == 2_000
    assert terms.penalty_annual_rate == Decimal("0.18")
    assert terms.penalty_basis_days == 360  # the product's day count
    assert terms.grace_days == 3
    assert terms.waterfall == DEFAULT_WATERFALL[:-1]
    assert not terms.takes_prepayment


def test_a_daily_rate_product_charges_penalty_on_a_365_day_basis() -> None:
    product = product_of(annual_rate_percent=None, daily_rate_percent="0.05")

    assert product.rate == DailyRate(Decimal("0.0005"))
    assert product.loan_terms(RepaymentMethod.EQUAL_PRINCIPAL, 100_000).penalty_basis_days == 365


def test_method_defaults_and_refuses_a_method_the_product_does_not_offer() -> None:
    product = product_of()

    assert product.method(None) is RepaymentMethod.EQUAL_PRINCIPAL
    assert product.method("equal_instalment") is RepaymentMethod.EQUAL_INSTALMENT
    for method in ("interest_first", "balloon"):
        with pytest.raises(InvalidInput) as refused:
            product.method(method)
        assert refused.value.details == {
            "product": "test-loan",
            "methods": ["equal_instalment", "equal_principal"],
        }


def test_check_term_refuses_a_term_the_product_does_not_list() -> None:
    product = product_of()
    product.check_term(3, RepaymentMethod.EQUAL_INSTALMENT)
    product.check_term(12, RepaymentMethod.EQUAL_INSTALMENT)

    # True == 1 and 3.0 == 3 in Python, but neither is a term.
    for term in (1, 6, 36, True, 3.0, "3", None):
        with pytest.raises(InvalidInput) as refused:
            product.check_term(term, RepaymentMethod.EQUAL_INSTALMENT)  # type: ignore[arg-type]
        assert refused.value.details == {"product": "test-loan", "terms": [3, 12]}


def test_an_unknown_product_code_is_not_found() -> None:
    catalogue = parse_catalogue(document())
    assert isinstance(catalogue, Catalogue)

    with pytest.raises(ProductNotFound) as refused:
        catalogue.product("cn-gold")
    assert refused.value.details["products"] == ["test-loan"]


@pytest.mark.parametrize(
    ("profile", "at", "business_date"),
    [
        # 20:00 UTC is 04:00 the next day in Shanghai (UTC+8, no daylight saving).
        ("CN", dt.datetime(2026, 11, 28, 20, 0, tzinfo=dt.UTC), dt.date(2026, 11, 29)),
        ("CN", dt.datetime(2026, 11, 28, 15, 59, tzinfo=dt.UTC), dt.date(2026, 11, 28)),
        ("CN", dt.datetime(2026, 11, 28, 16, 0, tzinfo=dt.UTC), dt.date(2026, 11, 29)),
        # 03:00 UTC is 22:00 the day before in New York (EST, UTC-5, in November).
        ("US", dt.datetime(2026, 11, 29, 3, 0, tzinfo=dt.UTC), dt.date(2026, 11, 28)),
        # In July New York is on EDT (UTC-4): 03:59 UTC is still the day before.
        ("US", dt.datetime(2026, 7, 2, 3, 59, tzinfo=dt.UTC), dt.date(2026, 7, 1)),
        ("US", dt.datetime(2026, 7, 2, 4, 0, tzinfo=dt.UTC), dt.date(2026, 7, 2)),
    ],
)
def test_business_date_is_the_date_in_the_profiles_time_zone(
    profile: str, at: dt.datetime, business_date: dt.date
) -> None:
    code = {"CN": "cn-standard", "US": "us-instalment"}[profile]
    product = load_catalogue().product(code)

    assert product.profile.business_date(at) == business_date


def test_a_product_with_terms_including_1_refuses_true_as_a_term() -> None:
    product = product_of(terms=[1, 3])
    product.check_term(1, RepaymentMethod.EQUAL_INSTALMENT)

    with pytest.raises(InvalidInput):
        product.check_term(True, RepaymentMethod.EQUAL_INSTALMENT)


@pytest.mark.parametrize(
    "at",
    [dt.datetime(2026, 11, 28, 20, 0), dt.datetime(2026, 11, 28, 20, 0).replace(tzinfo=None)],
    ids=["naive", "naive-replaced"],
)
def test_business_date_refuses_a_naive_time(at: dt.datetime) -> None:
    profile = load_catalogue().product("cn-standard").profile

    with pytest.raises(InvalidInput):
        profile.business_date(at)


# --- the rate cap when the catalogue is loaded (the rest: test_caps.py) ---------------------------


def test_a_nominal_rate_above_the_cap_refuses_the_product_naming_the_cap_and_profile() -> None:
    with pytest.raises(RateAboveCap) as refused:
        product_of(annual_rate_percent="24.01")

    error = refused.value
    assert isinstance(error, InvalidInput)
    assert error.code == "rate_above_cap"
    assert "24.00%" in error.message
    assert "24.01%" in error.message
    assert "test-loan" in error.message
    assert error.details["measure"] == "nominal_annual_rate"
    assert error.details["cap_percent"] == "24.00"
    assert error.details["rate_percent"] == "24.01"
    assert error.details["profile"] == "CN"
    assert error.details["product"] == "test-loan"


@pytest.mark.parametrize("rate", ["0", "12.34", "24.00"])
def test_a_nominal_rate_at_or_below_the_cap_is_accepted(rate: str) -> None:
    assert product_of(annual_rate_percent=rate).rate == AnnualRate(
        Decimal(rate) / 100, DayCount.ACT_365
    )
