"""Ledger use cases. Each public method is one transaction run by `Database.run`.

Every mutating command carries an idempotency key. Inside the command's transaction the key is
looked up first: a replay with the same request returns the stored response, the same key with
a different request is `idempotency_key_reused`. Otherwise the command runs and its response is
stored under the key in the same transaction, so the effect and the key commit together.
A rejected command stores nothing: it changed nothing, and a retry is judged afresh.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import select

from creditline.db.unit_of_work import Database, Transaction
from creditline.kernel.actors import STAFF_ROLES, SYSTEM, Actor, Role
from creditline.kernel.clock import Clock, utc
from creditline.kernel.errors import (
    DomainError,
    DrawdownExpired,
    DrawdownNotFound,
    DrawdownNotHeld,
    Forbidden,
    IdempotencyKeyReused,
    InvalidInput,
    LineClosed,
    LineFrozen,
    LineNotFound,
    LineSuspended,
    LoanNotFound,
    LoanSettled,
)
from creditline.kernel.ids import is_id, new_id
from creditline.kernel.invariant import invariant
from creditline.kernel.money import Money, format_minor
from creditline.kernel.reasons import NEXT_STEP_TEXTS, REASON_CATALOGUE
from creditline.kernel.text import checked_text
from creditline.ledger import model
from creditline.ledger.model import (
    GENESIS_HASH,
    Action,
    LimitChange,
    Line,
    LineStatus,
    Movement,
)
from creditline.ledger.store import DrawdownRow, LedgerStore
from creditline.ledger.tables import drawdowns, journal, lines
from creditline.ledger.views import iso, line_document, money_of
from creditline.loans.model import LoanState, allocate, bucket, business_date, new_loan
from creditline.loans.products import Catalogue
from creditline.loans.quote import product_quote
from creditline.loans.store import LoanStore
from creditline.loans.views import loan_document, loan_summary

log = logging.getLogger(__name__)

IDEMPOTENCY_KEY_LENGTH_MAX = 255
BORROWER_ID_LENGTH_MAX = 64
JOURNAL_PAGE_SIZE_MAX = 500
LINES_PER_BORROWER_LISTED_MAX = 100
JOURNAL_SEQ_MAX = 2**31 - 1  # journal.seq is a 32-bit column
SWEEP_BATCH_SIZE_MAX = 500
LOANS_PER_LINE_LISTED_MAX = 200

_OPERATORS = frozenset({Role.AGENT, Role.ADMIN, Role.SERVICE})
# Who may draw, void and repay: the borrower (own lines only) or an operator on their behalf.
_MOVERS = _OPERATORS | {Role.BORROWER}
# Who may take each limit action. Changing the limit itself needs an approver or a service.
_DECIDERS: dict[Action, frozenset[Role]] = {
    Action.INCREASE: frozenset({Role.APPROVER, Role.ADMIN, Role.SERVICE}),
    Action.DECREASE: frozenset({Role.APPROVER, Role.ADMIN, Role.SERVICE}),
    Action.CLOSE: frozenset({Role.APPROVER, Role.ADMIN, Role.SERVICE}),
    Action.FREEZE: frozenset({Role.AGENT, Role.APPROVER, Role.ADMIN, Role.SERVICE}),
    Action.UNFREEZE: frozenset({Role.AGENT, Role.APPROVER, Role.ADMIN, Role.SERVICE}),
    Action.SUSPEND: frozenset({Role.AGENT, Role.APPROVER, Role.ADMIN, Role.SERVICE}),
    Action.RESTORE: frozenset({Role.AGENT, Role.APPROVER, Role.ADMIN, Role.SERVICE}),
}


@dataclass(frozen=True, slots=True)
class CommandResult:
    """A command's response document; `replayed` when it was stored by an earlier request."""

    document: dict[str, Any]
    replayed: bool = False


class _Replay(Exception):
    """Rolls a command back and answers with an earlier response to the same key."""

    def __init__(self, result: CommandResult) -> None:
        super().__init__("replay")
        self.result = result


