"""What a product and its profile say about repayments: the order arrears are cleared in, what a
prepayment does to the schedule, and within how many days a credit balance is paid back."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from test_products import CN, document

from creditline.kernel.errors import InvalidInput
from creditline.loans.model import PrepaymentEffect
from creditline.loans.products import load_catalogue, parse_catalogue
from creditline.loans.schedule import RepaymentMethod


def with_profile(**changes: Any) -> dict[str, Any]:
    catalogue = document()
    catalogue["profiles"]["CN"] = {**copy.deepcopy(CN), **changes}
    return catalogue


def test_a_product_freezes_its_prepayment_effect_on_its_loans() -> None:
    default = parse_catalogue(document()).product("test-loan")
    lower = parse_catalogue(document(prepayment_effect="lower_instalment")).product("test-loan")

    assert default.prepayment_effect is PrepaymentEffect.SHORTER_TERM
    terms = lower.loan_terms(RepaymentMethod.EQUAL_PRINCIPAL, 100_000)
    assert terms.prepayment_effect is PrepaymentEffect.LOWER_INSTALMENT


@pytest.mark.parametrize(
    "changes",
    [
        {"prepayment_effect": "shorter"},
        {"arrears": "pro_rata"},
        {"arrears": "newest_instalment_first"},
    ],
)
def test_a_repayment_setting_the_code_does_not_know_is_refused(changes: dict[str, Any]) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_catalogue(document(**changes))

    assert next(iter(changes)) in refused.value.message


@pytest.mark.parametrize("days", [0, 61, "7", 7.0])
def test_refund_days_are_a_whole_number_from_1_to_60(days: object) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_catalogue(with_profile(refund_days=days))

    assert "refund_days" in refused.value.message


def test_the_shipped_profiles_pay_a_credit_back_within_their_refund_days() -> None:
    catalogue = load_catalogue()

    assert {p.profile.code: p.profile.refund_days for p in catalogue} == {
        "CN": 7,
        "CN-BANK": 7,
        "US": 7,
        "EU": 14,
    }
    assert parse_catalogue(with_profile()).product("test-loan").profile.refund_days == 7
