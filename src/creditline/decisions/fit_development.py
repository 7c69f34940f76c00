"""The development distribution of a fitted scorecard: the training part's shares by score
band (deciles of its scores) and by each attribute's bin, as the exported card bins them.
Kept with the card so that monitoring measures drift against what the card was fitted on."""

from __future__ import annotations

import itertools
import math
from decimal import Decimal
from typing import Any

from creditline.decisions.development import AttributeShares, Development, ScoreBand
from creditline.decisions.policy import Attribute, Bin

SCORE_BANDS = 10  # deciles of the development scores
_SHARE_PLACES = Decimal("0.000001")


def development_of(attributes: list[Attribute], x: Any, y: Any, scores: Any) -> Development:
    """The development sample (x, y, its scores) as shares of the card's bands and bins."""
    rows = len(y)
    return Development(
        rows=rows,
        bads=int(y.sum()),
        score_bands=score_bands([int(s) for s in scores]),
        attributes=[
            attribute_shares(attribute, list(x[attribute.feature])) for attribute in attributes
        ],
    )


def score_bands(scores: list[int], bands: int = SCORE_BANDS) -> list[ScoreBand]:
    """Bands at the deciles of `scores` (fewer when scores tie), each with its share."""
    ordered = sorted(scores)
    n = len(ordered)
    cuts = sorted({ordered[(n * k) // bands] for k in range(1, bands)} - {ordered[0]})
    bounds: list[int | None] = [None, *cuts, None]
    out = []
    for lower, upper in itertools.pairwise(bounds):
        inside = sum(
            1 for s in ordered if (lower is None or s >= lower) and (upper is None or s < upper)
        )
        out.append(ScoreBand(lower=lower, upper=upper, share=_share(inside, n)))
    return out


def attribute_shares(attribute: Attribute, values: list[Any]) -> AttributeShares:
    """The share of `values` in each of the attribute's bins, and missing."""
    counts = [0] * len(attribute.bins)
    missing = 0
    for value in values:
        index = bin_index(attribute.bins, value)
        if index is None:
            missing += 1
        else:
            counts[index] += 1
    n = len(values)
    return AttributeShares(
        feature=attribute.feature,
        bins=[_share(c, n) for c in counts],
        missing=_share(missing, n),
    )


def bin_index(bins: list[Bin], value: Any) -> int | None:
    """The first bin holding `value` as the compiled policy bins it (None: missing, or in no
    bin, which a decision also scores as missing)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    for index, bin_ in enumerate(bins):
        if bin_.values is not None:
            if str(value).lower() in bin_.values:
                return index
            continue
        number = Decimal(repr(float(value)))
        if (bin_.lower is None or number >= bin_.lower) and (
            bin_.upper is None or number < bin_.upper
        ):
            return index
    return None


def _share(count: int, total: int) -> Decimal:
    return (Decimal(count) / Decimal(total)).quantize(_SHARE_PLACES)
