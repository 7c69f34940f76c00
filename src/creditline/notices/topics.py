"""What an outbox message is about: one enum, the only place a topic is spelled."""

from __future__ import annotations

from enum import StrEnum

# Topics under this prefix reach the borrower (inbox, e-mail); the rest only the lender.
NOTICE_PREFIX = "notice."


class Topic(StrEnum):
    """What a message is about. `notice.*` reach the borrower; `event.*` only the lender."""

    LINE_OPENED = "event.line_opened"
    HOLD_PLACED = "event.hold_placed"
    HOLD_VOIDED = "event.hold_voided"
    HOLD_EXPIRED = "event.hold_expired"
    LOAN_OPENED = "event.loan_opened"
    REPAYMENT_RECEIVED = "event.repayment_received"
    REVIEW_OVERDUE = "event.review_overdue"
    # A scorecard's population drifted (PSI above 0.25), once per episode, and the episode's
    # end: the first check back within the threshold (0021, amended by 0028).
    MODEL_DRIFT = "event.model_drift"
    MODEL_DRIFT_ENDED = "event.model_drift_ended"
    ADVERSE_CHANGE = "notice.adverse_change"
    LINE_IMPROVED = "notice.line_improved"
    LOAN_SETTLED = "notice.loan_settled"
    REFUND_DUE = "notice.refund_due"
    REFUND_PAID = "notice.refund_paid"
    SCHEDULE_CHANGED = "notice.schedule_changed"
    FREEZE_ENDING_SOON = "notice.freeze_ending_soon"
    VERIFICATION_DUE = "notice.verification_due"
    VERIFICATION_FAILED = "notice.verification_failed"
    REVIEW_OPENED = "notice.review_opened"
    REVIEW_DECIDED = "notice.review_decided"
    REQUEST_RECEIVED = "notice.request_received"
    PAYMENT_DUE_SOON = "notice.payment_due_soon"
    PAYMENT_DUE_TODAY = "notice.payment_due_today"
    PAYMENT_MISSED = "notice.payment_missed"
    MONTHLY_STATEMENT = "notice.monthly_statement"
    # A policy change announced ahead of its date: what changes for the line, why and when.
    POLICY_CHANGE = "notice.policy_change"
    # An announced policy change that will not happen: its version was withdrawn (retired).
    POLICY_CHANGE_WITHDRAWN = "notice.policy_change_withdrawn"
