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
from decimal import Decimal
from enum import StrEnum

from creditline.kernel.errors import (
    BorrowerRequestAlreadyOpen,
    BorrowerRequestMissing,
    BorrowerRequestNotOpen,
    InvalidAmount,
    InvalidInput,
    InvalidLimitChange,
    LimitAboveCap,
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
    """An open request waits for staff; a done one was granted (its decision says how); a
    withdrawn one the borrower took back before staff acted on it."""

    OPEN = "open"
    DONE = "done"
    WITHDRAWN = "withdrawn"


@dataclass(frozen=True, slots=True)
class BorrowerRequest:
    """A borrower's own request about their line, as recorded: staff act on it by `due_at`
    (the line's profile's `review_days` after it was made, as the borrower was told)."""

    id: str
    line_id: str
    borrower_id: str
    kind: RequestKind
    limit_minor: int | None  # the limit asked for, with a decrease only
    status: RequestStatus
    decision_id: str | None
    created_at: datetime
    done_at: datetime | None
    due_at: datetime
    withdrawn_at: datetime | None = None


def require_open(request: BorrowerRequest) -> None:
    """Refuse to withdraw a request that is no longer open (`borrower_request_not_open`)."""
    if request.status is not RequestStatus.OPEN:
        raise BorrowerRequestNotOpen(
            f"the request is {request.status.value}: only an open request can be withdrawn",
            request_id=request.id,
            status=request.status.value,
        )


def require_none_open(line_id: str, open_request_id: str | None) -> None:
    """Refuse a second open request about one line (`borrower_request_already_open`): the
    borrower withdraws the open one to ask for something else."""
    if open_request_id is not None:
        raise BorrowerRequestAlreadyOpen(
            "the line has an open request; withdraw it to ask for something else",
            line_id=line_id,
            request_id=open_request_id,
        )


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


class CapKind(StrEnum):
    """The caps a jurisdiction profile may put on a line's limit."""

    LIMIT_CAP = "limit_cap"  # an amount per borrower (CN-1 300,000.00; CN-2 200,000.00)
    INCOME_SHARE = "income_share"  # months of income (CN-1: a third of annual income)
    UNVERIFIED_INCOME = "unverified_income"  # the most income without evidence supports
    ABILITY_TO_PAY = "ability_to_pay"  # US-6: payment on the full limit within income


# Codes an increase may carry to say why it is no larger than it is.
CAPPING_CODES = frozenset({"regulatory_cap"})

# The reason a borrower reads when a cap of this kind stopped a limit (besides
# `regulatory_cap`, which every capped automatic decision carries).
CAP_REASONS = {
    CapKind.LIMIT_CAP: "regulatory_cap",
    CapKind.INCOME_SHARE: "income_insufficient",
    CapKind.UNVERIFIED_INCOME: "income_unverified",
    CapKind.ABILITY_TO_PAY: "obligations_excessive",
}


@dataclass(frozen=True, slots=True)
class RegulatoryCaps:
    """A jurisdiction profile's caps on a line's limit, as data of a versioned profile.

    Ability to pay (US-6) assumes the whole limit drawn and repaid in equal monthly payments:
    `payment_minor` is the payment on `payment_basis_minor` of limit (the profile's term at its
    default product's rate), so a limit L costs L * payment_minor / payment_basis_minor a month.
    """

    profile: str
    version: str
    limit_cap_minor: int | None = None
    income_months: int | None = None
    unverified_limit_max_minor: int | None = None
    debt_to_income_max_percent: int | None = None
    payment_basis_minor: int = 1
    payment_minor: int = 0


@dataclass(frozen=True, slots=True)
class Capacity:
    """What a borrower can carry, as on file: income (and whether evidence backs it) and the
    monthly payments on their other debts, from the bureau or as stated in the application."""

    income_monthly_minor: int | None
    income_evidence: bool
    obligations_monthly_minor: int | None
    obligations_source: str | None  # "bureau", "application" or None (unknown)


@dataclass(frozen=True, slots=True)
class CapCheck:
    """Each cap of a profile that applies to a line of a borrower, in minor units of the line's
    currency: what the cap allows the borrower in all, less the limits of their other open
    lines in the currency (`elsewhere_minor`; the caps are per individual)."""

    caps: RegulatoryCaps
    capacity: Capacity
    limits: dict[CapKind, int]
    elsewhere_minor: int = 0

    @property
    def cap_minor(self) -> int | None:
        """The lowest cap (None: the profile caps nothing)."""
        return min(self.limits.values()) if self.limits else None

    @property
    def binding(self) -> CapKind | None:
        """The kind of the lowest cap (the first in `CapKind` order on a tie)."""
        cap = self.cap_minor
        return next((kind for kind in CapKind if self.limits.get(kind) == cap), None)

    def document(self, limit_minor: int, currency: str) -> dict[str, object]:
        """The figures a decision stores: the profile and its version, each cap, which one
        binds, and for US-6 the ability-to-pay calculation on `limit_minor`."""
        cap = self.cap_minor
        figures: dict[str, object] = {
            "profile": self.caps.profile,
            "profile_version": self.caps.version,
            "caps": {kind.value: format_minor(v, currency) for kind, v in self.limits.items()},
            "cap": None if cap is None else format_minor(cap, currency),
            "binding": None if self.binding is None else self.binding.value,
            "income_evidence": self.capacity.income_evidence,
            "other_lines_limits": format_minor(self.elsewhere_minor, currency),
        }
        if self.caps.debt_to_income_max_percent is not None:
            figures["ability_to_pay"] = self._ability_to_pay(limit_minor, currency)
        return figures

    def _ability_to_pay(self, limit_minor: int, currency: str) -> dict[str, object]:
        caps, capacity = self.caps, self.capacity
        # The payment on every line's limit: this one and the borrower's others (rounded up).
        total = limit_minor + self.elsewhere_minor
        payment = -(-total * caps.payment_minor // caps.payment_basis_minor)
        income, obligations = capacity.income_monthly_minor, capacity.obligations_monthly_minor
        ratio = None
        if income and obligations is not None:
            ratio = f"{Decimal(obligations + payment) * 100 / income:.2f}"
        return {
            "income_monthly": None if income is None else format_minor(income, currency),
            "obligations_monthly": (
                None if obligations is None else format_minor(obligations, currency)
            ),
            "obligations_source": capacity.obligations_source,
            "payment_on_limits": format_minor(payment, currency),
            "debt_to_income_percent": ratio,
            "debt_to_income_max_percent": str(caps.debt_to_income_max_percent),
            "passes": limit_minor <= self.limits[CapKind.ABILITY_TO_PAY],
        }


def cap_check(caps: RegulatoryCaps, capacity: Capacity, elsewhere_minor: int = 0) -> CapCheck:
    """The caps `caps` put on a line of a borrower with `capacity` whose other open lines in the
    currency have `elsewhere_minor` of limits. Unknown income supports no limit under an income
    share or ability to pay; unknown obligations show no ability to pay."""
    limits: dict[CapKind, int] = {}
    income = capacity.income_monthly_minor
    if caps.limit_cap_minor is not None:
        limits[CapKind.LIMIT_CAP] = caps.limit_cap_minor
    if caps.income_months is not None:
        limits[CapKind.INCOME_SHARE] = (income or 0) * caps.income_months
    if caps.unverified_limit_max_minor is not None and not capacity.income_evidence:
        limits[CapKind.UNVERIFIED_INCOME] = caps.unverified_limit_max_minor
    if caps.debt_to_income_max_percent is not None:
        obligations = capacity.obligations_monthly_minor
        room = (
            0
            if income is None or obligations is None
            else max(max(income, 0) * caps.debt_to_income_max_percent // 100 - obligations, 0)
        )
        limits[CapKind.ABILITY_TO_PAY] = room * caps.payment_basis_minor // caps.payment_minor
    left = {kind: max(cap - elsewhere_minor, 0) for kind, cap in limits.items()}
    return CapCheck(caps, capacity, left, elsewhere_minor)


def require_within_cap(limit_minor: int, check: CapCheck, currency: str) -> None:
    """Refuse a limit above the lowest cap (`limit_above_cap`), naming the cap and its kind."""
    cap, kind = check.cap_minor, check.binding
    if cap is None or kind is None or limit_minor <= cap:
        return
    raise LimitAboveCap(
        f"{format_minor(limit_minor, currency)} {currency} is above the {kind.value} cap of "
        f"{format_minor(cap, currency)} {currency} (profile {check.caps.version})",
        cap=kind.value,
        cap_limit=format_minor(cap, currency),
        currency=currency,
        profile_version=check.caps.version,
    )


@dataclass(frozen=True, slots=True)
class PolicyBounds:
    """The limits the active credit policy allows (its `min_limit`, `max_limit` and step);
    staff decisions keep to them like the policy's own."""

    policy_version: str
    currency: str
    min_minor: int
    max_minor: int
    step_minor: int


def require_within_policy(limit_minor: int, bounds: PolicyBounds) -> None:
    """Refuse a staff limit outside the policy's bounds or off its step."""
    currency = bounds.currency
    if limit_minor < bounds.min_minor:
        raise LimitBelowMinimum(
            f"the policy's smallest limit is {format_minor(bounds.min_minor, currency)} "
            f"{currency}; to stop lending, freeze, suspend or close the line",
            limit_min=format_minor(bounds.min_minor, currency),
            currency=currency,
            policy=bounds.policy_version,
        )
    if limit_minor > bounds.max_minor:
        raise LimitAboveCap(
            f"the policy's largest limit is {format_minor(bounds.max_minor, currency)} {currency}",
            cap="policy_max_limit",
            cap_limit=format_minor(bounds.max_minor, currency),
            currency=currency,
            policy=bounds.policy_version,
        )
    if limit_minor % bounds.step_minor:
        raise InvalidAmount(
            f"limits move in steps of {format_minor(bounds.step_minor, currency)} {currency}",
            step=format_minor(bounds.step_minor, currency),
            currency=currency,
            policy=bounds.policy_version,
        )
