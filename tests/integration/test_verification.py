"""A line suspended for re-verification comes back by itself when the borrower re-verifies —
no new application — and a refused verification says why."""

from __future__ import annotations

import datetime as dt
import json
from datetime import timedelta

import pytest
from conftest import headers
from fastapi.testclient import TestClient
from sqlalchemy import select

from creditline.bootstrap import Container
from creditline.decisions.applications import Application
from creditline.kernel.actors import Actor, Role
from creditline.kernel.clock import FixedClock
from creditline.kernel.errors import Forbidden, IdempotencyKeyReused, InvalidInput
from creditline.ledger.tables import decisions
from creditline.notices.tables import outbox

DAY = timedelta(days=1)


def suspended_line(c: Container, borrower: Actor, clock: FixedClock) -> str:
    """A line opened on income evidence that then expired, and suspended for it."""
    expires = (clock.now() + 10 * DAY).date()
    application = Application(
        borrower_id=borrower.subject,
        currency="CNY",
        income_monthly="12000.00",
        income_evidence=True,
        income_evidence_expires_on=expires,
        birth_date=dt.date(1990, 5, 1),
        employment="employed",
    )
    line_id = str(c.underwriting.apply(borrower, "app", application).document["line_id"])
    clock.advance(12 * DAY)
    assert c.decisions.review_line(line_id).decision.action == "suspend"
    return line_id


def income(clock: FixedClock, **changes: object) -> dict[str, object]:
    today = clock.now().date()
    evidence: dict[str, object] = {
        "income_monthly": "15000.00",
        "currency": "CNY",
        "document_id": "payslip-2026-12",
        "issued_on": (today - DAY).isoformat(),
        "expires_on": (today + 180 * DAY).isoformat(),
    }
    evidence.update(changes)
    return evidence


def topics(c: Container, line_id: str) -> list[str]:
    with c.db.reading() as connection:
        return list(
            connection.execute(
                select(outbox.c.topic).where(outbox.c.line_id == line_id).order_by(outbox.c.id)
            ).scalars()
        )


def test_re_verifying_income_restores_the_suspended_line_with_its_reason_and_notice(
    container: Container, borrower: Actor, clock: FixedClock
) -> None:
    line_id = suspended_line(container, borrower, clock)
    result = container.verifications.submit(borrower, "v1", "income", income(clock)).document
    assert (result["status"], result["income_monthly"]) == ("accepted", "15000.00")
    [restored] = result["lines"]
    assert (restored["line_id"], restored["outcome"]) == (line_id, "restored")
    line = container.ledger.get_line(borrower, line_id)
    assert (line["status"], line["limit"]) == ("active", "20000.00")
    with container.db.reading() as connection:
        row = (
            connection.execute(select(decisions).where(decisions.c.id == restored["decision_id"]))
            .mappings()
            .one()
        )
    assert (row["action"], json.loads(row["reason_codes"])) == (
        "restore",
        ["verification_completed"],
    )
    features = json.loads(row["evidence"])["features"]
    assert features["income_monthly_minor"] == 1_500_000  # the verified income, not the declared
    assert features["income_evidence"] is True
    assert "notice.line_improved" in topics(container, line_id)
    # The same request again answers the same and changes nothing.
    again = container.verifications.submit(borrower, "v1", "income", income(clock)).document
    assert (again["id"], again["status"]) == (result["id"], "accepted")
    with pytest.raises(IdempotencyKeyReused):
        container.verifications.submit(borrower, "v1", "income", income(clock, document_id="x"))
    # A later review keeps the line: the verified evidence is in date.
    assert container.decisions.review_line(line_id).decision.action != "suspend"


def test_refused_evidence_is_explained_and_the_line_stays_suspended(
    container: Container, borrower: Actor, clock: FixedClock
) -> None:
    line_id = suspended_line(container, borrower, clock)
    expired = (clock.now().date() - DAY).isoformat()
    result = container.verifications.submit(
        borrower, "v1", "income", income(clock, expires_on=expired)
    ).document
    assert (result["status"], result["problem"]) == (
        "rejected",
        f"the document expired on {expired}",
    )
    assert result["lines"] == []
    assert container.ledger.get_line(borrower, line_id)["status"] == "suspended"
    assert topics(container, line_id)[-1] == "notice.verification_failed"


def test_an_identity_check_does_not_lift_a_suspension_for_income(
    container: Container, borrower: Actor, clock: FixedClock
) -> None:
    line_id = suspended_line(container, borrower, clock)
    identity = {"document_type": "id_card", "document_number": "110101199005010011",
                "full_name": "李伟"}  # fmt: skip
    result = container.verifications.submit(borrower, "v1", "identity", identity).document
    assert (result["status"], result["lines"]) == ("accepted", [])
    assert container.ledger.get_line(borrower, line_id)["status"] == "suspended"


def test_only_the_borrower_sends_evidence_and_bad_requests_change_nothing(
    container: Container, client: TestClient, borrower: Actor, clock: FixedClock
) -> None:
    line_id = suspended_line(container, borrower, clock)
    with pytest.raises(Forbidden):
        container.verifications.submit(Actor("agent-1", Role.AGENT), "v", "income", income(clock))
    with pytest.raises(InvalidInput):
        container.verifications.submit(borrower, "v", "salary", income(clock))
    refused = client.post(
        "/v1/verifications",
        json={"kind": "income", "evidence": income(clock), "line_id": line_id},
        headers=headers(container, Role.BORROWER, "someone-else"),
    )
    assert (refused.status_code, refused.json()["code"]) == (404, "line_not_found")
    answered = client.post(
        "/v1/verifications",
        json={"kind": "income", "evidence": income(clock), "line_id": line_id},
        headers=headers(container, Role.BORROWER, borrower.subject),
    )
    assert answered.status_code == 201, answered.text
    assert answered.json()["line_status"] == {line_id: "active"}
