"""Decision cases as data: tests/decision_cases/*.yaml (format in its README.md).

Each case names a policy file, the features of one line and the decision expected, worked out by
hand from the policy in the case's comments. The case runs through both paths, the in-process
evaluator (`Engine.decide`) and the compiled SQL on DuckDB (`Engine.decide_in_duckdb`), and each
must equal the expectation.
"""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Any

import pytest
import yaml

from creditline.decisions.engine import Decision, Engine
from creditline.decisions.policy import parse_policy
from creditline.kernel.money import Money
from creditline.kernel.reasons import REASON_CATALOGUE

REPO = Path(__file__).resolve().parents[3]
CASES_DIR = REPO / "tests" / "decision_cases"
CASE_FILES = sorted(CASES_DIR.glob("*.yaml"))

CASE_KEYS = {"policy", "policy_changes", "features", "expect"}
REQUIRED = {
    "action",
    "new_limit",
    "reason_codes",
    "decisive_rule",
    "freeze_days",
    "score",
    "grade",
    "rules_fired",
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
        "rules_fired": [rule["id"] for rule in decision.trace["rules"] if rule["fired"]],
    }
    if "band" in expect:
        seen["band"] = decision.band
    if "target" in expect:
        seen["target"] = decision.target_minor
    if "attributes" in expect:
        seen["attributes"] = {
            feature: {"bin": attributes[feature]["bin"], "points": attributes[feature]["points"]}
            for feature in expect["attributes"]
        }
    return seen


def expected(expect: dict[str, Any], engine: Engine) -> dict[str, Any]:
    """The expectation with amounts in minor units."""
    currency = engine.policy.currency
    wanted = dict(expect)
    wanted["new_limit"] = Money.parse(expect["new_limit"], currency).minor
    if "target" in wanted:
        wanted["target"] = Money.parse(expect["target"], currency).minor
    return wanted


def test_there_are_cases_and_each_is_well_formed() -> None:
    assert len(CASE_FILES) >= 20
    for path in CASE_FILES:
        case = load_case(path)
        assert set(case) <= CASE_KEYS and {"policy", "features", "expect"} <= set(case), path
        expect = case["expect"]
        assert REQUIRED <= set(expect) <= REQUIRED | OPTIONAL, (path, set(expect) ^ REQUIRED)
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

    assert observed(in_process, case["expect"]) == wanted, "Engine.decide"
    assert observed(in_duckdb, case["expect"]) == wanted, "Engine.decide_in_duckdb"
    # Beyond what the case names, the two paths agree on everything, trace included.
    assert in_process == in_duckdb
    assert in_process.limit_minor == case["features"]["limit_minor"]
    assert in_process.line_id == path.stem


def test_a_clean_record_is_never_cut() -> None:
    """Seed article: settled on time, clean record -> keep or increase, whatever the limit."""
    engine = engine_for("src/creditline/decisions/policies/cn-standard.yaml", ())
    clean = load_case(CASES_DIR / "01-settled-on-time-grows.yaml")["features"]
    for limit in (0, 1, 10_000, 999_999, 1_000_000, 9_999_999, 10_000_000, 25_000_000, 10**12):
        for used in (0, limit // 2, limit):
            features = {**clean, "limit_minor": limit, "used_minor": used}
            for decide in (engine.decide, engine.decide_in_duckdb):
                decision = decide(features)
                assert decision.action in ("keep", "increase"), (limit, used, decision)
                assert decision.new_limit_minor >= limit
