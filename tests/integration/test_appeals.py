"""A borrower asks a person to review an automated decision: the review opens with a deadline,
staff work the queue by deadline, and reversing restores the line through the ledger."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from conftest import frozen_by_the_policy, headers
from fastapi.testclient import TestClient
from sqlalchemy import select

from creditline.bootstrap import Container
from creditline.decisions.appeals import ReviewAlreadyDecided, ReviewNotFound
from creditline.kernel.actors import Actor, Role
from creditline.kernel.clock import FixedClock
from creditline.kernel.errors import Forbidden, InvalidInput
from creditline.kernel.ids import new_id
from creditline.notices.tables import outbox

DAY = timedelta(days=1)


def notices(c: Container, line_id: str) -> list[tuple[str, dict]]:
    with c.db.reading() as connection:
        rows = connection.execute(
            select(outbox.c.topic, outbox.c.payload)
            .where(outbox.c.line_id == line_id, outbox.c.topic.like("notice.%"))
            .order_by(outbox.c.id)
        ).all()
    return [(topic, json.loads(payload)) for topic, payload in rows]


def test_a_human_review_opens_with_a_deadline_and_a_reversal_lifts_the_freeze(
    container: Container, agent: Actor, borrower: Actor, clock: FixedClock
) -> None:
    line_id = frozen_by_the_policy(container, agent, borrower)
    asked = container.appeals.request(
        borrower,
        f"k-{new_id()}",
        line_id,
        human=True,
        reason_text="I paid for a wedding, it was one week.",
    ).document
    assert asked["action"] == "freeze" and asked["outcome"] == "decided_today"  # automatic first
    review = asked["human_review"]
    assert (review["status"], review["overdue"]) == ("open", False)
    assert review["due_at"] == (clock.now() + 15 * DAY).isoformat()  # the CN profile's 15 days
    topic, payload = notices(container, line_id)[-1]
    assert (topic, payload["review"], payload["due_at"]) == (
        "notice.review_opened",
        review["id"],
        review["due_at"],
    )
    explained = container.explainer.explain(borrower, line_id, "en")
    assert explained["human_review"]["due_at"] == review["due_at"]
    # Asking again while one is open answers the open one.
    again = container.appeals.request(borrower, f"k-{new_id()}", line_id, human=True).document
    assert again["human_review"]["id"] == review["id"]

    clock.advance(16 * DAY)
    # The missed deadline raises an alert to the lender, once.
    assert container.reminders.run()["review_overdue"] == 1
    assert container.reminders.run()["review_overdue"] == 0
    with container.db.reading() as connection:
        [alert] = connection.execute(
            select(outbox.c.payload).where(outbox.c.topic == "event.review_overdue")
        ).scalars()
    assert json.loads(alert) == {"review": review["id"], "due_at": review["due_at"]}
    queue = container.appeals.queue(Actor("analyst-1", Role.ANALYST))
    assert [r["id"] for r in queue["reviews"]] == [review["id"]]
    assert queue["reviews"][0]["overdue"] is True and queue["overdue"] == 1

    decided = container.appeals.decide(
        agent,
        f"k-{new_id()}",
        review["id"],
        "reverse",
        [],
        note="One-off spending; history is clean.",
    ).document
    assert (decided["status"], decided["outcome"], decided["decided_by"]) == (
        "decided",
        "reverse",
        agent.subject,
    )
    line = container.ledger.get_line(borrower, line_id)
    assert line["status"] == "active"
    reversal = container.ledger.get_decision(agent, decided["decision_id"])
    assert (reversal["action"], reversal["reason_codes"]) == ("unfreeze", ["review_upheld_appeal"])
    assert reversal["actor"] == f"service:human-review:{agent.subject}"
    topic, payload = notices(container, line_id)[-1]
    assert (topic, payload["outcome"]) == ("notice.review_decided", "reverse")
    assert container.appeals.queue(agent)["reviews"] == []
    with pytest.raises(ReviewAlreadyDecided):
        container.appeals.decide(agent, f"k-{new_id()}", review["id"], "uphold", [])


def test_an_upheld_review_keeps_the_decision_and_says_which_reasons_hold(
    container: Container, agent: Actor, borrower: Actor
) -> None:
    line_id = frozen_by_the_policy(container, agent, borrower)
    review = container.appeals.request(borrower, f"k-{new_id()}", line_id, contest=True).document[
        "human_review"
    ]
    assert review is not None and review["contested_decision_id"] is not None
    decided = container.appeals.decide(
        agent, f"k-{new_id()}", review["id"], "uphold", [], note="Checked."
    ).document
    assert (decided["outcome"], decided["decision_id"]) == ("uphold", None)
    assert container.ledger.get_line(borrower, line_id)["status"] == "frozen"
    topic, payload = notices(container, line_id)[-1]
    assert topic == "notice.review_decided"
    contested = container.ledger.get_decision(agent, review["contested_decision_id"])
    assert payload["decision"]["reason_codes"] == contested["reason_codes"]
    assert contested["reason_codes"][0] == "drawdown_velocity"
    # The borrower reads their review; nobody else does.
    assert container.appeals.get(borrower, review["id"])["outcome"] == "uphold"
    with pytest.raises(ReviewNotFound):
        container.appeals.get(Actor("someone", Role.BORROWER), review["id"])


def test_reversing_a_cut_puts_the_limit_back_and_modify_sets_a_new_one(
    container: Container, agent: Actor, approver: Actor, borrower: Actor
) -> None:
    line_id = str(
        container.ledger.open_line(agent, "o", borrower.subject, "CNY", "20000.00").document["id"]
    )
    container.ledger.change_limit(
        approver, "cut", line_id, "decrease", ["multiple_lenders"], limit="10000.00"
    )
    first = container.appeals.request(borrower, f"k-{new_id()}", line_id, contest=True).document[
        "human_review"
    ]
    container.appeals.decide(agent, f"k-{new_id()}", first["id"], "reverse", [])
    assert container.ledger.get_line(borrower, line_id)["limit"] == "20000.00"

    container.ledger.change_limit(
        approver, "cut-2", line_id, "decrease", ["multiple_lenders"], limit="8000.00"
    )
    second = container.appeals.request(borrower, f"k-{new_id()}", line_id, human=True).document[
        "human_review"
    ]
    with pytest.raises(InvalidInput):
        container.appeals.decide(
            agent, f"k-{new_id()}", second["id"], "modify", ["multiple_lenders"]
        )  # no limit
    container.appeals.decide(agent, f"k-{new_id()}", second["id"], "modify", [], limit="15000.00")
    assert container.ledger.get_line(borrower, line_id)["limit"] == "15000.00"


def test_contesting_when_nothing_adverse_holds_opens_no_review(
    container: Container, agent: Actor, borrower: Actor
) -> None:
    line_id = str(
        container.ledger.open_line(agent, "o", borrower.subject, "CNY", "20000.00").document["id"]
    )
    assert (
        container.appeals.request(borrower, f"k-{new_id()}", line_id, contest=True).document[
            "human_review"
        ]
        is None
    )


def test_who_may_work_the_queue(
    container: Container, client: TestClient, agent: Actor, borrower: Actor
) -> None:
    line_id = frozen_by_the_policy(container, agent, borrower)
    me = headers(container, Role.BORROWER, borrower.subject)
    asked = client.post(
        f"/v1/lines/{line_id}/reviews", json={"human": True, "reason_text": "please"}, headers=me
    )
    assert asked.status_code == 201, asked.text
    review_id = asked.json()["human_review"]["id"]
    refused = client.get("/v1/reviews", headers=me)
    assert (refused.status_code, refused.json()["code"]) == (403, "forbidden")
    analyst = headers(container, Role.ANALYST, "analyst-1")
    assert client.get("/v1/reviews?status=open", headers=analyst).json()["reviews"][0]["id"] == (
        review_id
    )
    cannot = client.post(
        f"/v1/reviews/{review_id}/decide", json={"outcome": "reverse"}, headers=analyst
    )
    assert cannot.status_code == 403
    with pytest.raises(Forbidden):
        container.appeals.decide(borrower, f"k-{new_id()}", review_id, "reverse", [])
    bad = client.post(
        f"/v1/reviews/{review_id}/decide",
        json={"outcome": "uphold", "reason_codes": ["no_such_code"]},
        headers=headers(container, Role.AGENT, "agent-1"),
    )
    assert (bad.status_code, bad.json()["code"]) == (422, "invalid_input")
    missing = client.get("/v1/reviews/not-an-id", headers=analyst)
    assert (missing.status_code, missing.json()["code"]) == (404, "review_not_found")
    done = client.post(
        f"/v1/reviews/{review_id}/decide",
        json={"outcome": "reverse", "note": "ok"},
        headers=headers(container, Role.AGENT, "agent-1"),
    )
    assert done.status_code == 200, done.text
    assert client.get(f"/v1/reviews/{review_id}", headers=me).json()["outcome"] == "reverse"
