"""Migration 0020 on both stores: penalty interest charged before it, kept per loan, goes to the
loan's oldest instalment still owing something, paid part and all, and the books still hold."""

from __future__ import annotations

import datetime as dt
from datetime import UTC, datetime

from alembic import command
from sqlalchemy import Engine, select

from creditline.bootstrap import Container
from creditline.db.migrate import alembic_config, upgrade
from creditline.kernel.actors import Actor, Role
from creditline.kernel.clock import FixedClock
from creditline.kernel.ids import new_id
from creditline.loans.tables import instalments, loans

AGENT = Actor("agent-1", Role.AGENT)
BORROWER = Actor("borrower-1", Role.BORROWER)


def downgrade(engine: Engine, revision: str) -> None:
    """`engine`'s schema back to `revision` (foreign keys off on SQLite, as `upgrade` does)."""
    config = alembic_config()
    with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:  # before the transaction begins: the pragma is ignored inside one
            connection.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")  # type: ignore[union-attr]
        with connection.begin():
            config.attributes["connection"] = connection
            command.downgrade(config, revision)
        if sqlite:
            connection.connection.driver_connection.execute("PRAGMA foreign_keys=ON")  # type: ignore[union-attr]


def test_penalty_charged_per_loan_moves_to_its_oldest_unpaid_instalment(
    container: Container, clock: FixedClock
) -> None:
    # 1,200.00 over 3 months on the priced product (18% penalty, 3 grace days), drawn
    # 2026-11-28; instalment 1 (due 12-28) late from 01-01: 5 days of 400.00 × 18% / 365 =
    # 0.20 by 01-05; 0.30 of it paid on 01-06 (the penalty comes first).
    line_id = container.ledger.open_line(AGENT, new_id(), BORROWER.subject, "CNY", "5000.00")
    held = container.ledger.place_hold(
        BORROWER, new_id(), line_id.document["id"], "1200.00", 3, "test-priced-cny",
        "equal_principal",
    ).document  # fmt: skip
    loan_id = container.loans.post_drawdown(BORROWER, new_id(), held["id"]).document["loan_id"]
    clock.set(datetime(2027, 1, 6, 2, 0, tzinfo=UTC))
    day = dt.date(2026, 11, 28)
    while day <= dt.date(2027, 1, 5):
        container.end_of_day.run_day(day)
        day += dt.timedelta(days=1)
    container.loans.repay(BORROWER, new_id(), loan_id, "0.30")
    engine = container.db.engine

    downgrade(engine, "0019")
    try:
        with engine.connect() as connection:
            assert connection.execute(
                select(loans.c.penalty_minor, loans.c.paid_penalty_minor)
            ).one() == (100, 30)
    finally:
        upgrade(engine)  # the worker's database goes back to the head whatever happens

    with engine.connect() as connection:
        moved = connection.execute(
            select(
                instalments.c.number, instalments.c.penalty_minor, instalments.c.paid_penalty_minor
            ).order_by(instalments.c.number)
        ).all()
    assert [tuple(row) for row in moved] == [(1, 100, 30), (2, 0, 0), (3, 0, 0)]
    loan = container.loans.get_loan(BORROWER, loan_id)
    assert (loan["penalty_charged"], loan["penalty_outstanding"]) == ("1.00", "0.70")
    assert container.reconciler.run() == []
