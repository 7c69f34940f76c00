"""Adverse-action notices complete for each profile, whoever decided, on both stores.

A US notice (Reg B 1002.9, FCRA 615(a)) names the creditor and its address, gives the ECOA
statement with the federal agency and the principal reasons and, whenever a consumer report fed
the decision — the policy's or a person's — the bureau's name, address and toll-free number,
the score with its date and range, the key factors as the bureau gave them, and the rights to a
free report within 60 days and to dispute it. A CN notice gives the reasons, the rights to an
explanation and to a human review (CN-7) and to object to and complain about credit-report data
with the channels to do it (CN-8). Every contact printed is the one the profile's configuration
gives (`tests/fixtures/contacts.toml`).
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from conftest import TEST_CONTACTS, headers
from fastapi.testclient import TestClient
from test_notices import CASES, LINE, flat, reason_facts

from creditline.api.app import create_app
from creditline.bootstrap import Container
from creditline.kernel.actors import Actor, Role
from creditline.kernel.clock import FixedClock
from creditline.kernel.ids import new_id
from creditline.notices.catalog import ADVERSE_KINDS, Kind
from creditline.notices.contacts import read_contacts
from creditline.notices.render import Jurisdiction, Renderer

CONTACTS = read_contacts(TEST_CONTACTS)
# As a bureau gives them, most important first; the one about inquiries comes sixth.
KEY_FACTORS: list[dict[str, Any]] = [
    {"code": "10", "text": "Proportion of balances to credit limits is too high"},
    {"code": "14", "text": "Length of time accounts have been established"},
    {"code": "05", "text": "Too many accounts with balances"},
    {"code": "38", "text": "Serious delinquency, and public record or collection filed"},
    {"code": "13", "text": "Time since delinquency is too recent or unknown"},
    {"code": "08", "text": "Too many inquiries last 12 months", "inquiries": True},
]
# Latin letters, plain or full-width: a word of English in a Chinese notice.
LATIN = re.compile(r"[A-Za-z\uFF21-\uFF3A\uFF41-\uFF5A]+")
ADVERSE = {kind.value for kind in ADVERSE_KINDS}


def report_on_file(
    c: Container, clock: FixedClock, agent: Actor, borrower_id: str, **fields: Any
) -> dict[str, Any]:
    """The borrower consents, then a report is pulled and loaded."""
    c.bureau.record_consent(agent, f"consent-{new_id()}", borrower_id)
    clock.advance(timedelta(minutes=1))
    report = {"borrower_id": borrower_id, "source": "test-bureau", "reported_at": clock.now()}
    return dict(c.bureau.load_report(agent, f"report-{new_id()}", report | fields).document)


def notices_of(c: Container, borrower_id: str, language: str) -> list[dict[str, Any]]:
    """The borrower's inbox after delivery, oldest first, composed in `language`."""
    c.dispatcher.run_until_idle()
    inbox = c.notices.inbox(Actor(borrower_id, Role.BORROWER), language)["notices"]
    return list(reversed(inbox))


def listed_after(body: str, heading: str) -> list[str]:
    """The `  - ` items under `heading`."""
    after = body.split(heading + "\n", 1)[1].split("\n")
    items = []
    for line in after:
        if not line.startswith("  - "):
            break
        items.append(line[4:])
    return items


def latin_words(text: str, ids: list[str]) -> list[str]:
    """The Latin-letter words left once the ids a borrower quotes to us are taken out."""
    for identifier in ids:
        text = text.replace(identifier, "#")
    return LATIN.findall(text)


