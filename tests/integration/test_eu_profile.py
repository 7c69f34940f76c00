"""EUR lines under the EU profile (Consumer Credit Directive (EU) 2023/2225, GDPR Art. 22), on
both stores, with the EU policy (eu-standard.yaml) deciding:

- EU-2: drawing is blocked only for the profile's objectively justified reasons (Art. 28(2)),
  and the borrower's notice is queued in the block's own transaction, so it goes out at once;
- EU-2: a close the lender decides takes effect two months later (Art. 28(1)); the line is
  usable until then; the sweeper (or the next drawdown) applies it; a close the borrower asks
  for is immediate;
- EU-1, EU-3: a borrower asks a person to review any decision about their line, gives their
  own view (kept with the review, never copied into a notice), and gets a person even when the
  policy cannot review the line again;
- quotes show the APRC.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import START, TEST_PRODUCTS, headers
from fastapi.testclient import TestClient
from sqlalchemy import select

from creditline.api.app import create_app
from creditline.bootstrap import Container, build
from creditline.config import Settings, shipped_policy_file
from creditline.kernel.actors import Actor, Role
from creditline.kernel.clock import FixedClock
from creditline.kernel.errors import (
    BlockReasonNotJustified,
    Conflict,
    DecisionNotFound,
    InvalidInput,
    InvalidLimitChange,
    LineClosed,
)
from creditline.kernel.ids import new_id
from creditline.ledger.tables import decisions
from creditline.notices.tables import outbox

EU_PRODUCTS = Path(__file__).parents[1] / "fixtures" / "eu-products.toml"
EU_POLICY = Path(shipped_policy_file()).parent / "eu-standard.yaml"
DAY = timedelta(days=1)
# Two calendar months after START (2026-11-28 09:00 UTC): the earliest a lender's close may
# take effect (Art. 28(1)).
TWO_MONTHS_ON = datetime.fromisoformat("2027-01-28T09:00:00+00:00")


@pytest.fixture
def eu(database_url: str, clock: FixedClock, tmp_path: Path) -> Iterator[Container]:
    """The suite's products with the EU profile's, EUR lending interest-free by default, and
    the EU policy deciding EUR lines."""
    built = build_eu(database_url, clock, tmp_path)
    yield built
    built.close()


def build_eu(database_url: str, clock: FixedClock, tmp_path: Path) -> Container:
    """The container of the `eu` fixture."""
    products = tmp_path / "eu-products.toml"
    products.write_text(
        TEST_PRODUCTS.read_text().replace("[defaults]\n", '[defaults]\nEUR = "test-free-eur"\n')
        + "\n"
        + EU_PRODUCTS.read_text()
    )
    settings = Settings(
        database_url=database_url,
        products_file=products,
        policy_file=EU_POLICY,
        review_triggers=False,
    )
    return build(settings, clock, migrate=False)


@pytest.fixture
def eu_api(eu: Container) -> Iterator[TestClient]:
    with TestClient(create_app(eu), raise_server_exceptions=False) as client:
        yield client


def open_eur_line(c: Container, agent: Actor, borrower: Actor, limit: str = "2000.00") -> str:
    opened = c.ledger.open_line(agent, f"open-{new_id()}", borrower.subject, "EUR", limit)
    return str(opened.document["id"])


def draw(c: Container, borrower: Actor, line_id: str, amount: str = "100.00") -> str:
    held = c.ledger.place_hold(borrower, f"h-{new_id()}", line_id, amount, 12).document
    return str(c.loans.post_drawdown(borrower, f"p-{new_id()}", held["id"]).document["loan_id"])


def outbox_of(c: Container, line_id: str) -> list[dict[str, Any]]:
    query = select(outbox).where(outbox.c.line_id == line_id).order_by(outbox.c.id)
    with c.db.engine.connect() as connection:
        return [dict(row) for row in connection.execute(query).mappings()]


def decisions_of(c: Container, line_id: str) -> list[dict[str, Any]]:
    query = select(decisions).where(decisions.c.line_id == line_id).order_by(decisions.c.id)
    with c.db.engine.connect() as connection:
        return [dict(row) for row in connection.execute(query).mappings()]


def inbox_kinds(c: Container, borrower: Actor) -> list[str]:
    c.dispatcher.run_until_idle()
    return [notice["kind"] for notice in c.notices.inbox(borrower)["notices"]]


def frozen_by_the_eu_policy(c: Container, agent: Actor, borrower: Actor) -> tuple[str, str]:
    """Five drawdowns in a day: the EU policy freezes the line for a week as suspected
    unauthorised use. The line and the freeze's decision."""
    line_id = open_eur_line(c, agent, borrower)
    for _ in range(5):
        draw(c, borrower, line_id)
    applied = c.decisions.review_line(line_id)
    assert (applied.decision.action, applied.decision.decisive_rule) == ("freeze", "drawdown-burst")
    assert applied.decision.reason_codes[0] == "fraud_suspected"
    assert applied.decision_id is not None
    return line_id, applied.decision_id


