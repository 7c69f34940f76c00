"""`creditline fit` on the shipped dataset: it reproduces the example policy and its report, and
the exported points score every row exactly as optbinning's own model does."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
import yaml
from conftest import Run

from creditline.decisions.engine import Engine, features_table_sql, load_features
from creditline.decisions.features import FEATURES
from creditline.decisions.fit_attributes import _shortest_between
from creditline.decisions.fitting import fit, read_data, scorecard_document, with_scorecard
from creditline.decisions.policy import load_policy
from creditline.kernel.errors import InvalidInput

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "datasets" / "lending-club" / "features.csv"
POLICY = ROOT / "policies" / "us-fitted.yaml"
REPORT = ROOT / "policies" / "us-fitted.report.md"


@pytest.fixture(scope="module")
def fitted():
    x, y = read_data(DATA, "bad")
    return x, y, fit(x, y, data_name=DATA.name)


def test_fitting_the_shipped_dataset_reproduces_the_shipped_report(fitted) -> None:
    _, _, result = fitted
    assert result.report.markdown() == REPORT.read_text(encoding="utf-8")
    assert 0.6 < result.report.test["auc"] < 0.7  # the figure the README quotes


def test_the_example_policy_carries_the_fitted_scorecard(fitted) -> None:
    _, _, result = fitted
    shipped = yaml.safe_load(POLICY.read_text(encoding="utf-8"))["scorecard"]
    assert shipped == scorecard_document(result.scorecard)
    assert load_policy(POLICY).scorecard == result.scorecard


def test_exported_points_score_every_row_as_optbinning_does(fitted) -> None:
    x, _, result = fitted
    theirs = result.model.score(x[[a.feature for a in result.scorecard.attributes]])
    engine = Engine(load_policy(POLICY))
    rows = x.to_dict("records")
    ours_in_process = [
        engine.row({**_features(row), "limit_minor": 100_000})["score"] for row in rows
    ]
    assert ours_in_process == [int(s) for s in theirs]
    assert all(float(s).is_integer() for s in theirs)

    connection = duckdb.connect()
    connection.execute(features_table_sql())
    load_features(
        connection,
        [
            {"line_id": str(n), "limit_minor": 100_000, **_features(row)}
            for n, row in enumerate(rows)
        ],
    )
    batch = engine.decide_table(connection).order("CAST(line_id AS INTEGER)").fetchall()
    names = [d[0] for d in engine.decide_table(connection).description]
    scores = [dict(zip(names, row, strict=True))["score"] for row in batch]
    assert scores == ours_in_process


def _features(row: dict) -> dict:
    """A CSV row as the engine takes features: floats, ints, bools and category strings."""
    convert = {"number": float, "integer": int, "boolean": lambda v: v == "true", "category": str}
    return {name: convert[FEATURES[name].type.value](value) for name, value in row.items()}


def test_a_boolean_scored_against_its_reason_is_left_out(fitted) -> None:
    _, _, result = fitted
    # Verified incomes had the higher bad rate in this sample: scoring them lower would name
    # "income could not be verified" to a borrower whose income was verified.
    assert list(result.report.left_out) == ["income_evidence"]
    assert "income_evidence" not in [a.feature for a in result.scorecard.attributes]


def test_bins_fall_in_points_the_way_each_reason_says(fitted) -> None:
    _, _, result = fitted
    for attribute in result.scorecard.attributes:
        points = [b.points for b in attribute.bins]
        riskier = FEATURES[attribute.feature].riskier.value
        assert points == sorted(points, reverse=riskier == "higher"), attribute.feature


@pytest.mark.parametrize(
    ("low", "high", "split", "expected"),
    [
        (0.0, 1.0, "0.5", "1"),  # integer data: a whole number edge
        (0.515, 0.516, "0.5154999852180481", "0.516"),
        (0.7025, 0.703, "0.7025000154972076", "0.7026"),
        (321016.0, 321017.0, "321016.5", "321017"),
        (-1.5, -0.5, "-1.0", "-1"),
    ],
)
def test_an_edge_is_the_shortest_decimal_that_keeps_every_row_in_its_bin(
    low, high, split, expected
) -> None:
    edge = _shortest_between(low, high, Decimal(split))
    assert edge == Decimal(expected)
    assert low < edge <= high


def test_bad_data_is_refused_with_one_reason(tmp_path: Path) -> None:
    cases = {
        "utilisation,bad\n0.5,2\n0.1,0\n": "must be 0 (good) or 1 (bad)",
        "utilisation,bad\n0.5,0\n0.1,0\n": "needs both good and bad rows",
        "utilisation,outcome\n0.5,0\n": "no target column 'bad'",
        "height,bad\n1,0\n2,1\n": "'height' is not a creditline feature",
        "limit_minor,bad\n1,0\n2,1\n": "'limit_minor' is not scored",
        "utilisation,bad\nhigh,0\nlow,1\n": "'utilisation' must be numeric",
        "employment,bad\nastronaut,0\nemployed,1\n": "unknown values ['astronaut']",
    }
    for text, message in cases.items():
        path = tmp_path / "data.csv"
        path.write_text(text, encoding="utf-8")
        with pytest.raises(InvalidInput, match=re.escape(message)):
            read_data(path, "bad")


def test_a_base_policy_that_no_longer_lints_is_refused(tmp_path: Path, fitted) -> None:
    _, _, result = fitted
    broken = yaml.safe_load(POLICY.read_text(encoding="utf-8"))
    broken["grades"] = [{"grade": "A"}]  # the limit matrix still has rows B to E
    base = tmp_path / "base.yaml"
    base.write_text(yaml.safe_dump(broken), encoding="utf-8")
    with pytest.raises(InvalidInput, match="one row per grade"):
        with_scorecard(base, result.scorecard, "header")


def test_the_fit_command_writes_the_scorecard_and_its_report(
    creditline: Run, tmp_path: Path
) -> None:
    out = tmp_path / "card.yaml"
    run = creditline(
        "fit", "--data", str(DATA), "--target", "bad", "--feature", "inquiries_6m",
        "--feature", "lenders_with_open_loans", "--out", str(out),
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    summary = json.loads(run.stdout)
    assert summary["attributes"] == ["lenders_with_open_loans", "inquiries_6m"]
    card = yaml.safe_load(out.read_text(encoding="utf-8"))
    assert [a["feature"] for a in card["scorecard"]["attributes"]] == [
        "inquiries_6m",
        "lenders_with_open_loans",
    ]
    report = (tmp_path / "card.report.md").read_text(encoding="utf-8")
    assert "| AUC |" in report and "### lenders_with_open_loans" in report


def test_the_fit_command_refuses_bad_input_with_one_line_and_writes_nothing(
    creditline: Run,
    tmp_path: Path,
) -> None:
    out = tmp_path / "card.yaml"
    run = creditline("fit", "--data", str(DATA), "--target", "Class", "--out", str(out))
    assert run.returncode == 2
    assert run.stderr.strip().splitlines() == [
        f"creditline: invalid_input: {DATA}: no target column 'Class'"
    ]
    assert not out.exists()
