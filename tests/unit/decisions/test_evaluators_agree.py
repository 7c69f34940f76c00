"""Three evaluators, one meaning: the in-process evaluator (`Engine.decide`), the compiled query
on DuckDB (`decide_batch`) and the same query on Spark (`decide_parquet`) decide every row
alike, for every rule a policy can express, not only the shipped ones (docs/decisions/0019).

Rules come from the whole grammar the lint admits (`rule_grammar`), over rows full of NULLs and
of values on the literals' edges. Most conditions enter a policy three times, as themselves,
negated and `IS NULL`, so each one's three-valued outcome shows in the trace; their rules cut
by factors with many decimals under odd steps, freeze, suspend and close, so the decisions check
the arithmetic of limits as well. hypothesis holds the in-process evaluator to DuckDB, example by
example (a failure shrinks to a small rule and row). Spark starts slowly, so a seeded batch of a
few hundred generated conditions runs as one job per policy, and all three must agree on it.

Known cases pin what SQL means where an evaluator once read it otherwise, each worked by hand.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, assume, given, note, settings
from hypothesis import strategies as st
from rule_grammar import (
    FEATURES,
    LENDER_ATTRIBUTES,
    Draw,
    HypothesisDraw,
    RandomDraw,
    condition,
    constraints,
    feature_row,
    features_named,
    rules_of,
)
from test_engine_caps import BOTH, CN, US

from creditline.config import shipped_policy_file
from creditline.decisions.batch import decide_batch, decide_parquet, read_decisions, write_features
from creditline.decisions.engine import Decision, Engine
from creditline.decisions.policy import PolicyDocument, check_policy, parse_policy
from creditline.ledger.ports import RegulatoryCaps

SHIPPED = yaml.safe_load(shipped_policy_file().read_text(encoding="utf-8"))
CAPS: tuple[RegulatoryCaps | None, ...] = (None, CN, US, BOTH)
# What a decision reads besides the rules: the scorecard, the caps, the cool-downs.
DECIDING = {a["feature"] for a in SHIPPED["scorecard"]["attributes"]} | {
    "limit_minor",
    "used_minor",
    "income_monthly_minor",
    "income_evidence",
    "obligations_monthly_minor",
    "days_since_cut",
    "days_since_limit_change",
}


def policy_of(rules: list[dict[str, Any]], limits: dict[str, Any]) -> PolicyDocument | None:
    """The shipped policy with these rules and constraints; None when the lint refuses it (a
    generated condition that is never true, say)."""
    attributes = [a.model_dump(mode="json") for a in LENDER_ATTRIBUTES]
    document = {**SHIPPED, "rules": rules, "constraints": limits, "attributes": attributes}
    policy, problems = check_policy(document)
    return policy if not problems else None


def generated_engine(draw: Draw, conditions: list[str]) -> Engine | None:
    policy = policy_of(rules_of(draw, conditions), constraints(draw))
    return None if policy is None else Engine(policy, draw.pick(CAPS))


def in_process(engine: Engine, rows: list[dict[str, Any]]) -> dict[str, Decision]:
    return {row["line_id"]: engine.decide(row) for row in rows}


def on_duckdb(engine: Engine, rows: list[dict[str, Any]]) -> dict[str, Decision]:
    return {decision.line_id: decision for decision in decide_batch(engine, rows)}


def on_spark(
    engine: Engine, rows: list[dict[str, Any]], spark: Any, directory: Path
) -> dict[str, Decision]:
    write_features(rows, directory / "features.parquet", engine.features)
    out = directory / "decisions"
    decide_parquet(engine, str(directory / "features.parquet"), str(out), spark=spark)
    return {d.line_id: d for batch in read_decisions(engine, str(out)) for d in batch}


def disagreements(
    engine: Engine,
    rows: list[dict[str, Any]],
    one: dict[str, Decision],
    other: dict[str, Decision],
    names: str,
) -> list[str]:
    """Each row two evaluators decided differently: what differs, the rules and the row."""
    found = []
    by_line = {row["line_id"]: row for row in rows}
    for line_id in sorted(set(one) | set(other)):
        a, b = one.get(line_id), other.get(line_id)
        if a == b:
            continue
        differ: object = "decided by one only"
        if a is not None and b is not None:
            differ = {
                field.name: (getattr(a, field.name), getattr(b, field.name))
                for field in dataclasses.fields(Decision)
                if getattr(a, field.name) != getattr(b, field.name)
            }
        rules = [rule.when for rule in engine.policy.rules]
        known = {k: v for k, v in by_line[line_id].items() if v is not None}
        found.append(f"{names} on {line_id}: {differ}\n  rules: {rules}\n  row: {known}")
    return found


# --- in-process against DuckDB, example by example ---------------------------------------------


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_in_process_and_duckdb_decide_every_generated_rule_alike(data: st.DataObject) -> None:
    draw = HypothesisDraw(data.draw)
    conditions = [condition(draw).sql for _ in range(draw.number(1, 3))]
    note(f"conditions: {conditions}")
    engine = generated_engine(draw, conditions)
    assume(engine is not None)
    assert engine is not None
    names = features_named(conditions) | DECIDING
    rows = [feature_row(draw, f"line-{n}", names) for n in range(draw.number(1, 8))]
    single, duck = in_process(engine, rows), on_duckdb(engine, rows)
    found = disagreements(engine, rows, single, duck, "in-process/DuckDB")
    assert not found, "\n".join(found)


# --- known cases, worked by hand ---------------------------------------------------------------

# (condition, the row's features, what SQL makes of the condition: True, False or None: NULL)
KNOWN: list[tuple[str, dict[str, Any], bool | None]] = [
    # NULL under OR is NULL unless the other side is true; under AND, false wins.
    ("dpd > 30 OR age > 100", {"dpd": None, "age": 5}, None),
    ("dpd > 30 OR age > 100", {"dpd": None, "age": 101}, True),
    ("dpd > 30 AND age > 100", {"dpd": None, "age": 5}, False),
    ("NOT (dpd > 30)", {"dpd": None}, None),
    # BETWEEN takes both bounds in; a NULL bound is NULL unless the other bound fails.
    ("dpd BETWEEN 30 AND 60", {"dpd": 30}, True),
    ("dpd BETWEEN 30 AND 60", {"dpd": 60}, True),
    ("dpd BETWEEN 30 AND 60", {"dpd": 61}, False),
    ("dpd BETWEEN 30 AND max_dpd_12m", {"dpd": 20, "max_dpd_12m": None}, False),
    ("dpd BETWEEN 30 AND max_dpd_12m", {"dpd": 40, "max_dpd_12m": None}, None),
    ("dpd NOT BETWEEN 30 AND 60", {"dpd": 45}, False),
    # SYMMETRIC takes the bounds in either order (in-process once ignored it: false).
    ("dpd BETWEEN SYMMETRIC 60 AND 30", {"dpd": 45}, True),
    # Each bound meets the value at its own type: 0.10000000000000001 >= 0.1 as DOUBLEs, but
    # not <= 0.1 as DECIMALs (DuckDB once compared all three as DOUBLEs: true).
    (
        "dpd + 0.10000000000000001 BETWEEN utilisation AND 0.1",
        {"dpd": 0, "utilisation": 0.1},
        False,
    ),
    # IN: no match and a NULL option is NULL; NOT IN too.
    ("dpd IN (1, 2, NULL)", {"dpd": 3}, None),
    ("dpd IN (1, 2, NULL)", {"dpd": 1}, True),
    ("dpd NOT IN (1, NULL)", {"dpd": 3}, None),
    # A DECIMAL is exact: 3 × 0.1 = 0.3.
    ("dpd * 0.1 = 0.3", {"dpd": 3}, True),
    # An exponent makes a DOUBLE: 3 × 0.1 is 0.30000000000000004 (in-process once: exact, true).
    ("dpd * 1e-1 = 0.3", {"dpd": 3}, False),
    # coalesce and greatest are DOUBLEs when any argument is, even where it is NULL on the row
    # (in-process once took dpd's integer 3 and computed exactly: true).
    ("coalesce(utilisation, dpd) * 0.1 = 0.3", {"utilisation": None, "dpd": 3}, False),
    ("greatest(utilisation, dpd) * 0.1 = 0.3", {"utilisation": None, "dpd": 3}, False),
    # A ratio given as an integer is a DOUBLE all the same.
    ("utilisation * 0.1 = 0.3", {"utilisation": 3}, False),
    # A comparison of a comparison, as sqlglot groups it (DuckDB once refused the query).
    ("dpd > 5 = income_evidence", {"dpd": 6, "income_evidence": True}, True),
    # inf - inf is NaN, which SQL orders above every number (in-process once: false).
    ("utilisation * 10 - utilisation * 10 > 1", {"utilisation": 1e308}, True),
    ("(dpd + age) IS NULL", {"dpd": None, "age": 30}, True),
    ("employment <> 'it''s'", {"employment": "student"}, True),
]
KNOWN_CONDITIONS = list(dict.fromkeys(when for when, _, _ in KNOWN))
# 6,600,000,066 × 0.33333333 = 2,200,000,022 - 22.00000022 = 2,199,999,999.99999978, which
# floors to 219,999 steps of 10,000 (100.00): 2,199,990,000. A DOUBLE division rounds
# 219,999.999999999978 up to 220,000, and DuckDB and Spark once cut to 2,200,000,000.
THIRD_CUT_LIMIT_MINOR = 6_600_000_066
THIRD_CUT_EXPECTED_MINOR = 2_199_990_000


def cut_rule(limit_minor: int) -> dict[str, Any]:
    """A cut by 0.33333333 of the line whose limit is `limit_minor`, before any other rule."""
    return {
        "id": "third",
        "when": f"limit_minor = {limit_minor}",
        "action": "decrease",
        "limit_factor": "0.33333333",
        "reason": "overdue_payment",
        "priority": 1,
    }


def known_engine() -> Engine:
    """The shipped policy's constraints (a step of 100.00) with the cut of 6,600,000,066, then
    each known condition, negated and `IS NULL`."""
    rules = [cut_rule(THIRD_CUT_LIMIT_MINOR)]
    for n, when in enumerate(KNOWN_CONDITIONS):
        for k, variant in enumerate((when, f"NOT ({when})", f"({when}) IS NULL")):
            rules.append(
                {
                    "id": f"known-{n}-{k}",
                    "when": variant,
                    "action": "suspend",
                    "reason": "fraud_suspected",
                    "priority": 10 + 3 * n + k,
                }
            )
    return Engine(parse_policy({**SHIPPED, "rules": rules}))


def known_rows() -> list[dict[str, Any]]:
    rows = [
        {"line_id": f"known-{n}", "limit_minor": 1_000_000, **features}
        for n, (_, features, _) in enumerate(KNOWN)
    ]
    return [*rows, {"line_id": "third", "limit_minor": THIRD_CUT_LIMIT_MINOR, "used_minor": 0}]


def check_known(decisions: dict[str, Decision]) -> None:
    """Each known condition's outcome on its row, and the cut, as worked out by hand."""
    for n, (when, _, expected) in enumerate(KNOWN):
        fired = {r["id"]: r["fired"] for r in decisions[f"known-{n}"].trace["rules"]}
        rule = KNOWN_CONDITIONS.index(when)
        outcome = [fired[f"known-{rule}-{k}"] for k in range(3)]
        assert outcome == [expected is True, expected is False, expected is None], when
    third = decisions["third"]
    assert (third.action, third.new_limit_minor) == ("decrease", THIRD_CUT_EXPECTED_MINOR)


