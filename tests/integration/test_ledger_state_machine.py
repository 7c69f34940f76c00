"""The ledger against a model of plain integers, driven by a hypothesis state machine.

The model predicts every command's outcome first: the exact `DomainError` it must raise, or the
balances it leaves. After every step the lines in the database must equal the model and keep
DESIGN.md §6.1; every few steps, and when a run ends, the reconciler must find nothing
(§6.2–6.5), holds and loans must equal the model, and the idempotency table must hold one row per
command that succeeded (§6.6: a replay or a rejection stores nothing).

One container per store: each hypothesis run opens lines of its own and ends by moving the clock
past every hold and freeze and sweeping, so the next run starts with nothing due. Each command
variant is a rule of its own (hypothesis turns rules on and off per run, so a rare variant
hidden behind a draw inside a rule would seldom run); the test fails if any predicted outcome
was never reached.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import func, select

from creditline.bootstrap import Container, build
from creditline.config import Settings, shipped_policy_file
from creditline.db.commands import CommandResult, idempotency_keys
from creditline.decisions.policy import load_policy
from creditline.kernel.actors import Actor, Role
from creditline.kernel.clock import FixedClock
from creditline.kernel.errors import (
    DomainError,
    DrawdownExpired,
    DrawdownNotFound,
    DrawdownNotHeld,
    Forbidden,
    IdempotencyKeyReused,
    InsufficientAvailableCredit,
    InvalidAmount,
    InvalidInput,
    InvalidLimitChange,
    LimitAboveCap,
    LimitBelowMinimum,
    LimitBelowUtilisation,
    LineClosed,
    LineFrozen,
    LineNotFound,
    LineSuspended,
    LoanNotFound,
    LoanSettled,
)
from creditline.ledger import tables
from creditline.ledger.service import LedgerService
from creditline.loans import tables as loan_tables

TEST_PRODUCTS = Path(__file__).parents[1] / "fixtures" / "products.toml"

RUNS = 120
STEPS_PER_RUN = 25
STEPS_MIN = 2_000  # per store; hypothesis ends a run early when its choice buffer fills
LINES_PER_RUN_MAX = 6
BOOKS_CHECK_EVERY_STEPS = 25
HOLD_TTL = timedelta(minutes=30)
FREEZE_MAX = timedelta(days=366)

EXPONENTS = {"CNY": 2, "JPY": 0}
ADVERSE = frozenset({"decrease", "freeze", "suspend", "close"})
# The model's own table of the status each action starts from and leaves (not imported).
ACTION_FROM = {
    "increase": {"active", "frozen", "suspended"},
    "decrease": {"active", "frozen", "suspended"},
    "freeze": {"active", "frozen"},
    "unfreeze": {"frozen"},
    "suspend": {"active", "frozen"},
    "restore": {"suspended"},
    "close": {"active", "frozen", "suspended"},
}
ACTION_TO = {
    "freeze": "frozen",
    "unfreeze": "active",
    "suspend": "suspended",
    "restore": "active",
    "close": "closed",
}
APPROVER_ONLY = frozenset({"increase", "decrease", "close"})
# The reason codes the machine uses, and which direction each explains (None: either).
REASON_ADVERSE = {
    "utilisation_high": True,
    "overdue_payment": True,
    "fraud_suspected": True,
    "bureau_inquiries": True,
    "income_unverified": True,
    "good_repayment_history": False,
    "risk_resolved": False,
}
# The smallest limit a line may have in each currency (tests/fixtures/products.toml).
LIMIT_MIN = {"CNY": 10_000, "JPY": 1}
# The shipped policy lends in CNY: a person's limits there keep to its smallest and largest
# limit and its step (`limit_below_minimum`, `limit_above_cap`, `invalid_amount`).
_POLICY = load_policy(shipped_policy_file())
POLICY_BOUNDS = {
    _POLICY.currency: tuple(
        _POLICY.minor(getattr(_POLICY.constraints, name))
        for name in ("min_limit", "max_limit", "limit_step")
    )
}


def on_policy_step(currency: str, limit: int) -> int:
    """`limit` rounded down to the policy's step and within its bounds (where it governs)."""
    if currency not in POLICY_BOUNDS:
        return limit
    low, high, step = POLICY_BOUNDS[currency]
    return min(max(limit // step * step, low), high)


# Mostly short steps, so that holds live long enough to be posted; some cross their expiry.
CLOCK_STEPS = tuple(
    timedelta(seconds=s) for s in (1, 60, 300, 600, 29 * 60, 30 * 60, 31 * 60, 86_400)
)
FREEZE_FOR = (
    timedelta(seconds=1),
    timedelta(minutes=1),
    timedelta(minutes=30),
    timedelta(hours=1),
    timedelta(days=1),
    FREEZE_MAX,
)
FREEZE_FOR_REFUSED = (timedelta(0), FREEZE_MAX + timedelta(seconds=1))  # not ahead; too long
# What every store must reach, so that no prediction goes untested.
OUTCOMES_REQUIRED = frozenset(
    {
        *("hold", "post", "post_partial", "void", "repay", "repay_settled"),
        *("increase", "decrease", "freeze", "unfreeze", "suspend", "restore", "close"),
        *("thaw_on_command", "sweep_released", "sweep_thawed", "replay"),
        *(error.__name__ for error in (IdempotencyKeyReused, InsufficientAvailableCredit)),
        *(error.__name__ for error in (LimitBelowUtilisation, InvalidLimitChange, Forbidden)),
        *(error.__name__ for error in (LineFrozen, LineSuspended, LineClosed, LineNotFound)),
        *(error.__name__ for error in (DrawdownExpired, DrawdownNotHeld, DrawdownNotFound)),
        *(error.__name__ for error in (LoanNotFound, LoanSettled)),
        *(error.__name__ for error in (InvalidAmount, InvalidInput)),
    }
)

Expected = type[DomainError] | None


def as_text(minor: int, currency: str) -> str:
    """`minor` units as a decimal string in major units, written independently of the kernel."""
    exponent = EXPONENTS[currency]
    if exponent == 0:
        return str(minor)
    whole, part = divmod(abs(minor), 10**exponent)
    return f"{'-' if minor < 0 else ''}{whole}.{part:0{exponent}d}"


@dataclass
class LineModel:
    id: str
    owner: Actor
    currency: str
    limit: int
    principal: int = 0
    held: int = 0
    status: str = "active"
    frozen_until: datetime | None = None
    version: int = 2  # opened at 0, then the staff member's decision grants the limit

    @property
    def available(self) -> int:
        return self.limit - self.principal - self.held

    @property
    def used(self) -> int:
        return self.principal + self.held

    def freeze_due(self, now: datetime) -> bool:
        return (
            self.status == "frozen" and self.frozen_until is not None and self.frozen_until <= now
        )

    def thaw(self) -> None:
        self.status, self.frozen_until, self.version = "active", None, self.version + 1


@dataclass
class HoldModel:
    id: str
    line: LineModel
    amount: int
    expires_at: datetime
    status: str = "held"


@dataclass
class LoanModel:
    id: str
    line: LineModel
    outstanding: int


@dataclass(frozen=True)
class Sent:
    """A command that succeeded: how to send it again, and a different request on its key."""

    again: Callable[[], CommandResult]
    varied: Callable[[], CommandResult]
    document: dict[str, Any]


@dataclass
class Stats:
    steps: int = 0
    keys_stored: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)


# --- predictions: the exact rejection, or None when the command must succeed ---------------
def refusal_for_status(status: str) -> Expected:
    return {"frozen": LineFrozen, "suspended": LineSuspended, "closed": LineClosed}.get(status)


def predict_hold(line: LineModel, amount: int, term: int, now: datetime) -> Expected:
    if amount <= 0:
        return InvalidAmount
    if not 1 <= term <= 36:
        return InvalidInput
    refusal = refusal_for_status("active" if line.freeze_due(now) else line.status)
    if refusal is not None:
        return refusal
    return InsufficientAvailableCredit if amount > line.available else None


def predict_post(hold: HoldModel, amount: int | None, now: datetime) -> Expected:
    if hold.status != "held":
        return DrawdownNotHeld
    if hold.expires_at <= now:
        return DrawdownExpired
    if amount is not None and not 0 < amount <= hold.amount:
        return InvalidAmount
    line = hold.line
    return refusal_for_status("active" if line.freeze_due(now) else line.status)


def predict_repay(loan: LoanModel, amount: int) -> Expected:
    if loan.outstanding == 0:
        return LoanSettled
    if amount <= 0:
        return InvalidAmount
    return None  # more than owed settles the loan; the rest is a refund


def predict_decision(
    line: LineModel, action: str, codes: list[str], limit: int | None, freeze_for: timedelta
) -> Expected:
    adverse = action in ADVERSE
    if any(REASON_ADVERSE[code] not in (None, adverse) for code in codes):
        return InvalidInput
    if action == "freeze" and not timedelta(0) < freeze_for <= FREEZE_MAX:
        return InvalidInput
    if line.status not in ACTION_FROM[action]:
        return InvalidLimitChange
    if limit is None:
        return None
    if limit < 0:
        return InvalidAmount
    if limit < LIMIT_MIN[line.currency]:
        return LimitBelowMinimum
    if (action == "increase") != (limit > line.limit) or limit == line.limit:
        return InvalidLimitChange
    if limit < line.used:
        return LimitBelowUtilisation
    return policy_refusal(line.currency, limit)


def policy_refusal(currency: str, limit: int) -> Expected:
    """What the policy's bounds say of a person's limit in `currency`."""
    if currency not in POLICY_BOUNDS:
        return None
    low, high, step = POLICY_BOUNDS[currency]
    if limit < low:
        return LimitBelowMinimum
    if limit > high:
        return LimitAboveCap
    return InvalidAmount if limit % step else None


class LedgerMachine(RuleBasedStateMachine):
    line_ids = Bundle("line_ids")

    def __init__(self, container: Container, clock: FixedClock, stats: Stats) -> None:
        super().__init__()
        self.container = container
        self.clock = clock
        self.ledger: LedgerService = container.ledger
        self.stats = stats
        self.run_id = uuid.uuid4().hex[:12]
        self.keys = 0
        self.agent = Actor(f"agent-{self.run_id}", Role.AGENT)
        self.approver = Actor(f"approver-{self.run_id}", Role.APPROVER)
        self.stranger = Actor(f"stranger-{self.run_id}", Role.BORROWER)
        self.line_models: dict[str, LineModel] = {}
        self.hold_models: dict[str, HoldModel] = {}
        self.loan_models: dict[str, LoanModel] = {}
        self.sent: list[Sent] = []

    # --- plumbing ----------------------------------------------------------------------------
    def key(self) -> str:
        self.keys += 1
        return f"{self.run_id}-{self.keys}"

    def attempt(
        self, expected: Expected, send: Callable[[], CommandResult], varied: Callable[[], Any]
    ) -> dict[str, Any] | None:
        """Send a command whose outcome the model predicted; the document when it succeeded."""
        try:
            result = send()
        except DomainError as error:
            assert type(error) is expected, f"expected {expected}, got {error!r} {error.details}"
            self.stats.outcomes[type(error).__name__] += 1
            return None
        assert expected is None, f"expected {expected.__name__}, but it succeeded"
        assert not result.replayed, "a first request came back as a replay"
        self.stats.keys_stored += 1
        self.sent.append(Sent(send, varied, result.document))
        return result.document

    def assert_line_document(self, document: dict[str, Any], line: LineModel) -> None:
        money = partial(as_text, currency=line.currency)
        assert document["id"] == line.id
        assert document["limit"] == money(line.limit)
        assert document["principal_outstanding"] == money(line.principal)
        assert document["held"] == money(line.held)
        assert document["available"] == money(line.available)
        assert document["status"] == line.status
        assert document["version"] == line.version

    def live_holds(self) -> list[HoldModel]:
        return [hold for hold in self.hold_models.values() if hold.status == "held"]

    def drawable_holds(self) -> list[HoldModel]:
        """Live holds on active lines (the rest are refused, see `post_oldest_hold`)."""
        return [hold for hold in self.live_holds() if hold.line.status == "active"]

    def live_loans(self) -> list[LoanModel]:
        return [loan for loan in self.loan_models.values() if loan.outstanding > 0]

    # --- every run starts with lines in each state, so that every rule applies at once ----
    @initialize(target=line_ids, currency=st.sampled_from(sorted(EXPONENTS)))
    def open_busy_line(self, currency: str) -> str:
        """An active line with a loan, a settled loan and a live hold."""
        line = self.line_models[self.open(currency, 1_000_000)]
        self.borrow(line, 300_000)
        settled = self.borrow(line, 50_000)
        self.pay(settled.id, settled, 50_000)
        self.hold(line, 200_000, 6, line.owner)
        return line.id

    @initialize(target=line_ids, freeze_for=st.sampled_from(FREEZE_FOR[:4]))
    def open_frozen_line(self, freeze_for: timedelta) -> str:
        """A line with a live hold, frozen for a short while: its freeze ends within the run."""
        line = self.line_models[self.open("CNY", 500_000)]
        self.hold(line, 100_000, 3, line.owner)
        self.decide(line, "freeze", ["fraud_suspected"], None, freeze_for)
        return line.id

    @initialize(target=line_ids, action=st.sampled_from(["suspend", "close"]))
    def open_stopped_line(self, action: str) -> str:
        """A line with a loan and a live hold, then suspended or closed."""
        line = self.line_models[self.open("JPY", 300_000)]
        self.borrow(line, 100_000)
        self.hold(line, 50_000, 24, line.owner)
        self.decide(line, action, ["overdue_payment"], None)
        return line.id

    def borrow(self, line: LineModel, amount: int) -> LoanModel:
        """Hold and post `amount` in full: the new loan."""
        drawdown_id = self.hold(line, amount, 12, line.owner)
        assert drawdown_id is not None
        loan_id = self.post(drawdown_id, self.hold_models[drawdown_id], None)
        assert loan_id is not None
        return self.loan_models[loan_id]

    # --- lines -------------------------------------------------------------------------------
    @precondition(lambda self: len(self.line_models) < LINES_PER_RUN_MAX)
    @rule(
        target=line_ids,
        currency=st.sampled_from(sorted(EXPONENTS)),
        limit=st.integers(10_000, 2_000_000),
    )
    def open_line(self, currency: str, limit: int) -> str:
        return self.open(currency, limit)

    def open(self, currency: str, limit: int) -> str:
        limit = on_policy_step(currency, limit)
        owner = Actor(f"borrower-{self.run_id}-{len(self.line_models)}", Role.BORROWER)
        key, agent = self.key(), self.agent
        send = partial(self.ledger.open_line, agent, key, owner.subject, currency)
        document = self.attempt(
            None,
            partial(send, as_text(limit, currency)),
            partial(send, as_text(limit + 1, currency)),
        )
        assert document is not None
        line = LineModel(document["id"], owner, currency, limit)
        self.assert_line_document(document, line)
        self.line_models[line.id] = line
        return line.id

    # --- holds -------------------------------------------------------------------------------
    @rule(line_id=line_ids, share=st.integers(1, 100), term=st.integers(1, 36))
    def place_hold(self, line_id: str, share: int, term: int) -> None:
        """A hold of `share` percent of available credit (at least one unit)."""
        line = self.line_models[line_id]
        self.hold(line, max(line.available * share // 100, 1), term, line.owner)

    @rule(
        line_id=line_ids,
        flaw=st.sampled_from(["over", "zero", "negative", "term_0", "term_37", "stranger"]),
    )
    def place_flawed_hold(self, line_id: str, flaw: str) -> None:
        """A hold over available credit, of no amount, of a bad term, or on another's line."""
        line = self.line_models[line_id]
        amount = {"over": line.available + 1, "zero": 0, "negative": -1}.get(flaw, 1)
        term = {"term_0": 0, "term_37": 37}.get(flaw, 12)
        self.hold(line, amount, term, self.stranger if flaw == "stranger" else line.owner)

    @precondition(lambda self: any(line.status == "frozen" for line in self.line_models.values()))
    @rule(data=st.data())
    def hold_on_frozen_line(self, data: st.DataObject) -> None:
        """A hold on a frozen line: refused, unless the freeze has ended (it is lifted first)."""
        frozen = [line for line in self.line_models.values() if line.status == "frozen"]
        line = data.draw(st.sampled_from(frozen))
        self.hold(line, max(min(line.available, 100), 1), 12, line.owner)

    def hold(self, line: LineModel, amount: int, term: int, actor: Actor) -> str | None:
        line_id, now = line.id, self.clock.now()
        key, place = self.key(), self.ledger.place_hold
        expected = LineNotFound if actor is self.stranger else predict_hold(line, amount, term, now)
        document = self.attempt(
            expected,
            partial(place, actor, key, line_id, as_text(amount, line.currency), term),
            partial(place, actor, key, line_id, as_text(amount + 1, line.currency), term),
        )
        if document is None:
            return None
        self.thaw_if_due(line, now)
        line.held, line.version = line.held + amount, line.version + 1
        self.hold_models[document["id"]] = HoldModel(document["id"], line, amount, now + HOLD_TTL)
        assert document["amount"] == as_text(amount, line.currency)
        assert document["expires_at"] == (now + HOLD_TTL).isoformat()
        self.assert_line_document(document["line"], line)
        self.stats.outcomes["hold"] += 1
        return str(document["id"])

    def thaw_if_due(self, line: LineModel, now: datetime) -> None:
        """A hold or post on a line whose freeze has ended lifts the freeze first."""
        if line.freeze_due(now):
            line.thaw()
            self.stats.outcomes["thaw_on_command"] += 1

    @precondition(lambda self: self.drawable_holds())
    @rule(
        data=st.data(), shape=st.sampled_from(["part", "full", "exact"]), share=st.integers(1, 99)
    )
    def post_hold(self, data: st.DataObject, shape: str, share: int) -> None:
        """Post a hold in full (no amount), naming its amount, or `share` percent of it."""
        hold = data.draw(st.sampled_from(self.drawable_holds()))
        part = max(hold.amount * share // 100, 1)
        self.post(hold.id, hold, {"full": None, "part": part}.get(shape, hold.amount))

    @precondition(lambda self: self.live_holds())
    @rule(half=st.booleans())
    def post_oldest_hold(self, half: bool) -> None:
        """Post the oldest live hold, in full or half of it: the likeliest to have expired (and
        not yet swept)."""
        oldest = min(self.live_holds(), key=lambda hold: hold.expires_at)
        self.post(oldest.id, oldest, max(oldest.amount // 2, 1) if half else None)

    @precondition(lambda self: self.hold_models)
    @rule(data=st.data(), flaw=st.sampled_from(["over", "zero", "resolved", "missing"]))
    def post_flawed(self, data: st.DataObject, flaw: str) -> None:
        """Post more than was held, nothing, a hold already resolved, or one nobody knows."""
        hold = data.draw(st.sampled_from(list(self.hold_models.values())))
        resolved = [h for h in self.hold_models.values() if h.status != "held"]
        if flaw == "resolved" and resolved:
            hold = data.draw(st.sampled_from(resolved))
        if flaw == "missing":
            self.post(str(uuid.uuid4()), None, None)
            return
        self.post(hold.id, hold, {"over": hold.amount + 1, "zero": 0}.get(flaw))

    def post(self, drawdown_id: str, hold: HoldModel | None, amount: int | None) -> str | None:
        held, now = hold.amount if hold else 1, self.clock.now()
        actor = self.stranger if hold is None else hold.line.owner
        currency = "CNY" if hold is None else hold.line.currency
        key, post = self.key(), self.container.loans.post_drawdown
        text = None if amount is None else as_text(amount, currency)
        send = partial(post, actor, key, drawdown_id)
        expected = DrawdownNotFound if hold is None else predict_post(hold, amount, now)
        document = self.attempt(
            expected, partial(send, text), partial(send, as_text(held + 7, currency))
        )
        if document is None or hold is None:
            return None
        posted, line = held if amount is None else amount, hold.line
        self.thaw_if_due(line, now)
        line.principal, line.held = line.principal + posted, line.held - hold.amount
        line.version += 1
        hold.status = "posted"
        self.loan_models[document["loan_id"]] = LoanModel(document["loan_id"], line, posted)
        assert document["amount"] == as_text(posted, line.currency)
        assert document["released"] == as_text(held - posted, line.currency)
        self.assert_line_document(document["line"], line)
        self.stats.outcomes["post" if posted == held else "post_partial"] += 1
        return str(document["loan_id"])

    @precondition(lambda self: self.hold_models)
    @rule(data=st.data(), which=st.sampled_from(["live", "live", "any", "missing"]))
    def void_hold(self, data: st.DataObject, which: str) -> None:
        """Void a live hold (expired or not), any hold, or one nobody knows."""
        pool = self.live_holds() if which == "live" else list(self.hold_models.values())
        if which == "missing" or not pool:
            self.void(str(uuid.uuid4()), None)
            return
        hold = data.draw(st.sampled_from(pool))
        self.void(hold.id, hold)

    def void(self, drawdown_id: str, hold: HoldModel | None) -> None:
        actor = self.stranger if hold is None else hold.line.owner
        key = self.key()
        send = partial(self.ledger.void_drawdown, actor, key)
        expected: Expected = DrawdownNotFound if hold is None else None
        if hold is not None and hold.status != "held":
            expected = DrawdownNotHeld
        document = self.attempt(
            expected, partial(send, drawdown_id), partial(send, f"{drawdown_id}-other")
        )
        if document is None or hold is None:
            return
        hold.status, hold.line.held = "voided", hold.line.held - hold.amount
        hold.line.version += 1
        assert document["status"] == "voided"
        self.assert_line_document(document["line"], hold.line)
        self.stats.outcomes["void"] += 1

    # --- loans -------------------------------------------------------------------------------
    @precondition(lambda self: self.live_loans())
    @rule(data=st.data(), share=st.sampled_from([100, 50, 1, 99, 30]))
    def repay(self, data: st.DataObject, share: int) -> None:
        """Repay `share` percent of what a loan owes (at least one unit)."""
        loan = data.draw(st.sampled_from(self.live_loans()))
        self.pay(loan.id, loan, max(loan.outstanding * share // 100, 1))

    @precondition(lambda self: self.loan_models)
    @rule(data=st.data(), flaw=st.sampled_from(["over", "zero", "settled", "missing"]))
    def repay_flawed(self, data: st.DataObject, flaw: str) -> None:
        """Repay more than a loan owes (a refund), nothing, a settled loan, or a missing loan."""
        loan = data.draw(st.sampled_from(list(self.loan_models.values())))
        settled = [loan for loan in self.loan_models.values() if loan.outstanding == 0]
        if flaw == "settled" and settled:
            loan = data.draw(st.sampled_from(settled))
        if flaw == "missing":
            self.pay(str(uuid.uuid4()), None, 1)
            return
        self.pay(loan.id, loan, {"over": loan.outstanding + 1, "zero": 0}.get(flaw, 1))

    def pay(self, loan_id: str, loan: LoanModel | None, amount: int) -> None:
        actor = self.stranger if loan is None else loan.line.owner
        currency = "CNY" if loan is None else loan.line.currency
        key = self.key()
        send = partial(self.container.loans.repay, actor, key, loan_id)
        expected = LoanNotFound if loan is None else predict_repay(loan, amount)
        document = self.attempt(
            expected,
            partial(send, as_text(amount, currency)),
            partial(send, as_text(amount + 3, currency)),
        )
        if document is None or loan is None:
            return
        repaid = min(amount, loan.outstanding)
        loan.outstanding -= repaid
        loan.line.principal, loan.line.version = loan.line.principal - repaid, loan.line.version + 1
        settled = loan.outstanding == 0
        assert document["allocation"]["credit"] == as_text(amount - repaid, currency)
        assert document["loan_status"] == ("settled" if settled else "open")
        assert document["principal_outstanding"] == as_text(loan.outstanding, currency)
        self.assert_line_document(document["line"], loan.line)
        self.stats.outcomes["repay_settled" if settled else "repay"] += 1

    # --- decisions ---------------------------------------------------------------------------
    @rule(line_id=line_ids, more=st.integers(1, 1_000_000))
    def increase(self, line_id: str, more: int) -> None:
        line = self.line_models[line_id]
        limit = line.limit + more
        if more % 2:  # half on the policy's step, where a policy governs the currency
            limit = on_policy_step(line.currency, limit)
        self.decide(line, "increase", ["good_repayment_history"], limit)

    @rule(line_id=line_ids, share=st.integers(0, 99))
    def decrease(self, line_id: str, share: int) -> None:
        """A decrease to what is used plus `share` percent of the rest (refused if no lower)."""
        line = self.line_models[line_id]
        limit = line.used + line.available * share // 100
        if share % 2:
            limit = on_policy_step(line.currency, limit)
        self.decide(line, "decrease", ["bureau_inquiries"], limit)

    @rule(line_id=line_ids)
    def decrease_below_use(self, line_id: str) -> None:
        """A decrease to one unit below what the borrower uses: refused, never clamped."""
        line = self.line_models[line_id]
        self.decide(line, "decrease", ["utilisation_high"], line.used - 1)

    @rule(line_id=line_ids, freeze_for=st.sampled_from(FREEZE_FOR + FREEZE_FOR_REFUSED))
    def freeze(self, line_id: str, freeze_for: timedelta) -> None:
        self.decide(self.line_models[line_id], "freeze", ["fraud_suspected"], None, freeze_for)

    @rule(line_id=line_ids, action=st.sampled_from(["unfreeze", "restore"]))
    def lift(self, line_id: str, action: str) -> None:
        """Unfreeze or restore: the one that fits the line's status, or the other (refused)."""
        line = self.line_models[line_id]
        fitting = {"frozen": "unfreeze", "suspended": "restore"}.get(line.status, action)
        self.decide(line, fitting if action == "unfreeze" else action, ["risk_resolved"], None)

    @rule(line_id=line_ids, action=st.sampled_from(["suspend", "close"]))
    def stop(self, line_id: str, action: str) -> None:
        self.decide(self.line_models[line_id], action, ["income_unverified"], None)

    @rule(
        line_id=line_ids,
        action=st.sampled_from(sorted(ACTION_FROM)),
        flaw=st.sampled_from(["wrong_role", "wrong_reason", "negative_limit", "same_limit"]),
    )
    def decide_flawed(self, line_id: str, action: str, flaw: str) -> None:
        """A decision by the wrong role, for a reason pointing the other way, or a bad limit."""
        line = self.line_models[line_id]
        codes = ["risk_resolved" if action in ADVERSE else "fraud_suspected"]
        if flaw != "wrong_reason":
            codes = ["fraud_suspected" if action in ADVERSE else "risk_resolved"]
        limit = None
        if action in ("increase", "decrease"):
            limit = -1 if flaw == "negative_limit" else line.limit
        self.decide(line, action, codes, limit, wrong_role=flaw == "wrong_role")

    def decide(
        self,
        line: LineModel,
        action: str,
        codes: list[str],
        limit: int | None,
        freeze_for: timedelta = FREEZE_FOR[1],
        wrong_role: bool = False,
    ) -> None:
        line_id, now, actor = line.id, self.clock.now(), self.decider(action, wrong_role)
        until = now + freeze_for if action == "freeze" else None
        text = None if limit is None else as_text(limit, line.currency)
        key, change = self.key(), self.ledger.change_limit
        send = partial(change, actor, key, line_id, action, codes, limit=text, until=until)
        predicted = predict_decision(line, action, codes, limit, freeze_for)
        document = self.attempt(
            Forbidden if wrong_role else predicted, send, partial(send, note="a different note")
        )
        if document is None:
            return
        before = (line.limit, line.status)
        line.limit = line.limit if limit is None else limit
        line.status = ACTION_TO.get(action, line.status)
        if action in ACTION_TO:
            line.frozen_until = until
        line.version += 1
        self.assert_decision(document["decision"], action, codes, before, line)
        self.assert_line_document(document["line"], line)
        self.stats.outcomes[action] += 1

    def decider(self, action: str, wrong_role: bool) -> Actor:
        if action in APPROVER_ONLY:
            return self.agent if wrong_role else self.approver
        return Actor(self.stranger.subject, Role.BORROWER) if wrong_role else self.agent

    @staticmethod
    def assert_decision(
        decision: dict[str, Any],
        action: str,
        codes: list[str],
        before: tuple[int, str],
        line: LineModel,
    ) -> None:
        money = partial(as_text, currency=line.currency)
        assert decision["action"] == action
        assert decision["adverse"] == (action in ADVERSE)
        assert decision["reason_codes"] == codes
        assert (decision["limit_before"], decision["status_before"]) == (
            money(before[0]),
            before[1],
        )
        assert (decision["limit_after"], decision["status_after"]) == (
            money(line.limit),
            line.status,
        )

    # --- time --------------------------------------------------------------------------------
    @precondition(lambda self: self.waiting())
    @rule(by=st.sampled_from(CLOCK_STEPS))
    def advance_clock(self, by: timedelta) -> None:
        self.clock.advance(by)

    def waiting(self) -> bool:
        """Whether anything waits on the clock: a live hold or a freeze (else time is moot)."""
        frozen = any(line.status == "frozen" for line in self.line_models.values())
        return frozen or bool(self.live_holds())

    def due(self) -> tuple[list[HoldModel], list[LineModel]]:
        """The holds past their expiry and the lines past their freeze, by the model."""
        now = self.clock.now()
        expiring = [hold for hold in self.live_holds() if hold.expires_at <= now]
        return expiring, [line for line in self.line_models.values() if line.freeze_due(now)]

    @precondition(lambda self: any(self.due()))
    @rule()
    def sweep(self) -> None:
        expiring, thawing = self.due()
        outcome = self.ledger.sweep()
        assert outcome == {
            "holds_released": len(expiring),
            "freezes_ended": len(thawing),
            "closes_applied": 0,
            "failed": 0,
        }
        for hold in expiring:
            hold.status, hold.line.held = "expired", hold.line.held - hold.amount
            hold.line.version += 1
        for line in thawing:
            line.thaw()
        self.stats.outcomes["sweep_released"] += len(expiring)
        self.stats.outcomes["sweep_thawed"] += len(thawing)

    # --- idempotency -------------------------------------------------------------------------
    @rule(data=st.data())
    def replay(self, data: st.DataObject) -> None:
        """The same request on a used key: the stored document, and no effect."""
        sent = data.draw(st.sampled_from(self.sent))
        result = sent.again()
        assert result.replayed, "the same request on a used key ran again"
        assert result.document == sent.document
        self.stats.outcomes["replay"] += 1

    @rule(data=st.data())
    def reuse_key(self, data: st.DataObject) -> None:
        """A different request on a used key: refused, and no effect."""
        sent = data.draw(st.sampled_from(self.sent))
        try:
            sent.varied()
        except IdempotencyKeyReused:
            self.stats.outcomes["IdempotencyKeyReused"] += 1
            return
        raise AssertionError("a different request on a used key was not refused")

    # --- checks ------------------------------------------------------------------------------
    @invariant()
    def lines_equal_the_model(self) -> None:
        self.stats.steps += 1
        lines = tables.lines
        columns = (lines.c.limit_minor, lines.c.principal_outstanding_minor, lines.c.held_minor)
        query = select(
            lines.c.id, *columns, lines.c.status, lines.c.frozen_until, lines.c.version
        ).where(lines.c.id.in_(list(self.line_models)))
        with self.container.db.reading() as connection:
            stored = {row[0]: tuple(row)[1:] for row in connection.execute(query)}
        for line in self.line_models.values():
            limit, principal, held, status, frozen_until, version = stored[line.id]
            assert held >= 0 and principal >= 0 and held + principal <= limit, stored[line.id]
            model = (line.limit, line.principal, line.held, line.status, line.frozen_until)
            assert (limit, principal, held, status, frozen_until) == model, (line, stored)
            assert version == line.version, (line, stored)
        if self.stats.steps % BOOKS_CHECK_EVERY_STEPS == 0:
            self.check_books()

    def check_books(self) -> None:
        """The reconciler finds nothing; holds, loans and stored keys equal the model."""
        assert self.container.reconciler.run() == []
        drawdowns, loans = tables.drawdowns, loan_tables.loans
        with self.container.db.reading() as connection:
            held = select(drawdowns.c.id, drawdowns.c.status).where(
                drawdowns.c.id.in_(list(self.hold_models))
            )
            stored_holds = {row.id: row.status for row in connection.execute(held)}
            owed = select(loans.c.id, loans.c.principal_outstanding_minor, loans.c.status).where(
                loans.c.id.in_(list(self.loan_models))
            )
            stored_loans = {row[0]: tuple(row)[1:] for row in connection.execute(owed)}
            keys = select(func.count()).select_from(idempotency_keys)
            assert connection.execute(keys).scalar_one() == self.stats.keys_stored
        assert stored_holds == {hold.id: hold.status for hold in self.hold_models.values()}
        assert stored_loans == {
            loan.id: (loan.outstanding, "settled" if loan.outstanding == 0 else "open")
            for loan in self.loan_models.values()
        }

    def teardown(self) -> None:
        """Move past every hold and freeze and sweep: the next run starts with nothing due."""
        self.clock.advance(FREEZE_MAX + HOLD_TTL + timedelta(seconds=1))
        self.sweep()
        self.lines_equal_the_model()
        self.check_books()


def test_ledger_follows_the_model(database_url: str, clock: FixedClock) -> None:
    container = build(
        Settings(
            database_url=database_url,
            hold_ttl=HOLD_TTL,
            products_file=TEST_PRODUCTS,
            review_triggers=False,
        ),
        clock,
        migrate=False,
    )
    stats = Stats()
    try:
        run_state_machine_as_test(
            # hypothesis takes any factory of machines; its annotation says a class
            lambda: LedgerMachine(container, clock, stats),  # type: ignore[arg-type]
            settings=settings(
                max_examples=RUNS,
                stateful_step_count=STEPS_PER_RUN,
                derandomize=True,
                database=None,
                deadline=None,
                suppress_health_check=[HealthCheck.too_slow],
                # Shrinking replays hundreds of runs against the database (minutes, not
                # seconds); a failure prints its whole run instead, which is short.
                phases=[Phase.explicit, Phase.generate],
            ),
        )
    finally:
        container.close()
    assert stats.steps >= STEPS_MIN, f"only {stats.steps} steps ran"
    reached = {outcome for outcome, count in stats.outcomes.items() if count > 0}
    assert reached >= OUTCOMES_REQUIRED, f"never reached: {sorted(OUTCOMES_REQUIRED - reached)}"
