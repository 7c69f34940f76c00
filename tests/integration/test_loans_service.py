"""Loans through the ledger service, on both stores: priced holds, the schedule a post freezes,
what each kind of repayment restores to the line, and who may read a loan.

The priced product (`test-priced-cny` in tests/fixtures/products.toml) lends at 12% a year
(ACT/365) with a 0.5% upfront fee, a 0.05% service fee per instalment, a late fee of 20.00 and
18% penalty interest after 3 grace days; its business dates are Asia/Shanghai's. A loan of
12000.00 over 12 months drawn on 2026-11-28 (the suite's clock) repays 1072.19 a month:

    1  2026-12-28  principal 947.83  interest 118.36  fee 6.00   (30 days on 12000.00)
    2  2027-01-28  principal 953.55  interest 112.64  fee 6.00   (31 days on 11052.17)

The expected amounts below are worked out by hand from those figures.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Table, select

from creditline.bootstrap import Container, build
from creditline.config import Settings
from creditline.db.metadata import metadata
from creditline.kernel.actors import Actor, Role
from creditline.kernel.clock import FixedClock
from creditline.kernel.errors import (
    DomainError,
    InvalidAmount,
    InvalidInput,
    LineNotFound,
    LoanNotFound,
    ProductNotFound,
    RateAboveCap,
    TermAboveCap,
)
from creditline.kernel.ids import new_id
from creditline.ledger.tables import drawdowns, lines
from creditline.loans.tables import instalments, loans, repayments
from creditline.notices.tables import outbox

PRICED = "test-priced-cny"
NO_PREPAYMENT = "test-no-prepayment-cny"
EXPENSIVE = "test-expensive-cny"
MONTH_END = "test-month-end-cny"  # 23.80% ACT/365 for a month: above 24% in 31-day months
BANK = "test-bank-cny"  # TEST-CN-BANK: 30/360, interest-first at most 12 months (CN-2)
JUDICIAL = "test-lpr-cny"  # TEST-CN-LPR: 14% a year, capped at 4 × the LPR (3.00%)
TEST_PRODUCTS = Path(__file__).parents[1] / "fixtures" / "products.toml"
OTHER = Actor("borrower-2", Role.BORROWER)


# --- helpers ----------------------------------------------------------------------------------
def day(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def shanghai_morning(on: dt.date) -> datetime:
    """10:00 in Shanghai (02:00 UTC) on `on`: the business date is `on`."""
    return datetime(on.year, on.month, on.day, 2, 0, tzinfo=UTC)


def minor(amount: str) -> int:
    """A CNY decimal string in minor units (exact: Decimal, never float)."""
    value = Decimal(amount) * 100
    assert value == value.to_integral_value(), amount
    return int(value)


def open_line(c: Container, agent: Actor, borrower: Actor, limit: str = "20000.00") -> str:
    key = f"open-{borrower.subject}"
    return str(c.ledger.open_line(agent, key, borrower.subject, "CNY", limit).document["id"])


def priced_loan(
    c: Container,
    borrower: Actor,
    line_id: str,
    amount: str = "12000.00",
    term: int = 12,
    product: str = PRICED,
    method: str | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Hold and post; the hold's document and the post's."""
    held = c.ledger.place_hold(
        borrower, new_id(), line_id, amount, term, product=product, method=method
    ).document
    posted = c.loans.post_drawdown(borrower, new_id(), held["id"]).document
    return held, posted


def rows(c: Container, table: Table, *where: Any) -> list[dict[str, Any]]:
    query = select(table).where(*where) if where else select(table)
    with c.db.engine.connect() as connection:
        return [dict(row) for row in connection.execute(query).mappings()]


def outbox_rows(c: Container) -> list[dict[str, Any]]:
    return sorted(rows(c, outbox), key=lambda row: row["id"])  # ids are time-ordered


def everything(c: Container) -> dict[str, list[str]]:
    """Every row of every table, to prove that a refused command changed nothing."""
    with c.db.engine.connect() as connection:
        return {
            table.name: sorted(repr(tuple(row)) for row in connection.execute(select(table)))
            for table in metadata.sorted_tables
        }


def refused(c: Container, error: type[DomainError], command: Callable[[], Any]) -> DomainError:
    """Run `command`, expect exactly `error`, and check that the store did not change."""
    before = everything(c)
    with pytest.raises(error) as caught:
        command()
    assert type(caught.value) is error
    assert everything(c) == before
    return caught.value


