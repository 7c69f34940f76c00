"""A fitted scorecard's development distribution: how the sample it was fitted on spread over
its score bands and over each attribute's bins. Model monitoring compares a later period's
decisions with it (the population stability index, docs/decisions/0021).

It is kept with the scorecard (`scorecard.development` in the policy document), so the
reference a PSI is measured against is stored, hashed and immutable with the policy itself.
"""

from __future__ import annotations

import itertools
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, model_validator

Share = Annotated[Decimal, Field(ge=0, le=1)]
SHARES_SUM_TOLERANCE = Decimal("0.001")  # shares are written rounded to 6 places
SCORE_BANDS_MAX = 20


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ScoreBand(_Strict):
    """Scores in [lower, upper) (an open end is null) and the development sample's share."""

    lower: StrictInt | None = None
    upper: StrictInt | None = None
    share: Share


class AttributeShares(_Strict):
    """An attribute's development shares: one per bin, in the attribute's order, and the share
    with the feature missing."""

    feature: StrictStr
    bins: list[Share] = Field(min_length=1)
    missing: Share = Decimal(0)


class Development(_Strict):
    """The development sample: its size and bad count, its shares by score band and by
    attribute bin."""

    rows: StrictInt = Field(ge=1)
    bads: StrictInt = Field(ge=0)
    score_bands: list[ScoreBand] = Field(min_length=2, max_length=SCORE_BANDS_MAX)
    attributes: list[AttributeShares] = Field(min_length=1)

    @model_validator(mode="after")
    def _shares_are_distributions(self) -> Development:
        bands = self.score_bands
        if bands[0].lower is not None or bands[-1].upper is not None:
            raise ValueError("score_bands: the first has no lower end, the last no upper end")
        for below, above in itertools.pairwise(bands):
            if below.upper is None or below.upper != above.lower:
                raise ValueError("score_bands: each band starts where the one before ends")
        _check_sum("score_bands", [b.share for b in bands])
        for attribute in self.attributes:
            _check_sum(f"attributes.{attribute.feature}", [*attribute.bins, attribute.missing])
        return self


def _check_sum(where: str, shares: list[Decimal]) -> None:
    if abs(sum(shares, Decimal(0)) - 1) > SHARES_SUM_TOLERANCE:
        raise ValueError(f"development.{where}: shares must add up to 1")


def development_problems(development: Development, bins_by_feature: dict[str, int]) -> list[str]:
    """Where the development shares do not fit the scorecard: an attribute scored but without
    shares, shares of a feature not scored, or a count of shares unlike the count of bins."""
    problems = []
    shared = {a.feature: len(a.bins) for a in development.attributes}
    for feature, bins in bins_by_feature.items():
        if feature not in shared:
            problems.append(f"scorecard.development: no shares for {feature}")
        elif shared[feature] != bins:
            problems.append(f"scorecard.development.{feature}: one share per bin ({bins})")
    for feature in sorted(set(shared) - set(bins_by_feature)):
        problems.append(f"scorecard.development.{feature}: the feature is not scored")
    return problems
