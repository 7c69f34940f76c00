"""End of day on both stores: the same result as the pure model loan by loan, idempotent,
resumable, and run in date order.

PostgreSQL closes a day with set-based SQL; SQLite walks the loans through `model.end_of_day`.
The oracle here is the pure model: before each run the loans are loaded as the model sees them,
`model.end_of_day` is applied to each, and what the store holds after the run must be exactly
that, loan by loan and instalment by instalment.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from conftest import Run
from sqlalchemy import select

from creditline.bootstrap import Container
from creditline.db.unit_of_work import Database, Transaction
from creditline.kernel.actors import Actor, Role
from creditline.kernel.clock import Clock, FixedClock
from creditline.kernel.errors import InvalidInput
from creditline.kernel.ids import new_id
from creditline.loans import arrears, model
from creditline.loans.eod import CATCH_UP_DAYS_MAX, DayResult, EndOfDay
from creditline.loans.model import LoanState
from creditline.loans.store import LoanStore
from creditline.loans.tables import eod_runs, instalments, loans

AGENT = Actor("agent-1", Role.AGENT)
PRICED = "test-priced-cny"
NO_PREPAYMENT = "test-no-prepayment-cny"
FREE = "test-free-cny"
FIRST_DAY = dt.date(2026, 11, 28)  # the suite clock's date, in Shanghai too
ZONES = (ZoneInfo("Asia/Shanghai"), ZoneInfo("UTC"))


# --- helpers ----------------------------------------------------------------------------------
def morning(on: dt.date) -> datetime:
    """10:00 in Shanghai (02:00 UTC): the business date of every product here is `on`."""
    return datetime(on.year, on.month, on.day, 2, 0, tzinfo=UTC)


def days(first: dt.date, last: dt.date) -> list[dt.date]:
    return [first + dt.timedelta(days=n) for n in range((last - first).days + 1)]


def minor(amount: str) -> int:
    return int(Decimal(amount) * 100)


def money(amount_minor: int) -> str:
    return f"{Decimal(amount_minor) / 100:.2f}"


def draw(
    c: Container,
    borrower: str,
    amount: str,
    term: int,
    product: str = PRICED,
    method: str | None = None,
) -> str:
    """A line for `borrower` (once) and a posted loan on it, drawn at the clock's time."""
    actor = Actor(borrower, Role.BORROWER)
    line_id = c.ledger.open_line(AGENT, f"open-{borrower}", borrower, "CNY", "100000.00").document[
        "id"
    ]
    return str(posted(c, actor, line_id, amount, term, product, method)["loan_id"])


def posted(
    c: Container,
    actor: Actor,
    line_id: str,
    amount: str,
    term: int,
    product: str,
    method: str | None,
) -> dict[str, Any]:
    held = c.ledger.place_hold(actor, new_id(), line_id, amount, term, product, method).document
    return c.loans.post_drawdown(actor, new_id(), held["id"]).document


def load_all(
    c: Container, store: LoanStore | None = None, only: set[str] | None = None
) -> dict[str, LoanState]:
    """Every stored loan (or those in `only`) as the pure model sees it, in one read."""
    store = store or LoanStore(c.db)

    def read(tx: Transaction) -> dict[str, LoanState]:
        ids = tx.connection.execute(select(loans.c.id).order_by(loans.c.id)).scalars().all()
        ids = [loan_id for loan_id in ids if only is None or loan_id in only]
        found = {loan_id: store.load(tx, loan_id) for loan_id in ids}
        assert all(state is not None for state in found.values())
        return found  # type: ignore[return-value]

    return c.db.read(read)


def dump(c: Container) -> dict[str, list[str]]:
    """Every loan and instalment row, in full."""
    with c.db.engine.connect() as connection:
        return {
            table.name: sorted(repr(tuple(row)) for row in connection.execute(select(table)))
            for table in (loans, instalments)
        }


