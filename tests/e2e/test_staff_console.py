"""The staff console over HTTP on both stores: finding a line, its timeline, the human-review
queue and deciding one, a policy version's simulation, approval and pending changes, the
reconciler. Each action is offered only to a role that may take it, and refused on the server
to one that may not (the browser's story is in tests/e2e/test_web_browser.py)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import HIGH_USE, frozen_by_the_policy, with_rule
from fastapi.testclient import TestClient
from sqlalchemy import text

from creditline.bootstrap import Container
from creditline.config import shipped_policy_file
from creditline.kernel.actors import Actor, Role
from creditline.web.app import create_site

CSRF = re.compile(r'name="csrf_token" value="([^"]*)"')
KEY = re.compile(r'name="key" value="([^"]*)"')
AGENT = Actor("agent-1", Role.AGENT)
ADMIN = Actor("admin-1", Role.ADMIN)


@pytest.fixture
def site(container: Container) -> Iterator[TestClient]:
    with TestClient(create_site(container)) as client:
        yield client


def signed_in(site: TestClient, role: str, subject: str) -> str:
    """Sign in with the development picker (as a new visitor); the CSRF token of the
    session's forms."""
    site.cookies.clear()
    form = site.get("/sign-in")
    answer = site.post(
        "/sign-in",
        data={"csrf_token": _one(CSRF, form.text), "role": role, "subject": subject, "next": ""},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
    return _one(CSRF, site.get(answer.headers["location"]).text)


def _one(pattern: re.Pattern[str], html: str) -> str:
    found = pattern.search(html)
    assert found is not None, html
    return found.group(1)


def open_lines(c: Container, borrowers: list[str]) -> list[str]:
    return [
        str(c.ledger.open_line(ADMIN, f"open-{b}", b, "CNY", "20000.00").document["id"])
        for b in borrowers
    ]


def test_staff_find_lines_by_the_first_characters_of_an_id(
    site: TestClient, container: Container
) -> None:
    alice_1, alice_2, _ = open_lines(container, ["alice-1", "alice-2", "bob-1"])
    signed_in(site, "agent", "ops-1")
    found = site.get("/staff", params={"q": "alice"}).text
    assert sorted(re.findall(r'href="/staff/lines/([^"]+)"', found)) == sorted([alice_1, alice_2])
    by_line = site.get("/staff", params={"q": alice_2[:28]}).text
    assert re.findall(r'href="/staff/lines/([^"]+)"', by_line) == [alice_2]
    # A LIKE wildcard is a character to match, not "anything": nothing begins with it.
    assert "/staff/lines/" not in site.get("/staff", params={"q": "%%%"}).text
    too_short = site.get("/staff", params={"q": "al"})
    assert too_short.status_code == 422
    assert "/staff/lines/" not in too_short.text


def test_a_borrower_is_refused_the_console(site: TestClient, container: Container) -> None:
    open_lines(container, ["borrower-1"])
    signed_in(site, "borrower", "borrower-1")
    for path in ("/staff", "/staff/reviews", "/staff/policies", "/staff/reconcile"):
        assert site.get(path).status_code == 403, path


def test_a_lines_timeline_shows_the_decision_its_reasons_and_the_notice(
    site: TestClient, container: Container
) -> None:
    borrower = Actor("borrower-1", Role.BORROWER)
    line_id = frozen_by_the_policy(container, AGENT, borrower)
    container.dispatcher.run_once()
    signed_in(site, "agent", "ops-1")
    page = site.get(f"/staff/lines/{line_id}").text
    kinds = re.findall(r'data-kind="(\w+)"', page)
    # The opening, its grant, five holds and five posts and the freeze in the journal; the
    # staff member's grant of the first limit and the freeze as decisions.
    assert kinds.count("journal") == 13
    assert kinds.count("decision") == 2
    assert "application_approved" in page  # the grant's reason
    assert kinds[0] in ("notice", "journal")  # the freeze came last
    assert 'data-status="frozen"' in page
    assert "drawdown_velocity" in page
    assert re.search(r'data-notice-status="delivered"', page)


def test_an_agent_decides_a_human_review_and_an_analyst_may_not(
    site: TestClient, container: Container
) -> None:
    borrower = Actor("borrower-1", Role.BORROWER)
    line_id = frozen_by_the_policy(container, AGENT, borrower)
    review = container.appeals.request(borrower, "ask", line_id, human=True).document
    review_id = review["human_review"]["id"]

    csrf = signed_in(site, "analyst", "analyst-1")
    page = site.get(f"/staff/reviews/{review_id}").text
    assert 'name="outcome"' not in page  # no form for a role that may not decide
    refused = site.post(
        f"/staff/reviews/{review_id}",
        data={"csrf_token": csrf, "key": "k1", "outcome": "reverse"},
        follow_redirects=False,
    )
    assert refused.status_code == 403
    assert container.ledger.get_line(AGENT, line_id)["status"] == "frozen"

    csrf = signed_in(site, "agent", "ops-1")
    queue = site.get("/staff/reviews").text
    assert f'data-review="{review_id}"' in queue
    page = site.get(f"/staff/reviews/{review_id}").text
    assert "drawdown_velocity" in page  # the contested decision, with its reasons
    decided = site.post(
        f"/staff/reviews/{review_id}",
        data={
            "csrf_token": csrf,
            "key": _one(KEY, page),
            "outcome": "reverse",
            "limit": "",
            "note": "drawdowns were one purchase split",
        },
        follow_redirects=False,
    )
    assert decided.status_code == 303, decided.text
    assert 'data-review-status="decided"' in site.get(decided.headers["location"]).text
    assert container.ledger.get_line(AGENT, line_id)["status"] == "active"
    assert f'data-review="{review_id}"' not in site.get("/staff/reviews").text


def candidate() -> dict[str, Any]:
    """The shipped policy, cutting lines used over half their limit by half."""
    return with_rule(shipped_policy_file(), "2026.12.1", HIGH_USE, "0.9")


def test_a_policy_versions_page_simulation_approval_and_pending_changes(
    site: TestClient, container: Container
) -> None:
    lines = open_lines(container, ["borrower-0", "borrower-1", "borrower-2"])
    # One line used 15,000.00 of 20,000.00 (75 % > 50 %): the only one the candidate cuts.
    borrower = Actor("borrower-0", Role.BORROWER)
    hold = container.ledger.place_hold(borrower, "h", lines[0], "15000.00", 12).document
    container.loans.post_drawdown(borrower, "p", hold["id"])
    analyst = Actor("analyst-1", Role.ANALYST)
    label = container.policies.submit(analyst, "submit", candidate()).document["policy"]

    csrf = signed_in(site, "analyst", "analyst-1")
    assert f'data-policy="{label}"' in site.get("/staff/policies").text
    page = site.get(f"/staff/policies/{label}").text
    assert "rules.high-use" in page  # the diff against the active version
    simulated = site.post(
        f"/staff/policies/{label}/simulate",
        data={"csrf_token": csrf, "key": "s1"},
        follow_redirects=False,
    )
    assert simulated.status_code == 303, simulated.text
    page = site.get(f"/staff/policies/{label}").text
    assert 'data-figure="lines_total">3<' in page
    assert 'data-figure="adverse_count">1<' in page
    assert page.count('role="img"') == 2  # limits by grade, actions
    assert "/approve" not in page  # the author may not approve

    csrf = signed_in(site, "approver", "approver-1")
    page = site.get(f"/staff/policies/{label}").text
    approved = site.post(
        f"/staff/policies/{label}/approve",
        data={"csrf_token": csrf, "key": _one(KEY, page) + "-approve", "effective_on": ""},
        follow_redirects=False,
    )
    assert approved.status_code == 303, approved.text
    page = site.get(approved.headers["location"]).text
    assert 'data-state="approved"' in page
    assert 'data-figure="pending">1<' in page
    assert lines[0][-4:] in page
    # Half of 20,000.00 is 10,000.00, below the 15,000.00 in use: a cut stops at what is used.
    assert "decrease 20000.00 → 15000.00" in page


def test_the_author_may_not_approve_from_the_console(
    site: TestClient, container: Container
) -> None:
    open_lines(container, ["borrower-0"])
    approver = Actor("approver-1", Role.APPROVER)
    label = container.policies.submit(approver, "submit", candidate()).document["policy"]
    container.policies.simulate(approver, "simulate", label)
    csrf = signed_in(site, "approver", "approver-1")
    refused = site.post(
        f"/staff/policies/{label}/approve",
        data={"csrf_token": csrf, "key": "a1", "effective_on": ""},
        follow_redirects=False,
    )
    assert refused.status_code == 403
    assert container.policies.history(approver, label)["state"] == "simulated"


def test_reconcile_finds_a_line_whose_balance_disagrees_with_its_journal(
    site: TestClient, container: Container
) -> None:
    line_id, _ = open_lines(container, ["borrower-0", "borrower-1"])
    csrf = signed_in(site, "agent", "ops-1")
    agreed = site.post("/staff/reconcile", data={"csrf_token": csrf}).text
    assert 'data-figure="findings">0<' in agreed
    with container.db.engine.begin() as connection:
        connection.execute(
            text("UPDATE lines SET limit_minor = limit_minor + 1 WHERE id = :id"), {"id": line_id}
        )
    found = site.post("/staff/reconcile", data={"csrf_token": csrf}).text
    assert 'data-figure="findings">0<' not in found
    assert f'href="/staff/lines/{line_id}"' in found
