"""The lender's own attributes: the registry, the lint's hold on a policy that reads them, and
decisions that score them, each figure worked by hand from the policy written here.

The policy is the shipped one with two lender attributes: `arrears_months` (numeric, scored:
0 points from 3 months up, 15 below 3 and 40 below 1, 5 when unknown) and `channel`
(categorical), read by a rule that suspends a line come through `broker` with 6 or more
months of arrears.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from creditline.config import shipped_policy_file
from creditline.decisions.attributes import LenderAttribute, load_registry
from creditline.decisions.batch import decide_batch
from creditline.decisions.engine import Engine
from creditline.decisions.explanation import data_used
from creditline.decisions.policy import check_policy, parse_policy
from creditline.kernel.errors import InvalidInput

SHIPPED = yaml.safe_load(shipped_policy_file().read_text(encoding="utf-8"))

REGISTRY = Path(__file__).parents[2] / "fixtures" / "lender_attributes.toml"
ARREARS = yaml.safe_load((REGISTRY.parent / "arrears_attribute.yaml").read_text(encoding="utf-8"))


@pytest.fixture
def registry() -> dict[str, LenderAttribute]:
    return {
        name: attribute
        for name, attribute in load_registry(REGISTRY).items()
        if name in ("arrears_months", "channel")
    }


def document(registry: dict[str, LenderAttribute]) -> dict[str, Any]:
    policy = copy.deepcopy(SHIPPED)
    policy["attributes"] = [a.model_dump(mode="json") for a in registry.values()]
    policy["scorecard"]["attributes"].append(copy.deepcopy(ARREARS))
    policy["rules"].append(
        {
            "id": "broker-arrears",
            "when": "channel = 'broker' AND arrears_months >= 6",
            "action": "suspend",
            "reason": "late_payments_history",
            "priority": 99,
        }
    )
    return policy


def test_the_registry_reads_each_attribute_as_a_feature(registry: dict[str, Any]) -> None:
    arrears, channel = registry["arrears_months"].feature(), registry["channel"].feature()
    assert (arrears.type.value, arrears.riskier, arrears.reason) == (
        "number",
        "higher",
        "late_payments_history",
    )
    assert channel.categories == ("branch", "online", "broker")
    assert channel.labels == ("Where you applied", "申请渠道")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ('name = "x"', "one [attributes.NAME] table per attribute"),
        ('[attributes.utilisation]\ntype = "numeric"', "attributes.utilisation"),
        ("[attributes.x]\nsource = 'batch'", "attributes.x.type: Field required"),
    ],
)
def test_a_bad_registry_is_refused_whole(tmp_path: Path, change: str, message: str) -> None:
    path = tmp_path / "attributes.toml"
    path.write_text(change + "\n", encoding="utf-8")
    with pytest.raises(InvalidInput, match=re.escape(message)):
        load_registry(path)


def test_a_registered_attribute_may_not_take_a_feature_name_or_a_banned_category(
    tmp_path: Path,
) -> None:
    path = tmp_path / "attributes.toml"
    path.write_text(
        REGISTRY.read_text(encoding="utf-8")
        .replace("[attributes.arrears_months]", "[attributes.utilisation]")
        .replace('"credit_applications"', '"health"'),
        encoding="utf-8",
    )
    with pytest.raises(InvalidInput) as refused:
        load_registry(path)
    assert refused.value.details["problems"] == [
        "attributes.utilisation: the name is creditline's own feature",
        "attributes.channel: health data never assesses creditworthiness",
        "attributes.term_months: health data never assesses creditworthiness",
    ]


def test_a_policy_reading_its_registered_attributes_is_clean(registry: dict[str, Any]) -> None:
    policy, problems = check_policy(document(registry), registry=registry)
    assert problems == []
    assert policy is not None and set(policy.features) >= {"arrears_months", "channel"}


def test_an_attribute_the_policy_does_not_carry_is_an_unknown_feature(
    registry: dict[str, Any],
) -> None:
    policy = document(registry)
    policy["attributes"] = []
    assert check_policy(policy)[1] == [
        "scorecard.arrears_months: unknown feature",
        "rules.broker-arrears: unknown feature 'channel'",
        "rules.broker-arrears: unknown feature 'arrears_months'",
    ]


def test_the_lint_holds_the_policy_to_the_registry_and_the_types(
    registry: dict[str, Any],
) -> None:
    policy = document(registry)
    policy["attributes"][1]["categories"] = ["branch", "online", "broker", "agent"]
    policy["rules"][-1]["when"] = "channel = 6"
    assert check_policy(policy, registry=registry)[1] == [
        "rules.broker-arrears: 'channel = 6' mixes integer and text values; SQL would convert "
        "or refuse",
        "attributes.channel: differs from its registration",
    ]
    assert check_policy(policy, registry={})[1][-2:] == [
        "attributes.arrears_months: not a registered attribute",
        "attributes.channel: not a registered attribute",
    ]


def test_scored_bins_must_fall_the_way_the_attribute_s_risk_runs(
    registry: dict[str, Any],
) -> None:
    policy = document(registry)
    policy["scorecard"]["attributes"][-1]["bins"][2]["points"] = 20
    assert check_policy(policy)[1] == [
        "scorecard.arrears_months: points must not rise as the value gets higher (riskier)"
    ]


def test_decisions_score_and_rule_on_the_attributes_alike_in_process_and_on_duckdb(
    registry: dict[str, Any],
) -> None:
    engine = Engine(parse_policy(document(registry), catalogue=None))
    base = {"limit_minor": 1_000_000, "used_minor": 0}
    rows = [
        {"line_id": "none", **base},  # arrears unknown: 5 points
        {"line_id": "clean", **base, "arrears_months": 0.0, "channel": "online"},  # 40
        {"line_id": "edge", **base, "arrears_months": 3.0, "channel": "broker"},  # 0
        {"line_id": "broker", **base, "arrears_months": 6.0, "channel": "broker"},  # suspended
        {"line_id": "branch", **base, "arrears_months": 6.0, "channel": "branch"},  # not
    ]
    single = {row["line_id"]: engine.decide(row) for row in rows}
    batch = {d.line_id: d for d in decide_batch(engine, rows)}
    assert single == batch
    one = {row["line_id"]: engine.decide_in_duckdb(row) for row in rows}
    assert one == single
    scored = {line: d.trace["attributes"][-1]["points"] for line, d in single.items()}
    assert scored == {"none": 5, "clean": 40, "edge": 0, "broker": 0, "branch": 0}
    # Only the arrears differ between these rows, so the score moves by their points alone.
    assert single["clean"].score - single["none"].score == 40 - 5
    assert single["clean"].score - single["edge"].score == 40
    assert (single["broker"].action, single["broker"].decisive_rule) == (
        "suspend",
        "broker-arrears",
    )
    assert single["broker"].reason_codes == ("late_payments_history",)
    assert single["branch"].decisive_rule is None
    assert single["broker"].features["channel"] == "broker"


def test_a_value_of_the_wrong_type_is_refused(registry: dict[str, Any]) -> None:
    engine = Engine(parse_policy(document(registry), catalogue=None))
    with pytest.raises(InvalidInput, match="channel must be a category"):
        engine.decide({"limit_minor": 1, "channel": "post"})


def test_the_explanation_names_the_attributes_in_the_borrower_s_words(
    registry: dict[str, Any],
) -> None:
    policy = parse_policy(document(registry), catalogue=None)
    evidence = {"features": {"arrears_months": 2.0, "channel": "online", "utilisation": 0.5}}
    english = data_used(evidence, "USD", policy.features, en=True)
    chinese = data_used(evidence, "USD", policy.features, en=False)
    lender_en = next(group for group in english if group["source"] == "lender")
    lender_zh = next(group for group in chinese if group["source"] == "lender")
    assert lender_en["items"] == [
        {
            "feature": "arrears_months",
            "label": "Months in arrears on earlier loans with us",
            "value": "2",
        },
    ]
    assert [item["label"] for item in lender_zh["items"]] == ["此前在本机构借款的逾期月数"]
    # `channel` is an application field: what the borrower told us, beside the others.
    applied_en = next(group for group in english if group["source"] == "application")
    applied_zh = next(group for group in chinese if group["source"] == "application")
    assert applied_en["items"] == [
        {"feature": "channel", "label": "Where you applied", "value": "online"},
    ]
    assert (applied_en["source_text"], applied_zh["source_text"]) == (
        "what you told us in your application",
        "您申请时提供的信息",
    )
    assert [item["label"] for item in applied_zh["items"]] == ["申请渠道"]
