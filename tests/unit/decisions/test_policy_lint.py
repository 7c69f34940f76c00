"""The policy lint: the example policy is clean, and every kind of problem is reported with a
message naming where it is (`rules.<id>`, `scorecard.<feature>`, `limit_matrix...`).

Variants are built by loading the shipped policy (cn-standard.yaml) into a dict and changing one
thing, so each test shows that exactly that change is caught (the problem lists are compared
whole, so a change that also set off an unrelated message would fail too).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import Run

from creditline.config import shipped_policy_file
from creditline.decisions.policy import check_policy, load_policy, parse_policy, rule_expression
from creditline.kernel.errors import InvalidInput

EXAMPLE = shipped_policy_file()
_DOCUMENT = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))


def example() -> dict[str, Any]:
    """A fresh, mutable copy of the example policy document."""
    return copy.deepcopy(_DOCUMENT)


def problems(document: object) -> list[str]:
    return check_policy(document)[1]


def rule(document: dict[str, Any], rule_id: str) -> dict[str, Any]:
    return next(r for r in document["rules"] if r["id"] == rule_id)


def attribute(document: dict[str, Any], feature: str) -> dict[str, Any]:
    return next(a for a in document["scorecard"]["attributes"] if a["feature"] == feature)


def new_rule(**fields: Any) -> dict[str, Any]:
    return {"action": "suspend", "reason": "fraud_suspected", "priority": 99, **fields}


# --- the example -------------------------------------------------------------------------------


def test_the_example_policy_is_clean() -> None:
    policy, found = check_policy(example())
    assert found == []
    assert policy is not None
    assert policy.label == "cn-standard@2026.11.1"
    assert load_policy(EXAMPLE) == policy
    assert parse_policy(example()) == policy


def test_parse_policy_refuses_with_every_problem_listed() -> None:
    document = example()
    rule(document, "overdue-30")["reason"] = "policy_change"
    rule(document, "multi-lender")["when"] = "random() > 0.5"
    with pytest.raises(InvalidInput) as raised:
        parse_policy(document)
    listed = raised.value.details["problems"]
    assert len(listed) == 2
    assert listed[0].startswith("rules.overdue-30: ")
    assert listed[1].startswith("rules.multi-lender: ")
    assert all(problem in raised.value.message for problem in listed)


def test_load_policy_refuses_an_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match=r"policy .*missing\.yaml"):
        load_policy(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("id: [unclosed\n", encoding="utf-8")
    with pytest.raises(InvalidInput, match=r"broken\.yaml"):
        load_policy(broken)


# --- features ----------------------------------------------------------------------------------


def test_an_unknown_feature_in_the_scorecard() -> None:
    document = example()
    attribute(document, "utilisation")["feature"] = "shoe_size"
    assert problems(document) == ["scorecard.shoe_size: unknown feature"]


def test_an_unknown_feature_in_a_rule() -> None:
    document = example()
    rule(document, "overdue-30")["when"] = "days_overdue > 30"
    assert problems(document) == ["rules.overdue-30: unknown feature 'days_overdue'"]


def test_a_feature_scored_twice() -> None:
    document = example()
    document["scorecard"]["attributes"].append(copy.deepcopy(attribute(document, "utilisation")))
    assert problems(document) == ["scorecard.utilisation: the feature is scored twice"]


# --- what a rule may contain -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        ("random() > 0.5", ["function 'rand' is not allowed"]),
        ("length(employment) > 3", ["function 'length' is not allowed"]),
        ("lower(employment) = 'x'", ["function 'lower' is not allowed"]),
        ("read_csv('x') IS NULL", ["function 'read_csv' is not allowed"]),
        ("CAST(dpd AS VARCHAR) = '1'", ["function 'cast' is not allowed", "DataType"]),
        ("(SELECT 1) = 1", ["Subquery is not allowed", "Select is not allowed"]),
        ("t.dpd > 1", ["unknown feature 't.dpd'"]),
        ("dpd > 30 AND features.dpd > 1", ["unknown feature 'features.dpd'"]),
        ("*", ["Star is not allowed"]),
        ("count(*) > 1", ["function 'count' is not allowed", "Star is not allowed"]),
        ("employment LIKE 'e%'", ["Like is not allowed"]),
        ("dpd > 1; DROP TABLE features", ["Drop is not allowed"]),
        ("dpd + 1", ["a rule must be a condition (true or false)"]),
        ("dpd", ["a rule must be a condition (true or false)"]),
        ("'yes'", ["a rule must be a condition (true or false)"]),
        ("dpd >", ["not an expression"]),
        # What SQL would convert, refuse or overflow, and Python would compute all the same.
        ("dpd = '5'", ["mixes integer and text values"]),  # DuckDB: '5' becomes 5, true
        ("employment > 5", ["mixes integer and text values"]),
        ("coalesce(dpd, income_evidence) IS NULL", ["mixes boolean and integer values"]),
        ("income_evidence + 1 > 1", ["arithmetic on a value that is not a number"]),
        ("(dpd, age) = (1, 2)", ["Tuple is not allowed"]),
        ("dpd IN ()", ["IN needs at least one value"]),
        ("least(dpd) > 0", ["least needs two values or more"]),
        ("2147483647 + 1 > dpd", ["may overflow a 32-bit integer (as SQL types literals)"]),
        ("dpd * used_minor > 0", ["may overflow a 64-bit integer (for features up to ±10^15)"]),
        ("dpd > 99999999999999999999", ["beyond a 64-bit integer"]),
        ("utilisation > 1e999", ["beyond a DOUBLE"]),
        ("dpd * 0.1234567890123456789 > 0", ["needs 40 decimal digits; SQL keeps 38"]),
    ],
)
def test_a_rule_that_is_not_an_allowed_condition(when: str, expected: list[str]) -> None:
    document = example()
    rule(document, "overdue-30")["when"] = when
    found = problems(document)
    assert found, f"{when!r} passed the lint"
    assert all(p.startswith("rules.overdue-30: ") for p in found), found
    for fragment in expected:
        assert any(fragment in p for p in found), (fragment, found)
    # Allowed functions are named in the message, so the author knows what to use instead.
    if any("function" in p for p in found):
        assert any("(allowed: coalesce, abs, least, greatest)" in p for p in found)
    # And the compiler refuses to render such a rule even if asked directly.
    policy = parse_policy(example())
    bad = policy.rules[1].model_copy(update={"when": when})
    with pytest.raises(InvalidInput):
        rule_expression(bad)


@pytest.mark.parametrize(
    "when",
    [
        "dpd > 30 AND utilisation >= 0.9",
        "dpd BETWEEN 31 AND 60 OR NOT (max_dpd_12m < 90)",
        "employment IN ('student', 'unemployed') AND income_evidence = FALSE",
        "coalesce(dpd, 0) > 30",
        "greatest(dpd, max_dpd_12m) - least(age, 30) > abs(-30)",
        "days_since_cut IS NULL AND -dpd < 0",
        "used_minor * 2 > limit_minor + 100",
        "dpd > 5 = income_evidence",  # a comparison of comparisons, grouped as sqlglot reads it
        "utilisation BETWEEN SYMMETRIC 0.9 AND 0.5 OR dpd NOT IN (1, NULL)",
        "used_minor * 1000 > limit_minor * 999 AND dpd * 0.5 > 1.5e0",
        "coalesce(employment, 'student') IN ('student', 'it''s')",
    ],
)
def test_an_allowed_condition_passes(when: str) -> None:
    document = example()
    rule(document, "overdue-30")["when"] = when
    assert problems(document) == []


@pytest.mark.parametrize(
    ("path", "factor"),
    [
        (("rules", 4, "limit_factor"), "0.1234567890123456789"),  # 19 digits
        (("rules", 4, "limit_factor"), "0.0000000000000000001"),  # 19 decimal places
        (("constraints", "max_increase_factor"), "1.234567890123456789"),
    ],
)
def test_a_factor_beyond_exact_sql_arithmetic(path: tuple[Any, ...], factor: str) -> None:
    """A limit times the factor must fit SQL's 128-bit integers for any limit (`limit_steps`)."""
    document = example()
    *parents, key = path
    target: Any = document
    for part in parents:
        target = target[part]
    target[key] = factor
    where = "rules.multi-lender.limit_factor" if path[0] == "rules" else ".".join(path)
    assert problems(document) == [f"{where}: at most 18 digits and decimal places"]


