"""The ledger's pure model: a line's state and what each command does to it.

No I/O and no clock: every function takes `now` when it needs time. A command is planned as a
`Movement` (relative deltas and, for decisions, the new status); the store applies the deltas as
a relative UPDATE and the journal records the movement with the balances after it
(`journal_entry`; the entries and their hash chain are `creditline.ledger.journal`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from creditline.kernel.errors import (
    InsufficientAvailableCredit,
    InvalidAmount,
    InvalidInput,
    InvalidLimitChange,
    LimitBelowUtilisation,
    LineClosed,
    LineFrozen,
    LineSuspended,
    ReasonNotSpecific,
)
from creditline.kernel.invariant import fail, invariant
from creditline.kernel.money import format_minor
from creditline.kernel.reasons import (
    REASON_CATALOGUE,
    REASON_CODES_PER_DECISION_MAX,
    is_generic,
)
from creditline.kernel.text import checked_text

# The journal's names, still read from here by the ledger's service, store and reconciliation.
from creditline.ledger.journal import JournalEntry, entry_hash
from creditline.ledger.limit_rules import CAPPING_CODES, require_limit_at_least_minimum

TERM_MONTHS_MIN = 1
TERM_MONTHS_MAX = 36
FREEZE_DURATION_MAX = timedelta(days=366)
NOTE_LENGTH_MAX = 1_000
POLICY_VERSION_LENGTH_MAX = 64


class LineStatus(StrEnum):
    """Where a line stands: only an active line takes new drawdowns."""

    ACTIVE = "active"
    FROZEN = "frozen"
    SUSPENDED = "suspended"
    CLOSED = "closed"


class Action(StrEnum):
    """What a decision does to a line."""

    INCREASE = "increase"
    DECREASE = "decrease"
    FREEZE = "freeze"
    UNFREEZE = "unfreeze"
    SUSPEND = "suspend"
    RESTORE = "restore"
    CLOSE = "close"


# Actions that reduce what a borrower can draw: each needs a notice (DESIGN.md §6.5).
ADVERSE_ACTIONS = frozenset({Action.DECREASE, Action.FREEZE, Action.SUSPEND, Action.CLOSE})

# From which statuses each action may start, and the status it leaves (None: unchanged).
_ACTION_FROM: dict[Action, frozenset[LineStatus]] = {
    Action.INCREASE: frozenset({LineStatus.ACTIVE, LineStatus.FROZEN, LineStatus.SUSPENDED}),
    Action.DECREASE: frozenset({LineStatus.ACTIVE, LineStatus.FROZEN, LineStatus.SUSPENDED}),
    Action.FREEZE: frozenset({LineStatus.ACTIVE, LineStatus.FROZEN}),
    Action.UNFREEZE: frozenset({LineStatus.FROZEN}),
    Action.SUSPEND: frozenset({LineStatus.ACTIVE, LineStatus.FROZEN}),
    Action.RESTORE: frozenset({LineStatus.SUSPENDED}),
    Action.CLOSE: frozenset({LineStatus.ACTIVE, LineStatus.FROZEN, LineStatus.SUSPENDED}),
}
_ACTION_TO: dict[Action, LineStatus | None] = {
    Action.INCREASE: None,
    Action.DECREASE: None,
    Action.FREEZE: LineStatus.FROZEN,
    Action.UNFREEZE: LineStatus.ACTIVE,
    Action.SUSPEND: LineStatus.SUSPENDED,
    Action.RESTORE: LineStatus.ACTIVE,
    Action.CLOSE: LineStatus.CLOSED,
}


@dataclass(frozen=True, slots=True)
class Line:
    """A credit line's balances and status, as of its latest journal entry."""

    id: str
    borrower_id: str
    currency: str
    limit_minor: int
    principal_minor: int
    held_minor: int
    status: LineStatus
    frozen_until: datetime | None
    status_decision_id: str | None
    version: int
    head_hash: str
    # When a close the lender decided takes effect; the line is usable until then (EU-2).
    closing_at: datetime | None = None

    @property
    def available_minor(self) -> int:
        """What the limit leaves after outstanding principal and live holds."""
        return self.limit_minor - self.principal_minor - self.held_minor


