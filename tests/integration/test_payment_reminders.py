"""Repayment reminders and monthly statements, on both stores.

A borrower hears of each instalment a few days before it falls due and on the day, is told of a
missed payment the day after its grace days end (with the late fee, the penalty interest and the
day the policy's overdue rule would freeze the line), and gets a statement of each calendar
month. Each is sent once, on its business date in Shanghai; a settled loan gets none.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from creditline.bootstrap import Container
from creditline.kernel.actors import Actor
from creditline.kernel.clock import FixedClock
from creditline.kernel.ids import new_id
from creditline.kernel.money import format_minor
from creditline.ledger.tables import journal, lines
from creditline.loans.tables import instalments, loans, repayments
from creditline.notices.catalog import LANGUAGES, Kind
from creditline.notices.render import Jurisdiction, Renderer
from creditline.notices.tables import outbox

PRICED = "test-priced-cny"  # 12% a year, CNY 0.05% a month fee, late fee 20.00, grace 3 days
SHANGHAI = dt.timezone(timedelta(hours=8))
PAYMENT_KINDS = ("payment_due_soon", "payment_due_today", "payment_missed")


def morning(on: dt.date, hour: int = 10) -> datetime:
    """`hour` o'clock in Shanghai on `on`."""
    return datetime(on.year, on.month, on.day, hour, tzinfo=SHANGHAI).astimezone(UTC)


def open_line(c: Container, agent: Actor, borrower: Actor) -> str:
    return str(
        c.ledger.open_line(agent, new_id(), borrower.subject, "CNY", "50000.00").document["id"]
    )


def draw(c: Container, borrower: Actor, line_id: str, amount: str, term: int, product: str) -> str:
    held = c.ledger.place_hold(borrower, new_id(), line_id, amount, term, product=product).document
    return str(c.loans.post_drawdown(borrower, new_id(), held["id"]).document["loan_id"])


def sent(c: Container, topic: str) -> list[dict[str, Any]]:
    with c.db.reading() as connection:
        rows = connection.execute(
            select(outbox.c.line_id, outbox.c.ref_id, outbox.c.payload)
            .where(outbox.c.topic == topic)
            .order_by(outbox.c.id)
        ).all()
    return [{"line": r[0], "ref": r[1], **json.loads(r[2])} for r in rows]


def schedule(c: Container, loan_id: str) -> list[dict[str, Any]]:
    with c.db.reading() as connection:
        return [
            dict(row)
            for row in connection.execute(
                select(instalments)
                .where(instalments.c.loan_id == loan_id)
                .order_by(instalments.c.number)
            ).mappings()
        ]


def test_each_instalment_is_reminded_before_and_on_its_due_date_and_a_miss_once(
    container: Container, agent: Actor, borrower: Actor, clock: FixedClock
) -> None:
    c = container
    clock.set(morning(dt.date(2026, 11, 28)))
    line_id = open_line(c, agent, borrower)
    loan_id = draw(c, borrower, line_id, "1200.00", 3, PRICED)
    first = schedule(c, loan_id)[0]
    due = first["due_date"]
    # By hand from the schedule: principal, interest and the service fee of instalment 1.
    owed = first["principal_minor"] + first["interest_minor"] + first["fee_minor"]
    assert first["fee_minor"] == 60  # 0.05% of 1,200.00 a month

    fired: dict[str, list[dt.date]] = {kind: [] for kind in PAYMENT_KINDS}
    day = dt.date(2026, 11, 28)
    while day <= due + timedelta(days=3 + 8):
        for hour in (0, 10, 23):  # the business day in Shanghai, from its first hour to its last
            clock.set(morning(day, hour))
            counts = c.reminders.run()
            for kind in PAYMENT_KINDS:
                fired[kind] += [day] * counts[kind]
        day += timedelta(days=1)
    assert fired == {
        "payment_due_soon": [due - timedelta(days=3)],
        "payment_due_today": [due],
        "payment_missed": [due + timedelta(days=4)],  # grace: 3 days
    }
    [soon] = sent(c, "notice.payment_due_soon")
    [today] = sent(c, "notice.payment_due_today")
    for notice in (soon, today):
        assert notice["line"] == line_id and notice["ref"] == loan_id
        assert notice["loan"] == loan_id and notice["instalment"] == 1
        assert notice["due_on"] == due.isoformat()
        assert notice["amount_due"] == format_minor(owed, "CNY")
    [missed] = sent(c, "notice.payment_missed")
    assert missed["amount_overdue"] == format_minor(owed, "CNY")
    assert missed["late_fee"] == "20.00" and missed["penalty_rate_percent"] == "18.00"
    # The policy freezes once days past due exceed 30: dpd 31 is reached 31 days after the due
    # date (days past due count from the oldest unpaid due date).
    assert missed["freeze_on"] == (due + timedelta(days=31)).isoformat()
    assert missed["freeze_after_days"] == 30


