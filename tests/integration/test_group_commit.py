"""Group commit on SQLite (docs/decisions/0029): concurrent use cases share a COMMIT, each in its
own SAVEPOINT, and every caller is answered only once its batch has committed.

A batch is made deterministic with a gate: a first work that waits while the others queue
behind it, so that all of them run in the gate's transaction when it opens.
"""

from __future__ import annotations

import shutil
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import suite_settings
from sqlalchemy import func, select

from creditline.bootstrap import Container, build
from creditline.db.checkpoints import CHECKPOINT_AFTER_COMMITS, WAL_AUTOCHECKPOINT_PAGES
from creditline.db.commands import CommandResult
from creditline.db.commands import idempotency_keys as keys_table
from creditline.db.group_commit import GroupCommit
from creditline.db.unit_of_work import Transaction
from creditline.kernel.actors import Actor, Role
from creditline.kernel.clock import FixedClock
from creditline.kernel.errors import InsufficientAvailableCredit
from creditline.ledger import tables

WAIT_SECONDS_MAX = 30.0
AGENT = Actor("agent-1", Role.AGENT)
BORROWER = Actor("borrower-1", Role.BORROWER)
# A COMMIT that fails: a deferred foreign key is checked only then.
PROBE_TABLES = (
    "CREATE TABLE probe_parent (id INTEGER PRIMARY KEY)",
    "CREATE TABLE probe (id INTEGER PRIMARY KEY, parent INTEGER "
    "REFERENCES probe_parent (id) DEFERRABLE INITIALLY DEFERRED)",
)


@pytest.fixture
def sqlite_file(tmp_path: Path, sqlite_template: Path) -> Path:
    path = tmp_path / "creditline.db"
    shutil.copy(sqlite_template, path)
    with sqlite3.connect(path) as connection:
        for statement in PROBE_TABLES:
            connection.execute(statement)
    return path


@pytest.fixture
def book(sqlite_file: Path, clock: FixedClock) -> Iterator[Container]:
    built = build(suite_settings(f"sqlite:///{sqlite_file}"), clock, migrate=False)
    yield built
    built.close()


def until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS_MAX
    while not condition():
        assert time.monotonic() < deadline, f"waited {WAIT_SECONDS_MAX} s for {what}"
        time.sleep(0.001)


class Batch:
    """Works queued behind a gate that holds the lead; `run` opens the gate and returns what
    each caller was answered (a result or the exception it raised), by name."""

    def __init__(self, book: Container) -> None:
        group = book.db.group_commit
        assert isinstance(group, GroupCommit)
        self.group = group
        self.opened = threading.Event()
        self.answers: dict[str, Any] = {}
        self.threads: list[threading.Thread] = []
        entered = threading.Event()

        def gate(tx: Transaction) -> None:
            entered.set()
            self.opened.wait(WAIT_SECONDS_MAX)

        self.add("gate", lambda: book.db.run(gate))
        until(entered.is_set, "the gate to lead")

    def add(self, name: str, call: Callable[[], Any]) -> None:
        queued = self.group.waiting

        def answer() -> None:
            try:
                self.answers[name] = call()
            except Exception as exc:
                self.answers[name] = exc

        thread = threading.Thread(target=answer, name=name, daemon=True)
        self.threads.append(thread)
        thread.start()
        if name != "gate":
            until(lambda: self.group.waiting == queued + 1, f"{name} to queue")

    def run(self) -> dict[str, Any]:
        self.opened.set()
        for thread in self.threads:
            thread.join(WAIT_SECONDS_MAX)
            assert not thread.is_alive(), f"{thread.name} was never answered"
        return self.answers


def open_line(book: Container, limit: str = "1000.00") -> str:
    opened = book.ledger.open_line(AGENT, "open", BORROWER.subject, "CNY", limit)
    return str(opened.document["id"])


def hold(book: Container, key: str, line_id: str, amount: str) -> Callable[[], CommandResult]:
    return lambda: book.ledger.place_hold(BORROWER, key, line_id, amount, 12)


