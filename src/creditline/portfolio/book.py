"""The book at a time: exposure, utilisation, lines at zero available, and per grade (and
every other concentration dimension) the balances expected loss is worked on. Each figure is
one set-based query over the capabilities' published reads, joined by line."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from sqlalchemy import and_, case, func, literal, select

from creditline.decisions.portfolio_views import line_regions
from creditline.ledger.portfolio_views import zero_available_causes
from creditline.portfolio.figures import (
    UNSCORED,
    UTILISATION_BANDS,
    Concentration,
    Exposure,
    GradeRisk,
    ZeroAvailable,
    ZeroLine,
)
from creditline.portfolio.reads import Shared, as_utc, keyed, one, rows, whole

ZERO_LINES_SHOWN_MAX = 50
# A concentration dimension: at a cutoff, a subquery of (line_id, key) (docs/decisions/0020).
Dimension = Callable[[Shared, dt.datetime], Any]


def exposure(reader: Shared, cutoff: dt.datetime, currency: str) -> Exposure:
    """Lines by status and their limits and balances (closed lines count by status only)."""
    p = reader.positions(cutoff, currency).c
    open_ = p.status != "closed"

    def total(column: Any) -> Any:
        return func.sum(case((open_, column), else_=0))

    by_status = dict(
        rows(reader, select(p.status, func.count()).group_by(p.status).order_by(p.status))
    )
    found = one(
        reader,
        select(
            total(p.limit_minor),
            total(p.principal_minor),
            total(p.held_minor),
            total(p.available_minor),
        ),
    )
    return Exposure(
        lines=sum(whole(n) for n in by_status.values()),
        lines_by_status={str(k): whole(v) for k, v in by_status.items()},
        limit_minor=whole(found[0]),
        drawn_minor=whole(found[1]),
        held_minor=whole(found[2]),
        available_minor=whole(found[3]),
    )


def utilisation(reader: Shared, cutoff: dt.datetime, currency: str) -> dict[str, int]:
    """Lines not closed by how much of their limit is drawn or held."""
    p = reader.positions(cutoff, currency).c
    used = p.principal_minor + p.held_minor
    whens = [(used == 0, literal(UTILISATION_BANDS[0][0]))]
    whens += [
        (used * 100 <= p.limit_minor * top, literal(label)) for label, top in UTILISATION_BANDS[1:]
    ]
    k = keyed(case(*whens, else_=literal("over 100%")).label("band"), where=p.status != "closed").c
    found = dict(rows(reader, select(k.band, func.count()).group_by(k.band)))
    bands = {label: whole(found.pop(label, 0)) for label, _ in UTILISATION_BANDS}
    return bands | {str(k): whole(v) for k, v in found.items()}


def zero_available(reader: Shared, cutoff: dt.datetime, currency: str) -> ZeroAvailable:
    """Lines not closed with nothing to draw, by the cause of the entry that took them to
    zero; every defect (no decision, not the borrower's drawdown) and the latest others."""
    p = reader.positions(cutoff, currency)
    at_zero = select(p.c.line_id).where(p.c.available_minor == 0, p.c.status != "closed")
    z = zero_available_causes(cutoff, at_zero.subquery("at_zero"))
    cause = case(
        (z.c.decision_id.is_not(None), literal("decision")),
        (z.c.drawdown_id.is_not(None), literal("drawdown")),
        else_=literal("defect"),
    )
    k = reader.once(
        ("zero_available", cutoff, currency),
        lambda: keyed(
            p.c.line_id,
            p.c.status,
            z.c.kind,
            z.c.decision_id,
            z.c.drawdown_id,
            z.c.at,
            cause.label("cause"),
            from_=p.outerjoin(z, z.c.line_id == p.c.line_id),
            where=and_(p.c.available_minor == 0, p.c.status != "closed"),
        ),
    ).c
    counts = rows(reader, select(k.cause, func.count()).group_by(k.cause))
    listed = select(k.line_id, k.status, k.kind, k.decision_id, k.drawdown_id, k.at)
    defects = rows(reader, listed.where(k.cause == "defect").order_by(k.line_id))
    latest = rows(
        reader,
        listed.where(k.cause != "defect")
        .order_by(k.at.desc(), k.line_id)
        .limit(ZERO_LINES_SHOWN_MAX),
    )

    def zero_line(row: tuple[Any, ...]) -> ZeroLine:
        return ZeroLine(row[0], row[1], row[2], row[3], row[4], as_utc(row[5]))

    by_cause = {"decision": 0, "drawdown": 0, "defect": 0}
    by_cause |= {str(k): whole(v) for k, v in counts}
    return ZeroAvailable(by_cause, [zero_line(r) for r in defects], [zero_line(r) for r in latest])


def grade_balances(reader: Shared, cutoff: dt.datetime, currency: str) -> list[GradeRisk]:
    """Per grade at the cutoff (lines not closed; `unscored` without a score): lines, limits,
    drawn, held, undrawn, and the sum of scores."""
    p = reader.positions(cutoff, currency)
    s = reader.scores(cutoff)
    k = keyed(
        func.coalesce(s.c.grade, literal(UNSCORED)).label("grade"),
        p.c.limit_minor,
        p.c.principal_minor,
        p.c.held_minor,
        (p.c.limit_minor - p.c.principal_minor - p.c.held_minor).label("undrawn"),
        func.coalesce(s.c.score, 0).label("score"),
        from_=p.outerjoin(s, s.c.line_id == p.c.line_id),
        where=p.c.status != "closed",
    ).c
    found = rows(
        reader,
        select(
            k.grade,
            func.count(),
            func.sum(k.limit_minor),
            func.sum(k.principal_minor),
            func.sum(k.held_minor),
            func.sum(k.undrawn),
            func.sum(k.score),
        )
        .group_by(k.grade)
        .order_by(k.grade),
    )
    return [
        GradeRisk(
            str(r[0]),
            whole(r[1]),
            whole(r[2]),
            whole(r[3]),
            whole(r[4]),
            whole(r[5]),
            whole(r[6]),
            0,
            0,
        )
        for r in found
    ]


def concentration(
    reader: Shared, cutoff: dt.datetime, currency: str, dimension: Dimension
) -> list[Concentration]:
    """Lines not closed, limits and drawn by the dimension's key (`unknown` without one)."""
    p = reader.positions(cutoff, currency)
    d = dimension(reader, cutoff)
    k = keyed(
        func.coalesce(d.c.key, literal("unknown")).label("key"),
        p.c.limit_minor,
        p.c.principal_minor,
        from_=p.outerjoin(d, d.c.line_id == p.c.line_id),
        where=p.c.status != "closed",
    ).c
    drawn = func.sum(k.principal_minor)
    found = rows(
        reader,
        select(k.key, func.count(), func.sum(k.limit_minor), drawn)
        .group_by(k.key)
        .order_by(drawn.desc(), k.key),
    )
    return [Concentration(str(k), whole(n), whole(lim), whole(drawn)) for k, n, lim, drawn in found]


def grade_dimension(reader: Shared, cutoff: dt.datetime) -> Any:
    """Each scored line's grade at the cutoff."""
    scores = reader.scores(cutoff)
    return select(scores.c.line_id, scores.c.grade.label("key")).subquery("grade_keys")


def region_dimension(reader: Shared, cutoff: dt.datetime) -> Any:
    """Each line's region, as its application stated it (lines opened without one have
    none: `unknown`)."""
    regions = line_regions()
    return select(regions.c.line_id, regions.c.region.label("key")).subquery("region_keys")
