"""Loan use cases: quotes, posting a hold as a loan, repayments, loan queries.

Loans own their products, schedules and repayments; the line's credit is the ledger's. Inside
one command transaction the loans service moves credit through the ledger's port: posting a
hold draws the line, and repaid principal is available again in the transaction that repaid it
— a loan that settles gives its credit back at once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from creditline.db.commands import CommandResult, Commands
from creditline.db.unit_of_work import Database, Transaction
from creditline.kernel.actors import Actor
from creditline.kernel.clock import Clock
from creditline.kernel.errors import (
    DrawdownExpired,
    InvalidInput,
    LineNotFound,
    LoanNotFound,
    LoanSettled,
)
from creditline.kernel.ids import is_id, new_id
from creditline.kernel.invariant import fail
from creditline.kernel.money import Money, format_minor
from creditline.kernel.permissions import Permission, require
from creditline.ledger.ports import Drawdown, LedgerPort
from creditline.ledger.service import LedgerService
from creditline.loans.model import LoanState, bucket, business_date, new_loan
from creditline.loans.pricing import ProductPricing
from creditline.loans.products import Catalogue
from creditline.loans.quote import product_quote
from creditline.loans.records import Posted, Repaid
from creditline.loans.store import LoanStore
from creditline.loans.views import (
    loan_document,
    loan_summary,
    posted_document,
    quote_document,
    repayment_document,
)
from creditline.loans.waterfall import allocate
from creditline.notices.outbox import Topic

LOANS_PER_LINE_LISTED_MAX = 200


class LoanService:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        commands: Commands,
        catalogue: Catalogue,
        ledger: LedgerService,
    ) -> None:
        self._db = db
        self._clock = clock
        self._commands = commands
        self._catalogue = catalogue
        self._pricing = ProductPricing(catalogue)
        self._ledger = ledger
        self._port: LedgerPort = ledger.port
        self.store = LoanStore(db)

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
        line = self._ledger.line(actor, line_id)
        principal = Money.parse(amount, line.currency)
        priced = self._pricing.price_hold(
            product, line.currency, principal.minor, term_months, method, self._clock.now()
        )
        return quote_document(priced.quote, line, principal.minor)

    def offered_terms(self, currency: str, product: str | None = None) -> tuple[int, ...]:
        """The terms, in months, a drawdown in `currency` may take (its product's)."""
        return self._catalogue.choose(product, currency).terms

    # --- commands --------------------------------------------------------------------------
    def post_drawdown(
        self, actor: Actor, key: str, drawdown_id: str, amount: str | None = None
    ) -> CommandResult:
        """Turn a held drawdown into a loan of `amount` (default: all of it); release the rest."""
        require(actor, Permission.DRAW)
        request: dict[str, Any] = {"op": "post", "drawdown_id": drawdown_id, "amount": amount}

        def work(tx: Transaction) -> Posted:
            line, drawdown = self._port.lock_held_drawdown(tx, actor, drawdown_id)
            now = self._clock.now()
            if drawdown.expires_at <= now:
                raise DrawdownExpired(
                    "the hold expired; its credit is being released",
                    expired_at=drawdown.expires_at.isoformat(),
                )
            post_minor = (
                drawdown.amount_minor
                if amount is None
                else Money.parse(amount, line.currency).minor
            )
            loan_id = new_id()
            after = self._port.post_hold(tx, line, drawdown, post_minor, loan_id, now)
            loan, quoted, upfront_fee_minor = self._price_loan(
                loan_id, line.currency, drawdown, post_minor
            )
            self.store.insert(
                tx,
                loan,
                line_id=line.id,
                drawdown_id=drawdown.id,
                apr_percent=quoted["apr_percent"],
                upfront_fee_minor=upfront_fee_minor,
                opened_at=now,
            )
            payload = {"loan": loan_id, "principal": format_minor(post_minor, line.currency)}
            self._port.notify(tx, Topic.LOAN_OPENED, after, loan_id, payload, now)
            return Posted(drawdown, loan_id, post_minor, upfront_fee_minor, quoted, after)

        return self._commands.run(actor, key, request, work, posted_document)

    def repay(self, actor: Actor, key: str, loan_id: str, amount: str) -> CommandResult:
        """Apply a repayment through the loan's waterfall; repaid principal is available again
        in the same transaction. Money beyond what the loan can take is a credit balance."""
        require(actor, Permission.REPAY)
        request: dict[str, Any] = {"op": "repay", "loan_id": loan_id, "amount": amount}
        return self._commands.run(
            actor,
            key,
            request,
            lambda tx: self._repay(tx, actor, loan_id, amount),
            repayment_document,
        )

    def _repay(self, tx: Transaction, actor: Actor, loan_id: str, amount: str) -> Repaid:
        locked = self.store.lock(tx, loan_id)
        if locked is None:
            raise LoanNotFound("no such loan", loan_id=loan_id)
        line_id, status = locked
        try:
            line = self._port.lock(tx, actor, line_id)
        except LineNotFound:
            raise LoanNotFound("no such loan", loan_id=loan_id) from None
        now = self._clock.now()
        if status == "settled":
            raise LoanSettled("the loan is already settled", loan_id=loan_id)
        amount_minor = Money.parse(amount, line.currency).minor
        before = self.store.load(tx, loan_id) or fail(f"loan {loan_id} has no state")
        today = business_date(before.terms, now)
        after, split = allocate(before, amount_minor, today)
        repayment_id = new_id()
        self.store.save(tx, before, after, now)
        self.store.insert_repayment(
            tx, repayment_id, after, line.id, amount_minor, split, today, now
        )
        moved = self._port.restore(tx, line, split.principal_minor, loan_id, now)
        repaid = Repaid(repayment_id, after, amount_minor, split, today.isoformat(), moved)
        self._announce(tx, repaid, now)
        return repaid

    def _announce(self, tx: Transaction, repaid: Repaid, now: datetime) -> None:
        """Queue what the repayment tells: the settlement (credit restored) or the payment,
        and a refund when money was left over."""
        document = repayment_document(repaid)
        payload = {
            "loan": repaid.loan.id,
            "repaid": document["amount"],
            # The principal this payment gave back to the line (what a notice announces).
            "released": document["allocation"]["principal"],
            "available": document["line"]["available"],
            "line": document["line"],
        }
        topic = Topic.LOAN_SETTLED if repaid.split.settled else Topic.REPAYMENT_RECEIVED
        self._port.notify(tx, topic, repaid.line, repaid.loan.id, payload, now)
        if repaid.split.credit_minor:
            refund = {
                "loan": repaid.loan.id,
                "refund": document["allocation"]["credit"],
                "line": document["line"],
            }
            self._port.notify(tx, Topic.REFUND_DUE, repaid.line, repaid.repayment_id, refund, now)

    # --- queries ---------------------------------------------------------------------------
    def get_loan(self, actor: Actor, loan_id: str) -> dict[str, Any]:
        """The loan's schedule with each instalment's state, its arrears and today's payoff."""
        require(actor, Permission.READ_LINES)

        def read(tx: Transaction) -> dict[str, Any]:
            line_id = self.store.line_of(tx, loan_id) if is_id(loan_id) else None
            line = None if line_id is None else self._port.visible(tx, actor, line_id)
            loan = None if line is None else self.store.load(tx, loan_id)
            if line is None or loan is None:
                raise LoanNotFound("no such loan", loan_id=loan_id)
            return loan_document(loan, line.id, self.store.facts(tx, loan.id), self._clock.now())

        return self._db.read(read)

    def line_loans(self, actor: Actor, line_id: str) -> dict[str, Any]:
        """The line's loans, newest first, each with its state and arrears, and the line's days
        past due (its latest loan's)."""
        line = self._ledger.line(actor, line_id)

        def read(tx: Transaction) -> dict[str, Any]:
            now = self._clock.now()
            listed = []
            for loan_id in self.store.ids_of_line(tx, line.id, LOANS_PER_LINE_LISTED_MAX):
                loan = self.store.load(tx, loan_id) or fail(f"loan {loan_id} has no state")
                facts = self.store.facts(tx, loan_id)
                listed.append(loan_summary(loan, line.id, facts, now))
            # The line is as late as its latest loan.
            dpd = max((loan["dpd"] for loan in listed), default=0)
            return {"line_id": line.id, "dpd": dpd, "bucket": bucket(dpd), "loans": listed}

        return self._db.read(read)

    def _price_loan(
        self, loan_id: str, currency: str, drawdown: Drawdown, post_minor: int
    ) -> tuple[LoanState, dict[str, Any], int]:
        """The loan a post opens, its quote and its upfront fee: the hold's product, method and
        date, so that posting the whole hold freezes exactly the schedule the hold quoted (even
        across midnight)."""
        priced = self._catalogue.choose(drawdown.product, currency)
        start = priced.profile.business_date(drawdown.created_at)
        schedule, quoted = product_quote(
            priced, Money(post_minor, currency), drawdown.term_months, drawdown.method, start
        )
        terms = priced.loan_terms(schedule.method, post_minor)
        loan = new_loan(loan_id, currency, schedule, start, terms)
        return loan, quoted, priced.upfront_fee_minor(post_minor)