# --- reason codes ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("policy_change", "reason code 'policy_change' is generic; name the factor"),
        ("too_risky", "unknown reason code 'too_risky'"),
        ("", "unknown reason code ''"),
        (
            "good_repayment_history",
            "reason code 'good_repayment_history' cannot explain an adverse decision",
        ),
    ],
)
def test_a_rule_reason_must_be_a_specific_adverse_code(code: str, message: str) -> None:
    document = example()
    rule(document, "application-velocity")["reason"] = code
    assert problems(document) == [f"rules.application-velocity: {message}"]


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("policy_change", "reason code 'policy_change' is generic; name the factor"),
        ("no_such_code", "unknown reason code 'no_such_code'"),
        ("income_verified", "reason code 'income_verified' cannot explain an adverse decision"),
    ],
)
def test_an_attribute_reason_must_be_a_specific_adverse_code(code: str, message: str) -> None:
    document = example()
    attribute(document, "inquiries_3m")["reason"] = code
    assert problems(document) == [f"scorecard.inquiries_3m: {message}"]


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("utilisation_high", "reason code 'utilisation_high' cannot explain a favourable decision"),
        ("policy_change", "reason code 'policy_change' is generic; name the factor"),
        ("great_customer", "unknown reason code 'great_customer'"),
    ],
)
def test_the_increase_reason_must_be_a_favourable_code(code: str, message: str) -> None:
    document = example()
    document["constraints"]["increase_reason"] = code
    assert problems(document) == [f"constraints: {message}"]


