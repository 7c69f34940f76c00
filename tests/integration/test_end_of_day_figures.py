"""End of day on both stores against figures worked by hand (not against the model it runs),
the oldest instalment cleared first, no pyramiding of late fees, and no date before it begins.

Three loans of CNY 1,200.00 on the priced product (`test-priced-cny`: 12% a year ACT/365, a
0.05% service fee per instalment, a 20.00 late fee, 18% penalty interest a year after 3 grace
days, Asia/Shanghai), equal principal over 3 months, drawn on 2026-11-28:

    #  due         principal  interest                                  fee   scheduled
    1  2026-12-28  400.00     11.84  (1,200.00 × 12% × 30 / 365 = 11.8356)  0.60  412.44
    2  2027-01-28  400.00      8.15  (  800.00 × 12% × 31 / 365 =  8.1534)  0.60  408.75
    3  2027-02-28  400.00      4.08  (  400.00 × 12% × 31 / 365 =  4.0767)  0.60  404.68

An instalment is late from the fourth day after its due date (2027-01-01 for instalment 1,
2027-02-01 for instalment 2); each late day charges it 400.00 × 18% / 365 = 0.1973 -> 0.20.

- A is never paid.
- B pays instalment 1's scheduled amount late (412.44 on 2027-01-03) and instalment 2's on its
  due date (408.75 on 2027-01-28). Instalment 1's late fee and penalty stay owed, but
  instalment 2 is never late.
- C pays nothing until 2027-02-05, then exactly what instalment 1 owes.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from datetime import UTC, datetime
from typing import Any

import pytest
from conftest import Run
from sqlalchemy import select

from creditline.bootstrap import Container
from creditline.kernel.actors import Actor, Role
from creditline.kernel.clock import FixedClock
from creditline.kernel.errors import BusinessDateInFuture
from creditline.kernel.ids import new_id
from creditline.loans.tables import eod_runs, instalments, loans

AGENT = Actor("agent-1", Role.AGENT)
PRICED = "test-priced-cny"
DRAWN = dt.date(2026, 11, 28)


def evening(on: dt.date) -> datetime:
    """22:00 in Shanghai, 14:00 UTC: `on` everywhere the test catalogue does business."""
    return datetime(on.year, on.month, on.day, 14, 0, tzinfo=UTC)


def morning(on: dt.date) -> datetime:
    """10:00 in Shanghai, 02:00 UTC."""
    return datetime(on.year, on.month, on.day, 2, 0, tzinfo=UTC)


def draw(c: Container, name: str) -> tuple[Actor, str]:
    borrower = Actor(name, Role.BORROWER)
    line = c.ledger.open_line(AGENT, new_id(), name, "CNY", "10000.00").document["id"]
    held = c.ledger.place_hold(
        borrower, new_id(), line, "1200.00", 3, PRICED, "equal_principal"
    ).document
    return borrower, str(c.loans.post_drawdown(borrower, new_id(), held["id"]).document["loan_id"])


class Book:
    """The three loans, and end of day closed through a date, one day at a time."""

    def __init__(self, c: Container, clock: FixedClock) -> None:
        self.c, self.clock = c, clock
        clock.set(morning(DRAWN))
        self.a = draw(c, "borrower-a")
        self.b = draw(c, "borrower-b")
        self.cc = draw(c, "borrower-c")
        self.closed = DRAWN - dt.timedelta(days=1)

    def close_through(self, last: dt.date) -> None:
        self.clock.set(evening(last))
        while self.closed < last:
            self.closed += dt.timedelta(days=1)
            self.c.end_of_day.run_day(self.closed)

    def pay(self, who: tuple[Actor, str], on: dt.date, amount: str) -> dict[str, Any]:
        self.clock.set(morning(on))
        return self.c.loans.repay(who[0], new_id(), who[1], amount).document

    def loan(self, who: tuple[Actor, str]) -> dict[str, Any]:
        return self.c.loans.get_loan(who[0], who[1])


def stored(c: Container) -> list[list[tuple[Any, ...]]]:
    """Every end-of-day run, loan and instalment row."""
    with c.db.engine.connect() as connection:
        return [
            sorted(tuple(row) for row in connection.execute(select(table)))
            for table in (eod_runs, loans, instalments)
        ]


def charges(document: dict[str, Any]) -> list[tuple[str, str]]:
    """(late fee, penalty) of each instalment."""
    return [(i["late_fee"], i["penalty"]) for i in document["instalments"]]


def test_end_of_day_charges_what_was_worked_out_by_hand(
    container: Container, clock: FixedClock
) -> None:
    book = Book(container, clock)

    # 2027-01-02: instalment 1 late on 01-01 and 01-02: its late fee and 2 × 0.20.
    book.close_through(dt.date(2027, 1, 2))
    a = book.loan(book.a)
    assert (a["dpd"], a["last_end_of_day"]) == (5, "2027-01-02")
    assert charges(a) == [("20.00", "0.40"), ("0.00", "0.00"), ("0.00", "0.00")]
    assert a["instalments"][0]["outstanding"] == "432.84"  # 412.44 + 20.00 + 0.40

    # B pays instalment 1's scheduled amount: the charges first (0.40, 20.00), then 0.60,
    # 11.84 and 379.60 of principal. 20.40 stays owed on it, what its charges took.
    paid = book.pay(book.b, dt.date(2027, 1, 3), "412.44")
    assert paid["allocation"] | {"line": None} == {
        "penalty": "0.40",
        "fees": "20.60",
        "interest": "11.84",
        "principal": "379.60",
        "prepaid_principal": "0.00",
        "reapplied": "0.00",
        "credit": "0.00",
        "line": None,
    }

    # 2027-01-05: A is 8 days past due with 5 days of penalty; its running instalment 2 has
    # accrued 8.15 × 8 / 31 = 2.1032 -> 2.10. B's instalment 1 is covered: no more penalty.
    book.close_through(dt.date(2027, 1, 5))
    a, b = book.loan(book.a), book.loan(book.b)
    assert (a["dpd"], a["interest_accrued"], a["penalty_charged"]) == (8, "2.10", "1.00")
    assert charges(a)[0] == ("20.00", "1.00")
    assert (b["dpd"], b["penalty_charged"], b["penalty_outstanding"]) == (0, "0.40", "0.00")
    assert [i["state"] for i in b["instalments"]] == ["covered", "running", "scheduled"]
    assert b["instalments"][0]["outstanding"] == "20.40"

    # B pays instalment 2 in full on its due date; oldest first, 20.40 of it clears
    # instalment 1 and instalment 2 is left owing 20.40 of principal: only the earlier charges.
    book.close_through(dt.date(2027, 1, 27))
    book.pay(book.b, dt.date(2027, 1, 28), "408.75")

    # 2027-02-04: A's instalment 1 has been late 35 days (01-01 .. 02-04): 7.00; instalment 2
    # 4 days (02-01 .. 02-04): 0.80 and its late fee. 38 days past due. Instalment 3's period
    # (01-28 .. 02-28, 31 days) has accrued 4.08 × 7 / 31 = 0.9213 -> 0.92.
    book.close_through(dt.date(2027, 2, 4))
    a = book.loan(book.a)
    assert (a["dpd"], a["bucket"], a["interest_accrued"]) == (38, "31-60", "0.92")
    assert charges(a) == [("20.00", "7.00"), ("20.00", "0.80"), ("0.00", "0.00")]
    c = book.loan(book.cc)
    assert c["dpd"] == 38
    # C owes on instalment 1: 7.00 + 20.00 + 0.60 + 11.84 + 400.00 = 439.44. Paid on 02-05,
    # it clears instalment 1 and nothing of instalment 2: days past due count from 01-28.
    assert c["instalments"][0]["outstanding"] == "439.44"
    book.pay(book.cc, dt.date(2027, 2, 5), "439.44")
    c = book.loan(book.cc)
    assert (c["dpd"], c["bucket"]) == (8, "1-30")
    assert [i["state"] for i in c["instalments"]] == ["paid", "overdue", "running"]
    assert c["instalments"][1]["outstanding"] == "429.55"  # 408.75 + 20.00 + 0.80

    # 2027-02-05: B's instalment 2 was covered on its due date: no late fee, no penalty, no
    # days past due, ever; instalment 1's charges are paid (by the oldest-first rule).
    book.close_through(dt.date(2027, 2, 5))
    b = book.loan(book.b)
    assert charges(b) == [("20.00", "0.40"), ("0.00", "0.00"), ("0.00", "0.00")]
    assert (b["dpd"], b["penalty_charged"]) == (0, "0.40")
    assert [i["state"] for i in b["instalments"]] == ["paid", "covered", "running"]
    assert [i["paid_on"] for i in b["instalments"]] == ["2027-01-03", "2027-01-28", None]
    c = book.loan(book.cc)
    # C's instalment 2 is late a fifth day. Lateness counts every payment against the
    # schedule: C has paid 439.44 of the 821.19 instalments 1 and 2 asked for, so 381.75 of
    # instalment 2 is behind, and its overdue principal is min(400.00, 381.75): a day of
    # penalty on it is 381.75 × 18% / 365 = 0.1883 -> 0.19, after four days of 0.20.
    assert c["dpd"] == 8 and charges(c)[1] == ("20.00", "0.99")
    # The stored totals follow the instalments.
    with container.db.engine.connect() as connection:
        stored = dict(connection.execute(select(loans.c.id, loans.c.penalty_minor)).all())
        by_instalment = {
            loan_id: sum(
                connection.execute(
                    select(instalments.c.penalty_minor).where(instalments.c.loan_id == loan_id)
                ).scalars()
            )
            for loan_id in stored
        }
    assert stored == by_instalment
    assert container.reconciler.run() == []


def test_end_of_day_refuses_a_date_that_has_not_begun(
    container: Container, clock: FixedClock
) -> None:
    book = Book(container, clock)
    book.close_through(dt.date(2026, 12, 31))  # the last grace day of instalment 1
    a = book.loan(book.a)
    assert (a["dpd"], a["penalty_charged"], charges(a)[0]) == (3, "0.00", ("0.00", "0.00"))
    before = stored(container)

    # 2027-01-01 00:30 in Shanghai is still 2026-12-31 in UTC, where the test catalogue also
    # does business: the day has not begun everywhere, so its grace day is not over.
    clock.set(datetime(2026, 12, 31, 16, 30, tzinfo=UTC))
    for attempt in (container.end_of_day.run_day, container.end_of_day.run):
        with pytest.raises(BusinessDateInFuture) as refused:
            attempt(dt.date(2027, 1, 1))
        assert refused.value.details == {
            "business_date": "2027-01-01",
            "today": "2026-12-31",
            "timezone": "UTC",
        }
    assert stored(container) == before  # nothing written

    # Once it has begun everywhere, the first late day charges its penalty and late fee.
    clock.set(datetime(2027, 1, 1, 0, 5, tzinfo=UTC))
    container.end_of_day.run(dt.date(2027, 1, 1))
    a = book.loan(book.a)
    assert (a["dpd"], charges(a)[0]) == (4, ("20.00", "0.20"))


def test_the_eod_command_refuses_tomorrow_in_one_line(
    creditline: Run, container: Container, clock: FixedClock
) -> None:
    book = Book(container, clock)  # loans to charge, were the date run
    tomorrow = (datetime.now(UTC) + dt.timedelta(days=2)).date().isoformat()

    run = creditline("eod", "--date", tomorrow, database_url=container.settings.database_url)

    assert run.returncode == 2, run.stderr
    assert run.stdout == ""
    assert len(run.stderr.strip().splitlines()) == 1, run.stderr
    assert run.stderr.startswith(f"creditline: business_date_in_future: cannot close {tomorrow}")
    with container.db.engine.connect() as connection:
        assert connection.execute(select(eod_runs)).all() == []
    assert book.loan(book.a)["last_end_of_day"] is None


def test_the_eod_command_help_says_a_future_date_is_refused() -> None:
    shown = subprocess.run(
        [sys.executable, "-m", "creditline.cli.main", "eod", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert shown.returncode == 0
    assert "after today" in " ".join(shown.stdout.split())
