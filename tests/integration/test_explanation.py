"""The seed's four borrowers ask "why is my line what it is, and what can I do?" and read the
answer in Chinese and English; nobody reads another borrower's explanation."""

from __future__ import annotations

import datetime as dt
from datetime import timedelta

import pytest
from conftest import headers
from fastapi.testclient import TestClient

from creditline.bootstrap import Container
from creditline.decisions.applications import Application
from creditline.kernel.actors import Actor, Role
from creditline.kernel.clock import FixedClock
from creditline.kernel.errors import InvalidInput, LineNotFound
from creditline.kernel.ids import new_id
from creditline.kernel.reasons import NEXT_STEP_TEXTS, REASON_CATALOGUE, NextStep

DAY = timedelta(days=1)


def apply(c: Container, borrower: Actor, key: str, **changes: object) -> dict:
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
    return c.underwriting.apply(borrower, key, Application(**fields)).document  # type: ignore[arg-type]


def both(c: Container, actor: Actor, line_id: str) -> tuple[dict, dict]:
    return c.explainer.explain(actor, line_id, "zh-CN"), c.explainer.explain(actor, line_id, "en")


def test_a_borrower_who_settled_on_time_reads_an_active_line_and_nothing_to_do(
    container: Container, borrower: Actor, clock: FixedClock
) -> None:
    line_id = apply(container, borrower, "app")["line_id"]
    hold = container.ledger.place_hold(borrower, "h", line_id, "5000.00", 12).document
    loan_id = container.loans.post_drawdown(borrower, "p", hold["id"]).document["loan_id"]
    clock.advance(20 * DAY)
    payoff = container.loans.get_loan(borrower, loan_id)["payoff_today"]["total"]
    container.loans.repay(borrower, "r", loan_id, payoff)
    zh, en = both(container, borrower, line_id)
    assert en["state"]["status"] == "active"
    assert en["state"]["available"] == en["state"]["limit"] == "20000.00"
    assert (
        en["summary"]
        == "Your line is active: you can draw CNY 20,000.00 of your CNY 20,000.00 limit."
    )
    assert zh["summary"] == "您的额度正常:授信 20,000.00 元,当前可用 20,000.00 元。"
    assert en["what_you_can_do"] == [] == zh["what_you_can_do"]
    [opening] = en["changes"]
    assert (opening["action"], opening["reasons"][0]["text"]) == (
        "increase",
        REASON_CATALOGUE["application_approved"].text_en,
    )
    # The data the opening decision saw, named: what the borrower declared.
    [declared] = [g for g in en["data_used"] if g["source"] == "application"]
    assert {"feature": "income_monthly_minor", "label": "Declared monthly income.",
            "value": "CNY 12,000.00"} in declared["items"]  # fmt: skip
    assert "trace" not in en


def test_application_velocity_reads_as_a_freeze_with_its_end_date(
    roomy: Container, borrower: Actor, clock: FixedClock
) -> None:
    container = roomy  # more than one line per borrower: the policy's velocity rule decides
    line_id = apply(container, borrower, "app-0")["line_id"]
    for n in range(1, 6):
        clock.advance(DAY)
        apply(container, borrower, f"app-{n}")
    applied = container.decisions.review_line(line_id)
    assert (applied.decision.action, applied.decision.reason_codes[0]) == (
        "freeze",
        "application_velocity",
    )
    until = (clock.now() + 14 * DAY).date().isoformat()  # Asia/Shanghai: still the same day
    zh, en = both(container, borrower, line_id)
    assert en["state"]["frozen_until"] == until
    assert en["summary"].startswith(f"Drawing on your line is paused until {until}")
    assert REASON_CATALOGUE["application_velocity"].text_en in en["summary"]
    assert zh["summary"].startswith(f"您的额度暂停借款至 {until}")
    assert REASON_CATALOGUE["application_velocity"].text_zh in zh["summary"]
    wait = en["what_you_can_do"][0]
    assert (wait["step"], wait["until"], wait["text"]) == (
        "wait_until",
        until,
        NEXT_STEP_TEXTS[NextStep.WAIT_UNTIL][0],
    )
    assert zh["what_you_can_do"][0]["text"] == NEXT_STEP_TEXTS[NextStep.WAIT_UNTIL][1]
    # A person can always be asked.
    assert en["what_you_can_do"][-1]["path"] == f"POST /v1/lines/{line_id}/reviews"
    assert en["changes"][0]["until"] == until


