"""A scorecard's health in numbers, pure: the population stability index against its
development shares, and on matured outcomes AUC, KS and calibration (docs/decisions/0021).

Scores are integers and a higher score is a better borrower, so the matured sample arrives
as a histogram (score -> goods, bads) and AUC and KS are exact over it, ties counted half.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

# A bin with no borrowers on one side would make ln(a/e) infinite: each share is floored here
# (0.01 %) before the sum, the usual practice (it caps one empty bin's term near 0.1 to 0.9).
PSI_SHARE_FLOOR = 0.0001
PSI_ALERT_ABOVE = 0.25  # a significant shift: the model's population is no longer its own


def shares(counts: Sequence[int]) -> list[float]:
    """Counts as shares of their total (all zero when there is none)."""
    total = sum(counts)
    return [count / total if total else 0.0 for count in counts]


def psi(expected: Sequence[float], actual: Sequence[float]) -> float:
    """Σ (a − e) · ln(a / e) over the bins, each share floored at `PSI_SHARE_FLOOR`."""
    if len(expected) != len(actual):
        raise ValueError("psi: one actual share per expected share")
    total = 0.0
    for e, a in zip(expected, actual, strict=True):
        e, a = max(e, PSI_SHARE_FLOOR), max(a, PSI_SHARE_FLOOR)
        total += (a - e) * math.log(a / e)
    return total


Histogram = Mapping[int, tuple[int, int]]  # score -> (goods, bads)


def auc(histogram: Histogram) -> float | None:
    """The chance that a good borrower scores above a bad one (a tie counts half); None
    without both."""
    goods = sum(g for g, _ in histogram.values())
    bads = sum(b for _, b in histogram.values())
    if not goods or not bads:
        return None
    bads_below = 0
    above = 0.0
    for score in sorted(histogram):
        g, b = histogram[score]
        above += g * (bads_below + b / 2)
        bads_below += b
    return above / (goods * bads)


def ks(histogram: Histogram) -> float | None:
    """The largest gap between the bads' and the goods' cumulative shares at any score;
    None without both."""
    goods = sum(g for g, _ in histogram.values())
    bads = sum(b for _, b in histogram.values())
    if not goods or not bads:
        return None
    gap = 0.0
    good_below = bad_below = 0
    for score in sorted(histogram):
        g, b = histogram[score]
        good_below += g
        bad_below += b
        gap = max(gap, abs(bad_below / bads - good_below / goods))
    return gap


def predicted_pd(score: int, base_points: int, pdo: Decimal, base_odds: Decimal) -> float:
    """The scorecard's own PD at `score`: good:bad odds `base_odds` at `base_points`,
    doubling every `pdo` points."""
    odds = float(base_odds) * 2 ** ((score - base_points) / float(pdo))
    return 1 / (1 + odds)


@dataclass(frozen=True, slots=True)
class Calibration:
    """A grade's matured lines: the mean PD the scorecard predicted and the bad rate seen."""

    grade: str
    lines: int
    bads: int
    predicted_pd: float
    observed_pd: float


def calibration(
    by_grade: Mapping[str, Histogram], scaling: tuple[int, Decimal, Decimal]
) -> list[Calibration]:
    """Per grade (in the order given), predicted against observed PD."""
    out = []
    for grade, histogram in by_grade.items():
        lines = sum(g + b for g, b in histogram.values())
        if not lines:
            continue
        bads = sum(b for _, b in histogram.values())
        predicted = sum((g + b) * predicted_pd(s, *scaling) for s, (g, b) in histogram.items())
        out.append(Calibration(grade, lines, bads, predicted / lines, bads / lines))
    return out
