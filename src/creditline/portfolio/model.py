"""Model monitoring's reads: what the monitored scorecard scored in a period, by score band
and by each attribute's bin (from the trace every decision keeps), and its matured sample by
grade and score. Set-based queries over the capabilities' published reads."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Integer, cast, func, select

from creditline.db.portable import json_member, json_path
from creditline.decisions.portfolio_views import scorecard_evidence
from creditline.portfolio.credit import matured_sample
from creditline.portfolio.reads import Reader, Shared, keyed, rows, whole

MISSING_BIN = -1  # the trace's bin when the feature was missing (or in no bin)


def scored_in(policy: str, since: dt.datetime, before: dt.datetime) -> Any:
    """Evidence of everything `policy` (id@version) scored in [since, before)."""
    scored = scorecard_evidence(since, before)
    return keyed(
        scored.c.evidence,
        where=json_member(scored.c.evidence, "policy") == policy,
        from_=scored,
    ).c


def score_counts(
    reader: Reader, sample: Any, bounds: list[tuple[int | None, int | None]]
) -> list[int]:
    """How many of `sample` scored in each band [lower, upper)."""
    k = keyed(cast(json_member(sample.evidence, "score"), Integer).label("score")).c
    found = {
        int(s): whole(n) for s, n in rows(reader, select(k.score, func.count()).group_by(k.score))
    }
    return [
        sum(
            n
            for s, n in found.items()
            if (lower is None or s >= lower) and (upper is None or s < upper)
        )
        for lower, upper in bounds
    ]


def bin_counts(reader: Reader, sample: Any, position: int, bins: int) -> tuple[list[int], int]:
    """How many of `sample` fell in each bin of the attribute at `position`, and missing."""
    bin_ = cast(json_path(sample.evidence, f"trace.attributes.{position}.bin"), Integer)
    k = keyed(bin_.label("bin")).c
    found = {int(b): whole(n) for b, n in rows(reader, select(k.bin, func.count()).group_by(k.bin))}
    return [found.get(i, 0) for i in range(bins)], found.get(MISSING_BIN, 0)


def matured_histograms(
    reader: Shared, observed: dt.datetime, observed_on: dt.date, on: dt.date, currency: str
) -> dict[str, dict[int, tuple[int, int]]]:
    """The matured sample per grade: score -> (goods, bads)."""
    k = matured_sample(reader, observed, observed_on, on, currency)
    found = rows(
        reader,
        select(k.grade, k.score, func.count(), func.sum(k.bad)).group_by(k.grade, k.score),
    )
    out: dict[str, dict[int, tuple[int, int]]] = {}
    for grade, score, lines, bads in found:
        out.setdefault(str(grade), {})[int(score)] = (whole(lines) - whole(bads), whole(bads))
    return out