@dataclass(frozen=True, slots=True)
class Movement:
    """What one command does to a line: relative deltas, and the status it leaves."""

    kind: str
    limit_delta: int = 0
    principal_delta: int = 0
    held_delta: int = 0
    status: LineStatus | None = None  # None: unchanged
    frozen_until: datetime | None = None  # the freeze's end when `status` is FROZEN
    closing_at: datetime | None = None  # a close it schedules: when it takes effect


def check_line(line: Line) -> None:
    """DESIGN.md §6.1, checked on every state the model produces."""
    frozen = line.status is LineStatus.FROZEN
    if (
        line.limit_minor >= 0
        and line.held_minor >= 0
        and line.principal_minor >= 0
        and line.available_minor >= 0
        and frozen == (line.frozen_until is not None)
        and (line.closing_at is None or line.status is not LineStatus.CLOSED)
    ):
        return
    # Broken: say which (the messages are built only here, not on every hold).
    invariant(line.limit_minor >= 0, f"line {line.id}: negative limit")
    invariant(line.held_minor >= 0, f"line {line.id}: negative held")
    invariant(line.principal_minor >= 0, f"line {line.id}: negative principal")
    invariant(line.available_minor >= 0, f"line {line.id}: utilisation above limit")
    invariant(
        frozen == (line.frozen_until is not None),
        f"line {line.id}: a freeze needs an end time and only a freeze has one",
    )
    fail(f"line {line.id}: a closed line has no close still to come")


def apply(line: Line, movement: Movement, decision_id: str | None = None) -> Line:
    """The line after `movement` (pure; the store applies the same deltas relatively)."""
    status = line.status if movement.status is None else movement.status
    moved = Line(  # built directly: dataclasses.replace costs more than the rest of a hold
        id=line.id,
        borrower_id=line.borrower_id,
        currency=line.currency,
        limit_minor=line.limit_minor + movement.limit_delta,
        principal_minor=line.principal_minor + movement.principal_delta,
        held_minor=line.held_minor + movement.held_delta,
        status=status,
        frozen_until=(
            line.frozen_until
            if movement.status is None
            else movement.frozen_until
            if status is LineStatus.FROZEN
            else None
        ),
        # The decision behind the current status: a limit change leaves it as it was.
        status_decision_id=(
            decision_id
            if movement.status is not None and decision_id is not None
            else line.status_decision_id
        ),
        version=line.version + 1,
        head_hash=line.head_hash,
        closing_at=None if status is LineStatus.CLOSED else movement.closing_at or line.closing_at,
    )
    check_line(moved)
    return moved


def with_head(line: Line, head_hash: str) -> Line:
    """`line` whose journal now ends in the entry hashed `head_hash`."""
    return Line(
        line.id,
        line.borrower_id,
        line.currency,
        line.limit_minor,
        line.principal_minor,
        line.held_minor,
        line.status,
        line.frozen_until,
        line.status_decision_id,
        line.version,
        head_hash,
        line.closing_at,
    )


def require_positive(amount_minor: int) -> None:
    """Refuse an amount of zero or less."""
    if amount_minor <= 0:
        raise InvalidAmount("amount must be greater than zero")


def refuse_if_not_drawable(line: Line) -> None:
    """Raise why `line` accepts no new drawdown (frozen, suspended or closed), if it does not."""
    if line.status is LineStatus.FROZEN:
        until = line.frozen_until
        raise LineFrozen(
            f"the line is frozen until {until.isoformat() if until else 'further notice'}",
            frozen_until=until.isoformat() if until else None,
            decision_id=line.status_decision_id,
        )
    if line.status is LineStatus.SUSPENDED:
        raise LineSuspended(
            "the line is suspended pending review",
            decision_id=line.status_decision_id,
        )
    if line.status is LineStatus.CLOSED:
        raise LineClosed("the line is closed", decision_id=line.status_decision_id)


