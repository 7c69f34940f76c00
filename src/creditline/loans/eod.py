"""End of day: accrue interest, mark days past due, charge penalty interest and late fees.

One business date at a time, for every open loan, in batches of loans taken in id order, each
batch one transaction (on PostgreSQL, two batches run at once on their own connections). A
loan remembers the last date it was closed for (`eod_date`), and every statement skips loans
already closed for the date, so running a date twice changes nothing and a run stopped
half-way resumes where it stopped.

On PostgreSQL a batch is three set-based statements over the batch's loans and their
instalments; the arithmetic is exact NUMERIC with ROUND (half away from zero, which is half-up
for the non-negative amounts here). On SQLite, the embedded store for development and small
books, each loan of a batch goes through the pure model (`model.end_of_day`). The two must
agree loan by loan; the tests check that they do.

Dates are run in order: asked for a date after the last finished run, the days between are run
first, so that every loan gets one day of penalty interest per day late.
"""

from __future__ import annotations

import datetime as dt
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any

from sqlalchemy import func, select

from creditline.db.unit_of_work import Database, Transaction
from creditline.kernel.clock import Clock
from creditline.kernel.errors import InvalidInput
from creditline.kernel.invariant import fail
from creditline.loans import model
from creditline.loans.store import LoanStore
from creditline.loans.tables import eod_runs, loans

BATCH_SIZE = 10_000
WORKERS = 2  # batches in flight at once on PostgreSQL: one per core of a small server
# Catching up more than this many days at once is an operator's decision, not a default.
CATCH_UP_DAYS_MAX = 31

Progress = Callable[[dt.date, int, int], None]  # (date, loans done, loans to do)

# An instalment still owes something.
_UNPAID = (
    "(i.principal_minor - i.paid_principal_minor + i.interest_minor - i.paid_interest_minor"
    " + i.fee_minor - i.paid_fee_minor + i.late_fee_minor - i.paid_late_fee_minor) > 0"
)
_DUE_FOR_EOD = (
    "l.status = 'open' AND l.start_date <= %(on)s AND (l.eod_date IS NULL OR l.eod_date < %(on)s)"
)
# Lock the batch's loans that are still to close, in id order (as repayments lock them).
_PG_LOCK = f"""
SELECT l.id FROM loans l
WHERE l.id = ANY(%(ids)s::varchar[]) AND {_DUE_FOR_EOD}
ORDER BY l.id
FOR UPDATE
"""
# The batch drives every join (index lookups by loan id), never a scan of the whole book.
_PG_LATE_FEES = f"""
UPDATE instalments i SET late_fee_minor = l.late_fee_minor
FROM unnest(%(ids)s::varchar[]) AS b(id)
JOIN loans l ON l.id = b.id
WHERE i.loan_id = l.id AND {_DUE_FOR_EOD}
  AND i.late_fee_minor = 0 AND l.late_fee_minor > 0
  AND i.due_date < %(on)s - l.grace_days AND {_UNPAID}
"""
_PG_LOANS = f"""
WITH periods AS (
    SELECT i.*, COALESCE(
        LAG(i.due_date) OVER (PARTITION BY i.loan_id ORDER BY i.number), l.start_date
    ) AS period_start, l.grace_days
    FROM unnest(%(ids)s::varchar[]) AS b(id)
    JOIN loans l ON l.id = b.id
    JOIN instalments i ON i.loan_id = l.id
), totals AS (
    SELECT i.loan_id,
        MIN(i.due_date) FILTER (WHERE i.due_date < %(on)s AND {_UNPAID}) AS oldest_overdue,
        SUM(i.principal_minor - i.paid_principal_minor)
            FILTER (WHERE i.due_date < %(on)s - i.grace_days AND {_UNPAID}) AS late_principal,
        MAX(ROUND(i.interest_minor::numeric * (%(on)s - i.period_start)
                  / (i.due_date - i.period_start)))
            FILTER (WHERE i.period_start <= %(on)s AND %(on)s < i.due_date) AS accrued
    FROM periods i
    GROUP BY i.loan_id
)
UPDATE loans l SET
    dpd = COALESCE(%(on)s - t.oldest_overdue, 0),
    penalty_minor = l.penalty_minor + COALESCE(
        ROUND(t.late_principal::numeric * l.penalty_rate::numeric / l.penalty_basis_days), 0),
    interest_accrued_minor = COALESCE(t.accrued, 0),
    eod_date = %(on)s
FROM totals t
WHERE t.loan_id = l.id AND {_DUE_FOR_EOD}
"""


@dataclass(frozen=True, slots=True)
class DayResult:
    """One business date closed, and how many loans its end of day processed."""

    business_date: dt.date
    loans_processed: int

    def document(self) -> dict[str, Any]:
        """The result as the API and the command line report it."""
        return {
            "business_date": self.business_date.isoformat(),
            "loans_processed": self.loans_processed,
        }


