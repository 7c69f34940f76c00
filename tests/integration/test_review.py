"""Reviews decide lines with the example policy and change them only through the ledger."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from creditline.bootstrap import Container, build
from creditline.config import Settings, shipped_policy_file
from creditline.decisions import book
from creditline.decisions.book import book_features
from creditline.decisions.bureau import ConsentMissing, StoredReports
from creditline.decisions.tables import reviews
from creditline.kernel.actors import Actor, Role
from creditline.kernel.clock import FixedClock
from creditline.kernel.errors import (
    Conflict,
    DecisionNotFound,
    Forbidden,
    InvalidInput,
    LineNotFound,
)
from creditline.kernel.ids import new_id
from creditline.ledger.tables import decisions
from creditline.notices.tables import deliveries, outbox

DAY = timedelta(days=1)
TEST_PRODUCTS = Path(__file__).parents[1] / "fixtures" / "products.toml"
EXAMPLE_POLICY = shipped_policy_file()


def open_line(c: Container, agent: Actor, borrower: str, limit: str = "20000.00") -> str:
    return str(c.ledger.open_line(agent, f"open-{borrower}", borrower, "CNY", limit).document["id"])


def draw(c: Container, owner: Actor, line_id: str, amount: str, tag: str) -> str:
    hold = c.ledger.place_hold(owner, f"hold-{tag}", line_id, amount, 12).document
    return str(c.loans.post_drawdown(owner, f"post-{tag}", hold["id"]).document["loan_id"])


def priced_loan(c: Container, owner: Actor, line_id: str) -> str:
    """A 6,000.00 loan over 12 months with interest and fees (the test catalogue's product)."""
    hold = c.ledger.place_hold(owner, "h", line_id, "6000.00", 12, product="test-priced-cny")
    return str(c.loans.post_drawdown(owner, "p", hold.document["id"]).document["loan_id"])


def recorded(c: Container, line_id: str) -> list[dict[str, object]]:
    """The line's decisions after the staff member's grant that opened it, oldest first."""
    with c.db.reading() as connection:
        rows = connection.execute(
            select(decisions).where(decisions.c.line_id == line_id).order_by(decisions.c.id)
        )
        grant, *later = [dict(row._mapping) for row in rows]
    assert (grant["action"], grant["limit_before_minor"], grant["actor_role"]) == (
        "increase",
        0,
        "agent",
    )
    return later


def listed(c: Container, actor: Actor, line_id: str) -> list[dict[str, Any]]:
    """The line's decisions as listed (newest first), without the grant that opened it."""
    *later, grant = c.ledger.line_decisions(actor, line_id)["decisions"]
    assert (grant["action"], grant["limit_before"], grant["automated"]) == (
        "increase",
        "0.00",
        False,
    )
    return later


def topics(c: Container, line_id: str) -> list[str]:
    with c.db.reading() as connection:
        return list(
            connection.execute(
                select(outbox.c.topic).where(outbox.c.line_id == line_id).order_by(outbox.c.id)
            ).scalars()
        )


def test_a_borrower_who_settled_on_time_keeps_the_restored_line(
    container: Container, agent: Actor, borrower: Actor, clock: FixedClock
) -> None:
    # The article's borrower: two loans repaid, and the review must not cut the line.
    line_id = open_line(container, agent, borrower.subject)
    for n in (1, 2):
        loan_id = draw(container, borrower, line_id, "5000.00", f"seed-{n}")
        clock.advance(20 * DAY)
        payoff = container.loans.get_loan(borrower, loan_id)["payoff_today"]["total"]
        container.loans.repay(borrower, f"repay-{n}", loan_id, payoff)
    applied = container.decisions.review_line(line_id)
    assert applied.decision.action in ("keep", "increase")
    line = container.ledger.get_line(borrower, line_id)
    assert line["available"] == line["limit"]
    assert float(line["limit"]) >= 20000.00


def test_five_drawdowns_in_a_week_freeze_the_line_with_its_reason_and_notice(
    container: Container, agent: Actor, borrower: Actor, clock: FixedClock
) -> None:
    line_id = open_line(container, agent, borrower.subject)
    for n in range(5):
        draw(container, borrower, line_id, "100.00", f"v-{n}")
        clock.advance(timedelta(hours=6))
    applied = container.decisions.review_line(line_id)
    decision = applied.decision
    assert (applied.outcome, decision.action, decision.decisive_rule) == (
        "applied",
        "freeze",
        "drawdown-velocity",
    )
    assert decision.reason_codes[0] == "drawdown_velocity"
    line = container.ledger.get_line(borrower, line_id)
    assert line["status"] == "frozen"
    assert line["frozen_until"] == (clock.now() + 7 * DAY).isoformat()
    [record] = recorded(container, line_id)
    assert json.loads(str(record["reason_codes"]))[0] == "drawdown_velocity"
    assert record["policy_version"] == "cn-standard@2026.11.1"
    evidence = json.loads(str(record["evidence"]))
    assert evidence["decisive_rule"] == "drawdown-velocity"
    assert evidence["features"]["drawdowns_7d"] == 5
    assert {r["id"]: r["fired"] for r in evidence["trace"]["rules"]}["drawdown-velocity"] is True
    assert topics(container, line_id)[-1] == "notice.adverse_change"


def test_a_review_run_twice_the_same_day_changes_the_line_once(
    container: Container, agent: Actor, borrower: Actor, clock: FixedClock
) -> None:
    line_id = open_line(container, agent, borrower.subject)
    for n in range(5):
        draw(container, borrower, line_id, "100.00", f"v-{n}")
    first = container.decisions.review_book()
    assert first == {"freeze:applied": 1}
    clock.advance(timedelta(hours=1))
    second = container.decisions.review_book()
    assert second in ({"freeze:decided_today": 1}, {"freeze:replayed": 1})
    assert len(recorded(container, line_id)) == 1


def test_a_line_overdue_a_month_is_frozen_for_overdue_payment(
    container: Container, agent: Actor, borrower: Actor, clock: FixedClock
) -> None:
    line_id = open_line(container, agent, borrower.subject)
    priced_loan(container, borrower, line_id)
    start = clock.now().date()
    clock.advance(70 * DAY)  # the first instalment fell due about 40 days ago, unpaid
    container.end_of_day.run_day(clock.now().date() - DAY)  # the first end of day ever
    assert start < clock.now().date()
    applied = container.decisions.review_line(line_id)
    assert (applied.decision.action, applied.decision.reason_codes[0]) == (
        "freeze",
        "overdue_payment",
    )


def test_the_repayment_record_is_read_from_when_each_instalment_was_paid(
    container: Container, agent: Actor, borrower: Actor, clock: FixedClock
) -> None:
    line_id = open_line(container, agent, borrower.subject)
    loan_id = priced_loan(container, borrower, line_id)
    due = [
        date.fromisoformat(i["due_date"])
        for i in container.loans.get_loan(borrower, loan_id)["instalments"]
    ]

    def pay_instalment(n: int, on: date) -> None:
        clock.set(datetime.combine(on, clock.now().timetz()))
        owed = container.loans.get_loan(borrower, loan_id)["instalments"][n - 1]["outstanding"]
        container.loans.repay(borrower, f"repay-{n}", loan_id, owed)

    pay_instalment(1, due[0])  # on its due date
    pay_instalment(2, due[1] + 10 * DAY)  # ten days late
    clock.set(datetime.combine(due[2] + 5 * DAY, clock.now().timetz()))  # the third: 5 days due
    instalments = container.loans.get_loan(borrower, loan_id)["instalments"]
    assert [i["paid_on"] for i in instalments[:3]] == [
        due[0].isoformat(),
        (due[1] + 10 * DAY).isoformat(),
        None,
    ]
    features = line_features(container, line_id)
    assert features["on_time_ratio"] == pytest.approx(1 / 3)
    assert features["max_dpd_12m"] == 10
    # A year after the late payment it no longer counts; the third instalment, still unpaid,
    # is then the most days late.
    clock.set(datetime.combine(due[1] + 10 * DAY + 366 * DAY, clock.now().timetz()))
    features = line_features(container, line_id)
    assert features["max_dpd_12m"] == (clock.now().date() - due[2]).days


def test_requested_reviews_are_recorded_and_counted(
    container: Container, agent: Actor, borrower: Actor, clock: FixedClock
) -> None:
    line_id = open_line(container, agent, borrower.subject)
    assert line_features(container, line_id)["increase_requests_7d"] == 0
    first = container.appeals.request(borrower, f"k-{new_id()}", line_id).document
    clock.advance(8 * DAY)
    container.appeals.request(borrower, f"k-{new_id()}", line_id)
    features = line_features(container, line_id)
    assert (features["increase_requests_7d"], features["increase_requests_30d"]) == (2 - 1, 2)
    with container.db.reading() as connection:
        rows = connection.execute(select(reviews).order_by(reviews.c.created_at)).mappings().all()
    assert (rows[0]["id"], rows[0]["outcome"]) == (first["review_id"], first["outcome"])
    assert all(r["line_id"] == line_id and r["requested_by"] == borrower.subject for r in rows)


def line_features(c: Container, line_id: str) -> dict[str, object]:
    now = c.clock.now()
    today = c.decisions.engine.policy.business_date(now)
    with c.db.reading() as connection:
        [features] = book_features(connection, now, today, StoredReports(), [line_id])
    return features


def test_a_closed_line_is_not_reviewed(
    container: Container, agent: Actor, approver: Actor, borrower: Actor
) -> None:
    line_id = open_line(container, agent, borrower.subject)
    container.ledger.change_limit(approver, "close", line_id, "close", ["overdue_payment"])
    assert container.decisions.review_book() == {}


def test_decisions_read_back_with_reasons_and_staff_see_the_evidence(
    container: Container, agent: Actor, borrower: Actor
) -> None:
    line_id = open_line(container, agent, borrower.subject)
    for n in range(5):
        draw(container, borrower, line_id, "100.00", f"v-{n}")
    reviewed = container.appeals.request(borrower, f"k-{new_id()}", line_id).document
    assert (reviewed["action"], reviewed["outcome"]) == ("freeze", "applied")
    assert reviewed["line"]["status"] == "frozen"
    [shown] = listed(container, borrower, line_id)
    assert (shown["action"], shown["automated"], shown["reason_codes"][0]) == (
        "freeze",
        True,
        "drawdown_velocity",
    )
    assert shown["reasons"][0]["zh-CN"] == "短期内借款次数过多"
    assert "evidence" not in shown
    mine = container.ledger.get_decision(borrower, shown["id"])
    assert "evidence" not in mine and mine["reason_codes"] == shown["reason_codes"]
    staff = container.ledger.get_decision(agent, shown["id"])
    assert staff["evidence"]["decisive_rule"] == "drawdown-velocity"
    assert staff["actor"] == "service:policy-engine"


def test_another_borrower_sees_no_decisions_of_a_line(
    container: Container, agent: Actor, borrower: Actor
) -> None:
    line_id = open_line(container, agent, borrower.subject)
    for n in range(5):
        draw(container, borrower, line_id, "100.00", f"v-{n}")
    decision_id = container.appeals.request(agent, f"k-{new_id()}", line_id).document
    listed = container.ledger.line_decisions(agent, line_id)["decisions"]
    other = Actor("borrower-2", borrower.role)
    with pytest.raises(LineNotFound):
        container.ledger.line_decisions(other, line_id)
    with pytest.raises(LineNotFound):
        container.appeals.request(other, f"k-{new_id()}", line_id)
    with pytest.raises(DecisionNotFound):
        container.ledger.get_decision(other, listed[0]["id"])
    with pytest.raises(DecisionNotFound):
        container.ledger.get_decision(agent, "no-such-decision")
    assert decision_id["line"]["status"] == "frozen"


def test_a_bureau_report_needs_consent_and_five_lenders_cut_the_line(
    container: Container, agent: Actor, borrower: Actor, clock: FixedClock
) -> None:
    line_id = open_line(container, agent, borrower.subject)
    draw(container, borrower, line_id, "2000.00", "d")
    report = {
        "borrower_id": borrower.subject,
        "source": "test-bureau",
        "reported_at": clock.now() - DAY,  # a pull before any consent
        "lenders_with_open_loans": 5,
        "inquiries_3m": 1,
    }
    with pytest.raises(ConsentMissing):
        container.bureau.load_report(agent, f"k-{new_id()}", report)
    with pytest.raises(Forbidden):
        container.bureau.record_consent(
            Actor("borrower-2", borrower.role), f"k-{new_id()}", borrower.subject
        )
    consent = container.bureau.record_consent(borrower, f"k-{new_id()}", borrower.subject).document
    assert (
        container.bureau.record_consent(agent, f"k-{new_id()}", borrower.subject).document
        == consent
    )  # still active
    with pytest.raises(ConsentMissing):  # a pull before the consent stays refused
        container.bureau.load_report(agent, f"k-{new_id()}", report)
    clock.advance(timedelta(minutes=1))
    report["reported_at"] = clock.now()
    loaded = container.bureau.load_report(agent, f"k-{new_id()}", report).document
    assert loaded["consent_id"] == consent["id"]
    assert (
        container.bureau.load_report(agent, f"k-{new_id()}", report).document == loaded
    )  # the same report again
    # Loading it again with other counts answers what was stored.
    assert (
        container.bureau.load_report(
            agent, f"k-{new_id()}", {**report, "lenders_with_open_loans": 9}
        ).document
        == loaded
    )
    for bad_time in (clock.now() + DAY, clock.now() - timedelta(days=4000)):
        with pytest.raises(InvalidInput):
            container.bureau.load_report(
                agent, f"k-{new_id()}", {**report, "reported_at": bad_time}
            )
    analyst = Actor("analyst-1", Role.ANALYST)
    with pytest.raises(Forbidden):
        container.bureau.record_consent(analyst, f"k-{new_id()}", borrower.subject)
    with pytest.raises(Forbidden):
        container.bureau.load_report(borrower, f"k-{new_id()}", report)

    applied = container.decisions.review_line(line_id)
    decision = applied.decision
    # 多头: half of 20,000.00, above the 2,000.00 in use.
    assert (decision.action, decision.new_limit_minor, decision.reason_codes[0]) == (
        "decrease",
        1_000_000,
        "multiple_lenders",
    )
    assert decision.features["lenders_with_open_loans"] == 5
    assert container.ledger.get_line(borrower, line_id)["limit"] == "10000.00"


@pytest.fixture
def triggered(database_url: str, clock: FixedClock) -> Iterator[Container]:
    """A container that reviews a line after each drawdown and settlement."""
    settings = Settings(
        database_url=database_url,
        products_file=TEST_PRODUCTS,
        policy_file=EXAMPLE_POLICY,
        review_triggers=True,
    )
    built = build(settings, clock, migrate=False)
    yield built
    built.close()


def test_the_fifth_drawdown_in_a_week_freezes_the_line_on_its_own(
    triggered: Container, agent: Actor, borrower: Actor, clock: FixedClock
) -> None:
    line_id = open_line(triggered, agent, borrower.subject)
    for n in range(4):
        draw(triggered, borrower, line_id, "100.00", f"v-{n}")
        assert triggered.ledger.get_line(borrower, line_id)["status"] == "active"
    draw(triggered, borrower, line_id, "100.00", "v-4")
    line = triggered.ledger.get_line(borrower, line_id)
    assert line["status"] == "frozen"
    [decision] = listed(triggered, borrower, line_id)
    assert decision["reason_codes"][0] == "drawdown_velocity"


def test_a_velocity_freeze_applies_on_a_day_a_review_already_cut_the_line(
    triggered: Container, agent: Actor, borrower: Actor, clock: FixedClock
) -> None:
    """One automatic change per line, day and action: a cut earlier in the day must not swallow
    the freeze that five drawdowns call for (a risk rule that would otherwise go silent)."""
    line_id = open_line(triggered, agent, borrower.subject)
    triggered.bureau.record_consent(borrower, f"k-{new_id()}", borrower.subject)
    clock.advance(timedelta(minutes=1))
    report = {"borrower_id": borrower.subject, "reported_at": clock.now()}
    triggered.bureau.load_report(agent, f"k-{new_id()}", {**report, "lenders_with_open_loans": 5})
    for n in range(5):
        draw(triggered, borrower, line_id, "100.00", f"v-{n}")
    decided = [
        (row["action"], json.loads(str(row["reason_codes"])))
        for row in recorded(triggered, line_id)
    ]
    assert decided == [("decrease", ["multiple_lenders"]), ("freeze", ["drawdown_velocity"])]
    assert triggered.ledger.get_line(borrower, line_id)["status"] == "frozen"


def test_a_review_done_in_the_request_is_not_done_again_by_the_dispatcher(
    triggered: Container, agent: Actor, borrower: Actor
) -> None:
    line_id = open_line(triggered, agent, borrower.subject)
    loan_id = draw(triggered, borrower, line_id, "100.00", "once")
    with triggered.db.reading() as connection:
        done = connection.execute(
            select(deliveries.c.channel, deliveries.c.detail)
            .join(outbox, outbox.c.id == deliveries.c.notice_id)
            .where(outbox.c.ref_id == loan_id, outbox.c.topic == "event.loan_opened")
        ).all()
    assert done == [("review", "done when the change was made")]
    reviewed: list[str] = []
    triggered.dispatcher._review = reviewed.append  # what the dispatcher would review
    assert triggered.dispatcher.run_until_idle()["delivered"] >= 2  # opened, loan opened
    assert reviewed == []


def test_a_review_lost_with_the_request_is_made_by_the_dispatcher(
    triggered: Container, agent: Actor, borrower: Actor, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The process dies after the drawdowns commit and before their reviews run: here, the
    # in-request review fails. The outbox messages the drawdowns wrote still carry them.
    line_id = open_line(triggered, agent, borrower.subject)

    def crash(line_id: str) -> None:
        raise RuntimeError("the process died")

    with monkeypatch.context() as patched:
        patched.setattr(triggered.decisions, "review_after", crash)
        for n in range(5):
            draw(triggered, borrower, line_id, "100.00", f"v-{n}")
    assert triggered.ledger.get_line(borrower, line_id)["status"] == "active"  # not reviewed
    triggered.dispatcher.run_until_idle()
    line = triggered.ledger.get_line(borrower, line_id)
    assert line["status"] == "frozen"
    [decision] = listed(triggered, borrower, line_id)
    assert decision["reason_codes"][0] == "drawdown_velocity"
    # Each message's review is recorded once; running again reviews nothing more.
    triggered.dispatcher.run_until_idle()  # the freeze's own notice
    with triggered.db.reading() as connection:
        reviews_done = connection.execute(
            select(deliveries.c.notice_id).where(deliveries.c.channel == "review")
        ).all()
    assert len(reviews_done) == 5
    assert len(listed(triggered, borrower, line_id)) == 1


def test_a_settlement_is_reviewed_and_the_line_stays_restored(
    triggered: Container, agent: Actor, borrower: Actor, clock: FixedClock
) -> None:
    line_id = open_line(triggered, agent, borrower.subject)
    loan_id = draw(triggered, borrower, line_id, "5000.00", "d")
    clock.advance(40 * DAY)
    payoff = triggered.loans.get_loan(borrower, loan_id)["payoff_today"]["total"]
    triggered.loans.repay(borrower, "r", loan_id, payoff)
    line = triggered.ledger.get_line(borrower, line_id)
    assert (line["status"], line["available"]) == ("active", line["limit"])
    assert float(line["limit"]) >= 20000.00  # never cut without a fired rule


def test_a_new_line_is_not_raised_within_the_cooldown_of_its_opening(
    triggered: Container, agent: Actor, borrower: Actor, clock: FixedClock
) -> None:
    line_id = open_line(triggered, agent, borrower.subject)
    draw(triggered, borrower, line_id, "100.00", "first")
    assert triggered.ledger.get_line(borrower, line_id)["limit"] == "20000.00"
    clock.advance(31 * DAY)  # past the 30-day cool-down: good lines may grow
    applied = triggered.decisions.review_line(line_id)
    assert applied.decision.features["days_since_limit_change"] == 31


def test_the_review_command_applies_the_book_once_a_day(
    container: Container, agent: Actor, borrower: Actor, clock: FixedClock
) -> None:
    # The command runs on the system clock: the book must be recent on it, whenever this runs.
    clock.set(datetime.now(UTC))
    line_id = open_line(container, agent, borrower.subject)
    for n in range(5):
        draw(container, borrower, line_id, "100.00", f"v-{n}")
    env = {**os.environ, "CREDITLINE_DATABASE_URL": container.settings.database_url}

    def review() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "creditline.cli.main", "review"],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            env=env,
        )

    first = review()
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout) == {"freeze:applied": 1}
    second = review()
    assert second.returncode == 0, second.stderr
    assert json.loads(second.stdout) in ({"freeze:decided_today": 1}, {"freeze:replayed": 1})
    assert container.ledger.get_line(borrower, line_id)["status"] == "frozen"
    assert len(recorded(container, line_id)) == 1