def test_a_paid_or_settled_loan_is_not_reminded(
    container: Container, agent: Actor, borrower: Actor, clock: FixedClock
) -> None:
    c = container
    clock.set(morning(dt.date(2026, 11, 28)))
    line_id = open_line(c, agent, borrower)
    loan_id = draw(c, borrower, line_id, "900.00", 3, "test-free-cny")
    c.loans.repay(borrower, new_id(), loan_id, "900.00")
    with c.db.reading() as connection:
        assert connection.execute(select(loans.c.status)).scalar_one() == "settled"
    day = dt.date(2026, 11, 28)
    while day <= dt.date(2027, 3, 10):
        clock.set(morning(day))
        counts = c.reminders.run()
        assert all(counts[kind] == 0 for kind in PAYMENT_KINDS), day
        day += timedelta(days=7) if day.day > 3 else timedelta(days=1)
    assert all(sent(c, f"notice.{kind}") == [] for kind in PAYMENT_KINDS)


def test_a_monthly_statement_is_sent_once_and_its_totals_match_the_journal_and_repayments(
    container: Container, agent: Actor, borrower: Actor, clock: FixedClock
) -> None:
    c = container
    clock.set(morning(dt.date(2026, 11, 28)))
    line_id = open_line(c, agent, borrower)
    loan_a = draw(c, borrower, line_id, "12000.00", 12, PRICED)
    assert c.reminders.run()["monthly_statement"] == 0  # October: nothing happened
    # 00:30 on 1 December in Shanghai is still 30 November in UTC: November is over here.
    clock.set(morning(dt.date(2026, 12, 1), 0) + timedelta(minutes=30))
    assert c.reminders.run()["monthly_statement"] == 1
    [november] = sent(c, "notice.monthly_statement")
    assert november["month"] == "2026-11" and november["opening"] == "0.00"
    assert november["drawn"] == "12000.00" and november["closing"] == "12000.00"

    clock.set(morning(dt.date(2026, 12, 10)))
    loan_b = draw(c, borrower, line_id, "1000.00", 3, PRICED)
    due = schedule(c, loan_a)[0]["due_date"]
    clock.set(morning(due))
    c.loans.repay(borrower, new_id(), loan_a, "1500.00")
    clock.set(morning(dt.date(2026, 12, 31), 23))  # still December in Shanghai
    c.loans.repay(borrower, new_id(), loan_b, "100.00")
    assert c.reminders.run()["monthly_statement"] == 0
    clock.set(morning(dt.date(2027, 1, 1), 1))
    assert c.reminders.run()["monthly_statement"] == 1
    assert c.reminders.run()["monthly_statement"] == 0  # once
    clock.advance(timedelta(days=3))
    assert c.reminders.run()["monthly_statement"] == 0
    [_, december] = sent(c, "notice.monthly_statement")

    with c.db.reading() as connection:
        paid = connection.execute(select(repayments)).mappings().all()
        entries = (
            connection.execute(
                select(journal).where(journal.c.line_id == line_id).order_by(journal.c.seq)
            )
            .mappings()
            .all()
        )
        aprs = {r[0]: r[1] for r in connection.execute(select(loans.c.id, loans.c.apr_percent))}
        outstanding = connection.execute(select(lines.c.principal_outstanding_minor)).scalar_one()
    in_december = [
        e for e in entries if e["created_at"].astimezone(SHANGHAI).strftime("%Y-%m") == "2026-12"
    ]
    drawn = sum(e["principal_delta_minor"] for e in in_december if e["principal_delta_minor"] > 0)
    returned = -sum(
        e["principal_delta_minor"] for e in in_december if e["principal_delta_minor"] < 0
    )
    assert december["month"] == "2026-12"
    assert (december["first_day"], december["last_day"]) == ("2026-12-01", "2026-12-31")
    assert december["opening"] == "12000.00"
    assert december["drawn"] == format_minor(drawn, "CNY") == "1000.00"
    assert (
        december["repaid"] == "1600.00" == format_minor(sum(p["amount_minor"] for p in paid), "CNY")
    )
    assert december["principal_repaid"] == format_minor(returned, "CNY")
    assert returned == sum(p["principal_minor"] for p in paid)
    for field, column in (
        ("interest_paid", "interest_minor"),
        ("penalty_paid", "penalty_minor"),
        ("fees_paid", "fees_minor"),
    ):
        assert december[field] == format_minor(sum(p[column] for p in paid), "CNY")
    assert december["closing"] == format_minor(entries[-1]["principal_after_minor"], "CNY")
    assert december["closing"] == format_minor(outstanding, "CNY")
    by_loan = {loan["loan"]: loan for loan in december["loans"]}
    assert set(by_loan) == {loan_a, loan_b}
    for loan_id in (loan_a, loan_b):
        assert by_loan[loan_id]["apr_percent"] == aprs[loan_id]
        following = next(i for i in schedule(c, loan_id) if i["paid_on"] is None)
        unpaid = sum(
            following[f"{part}_minor"] - following[f"paid_{part}_minor"]
            for part in ("principal", "interest", "fee", "late_fee")
        )
        assert by_loan[loan_id]["next_due_on"] == following["due_date"].isoformat()
        assert by_loan[loan_id]["next_due"] == format_minor(unpaid, "CNY")