# --- EU-2: blocking drawdowns --------------------------------------------------------------------


def test_an_eu_block_needs_a_justified_reason(
    eu: Container, clock: FixedClock, agent: Actor, borrower: Actor
) -> None:
    line_id = open_eur_line(eu, agent, borrower)
    week = clock.now() + 7 * DAY
    before = outbox_of(eu, line_id)
    [granted] = decisions_of(eu, line_id)  # the grant that opened the line

    with pytest.raises(BlockReasonNotJustified) as refused:
        eu.ledger.change_limit(agent, "f1", line_id, "freeze", ["drawdown_velocity"], until=week)
    assert refused.value.code == "block_reason_not_justified"
    assert refused.value.details["allowed"] == [
        "fraud_suspected",
        "overdue_payment",
        "reverification_due",
    ]
    with pytest.raises(BlockReasonNotJustified):
        eu.ledger.change_limit(agent, "s1", line_id, "suspend", ["income_insufficient"])
    with pytest.raises(BlockReasonNotJustified):  # the principal reason justifies a block
        eu.ledger.change_limit(
            agent, "f2", line_id, "freeze", ["utilisation_high", "fraud_suspected"], until=week
        )
    assert decisions_of(eu, line_id) == [granted]
    assert outbox_of(eu, line_id) == before
    assert eu.ledger.get_line(borrower, line_id)["status"] == "active"

    frozen = eu.ledger.change_limit(
        agent, "f3", line_id, "freeze", ["fraud_suspected", "utilisation_high"], until=week
    )

    assert frozen.document["line"]["status"] == "frozen"
    # A line in yuan runs under its own profile: a velocity freeze stands there.
    cny = eu.ledger.open_line(agent, "open-cny", borrower.subject, "CNY", "2000.00").document
    eu.ledger.change_limit(agent, "f4", cny["id"], "freeze", ["drawdown_velocity"], until=week)


def test_an_eu_block_and_its_notice_commit_together_and_the_notice_goes_out_at_once(
    eu: Container, agent: Actor, borrower: Actor, monkeypatch: pytest.MonkeyPatch
) -> None:
    line_id = open_eur_line(eu, agent, borrower)
    before = outbox_of(eu, line_id)
    [granted] = decisions_of(eu, line_id)  # the grant that opened the line

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("the outbox is unavailable")

    monkeypatch.setattr(eu.outbox, "queue", broken)
    with pytest.raises(RuntimeError, match="outbox"):
        eu.ledger.change_limit(agent, "s", line_id, "suspend", ["overdue_payment"])
    # No notice, no block: the line is as it was.
    assert eu.ledger.get_line(borrower, line_id)["status"] == "active"
    assert (decisions_of(eu, line_id), outbox_of(eu, line_id)) == ([granted], before)
    monkeypatch.undo()

    done = eu.ledger.change_limit(agent, "s", line_id, "suspend", ["overdue_payment"]).document

    _, decided = decisions_of(eu, line_id)
    [notice] = [row for row in outbox_of(eu, line_id) if row["ref_id"] == decided["id"]]
    assert notice["topic"] == "notice.adverse_change"
    # Queued with the block, at the instant it was decided: nothing waits to send it.
    assert notice["created_at"] == decided["created_at"] == START
    assert json.loads(notice["payload"])["decision"]["id"] == done["decision"]["id"]
    eu.dispatcher.run_until_idle()
    [delivered] = eu.notices.inbox(borrower)["notices"][:1]
    assert (delivered["kind"], delivered["language"]) == ("line_suspended", "en")
    assert delivered["created_at"] == START.isoformat()


