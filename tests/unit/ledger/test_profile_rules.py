"""A profile's rules for blocking and closing a line (`ledger/profile_rules.py`, EU-2), and the
scheduled close in the line's pure model. Dates worked out by hand: two calendar months after
28 November 2026 09:00 UTC is 28 January 2027 09:00 UTC; after 31 December, 28 February (the
month has no 31st)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from creditline.kernel.errors import (
    BlockReasonNotJustified,
    InvalidInput,
    InvalidLimitChange,
    TerminationNoticeTooShort,
)
from creditline.kernel.invariant import InvariantViolation
from creditline.ledger import model
from creditline.ledger.journal import GENESIS_HASH
from creditline.ledger.model import Action, LimitChange, Line, LineStatus, Movement
from creditline.ledger.profile_rules import (
    CLOSE_SCHEDULED,
    ProfileRules,
    with_profile_rules,
)

NOW = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
TWO_MONTHS_ON = datetime(2027, 1, 28, 9, 0, tzinfo=UTC)
EU = ProfileRules(frozenset({"fraud_suspected", "overdue_payment"}), termination_notice_months=2)
NONE = ProfileRules()
LINE = Line("line-1", "b-1", "EUR", 200_000, 0, 0, LineStatus.ACTIVE, None, None, 1, GENESIS_HASH)
CLOSING = replace(LINE, closing_at=TWO_MONTHS_ON)


def planned(line: Line, change: LimitChange, rules: ProfileRules, now: datetime = NOW) -> Movement:
    movement = model.plan_limit_change(line, change, now)
    return with_profile_rules(line, change, movement, now, rules)


def close(*codes: str, effective_at: datetime | None = None) -> LimitChange:
    return LimitChange(Action.CLOSE, codes or ("multiple_lenders",), effective_at=effective_at)


# --- blocks -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "fields"),
    [(Action.FREEZE, {"until": NOW + timedelta(days=7)}), (Action.SUSPEND, {})],
)
def test_a_block_needs_a_justified_principal_reason(action: Action, fields: dict) -> None:
    unjustified = LimitChange(action, ("drawdown_velocity", "fraud_suspected"), **fields)
    justified = LimitChange(action, ("fraud_suspected", "drawdown_velocity"), **fields)

    with pytest.raises(BlockReasonNotJustified) as refused:
        planned(LINE, unjustified, EU)

    assert refused.value.details == {
        "reason_code": "drawdown_velocity",
        "allowed": ["fraud_suspected", "overdue_payment"],
    }
    assert planned(LINE, justified, EU).status is (
        LineStatus.FROZEN if action is Action.FREEZE else LineStatus.SUSPENDED
    )
    assert planned(LINE, unjustified, NONE).status is not None  # no list: any specific code


def test_a_decrease_is_no_block() -> None:
    cut = LimitChange(Action.DECREASE, ("utilisation_high",), limit_minor=100_000)

    assert planned(LINE, cut, EU).limit_delta == -100_000


# --- closes -------------------------------------------------------------------------------------


def test_a_lender_close_is_scheduled_as_early_as_the_notice_allows() -> None:
    movement = planned(LINE, close(), EU)

    assert movement == Movement(CLOSE_SCHEDULED, closing_at=TWO_MONTHS_ON)
    after = model.apply(LINE, movement, "d-1")
    assert (after.status, after.closing_at, after.status_decision_id) == (
        LineStatus.ACTIVE,
        TWO_MONTHS_ON,
        None,
    )


def test_a_notice_counts_calendar_months_to_the_end_of_a_shorter_month() -> None:
    new_year_eve = datetime(2026, 12, 31, 12, 0, tzinfo=UTC)

    movement = planned(LINE, close(), EU, now=new_year_eve)

    assert movement.closing_at == datetime(2027, 2, 28, 12, 0, tzinfo=UTC)


def test_a_close_date_before_the_notice_has_run_is_refused() -> None:
    early = TWO_MONTHS_ON - timedelta(seconds=1)

    with pytest.raises(TerminationNoticeTooShort) as refused:
        planned(LINE, close(effective_at=early), EU)

    assert refused.value.code == "termination_notice_too_short"
    assert refused.value.details == {"notice_months": 2, "earliest": TWO_MONTHS_ON.isoformat()}
    later = TWO_MONTHS_ON + timedelta(days=10)
    assert planned(LINE, close(effective_at=later), EU).closing_at == later


def test_without_a_notice_a_close_is_at_once_unless_a_date_is_given() -> None:
    assert planned(LINE, close(), NONE).status is LineStatus.CLOSED
    soon = NOW + timedelta(days=3)
    assert planned(LINE, close(effective_at=soon), NONE).closing_at == soon


def test_a_close_told_ahead_counts_its_notice_from_the_day_the_borrower_was_told() -> None:
    told = replace(close(), notice_given_at=NOW)
    a_month_on = datetime(2026, 12, 28, 9, 0, tzinfo=UTC)

    # Decided on the notice's last day: at once; a month after it was told: on its date.
    assert planned(LINE, told, EU, now=TWO_MONTHS_ON).status is LineStatus.CLOSED
    assert planned(LINE, told, EU, now=a_month_on).closing_at == TWO_MONTHS_ON
    assert planned(LINE, close(), EU, now=TWO_MONTHS_ON).closing_at == datetime(
        2027, 3, 28, 9, 0, tzinfo=UTC
    )  # told nothing ahead: two months from the decision


@pytest.mark.parametrize(
    "change",
    [
        replace(close(), notice_given_at=NOW + timedelta(seconds=1)),
        replace(close(), notice_given_at=datetime(2026, 11, 1, 9, 0)),
        LimitChange(Action.SUSPEND, ("fraud_suspected",), notice_given_at=NOW),
    ],
    ids=["in the future", "no time zone", "not a close"],
)
def test_a_notice_given_ahead_is_a_past_time_with_a_close(change: LimitChange) -> None:
    with pytest.raises(InvalidInput, match="notice_given_at"):
        planned(LINE, change, EU)


def test_a_close_the_borrower_asked_for_is_at_once() -> None:
    asked = close("account_closed_by_borrower")

    assert planned(LINE, asked, EU).status is LineStatus.CLOSED
    after = model.apply(CLOSING, planned(CLOSING, asked, EU))
    assert (after.status, after.closing_at) == (LineStatus.CLOSED, None)  # a scheduled one, too
    with pytest.raises(InvalidInput, match="at once"):
        planned(LINE, close("account_closed_by_borrower", effective_at=TWO_MONTHS_ON), EU)


def test_a_line_closes_once_and_when_its_date_has_come() -> None:
    with pytest.raises(InvalidLimitChange, match="already closes on 2027-01-28"):
        planned(CLOSING, close(), EU)

    due = planned(CLOSING, close(), EU, now=TWO_MONTHS_ON)

    assert due.status is LineStatus.CLOSED
    assert model.apply(CLOSING, due).closing_at is None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (LimitChange(Action.SUSPEND, ("fraud_suspected",), effective_at=TWO_MONTHS_ON), "only"),
        (close(effective_at=datetime(2027, 3, 1, 9, 0)), "time zone"),
        (close(effective_at=NOW), "future"),
        (close(effective_at=NOW + timedelta(days=732)), "731 days"),
    ],
    ids=["not a close", "no time zone", "now", "too far"],
)
def test_effective_at_is_a_close_in_the_future_within_two_years(
    change: LimitChange, message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        planned(LINE, change, NONE)


def test_a_closed_line_has_no_close_still_to_come() -> None:
    with pytest.raises(InvariantViolation):
        model.check_line(replace(LINE, status=LineStatus.CLOSED, closing_at=TWO_MONTHS_ON))


def test_other_movements_keep_the_date_of_a_close_to_come() -> None:
    after = model.apply(CLOSING, model.plan_hold(CLOSING, 10_000, 12))

    assert after.closing_at == TWO_MONTHS_ON
    assert model.with_head(after, "h").closing_at == TWO_MONTHS_ON
