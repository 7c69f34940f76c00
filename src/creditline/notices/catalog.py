"""Notice kinds: what a borrower is told, named by what happened to their line.

An outbox message's topic and payload say which kind it is (`kind_of`); each kind has a
template in zh-CN and English under `templates/`. Topics that are not notices (`event.*`) go
to the lender's webhook only.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from creditline.kernel.reasons import REASON_CATALOGUE, NextStep
from creditline.notices.topics import NOTICE_PREFIX, Topic


class Kind(StrEnum):
    LIMIT_DECREASED = "limit_decreased"
    LINE_FROZEN = "line_frozen"
    LINE_SUSPENDED = "line_suspended"
    VERIFICATION_REQUIRED = "verification_required"  # suspended until the borrower re-verifies
    LINE_CLOSED = "line_closed"
    LINE_CLOSING = "line_closing"  # a close the lender decided, taking effect later (EU-2)
    LIMIT_INCREASED = "limit_increased"
    FREEZE_ENDED = "freeze_ended"
    LINE_RESTORED = "line_restored"
    CREDIT_RESTORED = "credit_restored"  # a loan settled: its principal is available again
    REFUND_DUE = "refund_due"  # an overpayment left a credit balance: when and how it comes back
    REFUND_PAID = "refund_paid"  # the credit balance was paid back
    SCHEDULE_CHANGED = "schedule_changed"  # a prepayment re-amortised the loan: its new schedule
    FREEZE_ENDING_SOON = "freeze_ending_soon"
    VERIFICATION_DUE = "verification_due"  # evidence expires soon: re-verify before the date
    VERIFICATION_FAILED = "verification_failed"
    REVIEW_OPENED = "review_opened"
    REVIEW_DECIDED = "review_decided"
    REQUEST_RECEIVED = "request_received"  # a borrower asked to close or lower their line
    PAYMENT_DUE_SOON = "payment_due_soon"  # an instalment falls due in a few days
    PAYMENT_DUE_TODAY = "payment_due_today"
    PAYMENT_MISSED = "payment_missed"  # its grace days are over: late fee and penalty run
    MONTHLY_STATEMENT = "monthly_statement"  # the previous calendar month of a line
    POLICY_CHANGE = "policy_change"  # a policy change to come: what, why, when, what to do
    POLICY_CHANGE_WITHDRAWN = "policy_change_withdrawn"  # the change announced will not happen


LANGUAGES = ("zh-CN", "en")
ADVERSE_KINDS = frozenset(
    {
        Kind.LIMIT_DECREASED,
        Kind.LINE_FROZEN,
        Kind.LINE_SUSPENDED,
        Kind.VERIFICATION_REQUIRED,
        Kind.LINE_CLOSED,
        Kind.LINE_CLOSING,
    }
)
# Topics written directly with their kind (reminders, statements, verifications, reviews,
# borrowers' requests, settlements).
_DIRECT: dict[str, Kind] = {
    Topic.LOAN_SETTLED: Kind.CREDIT_RESTORED,
    Topic.REFUND_DUE: Kind.REFUND_DUE,
    Topic.REFUND_PAID: Kind.REFUND_PAID,
    Topic.SCHEDULE_CHANGED: Kind.SCHEDULE_CHANGED,
    Topic.FREEZE_ENDING_SOON: Kind.FREEZE_ENDING_SOON,
    Topic.VERIFICATION_DUE: Kind.VERIFICATION_DUE,
    Topic.VERIFICATION_FAILED: Kind.VERIFICATION_FAILED,
    Topic.REVIEW_OPENED: Kind.REVIEW_OPENED,
    Topic.REVIEW_DECIDED: Kind.REVIEW_DECIDED,
    Topic.REQUEST_RECEIVED: Kind.REQUEST_RECEIVED,
    Topic.PAYMENT_DUE_SOON: Kind.PAYMENT_DUE_SOON,
    Topic.PAYMENT_DUE_TODAY: Kind.PAYMENT_DUE_TODAY,
    Topic.PAYMENT_MISSED: Kind.PAYMENT_MISSED,
    Topic.MONTHLY_STATEMENT: Kind.MONTHLY_STATEMENT,
    Topic.POLICY_CHANGE: Kind.POLICY_CHANGE,
    Topic.POLICY_CHANGE_WITHDRAWN: Kind.POLICY_CHANGE_WITHDRAWN,
}
_BY_ACTION = {
    "decrease": Kind.LIMIT_DECREASED,
    "freeze": Kind.LINE_FROZEN,
    "suspend": Kind.LINE_SUSPENDED,
    "close": Kind.LINE_CLOSED,
    "increase": Kind.LIMIT_INCREASED,
    "unfreeze": Kind.LINE_RESTORED,
    "restore": Kind.LINE_RESTORED,
}


def is_notice(topic: str) -> bool:
    """A message for the borrower (inbox, e-mail), not only an event for the lender."""
    return topic.startswith(NOTICE_PREFIX)


def kind_of(topic: str, payload: dict[str, Any]) -> Kind:
    """The kind of a notice from its outbox topic and payload."""
    if topic in _DIRECT:
        return _DIRECT[topic]
    if topic not in (Topic.ADVERSE_CHANGE, Topic.LINE_IMPROVED):
        raise ValueError(f"not a notice topic: {topic}")
    decision = payload["decision"]
    kind = _BY_ACTION[decision["action"]]
    codes = decision["reason_codes"]
    if kind is Kind.LINE_SUSPENDED and any(
        REASON_CATALOGUE[c].next_step in (NextStep.UPDATE_INCOME, NextStep.VERIFY_IDENTITY)
        for c in codes
        if c in REASON_CATALOGUE
    ):
        return Kind.VERIFICATION_REQUIRED
    if kind is Kind.LINE_RESTORED and "freeze_ended" in codes:
        return Kind.FREEZE_ENDED
    if kind is Kind.LINE_CLOSED and decision.get("effective_at"):
        return Kind.LINE_CLOSING
    return kind
