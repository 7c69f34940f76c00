"""The portfolio report over HTTP: staff roles only, its figures as the service works them
out, and bad input answered with problem documents and stable codes."""

from __future__ import annotations

from conftest import headers
from fastapi.testclient import TestClient

from creditline.bootstrap import Container
from creditline.kernel.actors import Actor, Role
from creditline.kernel.ids import new_id

AGENT = Actor("agent-1", Role.AGENT)


def test_staff_read_the_portfolio_and_its_sections(
    container: Container, client: TestClient
) -> None:
    container.ledger.open_line(AGENT, new_id(), "borrower-1", "CNY", "5000.00")
    today = container.clock.now().date().isoformat()
    analyst = headers(container, Role.ANALYST, "analyst-1")
    whole = client.get(f"/v1/reports/portfolio?date={today}", headers=analyst)
    assert whole.status_code == 200, whole.text
    body = whole.json()
    assert (body["as_of"], body["currency"]) == (today, "CNY")
    assert body["exposure"] == {
        "lines": 1,
        "lines_by_status": {"active": 1},
        "limit": "5000.00",
        "drawn": "0.00",
        "held": "0.00",
        "available": "5000.00",
    }
    section = client.get(f"/v1/reports/portfolio/dpd?date={today}", headers=analyst).json()
    assert set(section) == {"as_of", "currency", "cutoff", "period_start", "engine", "dpd"}
    assert [b["bucket"] for b in section["dpd"]] == ["current", "1-29", "30-59", "60-89", "90+"]


def test_a_borrower_may_not_read_reports(container: Container, client: TestClient) -> None:
    response = client.get("/v1/reports/portfolio", headers=headers(container, Role.BORROWER, "b"))
    assert response.status_code == 403
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == "forbidden"


def test_bad_report_requests_are_problems_with_stable_codes(
    container: Container, client: TestClient
) -> None:
    staff = headers(container, Role.AGENT, "agent-1")
    cases = {
        "/v1/reports/portfolio?date=2999-01-01": (422, "report_date_in_future"),
        "/v1/reports/portfolio?date=yesterday": (422, "invalid_request"),
        "/v1/reports/portfolio?currency=XYZ": (422, "unknown_currency"),
        "/v1/reports/portfolio?weeks=0": (422, "invalid_request"),
        "/v1/reports/portfolio/weather": (404, "report_section_not_found"),
    }
    for path, (status, code) in cases.items():
        response = client.get(path, headers=staff)
        assert (response.status_code, response.json()["code"]) == (status, code), path
        assert response.headers["content-type"].startswith("application/problem+json")
