"""An automatic decision keeps under the profile's caps, in-process and in DuckDB alike, and
says so (`regulatory_cap`) when a cap held an increase below what the policy would give."""

from __future__ import annotations

import random
from typing import Any

import duckdb
import pytest

from creditline.config import shipped_policy_file
from creditline.decisions.engine import (
    FEATURE_COLUMNS,
    Decision,
    Engine,
    features_table_sql,
    load_features,
)
from creditline.decisions.policy import load_policy
from creditline.ledger.limit_rules import Capacity, RegulatoryCaps, cap_check
from creditline.loans.pricing import ProfileLimits
from creditline.loans.products import load_catalogue

POLICY = load_policy(shipped_policy_file())
SHIPPED = ProfileLimits(load_catalogue())
CN, US = SHIPPED.caps("CNY"), SHIPPED.caps("USD")
assert CN is not None and US is not None
BOTH = RegulatoryCaps(  # every kind of cap at once, to reach each one's edges
    "ALL",
    "ALL@test",
    limit_cap_minor=3_000_000,
    income_months=4,
    unverified_limit_max_minor=1_000_000,
    debt_to_income_max_percent=43,
    payment_basis_minor=US.payment_basis_minor,
    payment_minor=US.payment_minor,
)
STEP = POLICY.minor(POLICY.constraints.limit_step)


def clean_line(**features: Any) -> dict[str, Any]:
    """A line that has repaid well and may grow: no rule fires."""
    line = {name: None for name in FEATURE_COLUMNS} | {
        "line_id": "line",
        "limit_minor": 1_000_000,
        "used_minor": 0,
        "utilisation": 0.0,
        "on_time_ratio": 1.0,
        "max_dpd_12m": 0,
        "dpd": 0,
        "months_on_book": 24,
        "settled_loans": 6,
        "days_since_limit_change": 365,
        "income_monthly_minor": 3_000_000,
        "income_evidence": True,
        "days_to_income_evidence_expiry": 200,
        "age": 35,
        "employment": "employed",
    }
    return line | features


def test_without_caps_the_line_grows_as_the_policy_says() -> None:
    decision = Engine(POLICY).decide(clean_line())
    assert decision.action == "increase"
    assert decision.reason_codes == (POLICY.constraints.increase_reason,)


def test_a_third_of_income_holds_an_increase_and_the_decision_says_so() -> None:
    uncapped = Engine(POLICY).decide(clean_line(income_monthly_minor=300_000))
    # 3,000.00 a month supports 12,000.00 (CN-1: a third of 36,000.00 a year).
    decision = Engine(POLICY, CN).decide(clean_line(income_monthly_minor=300_000))
    assert uncapped.new_limit_minor == 1_500_000  # the policy grows 10,000.00 by half
    assert decision.action == "increase"
    assert decision.new_limit_minor == 1_200_000
    assert decision.reason_codes == (POLICY.constraints.increase_reason, "regulatory_cap")


def test_a_cap_at_or_below_the_limit_keeps_the_line_as_it_is() -> None:
    decision = Engine(POLICY, CN).decide(clean_line(income_monthly_minor=200_000))
    assert decision.action == "keep"
    assert decision.new_limit_minor == 1_000_000  # an existing limit is never cut by a cap


def test_income_without_evidence_grows_only_to_the_unverified_ceiling() -> None:
    line = clean_line(limit_minor=800_000, income_evidence=False)
    decision = Engine(POLICY, CN).decide(line)
    assert decision.new_limit_minor == CN.unverified_limit_max_minor
    assert "regulatory_cap" in decision.reason_codes


def _random_line(rng: random.Random, n: int) -> dict[str, Any]:
    limit = rng.choice([0, STEP, 500_000, 800_000, 1_000_000, 1_200_000, 2_000_000, 3_000_000])
    income = rng.choice([None, -1, 0, 1, 200_000, 299_999, 300_000, 500_000, 750_000, 10**8])
    return clean_line(
        line_id=f"line-{n}",
        limit_minor=limit,
        used_minor=rng.randint(0, limit) if limit else 0,
        income_monthly_minor=income,
        income_evidence=rng.choice([None, True, False]),
        obligations_monthly_minor=rng.choice([None, 0, 1, 50_000, 100_000, 172_000, 10**7]),
        days_since_limit_change=rng.choice([None, 0, 29, 30, 365]),
        days_since_cut=rng.choice([None, 89, 90, 400]),
        on_time_ratio=rng.choice([None, 0.5, 0.95, 1.0]),
        dpd=rng.choice([0, 0, 0, 31]),
    )


@pytest.mark.parametrize("caps", [CN, US, BOTH], ids=lambda c: c.profile)
def test_in_process_and_duckdb_cap_alike_on_random_lines(caps: RegulatoryCaps) -> None:
    engine = Engine(POLICY, caps)
    rng = random.Random(20261206)
    lines = [_random_line(rng, n) for n in range(3_000)]
    connection = duckdb.connect(":memory:")
    connection.execute(features_table_sql())
    load_features(connection, lines)
    relation = engine.decide_table(connection)
    batch: dict[str, Decision] = {}
    for row in relation.fetchall():
        decision = engine.decision(dict(zip(relation.columns, row, strict=True)))
        batch[decision.line_id] = decision
    uncapped = Engine(POLICY)
    changed = 0
    for line in lines:
        single = engine.decide(line)
        assert batch[line["line_id"]] == single, line
        policy_only = uncapped.decide(line)
        assert single.new_limit_minor <= policy_only.new_limit_minor
        changed += single.new_limit_minor < policy_only.new_limit_minor
        held = "regulatory_cap" in single.reason_codes
        capped = single.new_limit_minor < policy_only.new_limit_minor
        assert held == (single.action == "increase" and capped), line
        if single.action == "increase":
            capacity = Capacity(
                line["income_monthly_minor"],
                line["income_evidence"] is True,
                line["obligations_monthly_minor"],
                None,
            )
            cap = cap_check(caps, capacity).cap_minor
            assert cap is not None and single.new_limit_minor <= cap, line
    assert changed > 100  # the generator reaches the caps
