"""The lender's own attributes loaded from a CSV keyed by borrower, on both stores: each value
stored typed as the registry says, a file loaded twice stored once, a later file replacing what
it names, and a bad file refused whole (`creditline attributes load`: one line, exit 2)."""

from __future__ import annotations

import copy
import dataclasses
import json
import math
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from conftest import EXAMPLE_POLICY, Run, suite_settings
from test_model_monitoring import ANALYST, FLOOR
from test_model_monitoring import _monitor as monitor_of

from creditline.bootstrap import Container, build
from creditline.decisions.attributes import load_registry
from creditline.kernel.actors import Actor
from creditline.kernel.clock import FixedClock
from creditline.kernel.errors import InvalidInput
from creditline.portfolio.monitoring import MonitoredModel

REGISTRY = Path(__file__).parents[1] / "fixtures" / "lender_attributes.toml"
ARREARS = yaml.safe_load((REGISTRY.parent / "arrears_attribute.yaml").read_text(encoding="utf-8"))


@pytest.fixture
def lender(database_url: str, clock: FixedClock) -> Iterator[Container]:
    settings = dataclasses.replace(suite_settings(database_url), attributes_file=REGISTRY)
    built = build(settings, clock, migrate=False)
    yield built
    built.close()


def csv_file(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def stored(container: Container, borrowers: list[str]) -> dict[str, dict[str, object]]:
    with container.db.reading() as connection:
        return container.attributes.values(connection, borrowers)


def test_values_are_stored_typed_and_a_second_load_of_the_same_file_changes_nothing(
    lender: Container, tmp_path: Path
) -> None:
    path = csv_file(
        tmp_path,
        "first.csv",
        "borrower_id,arrears_months,payroll_customer\nb-1,2.5,true\nb-2,,false\nb-3,0,\n",
    )
    assert lender.attributes.load(path) == 6
    assert lender.attributes.load(path) == 6
    expected = {
        "b-1": {"arrears_months": 2.5, "payroll_customer": True},
        "b-2": {"arrears_months": None, "payroll_customer": False},
        "b-3": {"arrears_months": 0.0, "payroll_customer": None},
    }
    assert stored(lender, ["b-1", "b-2", "b-3", "b-4"]) == expected
    with lender.db.reading() as connection:
        [count] = connection.exec_driver_sql("SELECT count(*) FROM lender_attribute_values").one()
    assert count == 6


def test_a_later_file_replaces_the_values_it_names_and_keeps_the_others(
    lender: Container, tmp_path: Path
) -> None:
    lender.attributes.load(
        csv_file(tmp_path, "a.csv", "borrower_id,arrears_months,payroll_customer\nb-1,2,true\n")
    )
    lender.attributes.load(csv_file(tmp_path, "b.csv", "borrower_id,arrears_months\nb-1,7\n"))
    assert stored(lender, ["b-1"]) == {"b-1": {"arrears_months": 7.0, "payroll_customer": True}}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("borrower_id,arrears_months\nb-1,1\nb-2,many\n", ":3: could not convert"),
        ("borrower_id,payroll_customer\nb-1,yes\n", ":2: 'yes' is not true or false"),
        ("borrower_id,channel\nb-1,post\n", ":2: 'post' is not one of branch, online, broker"),
        ("borrower_id,utilisation\nb-1,0.5\n", "utilisation is not a registered attribute"),
        ("arrears_months,borrower_id\n1,b-1\n", "the first column is borrower_id"),
        ("borrower_id,arrears_months\nb-1,1\nb-1,2\n", ":3: borrower_id empty, too long or rep"),
        ("borrower_id,arrears_months\nb-1,1,2\n", ":2: not 2 columns"),
        ("borrower_id,arrears_months\nb-1,inf\n", "'inf' is not a finite number"),
    ],
)
def test_a_bad_file_is_refused_and_nothing_is_stored(
    lender: Container, tmp_path: Path, text: str, message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        lender.attributes.load(csv_file(tmp_path, "bad.csv", text))
    assert stored(lender, ["b-1", "b-2"]) == {}


def test_the_command_loads_a_file_and_refuses_a_bad_one_with_one_line(
    creditline: Run,
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CREDITLINE_ATTRIBUTES_FILE", str(REGISTRY))
    good = csv_file(tmp_path, "good.csv", "borrower_id,arrears_months\nb-1,1\nb-2,3\n")
    done = creditline("attributes", "load", str(good), database_url=database_url)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"file": str(good), "values": 2}
    bad = csv_file(tmp_path, "bad.csv", "borrower_id,arrears_months\nb-1,x\n")
    refused = creditline("attributes", "load", str(bad), database_url=database_url)
    assert refused.returncode == 2 and refused.stdout == ""
    assert refused.stderr.count("\n") == 1 and "bad.csv:2" in refused.stderr
    monkeypatch.delenv("CREDITLINE_ATTRIBUTES_FILE")
    unnamed = creditline("attributes", "load", str(good), database_url=database_url)
    assert unnamed.returncode == 2
    assert unnamed.stderr.strip() == (
        "creditline: no attribute registry: set CREDITLINE_ATTRIBUTES_FILE"
    )


def test_a_review_decides_on_the_loaded_values_explains_and_monitors_them(
    database_url: str, clock: FixedClock, tmp_path: Path, agent: Actor
) -> None:
    """The active policy scores months of arrears (under 1: 40 points, under 3: 15, else 0)
    and suspends a line whose borrower has 6 or more; the lender's file says b-late has 6 and
    b-clean 0, so only b-late's line is suspended, 40 points below b-clean's."""
    registry = load_registry(REGISTRY)
    document = yaml.safe_load(EXAMPLE_POLICY.read_text(encoding="utf-8"))
    document["attributes"] = [registry["arrears_months"].model_dump(mode="json")]
    document["scorecard"]["attributes"].append(copy.deepcopy(ARREARS))
    document["rules"].append(
        {
            "id": "arrears",
            "when": "arrears_months >= 6",
            "action": "suspend",
            "reason": "late_payments_history",
            "priority": 99,
        }
    )
    policy_file = tmp_path / "policy.yaml"
    policy_file.write_text(yaml.safe_dump(document), encoding="utf-8")
    settings = dataclasses.replace(
        suite_settings(database_url), attributes_file=REGISTRY, policy_file=policy_file
    )
    container = build(settings, clock, migrate=False)
    try:
        container.attributes.load(
            csv_file(tmp_path, "a.csv", "borrower_id,arrears_months\nb-late,6\nb-clean,0\n")
        )
        lines = {
            borrower: str(
                container.ledger.open_line(
                    agent, f"open-{borrower}", borrower, "CNY", "20000.00"
                ).document["id"]
            )
            for borrower in ("b-late", "b-clean")
        }
        late = container.decisions.review_line(lines["b-late"]).decision
        clean = container.decisions.review_line(lines["b-clean"]).decision
        assert (late.action, late.decisive_rule, late.reason_codes) == (
            "suspend",
            "arrears",
            ("late_payments_history",),
        )
        assert late.features["arrears_months"] == 6.0
        assert clean.decisive_rule is None and clean.features["arrears_months"] == 0.0
        assert clean.score - late.score == 40  # the two lines differ in their arrears alone
        explained = container.explainer.explain(agent, lines["b-late"], "en")
        lender = [group for group in explained["data_used"] if group["source"] == "lender"]
        assert lender == [
            {
                "source": "lender",
                "source_text": "what we hold on you from your dealings with us",
                "items": [
                    {
                        "feature": "arrears_months",
                        "label": "Months in arrears on earlier loans with us",
                        "value": "6",
                    }
                ],
            }
        ]
        # Developed with half the rows under 1 month, half from 1 to 3; this month the one
        # decision recorded (b-clean's line was kept: nothing to record) is in the last bin.
        # PSI = Σ (now − then)·ln(now / then), an empty share floored at 0.0001:
        # 2 · (0.0001 − 0.5)·ln(0.0001 / 0.5) + (1 − 0.0001)·ln(1 / 0.0001) = 17.7249.
        card = container.decisions.engine.policy.scorecard
        developed = [(a.feature, [0.0] * len(a.bins), 1.0) for a in card.attributes]
        developed[-1] = ("arrears_months", [0.5, 0.5, 0.0], 0.0)  # others all missing
        model = MonitoredModel(
            label=container.decisions.engine.policy.label,
            currency="CNY",
            scaling=(card.base_points, card.pdo, card.base_odds),
            score_bands=[(None, None, 1.0)],
            attributes=developed,
        )
        psi = monitor_of(container, model).report(ANALYST, clock.now().date())
        assert psi is not None and psi.scored == 1
        expected = 2 * (FLOOR - 0.5) * math.log(FLOOR / 0.5) + (1 - FLOOR) * math.log(1 / FLOOR)
        assert psi.attribute_psi["arrears_months"] == pytest.approx(expected)
        assert psi.attribute_psi["arrears_months"] == pytest.approx(17.7249, abs=1e-4)
    finally:
        container.close()
