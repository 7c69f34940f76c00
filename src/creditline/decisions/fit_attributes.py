"""A fitted optbinning scorecard read back as creditline's scorecard attributes and report rows.

Each numeric attribute's bins are written with the shortest decimal edges that put every row of
the data in the same bin as optbinning's own edges, so the exported scorecard scores those rows
exactly as optbinning does. A boolean feature's fitted points are checked against the direction
of its reason code (`contradiction`).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal
from typing import Any

from creditline.decisions.features import Feature, FeatureType, Risk
from creditline.decisions.policy import Attribute, Bin
from creditline.kernel.invariant import fail


@dataclass(frozen=True, slots=True)
class BinReport:
    """One bin of a fitted attribute as the report shows it."""

    label: str
    count: int
    bad_rate: float
    woe: float
    iv: float
    points: int


@dataclass(frozen=True, slots=True)
class AttributeReport:
    """A fitted attribute as the report shows it: its information value and its bins."""

    feature: str
    reason: str
    iv: float
    bins: list[BinReport]


def _rows(model: Any, name: str) -> Any:
    """The rows of `name` in the fitted model's detailed table, numbered from 0."""
    table = model.table(style="detailed")
    return table[table.Variable == name].reset_index(drop=True)


def contradiction(model: Any, feature: Feature) -> str | None:
    """Why a feature's fitted points contradict its reason, or None: a boolean's riskier value
    scored better, or a numeric feature's points rising the way its risk runs (its bins are
    monotonic, but the regression may weigh them against their WoE beside a correlated one)."""
    name = feature.name
    if feature.riskier is None or feature.type is FeatureType.CATEGORY:
        return None
    if feature.type is not FeatureType.BOOLEAN:
        ordered = [int(p) for p in _rows(model, name).Points.iloc[:-2]]  # not Special, Missing
        if feature.riskier is Risk.LOWER:
            ordered.reverse()
        if any(a < b for a, b in itertools.pairwise(ordered)):
            way = "higher" if feature.riskier is Risk.HIGHER else "lower"
            return f"{name}: points rose as it got {way} (riskier), against its reason"
        return None
    optb = model.binning_process_.get_binned_variable(name)
    points = dict(zip((tuple(s) for s in optb.splits), _rows(model, name).Points, strict=False))
    true_points = sum(p for values, p in points.items() if "true" in values)
    false_points = sum(p for values, p in points.items() if "false" in values)
    riskier_value = "false" if feature.riskier is Risk.LOWER else "true"
    better, worse = (
        (true_points, false_points) if riskier_value == "false" else (false_points, true_points)
    )
    if worse > better:
        return (
            f"{name} = {riskier_value} scored better in this data, "
            f"against its reason ({feature.reason})"
        )
    return None


def attribute_of(model: Any, feature: Feature, values: Any) -> tuple[Attribute, AttributeReport]:
    """The scorecard attribute the fitted model has for `feature`, and its report.

    `values` are the data's values of the feature: bin edges are written as the shortest
    decimals that keep each of them in its bin.
    """
    name = feature.name
    reason = feature.reason
    if reason is None:
        fail(f"feature {name} is not scored: read_data admits scored features only")
    optb = model.binning_process_.get_binned_variable(name)
    rows = _rows(model, name)
    regular = rows.iloc[: len(rows) - 2]  # the last two rows are optbinning's Special and Missing
    points = [int(p) for p in regular.Points]
    missing_points = int(rows.Points.iloc[-1])
    if feature.type in (FeatureType.CATEGORY, FeatureType.BOOLEAN):
        bins = [
            Bin(values=sorted(str(v) for v in group), points=p)
            for group, p in zip(optb.splits, points, strict=True)
        ]
    else:
        edges = _edges(list(optb.splits), values)
        bounds = [None, *edges, None]
        bins = [
            Bin(lower=lower, upper=upper, points=p)
            for lower, upper, p in zip(bounds[:-1], bounds[1:], points, strict=True)
        ]
    report = AttributeReport(
        feature=name,
        reason=reason,
        iv=float(regular.IV.sum()),
        bins=[
            BinReport(
                label=_label(b),
                count=int(row.Count),
                bad_rate=float(row["Event rate"]),
                woe=float(row.WoE),
                iv=float(row.IV),
                points=int(row.Points),
            )
            for b, (_, row) in zip(bins, regular.iterrows(), strict=True)
        ],
    )
    attribute = Attribute(feature=name, reason=reason, bins=bins, missing_points=missing_points)
    return attribute, report


def _label(bin_: Bin) -> str:
    """How the report names a bin: its values, or its interval."""
    if bin_.values is not None:
        return ", ".join(bin_.values)
    lower = "(-inf" if bin_.lower is None else f"[{bin_.lower}"
    return f"{lower}, {'inf' if bin_.upper is None else bin_.upper})"


def _edges(splits: list[float], values: Any) -> list[Decimal]:
    """The shortest decimal for each split that leaves every value of the data in its bin."""
    seen = sorted({float(v) for v in values.dropna()})
    edges = []
    for split in splits:
        below = [v for v in seen if v < split]
        above = [v for v in seen if v >= split]
        low = below[-1] if below else -math.inf
        high = above[0] if above else math.inf
        edges.append(_shortest_between(low, high, Decimal(repr(float(split)))))
    return edges


def _shortest_between(low: float, high: float, split: Decimal) -> Decimal:
    """The decimal with fewest places in (low, high]: whole numbers first."""
    for places in range(12):
        candidate = split.quantize(Decimal(1).scaleb(-places), rounding=ROUND_CEILING)
        if low < candidate <= high:
            return candidate
    return split