def schedule_of(document: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(due date, principal, interest, fee) of each instalment of a quote or a loan."""
    return [
        (i["due_date"], i["principal"], i["interest"], i["fee"]) for i in document["instalments"]
    ]


# --- priced holds -----------------------------------------------------------------------------
def test_a_priced_hold_carries_its_quote(
    container: Container, agent: Actor, borrower: Actor
) -> None:
    line_id = open_line(container, agent, borrower)
    held = container.ledger.place_hold(
        borrower, "h", line_id, "12000.00", 12, product=PRICED
    ).document
    quote = held["quote"]
    assert {k: quote[k] for k in quote if k != "instalments"} == {
        "currency": "CNY",
        "principal": "12000.00",
        "term_months": 12,
        "method": "equal_instalment",  # the product's default
        "start_date": "2026-11-28",
        "apr_percent": "13.98",
        "effective_annual_rate_percent": "14.97",
        "upfront_fee": "60.00",  # 0.5% of 12000.00
        "instalment_fee": "6.00",  # 0.05% of 12000.00
        "total_interest": "791.49",
        "total_fees": "132.00",  # 60.00 + 12 × 6.00
        "total_cost": "923.49",
        "total_repaid": "12863.49",
        "annual_rate_percent": "12.00",
        "day_count": "ACT/365",
        "product": PRICED,
        "profile": "TEST-CN",
        "apr_cap_percent": "24.00",
        "rate_cap_basis": "the TEST-CN profile's cap",
    }
    first, second, *_, last = quote["instalments"]
    assert first == {
        "number": 1,
        "due_date": "2026-12-28",
        "payment": "1072.19",
        "principal": "947.83",
        "interest": "118.36",
        "fee": "6.00",
        "balance_after": "11052.17",
    }
    assert (second["due_date"], second["principal"], second["interest"]) == (
        "2027-01-28",
        "953.55",
        "112.64",
    )
    assert (last["number"], last["due_date"], last["balance_after"]) == (12, "2027-11-28", "0.00")
    assert sum(minor(i["principal"]) for i in quote["instalments"]) == 1_200_000
    # The quote service prices the same drawdown the same way.
    quoted = container.loans.quote(borrower, line_id, "12000.00", 12, None, PRICED)
    assert {k: v for k, v in quoted.items() if k not in ("line_id", "available")} == {
        **quote,
        "within_available": False,  # the hold took 12000.00 of the 20000.00
    }
    assert held["line"]["available"] == "8000.00"


def test_a_hold_names_its_method(container: Container, agent: Actor, borrower: Actor) -> None:
    line_id = open_line(container, agent, borrower)
    held = container.ledger.place_hold(
        borrower, "h", line_id, "1200.00", 3, product=PRICED, method="equal_principal"
    ).document
    quote = held["quote"]
    assert quote["method"] == "equal_principal"
    assert [i["principal"] for i in quote["instalments"]] == ["400.00", "400.00", "400.00"]
    [row] = rows(container, drawdowns)
    assert (row["product"], row["method"]) == (PRICED, "equal_principal")


def test_a_hold_above_the_apr_cap_is_refused_and_changes_nothing(
    container: Container, agent: Actor, borrower: Actor
) -> None:
    line_id = open_line(container, agent, borrower)
    line_before = container.ledger.get_line(borrower, line_id)
    outbox_before = outbox_rows(container)
    error = refused(
        container,
        RateAboveCap,
        lambda: container.ledger.place_hold(
            borrower, "h", line_id, "5000.00", 12, product=EXPENSIVE
        ),
    )
    assert error.code == "rate_above_cap"
    assert (error.details["measure"], error.details["calendar"]) == ("apr", "drawdown")
    assert error.details["cap_percent"] == "24.00"
    assert error.details["profile"] == "TEST-CN"
    assert error.details["product"] == EXPENSIVE
    assert Decimal(error.details["rate_percent"]) > Decimal("24.00")
    assert "24.00%" in error.message
    assert container.ledger.get_line(borrower, line_id) == line_before
    assert outbox_rows(container) == outbox_before
    # Refused, not stored: the same key may be used for an acceptable request.
    held = container.ledger.place_hold(borrower, "h", line_id, "5000.00", 12, product=PRICED)
    assert held.replayed is False


def test_a_bank_loan_keeps_its_30_360_day_count_and_its_longer_equal_instalment_terms(
    container: Container, agent: Actor, borrower: Actor
) -> None:
    line_id = open_line(container, agent, borrower)
    held, posted = priced_loan(container, borrower, line_id, "12000.00", 24, product=BANK)
    # 30/360 at 10.80%: 0.9% a month whatever its length, 108.00 on 12,000.00 in month one
    # (28 November to 28 December) and the APR is the nominal rate.
    first = held["quote"]["instalments"][0]
    assert (first["interest"], held["quote"]["day_count"]) == ("108.00", "30/360")
    assert held["quote"]["apr_percent"] == "10.80"
    [row] = rows(container, loans)
    assert (row["day_count"], row["day_count_basis"]) == ("30/360", 360)
    # The stored terms read back: a repayment runs the waterfall over them.
    repaid = container.loans.repay(borrower, "r", posted["loan_id"], first["payment"])
    assert repaid.document["loan_status"] == "open"
    _, bullet = priced_loan(container, borrower, line_id, "1000.00", 12, BANK, "interest_first")
    assert bullet["loan"]["method"] == "interest_first"


@pytest.mark.parametrize(
    ("product", "term", "method", "error", "details"),
    [
        (PRICED, 2, None, InvalidInput, {"terms": [1, 3, 6, 12, 24, 36]}),
        (PRICED, 37, None, InvalidInput, {}),
        (NO_PREPAYMENT, 3, "equal_instalment", InvalidInput, {"methods": ["equal_principal"]}),
        (PRICED, 12, "balloon", InvalidInput, {}),
        (PRICED, 12, "", InvalidInput, {}),
        ("no-such-product", 12, None, ProductNotFound, {"product": "no-such-product"}),
        ("test-free-jpy", 12, None, InvalidInput, {"currency": "CNY"}),
        # Above the rate cap: under it over this drawdown's 30 days (28 November to 28
        # December), above it in a 31-day month: 3,000.00 × 23.80% × 31 / 365 = 60.64,
        # 2.0213% × 12 = 24.26%. The same price is refused on every date.
        pytest.param(
            MONTH_END,
            1,
            None,
            RateAboveCap,
            {"measure": "apr", "calendar": "dearest", "rate_percent": "24.26"},
            id="dearest-date",
        ),
        # 14.00% a year is above 4 × the one-year LPR of 3.00% (the fixture's LPR data).
        pytest.param(
            JUDICIAL,
            12,
            None,
            RateAboveCap,
            {"measure": "nominal_annual_rate", "cap_percent": "12.00", "profile": "TEST-CN-LPR"},
            id="judicial-cap",
        ),
        # CN-2: an interest-first loan runs at most 12 months.
        pytest.param(
            BANK,
            24,
            "interest_first",
            TermAboveCap,
            {"term_months": 24, "term_months_max": 12, "profile": "TEST-CN-BANK"},
            id="interest-first-term",
        ),
    ],
)
def test_a_hold_or_quote_the_product_does_not_offer_is_refused(
    container: Container,
    agent: Actor,
    borrower: Actor,
    product: str,
    term: int,
    method: str | None,
    error: type[DomainError],
    details: dict[str, Any],
) -> None:
    line_id = open_line(container, agent, borrower)
    for command in (
        lambda: container.ledger.place_hold(
            borrower, "h", line_id, "3000.00", term, product=product, method=method
        ),
        lambda: container.loans.quote(borrower, line_id, "3000.00", term, method, product),
    ):
        caught = refused(container, error, command)
        assert details.items() <= caught.details.items()
    assert container.ledger.get_line(borrower, line_id)["available"] == "20000.00"


def test_a_quote_refuses_what_a_hold_refuses(
    container: Container, agent: Actor, borrower: Actor
) -> None:
    line_id = open_line(container, agent, borrower)
    quote = container.loans.quote
    refused(
        container, RateAboveCap, lambda: quote(borrower, line_id, "100.00", 12, None, EXPENSIVE)
    )
    refused(container, InvalidInput, lambda: quote(borrower, line_id, "100.00", 2, None, PRICED))
    refused(container, InvalidAmount, lambda: quote(borrower, line_id, "1e3", 12, None, PRICED))
    refused(container, InvalidAmount, lambda: quote(borrower, line_id, 1000.0, 12, None, PRICED))
    refused(container, LineNotFound, lambda: quote(OTHER, line_id, "100.00", 12, None, PRICED))


@pytest.mark.parametrize(("amount", "product"), [("-5.00", PRICED), ("0.00", None)])
def test_a_quote_of_no_money_is_an_invalid_amount(
    container: Container, agent: Actor, borrower: Actor, amount: str, product: str | None
) -> None:
    line_id = open_line(container, agent, borrower)
    refused(
        container,
        InvalidAmount,
        lambda: container.loans.quote(borrower, line_id, amount, 12, None, product),
    )


# --- posting freezes the schedule -------------------------------------------------------------
def test_posting_freezes_the_held_schedule_on_the_loan(
    container: Container, agent: Actor, borrower: Actor, clock: FixedClock, tmp_path: Path
) -> None:
    line_id = open_line(container, agent, borrower)
    held = container.ledger.place_hold(
        borrower, "h", line_id, "12000.00", 12, product=PRICED
    ).document
    clock.advance(dt.timedelta(minutes=10))  # same business date
    posted = container.loans.post_drawdown(borrower, "p", held["id"]).document
    assert (posted["amount"], posted["released"], posted["disbursed"]) == (
        "12000.00",
        "0.00",
        "11940.00",  # the principal less the 60.00 upfront fee
    )
    assert posted["loan"] == held["quote"]
    assert posted["line"]["available"] == "8000.00"
    loan = container.loans.get_loan(borrower, posted["loan_id"])
    assert schedule_of(loan) == schedule_of(held["quote"])
    assert len(loan["instalments"]) == 12
    assert (loan["apr_percent"], loan["upfront_fee"], loan["product"]) == ("13.98", "60.00", PRICED)
    assert (loan["method"], loan["start_date"], loan["principal"]) == (
        "equal_instalment",
        "2026-11-28",
        "12000.00",
    )
    assert (loan["grace_days"], loan["overpayment"]) == (3, "refund")
    stored = rows(container, instalments)
    assert len(stored) == 12
    assert sum(r["principal_minor"] for r in stored) == 1_200_000
    assert sum(r["fee_minor"] for r in stored) == 12 * 600

    # A new price list changes new quotes, not the loan: its terms were frozen when it posted.
    repriced = tmp_path / "repriced.toml"
    text = TEST_PRODUCTS.read_text(encoding="utf-8")
    assert text.count('annual_rate_percent = "12.00"') == 1
    repriced.write_text(
        text.replace('annual_rate_percent = "12.00"', 'annual_rate_percent = "20.00"')
    )
    later = build(
        Settings(
            database_url=container.settings.database_url,
            products_file=repriced,
            review_triggers=False,
        ),
        clock,
        migrate=False,
    )
    try:
        assert (
            later.loans.quote(borrower, line_id, "12000.00", 12, None, PRICED)["instalments"][0][
                "interest"
            ]
            != "118.36"
        )
        again = later.loans.get_loan(borrower, posted["loan_id"])
        assert schedule_of(again) == schedule_of(held["quote"])
        assert again["apr_percent"] == "13.98"
    finally:
        later.close()


def test_a_hold_posted_after_midnight_keeps_the_schedule_it_quoted(
    container: Container, agent: Actor, borrower: Actor, clock: FixedClock
) -> None:
    line_id = open_line(container, agent, borrower)
    clock.set(datetime(2026, 11, 28, 15, 50, tzinfo=dt.UTC))  # 23:50 in Shanghai
    held = container.ledger.place_hold(
        borrower, "h", line_id, "12000.00", 12, product=PRICED
    ).document
    clock.set(datetime(2026, 11, 28, 16, 5, tzinfo=dt.UTC))  # 00:05 the next day there
    posted = container.loans.post_drawdown(borrower, "p", held["id"]).document
    assert posted["loan"] == held["quote"]
    loan = container.loans.get_loan(borrower, posted["loan_id"])
    assert (loan["start_date"], loan["instalments"][0]["due_date"]) == (
        "2026-11-28",
        "2026-12-28",
    )
    assert schedule_of(loan) == schedule_of(held["quote"])


def test_posting_part_of_a_hold_prices_the_posted_amount(
    container: Container, agent: Actor, borrower: Actor
) -> None:
    line_id = open_line(container, agent, borrower)
    held = container.ledger.place_hold(
        borrower, "h", line_id, "12000.00", 12, product=PRICED
    ).document
    posted = container.loans.post_drawdown(borrower, "p", held["id"], "10000.00").document
    assert (posted["amount"], posted["released"], posted["disbursed"]) == (
        "10000.00",
        "2000.00",
        "9950.00",
    )
    assert posted["loan"]["principal"] == "10000.00"
    assert posted["loan"]["instalment_fee"] == "5.00"
    loan = container.loans.get_loan(borrower, posted["loan_id"])
    assert schedule_of(loan) == schedule_of(posted["loan"])
    assert sum(minor(i["principal"]) for i in loan["instalments"]) == 1_000_000
    assert posted["line"]["available"] == "10000.00"


# --- repayments and the line ------------------------------------------------------------------
ZERO_SPLIT = {
    "penalty": "0.00",
    "fees": "0.00",
    "interest": "0.00",
    "principal": "0.00",
    "prepaid_principal": "0.00",
    "reapplied": "0.00",
    "credit": "0.00",
}


@dataclass(frozen=True)
class Payment:
    id: str
    on: str  # the business date of the payment (Shanghai)
    amount: str  # "payoff": the loan's payoff_today total; "payoff+X": X more than that
    allocation: dict[str, str]
    status: str = "open"
    credit_balance: str = "0.00"
    topics: tuple[str, ...] = ("event.repayment_received",)
    end_of_day_from: str | None = None  # run end of day for each day from here to the eve
    before: dict[str, Any] = field(default_factory=dict)  # get_loan fields before paying
    states_after: tuple[str, ...] = ()  # the first instalments' states after paying
    schedule_head: dict[str, Any] | None = None  # a re-amortised loan's next instalment


PAYMENTS = [
    Payment(
        "on-time-on-the-due-date",
        "2026-12-28",
        "1072.19",
        {"fees": "6.00", "interest": "118.36", "principal": "947.83"},
        before={"dpd": 0, "next_due": {"date": "2026-12-28", "amount": "1072.19"}},
        states_after=("paid", "running", "scheduled"),
    ),
    Payment(
        # Paid a few days early: the running instalment in full, with its whole interest; its
        # principal is not due yet, so it counts as prepaid.
        "a-few-days-early",
        "2026-12-25",
        "1072.19",
        {
            "fees": "6.00",
            "interest": "118.36",
            "principal": "947.83",
            "prepaid_principal": "947.83",
        },
        states_after=("paid", "scheduled", "scheduled"),
    ),
    Payment(
        "partial",
        "2026-12-28",
        "500.00",
        {"fees": "6.00", "interest": "118.36", "principal": "375.64"},
        states_after=("due", "running", "scheduled"),
    ),
    Payment(
        # Eight end-of-day runs after the due date: dpd 1..8; past the 3 grace days (from
        # 2027-01-01) five days of penalty at 18%/365 on 947.83 (0.47 a day) and the late fee.
        "while-overdue",
        "2027-01-06",
        "1094.54",  # 1072.19 + 20.00 late fee + 2.35 penalty
        {"penalty": "2.35", "fees": "26.00", "interest": "118.36", "principal": "947.83"},
        end_of_day_from="2026-12-29",
        before={
            "dpd": 9,  # as of the payment date, 2027-01-06
            "bucket": "1-30",
            "penalty_charged": "2.35",
            "penalty_outstanding": "2.35",
            "interest_accrued": "29.07",  # 112.64 × 8/31 of instalment 2's period
            "last_end_of_day": "2027-01-05",
            "overdue": {"instalments": [1], "amount": "1094.54"},
        },
        states_after=("paid", "running", "scheduled"),
    ),
    Payment(
        # 3000.00 pays the running instalment (1072.19), then prepays 1927.81 of principal
        # from the last instalment backwards (the product shortens the term). Instalment 2's
        # period then runs on 11052.17 - 1927.81 = 9124.36: 9124.36 × 12% × 31 / 365 = 92.9937
        # -> 92.99, less what the 1927.81 would have earned from 12-10 to 12-28, already paid
        # with instalment 1: 1927.81 × 12% × 18 / 365 = 11.4083 -> 11.41; 81.58. Instalment 2
        # asks 953.55 + 81.58 + 6.00 = 1041.13. The borrower gets the new schedule and a notice.
        "prepayment",
        "2026-12-10",
        "3000.00",
        {
            "fees": "6.00",
            "interest": "118.36",
            "principal": "2875.64",
            "prepaid_principal": "2875.64",
        },
        topics=("event.repayment_received", "notice.schedule_changed"),
        states_after=("paid", "scheduled", "scheduled"),
        schedule_head={
            "number": 2,
            "due_date": "2027-01-28",
            "amount": "1041.13",
            "principal": "953.55",
            "interest": "81.58",
            "fee": "6.00",
        },
    ),
    Payment(
        # Settled on day 12 of 30: interest to date only, 118.36 × 12/30 = 47.34; no fees.
        "early-settlement",
        "2026-12-10",
        "payoff",
        {"interest": "47.34", "principal": "12000.00", "prepaid_principal": "12000.00"},
        status="settled",
        topics=("notice.loan_settled",),
        before={
            "payoff_today": {
                "total": "12047.34",
                "penalty": "0.00",
                "fees": "0.00",
                "interest": "47.34",
                "principal": "12000.00",
                "reapplied": "0.00",
            }
        },
        states_after=("paid", "paid", "paid"),
    ),
    Payment(
        "overpayment",
        "2026-12-10",
        "payoff+100.00",
        {
            "interest": "47.34",
            "principal": "12000.00",
            "prepaid_principal": "12000.00",
            "credit": "100.00",
        },
        status="settled",
        credit_balance="100.00",
        topics=("notice.loan_settled", "notice.refund_due"),
        states_after=("paid", "paid", "paid"),
    ),
]


def _amount(payment: Payment, loan: dict[str, Any]) -> str:
    if not payment.amount.startswith("payoff"):
        return payment.amount
    total = Decimal(loan["payoff_today"]["total"])
    extra = payment.amount.removeprefix("payoff").removeprefix("+") or "0"
    return f"{total + Decimal(extra):.2f}"


@pytest.mark.parametrize("payment", PAYMENTS, ids=[p.id for p in PAYMENTS])
def test_only_principal_restores_the_line(
    container: Container, agent: Actor, borrower: Actor, clock: FixedClock, payment: Payment
) -> None:
    line_id = open_line(container, agent, borrower)
    _, posted = priced_loan(container, borrower, line_id)
    loan_id = posted["loan_id"]
    paid_on = day(payment.on)
    clock.set(shanghai_morning(paid_on))
    if payment.end_of_day_from is not None:
        on = day(payment.end_of_day_from)
        while on < paid_on:
            container.end_of_day.run_day(on)
            on += dt.timedelta(days=1)

    loan = container.loans.get_loan(borrower, loan_id)
    assert loan["business_date"] == payment.on
    assert {k: loan[k] for k in payment.before} == payment.before
    if payment.end_of_day_from is not None:
        # The instalment owes its own late fee and penalty: 1072.19 + 20.00 + 2.35.
        first = loan["instalments"][0]
        assert (first["state"], first["late_fee"], first["penalty"], first["outstanding"]) == (
            "overdue",
            "20.00",
            "2.35",
            "1094.54",
        )
    available_before = minor(container.ledger.get_line(agent, line_id)["available"])
    outbox_before = {m["id"] for m in outbox_rows(container)}

    repaid = container.loans.repay(
        borrower, f"repay-{payment.id}", loan_id, _amount(payment, loan)
    ).document

    split = repaid["allocation"]
    assert split == {**ZERO_SPLIT, **payment.allocation}
    assert sum(minor(split[k]) for k in ("penalty", "fees", "interest", "principal", "credit")) == (
        minor(repaid["amount"]) + minor(split["reapplied"])
    )
    line = container.ledger.get_line(agent, line_id)
    assert minor(line["available"]) == available_before + minor(split["principal"])
    assert repaid["line"] == line
    assert (repaid["loan_status"], repaid["credit_balance"]) == (
        payment.status,
        payment.credit_balance,
    )

    [stored] = rows(container, repayments, repayments.c.id == repaid["id"])
    assert {
        "amount": stored["amount_minor"],
        "penalty": stored["penalty_minor"],
        "fees": stored["fees_minor"],
        "interest": stored["interest_minor"],
        "principal": stored["principal_minor"],
        "prepaid_principal": stored["prepaid_minor"],
        "reapplied": stored["reapplied_minor"],
        "credit": stored["credit_minor"],
    } == {"amount": minor(repaid["amount"]), **{k: minor(v) for k, v in split.items()}}
    assert (stored["loan_id"], stored["line_id"]) == (loan_id, line_id)
    assert stored["business_date"] in (paid_on, payment.on)  # a date, or ISO text on SQLite

    added = [m for m in outbox_rows(container) if m["id"] not in outbox_before]
    assert tuple(m["topic"] for m in added) == payment.topics
    assert repaid["rescheduled"] is (payment.schedule_head is not None)
    if payment.schedule_head is None:
        assert repaid["schedule"] is None
    else:
        assert [i["number"] for i in repaid["schedule"]] == [
            i["number"]
            for i in container.loans.get_loan(borrower, loan_id)["instalments"]
            if i["outstanding"] != "0.00"
        ]
        assert repaid["schedule"][0] == payment.schedule_head
        [notice] = [m for m in added if m["topic"] == "notice.schedule_changed"]
        told = json.loads(notice["payload"])
        assert told["instalments"] == repaid["schedule"]
        # What re-amortised the loan: the 1927.81 beyond instalment 1.
        assert (told["prepaid"], told["effect"]) == ("1927.81", "shorter_term")
        after_loan = container.loans.get_loan(borrower, loan_id)
        assert after_loan["prepayment_effect"] == "shorter_term"
        assert after_loan["instalments"][1]["interest"] == "81.58"
    if "notice.refund_due" in payment.topics:
        [refund] = [m for m in added if m["topic"] == "notice.refund_due"]
        assert refund["ref_id"] == repaid["id"]
        assert '"100.00"' in refund["payload"]

    after = container.loans.get_loan(borrower, loan_id)
    assert tuple(i["state"] for i in after["instalments"][:3]) == payment.states_after
    assert (after["status"], after["credit_balance"]) == (payment.status, payment.credit_balance)
    assert (after["dpd"], after["bucket"]) == (0, "current")
    [loan_row] = rows(container, loans, loans.c.id == loan_id)
    assert loan_row["status"] == payment.status
    assert loan_row["credit_minor"] == minor(payment.credit_balance)
    assert loan_row["principal_outstanding_minor"] == 1_200_000 - sum(
        r["principal_minor"] for r in rows(container, repayments)
    )
    if payment.status == "settled":
        assert line["available"] == line["limit"] == "20000.00"
        assert line["principal_outstanding"] == "0.00"
        assert after["payoff_today"] is None
        assert after["settled_at"] == shanghai_morning(paid_on).isoformat()


def test_an_overpayment_without_prepayment_pays_the_next_instalments(
    container: Container, agent: Actor, borrower: Actor, clock: FixedClock
) -> None:
    # 3000.00 over 3 months, equal principal, 0.04% a day, no service fee; the product takes no
    # prepayment and sends money beyond what is due to the next instalments.
    line_id = open_line(container, agent, borrower)
    held, posted = priced_loan(container, borrower, line_id, "3000.00", 3, NO_PREPAYMENT)
    first, second, third = held["quote"]["instalments"]
    assert (first["principal"], first["interest"], first["fee"]) == ("1000.00", "36.00", "0.00")
    interest_2, interest_3 = minor(second["interest"]), minor(third["interest"])
    clock.set(shanghai_morning(day("2026-12-28")))
    available_before = minor(container.ledger.get_line(borrower, line_id)["available"])
    # Instalment 1 (due today), instalment 2 (running) and 200.00 towards instalment 3.
    amount = minor(first["payment"]) + minor(second["payment"]) + 20000
    repaid = container.loans.repay(borrower, "r", posted["loan_id"], f"{amount / 100:.2f}")
    split = repaid.document["allocation"]
    assert split == {
        **ZERO_SPLIT,
        "interest": f"{(3600 + interest_2 + interest_3) / 100:.2f}",
        "principal": f"{(200000 + 20000 - interest_3) / 100:.2f}",
        "prepaid_principal": f"{(100000 + 20000 - interest_3) / 100:.2f}",
    }
    assert repaid.document["credit_balance"] == "0.00"
    line = container.ledger.get_line(borrower, line_id)
    assert minor(line["available"]) == available_before + minor(split["principal"])
    loan = container.loans.get_loan(borrower, posted["loan_id"])
    assert [i["state"] for i in loan["instalments"]] == ["paid", "paid", "scheduled"]
    # Nothing was re-priced: the third instalment still owes its whole period's interest.
    assert schedule_of(loan) == schedule_of(held["quote"])
    assert loan["instalments"][2]["outstanding"] == f"{(minor(third['payment']) - 20000) / 100:.2f}"


# --- who may read a loan ----------------------------------------------------------------------
def test_a_borrower_reads_only_their_own_loans(
    container: Container, agent: Actor, borrower: Actor
) -> None:
    line_id = open_line(container, agent, borrower)
    other_line = open_line(container, agent, OTHER)
    _, first = priced_loan(container, borrower, line_id, "1000.00", 3)
    _, second = priced_loan(container, borrower, line_id, "2000.00", 6, method="interest_first")

    assert container.loans.get_loan(borrower, first["loan_id"])["id"] == first["loan_id"]
    assert container.loans.get_loan(agent, first["loan_id"])["line_id"] == line_id
    listed = container.loans.line_loans(borrower, line_id)
    assert listed["line_id"] == line_id
    assert [loan["id"] for loan in listed["loans"]] == [second["loan_id"], first["loan_id"]]
    assert {k: listed["loans"][0][k] for k in ("status", "principal", "term_months", "bucket")} == {
        "status": "open",
        "principal": "2000.00",
        "term_months": 6,
        "bucket": "current",
    }
    assert container.loans.line_loans(agent, line_id) == listed

    for loan_id in (first["loan_id"], second["loan_id"], new_id(), "not-an-id", ""):
        with pytest.raises(LoanNotFound) as caught:
            container.loans.get_loan(OTHER, loan_id)
        assert caught.value.code == "loan_not_found"
    with pytest.raises(LineNotFound):
        container.loans.line_loans(OTHER, line_id)
    with pytest.raises(LineNotFound):
        container.loans.line_loans(borrower, new_id())
    assert container.loans.line_loans(OTHER, other_line) == {
        "line_id": other_line,
        "dpd": 0,
        "bucket": "current",
        "loans": [],
    }
    # Nor repay it (an operator may, on the borrower's behalf).
    refused(
        container,
        LoanNotFound,
        lambda: container.loans.repay(OTHER, "r", first["loan_id"], "10.00"),
    )


def test_instalment_states_on_chosen_dates(
    container: Container, agent: Actor, borrower: Actor, clock: FixedClock
) -> None:
    line_id = open_line(container, agent, borrower)
    _, posted = priced_loan(container, borrower, line_id, "3000.00", 3)
    loan_id = posted["loan_id"]

    def states(on: str) -> list[str]:
        clock.set(shanghai_morning(day(on)))
        return [i["state"] for i in container.loans.get_loan(borrower, loan_id)["instalments"]]

    assert states("2026-11-28") == ["running", "scheduled", "scheduled"]
    assert states("2026-12-27") == ["running", "scheduled", "scheduled"]
    assert states("2026-12-28") == ["due", "running", "scheduled"]
    assert states("2026-12-29") == ["overdue", "running", "scheduled"]
    assert states("2027-01-28") == ["overdue", "due", "running"]
    assert states("2027-03-01") == ["overdue", "overdue", "overdue"]
    # The business date is Shanghai's: 16:30 UTC on the 27th is already the 28th there.
    clock.set(datetime(2026, 12, 27, 16, 30, tzinfo=UTC))
    loan = container.loans.get_loan(borrower, loan_id)
    assert loan["business_date"] == "2026-12-28"
    assert [i["state"] for i in loan["instalments"]] == ["due", "running", "scheduled"]

    clock.set(shanghai_morning(day("2026-12-29")))
    overdue = container.loans.get_loan(borrower, loan_id)
    assert (overdue["dpd"], overdue["bucket"], overdue["overdue"]["instalments"]) == (
        1,
        "1-30",
        [1],
    )
    container.loans.repay(borrower, "r", loan_id, overdue["overdue"]["amount"])
    assert states("2026-12-29") == ["paid", "running", "scheduled"]
    assert states("2027-01-28") == ["paid", "due", "running"]
    assert states("2027-02-27") == ["paid", "overdue", "running"]
    clock.set(shanghai_morning(day("2027-04-30")))
    late = container.loans.get_loan(borrower, loan_id)
    # Instalment 2 fell due on 2027-01-28: 92 days before 2027-04-30.
    assert (late["dpd"], late["bucket"]) == (92, "90+")
    listed = container.loans.line_loans(borrower, line_id)
    assert (listed["dpd"], listed["bucket"], listed["loans"][0]["dpd"]) == (92, "90+", 92)


def test_the_loan_row_tracks_the_line(container: Container, agent: Actor, borrower: Actor) -> None:
    line_id = open_line(container, agent, borrower)
    _, posted = priced_loan(container, borrower, line_id, "5000.00", 6)
    [line_row] = rows(container, lines, lines.c.id == line_id)
    [loan_row] = rows(container, loans)
    assert (
        line_row["principal_outstanding_minor"]
        == loan_row["principal_outstanding_minor"]
        == 500_000
    )
    assert (loan_row["id"], loan_row["line_id"], loan_row["upfront_fee_minor"]) == (
        posted["loan_id"],
        line_id,
        2500,
    )