def held_and_count(book: Container, line_id: str) -> tuple[int, int, int]:
    """The line's held amount, its drawdowns and its journal's hold entries."""
    drawdowns, journal, lines = tables.drawdowns, tables.journal, tables.lines
    with book.db.reading() as connection:
        held = connection.execute(select(lines.c.held_minor).where(lines.c.id == line_id))
        count = select(func.count()).where(drawdowns.c.line_id == line_id)
        entries = select(func.count()).where(journal.c.line_id == line_id, journal.c.kind == "hold")
        return held.scalar_one(), connection.scalar(count) or 0, connection.scalar(entries) or 0


def test_concurrent_holds_are_each_committed_once(book: Container) -> None:
    line_ids = [open_line(book, "100000.00")]
    second = book.ledger.open_line(AGENT, "open-2", "borrower-2", "CNY", "100000.00")
    line_ids.append(str(second.document["id"]))
    owners = {line_ids[0]: BORROWER, line_ids[1]: Actor("borrower-2", Role.BORROWER)}
    threads_count, holds_each = 8, 25
    failures: list[BaseException] = []

    def holds(number: int) -> None:
        try:
            for n in range(holds_each):
                line_id = line_ids[(number + n) % 2]
                book.ledger.place_hold(owners[line_id], f"t{number}-{n}", line_id, "1.00", 12)
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=holds, args=(n,)) for n in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT_SECONDS_MAX)
    assert not failures
    total = threads_count * holds_each
    counted = [held_and_count(book, line_id) for line_id in line_ids]
    assert sum(c[0] for c in counted) == 100 * total  # 1.00 each, in fen
    assert sum(c[1] for c in counted) == total
    assert sum(c[2] for c in counted) == total
    with book.db.reading() as connection:
        assert connection.scalar(select(func.count()).select_from(keys_table)) == total + 2
    assert book.reconciler.run() == []


def test_a_refused_hold_in_a_batch_rolls_back_alone(book: Container) -> None:
    line_id = open_line(book)
    commits = book.db.group_commit.commits if book.db.group_commit else 0
    batch = Batch(book)
    batch.add("first", hold(book, "h1", line_id, "300.00"))
    batch.add("too much", hold(book, "h2", line_id, "800.00"))  # 700.00 left after the first
    batch.add("third", hold(book, "h3", line_id, "200.00"))
    answers = batch.run()
    assert isinstance(answers["too much"], InsufficientAvailableCredit)
    assert isinstance(answers["first"], CommandResult)
    assert isinstance(answers["third"], CommandResult)
    assert answers["third"].document["line"]["available"] == "500.00"
    assert held_and_count(book, line_id) == (50_000, 2, 2)
    assert book.db.group_commit is not None
    assert book.db.group_commit.commits == commits + 1  # gate, holds, refusal: one COMMIT


def test_a_replay_inside_a_batch_answers_with_the_first_response(book: Container) -> None:
    line_id = open_line(book)
    batch = Batch(book)
    batch.add("once", hold(book, "same", line_id, "100.00"))
    batch.add("again", hold(book, "same", line_id, "100.00"))
    answers = batch.run()
    assert not answers["once"].replayed
    assert answers["again"].replayed
    assert answers["again"].document == answers["once"].document
    assert held_and_count(book, line_id) == (10_000, 1, 1)


def test_a_failing_commit_fails_every_caller_and_writes_nothing(book: Container) -> None:
    line_id = open_line(book)
    ran: list[str] = []

    def orphan(tx: Transaction) -> None:
        tx.cursor.execute("INSERT INTO probe (id, parent) VALUES (1, 42)")  # no parent 42
        tx.after_commit(lambda: ran.append("orphan"))

    batch = Batch(book)
    batch.add("first", hold(book, "h1", line_id, "100.00"))
    batch.add("orphan", lambda: book.db.run(orphan))
    batch.add("third", hold(book, "h3", line_id, "200.00"))
    answers = batch.run()
    for name in ("gate", "first", "orphan", "third"):
        assert isinstance(answers[name], sqlite3.IntegrityError), name
    assert ran == []
    assert held_and_count(book, line_id) == (0, 0, 0)
    with book.db.reading() as connection:
        assert connection.exec_driver_sql("SELECT count(*) FROM probe").scalar() == 0
    # Nothing of the batch was kept: the same keys run afresh.
    assert not hold(book, "h1", line_id, "100.00")().replayed
    assert held_and_count(book, line_id) == (10_000, 1, 1)


