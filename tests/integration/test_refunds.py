"""Refunds of credit balances, on both stores: an overpayment is announced with when and how it
comes back, paid out by a recorded command (service, HTTP, command line), journaled on the
line, reconciled and announced; bad input changes nothing.

The loan: CNY 1,000.00 on the interest-free test product (`test-free-cny`), so its payoff is its
principal. Paying 1,100.00 settles it and leaves a credit balance of 100.00; the TEST-CN
profile pays a credit back within 7 days (`refund_days`, the default).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from conftest import Run, headers
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from creditline.api.app import create_app
from creditline.bootstrap import Container
from creditline.db.metadata import metadata
from creditline.kernel.actors import Actor, Role
from creditline.kernel.clock import FixedClock
from creditline.kernel.errors import (
    Forbidden,
    IdempotencyKeyReused,
    InvalidAmount,
    LoanNotFound,
    RefundAboveCreditBalance,
)
from creditline.kernel.ids import new_id
from creditline.ledger.tables import journal
from creditline.loans.tables import loans, refunds
from creditline.notices.tables import outbox

AGENT = Actor("agent-1", Role.AGENT)
BORROWER = Actor("borrower-1", Role.BORROWER)
PAID_ON = datetime(2026, 12, 3, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai on 2026-12-03


def overpaid(c: Container, clock: FixedClock) -> tuple[str, str]:
    """A loan settled with 100.00 too much on 2026-12-03: its line and its id."""
    line_id = str(
        c.ledger.open_line(AGENT, new_id(), BORROWER.subject, "CNY", "5000.00").document["id"]
    )
    held = c.ledger.place_hold(BORROWER, new_id(), line_id, "1000.00", 3).document
    loan_id = str(c.loans.post_drawdown(BORROWER, new_id(), held["id"]).document["loan_id"])
    clock.set(PAID_ON)
    repaid = c.loans.repay(BORROWER, new_id(), loan_id, "1100.00").document
    assert (repaid["loan_status"], repaid["credit_balance"]) == ("settled", "100.00")
    return line_id, loan_id


def state(c: Container) -> dict[str, Any]:
    """The row count of every table and every loan's credit balance."""
    with c.db.reading() as connection:
        counts: dict[str, Any] = {
            table.name: connection.execute(select(func.count()).select_from(table)).scalar_one()
            for table in metadata.sorted_tables
        }
        counts["credit"] = sorted(connection.execute(select(loans.c.credit_minor)).scalars())
    return counts


def messages(c: Container, topic: str) -> list[dict[str, Any]]:
    with c.db.reading() as connection:
        rows = connection.execute(
            select(outbox.c.ref_id, outbox.c.payload)
            .where(outbox.c.topic == topic)
            .order_by(outbox.c.created_at)
        ).all()
    return [{"ref_id": row[0], **json.loads(row[1])} for row in rows]


def test_an_overpayment_says_when_and_how_it_comes_back(
    container: Container, clock: FixedClock
) -> None:
    _, loan_id = overpaid(container, clock)

    [due] = messages(container, "notice.refund_due")
    assert (due["loan"], due["refund"]) == (loan_id, "100.00")
    assert due["refund_by"] == "2026-12-10"  # the payment's business date + 7 days
    notices = container.dispatcher.run_until_idle()
    assert notices["delivered"] >= 1
    inbox = container.notices.inbox(BORROWER, "en")["notices"]
    [told] = [n for n in inbox if n["kind"] == "refund_due"]
    assert "by 2026-12-10" in told["body"]
    assert "to the account your payment came from" in told["body"]


def test_a_refund_pays_the_credit_back_journaled_reconciled_and_announced(
    container: Container, clock: FixedClock
) -> None:
    line_id, loan_id = overpaid(container, clock)
    clock.set(PAID_ON + dt.timedelta(days=1))

    part = container.loans.refund(AGENT, "refund-1", loan_id, "30.00").document
    rest = container.loans.refund(AGENT, "refund-2", loan_id).document

    assert (part["amount"], part["credit_balance"], part["business_date"]) == (
        "30.00",
        "70.00",
        "2026-12-04",
    )
    assert (rest["amount"], rest["credit_balance"]) == ("70.00", "0.00")
    loan = container.loans.get_loan(BORROWER, loan_id)
    assert loan["credit_balance"] == "0.00"
    with container.db.reading() as connection:
        recorded = connection.execute(
            select(refunds.c.id, refunds.c.amount_minor, refunds.c.actor_subject).order_by(
                refunds.c.created_at, refunds.c.id
            )
        ).all()
        entries = connection.execute(
            select(journal.c.kind, journal.c.principal_delta_minor, journal.c.loan_id)
            .where(journal.c.line_id == line_id)
            .order_by(journal.c.seq)
        ).all()
    assert sorted((r[1], r[2]) for r in recorded) == [(3_000, "agent-1"), (7_000, "agent-1")]
    # The line's journal: opened, held, posted, repaid, then the two refunds (no credit moves).
    assert [tuple(e) for e in entries[-2:]] == [("refund", 0, loan_id), ("refund", 0, loan_id)]
    paid = messages(container, "notice.refund_paid")
    assert [(m["ref_id"], m["refund"], m["credit_left"]) for m in paid] == [
        (part["id"], "30.00", "70.00"),
        (rest["id"], "70.00", None),
    ]
    assert container.reconciler.run() == []
    line = container.ledger.get_line(AGENT, line_id)
    assert (line["available"], line["principal_outstanding"]) == ("5000.00", "0.00")