def runs(c: Container) -> list[tuple[dt.date, bool, int]]:
    """(business date, finished, loans processed) of every end-of-day run, in date order."""
    with c.db.engine.connect() as connection:
        found = connection.execute(select(eod_runs).order_by(eod_runs.c.business_date)).mappings()
        return [
            (row["business_date"], row["finished_at"] is not None, row["loans_processed"])
            for row in found
        ]


def expected_after(before: dict[str, LoanState], on: dt.date) -> dict[str, LoanState]:
    return {loan_id: arrears.end_of_day(state, on) for loan_id, state in before.items()}


def to_close(before: dict[str, LoanState], on: dt.date) -> int:
    """How many loans an end of day for `on` has to close."""
    return sum(
        1
        for state in before.values()
        if not state.settled
        and state.start_date <= on
        and (state.eod_date is None or state.eod_date < on)
    )


def assert_same(got: dict[str, LoanState], expected: dict[str, LoanState], on: dt.date) -> None:
    assert got.keys() == expected.keys()
    for loan_id, state in expected.items():
        assert got[loan_id] == state, f"loan {loan_id} ({state.terms.product}) after {on}"


# --- the book: varied loans paid in varied ways, closed day by day ------------------------------
@dataclass(frozen=True)
class Plan:
    """One loan of the book: what is drawn, when, and how its borrower pays."""

    start: int  # days after FIRST_DAY
    product: str
    method: str | None
    term: int
    amount: str
    pays: str  # a key of PATTERNS


@dataclass(frozen=True)
class Drawn:
    """A loan of the book as its borrower knows it."""

    loan_id: str
    actor: Actor
    plan: Plan
    due: frozenset[dt.date]


Pay = Callable[[Container, Drawn, dt.date], None]


def _pay(c: Container, loan: Drawn, amount_minor: int) -> None:
    if amount_minor > 0:
        c.loans.repay(loan.actor, new_id(), loan.loan_id, money(amount_minor))
        PAID_TODAY.add(loan.loan_id)


PAID_TODAY: set[str] = set()  # the loans the book's repayments touched today


def _open(c: Container, loan: Drawn) -> dict[str, Any] | None:
    """The loan's document, None once settled."""
    document = c.loans.get_loan(loan.actor, loan.loan_id)
    return None if document["status"] == "settled" else document


def _outstanding_today(c: Container, loan: Drawn, on: dt.date) -> int:
    """What is left to pay on the instalment due on `on` (0 on other days)."""
    document = _open(c, loan) if on in loan.due else None
    if document is None:
        return 0
    [due] = [i for i in document["instalments"] if i["due_date"] == on.isoformat()]
    return minor(due["outstanding"])


def pays_on_time(c: Container, loan: Drawn, on: dt.date) -> None:
    _pay(c, loan, _outstanding_today(c, loan, on))


