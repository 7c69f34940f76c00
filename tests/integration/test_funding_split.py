"""Who funds each loan (CN-3), on both stores: a post records its split in minor units that sum
to the principal, the lender taking the remainder of the funders' rounded-down parts; a split
that leaves the lender less than the profile's minimum is refused and changes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import headers, with_test_cn_setting
from fastapi.testclient import TestClient
from sqlalchemy import select

from creditline.api.app import create_app
from creditline.bootstrap import Container
from creditline.kernel.actors import Actor, Role
from creditline.kernel.clock import FixedClock
from creditline.kernel.errors import Forbidden, LenderShareBelowMinimum, UnknownFunder
from creditline.kernel.ids import new_id
from creditline.loans.tables import loan_funding, loans

FUNDED = (
    'lender_share_percent_min = "30.00"\n'
    'funders = { "bank-a" = "A 银行", "trust-b" = "B 信托" }\n'
    'funding = { lender = "30.00", "bank-a" = "50.00", "trust-b" = "20.00" }'
)
AGENT = Actor("agent-1", Role.AGENT)
BORROWER = Actor("borrower-f", Role.BORROWER)


@pytest.fixture
def funded(database_url: str, clock: FixedClock, tmp_path: Path) -> Iterator[Container]:
    built = with_test_cn_setting(database_url, clock, tmp_path, FUNDED)
    yield built
    built.close()


def _hold(c: Container, amount: str) -> str:
    line = c.ledger.open_line(AGENT, new_id(), BORROWER.subject, "CNY", "5000.00").document
    held = c.ledger.place_hold(BORROWER, new_id(), line["id"], amount, 3).document
    return str(held["id"])


def _split(c: Container, loan_id: str) -> dict[str, tuple[int, int]]:
    f = loan_funding.c
    query = select(f.funder, f.share_basis_points, f.amount_minor).where(f.loan_id == loan_id)
    with c.db.reading() as connection:
        return {r[0]: (r[1], r[2]) for r in connection.execute(query)}


def test_a_post_records_the_profiles_split_summing_to_the_principal(funded: Container) -> None:
    posted = funded.loans.post_drawdown(BORROWER, new_id(), _hold(funded, "333.33")).document
    # bank-a 50 % of 33,333 = 16,666.5 → 16,666; trust-b 20 % = 6,666.6 → 6,666;
    # the lender the rest: 33,333 − 23,332 = 10,001 (≥ 30 % = 9,999.9)
    assert _split(funded, posted["loan_id"]) == {
        "lender": (3000, 10_001),
        "bank-a": (5000, 16_666),
        "trust-b": (2000, 6_666),
    }
    assert posted["funding"] == [
        {"funder": "bank-a", "amount": "166.66"},
        {"funder": "lender", "amount": "100.01"},
        {"funder": "trust-b", "amount": "66.66"},
    ]


def test_staff_name_a_split_of_their_own(funded: Container) -> None:
    shares = {"lender": "40.00", "bank-a": "60.00"}
    posted = funded.loans.post_drawdown(AGENT, new_id(), _hold(funded, "1000.00"), None, shares)
    assert _split(funded, posted.document["loan_id"]) == {
        "lender": (4000, 40_000),
        "bank-a": (6000, 60_000),
    }


def test_a_lender_share_below_the_minimum_is_refused_and_changes_nothing(
    funded: Container,
) -> None:
    drawdown = _hold(funded, "1000.00")
    shares = {"lender": "29.99", "bank-a": "70.01"}
    with pytest.raises(LenderShareBelowMinimum) as refused:
        funded.loans.post_drawdown(AGENT, new_id(), drawdown, None, shares)
    assert refused.value.details == {
        "lender_share_percent": "29.99",
        "lender_share_percent_min": "30.00",
    }
    with pytest.raises(UnknownFunder):
        funded.loans.post_drawdown(AGENT, new_id(), drawdown, None, {"bank-z": "100"})
    with pytest.raises(Forbidden):
        funded.loans.post_drawdown(BORROWER, new_id(), drawdown, None, {"lender": "100"})
    with funded.db.reading() as connection:
        assert connection.execute(select(loans.c.id)).all() == []
        assert connection.execute(select(loan_funding.c.loan_id)).all() == []


def test_the_refusal_is_a_problem_document(funded: Container) -> None:
    drawdown = _hold(funded, "1000.00")
    with TestClient(create_app(funded), raise_server_exceptions=False) as client:
        answer = client.post(
            f"/v1/drawdowns/{drawdown}/post",
            json={"funding": {"lender": "20.00", "bank-a": "80.00"}},
            headers=headers(funded, Role.AGENT, "agent-1"),
        )
    assert answer.status_code == 422
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.json()["code"] == "lender_share_below_minimum"
