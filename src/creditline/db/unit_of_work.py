"""One use case, one transaction: `Database.run(fn)` commits once or rolls back, with bounded
retry when the store reports a serialization failure, a deadlock or a lost race on a unique key.

Services never commit; they hand a function of a `Transaction` to `run`. Commands run on a
pooled driver connection (SQLAlchemy's pool, no per-call execution machinery: see
docs/decisions/0001); reads get a SQLAlchemy `Connection` as well, for Core queries.
"""

from __future__ import annotations

import datetime as dt
import json
import operator
import random
import sqlite3
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import partial
from typing import Any, TypeVar, cast

import psycopg
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

from creditline.db.checkpoints import Checkpointer
from creditline.db.engine import READ_ONLY_OPTION
from creditline.db.group_commit import BatchAbandoned, GroupCommit
from creditline.db.one_statement import (
    OneStatement,
    OneStatements,
    PipelinedWrites,
    pipelined_transaction,
)
from creditline.kernel.clock import utc_text
from creditline.kernel.errors import Busy
from creditline.kernel.invariant import InvariantViolation, invariant

T = TypeVar("T")
# What one attempt of a use case leaves: its result and the hooks to run after its commit.
_Outcome = tuple[T, list[Callable[[], None]]]

RETRY_ATTEMPTS_MAX = 12
RETRY_BACKOFF_STEP_SECONDS = 0.0125  # attempt n sleeps a random 0 … n × step

# PostgreSQL SQLSTATEs after which the whole transaction may simply run again.
_RETRYABLE_SQLSTATES = {"40001", "40P01"}
# The server went away (class 08, or shut down by an administrator).
_SERVER_GONE_SQLSTATES = {"57P01", "57P02", "57P03"}


class Prepared:
    """A Core statement compiled once per dialect, run on the driver's cursor.

    The hot paths of the ledger run a handful of small statements per transaction; going
    through the driver directly keeps the client's CPU per transaction close to raw SQL.
    """

    def __init__(self, statement: ClauseElement, engine: Engine) -> None:
        compiled = cast(SQLCompiler, statement.compile(dialect=engine.dialect))
        self.sql = str(compiled)
        self.keys: tuple[str, ...] | None = (
            tuple(compiled.positiontup or ()) if compiled.positional else None
        )
        # Built once: picking the values by key is a third of a hold's binding time otherwise.
        self._pick: Callable[[Mapping[str, Any]], tuple[Any, ...]] | None = (
            None if self.keys is None else _picker(self.keys)
        )
        # Literals in the statement (`version + 1`, `status = 'held'`) are bound parameters too.
        self.constants = {
            name: compiled.params[name]
            for name, bind in compiled.binds.items()
            if not bind.required and name in compiled.params
        }

    def bind(self, params: Mapping[str, Any]) -> Any:
        """The parameters in the order (or by the names) the driver wants."""
        merged = {**self.constants, **params} if self.constants else params
        if self._pick is None:
            return merged
        return self._pick(merged)


def _picker(keys: tuple[str, ...]) -> Callable[[Mapping[str, Any]], tuple[Any, ...]]:
    """A function of a mapping that returns its values at `keys`, in order, as a tuple."""
    if len(keys) == 1:
        (key,) = keys
        return lambda params: (params[key],)
    if not keys:
        return lambda params: ()
    return operator.itemgetter(*keys)


