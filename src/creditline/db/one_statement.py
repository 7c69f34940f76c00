"""Hot writes as one PostgreSQL statement each (docs/decisions/0030).

A hold writes five rows and a repayment seven, each an INSERT or UPDATE of its own. On
PostgreSQL every statement costs the client ~50 µs of CPU and the server its own parse, bind
and execute, pipelined or not; the stores therefore spell out their hot shapes as one statement
of data-modifying CTEs, and a transaction whose writes end with such a shape sends it instead.
The parts stay what their owners prepare (and what SQLite runs one by one); a shape is found
by the parts' SQL, so a part that changes without its shape only goes back to being sent alone.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Protocol, cast

import psycopg
from sqlalchemy import Engine
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

from creditline.kernel.invariant import InvariantViolation, invariant

_IDLE = psycopg.pq.TransactionStatus.IDLE


@contextmanager
def pipelined_transaction(connection: psycopg.Connection[Any]) -> Iterator[Any]:
    """One transaction in a psycopg pipeline, committed when the block ends without error.

    BEGIN waits for the first read and COMMIT goes with the last writes, so a hold waits
    twice (its key's lookup goes with its lock, docs/decisions/0032): psycopg's own BEGIN
    would wait for a sync of its own, and its commit() for another before the pipeline's exit
    syncs again (docs/performance.md §5). The connection is in autocommit for the block only,
    and is handed back idle, or closed.
    """
    failed = False
    try:
        connection.autocommit = True  # no BEGIN of psycopg's: ours is queued with the first read
        cursor = connection.cursor()
        with connection.pipeline() as pipeline:
            cursor.execute("BEGIN")
            yield pipeline
            cursor.execute("COMMIT")  # sent with the pipeline's closing sync
        # COMMIT of a transaction that failed answers ROLLBACK, not an error: a work that
        # swallowed a failed statement must not pass for committed.
        invariant(
            cursor.statusmessage == "COMMIT", f"the transaction ended in {cursor.statusmessage}"
        )
    except BaseException:
        failed = True
        raise
    finally:
        try:
            if connection.pgconn.transaction_status != _IDLE:
                connection.rollback()
            connection.autocommit = False
        except BaseException as cleanup:
            # Never back to the pool in autocommit (reads and `core` work rely on psycopg's
            # BEGIN), an interrupt during the rollback included: closed, it fails as a lost
            # connection, and the pool drops it. The block's own error, when it had one, is
            # the one the caller gets (it says what happened, and whether to retry), unless
            # the cleanup was interrupted.
            connection.close()
            if not failed or not isinstance(cleanup, Exception):
                raise


class OneStatement:
    """Writes a use case sends one after the other, spelled out as one PostgreSQL statement.

    `parts` are (prefix, statement) in the order the use case sends them, each statement as its
    owner prepares it; in `statement` (data-modifying CTEs) every bound name of a part carries
    that part's prefix. The writes of `guarded` parts must change exactly one row each: the
    statement itself fails (a NULL into the NOT NULL column `guard`, table and column) when one
    of them changed none, so nothing needs checking before COMMIT (docs/decisions/0030).
    """

    def __init__(
        self,
        parts: Sequence[tuple[str, ClauseElement]],
        statement: ClauseElement,
        guarded: Sequence[str],
        guard: tuple[str, str],
        engine: Engine,
    ) -> None:
        prefixes = [prefix for prefix, _ in parts]
        invariant(
            not any(a != b and b.startswith(a) for a in prefixes for b in prefixes),
            f"one statement's prefixes are ambiguous: {prefixes}",
        )
        self.parts_sql = tuple(str(part.compile(dialect=engine.dialect)) for _, part in parts)
        self.unguarded = tuple(i for i, prefix in enumerate(prefixes) if prefix not in guarded)
        self.guard = guard
        # `$n` placeholders, for `psycopg.RawCursor`: psycopg caches its parsing of `%(name)s`
        # only for statements of at most 4,096 characters and 50 parameters.
        dollar = type(engine.dialect)(paramstyle="numeric_dollar")  # type: ignore[call-arg]
        compiled = cast(SQLCompiler, statement.compile(dialect=dollar))
        self.sql = str(compiled)
        plan: list[tuple[int, Any]] = []
        for name in compiled.positiontup or ():
            if not compiled.binds[name].required and name in compiled.params:
                plan.append((-1, compiled.params[name]))  # a literal of the statement
                continue
            owners = [i for i, prefix in enumerate(prefixes) if name.startswith(prefix)]
            invariant(len(owners) == 1, f"{name} of one statement belongs to no part")
            plan.append((owners[0], name[len(prefixes[owners[0]]) :]))
        self.plan = tuple(plan)

    def bind(self, params_of_parts: Sequence[Mapping[str, Any]]) -> tuple[Any, ...]:
        """The statement's parameters, in order, from each part's own parameters."""
        return tuple(
            [value if part < 0 else params_of_parts[part][value] for part, value in self.plan]
        )


class OneStatements:
    """The shapes a database knows, by their parts' SQL, and the lengths to look for."""

    def __init__(self) -> None:
        self.by_parts: dict[tuple[str, ...], OneStatement] = {}
        self.lengths: tuple[int, ...] = ()

    def add(self, shape: OneStatement) -> None:
        """Know `shape` (again: a store built twice registers its shapes twice)."""
        self.by_parts[shape.parts_sql] = shape
        self.lengths = tuple(sorted({len(parts) for parts in self.by_parts}, reverse=True))


class Statement(Protocol):
    """A prepared statement as the writes need it (`unit_of_work.Prepared`)."""

    sql: str

    def bind(self, params: Mapping[str, Any]) -> Any: ...


class PipelinedWrites:
    """A transaction's writes in a PostgreSQL pipeline. They wait until the next read or the
    commit; then a tail of them that is a known shape goes as its one statement, the others
    one by one in order, and the row counts `expect_one` promised are checked at one sync."""

    def __init__(
        self, connection: Any, pipeline: Any, cursor: Any, shapes: OneStatements | None
    ) -> None:
        self._connection = connection
        self._pipeline = pipeline
        self._cursor = cursor
        self._raw_cursor: Any = None
        self._shapes = shapes
        self.pending: list[tuple[Statement, Mapping[str, Any], str | None]] = []
        self._expected: list[tuple[Any, str]] = []
        self._guarded: list[tuple[OneStatement, list[str]]] = []

    def flush(self) -> None:
        """Send the waiting writes."""
        pending, self.pending = self.pending, []
        shapes = self._shapes or OneStatements()
        for length in shapes.lengths:
            if length > len(pending):
                continue
            head, tail = pending[: len(pending) - length], pending[len(pending) - length :]
            shape = shapes.by_parts.get(tuple([statement.sql for statement, _, _ in tail]))
            if shape is None or any(tail[i][2] is not None for i in shape.unguarded):
                continue
            for write in head:
                self._send(*write)
            if self._raw_cursor is None:
                self._raw_cursor = psycopg.RawCursor(self._connection)
            self._raw_cursor.execute(shape.sql, shape.bind([params for _, params, _ in tail]))
            self._guarded.append((shape, [message for _, _, message in tail if message]))
            return
        for write in pending:
            self._send(*write)

    def _send(self, statement: Statement, params: Mapping[str, Any], message: str | None) -> None:
        if message is None:
            self._cursor.execute(statement.sql, statement.bind(params))
            return
        cursor = self._connection.cursor()  # its own: its row count is read at the sync
        cursor.execute(statement.sql, statement.bind(params))
        self._expected.append((cursor, message))

    def verify(self) -> None:
        """Send what still waits; check the row counts of the writes sent alone (a statement
        with a guard checks itself on the server, and its error comes with the COMMIT)."""
        if self.pending:
            self.flush()
        if not self._expected:
            return
        self._pipeline.sync()
        for cursor, message in self._expected:
            invariant(cursor.rowcount == 1, message)
        self._expected.clear()

    def broken_guard(self, exc: BaseException) -> InvariantViolation | None:
        """The invariant a guard stood for, when `exc` is a sent shape's guard failing."""
        if not self._guarded or not isinstance(exc, psycopg.errors.NotNullViolation):
            return None
        where = (exc.diag.table_name, exc.diag.column_name)
        for shape, messages in self._guarded:
            if shape.guard == where:
                return InvariantViolation("an update missed its row: " + "; ".join(messages))
        return None
