"""Reviews a borrower asks for, and human review of automated decisions (CN-7, EU-1, EU-3).

A review a borrower asks for is decided by the policy first. When they ask for a person
(`human`), or contest (`contest`) an adverse decision the automatic review upheld, a human
review opens with a deadline from the line's jurisdiction profile and the borrower is told.
A borrower may name any decision about the line for a person to review, and give their own
view of it (`review_rules.py`); a person reviews it even when the policy cannot review the
line again (closed, or not in its currency): the automatic review is then `not_reviewed`.
Staff work the queue by deadline (overdue reviews flagged) and decide: uphold (with the reasons
that still hold), reverse (the contested change is undone through the ledger) or modify (a new
limit through the ledger).

Each request and each decision is one command: its review rows, the ledger's decision, the
borrower's notice and the stored response commit together. A request locks the line first, so
concurrent requests open at most one human review; a decision locks the review first, so two
staff deciding at once make exactly one decision and the other is told `review_already_decided`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from creditline.db.commands import CommandResult, Commands
from creditline.db.unit_of_work import Database, Transaction
from creditline.decisions.rate_limits import RateLimit, refuse_over_limit
from creditline.decisions.review_rules import (
    REASON_TEXT_LENGTH_MAX,
    Asked,
    checked_ask,
    checked_codes,
    reasons_of_outcome,
)
from creditline.decisions.review_store import COLUMNS, ReviewStore
from creditline.decisions.service import Applied, DecisionService
from creditline.decisions.tables import reviews
from creditline.decisions.views import (
    line_review_document,
    requested_document,
    review_document,
)
from creditline.kernel.actors import STAFF_ROLES, Actor, Role
from creditline.kernel.clock import Clock
from creditline.kernel.errors import Conflict, DecisionNotFound, DomainError, InvalidInput, NotFound
from creditline.kernel.ids import is_id, new_id
from creditline.kernel.invariant import fail
from creditline.kernel.money import Money
from creditline.kernel.permissions import Permission, require
from creditline.kernel.text import checked_text
from creditline.ledger.ports import (
    Action,
    LimitChange,
    Line,
    LineStatus,
    StoredDecision,
)
from creditline.ledger.service import LedgerService
from creditline.loans.products import REVIEW_DAYS_DEFAULT, Catalogue
from creditline.notices.outbox import Topic

OUTCOMES = ("uphold", "reverse", "modify")
NOT_REVIEWED = "not_reviewed"  # the policy could not review the line; a person will
REVIEWS_LISTED_MAX = 200
# How each contested change is undone when a review reverses it.
_REVERSAL = {
    Action.FREEZE: Action.UNFREEZE,
    Action.SUSPEND: Action.RESTORE,
    Action.DECREASE: Action.INCREASE,
}


class ReviewNotFound(NotFound):
    code = "review_not_found"


class ReviewAlreadyDecided(Conflict):
    code = "review_already_decided"


@dataclass(frozen=True, slots=True)
class Requested:
    """A review asked for: what the policy did, and the human review it opened (if any)."""

    review_id: str
    applied: Applied | None  # None: the policy could not review the line (NOT_REVIEWED)
    line: Line
    human_review: dict[str, Any] | None


class Appeals:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        commands: Commands,
        ledger: LedgerService,
        decisions: DecisionService,
        catalogue: Catalogue,
        *,
        rate_limit: RateLimit,
    ) -> None:
        self._db = db
        self._rate_limit = rate_limit
        self._clock = clock
        self._commands = commands
        self._ledger = ledger
        self._decisions = decisions
        self._catalogue = catalogue
        self._reviews = ReviewStore(db)

    # --- asking for a review ----------------------------------------------------------------
    def request(
        self,
        actor: Actor,
        key: str,
        line_id: str,
        *,
        human: bool = False,
        contest: bool = False,
        reason_text: str | None = None,
        statement: str | None = None,
        decision_id: str | None = None,
    ) -> CommandResult:
        """The automatic review first; then a human review when asked for or contested, of
        `decision_id` (any decision about the line) or of the adverse decision that holds.
        `statement` is the borrower's view for the reviewer (it asks for a person). A
        borrower's requests are limited per window (`rate_limited`), whoever asks."""
        require(actor, Permission.REQUEST_REVIEW)
        asked = checked_ask(human, contest, reason_text, statement, decision_id)
        self._decisions.ready()
        request: dict[str, Any] = {"op": "request_review", "line_id": line_id}
        request |= asked.request_fields()

        def work(tx: Transaction) -> Requested:
            # The line's lock serialises requests about it: one open human review at most.
            line = self._ledger.port.lock(tx, actor, line_id)
            self._refuse_over_limit(tx, line.borrower_id)
            review_id = self._record_request(tx, actor, line)
            applied = self._automatic_review(tx, line, wants_person=asked.person)
            outcome = NOT_REVIEWED if applied is None else applied.outcome
            made = None if applied is None else applied.decision_id
            self._reviews.automatic_done(tx, review_id, outcome, made)
            after = self._ledger.port.lock(tx, actor, line.id)
            human_review = None
            if asked.person:
                human_review = self._human_review(tx, actor, after, asked)
            return Requested(review_id, applied, after, human_review)

        return self._commands.run(actor, key, request, work, requested_document, core=True)

    def _automatic_review(
        self, tx: Transaction, line: Line, *, wants_person: bool
    ) -> Applied | None:
        """The policy's review of the line; None when it cannot review it (closed, or not in
        its currency) and the borrower asked for a person, who reviews it instead."""
        try:
            decided = self._decisions.decide_in(tx, line.id)
        except Conflict:
            if not wants_person:
                raise
            return None
        return self._decisions.apply_in(tx, decided, self._clock.now())

    def _refuse_over_limit(self, tx: Transaction, borrower_id: str) -> None:
        """Every request leaves one automatic review row: those are the requests counted."""
        only = (reviews.c.kind == "automatic",)
        now = self._clock.now()
        refuse_over_limit(tx, self._rate_limit, reviews, borrower_id, now, only)

    def _record_request(self, tx: Transaction, actor: Actor, line: Line) -> str:
        """Recorded before the policy decides: the request counts among the recent ones."""
        review_id = new_id()
        row = self._row(tx, review_id, line, actor, "automatic", "pending")
        row["created_at"] = tx.time(self._clock.now())
        self._reviews.insert(tx, row)
        return review_id

    def _human_review(
        self, tx: Transaction, actor: Actor, line: Line, asked: Asked
    ) -> dict[str, Any] | None:
        contested = self._contested(tx, line, asked.decision_id)
        if contested is None and not asked.human:
            return None  # the automatic review left nothing adverse to contest
        now = self._clock.now()
        open_one = self._reviews.open_of_line(tx, line.id)
        if open_one is not None:
            return review_document(_as_row(open_one), now)
        review_id = new_id()
        due = now + timedelta(days=self._review_days(line.currency))
        row = self._row(tx, review_id, line, actor, "human", "open")
        row |= {"reason_text": asked.reason_text, "statement": asked.statement}
        row |= {"due_at": tx.time(due), "created_at": tx.time(now)}
        row["contested_decision_id"] = None if contested is None else contested.record.id
        self._reviews.insert(tx, row)
        # The borrower's statement stays with the review: a notice never repeats it.
        payload = {"review": review_id, "due_at": due.isoformat(), "reason_text": asked.reason_text}
        self._ledger.port.queue_notice(tx, Topic.REVIEW_OPENED, line.id, review_id, payload)
        found = self._reviews.get(tx, review_id) or fail(f"review {review_id} vanished")
        return review_document(_as_row(found), now)

    def _contested(
        self, tx: Transaction, line: Line, decision_id: str | None
    ) -> StoredDecision | None:
        """The decision named (`decision_not_found` unless it is about this line), else the
        adverse decision that still holds on the line."""
        if decision_id is None:
            return self._standing_adverse(tx, line)
        named = self._ledger.port.decision(tx, line, decision_id)
        if named is None:
            raise DecisionNotFound("no such decision about this line", decision_id=decision_id)
        return named

    def _standing_adverse(self, tx: Transaction, line: Line) -> StoredDecision | None:
        """The adverse decision that still holds on the line, if any."""
        port = self._ledger.port
        if line.status in (LineStatus.FROZEN, LineStatus.SUSPENDED) and line.status_decision_id:
            return port.decision(tx, line, line.status_decision_id)
        latest = port.decisions_of(tx, line, 1)
        return latest[0] if latest and latest[0].record.adverse else None

    # --- staff ------------------------------------------------------------------------------
    def queue(self, actor: Actor, status: str = "open", limit: int = 50) -> dict[str, Any]:
        """Human reviews by deadline, soonest first; overdue ones are flagged (staff)."""
        require(actor, Permission.READ_STAFF_VIEWS)
        if status not in ("open", "decided"):
            raise InvalidInput("status must be open or decided")
        if not 1 <= limit <= REVIEWS_LISTED_MAX:
            raise InvalidInput(f"limit must be 1–{REVIEWS_LISTED_MAX}")
        rows = self._db.read(lambda tx: self._reviews.queue(tx.connection, status, limit))
        now = self._clock.now()
        listed = [review_document(row, now) for row in rows]
        return {"reviews": listed, "overdue": sum(1 for review in listed if review["overdue"])}

    def line_reviews(self, actor: Actor, line_id: str, limit: int = 50) -> dict[str, Any]:
        """The line's reviews, newest first: what was asked, by whom, and how it ended (staff)."""
        require(actor, Permission.READ_STAFF_VIEWS)
        if not 1 <= limit <= REVIEWS_LISTED_MAX:
            raise InvalidInput(f"limit must be 1–{REVIEWS_LISTED_MAX}")
        rows = self._db.read(lambda tx: self._reviews.of_line(tx.connection, line_id, limit))
        now = self._clock.now()
        return {"line_id": line_id, "reviews": [line_review_document(row, now) for row in rows]}

    def open_review_of(self, line_id: str) -> dict[str, Any] | None:
        """The line's open human review, if it has one."""
        found = self._db.read(lambda tx: self._reviews.open_of_line(tx, line_id))
        return None if found is None else review_document(_as_row(found), self._clock.now())

    def get(self, actor: Actor, review_id: str) -> dict[str, Any]:
        """One human review: the borrower's own, or any for staff."""
        require(actor, Permission.READ_LINES)
        found = self._db.read(lambda tx: self._human(tx, review_id, locked=False))
        if found is None or not _may_see(actor, found):
            raise ReviewNotFound("no such review", review_id=review_id)
        return review_document(found, self._clock.now())

    def decide(
        self,
        actor: Actor,
        key: str,
        review_id: str,
        outcome: str,
        reason_codes: list[str],
        note: str | None = None,
        limit: str | None = None,
    ) -> CommandResult:
        """A person's decision on a review; a reversal or a new limit goes through the ledger,
        in the same transaction as the review's outcome and the borrower's notice."""
        require(actor, Permission.DECIDE_REVIEW)
        if outcome not in OUTCOMES:
            raise InvalidInput(f"outcome must be one of {', '.join(OUTCOMES)}")
        if note is not None:
            note = checked_text(note, "note", REASON_TEXT_LENGTH_MAX)
        if (outcome == "modify") != (limit is not None):
            raise InvalidInput("a new `limit` goes with modify, and only with it")
        checked_codes(reason_codes)
        request: dict[str, Any] = {
            "op": "decide_review",
            "review_id": review_id,
            "outcome": outcome,
        }
        request |= {"reason_codes": reason_codes, "note": note, "limit": limit}

        def work(tx: Transaction) -> dict[str, Any]:
            # The review's lock first: of two staff deciding at once, one decides.
            row = self._human(tx, review_id, locked=True)
            if row is None:
                raise ReviewNotFound("no such review", review_id=review_id)
            if row["outcome"] != "open":
                raise ReviewAlreadyDecided("the review was decided already", review_id=review_id)
            line = self._ledger.port.lock(tx, actor, row["line_id"])
            contested = None
            if row["contested_decision_id"] is not None:
                contested = self._ledger.port.decision(tx, line, row["contested_decision_id"])
            codes = reasons_of_outcome(outcome, reason_codes, contested)
            # The change is the reviewer's, made on the review's authority: the record names them.
            reviewer = Actor.human_reviewer(actor)
            decision_id = None
            if outcome == "reverse":
                decision_id = self._reverse(tx, reviewer, line, contested, note)
            elif outcome == "modify" and limit is not None:
                decision_id = self._modify(tx, reviewer, line, limit, codes, note)
            self._record_decision(tx, actor, row, outcome, codes, note, decision_id, contested)
            found = self._reviews.get(tx, review_id) or fail(f"review {review_id} vanished")
            return review_document(_as_row(found), self._clock.now())

        # Core: a new limit reads the borrower's capacity (applications, bureau) for the caps.
        return self._commands.run(actor, key, request, work, lambda document: document, core=True)

    def _record_decision(
        self,
        tx: Transaction,
        actor: Actor,
        row: dict[str, Any],
        outcome: str,
        codes: list[str],
        note: str | None,
        decision_id: str | None,
        contested: StoredDecision | None,
    ) -> None:
        now = self._clock.now()
        until = None
        if outcome == "uphold" and contested is not None and contested.record.until is not None:
            until = contested.record.until.isoformat()  # an upheld freeze still ends on its date
        payload = {
            "review": row["id"],
            "outcome": outcome,
            # An upheld adverse change is stated again in the notice, with its disclosures.
            "contested_action": None if contested is None else contested.record.action.value,
            "note": note,
            "decision": {
                "id": decision_id or (None if contested is None else contested.record.id),
                "action": "review",
                "reason_codes": codes,
                "until": until,
            },
        }
        self._reviews.decided(tx, row["id"], outcome, actor.subject, now, note, decision_id)
        port = self._ledger.port
        port.queue_notice(tx, Topic.REVIEW_DECIDED, row["line_id"], row["id"], payload)

    def _reverse(
        self,
        tx: Transaction,
        reviewer: Actor,
        line: Line,
        contested: StoredDecision | None,
        note: str | None,
    ) -> str:
        if contested is None or contested.record.action not in _REVERSAL:
            raise Conflict("there is no adverse change to reverse on this review")
        action = _REVERSAL[contested.record.action]
        limit_minor = None
        if action is Action.INCREASE:
            limit_minor = contested.record.limit_before_minor
        elif line.status is LineStatus.ACTIVE:
            raise Conflict("the line is active again already; nothing to reverse")
        change = LimitChange(action, ("review_upheld_appeal",), limit_minor, note=note)
        return self._ledger.port.decide(tx, reviewer, line, change)[1].id

    def _modify(
        self,
        tx: Transaction,
        reviewer: Actor,
        line: Line,
        limit: str,
        codes: list[str],
        note: str | None,
    ) -> str:
        new = Money.parse(limit, line.currency).minor
        if new == line.limit_minor:
            raise InvalidInput("the new limit is the limit the line has")
        action = Action.INCREASE if new > line.limit_minor else Action.DECREASE
        if action is Action.DECREASE and not codes:
            raise InvalidInput("reason_codes: a lower limit needs the reasons for it")
        reasons = ("review_upheld_appeal",) if action is Action.INCREASE else tuple(codes)
        change = LimitChange(action, reasons, new, note=note)
        return self._ledger.port.decide(tx, reviewer, line, change)[1].id

    # --- helpers ----------------------------------------------------------------------------
    def _human(self, tx: Transaction, review_id: str, *, locked: bool) -> dict[str, Any] | None:
        if not is_id(review_id):
            return None
        found = self._reviews.get(tx, review_id, locked=locked)
        if found is None:
            return None
        row = _as_row(found)
        return row if row["kind"] == "human" else None

    @staticmethod
    def _row(
        tx: Transaction, review_id: str, line: Line, actor: Actor, kind: str, outcome: str
    ) -> dict[str, Any]:
        row: dict[str, Any] = {column.name: None for column in COLUMNS}
        row |= {"id": review_id, "line_id": line.id, "borrower_id": line.borrower_id}
        row |= {"requested_by": actor.subject, "kind": kind, "outcome": outcome}
        return row

    def _review_days(self, currency: str) -> int:
        try:
            return self._catalogue.profile_for(currency).review_days
        except DomainError:
            return REVIEW_DAYS_DEFAULT


def _may_see(actor: Actor, row: dict[str, Any]) -> bool:
    if actor.role is Role.BORROWER:
        return bool(row["borrower_id"] == actor.subject)
    return actor.role in STAFF_ROLES


def _as_row(values: tuple[Any, ...]) -> dict[str, Any]:
    return {column.name: value for column, value in zip(COLUMNS, values, strict=True)}