class Transaction:
    """What a use case sees of the store: the driver's cursor for prepared statements, and in
    reads a SQLAlchemy `Connection` for Core queries. In a PostgreSQL pipeline the writes wait
    for the next read or the commit (`PipelinedWrites`)."""

    def __init__(
        self,
        dbapi_connection: Any,
        dialect: str,
        connection: Connection | None = None,
        pipeline: Any = None,
        one_statements: OneStatements | None = None,
    ) -> None:
        self._connection = connection
        self._dbapi_connection = dbapi_connection
        self.dialect = dialect
        self._cursor = dbapi_connection.cursor()
        self._write_cursor = dbapi_connection.cursor()
        writes = None if pipeline is None else (pipeline, self._write_cursor, one_statements)
        self._writes = None if writes is None else PipelinedWrites(dbapi_connection, *writes)
        self._pipeline = pipeline
        # `batched`: the writes waiting, by statement and whether their rows are checked.
        self._batch: dict[tuple[Prepared, bool], tuple[list[Mapping[str, Any]], list[str]]] = {}
        self._batching = False
        self._checked: list[tuple[Any, int, list[str]]] = []  # (cursor, rows, messages)
        self._last_time: tuple[datetime | None, Any] = (None, None)
        self.committed_hooks: list[Callable[[], None]] = []

    @property
    def cursor(self) -> Any:
        """The driver's cursor for reads (the writes waiting in a pipeline go first)."""
        self._send_waiting()
        return self._cursor

    def _send_waiting(self) -> None:
        """Send the writes that wait (a batch's, a pipeline's): a read must see them."""
        if self._batch:
            self._send_batch()
        if self._writes is not None and self._writes.pending:
            self._writes.flush()

    def after_commit(self, hook: Callable[[], None]) -> None:
        """Run `hook` once this transaction has committed (never after a rollback, and not for
        an attempt that is retried): work that must follow the change but not hold its locks."""
        self.committed_hooks.append(hook)

    @property
    def connection(self) -> Connection:
        """The SQLAlchemy connection (reads only: commands run on the driver alone)."""
        if self._connection is None:
            raise RuntimeError("Core queries need Database.read, or Database.run(core=True)")
        if self._batch:
            self._send_batch()
        return self._connection

    @contextmanager
    def batched(self) -> Iterator[None]:
        """Writes sent meanwhile wait, and go as one `executemany` per statement, the
        statements in the order each was first sent, before the next read or when the block
        ends (a chunk of a book review: its changes' line updates, journal entries, decisions,
        notices and keys, each statement's rows in the order sent). For writes whose rows
        depend on another statement's rows only through reads, which send what waits first;
        each row an `expect_one` sends must match at most one row (by key): their sum is
        checked."""
        self._batching = True
        try:
            yield
            self._send_batch()
        finally:
            self._batching = False
            self._batch = {}

    def _send_batch(self) -> None:
        batch, self._batch = self._batch, {}
        if self._writes is not None and self._writes.pending:
            self._writes.flush()
        for (prepared, checked), (rows, messages) in batch.items():
            # A checked statement's row count is its cursor's: read at the pipeline's sync.
            cursor = self._dbapi_connection.cursor() if checked else self._write_cursor
            cursor.executemany(prepared.sql, [prepared.bind(row) for row in rows])
            if checked:
                self._checked.append((cursor, len(rows), messages))
        if self._writes is None:
            self._check_counts()

    def _check_counts(self) -> None:
        for cursor, expected, messages in self._checked:
            invariant(cursor.rowcount == expected, "; ".join(messages))
        self._checked.clear()

    def time(self, value: datetime | None) -> Any:
        """A timestamp as the driver wants it for a column of `UtcDateTime`."""
        if value is None or self.dialect != "sqlite":
            return value
        if self._last_time[0] is value:  # a command stamps all its rows with one `now`
            return self._last_time[1]
        text = utc_text(value, " ")  # SQLITE_TIME_FORMAT
        self._last_time = (value, text)
        return text

    @staticmethod
    def read_time(value: Any) -> datetime | None:
        """A timestamp read through the driver, as tz-aware UTC."""
        if value is None:
            return None
        moment: datetime = datetime.fromisoformat(value) if isinstance(value, str) else value
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)

    def values(self, items: list[str]) -> Any:
        """A list of strings bound as one parameter of `portable.one_of`: an array on
        PostgreSQL, JSON text on SQLite."""
        return json.dumps(items) if self.dialect == "sqlite" else items

    def all(self, prepared: Prepared, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """Run a read and return every row."""
        self.cursor.execute(prepared.sql, prepared.bind(params))
        return [tuple(row) for row in self.cursor.fetchall()]

    def date(self, value: dt.date | None) -> Any:
        """A calendar date as the driver wants it for a `Date` column (ISO text on SQLite)."""
        if value is None or self.dialect != "sqlite":
            return value
        return value.isoformat()

    @staticmethod
    def read_date(value: Any) -> dt.date | None:
        """A calendar date read through the driver."""
        if value is None or type(value) is dt.date:
            return value
        return dt.date.fromisoformat(value)

    def lock_key(self, key: str) -> None:
        """Hold a lock on `key` until this transaction ends: writers that lock the same key run
        one after the other. PostgreSQL takes a transaction-scoped advisory lock; SQLite's
        `BEGIN IMMEDIATE` already runs one writer at a time."""
        if self.dialect == "postgresql":
            self.cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (key,))
            self.cursor.fetchone()

    def execute(self, prepared: Prepared, params: Mapping[str, Any]) -> None:
        """Send a write whose result nobody reads (in a pipeline it waits for the next read or
        the commit; `params` must not change meanwhile)."""
        if self._batching:
            self._batch.setdefault((prepared, False), ([], []))[0].append(params)
            return
        if self._writes is not None:
            self._writes.pending.append((prepared, params, None))
            return
        self._write_cursor.execute(prepared.sql, prepared.bind(params))

    def execute_many(self, prepared: Prepared, rows: Sequence[Mapping[str, Any]]) -> None:
        """Send one write for each of `rows` in one call (a batch's records), unread, after
        the writes already waiting in a pipeline."""
        if rows:
            if self._batch:
                self._send_batch()
            if self._writes is not None and self._writes.pending:
                self._writes.flush()
            self._write_cursor.executemany(prepared.sql, [prepared.bind(row) for row in rows])

    @property
    def pipelined(self) -> bool:
        """True in a PostgreSQL pipeline, where a read waits for its answer only when asked."""
        return self._pipeline is not None

    def read_ahead(
        self, prepared: Prepared, params: Mapping[str, Any]
    ) -> Callable[[], list[tuple[Any, ...]]]:
        """Send a read now and take its rows later, from the function returned. In a pipeline
        the read travels with the next one and both are answered in one wait (a command's
        idempotency lookup with its line's lock); elsewhere it runs now."""
        if self._pipeline is None:
            rows = self.all(prepared, params)
            return lambda: rows
        self._send_waiting()
        cursor = self._dbapi_connection.cursor()
        cursor.execute(prepared.sql, prepared.bind(params))
        # Answered already when a later read was; else fetching sends what waits and waits.
        return lambda: [tuple(row) for row in cursor.fetchall()]

    def one(self, prepared: Prepared, params: Mapping[str, Any]) -> tuple[Any, ...] | None:
        """Run a read and return its first row (None when there is none)."""
        cursor = self.cursor
        cursor.execute(prepared.sql, prepared.bind(params))
        row = cursor.fetchone()
        return tuple(row) if row is not None else None

    def expect_one(self, message: str, prepared: Prepared, params: Mapping[str, Any]) -> None:
        """Send a write that must change exactly one row; checked before the commit."""
        if self._batching:
            rows, messages = self._batch.setdefault((prepared, True), ([], []))
            rows.append(params)
            messages.append(message)
            return
        if self._writes is not None:
            self._writes.pending.append((prepared, params, message))
            return
        self._write_cursor.execute(prepared.sql, prepared.bind(params))
        invariant(self._write_cursor.rowcount == 1, message)

    def verify(self) -> None:
        """Send the writes still waiting and check what `expect_one` promised."""
        if self._batch:
            self._send_batch()
        if self._writes is not None:
            self._writes.verify()
            if self._checked:
                self._pipeline.sync()
                self._check_counts()

    def broken_guard(self, exc: BaseException) -> InvariantViolation | None:
        """The invariant a one-statement guard stood for, when `exc` is that guard failing."""
        return None if self._writes is None else self._writes.broken_guard(exc)


