"""A version in shadow decides beside the active one on every live trigger and changes
nothing: no limit, no decision record, no notice. Its report is checked against a small book
computed by hand; starting and stopping it are lifecycle steps with who, when and why; refusals
are problem documents that change nothing."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from conftest import headers, suite_settings
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from test_policy_lifecycle import ANALYST, book, candidate

from creditline.bootstrap import Container, build
from creditline.decisions.tables import policy_shadow_decisions
from creditline.kernel.actors import Actor, Role
from creditline.kernel.clock import FixedClock
from creditline.ledger.tables import decisions
from creditline.notices.tables import outbox

PROBLEM_JSON = "application/problem+json"


def counts(c: Container) -> tuple[int, int, int]:
    """Decisions recorded, messages queued, shadow decisions stored."""
    with c.db.reading() as connection:
        return tuple(  # type: ignore[return-value]
            connection.execute(select(func.count()).select_from(table)).scalar_one()
            for table in (decisions, outbox, policy_shadow_decisions)
        )


def limits(c: Container, agent: Actor, lines: dict[str, str]) -> dict[str, Any]:
    return {b: c.ledger.get_line(agent, line)["limit"] for b, line in lines.items()}


def shadowed(c: Container) -> str:
    label = str(c.policies.submit(ANALYST, "submit", candidate()).document["policy"])
    started = c.policies.start_shadow(ANALYST, "shadow", label, "watch high use for a month")
    assert started.document["state"] == "shadow"
    return label


def test_a_shadow_decides_on_every_trigger_and_changes_nothing(
    container: Container, client: TestClient, agent: Actor, clock: FixedClock
) -> None:
    # 20,000.00 lines used 12,000.00 (60 %), 15,000.00 (75 %) and 2,000.00 (10 %). The active
    # version keeps all three; the shadow's rule cuts a line used over half its limit by half,
    # never below what is used: line 0 to 12,000.00, line 1 to 15,000.00; line 2 it keeps.
    lines = book(container, agent, ["12000.00", "15000.00", "2000.00"])
    label = shadowed(container)
    before_limits = limits(container, agent, lines)
    recorded, queued, _ = counts(container)

    for borrower in ("borrower-0", "borrower-1", "borrower-2"):  # the review after a change
        assert container.decisions.review_line(lines[borrower]).outcome == "kept"
    asked = client.post(  # the borrower asks for a review of line 0: a fourth trigger
        f"/v1/lines/{lines['borrower-0']}/reviews",
        headers=headers(container, Role.BORROWER, "borrower-0"),
        json={},
    )
    assert asked.status_code == 201, asked.text
    assert (asked.json()["action"], asked.json()["outcome"]) == ("keep", "kept")

    # Nothing reached the lines or the borrowers: no decision, no message of any kind.
    assert limits(container, agent, lines) == before_limits
    assert counts(container) == (recorded, queued, 4)

    report = client.get(
        f"/v1/policies/{label}/shadow-report", headers=headers(container, Role.AGENT, "ops-1")
    )
    assert report.status_code == 200, report.text
    figures = report.json()
    assert (figures["decisions_total"], figures["lines_total"]) == (4, 3)
    assert figures["actions"] == {
        "decrease": {"active": 0, "shadow": 3},
        "keep": {"active": 4, "shadow": 1},
    }
    assert figures["reasons"] == {"utilisation_high": {"active": 0, "shadow": 3}}
    assert (figures["adverse_count"], figures["adverse_share"]) == (3, "0.7500")
    assert figures["adverse_lines"] == 2
    assert (figures["differing_decisions"], figures["differing_lines_total"]) == (3, 2)
    by_line = {d["line_id"]: d for d in figures["differing_lines"]}
    assert set(by_line) == {lines["borrower-0"], lines["borrower-1"]}
    assert by_line[lines["borrower-0"]]["decisions"] == 2
    latest = by_line[lines["borrower-1"]]["latest"]
    assert latest["active"] == {
        "policy": "cn-standard@2026.11.1",
        "action": "keep",
        "limit_minor": 2_000_000,
        "reason_codes": [],
    }
    assert latest["shadow"]["action"] == "decrease"
    assert latest["shadow"]["limit_minor"] == 1_500_000
    assert by_line[lines["borrower-0"]]["latest"]["shadow"]["limit_minor"] == 1_200_000

    # Stopped, it decides nothing more; what it decided is kept.
    stopped = container.policies.stop_shadow(ANALYST, "stop", label, "seen enough")
    assert stopped.document["state"] == "stopped"
    container.decisions.review_line(lines["borrower-2"])
    assert counts(container)[2] == 4
    history = container.policies.history(ANALYST, label)
    assert [s["state"] for s in history["steps"]] == ["draft", "linted", "shadow", "stopped"]
    assert [(s["actor"], s["justification"], s["at"]) for s in history["steps"][2:]] == [
        ("analyst:analyst-1", "watch high use for a month", clock.now().isoformat()),
        ("analyst:analyst-1", "seen enough", clock.now().isoformat()),
    ]


def test_the_reviews_after_a_drawdown_and_a_settlement_run_the_shadow(
    database_url: str, clock: FixedClock, agent: Actor
) -> None:
    settings = replace(suite_settings(database_url), review_triggers=True)
    c = build(settings, clock, migrate=False)
    try:
        label = shadowed(c)
        borrower = Actor("borrower-9", Role.BORROWER)
        line_id = str(
            c.ledger.open_line(agent, "o", borrower.subject, "CNY", "20000.00").document["id"]
        )
        hold = c.ledger.place_hold(borrower, "h", line_id, "12000.00", 12).document
        loan_id = c.loans.post_drawdown(borrower, "p", hold["id"]).document["loan_id"]
        report = c.policies.shadow_report(ANALYST, label)
        assert report["actions"] == {  # 60 % used: the active version keeps, the shadow cuts
            "decrease": {"active": 0, "shadow": 1},
            "keep": {"active": 1, "shadow": 0},
        }
        payoff = c.loans.get_loan(borrower, loan_id)["payoff_today"]["total"]
        c.loans.repay(borrower, "repay", loan_id, payoff)  # settled: reviewed again
        report = c.policies.shadow_report(ANALYST, label)
        assert report["actions"] == {
            "decrease": {"active": 0, "shadow": 1},
            "keep": {"active": 2, "shadow": 1},
        }
        assert c.ledger.get_line(agent, line_id)["limit"] == "20000.00"
    finally:
        c.close()


def test_a_book_review_runs_the_shadow_beside_every_line(
    container: Container, agent: Actor
) -> None:
    lines = book(container, agent, ["12000.00", "15000.00", "2000.00", "0"])
    label = shadowed(container)
    recorded, queued, _ = counts(container)
    assert container.decisions.review_book() == {"keep:kept": 4}
    assert counts(container) == (recorded, queued, 4)
    report = container.policies.shadow_report(ANALYST, label)
    assert report["actions"]["decrease"] == {"active": 0, "shadow": 2}
    assert report["lines_total"] == len(lines)


def test_shadow_refusals_are_problems_and_change_nothing(
    container: Container, client: TestClient, agent: Actor
) -> None:
    book(container, agent, ["12000.00"])
    container.decisions.ready()  # the policy file seeds the active version
    label = str(container.policies.submit(ANALYST, "submit", candidate()).document["policy"])
    analyst = headers(container, Role.ANALYST, "analyst-1")

    def refused(method: str, path: str, role: Role, body: Any, status: int, code: str) -> None:
        response = client.request(
            method, path, headers=headers(container, role, "someone-1"), json=body
        )
        assert (response.status_code, response.json()["code"]) == (status, code), response.text
        assert response.headers["content-type"].startswith(PROBLEM_JSON)

    shadow = f"/v1/policies/{label}/shadow"
    refused("POST", shadow, Role.BORROWER, {"justification": "x"}, 403, "forbidden")
    refused("POST", shadow, Role.AGENT, {"justification": "x"}, 403, "forbidden")
    refused("POST", shadow, Role.ANALYST, {"justification": "  "}, 422, "invalid_input")
    refused("POST", shadow, Role.ANALYST, {}, 422, "invalid_request")
    refused("POST", f"{shadow}/stop", Role.ANALYST, {"justification": "x"}, 409,
            "policy_transition_refused")  # fmt: skip
    refused("POST", "/v1/policies/cn-standard@1999.1/shadow", Role.ANALYST,
            {"justification": "x"}, 404, "policy_not_found")  # fmt: skip
    refused(
        "POST",
        "/v1/policies/cn-standard@2026.11.1/shadow",
        Role.ANALYST,
        {"justification": "x"},
        409,
        "policy_transition_refused",
    )  # the active version
    refused("GET", f"/v1/policies/{label}/shadow-report", Role.BORROWER, None, 403, "forbidden")
    history = container.policies.history(ANALYST, label)
    assert [s["state"] for s in history["steps"]] == ["draft", "linted"]

    # Started once, a replay with the same key answers the same; a second start is refused.
    first = client.post(shadow, headers=analyst, json={"justification": "watch it"})
    again = client.post(shadow, headers=analyst, json={"justification": "watch it"})
    assert (first.status_code, again.status_code) == (200, 200)
    assert again.headers["Idempotent-Replayed"] == "true"
    refused("POST", shadow, Role.ANALYST, {"justification": "again"}, 409,
            "policy_transition_refused")  # fmt: skip
    assert [s["state"] for s in container.policies.history(ANALYST, label)["steps"]] == [
        "draft", "linted", "shadow",
    ]  # fmt: skip
