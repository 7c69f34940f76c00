"""A demo book: borrowers with a few months of history, loaded through the ledger service so
that every journal entry, decision and notice is as real as in production."""

from __future__ import annotations

import random
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from creditline.bootstrap import Container
from creditline.db.commands import Commands
from creditline.decisions.applications import Application, Underwriting
from creditline.kernel.actors import Actor, Role
from creditline.kernel.clock import FixedClock
from creditline.kernel.errors import DomainError
from creditline.kernel.money import Money
from creditline.ledger.service import LedgerService
from creditline.loans.eod import EndOfDay
from creditline.loans.pricing import ProductPricing, ProfileLimits, ProfileTerms
from creditline.loans.service import LoanService
from creditline.notices.outbox import Outbox

HISTORY_DAYS = 180
# Monthly incomes the demo borrowers declare, with evidence: the policy and the CN-1 caps set
# their first limits (12,000.00 a month gets the seed story's 20,000.00).
INCOMES = ("2000.00", "3000.00", "8000.00", "12000.00", "20000.00")
# Where demo borrowers live (ISO 3166-2), by their name's checksum: the random draws stay as
# they were.
REGIONS = ("CN-SH", "CN-BJ", "CN-GD", "CN-ZJ", "CN-JS", "CN-SC")
SEED_STORY_BORROWER = "demo-0001"

# How demo borrowers repay a loan: one in ten stops paying after the first instalment.
_HABITS = ("settle",) * 5 + ("instalments",) * 4 + ("late",)
_OPERATOR = Actor("demo-operator", Role.ADMIN)
_RISK = Actor("risk-engine", Role.SERVICE)


def load_demo_book(
    container: Container, borrowers: int, seed: int, tick: Callable[[], None] = lambda: None
) -> dict[str, Any]:
    """Open `borrowers` lines with histories; return counts of what was made."""
    rng = random.Random(seed)
    now = container.clock.now()
    clock = FixedClock(now - timedelta(days=HISTORY_DAYS))
    book = _Book.on(container, clock)
    counts: dict[str, int] = {}
    for number in range(1, borrowers + 1):
        borrower = Actor(f"demo-{number:04d}", Role.BORROWER)
        clock.set(now - timedelta(days=HISTORY_DAYS, minutes=rng.randrange(1440)))
        story = _seed_story if borrower.subject == SEED_STORY_BORROWER else _random_story
        outcome = story(book, clock, borrower, rng, now)
        counts[outcome] = counts.get(outcome, 0) + 1
        tick()
    # Close every business date of the history, so arrears, penalties and accruals are current.
    end_of_day = EndOfDay(container.db, clock, container.end_of_day.zones)
    day = (now - timedelta(days=HISTORY_DAYS)).date()
    while day < now.date():
        clock.set(datetime.combine(day + timedelta(days=1), time(), UTC))
        end_of_day.run_day(day)
        day += timedelta(days=1)
    # Today's reminders (instalments due soon, due today or missed) and last month's statements,
    # so that the borrowers' inboxes show them.
    reminded = {kind: n for kind, n in container.reminders.run().items() if n}
    return {
        "borrowers": borrowers,
        "outcomes": dict(sorted(counts.items())),
        "reminders": dict(sorted(reminded.items())),
    }


@dataclass(frozen=True, slots=True)
class _Book:
    """The services the demo writes through, on the demo's own clock (its history's time)."""

    ledger: LedgerService
    loans: LoanService
    underwriting: Underwriting

    @classmethod
    def on(cls, container: Container, clock: FixedClock) -> _Book:
        """The ledger and loans services on `clock`, sharing the container's store."""
        commands = Commands(container.db, clock)
        outbox = Outbox(container.db, clock)
        pricing = ProductPricing(container.catalogue)
        hold_ttl = container.settings.hold_ttl
        limits, terms = ProfileLimits(container.catalogue), ProfileTerms(container.catalogue)
        underwriting, reports = container.policy_limits, container.bureau
        ledger = LedgerService(
            container.db,
            clock,
            commands,
            outbox,
            pricing,
            hold_ttl,
            limits,
            terms,
            underwriting,
            reports,
        )
        loans = LoanService(container.db, clock, commands, container.catalogue, ledger)
        return cls(ledger, loans, container.underwriting.on(clock, commands, ledger))


def _open(book: _Book, clock: FixedClock, borrower: Actor, income: str) -> str:
    """The borrower applies with `income` and its evidence; the approval opens the line."""
    application = Application(
        borrower_id=borrower.subject,
        currency="CNY",
        income_monthly=income,
        income_evidence=True,
        income_evidence_expires_on=clock.now().date() + timedelta(days=365),
        birth_date=date(1990, 5, 1),
        employment="employed",
        region=REGIONS[zlib.crc32(borrower.subject.encode()) % len(REGIONS)],
    )
    key = f"demo-apply-{borrower.subject}"
    applied = book.underwriting.apply(_OPERATOR, key, application).document
    if applied["line_id"] is None:
        raise DomainError(f"the demo application of {borrower.subject} was declined")
    return str(applied["line_id"])


def _seed_story(
    book: _Book, clock: FixedClock, borrower: Actor, rng: random.Random, now: Any
) -> str:
    """The borrower from the article: two loans of 5,000.00 on a 20,000.00 line, both repaid."""
    line_id = _open(book, clock, borrower, "12000.00")
    for n in (1, 2):
        clock.advance(timedelta(days=20))
        loan_id = _draw(book, borrower, line_id, "5000.00", f"seed-{n}")
        clock.advance(timedelta(days=30))
        _settle(book, borrower, loan_id, f"seed-{n}")
    return "settled_and_restored"