def _uncounted(works: int) -> None:
    """Commits need no counting where no thread checkpoints (PostgreSQL, or SQLite inline)."""


def is_disconnect(exc: BaseException) -> bool:
    """True when the connection to PostgreSQL broke (no SQLSTATE: the client lost it)."""
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        exc = exc.orig
    if not isinstance(exc, psycopg.OperationalError):
        return False
    state = exc.sqlstate
    return state is None or state.startswith("08") or state in _SERVER_GONE_SQLSTATES


def is_retryable(exc: BaseException) -> bool:
    """True for errors after which running the same transaction again is correct."""
    if is_disconnect(exc) or isinstance(exc, BatchAbandoned):
        return True  # a retry replays (by idempotency key) or redoes what did not commit
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        exc = exc.orig
    if isinstance(exc, psycopg.Error):
        return exc.sqlstate in _RETRYABLE_SQLSTATES or (
            isinstance(exc, psycopg.errors.UniqueViolation)
            and exc.diag.constraint_name == "pk_idempotency_keys"
        )
    if isinstance(exc, sqlite3.OperationalError):
        return "locked" in str(exc) or "busy" in str(exc)
    return False


def is_store_full(exc: BaseException) -> bool:
    """True when the store has no room left: SQLite's disk or `max_page_count` is full, or
    PostgreSQL's disk (SQLSTATE 53100). Nothing of the transaction was kept."""
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        exc = exc.orig
    if isinstance(exc, sqlite3.OperationalError):
        return "database or disk is full" in str(exc)
    return isinstance(exc, psycopg.Error) and exc.sqlstate == "53100"


