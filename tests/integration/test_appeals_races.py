"""Races on human reviews, closed by their transactions: one decision per review, one open
review per line; the review, the ledger's decision and the borrower's notice always agree, and
the reconciler proves it."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from conftest import frozen_by_the_policy
from sqlalchemy import func, select, update

from creditline.bootstrap import Container
from creditline.decisions.appeals import ReviewAlreadyDecided
from creditline.decisions.tables import reviews
from creditline.kernel.actors import Actor, Role
from creditline.ledger.ports import Finding
from creditline.ledger.tables import decisions
from creditline.notices.tables import outbox

REQUESTS_AT_ONCE = 10
OVERLAP_SECONDS = 0.2  # long enough for every racer to be inside its transaction at once


def at_once(calls: list[Callable[[], Any]]) -> list[Any]:
    """Run every call on its own thread, released together; each one's result or exception."""
    start = threading.Barrier(len(calls))
    outcomes: list[Any] = [None] * len(calls)

    def run(index: int) -> None:
        start.wait()
        try:
            outcomes[index] = calls[index]()
        except Exception as error:  # the outcome under test
            outcomes[index] = error

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return outcomes


def slowed(monkeypatch: pytest.MonkeyPatch, owner: Any, name: str) -> None:
    """Make `owner.name` wait before it runs, so that racing transactions overlap."""
    real = getattr(owner, name)

    def slow(*args: Any, **kwargs: Any) -> Any:
        time.sleep(OVERLAP_SECONDS)
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, slow)


def count(c: Container, query: Any) -> int:
    with c.db.reading() as connection:
        return int(connection.execute(query).scalar_one())


@pytest.mark.slow
def test_two_staff_deciding_one_review_at_once_make_one_decision(
    container: Container, agent: Actor, borrower: Actor, monkeypatch: pytest.MonkeyPatch
) -> None:
    line_id = frozen_by_the_policy(container, agent, borrower)
    review = container.appeals.request(borrower, "ask", line_id, human=True).document
    review_id = review["human_review"]["id"]
    # Each decision waits between reading its review and locking the line.
    slowed(monkeypatch, container.ledger.port, "lock")
    staff = [Actor("agent-a", Role.AGENT), Actor("approver-b", Role.APPROVER)]
    outcomes = at_once(
        [
            lambda: container.appeals.decide(staff[0], "decide-a", review_id, "reverse", []),
            lambda: container.appeals.decide(staff[1], "decide-b", review_id, "reverse", []),
        ]
    )
    won = [o for o in outcomes if not isinstance(o, Exception)]
    lost = [o for o in outcomes if isinstance(o, Exception)]
    assert len(won) == 1 and len(lost) == 1, outcomes
    assert isinstance(lost[0], ReviewAlreadyDecided)
    assert lost[0].code == "review_already_decided"
    decided = won[0].document
    # The review, the ledger's one decision and the borrower's one notice agree.
    by_reviewer = select(decisions.c.id).where(
        decisions.c.line_id == line_id, decisions.c.actor_subject.like("human-review:%")
    )
    with container.db.reading() as connection:
        [decision_id] = connection.execute(by_reviewer).scalars().all()
    assert (decided["outcome"], decided["decision_id"]) == ("reverse", decision_id)
    told = select(func.count()).where(
        outbox.c.ref_id == review_id, outbox.c.topic == "notice.review_decided"
    )
    assert count(container, told) == 1
    assert container.ledger.get_line(borrower, line_id)["status"] == "active"
    assert container.reconciler.run() == []


@pytest.mark.slow
def test_many_requests_for_a_human_review_at_once_open_one(
    container: Container, agent: Actor, borrower: Actor, monkeypatch: pytest.MonkeyPatch
) -> None:
    line_id = frozen_by_the_policy(container, agent, borrower)
    # Each request waits between its automatic review and the human review it may open.
    slowed(monkeypatch, container.decisions, "review_in")
    outcomes = at_once(
        [
            lambda n=n: container.appeals.request(borrower, f"ask-{n}", line_id, human=True)
            for n in range(REQUESTS_AT_ONCE)
        ]
    )
    failed = [o for o in outcomes if isinstance(o, Exception)]
    assert failed == []
    opened = {o.document["human_review"]["id"] for o in outcomes}
    assert len(opened) == 1
    still_open = select(func.count()).where(
        reviews.c.line_id == line_id, reviews.c.kind == "human", reviews.c.outcome == "open"
    )
    assert count(container, still_open) == 1
    announced = select(func.count()).where(
        outbox.c.line_id == line_id, outbox.c.topic == "notice.review_opened"
    )
    assert count(container, announced) == 1
    # Every request is recorded (they count among the borrower's recent requests).
    automatic = select(func.count()).where(
        reviews.c.line_id == line_id, reviews.c.kind == "automatic"
    )
    assert count(container, automatic) == REQUESTS_AT_ONCE


def test_the_reconciler_finds_a_review_and_a_decision_that_do_not_point_at_each_other(
    container: Container, agent: Actor, borrower: Actor
) -> None:
    line_id = frozen_by_the_policy(container, agent, borrower)
    review_id = container.appeals.request(borrower, "ask", line_id, human=True).document[
        "human_review"
    ]["id"]
    decided = container.appeals.decide(agent, "decide", review_id, "reverse", []).document
    decision_id = decided["decision_id"]
    assert container.reconciler.run() == []
    with container.db.engine.begin() as connection:
        connection.execute(
            update(reviews).where(reviews.c.id == review_id).values(decision_id=None)
        )
    assert container.reconciler.run() == [
        Finding(
            "review_decision_recorded",
            line_id,
            f"decision {decision_id} was made on a human review that does not name it",
        )
    ]
    # A review naming a decision the ledger never recorded for its line.
    other = container.ledger.open_line(agent, "open-2", "borrower-2", "CNY", "1000.00")
    foreign = container.ledger.change_limit(
        agent, "freeze-2", other.document["id"], "suspend", ["reverification_due"]
    ).document["decision"]["id"]
    with container.db.engine.begin() as connection:
        connection.execute(
            update(reviews).where(reviews.c.id == review_id).values(decision_id=foreign)
        )
    found = {f.detail for f in container.reconciler.run() if f.check == "review_decision_recorded"}
    assert f"review {review_id} names decision {foreign}, which this line lacks" in found
