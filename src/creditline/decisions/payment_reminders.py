"""Reminders about repayments: an instalment falls due in a few days, falls due today, or was
missed (its grace days are over); and each line's statement of the previous calendar month.

`Reminders.run` runs these with the line reminders; each is sent once, through the same
`reminders` table and the same outbox notice. What falls due and what a month moved are the
loans capability's published reads (`loans.ports`); dates are business dates in the loan's
time zone, or, for a statement, in the time zone of the line's jurisdiction profile.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, select
from sqlglot import exp

from creditline.db.unit_of_work import Database
from creditline.decisions.policy import PolicyDocument, RuleAction, rule_expression
from creditline.decisions.tables import reminders
from creditline.kernel.clock import Clock
from creditline.kernel.errors import DomainError
from creditline.kernel.money import format_minor
from creditline.loans.ports import (
    InstalmentDue,
    LineMonth,
    line_months,
    overdue_of_loans,
    repayment_facts,
    unpaid_instalments,
)
from creditline.loans.products import Catalogue, Profile
from creditline.notices.outbox import Topic

# A missed payment is announced the day after its grace days end, or within this many days
# after that when no run happened on the day; later than that it is stale.
MISSED_NOTICE_DAYS_MAX = 7
GRACE_DAYS_MAX = 30  # the catalogue's bound on a product's grace days
STATEMENTS_DONE = "statements_done"  # every statement of a currency's month is queued

# (kind, what it is about, line, loan or line it refers to, payload, topic)
Reminder = tuple[str, str, str, str, dict[str, Any], Topic]
Send = Callable[[str, str, str, dict[str, Any], Topic, str], int]
Mark = Callable[[str, str], None]  # record a run's work as done, with no message


@dataclass(frozen=True, slots=True)
class OverdueRule:
    """The policy's freeze on days past due: it fires once `dpd` reaches `dpd_at`."""

    currency: str
    dpd_at: int


def overdue_rule(policy: PolicyDocument) -> OverdueRule | None:
    """The policy's rule that freezes a line on days past due, when it is the plain comparison
    `dpd > N` or `dpd >= N`; None when the policy has no such rule."""
    for rule in sorted(policy.rules, key=lambda r: r.priority):
        if rule.action is not RuleAction.FREEZE:
            continue
        condition = rule_expression(rule)
        left, right = condition.this, condition.expression
        if not (
            isinstance(condition, exp.GT | exp.GTE)
            and isinstance(left, exp.Column)
            and left.name == "dpd"
            and isinstance(right, exp.Literal)
            and not right.is_string
            and right.this.isdigit()
        ):
            continue
        threshold = int(right.this)
        reached = threshold + 1 if isinstance(condition, exp.GT) else threshold
        return OverdueRule(policy.currency, reached)
    return None


