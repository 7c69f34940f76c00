"""Writes sent together, one `executemany` a statement (`Transaction.batched`, a book review's
chunk): a read in the block sees the writes sent before it, and a checked update that misses
its row fails the transaction, which keeps nothing. On both stores."""

from __future__ import annotations

import pytest
from sqlalchemy import bindparam, select, update

from creditline.bootstrap import Container
from creditline.db.unit_of_work import Transaction
from creditline.kernel.actors import Actor
from creditline.kernel.invariant import InvariantViolation
from creditline.ledger.tables import lines


def _version(c: Container, line_id: str) -> int:
    with c.db.engine.connect() as connection:
        query = select(lines.c.version).where(lines.c.id == line_id)
        return int(connection.execute(query).one()[0])


def test_a_read_in_the_block_sees_the_writes_before_it(
    container: Container, agent: Actor, borrower: Actor
) -> None:
    c = container
    line_id = c.ledger.open_line(agent, "open", borrower.subject, "CNY", "1000.00").document["id"]
    before = _version(c, line_id)
    bump = c.db.prepare(
        update(lines).where(lines.c.id == bindparam("id")).values(version=lines.c.version + 1)
    )
    read = c.db.prepare(select(lines.c.version).where(lines.c.id == bindparam("id")))

    def work(tx: Transaction) -> list[object]:
        seen = []
        with tx.batched():
            tx.execute(bump, {"id": line_id})
            tx.execute(bump, {"id": line_id})
            seen.append((tx.one(read, {"id": line_id}) or (None,))[0])
            tx.expect_one("bumped", bump, {"id": line_id})
        return seen

    assert c.db.run(work) == [before + 2]
    assert _version(c, line_id) == before + 3


def test_a_checked_update_that_misses_its_row_keeps_nothing(
    container: Container, agent: Actor, borrower: Actor
) -> None:
    c = container
    line_id = c.ledger.open_line(agent, "open", borrower.subject, "CNY", "1000.00").document["id"]
    before = _version(c, line_id)
    bump = c.db.prepare(
        update(lines)
        .where(lines.c.id == bindparam("id"), lines.c.version == bindparam("version"))
        .values(version=lines.c.version + 1)
    )

    def work(tx: Transaction) -> None:
        with tx.batched():
            tx.expect_one("first", bump, {"id": line_id, "version": before})
            tx.expect_one("stale", bump, {"id": line_id, "version": before})  # now before + 1

    with pytest.raises(InvariantViolation, match="stale"):
        c.db.run(work)
    assert _version(c, line_id) == before