def plan_hold(line: Line, amount_minor: int, term_months: int) -> Movement:
    """Reserve `amount_minor` of available credit for a drawdown."""
    require_positive(amount_minor)
    if not TERM_MONTHS_MIN <= term_months <= TERM_MONTHS_MAX:
        raise InvalidInput(
            f"term_months must be {TERM_MONTHS_MIN}–{TERM_MONTHS_MAX}",
            term_months_min=TERM_MONTHS_MIN,
            term_months_max=TERM_MONTHS_MAX,
        )
    refuse_if_not_drawable(line)
    if amount_minor > line.available_minor:
        raise InsufficientAvailableCredit(
            f"the amount exceeds available credit of "
            f"{format_minor(line.available_minor, line.currency)} {line.currency}",
            available=format_minor(line.available_minor, line.currency),
            currency=line.currency,
        )
    return Movement("hold", held_delta=amount_minor)


def plan_post(line: Line, held_minor: int, post_minor: int) -> Movement:
    """Turn a hold of `held_minor` into a loan of `post_minor`; the rest is released."""
    require_positive(post_minor)
    if post_minor > held_minor:
        raise InvalidAmount(
            "cannot post more than was held",
            held=format_minor(held_minor, line.currency),
        )
    refuse_if_not_drawable(line)
    return Movement("post", principal_delta=post_minor, held_delta=-held_minor)


def plan_release(held_minor: int) -> Movement:
    """Give a voided or expired hold back to available credit."""
    return Movement("release", held_delta=-held_minor)


def plan_repayment(principal_minor: int) -> Movement:
    """Repaid principal is available again at once; interest and fees do not touch the line."""
    invariant(principal_minor >= 0, "repaid principal cannot be negative")
    return Movement("repay", principal_delta=-principal_minor)


def plan_refund() -> Movement:
    """A loan's credit balance paid back to the borrower: journaled on the line, and no credit
    moves (the money was never principal)."""
    return Movement("refund")


@dataclass(frozen=True, slots=True)
class LimitChange:
    """A decision about a line, as requested by a person, a rule or a policy."""

    action: Action
    reason_codes: tuple[str, ...]
    limit_minor: int | None = None
    until: datetime | None = None
    note: str | None = None
    policy_version: str | None = None
    # With a close: when it takes effect (None: as early as the line's profile allows).
    effective_at: datetime | None = None
    # With a close the borrower was told of ahead (a policy change's notice): when. The
    # profile's termination notice runs from then, not from the decision.
    notice_given_at: datetime | None = None

    @property
    def adverse(self) -> bool:
        """Whether the change reduces what the borrower can draw (it needs a notice)."""
        return self.action in ADVERSE_ACTIONS


def validate_reasons(change: LimitChange) -> None:
    """1–4 distinct catalogue codes that fit the direction of the change."""
    codes = change.reason_codes
    if not 1 <= len(codes) <= REASON_CODES_PER_DECISION_MAX or len(set(codes)) != len(codes):
        raise InvalidInput(
            f"a decision names 1–{REASON_CODES_PER_DECISION_MAX} distinct reason codes",
            reason_codes_max=REASON_CODES_PER_DECISION_MAX,
        )
    unknown = [code for code in codes if code not in REASON_CATALOGUE]
    if unknown:
        # Echo only ASCII: raw input may not even encode (a lone surrogate).
        shown = [code.encode("ascii", "backslashreplace").decode()[:40] for code in unknown]
        raise InvalidInput(f"unknown reason codes: {', '.join(shown)}", unknown=shown)
    generic = [code for code in codes if is_generic(code)]
    if generic:
        raise ReasonNotSpecific(
            f"reason {generic[0]} names no factor; name the specific reason",
            reason_code=generic[0],
        )
    for code in codes:
        reason = REASON_CATALOGUE[code]
        # A cap may say why an increase is no larger (an automatic one names it).
        capped = code in CAPPING_CODES and change.action is Action.INCREASE
        fits = reason.borrower_initiated or capped or reason.adverse == change.adverse
        if not fits:
            raise InvalidInput(
                f"reason {code} cannot explain a {change.action.value}",
                reason_code=code,
                action=change.action.value,
            )