# --- rendering ------------------------------------------------------------------------------
LINE = {"id": "line-7", "currency": "CNY"}
PAYLOADS: dict[Kind, dict[str, Any]] = {
    Kind.PAYMENT_DUE_SOON: {
        "loan": "loan-42", "instalment": 2, "due_on": "2027-01-28", "amount_due": "1066.04",
        "grace_days": 3,
    },
    Kind.PAYMENT_DUE_TODAY: {
        "loan": "loan-42", "instalment": 2, "due_on": "2027-01-28", "amount_due": "1066.04",
        "grace_days": 3,
    },
    Kind.PAYMENT_MISSED: {
        "loan": "loan-42", "instalment": 2, "due_on": "2027-01-28", "amount_due": "1066.04",
        "grace_days": 3, "amount_overdue": "1066.04", "late_fee": "20.00",
        "penalty_rate_percent": "18.00", "freeze_on": "2027-02-28", "freeze_after_days": 30,
    },
    Kind.MONTHLY_STATEMENT: {
        "month": "2026-12", "first_day": "2026-12-01", "last_day": "2026-12-31",
        "opening": "12000.00", "closing": "11406.00", "drawn": "1000.00", "repaid": "1600.00",
        "principal_repaid": "1594.00", "interest_paid": "0.00", "penalty_paid": "0.00",
        "fees_paid": "6.00",
        "loans": [
            {"loan": "loan-42", "apr_percent": "12.68", "next_due_on": "2027-01-28",
             "next_due": "1066.04"},
            {"loan": "loan-43", "apr_percent": "13.10", "next_due_on": None,
             "next_due": "0.00"},
        ],
    },
}  # fmt: skip
FACTS = {
    Kind.PAYMENT_DUE_SOON: (
        ["CNY 1,066.04", "2027-01-28", "loan-42"], ["1,066.04 元", "2027-01-28", "loan-42"]
    ),
    Kind.PAYMENT_DUE_TODAY: (
        ["CNY 1,066.04", "due today", "loan-42"], ["1,066.04 元", "今天", "loan-42"]
    ),
    Kind.PAYMENT_MISSED: (
        ["CNY 1,066.04", "late fee of CNY 20.00", "18.00% a year", "on 2027-02-28", "loan-42"],
        ["1,066.04 元", "逾期费 20.00 元", "18.00%", "2027-02-28", "loan-42"],
    ),
    Kind.MONTHLY_STATEMENT: (
        ["CNY 12,000.00", "CNY 11,406.00", "CNY 1,000.00", "CNY 1,600.00", "APR 12.68%",
         "next CNY 1,066.04 due on 2027-01-28", "loan-43: APR 13.10%; nothing more due"],
        ["12,000.00 元", "11,406.00 元", "1,000.00 元", "1,600.00 元", "年化利率 12.68%",
         "下期应还 1,066.04 元,到期日 2027-01-28", "loan-43:年化利率 13.10%;已无待还款项"],
    ),
}  # fmt: skip


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("kind", list(PAYLOADS))
def test_payment_notices_render_in_both_languages_and_the_chinese_has_no_english(
    kind: Kind, language: str
) -> None:
    renderer = Renderer()
    cn = Jurisdiction("CN", ZoneInfo("Asia/Shanghai"), 15)
    rendered = renderer.render(kind, language, line=LINE, payload=PAYLOADS[kind], jurisdiction=cn)
    text = rendered.subject + "\n" + rendered.body
    en, zh = FACTS[kind]
    for fact in en if language == "en" else zh:
        assert fact in text, (fact, text)
    for leftover in ("{{", "}}", "{%", "%}", "None", "\n\n\n"):
        assert leftover not in text
    if language == "zh-CN":
        words = re.findall(r"[A-Za-z]+", re.sub(r"(loan|line)-\d+", "", text))
        assert words == [], (words, text)
    if kind is Kind.MONTHLY_STATEMENT:  # one loan a line
        assert len([line for line in text.splitlines() if line.startswith("  - ")]) == 2


def test_a_missed_payment_without_a_freeze_date_says_what_the_policy_says() -> None:
    renderer = Renderer()
    cn = Jurisdiction("CN", ZoneInfo("Asia/Shanghai"), 15)
    payload = {**PAYLOADS[Kind.PAYMENT_MISSED], "freeze_on": None}
    en = renderer.render(Kind.PAYMENT_MISSED, "en", line=LINE, payload=payload, jurisdiction=cn)
    assert "overdue for more than 30 days" in en.body
    none = {**payload, "freeze_after_days": None, "late_fee": "0"}
    zh = renderer.render(Kind.PAYMENT_MISSED, "zh-CN", line=LINE, payload=none, jurisdiction=cn)
    assert "暂停" not in zh.body and "逾期费" not in zh.body
