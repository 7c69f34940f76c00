"""Funders (CN-3, the risk disclosure joint lending owes them): each funder's part of the book
at a time, its days past due and its losses, composed from the loans' published reads
(`funded_positions`), and its concentration in the portfolio report; the policy changes
approved or taking effect in a period, with what each one's simulation projected for the
lines of the funder's open loans (the decisions' published reads).

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

from creditline.decisions.portfolio_views import policy_changes_in, simulated_changes
from creditline.kernel.invariant import fail
from creditline.kernel.money import round_half_up
from creditline.loans.portfolio_views import funded_positions
from creditline.portfolio.credit import dpd_bucket
from creditline.portfolio.figures import DPD_BUCKETS, Concentration, DpdBucket
from creditline.portfolio.reads import Shared, as_utc, keyed, rows, whole

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


@dataclass(frozen=True, slots=True)
class PolicyImpact:
    """A policy version approved or taking effect in the period, the whole book its approval's
    simulation found adversely affected, and of those the lines the funder has an open loan on
    at the report's date: by projected action, their limits' projected cut and the funder's
    part of their principal outstanding."""

    policy: str  # id@version
    approved_at: dt.datetime
    effective_at: dt.datetime | None
    retired_at: dt.datetime | None  # withdrawn since (before or after taking effect)
    lines_simulated: int
    lines_adverse: int
    lines: int  # the funder's, adversely affected
    lines_by_action: dict[str, int]
    limit_cut_minor: int  # limit before less limit after, summed over those lines
    drawn_minor: int  # the funder's part of their principal outstanding


def policy_impacts(
    reader: Shared, start: dt.datetime, cutoff: dt.datetime, on: dt.date, currency: str, funder: str
) -> list[PolicyImpact]:
    """The policy changes approved or taking effect in [start, cutoff), in order of approval,
    each with its simulated impact on the lines of `funder`'s loans open at the cutoff."""
    changes = policy_changes_in(start, cutoff, currency)
    listed = rows(
        reader,
        select(
            changes.c.policy_id,
            changes.c.version,
            changes.c.approved_at,
            changes.c.effective_at,
            changes.c.retired_at,
            changes.c.lines_total,
            changes.c.adverse_count,
        ).order_by(changes.c.approved_at, changes.c.policy_id, changes.c.version),
    )
    f = funded_loans(reader, cutoff, on, currency).c
    funded_lines = (
        select(f.line_id, func.sum(f.principal_minor).label("drawn"))
        .where(f.funder == funder)
        .group_by(f.line_id)
        .subquery("funder_lines")
    )
    sim = simulated_changes()
    k = keyed(
        changes.c.policy_id,
        changes.c.version,
        sim.c.action,
        (sim.c.limit_before_minor - sim.c.limit_after_minor).label("cut"),
        funded_lines.c.drawn,
        from_=changes.join(sim, sim.c.simulation_id == changes.c.simulation_id).join(
            funded_lines, funded_lines.c.line_id == sim.c.line_id
        ),
    ).c
    found = rows(
        reader,
        select(
            k.policy_id, k.version, k.action, func.count(), func.sum(k.cut), func.sum(k.drawn)
        ).group_by(k.policy_id, k.version, k.action),
    )
    by_version: dict[tuple[str, str], dict[str, tuple[int, int, int]]] = {}
    for policy_id, version, action, lines, cut, drawn in found:
        by_version.setdefault((str(policy_id), str(version)), {})[str(action)] = (
            whole(lines),
            whole(cut),
            whole(drawn),
        )
    out = []
    for policy_id, version, approved, effective, retired, total, adverse in listed:
        actions = by_version.get((str(policy_id), str(version)), {})
        out.append(
            PolicyImpact(
                policy=f"{policy_id}@{version}",
                approved_at=as_utc(approved) or fail("a policy approved at no time"),
                effective_at=as_utc(effective),
                retired_at=as_utc(retired),
                lines_simulated=whole(total),
                lines_adverse=whole(adverse),
                lines=sum(a[0] for a in actions.values()),
                lines_by_action={action: a[0] for action, a in sorted(actions.items())},
                limit_cut_minor=sum(a[1] for a in actions.values()),
                drawn_minor=sum(a[2] for a in actions.values()),
            )
        )
    return out


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
    policy_changes: list[PolicyImpact]