def test_a_refund_beyond_the_balance_or_by_a_borrower_changes_nothing(
    container: Container, clock: FixedClock
) -> None:
    _, loan_id = overpaid(container, clock)
    before = state(container)

    for actor, amount, error in [
        (AGENT, "100.01", RefundAboveCreditBalance),
        (AGENT, "0.00", InvalidAmount),
        (AGENT, "-1.00", InvalidAmount),
        (AGENT, "1e2", InvalidAmount),
        (BORROWER, "10.00", Forbidden),
    ]:
        with pytest.raises(error) as refused:
            container.loans.refund(actor, new_id(), loan_id, amount)
        assert state(container) == before, (amount, refused.value)
    with pytest.raises(RefundAboveCreditBalance) as refused:
        container.loans.refund(AGENT, new_id(), loan_id, "100.01")
    assert refused.value.details == {"loan_id": loan_id, "credit_balance": "100.00"}
    with pytest.raises(LoanNotFound):
        container.loans.refund(AGENT, new_id(), new_id())
    # Paid back once, a second refund finds no balance.
    container.loans.refund(AGENT, "all", loan_id)
    with pytest.raises(RefundAboveCreditBalance):
        container.loans.refund(AGENT, new_id(), loan_id)
    # The same key again is the same refund, never a second one; another amount under it is
    # refused.
    assert container.loans.refund(AGENT, "all", loan_id).replayed
    with pytest.raises(IdempotencyKeyReused):
        container.loans.refund(AGENT, "all", loan_id, "1.00")


@pytest.fixture
def client(container: Container) -> Iterator[TestClient]:
    with TestClient(create_app(container), raise_server_exceptions=False) as built:
        yield built


def test_refunds_over_http(container: Container, clock: FixedClock, client: TestClient) -> None:
    _, loan_id = overpaid(container, clock)
    path = f"/v1/loans/{loan_id}/refunds"
    before = state(container)

    for role, subject, body, status, code in [
        (Role.AGENT, "agent-1", {"amount": "100.01"}, 409, "refund_above_credit_balance"),
        (Role.AGENT, "agent-1", {"amount": 100}, 422, "invalid_amount"),
        (Role.AGENT, "agent-1", {"amount": "1,00"}, 422, "invalid_amount"),
        (Role.AGENT, "agent-1", {"to": "elsewhere"}, 422, "invalid_request"),
        (Role.BORROWER, BORROWER.subject, {}, 403, "forbidden"),
    ]:
        response = client.post(path, json=body, headers=headers(container, role, subject))
        assert response.status_code == status, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["code"] == code
    missing = client.post(
        f"/v1/loans/{new_id()}/refunds", json={}, headers=headers(container, Role.AGENT, "a")
    )
    assert (missing.status_code, missing.json()["code"]) == (404, "loan_not_found")
    assert state(container) == before

    sent = headers(container, Role.AGENT, "agent-1")
    paid = client.post(path, json={"amount": "40.00"}, headers=sent)
    again = client.post(path, json={"amount": "40.00"}, headers=sent)
    assert (paid.status_code, again.status_code) == (201, 201)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert paid.json() == again.json()
    assert (paid.json()["amount"], paid.json()["credit_balance"]) == ("40.00", "60.00")
    rest = client.post(path, json={}, headers=headers(container, Role.AGENT, "agent-1"))
    assert (rest.status_code, rest.json()["amount"]) == (201, "60.00")
    spec = client.get("/openapi.json").json()
    operation = spec["paths"]["/v1/loans/{loan_id}/refunds"]["post"]
    assert operation["x-permission"] == "pay a loan's credit balance back to its borrower"


def test_the_refund_command(creditline: Run, container: Container, clock: FixedClock) -> None:
    _, loan_id = overpaid(container, clock)
    url = container.settings.database_url
    before = state(container)

    too_much = creditline(
        "refund", loan_id, "--key", "k-1", "--by", "ops-1", "--amount", "100.01", database_url=url
    )
    assert too_much.returncode == 2
    assert too_much.stdout == ""
    assert too_much.stderr.strip().splitlines() == [
        "creditline: refund_above_credit_balance: the loan's credit balance is 100.00"
    ]
    assert state(container) == before

    done = creditline("refund", loan_id, "--key", "k-2", "--by", "ops-1", database_url=url)
    assert done.returncode == 0, done.stderr
    [line] = done.stdout.splitlines()
    document = json.loads(line)
    assert (document["loan_id"], document["amount"], document["credit_balance"]) == (
        loan_id,
        "100.00",
        "0.00",
    )
    with container.db.reading() as connection:
        assert connection.execute(select(refunds.c.actor_subject)).scalars().all() == ["ops-1"]
    assert container.reconciler.run() == []


def test_the_reconciler_finds_a_credit_balance_or_a_refund_out_of_the_books(
    container: Container, clock: FixedClock
) -> None:
    line_id, loan_id = overpaid(container, clock)
    assert container.reconciler.run() == []
    with container.db.engine.begin() as connection:
        # A refund recorded behind the command's back: no journal entry, no notice, and the
        # credit balance no longer what the repayments left less what was refunded.
        connection.execute(
            refunds.insert().values(
                id=new_id(),
                loan_id=loan_id,
                line_id=line_id,
                amount_minor=2_500,
                business_date=dt.date(2026, 12, 3),
                actor_subject="nobody",
                actor_role="agent",
                created_at=PAID_ON,
            )
        )

    found = {(f.check, f.line_id) for f in container.reconciler.run()}

    assert found == {
        ("credit_equals_overpayments_less_refunds", line_id),
        ("refund_journaled", line_id),
        ("notice_written", line_id),
    }
