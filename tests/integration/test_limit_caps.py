"""Caps on every path into a limit, under the shipped jurisdiction profiles: an application,
staff opening or changing a line, a human review's new limit, an automatic decision. Each
refusal names its cap (`limit_above_cap`); each granted limit stores the cap figures and the
profile version it was held to (CN-1, CN-2, US-6, unverified income)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import headers
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from creditline.api.app import create_app
from creditline.bootstrap import Container, build
from creditline.config import Settings, shipped_policy_file
from creditline.db.metadata import metadata
from creditline.decisions.applications import Application
from creditline.kernel.actors import Actor, Role
from creditline.kernel.clock import FixedClock
from creditline.kernel.errors import (
    InvalidAmount,
    LimitAboveCap,
    LimitBelowMinimum,
    LineCapReached,
)
from creditline.kernel.ids import new_id
from creditline.ledger.ports import stored_decision_document
from creditline.ledger.tables import decisions

US_POLICY = Path(__file__).parents[2] / "policies" / "us-fitted.yaml"
RISK = Actor("risk-engine", Role.SERVICE)


def shipped(database_url: str, clock: FixedClock, policy: Path) -> Container:
    """A container on the shipped catalogue (the CN and US profiles and their caps)."""
    settings = Settings(
        database_url=database_url, products_file=None, policy_file=policy, review_triggers=False
    )
    return build(settings, clock, migrate=False)


@pytest.fixture
def cn(database_url: str, clock: FixedClock) -> Iterator[Container]:
    built = shipped(database_url, clock, shipped_policy_file())
    yield built
    built.close()


@pytest.fixture
def us(database_url: str, clock: FixedClock) -> Iterator[Container]:
    built = shipped(database_url, clock, US_POLICY)
    yield built
    built.close()


def apply(c: Container, borrower: Actor, **changes: object) -> dict[str, object]:
    fields: dict[str, object] = {
        "borrower_id": borrower.subject,
        "currency": "CNY",
        "income_monthly": "12000.00",
        "income_evidence": True,
        "income_evidence_expires_on": dt.date(2027, 6, 30),
        "birth_date": dt.date(1990, 5, 1),
        "employment": "employed",
    }
    fields.update(changes)
    return c.underwriting.apply(borrower, new_id(), Application(**fields)).document  # type: ignore[arg-type]


def caps_of(c: Container, line_id: str) -> list[dict[str, object]]:
    """The cap figures of the line's decisions that were held to caps, oldest first (ids grow
    with time)."""
    with c.db.reading() as connection:
        rows = connection.execute(
            select(decisions.c.evidence)
            .where(decisions.c.line_id == line_id)
            .order_by(decisions.c.id)
        ).scalars()
        evidence = [json.loads(row) for row in rows if row]
    return [each["limit_caps"] for each in evidence if "limit_caps" in each]


def test_an_application_on_1000_a_month_opens_4000_not_8000(cn: Container, borrower: Actor) -> None:
    # Grade C, low band: the matrix says 8,000.00; CN-1 allows a third of 12,000.00 a year.
    result = apply(cn, borrower, income_monthly="1000.00")
    assert (result["outcome"], result["limit"]) == ("approved", "4000.00")
    assert result["reason_codes"] == ["application_approved", "regulatory_cap"]
    [figures] = caps_of(cn, str(result["line_id"]))
    assert figures == {
        "profile": "CN",
        "profile_version": "CN@2026-12",
        "caps": {"limit_cap": "300000.00", "income_share": "4000.00"},
        "cap": "4000.00",
        "binding": "income_share",
        "income_evidence": True,
        "other_lines_limits": "0.00",
    }


def test_invented_income_without_evidence_opens_no_more_than_the_unverified_ceiling(
    cn: Container, borrower: Actor
) -> None:
    result = apply(cn, borrower, income_monthly="1000000.00", income_evidence=False)
    assert (result["outcome"], result["limit"]) == ("approved", "10000.00")
    assert result["reason_codes"] == ["application_approved", "regulatory_cap"]
    [figures] = caps_of(cn, str(result["line_id"]))
    assert (figures["binding"], figures["cap"]) == ("unverified_income", "10000.00")


def test_staff_open_and_raise_within_the_caps_and_the_policy(
    cn: Container, borrower: Actor, approver: Actor
) -> None:
    first = apply(cn, borrower)  # 12,000.00 a month with evidence: CN-1 allows 48,000.00
    assert first["limit"] == "20000.00"
    line_id = str(first["line_id"])
    with pytest.raises(LimitAboveCap) as refused:
        cn.ledger.change_limit(
            approver, new_id(), line_id, "increase", ["income_verified"], limit="2000000.00"
        )
    assert refused.value.details["cap"] == "policy_max_limit"  # the policy's 200,000.00
    with pytest.raises(LimitAboveCap) as refused:
        cn.ledger.change_limit(
            approver, new_id(), line_id, "increase", ["income_verified"], limit="48100.00"
        )
    assert refused.value.details == {
        "cap": "income_share",
        "cap_limit": "48000.00",
        "currency": "CNY",
        "profile_version": "CN@2026-12",
    }
    with pytest.raises(InvalidAmount):  # off the policy's 100.00 step
        cn.ledger.change_limit(
            approver, new_id(), line_id, "increase", ["income_verified"], limit="30000.50"
        )
    raised = cn.ledger.change_limit(
        approver, new_id(), line_id, "increase", ["income_verified"], limit="48000.00"
    ).document
    assert raised["line"]["limit"] == "48000.00"
    assert caps_of(cn, line_id)[-1]["cap"] == "48000.00"
    with pytest.raises(LimitBelowMinimum):  # the policy's smallest limit is 500.00
        cn.ledger.change_limit(
            approver, new_id(), line_id, "decrease", ["utilisation_high"], limit="400.00"
        )


def test_staff_cannot_open_a_900000_line_nor_one_above_the_borrowers_income(
    cn: Container, borrower: Actor, agent: Actor
) -> None:
    apply(cn, borrower)  # the borrower's one line (the profile allows one) and their income
    with pytest.raises(LineCapReached):
        cn.ledger.open_line(agent, new_id(), borrower.subject, "CNY", "10000.00")
    reason = "second line for a separate purpose, agreed with the borrower on a recorded call"
    with pytest.raises(LimitAboveCap) as refused:
        cn.ledger.open_line(agent, new_id(), borrower.subject, "CNY", "900000.00", note=reason)
    assert refused.value.details["cap"] == "policy_max_limit"
    # CN-1 caps the borrower, not the line: 48,000.00 in all, 20,000.00 of it on the first.
    with pytest.raises(LimitAboveCap) as refused:
        cn.ledger.open_line(agent, new_id(), borrower.subject, "CNY", "28100.00", note=reason)
    assert (refused.value.details["cap"], refused.value.details["cap_limit"]) == (
        "income_share",
        "28000.00",
    )
    opened = cn.ledger.open_line(agent, new_id(), borrower.subject, "CNY", "28000.00", note=reason)
    line_id = str(opened.document["id"])
    assert opened.document["limit"] == "28000.00"
    # The opening is the staff member's decision, with the cap figures it was held to.
    [granted] = cn.ledger.decisions_of(agent, line_id)
    document = stored_decision_document(granted, staff=True)
    assert (document["actor"], document["note"], document["reason_codes"]) == (
        "agent:agent-1",
        reason,
        ["application_approved"],
    )
    assert (document["action"], document["limit_before"], document["limit_after"]) == (
        "increase",
        "0.00",
        "28000.00",
    )
    assert document["evidence"]["limit_caps"] == {
        "profile": "CN",
        "profile_version": "CN@2026-12",
        # 48,000.00 a third of 144,000.00 a year, less the 20,000.00 of the first line.
        "caps": {"limit_cap": "280000.00", "income_share": "28000.00"},
        "cap": "28000.00",
        "binding": "income_share",
        "income_evidence": True,
        "other_lines_limits": "20000.00",
    }


def test_over_http_staff_open_another_line_only_with_a_reason_that_says_something(
    cn: Container, borrower: Actor
) -> None:
    apply(cn, borrower)  # the borrower's one line by application (20,000.00 of CN-1's 48,000.00)
    body = {"borrower_id": borrower.subject, "currency": "CNY", "limit": "10000.00"}
    with TestClient(create_app(cn), raise_server_exceptions=False) as client:
        for note in (None, "   "):
            refused = client.post(
                "/v1/lines",
                json=body | ({} if note is None else {"note": note}),
                headers=headers(cn, Role.AGENT, "agent-1"),
            )
            assert refused.status_code == 409, refused.text
            assert refused.headers["content-type"].startswith("application/problem+json")
            assert refused.json()["code"] == "line_cap_reached"
        reason = "a second line for the borrower's shop, agreed on a recorded call"
        opened = client.post(
            "/v1/lines", json=body | {"note": reason}, headers=headers(cn, Role.AGENT, "agent-1")
        )
        assert opened.status_code == 201, opened.text
        assert opened.json()["limit"] == "10000.00"
    assert len(cn.ledger.list_lines(borrower)["lines"]) == 2


def row_counts(c: Container) -> dict[str, int]:
    with c.db.reading() as connection:
        return {
            table.name: connection.execute(select(func.count()).select_from(table)).scalar_one()
            for table in metadata.sorted_tables
        }


def test_over_http_a_staff_opening_is_a_decision_with_its_caps_and_writes_once(
    cn: Container, borrower: Actor
) -> None:
    apply(cn, borrower)  # 12,000.00 a month with evidence: CN-1 allows 48,000.00, 20,000.00 used
    reason = "a second line for the borrower's shop, agreed on a recorded call"
    body = {"borrower_id": borrower.subject, "currency": "CNY", "note": reason}
    agent = headers(cn, Role.AGENT, "agent-1")
    before = row_counts(cn)
    with TestClient(create_app(cn), raise_server_exceptions=False) as client:
        refused = client.post("/v1/lines", json=body | {"limit": "28100.00"}, headers=agent)
        assert refused.status_code == 422, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
        problem = refused.json()
        assert (problem["code"], problem["details"]["cap"]) == ("limit_above_cap", "income_share")
        assert row_counts(cn) == before  # no line, journal entry, decision or message
        agent = headers(cn, Role.AGENT, "agent-1")  # a fresh key
        body |= {"limit": "28000.00", "reason_codes": ["income_verified"]}
        opened = client.post("/v1/lines", json=body, headers=agent)
        assert opened.status_code == 201, opened.text
        line_id = opened.json()["id"]
        after = row_counts(cn)
        # The line, its opening and grant in the journal, the grant's decision, the opening
        # event and the grant's notice, and the command's key.
        grew = {name: after[name] - before[name] for name in after if after[name] != before[name]}
        assert grew == {
            "lines": 1,
            "journal": 2,
            "decisions": 1,
            "outbox": 2,
            "idempotency_keys": 1,
        }
        replayed = client.post("/v1/lines", json=body, headers=agent)
        assert (replayed.status_code, replayed.json()) == (201, opened.json())
        assert row_counts(cn) == after
        mine = headers(cn, Role.BORROWER, borrower.subject)
        [listed] = client.get(f"/v1/lines/{line_id}/decisions", headers=mine).json()["decisions"]
        assert (listed["action"], listed["limit_before"], listed["limit_after"]) == (
            "increase",
            "0.00",
            "28000.00",
        )
        assert (listed["reason_codes"], listed["automated"]) == (["income_verified"], False)
        staff = client.get(f"/v1/decisions/{listed['id']}", headers=agent).json()
        assert (staff["actor"], staff["note"]) == ("agent:agent-1", reason)
        caps = staff["evidence"]["limit_caps"]
        assert (caps["profile"], caps["profile_version"]) == ("CN", "CN@2026-12")
        # A third of 144,000.00 a year is 48,000.00, less the first line's 20,000.00.
        assert (caps["cap"], caps["binding"], caps["other_lines_limits"]) == (
            "28000.00",
            "income_share",
            "20000.00",
        )
        why = client.get(f"/v1/lines/{line_id}/explanation?lang=en", headers=mine).json()
        [change] = why["changes"]
        assert (change["decision_id"], change["limit_after"], change["automated"]) == (
            listed["id"],
            "28000.00",
            False,
        )
        assert [r["code"] for r in change["reasons"]] == ["income_verified"]


def test_a_staff_open_for_a_borrower_with_no_income_on_file_is_refused(
    cn: Container, agent: Actor
) -> None:
    with pytest.raises(LimitAboveCap) as refused:
        cn.ledger.open_line(agent, new_id(), "nobody-known", "CNY", "1000.00")
    assert (refused.value.details["cap"], refused.value.details["cap_limit"]) == (
        "income_share",
        "0.00",
    )


def test_an_automatic_path_is_held_to_the_caps_too(cn: Container, borrower: Actor) -> None:
    line_id = str(apply(cn, borrower, income_monthly="3000.00")["line_id"])  # CN-1: 12,000.00
    with pytest.raises(LimitAboveCap):
        cn.ledger.change_limit(
            RISK, new_id(), line_id, "increase", ["good_repayment_history"], limit="12100.00"
        )
    cn.ledger.change_limit(
        RISK, new_id(), line_id, "increase", ["good_repayment_history"], limit="12000.00"
    )


def test_a_human_reviews_new_limit_keeps_to_the_caps(
    cn: Container, borrower: Actor, approver: Actor
) -> None:
    line_id = str(apply(cn, borrower, income_monthly="3000.00")["line_id"])
    review = cn.appeals.request(borrower, new_id(), line_id, human=True).document["human_review"]
    with pytest.raises(LimitAboveCap):
        cn.appeals.decide(
            approver, new_id(), review["id"], "modify", ["income_verified"], limit="12100.00"
        )
    with pytest.raises(InvalidAmount):
        cn.appeals.decide(
            approver, new_id(), review["id"], "modify", ["income_verified"], limit="11950.50"
        )


def test_us_6_every_opening_and_increase_stores_its_ability_to_pay(
    us: Container, borrower: Actor, approver: Actor
) -> None:
    # 5,000.00 a month, 1,500.00 of obligations: 43% leaves 650.00 a month, which repays
    # 650.00 / 37.16 x 1,000.00 = 17,491.92 of limit (36 months at 19.99%).
    result = apply(
        us,
        borrower,
        currency="USD",
        income_monthly="5000.00",
        obligations_monthly="1500.00",
        employment="employed",
    )
    assert result["outcome"] == "approved", result
    line_id = str(result["line_id"])
    [opening] = caps_of(us, line_id)
    assert opening["binding"] == "ability_to_pay"
    assert opening["caps"] == {"ability_to_pay": "17491.92"}
    assert opening["ability_to_pay"]["obligations_source"] == "application"
    assert opening["ability_to_pay"]["debt_to_income_max_percent"] == "43"
    with pytest.raises(LimitAboveCap) as refused:
        us.ledger.change_limit(
            approver, new_id(), line_id, "increase", ["income_verified"], limit="17500.00"
        )
    assert refused.value.details["cap"] == "ability_to_pay"
    assert result["limit"] == "5000.00"  # the policy's matrix, under the cap
    us.ledger.change_limit(
        approver, new_id(), line_id, "increase", ["income_verified"], limit="17450.00"
    )
    figures = caps_of(us, line_id)[-1]["ability_to_pay"]
    # 17,450.00 (on the policy's 50.00 step) costs ceil(17,450.00 x 37.16 / 1,000.00) = 648.45
    # a month: (1,500.00 + 648.45) / 5,000.00 = 42.97%.
    assert (figures["payment_on_limits"], figures["debt_to_income_percent"]) == ("648.45", "42.97")
    assert figures["passes"] is True


def test_us_6_obligations_the_bureau_reports_replace_what_the_application_stated(
    us: Container, borrower: Actor, agent: Actor, approver: Actor, clock: FixedClock
) -> None:
    line_id = str(
        apply(us, borrower, currency="USD", income_monthly="5000.00", obligations_monthly="0")[
            "line_id"
        ]
    )
    us.bureau.record_consent(borrower, new_id(), borrower.subject)
    clock.advance(dt.timedelta(hours=2))
    us.bureau.load_report(
        agent,
        new_id(),
        {
            "borrower_id": borrower.subject,
            "reported_at": clock.now() - dt.timedelta(hours=1),
            "obligations_monthly_minor": 200_000,  # 2,000.00: 43% of 5,000.00 leaves 150.00
        },
    )
    with pytest.raises(LimitAboveCap) as refused:
        us.ledger.change_limit(
            approver, new_id(), line_id, "increase", ["income_verified"], limit="24000.00"
        )
    # 150.00 / 37.16 x 1,000.00 = 4,036.59
    assert refused.value.details["cap_limit"] == "4036.59"


def cut_line_with_a_clean_report(
    cn: Container,
    borrower: Actor,
    approver: Actor,
    agent: Actor,
    clock: FixedClock,
    evidence_days: int,
) -> str:
    """A line the policy would grow past CN-1 at its next review: 5,000.00 a month opens
    20,000.00 (grade C, mid band), which is also CN-1's third of 60,000.00 a year; staff cut it
    to 14,000.00; 91 days on (past the no-increase-after-cut period) a clean bureau report
    lifts the grade to B, whose target is 30,000.00, so the policy grows the line by half, to
    21,000.00."""
    expires = (clock.now() + dt.timedelta(days=evidence_days)).date()
    applied = apply(cn, borrower, income_monthly="5000.00", income_evidence_expires_on=expires)
    assert applied["limit"] == "20000.00"
    line_id = str(applied["line_id"])
    cn.ledger.change_limit(
        approver, new_id(), line_id, "decrease", ["utilisation_high"], limit="14000.00"
    )
    cn.bureau.record_consent(borrower, new_id(), borrower.subject)
    clock.advance(dt.timedelta(days=91))
    report = {
        "borrower_id": borrower.subject,
        "reported_at": clock.now() - dt.timedelta(hours=1),
        "inquiries_3m": 0,
        "lenders_with_open_loans": 1,
    }
    cn.bureau.load_report(agent, new_id(), report)
    return line_id


def assert_held_at_the_income_share(cn: Container, borrower: Actor, line_id: str) -> None:
    assert cn.ledger.get_line(borrower, line_id)["limit"] == "20000.00"
    figures = caps_of(cn, line_id)[-1]
    assert (figures["profile_version"], figures["binding"], figures["cap"]) == (
        "CN@2026-12",
        "income_share",
        "20000.00",
    )


def test_a_policy_review_is_held_under_the_cap_and_says_so(
    cn: Container, borrower: Actor, approver: Actor, agent: Actor, clock: FixedClock
) -> None:
    line_id = cut_line_with_a_clean_report(cn, borrower, approver, agent, clock, 365)
    decision = cn.decisions.review_line(line_id).decision
    assert (decision.action, decision.grade, decision.new_limit_minor) == (
        "increase",
        "B",
        2_000_000,
    )
    assert decision.reason_codes == ("good_repayment_history", "regulatory_cap")
    assert_held_at_the_income_share(cn, borrower, line_id)


def test_the_review_after_a_verification_is_held_under_the_cap_too(
    cn: Container, borrower: Actor, approver: Actor, agent: Actor, clock: FixedClock
) -> None:
    line_id = cut_line_with_a_clean_report(cn, borrower, approver, agent, clock, 60)
    assert cn.decisions.review_line(line_id).decision.action == "suspend"  # evidence expired
    today = clock.now().date()
    evidence = {
        "income_monthly": "5000.00",
        "currency": "CNY",
        "document_id": "payslip-2027-03",
        "issued_on": (today - dt.timedelta(days=1)).isoformat(),
        "expires_on": (today + dt.timedelta(days=180)).isoformat(),
    }
    verified = cn.verifications.submit(borrower, new_id(), "income", evidence).document
    [restored] = verified["lines"]
    assert (restored["outcome"], restored["then"]) == ("restored", "increase")
    with cn.db.reading() as connection:
        latest = connection.execute(
            select(decisions.c.action, decisions.c.reason_codes)
            .where(decisions.c.line_id == line_id)
            .order_by(decisions.c.id.desc())
            .limit(1)
        ).one()
    assert (latest.action, json.loads(latest.reason_codes)) == (
        "increase",
        ["good_repayment_history", "regulatory_cap"],
    )
    assert_held_at_the_income_share(cn, borrower, line_id)