def test_a_rule_without_a_reason_does_not_validate() -> None:
    document = example()
    del rule(document, "overdue-30")["reason"]
    policy, found = check_policy(document)
    assert policy is None
    assert found == ["rules.1.reason: Field required"]  # rules[1] is overdue-30


# --- actions and their parameters --------------------------------------------------------------


def test_a_freeze_without_freeze_days() -> None:
    document = example()
    del rule(document, "overdue-30")["freeze_days"]
    assert problems(document) == [
        "rules.overdue-30: freeze_days goes with a freeze, and only with it"
    ]


def test_freeze_days_on_a_suspend() -> None:
    document = example()
    rule(document, "income-evidence-expired")["freeze_days"] = 3
    assert problems(document) == [
        "rules.income-evidence-expired: freeze_days goes with a freeze, and only with it"
    ]


def test_a_decrease_without_limit_factor() -> None:
    document = example()
    del rule(document, "multi-lender")["limit_factor"]
    assert problems(document) == [
        "rules.multi-lender: limit_factor goes with a decrease, and only with it"
    ]


def test_limit_factor_on_a_freeze() -> None:
    document = example()
    rule(document, "overdue-30")["limit_factor"] = "0.5"
    assert problems(document) == [
        "rules.overdue-30: limit_factor goes with a decrease, and only with it"
    ]


@pytest.mark.parametrize("factor", ["1", "1.5", "0", "-0.5"])
def test_a_limit_factor_outside_zero_to_one_does_not_validate(factor: str) -> None:
    document = example()
    rule(document, "multi-lender")["limit_factor"] = factor
    policy, found = check_policy(document)
    assert policy is None
    assert len(found) == 1 and found[0].startswith("rules.4.limit_factor: ")


# --- unreachable rules, ids and priorities -----------------------------------------------------


def test_a_rule_with_the_same_condition_as_a_higher_priority_rule_is_unreachable() -> None:
    document = example()
    document["rules"].append(new_rule(id="overdue-again", when="dpd>30", priority=25))
    assert problems(document) == [
        "rules.overdue-again: unreachable: rule overdue-30 has the same condition and a higher "
        "priority"
    ]