def _settle(book: _Book, borrower: Actor, loan_id: str, tag: str) -> None:
    """Pay what settles the loan today: principal, and interest only to date."""
    payoff = book.loans.get_loan(borrower, loan_id)["payoff_today"]["total"]
    book.loans.repay(borrower, f"demo-repay-{borrower.subject}-{tag}", loan_id, payoff)


def _pay_instalments(
    book: _Book,
    clock: FixedClock,
    borrower: Actor,
    loan_id: str,
    now: datetime,
    stop_after: int | None,
) -> None:
    """Pay each instalment on its due date up to `now` (the first `stop_after` only)."""
    loan = book.loans.get_loan(borrower, loan_id)
    for instalment in loan["instalments"][:stop_after]:
        due = datetime.combine(date.fromisoformat(instalment["due_date"]), time(2), UTC)
        if due > now:
            return
        clock.set(max(due, clock.now()))
        amount = instalment["outstanding"]
        if _minor(amount) > 0:
            tag = f"{loan_id}-{instalment['number']}"
            book.loans.repay(borrower, f"demo-repay-{borrower.subject}-{tag}", loan_id, amount)


def _draw(book: _Book, borrower: Actor, line_id: str, amount: str, tag: str) -> str:
    hold = book.ledger.place_hold(
        borrower, f"demo-hold-{borrower.subject}-{tag}", line_id, amount, 12
    )
    posted = book.loans.post_drawdown(
        borrower, f"demo-post-{borrower.subject}-{tag}", hold.document["id"]
    )
    return str(posted.document["loan_id"])


def _random_story(
    book: _Book, clock: FixedClock, borrower: Actor, rng: random.Random, now: Any
) -> str:
    line_id = _open(book, clock, borrower, rng.choice(INCOMES))
    limit_minor = _minor(book.ledger.get_line(borrower, line_id)["limit"])
    loans: list[tuple[str, int]] = []
    for n in range(rng.randrange(0, 5)):
        clock.advance(timedelta(days=rng.randrange(3, 30)))
        amount_minor = rng.randrange(5, 31) * limit_minor // 100 // 100 * 100
        try:
            if rng.random() < 0.15:  # a drawdown the borrower abandons
                hold = book.ledger.place_hold(
                    borrower, f"demo-hold-{borrower.subject}-{n}", line_id, _major(amount_minor), 6
                )
                book.ledger.void_drawdown(
                    borrower, f"demo-void-{borrower.subject}-{n}", hold.document["id"]
                )
                continue
            loans.append(
                (_draw(book, borrower, line_id, _major(amount_minor), str(n)), amount_minor)
            )
        except DomainError:
            continue  # not enough credit left: the borrower draws less next time
    # Most settle early or pay every instalment on time; a few stop paying. Settlements go
    # first, so that the clock (which never goes back) is still before the due dates.
    habits = [rng.choice(_HABITS) for _ in loans]
    for n, ((loan_id, _), habit) in enumerate(zip(loans, habits, strict=True)):
        if habit == "settle":
            clock.advance(timedelta(days=rng.randrange(10, 40)))
            _settle(book, borrower, loan_id, str(n))
    for (loan_id, _), habit in zip(loans, habits, strict=True):
        if habit != "settle":
            stop_after = 1 if habit == "late" else None
            _pay_instalments(book, clock, borrower, loan_id, now, stop_after)
    return _risk_event(book, clock, borrower, line_id, rng, now)


def _risk_event(
    book: _Book,
    clock: FixedClock,
    borrower: Actor,
    line_id: str,
    rng: random.Random,
    now: Any,
) -> str:
    roll = rng.random()
    key = f"demo-decision-{borrower.subject}"
    clock.set(now - timedelta(days=rng.randrange(1, 5)))
    try:
        if roll < 0.08:
            book.ledger.change_limit(
                _RISK,
                key,
                line_id,
                "freeze",
                ["drawdown_velocity"],
                until=now + timedelta(days=rng.randrange(3, 30)),
            )
            return "frozen"
        if roll < 0.13:
            book.ledger.change_limit(_RISK, key, line_id, "suspend", ["reverification_due"])
            return "suspended"
        if roll < 0.20:
            line = book.ledger.get_line(_RISK, line_id)
            floor = _minor(line["principal_outstanding"]) + _minor(line["held"])
            target = max(floor, _minor(line["limit"]) // 2)
            if target < _minor(line["limit"]):
                book.ledger.change_limit(
                    _RISK, key, line_id, "decrease", ["utilisation_high"], limit=_major(target)
                )
                return "decreased"
        if roll < 0.30:
            line = book.ledger.get_line(_RISK, line_id)
            book.ledger.change_limit(
                _RISK,
                key,
                line_id,
                "increase",
                ["good_repayment_history"],
                limit=_major(_minor(line["limit"]) * 3 // 2),
            )
            return "increased"
        if roll < 0.32:
            asked = book.ledger.requests.ask(borrower, f"{key}-ask", line_id, "close")
            request_id = asked.document["id"]
            codes = ["account_closed_by_borrower"]
            book.ledger.change_limit(_OPERATOR, key, line_id, "close", codes, request_id=request_id)
            return "closed"
    except DomainError:
        pass
    return "active"


def _major(minor: int) -> str:
    return Money(minor, "CNY").format()


def _minor(major: str) -> int:
    return Money.parse(major, "CNY").minor