class EndOfDay:
    """Closes business dates over every open loan, in batches, resumably."""

    def __init__(
        self, db: Database, clock: Clock, batch_size: int = BATCH_SIZE, workers: int = WORKERS
    ) -> None:
        self._db = db
        self._clock = clock
        self._batch_size = batch_size
        self._workers = workers
        self._loans = LoanStore(db)

    def dates_to_run(self, until: dt.date) -> list[dt.date]:
        """`until`, preceded by every day since the last finished run that has not run."""
        with self._db.reading() as connection:
            last = connection.execute(
                select(func.max(eod_runs.c.business_date)).where(
                    eod_runs.c.finished_at.is_not(None)
                )
            ).scalar_one()
        if last is None or last >= until:
            return [until]
        days = (until - last).days
        if days > CATCH_UP_DAYS_MAX:
            raise InvalidInput(
                f"the last end of day ran for {last.isoformat()}, {days} days before "
                f"{until.isoformat()}; run the days between first (at most "
                f"{CATCH_UP_DAYS_MAX} are caught up at once)",
                last_run=last.isoformat(),
            )
        return [last + dt.timedelta(days=n) for n in range(1, days + 1)]

    def pending(self, on: dt.date) -> int:
        """How many open loans have not been closed for `on` yet."""
        with self._db.reading() as connection:
            return connection.execute(
                select(func.count())
                .select_from(loans)
                .where(
                    loans.c.status == "open",
                    loans.c.start_date <= on,
                    (loans.c.eod_date.is_(None)) | (loans.c.eod_date < on),
                )
            ).scalar_one()

    def run(self, until: dt.date, progress: Progress | None = None) -> list[DayResult]:
        """Close every business date up to `until` that has not been closed, in order."""
        return [self.run_day(on, progress) for on in self.dates_to_run(until)]

    def run_day(self, on: dt.date, progress: Progress | None = None) -> DayResult:
        """Close one business date for every open loan; idempotent and resumable.

        Batches are taken in loan id order; on PostgreSQL `workers` of them run at once, each
        in its own transaction on its own connection (the work is the server's, so this is
        what uses more than one core).
        """
        self._db.run(lambda tx: self._start(tx, on))
        total = self.pending(on)
        done = 0
        if progress is not None:
            progress(on, done, total)
        workers = self._workers if self._db.dialect == "postgresql" else 1
        with ThreadPoolExecutor(workers, thread_name_prefix="eod") as pool:
            running: deque[Future[list[str]]] = deque()
            for chunk in self._pending_chunks(on):
                running.append(pool.submit(self._db.run, partial(self._batch, on=on, ids=chunk)))
                while running and (len(running) > workers or running[0].done()):
                    done += len(running.popleft().result())
                    if progress is not None:
                        progress(on, done, max(total, done))
            while running:
                done += len(running.popleft().result())
                if progress is not None:
                    progress(on, done, max(total, done))
        self._db.run(lambda tx: self._finish(tx, on))
        return DayResult(on, done)

    def _pending_chunks(self, on: dt.date) -> Iterator[list[str]]:
        """The ids of the loans still to close for `on`, a batch at a time, in id order."""
        after = ""
        while True:
            with self._db.reading() as connection:
                chunk = list(
                    connection.execute(
                        select(loans.c.id)
                        .where(
                            loans.c.status == "open",
                            loans.c.start_date <= on,
                            (loans.c.eod_date.is_(None)) | (loans.c.eod_date < on),
                            loans.c.id > after,
                        )
                        .order_by(loans.c.id)
                        .limit(self._batch_size)
                    ).scalars()
                )
            if not chunk:
                return
            yield chunk
            after = chunk[-1]

    def _batch(self, tx: Transaction, on: dt.date, ids: list[str]) -> list[str]:
        """Close `on` for those of `ids` still open for it; the ids it closed."""
        if tx.dialect == "postgresql":
            # Compiling these statements to machine code costs more than it saves per batch.
            tx.cursor.execute("SET LOCAL jit = off")
            tx.cursor.execute(_PG_LOCK, {"on": on, "ids": ids})
            locked = [row[0] for row in tx.cursor.fetchall()]
            if locked:
                tx.cursor.execute(_PG_LATE_FEES, {"on": on, "ids": locked})
                tx.cursor.execute(_PG_LOANS, {"on": on, "ids": locked})
                self._count(tx, on, len(locked))
            return locked
        now = self._clock.now()
        closed = []
        for loan_id in ids:
            before = self._loans.load(tx, loan_id)
            if before is None:
                fail(f"loan {loan_id} is gone: loans are never deleted")
            after = model.end_of_day(before, on)
            if after is not before:
                self._loans.save(tx, before, after, now)
                closed.append(loan_id)
        self._count(tx, on, len(closed))
        return closed

    def _start(self, tx: Transaction, on: dt.date) -> None:
        tx.cursor.execute(
            _placeholders(
                tx,
                "INSERT INTO eod_runs (business_date, started_at, loans_processed) "
                "VALUES (%(on)s, %(now)s, 0) ON CONFLICT (business_date) DO NOTHING",
            ),
            {"on": tx.date(on), "now": tx.time(self._clock.now())},
        )

    def _count(self, tx: Transaction, on: dt.date, done: int) -> None:
        """Count a batch's loans in its own transaction: a resumed run counts them once."""
        if not done:
            return
        tx.cursor.execute(
            _placeholders(
                tx,
                "UPDATE eod_runs SET loans_processed = loans_processed + %(done)s "
                "WHERE business_date = %(on)s",
            ),
            {"on": tx.date(on), "done": done},
        )

    def _finish(self, tx: Transaction, on: dt.date) -> None:
        tx.cursor.execute(
            _placeholders(
                tx, "UPDATE eod_runs SET finished_at = %(now)s WHERE business_date = %(on)s"
            ),
            {"on": tx.date(on), "now": tx.time(self._clock.now())},
        )


def _placeholders(tx: Transaction, sql: str) -> str:
    """psycopg's `%(name)s` placeholders as sqlite3's `:name`."""
    if tx.dialect != "sqlite":
        return sql
    for name in ("on", "now", "done"):
        sql = sql.replace(f"%({name})s", f":{name}")
    return sql
