"""What a dispatcher keeps while it sends a claimed batch: the batch's leases, renewed
together, and its delivery log, which records each channel that took a message and each
message's outcome a group at a time.

The log writes a group in one transaction once it holds `RECORDS_PER_WRITE_MAX` rows, once its
oldest row has waited `RECORD_DELAY_MAX`, and when the batch ends, with or without an error.
Groups commit in the order they were cut, and a message's outcome is logged after its
channels, so a message is never marked delivered before the channels that took it are
recorded. At least once: a dispatcher that dies before a group is written (killed, the power
lost, the store gone) leaves those messages undelivered under its leases; once the leases run
out the next claim sends again the channels with no record, under the same notice id, which
receivers dedupe on. More than once only after such a death, for at most one group's
channels per dispatcher; never zero times.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import and_, bindparam, update
from sqlalchemy.dialects import postgresql, sqlite

from creditline.db.unit_of_work import Database, Transaction
from creditline.kernel.clock import Clock
from creditline.notices.tables import deliveries, outbox

# Rows (channel records and outcomes) written in one transaction: about a hundred messages.
RECORDS_PER_WRITE_MAX = 256
# How long a channel's record may wait for its group: far less than a lease, so that a slow
# batch's records are written long before another dispatcher could claim its messages.
RECORD_DELAY_MAX = timedelta(seconds=1)


class Leases:
    """A claimed batch's leases, renewed together (one statement) once `renew_after` has
    passed since the claim or the last renewal; the sending threads share them."""

    def __init__(
        self,
        renew: Callable[[list[str]], set[str]],
        clock: Clock,
        ids: list[str],
        at: datetime,
        renew_after: timedelta,
    ) -> None:
        self._renew = renew
        self._clock = clock
        self._held = set(ids)
        self._renewed_at = at
        self._renew_after = renew_after
        self._lock = threading.Lock()

    def holds(self, message_id: str) -> bool:
        """Whether this dispatcher still holds the message's lease, renewed if it is due."""
        with self._lock:
            now = self._clock.now()
            if now - self._renewed_at >= self._renew_after:
                self._held = self._renew(sorted(self._held))
                self._renewed_at = now
            return message_id in self._held

    def release(self, message_id: str) -> None:
        """The message is done with (delivered, put back to retry): renew it no more."""
        with self._lock:
            self._held.discard(message_id)


class DeliveryLog:
    """Channel records and message outcomes, written a group at a time (thread-safe)."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock
        dialect_insert = postgresql.insert if db.dialect == "postgresql" else sqlite.insert
        self._took = db.prepare(dialect_insert(deliveries).on_conflict_do_nothing())
        mine = and_(outbox.c.id == bindparam("id"), outbox.c.claim_token == bindparam("token"))
        self._finish = db.prepare(
            update(outbox)
            .where(mine)
            .values(delivered_at=bindparam("at"), claimed_until=None, last_error=None)
        )
        self._retry = db.prepare(
            update(outbox)
            .where(mine)
            .values(
                claimed_until=None,
                next_attempt_at=bindparam("next_at"),
                last_error=bindparam("error"),
                dead_at=bindparam("dead_at"),
            )
        )
        self._lock = threading.Lock()  # the rows waiting
        self._writing = threading.Lock()  # groups commit one after the other, in order
        self._records: list[tuple[str, str, datetime, str | None]] = []
        self._finished: list[tuple[str, str, datetime]] = []
        self._retried: list[tuple[str, str, datetime, str, datetime | None]] = []
        self._oldest_at: datetime | None = None

    def took(self, message_id: str, channel: str, at: datetime, detail: str | None) -> None:
        """Channel `channel` took the message at `at`, answering `detail`."""
        with self._lock:
            self._records.append((message_id, channel, at, detail))
            due = self._due()
        if due:
            self.write()

    def finished(self, message_id: str, token: str, at: datetime) -> None:
        """Every channel took the message (logged after their records): it is delivered."""
        with self._lock:
            self._finished.append((message_id, token, at))
            due = self._due()
        if due:
            self.write()

    def failed(
        self, message_id: str, token: str, next_at: datetime, error: str, dead_at: datetime | None
    ) -> None:
        """A channel failed: try the message again at `next_at` (or never: `dead_at`)."""
        with self._lock:
            self._retried.append((message_id, token, next_at, error, dead_at))
            due = self._due()
        if due:
            self.write()

    def write(self) -> None:
        """Write every row logged so far, in one transaction."""
        with self._writing:
            with self._lock:
                records, finished, retried = self._records, self._finished, self._retried
                self._records, self._finished, self._retried = [], [], []
                self._oldest_at = None
            if records or finished or retried:
                self._db.run(lambda tx: self._write(tx, records, finished, retried))

    def _due(self) -> bool:
        """Whether the rows waiting make a group (called holding the lock, after a row)."""
        now = self._clock.now()
        self._oldest_at = self._oldest_at or now
        waiting = len(self._records) + len(self._finished) + len(self._retried)
        return waiting >= RECORDS_PER_WRITE_MAX or now - self._oldest_at >= RECORD_DELAY_MAX

    def _write(
        self,
        tx: Transaction,
        records: list[tuple[str, str, datetime, str | None]],
        finished: list[tuple[str, str, datetime]],
        retried: list[tuple[str, str, datetime, str, datetime | None]],
    ) -> None:
        took = [
            {"notice_id": i, "channel": c, "delivered_at": tx.time(at), "detail": d}
            for i, c, at, d in records
        ]
        tx.execute_many(self._took, took)  # the channels first: then the outcomes
        tx.execute_many(
            self._finish, [{"id": i, "token": t, "at": tx.time(at)} for i, t, at in finished]
        )
        tx.execute_many(
            self._retry,
            [
                {"id": i, "token": t, "next_at": tx.time(n), "error": e, "dead_at": tx.time(d)}
                for i, t, n, e, d in retried
            ],
        )