def test_unreachable_is_decided_by_priority_not_by_position_in_the_file() -> None:
    document = example()
    # Listed last but with the highest priority: it is the existing overdue-30 that never decides.
    document["rules"].append(new_rule(id="overdue-first", when="dpd  >  30", priority=5))
    assert problems(document) == [
        "rules.overdue-30: unreachable: rule overdue-first has the same condition and a higher "
        "priority"
    ]


@pytest.mark.parametrize("when", ["FALSE", "false", "(FALSE)"])
def test_a_rule_that_is_never_true_is_unreachable(when: str) -> None:
    document = example()
    document["rules"].append(new_rule(id="never", when=when))
    assert problems(document) == ["rules.never: unreachable: its condition is never true"]


def test_duplicate_rule_ids() -> None:
    document = example()
    document["rules"].append(new_rule(id="overdue-30", when="dpd > 60"))
    assert problems(document) == ["rules.overdue-30: duplicate rule id"]


def test_duplicate_priorities() -> None:
    document = example()
    rule(document, "application-velocity")["priority"] = 20  # as overdue-30
    assert problems(document) == ["rules: priorities must be distinct (they order the rules)"]


# --- scorecard bins ----------------------------------------------------------------------------


def test_bins_that_leave_a_gap() -> None:
    document = example()
    attribute(document, "utilisation")["bins"][1]["lower"] = 0.4  # [0.3, 0.4) is in no bin
    assert problems(document) == [
        "scorecard.utilisation: bins must be in order and meet exactly (upper = next lower)"
    ]


def test_bins_that_overlap() -> None:
    document = example()
    attribute(document, "max_dpd_12m")["bins"][1]["lower"] = 0  # 0 is in two bins
    assert problems(document) == [
        "scorecard.max_dpd_12m: bins must be in order and meet exactly (upper = next lower)"
    ]


def test_bins_out_of_order() -> None:
    document = example()
    bins = attribute(document, "months_on_book")["bins"]
    bins[0], bins[1] = bins[1], bins[0]
    assert problems(document) == [
        "scorecard.months_on_book: the first bin must be open below and the last open above"
    ]


def test_the_first_bin_must_be_open_below() -> None:
    document = example()
    attribute(document, "on_time_ratio")["bins"][0]["lower"] = 0
    assert problems(document) == [
        "scorecard.on_time_ratio: the first bin must be open below and the last open above"
    ]


def test_the_last_bin_must_be_open_above() -> None:
    document = example()
    attribute(document, "inquiries_3m")["bins"][-1]["upper"] = 100
    assert problems(document) == [
        "scorecard.inquiries_3m: the first bin must be open below and the last open above"
    ]


def test_a_category_bin_with_an_unknown_value() -> None:
    document = example()
    attribute(document, "employment")["bins"][0]["values"] = ["employed", "freelance"]
    assert problems(document) == ["scorecard.employment.bins[0]: unknown value 'freelance'"]


def test_a_category_feature_binned_by_bounds_and_a_number_by_values() -> None:
    document = example()
    attribute(document, "employment")["bins"][2]["lower"] = 1
    assert problems(document) == ["scorecard.employment.bins[2]: a category feature bins by values"]
    document = example()
    attribute(document, "utilisation")["bins"][0]["values"] = ["low"]
    found = problems(document)
    assert "scorecard.utilisation.bins[0]: a number feature bins by lower/upper" in found


# --- grades and the limit matrix ---------------------------------------------------------------


@pytest.mark.parametrize("min_score", [730, 720])
def test_grades_must_fall(min_score: int) -> None:
    document = example()
    document["grades"][1]["min_score"] = min_score  # B at or above A's 720
    assert problems(document) == ["grades: min_score must fall from the first grade to the last"]


def test_the_last_grade_takes_the_rest() -> None:
    document = example()
    document["grades"][-1]["min_score"] = 500
    assert problems(document) == [
        "grades: every grade but the last needs min_score; the last takes the rest"
    ]


def test_the_matrix_missing_a_band() -> None:
    document = example()
    del document["limit_matrix"]["limits"]["C"]["mid"]
    assert problems(document) == ["limit_matrix.limits.C: one limit per income band, no more"]


