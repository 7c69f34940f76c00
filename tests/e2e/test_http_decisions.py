"""Decisions over HTTP: a borrower asks for a review, reads the decision and its reasons; staff
also read its evidence; another borrower gets 404 problem documents."""

from __future__ import annotations

from conftest import headers
from fastapi.testclient import TestClient

from creditline.bootstrap import Container
from creditline.kernel.actors import Actor, Role


def test_a_review_asked_for_over_http_is_explained_to_its_borrower(
    container: Container, client: TestClient, agent: Actor, borrower: Actor
) -> None:
    line_id = container.ledger.open_line(agent, "o", borrower.subject, "CNY", "20000.00")
    line_id = str(line_id.document["id"])
    for n in range(5):
        hold = container.ledger.place_hold(borrower, f"h{n}", line_id, "100.00", 12).document
        container.loans.post_drawdown(borrower, f"p{n}", hold["id"])
    me = headers(container, Role.BORROWER, borrower.subject)
    reviewed = client.post(f"/v1/lines/{line_id}/reviews", headers=me)
    assert reviewed.status_code == 201, reviewed.text
    assert (reviewed.json()["action"], reviewed.json()["line"]["status"]) == ("freeze", "frozen")

    listed = client.get(f"/v1/lines/{line_id}/decisions", headers=me)
    assert listed.status_code == 200
    decision, opening = listed.json()["decisions"]  # newest first
    assert (opening["action"], opening["limit_after"]) == ("increase", "20000.00")
    assert decision["reasons"][0]["en"] == "Too many drawdowns in a short period"
    mine = client.get(f"/v1/decisions/{decision['id']}", headers=me).json()
    assert "evidence" not in mine
    staff = client.get(
        f"/v1/decisions/{decision['id']}", headers=headers(container, Role.AGENT, "agent-1")
    ).json()
    assert staff["evidence"]["trace"]["rules"][0]["id"] == "income-evidence-expired"

    other = headers(container, Role.BORROWER, "borrower-2")
    for path in (f"/v1/decisions/{decision['id']}", f"/v1/lines/{line_id}/decisions"):
        refused = client.get(path, headers=other)
        assert refused.status_code == 404
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert refused.json()["code"] in ("decision_not_found", "line_not_found")
    refused = client.post(f"/v1/lines/{line_id}/reviews", headers=other)
    assert (refused.status_code, refused.json()["code"]) == (404, "line_not_found")
    bad = client.get(f"/v1/lines/{line_id}/decisions?limit=0", headers=me)
    assert bad.status_code == 422
    missing = client.get(f"/v1/decisions/{'x' * 300}", headers=me)
    assert (missing.status_code, missing.json()["code"]) == (404, "decision_not_found")
    # A NUL is refused at the edge, before any lookup (tests/e2e/test_http_nul_bytes.py).
    refused = client.get("/v1/decisions/%00", headers=me)
    assert (refused.status_code, refused.json()["code"]) == (422, "invalid_input")
    agent = headers(container, Role.AGENT, "agent-1")
    long_ago = {"borrower_id": borrower.subject, "reported_at": "0001-01-01T00:00:00+05:00"}
    refused = client.post("/v1/bureau-reports", json=long_ago, headers=agent)
    assert (refused.status_code, refused.json()["code"]) == (422, "invalid_input")


def test_an_application_over_http_opens_a_line_or_says_why_not(
    container: Container, client: TestClient, borrower: Actor
) -> None:
    me = headers(container, Role.BORROWER, borrower.subject)
    body = {
        "borrower_id": borrower.subject,
        "currency": "CNY",
        "income_monthly": "12000.00",
        "income_evidence": True,
        "birth_date": "1990-05-01",
        "employment": "employed",
    }
    approved = client.post("/v1/applications", json=body, headers=me)
    assert approved.status_code == 201, approved.text
    assert (approved.json()["outcome"], approved.json()["limit"]) == ("approved", "20000.00")
    line = client.get(f"/v1/lines/{approved.json()['line_id']}", headers=me).json()
    assert line["available"] == "20000.00"

    for bad, code in (
        ({**body, "income_monthly": 12000.0}, "invalid_request"),  # a float: never money
        ({**body, "birth_date": "2020-01-01"}, "invalid_input"),
        ({**body, "employment": "astronaut"}, "invalid_input"),
        ({**body, "borrower_id": "someone-else"}, "forbidden"),
    ):
        refused = client.post(
            "/v1/applications",
            json=bad,
            headers=headers(container, Role.BORROWER, borrower.subject),
        )
        assert refused.status_code in (403, 422), refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert refused.json()["code"] == code
