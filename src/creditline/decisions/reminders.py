"""Reminders before something happens to a line: a freeze ends soon (nothing to do, it comes
back by itself), or income evidence expires soon (re-verify before the date and the line never
pauses); and an alert to the lender (its webhook) when a human review missed its deadline.
Repayments are reminded of too (due soon, due today, missed) and each line gets its monthly
statement: `payment_reminders.py` finds those, and they are sent here like the rest.
Each is sent once: a row in `reminders` keyed by what it is about is written in the same
transaction as its message.
"""

from __future__ import annotations

import datetime as dt
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite

from creditline.db.unit_of_work import Database, Transaction
from creditline.decisions.declared import application_features
from creditline.decisions.payment_reminders import PaymentReminders
from creditline.decisions.service import DecisionService
from creditline.decisions.tables import applications, reminders, reviews, verifications
from creditline.kernel.clock import Clock
from creditline.kernel.invariant import fail
from creditline.ledger.ports import first_open_lines, freezes_ending
from creditline.ledger.service import LedgerService
from creditline.loans.products import Catalogue
from creditline.notices.outbox import Topic

FREEZE_ENDING_NOTICE = timedelta(days=3)
VERIFICATION_DUE_NOTICE_DAYS = 14
REMINDERS_PER_RUN_MAX = 10_000


class Reminders:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        ledger: LedgerService,
        decisions: DecisionService,
        catalogue: Catalogue,
    ) -> None:
        self._db = db
        self._clock = clock
        self._ledger = ledger
        self._decisions = decisions
        insert = postgresql.insert if db.dialect == "postgresql" else sqlite.insert
        self._once = db.prepare(
            insert(reminders).on_conflict_do_nothing().returning(reminders.c.kind)
        )
        self._payments = PaymentReminders(db, clock, catalogue, lambda: decisions.engine.policy)

    def run(self) -> dict[str, int]:
        """Send the reminders that are due now; counts by kind."""
        return {
            "freeze_ending_soon": self._freezes_ending(),
            "verification_due": self._evidence_expiring(),
            "review_overdue": self._reviews_overdue(),
            **self._payments.run(self._send, self._mark),
        }

    def _reviews_overdue(self) -> int:
        now = self._clock.now()
        with self._db.reading() as connection:
            rows = connection.execute(
                select(reviews.c.id, reviews.c.line_id, reviews.c.due_at)
                .where(
                    reviews.c.kind == "human", reviews.c.outcome == "open", reviews.c.due_at < now
                )
                .order_by(reviews.c.due_at)
                .limit(REMINDERS_PER_RUN_MAX)
            ).all()
        sent = 0
        for review_id, line_id, due_at in rows:
            due = Transaction.read_time(due_at) or fail(f"review {review_id} has no deadline")
            sent += self._send(
                "review_overdue",
                review_id,
                line_id,
                {"review": review_id, "due_at": due.isoformat()},
                Topic.REVIEW_OVERDUE,  # for the lender's staff, not the borrower
            )
        return sent

    def _freezes_ending(self) -> int:
        now = self._clock.now()
        with self._db.reading() as connection:
            ending = freezes_ending(
                connection, now, now + FREEZE_ENDING_NOTICE, REMINDERS_PER_RUN_MAX
            )
        sent = 0
        for line_id, ends, decision_id in ending:
            sent += self._send(
                "freeze_ending_soon",
                str(decision_id or line_id),
                line_id,
                {"until": ends.isoformat()},
                Topic.FREEZE_ENDING_SOON,
            )
        return sent

    def _evidence_expiring(self) -> int:
        today = self._decisions.business_date(self._clock.now())
        horizon = today + dt.timedelta(days=VERIFICATION_DUE_NOTICE_DAYS)
        with self._db.reading() as connection:
            candidates = {
                *connection.execute(
                    select(applications.c.borrower_id).where(
                        applications.c.income_evidence_expires_on >= today,
                        applications.c.income_evidence_expires_on <= horizon,
                    )
                ).scalars(),
                *connection.execute(
                    select(verifications.c.borrower_id).where(
                        verifications.c.kind == "income",
                        verifications.c.status == "accepted",
                        verifications.c.expires_on >= today,
                        verifications.c.expires_on <= horizon,
                    )
                ).scalars(),
            }
            borrowers = sorted(candidates)[:REMINDERS_PER_RUN_MAX]
            current = application_features(connection, borrowers, self._clock.now(), today)
            first_line = first_open_lines(connection, borrowers)
        sent = 0
        for borrower in borrowers:
            days = current.get(borrower, {}).get("days_to_income_evidence_expiry")
            if days is None or not 0 <= days <= VERIFICATION_DUE_NOTICE_DAYS:
                continue  # newer evidence replaced the expiring one
            if borrower not in first_line:
                continue
            expires = (today + dt.timedelta(days=days)).isoformat()
            sent += self._send(
                "verification_due",
                f"{borrower}:{expires}",
                first_line[borrower],
                {"expires_on": expires, "kind": "income"},
                Topic.VERIFICATION_DUE,
            )
        return sent

    def _send(
        self,
        kind: str,
        about: str,
        line_id: str,
        payload: dict[str, Any],
        topic: Topic,
        ref_id: str | None = None,
    ) -> int:
        """Queue the reminder unless it was sent before; 1 if queued now. The message is about
        `ref_id` (a loan, say), or the line when None."""
        now = self._clock.now()

        def work(tx: Transaction) -> int:
            inserted = tx.one(self._once, {"kind": kind, "about": about, "sent_at": tx.time(now)})
            if inserted is None:  # sent before
                return 0
            self._ledger.port.queue_notice(tx, topic, line_id, ref_id or line_id, payload)
            return 1

        return self._db.run(work)

    def _mark(self, kind: str, about: str) -> None:
        """Record work done once, with no message (every statement of a month queued)."""
        now = self._clock.now()
        self._db.run(
            lambda tx: tx.one(self._once, {"kind": kind, "about": about, "sent_at": tx.time(now)})
        )
