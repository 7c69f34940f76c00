"""What a line's jurisdiction profile adds to blocking and closing it (pure: no I/O, no clock).

EU-2 (Consumer Credit Directive (EU) 2023/2225, Art. 28):
- Blocking drawdowns — a freeze or a suspension — needs an objectively justified reason
  (Art. 28(2)): with a profile that lists its `block_reasons`, a block's principal (first)
  reason code is one of them (`block_reason_not_justified`); codes after it may add to the
  explanation. The borrower's notice is queued in the block's own transaction, so it goes out
  at once.
- The lender ends an open-end agreement with at least `termination_notice_months` of notice
  (Art. 28(1)). A close the lender decides is then scheduled: its decision is recorded and
  announced now, the line stays usable, and the close takes effect on `Line.closing_at`, at the
  earliest that many calendar months on (`termination_notice_too_short` for a date before
  that). A close the borrower asked for takes effect at once, and so does a scheduled close
  once its date has come (the sweeper's, or the next drawdown's). A close the borrower was
  told of ahead (a policy change's notice, `LimitChange.notice_given_at`) counts its notice
  from that day: once it has run, the close takes effect at once.
A profile without these settings (`ProfileRules()`) changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from creditline.kernel.errors import (
    BlockReasonNotJustified,
    InvalidInput,
    InvalidLimitChange,
    TerminationNoticeTooShort,
)
from creditline.kernel.months import add_months
from creditline.ledger.limit_rules import BORROWER_CODES
from creditline.ledger.model import Action, LimitChange, Line, Movement

BLOCKING_ACTIONS = frozenset({Action.FREEZE, Action.SUSPEND})
# How far ahead a close may be set to take effect (a profile's notice is at most 12 months).
CLOSE_NOTICE_MAX = timedelta(days=731)
CLOSE_SCHEDULED = "close_scheduled"  # the journal's kind for a close still to take effect


@dataclass(frozen=True, slots=True)
class ProfileRules:
    """A profile's rules for blocking and closing lines."""

    block_reasons: frozenset[str] | None = None  # None: any specific adverse code
    termination_notice_months: int = 0  # 0: a lender's close takes effect at once


def with_profile_rules(
    line: Line, change: LimitChange, movement: Movement, now: datetime, rules: ProfileRules
) -> Movement:
    """The movement of `change` under the line's profile: a block refused for an unjustified
    reason, a lender's close scheduled for later; any other movement as planned."""
    _check_effective_at(change, now)
    if change.action in BLOCKING_ACTIONS:
        require_justified_block(change, rules)
    if change.action is not Action.CLOSE:
        return movement
    closing_at = close_date(line, change, now, rules.termination_notice_months)
    return movement if closing_at is None else Movement(CLOSE_SCHEDULED, closing_at=closing_at)


def _check_effective_at(change: LimitChange, now: datetime) -> None:
    given = change.notice_given_at
    if given is not None and (
        change.action is not Action.CLOSE or given.tzinfo is None or given > now
    ):
        raise InvalidInput("`notice_given_at` is a past time with a close", field="notice_given_at")
    effective_at = change.effective_at
    if effective_at is None:
        return
    if change.action is not Action.CLOSE:
        raise InvalidInput("only a close takes `effective_at`", action=change.action.value)
    if effective_at.tzinfo is None:
        raise InvalidInput("`effective_at` needs a time zone", field="effective_at")
    if not now < effective_at <= now + CLOSE_NOTICE_MAX:
        raise InvalidInput(
            f"`effective_at` must be in the future and at most {CLOSE_NOTICE_MAX.days} days away",
            close_notice_days_max=CLOSE_NOTICE_MAX.days,
        )


def require_justified_block(change: LimitChange, rules: ProfileRules) -> None:
    """Refuse a freeze or suspension whose principal (first) reason the profile does not count
    as justifying a block."""
    allowed = rules.block_reasons
    if allowed is None or not change.reason_codes:
        return  # no list; or no reason at all, which the model refuses first
    principal = change.reason_codes[0]
    if principal not in allowed:
        raise BlockReasonNotJustified(
            f"drawing on this line may be blocked only for {', '.join(sorted(allowed))}; "
            f"{principal} does not justify a {change.action.value}",
            reason_code=principal,
            allowed=sorted(allowed),
        )


def close_date(
    line: Line, change: LimitChange, now: datetime, notice_months: int
) -> datetime | None:
    """When a close takes effect: None for at once (asked for by the borrower, its date has
    come, or the notice it was given ahead has run), else the date asked for or the earliest
    the notice allows."""
    if any(code in BORROWER_CODES for code in change.reason_codes):
        if change.effective_at is not None:
            raise InvalidInput("a close the borrower asked for takes effect at once")
        return None
    if line.closing_at is not None:
        if line.closing_at <= now:
            return None  # its notice has run: the scheduled close itself
        raise InvalidLimitChange(
            f"the line already closes on {line.closing_at.isoformat()}",
            closing_at=line.closing_at.isoformat(),
        )
    earliest = add_months(change.notice_given_at or now, notice_months)
    if change.effective_at is None:
        return None if earliest <= now else earliest
    if change.effective_at < earliest:
        raise TerminationNoticeTooShort(
            f"a close by the lender takes effect at least {notice_months} months after it is "
            f"decided: on {earliest.isoformat()} or later",
            notice_months=notice_months,
            earliest=earliest.isoformat(),
        )
    return change.effective_at
