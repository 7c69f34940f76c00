"""Per-borrower rate limits on asking for reviews, applying and verifying.

Each of these requests already leaves a row with the borrower and a time (a review request, an
application, a verification), so the limit counts those rows in a sliding window inside the
request's own transaction: it holds across server processes, and a request refused leaves no
row. A limit applies to the borrower, whoever asks for them (the borrower or staff acting for
them): it protects the borrower's record and the policy's velocity features, which count the
same rows. A replay of an earlier request (same idempotency key) is answered by the command
runner before the use case runs, so it is never limited.

Two requests of one borrower at once are serialised before they count: SQLite's writers take
turns already; on PostgreSQL a transaction-scoped advisory lock per (limit, borrower) does it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Table, func, select

from creditline.db.unit_of_work import Transaction
from creditline.kernel.errors import RateLimited


@dataclass(frozen=True, slots=True)
class RateLimit:
    """At most `count_max` of a borrower's `what` (say "review requests") in any window of
    `window`."""

    what: str
    count_max: int
    window: timedelta

    def __post_init__(self) -> None:
        if self.count_max < 1 or self.window <= timedelta(0):
            raise ValueError("a rate limit allows at least one request in a positive window")


def retry_after_seconds(oldest_counted_at: datetime, window: timedelta, now: datetime) -> int:
    """Whole seconds (at least 1) until the request made at `oldest_counted_at` leaves the
    window, and a new one is allowed."""
    remaining = oldest_counted_at + window - now
    return max(1, math.ceil(remaining.total_seconds()))


def refuse_over_limit(
    tx: Transaction,
    limit: RateLimit,
    table: Table,
    borrower_id: str,
    now: datetime,
    only: Iterable[ColumnElement[bool]] = (),
) -> None:
    """Refuse (`rate_limited`) when `borrower_id` has `limit.count_max` rows of `table` (those
    matching `only`) created in the window before `now`. Call it inside the use case's
    transaction, before the request's own row is written (`tx` needs its Core connection)."""
    connection = tx.connection
    if tx.dialect == "postgresql":
        lock_key = f"rate:{table.name}:{borrower_id}"
        connection.execute(select(func.pg_advisory_xact_lock(func.hashtextextended(lock_key, 0))))
    # The newest `count_max` rows: when there are that many, the last one must leave the
    # window before another request fits in it.
    newest = connection.execute(
        select(table.c.created_at)
        .where(table.c.borrower_id == borrower_id, table.c.created_at > now - limit.window, *only)
        .order_by(table.c.created_at.desc())
        .limit(limit.count_max)
    ).scalars()
    counted = list(newest)
    if len(counted) < limit.count_max:
        return
    retry_after = retry_after_seconds(counted[-1], limit.window, now)
    window_seconds = int(limit.window.total_seconds())
    raise RateLimited(
        f"at most {limit.count_max} {limit.what} per {window_seconds} seconds; "
        f"try again in {retry_after} seconds",
        retry_after_seconds=retry_after,
        limit=limit.count_max,
        window_seconds=window_seconds,
    )
