"""A repayment's `Idempotency-Key` over HTTP, on both stores.

The same key and body answer 201 again with `Idempotent-Replayed: true` and the first body; the
same key with another amount is a 422 `application/problem+json` with code
`idempotency_key_reused` (the status the IETF Idempotency-Key draft gives a key reused with
another payload; api/problems.py maps it ahead of the 409 of other conflicts), and the line, the
loan and the journal stay as they were.

By hand (the default test product is interest- and fee-free): a 10000.00 line, a 4000.00 loan,
a 1000.00 repayment leaves 3000.00 owed and 7000.00 available, over 4 journal entries (open,
hold, post, repay).
"""

from __future__ import annotations

from typing import Any

import pytest
from conftest import headers
from fastapi.testclient import TestClient

from creditline.bootstrap import Container
from creditline.kernel.actors import Role

PROBLEM_JSON = "application/problem+json"
BORROWER = "borrower-http-1"
KEY = "app-retry-7f3a"


def call(
    client: TestClient,
    container: Container,
    role: Role,
    subject: str,
    path: str,
    body: Any = None,
    key: str | None = None,
) -> Any:
    sent = headers(container, role, subject)
    if key is not None:
        sent["Idempotency-Key"] = key
    if body is None:
        return client.get(path, headers=sent)
    return client.post(path, json=body, headers=sent)


def ok(response: Any, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.text
    return dict(response.json())


def state(client: TestClient, container: Container, book: dict[str, str]) -> dict[str, Any]:
    """The line, the loan and the line's journal as staff read them over the API."""
    agent = (Role.AGENT, "agent-1")
    line = ok(call(client, container, *agent, f"/v1/lines/{book['line']}"))
    loan = ok(call(client, container, *agent, f"/v1/loans/{book['loan']}"))
    entries = ok(call(client, container, *agent, f"/v1/lines/{book['line']}/journal?limit=100"))
    return {"line": line, "loan": loan, "journal": entries}


@pytest.fixture
def book(client: TestClient, container: Container) -> dict[str, str]:
    """A 4000.00 loan drawn on a 10000.00 line over the API."""
    opened = call(
        client,
        container,
        Role.AGENT,
        "agent-1",
        "/v1/lines",
        {"borrower_id": BORROWER, "currency": "CNY", "limit": "10000.00"},
    )
    line_id = ok(opened, 201)["id"]
    held = call(
        client,
        container,
        Role.BORROWER,
        BORROWER,
        f"/v1/lines/{line_id}/drawdowns",
        {"amount": "4000.00", "term_months": 4},
    )
    posted = call(
        client, container, Role.BORROWER, BORROWER, f"/v1/drawdowns/{ok(held, 201)['id']}/post", {}
    )
    return {"line": line_id, "loan": ok(posted)["loan_id"]}


def repay(client: TestClient, container: Container, loan_id: str, amount: str) -> Any:
    return call(
        client,
        container,
        Role.BORROWER,
        BORROWER,
        f"/v1/loans/{loan_id}/repayments",
        {"amount": amount},
        key=KEY,
    )


def test_a_repayment_key_reused_with_another_amount_is_a_422_and_a_retry_replays(
    client: TestClient, container: Container, book: dict[str, str]
) -> None:
    first = repay(client, container, book["loan"], "1000.00")
    assert first.status_code == 201, first.text
    assert "Idempotent-Replayed" not in first.headers
    assert (first.json()["line"]["available"], first.json()["principal_outstanding"]) == (
        "7000.00",
        "3000.00",
    )
    after_first = state(client, container, book)
    assert len(after_first["journal"]["entries"]) == 5  # open, grant, hold, post, repay

    reused = repay(client, container, book["loan"], "1500.00")
    assert reused.status_code == 422, reused.text
    assert reused.headers["content-type"] == PROBLEM_JSON
    problem = reused.json()
    assert (problem["status"], problem["code"]) == (422, "idempotency_key_reused")
    assert problem["details"] == {"key": KEY}
    assert problem["type"].endswith("/idempotency_key_reused")
    assert "Idempotent-Replayed" not in reused.headers
    assert state(client, container, book) == after_first

    again = repay(client, container, book["loan"], "1000.00")
    assert again.status_code == 201, again.text
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert state(client, container, book) == after_first