def test_the_policy_reviews_only_lines_in_its_currency(
    container: Container, agent: Actor, borrower: Actor
) -> None:
    cny = open_line(container, agent, borrower.subject)
    usd = str(
        container.ledger.open_line(agent, "usd", borrower.subject, "USD", "500.00").document["id"]
    )
    assert container.decisions.review_book() == {"keep:kept": 1}
    assert container.decisions.review_line(cny).decision.line_id == cny
    with pytest.raises(Conflict, match="not in CNY"):
        container.decisions.review_line(usd)


def test_borrowers_are_read_in_chunks_with_the_same_features(
    container: Container, agent: Actor, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    for n in range(5):
        borrower = Actor(f"chunked-{n}", Role.BORROWER)
        container.bureau.record_consent(borrower, f"k-{new_id()}", borrower.subject)
        open_line(container, agent, borrower.subject)
    clock.advance(timedelta(minutes=1))
    for n in range(5):
        container.bureau.load_report(
            agent,
            f"k-{new_id()}",
            {"borrower_id": f"chunked-{n}", "reported_at": clock.now(), "inquiries_3m": n},
        )

    def features() -> list[dict[str, object]]:
        now = clock.now()
        with container.db.reading() as connection:
            return book_features(connection, now, now.date(), StoredReports(), currency="CNY")

    whole = features()
    monkeypatch.setattr(book, "BORROWERS_PER_QUERY_MAX", 2)
    assert features() == whole
    assert sorted(f["inquiries_3m"] for f in whole) == [0, 1, 2, 3, 4]
