"""No zeroing, on both stores: a line is never cut to zero or below its profile minimum; the
borrower's codes need the borrower's own open request; generic codes are refused for staff.
Each refusal names its code and changes nothing (line, journal, outbox, keys, requests)."""

from datetime import timedelta
from functools import partial
from typing import Any

import pytest
from fastapi.testclient import TestClient

from creditline.bootstrap import Container
from creditline.kernel.actors import Actor, Role
from creditline.kernel.errors import (
    BorrowerRequestMissing,
    InvalidAmount,
    InvalidInput,
    InvalidLimitChange,
    LimitBelowMinimum,
    ReasonNotSpecific,
)
from creditline.ledger.tables import borrower_requests
from tests.conftest import headers
from tests.integration.test_ledger_service import open_line, refused, rows, topics


def ask(c: Container, borrower: Actor, line_id: str, kind: str, limit: str | None = None) -> str:
    return str(c.ledger.requests.ask(borrower, f"ask-{kind}", line_id, kind, limit).document["id"])


@pytest.mark.parametrize("limit", ["0.00", "0", "99.99"])
def test_a_decrease_to_zero_or_below_the_minimum_is_refused(
    container: Container, agent: Actor, approver: Actor, borrower: Actor, limit: str
) -> None:
    line_id = open_line(container, agent, borrower)
    error = refused(
        container,
        LimitBelowMinimum,
        lambda: container.ledger.change_limit(
            approver, "cut", line_id, "decrease", ["utilisation_high"], limit=limit
        ),
    )
    assert error.code == "limit_below_minimum"
    assert error.details == {"limit_min": "100.00", "currency": "CNY"}


def test_a_decrease_to_the_minimum_is_allowed(
    container: Container, agent: Actor, approver: Actor, borrower: Actor
) -> None:
    line_id = open_line(container, agent, borrower)
    # The profile's minimum is 100.00; a person keeps to the policy's, 500.00.
    document = container.ledger.change_limit(
        approver, "cut", line_id, "decrease", ["utilisation_high"], limit="500.00"
    ).document
    assert document["line"]["limit"] == "500.00"


@pytest.mark.parametrize(
    ("limit", "error"),
    [("0.00", LimitBelowMinimum), ("99.99", LimitBelowMinimum), ("-1.00", InvalidAmount)],
)
def test_a_line_cannot_be_opened_with_a_zero_negative_or_too_small_limit(
    container: Container, agent: Actor, limit: str, error: type[InvalidInput]
) -> None:
    refused(
        container,
        error,
        lambda: container.ledger.open_line(agent, "open-low", "borrower-9", "CNY", limit),
    )


@pytest.mark.parametrize("action", ["decrease", "freeze", "close"])
def test_generic_codes_are_refused_for_staff(
    container: Container, agent: Actor, approver: Actor, borrower: Actor, action: str
) -> None:
    line_id = open_line(container, agent, borrower)
    limit = "100.00" if action == "decrease" else None
    until = container.clock.now() + timedelta(days=1) if action == "freeze" else None
    error = refused(
        container,
        ReasonNotSpecific,
        lambda: container.ledger.change_limit(
            approver, "g", line_id, action, ["policy_change"], limit=limit, until=until
        ),
    )
    assert error.code == "reason_not_specific"


@pytest.mark.parametrize(
    ("action", "codes", "limit"),
    [
        ("close", ["account_closed_by_borrower"], None),
        ("decrease", ["borrower_request"], "5000.00"),
        ("increase", ["borrower_request"], "30000.00"),
        ("freeze", ["borrower_request"], None),
    ],
)
def test_the_borrowers_codes_need_their_open_request(
    container: Container,
    agent: Actor,
    approver: Actor,
    borrower: Actor,
    action: str,
    codes: list[str],
    limit: str | None,
) -> None:
    line_id = open_line(container, agent, borrower)
    until = container.clock.now() + timedelta(days=1) if action == "freeze" else None
    error = refused(
        container,
        BorrowerRequestMissing,
        lambda: container.ledger.change_limit(
            approver, "b", line_id, action, codes, limit=limit, until=until
        ),
    )
    assert error.code == "borrower_request_missing"


