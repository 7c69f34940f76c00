"""The reconciler holds a frozen line to the end its freeze decision set, on both stores.

A line frozen through the ledger stores its end twice: `lines.frozen_until`, which the sweeper
and the reminders read, and the freeze decision's `until`, which the borrower was told. When the
two disagree the line thaws at a time nobody decided, so the reconciler must name the line.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Connection, select, text, update

from creditline.bootstrap import Container
from creditline.kernel.actors import Actor
from creditline.ledger.reconcile import Finding
from creditline.ledger.tables import decisions, lines

START = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)  # the suite's clock (tests/conftest.py)
UNTIL = START + timedelta(days=14)


@pytest.fixture
def frozen(container: Container, agent: Actor, borrower: Actor) -> dict[str, str]:
    """A line frozen for 14 days through the service, and the decision that froze it."""
    ledger = container.ledger
    line_id = ledger.open_line(agent, "open-1", borrower.subject, "CNY", "8000.00").document["id"]
    changed = ledger.change_limit(
        agent, "freeze-1", line_id, "freeze", ["fraud_suspected"], until=UNTIL
    ).document
    return {"line": line_id, "decision": changed["decision"]["id"]}


@contextmanager
def raw(container: Container) -> Iterator[Connection]:
    with container.db.engine.begin() as connection:
        yield connection


@contextmanager
def decisions_unguarded(container: Container) -> Iterator[Connection]:
    """A transaction in which the append-only guard on decisions lets an UPDATE through (on
    PostgreSQL the guard is back when it commits; each SQLite test has its own file)."""
    with raw(container) as connection:
        if container.db.dialect == "postgresql":
            connection.execute(text("ALTER TABLE decisions DISABLE TRIGGER USER"))
            yield connection
            connection.execute(text("ALTER TABLE decisions ENABLE TRIGGER USER"))
        else:
            connection.execute(text("DROP TRIGGER decisions_no_update"))
            yield connection


def stored_ends(container: Container, line_id: str) -> tuple[datetime | None, datetime | None]:
    """The line's `frozen_until` and its status decision's `until`, as stored."""
    query = (
        select(lines.c.frozen_until, decisions.c.until)
        .select_from(lines.join(decisions, decisions.c.id == lines.c.status_decision_id))
        .where(lines.c.id == line_id)
    )
    with raw(container) as connection:
        row = connection.execute(query).one()
    return row.frozen_until, row.until


def defect(frozen: dict[str, str]) -> Finding:
    """The one finding a freeze whose two ends disagree must produce."""
    return Finding(
        "status_explained",
        frozen["line"],
        f"line is frozen but its decision {frozen['decision']} does not say so",
    )


def test_a_frozen_line_whose_end_matches_its_decision_reconciles_clean(
    container: Container, frozen: dict[str, str]
) -> None:
    # The premise of the tests below: the service stores one end in both places.
    assert stored_ends(container, frozen["line"]) == (UNTIL, UNTIL)
    assert container.reconciler.run() == []


@pytest.mark.parametrize(
    "shift",
    [timedelta(seconds=1), timedelta(days=-13)],
    ids=["a-second-later", "thirteen-days-sooner"],
)
def test_a_frozen_until_moved_outside_the_ledger_is_found(
    container: Container, frozen: dict[str, str], shift: timedelta
) -> None:
    # A job that "shortens" a freeze by editing the line: status still frozen, decision intact.
    with raw(container) as connection:
        connection.execute(
            update(lines).where(lines.c.id == frozen["line"]).values(frozen_until=UNTIL + shift)
        )
    assert stored_ends(container, frozen["line"]) == (UNTIL + shift, UNTIL)
    assert container.reconciler.run() == [defect(frozen)]


def test_a_freeze_decision_whose_until_was_rewritten_is_found(
    container: Container, frozen: dict[str, str]
) -> None:
    # The other side: the record the borrower was told about no longer matches the line.
    with decisions_unguarded(container) as connection:
        connection.execute(
            update(decisions)
            .where(decisions.c.id == frozen["decision"])
            .values(until=UNTIL + timedelta(days=30))
        )
    assert stored_ends(container, frozen["line"]) == (UNTIL, UNTIL + timedelta(days=30))
    assert container.reconciler.run() == [defect(frozen)]


def test_only_the_line_whose_end_disagrees_is_named(
    container: Container, frozen: dict[str, str], agent: Actor
) -> None:
    other = container.ledger.open_line(agent, "open-2", "borrower-2", "CNY", "500.00")
    other_id = other.document["id"]
    container.ledger.change_limit(
        agent, "freeze-2", other_id, "freeze", ["fraud_suspected"], until=UNTIL
    )
    with raw(container) as connection:
        connection.execute(
            update(lines)
            .where(lines.c.id == frozen["line"])
            .values(frozen_until=UNTIL + timedelta(hours=1))
        )
    assert container.reconciler.run() == [defect(frozen)]


# --- a frozen line's decision must be its own, with its end -----------------------------------


def test_a_freeze_decision_whose_until_was_erased_is_found(
    container: Container, frozen: dict[str, str]
) -> None:
    with decisions_unguarded(container) as connection:
        connection.execute(
            update(decisions).where(decisions.c.id == frozen["decision"]).values(until=None)
        )
    assert stored_ends(container, frozen["line"]) == (UNTIL, None)
    assert container.reconciler.run() == [defect(frozen)]


def test_a_line_pointing_at_another_lines_freeze_is_found(
    container: Container, frozen: dict[str, str], agent: Actor
) -> None:
    other = container.ledger.open_line(agent, "open-2", "borrower-2", "CNY", "500.00")
    other_id = other.document["id"]
    changed = container.ledger.change_limit(
        agent, "freeze-2", other_id, "freeze", ["fraud_suspected"], until=UNTIL
    )
    borrowed = changed.document["decision"]["id"]
    with raw(container) as connection:
        connection.execute(
            update(lines).where(lines.c.id == frozen["line"]).values(status_decision_id=borrowed)
        )
    assert container.reconciler.run() == [
        Finding(
            "status_explained",
            frozen["line"],
            f"line is frozen but its decision {borrowed} does not say so",
        )
    ]
