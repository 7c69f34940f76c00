"""Rules a line's limit and a borrower's request about it must meet (pure: no I/O, no clock).

A line is never zeroed: a limit is at least its jurisdiction profile's minimum and never zero;
to stop lending, staff freeze, suspend or close the line. A borrower may ask to lower their
limit or to close their line (never to raise it); the codes that say a borrower asked
(`borrower_request`, `account_closed_by_borrower`) explain a decision only when it does what
an open request of that line asked for.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from creditline.kernel.errors import (
    BorrowerRequestMissing,
    InvalidAmount,
    InvalidInput,
    InvalidLimitChange,
    LimitBelowMinimum,
)
from creditline.kernel.money import format_minor
from creditline.kernel.reasons import REASON_CATALOGUE

# The codes that say the borrower asked for the change.
BORROWER_CODES = frozenset(code for code, r in REASON_CATALOGUE.items() if r.borrower_initiated)


class RequestKind(StrEnum):
    """What a borrower may ask of their line: to close it, or to lower its limit."""

    CLOSE = "close"
    DECREASE = "decrease"


class RequestStatus(StrEnum):
    """An open request waits for staff; a done one was decided (its decision says how)."""

    OPEN = "open"
    DONE = "done"


@dataclass(frozen=True, slots=True)
class BorrowerRequest:
    """A borrower's own request about their line, as recorded."""

    id: str
    line_id: str
    borrower_id: str
    kind: RequestKind
    limit_minor: int | None  # the limit asked for, with a decrease only
    status: RequestStatus
    decision_id: str | None
    created_at: datetime
    done_at: datetime | None


def require_limit_at_least_minimum(limit_minor: int, limit_min_minor: int, currency: str) -> None:
    """Refuse a negative limit (`invalid_amount`), and a limit of zero or below the profile's
    minimum (`limit_below_minimum`): to stop lending, freeze, suspend or close the line."""
    if limit_minor < 0:
        raise InvalidAmount("a limit cannot be negative")
    floor = max(limit_min_minor, 1)
    if limit_minor < floor:
        raise LimitBelowMinimum(
            f"a line's limit is at least {format_minor(floor, currency)} {currency}; "
            "to stop lending, freeze, suspend or close the line",
            limit_min=format_minor(floor, currency),
            currency=currency,
        )


def checked_request(
    kind: str,
    limit_minor: int | None,
    line_limit_minor: int,
    limit_min_minor: int,
    currency: str,
) -> RequestKind:
    """The kind of a borrower's request, if it may be made: a decrease names a limit below the
    current one and at least the minimum; a close names none. Never an increase."""
    try:
        parsed = RequestKind(kind)
    except ValueError:
        raise InvalidInput(
            "a borrower may ask to close the line or to decrease its limit",
            kinds=[k.value for k in RequestKind],
        ) from None
    if (parsed is RequestKind.DECREASE) != (limit_minor is not None):
        raise InvalidInput("a limit is given with a decrease, and only with it", kind=kind)
    if limit_minor is not None:
        require_limit_at_least_minimum(limit_minor, limit_min_minor, currency)
        if limit_minor >= line_limit_minor:
            raise InvalidLimitChange(
                "a request may only lower the limit; ask for a review to raise it",
                limit=format_minor(line_limit_minor, currency),
            )
    return parsed


def require_matching_request(
    line_id: str,
    action: str,
    reason_codes: Iterable[str],
    limit_minor: int | None,
    request: BorrowerRequest | None,
) -> None:
    """Refuse a borrower's code without an open request of `line_id` that asks for exactly
    this change (`borrower_request_missing`), and a request acted on without a borrower's code."""
    names_borrower = any(code in BORROWER_CODES for code in reason_codes)
    if request is None:
        if names_borrower:
            raise BorrowerRequestMissing(
                "a decision the borrower asked for names their open request (request_id)",
                reason_codes=sorted(BORROWER_CODES),
            )
        return
    if not names_borrower:
        raise InvalidInput(
            "a decision on a borrower's request names borrower_request or "
            "account_closed_by_borrower",
            request_id=request.id,
        )
    asked = (
        action == "close"
        if request.kind is RequestKind.CLOSE
        else action == "decrease" and limit_minor == request.limit_minor
    )
    if request.line_id != line_id or request.status is not RequestStatus.OPEN or not asked:
        raise BorrowerRequestMissing(
            "no open request of this line's borrower asks for this change",
            request_id=request.id,
        )