def pays_half(c: Container, loan: Drawn, on: dt.date) -> None:
    _pay(c, loan, _outstanding_today(c, loan, on) // 2)


def pays_late(lag: int) -> Pay:
    """Pays everything overdue `lag` days after each due date."""

    def pay(c: Container, loan: Drawn, on: dt.date) -> None:
        if on - dt.timedelta(days=lag) in loan.due and (document := _open(c, loan)):
            _pay(c, loan, minor(document["overdue"]["amount"]))

    return pay


def pays_every(period: int) -> Pay:
    """Pays everything overdue every `period` days."""

    def pay(c: Container, loan: Drawn, on: dt.date) -> None:
        if (on - FIRST_DAY).days % period == 0 and (document := _open(c, loan)):
            _pay(c, loan, minor(document["overdue"]["amount"]))

    return pay


def prepays(c: Container, loan: Drawn, on: dt.date) -> None:
    """Pays 500.00 (less than the payoff) on its tenth day, then on time."""
    if (on - FIRST_DAY).days == loan.plan.start + 10:
        document = _open(c, loan)
        assert document is not None
        _pay(c, loan, min(50000, minor(document["payoff_today"]["total"]) - 1))
    pays_on_time(c, loan, on)


def settles(extra_minor: int, after_days: int) -> Pay:
    """Pays the payoff (and `extra_minor` more) `after_days` after the drawdown."""

    def pay(c: Container, loan: Drawn, on: dt.date) -> None:
        if (on - FIRST_DAY).days == loan.plan.start + after_days:
            document = _open(c, loan)
            assert document is not None
            _pay(c, loan, minor(document["payoff_today"]["total"]) + extra_minor)

    return pay


def never(c: Container, loan: Drawn, on: dt.date) -> None:
    return None


PATTERNS: dict[str, Pay] = {
    "on_time": pays_on_time,
    "within_grace": pays_late(2),
    "after_grace": pays_late(6),
    "never": never,
    "half": pays_half,
    "prepays": prepays,
    "settles": settles(0, 20),
    "overpays": settles(2500, 45),
    "sporadic": pays_every(17),
}
_OFFERS: list[tuple[str, str | None, int]] = [
    (PRICED, "equal_instalment", 3),
    (NO_PREPAYMENT, None, 3),
    (PRICED, "equal_principal", 6),
    (FREE, "equal_principal", 2),
    (PRICED, "interest_first", 1),
    (NO_PREPAYMENT, None, 6),
    (PRICED, "equal_instalment", 12),
    (FREE, "interest_first", 3),
    (PRICED, "equal_principal", 3),
    (NO_PREPAYMENT, None, 12),
]
BOOK = [
    Plan(
        start=(n * 7) % 26,
        product=_OFFERS[n % len(_OFFERS)][0],
        method=_OFFERS[n % len(_OFFERS)][1],
        term=_OFFERS[n % len(_OFFERS)][2],
        amount=f"{1000 + 613 * n}.{n * 7 % 100:02d}",
        pays=list(PATTERNS)[n % len(PATTERNS)],
    )
    for n in range(30)
]
BOOK_DAYS = 100


def test_end_of_day_matches_the_model_loan_by_loan_and_is_idempotent(
    container: Container, clock: FixedClock
) -> None:
    store = LoanStore(container.db)
    opened: list[Drawn] = []
    after: dict[str, LoanState] = {}
    processed: list[int] = []
    seen = {"late_fee": 0, "penalty": 0, "accrued": 0, "dpd_over_60": 0, "settled_skipped": 0}
    for on in days(FIRST_DAY, FIRST_DAY + dt.timedelta(days=BOOK_DAYS - 1)):
        clock.set(morning(on))
        PAID_TODAY.clear()
        # The day's business: new loans, then repayments.
        for n, plan in enumerate(BOOK):
            if FIRST_DAY + dt.timedelta(days=plan.start) == on:
                actor = Actor(f"borrower-{n}", Role.BORROWER)
                line = container.ledger.open_line(
                    AGENT, new_id(), actor.subject, "CNY", "100000.00"
                )
                document = posted(
                    container,
                    actor,
                    line.document["id"],
                    plan.amount,
                    plan.term,
                    plan.product,
                    plan.method,
                )
                due = {
                    dt.date.fromisoformat(i["due_date"]) for i in document["loan"]["instalments"]
                }
                opened.append(Drawn(document["loan_id"], actor, plan, frozenset(due)))
        for loan in opened:
            PATTERNS[loan.plan.pays](container, loan, on)
        # Then its end of day. Only today's loans and repayments changed a loan since the last.
        touched = PAID_TODAY | {loan.loan_id for loan in opened if loan.loan_id not in after}
        before = {**after, **load_all(container, store, touched)}
        if on.day == 1:  # now and then, check that nothing else did
            assert load_all(container, store) == before
        expected = expected_after(before, on)
        clock.set(morning(on + dt.timedelta(days=1)) - dt.timedelta(hours=4))  # 22:00 in Shanghai
        result = container.end_of_day.run_day(on)
        assert result == DayResult(on, to_close(before, on))
        processed.append(result.loans_processed)
        after = load_all(container, store)
        assert_same(after, expected, on)
        # Idempotent: the same date again changes no loan or instalment row (checked every
        # other day to keep the test fast).
        if on.toordinal() % 2:
            rows = dump(container)
            assert container.end_of_day.run_day(on) == DayResult(on, 0)
            assert dump(container) == rows

        for loan_id, state in after.items():
            if state.settled:
                seen["settled_skipped"] += state.eod_date != on
                continue
            assert state.eod_date == on
            seen["late_fee"] += any(i.late_fee_minor for i in state.instalments)
            seen["penalty"] += state.penalty_minor > before[loan_id].penalty_minor
            seen["accrued"] += state.interest_accrued_minor > 0
            seen["dpd_over_60"] += state.dpd > 60

    assert len(opened) == len(BOOK)
    assert all(seen.values()), seen  # the book went through every branch of end of day
    final = load_all(container)
    assert sum(state.settled for state in final.values()) >= 5
    assert {model.bucket(state.dpd) for state in final.values()} >= {"current", "1-30", "61-90"}
    assert runs(container) == [
        (on, True, count)
        for on, count in zip(
            days(FIRST_DAY, FIRST_DAY + dt.timedelta(days=BOOK_DAYS - 1)), processed, strict=True
        )
    ]


# --- smaller books for the rest ---------------------------------------------------------------
def small_book(c: Container, clock: FixedClock) -> list[str]:
    """Five loans drawn on 2026-11-28 and never repaid, one per product and method."""
    clock.set(morning(FIRST_DAY))
    return [
        draw(c, "borrower-a", "12000.00", 12),
        draw(c, "borrower-b", "3000.00", 3, NO_PREPAYMENT),
        draw(c, "borrower-c", "4000.00", 6, PRICED, "equal_principal"),
        draw(c, "borrower-d", "2000.00", 1, PRICED, "interest_first"),
        draw(c, "borrower-e", "1500.00", 3, FREE),
    ]


def test_a_missed_day_is_caught_up_in_order(container: Container, clock: FixedClock) -> None:
    small_book(container, clock)
    first = dt.date(2027, 1, 1)  # 4 days after the first due date: past the 3 grace days
    clock.set(morning(dt.date(2027, 1, 10)))
    container.end_of_day.run_day(first)
    # Day by day, as the model would have closed them.
    expected = load_all(container)
    until = dt.date(2027, 1, 10)
    for on in days(first + dt.timedelta(days=1), until):
        expected = expected_after(expected, on)
    seen: list[dt.date] = []
    results = container.end_of_day.run(until, lambda on, done, total: seen.append(on))
    assert [r.business_date for r in results] == days(dt.date(2027, 1, 2), until)
    assert all(r.loans_processed == 5 for r in results)
    assert list(dict.fromkeys(seen)) == days(dt.date(2027, 1, 2), until)  # run in date order
    assert runs(container) == [(on, True, 5) for on in days(first, until)]
    got = load_all(container)
    assert_same(got, expected, until)
    # Ten days of penalty, not one: 12000.00 drawn on 2026-11-28, its first 947.83 overdue.
    [priced] = [s for s in got.values() if s.principal_minor == 1_200_000]
    assert priced.penalty_minor == 10 * 47  # 947.83 × 18% / 365 = 0.47 a day
    assert priced.dpd == 13
    assert (priced.instalments[0].late_fee_minor, priced.instalments[1].late_fee_minor) == (2000, 0)
    # Asking again for a date already closed runs just that date, and changes nothing.
    rows = dump(container)
    assert container.end_of_day.run(until) == [DayResult(until, 0)]
    assert dump(container) == rows


def test_a_gap_longer_than_the_catch_up_limit_is_refused(
    container: Container, clock: FixedClock
) -> None:
    small_book(container, clock)
    last = dt.date(2026, 12, 1)
    too_far = last + dt.timedelta(days=CATCH_UP_DAYS_MAX + 1)
    clock.set(morning(too_far))
    container.end_of_day.run_day(last)
    before = (dump(container), runs(container))
    with pytest.raises(InvalidInput) as caught:
        container.end_of_day.run(too_far)
    assert caught.value.details == {"last_run": "2026-12-01"}
    assert "2026-12-01" in caught.value.message
    assert (dump(container), runs(container)) == before
    # Exactly the limit is caught up.
    limit = last + dt.timedelta(days=CATCH_UP_DAYS_MAX)
    results = container.end_of_day.run(limit)
    assert [r.business_date for r in results] == days(last + dt.timedelta(days=1), limit)
    assert len(results) == CATCH_UP_DAYS_MAX


def test_a_loan_not_yet_started_is_left_alone(container: Container, clock: FixedClock) -> None:
    clock.set(morning(dt.date(2026, 12, 4)))
    early = draw(container, "borrower-a", "3000.00", 3)
    clock.set(morning(dt.date(2026, 12, 5)))
    late = draw(container, "borrower-b", "3000.00", 3)
    # Yesterday's end of day, run this morning after the second drawdown.
    before = load_all(container)
    assert container.end_of_day.run_day(dt.date(2026, 12, 4)) == DayResult(dt.date(2026, 12, 4), 1)
    after = load_all(container)
    assert after[late] == before[late]
    assert after[late].eod_date is None
    assert after[early].eod_date == dt.date(2026, 12, 4)
    assert container.end_of_day.run_day(dt.date(2026, 12, 3)) == DayResult(dt.date(2026, 12, 3), 0)
    assert load_all(container) == after
    assert container.end_of_day.run_day(dt.date(2026, 12, 5)) == DayResult(dt.date(2026, 12, 5), 2)
    assert load_all(container)[late].eod_date == dt.date(2026, 12, 5)


class Crash(Exception):
    """Stands for the process dying between two batches."""


class CrashingEndOfDay(EndOfDay):
    """Commits `batches` batches of a day, then fails in the next one (rolled back)."""

    def __init__(self, db: Database, clock: Clock, batch_size: int, batches: int) -> None:
        # One batch at a time, so that "the first n batches" is well defined.
        super().__init__(db, clock, ZONES, batch_size=batch_size, workers=1)
        self.batches_left = batches

    def _batch(self, tx: Transaction, on: dt.date, ids: list[str]) -> list[str]:
        closed = super()._batch(tx, on, ids)
        if self.batches_left == 0:
            raise Crash(f"in the batch from {ids[0]}")
        self.batches_left -= 1
        return closed


def overdue_book(c: Container, clock: FixedClock) -> dt.date:
    """Fifteen loans, some partly repaid, most overdue; closed up to the eve of the day returned."""
    ids = small_book(c, clock)
    clock.set(morning(dt.date(2026, 11, 30)))
    for n in range(10):
        method = ("equal_principal", "interest_first")[n % 2]
        ids.append(draw(c, f"borrower-{n}", f"{800 + 100 * n}.00", 3, PRICED, method))
    clock.set(morning(dt.date(2026, 12, 28)))
    for loan_id in ids[::2]:
        c.loans.repay(AGENT, new_id(), loan_id, "100.00")
    clock.set(morning(dt.date(2027, 1, 4)))
    for on in days(dt.date(2026, 12, 28), dt.date(2027, 1, 3)):
        c.end_of_day.run_day(on)
    return dt.date(2027, 1, 4)


@pytest.mark.parametrize("batches", [0, 1, 3])
def test_an_interrupted_run_resumes_to_the_uninterrupted_result(
    container: Container, clock: FixedClock, batches: int
) -> None:
    on = overdue_book(container, clock)
    before = load_all(container)
    total = len(before)
    assert to_close(before, on) == total == 15
    expected = expected_after(before, on)

    crashing = CrashingEndOfDay(container.db, container.clock, batch_size=3, batches=batches)
    with pytest.raises(Crash):
        crashing.run(on)
    halfway = load_all(container)
    closed = {loan_id for loan_id, state in halfway.items() if state.eod_date == on}
    assert len(closed) == 3 * batches
    assert sorted(closed) == sorted(halfway)[: 3 * batches]  # batches go in loan id order
    for loan_id in halfway:
        assert halfway[loan_id] == (expected[loan_id] if loan_id in closed else before[loan_id])
    assert container.end_of_day.pending(on) == total - 3 * batches
    # Started, not finished; each committed batch is counted with its loans.
    assert runs(container)[-1] == (on, False, 3 * batches)

    # Resumed by the next run (with the usual batch size): the day is finished exactly once.
    assert container.end_of_day.dates_to_run(on) == [on]
    [result] = container.end_of_day.run(on)
    assert result == DayResult(on, total - 3 * batches)
    assert_same(load_all(container), expected, on)
    assert runs(container)[-1][:2] == (on, True)
    assert container.end_of_day.pending(on) == 0


def test_small_batches_give_the_same_result(container: Container, clock: FixedClock) -> None:
    on = overdue_book(container, clock)
    before = load_all(container)
    result = EndOfDay(container.db, container.clock, ZONES, batch_size=3).run_day(on)
    assert result == DayResult(on, 15)
    assert_same(load_all(container), expected_after(before, on), on)


def test_an_interrupted_run_counts_every_loan_it_closed(
    container: Container, clock: FixedClock
) -> None:
    on = overdue_book(container, clock)
    with pytest.raises(Crash):
        CrashingEndOfDay(container.db, container.clock, batch_size=3, batches=2).run(on)
    container.end_of_day.run(on)
    assert runs(container)[-1] == (on, True, 15)


# --- the command ------------------------------------------------------------------------------


def test_the_eod_command_prints_one_line_per_day(
    creditline: Run, container: Container, clock: FixedClock
) -> None:
    small_book(container, clock)
    container.end_of_day.run_day(FIRST_DAY)
    before = load_all(container)
    expected = before
    for on in days(dt.date(2026, 11, 29), dt.date(2026, 12, 1)):
        expected = expected_after(expected, on)

    run = creditline("eod", "--date", "2026-12-01", database_url=container.settings.database_url)
    assert run.returncode == 0, run.stderr
    assert [json.loads(line) for line in run.stdout.splitlines()] == [
        {"business_date": "2026-11-29", "loans_processed": 5},
        {"business_date": "2026-11-30", "loans_processed": 5},
        {"business_date": "2026-12-01", "loans_processed": 5},
    ]
    assert_same(load_all(container), expected, dt.date(2026, 12, 1))
    assert [r[:2] for r in runs(container)] == [
        (on, True) for on in days(FIRST_DAY, dt.date(2026, 12, 1))
    ]


def test_the_eod_command_refuses_a_bad_date(tmp_path: Path) -> None:
    database = tmp_path / "never-created.db"
    env = {**os.environ, "CREDITLINE_DATABASE_URL": f"sqlite:///{database}"}
    bad = ["2026-13-01", "tomorrow"]
    started = [
        subprocess.Popen(
            [sys.executable, "-m", "creditline.cli.main", "eod", "--date", date],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for date in bad
    ]
    for date, process in zip(bad, started, strict=True):
        stdout, stderr = process.communicate(timeout=60)
        assert process.returncode == 2, (date, stderr)
        assert stdout == ""
        assert len(stderr.strip().splitlines()) == 1, stderr
        assert stderr.startswith("creditline: ")
    assert not database.exists()  # refused before touching any store
