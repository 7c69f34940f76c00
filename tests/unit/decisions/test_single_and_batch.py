"""One line in-process and the whole book in DuckDB decide alike.

`Engine.decide` (the in-process evaluator) and `Engine.decide_table` (the compiled SQL over a
DuckDB table) must return identical decisions, trace included, on 10,000 seeded random lines
that lean on the edges: nulls, values exactly on bin bounds and one step either side, rule
thresholds, every category, expired evidence, limits from zero to 10^15. A hypothesis property
compares `decide` with `decide_in_duckdb` (the same query on a one-row relation). Every
decision is also held to the invariants of its action.
"""

from __future__ import annotations

import copy
import functools
import math
import random
from collections import Counter
from decimal import Decimal
from typing import Any

import duckdb
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlglot import exp

from creditline.config import shipped_policy_file
from creditline.decisions.engine import (
    FEATURE_COLUMNS,
    Decision,
    Engine,
    features_table_sql,
    load_features,
)
from creditline.decisions.features import FEATURES, FeatureType
from creditline.decisions.policy import PolicyDocument, load_policy, parse_policy, rule_expression
from creditline.kernel.errors import InvalidInput
from creditline.kernel.money import AMOUNT_MINOR_MAX
from creditline.kernel.reasons import REASON_CATALOGUE, REASON_CODES_PER_DECISION_MAX

EXAMPLE = shipped_policy_file()
POLICY = load_policy(EXAMPLE)
ENGINE = Engine(POLICY)
ROWS = 10_000
SEED = 20261128

# --- the edges of the policy, read from the policy itself --------------------------------------


def _edges(policy: PolicyDocument) -> dict[str, list[Decimal]]:
    """Per feature: every bound a bin, rule, band or constraint compares it with."""
    edges: dict[str, set[Decimal]] = {name: set() for name in FEATURES}
    for attribute in policy.scorecard.attributes:
        for b in attribute.bins:
            for bound in (b.lower, b.upper):
                if bound is not None:
                    edges[attribute.feature].add(bound)
    for rule in policy.rules:
        for comparison in rule_expression(rule).find_all(exp.Binary):
            column, literal = comparison.this, comparison.expression
            if (
                isinstance(column, exp.Column)
                and isinstance(literal, exp.Literal)
                and not literal.is_string
            ):
                edges[column.name].add(Decimal(literal.this))
    for band in policy.limit_matrix.income_bands:
        if band.below is not None:
            edges["income_monthly_minor"].add(Decimal(policy.minor(band.below)))
    constraints = policy.constraints
    edges["days_since_limit_change"].add(Decimal(constraints.cooldown_days))
    edges["days_since_cut"].add(Decimal(constraints.no_increase_after_cut_days))
    return {name: sorted(values) for name, values in edges.items()}


EDGES = _edges(POLICY)
STEP = POLICY.minor(POLICY.constraints.limit_step)
MAX_LIMIT = POLICY.minor(POLICY.constraints.max_limit)
MATRIX = sorted(
    {POLICY.minor(amount) for row in POLICY.limit_matrix.limits.values() for amount in row.values()}
)


@functools.cache
def _integer_edges(name: str) -> list[int]:
    """Each integer bound, one below and one above, and 0."""
    return sorted({int(e) + d for e in EDGES[name] for d in (-1, 0, 1)} | {0})


@functools.cache
def _number_edges(name: str) -> list[float]:
    """Each ratio bound as a DOUBLE, the DOUBLEs either side of it, 0 and 1."""
    values = {0.0, 1.0}
    for e in EDGES[name]:
        x = float(e)
        values |= {x, math.nextafter(x, -math.inf), math.nextafter(x, math.inf)}
    return sorted(values)


