"""The EU jurisdiction profile and its EUR product in the shipped catalogue, and what a profile's
EU settings accept (`loans/products.py`)."""

from __future__ import annotations

import copy
import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from creditline.kernel.data_categories import DataCategory
from creditline.kernel.errors import InvalidInput, RateAboveCap
from creditline.kernel.money import Money
from creditline.loans.products import load_catalogue, parse_catalogue
from creditline.loans.quote import product_quote

EU = {
    "name": "Test EU profile",
    "currency": "EUR",
    "jurisdiction": "EU",
    "apr_cap_percent": "14.00",
    "apr_method": "aprc",
    "penalty_annual_rate_cap_percent": "14.00",
    "late_fee_cap": "15.00",
    "timezone": "Europe/Amsterdam",
    "termination_notice_months": 2,
    "block_reasons": ["fraud_suspected", "overdue_payment"],
    "data_categories": ["income", "repayment_history"],
}
PRODUCT = {
    "name": "Test EUR loan",
    "profile": "EU",
    "currency": "EUR",
    "methods": ["equal_instalment"],
    "default_method": "equal_instalment",
    "terms": [3, 12],
    "annual_rate_percent": "9.90",
}


def catalogue(profile: dict[str, Any] | None = None, **product: Any) -> Any:
    document = {
        "profiles": {"EU": {**copy.deepcopy(EU), **(profile or {})}},
        "products": {"test-eur": {**copy.deepcopy(PRODUCT), **product}},
        "defaults": {"EUR": "test-eur"},
    }
    return parse_catalogue(document)


def test_the_shipped_eu_profile_lends_in_euro_under_the_directive() -> None:
    shipped = load_catalogue()
    profile = shipped.profile_for("EUR")

    assert shipped.default_for("EUR").code == "eu-instalment"
    assert (profile.code, profile.jurisdiction, profile.language) == ("EU", "EU", "en")
    assert profile.timezone.key == "Europe/Amsterdam"
    assert profile.apr_method == "aprc"
    assert profile.apr_cap_percent == Decimal("14.00")
    assert profile.termination_notice_months == 2  # CCD 2023/2225 Art. 28(1)
    assert profile.review_days == 30  # GDPR Art. 12(3): within one month
    assert profile.limit_min_minor == 25_000
    assert profile.block_reasons == {"fraud_suspected", "overdue_payment", "reverification_due"}
    assert profile.data_categories is not None
    assert DataCategory.DEMOGRAPHIC not in profile.data_categories
    assert DataCategory.INCOME in profile.data_categories


def test_the_other_profiles_keep_their_rules() -> None:
    for currency in ("CNY", "USD"):
        profile = load_catalogue().profile_for(currency)
        assert profile.data_categories is None
        assert profile.block_reasons is None
        assert profile.termination_notice_months == 0
        assert profile.apr_method == "actuarial"


@pytest.mark.parametrize("never", ["health", "social_media", "special_category"])
def test_a_profile_may_never_allow_health_social_media_or_special_category_data(
    never: str,
) -> None:
    with pytest.raises(InvalidInput, match="may never assess creditworthiness"):
        catalogue({"data_categories": ["income", never]})


@pytest.mark.parametrize("code", ["no_such_code", "freeze_ended", "policy_change"])
def test_a_block_reason_is_a_specific_adverse_code(code: str) -> None:
    with pytest.raises(InvalidInput, match="not a specific adverse reason code"):
        catalogue({"block_reasons": [code]})


@pytest.mark.parametrize("months", [-1, 13, "2"])
def test_the_termination_notice_is_zero_to_twelve_whole_months(months: object) -> None:
    with pytest.raises(InvalidInput, match="termination_notice_months"):
        catalogue({"termination_notice_months": months})


def test_an_eu_quote_above_the_cap_is_refused_naming_the_aprc() -> None:
    # 13.50% nominal with a 1% fee over 3 months: an APRC well above 14%.
    product = catalogue(annual_rate_percent="13.50", upfront_fee_percent="1.00").product("test-eur")

    with pytest.raises(RateAboveCap) as refused:
        product_quote(product, Money.parse("1000.00", "EUR"), 3, None, dt.date(2026, 12, 1))

    assert "APRC" in refused.value.message
    assert refused.value.details["measure"] == "aprc"
    assert Decimal(refused.value.details["rate_percent"]) > Decimal("14.00")
    assert refused.value.details["cap_percent"] == "14.00"
