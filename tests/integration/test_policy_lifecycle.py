"""A policy change reaches no borrower without a simulation, a second person's approval and
advance notice: the lifecycle's refusals, the notices at approval, and activation on the date
(decided again on current data: an improved borrower is not cut)."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import HIGH_USE, headers, with_rule
from fastapi.testclient import TestClient
from sqlalchemy import select, text

from creditline.bootstrap import Container
from creditline.config import shipped_policy_file
from creditline.decisions.tables import policy_changes
from creditline.kernel.actors import Actor, Role
from creditline.kernel.clock import FixedClock
from creditline.ledger.tables import decisions
from creditline.notices.channels import Message
from creditline.notices.tables import outbox

EXAMPLE = shipped_policy_file()
TEMPLATES = Path(__file__).parents[2] / "src" / "creditline" / "notices" / "templates"
DAY = timedelta(days=1)
ANALYST = Actor("analyst-1", Role.ANALYST)
APPROVER = Actor("approver-1", Role.APPROVER)
ADMIN = Actor("admin-1", Role.ADMIN)
CANDIDATE = "cn-standard@2026.12.1"


def candidate(share_max: str | None = "0.9") -> dict[str, Any]:
    """The shipped policy, cutting lines used over half their limit by half."""
    return with_rule(EXAMPLE, "2026.12.1", HIGH_USE, share_max)


def book(c: Container, agent: Actor, uses: list[str]) -> dict[str, str]:
    """One line of 20,000.00 per borrower, each drawn by the amount given: line id by
    borrower."""
    lines = {}
    for n, use in enumerate(uses):
        borrower = Actor(f"borrower-{n}", Role.BORROWER)
        line_id = str(
            c.ledger.open_line(agent, f"o{n}", borrower.subject, "CNY", "20000.00").document["id"]
        )
        if use != "0":
            hold = c.ledger.place_hold(borrower, f"h{n}", line_id, use, 12).document
            c.loans.post_drawdown(borrower, f"p{n}", hold["id"])
        lines[borrower.subject] = line_id
    return lines


def submitted_and_simulated(c: Container, document: dict[str, Any], author: Actor = ANALYST) -> str:
    label = c.policies.submit(author, "submit", document).document["policy"]
    assert c.policies.history(ANALYST, label)["state"] == "linted"
    simulated = c.policies.simulate(author, "simulate", label).document
    assert simulated["against"] == "cn-standard@2026.11.1"
    return str(label)


def policy_notices(c: Container) -> list[Any]:
    with c.db.reading() as connection:
        query = select(outbox).where(outbox.c.topic == "notice.policy_change")
        return list(connection.execute(query).mappings())


def test_approval_tells_every_affected_borrower_and_the_change_waits_for_its_date(
    container: Container, client: TestClient, agent: Actor, clock: FixedClock
) -> None:
    lines = book(container, agent, ["12000.00", "15000.00", "2000.00", "0"])
    label = submitted_and_simulated(container, candidate())
    report = container.policies.simulation(ANALYST, label)
    assert (report["lines_total"], report["adverse_count"]) == (4, 2)
    assert report["actions"]["decrease"] == {"active": 0, "candidate": 2}
    assert report["reasons"]["utilisation_high"]["candidate"] == 2
    [high_use] = [r for r in report["rules"] if r["rule"] == "high-use"]
    assert (high_use["fired_active"], high_use["fired_candidate"]) == (0, 2)
    exposure = report["exposure"]
    assert sum(r["limit_today_minor"] for r in exposure) == 8_000_000
    assert sum(r["limit_candidate_minor"] for r in exposure) < 8_000_000
    assert report["chart"]["mark"] == "bar"

    effective_at = clock.now() + 30 * DAY
    approve = client.post(
        f"/v1/policies/{label}/approve",
        headers=headers(container, Role.APPROVER, "approver-1"),
        json={"effective_at": effective_at.isoformat(), "justification": "use over half"},
    )
    assert approve.status_code == 200, approve.text
    assert approve.json()["notices_queued"] == 2

    # Every affected borrower has their notice, in the approval's transaction.
    notices = policy_notices(container)
    affected = {lines["borrower-0"], lines["borrower-1"]}
    assert {n["line_id"] for n in notices} == affected
    assert {n["borrower_id"] for n in notices} == {"borrower-0", "borrower-1"}
    payload = json.loads(notices[0]["payload"])
    assert payload["policy"] == label
    assert payload["policy_change"]["action"] == "decrease"
    assert payload["policy_change"]["limit_before"] == "20000.00"

    # The borrower reads it: today's limit, the projected one, why, when, what to do.
    message = Message(
        notices[0]["id"],
        notices[0]["topic"],
        notices[0]["line_id"],
        notices[0]["borrower_id"],
        notices[0]["ref_id"],
        payload,
        clock.now(),
        0,
    )
    zh = container.notices.compose(message, "zh-CN")
    en = container.notices.compose(message, "en")
    day = effective_at.astimezone(container.catalogue.profile_for("CNY").timezone).date()
    assert day.isoformat() in zh.subject and "20,000.00" in en.body
    assert payload["policy_change"]["limit_after"] in en.body.replace(",", "")
    assert "ask for a review" in en.body and "申请复核" in zh.body

    # Nothing changed for anyone yet: the active version still decides.
    assert container.decisions.engine.policy.label == "cn-standard@2026.11.1"
    # The inbox and the explanation show the change to come.
    container.dispatcher.run_until_idle()
    borrower = Actor("borrower-0", Role.BORROWER)
    kinds = [n["kind"] for n in container.notices.inbox(borrower)["notices"]]
    assert "policy_change" in kinds
    explained = container.explainer.explain(borrower, lines["borrower-0"], "en")
    pending = explained["pending_policy_change"]
    assert pending["effective_at"] == day.isoformat()
    assert pending["limit_today"] == "20000.00"
    assert [r["code"] for r in pending["reasons"]] == ["utilisation_high"]
    steps = [s["step"] for s in explained["what_you_can_do"]]
    assert "request_review" in steps
    untouched = container.explainer.explain(Actor("borrower-3", Role.BORROWER), lines["borrower-3"])
    assert untouched["pending_policy_change"] is None

    # The borrower may ask for a review before it takes effect.
    asked = client.post(
        f"/v1/lines/{lines['borrower-0']}/reviews",
        headers=headers(container, Role.BORROWER, "borrower-0"),
        json={"human": True, "reason_text": "I will repay before the date"},
    )
    assert asked.status_code == 201, asked.text

    history = container.policies.history(ANALYST, label)
    assert [s["state"] for s in history["steps"]] == ["draft", "linted", "simulated", "approved"]
    assert history["steps"][-1]["actor"] == "approver:approver-1"
    assert history["steps"][-1]["justification"] == "use over half"


def test_the_author_may_not_approve_their_own_version(
    container: Container, client: TestClient, agent: Actor, clock: FixedClock
) -> None:
    book(container, agent, ["12000.00", "0"])
    label = submitted_and_simulated(container, candidate(), author=APPROVER)
    refused = client.post(
        f"/v1/policies/{label}/approve",
        headers=headers(container, Role.APPROVER, "approver-1"),
        json={"effective_at": (clock.now() + 40 * DAY).isoformat()},
    )
    assert (refused.status_code, refused.json()["code"]) == (403, "approver_is_author")
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert policy_notices(container) == []
    assert container.policies.history(ANALYST, label)["state"] == "simulated"


def test_an_effective_date_inside_the_notice_period_is_refused(
    container: Container, client: TestClient, agent: Actor, clock: FixedClock
) -> None:
    book(container, agent, ["12000.00", "0"])
    label = submitted_and_simulated(container, candidate())
    refused = client.post(
        f"/v1/policies/{label}/approve",
        headers=headers(container, Role.APPROVER, "approver-1"),
        json={"effective_at": (clock.now() + 10 * DAY).isoformat()},
    )
    assert (refused.status_code, refused.json()["code"]) == (422, "notice_period_too_short")
    assert refused.json()["details"]["notice_days"] == 30
    assert policy_notices(container) == []


def test_nobody_affected_needs_no_notice_period(
    container: Container, agent: Actor, clock: FixedClock
) -> None:
    book(container, agent, ["2000.00", "0"])  # nobody uses more than half
    label = submitted_and_simulated(container, candidate())
    approved = container.policies.approve(APPROVER, "a", label, clock.now() + DAY).document
    assert approved["notices_queued"] == 0


def test_approval_needs_a_simulation_of_the_current_book(
    container: Container, client: TestClient, agent: Actor, clock: FixedClock
) -> None:
    book(container, agent, ["12000.00", "0"])
    label = submitted_and_simulated(container, candidate())
    clock.advance(timedelta(hours=25))  # older than the profile's 24 h
    refused = client.post(
        f"/v1/policies/{label}/approve",
        headers=headers(container, Role.APPROVER, "approver-1"),
        json={"effective_at": (clock.now() + 40 * DAY).isoformat()},
    )
    assert (refused.status_code, refused.json()["code"]) == (409, "simulation_stale")
    container.policies.simulate(ANALYST, "again", label)
    approved = container.policies.approve(APPROVER, "a", label, clock.now() + 40 * DAY)
    assert approved.document["state"] == "approved"


def test_above_the_guardrail_only_an_admin_with_a_justification_approves(
    container: Container, client: TestClient, agent: Actor, clock: FixedClock
) -> None:
    book(container, agent, ["12000.00", "0"])  # half the book: above the default 5 %
    label = submitted_and_simulated(container, candidate(share_max=None))
    body = {"effective_at": (clock.now() + 40 * DAY).isoformat()}
    for role, subject, extra in (
        (Role.APPROVER, "approver-1", {"justification": "fine"}),
        (Role.ADMIN, "admin-1", {}),
    ):
        refused = client.post(
            f"/v1/policies/{label}/approve",
            headers=headers(container, role, subject),
            json={**body, **extra},
        )
        assert (refused.status_code, refused.json()["code"]) == (403, "guardrail_exceeded")
    assert policy_notices(container) == []
    approved = client.post(
        f"/v1/policies/{label}/approve",
        headers=headers(container, Role.ADMIN, "admin-1"),
        json={**body, "justification": "the board asked for it after the loss review"},
    )
    assert approved.status_code == 200, approved.text
    assert approved.json()["guardrail_overridden"] is True


def test_activation_skips_improved_borrowers_and_notices_the_newly_affected(
    container: Container, agent: Actor, clock: FixedClock
) -> None:
    lines = book(container, agent, ["12000.00", "15000.00", "4000.00", "0"])
    label = submitted_and_simulated(container, candidate())
    effective_at = clock.now() + 30 * DAY
    container.policies.approve(APPROVER, "a", label, effective_at)
    container.policies.schedule(APPROVER, "s", label)

    # Before the date: borrower-0 repays everything; borrower-2 draws more (newly affected).
    borrower0 = Actor("borrower-0", Role.BORROWER)
    loan = container.loans.line_loans(borrower0, lines["borrower-0"])["loans"][0]
    payoff = container.loans.get_loan(borrower0, loan["id"])["payoff_today"]["total"]
    container.loans.repay(borrower0, "repay", loan["id"], payoff)
    borrower2 = Actor("borrower-2", Role.BORROWER)
    hold = container.ledger.place_hold(borrower2, "h-more", lines["borrower-2"], "8000.00", 12)
    container.loans.post_drawdown(borrower2, "p-more", hold.document["id"])

    assert container.policies.activate_due() == {}  # not yet
    clock.set(effective_at)
    done = container.policies.activate_due()
    assert done == {"activated": 1, "applied": 1, "newly_affected": 1, "not_adverse": 1}
    assert container.decisions.engine.policy.label == label

    def limit(borrower: str) -> str:
        line = container.ledger.get_line(agent, lines[borrower])
        return str(line["limit"])

    assert limit("borrower-0") == "20000.00"  # improved meanwhile: not cut
    assert limit("borrower-1") == "15000.00"  # cut to what is used, with its reasons
    with container.db.reading() as connection:
        granted, cut = connection.execute(
            select(decisions)
            .where(decisions.c.line_id == lines["borrower-1"])
            .order_by(decisions.c.id)
        ).mappings()
        assert (granted["action"], granted["actor_role"]) == ("increase", "agent")  # the opening
        assert json.loads(cut["reason_codes"]) == ["utilisation_high"]
        assert cut["policy_version"] == label
        [newly] = connection.execute(
            select(policy_changes).where(policy_changes.c.line_id == lines["borrower-2"])
        ).mappings()
    # The newly affected borrower is told and waits their own notice period, even through a
    # review with the new version.
    assert newly["effective_at"] == effective_at + 30 * DAY
    assert lines["borrower-2"] in {n["line_id"] for n in policy_notices(container)}
    assert container.decisions.review_line(lines["borrower-2"]).outcome == "awaiting_notice"
    assert limit("borrower-2") == "20000.00"
    clock.advance(30 * DAY)
    assert container.policies.activate_due() == {"applied": 1}
    assert limit("borrower-2") == "12000.00"

    previous = container.policies.history(ANALYST, "cn-standard@2026.11.1")
    assert previous["state"] == "retired"


def test_governance_records_cannot_be_rewritten_or_deleted(
    container: Container, agent: Actor
) -> None:
    book(container, agent, ["12000.00"])
    submitted_and_simulated(container, candidate())
    for table in ("policy_versions", "policy_steps", "policy_simulations"):
        for statement in (f"UPDATE {table} SET actor = 'x'", f"DELETE FROM {table}"):
            if table == "policy_versions":
                statement = statement.replace("actor", "submitted_by")
            with pytest.raises(Exception, match="append-only"), container.db.engine.begin() as c:
                c.execute(text(statement))


def test_the_chinese_notice_has_no_english() -> None:
    template = (TEMPLATES / "policy_change.zh-CN.j2").read_text(encoding="utf-8")
    words = re.sub(r"\{[{%].*?[%}]\}", "", template, flags=re.S)
    assert re.findall(r"[A-Za-z]+", words) == []