def test_borrowing_from_five_lenders_names_the_bureau_items_that_cut_the_line(
    container: Container, agent: Actor, borrower: Actor, clock: FixedClock
) -> None:
    line_id = apply(container, borrower, "app")["line_id"]
    container.bureau.record_consent(borrower, f"k-{new_id()}", borrower.subject)
    clock.advance(timedelta(minutes=1))
    container.bureau.load_report(
        agent,
        f"k-{new_id()}",
        {
            "borrower_id": borrower.subject,
            "source": "test-bureau",
            "reported_at": clock.now(),
            "lenders_with_open_loans": 5,
            "inquiries_3m": 2,
            "other_limits_minor": 8_000_000,
        },
    )
    clock.advance(31 * DAY)  # past the cool-down of the opening
    assert container.decisions.review_line(line_id).decision.action == "decrease"
    zh, en = both(container, borrower, line_id)
    assert en["state"]["limit"] == "10000.00"
    assert "It was last reduced because: Loans outstanding at too many lenders" in en["summary"]
    assert "上次降额原因:在多家机构有未结清借款(多头借贷)" in zh["summary"]
    bureau = en["data_used"][0]
    assert bureau["source"] == "bureau"
    assert {i["feature"]: i["value"] for i in bureau["items"]} == {
        "inquiries_3m": "2",
        "lenders_with_open_loans": "5",
        "other_limits_minor": "CNY 80,000.00",
    }
    assert zh["data_used"][0]["source_text"] == "您授权查询的征信报告"
    assert [i["label"] for i in zh["data_used"][0]["items"]][1] == "有未结清借款的其他机构数(多头)"
    assert [s["step"] for s in en["what_you_can_do"]] == ["request_review"]
    # Staff see how the policy got there.
    staff = container.explainer.explain(Actor("analyst-1", Role.ANALYST), line_id, "en")
    assert staff["trace"]["decisive_rule"] == "multi-lender"
    assert staff["trace"]["policy"] == "cn-standard@2026.11.1"
    assert {r["id"]: r["fired"] for r in staff["trace"]["rules"]}["multi-lender"] is True


def test_expired_income_evidence_reads_as_a_suspension_to_re_verify_never_a_zero_line(
    container: Container, borrower: Actor, clock: FixedClock
) -> None:
    expires = (clock.now() + 10 * DAY).date()
    line_id = apply(container, borrower, "app", income_evidence_expires_on=expires)["line_id"]
    clock.advance(12 * DAY)
    assert container.decisions.review_line(line_id).decision.action == "suspend"
    zh, en = both(container, borrower, line_id)
    assert en["state"]["status"] == "suspended"
    assert en["state"]["limit"] == "20000.00"  # kept, not zeroed
    assert "not cleared" in en["summary"] and "并未清零" in zh["summary"]
    verify = en["what_you_can_do"][0]
    assert (verify["step"], verify["path"], verify["body"]["kind"]) == (
        "update_income",
        "POST /v1/verifications",
        "income",
    )
    assert zh["what_you_can_do"][0]["text"] == NEXT_STEP_TEXTS[NextStep.UPDATE_INCOME][1]
    evidence = {i["feature"]: i["value"] for g in en["data_used"] for i in g["items"]}
    assert evidence["days_to_income_evidence_expiry"] == "-2"


def test_nobody_reads_another_borrowers_explanation(
    container: Container, client: TestClient, borrower: Actor
) -> None:
    line_id = apply(container, borrower, "app")["line_id"]
    mine = client.get(
        f"/v1/lines/{line_id}/explanation?lang=en",
        headers=headers(container, Role.BORROWER, borrower.subject),
    )
    assert mine.status_code == 200 and mine.json()["language"] == "en"
    other = client.get(
        f"/v1/lines/{line_id}/explanation", headers=headers(container, Role.BORROWER, "someone")
    )
    assert (other.status_code, other.json()["code"]) == (404, "line_not_found")
    assert other.headers["content-type"].startswith("application/problem+json")
    bad = client.get(
        f"/v1/lines/{line_id}/explanation?lang=fr",
        headers=headers(container, Role.BORROWER, borrower.subject),
    )
    assert bad.status_code == 422
    with pytest.raises(LineNotFound):
        container.explainer.explain(Actor("someone", Role.BORROWER), line_id)
    with pytest.raises(InvalidInput):
        container.explainer.explain(borrower, line_id, "fr")
    # Without `lang`, the line's jurisdiction chooses: CNY lines explain in Chinese.
    assert container.explainer.explain(borrower, line_id)["language"] == "zh-CN"
