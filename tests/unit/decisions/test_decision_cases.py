"""Decision cases as data: tests/decision_cases/*.yaml (format in its README.md).

Each case names a policy file, the features of one line and the decision expected, worked out by
hand from the policy in the case's comments. A review case runs through both paths, the
in-process evaluator (`Engine.decide`) and the compiled SQL on DuckDB (`Engine.decide_in_duckdb`),
and each must equal the expectation; an application case is a decline, and its reasons are
those of `Engine.decline_reasons`.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
from pathlib import Path
from typing import Any

import pytest
import yaml

from creditline.decisions.engine import Decision, Engine
from creditline.decisions.policy import PolicyDocument, parse_policy
from creditline.kernel.money import Money
from creditline.kernel.reasons import REASON_CATALOGUE

REPO = Path(__file__).resolve().parents[3]
CASES_DIR = REPO / "tests" / "decision_cases"
CASE_FILES = sorted(CASES_DIR.glob("*.yaml"))

CASE_KEYS = {"kind", "policy", "policy_changes", "features", "expect"}
REQUIRED = {
    "review": {
        "action",
        "new_limit",
        "reason_codes",
        "decisive_rule",
        "freeze_days",
        "score",
        "grade",
        "rules_fired",
    },
    "application": {"reason_codes", "score", "grade", "rules_fired"},
}
OPTIONAL = {"band", "target", "attributes"}


def load_case(path: Path) -> dict[str, Any]:
    case = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(case, dict), path
    return case


@functools.cache
def engine_for(policy_file: str, changes: tuple[tuple[str, Any], ...]) -> Engine:
    document = yaml.safe_load((REPO / policy_file).read_text(encoding="utf-8"))
    document = copy.deepcopy(document)
    for dotted, value in changes:
        *parents, key = dotted.split(".")
        node = document
        for part in parents:
            node = node[part]
        assert key in node, f"policy_changes: {dotted} is not in {policy_file}"
        node[key] = value
    return Engine(parse_policy(document))  # refuses a policy with any lint problem


def observed(decision: Decision, expect: dict[str, Any]) -> dict[str, Any]:
    """The decision, in the shape of the expectation (only the keys the case names)."""
    attributes = {entry["feature"]: entry for entry in decision.trace["attributes"]}
    seen: dict[str, Any] = {
        "action": decision.action,
        "new_limit": decision.new_limit_minor,
        "reason_codes": list(decision.reason_codes),
        "decisive_rule": decision.decisive_rule,
        "freeze_days": decision.freeze_days,
        "score": decision.score,
        "grade": decision.grade,
        "rules_fired": fired_rules(decision),
        "band": decision.band,
        "target": decision.target_minor,
    }
    if "attributes" in expect:
        seen["attributes"] = {
            feature: {"bin": attributes[feature]["bin"], "points": attributes[feature]["points"]}
            for feature in expect["attributes"]
        }
    return {key: value for key, value in seen.items() if key in expect}


def expected(expect: dict[str, Any], engine: Engine) -> dict[str, Any]:
    """The expectation with amounts in minor units."""
    currency = engine.policy.currency
    wanted = dict(expect)
    for key in ("new_limit", "target"):
        if key in wanted:
            wanted[key] = Money.parse(expect[key], currency).minor
    return wanted


def fired_rules(decision: Decision) -> list[str]:
    return [rule["id"] for rule in decision.trace["rules"] if rule["fired"]]


def decided(path: Path) -> tuple[PolicyDocument, str, Decision]:
    """The case's policy, kind and decision; an application's carries its decline's reasons."""
    case = load_case(path)
    changes = tuple(sorted((case.get("policy_changes") or {}).items()))
    engine = engine_for(case["policy"], changes)
    kind = case.get("kind", "review")
    row = engine.row({"line_id": path.stem, **case["features"]})
    decision = engine.decision(row)
    if kind == "application":
        decision = dataclasses.replace(decision, reason_codes=tuple(engine.decline_reasons(row)))
    return engine.policy, kind, decision


def test_there_are_cases_and_each_is_well_formed() -> None:
    assert len(CASE_FILES) >= 20
    for path in CASE_FILES:
        case = load_case(path)
        assert set(case) <= CASE_KEYS and {"policy", "features", "expect"} <= set(case), path
        kind = case.get("kind", "review")
        assert kind in REQUIRED, (path, kind)
        expect = case["expect"]
        required = REQUIRED[kind]
        assert required <= set(expect) <= required | OPTIONAL, (path, set(expect) ^ required)
        if kind == "review":
            assert isinstance(expect["new_limit"], str), f"{path}: new_limit is a decimal string"
        for code in expect["reason_codes"]:
            assert code in REASON_CATALOGUE, (path, code)
        assert "line_id" not in case["features"], path


@pytest.mark.parametrize("path", CASE_FILES, ids=[p.stem for p in CASE_FILES])
def test_decision_case(path: Path) -> None:
    case = load_case(path)
    changes = tuple(sorted((case.get("policy_changes") or {}).items()))
    engine = engine_for(case["policy"], changes)
    features = {"line_id": path.stem, **case["features"]}
    wanted = expected(case["expect"], engine)

    in_process = engine.decide(features)
    in_duckdb = engine.decide_in_duckdb(features)

    if case.get("kind", "review") == "application":
        _, _, declined = decided(path)
        assert observed(declined, case["expect"]) == wanted, "Engine.decline_reasons"
    else:
        assert observed(in_process, case["expect"]) == wanted, "Engine.decide"
        assert observed(in_duckdb, case["expect"]) == wanted, "Engine.decide_in_duckdb"
    # Beyond what the case names, the two paths agree on everything, trace included.
    assert in_process == in_duckdb
    assert in_process.limit_minor == case["features"]["limit_minor"]
    assert in_process.line_id == path.stem


def test_a_shared_reason_counts_its_largest_loss_in_a_decline() -> None:
    """late_payments_history is named by two attributes: on_time 0.85 -> 25 (loses 35) and
    max_dpd 10 -> 20 (loses 30); the code counts its largest loss, 35 (not the sum, 65), so
    utilisation's 40 comes first. (An application knows no repayment record today; the rule
    holds for any row the score declines.)"""
    engine = engine_for(
        "src/creditline/decisions/policies/cn-standard.yaml",
        (("constraints.min_limit", "50000.00"),),
    )
    features = {
        "line_id": "shared",
        "limit_minor": 0,
        "utilisation": 0.75,
        "on_time_ratio": 0.85,
        "max_dpd_12m": 10,
        "months_on_book": 36,
        "inquiries_3m": 1,
        "lenders_with_open_loans": 0,
        "employment": "employed",
        "income_monthly_minor": 1_000_000,
    }
    row = engine.row(features)
    # 500 + 25+20+0+30+30+30+30 = 665 -> C x mid = 20000.00 < 50000.00; with the 105 points
    # lost restored, 770 -> A x mid = 50000.00 approves: the score decided.
    assert (row["score"], row["grade"], row["band"]) == (665, "C", "mid")
    assert engine.decline_reasons(row) == ["utilisation_high", "late_payments_history"]
