"""A claimed batch takes its inbox in one transaction with the claim (notices/bulk_delivery.py):
every notice filed once, the channels that are not configured recorded as such, and messages
that need nothing more delivered, however many there are; on both stores."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from creditline.bootstrap import Container
from creditline.kernel.actors import Actor, Role
from creditline.notices.tables import deliveries, inbox, outbox

LINES = 12


def frozen_lines(c: Container, agent: Actor) -> None:
    """Lines opened (an event and the notice of the staff member's grant each) and frozen (a
    notice each): three messages a line, two of them notices."""
    for n in range(LINES):
        line = c.ledger.open_line(agent, f"o{n}", f"borrower-{n}", "CNY", "20000.00").document
        until = c.clock.now() + timedelta(days=7)
        c.ledger.change_limit(
            agent, f"f{n}", line["id"], "freeze", ["drawdown_velocity"], until=until
        )


def test_a_batch_is_filed_in_the_inbox_in_the_claims_transaction(
    container: Container, agent: Actor, monkeypatch: pytest.MonkeyPatch
) -> None:
    frozen_lines(container, agent)
    transactions = Counter[str]()
    run = container.db.run

    def counted(work: Any, **options: Any) -> Any:
        transactions["run"] += 1
        return run(work, **options)

    monkeypatch.setattr(container.db, "run", counted)

    assert container.dispatcher.run_until_idle() == {"claimed": 3 * LINES, "delivered": 3 * LINES}
    assert transactions == {"run": 1}
    with container.db.reading() as connection:
        filed = connection.execute(select(inbox.c.borrower_id, inbox.c.topic)).all()
        recorded = connection.execute(
            select(deliveries.c.channel, deliveries.c.detail, func.count()).group_by(
                deliveries.c.channel, deliveries.c.detail
            )
        ).all()
        waiting = connection.execute(
            select(func.count()).select_from(outbox).where(outbox.c.delivered_at.is_(None))
        ).scalar_one()
    assert sorted(filed) == sorted(
        (f"borrower-{n}", topic)
        for n in range(LINES)
        for topic in ("notice.line_improved", "notice.adverse_change")
    )
    assert sorted(recorded) == [
        ("email", "no SMTP server configured", 2 * LINES),
        ("inbox", None, 2 * LINES),
        ("webhook", "no webhook configured", 3 * LINES),
    ]
    assert waiting == 0
    borrower = Actor("borrower-3", Role.BORROWER)
    frozen, granted = container.notices.inbox(borrower, "en")["notices"]  # newest first
    assert (frozen["kind"], granted["kind"]) == ("line_frozen", "limit_increased")


def test_batches_take_the_oldest_first_and_each_message_once(
    container: Container, agent: Actor
) -> None:
    frozen_lines(container, agent)

    first = container.dispatcher.run_once(5)
    with container.db.reading() as connection:
        ids = connection.execute(select(outbox.c.id, outbox.c.delivered_at)).all()
    # One clock time for all (a fixed clock): the oldest are the first ids.
    delivered = sorted(i for i, at in ids if at is not None)
    assert delivered == sorted(i for i, _ in ids)[:5]
    second = container.dispatcher.run_once(LINES * 3)

    assert (first, second) == ({"claimed": 5, "delivered": 5}, {"claimed": 31, "delivered": 31})
    assert container.dispatcher.run_once(5) == {}
    with container.db.reading() as connection:
        rows = connection.execute(
            select(outbox.c.attempts, func.count()).group_by(outbox.c.attempts)
        ).all()
        filed = connection.execute(select(func.count()).select_from(inbox)).scalar_one()
    assert rows == [(1, 3 * LINES)] and filed == 2 * LINES
