"""Group commit for SQLite: concurrent use cases of one process share a transaction and its
COMMIT, each in its own SAVEPOINT (docs/decisions/0029).

Writers queue. The writer at the front of the queue leads: on its own thread it opens one
transaction (`BEGIN IMMEDIATE` on the connection the group owns), runs its own work and then
the work of every writer queued behind it, up to `GROUP_COMMIT_BATCH_MAX`, commits, answers
them all and hands the lead to the next writer in the queue. A lone caller therefore leads its
own batch of one: no other thread, no hand-off, no savepoint. This is LevelDB's writer queue
(`DBImpl::Write`) with SQL transactions for the merged batch.

- Each work after the first of a transaction runs in a SAVEPOINT: one that raises rolls back
  alone, and its caller gets its own exception; the first rolls the transaction back itself.
- Every caller is answered only after the COMMIT of its batch, refusals too (a refusal may rest
  on an earlier writer's change in the same batch). A COMMIT that fails fails every work of the
  batch with its error, which `Database.run` retries or reports as it does for one work.
- Durability is SQLite's with WAL and `synchronous=NORMAL`, as without group commit.
- Other processes (and this process's own `core` transactions, which need a connection of
  their own) take SQLite's write lock between batches, waiting with the busy timeout.
"""

from __future__ import annotations

import contextvars
import sqlite3
import threading
from collections import deque
from collections.abc import Callable
from typing import Any, cast

from sqlalchemy import Engine
from sqlalchemy.pool import PoolProxiedConnection

from creditline.db.engine import SQLITE_BUSY_TIMEOUT_MS
from creditline.kernel.invariant import invariant

# Works per transaction: bounds how long the first writer of a batch waits for its answer.
GROUP_COMMIT_BATCH_MAX = 64
_WAIT_SECONDS_MAX = SQLITE_BUSY_TIMEOUT_MS / 1000  # as long as a writer waits for SQLite's lock
_SAVEPOINT = "group_commit_work"

Outcome = tuple[Any, list[Callable[[], None]]]


class BatchAbandoned(Exception):
    """The writer leading a batch was stopped (an interrupt): the batch was rolled back and its
    works may run again."""


class _Writer:
    """One queued call: its work, what came of it, and the lock that answers it (held until
    then: a plain lock costs a waiter far less than an `Event`)."""

    __slots__ = ("context", "done", "error", "lead", "outcome", "solo", "work")

    def __init__(self, work: Callable[..., Any], solo: bool) -> None:
        self.work = work
        self.solo = solo  # runs alone on its own connection (a `core` transaction)
        self.context = contextvars.copy_context()  # the caller's (request id in the logs)
        self.done = threading.Lock()
        self.done.acquire()
        self.lead = False
        self.outcome: Outcome | None = None
        self.error: BaseException | None = None

    def answer(self) -> Outcome:
        if self.error is not None:
            raise self.error
        invariant(self.outcome is not None, "a writer is answered with an outcome or an error")
        return cast(Outcome, self.outcome)