def test_the_matrix_with_an_extra_band() -> None:
    document = example()
    document["limit_matrix"]["limits"]["A"]["vip"] = "500000.00"
    assert problems(document) == ["limit_matrix.limits.A: one limit per income band, no more"]


def test_the_matrix_missing_a_grade() -> None:
    document = example()
    del document["limit_matrix"]["limits"]["E"]
    assert problems(document) == ["limit_matrix.limits: one row per grade, no more"]


def test_the_last_income_band_takes_the_rest() -> None:
    document = example()
    document["limit_matrix"]["income_bands"][-1]["below"] = "99999.00"
    assert problems(document) == [
        "limit_matrix.income_bands: the last band takes the rest (no `below`)"
    ]


# --- money -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "where"),
    [
        (("limit_matrix", "limits", "A", "low"), "limit_matrix.limits.A.low"),
        (("constraints", "max_limit"), "constraints.max_limit"),
        (("constraints", "min_limit"), "constraints.min_limit"),
        (("constraints", "limit_step"), "constraints.limit_step"),
    ],
)
def test_an_amount_with_three_decimals(path: tuple[str, ...], where: str) -> None:
    document = example()
    parent = document
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = "100.005"
    assert problems(document) == [f"{where}: CNY has 2 decimal places; got 3"]


def test_an_income_band_with_three_decimals() -> None:
    document = example()
    document["limit_matrix"]["income_bands"][0]["below"] = "5000.001"
    assert problems(document) == ["limit_matrix.income_bands.low: CNY has 2 decimal places; got 3"]


def test_a_negative_amount_and_a_zero_step() -> None:
    document = example()
    document["constraints"]["min_limit"] = "-1.00"
    assert problems(document) == ["constraints.min_limit: an amount cannot be negative"]
    document = example()
    document["constraints"]["limit_step"] = "0.00"
    assert problems(document) == ["constraints.limit_step: must be positive"]


def test_an_amount_written_as_a_yaml_number_does_not_validate() -> None:
    document = example()
    document["constraints"]["max_limit"] = 200000.0  # a float: the exact amount is already lost
    policy, found = check_policy(document)
    assert policy is None
    assert found == ["constraints.max_limit: Input should be a valid string"]


# --- many problems at once ---------------------------------------------------------------------


def test_every_problem_is_reported_once() -> None:
    document = example()
    rule(document, "overdue-30")["when"] = "days_overdue > 30"
    rule(document, "drawdown-velocity")["reason"] = "policy_change"
    del rule(document, "application-velocity")["freeze_days"]
    document["grades"][2]["min_score"] = 700
    del document["limit_matrix"]["limits"]["B"]["high"]
    document["constraints"]["min_limit"] = "500.001"
    assert sorted(problems(document)) == sorted(
        [
            "constraints.min_limit: CNY has 2 decimal places; got 3",
            "grades: min_score must fall from the first grade to the last",
            "limit_matrix.limits.B: one limit per income band, no more",
            "rules.overdue-30: unknown feature 'days_overdue'",
            "rules.application-velocity: freeze_days goes with a freeze, and only with it",
            "rules.drawdown-velocity: reason code 'policy_change' is generic; name the factor",
        ]
    )


@pytest.mark.parametrize("document", [None, [], "a policy", 42])
def test_a_document_that_is_not_a_mapping(document: object) -> None:
    policy, found = check_policy(document)
    assert policy is None
    assert found == ["policy: Input should be a valid dictionary or instance of PolicyDocument"]


# --- gaps the lint once had ----------------------------------------------------------------------


def test_a_bin_gap_is_reported_even_when_another_attribute_has_a_problem() -> None:
    document = example()
    attribute(document, "on_time_ratio")["reason"] = "policy_change"
    attribute(document, "utilisation")["bins"][1]["lower"] = 0.4
    assert sorted(problems(document)) == [
        "scorecard.on_time_ratio: reason code 'policy_change' is generic; name the factor",
        "scorecard.utilisation: bins must be in order and meet exactly (upper = next lower)",
    ]


