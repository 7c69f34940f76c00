"""End of day: accrue interest, mark days past due, charge penalty interest and late fees.

One business date at a time, for every open loan, in batches of loans taken in id order, each
batch one transaction (on PostgreSQL, two batches run at once on their own connections). A
loan remembers the last date it was closed for (`eod_date`), and every statement skips loans
already closed for the date, so running a date twice changes nothing and a run stopped
half-way resumes where it stopped.

On PostgreSQL a batch is two set-based statements over the batch's loans and their
instalments (lock them; close them); the arithmetic is exact NUMERIC with ROUND (half away
from zero, which is half-up for the non-negative amounts here). On SQLite, the embedded store
for development and small books, each loan of a batch goes through the pure model
(`arrears.end_of_day`). The two must agree loan by loan; the tests check that they do, and
both against figures worked by hand.

Dates are run in order: asked for a date after the last finished run, the days between are run
first, so that every loan gets one day of penalty interest per day late. A date that has not
begun yet in every time zone the lender does business in is refused
(`business_date_in_future`), before anything is written: late fees and penalty interest are
charged only once the grace days are over in real time.
"""

from __future__ import annotations

import datetime as dt
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from creditline.db.unit_of_work import Database, Transaction
from creditline.kernel.clock import Clock
from creditline.kernel.errors import BusinessDateInFuture, InvalidInput
from creditline.kernel.invariant import fail
from creditline.loans import arrears
from creditline.loans.store import LoanStore
from creditline.loans.tables import eod_runs, loans

BATCH_SIZE = 10_000
WORKERS = 2  # batches in flight at once on PostgreSQL: one per core of a small server
# Catching up more than this many days at once is an operator's decision, not a default.
CATCH_UP_DAYS_MAX = 31

