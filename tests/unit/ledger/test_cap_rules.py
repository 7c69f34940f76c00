"""A jurisdiction profile's caps on a limit, figured by hand (CN-1, CN-2, US-6, unverified
income) and by the shipped catalogue."""

from __future__ import annotations

import math
import tomllib
from importlib import resources

import pytest

from creditline.kernel.errors import InvalidAmount, LimitAboveCap, LimitBelowMinimum
from creditline.ledger.limit_rules import (
    Capacity,
    CapKind,
    PolicyBounds,
    RegulatoryCaps,
    cap_check,
    require_within_cap,
    require_within_policy,
)
from creditline.loans.pricing import ProfileLimits
from creditline.loans.products import load_catalogue, parse_catalogue

CN = RegulatoryCaps(
    "CN",
    "CN@test",
    limit_cap_minor=30_000_000,
    income_months=4,
    unverified_limit_max_minor=1_000_000,
)


def capacity(income: int | None, evidence: bool = True, obligations: int | None = None) -> Capacity:
    return Capacity(income, evidence, obligations, None if obligations is None else "application")


def test_cn_1_a_third_of_annual_income_caps_a_small_income() -> None:
    # 1,000.00 a month is 12,000.00 a year; a third of it is 4,000.00.
    check = cap_check(CN, capacity(100_000))
    assert check.cap_minor == 12 * 100_000 // 3 == 400_000
    assert check.binding is CapKind.INCOME_SHARE


def test_cn_1_caps_a_large_income_at_three_hundred_thousand() -> None:
    check = cap_check(CN, capacity(20_000_000))  # 200,000.00 a month
    assert check.cap_minor == 30_000_000
    assert check.binding is CapKind.LIMIT_CAP


def test_income_without_evidence_supports_at_most_the_unverified_ceiling() -> None:
    check = cap_check(CN, capacity(100_000_000, evidence=False))  # an invented 1,000,000.00
    assert check.cap_minor == 1_000_000
    assert check.binding is CapKind.UNVERIFIED_INCOME
    assert cap_check(CN, capacity(100_000_000)).cap_minor == 30_000_000


def test_unknown_income_supports_no_limit_under_an_income_share() -> None:
    assert cap_check(CN, capacity(None, evidence=False)).cap_minor == 0


def _payment_per_thousand(annual_percent: float, months: int) -> float:
    r = annual_percent / 100 / 12
    return 1000 * r / (1 - (1 + r) ** -months)


US = RegulatoryCaps(
    "US",
    "US@test",
    debt_to_income_max_percent=43,
    payment_basis_minor=100_000,
    payment_minor=round(_payment_per_thousand(19.99, 36) * 100),
)


def test_us_6_ability_to_pay_caps_the_limit_by_the_payment_on_it() -> None:
    assert US.payment_minor == 3716  # 37.16 a month on 1,000.00 over 36 months at 19.99%
    # 5,000.00 income, 1,500.00 obligations: 43% leaves 650.00 a month for this line, which
    # repays 650.00 / 37.16 * 1,000.00 = 17,491.92 of limit.
    check = cap_check(US, capacity(500_000, obligations=150_000))
    assert check.cap_minor == math.floor(650 / 37.16 * 1000 * 100) == 1_749_192
    assert check.binding is CapKind.ABILITY_TO_PAY
    figures = check.document(1_000_000, "USD")["ability_to_pay"]
    # 10,000.00 of limit costs 371.60 a month: (1,500.00 + 371.60) / 5,000.00 = 37.43%.
    assert figures == {
        "income_monthly": "5000.00",
        "obligations_monthly": "1500.00",
        "obligations_source": "application",
        "payment_on_limits": "371.60",
        "debt_to_income_percent": "37.43",
        "debt_to_income_max_percent": "43",
        "passes": True,
    }
    assert check.document(1_800_000, "USD")["ability_to_pay"]["passes"] is False


def test_us_6_obligations_above_the_ratio_or_unknown_allow_no_limit() -> None:
    assert cap_check(US, capacity(500_000, obligations=300_000)).cap_minor == 0
    assert cap_check(US, capacity(500_000, obligations=None)).cap_minor == 0
    assert cap_check(US, capacity(None, obligations=0)).cap_minor == 0


def test_the_caps_are_per_borrower_less_their_other_lines() -> None:
    # 3,000.00 a month: CN-1 allows 12,000.00 in all; 9,000.00 is on other lines.
    check = cap_check(CN, capacity(300_000), elsewhere_minor=900_000)
    assert check.cap_minor == 300_000
    assert cap_check(CN, capacity(300_000), elsewhere_minor=1_500_000).cap_minor == 0
    # US-6 counts the payment on every line: 5,000.00 of limit elsewhere costs 185.80 a month.
    us = cap_check(US, capacity(500_000, obligations=150_000), elsewhere_minor=500_000)
    assert us.cap_minor == 1_749_192 - 500_000
    assert us.document(100_000, "USD")["ability_to_pay"]["payment_on_limits"] == "222.96"


def test_a_limit_above_the_cap_is_refused_naming_the_cap() -> None:
    check = cap_check(CN, capacity(100_000))
    require_within_cap(400_000, check, "CNY")
    with pytest.raises(LimitAboveCap) as refused:
        require_within_cap(400_001, check, "CNY")
    assert refused.value.code == "limit_above_cap"
    assert refused.value.details == {
        "cap": "income_share",
        "cap_limit": "4000.00",
        "currency": "CNY",
        "profile_version": "CN@test",
    }


def test_staff_keep_to_the_policy_bounds_and_step() -> None:
    bounds = PolicyBounds("cn-standard@1", "CNY", 100_000, 20_000_000, 10_000)
    require_within_policy(20_000_000, bounds)
    with pytest.raises(LimitAboveCap):
        require_within_policy(200_000_000, bounds)
    with pytest.raises(LimitBelowMinimum):
        require_within_policy(90_000, bounds)
    with pytest.raises(InvalidAmount):
        require_within_policy(1_234_567, bounds)


def test_the_shipped_profiles_carry_their_caps_and_version() -> None:
    limits = ProfileLimits(load_catalogue())
    cn = limits.caps("CNY")
    assert cn is not None
    assert (cn.version, cn.limit_cap_minor, cn.income_months) == ("CN@2026-12", 30_000_000, 4)
    us = limits.caps("USD")
    assert us is not None
    assert (us.debt_to_income_max_percent, us.payment_basis_minor) == (43, 100_000)
    assert us.payment_minor == round(_payment_per_thousand(19.99, 36) * 100)


def test_a_bank_licensed_lender_runs_cny_lines_under_cn_2() -> None:
    text = resources.files("creditline.loans").joinpath("products.toml").read_text("utf-8")
    document = tomllib.loads(text)
    document["defaults"]["CNY"] = "cn-bank-standard"
    caps = ProfileLimits(parse_catalogue(document)).caps("CNY")
    assert caps is not None
    assert (caps.profile, caps.limit_cap_minor) == ("CN-BANK", 20_000_000)
    check = cap_check(caps, capacity(100_000_000))  # 1,000,000.00 a month, with evidence
    assert check.cap_minor == 20_000_000
    assert check.binding is CapKind.LIMIT_CAP