def test_the_edges_cover_the_policy() -> None:
    """The generators below lean on these; make sure they are what the policy says."""
    assert EDGES["utilisation"] == [Decimal("0.3"), Decimal("0.7")]
    assert EDGES["on_time_ratio"] == [Decimal("0.8"), Decimal("0.95")]
    assert EDGES["dpd"] == [Decimal(30)]
    assert EDGES["applications_7d"] == [Decimal(6)]
    assert EDGES["lenders_with_open_loans"] == [Decimal(2), Decimal(4), Decimal(5)]
    assert EDGES["days_to_income_evidence_expiry"] == [Decimal(0)]
    assert EDGES["income_monthly_minor"] == [Decimal(500000), Decimal(1500000)]
    assert EDGES["days_since_cut"] == [Decimal(90)]


# --- seeded random lines -----------------------------------------------------------------------


def _limit(rng: random.Random) -> int:
    pick = rng.random()
    if pick < 0.25:
        return rng.randint(0, MATRIX[-1] // STEP + 100) * STEP
    if pick < 0.45:
        return rng.choice(MATRIX) + rng.choice((-STEP, -1, 0, 0, 1, STEP))
    if pick < 0.5:
        return rng.choice((0, 1, STEP - 1, STEP, MAX_LIMIT - 1, MAX_LIMIT, MAX_LIMIT + 1))
    if pick < 0.85:
        return rng.randint(1, MATRIX[-1] + MATRIX[-1] // 5)
    return rng.randint(MATRIX[-1], AMOUNT_MINOR_MAX)  # large, up to the largest amount


def _used(rng: random.Random, limit: int) -> int | None:
    pick = rng.random()
    if pick < 0.1:
        return None
    if pick < 0.3:
        used = rng.choice((0, limit, limit - 1, limit + 1, limit // 2, limit // 2 + 1))
    else:
        used = rng.randint(0, limit + limit // 4 + 1)
    return min(used, AMOUNT_MINOR_MAX)  # no amount is larger


def _integer(rng: random.Random, name: str) -> int | None:
    pick = rng.random()
    if pick < 0.12:
        return None
    if pick < 0.5 and EDGES[name]:
        return rng.choice(_integer_edges(name))
    if pick < 0.85:
        return rng.randint(-2, 12)
    return rng.randint(-1000, 10**7)


def _number(rng: random.Random, name: str) -> float | None:
    pick = rng.random()
    if pick < 0.12:
        return None
    if pick < 0.5:
        return rng.choice(_number_edges(name))
    if pick < 0.6:
        return round(rng.random(), 2)
    return rng.uniform(0.0, 1.3)


def random_line(rng: random.Random, line_id: str) -> dict[str, Any]:
    line: dict[str, Any] = {"line_id": line_id}
    for name, feature in FEATURES.items():
        if feature.type is FeatureType.INTEGER:
            line[name] = _integer(rng, name)
        elif feature.type is FeatureType.NUMBER:
            line[name] = _number(rng, name)
        elif feature.type is FeatureType.BOOLEAN:
            line[name] = rng.choice((None, True, False))
        else:
            line[name] = rng.choice((None, *feature.categories))
    line["limit_minor"] = _limit(rng)
    line["used_minor"] = _used(rng, line["limit_minor"])
    if rng.random() < 0.4:  # no rule fires and no recent change: room for an increase
        line.update(dpd=0, applications_7d=0, drawdowns_7d=0, lenders_with_open_loans=1)
        line.update(days_to_income_evidence_expiry=rng.choice((None, 0, 1, 365)))
        if rng.random() < 0.5:
            line.update(days_since_limit_change=None, days_since_cut=None)
    return line


def random_lines(count: int, seed: int = SEED) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    return [random_line(rng, f"line-{n:05d}") for n in range(count)]


def book(lines: list[dict[str, Any]], table: str = "features") -> duckdb.DuckDBPyConnection:
    """A DuckDB connection holding `lines` as the features table (column-wise, one INSERT)."""
    connection = duckdb.connect(":memory:")
    connection.execute(features_table_sql(table))
    load_features(connection, lines, table)
    return connection


def decide_book(
    engine: Engine, connection: duckdb.DuckDBPyConnection, table: str = "features"
) -> dict[str, Decision]:
    relation = engine.decide_table(connection, table)
    names = relation.columns
    decisions = [engine.decision(dict(zip(names, row, strict=True))) for row in relation.fetchall()]
    return {decision.line_id: decision for decision in decisions}


# --- invariants --------------------------------------------------------------------------------


def check_invariants(policy: PolicyDocument, decision: Decision) -> None:
    constraints = policy.constraints
    step = policy.minor(constraints.limit_step)
    limit, new = decision.limit_minor, decision.new_limit_minor
    codes = decision.reason_codes
    rules = {rule.id: rule for rule in policy.rules}
    fired = [entry["id"] for entry in decision.trace["rules"] if entry["fired"]]
    # The trace explains the score, the grade and the decisive rule.
    points = sum(entry["points"] for entry in decision.trace["attributes"])
    assert decision.score == policy.scorecard.base_points + points
    above = [
        g.grade for g in policy.grades if g.min_score is not None and decision.score >= g.min_score
    ]
    grade = above[0] if above else policy.grades[-1].grade
    assert decision.grade == grade
    assert decision.decisive_rule == (fired[0] if fired else None)
    assert decision.policy == policy.label

    assert decision.action in ("keep", "increase", "decrease", "freeze", "suspend", "close")
    if decision.adverse:
        assert 1 <= len(codes) <= REASON_CODES_PER_DECISION_MAX
        assert all(REASON_CATALOGUE[code].adverse for code in codes), codes
        assert len(set(codes)) == len(codes), codes
        assert decision.decisive_rule is not None
        assert codes[0] == rules[decision.decisive_rule].reason
        # Reg B 1002.9(b)(2), US-3: the reasons of the rules that fired with the action taken,
        # by priority, each once, and nothing else (no rule of another action, no points lost).
        taken = [rules[rule].reason for rule in fired if rules[rule].action == decision.action]
        assert codes == tuple(dict.fromkeys(taken))[:REASON_CODES_PER_DECISION_MAX], codes
    decisive = rules.get(decision.decisive_rule) if decision.decisive_rule else None
    if decision.action == "freeze":
        assert decisive is not None and decision.freeze_days == decisive.freeze_days
    else:
        assert decision.freeze_days is None
    if decision.action == "increase":
        assert decisive is None
        assert codes == (constraints.increase_reason,)
        assert limit < new <= policy.minor(constraints.max_limit)
        assert new % step == 0
        assert decision.target_minor is not None and new <= decision.target_minor
        assert new <= limit * constraints.max_increase_factor
    elif decision.action == "decrease":
        assert decisive is not None and decisive.limit_factor is not None
        assert 0 <= new < limit
        used = decision.features["used_minor"]
        assert used is None or new >= used
        assert new == used or new % step == 0
    else:
        assert new == limit
    if decision.action == "keep":
        assert codes == ()


def reasons_max(policy: PolicyDocument) -> int:
    """The most reasons a review can name: the codes of one action's rules, at most four."""
    codes: dict[str, set[str]] = {}
    for rule in policy.rules:
        codes.setdefault(rule.action.value, set()).add(rule.reason)
    return min(REASON_CODES_PER_DECISION_MAX, max(len(c) for c in codes.values()))


# --- single vs batch ---------------------------------------------------------------------------


def test_single_and_batch_agree_on_ten_thousand_random_lines() -> None:
    lines = random_lines(ROWS)
    batch = decide_book(ENGINE, book(lines))
    assert len(batch) == ROWS

    mismatches = []
    actions: Counter[str] = Counter()
    bins: Counter[tuple[str, int]] = Counter()
    reasons: Counter[int] = Counter()
    for line in lines:
        single = ENGINE.decide(line)
        if single != batch[line["line_id"]]:
            mismatches.append((line, single, batch[line["line_id"]]))
        check_invariants(POLICY, single)
        actions[single.action] += 1
        reasons[len(single.reason_codes)] += 1
        for entry in single.trace["attributes"]:
            bins[(entry["feature"], entry["bin"])] += 1
    assert not mismatches, f"{len(mismatches)} disagreements; first: {mismatches[0]}"

    # The lines reach every action, every bin (and the null one), every reason count.
    for action in ("keep", "increase", "decrease", "freeze", "suspend"):
        assert actions[action] >= 100, actions
    for attribute in POLICY.scorecard.attributes:
        for index in range(-1, len(attribute.bins)):
            assert bins[(attribute.feature, index)] >= 50, (attribute.feature, index)
    assert all(reasons[n] > 0 for n in range(reasons_max(POLICY) + 1)), reasons


def test_batch_over_another_table_name_decides_the_same() -> None:
    lines = random_lines(500, seed=SEED + 1)
    by_default = decide_book(ENGINE, book(lines))
    by_name = decide_book(ENGINE, book(lines, table="book_2026_11"), table="book_2026_11")
    assert by_name == by_default
    assert by_default == {line["line_id"]: ENGINE.decide(line) for line in lines}


# Rules that share a code, within one action and across two, and more freeze codes than a
# decision may name: the reasons keep priority order, name each code once and stop at four.
CROWDED_RULES = [
    {
        "id": "drawdown-velocity-30d",
        "when": "drawdowns_30d >= 12",
        "action": "freeze",
        "freeze_days": 7,
        "reason": "drawdown_velocity",
        "priority": 35,
    },
    {
        "id": "inquiries-burst",
        "when": "inquiries_1m >= 4",
        "action": "freeze",
        "freeze_days": 7,
        "reason": "bureau_inquiries_1m",
        "priority": 45,
    },
    {
        "id": "many-lenders-freeze",
        "when": "lenders_with_open_loans >= 8",
        "action": "freeze",
        "freeze_days": 14,
        "reason": "multiple_lenders",
        "priority": 48,
    },
    {
        "id": "overdue-cut",
        "when": "dpd > 5",
        "action": "decrease",
        "limit_factor": "0.8",
        "reason": "overdue_payment",
        "priority": 60,
    },
]


def test_single_and_batch_agree_when_rules_share_codes_and_outnumber_four() -> None:
    document = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    document["rules"] += CROWDED_RULES
    policy = parse_policy(document)
    engine = Engine(policy)
    lines = random_lines(3000, seed=SEED + 2)
    batch = decide_book(engine, book(lines))
    reasons: Counter[int] = Counter()
    for line in lines:
        single = engine.decide(line)
        assert single == batch[line["line_id"]], line["line_id"]
        check_invariants(policy, single)
        reasons[len(single.reason_codes)] += 1
    assert reasons_max(policy) == REASON_CODES_PER_DECISION_MAX
    assert all(reasons[n] > 0 for n in range(REASON_CODES_PER_DECISION_MAX + 1)), reasons


def edge_lines() -> list[dict[str, Any]]:
    """Every bound any feature is compared with, below, on and above it (and null), one
    feature at a time on an otherwise clean line."""
    clean = {name: None for name in FEATURE_COLUMNS} | {
        "limit_minor": 1_000_000,
        "used_minor": 0,
        "utilisation": 0.0,
        "on_time_ratio": 1.0,
        "max_dpd_12m": 0,
        "dpd": 0,
        "months_on_book": 14,
        "inquiries_3m": 0,
        "lenders_with_open_loans": 0,
        "employment": "employed",
        "income_monthly_minor": 2_000_000,
    }
    lines = []
    for name, feature in FEATURES.items():
        if feature.type is FeatureType.NUMBER:
            values: list[Any] = _number_edges(name)
        elif feature.type is FeatureType.INTEGER:
            values = _integer_edges(name) if EDGES[name] else [0]
        elif feature.type is FeatureType.BOOLEAN:
            values = [True, False]
        else:
            values = list(feature.categories)
        if name == "limit_minor":  # required: never null
            values = sorted({0, 1, STEP - 1, STEP, *MATRIX, MAX_LIMIT, AMOUNT_MINOR_MAX})
        else:
            values = [None, *values]
        for value in values:
            lines.append({**clean, name: value, "line_id": f"{name}={value!r}"})
    return lines


def test_single_and_batch_agree_on_every_edge_of_a_clean_line() -> None:
    """Every edge (`edge_lines`); a value on a bound is in the bin above it."""
    lines = edge_lines()
    batch = decide_book(ENGINE, book(lines))
    assert len(batch) == len(lines) >= 100
    for line in lines:
        single = ENGINE.decide(line)
        assert single == batch[line["line_id"]], line["line_id"]
        check_invariants(POLICY, single)
    for n, attribute in enumerate(POLICY.scorecard.attributes):
        for index, b in enumerate(attribute.bins):
            if b.lower is None:
                continue
            value = (
                float(b.lower)
                if FEATURES[attribute.feature].type is FeatureType.NUMBER
                else int(b.lower)
            )
            decision = batch[f"{attribute.feature}={value!r}"]
            assert decision.trace["attributes"][n] == {
                "feature": attribute.feature,
                "bin": index,
                "points": b.points,
            }


# --- a property: in-process vs the query on one row -------------------------------------------


def _feature_strategy(name: str) -> st.SearchStrategy[Any]:
    feature = FEATURES[name]
    if feature.type is FeatureType.INTEGER:
        return st.one_of(
            st.none(),
            st.sampled_from(_integer_edges(name)),
            st.integers(-5, 60),
            st.integers(-(10**6), 10**9),
        )
    if feature.type is FeatureType.NUMBER:
        return st.one_of(
            st.none(),
            st.sampled_from(_number_edges(name)),
            st.floats(-0.5, 2.0, allow_nan=False, allow_infinity=False),
        )
    if feature.type is FeatureType.BOOLEAN:
        return st.one_of(st.none(), st.booleans())
    return st.one_of(st.none(), st.sampled_from(feature.categories))


_LIMITS = st.one_of(
    st.integers(0, 3 * MAX_LIMIT),
    st.integers(0, 3000).map(lambda n: n * STEP),
    st.sampled_from([*MATRIX, 0, MAX_LIMIT]),
    st.integers(0, AMOUNT_MINOR_MAX),
)
LINES = st.fixed_dictionaries(
    {
        "line_id": st.just("property"),
        **{name: _feature_strategy(name) for name in FEATURES},
        "limit_minor": _LIMITS,
    }
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(line=LINES)
def test_decide_and_decide_in_duckdb_agree(line: dict[str, Any]) -> None:
    single = ENGINE.decide(line)
    assert single == ENGINE.decide_in_duckdb(line)
    check_invariants(POLICY, single)


# --- what the two paths would not agree on is refused up front ---------------------------------


def _engine_with_rule(when: str) -> Engine:
    document = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    document = copy.deepcopy(document)
    probe = {"id": "probe", "when": when, "action": "suspend", "priority": 5}
    document["rules"].append({**probe, "reason": "fraud_suspected"})
    return Engine(parse_policy(document))


def _agree_or_refuse(engine: Engine, line: dict[str, Any]) -> None:
    try:
        single = engine.decide(line)
    except InvalidInput:
        return
    assert single == engine.decide_in_duckdb(line)


@pytest.mark.parametrize(
    "when",
    # Division (x / 0 is infinite in DuckDB), IS with anything but NULL, a number as a rule.
    ["dpd / months_on_book > 1", "income_evidence IS TRUE", "(dpd + 1)"],
)
def test_rules_the_two_paths_could_read_differently_are_refused(when: str) -> None:
    with pytest.raises(InvalidInput):
        _engine_with_rule(when)


@pytest.mark.parametrize(
    "features",
    [
        {"utilisation": math.nan},  # evaluator: no bin (missing points); DuckDB: NaN is >= 0.7
        {"dpd": 30.4},  # evaluator: 30.4 > 30 fires the freeze; DuckDB casts to 30
        {"dpd": "31"},  # evaluator: TypeError, not InvalidInput
    ],
    ids=["nan-ratio", "float-for-integer", "string-for-integer"],
)
def test_ill_typed_features_are_refused_or_decided_alike(features: dict[str, Any]) -> None:
    _agree_or_refuse(ENGINE, {"line_id": "x", "limit_minor": 100_000, **features})


def test_a_cut_of_a_limit_beyond_double_precision() -> None:
    line = {"line_id": "x", "limit_minor": 9_999_999_999_999_999, "lenders_with_open_loans": 5}
    _agree_or_refuse(ENGINE, line)