def reason_texts(codes: Iterable[str]) -> list[dict[str, str]]:
    """Each catalogue code with what a borrower reads, in English and Chinese."""
    return [
        {"code": c, "en": REASON_CATALOGUE[c].text_en, "zh-CN": REASON_CATALOGUE[c].text_zh}
        for c in codes
        if c in REASON_CATALOGUE
    ]


def request_hash(request: dict[str, Any]) -> str:
    """The fingerprint stored with an idempotency key: SHA-256 of the canonical request."""
    return hashlib.sha256(json.dumps(request, sort_keys=True).encode()).hexdigest()


class LedgerService:
    def __init__(
        self, db: Database, clock: Clock, hold_ttl: timedelta, catalogue: Catalogue
    ) -> None:
        self._db = db
        self._clock = clock
        self._hold_ttl = hold_ttl
        self._catalogue = catalogue
        self._store = LedgerStore(db)
        self._loans = LoanStore(db)
        self._listeners: list[Callable[[str, str, str], None]] = []

    def subscribe(self, listener: Callable[[str, str, str], None]) -> None:
        """Call `listener(event, line_id, loan_id)` after a drawdown posts or a loan settles,
        once the change has committed (`drawdown_posted`, `loan_settled`). A listener that
        fails is logged: the borrower's command has already succeeded (and the change's outbox
        message lets the dispatcher do the listener's work later)."""
        self._listeners.append(listener)

    def _announce(self, event: str, line_id: str, loan_id: str) -> None:
        for listener in self._listeners:
            try:
                listener(event, line_id, loan_id)
            except Exception:
                log.exception("ledger listener failed on %s for line %s", event, line_id)

    # --- commands ------------------------------------------------------------------------
    def open_line(
        self, actor: Actor, key: str, borrower_id: str, currency: str, limit: str
    ) -> CommandResult:
        """Open an active line for a borrower with `limit` (a decimal string) in `currency`."""
        _require_role(actor, _OPERATORS, "open lines")
        checked_text(borrower_id, "borrower_id", BORROWER_ID_LENGTH_MAX)
        limit_minor = Money.parse(limit, currency).minor
        request = {
            "op": "open_line",
            "borrower_id": borrower_id,
            "currency": currency,
            "limit": limit,
        }

        def work(tx: Transaction) -> dict[str, Any]:
            now = self._clock.now()
            movement = model.plan_open(limit_minor)
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
            line = model.apply(blank, movement)
            entry = model.journal_entry(line, movement, GENESIS_HASH, now)
            self._store.insert_line(tx, model.with_head(line, entry.hash), now)
            self._store.append_journal(tx, entry)
            self._notify(tx, "event.line_opened", line, line.id, {"line": line_document(line)}, now)
            return line_document(line)

        return self._command(actor, key, request, work)

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
        _require_role(actor, _MOVERS, "draw on a line")
        if type(term_months) is not int:
            raise InvalidInput("term_months must be a whole number")
        request = {
            "op": "hold",
            "line_id": line_id,
            "amount": amount,
            "term_months": term_months,
            "product": product,
            "method": method,
        }

        def work(tx: Transaction) -> dict[str, Any]:
            line = self._locked_line(tx, actor, line_id)
            now = self._clock.now()  # after the lock: the wait for it is part of the past
            line = self._end_freeze_if_due(tx, line, now)
            amount_minor = Money.parse(amount, line.currency).minor
            with self._explaining_refusals(tx, line):
                movement = model.plan_hold(line, amount_minor, term_months)
            priced = self._catalogue.choose(product, line.currency)
            schedule, quoted = product_quote(
                priced,
                Money(amount_minor, line.currency),
                term_months,
                method,
                priced.profile.business_date(now),
            )
            drawdown_id = new_id()
            expires_at = now + self._hold_ttl
            self._store.insert_drawdown(
                tx,
                drawdown_id,
                line.id,
                amount_minor,
                term_months,
                expires_at,
                now,
                priced.code,
                schedule.method.value,
            )
            after = self._move(tx, line, movement, now, drawdown_id=drawdown_id)
            document = {
                "id": drawdown_id,
                "line_id": line.id,
                "status": "held",
                "amount": format_minor(amount_minor, line.currency),
                "currency": line.currency,
                "term_months": term_months,
                "expires_at": iso(expires_at),
                "quote": quoted,
                "line": line_document(after),
            }
            self._notify(
                tx, "event.hold_placed", after, drawdown_id, {"drawdown": drawdown_id}, now
            )
            return document

        return self._command(actor, key, request, work)

    def post_drawdown(
        self, actor: Actor, key: str, drawdown_id: str, amount: str | None = None
    ) -> CommandResult:
        """Turn a held drawdown into a loan of `amount` (default: all of it); release the rest."""
        _require_role(actor, _MOVERS, "post a drawdown")
        request = {"op": "post", "drawdown_id": drawdown_id, "amount": amount}

        def work(tx: Transaction) -> dict[str, Any]:
            line, drawdown = self._locked_drawdown(tx, actor, drawdown_id)
            now = self._clock.now()
            if drawdown.expires_at <= now:
                raise DrawdownExpired(
                    "the hold expired; its credit is being released",
                    expired_at=iso(drawdown.expires_at),
                )
            line = self._end_freeze_if_due(tx, line, now)
            post_minor = (
                drawdown.amount_minor
                if amount is None
                else Money.parse(amount, line.currency).minor
            )
            with self._explaining_refusals(tx, line):
                movement = model.plan_post(line, drawdown.amount_minor, post_minor)
            loan_id = new_id()
            loan, quoted = self._price_loan(loan_id, line, drawdown, post_minor)
            self._store.resolve_drawdown(tx, drawdown.id, "posted", now, post_minor, loan_id)
            self._loans.insert(
                tx,
                loan,
                line_id=line.id,
                drawdown_id=drawdown.id,
                apr_percent=quoted["apr_percent"],
                upfront_fee_minor=Money.parse(quoted["upfront_fee"], line.currency).minor,
                opened_at=now,
            )
            after = self._move(tx, line, movement, now, drawdown_id=drawdown.id, loan_id=loan_id)
            self._notify(
                tx,
                "event.loan_opened",
                after,
                loan_id,
                {
                    "loan": loan_id,
                    "principal": format_minor(post_minor, line.currency),
                },
                now,
            )
            return {
                "id": drawdown.id,
                "status": "posted",
                "loan_id": loan_id,
                "amount": format_minor(post_minor, line.currency),
                "released": format_minor(drawdown.amount_minor - post_minor, line.currency),
                # The borrower receives the principal less the upfront fee.
                "disbursed": format_minor(
                    post_minor - Money.parse(quoted["upfront_fee"], line.currency).minor,
                    line.currency,
                ),
                "loan": quoted,
                "line": line_document(after),
            }

        result = self._command(actor, key, request, work)
        if not result.replayed:
            document = result.document
            self._announce("drawdown_posted", document["line"]["id"], document["loan_id"])
        return result

    def void_drawdown(self, actor: Actor, key: str, drawdown_id: str) -> CommandResult:
        """Release a held drawdown's credit without lending."""
        _require_role(actor, _MOVERS, "void a drawdown")
        request = {"op": "void", "drawdown_id": drawdown_id}

        def work(tx: Transaction) -> dict[str, Any]:
            # An expired hold the sweeper has not reached yet can still be voided.
            line, drawdown = self._locked_drawdown(tx, actor, drawdown_id)
            now = self._clock.now()
            after = self._release(tx, line, drawdown, "voided", now)
            return {"id": drawdown.id, "status": "voided", "line": line_document(after)}

        return self._command(actor, key, request, work)

    def repay(self, actor: Actor, key: str, loan_id: str, amount: str) -> CommandResult:
        """Apply a repayment through the loan's waterfall; repaid principal is available again
        in the same transaction. Money beyond what the loan can take is a credit balance."""
        _require_role(actor, _MOVERS, "record a repayment")
        request = {"op": "repay", "loan_id": loan_id, "amount": amount}

        def work(tx: Transaction) -> dict[str, Any]:
            locked = self._store.lock_loan(tx, loan_id)
            if locked is None or not _may_see(actor, locked[0]):
                raise LoanNotFound("no such loan", loan_id=loan_id)
            line, row = locked
            now = self._clock.now()
            if row.status == "settled":
                raise LoanSettled("the loan is already settled", loan_id=loan_id)
            amount_minor = Money.parse(amount, line.currency).minor
            before = self._loans.load(tx, row.id)
            invariant(before is not None, f"loan {row.id} has no state")
            assert before is not None  # for the type checker
            today = business_date(before.terms, now)
            after, split = allocate(before, amount_minor, today)
            repayment_id = new_id()
            self._loans.save(tx, before, after, now)
            self._loans.insert_repayment(
                tx, repayment_id, after, line.id, amount_minor, split, today, now
            )
            moved = self._move(
                tx, line, model.plan_repayment(split.principal_minor), now, loan_id=row.id
            )
            money = money_of(line.currency)
            payload = {
                "loan": row.id,
                "repaid": money(amount_minor),
                # The principal this payment gave back to the line (what a notice announces).
                "released": money(split.principal_minor),
                "available": money(moved.available_minor),
                "line": line_document(moved),
            }
            topic = "notice.loan_settled" if split.settled else "event.repayment_received"
            self._notify(tx, topic, moved, row.id, payload, now)
            if split.credit_minor:
                self._notify(
                    tx,
                    "notice.refund_due",
                    moved,
                    repayment_id,
                    {
                        "loan": row.id,
                        "refund": money(split.credit_minor),
                        "line": line_document(moved),
                    },
                    now,
                )
            return {
                "id": repayment_id,
                "loan_id": row.id,
                "amount": money(amount_minor),
                "business_date": today.isoformat(),
                "allocation": {
                    "penalty": money(split.penalty_minor),
                    "fees": money(split.fees_minor),
                    "interest": money(split.interest_minor),
                    "principal": money(split.principal_minor),
                    "prepaid_principal": money(split.prepaid_minor),
                    "reapplied": money(split.reapplied_minor),
                    "credit": money(split.credit_minor),
                },
                "loan_status": "settled" if split.settled else "open",
                "principal_outstanding": money(after.principal_outstanding_minor),
                "credit_balance": money(after.credit_minor),
                "line": line_document(moved),
            }

        result = self._command(actor, key, request, work)
        if not result.replayed and result.document["loan_status"] == "settled":
            document = result.document
            self._announce("loan_settled", document["line"]["id"], document["loan_id"])
        return result

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
    ) -> CommandResult:
        """Record a decision about a line and apply it: the only way a limit or status changes.

        `limit` (a decimal string in the line's currency) goes with increase and decrease,
        `until` with freeze. A decrease below what the borrower uses is refused, never clamped.
        `evidence` is what an automated decision saw (score, grade, trace, features), kept
        with the decision record.
        """
        try:
            parsed_action = Action(action)
        except ValueError:
            raise InvalidInput(
                f"unknown action {action!r}", actions=[a.value for a in Action]
            ) from None
        if actor.role not in _DECIDERS[parsed_action]:
            raise Forbidden(f"role {actor.role.value} may not {parsed_action.value} a line")
        if not isinstance(reason_codes, list) or not all(isinstance(c, str) for c in reason_codes):
            raise InvalidInput("reason_codes must be a list of codes")
        if until is not None:
            if until.tzinfo is None:
                raise InvalidInput("`until` needs a time zone", field="until")
            try:
                until = utc(until)  # stored, echoed and announced in UTC
            except (OverflowError, ValueError):
                raise InvalidInput("`until` is out of range", field="until") from None
        request = {
            "op": "limit_change",
            "line_id": line_id,
            "action": action,
            "limit": limit,
            "reason_codes": reason_codes,
            "until": iso(until),
            "note": note,
            "policy_version": policy_version,
            "evidence": evidence,
        }

        def work(tx: Transaction) -> dict[str, Any]:
            line = self._locked_line(tx, actor, line_id)
            now = self._clock.now()
            change = LimitChange(
                action=parsed_action,
                reason_codes=tuple(reason_codes),
                limit_minor=None if limit is None else Money.parse(limit, line.currency).minor,
                until=until,
                note=note,
                policy_version=policy_version,
            )
            after, decision = self._decide(tx, line, change, actor, now, evidence)
            return {"decision": decision, "line": line_document(after)}

        return self._command(actor, key, request, work)

    # --- queries -------------------------------------------------------------------------
    def get_line(self, actor: Actor, line_id: str) -> dict[str, Any]:
        """The line's balances and status; a borrower sees only their own lines."""
        return line_document(self._db.read(lambda tx: self._visible_line(tx, actor, line_id)))

    def quote(
        self,
        actor: Actor,
        line_id: str,
        amount: str,
        term_months: int,
        method: str | None = None,
        product: str | None = None,
    ) -> dict[str, Any]:
        """What a drawdown on the line would cost: schedule, totals and APR. Changes nothing."""
        if type(term_months) is not int:
            raise InvalidInput("term_months must be a whole number")
        line = self._db.read(lambda tx: self._visible_line(tx, actor, line_id))
        priced = self._catalogue.choose(product, line.currency)
        principal = Money.parse(amount, line.currency)
        now = self._clock.now()
        _, quoted = product_quote(
            priced, principal, term_months, method, priced.profile.business_date(now)
        )
        quoted["line_id"] = line.id
        quoted["available"] = format_minor(line.available_minor, line.currency)
        quoted["within_available"] = principal.minor <= line.available_minor
        return quoted

    def get_loan(self, actor: Actor, loan_id: str) -> dict[str, Any]:
        """The loan's schedule with each instalment's state, its arrears and today's payoff."""

        def read(tx: Transaction) -> dict[str, Any]:
            line, loan = self._visible_loan(tx, actor, loan_id)
            return loan_document(loan, line.id, self._loans.facts(tx, loan.id), self._clock.now())

        return self._db.read(read)

    def line_loans(self, actor: Actor, line_id: str) -> dict[str, Any]:
        """The line's loans, newest first, each with its state and arrears, and the line's days
        past due (its latest loan's)."""

        def read(tx: Transaction) -> dict[str, Any]:
            line = self._visible_line(tx, actor, line_id)
            now = self._clock.now()
            listed = []
            for loan_id in self._loans.ids_of_line(tx, line.id, LOANS_PER_LINE_LISTED_MAX):
                loan = self._loans.load(tx, loan_id)
                invariant(loan is not None, f"loan {loan_id} has no state")
                assert loan is not None  # for the type checker
                listed.append(loan_summary(loan, line.id, self._loans.facts(tx, loan_id), now))
            # The line is as late as its latest loan.
            dpd = max((loan["dpd"] for loan in listed), default=0)
            return {"line_id": line.id, "dpd": dpd, "bucket": bucket(dpd), "loans": listed}

        return self._db.read(read)

    def list_lines(self, actor: Actor, borrower_id: str | None = None) -> dict[str, Any]:
        """A borrower's lines, oldest first: a borrower lists their own, staff name the borrower."""
        if actor.role is Role.BORROWER:
            if borrower_id not in (None, actor.subject):
                return {"lines": []}  # another borrower's lines: as if there were none
            borrower_id = actor.subject
        elif borrower_id is None:
            raise InvalidInput("staff must name the borrower_id whose lines to list")
        checked_text(borrower_id, "borrower_id", BORROWER_ID_LENGTH_MAX)

        found = self._db.read(
            lambda tx: self._store.lines_of_borrower(tx, borrower_id, LINES_PER_BORROWER_LISTED_MAX)
        )
        return {"lines": [line_document(line) for line in found]}

    def journal(
        self, actor: Actor, line_id: str, after_seq: int = 0, limit: int = 100
    ) -> dict[str, Any]:
        """A page of the line's journal in order, each entry with its hash."""
        if not 1 <= limit <= JOURNAL_PAGE_SIZE_MAX or not 0 <= after_seq <= JOURNAL_SEQ_MAX:
            raise InvalidInput(
                f"limit must be 1–{JOURNAL_PAGE_SIZE_MAX}, after_seq 0–{JOURNAL_SEQ_MAX}"
            )

        def read(tx: Transaction) -> dict[str, Any]:
            line = self._visible_line(tx, actor, line_id)
            rows = (
                tx.connection.execute(
                    select(journal)
                    .where(journal.c.line_id == line.id, journal.c.seq > after_seq)
                    .order_by(journal.c.seq)
                    .limit(limit)
                )
                .mappings()
                .all()
            )
            money = money_of(line.currency)
            entries = [
                {
                    "seq": r["seq"],
                    "kind": r["kind"],
                    "at": iso(r["created_at"]),
                    "limit_delta": money(r["limit_delta_minor"]),
                    "principal_delta": money(r["principal_delta_minor"]),
                    "held_delta": money(r["held_delta_minor"]),
                    "limit_after": money(r["limit_after_minor"]),
                    "principal_after": money(r["principal_after_minor"]),
                    "held_after": money(r["held_after_minor"]),
                    "available_after": money(
                        r["limit_after_minor"] - r["principal_after_minor"] - r["held_after_minor"]
                    ),
                    "status_after": r["status_after"],
                    "drawdown_id": r["drawdown_id"],
                    "loan_id": r["loan_id"],
                    "decision_id": r["decision_id"],
                    "prev_hash": r["prev_hash"],
                    "hash": r["hash"],
                }
                for r in rows
            ]
            next_after = entries[-1]["seq"] if len(entries) == limit else None
            return {"line_id": line.id, "entries": entries, "next_after_seq": next_after}

        return self._db.read(read)

    @staticmethod
    def reason_codes() -> list[dict[str, Any]]:
        """The reason-code catalogue: borrower texts in English and Chinese, the operator's
        text and the borrower's next step."""
        return [
            {
                "code": r.code,
                "adverse": r.adverse,
                "borrower_initiated": r.borrower_initiated,
                "text": {"en": r.text_en, "zh-CN": r.text_zh},
                "operator_text": r.operator_text,
                "next_step": {
                    "step": r.next_step.value,
                    "en": NEXT_STEP_TEXTS[r.next_step][0],
                    "zh-CN": NEXT_STEP_TEXTS[r.next_step][1],
                },
            }
            for r in REASON_CATALOGUE.values()
        ]

    # --- background work -----------------------------------------------------------------
    def sweep(self, batch_size: int = SWEEP_BATCH_SIZE_MAX) -> dict[str, int]:
        """Release expired holds and end freezes whose time is up; each in its own transaction."""
        if not 1 <= batch_size <= SWEEP_BATCH_SIZE_MAX:
            raise InvalidInput(f"batch_size must be 1–{SWEEP_BATCH_SIZE_MAX}")
        now = self._clock.now()
        with self._db.reading() as connection:
            expired = (
                connection.execute(
                    select(drawdowns.c.id)
                    .where(drawdowns.c.status == "held", drawdowns.c.expires_at <= now)
                    .order_by(drawdowns.c.expires_at)
                    .limit(batch_size)
                )
                .scalars()
                .all()
            )
            thawing = (
                connection.execute(
                    select(lines.c.id)
                    .where(lines.c.status == "frozen", lines.c.frozen_until <= now)
                    .limit(batch_size)
                )
                .scalars()
                .all()
            )
        released = unfrozen = failed = 0
        # One item that keeps failing must not stop the others: it is logged and skipped.
        for drawdown_id in expired:
            try:
                released += self._db.run(partial(self._expire, drawdown_id=drawdown_id))
            except Exception:
                log.exception("sweep: releasing expired hold %s failed", drawdown_id)
                failed += 1
        for line_id in thawing:
            try:
                unfrozen += self._db.run(partial(self._thaw, line_id=line_id))
            except Exception:
                log.exception("sweep: ending the freeze of line %s failed", line_id)
                failed += 1
        return {"holds_released": released, "freezes_ended": unfrozen, "failed": failed}

    def _expire(self, tx: Transaction, drawdown_id: str) -> int:
        now = self._clock.now()
        locked = self._store.lock_drawdown(tx, drawdown_id)
        if locked is None or locked[1].status != "held" or locked[1].expires_at > now:
            return 0  # posted or voided meanwhile
        self._release(tx, locked[0], locked[1], "expired", now)
        return 1

    def _thaw(self, tx: Transaction, line_id: str) -> int:
        now = self._clock.now()
        line = self._store.lock_line(tx, line_id)
        if line is None:
            return 0
        return int(self._end_freeze_if_due(tx, line, now) is not line)

    # --- steps shared by commands ------------------------------------------------------------
    def _command(
        self,
        actor: Actor,
        key: str,
        request: dict[str, Any],
        work: Callable[[Transaction], dict[str, Any]],
    ) -> CommandResult:
        checked_text(key, "idempotency key", IDEMPOTENCY_KEY_LENGTH_MAX)
        fingerprint = request_hash(request)

        def stored_result(tx: Transaction) -> CommandResult | None:
            stored = self._store.find_idempotency(tx, actor.scope, key)
            if stored is None:
                return None
            if stored[0] != fingerprint:
                raise IdempotencyKeyReused(
                    "this idempotency key was used for a different request", key=key
                )
            return CommandResult(json.loads(stored[1]), replayed=True)

        def run(tx: Transaction) -> CommandResult:
            replay = stored_result(tx)
            if replay is not None:
                return replay
            try:
                document = work(tx)
            except DomainError:
                # A request with the same key may have won while this one waited for the lock;
                # its effect is why this one was refused. Answer with the winner's response,
                # and roll back whatever this attempt did.
                replay = stored_result(tx)
                if replay is not None:
                    raise _Replay(replay) from None
                raise
            self._store.save_idempotency(
                tx, actor.scope, key, fingerprint, json.dumps(document), self._clock.now()
            )
            return CommandResult(document)

        try:
            return self._db.run(run)
        except _Replay as replay:
            return replay.result

    def _move(
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

    def _release(
        self, tx: Transaction, line: Line, drawdown: DrawdownRow, status: str, now: datetime
    ) -> Line:
        self._store.resolve_drawdown(tx, drawdown.id, status, now)
        after = self._move(
            tx, line, model.plan_release(drawdown.amount_minor), now, drawdown_id=drawdown.id
        )
        self._notify(
            tx,
            f"event.hold_{status}",
            after,
            drawdown.id,
            {
                "drawdown": drawdown.id,
                "released": format_minor(drawdown.amount_minor, line.currency),
            },
            now,
        )
        return after

    def _decide(
        self,
        tx: Transaction,
        line: Line,
        change: LimitChange,
        actor: Actor,
        now: datetime,
        evidence: dict[str, Any] | None = None,
    ) -> tuple[Line, dict[str, Any]]:
        movement = model.plan_limit_change(line, change, now)
        decision_id = new_id()
        after = self._move(tx, line, movement, now, decision_id=decision_id)
        decision = {
            "id": decision_id,
            "line_id": line.id,
            "action": change.action.value,
            "adverse": change.adverse,
            "limit_before_minor": line.limit_minor,
            "limit_after_minor": after.limit_minor,
            "status_before": line.status.value,
            "status_after": after.status.value,
            "until": change.until,
            "reason_codes": change.reason_codes,
            "actor_subject": actor.subject,
            "actor_role": actor.role.value,
            "policy_version": change.policy_version,
            "note": change.note,
            "created_at": now,
            "evidence": evidence,
        }
        self._store.insert_decision(tx, decision)
        money = money_of(line.currency)
        document = {
            "id": decision_id,
            "action": change.action.value,
            "adverse": change.adverse,
            "limit_before": money(line.limit_minor),
            "limit_after": money(after.limit_minor),
            "status_before": line.status.value,
            "status_after": after.status.value,
            "until": iso(change.until),
            "reason_codes": list(change.reason_codes),
            "reasons": reason_texts(change.reason_codes),
            "actor": actor.scope,
            "policy_version": change.policy_version,
            "note": change.note,
            "at": iso(now),
        }
        topic = "notice.adverse_change" if change.adverse else "notice.line_improved"
        self._notify(
            tx,
            topic,
            after,
            decision_id,
            {"decision": document, "line": line_document(after)},
            now,
        )
        return after, document

    def _end_freeze_if_due(self, tx: Transaction, line: Line, now: datetime) -> Line:
        """A freeze whose end has passed is lifted, with its own decision, before anything else."""
        if line.status is not LineStatus.FROZEN or line.frozen_until is None:
            return line
        if line.frozen_until > now:
            return line
        ending = LimitChange(Action.UNFREEZE, ("freeze_ended",), note="freeze reached its end")
        return self._decide(tx, line, ending, SYSTEM, now)[0]

    @contextmanager
    def _explaining_refusals(self, tx: Transaction, line: Line) -> Iterator[None]:
        """A frozen, suspended or closed line says why: the reasons of the decision behind it."""
        try:
            yield
        except (LineFrozen, LineSuspended, LineClosed) as refusal:
            if line.status_decision_id is not None:
                codes = self._store.decision_reasons(tx, line.status_decision_id)
                refusal.details["reasons"] = reason_texts(codes)
                if codes:
                    refusal.message += "; reasons: " + ", ".join(codes)
                    refusal.args = (refusal.message,)
            raise

    def queue_notice(
        self, tx: Transaction, topic: str, line_id: str, ref_id: str, payload: dict[str, Any]
    ) -> None:
        """Queue a notice about a line in another capability's transaction (a review opened, a
        verification refused), so the change and its notice commit together."""
        line = self._store.read_line(tx, line_id)
        invariant(line is not None, f"line {line_id} vanished")
        assert line is not None
        self._notify(tx, topic, line, ref_id, payload, self._clock.now())

    def _notify(
        self,
        tx: Transaction,
        topic: str,
        line: Line,
        ref_id: str,
        payload: dict[str, Any],
        now: datetime,
    ) -> None:
        """Queue a message about `ref_id` (decision, loan or drawdown) in this transaction."""
        self._store.insert_outbox(tx, new_id(), topic, line, ref_id, payload, now)

    def _price_loan(
        self, loan_id: str, line: Line, drawdown: DrawdownRow, post_minor: int
    ) -> tuple[LoanState, dict[str, Any]]:
        """The loan a post opens: the hold's product, method and date, so that posting the whole
        hold freezes exactly the schedule the hold quoted (even across midnight)."""
        priced = self._catalogue.choose(drawdown.product, line.currency)
        start = priced.profile.business_date(drawdown.created_at)
        schedule, quoted = product_quote(
            priced, Money(post_minor, line.currency), drawdown.term_months, drawdown.method, start
        )
        terms = priced.loan_terms(schedule.method, post_minor)
        return new_loan(loan_id, line.currency, schedule, start, terms), quoted

    def _visible_loan(self, tx: Transaction, actor: Actor, loan_id: str) -> tuple[Line, LoanState]:
        found = self._loans.line_of(tx, loan_id) if is_id(loan_id) else None
        line = None if found is None else self._store.read_line(tx, found)
        loan = None if line is None or not _may_see(actor, line) else self._loans.load(tx, loan_id)
        if line is None or loan is None:
            raise LoanNotFound("no such loan", loan_id=loan_id)
        return line, loan

    def _locked_line(self, tx: Transaction, actor: Actor, line_id: str) -> Line:
        line = self._store.lock_line(tx, line_id)
        if line is None or not _may_see(actor, line):
            raise LineNotFound("no such line", line_id=line_id)
        return line

    def _visible_line(self, tx: Transaction, actor: Actor, line_id: str) -> Line:
        line = self._store.read_line(tx, line_id)
        if line is None or not _may_see(actor, line):
            raise LineNotFound("no such line", line_id=line_id)
        return line

    def _locked_drawdown(
        self, tx: Transaction, actor: Actor, drawdown_id: str
    ) -> tuple[Line, DrawdownRow]:
        """The held drawdown and its line, both locked."""
        locked = self._store.lock_drawdown(tx, drawdown_id)
        if locked is None or not _may_see(actor, locked[0]):
            raise DrawdownNotFound("no such drawdown", drawdown_id=drawdown_id)
        line, drawdown = locked
        if drawdown.status != "held":
            raise DrawdownNotHeld(
                f"the drawdown is already {drawdown.status}", status=drawdown.status
            )
        return line, drawdown


def _may_see(actor: Actor, line: Line) -> bool:
    if actor.role is Role.BORROWER:
        return line.borrower_id == actor.subject
    return actor.role in STAFF_ROLES


def _require_role(actor: Actor, roles: frozenset[Role], what: str) -> None:
    if actor.role not in roles:
        raise Forbidden(f"role {actor.role.value} may not {what}")
