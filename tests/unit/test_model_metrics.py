"""Model monitoring's figures on samples small enough to work by hand, and against a second
method: a brute-force count of pairs, and scikit-learn (the `fit` extra)."""

from __future__ import annotations

import itertools
import math
import random
from decimal import Decimal

import pytest

from creditline.portfolio.model_metrics import (
    PSI_SHARE_FLOOR,
    auc,
    calibration,
    ks,
    predicted_pd,
    psi,
    shares,
)

# Five borrowers: goods scored 600, 620, 620; bads scored 580, 620.
SMALL = {580: (0, 1), 600: (1, 0), 620: (2, 1)}


def test_psi_by_hand() -> None:
    # (0.4-0.5)ln(0.4/0.5) + (0.6-0.5)ln(0.6/0.5) = 0.1·ln(1.25) + 0.1·ln(1.2)
    assert psi([0.5, 0.5], [0.4, 0.6]) == pytest.approx(0.1 * math.log(1.25) + 0.1 * math.log(1.2))
    assert psi([0.5, 0.5], [0.4, 0.6]) == pytest.approx(0.040547, abs=1e-6)
    assert psi([0.2, 0.3, 0.5], [0.2, 0.3, 0.5]) == 0


def test_psi_floors_an_empty_share() -> None:
    # e = (0.5, 0.5), a = (1, 0): the empty bin counts as the floor, not as ln 0:
    # 0.5·ln 2 + (0.0001 − 0.5)·ln(0.0002) = 0.34657 + 4.25774.
    expected = (1 - 0.5) * math.log(1 / 0.5) + (PSI_SHARE_FLOOR - 0.5) * math.log(
        PSI_SHARE_FLOOR / 0.5
    )
    assert psi([0.5, 0.5], [1.0, 0.0]) == pytest.approx(expected)
    assert psi([0.5, 0.5], [1.0, 0.0]) == pytest.approx(4.6043, abs=1e-4)


def test_shares() -> None:
    assert shares([1, 3]) == [0.25, 0.75]
    assert shares([0, 0]) == [0.0, 0.0]


def test_auc_and_ks_by_hand() -> None:
    # Pairs (good, bad): 600>580, 620>580, 620>580 win; 600<620 loses; 620=620 twice ties.
    # (3 + 2·½) / 6 = 4/6.
    assert auc(SMALL) == pytest.approx(4 / 6)
    # Cumulative shares, bads then goods: 580: 1/2, 0 → ½; 600: 1/2, 1/3 → 1/6; 620: 1, 1.
    assert ks(SMALL) == pytest.approx(0.5)


def test_auc_and_ks_need_goods_and_bads() -> None:
    assert auc({600: (3, 0)}) is None
    assert ks({600: (0, 2)}) is None


def _random_histogram(seed: int) -> dict[int, tuple[int, int]]:
    rng = random.Random(seed)
    return {s: (rng.randint(0, 6), rng.randint(0, 3)) for s in range(540, 600, 3)}


def _pairs(histogram: dict[int, tuple[int, int]]) -> float:
    goods = [s for s, (g, _) in histogram.items() for _ in range(g)]
    bads = [s for s, (_, b) in histogram.items() for _ in range(b)]
    won = sum(1.0 if g > b else 0.5 if g == b else 0.0 for g, b in itertools.product(goods, bads))
    return won / (len(goods) * len(bads))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_auc_is_the_brute_force_pair_count(seed: int) -> None:
    histogram = _random_histogram(seed)
    assert auc(histogram) == pytest.approx(_pairs(histogram))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_auc_and_ks_agree_with_scikit_learn(seed: int) -> None:
    metrics = pytest.importorskip("sklearn.metrics")
    histogram = _random_histogram(seed)
    scores = [s for s, (g, b) in histogram.items() for _ in range(g + b)]
    bad: list[int] = []
    for g, b in histogram.values():
        bad += [0] * g + [1] * b
    negated = [-s for s in scores]  # a bad outcome ranks by the negated score
    assert auc(histogram) == pytest.approx(metrics.roc_auc_score(bad, negated))
    fpr, tpr, _ = metrics.roc_curve(bad, negated, drop_intermediate=False)
    assert ks(histogram) == pytest.approx(max(abs(tpr - fpr)))  # KS is the largest gap


def test_predicted_pd_follows_the_scaling() -> None:
    scaling = (600, Decimal(20), Decimal(50))
    assert predicted_pd(600, *scaling) == pytest.approx(1 / 51)
    assert predicted_pd(620, *scaling) == pytest.approx(1 / 101)


def test_calibration_per_grade() -> None:
    scaling = (600, Decimal(20), Decimal(50))
    found = calibration({"A": {620: (9, 1)}, "B": {600: (1, 1)}, "C": {}}, scaling)
    assert [(c.grade, c.lines, c.bads, c.observed_pd) for c in found] == [
        ("A", 10, 1, 0.1),
        ("B", 2, 1, 0.5),
    ]
    assert found[0].predicted_pd == pytest.approx(1 / 101)
