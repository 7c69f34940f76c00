"""A policy change that closes EU lines: the borrower's termination notice is the policy change's
own notice, two months ahead (Art. 28(1)); on that date activation closes the line at once,
not two months later again."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import with_rule
from sqlalchemy import select
from test_eu_profile import EU_POLICY, build_eu, inbox_kinds, open_eur_line

from creditline.bootstrap import Container
from creditline.decisions.tables import policy_changes
from creditline.kernel.actors import Actor, Role
from creditline.kernel.clock import FixedClock

ANALYST = Actor("analyst-1", Role.ANALYST)
APPROVER = Actor("approver-1", Role.APPROVER)
# Approved at the suite's START, 2026-11-28 09:00 UTC. The EU profile's notice of a policy
# change is 30 days (2026-12-28) and of a termination two calendar months: 2027-01-28 09:00.
TWO_MONTHS_AFTER_APPROVAL = datetime.fromisoformat("2027-01-28T09:00:00+00:00")


@pytest.fixture
def eu(database_url: str, clock: FixedClock, tmp_path: Path) -> Iterator[Container]:
    built = build_eu(database_url, clock, tmp_path)
    yield built
    built.close()


def closing_new_lines() -> dict[str, Any]:
    """The EU policy, closing lines on book for less than three months."""
    close = {"when": "months_on_book < 3", "action": "close", "reason": "short_history"}
    return with_rule(
        EU_POLICY, "2026.12.2", {"id": "new-lines-close", **close, "priority": 60}, "1"
    )


def test_a_policy_close_takes_effect_two_months_after_its_notice_not_four(
    eu: Container, clock: FixedClock, agent: Actor
) -> None:
    borrower = Actor("borrower-1", Role.BORROWER)
    line_id = open_eur_line(eu, agent, borrower)
    label = eu.policies.submit(ANALYST, "submit", closing_new_lines()).document["policy"]
    assert eu.policies.simulate(ANALYST, "simulate", label).document["adverse_count"] == 1

    approved = eu.policies.approve(APPROVER, "approve", label, None).document
    assert approved["effective_at"] == TWO_MONTHS_AFTER_APPROVAL.isoformat()
    eu.policies.schedule(APPROVER, "schedule", label)
    assert inbox_kinds(eu, borrower)[0] == "policy_change"
    notice, granted = eu.notices.inbox(borrower, "en")["notices"]  # newest first
    assert granted["kind"] == "limit_increased"  # the staff member's grant that opened the line
    assert notice["subject"] == "Your credit line will close on 2027-01-28"

    clock.set(TWO_MONTHS_AFTER_APPROVAL)
    assert eu.policies.activate_due() == {"activated": 1, "applied": 1}

    line = eu.ledger.get_line(borrower, line_id)
    assert (line["status"], line["closing_at"]) == ("closed", None)
    closed = eu.ledger.get_decision(agent, line["status_decision_id"])
    assert (closed["action"], closed["effective_at"]) == ("close", None)
    assert closed["policy_version"] == label
    assert inbox_kinds(eu, borrower)[0] == "line_closed"
    with eu.db.reading() as connection:
        [change] = connection.execute(select(policy_changes)).mappings()
    assert change["announced_at"] < clock.now() == change["effective_at"]
    assert eu.reconciler.run() == []