# --- United States --------------------------------------------------------------------------
@pytest.mark.parametrize(
    "codes",
    [["multiple_lenders"], ["income_insufficient"]],
    ids=["a-bureau-reason", "another-reason"],
)
def test_a_us_notice_after_a_staff_cut_that_used_a_bureau_report_has_the_fcra_section(
    container: Container, clock: FixedClock, agent: Actor, approver: Actor, codes: list[str]
) -> None:
    c = container
    # Issue 11: a person cut the line of a borrower whose report was on file, through the API
    # (which passes no evidence); the notice had the ECOA statement and no FCRA section.
    line_id = c.ledger.open_line(agent, "open", "us-1", "USD", "5000.00").document["id"]
    loaded = report_on_file(
        c,
        clock,
        agent,
        "us-1",
        bureau_score=640,
        lenders_with_open_loans=6,
        key_factors=KEY_FACTORS,
    )
    with TestClient(create_app(c)) as api:
        answer = api.post(
            f"/v1/lines/{line_id}/limit-changes",
            json={"action": "decrease", "limit": "2500.00", "reason_codes": codes},
            headers=headers(c, Role.APPROVER, approver.subject),
        )
    assert answer.status_code == 201, answer.text
    decision_id = answer.json()["decision"]["id"]
    # The decision keeps the report it was made with; the notice discloses that one.
    stored = c.ledger.stored_decision(approver, decision_id).evidence or {}
    assert stored["consumer_report"]["id"] == loaded["id"]
    assert stored["consumer_report"]["score"] == 640

    granted, notice = notices_of(c, "us-1", "en")
    assert granted["kind"] == "limit_increased"  # the staff member's grant that opened the line
    body, us = notice["body"], CONTACTS["TEST-US"]
    for fact in [
        *reason_facts(codes, "en"),
        f"Statement of action taken: {us.lender.name} has reduced the limit of your credit line "
        f"{line_id}.",
        f"Creditor: {us.lender.name}, {us.lender.address}, {us.lender.phone}.",
        "The federal Equal Credit Opportunity Act prohibits creditors from discriminating",
        f"administers compliance with this law concerning this creditor is: {us.lender.agency}.",
        "based in whole or in part on information obtained in a report from the consumer "
        "reporting agency listed below",
        f"{us.bureau.name} {us.bureau.address} Toll-free: {us.bureau.phone}",
        "played no part in our decision",
        "a right to a free copy of your report from the reporting agency, if you request it no "
        "later than 60 days after you receive this notice",
        "you have the right to dispute the matter with the reporting agency",
        "Your credit score: 640",
        f"Date: {clock.now().date().isoformat()}",  # the TEST-US profile keeps UTC dates
        "Scores range from a low of 350 to a high of 900.",
    ]:
        assert fact in flat(body), (fact, body)
    # Four key factors in the bureau's order and words, and its inquiries factor as a fifth.
    shown = listed_after(body, "Key factors that adversely affected your credit score:")
    assert shown == [factor["text"] for factor in (*KEY_FACTORS[:4], KEY_FACTORS[5])]


def test_a_us_staff_cut_discloses_a_report_only_when_one_fed_it(
    container: Container, agent: Actor, approver: Actor
) -> None:
    c = container
    line_id = c.ledger.open_line(agent, "open", "us-2", "USD", "5000.00").document["id"]
    c.ledger.change_limit(
        approver, "cut-1", line_id, "decrease", ["income_insufficient"], limit="4000.00"
    )
    # A reason drawn from bureau data says a report was used, even with none loaded here.
    c.ledger.change_limit(
        approver, "cut-2", line_id, "decrease", ["bureau_inquiries"], limit="3000.00"
    )
    granted, *cuts = notices_of(c, "us-2", "en")
    assert granted["kind"] == "limit_increased"  # the staff member's grant that opened the line
    without, named = (flat(n["body"]) for n in cuts)
    assert "Equal Credit Opportunity Act" in without
    assert "Fair Credit Reporting Act" not in without and "Toll-free" not in without
    assert "Fair Credit Reporting Act" in named
    assert f"Toll-free: {CONTACTS['TEST-US'].bureau.phone}" in named
    assert "Your credit score" not in named  # no score was obtained