def test_an_empty_or_inverted_bin_is_reported() -> None:
    document = example()
    # [0.8, 0.5) holds no value: 0.6 falls in the first bin, 0.9 in the last.
    attribute(document, "utilisation")["bins"] = [
        {"upper": 0.8, "points": 40},
        {"lower": 0.8, "upper": 0.5, "points": 25},
        {"lower": 0.5, "points": 0},
    ]
    found = problems(document)
    assert found and all(p.startswith("scorecard.utilisation") for p in found)


def test_income_bands_must_rise() -> None:
    document = example()
    bands = document["limit_matrix"]["income_bands"]
    bands[0]["below"], bands[1]["below"] = "15000.00", "5000.00"  # no income is ever `mid`
    found = problems(document)
    assert found and all(p.startswith("limit_matrix.income_bands") for p in found)


@pytest.mark.parametrize("when", ["(dpd + 1)", "(dpd)", "NOT dpd"])
def test_a_parenthesised_non_boolean_is_not_a_condition(when: str) -> None:
    document = example()
    rule(document, "overdue-30")["when"] = when
    assert problems(document) == ["rules.overdue-30: a rule must be a condition (true or false)"]


@pytest.mark.parametrize("when", ["income_evidence IS TRUE", "dpd IS 5"])
def test_is_allows_only_null(when: str) -> None:
    document = example()
    rule(document, "overdue-30")["when"] = when
    assert problems(document) != []


def test_an_unknown_function_is_named_in_the_message() -> None:
    document = example()
    rule(document, "overdue-30")["when"] = "my_udf(dpd) > 1"
    assert any("'my_udf'" in p for p in problems(document))


@pytest.mark.parametrize("when", ["(dpd > 30)", "dpd > 30 -- again"])
def test_parentheses_or_a_comment_do_not_hide_a_duplicate_condition(when: str) -> None:
    document = example()
    document["rules"].append(new_rule(id="overdue-again", when=when, priority=25))
    assert problems(document) == [
        "rules.overdue-again: unreachable: rule overdue-30 has the same condition and a higher "
        "priority"
    ]


# --- the command line --------------------------------------------------------------------------


def test_cli_lint_of_the_example_exits_0(creditline: Run) -> None:
    run = creditline("policy", "lint", str(EXAMPLE))
    assert run.returncode == 0, run.stderr
    assert run.stdout == ""
    assert run.stderr.strip() == "cn-standard@2026.11.1: 0 problems"


def test_cli_lint_of_a_bad_policy_prints_each_problem_and_exits_1(
    creditline: Run, tmp_path: Path
) -> None:
    document = example()
    rule(document, "overdue-30")["when"] = "random() > 0.5"
    rule(document, "multi-lender")["reason"] = "policy_change"
    del document["limit_matrix"]["limits"]["D"]["low"]
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    run = creditline("policy", "lint", str(path))
    assert run.returncode == 1, run.stderr
    assert run.stdout.splitlines() == problems(document)
    assert len(run.stdout.splitlines()) == 3
    assert run.stderr.strip() == "cn-standard@2026.11.1: 3 problems"


def test_cli_lint_of_an_invalid_document_names_the_file_and_exits_1(
    creditline: Run, tmp_path: Path
) -> None:
    document = example()
    del rule(document, "overdue-30")["reason"]
    path = tmp_path / "invalid.yaml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    run = creditline("policy", "lint", str(path))
    assert run.returncode == 1, run.stderr
    assert run.stdout.splitlines() == ["rules.1.reason: Field required"]
    assert run.stderr.strip() == f"{path}: 1 problems"


@pytest.mark.parametrize("content", [None, "id: [unclosed\n", b"\xff\xfe\x00bad"])
def test_cli_lint_of_an_unreadable_file_is_one_line_and_exit_2(
    creditline: Run, tmp_path: Path, content: str | bytes | None
) -> None:
    path = tmp_path / "policy.yaml"
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    elif isinstance(content, bytes):
        path.write_bytes(content)
    run = creditline("policy", "lint", str(path))
    assert run.returncode == 2
    assert run.stdout == ""
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    assert lines[0].startswith("creditline: cannot read ")
    assert "policy.yaml" in lines[0]
