"""The bounds every new limit keeps, on every path into a limit, and the number of open
lines a borrower may hold: checks `LedgerPort` makes inside the caller's transaction."""

from __future__ import annotations

from typing import Any

from creditline.db.unit_of_work import Transaction
from creditline.kernel.actors import Actor
from creditline.kernel.clock import Clock
from creditline.kernel.errors import LineCapReached
from creditline.ledger.limit_rules import cap_check, require_within_cap, require_within_policy
from creditline.ledger.model import Action, LimitChange, Line, LineStatus
from creditline.ledger.needs import Limits, Underwriting
from creditline.ledger.store import LedgerStore

# Lines read to count a borrower's: far above any profile's cap on open lines.
LINES_COUNTED_MAX = 100


class LimitBounds:
    """The policy's bounds and the profile's caps and line counts, read from the needs."""

    def __init__(
        self, store: LedgerStore, clock: Clock, limits: Limits, underwriting: Underwriting
    ) -> None:
        self._store = store
        self._clock = clock
        self._limits = limits
        self._underwriting = underwriting

    def check(
        self, tx: Transaction, actor: Actor, line: Line, change: LimitChange
    ) -> dict[str, Any] | None:
        """Refuse a new limit outside its bounds, on every path into a limit: a person (staff,
        a human reviewer) keeps to the policy's bounds and step; an increase, by anyone, keeps
        under the profile's caps (CN-1, CN-2, US-6, unverified income), whose figures the
        decision then stores."""
        limit = change.limit_minor
        if limit is None:
            return None
        if actor.person:
            bounds = self._underwriting.bounds(line.currency)
            if bounds is not None:
                require_within_policy(limit, bounds)
        caps = self._limits.caps(line.currency)
        if change.action is not Action.INCREASE or caps is None:
            return None
        now = self._clock.now()
        capacity = self._underwriting.capacity(tx, line.borrower_id, line.currency, now)
        others = self._store.lines_of_borrower(tx, line.borrower_id, LINES_COUNTED_MAX)
        elsewhere = sum(
            other.limit_minor
            for other in others
            if other.id != line.id
            and other.currency == line.currency
            and other.status is not LineStatus.CLOSED
        )
        check = cap_check(caps, capacity, elsewhere)
        require_within_cap(limit, check, line.currency)
        return check.document(limit, line.currency)

    def require_line_room(
        self, tx: Transaction, borrower_id: str, currency: str, *, reason: str | None = None
    ) -> None:
        """Refuse (`line_cap_reached`) a new line for a borrower who already holds the
        profile's number of open lines in `currency`, unless staff record a `reason` (blank
        text records none)."""
        cap = self._limits.lines_per_borrower_max(currency)
        lines = self._store.lines_of_borrower(tx, borrower_id, LINES_COUNTED_MAX)
        held = [
            line.id
            for line in lines
            if line.currency == currency and line.status is not LineStatus.CLOSED
        ]
        if len(held) >= cap and (reason is None or not reason.strip()):
            raise LineCapReached(
                f"the borrower has {len(held)} open line(s) in {currency}; at most {cap} open "
                "without a recorded reason: ask for a review of the line instead",
                lines=held,
                lines_max=cap,
            )