# --- China ----------------------------------------------------------------------------------
def test_a_cn_notice_of_an_automatic_cut_gives_the_cn_7_and_cn_8_rights_in_chinese_only(
    container: Container, clock: FixedClock, agent: Actor, borrower: Actor
) -> None:
    c = container
    line_id = c.ledger.open_line(agent, "open", borrower.subject, "CNY", "20000.00").document["id"]
    hold = c.ledger.place_hold(borrower, "h", line_id, "2000.00", 12).document
    c.loans.post_drawdown(borrower, "p", hold["id"])
    loaded = report_on_file(c, clock, agent, borrower.subject, lenders_with_open_loans=5)
    applied = c.decisions.review_line(line_id)
    assert (applied.decision.action, applied.outcome) == ("decrease", "applied")
    stored = c.ledger.stored_decision(agent, applied.decision_id or "").evidence or {}
    assert stored["consumer_report"]["id"] == loaded["id"]

    [notice] = [n for n in notices_of(c, borrower.subject, "zh-CN") if n["kind"] in ADVERSE]
    body, cn = notice["body"], CONTACTS["TEST-CN"]
    for fact in [
        *reason_facts(list(applied.decision.reason_codes), "zh-CN"),
        # CN-7: an explanation and a human review; PIPL Art. 24 for an automated decision.
        "您有权要求我们说明本次决定的具体理由,并可申请人工复核",
        "本次决定由系统自动作出。依照《个人信息保护法》第二十四条",
        "有权拒绝仅通过自动化决策方式作出的决定、要求由工作人员复核",
        # CN-8: the report used, and where to object and complain.
        f"本次决定参考了经您授权查询的信用报告(报告日期 {clock.now().date().isoformat()})",
        f"报告提供机构:{cn.bureau.name},地址:{cn.bureau.address},电话:{cn.bureau.phone}",
        f"也可向{cn.bureau.name}提出({cn.bureau.objections})",
        f"您有权投诉:{cn.bureau.complaints}",
        f"贷款机构:{cn.lender.name},地址:{cn.lender.address},客服电话:{cn.lender.phone}",
    ]:
        assert fact in body.replace("\n", ""), (fact, body)
    assert latin_words(notice["subject"] + body, [line_id]) == []


def test_a_person_who_upholds_a_cut_restates_it_with_the_report_that_fed_it(
    container: Container, clock: FixedClock, agent: Actor, approver: Actor, borrower: Actor
) -> None:
    c = container
    line_id = c.ledger.open_line(agent, "open", borrower.subject, "CNY", "20000.00").document["id"]
    report_on_file(c, clock, agent, borrower.subject, lenders_with_open_loans=1)
    c.ledger.change_limit(
        approver, "cut", line_id, "decrease", ["multiple_lenders"], limit="15000.00"
    )
    asked = c.appeals.request(borrower, "ask", line_id, contest=True).document
    review_id = asked["human_review"]["id"]
    c.appeals.decide(approver, "decide", review_id, "uphold", ["multiple_lenders"])

    notices = notices_of(c, borrower.subject, "zh-CN")
    [cut] = [n for n in notices if n["kind"] == Kind.LIMIT_DECREASED.value]
    [upheld] = [n for n in notices if n["kind"] == Kind.REVIEW_DECIDED.value]
    cn = CONTACTS["TEST-CN"]
    for notice in (cut, upheld):
        body = notice["body"].replace("\n", "")
        assert "本次决定由我们的工作人员作出。" in body, body
        assert "《个人信息保护法》第二十四条" not in body  # not an automated decision
        assert "本次决定参考了经您授权查询的信用报告" in body
        assert f"您有权投诉:{cn.bureau.complaints}" in body
        assert latin_words(notice["subject"] + body, [line_id]) == []


# --- every profile, at the renderer ---------------------------------------------------------
def jurisdiction(code: str, key: str) -> Jurisdiction:
    return Jurisdiction(code, ZoneInfo("UTC"), 30, CONTACTS[key])


