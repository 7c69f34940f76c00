"""Typed domain errors with stable codes.

Expected rejections are `DomainError` subclasses carrying a stable `code` and the facts a caller
needs (`details`). They know nothing about HTTP: the mapping lives in `api/problems.py`.
A broken invariant is not a rejection; it raises `InvariantViolation` (see invariant.py).
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """An expected rejection. Nothing was changed when one is raised."""

    code: str = "domain_error"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class InvalidInput(DomainError):
    code = "invalid_input"


class InvalidAmount(InvalidInput):
    code = "invalid_amount"


class ReasonNotSpecific(InvalidInput):
    """A generic reason code ("policy_change") that names no factor (US-3; the policy lint's
    rule, applied to every decision)."""

    code = "reason_not_specific"


class LimitBelowMinimum(InvalidInput):
    """A limit of zero, or below the line's jurisdiction profile minimum: to stop lending,
    freeze, suspend or close the line instead."""

    code = "limit_below_minimum"


class LimitAboveCap(InvalidInput):
    """A limit above a cap: the jurisdiction profile's (CN-1, CN-2, US-6, the unverified-income
    ceiling) or, for staff, the policy's maximum. The error names the cap and its figures."""

    code = "limit_above_cap"


class UnknownCurrency(InvalidInput):
    code = "unknown_currency"


class CurrencyMismatch(InvalidInput):
    code = "currency_mismatch"


class NotFound(DomainError):
    code = "not_found"


class LineNotFound(NotFound):
    code = "line_not_found"


class DrawdownNotFound(NotFound):
    code = "drawdown_not_found"


class LoanNotFound(NotFound):
    code = "loan_not_found"


class DecisionNotFound(NotFound):
    code = "decision_not_found"


class ReportSectionNotFound(NotFound):
    code = "report_section_not_found"


class ProductNotFound(NotFound):
    code = "product_not_found"


class Forbidden(DomainError):
    code = "forbidden"


class Conflict(DomainError):
    """The request is well-formed but the current state does not allow it."""

    code = "conflict"


class InsufficientAvailableCredit(Conflict):
    code = "insufficient_available_credit"


class LineFrozen(Conflict):
    code = "line_frozen"


class LineSuspended(Conflict):
    code = "line_suspended"


class LineClosed(Conflict):
    code = "line_closed"


class DrawdownNotHeld(Conflict):
    code = "drawdown_not_held"


class DrawdownExpired(Conflict):
    code = "drawdown_expired"


class LoanSettled(Conflict):
    code = "loan_settled"


class LimitBelowUtilisation(Conflict):
    code = "limit_below_utilisation"


class InvalidLimitChange(Conflict):
    code = "invalid_limit_change"


class LineCapReached(Conflict):
    """The borrower already holds as many open lines in the currency as the profile allows."""

    code = "line_cap_reached"


class BorrowerRequestMissing(Conflict):
    """`borrower_request` or `account_closed_by_borrower` without an open request of the line's
    borrower that asks for exactly this change."""

    code = "borrower_request_missing"


class BorrowerRequestNotFound(NotFound):
    """No request of this borrower's line has the id: unknown, or another borrower's."""

    code = "borrower_request_not_found"


class BorrowerRequestNotOpen(Conflict):
    """The request was granted or withdrawn already: only an open one can be withdrawn."""

    code = "borrower_request_not_open"


class BorrowerRequestAlreadyOpen(Conflict):
    """The line has an open request already: one at a time, withdraw it to ask for another."""

    code = "borrower_request_already_open"


class RateAboveCap(InvalidInput):
    """A price above its jurisdiction profile's rate cap (CN-4, CN-5): the nominal annual rate,
    the daily rate × 365, the APR (or APRC) of the flows, or the effective annual rate by daily
    IRR, on this drawdown's calendar or on the dearest one. The error names the measure, the
    figure, the cap, where the cap comes from and the profile."""

    code = "rate_above_cap"


class TermAboveCap(InvalidInput):
    """A term longer than the jurisdiction profile allows for its repayment method (CN-2: an
    interest-first loan runs at most a year)."""

    code = "term_above_cap"


class DataCategoryNotAllowed(InvalidInput):
    """A policy that reads a feature whose data category its jurisdiction profile does not
    allow for assessing creditworthiness (EU-1)."""

    code = "data_category_not_allowed"


class BlockReasonNotJustified(InvalidInput):
    """A freeze or suspension whose reasons are not among the profile's objectively justified
    reasons for blocking drawdowns (EU-2)."""

    code = "block_reason_not_justified"


class TerminationNoticeTooShort(InvalidInput):
    """A lender's close set to take effect before the profile's notice period has run
    (EU-2)."""

    code = "termination_notice_too_short"


class BusinessDateInFuture(InvalidInput):
    """End of day asked for a business date that has not begun where the lender does
    business."""

    code = "business_date_in_future"


class ReportDateInFuture(InvalidInput):
    """A report asked for a business date that has not ended where the lender does business
    (its figures could still change)."""

    code = "report_date_in_future"


class RefundAboveCreditBalance(Conflict):
    """A refund of more than the loan's credit balance (or of a loan that has none)."""

    code = "refund_above_credit_balance"


class IdempotencyKeyReused(Conflict):
    code = "idempotency_key_reused"


class InvalidIdempotencyKey(InvalidInput):
    """An `Idempotency-Key` that is empty, longer than 255 characters or not printable ASCII."""

    code = "invalid_idempotency_key"


class Busy(DomainError):
    """Contention or a lost connection outlasted the bounded retry. The outcome is unknown if
    the last attempt failed during COMMIT: retry with the same idempotency key."""

    code = "busy"


class RateLimited(DomainError):
    """A borrower asked for something more often than its limit allows in a sliding window.
    Nothing was changed; `retry_after_seconds` says when the oldest counted request leaves the
    window and a new one is allowed."""

    code = "rate_limited"

    def __init__(self, message: str, *, retry_after_seconds: int, **details: Any) -> None:
        super().__init__(message, retry_after_seconds=retry_after_seconds, **details)
        self.retry_after_seconds = retry_after_seconds


class UnknownFunder(InvalidInput):
    """A funding split names a funder its loan's jurisdiction profile does not list."""

    code = "unknown_funder"


class LenderShareBelowMinimum(InvalidInput):
    """A funding split leaves the lender's own share below its profile's minimum (CN-3: a
    joint loan's lending company funds at least 30 % of it)."""

    code = "lender_share_below_minimum"


class FunderNotFound(NotFound):
    """No profile of the catalogue lists the funder."""

    code = "funder_not_found"