def test_after_commit_hooks_run_once_the_batch_has_committed(book: Container) -> None:
    seen: dict[int, int] = {}

    def visible() -> int:
        """What another connection sees: only what is committed."""
        with book.db.reading() as connection:
            return int(connection.exec_driver_sql("SELECT count(*) FROM probe_parent").scalar_one())

    def parent(number: int) -> Callable[[Transaction], None]:
        def work(tx: Transaction) -> None:
            tx.cursor.execute("INSERT INTO probe_parent (id) VALUES (?)", (number,))
            tx.after_commit(lambda: seen.update({number: visible()}))

        return work

    batch = Batch(book)
    batch.add("first", lambda: book.db.run(parent(1)))
    batch.add("second", lambda: book.db.run(parent(2)))
    batch.run()
    assert seen == {1: 2, 2: 2}


def test_a_core_transaction_runs_alone_between_batches(book: Container) -> None:
    line_id = open_line(book)
    group = book.db.group_commit
    assert group is not None
    commits = group.commits

    def core(tx: Transaction) -> int:
        return int(tx.connection.exec_driver_sql("SELECT count(*) FROM drawdowns").scalar_one())

    batch = Batch(book)
    batch.add("before", hold(book, "h1", line_id, "100.00"))
    batch.add("core", lambda: book.db.run(core, core=True))
    batch.add("after", hold(book, "h2", line_id, "100.00"))
    answers = batch.run()
    assert answers["core"] == 1  # the batch before it had committed
    assert isinstance(answers["after"], CommandResult)
    assert group.commits == commits + 2  # the gate's batch, then the one after the core run


def test_a_transaction_cannot_run_another_inside_it(book: Container) -> None:
    with pytest.raises(RuntimeError, match="inside it"):
        book.db.run(lambda tx: book.db.run(lambda inner: None))


def test_another_writer_on_the_same_file_keeps_the_books(
    book: Container, sqlite_file: Path, clock: FixedClock
) -> None:
    """A second process writes the same file (here: a second engine and its own group)."""
    other = build(suite_settings(f"sqlite:///{sqlite_file}"), clock, migrate=False)
    line_id = open_line(book, "100000.00")
    failures: list[BaseException] = []

    def holds(container: Container, name: str) -> None:
        try:
            for n in range(20):
                container.ledger.place_hold(BORROWER, f"{name}-{n}", line_id, "1.00", 12)
        except BaseException as exc:
            failures.append(exc)

    threads = [
        threading.Thread(target=holds, args=(container, f"{tag}{n}"))
        for n in range(3)
        for container, tag in ((book, "a"), (other, "b"))
    ]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(WAIT_SECONDS_MAX)
    finally:
        other.close()
    assert not failures
    assert held_and_count(book, line_id) == (12_000, 120, 120)
    assert book.reconciler.run() == []


def test_checkpoints_run_on_their_own_thread(book: Container) -> None:
    line_id = open_line(book, "100000.00")
    checkpointer = book.db.checkpointer
    assert checkpointer is not None
    for n in range(CHECKPOINT_AFTER_COMMITS + 1):
        book.ledger.place_hold(BORROWER, f"h{n}", line_id, "1.00", 12)
    until(lambda: checkpointer.checkpoints >= 1, "a checkpoint")
    with book.db.reading() as connection:
        pages = connection.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar()
    assert pages == WAL_AUTOCHECKPOINT_PAGES