def test_the_eu_policy_blocks_for_suspected_unauthorised_use(
    eu: Container, agent: Actor, borrower: Actor
) -> None:
    _, decision_id = frozen_by_the_eu_policy(eu, agent, borrower)

    stored = eu.ledger.get_decision(agent, decision_id)

    assert stored["reason_codes"][0] == "fraud_suspected"
    assert stored["policy_version"] == "eu-standard@2026.12.1"
    assert stored["actor"] == "service:policy-engine"
    assert "line_frozen" in inbox_kinds(eu, borrower)


# --- EU-2: termination by the lender -------------------------------------------------------------


def test_a_lender_close_on_an_eu_line_takes_effect_two_months_later(
    eu: Container, clock: FixedClock, agent: Actor, approver: Actor, borrower: Actor
) -> None:
    line_id = open_eur_line(eu, agent, borrower)
    loan_id = draw(eu, borrower, line_id, "300.00")

    closing = eu.ledger.change_limit(
        approver, "close", line_id, "close", ["multiple_lenders"]
    ).document

    decision, line = closing["decision"], closing["line"]
    assert (decision["action"], decision["status_after"]) == ("close", "active")
    assert decision["effective_at"] == TWO_MONTHS_ON.isoformat()
    assert (line["status"], line["closing_at"]) == ("active", TWO_MONTHS_ON.isoformat())
    assert inbox_kinds(eu, borrower)[0] == "line_closing"
    # Until then the line is usable: the borrower draws and repays as before.
    draw(eu, borrower, line_id, "200.00")
    eu.loans.repay(borrower, "repay", loan_id, "300.00")
    with pytest.raises(InvalidLimitChange, match="already closes on 2027-01-28"):
        eu.ledger.change_limit(approver, "close-2", line_id, "close", ["multiple_lenders"])

    clock.set(TWO_MONTHS_ON - timedelta(minutes=1))
    assert eu.ledger.sweep()["closes_applied"] == 0
    clock.set(TWO_MONTHS_ON)
    assert eu.ledger.sweep()["closes_applied"] == 1

    closed = eu.ledger.get_line(borrower, line_id)
    assert (closed["status"], closed["closing_at"]) == ("closed", None)
    latest = eu.ledger.get_decision(agent, closed["status_decision_id"])
    assert (latest["action"], latest["actor"], latest["effective_at"]) == (
        "close",
        "service:creditline",
        None,
    )
    assert latest["reason_codes"] == ["multiple_lenders"]  # the reasons of the close decided
    assert inbox_kinds(eu, borrower)[0] == "line_closed"
    with pytest.raises(LineClosed):
        eu.ledger.place_hold(borrower, "late", line_id, "100.00", 12)
    assert eu.reconciler.run() == []


def test_a_scheduled_close_whose_date_has_come_refuses_the_next_drawdown(
    eu: Container, clock: FixedClock, approver: Actor, agent: Actor, borrower: Actor
) -> None:
    line_id = open_eur_line(eu, agent, borrower)
    eu.ledger.change_limit(approver, "close", line_id, "close", ["overdue_payment"])
    clock.set(TWO_MONTHS_ON + DAY)  # the sweeper has not run

    with pytest.raises(LineClosed):
        eu.ledger.place_hold(borrower, "after", line_id, "100.00", 12)

    assert eu.ledger.sweep()["closes_applied"] == 1
    assert eu.ledger.get_line(borrower, line_id)["status"] == "closed"