class GroupCommit:
    """The writer queue of one `Database` on SQLite, and the connection its batches use."""

    def __init__(
        self,
        engine: Engine,
        transaction: Callable[[Any], Any],
        committed: Callable[[int], None],
        batch_max: int = GROUP_COMMIT_BATCH_MAX,
    ) -> None:
        if not 1 <= batch_max <= GROUP_COMMIT_BATCH_MAX:
            raise ValueError(f"batch_max must be 1–{GROUP_COMMIT_BATCH_MAX}")
        self._engine = engine
        self._transaction = transaction  # a Transaction over a driver connection
        self._committed = committed  # told how many works each COMMIT made durable
        self._batch_max = batch_max
        self._lock = threading.Lock()
        self._queue: deque[_Writer] = deque()
        self._leading = False  # a writer leads; while False the queue is empty
        self._leader: int | None = None  # the leading thread
        self._pooled: PoolProxiedConnection | None = None
        self._pool: Any = None
        self.commits = 0  # COMMITs that succeeded, and the works they made durable
        self.works_committed = 0

    @property
    def waiting(self) -> int:
        """Writers queued, not yet taken into a batch."""
        return len(self._queue)

    def run_once(self, work: Callable[[Any], Any]) -> Outcome:
        """One attempt of `work(tx)` in a batch: its result and its after-commit hooks once
        the batch has committed, or its exception (the batch's, when the COMMIT failed)."""
        return self._submit(_Writer(work, solo=False))

    def run_alone(self, work: Callable[[], Outcome]) -> Outcome:
        """Run `work` (a transaction on a connection of its own) in the queue's order, between
        batches, on the caller's thread."""
        return self._submit(_Writer(work, solo=True))

    def close(self) -> None:
        """Give the group's connection back (a batch still running keeps it until it ends)."""
        with self._lock:
            pooled, self._pooled = self._pooled, None
        if pooled is not None and not self._leading:
            pooled.close()

    def _submit(self, writer: _Writer) -> Outcome:
        if self._leader == threading.get_ident():
            raise RuntimeError("a transaction cannot run another transaction inside it")
        with self._lock:
            self._queue.append(writer)
            leads = writer.lead = not self._leading
            self._leading = True
        if not leads:
            self._wait(writer)
            if not writer.lead:
                return writer.answer()
        self._lead(writer)
        return writer.answer()

    def _wait(self, writer: _Writer) -> None:
        """Wait to be answered or to lead; give up, as SQLite's busy timeout would, only while
        no batch has taken the work (a writer ahead that waits on this caller's thread)."""
        if writer.done.acquire(timeout=_WAIT_SECONDS_MAX):
            return
        with self._lock:
            if not writer.lead and writer in self._queue:
                self._queue.remove(writer)
                raise sqlite3.OperationalError("database is locked (the writer queue is stuck)")
        writer.done.acquire()

    def _lead(self, first: _Writer) -> None:
        """Run the batch `first` opens, answer its writers, hand the lead on."""
        self._leader = threading.get_ident()
        taken: list[_Writer] = []
        durable = 0
        try:
            if first.solo:
                taken.append(self._take() or first)
                first.outcome = first.context.run(first.work)
            else:
                durable = self._batch(taken)
        except BaseException as exc:  # BEGIN failed, or the leading thread was interrupted
            self._abandon(first, taken, exc)
        finally:
            self._leader = None
            self._hand_over(first, taken)
        if durable:
            self._committed(durable)

    def _abandon(self, first: _Writer, taken: list[_Writer], exc: BaseException) -> None:
        """Roll the batch back; every writer in it fails with `exc` (or, when `exc` only stops
        the leading thread, with `BatchAbandoned`, which `Database.run` retries)."""
        connection = None if self._pooled is None else self._pooled.dbapi_connection
        if connection is not None and connection.in_transaction:
            connection.rollback()
        shared = exc if isinstance(exc, Exception) else BatchAbandoned("the batch was stopped")
        for writer in taken:
            writer.outcome, writer.error = None, exc if writer is first else shared

    def _hand_over(self, first: _Writer, taken: list[_Writer]) -> None:
        with self._lock:
            following = self._queue[0] if self._queue else None
            if following is None:
                self._leading = False
            else:
                following.lead = True
        for writer in taken:
            if writer is not first:
                writer.done.release()
        if following is not None:
            following.done.release()

    def _take(self, *, batchable: bool = False) -> _Writer | None:
        """The writer at the front of the queue, taken off it (with `batchable`, only when it
        can join a batch)."""
        with self._lock:
            if not self._queue or (batchable and self._queue[0].solo):
                return None
            return self._queue.popleft()

    def _connection(self) -> Any:
        """The group's own driver connection, opened anew if the engine's pool was replaced."""
        if self._pooled is None or self._pool is not self._engine.pool:
            if self._pooled is not None:
                self._pooled.close()
            self._pool = self._engine.pool
            self._pooled = self._engine.raw_connection()
        return self._pooled.dbapi_connection

    def _batch(self, taken: list[_Writer]) -> int:
        """Run queued works in one transaction until the queue is empty or the batch is full,
        then commit. `taken` collects every writer this batch answers; returns how many works
        the COMMIT made durable."""
        connection = self._connection()
        members: list[_Writer] = []  # works whose changes the open transaction holds
        writer = self._take()
        while writer is not None:
            taken.append(writer)
            if self._run(connection, writer, first=not members):
                members.append(writer)
            elif members and not connection.in_transaction:
                # SQLite rolled the whole transaction back (disk full, I/O error): the works
                # before this one are gone too, and fail with its error.
                for member in members:
                    member.outcome, member.error = None, writer.error
                members = []
            elif members:
                members.append(writer)  # refused on the batch's state: answered after COMMIT
            writer = self._take(batchable=True) if len(taken) < self._batch_max else None
        return self._commit(connection, members) if members else 0

    def _run(self, connection: Any, writer: _Writer, *, first: bool) -> bool:
        """Run one work (`first` in its transaction, or in a savepoint after others); True when
        its changes stay in the transaction."""
        tx = self._transaction(connection)
        # SQLite's write lock up front: a writer waits its turn instead of failing on upgrade.
        tx.cursor.execute("BEGIN IMMEDIATE" if first else "SAVEPOINT " + _SAVEPOINT)
        try:
            result = writer.context.run(writer.work, tx)
            tx.verify()
        except Exception as exc:
            writer.error = exc
            if not first and connection.in_transaction:
                tx.cursor.execute("ROLLBACK TO " + _SAVEPOINT)
                tx.cursor.execute("RELEASE " + _SAVEPOINT)
            elif connection.in_transaction:
                connection.rollback()  # the first work of its transaction: nothing else in it
            return False
        if not first:
            tx.cursor.execute("RELEASE " + _SAVEPOINT)
        writer.outcome = (result, tx.committed_hooks)
        return True

    def _commit(self, connection: Any, members: list[_Writer]) -> int:
        try:
            connection.commit()
        except Exception as exc:
            if connection.in_transaction:
                connection.rollback()
            for member in members:
                member.outcome, member.error = None, exc
            return 0
        self.commits += 1
        self.works_committed += len(members)
        return len(members)