def test_known_cases_mean_what_sql_means_in_process_and_on_duckdb() -> None:
    engine, rows = known_engine(), known_rows()
    single, duck = in_process(engine, rows), on_duckdb(engine, rows)
    check_known(single)
    check_known(duck)
    assert not disagreements(engine, rows, single, duck, "in-process/DuckDB")


@pytest.mark.parametrize(
    ("limit_minor", "expected_minor"),
    [
        (THIRD_CUT_LIMIT_MINOR, THIRD_CUT_EXPECTED_MINOR),
        # 10^15 × 0.33333333 = 333,333,330,000,000 exactly: already on the step.
        (10**15, 333_333_330_000_000),
        # 60,000 × 0.33333333 = 19,999.9998: one step (10,000), below the minimum limit
        # (500.00 = 50,000), which holds the cut.
        (60_000, 50_000),
    ],
)
def test_a_cut_by_a_factor_with_many_decimals_floors_exactly(
    limit_minor: int, expected_minor: int
) -> None:
    engine = Engine(parse_policy({**SHIPPED, "rules": [cut_rule(limit_minor)]}))
    line = {"line_id": "cut", "limit_minor": limit_minor, "used_minor": 0}
    single = engine.decide(line)
    assert [single] == decide_batch(engine, [line])
    assert (single.action, single.new_limit_minor) == ("decrease", expected_minor)


