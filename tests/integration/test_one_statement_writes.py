"""A hold's and a repayment's writes as one PostgreSQL statement each (docs/decisions/0030).

On PostgreSQL a hold's five writes and a repayment's seven go as one statement of
data-modifying CTEs; on SQLite they stay apart. Either way an update that misses its row (a
line whose version changed after it was read, an instalment that is not where the repayment
left it) fails the command, and nothing of it is kept: no drawdown, journal entry, message,
repayment or idempotency key. The misses are made inside the command's own transaction, after
its reads: the row changes under the command exactly as a writer that skipped the lock would
change it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from itertools import pairwise
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import bindparam, select, update

from creditline.bootstrap import Container
from creditline.db.metadata import metadata
from creditline.db.one_statement import pipelined_transaction
from creditline.db.unit_of_work import Transaction
from creditline.kernel.actors import Actor
from creditline.kernel.errors import DomainError, IdempotencyKeyReused
from creditline.kernel.invariant import InvariantViolation
from creditline.ledger.model import Line
from creditline.ledger.tables import lines
from creditline.loans.model import LoanState
from creditline.loans.tables import instalments


def everything(c: Container) -> dict[str, list[str]]:
    """Every row of every table, to prove that a failed command kept nothing."""
    with c.db.engine.connect() as connection:
        return {
            table.name: sorted(repr(tuple(row)) for row in connection.execute(select(table)))
            for table in metadata.sorted_tables
        }


@pytest.fixture
def loan(container: Container, agent: Actor, borrower: Actor) -> dict[str, str]:
    """A 4000.00 interest-free loan over 4 months on a 10000.00 line, 1000.00 of principal due
    each month: a repayment of 100.00 pays towards the first instalment only."""
    ledger = container.ledger
    line_id = ledger.open_line(agent, "open", borrower.subject, "CNY", "10000.00").document["id"]
    held = ledger.place_hold(borrower, "hold", line_id, "4000.00", 4, method="equal_principal")
    held = held.document
    loan_id = container.loans.post_drawdown(borrower, "post", held["id"]).document["loan_id"]
    return {"line": line_id, "loan": loan_id}


def _after_the_line_is_read(
    c: Container, monkeypatch: pytest.MonkeyPatch, change: Callable[[Transaction, Line], None]
) -> None:
    """Make `change` in the command's transaction right after it reads (and locks) the line."""
    store = c.ledger.store
    lock_line = store.lock_line

    def locked_then_changed(tx: Transaction, line_id: str) -> Line | None:
        line = lock_line(tx, line_id)
        if line is not None:
            change(tx, line)
        return line

    monkeypatch.setattr(store, "lock_line", locked_then_changed)


def _bump_version(c: Container) -> Callable[[Transaction, Line], None]:
    """A writer that moves the line's version on, as one that skipped the lock would."""
    bump = c.db.prepare(
        update(lines).where(lines.c.id == bindparam("id")).values(version=lines.c.version + 1)
    )
    return lambda tx, line: tx.execute(bump, {"id": line.id})


def test_a_hold_on_a_line_whose_version_moved_fails_and_keeps_nothing(
    container: Container, agent: Actor, borrower: Actor, monkeypatch: pytest.MonkeyPatch
) -> None:
    line_id = container.ledger.open_line(agent, "open", borrower.subject, "CNY", "5000.00")
    line_id = line_id.document["id"]
    before = everything(container)
    _after_the_line_is_read(container, monkeypatch, _bump_version(container))
    with pytest.raises(InvariantViolation, match=f"line {line_id} moved under its lock"):
        container.ledger.place_hold(borrower, "hold", line_id, "100.00", 12)
    assert everything(container) == before
    monkeypatch.undo()  # the same key, now without the interfering writer, is judged afresh
    placed = container.ledger.place_hold(borrower, "hold", line_id, "100.00", 12)
    assert not placed.replayed and placed.document["line"]["held"] == "100.00"


