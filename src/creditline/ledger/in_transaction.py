"""`LedgerPort`: the ledger's moves inside another capability's transaction (a hold posted as
a loan, repaid principal restored, a review's limit changes). Published by `ledger.ports`."""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime
from typing import Any

from creditline.db.unit_of_work import Transaction
from creditline.kernel.actors import STAFF_ROLES, Actor, Role
from creditline.kernel.canonical import CanonicalObject, as_canonical
from creditline.kernel.clock import Clock
from creditline.kernel.errors import (
    DrawdownNotFound,
    DrawdownNotHeld,
    LineClosed,
    LineFrozen,
    LineNotFound,
    LineSuspended,
)
from creditline.kernel.ids import new_id
from creditline.kernel.invariant import fail
from creditline.kernel.money import format_minor
from creditline.kernel.reasons import reason_texts
from creditline.ledger import model
from creditline.ledger.bounds import LimitBounds
from creditline.ledger.journal import GENESIS_HASH
from creditline.ledger.limit_rules import (
    BorrowerRequest,
    RequestStatus,
    require_matching_request,
)
from creditline.ledger.model import (
    Action,
    LimitChange,
    Line,
    LineStatus,
    Movement,
)
from creditline.ledger.needs import (
    ConsumerReports,
    Limits,
    ReportOnFile,
    Terms,
    Underwriting,
)
from creditline.ledger.profile_rules import CLOSE_SCHEDULED, with_profile_rules
from creditline.ledger.records import DecisionRecord, Drawdown, StoredDecision
from creditline.ledger.store import LedgerStore
from creditline.ledger.views import (
    decision_document,
    line_document,
    request_document,
)
from creditline.notices.outbox import Outbox, Topic

SYSTEM_ACTOR = Actor("creditline", Role.SERVICE)


def may_see(actor: Actor, line: Line) -> bool:
    """A borrower sees their own lines; staff see every line."""
    if actor.role is Role.BORROWER:
        return line.borrower_id == actor.subject
    return actor.role in STAFF_ROLES