# --- all three, in one Spark job per policy ----------------------------------------------------

SPARK_SEED = 20261212
SPARK_POLICIES = 3
SPARK_CONDITIONS = 50  # per policy; most of them enter it as three rules
SPARK_ROWS = 400  # per policy


@pytest.mark.xdist_group("spark")
def test_spark_duckdb_and_in_process_decide_alike(spark: Any, tmp_path: Path) -> None:
    engine, rows = known_engine(), known_rows()
    decided = on_spark(engine, rows, spark, tmp_path / "known")
    check_known(decided)
    assert not disagreements(engine, rows, on_duckdb(engine, rows), decided, "DuckDB/Spark")
    draw = RandomDraw(SPARK_SEED)
    rules = 0
    for n in range(SPARK_POLICIES):
        generated = None
        while generated is None:
            conditions = [condition(draw).sql for _ in range(SPARK_CONDITIONS)]
            generated = generated_engine(draw, list(dict.fromkeys(conditions)))
        rules += len(generated.policy.rules)
        lines = [feature_row(draw, f"policy-{n}-line-{k}") for k in range(SPARK_ROWS)]
        single, duck = in_process(generated, lines), on_duckdb(generated, lines)
        spark_decided = on_spark(generated, lines, spark, tmp_path / f"policy-{n}")
        found = disagreements(generated, lines, single, duck, "in-process/DuckDB")
        found += disagreements(generated, lines, duck, spark_decided, "DuckDB/Spark")
        assert not found, f"{len(found)} rows differ; the first:\n" + "\n".join(found[:3])
    assert rules >= 2 * SPARK_POLICIES * SPARK_CONDITIONS  # most as three rules


def test_the_grammar_reaches_every_feature() -> None:
    """No feature, and so no feature type, goes untested; nor any lender attribute."""
    draw = RandomDraw(SPARK_SEED)
    assert features_named(condition(draw).sql for _ in range(300)) == set(FEATURES)