def test_a_repayment_on_a_line_whose_version_moved_fails_and_keeps_nothing(
    container: Container, borrower: Actor, loan: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    before = everything(container)
    _after_the_line_is_read(container, monkeypatch, _bump_version(container))
    with pytest.raises(InvariantViolation, match=f"line {loan['line']} moved under its lock"):
        container.loans.repay(borrower, "repay", loan["loan"], "100.00")
    assert everything(container) == before


def test_a_repayment_whose_instalment_moved_fails_and_keeps_nothing(
    container: Container, borrower: Actor, loan: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The instalments are renumbered after the repayment read them: its instalment update
    # finds no row. On PostgreSQL the one statement's guard joins that update's RETURNING.
    store = container.loans.store
    load_ahead = store.load_ahead
    renumber = container.db.prepare(
        update(instalments)
        .where(instalments.c.loan_id == bindparam("id"))
        .values(number=instalments.c.number + 100)
    )

    def loaded_then_renumbered(tx: Transaction, loan_id: str) -> Callable[[], LoanState | None]:
        loaded = load_ahead(tx, loan_id)

        def read() -> LoanState | None:
            state = loaded()
            tx.execute(renumber, {"id": loan_id})
            return state

        return read

    before = everything(container)
    monkeypatch.setattr(store, "load_ahead", loaded_then_renumbered)
    with pytest.raises(InvariantViolation, match=f"instalment 1 of loan {loan['loan']}"):
        container.loans.repay(borrower, "repay", loan["loan"], "100.00")
    assert everything(container) == before


@pytest.fixture
def statements(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The SQL of every statement psycopg's cursors send from here on."""
    sent: list[str] = []
    execute = psycopg.Cursor.execute

    def recorded(cursor: Any, query: Any, params: Any = None, **kwargs: Any) -> Any:
        sent.append(str(query))
        return execute(cursor, query, params, **kwargs)

    monkeypatch.setattr(psycopg.Cursor, "execute", recorded)
    yield sent


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_on_postgresql_a_hold_and_a_repayment_write_in_one_statement_each(
    container: Container, agent: Actor, borrower: Actor, loan: dict[str, str], statements: list[str]
) -> None:
    statements.clear()
    hold = container.ledger.place_hold(borrower, "hold-2", loan["line"], "100.00", 12)
    # BEGIN, the idempotency lookup, the line's lock, every write in one statement, COMMIT.
    assert len(statements) == 5 and statements[3].startswith("WITH moved_line AS")
    assert (statements[0], statements[4]) == ("BEGIN", "COMMIT")
    statements.clear()
    repaid = container.loans.repay(borrower, "repay", loan["loan"], "100.00")
    # The lookup, the loan's lock, the loan and its instalments, the line's lock, the writes.
    assert len(statements) == 8 and "saved_instalment" in statements[6]
    # What the one statements wrote, read back: 10000.00 - 4000.00 - 100.00 held + 100.00 repaid.
    line = container.ledger.get_line(agent, loan["line"])
    assert (line["held"], line["principal_outstanding"], line["available"]) == (
        "100.00",
        "3900.00",
        "6000.00",
    )
    assert hold.document["line"]["held"] == "100.00"
    assert repaid.document["allocation"]["principal"] == "100.00"
    assert container.reconciler.run() == []  # snapshot = journal, utilisation = loans


def _waits(trace: str) -> int:
    """How many times the client waited for the server in a libpq trace: each run of
    messages it sent that the server then answered."""
    senders = [line.split("\t", 1)[0] for line in trace.splitlines() if line]
    return sum(1 for pair in pairwise(senders) if pair == ("F", "B"))


@pytest.fixture
def traced(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Callable[[Callable[[], Any]], str]:
    """`traced(call)`: the libpq trace of every connection `call` sends statements on."""
    execute = psycopg.Cursor.execute
    tracing: dict[int, Any] = {}

    def traced_execute(cursor: Any, query: Any, params: Any = None, **kwargs: Any) -> Any:
        pgconn = cursor.connection.pgconn
        if tracing and id(pgconn) not in tracing:
            tracing[id(pgconn)] = pgconn
            pgconn.trace(tracing[0].fileno())
            pgconn.set_trace_flags(psycopg.pq.Trace.SUPPRESS_TIMESTAMPS)
        return execute(cursor, query, params, **kwargs)

    monkeypatch.setattr(psycopg.Cursor, "execute", traced_execute)

    def trace(call: Callable[[], Any]) -> str:
        path = tmp_path / f"libpq-{len(list(tmp_path.iterdir()))}.trace"
        with path.open("w") as file:
            tracing[0] = file
            try:
                call()
            finally:
                for key, pgconn in list(tracing.items()):
                    if key != 0:
                        pgconn.untrace()  # flushes libpq's buffer into the file
                tracing.clear()
        return path.read_text()

    return trace


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_on_postgresql_a_hold_waits_twice_its_key_looked_up_with_its_lock(
    container: Container,
    borrower: Actor,
    loan: dict[str, str],
    traced: Callable[[Callable[[], Any]], str],
) -> None:
    """BEGIN, the key's lookup and the line's lock are answered in one wait, the one write
    statement and COMMIT in another (docs/decisions/0032); a repayment's key goes with its
    loan's lock the same way, and the loan's state with its line's lock."""
    ledger, loans = container.ledger, container.loans
    hold = traced(lambda: ledger.place_hold(borrower, "hold-2", loan["line"], "100.00", 12))
    assert _waits(hold) == 2, hold
    repay = traced(lambda: loans.repay(borrower, "repay", loan["loan"], "100.00"))
    # The lookup with the loan's lock; the loan's state and instalments with the line's lock;
    # the writes with COMMIT.
    assert _waits(repay) == 3, repay


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_on_postgresql_a_replay_answered_after_the_work_keeps_nothing_of_it(
    container: Container, borrower: Actor, loan: dict[str, str]
) -> None:
    """The key's lookup comes back with the line's lock, and the hold's work runs before it is
    judged: a replay must roll that work back, and a key used for another request too."""
    first = container.ledger.place_hold(borrower, "hold-2", loan["line"], "100.00", 12)
    before = everything(container)
    again = container.ledger.place_hold(borrower, "hold-2", loan["line"], "100.00", 12)
    assert again.replayed and again.text == first.text
    with pytest.raises(IdempotencyKeyReused):
        container.ledger.place_hold(borrower, "hold-2", loan["line"], "200.00", 12)
    assert everything(container) == before


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_on_postgresql_a_command_hands_its_connection_back_idle_and_out_of_autocommit(
    container: Container, agent: Actor, borrower: Actor, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A command sends BEGIN and COMMIT itself, in autocommit (one_statement.pipelined_
    # transaction); the pool's other users rely on psycopg's BEGIN. Committed, refused and
    # failed commands alike must hand the connection back as they found it.
    line_id = container.ledger.open_line(agent, "open", borrower.subject, "CNY", "5000.00")
    line_id = line_id.document["id"]
    held = container.ledger.place_hold(borrower, "held", line_id, "100.00", 12).document["line"]
    with pytest.raises(DomainError):
        container.ledger.place_hold(borrower, "refused", line_id, "9000.00", 12)
    _after_the_line_is_read(container, monkeypatch, _bump_version(container))
    with pytest.raises(InvariantViolation):
        container.ledger.place_hold(borrower, "failed", line_id, "100.00", 12)
    pooled = container.db.engine.raw_connection()  # one caller: the connection they all used
    try:
        connection = pooled.dbapi_connection
        assert connection is not None and not connection.autocommit
        assert connection.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    finally:
        pooled.close()
    line = container.ledger.get_line(agent, line_id)  # a read on that connection
    assert (line["held"], line["version"]) == ("100.00", held["version"])


class _InterruptedRollback(psycopg.Connection[Any]):
    """A connection whose ROLLBACK is done and then interrupted (Ctrl-C, a test's timeout)."""

    def rollback(self) -> None:
        super().rollback()
        raise KeyboardInterrupt


def test_a_transaction_interrupted_while_rolling_back_closes_its_connection(
    postgres_url: str,
) -> None:
    # Handed back in autocommit, the connection would commit a later `core` work statement by
    # statement; closed, the pool drops it.
    connection = _InterruptedRollback.connect(postgres_url.replace("+psycopg", ""))
    with pytest.raises(KeyboardInterrupt), pipelined_transaction(connection):
        connection.execute("SELECT 1")
        raise LookupError("a refusal")
    assert connection.closed


class _FailingRollback(psycopg.Connection[Any]):
    """A connection lost while it rolls back."""

    def rollback(self) -> None:
        raise psycopg.OperationalError("the connection is lost")


def test_a_failed_rollback_leaves_the_caller_the_blocks_own_error(postgres_url: str) -> None:
    # The refusal says what happened and that a retry would not help; the lost connection
    # during its rollback would say the opposite.
    connection = _FailingRollback.connect(postgres_url.replace("+psycopg", ""))
    with pytest.raises(LookupError, match="a refusal"), pipelined_transaction(connection):
        connection.execute("SELECT 1")
        raise LookupError("a refusal")
    assert connection.closed
    committed = _FailingRollback.connect(postgres_url.replace("+psycopg", ""))
    with pipelined_transaction(committed):  # nothing to roll back: the rollback is not called
        committed.execute("SELECT 1")
    assert not committed.closed and not committed.autocommit
    committed.close()


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_refusal_whose_rollback_fails_reaches_the_caller_as_a_refusal(
    container: Container, agent: Actor, borrower: Actor, monkeypatch: pytest.MonkeyPatch
) -> None:
    line_id = container.ledger.open_line(agent, "open", borrower.subject, "CNY", "5000.00")
    monkeypatch.setattr(psycopg.Connection, "rollback", _FailingRollback.rollback)
    with pytest.raises(DomainError) as refused:
        container.ledger.place_hold(borrower, "refused", line_id.document["id"], "9000.00", 12)
    assert refused.value.code == "insufficient_available_credit"
    monkeypatch.undo()
    line = container.ledger.get_line(agent, line_id.document["id"])  # on a connection that works
    assert (line["available"], line["held"]) == ("5000.00", "0.00")


def test_a_swallowed_failure_does_not_pass_for_a_commit(postgres_url: str) -> None:
    # PostgreSQL answers COMMIT of a failed transaction with ROLLBACK and no error.
    with psycopg.connect(postgres_url.replace("+psycopg", "")) as connection:
        connection.execute("CREATE TEMPORARY TABLE kept (id int PRIMARY KEY)")
        connection.commit()
        failed = pytest.raises(InvariantViolation, match="ROLLBACK")
        with failed, pipelined_transaction(connection) as pipeline:
            connection.execute("INSERT INTO kept VALUES (1)")
            connection.execute("INSERT INTO kept VALUES (1)")
            with pytest.raises(psycopg.errors.UniqueViolation):
                pipeline.sync()
        assert connection.execute("SELECT count(*) FROM kept").fetchone() == (0,)
        assert not connection.autocommit
