"""A repayment's idempotency key through the ledger service, on both stores.

A borrower's app retries a repayment with the key it used: the same amount is the same request
and answers with the first response; another amount under that key is a different request and
is refused with `idempotency_key_reused`, changing nothing. Money must never move twice, nor
move by an amount the borrower did not send.

The default CNY product in tests/fixtures/products.toml is interest- and fee-free, so repaying X
repays X of principal. By hand: a 10000.00 line, a 4000.00 loan, a 1000.00 repayment leaves
3000.00 owed and 7000.00 available; the journal holds open, hold, post and repay: 4 entries.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from creditline.bootstrap import Container
from creditline.db.metadata import metadata
from creditline.kernel.actors import Actor
from creditline.kernel.errors import IdempotencyKeyReused
from creditline.ledger.tables import journal
from creditline.loans.tables import loans, repayments

KEY = "repay-2026-11-28-001"


def everything(c: Container) -> dict[str, list[str]]:
    """Every row of every table, to prove that a refused request changed nothing."""
    with c.db.engine.connect() as connection:
        return {
            table.name: sorted(repr(tuple(row)) for row in connection.execute(select(table)))
            for table in metadata.sorted_tables
        }


def balances(c: Container, agent: Actor, line_id: str, loan_id: str) -> dict[str, Any]:
    """What the borrower sees move: the line, the loan, the journal and the repayments."""
    line = c.ledger.get_line(agent, line_id)
    with c.db.engine.connect() as connection:
        owed = connection.execute(
            select(loans.c.principal_outstanding_minor).where(loans.c.id == loan_id)
        ).scalar_one()
        entries = connection.execute(
            select(func.count()).select_from(journal).where(journal.c.line_id == line_id)
        ).scalar_one()
        paid = connection.execute(
            select(func.count()).select_from(repayments).where(repayments.c.loan_id == loan_id)
        ).scalar_one()
    return {
        "available": line["available"],
        "principal_outstanding": line["principal_outstanding"],
        "loan_owes_minor": owed,
        "journal_entries": entries,
        "repayments": paid,
    }


@pytest.fixture
def repaid_once(container: Container, agent: Actor, borrower: Actor) -> dict[str, Any]:
    """A 4000.00 loan on a 10000.00 line, repaid 1000.00 with KEY."""
    ledger = container.ledger
    line_id = ledger.open_line(agent, "open-1", borrower.subject, "CNY", "10000.00").document["id"]
    held = ledger.place_hold(borrower, "hold-1", line_id, "4000.00", 4).document
    loan_id = container.loans.post_drawdown(borrower, "post-1", held["id"]).document["loan_id"]
    first = container.loans.repay(borrower, KEY, loan_id, "1000.00")
    assert not first.replayed
    return {"line": line_id, "loan": loan_id, "document": first.document}


AFTER_ONE_REPAYMENT = {
    "available": "7000.00",
    "principal_outstanding": "3000.00",
    "loan_owes_minor": 300_000,
    "journal_entries": 5,  # open, the grant of its limit, hold, post, repay
    "repayments": 1,
}


def test_the_first_repayment_moves_the_money_once(
    container: Container, agent: Actor, repaid_once: dict[str, Any]
) -> None:
    # The baseline the refusal and the replay are measured against.
    assert balances(container, agent, repaid_once["line"], repaid_once["loan"]) == (
        AFTER_ONE_REPAYMENT
    )
    assert repaid_once["document"]["allocation"]["principal"] == "1000.00"


@pytest.mark.parametrize("other_amount", ["1500.00", "999.99", "1000.01"])
def test_the_same_key_with_another_amount_is_refused_and_changes_nothing(
    container: Container,
    agent: Actor,
    borrower: Actor,
    repaid_once: dict[str, Any],
    other_amount: str,
) -> None:
    before = everything(container)
    with pytest.raises(IdempotencyKeyReused) as caught:
        container.loans.repay(borrower, KEY, repaid_once["loan"], other_amount)
    assert caught.value.code == "idempotency_key_reused"
    assert everything(container) == before
    assert balances(container, agent, repaid_once["line"], repaid_once["loan"]) == (
        AFTER_ONE_REPAYMENT
    )


def test_the_same_key_and_amount_replays_the_first_answer(
    container: Container, agent: Actor, borrower: Actor, repaid_once: dict[str, Any]
) -> None:
    with pytest.raises(IdempotencyKeyReused):  # a refused retry does not spoil the key ...
        container.loans.repay(borrower, KEY, repaid_once["loan"], "1500.00")
    before = everything(container)
    again = container.loans.repay(borrower, KEY, repaid_once["loan"], "1000.00")
    assert again.replayed  # ... the original request still replays
    assert again.document == repaid_once["document"]
    assert everything(container) == before
    assert balances(container, agent, repaid_once["line"], repaid_once["loan"]) == (
        AFTER_ONE_REPAYMENT
    )