def test_a_close_set_before_the_notice_has_run_is_refused_with_a_stable_code(
    eu: Container, eu_api: TestClient, agent: Actor, borrower: Actor
) -> None:
    line_id = open_eur_line(eu, agent, borrower)
    staff = headers(eu, Role.APPROVER, "approver-1")
    body = {"action": "close", "reason_codes": ["multiple_lenders"]}

    early = TWO_MONTHS_ON - timedelta(seconds=1)
    refused = eu_api.post(
        f"/v1/lines/{line_id}/limit-changes",
        json={**body, "effective_at": early.isoformat()},
        headers=staff,
    )

    assert refused.status_code == 422
    problem = refused.json()
    assert problem["code"] == "termination_notice_too_short"
    assert problem["details"]["earliest"] == TWO_MONTHS_ON.isoformat()
    assert problem["details"]["notice_months"] == 2
    later = TWO_MONTHS_ON + 30 * DAY
    accepted = eu_api.post(
        f"/v1/lines/{line_id}/limit-changes",
        json={**body, "effective_at": later.isoformat()},
        headers=headers(eu, Role.APPROVER, "approver-1"),
    )
    assert accepted.status_code == 201, accepted.json()
    assert accepted.json()["decision"]["effective_at"] == later.isoformat()
    assert accepted.json()["line"]["status"] == "active"


def test_a_close_the_borrower_asks_for_is_immediate_even_with_one_scheduled(
    eu: Container, approver: Actor, agent: Actor, borrower: Actor
) -> None:
    line_id = open_eur_line(eu, agent, borrower)
    eu.ledger.change_limit(approver, "close", line_id, "close", ["multiple_lenders"])
    asked = eu.ledger.requests.ask(borrower, "ask", line_id, "close").document
    codes = ["account_closed_by_borrower"]

    with pytest.raises(InvalidInput, match="takes effect at once"):
        eu.ledger.change_limit(
            approver,
            "now",
            line_id,
            "close",
            codes,
            request_id=asked["id"],
            effective_at=START + 90 * DAY,
        )
    closed = eu.ledger.change_limit(
        approver, "now", line_id, "close", codes, request_id=asked["id"]
    ).document

    assert closed["decision"]["effective_at"] is None
    assert (closed["line"]["status"], closed["line"]["closing_at"]) == ("closed", None)
    assert eu.reconciler.run() == []


# --- EU-1, EU-3: human intervention, one's view, review ------------------------------------------


STATEMENT = "I bought furniture for my new flat in five shops on one day.\nIt was me."


def test_an_eu_borrower_gives_their_view_and_a_person_reviews_the_automated_freeze(
    eu: Container, eu_api: TestClient, agent: Actor, borrower: Actor
) -> None:
    line_id, frozen_by = frozen_by_the_eu_policy(eu, agent, borrower)
    me = headers(eu, Role.BORROWER, borrower.subject)

    asked = eu_api.post(f"/v1/lines/{line_id}/reviews", json={"statement": STATEMENT}, headers=me)

    assert asked.status_code == 201, asked.json()
    review = asked.json()["human_review"]  # a statement asks for a person
    assert review["statement"] == STATEMENT
    assert review["contested_decision_id"] == frozen_by
    assert review["due_at"] == (START + 30 * DAY).isoformat()  # the EU profile: one month
    staff = headers(eu, Role.AGENT, "agent-1")
    assert eu_api.get(f"/v1/reviews/{review['id']}", headers=staff).json()["statement"] == STATEMENT
    # Kept for the reviewer; never in a message to the borrower or the lender.
    for row in outbox_of(eu, line_id):
        assert "furniture" not in row["payload"]
    eu.dispatcher.run_until_idle()
    for notice in eu.notices.inbox(borrower)["notices"]:
        assert "furniture" not in notice["subject"] + notice["body"]

    decided = eu_api.post(
        f"/v1/reviews/{review['id']}/decide",
        json={
            "outcome": "reverse",
            "note": "Checked with the borrower: they were hers.",
        },
        headers=staff,
    )
    assert decided.status_code == 200, decided.json()
    assert eu.ledger.get_line(borrower, line_id)["status"] == "active"