class PaymentReminders:
    """Finds the repayment reminders and statements due now and sends those not yet sent."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        catalogue: Catalogue,
        policy: Callable[[], PolicyDocument],
    ) -> None:
        self._db = db
        self._clock = clock
        self._catalogue = catalogue
        self._policy = policy

    def run(self, send: Send, mark: Mark) -> dict[str, int]:
        """Send the payment reminders and statements due now; counts by kind."""
        counts = {
            "payment_due_soon": 0,
            "payment_due_today": 0,
            "payment_missed": 0,
            "monthly_statement": 0,
        }
        for kind, about, line_id, ref_id, payload, topic in self._due_now():
            counts[kind] += send(kind, about, line_id, payload, topic, ref_id)
        counts["monthly_statement"] += self._statements(send, mark)
        return counts

    def _profile(self, product: str, currency: str) -> Profile:
        try:
            return self._catalogue.product(product).profile
        except DomainError:
            return self._catalogue.profile_for(currency)

    def _rule(self) -> OverdueRule | None:
        try:
            return overdue_rule(self._policy())
        except DomainError:
            return None  # no policy: the notice names no freeze

    def _due_now(self) -> list[Reminder]:
        """The instalment reminders due now and not yet sent."""
        now = self._clock.now()
        days_ahead = max((p.profile.due_reminder_days for p in self._catalogue), default=0)
        first = now.date() - dt.timedelta(days=GRACE_DAYS_MAX + MISSED_NOTICE_DAYS_MAX + 2)
        last = now.date() + dt.timedelta(days=days_ahead + 1)
        found: list[tuple[str, InstalmentDue, dt.date]] = []
        with self._db.reading() as connection:
            for due in unpaid_instalments(connection, first, last):
                today = now.astimezone(ZoneInfo(due.timezone)).date()
                kind = self._kind(due, today)
                if kind is not None:
                    found.append((kind, due, today))
            sent = _sent(connection, {(kind, _about(due)) for kind, due, _ in found})
            found = [(k, due, today) for k, due, today in found if (k, _about(due)) not in sent]
            missed = [(due, today) for k, due, today in found if k == "payment_missed"]
            details = self._missed_details(connection, missed)
        out: list[Reminder] = []
        for kind, due, _today in found:
            payload = {
                "loan": due.loan_id,
                "instalment": due.number,
                "due_on": due.due_date.isoformat(),
                "amount_due": format_minor(due.unpaid_minor, due.currency),
                "grace_days": due.grace_days,
                **details.get(_about(due), {}),
            }
            topic = Topic(f"notice.{kind}")
            out.append((kind, _about(due), due.line_id, due.loan_id, payload, topic))
        return out

    def _kind(self, due: InstalmentDue, today: dt.date) -> str | None:
        """Which reminder of the instalment is due on `today`, if any."""
        days_to_go = (due.due_date - today).days
        if days_to_go == 0:
            return "payment_due_today"
        if 0 < days_to_go <= self._profile(due.product, due.currency).due_reminder_days:
            return "payment_due_soon"
        late = -days_to_go - due.grace_days  # 1 on the day after the grace days end
        if 1 <= late <= MISSED_NOTICE_DAYS_MAX:
            return "payment_missed"
        return None

    def _missed_details(
        self, connection: Connection, missed: list[tuple[InstalmentDue, dt.date]]
    ) -> dict[str, dict[str, Any]]:
        """For each missed instalment: what is overdue on its loan, the late fee, the penalty
        rate and when the policy's overdue rule would freeze its line."""
        rule = self._rule()
        details: dict[str, dict[str, Any]] = {}
        for due, today in missed:
            overdue = overdue_of_loans(connection, [due.loan_id], today).get(due.loan_id, 0)
            freeze_on = None
            if rule is not None and rule.currency == due.currency:
                facts = repayment_facts(connection, today, [due.line_id]).get(due.line_id)
                oldest = facts.oldest_unpaid_due_date if facts is not None else None
                oldest = min(oldest or due.due_date, due.due_date)
                on = oldest + dt.timedelta(days=rule.dpd_at)
                freeze_on = on.isoformat() if on > today else None
            percent = (Decimal(due.penalty_rate) * 100).quantize(Decimal("0.01"))
            details[_about(due)] = {
                "amount_overdue": format_minor(overdue, due.currency),
                "late_fee": format_minor(due.late_fee_minor, due.currency),
                "penalty_rate_percent": str(percent),
                "freeze_on": freeze_on,
                "freeze_after_days": None if rule is None else rule.dpd_at - 1,
            }
        return details

    def _statements(self, send: Send, mark: Mark) -> int:
        """Each line's statement of the previous calendar month, once the month is over where
        the lender does business; per currency, once all are queued, none is looked for."""
        now = self._clock.now()
        sent = 0
        for currency in sorted({product.currency for product in self._catalogue}):
            try:
                profile = self._catalogue.profile_for(currency)
            except DomainError:
                continue
            last = profile.business_date(now).replace(day=1) - dt.timedelta(days=1)
            first = last.replace(day=1)
            month = first.strftime("%Y-%m")
            with self._db.reading() as connection:
                if _sent(connection, {(STATEMENTS_DONE, f"{currency}:{month}")}):
                    continue
                months = line_months(connection, currency, first, last)
                done = _sent(connection, {("monthly_statement", f"{i}:{month}") for i in months})
            for line_id, line_month in sorted(months.items()):
                if ("monthly_statement", f"{line_id}:{month}") in done:
                    continue
                payload = statement_payload(line_month, month, first, last)
                about = f"{line_id}:{month}"
                topic = Topic.MONTHLY_STATEMENT
                sent += send("monthly_statement", about, line_id, payload, topic, line_id)
            mark(STATEMENTS_DONE, f"{currency}:{month}")
        return sent


def statement_payload(
    month_of_line: LineMonth, month: str, first: dt.date, last: dt.date
) -> dict[str, Any]:
    """What a monthly statement says, amounts as decimal text of the line's currency."""
    currency = month_of_line.currency

    def text(minor: int) -> str:
        return format_minor(minor, currency)

    return {
        "month": month,
        "first_day": first.isoformat(),
        "last_day": last.isoformat(),
        "opening": text(month_of_line.opening_principal_minor),
        "closing": text(month_of_line.closing_principal_minor),
        "drawn": text(month_of_line.drawn_minor),
        "repaid": text(month_of_line.repaid_minor),
        "principal_repaid": text(month_of_line.principal_repaid_minor),
        "interest_paid": text(month_of_line.interest_paid_minor),
        "penalty_paid": text(month_of_line.penalty_paid_minor),
        "fees_paid": text(month_of_line.fees_paid_minor),
        "loans": [
            {
                "loan": loan.loan_id,
                "apr_percent": loan.apr_percent,
                "next_due_on": None if loan.next_due_on is None else loan.next_due_on.isoformat(),
                "next_due": text(loan.next_due_minor),
            }
            for loan in month_of_line.loans
        ],
    }


def _about(due: InstalmentDue) -> str:
    return f"{due.loan_id}:{due.number}"


def _sent(connection: Connection, wanted: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
    """Which of the (kind, about) reminders were sent before."""
    wanted = set(wanted)
    if not wanted:
        return set()
    kinds = {kind for kind, _ in wanted}
    abouts = {about for _, about in wanted}
    rows = connection.execute(
        select(reminders.c.kind, reminders.c.about).where(
            reminders.c.kind.in_(kinds), reminders.c.about.in_(abouts)
        )
    )
    return {(row[0], row[1]) for row in rows} & wanted
