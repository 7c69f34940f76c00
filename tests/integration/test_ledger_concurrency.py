"""Many threads on a few shared lines, on both stores.

Every acknowledged command is recorded with its effect; every rejection must be a `DomainError`.
When the threads are done (within a bounded join: a deadlock fails the test instead of hanging
it), each line must equal the sum of what was acknowledged on it, its version must count those
commands exactly once, DESIGN.md §6.1 must have held in every snapshot a watcher read meanwhile,
and the reconciler must find nothing.
"""

from __future__ import annotations

import random
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import select

from creditline.bootstrap import Container, build
from creditline.config import Settings
from creditline.db.commands import CommandResult
from creditline.kernel.actors import Actor, Role
from creditline.kernel.clock import FixedClock
from creditline.kernel.errors import DomainError, DrawdownNotHeld
from creditline.ledger import tables
from creditline.loans import tables as loan_tables

TEST_PRODUCTS = Path(__file__).parents[1] / "fixtures" / "products.toml"

THREADS = 16
COMMANDS_PER_THREAD = 60
LINE_COUNT = 3
LINE_LIMIT_MINOR = 2_000_000  # 20,000.00 CNY
# A staff opening's journal entries: the line at 0, then the decision that grants its limit.
OPENED_VERSION = 2
# Staff move CNY limits in the shipped policy's steps of 100.00.
LIMIT_STEP_MINOR = 10_000
JOIN_TIMEOUT_SECONDS = 60.0
SEED = 20261128

T = TypeVar("T")


def minor(text: str) -> int:
    """A CNY decimal string from a response document, in fen."""
    return int(Decimal(text).scaleb(2))


def text(amount_minor: int) -> str:
    whole, fen = divmod(abs(amount_minor), 100)
    return f"{'-' if amount_minor < 0 else ''}{whole}.{fen:02d}"


@pytest.fixture
def book(database_url: str, clock: FixedClock) -> Iterator[Container]:
    """The container for one store (see conftest: `database_url` runs on each store)."""
    container = build(
        Settings(database_url=database_url, products_file=TEST_PRODUCTS, review_triggers=False),
        clock,
        migrate=False,
    )
    yield container
    container.close()


def run_together(count: int, work: Callable[[int], T]) -> list[T | BaseException]:
    """Run `work(0..count-1)` on `count` threads released at once; every thread must finish."""
    start = threading.Barrier(count)
    results: list[T | BaseException] = [RuntimeError("did not run")] * count

    def target(number: int) -> None:
        start.wait(timeout=JOIN_TIMEOUT_SECONDS)
        try:
            results[number] = work(number)
        except BaseException as error:
            results[number] = error

    threads = [
        threading.Thread(target=target, args=(n,), name=f"worker-{n}", daemon=True)
        for n in range(count)
    ]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + JOIN_TIMEOUT_SECONDS
    for thread in threads:
        thread.join(max(deadline - time.monotonic(), 0))
    hanging = [thread.name for thread in threads if thread.is_alive()]
    assert not hanging, f"still running after {JOIN_TIMEOUT_SECONDS}s (deadlock?): {hanging}"
    return results


def open_line(book: Container, owner: str, limit_minor: int = LINE_LIMIT_MINOR) -> str:
    agent = Actor("agent-1", Role.AGENT)
    document = book.ledger.open_line(agent, f"open-{owner}", owner, "CNY", text(limit_minor))
    return str(document.document["id"])


def read_lines(book: Container, line_ids: list[str]) -> dict[str, tuple[int, int, int, int]]:
    """(limit, principal, held, version) of each line, from one snapshot."""
    lines = tables.lines
    query = select(
        lines.c.id,
        lines.c.limit_minor,
        lines.c.principal_outstanding_minor,
        lines.c.held_minor,
        lines.c.version,
    ).where(lines.c.id.in_(line_ids))
    with book.db.reading() as connection:
        return {row[0]: tuple(row)[1:] for row in connection.execute(query)}


# --- the random workload ------------------------------------------------------------------
@dataclass
class Hold:
    id: str
    line_id: str
    amount: int


@dataclass
class Loan:
    id: str
    line_id: str
    principal: int
    repaid: list[tuple[int, int]] = field(default_factory=list)  # (amount, outstanding after)


