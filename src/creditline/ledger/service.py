"""Ledger use cases: lines, holds, limit changes, the journal.

Each command runs through the one command runner (`db.commands`): idempotent by key, one
transaction. Other capabilities move credit inside their own transaction through the ledger's
in-transaction port (`lock`, `hold`, `post_hold`, `restore`, `decide`), so a loan that settles
restores its line in the transaction that settles it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from creditline.db.commands import CommandResult, Commands, Encoded
from creditline.db.unit_of_work import Database, Transaction
from creditline.kernel.actors import Actor, Role
from creditline.kernel.clock import Clock
from creditline.kernel.errors import (
    DecisionNotFound,
    InvalidInput,
    LineNotFound,
)
from creditline.kernel.ids import new_id
from creditline.kernel.money import Money
from creditline.kernel.permissions import Permission, require
from creditline.kernel.text import checked_text
from creditline.ledger import model
from creditline.ledger.change_input import checked_until, parse_action
from creditline.ledger.in_transaction import LedgerPort, may_see
from creditline.ledger.model import Action, LimitChange, Line
from creditline.ledger.ports import (
    ConsumerReports,
    DecisionRecord,
    Drawdown,
    Limits,
    Pricing,
    Terms,
    Underwriting,
)
from creditline.ledger.records import StoredDecision
from creditline.ledger.requests import REQUESTS_LISTED_MAX as REQUESTS_LISTED_MAX  # for shells
from creditline.ledger.requests import BorrowerRequests
from creditline.ledger.store import LedgerStore
from creditline.ledger.views import (
    decision_document,
    drawdown_document,
    iso,
    journal_entry_document,
    line_document,
    stored_decision_document,
)
from creditline.notices.outbox import Outbox, Topic

log = logging.getLogger(__name__)

BORROWER_ID_LENGTH_MAX = 64
JOURNAL_PAGE_SIZE_MAX = 500
LINES_PER_BORROWER_LISTED_MAX = 100
LINES_FOUND_MAX = 50
SEARCH_LENGTH_MIN = 3  # fewer characters would list half the book
JOURNAL_SEQ_MAX = 2**31 - 1  # journal.seq is a 32-bit column
SWEEP_BATCH_SIZE_MAX = 500
DECISIONS_LISTED_MAX = 200
# What a line staff open without naming reasons was granted for: staff approved the borrower.
STAFF_OPENING_REASONS = ("application_approved",)


class LedgerService:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        commands: Commands,
        outbox: Outbox,
        pricing: Pricing,
        hold_ttl: timedelta,
        limits: Limits,
        terms: Terms,
        underwriting: Underwriting,
        reports: ConsumerReports,
    ) -> None:
        self._db = db
        self._clock = clock
        self._commands = commands
        self._outbox = outbox
        self._pricing = pricing
        self._hold_ttl = hold_ttl
        self.store = LedgerStore(db)
        self.port = LedgerPort(self.store, clock, outbox, limits, terms, underwriting, reports)
        # Borrowers' requests to close a line or lower its limit, and the staff queue of them.
        self.requests = BorrowerRequests(
            db, clock, commands, self.store, self.port, limits, underwriting
        )

    # --- commands ------------------------------------------------------------------------
    def open_line(
        self,
        actor: Actor,
        key: str,
        borrower_id: str,
        currency: str,
        limit: str,
        note: str | None = None,
        reason_codes: list[str] | None = None,
    ) -> CommandResult:
        """Open an active line for a borrower with `limit` (a decimal string) in `currency`.

        The line opens with its limit granted by a decision of `actor` (like an approved
        application's), with `reason_codes` (by default `application_approved`: staff approved
        the borrower) and `note`; the limit keeps to the policy's bounds and the profile's caps
        like any other, and the decision keeps the cap figures. A borrower who already holds
        the profile's number of open lines in the currency gets another only with a recorded
        reason (`note`).
        """
        require(actor, Permission.OPEN_LINE)
        checked_text(borrower_id, "borrower_id", BORROWER_ID_LENGTH_MAX)
        if note is not None:
            checked_text(note, "note", model.NOTE_LENGTH_MAX, multiline=True)
        limit_minor = Money.parse(limit, currency).minor
        request: dict[str, Any] = {
            "op": "open_line",
            "borrower_id": borrower_id,
            "currency": currency,
        }
        request["limit"] = limit
        if note is not None:
            request["note"] = note
        if reason_codes is not None:
            request["reason_codes"] = reason_codes
        codes = STAFF_OPENING_REASONS if reason_codes is None else tuple(reason_codes)
        grant = LimitChange(Action.INCREASE, codes, limit_minor, note=note)

        def work(tx: Transaction) -> Line:
            self.port.lock_borrower(tx, borrower_id)
            self.port.require_line_room(tx, borrower_id, currency, reason=note)
            return self.port.open(tx, actor, borrower_id, currency, grant)[0]

        return self._commands.run(actor, key, request, work, line_document, core=True)

    def place_hold(
        self,
        actor: Actor,
        key: str,
        line_id: str,
        amount: str,
        term_months: int,
        product: str | None = None,
        method: str | None = None,
    ) -> CommandResult:
        """Reserve credit for a drawdown priced by `product` (the currency's default when None).

        The hold is refused when the product does not offer the term or method, or when the
        price's APR is above the product's jurisdiction cap. The hold expires unless posted or
        voided in time.
        """
        require(actor, Permission.DRAW)
        if type(term_months) is not int:
            raise InvalidInput("term_months must be a whole number")
        request: dict[str, Any] = {
            "op": "hold",
            "line_id": line_id,
            "amount": amount,
            "method": method,
        }
        request |= {"term_months": term_months, "product": product}

        def work(tx: Transaction) -> Encoded:
            line = self.port.lock(tx, actor, line_id)
            now = self._clock.now()  # after the lock: the wait for it is part of the past
            line = self.port.close_if_due(tx, self.port.end_freeze_if_due(tx, line, now), now)
            amount_minor = Money.parse(amount, line.currency).minor
            with self.port.explaining_refusals(tx, line):
                movement = model.plan_hold(line, amount_minor, term_months)
            priced = self._pricing.price_hold(
                product, line.currency, amount_minor, term_months, method, now
            )
            drawdown = Drawdown(
                new_id(),
                line.id,
                amount_minor,
                term_months,
                "held",
                now + self._hold_ttl,
                None,
                None,
                priced.product,
                priced.method,
                now,
            )
            self.store.insert_drawdown(tx, drawdown)
            after = self.port.move(tx, line, movement, now, drawdown_id=drawdown.id)
            payload = {"drawdown": drawdown.id}
            self.port.notify(tx, Topic.HOLD_PLACED, after, drawdown.id, payload, now)
            return Encoded(*drawdown_document(drawdown, after, priced))

        return self._commands.run(actor, key, request, work, lambda answer: answer)

    def void_drawdown(self, actor: Actor, key: str, drawdown_id: str) -> CommandResult:
        """Release a held drawdown's credit without lending."""
        require(actor, Permission.DRAW)
        request: dict[str, Any] = {"op": "void", "drawdown_id": drawdown_id}

        def work(tx: Transaction) -> dict[str, Any]:
            # An expired hold the sweeper has not reached yet can still be voided.
            line, drawdown = self.port.lock_held_drawdown(tx, actor, drawdown_id)
            after = self.port.release(tx, line, drawdown, "voided", self._clock.now())
            return {"id": drawdown.id, "status": "voided", "line": line_document(after)}

        return self._commands.run(actor, key, request, work, lambda document: document)

    def change_limit(
        self,
        actor: Actor,
        key: str,
        line_id: str,
        action: str,
        reason_codes: list[str],
        *,
        limit: str | None = None,
        until: datetime | None = None,
        note: str | None = None,
        policy_version: str | None = None,
        evidence: dict[str, Any] | None = None,
        request_id: str | None = None,
        effective_at: datetime | None = None,
    ) -> CommandResult:
        """Record a decision about a line and apply it: the only way a limit or status changes.

        `limit` (a decimal string in the line's currency) goes with increase and decrease,
        `until` with freeze, `effective_at` with a close the lender sets to take effect later
        (on a profile with a termination notice, at least that notice after now; without it,
        as early as the notice allows). A decrease below what the borrower uses is refused,
        never clamped.
        `evidence` is what an automated decision saw (score, grade, trace, features), kept
        with the decision record. `request_id` names the borrower's open request the decision
        grants (needed with `borrower_request` and `account_closed_by_borrower`); it is done in
        the decision's transaction.
        """
        parsed_action = parse_action(actor, action, reason_codes)
        until = checked_until(until)
        effective_at = checked_until(effective_at, "effective_at")
        request: dict[str, Any] = {
            "op": "limit_change",
            "line_id": line_id,
            "action": action,
            "limit": limit,
        }
        request |= {"reason_codes": reason_codes, "until": iso(until), "note": note}
        request |= {"policy_version": policy_version, "evidence": evidence}
        if request_id is not None:
            request["request_id"] = request_id
        if effective_at is not None:
            request["effective_at"] = iso(effective_at)

        def work(tx: Transaction) -> tuple[Line, DecisionRecord]:
            line = self.port.lock(tx, actor, line_id)
            change = LimitChange(
                action=parsed_action,
                reason_codes=tuple(reason_codes),
                limit_minor=None if limit is None else Money.parse(limit, line.currency).minor,
                until=until,
                note=note,
                policy_version=policy_version,
                effective_at=effective_at,
            )
            asked = None if request_id is None else self.requests.lock_of_line(tx, line, request_id)
            return self.port.decide(tx, actor, line, change, evidence, asked)

        def view(result: tuple[Line, DecisionRecord]) -> dict[str, Any]:
            return {"decision": decision_document(result[1]), "line": line_document(result[0])}

        # Core: an increase reads the borrower's capacity (applications, bureau) for the caps.
        return self._commands.run(actor, key, request, work, view, core=True)

    # --- queries -------------------------------------------------------------------------
    def line(self, actor: Actor, line_id: str) -> Line:
        """The line's balances and status; a borrower sees only their own lines."""
        require(actor, Permission.READ_LINES)

        def read(tx: Transaction) -> Line:
            line = self.store.read_line(tx, line_id)
            if line is None or not may_see(actor, line):
                raise LineNotFound("no such line", line_id=line_id)
            return line

        return self._db.read(read)

    def get_line(self, actor: Actor, line_id: str) -> dict[str, Any]:
        """The line's document (what `GET /v1/lines/{id}` answers)."""
        return line_document(self.line(actor, line_id))

    def lines_of(self, actor: Actor, borrower_id: str | None = None) -> list[Line]:
        """A borrower's lines, oldest first: a borrower lists their own, staff name the borrower."""
        require(actor, Permission.READ_LINES)
        if actor.role is Role.BORROWER:
            if borrower_id not in (None, actor.subject):
                return []  # another borrower's lines: as if there were none
            borrower_id = actor.subject
        elif borrower_id is None:
            raise InvalidInput("staff must name the borrower_id whose lines to list")
        checked_text(borrower_id, "borrower_id", BORROWER_ID_LENGTH_MAX)
        return self._db.read(
            lambda tx: self.store.lines_of_borrower(tx, borrower_id, LINES_PER_BORROWER_LISTED_MAX)
        )

    def list_lines(self, actor: Actor, borrower_id: str | None = None) -> dict[str, Any]:
        """The document of `lines_of`."""
        return {"lines": [line_document(line) for line in self.lines_of(actor, borrower_id)]}

    def find_lines(self, actor: Actor, begins: str) -> dict[str, Any]:
        """Lines whose id or borrower id begins with `begins`, newest first (staff)."""
        require(actor, Permission.READ_STAFF_VIEWS)
        checked_text(begins, "q", BORROWER_ID_LENGTH_MAX)
        if len(begins) < SEARCH_LENGTH_MIN:
            raise InvalidInput(f"search with at least {SEARCH_LENGTH_MIN} characters", field="q")
        found = self._db.read(lambda tx: self.store.search_lines(tx, begins, LINES_FOUND_MAX))
        return {"lines": [line_document(line) for line in found]}

    def decisions_of(self, actor: Actor, line_id: str, limit: int = 50) -> list[StoredDecision]:
        """The line's recorded decisions, newest first, at most `limit`."""
        if not 1 <= limit <= DECISIONS_LISTED_MAX:
            raise InvalidInput(f"limit must be 1–{DECISIONS_LISTED_MAX}")
        line = self.line(actor, line_id)
        return self._db.read(
            lambda tx: self.store.decisions.of_line(tx, line.id, line.currency, limit)
        )

    def line_decisions(self, actor: Actor, line_id: str, limit: int = 50) -> dict[str, Any]:
        """The line's decisions, newest first, each with its reasons in plain language."""
        listed = self.decisions_of(actor, line_id, limit)
        documents = [stored_decision_document(d, staff=False) for d in listed]
        return {"line_id": line_id, "decisions": documents}

    def stored_decision(self, actor: Actor, decision_id: str) -> StoredDecision:
        """One recorded decision about a line `actor` may see (else `decision_not_found`)."""
        require(actor, Permission.READ_LINES)

        def read(tx: Transaction) -> StoredDecision | None:
            line_id = self.store.decisions.line_of(tx, decision_id)
            line = None if line_id is None else self.port.visible(tx, actor, line_id)
            return (
                None if line is None else self.store.decisions.get(tx, decision_id, line.currency)
            )

        found = self._db.read(read)
        if found is None:
            raise DecisionNotFound("no such decision", decision_id=decision_id)
        return found

    def get_decision(self, actor: Actor, decision_id: str) -> dict[str, Any]:
        """One decision; staff also see its evidence (score, trace, features)."""
        stored = self.stored_decision(actor, decision_id)
        return stored_decision_document(stored, staff=actor.role is not Role.BORROWER)

    def journal(
        self, actor: Actor, line_id: str, after_seq: int = 0, limit: int = 100
    ) -> dict[str, Any]:
        """A page of the line's journal in order, each entry with its hash."""
        if not 1 <= limit <= JOURNAL_PAGE_SIZE_MAX or not 0 <= after_seq <= JOURNAL_SEQ_MAX:
            raise InvalidInput(
                f"limit must be 1–{JOURNAL_PAGE_SIZE_MAX}, after_seq 0–{JOURNAL_SEQ_MAX}"
            )
        line = self.line(actor, line_id)
        page = self._db.read(lambda tx: self.store.journal_page(tx, line.id, after_seq, limit))
        entries = [journal_entry_document(entry, line.currency) for entry in page]
        next_after = entries[-1]["seq"] if len(entries) == limit else None
        return {"line_id": line.id, "entries": entries, "next_after_seq": next_after}

    # --- background work -----------------------------------------------------------------
    def sweep(self, batch_size: int = SWEEP_BATCH_SIZE_MAX) -> dict[str, int]:
        """Release expired holds, end freezes whose time is up and apply scheduled closes whose
        date has come; each in its own transaction. One item that keeps failing is counted and
        left for the next sweep: it must not stop the others (each is retried whole, and
        nothing of a failed one is kept)."""
        if not 1 <= batch_size <= SWEEP_BATCH_SIZE_MAX:
            raise InvalidInput(f"batch_size must be 1–{SWEEP_BATCH_SIZE_MAX}")
        now = self._clock.now()
        expired = self._db.read(lambda tx: self.store.expired_holds(tx, now, batch_size))
        thawing = self._db.read(lambda tx: self.store.ended_freezes(tx, now, batch_size))
        closing = self._db.read(lambda tx: self.store.closes_due(tx, now, batch_size))
        released = [self._sweep_one(partial(self._expire, drawdown_id=i)) for i in expired]
        thawed = [self._sweep_one(partial(self._thaw, line_id=i)) for i in thawing]
        closed = [self._sweep_one(partial(self._close, line_id=i)) for i in closing]
        return {
            "holds_released": released.count(1),
            "freezes_ended": thawed.count(1),
            "closes_applied": closed.count(1),
            "failed": (released + thawed + closed).count(None),
        }

    def _sweep_one(self, work: Callable[[Transaction], int]) -> int | None:
        """One item's own transaction: 1 done, 0 nothing to do, None failed. A failed item is
        logged and left for the next sweep: it must not stop the others, and nothing of it is
        kept (it is retried whole)."""
        try:
            return self._db.run(work)
        except Exception:
            log.exception("sweep: %s failed", work)
            return None

    def _expire(self, tx: Transaction, drawdown_id: str) -> int:
        now = self._clock.now()
        locked = self.store.lock_drawdown(tx, drawdown_id)
        if locked is None or locked[1].status != "held" or locked[1].expires_at > now:
            return 0  # posted or voided meanwhile
        self.port.release(tx, locked[0], locked[1], "expired", now)
        return 1

    def _thaw(self, tx: Transaction, line_id: str) -> int:
        line = self.store.lock_line(tx, line_id)
        if line is None:
            return 0
        return int(self.port.end_freeze_if_due(tx, line, self._clock.now()) is not line)

    def _close(self, tx: Transaction, line_id: str) -> int:
        line = self.store.lock_line(tx, line_id)
        if line is None:
            return 0
        return int(self.port.close_if_due(tx, line, self._clock.now()) is not line)
