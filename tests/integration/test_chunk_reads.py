"""A chunk of a book review reads its changes' keys, lines and reports in one statement each:
each read gives what the read of one row gives, on both stores; a change applied on its
chunk's reads writes what a line reviewed alone writes."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from creditline.bootstrap import Container
from creditline.db.unit_of_work import Transaction
from creditline.decisions.batch import changes_in_duckdb, in_duckdb
from creditline.decisions.book import todays_book
from creditline.decisions.bureau import StoredReports
from creditline.decisions.service import REVIEWER
from creditline.kernel.actors import Actor, Role
from creditline.kernel.clock import FixedClock
from creditline.kernel.ids import new_id
from tests.integration.test_review_chunks import load_twins, only, written


def test_keys_looked_up_together_are_those_looked_up_one_by_one(
    container: Container, agent: Actor
) -> None:
    c = container
    c.ledger.open_line(agent, "open-k1", "k1", "CNY", "1000.00")
    c.ledger.open_line(agent, "open-k2", "k2", "CNY", "1000.00")
    asked = ["open-k1", "open-k2", "never-used", "open-k1 "]

    def both(tx: Transaction) -> tuple[Any, Any]:
        together = c.commands.stored_keys(tx, agent, asked)
        one_by_one = {
            key: tx.one(c.commands._find, {"scope": agent.scope, "key": key}) for key in asked
        }
        return together, one_by_one

    together, one_by_one = c.db.read(both)
    assert together.looked_up == frozenset(asked)
    assert together.found == {k: v for k, v in one_by_one.items() if v is not None}
    assert sorted(together.found) == ["open-k1", "open-k2"]
    # Another actor's keys are not this one's.
    other = Actor("someone-else", Role.AGENT)
    assert c.db.read(lambda tx: c.commands.stored_keys(tx, other, asked)).found == {}


def test_lines_locked_together_are_the_lines_locked_one_by_one(
    container: Container, agent: Actor
) -> None:
    c = container
    ids = [
        str(c.ledger.open_line(agent, f"open-l{n}", f"l{n}", "CNY", "1000.00").document["id"])
        for n in range(3)
    ]
    asked = [ids[2], "not-an-id", new_id(), ids[0], ids[1]]

    def both(tx: Transaction) -> tuple[Any, Any]:
        together = c.ledger.port.lock_many(tx, REVIEWER, asked)
        return together, {i: c.ledger.port.lock(tx, REVIEWER, i) for i in ids}

    together, one_by_one = c.db.run(both)
    assert together == one_by_one
    borrower = Actor("l0", Role.BORROWER)  # a borrower locks only their own
    assert list(c.db.run(lambda tx: c.ledger.port.lock_many(tx, borrower, ids))) == [ids[0]]


def test_reports_on_file_read_together_are_each_borrowers_newest(
    container: Container, clock: FixedClock, agent: Actor
) -> None:
    c = container
    for borrower_id, reports in (("r1", 2), ("r2", 1)):
        c.bureau.record_consent(agent, f"consent-{borrower_id}", borrower_id)
        for n in range(reports):
            clock.advance(timedelta(minutes=1))
            report = {
                "borrower_id": borrower_id,
                "source": "test-bureau",
                "reported_at": clock.now(),
                "lenders_with_open_loans": n,
                "bureau_score": 600 + n,
            }
            c.bureau.load_report(agent, f"report-{borrower_id}-{n}", report)
    asked = ["r1", "r2", "nobody"]

    def both(tx: Transaction) -> tuple[Any, Any]:
        together = c.ledger.port.reports_on_file(tx, asked)
        return together, {b: c.bureau.on_file(tx, b) for b in asked}

    together, one_by_one = c.db.read(both)
    assert together == one_by_one
    assert together["nobody"] is None
    r1 = together["r1"]
    assert r1 is not None and r1.score == 601  # the newer of two


def test_the_lean_decider_returns_the_changes_and_counts_the_kept(
    container: Container, clock: FixedClock, agent: Actor
) -> None:
    c = container
    load_twins(c, clock, agent)
    engine = c.decisions.engine
    book, _ = todays_book(c.db, engine.policy, clock.now(), StoredReports())
    every = [d for batch in in_duckdb(engine, book) for d in batch]
    lean = list(changes_in_duckdb(engine, book))
    changes = [d for batch, _ in lean for d in batch]
    assert changes == sorted((d for d in every if d.action != "keep"), key=lambda d: d.line_id)
    assert sum(kept for _, kept in lean) == sum(d.action == "keep" for d in every) > 0


def test_a_change_on_its_chunks_reads_writes_what_a_line_reviewed_alone_writes(
    container: Container, clock: FixedClock, agent: Actor
) -> None:
    c = container
    owners = load_twins(c, clock, agent)
    by_borrower = {borrower_id: line_id for line_id, borrower_id in owners.items()}
    # The `a` book a line at a time (no chunk, each read on its own), the `b` book in chunks.
    alone = [c.decisions.review_line(by_borrower[f"twin-a-{n}"]) for n in range(6)]
    assert sorted(a.outcome for a in alone) == ["applied"] * 5 + ["kept"]
    outcomes = c.decisions.review_book(decide=only(owners, "b"), chunk=2)
    assert outcomes == {"decrease:applied": 2, "freeze:applied": 3, "keep:kept": 7}
    for n in range(6):
        a, b = f"twin-a-{n}", f"twin-b-{n}"
        assert written(c, by_borrower[a], a) == written(c, by_borrower[b], b), n