class StoreUnavailable(Busy):
    """The store did not answer (it is restarting, or the network to it is down)."""

    code = "store_unavailable"


class StoreFull(Busy):
    """The store has no room for the change; it was not made, and the books are intact."""

    code = "store_full"


class Database:
    """Owns the engine; runs use cases in transactions. On SQLite, concurrent use cases share
    COMMITs (`group_commit`) and WAL checkpoints run on a thread (docs/decisions/0029)."""

    def __init__(
        self, engine: Engine, *, group_commit: bool = True, background_checkpoints: bool = True
    ) -> None:
        self.engine = engine
        self._one_statements = OneStatements()
        sqlite = engine.dialect.name == "sqlite"
        self.checkpointer = Checkpointer(engine) if sqlite and background_checkpoints else None
        self._committed = self.checkpointer.committed if self.checkpointer else _uncounted
        self.group_commit: GroupCommit | None = None  # SQLite's writer queue
        if sqlite and group_commit:
            make_tx = partial(Transaction, dialect="sqlite")
            self.group_commit = GroupCommit(engine, make_tx, self._committed)

    def close(self) -> None:
        """Stop the background work; give back the connections kept (not the engine's pool)."""
        if self.group_commit is not None:
            self.group_commit.close()
        if self.checkpointer is not None:
            self.checkpointer.close()

    @property
    def dialect(self) -> str:
        """The store's dialect name: `sqlite` or `postgresql`."""
        return self.engine.dialect.name

    def prepare(self, statement: ClauseElement) -> Prepared:
        """Compile `statement` once for this store's dialect."""
        return Prepared(statement, self.engine)

    def one_statement(
        self,
        parts: Sequence[tuple[str, ClauseElement]],
        statement: ClauseElement,
        guarded: Sequence[str],
        guard: tuple[str, str],
    ) -> None:
        """On PostgreSQL, send `parts` as `statement` whenever a command's writes end with them
        (see `OneStatement`). SQLite has no data-modifying CTEs: there they stay apart."""
        if self.dialect == "postgresql":
            self._one_statements.add(OneStatement(parts, statement, guarded, guard, self.engine))

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        """A read-only transaction with one consistent view of the store (reports, listings);
        a store that does not answer is `store_unavailable`."""
        try:
            with self.engine.connect() as connection:
                connection = connection.execution_options(**{READ_ONLY_OPTION: True})
                if self.dialect == "postgresql":
                    connection = connection.execution_options(isolation_level="REPEATABLE READ")
                with connection.begin():
                    yield connection
        except Exception as exc:
            if is_disconnect(exc):
                raise StoreUnavailable("the store does not answer; try again shortly") from exc
            raise

    def read(self, work: Callable[[Transaction], T]) -> T:
        """Run a read-only `work` in its own consistent transaction (again, once, if the pooled
        connection turns out to be broken)."""
        for attempt in (1, 2):
            try:
                with self.reading() as connection:
                    dbapi_connection = connection.connection.dbapi_connection
                    return work(Transaction(dbapi_connection, self.dialect, connection))
            except StoreUnavailable:
                if attempt == 2:
                    raise
                self.engine.dispose(close=False)
        raise AssertionError("unreachable")

    def run(self, work: Callable[[Transaction], T], *, core: bool = False) -> T:
        """Run `work` in one transaction and commit; retry it whole on a retryable error.

        With `core`, the transaction also carries a SQLAlchemy connection (`tx.connection`) for
        Core queries that must see the transaction's own writes (a review deciding on features
        that count the request being made); the hot path runs on the driver alone.
        """
        run_once = self._runner(core)
        for attempt in range(RETRY_ATTEMPTS_MAX):
            try:
                result, hooks = run_once(work)
            except Exception as exc:
                if is_store_full(exc):
                    raise StoreFull("the store has no room left; nothing was changed") from exc
                if not is_retryable(exc):
                    raise
                if attempt == RETRY_ATTEMPTS_MAX - 1 and is_disconnect(exc):
                    raise StoreUnavailable(
                        "the store does not answer: the request may not have been applied; "
                        "retry it with the same idempotency key",
                        attempts=RETRY_ATTEMPTS_MAX,
                    ) from exc
                if attempt == RETRY_ATTEMPTS_MAX - 1:
                    raise Busy(
                        "the store is busy: the request may not have been applied; "
                        "retry it with the same idempotency key",
                        attempts=RETRY_ATTEMPTS_MAX,
                    ) from exc
                time.sleep(random.uniform(0, RETRY_BACKOFF_STEP_SECONDS * (attempt + 1)))
                continue
            for hook in hooks:
                hook()
            return result
        raise AssertionError("unreachable")

    def _runner(self, core: bool) -> Callable[[Callable[[Transaction], T]], _Outcome[T]]:
        """How one attempt runs: on SQLite in the writer queue (a `core` transaction alone,
        on a connection of its own, between batches), elsewhere on a pooled connection."""
        group = self.group_commit
        if group is None:
            return self._run_once_core if core else self._run_once
        if core:
            return lambda work: group.run_alone(partial(self._run_once_core, work))
        return group.run_once

    def _run_once_core(self, work: Callable[[Transaction], T]) -> _Outcome[T]:
        try:
            with self.engine.connect() as connection, connection.begin():
                dbapi_connection = connection.connection.dbapi_connection
                tx = Transaction(dbapi_connection, self.dialect, connection)
                result = work(tx)
                tx.verify()
            self._committed(1)
            return result, tx.committed_hooks
        except BaseException as exc:
            if is_disconnect(exc):
                self.engine.dispose(close=False)
            raise

    def _run_once(self, work: Callable[[Transaction], T]) -> _Outcome[T]:
        pooled = self.engine.raw_connection()
        dbapi_connection = pooled.dbapi_connection
        try:
            if self.dialect == "postgresql":
                return self._run_pipelined(dbapi_connection, work)
            tx = Transaction(dbapi_connection, self.dialect)
            # Take SQLite's write lock up front: a writer waits its turn instead of failing
            # when it upgrades a read lock.
            tx.cursor.execute("BEGIN IMMEDIATE")
            result = work(tx)
            tx.verify()
            pooled.commit()
            self._committed(1)
            return result, tx.committed_hooks
        except BaseException as exc:
            if is_disconnect(exc):
                # The server went away: so did every pooled connection to it. Start a fresh
                # pool rather than spend the retries finding each stale connection.
                pooled.invalidate()
                self.engine.dispose(close=False)
            elif getattr(dbapi_connection, "closed", False):
                pooled.invalidate()  # closed by its own cleanup (`pipelined_transaction`)
            else:
                pooled.rollback()
            raise
        finally:
            pooled.close()  # back to the pool

    def _run_pipelined(
        self, dbapi_connection: Any, work: Callable[[Transaction], T]
    ) -> tuple[T, list[Callable[[], None]]]:
        """Pipeline mode: a command waits only for the reads it needs, its checked writes and
        the COMMIT (docs/decisions/0005); a hot shape's writes go as one statement (0030)."""
        tx = None
        try:
            with pipelined_transaction(dbapi_connection) as pipeline:
                shapes = self._one_statements
                tx = Transaction(dbapi_connection, self.dialect, None, pipeline, shapes)
                result = work(tx)
                tx.verify()
        except psycopg.errors.NotNullViolation as exc:
            broken = None if tx is None else tx.broken_guard(exc)
            if broken is not None:
                raise broken from exc
            raise
        return result, tx.committed_hooks
