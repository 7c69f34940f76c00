"""Retiring a version that was approved, before it takes effect: every borrower its approval
told of a change is told that it will not happen (zh-CN and English), set-based, in the
retirement's transaction; the changes are closed as withdrawn and never come due."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from test_policy_lifecycle import (
    ANALYST,
    APPROVER,
    book,
    candidate,
    policy_notices,
    submitted_and_simulated,
)

from creditline.bootstrap import Container
from creditline.decisions.tables import policy_change_outcomes, policy_changes
from creditline.kernel.actors import Actor, Role
from creditline.kernel.clock import FixedClock
from creditline.kernel.ids import is_id
from creditline.notices.outbox import Outbox
from creditline.notices.tables import outbox

TEMPLATES = Path(__file__).parents[2] / "src" / "creditline" / "notices" / "templates"
DAY = timedelta(days=1)
WITHDRAWN = "notice.policy_change_withdrawn"


def withdrawals(c: Container) -> list[Any]:
    with c.db.reading() as connection:
        query = select(outbox).where(outbox.c.topic == WITHDRAWN).order_by(outbox.c.line_id)
        return list(connection.execute(query).mappings())


def outcomes(c: Container) -> dict[str, str]:
    with c.db.reading() as connection:
        rows = connection.execute(select(policy_change_outcomes)).mappings()
        return {row["change_id"]: row["outcome"] for row in rows}


def announced_and_scheduled(c: Container, agent: Actor, clock: FixedClock) -> dict[str, str]:
    """Four borrowers, two of them told of a cut on the version's approval; it is scheduled."""
    lines = book(c, agent, ["12000.00", "15000.00", "2000.00", "0"])
    label = submitted_and_simulated(c, candidate())
    approved = c.policies.approve(APPROVER, "approve", label, clock.now() + 30 * DAY).document
    assert approved["notices_queued"] == 2
    c.policies.schedule(APPROVER, "schedule", label)
    return lines


def test_retiring_an_approved_version_tells_every_borrower_told_of_its_change(
    container: Container, agent: Actor, clock: FixedClock
) -> None:
    lines = announced_and_scheduled(container, agent, clock)
    label = "cn-standard@2026.12.1"
    clock.advance(12 * DAY)

    retired = container.policies.retire(APPROVER, "retire", label, "the loss review was wrong")

    assert (retired.document["state"], retired.document["notices_queued"]) == ("retired", 2)
    announced = {row["line_id"]: row for row in policy_notices(container)}
    told = withdrawals(container)
    assert {row["line_id"] for row in told} == set(announced)
    assert {row["borrower_id"] for row in told} == {"borrower-0", "borrower-1"}
    with container.db.reading() as connection:
        changes = {row["id"]: row for row in connection.execute(select(policy_changes)).mappings()}
    for row in told:
        assert is_id(row["id"]) and row["id"] not in {n["id"] for n in announced.values()}
        assert row["ref_id"] in changes  # about the change it withdraws
        payload = json.loads(row["payload"])
        assert payload["policy"] == label
        assert payload["withdrawn_at"] == clock.now().isoformat()
        assert payload["policy_change"] == json.loads(changes[row["ref_id"]]["change"])
        assert (
            payload["effective_at"]
            == json.loads(announced[row["line_id"]]["payload"])["effective_at"]
        )
    assert outcomes(container) == dict.fromkeys(changes, "withdrawn")

    # The borrower reads it in either language, newest first; nothing is pending any more.
    container.dispatcher.run_until_idle()
    borrower = Actor("borrower-0", Role.BORROWER)
    en, older = container.notices.inbox(borrower, "en")["notices"][:2]
    zh = container.notices.inbox(borrower, "zh-CN")["notices"][0]
    assert (en["kind"], older["kind"]) == ("policy_change_withdrawn", "policy_change")
    assert (
        en["subject"] == "Your credit limit will not change on 2026-12-28: the change is withdrawn"
    )
    assert "it will not happen" in en["body"] and "CNY 20,000.00" in en["body"]
    assert zh["subject"] == "您的授信额度不会于 2026-12-28 调整:该调整已撤回"
    explained = container.explainer.explain(borrower, lines["borrower-0"], "en")
    assert explained["pending_policy_change"] is None

    # Its date comes and goes: nothing is activated, nobody is cut.
    clock.advance(30 * DAY)
    assert container.policies.activate_due() == {}
    assert container.ledger.get_line(agent, lines["borrower-0"])["limit"] == "20000.00"
    history = container.policies.history(ANALYST, label)
    assert history["steps"][-1]["justification"] == "the loss review was wrong"


def test_the_withdrawal_notices_commit_with_the_retirement_or_not_at_all(
    container: Container, agent: Actor, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    announced_and_scheduled(container, agent, clock)
    label = "cn-standard@2026.12.1"

    def broken(*args: object, **kwargs: object) -> int:
        raise RuntimeError("the outbox is unwell")

    monkeypatch.setattr(Outbox, "queue_selected", broken)
    with pytest.raises(RuntimeError, match="unwell"):
        container.policies.retire(APPROVER, "retire", label, "withdrawn")
    assert container.policies.history(ANALYST, label)["state"] == "scheduled"
    assert outcomes(container) == {}
    monkeypatch.undo()

    first = container.policies.retire(APPROVER, "retire", label, "withdrawn")
    again = container.policies.retire(APPROVER, "retire", label, "withdrawn")  # a replay
    assert again.replayed and again.document == first.document
    assert len(withdrawals(container)) == 2


def test_retiring_a_version_nobody_was_told_of_tells_nobody(
    container: Container, agent: Actor
) -> None:
    book(container, agent, ["12000.00", "0"])
    label = submitted_and_simulated(container, candidate())

    retired = container.policies.retire(APPROVER, "retire", label, "not needed after all")

    assert retired.document["notices_queued"] == 0
    assert withdrawals(container) == [] and outcomes(container) == {}


def test_the_chinese_withdrawal_has_no_english() -> None:
    template = (TEMPLATES / "policy_change_withdrawn.zh-CN.j2").read_text(encoding="utf-8")
    words = re.sub(r"\{[{%].*?[%}]\}", "", template, flags=re.S)
    assert re.findall(r"[A-Za-z]+", words) == []