def plan_limit_change(
    line: Line, change: LimitChange, now: datetime, limit_min_minor: int = 1
) -> Movement:
    """The movement a decision makes, or the reason it cannot be made. Never clamps. A new
    limit is at least `limit_min_minor` (the line's profile minimum) and never zero."""
    validate_reasons(change)
    _validate_decision_fields(change, now)
    if line.status not in _ACTION_FROM[change.action]:
        raise InvalidLimitChange(
            f"cannot {change.action.value} a line that is {line.status.value}",
            action=change.action.value,
            status=line.status.value,
        )
    if change.action in (Action.INCREASE, Action.DECREASE):
        return _plan_limit(line, change, limit_min_minor)
    status = _ACTION_TO[change.action]
    return Movement(
        change.action.value,
        status=status,
        frozen_until=change.until if status is LineStatus.FROZEN else None,
    )


def _validate_decision_fields(change: LimitChange, now: datetime) -> None:
    sets_limit = change.action in (Action.INCREASE, Action.DECREASE)
    if sets_limit != (change.limit_minor is not None):
        raise InvalidInput(
            "a limit is given with increase and decrease, and only with them",
            action=change.action.value,
        )
    if (change.action is Action.FREEZE) != (change.until is not None):
        raise InvalidInput(
            "a freeze needs `until`, and only a freeze takes one", action=change.action.value
        )
    if change.until is not None and change.until.tzinfo is None:
        raise InvalidInput("`until` needs a time zone", field="until")
    if change.until is not None and not now < change.until <= now + FREEZE_DURATION_MAX:
        raise InvalidInput(
            f"`until` must be in the future and at most {FREEZE_DURATION_MAX.days} days away",
            freeze_days_max=FREEZE_DURATION_MAX.days,
        )
    if change.note is not None:
        checked_text(change.note, "note", NOTE_LENGTH_MAX, multiline=True)
    if change.policy_version is not None:
        checked_text(change.policy_version, "policy_version", POLICY_VERSION_LENGTH_MAX)


def _plan_limit(line: Line, change: LimitChange, limit_min_minor: int) -> Movement:
    new_limit = change.limit_minor
    if new_limit is None:
        fail("limit checked above")
    require_limit_at_least_minimum(new_limit, limit_min_minor, line.currency)
    if change.action is Action.INCREASE and new_limit <= line.limit_minor:
        raise InvalidLimitChange("an increase must raise the limit", action="increase")
    if change.action is Action.DECREASE and new_limit >= line.limit_minor:
        raise InvalidLimitChange("a decrease must lower the limit", action="decrease")
    utilised = line.principal_minor + line.held_minor
    if new_limit < utilised:
        raise LimitBelowUtilisation(
            "the new limit is below what the borrower already uses; freeze the line instead",
            utilised=format_minor(utilised, line.currency),
            currency=line.currency,
        )
    return Movement(change.action.value, limit_delta=new_limit - line.limit_minor)


def journal_entry(
    after: Line,
    movement: Movement,
    prev_hash: str,
    created_at: datetime,
    *,
    drawdown_id: str | None = None,
    loan_id: str | None = None,
    decision_id: str | None = None,
) -> JournalEntry:
    """The entry that records `movement`, given the line `after` it."""
    fields = (
        after.id,
        after.version,
        movement.kind,
        movement.limit_delta,
        movement.principal_delta,
        movement.held_delta,
        after.limit_minor,
        after.principal_minor,
        after.held_minor,
        after.status.value,
        drawdown_id,
        loan_id,
        decision_id,
        created_at,
    )
    return JournalEntry(*fields, prev_hash=prev_hash, hash=entry_hash(prev_hash, fields))