def test_a_person_reviews_any_decision_the_borrower_names(
    eu: Container, eu_api: TestClient, agent: Actor, borrower: Actor
) -> None:
    line_id, frozen_by = frozen_by_the_eu_policy(eu, agent, borrower)
    eu.ledger.change_limit(agent, "thaw", line_id, "unfreeze", ["risk_resolved"])
    me = headers(eu, Role.BORROWER, borrower.subject)

    # The freeze no longer holds, but it was automated: the borrower names it.
    asked = eu_api.post(f"/v1/lines/{line_id}/reviews", json={"decision_id": frozen_by}, headers=me)

    assert asked.status_code == 201, asked.json()
    assert asked.json()["human_review"]["contested_decision_id"] == frozen_by
    other_line = open_eur_line(eu, agent, Actor("borrower-2", Role.BORROWER))
    other = eu.ledger.change_limit(agent, "f", other_line, "suspend", ["overdue_payment"])
    with pytest.raises(DecisionNotFound):  # a decision about another line
        eu.appeals.request(
            borrower, "k-other", line_id, decision_id=other.document["decision"]["id"]
        )


def test_a_borrower_gets_a_person_for_a_line_the_policy_cannot_review_again(
    eu: Container, clock: FixedClock, approver: Actor, agent: Actor, borrower: Actor
) -> None:
    line_id = open_eur_line(eu, agent, borrower)
    eu.ledger.change_limit(approver, "close", line_id, "close", ["multiple_lenders"])
    clock.set(TWO_MONTHS_ON)
    eu.ledger.sweep()
    closed = eu.ledger.get_line(borrower, line_id)
    assert closed["status"] == "closed"

    with pytest.raises(Conflict):  # the policy alone cannot review a closed line
        eu.appeals.request(borrower, "k-auto", line_id)
    asked = eu.appeals.request(borrower, "k-person", line_id, statement="I repaid on time.")

    assert asked.document["outcome"] == "not_reviewed"
    review = asked.document["human_review"]
    assert review["contested_decision_id"] == closed["status_decision_id"]
    assert review["statement"] == "I repaid on time."


@pytest.mark.parametrize(
    "statement",
    ["x" * 4001, "", "a\x00b", "a\x07b"],
    ids=["too long", "empty", "NUL", "bell"],
)
def test_a_statement_is_bounded_text(
    eu: Container, agent: Actor, borrower: Actor, statement: str
) -> None:
    line_id = open_eur_line(eu, agent, borrower)

    with pytest.raises(InvalidInput, match="statement"):
        eu.appeals.request(borrower, "k", line_id, statement=statement)


# --- the APRC in quotes --------------------------------------------------------------------------


def test_an_eur_quote_reports_the_aprc_first(
    eu: Container, eu_api: TestClient, agent: Actor, borrower: Actor
) -> None:
    line_id = open_eur_line(eu, agent, borrower)
    me = headers(eu, Role.BORROWER, borrower.subject)

    quoted = eu_api.post(
        f"/v1/lines/{line_id}/quotes",
        json={"amount": "1000.00", "term_months": 12, "product": "test-priced-eur"},
        headers=me,
    )

    assert quoted.status_code == 200, quoted.json()
    document = quoted.json()
    assert next(iter(document)) == "aprc_percent"
    assert (document["profile"], document["upfront_fee"]) == ("TEST-EU", "5.00")
    # The annex's equation for this schedule, solved by bisection with floats: 995.00 received
    # (the fee is kept from the advance), each instalment paid n whole months later.
    paid = [(n, float(i["payment"])) for n, i in enumerate(document["instalments"], start=1)]

    def present_value(rate: float) -> float:
        return 995.00 - sum(amount / (1 + rate) ** (n / 12) for n, amount in paid)

    low, high = 0.0, 1.0
    for _ in range(100):
        middle = (low + high) / 2
        low, high = (middle, high) if present_value(middle) < 0 else (low, middle)
    assert document["aprc_percent"] == f"{low * 100:.1f}"
    assert float(document["aprc_percent"]) > float(document["apr_percent"])  # compounding
