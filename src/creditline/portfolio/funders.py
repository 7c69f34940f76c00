"""Funders (CN-3, the risk disclosure joint lending owes them): each funder's part of the book
at a time, its days past due and its losses, composed from the loans' published reads
(`funded_positions`), and its concentration in the portfolio report.

A funder's part of a loan's principal outstanding is pro rata to its part of the principal
lent, rounded down to a minor unit per loan. Its loss is estimated: creditline writes nothing
off yet, so a loss is the profile's LGD of its part of the principal 90+ days past due.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import func, literal, select

from creditline.kernel.money import round_half_up
from creditline.loans.portfolio_views import funded_positions
from creditline.portfolio.credit import dpd_bucket
from creditline.portfolio.figures import DPD_BUCKETS, Concentration, DpdBucket
from creditline.portfolio.reads import Shared, keyed, rows, whole

DEFAULTED_BUCKET = DPD_BUCKETS[-1][0]  # 90+


@dataclass(frozen=True, slots=True)
class FunderPosition:
    """One funder's part of the open loans at a time."""

    funder: str
    loans: int
    funded_minor: int  # its part of the principal lent on those loans
    drawn_minor: int  # its part of their principal outstanding
    dpd_buckets: list[DpdBucket]  # its loans and its part of their principal by bucket
    defaulted_minor: int  # its part of the principal 90+ days past due
    loss_minor: int  # LGD × defaulted, half-up

    def share_of(self, book_drawn_minor: int) -> Decimal:
        """Its part of the book's drawn principal."""
        return Decimal(self.drawn_minor) / book_drawn_minor if book_drawn_minor else Decimal(0)


def funded_loans(reader: Shared, cutoff: dt.datetime, on: dt.date, currency: str) -> Any:
    """`funded_positions` on the report's open loans, kept once."""
    return reader.once(
        ("funded", cutoff, on, currency),
        lambda: funded_positions(cutoff, on, currency, reader.loans(cutoff, on, currency)),
    )


def funder_positions(
    reader: Shared, cutoff: dt.datetime, on: dt.date, currency: str, loss_given_default: Decimal
) -> list[FunderPosition]:
    """Every funder with a part of a loan open at the cutoff, the largest drawn first."""
    f = funded_loans(reader, cutoff, on, currency).c
    k = keyed(f.funder, dpd_bucket(f.dpd).label("bucket"), f.funded_minor, f.principal_minor).c
    found = rows(
        reader,
        select(
            k.funder,
            k.bucket,
            func.count(),
            func.sum(k.funded_minor),
            func.sum(k.principal_minor),
        ).group_by(k.funder, k.bucket),
    )
    by_funder: dict[str, dict[str, tuple[int, int, int]]] = {}
    for funder, bucket, loans, funded, drawn in found:
        by_funder.setdefault(str(funder), {})[str(bucket)] = (
            whole(loans),
            whole(funded),
            whole(drawn),
        )
    positions = [
        _position(funder, buckets, loss_given_default) for funder, buckets in by_funder.items()
    ]
    return sorted(positions, key=lambda p: (-p.drawn_minor, p.funder))


def _position(
    funder: str, buckets: dict[str, tuple[int, int, int]], loss_given_default: Decimal
) -> FunderPosition:
    defaulted = buckets.get(DEFAULTED_BUCKET, (0, 0, 0))[2]
    return FunderPosition(
        funder=funder,
        loans=sum(b[0] for b in buckets.values()),
        funded_minor=sum(b[1] for b in buckets.values()),
        drawn_minor=sum(b[2] for b in buckets.values()),
        dpd_buckets=[
            DpdBucket(label, buckets.get(label, (0, 0, 0))[0], buckets.get(label, (0, 0, 0))[2])
            for label, _ in DPD_BUCKETS
        ],
        defaulted_minor=defaulted,
        loss_minor=round_half_up(defaulted * loss_given_default),
    )


def funder_concentration(
    reader: Shared, cutoff: dt.datetime, on: dt.date, currency: str
) -> list[Concentration]:
    """By funder: the lines it funds an open loan of, their limits (a line counts under each
    of its funders), and its part of their principal outstanding."""
    p = reader.positions(cutoff, currency)
    f = funded_loans(reader, cutoff, on, currency)
    per_line = (
        select(
            f.c.funder,
            f.c.line_id,
            func.sum(f.c.principal_minor).label("drawn"),
        )
        .group_by(f.c.funder, f.c.line_id)
        .subquery("funder_lines")
    )
    k = keyed(
        per_line.c.funder,
        p.c.limit_minor,
        per_line.c.drawn,
        from_=per_line.join(p, p.c.line_id == per_line.c.line_id),
        where=p.c.status != literal("closed"),
    ).c
    drawn = func.sum(k.drawn)
    found = rows(
        reader,
        select(k.funder, func.count(), func.sum(k.limit_minor), drawn)
        .group_by(k.funder)
        .order_by(drawn.desc(), k.funder),
    )
    return [Concentration(str(key), whole(n), whole(lim), whole(d)) for key, n, lim, d in found]


def month_bounds(period: str) -> tuple[dt.date, dt.date]:
    """The first and last day of a month written YYYY-MM."""
    first = dt.date.fromisoformat(f"{period}-01")
    following = (first.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return first, following - dt.timedelta(days=1)


@dataclass(frozen=True, slots=True)
class FunderReport:
    """A funder's disclosure for a month: its part of the book at the month's end (or the
    latest ended business date), beside the whole book's drawn principal."""

    funder: str
    name: str
    period: str  # YYYY-MM
    as_of: dt.date
    currency: str
    position: FunderPosition
    book_drawn_minor: int
    loss_given_default: Decimal