PROFILES = {"US": "TEST-US", "CN": "TEST-CN", "EU": "EU"}
AUTOMATED = "service:policy-engine"
REPORT = {
    "id": "01a224fe-7b9f-73bc-bb53-000000000001",
    "source": "test-bureau",
    "reported_at": "2026-11-20T08:00:00Z",
    "score": 612,
    "key_factors": [{"inquiries": False, **factor} for factor in KEY_FACTORS],
}


def adverse_payload(kind: Kind, actor: str) -> dict[str, Any]:
    payload = CASES[kind][0]
    return {**payload, "decision": {**payload["decision"], "actor": actor}}


def rendered(
    kind: Kind, language: str, code: str, actor: str = AUTOMATED, report: bool = True
) -> str:
    evidence = {"consumer_report": REPORT} if report else None
    notice = Renderer().render(
        kind,
        language,
        line=LINE,
        payload=adverse_payload(kind, actor),
        jurisdiction=jurisdiction(code, PROFILES[code]),
        evidence=evidence,
    )
    return notice.subject + "\n" + notice.body


@pytest.mark.parametrize("language", ["en", "zh-CN"])
@pytest.mark.parametrize("code", sorted(PROFILES))
@pytest.mark.parametrize("kind", sorted(ADVERSE_KINDS))
def test_every_adverse_notice_names_its_profile_s_configured_contacts(
    kind: Kind, code: str, language: str
) -> None:
    contacts = CONTACTS[PROFILES[code]]
    text = flat(rendered(kind, language, code))
    required = [contacts.lender.name, contacts.lender.address, contacts.lender.phone]
    required += [contacts.bureau.name, contacts.bureau.address, contacts.bureau.phone]
    required += [value for value in (contacts.lender.agency, contacts.bureau.objections) if value]
    required += [contacts.bureau.complaints] if contacts.bureau.complaints else []
    for value in required:
        assert value in text, (code, language, value, text)
    assert "2026-11-20" in text  # the report's date


@pytest.mark.parametrize(
    ("factors", "shown"),
    [
        (KEY_FACTORS, [0, 1, 2, 3, 5]),  # four, and the inquiries factor as a fifth
        (KEY_FACTORS[:5], [0, 1, 2, 3]),  # no inquiries factor: four at most
        ([KEY_FACTORS[5], *KEY_FACTORS[:5]], [5, 0, 1, 2]),  # inquiries among the four
        (KEY_FACTORS[:2], [0, 1]),
        ([], []),
    ],
    ids=["inquiries-sixth", "five-without-inquiries", "inquiries-first", "two", "none"],
)
def test_key_factors_are_four_at_most_and_five_when_the_bureau_names_inquiries(
    factors: list[dict[str, Any]], shown: list[int]
) -> None:
    report = {**REPORT, "key_factors": [{"inquiries": False, **factor} for factor in factors]}
    notice = Renderer().render(
        Kind.LIMIT_DECREASED,
        "en",
        line=LINE,
        payload=adverse_payload(Kind.LIMIT_DECREASED, AUTOMATED),
        jurisdiction=jurisdiction("US", "TEST-US"),
        evidence={"consumer_report": report},
    )
    heading = "Key factors that adversely affected your credit score:"
    listed = listed_after(notice.body, heading) if heading in notice.body else []
    assert listed == [KEY_FACTORS[n]["text"] for n in shown]


def identifiers(value: Any) -> list[str]:
    """The ids a payload carries (of the line, decision, loans, review, verification)."""
    if isinstance(value, dict):
        found = [v for k, v in value.items() if k in _ID_KEYS and isinstance(v, str)]
        return found + [i for v in value.values() for i in identifiers(v)]
    if isinstance(value, list):
        return [i for v in value for i in identifiers(v)]
    return []


_ID_KEYS = {"id", "loan", "loan_id", "review", "verification"}