Progress = Callable[[dt.date, int, int], None]  # (date, loans done, loans to do)

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
# Each instalment of the batch with its shortfall (`arrears.shortfalls`): what everything paid
# on the loan leaves unpaid of its scheduled amount, counted against the schedule oldest first.
# The batch drives every join (index lookups by loan id), never a scan of the whole book.
_PG_SHORTFALLS = f"""
WITH shortfalls AS (
    SELECT w.loan_id, w.number, w.due_date, w.interest_minor, w.unpaid_principal,
        w.period_start, w.grace_days, w.product_late_fee, w.penalty_rate, w.penalty_basis_days,
        LEAST(w.scheduled, GREATEST(w.scheduled_through - w.paid, 0)) AS short
    FROM (
        SELECT i.loan_id, i.number, i.due_date, i.interest_minor,
            i.principal_minor - i.paid_principal_minor AS unpaid_principal,
            i.principal_minor + i.interest_minor + i.fee_minor AS scheduled,
            SUM(i.principal_minor + i.interest_minor + i.fee_minor)
                OVER (PARTITION BY i.loan_id ORDER BY i.number)::bigint AS scheduled_through,
            SUM(i.paid_principal_minor + i.paid_interest_minor + i.paid_fee_minor
                + i.paid_late_fee_minor + i.paid_penalty_minor)
                OVER (PARTITION BY i.loan_id)::bigint AS paid,
            COALESCE(
                LAG(i.due_date) OVER (PARTITION BY i.loan_id ORDER BY i.number), l.start_date
            ) AS period_start,
            l.grace_days, l.late_fee_minor AS product_late_fee, l.penalty_rate,
            l.penalty_basis_days
        FROM unnest(%(ids)s::varchar[]) AS b(id)
        JOIN loans l ON l.id = b.id
        JOIN instalments i ON i.loan_id = l.id
        WHERE {_DUE_FOR_EOD}
    ) w
)"""
# One statement closes the batch: each late instalment (past its grace days, with a shortfall)
# gets a day of penalty interest on its overdue principal and, once, its late fee; each loan
# its days past due, its penalty total (what it had plus what its instalments got today), the
# interest its running period has accrued and the date. The loans' update sees the rows as they
# were before the statement, so the totals add what the instalments' update returned.
_PG_CLOSE = f"""{_PG_SHORTFALLS}, late AS (
    SELECT s.loan_id, s.number, s.product_late_fee,
        ROUND(LEAST(s.unpaid_principal, s.short)::numeric * s.penalty_rate::numeric
              / s.penalty_basis_days) AS day_penalty
    FROM shortfalls s
    WHERE s.short > 0 AND s.due_date < %(on)s - s.grace_days
), charged AS (
    UPDATE instalments i SET
        late_fee_minor = CASE WHEN i.late_fee_minor = 0 THEN late.product_late_fee
                              ELSE i.late_fee_minor END,
        penalty_minor = i.penalty_minor + late.day_penalty
    FROM late
    WHERE i.loan_id = late.loan_id AND i.number = late.number
      AND ((i.late_fee_minor = 0 AND late.product_late_fee > 0) OR late.day_penalty > 0)
    RETURNING i.loan_id, late.day_penalty
), added AS (
    SELECT loan_id, SUM(day_penalty) AS penalty FROM charged GROUP BY loan_id
), totals AS (
    SELECT s.loan_id,
        MIN(s.due_date) FILTER (WHERE s.due_date < %(on)s AND s.short > 0) AS oldest_overdue,
        MAX(ROUND(s.interest_minor::numeric * (%(on)s - s.period_start)
                  / (s.due_date - s.period_start)))
            FILTER (WHERE s.period_start <= %(on)s AND %(on)s < s.due_date) AS accrued
    FROM shortfalls s
    GROUP BY s.loan_id
)
UPDATE loans l SET
    dpd = COALESCE(%(on)s - t.oldest_overdue, 0),
    penalty_minor = l.penalty_minor + COALESCE(a.penalty, 0),
    interest_accrued_minor = COALESCE(t.accrued, 0),
    eod_date = %(on)s
FROM totals t LEFT JOIN added a ON a.loan_id = t.loan_id
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
        self,
        db: Database,
        clock: Clock,
        zones: Iterable[ZoneInfo],
        batch_size: int = BATCH_SIZE,
        workers: int = WORKERS,
    ) -> None:
        self._db = db
        self._clock = clock
        # Where the lender does business: a date is closed once it has begun in all of them.
        self.zones = tuple(sorted(set(zones), key=str))
        if not self.zones:
            raise InvalidInput("end of day needs the time zones the lender does business in")
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

    def refuse_future(self, on: dt.date) -> None:
        """Refuse (`business_date_in_future`) a business date after today in any time zone
        the lender does business in: its grace days, and its day, are not over."""
        now = self._clock.now()
        zone = min(self.zones, key=lambda z: now.astimezone(z).date())
        today = now.astimezone(zone).date()
        if on > today:
            raise BusinessDateInFuture(
                f"cannot close {on.isoformat()} before it has begun: today is "
                f"{today.isoformat()} in {zone.key}",
                business_date=on.isoformat(),
                today=today.isoformat(),
                timezone=zone.key,
            )

    def run(self, until: dt.date, progress: Progress | None = None) -> list[DayResult]:
        """Close every business date up to `until` that has not been closed, in order."""
        self.refuse_future(until)
        return [self.run_day(on, progress) for on in self.dates_to_run(until)]

    def run_day(self, on: dt.date, progress: Progress | None = None) -> DayResult:
        """Close one business date for every open loan; idempotent and resumable.

        Batches are taken in loan id order; on PostgreSQL `workers` of them run at once, each
        in its own transaction on its own connection (the work is the server's, so this is
        what uses more than one core).
        """
        self.refuse_future(on)
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
            # The batch's instalments with their shortfalls are read twice: keep them in memory.
            tx.cursor.execute("SET LOCAL work_mem = '64MB'")
            tx.cursor.execute(_PG_LOCK, {"on": on, "ids": ids})
            locked = [row[0] for row in tx.cursor.fetchall()]
            if locked:
                tx.cursor.execute(_PG_CLOSE, {"on": on, "ids": locked})
                self._count(tx, on, len(locked))
            return locked
        now = self._clock.now()
        closed = []
        for loan_id in ids:
            before = self._loans.load(tx, loan_id)
            if before is None:
                fail(f"loan {loan_id} is gone: loans are never deleted")
            after = arrears.end_of_day(before, on)
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
