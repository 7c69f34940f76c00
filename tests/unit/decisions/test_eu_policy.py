"""Policies under the EU profile: every feature has a data category, the lint refuses a feature
the profile does not allow and a block for an unjustified reason, and the shipped EU policy is
clean and decides like any other (in process and in DuckDB alike)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from creditline.config import shipped_policy_file
from creditline.decisions.engine import Engine
from creditline.decisions.features import FEATURES
from creditline.decisions.policy import check_policy, load_policy, parse_policy
from creditline.decisions.profile_lint import READ_BY_EVERY_POLICY
from creditline.kernel.data_categories import NEVER_FOR_CREDITWORTHINESS, DataCategory
from creditline.kernel.errors import DataCategoryNotAllowed, InvalidInput
from creditline.loans.products import load_catalogue

EU_POLICY = Path(shipped_policy_file()).parent / "eu-standard.yaml"
_DOCUMENT = yaml.safe_load(EU_POLICY.read_text(encoding="utf-8"))
EU_PROFILE = load_catalogue().profile_for("EUR")


def eu_policy() -> dict[str, Any]:
    return copy.deepcopy(_DOCUMENT)


def with_rule(rule_id: str, when: str, action: str, reason: str, **fields: str | int) -> Any:
    """The EU policy with one more rule (priority 60)."""
    document = eu_policy()
    rule = {"id": rule_id, "when": when, "action": action, "reason": reason, "priority": 60}
    document["rules"].append({**rule, **fields})
    return document


def with_age_scored(document: dict[str, Any]) -> dict[str, Any]:
    document["scorecard"]["attributes"].append(
        {
            "feature": "age",
            "reason": "short_history",
            "bins": [{"upper": 25, "points": 0}, {"lower": 25, "points": 10}],
        }
    )
    return document


def test_every_feature_has_a_lawful_data_category() -> None:
    for feature in FEATURES.values():
        assert isinstance(feature.data_category, DataCategory), feature.name
        assert feature.data_category not in NEVER_FOR_CREDITWORTHINESS, feature.name
    assert FEATURES["age"].data_category is DataCategory.DEMOGRAPHIC
    assert FEATURES["bureau_score"].data_category is DataCategory.CREDIT_SCORE


def test_what_every_policy_reads_is_allowed_under_the_eu_profile() -> None:
    assert EU_PROFILE.data_categories is not None
    for name in READ_BY_EVERY_POLICY:
        assert FEATURES[name].data_category in EU_PROFILE.data_categories, name


def test_the_shipped_eu_policy_is_clean_under_the_eu_profile() -> None:
    policy, problems = check_policy(eu_policy())

    assert problems == []
    assert policy is not None
    assert (policy.label, policy.currency) == ("eu-standard@2026.12.1", "EUR")
    assert load_policy(EU_POLICY) == policy


def test_an_eu_policy_that_scores_age_is_refused_with_a_stable_code() -> None:
    document = with_age_scored(eu_policy())

    assert check_policy(document)[1] == [
        "scorecard.age: data_category_not_allowed: age is demographic data, which profile EU "
        "does not allow for assessing creditworthiness"
    ]
    with pytest.raises(DataCategoryNotAllowed) as refused:
        parse_policy(document)
    assert refused.value.code == "data_category_not_allowed"


def test_a_rule_reading_age_is_refused_too() -> None:
    document = with_rule(
        "young", "age < 21 AND dpd > 0", "decrease", "overdue_payment", limit_factor="0.5"
    )

    assert check_policy(document)[1] == [
        "rules.young: data_category_not_allowed: age is demographic data, which profile EU "
        "does not allow for assessing creditworthiness"
    ]


def test_the_allow_list_is_the_profiles_a_policy_in_yuan_may_score_age() -> None:
    document = with_age_scored(eu_policy())
    document["currency"] = "CNY"  # lines in CNY run under the CN profile: no allow-list

    assert check_policy(document)[1] == []


def test_an_eu_rule_that_blocks_drawdowns_for_an_unjustified_reason_is_refused() -> None:
    document = with_rule(
        "application-velocity",
        "applications_7d >= 6",
        "freeze",
        "application_velocity",
        freeze_days=14,
    )

    assert check_policy(document)[1] == [
        "rules.application-velocity: block_reason_not_justified: profile EU blocks drawdowns "
        "only for fraud_suspected, overdue_payment, reverification_due"
    ]
    with pytest.raises(InvalidInput) as refused:
        parse_policy(document)
    assert refused.value.code == "invalid_input"


def test_a_decrease_for_that_reason_is_no_block() -> None:
    document = with_rule(
        "application-velocity",
        "applications_7d >= 6",
        "decrease",
        "application_velocity",
        limit_factor="0.8",
    )

    assert check_policy(document)[1] == []


GOOD_LINE = {
    "limit_minor": 300_000,
    "used_minor": 50_000,
    "utilisation": 0.17,
    "on_time_ratio": 1.0,
    "max_dpd_12m": 0,
    "dpd": 0,
    "months_on_book": 14,
    "inquiries_3m": 0,
    "lenders_with_open_loans": 1,
    "employment": "employed",
    "income_monthly_minor": 250_000,
    "days_to_income_evidence_expiry": 90,
    "drawdowns_7d": 0,
}


@pytest.mark.parametrize(
    ("changes", "action", "rule", "reason", "freeze_days"),
    [
        ({"dpd": 45, "max_dpd_12m": 45}, "freeze", "overdue-30", "overdue_payment", 30),
        ({"drawdowns_7d": 5}, "freeze", "drawdown-burst", "fraud_suspected", 7),
        ({"days_to_income_evidence_expiry": -1}, "suspend", "income-evidence-expired", None, None),
    ],
    ids=["overdue", "drawdown burst", "expired evidence"],
)
def test_the_eu_policy_blocks_only_for_its_justified_reasons(
    changes: dict[str, Any], action: str, rule: str, reason: str | None, freeze_days: int | None
) -> None:
    engine = Engine(load_policy(EU_POLICY))
    features = {"line_id": "eu-line", **GOOD_LINE, **changes}

    decided = engine.decide(features)

    assert decided == engine.decide_in_duckdb(features)
    assert (decided.action, decided.decisive_rule, decided.freeze_days) == (
        action,
        rule,
        freeze_days,
    )
    assert EU_PROFILE.block_reasons is not None
    assert decided.reason_codes[0] in EU_PROFILE.block_reasons
    assert reason is None or decided.reason_codes[0] == reason
