"""A book review applies its changes in chunks, one transaction a chunk: each change writes what
a line reviewed alone writes; a chunk that fails half-way leaves nothing; a line changed after
the review read it is applied on its state then, as a line reviewed alone is."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from creditline.bootstrap import Container
from creditline.db.commands import idempotency_keys
from creditline.decisions.batch import in_duckdb
from creditline.decisions.engine import Decision, Engine
from creditline.kernel.actors import Actor, Role
from creditline.kernel.clock import FixedClock
from creditline.ledger.tables import decisions, journal, lines
from creditline.notices.tables import outbox

ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}")
TWINS = 6  # each book: three freezes (five drawdowns), two cuts (six lenders), one kept
LIMIT = "20000.00"


def load_twins(c: Container, clock: FixedClock, agent: Actor) -> dict[str, str]:
    """Two books, `twin-a-` and `twin-b-`, alike line for line (same limits, drawdowns and
    reports at the same instants); each borrower id by line id."""
    owners: dict[str, str] = {}
    for n in range(TWINS):
        for side in ("a", "b"):
            borrower_id = f"twin-{side}-{n}"
            borrower = Actor(borrower_id, Role.BORROWER)
            opened = c.ledger.open_line(agent, f"open-{borrower_id}", borrower_id, "CNY", LIMIT)
            line_id = str(opened.document["id"])
            owners[line_id] = borrower_id
            if n < 3:  # five drawdowns in a day: the velocity rule freezes the line
                for k in range(5):
                    key = f"{borrower_id}-{k}"
                    hold = c.ledger.place_hold(borrower, f"h-{key}", line_id, "100.00", 12)
                    c.loans.post_drawdown(borrower, f"p-{key}", hold.document["id"])
            elif n < 5:  # open loans with six lenders: the multi-lender rule cuts the line
                c.bureau.record_consent(agent, f"consent-{borrower_id}", borrower_id)
                report = {
                    "borrower_id": borrower_id,
                    "source": "test-bureau",
                    "reported_at": clock.now(),
                    "lenders_with_open_loans": 6,
                }
                c.bureau.load_report(agent, f"report-{borrower_id}", report)
    clock.advance(timedelta(hours=1))
    return owners


Decider = Callable[[Engine, list[dict[str, Any]]], Iterator[list[Decision]]]


def only(owners: dict[str, str], side: str) -> Decider:
    """The book decided on DuckDB, every line not on `side` kept as it is."""

    def decide(engine: Engine, book: list[dict[str, Any]]) -> Iterator[list[Decision]]:
        for batch in in_duckdb(engine, book):
            yield [
                d if owners[d.line_id].startswith(f"twin-{side}-") else replace(d, action="keep")
                for d in batch
            ]

    return decide


def written(c: Container, line_id: str, borrower_id: str) -> dict[str, list[dict[str, Any]]]:
    """Every row about the line (itself, its decisions, journal entries, outbox messages and
    the review's idempotency keys), its ids, side and hashes made alike."""
    with c.db.reading() as connection:
        found = {
            "line": connection.execute(select(lines).where(lines.c.id == line_id)),
            "decisions": connection.execute(
                select(decisions).where(decisions.c.line_id == line_id).order_by(decisions.c.id)
            ),
            "journal": connection.execute(
                select(journal).where(journal.c.line_id == line_id).order_by(journal.c.seq)
            ),
            "outbox": connection.execute(
                select(outbox).where(outbox.c.line_id == line_id).order_by(outbox.c.id)
            ),
            "keys": connection.execute(
                select(idempotency_keys).where(
                    idempotency_keys.c.key.startswith("review:"),
                    idempotency_keys.c.key.contains(line_id),
                )
            ),
        }
        rows = {name: [dict(row._mapping) for row in result] for name, result in found.items()}
    side = borrower_id[: len("twin-a-")]

    def alike(value: Any) -> Any:
        return ID.sub("<id>", value).replace(side, "twin-") if isinstance(value, str) else value

    hashes = {"hash", "prev_hash", "head_hash", "request_hash"}
    return {
        name: [{k: alike(v) for k, v in row.items() if k not in hashes} for row in table]
        for name, table in rows.items()
    }


def changes_of(c: Container, line_id: str) -> tuple[int, int, int]:
    """The review's decisions, adverse notices and idempotency keys about the line (not the
    staff member's grant that opened it)."""
    rows = written(c, line_id, "twin-a-")
    reviewed = [d for d in rows["decisions"] if d["actor_role"] != "agent"]
    notices = [m for m in rows["outbox"] if m["topic"] == "notice.adverse_change"]
    return len(reviewed), len(notices), len(rows["keys"])


def test_chunks_write_for_each_change_what_one_transaction_a_change_writes(
    container: Container, clock: FixedClock, agent: Actor
) -> None:
    c = container
    owners = load_twins(c, clock, agent)
    # The `a` book one change to a transaction (the review's path before chunks), then the
    # `b` book two changes to a transaction, at the same instant.
    assert c.decisions.review_book(decide=only(owners, "a"), chunk=1) == {
        "decrease:applied": 2,
        "freeze:applied": 3,
        "keep:kept": 7,
    }
    assert c.decisions.review_book(decide=only(owners, "b"), chunk=2) == {
        "decrease:applied": 2,
        "freeze:applied": 3,
        "keep:kept": 7,
    }
    by_borrower = {borrower_id: line_id for line_id, borrower_id in owners.items()}
    for n in range(TWINS):
        a, b = f"twin-a-{n}", f"twin-b-{n}"
        assert written(c, by_borrower[a], a) == written(c, by_borrower[b], b), n
    for n in range(5):  # each change: its decision, journal entry, notice and key
        rows = written(c, by_borrower[f"twin-b-{n}"], f"twin-b-{n}")
        assert changes_of(c, by_borrower[f"twin-b-{n}"]) == (1, 1, 1)
        assert rows["journal"][-1]["decision_id"] == rows["decisions"][0]["id"] == "<id>"
        assert json.loads(rows["keys"][0]["response"])["action"] in ("freeze", "decrease")
    assert changes_of(c, by_borrower["twin-b-5"]) == (0, 0, 0)


def test_a_chunk_that_fails_half_way_leaves_nothing_and_a_run_again_applies_each_change_once(
    container: Container, clock: FixedClock, agent: Actor, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = container
    owners = load_twins(c, clock, agent)
    changing = sorted(line_id for line_id, o in owners.items() if int(o[-1]) < 5)
    chunks = [changing[i : i + 3] for i in range(0, len(changing), 3)]  # as the review cuts
    doomed = chunks[1][1]  # the second change of the second chunk
    decide = c.ledger.port.decide

    def dying(*args: Any, **kwargs: Any) -> Any:
        if args[2].id == doomed:  # after the chunk's first change was written
            raise RuntimeError("the review's process dies")
        return decide(*args, **kwargs)

    monkeypatch.setattr(c.ledger.port, "decide", dying)
    with pytest.raises(RuntimeError):
        c.decisions.review_book(chunk=3)
    monkeypatch.undo()
    for chunk in chunks:  # each chunk all or nothing; the one that failed, nothing
        made = [changes_of(c, line_id) for line_id in chunk]
        assert made in ([(1, 1, 1)] * len(chunk), [(0, 0, 0)] * len(chunk)), made
    assert [changes_of(c, line_id) for line_id in chunks[1]] == [(0, 0, 0)] * 3

    clock.advance(timedelta(minutes=5))
    outcomes = c.decisions.review_book(chunk=3)
    assert sum(outcomes.values()) == 2 * TWINS
    for line_id in changing:
        assert changes_of(c, line_id) == (1, 1, 1)
    assert outcomes.get("decrease:applied", 0) + outcomes.get("freeze:applied", 0) >= 3


def test_a_line_changed_after_the_review_read_it_is_applied_on_its_state_then(
    container: Container, clock: FixedClock, agent: Actor
) -> None:
    c = container
    owners = load_twins(c, clock, agent)
    by_borrower = {borrower_id: line_id for line_id, borrower_id in owners.items()}
    drawn, suspended, cut = (by_borrower[f"twin-a-{n}"] for n in (0, 1, 3))

    def live_traffic(engine: Engine, book: list[dict[str, Any]]) -> Iterator[list[Decision]]:
        for batch in in_duckdb(engine, book):
            # Between the review's read and its apply: a sixth drawdown on a line it
            # freezes, a suspension of another, and a drawdown above the cut of a third.
            for line_id, amount in ((drawn, "100.00"), (cut, "19000.00")):
                owner = Actor(owners[line_id], Role.BORROWER)
                hold = c.ledger.place_hold(owner, f"live-{line_id}", line_id, amount, 12)
                c.loans.post_drawdown(owner, f"live-post-{line_id}", hold.document["id"])
            c.ledger.change_limit(agent, "live", suspended, "suspend", ["fraud_suspected"])
            yield batch

    outcomes = c.decisions.review_book(decide=live_traffic, chunk=4)
    assert outcomes == {
        "decrease:applied": 3,  # the other changes of its chunk went on
        "decrease:refused": 1,  # below what the borrower uses now
        "freeze:applied": 5,
        "freeze:refused": 1,  # the line is suspended now
        "keep:kept": 2,
    }
    assert changes_of(c, cut) == (0, 0, 0)
    assert changes_of(c, suspended)[2] == 0  # only the staff's suspension, no review's key
    line = c.ledger.get_line(agent, suspended)
    assert line["status"] == "suspended"
    rows = written(c, drawn, owners[drawn])
    freeze = rows["journal"][-1]
    # The freeze follows the sixth drawdown in the journal, on the line's state after it.
    assert (freeze["kind"], freeze["status_after"]) == ("freeze", "frozen")
    assert freeze["principal_after_minor"] == 6 * 100_00
    assert rows["journal"][-2]["principal_after_minor"] == 6 * 100_00
    assert rows["line"][0]["principal_outstanding_minor"] == 6 * 100_00