def test_a_request_must_match_the_decision(
    container: Container, agent: Actor, approver: Actor, borrower: Actor
) -> None:
    line_id = open_line(container, agent, borrower)
    other_line = open_line(container, agent, Actor("borrower-2", Role.BORROWER))
    request_id = ask(container, borrower, line_id, "decrease", "5000.00")
    change = partial(container.ledger.change_limit, approver, request_id=request_id)
    for line, action, codes, limit in (
        (line_id, "decrease", ["borrower_request"], "6000.00"),
        (line_id, "close", ["account_closed_by_borrower"], None),
        (other_line, "decrease", ["borrower_request"], "5000.00"),
    ):
        refused(
            container,
            BorrowerRequestMissing,
            partial(change, "m", line, action, codes, limit=limit),
        )
    refused(
        container,
        InvalidInput,
        lambda: change("m4", line_id, "decrease", ["utilisation_high"], limit="5000.00"),
    )


def test_a_borrower_cannot_ask_to_raise_or_zero_a_limit(
    container: Container, agent: Actor, borrower: Actor
) -> None:
    line_id = open_line(container, agent, borrower)
    ask_for = container.ledger.requests.ask
    refused(
        container,
        InvalidLimitChange,
        lambda: ask_for(borrower, "r", line_id, "decrease", "30000.00"),
    )
    refused(
        container, LimitBelowMinimum, lambda: ask_for(borrower, "r", line_id, "decrease", "0.00")
    )
    refused(
        container, InvalidInput, lambda: ask_for(borrower, "r", line_id, "increase", "30000.00")
    )
    refused(container, InvalidInput, lambda: ask_for(borrower, "r", line_id, "close", "100.00"))


def _post(client: TestClient, c: Container, role: Role, who: str, path: str, body: Any) -> Any:
    return client.post(path, json=body, headers=headers(c, role, who))


def test_the_borrower_request_flow_over_http(
    container: Container, client: TestClient, agent: Actor, borrower: Actor
) -> None:
    line_id = open_line(container, agent, borrower)
    asked = _post(
        client,
        container,
        Role.BORROWER,
        borrower.subject,
        f"/v1/lines/{line_id}/requests",
        {"kind": "decrease", "limit": "5000.00"},
    )
    assert asked.status_code == 201, asked.text
    request = asked.json()
    assert (request["kind"], request["limit"], request["status"]) == ("decrease", "5000.00", "open")
    staff = _post(
        client,
        container,
        Role.AGENT,
        "agent-1",
        f"/v1/lines/{line_id}/requests",
        {"kind": "close"},
    )
    assert staff.status_code == 403
    missing = _post(
        client,
        container,
        Role.APPROVER,
        "approver-1",
        f"/v1/lines/{line_id}/limit-changes",
        {"action": "decrease", "limit": "5000.00", "reason_codes": ["borrower_request"]},
    )
    assert (missing.status_code, missing.json()["code"]) == (409, "borrower_request_missing")
    granted = _post(
        client,
        container,
        Role.APPROVER,
        "approver-1",
        f"/v1/lines/{line_id}/limit-changes",
        {
            "action": "decrease",
            "limit": "5000.00",
            "reason_codes": ["borrower_request"],
            "request_id": request["id"],
        },
    )
    assert granted.status_code == 201, granted.text
    decision = granted.json()["decision"]
    assert granted.json()["line"]["limit"] == "5000.00"
    [row] = rows(container, borrower_requests)
    assert (row["status"], row["decision_id"]) == ("done", decision["id"])
    assert topics(container)[-1] == "notice.adverse_change"
    again = _post(
        client,
        container,
        Role.APPROVER,
        "approver-1",
        f"/v1/lines/{line_id}/limit-changes",
        {
            "action": "close",
            "reason_codes": ["account_closed_by_borrower"],
            "request_id": request["id"],
        },
    )
    # A done request grants nothing more.
    assert (again.status_code, again.json()["code"]) == (409, "borrower_request_missing")
    close = _post(
        client,
        container,
        Role.BORROWER,
        borrower.subject,
        f"/v1/lines/{line_id}/requests",
        {"kind": "close"},
    )
    closed = _post(
        client,
        container,
        Role.APPROVER,
        "approver-1",
        f"/v1/lines/{line_id}/limit-changes",
        {
            "action": "close",
            "reason_codes": ["account_closed_by_borrower"],
            "request_id": close.json()["id"],
        },
    )
    assert closed.status_code == 201, closed.text
    assert closed.json()["line"]["status"] == "closed"