@dataclass
class Ledger:
    """What the threads were told: acknowledged effects per line, and every rejection."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    held: Counter[str] = field(default_factory=Counter)
    principal: Counter[str] = field(default_factory=Counter)
    limit: Counter[str] = field(default_factory=Counter)
    commands: Counter[str] = field(default_factory=Counter)  # acknowledged, per line
    kinds: Counter[str] = field(default_factory=Counter)  # acknowledged, per command
    holds: dict[str, Hold] = field(default_factory=dict)
    resolved: dict[str, str] = field(default_factory=dict)  # drawdown id -> posted | voided
    loans: dict[str, Loan] = field(default_factory=dict)
    rejected: Counter[str] = field(default_factory=Counter)
    unexpected: list[str] = field(default_factory=list)


class Worker:
    """One thread's stream of random commands against the shared lines."""

    def __init__(self, book: Container, ledger: Ledger, owners: dict[str, str], number: int):
        self.book, self.ledger, self.number = book, ledger, number
        self.line_ids = sorted(owners)
        self.owners = {line_id: Actor(owner, Role.BORROWER) for line_id, owner in owners.items()}
        self.random = random.Random(SEED + number)
        self.agent = Actor(f"agent-{number}", Role.AGENT)
        self.approver = Actor(f"approver-{number}", Role.APPROVER)
        self.count = 0

    def key(self) -> str:
        self.count += 1
        return f"w{self.number}-{self.count}"

    def run(self) -> None:
        commands = [self.hold] * 4 + [self.post] * 3 + [self.void, self.repay, self.repay]
        commands += [self.freeze, self.unfreeze, self.increase, self.decrease]
        for _ in range(COMMANDS_PER_THREAD):
            command = self.random.choice(commands)
            try:
                command()
            except DomainError as error:
                with self.ledger.lock:
                    self.ledger.rejected[error.code] += 1
            except Exception:
                with self.ledger.lock:
                    self.ledger.unexpected.append(traceback.format_exc())

    def acknowledge(self, kind: str, line_id: str, result: CommandResult) -> dict[str, Any]:
        """Count an acknowledged command (the caller holds the lock)."""
        assert not result.replayed, "a fresh key came back as a replay"
        self.ledger.commands[line_id] += 1
        self.ledger.kinds[kind] += 1
        return result.document

    def hold(self) -> None:
        line_id = self.random.choice(self.line_ids)
        amount = self.random.randint(1, LINE_LIMIT_MINOR // 8)
        result = self.book.ledger.place_hold(
            self.owners[line_id], self.key(), line_id, text(amount), 12
        )
        with self.ledger.lock:
            document = self.acknowledge("hold", line_id, result)
            self.ledger.held[line_id] += amount
            self.ledger.holds[document["id"]] = Hold(document["id"], line_id, amount)

    def pick_hold(self) -> Hold | None:
        """Any hold any thread placed, resolved or not: racing on one hold is the point."""
        with self.ledger.lock:
            holds = list(self.ledger.holds.values())
        return self.random.choice(holds) if holds else None

    def post(self) -> None:
        hold = self.pick_hold()
        if hold is None:
            return
        amount = self.random.choice([None, self.random.randint(1, hold.amount)])
        owner = self.owners[hold.line_id]
        result = self.book.loans.post_drawdown(
            owner, self.key(), hold.id, None if amount is None else text(amount)
        )
        posted = hold.amount if amount is None else amount
        with self.ledger.lock:
            document = self.acknowledge("post", hold.line_id, result)
            assert hold.id not in self.ledger.resolved, f"hold {hold.id} resolved twice"
            self.ledger.resolved[hold.id] = "posted"
            self.ledger.held[hold.line_id] -= hold.amount
            self.ledger.principal[hold.line_id] += posted
            self.ledger.loans[document["loan_id"]] = Loan(document["loan_id"], hold.line_id, posted)

    def void(self) -> None:
        hold = self.pick_hold()
        if hold is None:
            return
        result = self.book.ledger.void_drawdown(self.owners[hold.line_id], self.key(), hold.id)
        with self.ledger.lock:
            self.acknowledge("void", hold.line_id, result)
            assert hold.id not in self.ledger.resolved, f"hold {hold.id} resolved twice"
            self.ledger.resolved[hold.id] = "voided"
            self.ledger.held[hold.line_id] -= hold.amount

    def repay(self) -> None:
        with self.ledger.lock:
            loans = list(self.ledger.loans.values())
        if not loans:
            return
        loan = self.random.choice(loans)
        # Often the whole principal: then of racing repayments of one loan, the first settles
        # it, a later one may only take what is left (the rest is a refund), and once it is
        # settled the others are refused.
        amount = self.random.choice([loan.principal, self.random.randint(1, loan.principal)])
        owner = self.owners[loan.line_id]
        result = self.book.loans.repay(owner, self.key(), loan.id, text(amount))
        with self.ledger.lock:
            document = self.acknowledge("repay", loan.line_id, result)
            repaid = minor(document["allocation"]["principal"])
            assert repaid + minor(document["allocation"]["credit"]) == amount, document
            self.ledger.principal[loan.line_id] -= repaid
            loan.repaid.append((repaid, minor(document["principal_outstanding"])))

    def decide(self, actor: Actor, action: str, reason: str, **options: Any) -> None:
        line_id = self.random.choice(self.line_ids)
        if "limit" in options:
            options["limit"] = text(options["limit"](line_id))
        result = self.book.ledger.change_limit(
            actor, self.key(), line_id, action, [reason], **options
        )
        with self.ledger.lock:
            decision = self.acknowledge(action, line_id, result)["decision"]
            change = minor(decision["limit_after"]) - minor(decision["limit_before"])
            self.ledger.limit[line_id] += change

    def freeze(self) -> None:
        until = self.book.clock.now() + timedelta(days=1)
        self.decide(self.agent, "freeze", "fraud_suspected", until=until)

    def unfreeze(self) -> None:
        self.decide(self.agent, "unfreeze", "risk_resolved")

    def increase(self) -> None:
        step = self.random.randint(1, LINE_LIMIT_MINOR // 10 // LIMIT_STEP_MINOR) * LIMIT_STEP_MINOR
        self.decide(
            self.approver, "increase", "income_verified", limit=lambda i: self.now(i) + step
        )

    def decrease(self) -> None:
        step = self.random.randint(1, LINE_LIMIT_MINOR // 10 // LIMIT_STEP_MINOR) * LIMIT_STEP_MINOR
        self.decide(
            self.approver, "decrease", "utilisation_high", limit=lambda i: self.now(i) - step
        )

    def now(self, line_id: str) -> int:
        """The line's limit as just read: racing writers may have moved it since (that is fine)."""
        return minor(self.book.ledger.get_line(self.agent, line_id)["limit"])


class Watcher:
    """Reads the lines over and over while the workers run; records any broken §6.1."""

    def __init__(self, book: Container, line_ids: list[str]) -> None:
        self.book, self.line_ids = book, line_ids
        self.stop = threading.Event()
        self.snapshots = 0
        self.broken: list[str] = []
        self.thread = threading.Thread(target=self.watch, name="watcher", daemon=True)

    def watch(self) -> None:
        while not self.stop.is_set():
            for line_id, (limit, principal, held, _) in read_lines(
                self.book, self.line_ids
            ).items():
                if not (held >= 0 and principal >= 0 and held + principal <= limit):
                    self.broken.append(
                        f"{line_id}: limit {limit} principal {principal} held {held}"
                    )
            self.snapshots += 1


def test_concurrent_commands_add_up(book: Container) -> None:
    owners = {open_line(book, f"borrower-{n}"): f"borrower-{n}" for n in range(LINE_COUNT)}
    line_ids = sorted(owners)
    ledger = Ledger()
    watcher = Watcher(book, line_ids)
    watcher.thread.start()
    outcomes = run_together(THREADS, lambda n: Worker(book, ledger, owners, n).run())
    watcher.stop.set()
    watcher.thread.join(JOIN_TIMEOUT_SECONDS)
    assert [o for o in outcomes if o is not None] == []
    assert ledger.unexpected == [], "\n".join(ledger.unexpected[:3])
    assert watcher.snapshots > 0 and watcher.broken == []
    assert_lines_add_up(book, ledger, line_ids)
    assert_loans_add_up(book, ledger)
    assert book.reconciler.run() == []
    kinds = {"hold", "post", "void", "repay", "freeze", "unfreeze", "increase", "decrease"}
    assert {kind for kind, count in ledger.kinds.items() if count > 0} == kinds, (
        ledger.kinds,
        ledger.rejected,
    )
    acknowledged = sum(ledger.commands.values())
    assert acknowledged >= THREADS * COMMANDS_PER_THREAD // 4, (acknowledged, ledger.rejected)


def assert_lines_add_up(book: Container, ledger: Ledger, line_ids: list[str]) -> None:
    """Each line is its opening plus what was acknowledged on it, each command counted once."""
    stored = read_lines(book, line_ids)
    for line_id in line_ids:
        expected = (
            LINE_LIMIT_MINOR + ledger.limit[line_id],
            ledger.principal[line_id],
            ledger.held[line_id],
            OPENED_VERSION + ledger.commands[line_id],  # one journal entry per effect
        )
        assert stored[line_id] == expected, (line_id, stored[line_id], expected)


def assert_loans_add_up(book: Container, ledger: Ledger) -> None:
    """Each loan owes its principal less acknowledged repayments; each response told the truth.

    The acknowledged repayments of one loan, in the order they happened, must each report the
    principal left after it: sorted by what they report, they chain down from the principal.
    """
    loans = loan_tables.loans
    with book.db.reading() as connection:
        stored = {
            row.id: (row.principal_outstanding_minor, row.status)
            for row in connection.execute(
                select(loans.c.id, loans.c.principal_outstanding_minor, loans.c.status)
            )
        }
    for loan in ledger.loans.values():
        owed = loan.principal - sum(amount for amount, _ in loan.repaid)
        assert stored[loan.id] == (owed, "settled" if owed == 0 else "open"), (loan, stored)
        left = loan.principal
        for amount, reported in sorted(loan.repaid, key=lambda repaid: -repaid[1]):
            left -= amount
            assert reported == left, f"loan {loan.id}: responses {loan.repaid}"


def test_one_key_retried_by_many_threads_has_one_effect(book: Container) -> None:
    """Sixteen retries of one hold: one hold is placed, and every caller gets its document."""
    line_id = open_line(book, "borrower-key")
    owner = Actor("borrower-key", Role.BORROWER)
    outcomes = run_together(
        THREADS, lambda _: book.ledger.place_hold(owner, "the-key", line_id, "100.00", 12)
    )
    assert_one_hold_for_everyone(book, line_id, outcomes, 10_000)


def test_one_key_retried_when_its_hold_left_no_room(book: Container) -> None:
    """As above, with a hold of 60% of the limit: a retry must still get the stored document,
    not `insufficient_available_credit` because the first attempt took the room."""
    line_id = open_line(book, "borrower-room")
    owner = Actor("borrower-room", Role.BORROWER)
    amount = text(LINE_LIMIT_MINOR * 6 // 10)
    outcomes = run_together(
        THREADS, lambda _: book.ledger.place_hold(owner, "the-key", line_id, amount, 12)
    )
    assert_one_hold_for_everyone(book, line_id, outcomes, LINE_LIMIT_MINOR * 6 // 10)


def assert_one_hold_for_everyone(
    book: Container, line_id: str, outcomes: list[Any], amount_minor: int
) -> None:
    _limit, _principal, held, version = read_lines(book, [line_id])[line_id]
    assert (held, version) == (amount_minor, OPENED_VERSION + 1), "one key, one effect (§6.6)"
    drawdowns = tables.drawdowns
    with book.db.reading() as connection:
        count = connection.execute(select(drawdowns.c.id).where(drawdowns.c.line_id == line_id))
        assert len(count.all()) == 1
    errors = [repr(o) for o in outcomes if not isinstance(o, CommandResult)]
    assert errors == [], f"retries of a stored command were refused: {Counter(errors)}"
    assert sorted(o.replayed for o in outcomes) == [False] + [True] * (THREADS - 1)
    assert len({repr(sorted(o.document.items())) for o in outcomes}) == 1
    assert book.reconciler.run() == []


def test_racing_repayments_of_one_loan_each_see_the_last(book: Container) -> None:
    """Sixteen repayments of 1.00 on a loan of 16.00: all pass, each reports what is left after
    it (15.00 down to 0.00, each once), the last settles the loan and announces it."""
    line_id = open_line(book, "borrower-loan")
    owner = Actor("borrower-loan", Role.BORROWER)
    hold = book.ledger.place_hold(owner, "hold", line_id, text(THREADS * 100), 12).document
    loan_id = book.loans.post_drawdown(owner, "post", hold["id"]).document["loan_id"]
    outcomes = run_together(
        THREADS, lambda n: book.loans.repay(owner, f"repay-{n}", loan_id, "1.00")
    )
    errors = [repr(o) for o in outcomes if not isinstance(o, CommandResult)]
    assert errors == []
    reported = sorted(minor(o.document["principal_outstanding"]) for o in outcomes)  # type: ignore[union-attr]
    assert reported == [100 * n for n in range(THREADS)], "each repayment saw the one before"
    settled = [o.document["loan_status"] for o in outcomes].count("settled")  # type: ignore[union-attr]
    assert settled == 1
    assert read_lines(book, [line_id])[line_id][1] == 0
    assert book.reconciler.run() == []


def test_racing_posts_and_voids_of_one_hold_resolve_it_once(book: Container) -> None:
    """Sixteen threads post or void the same hold: one wins, the rest are told it is resolved."""
    line_id = open_line(book, "borrower-hold")
    owner = Actor("borrower-hold", Role.BORROWER)
    hold_id = book.ledger.place_hold(owner, "hold", line_id, "500.00", 12).document["id"]

    def resolve(number: int) -> CommandResult:
        if number % 2:
            return book.ledger.void_drawdown(owner, f"void-{number}", hold_id)
        return book.loans.post_drawdown(owner, f"post-{number}", hold_id)

    outcomes = run_together(THREADS, resolve)
    won = [o for o in outcomes if isinstance(o, CommandResult)]
    lost = [o for o in outcomes if not isinstance(o, CommandResult)]
    assert len(won) == 1
    assert {type(o) for o in lost} == {DrawdownNotHeld}, [repr(o) for o in lost]
    _limit, principal, held, version = read_lines(book, [line_id])[line_id]
    assert held == 0 and principal in (0, 50_000) and version == OPENED_VERSION + 2
    assert book.reconciler.run() == []
