"""Credit quality at a date: loans by days past due, how they rolled over the month before,
vintage curves, and the matured outcomes that calibrate each grade's PD. Set-based queries
over the loans' published reads (and the ledger's and decisions', joined by line)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import and_, case, func, literal, or_, select

from creditline.db.portable import month_number
from creditline.portfolio.figures import DPD_BUCKETS, SETTLED, DpdBucket, Vintage, cumulative
from creditline.portfolio.reads import Shared, keyed, rows, whole

VINTAGES_SHOWN_MAX = 24  # cohorts, the latest


def dpd_bucket(dpd: Any) -> Any:
    """A loan's bucket of days past due, by the buckets' least days."""
    whens = [(dpd >= least, literal(label)) for label, least in reversed(DPD_BUCKETS[1:])]
    return case(*whens, else_=literal(DPD_BUCKETS[0][0]))


def dpd_buckets(reader: Shared, cutoff: dt.datetime, on: dt.date, currency: str) -> list[DpdBucket]:
    """Open loans and their principal outstanding by days past due on `on`."""
    loans = reader.loans(cutoff, on, currency).c
    k = keyed(dpd_bucket(loans.dpd).label("bucket"), loans.principal_minor).c
    found = {
        str(b): (whole(n), whole(p))
        for b, n, p in rows(
            reader, select(k.bucket, func.count(), func.sum(k.principal_minor)).group_by(k.bucket)
        )
    }
    return [DpdBucket(label, *found.get(label, (0, 0))) for label, _ in DPD_BUCKETS]


def roll_rates(
    reader: Shared,
    before: tuple[dt.datetime, dt.date],
    now: tuple[dt.datetime, dt.date],
    currency: str,
) -> dict[str, dict[str, int]]:
    """Loans open at `before` by their bucket then and their bucket at `now` (`settled` when
    no longer open): bucket then -> bucket now -> loans."""
    then = reader.loans(before[0], before[1], currency).alias("loans_then")
    later = reader.loans(now[0], now[1], currency).alias("loans_now")
    k = keyed(
        dpd_bucket(then.c.dpd).label("then"),
        case((later.c.loan_id.is_(None), literal(SETTLED)), else_=dpd_bucket(later.c.dpd)).label(
            "now"
        ),
        from_=then.outerjoin(later, later.c.loan_id == then.c.loan_id),
    ).c
    found = rows(reader, select(k.then, k.now, func.count()).group_by(k.then, k.now))
    labels = [label for label, _ in DPD_BUCKETS]
    matrix = {a: dict.fromkeys([*labels, SETTLED], 0) for a in labels}
    for a, b, n in found:
        matrix[str(a)][str(b)] = whole(n)
    return matrix


def vintages(reader: Shared, on: dt.date, currency: str) -> list[Vintage]:
    """Per month of opening (the latest `VINTAGES_SHOWN_MAX`), the loans and, by month on
    book through `on`, how many had been 30+ and 90+ days past due."""
    reached = reader.reached(on, currency).c
    start = month_number(reached.start_date)
    k = keyed(
        start.label("cohort"),
        (month_number(reached.reached_30) - start).label("mob_30"),
        (month_number(reached.reached_90) - start).label("mob_90"),
    ).c
    sizes = dict(rows(reader, select(k.cohort, func.count()).group_by(k.cohort)))
    events: dict[int, dict[int, dict[int, int]]] = {30: {}, 90: {}}
    for threshold in (30, 90):
        month = k[f"mob_{threshold}"]
        for c, m, n in rows(
            reader,
            select(k.cohort, month, func.count())
            .where(month.is_not(None))
            .group_by(k.cohort, month),
        ):
            events[threshold].setdefault(int(c), {})[int(m)] = whole(n)
    now_month = on.year * 12 + on.month - 1
    out = []
    for c in sorted(int(k) for k in sizes)[-VINTAGES_SHOWN_MAX:]:
        months = now_month - c
        out.append(
            Vintage(
                cohort=f"{c // 12:04d}-{c % 12 + 1:02d}",
                loans=whole(sizes[c]),
                reached_30=cumulative(events[30].get(c, {}), months),
                reached_90=cumulative(events[90].get(c, {}), months),
            )
        )
    return out


def matured_sample(
    reader: Shared, observed: dt.datetime, observed_on: dt.date, on: dt.date, currency: str
) -> Any:
    """The lines on the book and scored at `observed` (a year before the report), not closed
    and not already 90+ days past due: grade, score, and bad (1 when they went 90+ days past
    due after it, by `on`)."""
    positions = reader.positions(observed, currency)
    scores = reader.scores(observed)
    loans = reader.reached(on, currency).c
    # Only the loans that went 90+ (a few): a line without one joins no row, as before.
    first = (
        select(loans.line_id, func.min(loans.reached_90).label("reached"))
        .where(loans.reached_90.is_not(None))
        .group_by(loans.line_id)
        .subquery("first_90")
    )
    return keyed(
        scores.c.grade,
        scores.c.score,
        case((first.c.reached > observed_on, 1), else_=0).label("bad"),
        from_=positions.join(scores, scores.c.line_id == positions.c.line_id).outerjoin(
            first, first.c.line_id == positions.c.line_id
        ),
        where=and_(
            positions.c.status != "closed",
            or_(first.c.reached.is_(None), first.c.reached > observed_on),
        ),
    ).c


def matured_outcomes(
    reader: Shared, observed: dt.datetime, observed_on: dt.date, on: dt.date, currency: str
) -> dict[str, tuple[int, int]]:
    """Per grade at `observed`, the matured sample's lines and bads (`matured_sample`)."""
    k = matured_sample(reader, observed, observed_on, on, currency)
    found = rows(reader, select(k.grade, func.count(), func.sum(k.bad)).group_by(k.grade))
    return {str(g): (whole(n), whole(b)) for g, n, b in found}
