"""Quotes, priced holds and loans over HTTP, on both stores.

A quote answers with the schedule and its APR and changes nothing; bad input is an
`application/problem+json` document with a stable `code`; a loan and a line's loans are visible
to their borrower and to staff, and to another borrower as if they did not exist.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from creditline.api.app import create_app
from creditline.api.auth import issue_token
from creditline.bootstrap import Container
from creditline.db.metadata import metadata
from creditline.kernel.actors import Role
from creditline.kernel.ids import new_id

PROBLEM_JSON = "application/problem+json"
PRICED = "test-priced-cny"
NO_PREPAYMENT = "test-no-prepayment-cny"
EXPENSIVE = "test-expensive-cny"
MONTH_END = "test-month-end-cny"  # above the cap drawn in a 31-day month: refused on every date
BANK = "test-bank-cny"  # interest-first at most 12 months (CN-2)
ACTORS = {
    "owner": (Role.BORROWER, "borrower-a"),
    "other": (Role.BORROWER, "borrower-b"),
    "agent": (Role.AGENT, "agent-1"),
}


@dataclass
class Api:
    client: TestClient
    container: Container

    def headers(self, actor: str, key: str | None = None) -> dict[str, str]:
        role, subject = ACTORS[actor]
        token = issue_token(
            self.container.settings.jwt_signing_key, role, subject, self.container.clock.now()
        )
        headers = {"Authorization": f"Bearer {token}"}
        return headers if key is None else {**headers, "Idempotency-Key": key}

    def get(self, actor: str, path: str) -> Any:
        return self.client.get(path, headers=self.headers(actor))

    def post(self, actor: str, path: str, body: Any, key: str | None = None) -> Any:
        return self.client.post(path, json=body, headers=self.headers(actor, key or new_id()))

    def ok(self, actor: str, path: str, body: Any = None, status: int = 200) -> dict[str, Any]:
        response = self.post(actor, path, body) if body is not None else self.get(actor, path)
        assert response.status_code == status, response.text
        assert response.headers["content-type"].startswith("application/json")
        return dict(response.json())

    def open_line(self, borrower: str, limit: str = "20000.00") -> str:
        subject = ACTORS[borrower][1]
        body = {"borrower_id": subject, "currency": "CNY", "limit": limit}
        return str(self.ok("agent", "/v1/lines", body, 201)["id"])

    def snapshot(self, line_ids: list[str]) -> dict[str, Any]:
        """The lines as an operator sees them and the row count of every table."""
        state: dict[str, Any] = {
            line_id: self.ok("agent", f"/v1/lines/{line_id}") for line_id in line_ids
        }
        with self.container.db.reading() as connection:
            for table in metadata.sorted_tables:
                count = select(func.count()).select_from(table)
                state[table.name] = connection.execute(count).scalar_one()
        return state


@pytest.fixture
def api(container: Container) -> Iterator[Api]:
    with TestClient(create_app(container), raise_server_exceptions=False) as client:
        yield Api(client, container)


def assert_problem(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    problem = response.json()
    assert (problem["status"], problem["code"]) == (status, code), problem
    assert problem["type"].endswith("/" + code)
    return dict(problem)


# --- quotes ------------------------------------------------------------------------------------
def test_a_quote_gives_the_schedule_and_its_apr_and_changes_nothing(api: Api) -> None:
    line_id = api.open_line("owner")
    before = api.snapshot([line_id])
    assert before["outbox"] == 2  # the line's opening and its grant's notice
    quote = api.ok(
        "owner",
        f"/v1/lines/{line_id}/quotes",
        {"amount": "12000.00", "term_months": 12, "product": PRICED},
    )
    assert (quote["apr_percent"], quote["apr_cap_percent"], quote["product"]) == (
        "13.98",
        "24.00",
        PRICED,
    )
    assert (quote["line_id"], quote["available"], quote["within_available"]) == (
        line_id,
        "20000.00",
        True,
    )
    assert (quote["method"], quote["upfront_fee"], quote["total_cost"]) == (
        "equal_instalment",
        "60.00",
        "923.49",
    )
    assert len(quote["instalments"]) == 12
    assert quote["instalments"][0] == {
        "number": 1,
        "due_date": "2026-12-28",
        "payment": "1072.19",
        "principal": "947.83",
        "interest": "118.36",
        "fee": "6.00",
        "balance_after": "11052.17",
    }
    assert api.snapshot([line_id]) == before  # same version, no outbox row, no row at all

    # Another method, and an amount above what is available, are still only quoted.
    other = api.ok(
        "agent",
        f"/v1/lines/{line_id}/quotes",
        {"amount": "30000.00", "term_months": 3, "product": PRICED, "method": "interest_first"},
    )
    assert other["within_available"] is False
    assert [i["principal"] for i in other["instalments"]] == ["0.00", "0.00", "30000.00"]
    # The currency's default product is interest-free.
    free = api.ok("owner", f"/v1/lines/{line_id}/quotes", {"amount": "100.00", "term_months": 4})
    assert (free["product"], free["apr_percent"], free["total_cost"]) == (
        "test-free-cny",
        "0.00",
        "0.00",
    )
    assert api.snapshot([line_id]) == before


@dataclass(frozen=True)
class Bad:
    id: str
    body: Any
    status: int
    code: str
    line: str = "own"  # own | other | missing
    actor: str = "owner"


def _quote(**fields: Any) -> dict[str, Any]:
    return {"amount": "1000.00", "term_months": 12, "product": PRICED, **fields}


BAD_QUOTES = [
    Bad("exponent", _quote(amount="1e3"), 422, "invalid_amount"),
    Bad("float", _quote(amount=1000.0), 422, "invalid_amount"),
    Bad("integer", _quote(amount=1000), 422, "invalid_amount"),
    Bad("negative", _quote(amount="-5.00"), 422, "invalid_amount"),
    Bad("zero", _quote(amount="0.00"), 422, "invalid_amount"),
    Bad("three-decimals", _quote(amount="5.001"), 422, "invalid_amount"),
    Bad("missing-amount", {"term_months": 12}, 422, "invalid_amount"),
    Bad("term-not-offered", _quote(term_months=2), 422, "invalid_input"),
    Bad("term-out-of-range", _quote(term_months=37), 422, "invalid_input"),
    Bad("term-string", _quote(term_months="12"), 422, "invalid_request"),
    Bad("method-unknown", _quote(method="balloon"), 422, "invalid_input"),
    Bad(
        "method-not-offered",
        _quote(product=NO_PREPAYMENT, term_months=3, method="interest_first"),
        422,
        "invalid_input",
    ),
    Bad("product-unknown", _quote(product="no-such-product"), 404, "product_not_found"),
    Bad("product-other-currency", _quote(product="test-free-usd"), 422, "invalid_input"),
    Bad("product-number", _quote(product=7), 422, "invalid_request"),
    Bad("above-the-cap", _quote(product=EXPENSIVE), 422, "rate_above_cap"),
    Bad(
        "above-the-cap-on-its-dearest-date",
        _quote(product=MONTH_END, term_months=1),
        422,
        "rate_above_cap",
    ),
    Bad(
        "interest-first-too-long",
        _quote(product=BANK, term_months=24, method="interest_first"),
        422,
        "term_above_cap",
    ),
    Bad("extra-field", _quote(currency="CNY"), 422, "invalid_request"),
    Bad("line-unknown", _quote(), 404, "line_not_found", line="missing"),
    Bad("line-of-another-borrower", _quote(), 404, "line_not_found", line="other"),
    Bad(
        "line-of-another-borrower-bad-amount",
        _quote(amount="1e3"),
        404,
        "line_not_found",
        line="other",
    ),
]


@pytest.mark.parametrize("bad", [pytest.param(b, id=b.id) for b in BAD_QUOTES])
def test_a_bad_quote_is_a_problem(api: Api, bad: Bad) -> None:
    lines = {"own": api.open_line("owner"), "other": api.open_line("other"), "missing": new_id()}
    before = api.snapshot([lines["own"], lines["other"]])
    response = api.post(bad.actor, f"/v1/lines/{lines[bad.line]}/quotes", bad.body)
    problem = assert_problem(response, bad.status, bad.code)
    if bad.code == "rate_above_cap":
        assert problem["details"]["cap_percent"] == "24.00"
        assert problem["details"]["profile"] == "TEST-CN"
        assert "24.00%" in problem["detail"]
    if bad.code == "term_above_cap":
        assert problem["details"]["term_months_max"] == 12
        assert problem["details"]["profile"] == "TEST-CN-BANK"
    if bad.id == "term-not-offered":
        assert problem["details"]["terms"] == [1, 3, 6, 12, 24, 36]
    assert api.snapshot([lines["own"], lines["other"]]) == before


# --- holds with a product and a method ---------------------------------------------------------
def test_a_hold_names_its_product_and_method_and_the_loan_keeps_them(api: Api) -> None:
    line_id = api.open_line("owner")
    body = {"amount": "3000.00", "term_months": 6, "product": PRICED, "method": "equal_principal"}
    response = api.post("owner", f"/v1/lines/{line_id}/drawdowns", body, key="hold-1")
    assert response.status_code == 201, response.text
    held = response.json()
    quote = held["quote"]
    assert (quote["product"], quote["method"], quote["term_months"]) == (
        PRICED,
        "equal_principal",
        6,
    )
    assert [i["principal"] for i in quote["instalments"]] == ["500.00"] * 6
    assert held["line"]["available"] == "17000.00"
    # The same key and body answer the same hold.
    again = api.post("owner", f"/v1/lines/{line_id}/drawdowns", body, key="hold-1")
    assert again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == held

    posted = api.ok("owner", f"/v1/drawdowns/{held['id']}/post", {})
    assert (posted["disbursed"], posted["loan"]) == ("2985.00", quote)  # less 0.5% upfront
    loan = api.ok("owner", f"/v1/loans/{posted['loan_id']}")
    assert (loan["product"], loan["method"], loan["apr_percent"]) == (
        PRICED,
        "equal_principal",
        quote["apr_percent"],
    )
    assert [
        (i["due_date"], i["principal"], i["interest"], i["fee"]) for i in loan["instalments"]
    ] == [(i["due_date"], i["principal"], i["interest"], i["fee"]) for i in quote["instalments"]]


@pytest.mark.parametrize(
    ("fields", "status", "code"),
    [
        ({"product": EXPENSIVE}, 422, "rate_above_cap"),
        ({"product": MONTH_END, "term_months": 1}, 422, "rate_above_cap"),
        ({"product": BANK, "term_months": 24, "method": "interest_first"}, 422, "term_above_cap"),
        ({"product": "no-such-product"}, 404, "product_not_found"),
        ({"term_months": 2}, 422, "invalid_input"),
        ({"method": "balloon"}, 422, "invalid_input"),
        ({"product": NO_PREPAYMENT, "method": "equal_instalment"}, 422, "invalid_input"),
        ({"method": 1}, 422, "invalid_request"),
        ({"amount": "1e3"}, 422, "invalid_amount"),
    ],
)
def test_a_hold_the_product_refuses_changes_nothing(
    api: Api, fields: dict[str, Any], status: int, code: str
) -> None:
    line_id = api.open_line("owner")
    before = api.snapshot([line_id])
    body = {"amount": "3000.00", "term_months": 12, "product": PRICED, **fields}
    response = api.post("owner", f"/v1/lines/{line_id}/drawdowns", body)
    assert_problem(response, status, code)
    assert api.snapshot([line_id]) == before


# --- reading loans ----------------------------------------------------------------------------
def test_a_loan_is_visible_to_its_borrower_and_staff_only(api: Api) -> None:
    line_id = api.open_line("owner")
    other_line = api.open_line("other")
    held = api.ok(
        "owner",
        f"/v1/lines/{line_id}/drawdowns",
        {"amount": "1200.00", "term_months": 3, "product": PRICED},
        201,
    )
    loan_id = api.ok("owner", f"/v1/drawdowns/{held['id']}/post", {})["loan_id"]

    loan = api.ok("owner", f"/v1/loans/{loan_id}")
    assert (loan["id"], loan["line_id"], loan["status"], loan["principal"]) == (
        loan_id,
        line_id,
        "open",
        "1200.00",
    )
    assert loan["payoff_today"]["total"] == "1200.00"  # nothing accrued on the day it is drawn
    assert [i["state"] for i in loan["instalments"]] == ["running", "scheduled", "scheduled"]
    assert api.ok("agent", f"/v1/loans/{loan_id}") == loan
    listed = api.ok("owner", f"/v1/lines/{line_id}/loans")
    assert listed["line_id"] == line_id
    assert [(x["id"], x["status"], x["dpd"]) for x in listed["loans"]] == [(loan_id, "open", 0)]
    assert api.ok("agent", f"/v1/lines/{line_id}/loans") == listed
    assert api.ok("other", f"/v1/lines/{other_line}/loans") == {
        "line_id": other_line,
        "dpd": 0,
        "bucket": "current",
        "loans": [],
    }

    problem = assert_problem(api.get("other", f"/v1/loans/{loan_id}"), 404, "loan_not_found")
    assert "1200.00" not in str(problem)
    assert_problem(api.get("other", f"/v1/lines/{line_id}/loans"), 404, "line_not_found")
    assert_problem(api.get("owner", f"/v1/loans/{new_id()}"), 404, "loan_not_found")
    assert_problem(api.get("owner", "/v1/loans/not-an-id"), 404, "loan_not_found")
    assert_problem(api.get("owner", f"/v1/lines/{new_id()}/loans"), 404, "line_not_found")
    assert_problem(api.client.get(f"/v1/loans/{loan_id}"), 401, "unauthenticated")

    # Its repayments show in what its borrower reads.
    repaid = api.ok("owner", f"/v1/loans/{loan_id}/repayments", {"amount": "1200.00"}, 201)
    assert (repaid["loan_status"], repaid["line"]["available"]) == ("settled", "20000.00")
    settled = api.ok("owner", f"/v1/loans/{loan_id}")
    assert (settled["status"], settled["payoff_today"]) == ("settled", None)
    assert api.ok("owner", f"/v1/lines/{line_id}/loans")["loans"][0]["status"] == "settled"