@pytest.mark.parametrize("actor", [AUTOMATED, "approver:approver-1"], ids=["automated", "staff"])
@pytest.mark.parametrize("kind", list(Kind))
def test_a_chinese_notice_has_no_word_of_english(kind: Kind, actor: str) -> None:
    # Strict: after the ids a borrower quotes to us (line, decision, loan, review and
    # verification ids) are taken out, no Latin letter is left; amounts in yuan read "元" and
    # dates are digits. A note staff write is printed as written: here it is Chinese.
    payload = dict(CASES[kind][0])
    if "decision" in payload:
        payload["decision"] = {**payload["decision"], "actor": actor}
    if kind is Kind.REVIEW_DECIDED:
        payload |= {"outcome": "uphold", "contested_action": "decrease", "note": "经核实维持原决定"}
    notice = Renderer().render(
        kind,
        "zh-CN",
        line=LINE,
        payload=payload,
        jurisdiction=jurisdiction("CN", "TEST-CN"),
        evidence={"consumer_report": {**REPORT, "key_factors": []}},
    )
    text = notice.subject + "\n" + notice.body
    assert latin_words(text, [LINE["id"], *identifiers(payload)]) == [], text


def test_an_eu_notice_gives_the_rights_of_an_automated_decision_and_the_database_consulted() -> (
    None
):
    eu = CONTACTS["EU"]
    automated = flat(rendered(Kind.LIMIT_DECREASED, "en", "EU"))
    for fact in [
        *reason_facts(["utilisation_high"], "en"),
        "This decision was made by automated means.",
        "the right to obtain human intervention on our part, to express your point of view, "
        "and to contest the decision and have it reviewed",
        "(Consumer Credit Directive (EU) 2023/2225, Article 18; GDPR, Article 22)",
        "To assess your creditworthiness we consulted a database",
        f"{eu.bureau.name} {eu.bureau.address} {eu.bureau.phone}",
        f"Lender: {eu.lender.name}, {eu.lender.address}, {eu.lender.phone}.",
    ]:
        assert fact in automated, (fact, automated)
    assert "Equal Credit Opportunity Act" not in automated
    by_staff = flat(rendered(Kind.LINE_FROZEN, "en", "EU", actor="approver:a-1", report=False))
    assert "made by a member of our staff" in by_staff
    assert "human intervention" not in by_staff
    assert "consulted a database" not in by_staff
    # A human review's change is a person's decision.
    reviewed = flat(rendered(Kind.LINE_CLOSED, "en", "EU", actor="service:human-review:a-1"))
    assert "made by a member of our staff" in reviewed


def test_an_upheld_us_cut_states_the_action_and_its_consumer_report_again() -> None:
    payload = {
        "review": "review-7",
        "outcome": "uphold",
        "contested_action": "decrease",
        "note": None,
        "decision": {
            "id": "01a224fe-7b9f-73bc-bb53-d06bf206129f",
            "action": "review",
            "reason_codes": ["multiple_lenders"],
            "until": None,
        },
    }
    notice = Renderer().render(
        Kind.REVIEW_DECIDED,
        "en",
        line=LINE,
        payload=payload,
        jurisdiction=jurisdiction("US", "TEST-US"),
        evidence={"consumer_report": REPORT},
    )
    text = flat(notice.body)
    assert f"{CONTACTS['TEST-US'].lender.name} has reduced the limit of your credit line" in text
    assert "Fair Credit Reporting Act" in text and "Your credit score: 612" in text
    # A reversal states no adverse action.
    reversed_ = Renderer().render(
        Kind.REVIEW_DECIDED,
        "en",
        line=LINE,
        payload={**payload, "outcome": "reverse"},
        jurisdiction=jurisdiction("US", "TEST-US"),
        evidence={"consumer_report": REPORT},
    )
    assert "Equal Credit Opportunity Act" not in reversed_.body