class LedgerPort:
    """The ledger's moves inside a caller's transaction: each method takes the transaction."""

    def __init__(
        self,
        store: LedgerStore,
        clock: Clock,
        outbox: Outbox,
        limits: Limits,
        terms: Terms,
        underwriting: Underwriting,
        reports: ConsumerReports,
    ) -> None:
        self._store = store
        self._clock = clock
        self._outbox = outbox
        self._limits = limits
        self._terms = terms
        self._underwriting = underwriting
        self._reports = reports
        self._bounds = LimitBounds(store, clock, limits, underwriting)

    def lock(self, tx: Transaction, actor: Actor, line_id: str) -> Line:
        """the line, locked, if `actor` may see it (else `line_not_found`)."""
        line = self._store.lock_line(tx, line_id)
        if line is None or not may_see(actor, line):
            raise LineNotFound("no such line", line_id=line_id)
        return line

    def lock_many(self, tx: Transaction, actor: Actor, line_ids: list[str]) -> dict[str, Line]:
        """The lines of `line_ids` that `actor` may see, by id, locked in one statement in id
        order (a batch of decisions about them; `lock` for each, at once)."""
        locked = self._store.lock_lines(tx, line_ids)
        return {line.id: line for line in locked if may_see(actor, line)}

    def reports_on_file(
        self, tx: Transaction, borrower_ids: list[str]
    ) -> dict[str, ReportOnFile | None]:
        """The consumer report on file of each of `borrower_ids` (None: none), in one read, for
        `decide`'s `reports`."""
        return self._reports.on_file_many(tx, borrower_ids)

    def queue_notice(
        self, tx: Transaction, topic: Topic, line_id: str, ref_id: str, payload: dict[str, Any]
    ) -> str:
        """Queue a message about a line in another capability's transaction (a review opened,
        a verification refused), so the change and its message commit together."""
        line = self._store.read_line(tx, line_id) or fail(f"line {line_id} vanished")
        return self.notify(tx, topic, line, ref_id, payload, self._clock.now())

    def decision(self, tx: Transaction, line: Line, decision_id: str) -> StoredDecision | None:
        """A recorded decision about `line`, if `decision_id` is one."""
        found = self._store.decisions.get(tx, decision_id, line.currency)
        return found if found is not None and found.record.line_id == line.id else None

    def evidence_of(
        self, tx: Transaction, decision_ids: Collection[str]
    ) -> dict[str, dict[str, Any] | None]:
        """What the decisions `decision_ids` kept as evidence, by id, in one read (the
        notices of a batch are composed from it)."""
        return self._store.decisions.evidence_of(tx, decision_ids)

    def decisions_of(self, tx: Transaction, line: Line, limit: int) -> list[StoredDecision]:
        """The line's decisions, newest first, at most `limit`."""
        return self._store.decisions.of_line(tx, line.id, line.currency, limit)

    def lines_of_borrower(self, tx: Transaction, borrower_id: str, limit: int) -> list[Line]:
        """The borrower's lines, oldest first, at most `limit` (unlocked)."""
        return self._store.lines_of_borrower(tx, borrower_id, limit)

    def visible(self, tx: Transaction, actor: Actor, line_id: str) -> Line | None:
        """The line, unlocked, if it exists and `actor` may see it."""
        line = self._store.read_line(tx, line_id)
        return line if line is not None and may_see(actor, line) else None

    def lock_held_drawdown(
        self, tx: Transaction, actor: Actor, drawdown_id: str
    ) -> tuple[Line, Drawdown]:
        """a held drawdown and its line, both locked."""
        locked = self._store.lock_drawdown(tx, drawdown_id)
        if locked is None or not may_see(actor, locked[0]):
            raise DrawdownNotFound("no such drawdown", drawdown_id=drawdown_id)
        line, drawdown = locked
        if drawdown.status != "held":
            raise DrawdownNotHeld(
                f"the drawdown is already {drawdown.status}", status=drawdown.status
            )
        return line, drawdown

    def post_hold(
        self,
        tx: Transaction,
        line: Line,
        drawdown: Drawdown,
        post_minor: int,
        loan_id: str,
        now: datetime,
    ) -> Line:
        """lend `post_minor` of a held drawdown as loan `loan_id`; release the rest."""
        line = self.close_if_due(tx, self.end_freeze_if_due(tx, line, now), now)
        with self.explaining_refusals(tx, line):
            movement = model.plan_post(line, drawdown.amount_minor, post_minor)
        self._store.resolve_drawdown(tx, drawdown.id, "posted", now, post_minor, loan_id)
        return self.move(tx, line, movement, now, drawdown_id=drawdown.id, loan_id=loan_id)

    def restore(
        self, tx: Transaction, line: Line, principal_minor: int, loan_id: str, now: datetime
    ) -> Line:
        """repaid principal of `loan_id` is available on the line again."""
        return self.move(tx, line, model.plan_repayment(principal_minor), now, loan_id=loan_id)

    def record_refund(self, tx: Transaction, line: Line, loan_id: str, now: datetime) -> Line:
        """journal that `loan_id` paid its credit balance back to the borrower."""
        return self.move(tx, line, model.plan_refund(), now, loan_id=loan_id)

    def release(
        self, tx: Transaction, line: Line, drawdown: Drawdown, status: str, now: datetime
    ) -> Line:
        """give a hold's credit back (voided or expired)."""
        self._store.resolve_drawdown(tx, drawdown.id, status, now)
        movement = model.plan_release(drawdown.amount_minor)
        after = self.move(tx, line, movement, now, drawdown_id=drawdown.id)
        released = format_minor(drawdown.amount_minor, line.currency)
        payload = {"drawdown": drawdown.id, "released": released}
        topic = Topic.HOLD_VOIDED if status == "voided" else Topic.HOLD_EXPIRED
        self.notify(tx, topic, after, drawdown.id, payload, now)
        return after

    def decide(
        self,
        tx: Transaction,
        actor: Actor,
        line: Line,
        change: LimitChange,
        evidence: Mapping[str, Any] | CanonicalObject | None = None,
        request: BorrowerRequest | None = None,
        reports: Mapping[str, ReportOnFile | None] | None = None,
    ) -> tuple[Line, DecisionRecord]:
        """record a decision about a locked line, apply it, journal it and queue its
        notice. `evidence` is what an automated decision saw, kept with the record; an adverse
        decision also keeps the borrower's consumer report on file, which its notice discloses
        (US-4). A borrower's code needs the borrower's open `request` (locked) asking for
        exactly this change; the request is done with the decision, whose notice names it.
        The line's profile may refuse a block for an unjustified reason, and schedule a
        lender's close for later (EU-2). `reports`: the reports on file read already for a
        batch's borrowers (`reports_on_file`); a borrower not among them is read now."""
        now = self._clock.now()
        limit_min = self._limits.limit_min_minor(line.currency)
        movement = model.plan_limit_change(line, change, now, limit_min)
        rules = self._terms.profile_rules(line.currency)
        movement = with_profile_rules(line, change, movement, now, rules)
        codes, action = change.reason_codes, change.action.value
        require_matching_request(line.id, action, codes, change.limit_minor, request)
        caps = self._bounds.check(tx, actor, line, change)
        kept = None if evidence is None else as_canonical(evidence)  # each member encoded once
        if caps is not None:
            kept = as_canonical(kept).with_member("limit_caps", caps)
        decision_id = new_id()
        after = self.move(tx, line, movement, now, decision_id=decision_id)
        record = DecisionRecord(
            id=decision_id,
            line_id=line.id,
            currency=line.currency,
            action=change.action,
            adverse=change.adverse,
            limit_before_minor=line.limit_minor,
            limit_after_minor=after.limit_minor,
            status_before=line.status,
            status_after=after.status,
            until=change.until,
            reason_codes=tuple(change.reason_codes),
            actor_scope=actor.scope,
            policy_version=change.policy_version,
            note=change.note,
            at=now,
            effective_at=movement.closing_at if movement.kind == CLOSE_SCHEDULED else None,
        )
        if change.adverse:
            kept = self._with_report(tx, line.borrower_id, kept, reports)
        self._store.decisions.insert(tx, record, actor, kept)
        payload = {"decision": decision_document(record), "line": line_document(after)}
        if request is not None:
            self._store.requests.mark_done(tx, request.id, decision_id, now)
            done = replace(request, status=RequestStatus.DONE, decision_id=decision_id, done_at=now)
            payload["request"] = request_document(done, line.currency)
        topic = Topic.ADVERSE_CHANGE if change.adverse else Topic.LINE_IMPROVED
        self.notify(tx, topic, after, decision_id, payload, now)
        return after, record

    def lock_borrower(self, tx: Transaction, borrower_id: str) -> None:
        """Hold the borrower's lock for the transaction: openings (by application or by staff)
        for one borrower run one after the other, so each counts the lines the others opened."""
        tx.lock_key(f"borrower-lines:{borrower_id}")

    def require_line_room(
        self, tx: Transaction, borrower_id: str, currency: str, *, reason: str | None = None
    ) -> None:
        """Refuse (`line_cap_reached`) a new line beyond the profile's number of open lines
        in `currency`, unless staff record a `reason` (`LimitBounds.require_line_room`)."""
        self._bounds.require_line_room(tx, borrower_id, currency, reason=reason)

    def _with_report(
        self,
        tx: Transaction,
        borrower_id: str,
        evidence: CanonicalObject | None,
        reports: Mapping[str, ReportOnFile | None] | None,
    ) -> CanonicalObject | None:
        """`evidence` with the borrower's consumer report on file, when there is one. An
        automated decision's features came from that report; a person deciding could see it,
        so their decision is taken to have used it too (the notice errs towards disclosure)."""
        if reports is not None and borrower_id in reports:
            report = reports[borrower_id]
        else:
            report = self._reports.on_file(tx, borrower_id)
        if report is None:
            return evidence
        return as_canonical(evidence).with_member("consumer_report", report.document())

    def end_freeze_if_due(self, tx: Transaction, line: Line, now: datetime) -> Line:
        """a freeze whose end has passed is lifted, with its own decision, first."""
        if line.status is not LineStatus.FROZEN or line.frozen_until is None:
            return line
        if line.frozen_until > now:
            return line
        ending = LimitChange(Action.UNFREEZE, ("freeze_ended",), note="freeze reached its end")
        return self.decide(tx, SYSTEM_ACTOR, line, ending)[0]

    def close_if_due(self, tx: Transaction, line: Line, now: datetime) -> Line:
        """a scheduled close whose date has come takes effect, with its own decision naming
        the reasons of the decision that scheduled it."""
        if line.closing_at is None or line.closing_at > now:
            return line
        scheduled = self._store.decisions.scheduled_close(tx, line.id, line.currency)
        if scheduled is None:
            fail(f"line {line.id} closes on a date no decision set")
        note = f"the close decided on {scheduled.record.at.date().isoformat()} takes effect"
        closing = LimitChange(Action.CLOSE, scheduled.record.reason_codes, note=note)
        return self.decide(tx, SYSTEM_ACTOR, line, closing)[0]

    @contextmanager
    def explaining_refusals(self, tx: Transaction, line: Line) -> Iterator[None]:
        """A frozen, suspended or closed line says why: the reasons of the decision behind it."""
        try:
            yield
        except (LineFrozen, LineSuspended, LineClosed) as refusal:
            if line.status_decision_id is not None:
                codes = self._store.decisions.reasons(tx, line.status_decision_id)
                refusal.details["reasons"] = reason_texts(codes)
                if codes:
                    refusal.message += "; reasons: " + ", ".join(codes)
                    refusal.args = (refusal.message,)
            raise

    def notify(
        self,
        tx: Transaction,
        topic: Topic,
        line: Line,
        ref_id: str,
        payload: dict[str, Any],
        now: datetime,
    ) -> str:
        """queue a message about `ref_id` on the line's outbox."""
        return self._outbox.queue(
            tx,
            topic,
            line_id=line.id,
            borrower_id=line.borrower_id,
            ref_id=ref_id,
            payload=payload,
            now=now,
        )

    def move(
        self,
        tx: Transaction,
        line: Line,
        movement: Movement,
        now: datetime,
        *,
        drawdown_id: str | None = None,
        loan_id: str | None = None,
        decision_id: str | None = None,
    ) -> Line:
        """Apply a movement to a locked line and append its journal entry."""
        after = model.apply(line, movement, decision_id)
        entry = model.journal_entry(
            after,
            movement,
            line.head_hash,
            now,
            drawdown_id=drawdown_id,
            loan_id=loan_id,
            decision_id=decision_id,
        )
        self._store.move_line(tx, line, after, movement, entry)
        return model.with_head(after, entry.hash)

    def open(
        self,
        tx: Transaction,
        actor: Actor,
        borrower_id: str,
        currency: str,
        grant: LimitChange,
        evidence: dict[str, Any] | None = None,
    ) -> tuple[Line, DecisionRecord]:
        """Open an active line at 0 and grant its first limit by `grant` (an increase) in this
        same transaction, so no zero line is ever seen and every limit has its decision: who
        granted it (underwriting for an approved application, the staff member who opened
        it), the reasons, `evidence`, and the bounds and caps `decide` applied."""
        if grant.action is not Action.INCREASE:
            fail(f"a line opens with an increase, not a {grant.action.value}")
        now = self._clock.now()
        blank = Line(
            new_id(),
            borrower_id,
            currency,
            0,
            0,
            0,
            LineStatus.ACTIVE,
            None,
            None,
            0,
            GENESIS_HASH,
        )
        movement = Movement("open", status=LineStatus.ACTIVE)
        line = model.apply(blank, movement)
        entry = model.journal_entry(line, movement, GENESIS_HASH, now)
        line = model.with_head(line, entry.hash)
        self._store.insert_line(tx, line, now)
        self._store.append_journal(tx, entry)
        self.notify(tx, Topic.LINE_OPENED, line, line.id, {"line": line_document(line)}, now)
        return self.decide(tx, actor, line, grant, evidence)
