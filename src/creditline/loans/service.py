"""Loan use cases: quotes, posting a hold as a loan, repayments, loan queries.

Loans own their products, schedules and repayments; the line's credit is the ledger's. Inside
one command transaction the loans service moves credit through the ledger's port: posting a
hold draws the line, and repaid principal is available again in the transaction that repaid it
— a loan that settles gives its credit back at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import Any

from creditline.db.commands import CommandResult, Commands
from creditline.db.unit_of_work import Database, Transaction
from creditline.kernel.actors import Actor, Role
from creditline.kernel.clock import Clock
from creditline.kernel.errors import (
    DomainError,
    DrawdownExpired,
    Forbidden,
    InvalidAmount,
    InvalidInput,
    LineNotFound,
    LoanNotFound,
    LoanSettled,
    RefundAboveCreditBalance,
)
from creditline.kernel.ids import is_id, new_id
from creditline.kernel.invariant import fail, invariant
from creditline.kernel.money import Money, format_minor
from creditline.kernel.permissions import Permission, require
from creditline.ledger.ports import Drawdown, LedgerPort, Line
from creditline.ledger.service import LedgerService
from creditline.loans.funding import split_principal
from creditline.loans.model import LoanState, bucket, business_date, new_loan
from creditline.loans.pricing import ProductPricing
from creditline.loans.products import Catalogue
from creditline.loans.quote import product_quote
from creditline.loans.records import Posted, Refunded, Repaid
from creditline.loans.store import LoanStore
from creditline.loans.views import (
    loan_document,
    loan_summary,
    posted_document,
    quote_document,
    refund_document,
    repayment_document,
    schedule_document,
)
from creditline.loans.waterfall import allocate
from creditline.notices.outbox import Topic

LOANS_PER_LINE_LISTED_MAX = 200
REFUND_DAYS_DEFAULT = 7  # for a loan whose product and currency no profile names any more


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
        self,
        actor: Actor,
        key: str,
        drawdown_id: str,
        amount: str | None = None,
        funding: Mapping[str, str] | None = None,
    ) -> CommandResult:
        """Turn a held drawdown into a loan of `amount` (default: all of it); release the rest.
        The loan records who funds it (CN-3): `funding` (percent strings by funder, named by
        staff only) or its profile's split, the lender's own share at least the profile's
        minimum (`LenderShareBelowMinimum`)."""
        require(actor, Permission.DRAW)
        if funding is not None and actor.role is Role.BORROWER:
            raise Forbidden("a borrower cannot choose who funds a loan")
        request: dict[str, Any] = {"op": "post", "drawdown_id": drawdown_id, "amount": amount}
        if funding is not None:
            request["funding"] = dict(sorted(funding.items()))

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
            split = self._catalogue.choose(drawdown.product, line.currency).profile.funding_split(
                funding
            )
            amounts = split_principal(post_minor, split)
            invariant(sum(amounts.values()) == post_minor, "a funding split sums to the principal")
            self.store.insert_funding(tx, loan_id, split, amounts)
            payload = {"loan": loan_id, "principal": format_minor(post_minor, line.currency)}
            self._port.notify(tx, Topic.LOAN_OPENED, after, loan_id, payload, now)
            return Posted(drawdown, loan_id, post_minor, upfront_fee_minor, quoted, after, amounts)

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

    def _locked_loan(
        self, tx: Transaction, actor: Actor, loan_id: str
    ) -> tuple[LoanState, Line, str]:
        """The loan, its line (both locked, the loan first) and its status."""
        locked = self.store.lock(tx, loan_id)
        if locked is None:
            raise LoanNotFound("no such loan", loan_id=loan_id)
        line_id, status = locked
        loaded = self.store.load_ahead(tx, loan_id)  # read with the line's lock: one wait
        try:
            line = self._port.lock(tx, actor, line_id)
        except LineNotFound:
            raise LoanNotFound("no such loan", loan_id=loan_id) from None
        loan = loaded() or fail(f"loan {loan_id} has no state")
        return loan, line, status

    def _repay(self, tx: Transaction, actor: Actor, loan_id: str, amount: str) -> Repaid:
        before, line, status = self._locked_loan(tx, actor, loan_id)
        now = self._clock.now()
        if status == "settled":
            raise LoanSettled("the loan is already settled", loan_id=loan_id)
        amount_minor = Money.parse(amount, line.currency).minor
        today = business_date(before.terms, now)
        after, split = allocate(before, amount_minor, today)
        repayment_id = new_id()
        self.store.save(tx, before, after, now)
        self.store.insert_repayment(
            tx, repayment_id, after, line.id, amount_minor, split, today, now
        )
        moved = self._port.restore(tx, line, split.principal_minor, loan_id, now)
        repaid = Repaid(repayment_id, after, amount_minor, split, today.isoformat(), moved)
        self._announce(tx, repaid, today, now)
        return repaid

    def _announce(self, tx: Transaction, repaid: Repaid, today: date, now: datetime) -> None:
        """Queue what the repayment tells: the settlement (credit restored) or the payment,
        the new schedule when a prepayment re-amortised the loan, and a refund when money was
        left over (when and how it comes back)."""
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
        if repaid.split.rescheduled:
            rescheduled = {
                "loan": repaid.loan.id,
                "business_date": repaid.business_date,
                "prepaid": format_minor(repaid.split.reamortised_minor, repaid.line.currency),
                "effect": repaid.loan.terms.prepayment_effect.value,
                "principal_outstanding": document["principal_outstanding"],
                "instalments": schedule_document(repaid.loan),
                "line": document["line"],
            }
            self._port.notify(
                tx, Topic.SCHEDULE_CHANGED, repaid.line, repaid.repayment_id, rescheduled, now
            )
        if repaid.split.credit_minor:
            refund_by = today + timedelta(days=self._refund_days(repaid.loan))
            refund = {
                "loan": repaid.loan.id,
                "refund": document["allocation"]["credit"],
                "refund_by": refund_by.isoformat(),
                "line": document["line"],
            }
            self._port.notify(tx, Topic.REFUND_DUE, repaid.line, repaid.repayment_id, refund, now)

    def _refund_days(self, loan: LoanState) -> int:
        """Within how many days the loan's profile pays a credit balance back."""
        try:
            return self._catalogue.product(loan.terms.product).profile.refund_days
        except DomainError:
            pass
        try:
            return self._catalogue.profile_for(loan.currency).refund_days
        except DomainError:
            return REFUND_DAYS_DEFAULT

    def refund(
        self, actor: Actor, key: str, loan_id: str, amount: str | None = None
    ) -> CommandResult:
        """Pay the loan's credit balance (or `amount` of it) back to its borrower: recorded,
        journaled on the line and announced in one transaction. Refused
        (`refund_above_credit_balance`) for more than the balance, or when there is none."""
        require(actor, Permission.REFUND)
        request: dict[str, Any] = {"op": "refund", "loan_id": loan_id, "amount": amount}
        return self._commands.run(
            actor,
            key,
            request,
            lambda tx: self._refund(tx, actor, loan_id, amount),
            refund_document,
        )

    def _refund(self, tx: Transaction, actor: Actor, loan_id: str, amount: str | None) -> Refunded:
        loan, line, _ = self._locked_loan(tx, actor, loan_id)
        amount_minor = (
            loan.credit_minor if amount is None else Money.parse(amount, line.currency).minor
        )
        if amount is not None and amount_minor <= 0:
            raise InvalidAmount("amount must be greater than zero")
        if not 0 < amount_minor <= loan.credit_minor:
            balance = format_minor(loan.credit_minor, line.currency)
            raise RefundAboveCreditBalance(
                f"the loan's credit balance is {balance}",
                loan_id=loan_id,
                credit_balance=balance,
            )
        now = self._clock.now()
        today = business_date(loan.terms, now)
        self.store.take_credit(tx, loan_id, amount_minor)
        after = replace(loan, credit_minor=loan.credit_minor - amount_minor)
        refund_id = new_id()
        self.store.insert_refund(
            tx, refund_id, after, line.id, amount_minor, actor.subject, actor.role.value, today, now
        )
        moved = self._port.record_refund(tx, line, loan_id, now)
        refunded = Refunded(refund_id, after, amount_minor, today.isoformat(), moved)
        document = refund_document(refunded)
        payload = {
            "loan": loan_id,
            "refund": document["amount"],
            "business_date": document["business_date"],
            "credit_left": document["credit_balance"] if after.credit_minor else None,
            "line": document["line"],
        }
        self._port.notify(tx, Topic.REFUND_PAID, moved, refund_id, payload, now)
        return refunded

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
