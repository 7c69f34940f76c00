import hashlib
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from creditline.kernel.errors import (
    DomainError,
    InsufficientAvailableCredit,
    InvalidAmount,
    InvalidInput,
    InvalidLimitChange,
    LimitBelowMinimum,
    LimitBelowUtilisation,
    LineClosed,
    LineFrozen,
    LineSuspended,
    ReasonNotSpecific,
)
from creditline.kernel.invariant import InvariantViolation
from creditline.kernel.money import format_minor
from creditline.kernel.reasons import REASON_CATALOGUE, is_generic
from creditline.ledger import journal, model
from creditline.ledger.journal import GENESIS_HASH
from creditline.ledger.model import (
    ADVERSE_ACTIONS,
    FREEZE_DURATION_MAX,
    Action,
    LimitChange,
    Line,
    LineStatus,
    Movement,
)

NOW = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
TOMORROW = NOW + timedelta(days=1)
ACTIVE = Line(
    id="line-1",
    borrower_id="borrower-1",
    currency="CNY",
    limit_minor=2_000_000,
    principal_minor=0,
    held_minor=0,
    status=LineStatus.ACTIVE,
    frozen_until=None,
    status_decision_id=None,
    version=1,
    head_hash=GENESIS_HASH,
)
FROZEN = replace(ACTIVE, status=LineStatus.FROZEN, frozen_until=TOMORROW, status_decision_id="d-1")
SUSPENDED = replace(ACTIVE, status=LineStatus.SUSPENDED, status_decision_id="d-2")
CLOSED = replace(ACTIVE, status=LineStatus.CLOSED, status_decision_id="d-3")
USED = replace(ACTIVE, principal_minor=800_000, held_minor=200_000)  # 10000.00 available
BY_STATUS = {
    LineStatus.ACTIVE: ACTIVE,
    LineStatus.FROZEN: FROZEN,
    LineStatus.SUSPENDED: SUSPENDED,
    LineStatus.CLOSED: CLOSED,
}
ADVERSE_CODE = "fraud_suspected"
FAVOURABLE_CODE = "good_repayment_history"


def change(action: Action, *codes: str, **fields: object) -> LimitChange:
    defaults: dict[Action, dict[str, object]] = {
        Action.INCREASE: {"limit_minor": 2_500_000},
        Action.DECREASE: {"limit_minor": 1_500_000},
        Action.FREEZE: {"until": TOMORROW},
    }
    adverse = action in ADVERSE_ACTIONS
    chosen = codes or ((ADVERSE_CODE,) if adverse else (FAVOURABLE_CODE,))
    merged = {**defaults.get(action, {}), **fields}
    return LimitChange(action, chosen, **merged)  # type: ignore[arg-type]


# --- the line and its invariants -------------------------------------------------------------
def test_available_is_limit_less_principal_and_holds() -> None:
    assert USED.available_minor == 1_000_000


@pytest.mark.parametrize(
    ("broken", "said"),
    [
        (replace(ACTIVE, limit_minor=-1), "negative limit"),
        (replace(ACTIVE, held_minor=-1), "negative held"),
        (replace(ACTIVE, principal_minor=-1), "negative principal"),
        (replace(ACTIVE, principal_minor=1_500_000, held_minor=500_001), "above limit"),
        (replace(ACTIVE, status=LineStatus.FROZEN), "a freeze needs an end time"),
        (replace(ACTIVE, frozen_until=TOMORROW), "a freeze needs an end time"),
        (replace(ACTIVE, status=LineStatus.CLOSED, closing_at=TOMORROW), "no close still"),
    ],
)
def test_check_line_crashes_on_a_broken_line(broken: Line, said: str) -> None:
    with pytest.raises(InvariantViolation, match=said):
        model.check_line(broken)


def test_apply_crashes_rather_than_overdraw() -> None:
    with pytest.raises(InvariantViolation, match="utilisation above limit"):
        model.apply(USED, Movement("hold", held_delta=1_000_001))


def test_apply_moves_balances_and_version() -> None:
    after = model.apply(USED, Movement("x", limit_delta=5, principal_delta=-7, held_delta=3))
    assert (after.limit_minor, after.principal_minor, after.held_minor) == (
        2_000_005,
        799_993,
        200_003,
    )
    assert after.version == 2
    assert after.status is LineStatus.ACTIVE
    assert after.head_hash == USED.head_hash  # the service sets the head after journaling
    assert USED.version == 1


def test_apply_records_the_decision_behind_a_status_change() -> None:
    suspended = model.apply(ACTIVE, Movement("suspend", status=LineStatus.SUSPENDED), "d-9")
    assert suspended.status_decision_id == "d-9"
    assert model.apply(FROZEN, Movement("hold", held_delta=1)).status_decision_id == "d-1"


def test_a_limit_decision_keeps_the_decision_behind_the_status() -> None:
    # LineFrozen cites status_decision_id to say why the line is frozen; a later decrease of a
    # frozen line must not replace the freeze as that answer.
    decreased = model.apply(FROZEN, Movement("decrease", limit_delta=-1), "d-9")
    assert decreased.status_decision_id == "d-1"


def test_apply_keeps_a_freeze_through_a_plain_movement() -> None:
    after = model.apply(FROZEN, Movement("repay", principal_delta=0))
    assert after.status is LineStatus.FROZEN
    assert after.frozen_until == TOMORROW


# --- holds, posting, release ----------------------------------------------------------------
def test_plan_hold_reserves_the_amount() -> None:
    movement = model.plan_hold(USED, 300_000, 12)
    assert movement == Movement("hold", held_delta=300_000)
    after = model.apply(USED, movement)
    assert (after.held_minor, after.available_minor) == (500_000, 700_000)


def test_plan_hold_may_take_all_available_credit() -> None:
    after = model.apply(USED, model.plan_hold(USED, 1_000_000, 1))
    assert after.available_minor == 0


def test_plan_hold_refuses_one_minor_unit_more_than_available() -> None:
    with pytest.raises(InsufficientAvailableCredit) as refused:
        model.plan_hold(USED, 1_000_001, 12)
    assert refused.value.code == "insufficient_available_credit"
    assert refused.value.details == {"available": "10000.00", "currency": "CNY"}


@pytest.mark.parametrize("amount_minor", [0, -1])
def test_plan_hold_refuses_an_amount_that_is_not_positive(amount_minor: int) -> None:
    with pytest.raises(InvalidAmount):
        model.plan_hold(ACTIVE, amount_minor, 12)


@pytest.mark.parametrize("term_months", [0, 37, -1])
def test_plan_hold_refuses_a_term_out_of_range(term_months: int) -> None:
    with pytest.raises(InvalidInput) as refused:
        model.plan_hold(ACTIVE, 100, term_months)
    assert refused.value.details == {"term_months_min": 1, "term_months_max": 36}


@pytest.mark.parametrize("term_months", [1, 36])
def test_plan_hold_accepts_the_term_bounds(term_months: int) -> None:
    assert model.plan_hold(ACTIVE, 100, term_months).held_delta == 100


def test_plan_hold_on_a_frozen_line_names_the_freeze() -> None:
    with pytest.raises(LineFrozen) as refused:
        model.plan_hold(FROZEN, 100, 12)
    assert refused.value.code == "line_frozen"
    assert refused.value.details == {
        "frozen_until": TOMORROW.isoformat(),
        "decision_id": "d-1",
    }


def test_plan_hold_refuses_a_frozen_line_before_checking_credit() -> None:
    with pytest.raises(LineFrozen):
        model.plan_hold(FROZEN, FROZEN.limit_minor + 1, 12)


@pytest.mark.parametrize(
    ("line", "error", "code"),
    [(SUSPENDED, LineSuspended, "line_suspended"), (CLOSED, LineClosed, "line_closed")],
)
def test_plan_hold_refuses_a_line_not_drawable(
    line: Line, error: type[DomainError], code: str
) -> None:
    with pytest.raises(error) as refused:
        model.plan_hold(line, 100, 12)
    assert refused.value.code == code
    assert refused.value.details == {"decision_id": line.status_decision_id}


def test_plan_post_turns_the_whole_hold_into_principal() -> None:
    movement = model.plan_post(USED, 200_000, 200_000)
    assert movement == Movement("post", principal_delta=200_000, held_delta=-200_000)
    after = model.apply(USED, movement)
    assert (after.principal_minor, after.held_minor, after.available_minor) == (
        1_000_000,
        0,
        1_000_000,
    )


def test_plan_post_of_part_releases_the_rest() -> None:
    after = model.apply(USED, model.plan_post(USED, 200_000, 150_000))
    assert (after.principal_minor, after.held_minor, after.available_minor) == (
        950_000,
        0,
        1_050_000,
    )


def test_plan_post_refuses_more_than_was_held() -> None:
    with pytest.raises(InvalidAmount) as refused:
        model.plan_post(USED, 200_000, 200_001)
    assert refused.value.details == {"held": "2000.00"}


@pytest.mark.parametrize("post_minor", [0, -5])
def test_plan_post_refuses_an_amount_that_is_not_positive(post_minor: int) -> None:
    with pytest.raises(InvalidAmount):
        model.plan_post(USED, 200_000, post_minor)


@pytest.mark.parametrize(
    ("line", "error"), [(FROZEN, LineFrozen), (SUSPENDED, LineSuspended), (CLOSED, LineClosed)]
)
def test_plan_post_refuses_a_line_not_drawable(line: Line, error: type[DomainError]) -> None:
    with pytest.raises(error):
        model.plan_post(replace(line, held_minor=100), 100, 100)


def test_plan_release_gives_the_hold_back() -> None:
    movement = model.plan_release(200_000)
    assert movement == Movement("release", held_delta=-200_000)
    assert model.apply(USED, movement).available_minor == 1_200_000


def test_plan_release_works_on_a_frozen_line() -> None:
    frozen_with_hold = replace(FROZEN, held_minor=500)
    assert model.apply(frozen_with_hold, model.plan_release(500)).held_minor == 0


# --- repayments -----------------------------------------------------------------------------
def test_plan_repayment_restores_available_credit() -> None:
    movement = model.plan_repayment(300_000)
    assert movement == Movement("repay", principal_delta=-300_000)
    after = model.apply(USED, movement)
    assert (after.principal_minor, after.available_minor) == (500_000, 1_300_000)


# --- opening: a line opens at 0 and its first limit is an increase -------------------------
BLANK = replace(ACTIVE, limit_minor=0, version=0)


def first_limit(limit_minor: int, limit_min_minor: int) -> Movement:
    grant = change(Action.INCREASE, "application_approved", limit_minor=limit_minor)
    return model.plan_limit_change(BLANK, grant, NOW, limit_min_minor)


def test_a_first_limit_sets_the_limit_on_a_blank_line() -> None:
    opened = model.apply(BLANK, first_limit(2_000_000, 10_000))
    assert (opened.limit_minor, opened.available_minor, opened.version) == (2_000_000, 2_000_000, 1)


def test_a_first_limit_cannot_be_negative() -> None:
    with pytest.raises(InvalidAmount):
        first_limit(-1, 10_000)


@pytest.mark.parametrize(("limit_minor", "limit_min_minor"), [(0, 10_000), (9_999, 10_000), (0, 0)])
def test_a_first_limit_of_zero_or_below_the_minimum_is_refused(
    limit_minor: int, limit_min_minor: int
) -> None:
    with pytest.raises(LimitBelowMinimum) as refused:
        first_limit(limit_minor, limit_min_minor)
    assert refused.value.code == "limit_below_minimum"
    assert refused.value.details == {
        "limit_min": format_minor(max(limit_min_minor, 1), "CNY"),
        "currency": "CNY",
    }


def test_a_first_limit_of_exactly_the_minimum_is_granted() -> None:
    assert first_limit(10_000, 10_000).limit_delta == 10_000


# --- reason codes ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "codes",
    [
        (),
        (
            "fraud_suspected",
            "overdue_payment",
            "multiple_lenders",
            "bureau_inquiries",
            "regulatory_cap",
        ),
        ("fraud_suspected", "fraud_suspected"),
    ],
)
def test_a_decision_names_one_to_four_distinct_codes(codes: tuple[str, ...]) -> None:
    with pytest.raises(InvalidInput) as refused:
        model.validate_reasons(LimitChange(Action.FREEZE, codes, until=TOMORROW))
    assert refused.value.details == {"reason_codes_max": 4}


def test_four_distinct_codes_are_enough() -> None:
    codes = ("fraud_suspected", "overdue_payment", "multiple_lenders", "bureau_inquiries")
    model.validate_reasons(LimitChange(Action.FREEZE, codes, until=TOMORROW))


def test_unknown_reason_codes_are_refused() -> None:
    with pytest.raises(InvalidInput) as refused:
        model.validate_reasons(LimitChange(Action.FREEZE, ("fraud_suspected", "vibes", "nope")))
    assert refused.value.details == {"unknown": ["vibes", "nope"]}


FAVOURABLE_ACTIONS = sorted(set(Action) - ADVERSE_ACTIONS)
ADVERSE_CODES = sorted(
    code for code, r in REASON_CATALOGUE.items() if r.adverse and not is_generic(code)
)
FAVOURABLE_CODES = sorted(
    code for code, r in REASON_CATALOGUE.items() if not r.adverse and not r.borrower_initiated
)
BORROWER_CODES = sorted(code for code, r in REASON_CATALOGUE.items() if r.borrower_initiated)


@pytest.mark.parametrize(
    ("action", "code"),
    [
        (action, code)
        for action in FAVOURABLE_ACTIONS
        for code in ADVERSE_CODES
        if not (action is Action.INCREASE and code == "regulatory_cap")
    ],
)
def test_favourable_actions_refuse_adverse_codes(action: Action, code: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        model.validate_reasons(LimitChange(action, (FAVOURABLE_CODE, code)))
    assert refused.value.details == {"reason_code": code, "action": action.value}


def test_only_an_increase_may_say_a_regulatory_cap_held_it() -> None:
    model.validate_reasons(LimitChange(Action.INCREASE, (FAVOURABLE_CODE, "regulatory_cap"), 1))
    for action in set(FAVOURABLE_ACTIONS) - {Action.INCREASE}:
        with pytest.raises(InvalidInput):
            model.validate_reasons(LimitChange(action, (FAVOURABLE_CODE, "regulatory_cap")))


@pytest.mark.parametrize("action", sorted(ADVERSE_ACTIONS))
@pytest.mark.parametrize("code", FAVOURABLE_CODES)
def test_adverse_actions_refuse_favourable_codes(action: Action, code: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        model.validate_reasons(LimitChange(action, (code,)))
    assert refused.value.details == {"reason_code": code, "action": action.value}


@pytest.mark.parametrize("action", list(Action))
@pytest.mark.parametrize("code", BORROWER_CODES)
def test_borrower_initiated_codes_fit_both_directions(action: Action, code: str) -> None:
    model.validate_reasons(LimitChange(action, (code,)))


def test_the_catalogue_has_both_kinds_of_codes() -> None:
    assert ADVERSE_CODES and FAVOURABLE_CODES
    assert BORROWER_CODES == ["account_closed_by_borrower", "borrower_request"]
    assert "freeze_ended" in FAVOURABLE_CODES
    assert all(code == reason.code for code, reason in REASON_CATALOGUE.items())
    assert all(r.text_en and r.text_zh for r in REASON_CATALOGUE.values())


def test_adverse_actions_are_those_that_reduce_drawable_credit() -> None:
    assert {Action.DECREASE, Action.FREEZE, Action.SUSPEND, Action.CLOSE} == ADVERSE_ACTIONS
    assert change(Action.CLOSE).adverse
    assert not change(Action.INCREASE).adverse


def test_plan_limit_change_validates_reasons_first() -> None:
    with pytest.raises(InvalidInput):
        model.plan_limit_change(ACTIVE, change(Action.INCREASE, "fraud_suspected"), NOW)


# --- limit changes ----------------------------------------------------------------------------
def test_increase_moves_the_limit_by_the_difference() -> None:
    movement = model.plan_limit_change(USED, change(Action.INCREASE, limit_minor=2_600_000), NOW)
    assert movement == Movement("increase", limit_delta=600_000)
    assert model.apply(USED, movement).available_minor == 1_600_000


def test_decrease_moves_the_limit_by_the_difference() -> None:
    movement = model.plan_limit_change(USED, change(Action.DECREASE, limit_minor=1_200_000), NOW)
    assert movement == Movement("decrease", limit_delta=-800_000)
    assert model.apply(USED, movement).available_minor == 200_000


def test_decrease_may_reach_exactly_the_utilisation() -> None:
    movement = model.plan_limit_change(USED, change(Action.DECREASE, limit_minor=1_000_000), NOW)
    assert model.apply(USED, movement).available_minor == 0


def test_decrease_below_utilisation_is_refused_never_clamped() -> None:
    with pytest.raises(LimitBelowUtilisation) as refused:
        model.plan_limit_change(USED, change(Action.DECREASE, limit_minor=999_999), NOW)
    assert refused.value.code == "limit_below_utilisation"
    assert refused.value.details == {"utilised": "10000.00", "currency": "CNY"}


@pytest.mark.parametrize("line", [USED, ACTIVE])
def test_decrease_to_zero_is_refused_whether_or_not_credit_is_used(line: Line) -> None:
    # A line is never zeroed: to stop lending, freeze, suspend or close it.
    with pytest.raises(LimitBelowMinimum):
        model.plan_limit_change(line, change(Action.DECREASE, limit_minor=0), NOW)


@pytest.mark.parametrize("action", [Action.DECREASE, Action.INCREASE])
def test_a_limit_below_the_profile_minimum_is_refused(action: Action) -> None:
    low = replace(ACTIVE, limit_minor=5_000)
    line = ACTIVE if action is Action.DECREASE else low
    with pytest.raises(LimitBelowMinimum) as refused:
        model.plan_limit_change(line, change(action, limit_minor=9_999), NOW, 10_000)
    assert refused.value.details["limit_min"] == "100.00"


def test_a_decrease_to_exactly_the_minimum_is_allowed() -> None:
    movement = model.plan_limit_change(
        ACTIVE, change(Action.DECREASE, limit_minor=10_000), NOW, 10_000
    )
    assert movement.limit_delta == 10_000 - 2_000_000


@pytest.mark.parametrize("action", [Action.DECREASE, Action.FREEZE, Action.CLOSE])
def test_generic_reason_codes_are_refused_as_not_specific(action: Action) -> None:
    with pytest.raises(ReasonNotSpecific) as refused:
        model.validate_reasons(LimitChange(action, ("fraud_suspected", "policy_change")))
    assert refused.value.code == "reason_not_specific"
    assert refused.value.details == {"reason_code": "policy_change"}


@pytest.mark.parametrize(
    ("action", "limit_minor"),
    [
        (Action.INCREASE, 2_000_000),
        (Action.INCREASE, 1_999_999),
        (Action.DECREASE, 2_000_000),
        (Action.DECREASE, 2_000_001),
    ],
)
def test_a_limit_change_must_move_the_limit_its_way(action: Action, limit_minor: int) -> None:
    with pytest.raises(InvalidLimitChange) as refused:
        model.plan_limit_change(ACTIVE, change(action, limit_minor=limit_minor), NOW)
    assert refused.value.details == {"action": action.value}


def test_a_negative_limit_is_refused() -> None:
    with pytest.raises(InvalidAmount):
        model.plan_limit_change(ACTIVE, change(Action.DECREASE, limit_minor=-1), NOW)


@pytest.mark.parametrize("action", [Action.INCREASE, Action.DECREASE])
def test_a_limit_change_needs_a_limit(action: Action) -> None:
    with pytest.raises(InvalidInput):
        model.plan_limit_change(ACTIVE, change(action, limit_minor=None), NOW)


@pytest.mark.parametrize(
    "action", [Action.FREEZE, Action.UNFREEZE, Action.SUSPEND, Action.RESTORE, Action.CLOSE]
)
def test_only_a_limit_change_takes_a_limit(action: Action) -> None:
    with pytest.raises(InvalidInput) as refused:
        model.plan_limit_change(FROZEN, change(action, limit_minor=1_000), NOW)
    assert refused.value.details == {"action": action.value}


# --- freezes ----------------------------------------------------------------------------------
def test_freeze_keeps_the_limit_visible_and_records_its_end() -> None:
    movement = model.plan_limit_change(USED, change(Action.FREEZE), NOW)
    assert movement == Movement("freeze", status=LineStatus.FROZEN, frozen_until=TOMORROW)
    frozen = model.apply(USED, movement, "d-7")
    assert frozen.status is LineStatus.FROZEN
    assert frozen.frozen_until == TOMORROW
    assert frozen.status_decision_id == "d-7"
    assert (frozen.limit_minor, frozen.available_minor) == (2_000_000, 1_000_000)


def test_a_freeze_needs_until() -> None:
    with pytest.raises(InvalidInput) as refused:
        model.plan_limit_change(ACTIVE, change(Action.FREEZE, until=None), NOW)
    assert refused.value.details == {"action": "freeze"}


@pytest.mark.parametrize("action", [Action.SUSPEND, Action.CLOSE, Action.UNFREEZE])
def test_only_a_freeze_takes_until(action: Action) -> None:
    with pytest.raises(InvalidInput):
        model.plan_limit_change(FROZEN, change(action, until=TOMORROW), NOW)


@pytest.mark.parametrize(
    "until",
    [NOW, NOW - timedelta(seconds=1), NOW + FREEZE_DURATION_MAX + timedelta(microseconds=1)],
)
def test_a_freeze_ends_in_the_future_within_366_days(until: datetime) -> None:
    with pytest.raises(InvalidInput) as refused:
        model.plan_limit_change(ACTIVE, change(Action.FREEZE, until=until), NOW)
    assert refused.value.details == {"freeze_days_max": 366}


@pytest.mark.parametrize("until", [NOW + timedelta(microseconds=1), NOW + timedelta(days=366)])
def test_a_freeze_may_end_anywhere_in_its_window(until: datetime) -> None:
    movement = model.plan_limit_change(ACTIVE, change(Action.FREEZE, until=until), NOW)
    assert movement.frozen_until == until


def test_a_naive_until_is_refused_as_input() -> None:
    # An `until` without a time zone is ambiguous: it must be a typed rejection, not a TypeError.
    with pytest.raises(InvalidInput):
        model.plan_limit_change(ACTIVE, change(Action.FREEZE, until=datetime(2026, 11, 29)), NOW)


def test_a_freeze_in_another_zone_is_measured_as_the_same_instant() -> None:
    beijing = TOMORROW.astimezone(timezone(timedelta(hours=8)))
    movement = model.plan_limit_change(ACTIVE, change(Action.FREEZE, until=beijing), NOW)
    assert movement.frozen_until == TOMORROW


def test_a_frozen_line_can_be_frozen_again_with_a_new_end() -> None:
    later = NOW + timedelta(days=30)
    movement = model.plan_limit_change(FROZEN, change(Action.FREEZE, until=later), NOW)
    assert model.apply(FROZEN, movement).frozen_until == later


# --- status transitions -----------------------------------------------------------------------
ALLOWED = [
    (Action.INCREASE, LineStatus.ACTIVE, LineStatus.ACTIVE),
    (Action.INCREASE, LineStatus.FROZEN, LineStatus.FROZEN),
    (Action.INCREASE, LineStatus.SUSPENDED, LineStatus.SUSPENDED),
    (Action.DECREASE, LineStatus.ACTIVE, LineStatus.ACTIVE),
    (Action.DECREASE, LineStatus.FROZEN, LineStatus.FROZEN),
    (Action.DECREASE, LineStatus.SUSPENDED, LineStatus.SUSPENDED),
    (Action.FREEZE, LineStatus.ACTIVE, LineStatus.FROZEN),
    (Action.FREEZE, LineStatus.FROZEN, LineStatus.FROZEN),
    (Action.UNFREEZE, LineStatus.FROZEN, LineStatus.ACTIVE),
    (Action.SUSPEND, LineStatus.ACTIVE, LineStatus.SUSPENDED),
    (Action.SUSPEND, LineStatus.FROZEN, LineStatus.SUSPENDED),
    (Action.RESTORE, LineStatus.SUSPENDED, LineStatus.ACTIVE),
    (Action.CLOSE, LineStatus.ACTIVE, LineStatus.CLOSED),
    (Action.CLOSE, LineStatus.FROZEN, LineStatus.CLOSED),
    (Action.CLOSE, LineStatus.SUSPENDED, LineStatus.CLOSED),
]
REFUSED = [
    (action, status)
    for action in Action
    for status in LineStatus
    if (action, status) not in {(a, s) for a, s, _ in ALLOWED}
]


@pytest.mark.parametrize(("action", "before", "after"), ALLOWED)
def test_allowed_transitions(action: Action, before: LineStatus, after: LineStatus) -> None:
    line = BY_STATUS[before]
    moved = model.apply(line, model.plan_limit_change(line, change(action), NOW), "d-new")
    assert moved.status is after
    assert moved.frozen_until == (TOMORROW if after is LineStatus.FROZEN else None)


@pytest.mark.parametrize(("action", "before"), REFUSED)
def test_refused_transitions(action: Action, before: LineStatus) -> None:
    with pytest.raises(InvalidLimitChange) as refused:
        model.plan_limit_change(BY_STATUS[before], change(action), NOW)
    assert refused.value.code == "invalid_limit_change"
    assert refused.value.details == {"action": action.value, "status": before.value}


def test_nothing_can_be_done_to_a_closed_line() -> None:
    assert {action for action, status in REFUSED if status is LineStatus.CLOSED} == set(Action)


# --- decision fields --------------------------------------------------------------------------
def test_note_and_policy_version_have_length_limits() -> None:
    ok = change(Action.SUSPEND, note="n" * 1_000, policy_version="p" * 64)
    assert model.plan_limit_change(ACTIVE, ok, NOW).status is LineStatus.SUSPENDED
    with pytest.raises(InvalidInput):
        model.plan_limit_change(ACTIVE, change(Action.SUSPEND, note="n" * 1_001), NOW)
    with pytest.raises(InvalidInput):
        model.plan_limit_change(ACTIVE, change(Action.SUSPEND, policy_version="p" * 65), NOW)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("note", ""),
        ("note", "a\x00b"),
        ("note", "bell\x07"),
        ("policy_version", ""),
        ("policy_version", "v\n1"),
    ],
)
def test_decision_texts_are_non_empty_and_free_of_control_characters(
    field: str, value: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        model.plan_limit_change(ACTIVE, change(Action.SUSPEND, **{field: value}), NOW)
    assert refused.value.details == {"field": field}


def test_a_note_may_span_lines() -> None:
    note = "called the borrower\n\tno answer"
    assert model.plan_limit_change(ACTIVE, change(Action.SUSPEND, note=note), NOW).status


# --- journal entries --------------------------------------------------------------------------
def _hold_entry(prev_hash: str = "a" * 64) -> tuple[Line, Movement, journal.JournalEntry]:
    movement = Movement("hold", held_delta=50_000)
    after = model.apply(USED, movement)
    entry = model.journal_entry(after, movement, prev_hash, NOW, drawdown_id="dd-1")
    return after, movement, entry


def test_journal_entry_records_the_movement_and_the_balances_after() -> None:
    after, _, entry = _hold_entry()
    assert (entry.line_id, entry.seq, entry.kind) == ("line-1", 2, "hold")
    assert (entry.limit_delta_minor, entry.principal_delta_minor, entry.held_delta_minor) == (
        0,
        0,
        50_000,
    )
    assert (entry.limit_after_minor, entry.principal_after_minor, entry.held_after_minor) == (
        2_000_000,
        800_000,
        250_000,
    )
    assert entry.status_after == "active"
    assert (entry.drawdown_id, entry.loan_id, entry.decision_id) == ("dd-1", None, None)
    assert entry.created_at == NOW
    assert entry.prev_hash == "a" * 64
    assert entry.seq == after.version


def test_entry_hash_is_sha256_of_the_documented_text_form() -> None:
    _, _, entry = _hold_entry()
    text = "|".join(
        [
            *("a" * 64, "line-1", "2", "hold", "0", "0", "50000", "2000000", "800000"),
            *("250000", "active", "dd-1", "", "", "2026-11-28T09:00:00.000000Z"),
        ]
    )
    assert entry.hash == hashlib.sha256(text.encode()).hexdigest()


def test_entry_fields_recompute_the_hash() -> None:
    _, _, entry = _hold_entry()
    assert journal.entry_hash(entry.prev_hash, journal.entry_fields(entry)) == entry.hash


def test_the_hash_covers_the_previous_hash_and_every_field() -> None:
    _, _, entry = _hold_entry()
    fields = journal.entry_fields(entry)
    assert journal.entry_hash("b" * 64, fields) != entry.hash
    for index in range(len(fields)):
        altered = list(fields)
        altered[index] = "tampered"
        assert journal.entry_hash(entry.prev_hash, tuple(altered)) != entry.hash, index


def test_entry_hash_reads_times_as_utc_instants() -> None:
    beijing = NOW.astimezone(timezone(timedelta(hours=8)))
    assert journal.entry_hash(GENESIS_HASH, (beijing,)) == journal.entry_hash(GENESIS_HASH, (NOW,))
    assert journal.entry_hash(GENESIS_HASH, (None,)) == journal.entry_hash(GENESIS_HASH, ("",))


def test_entries_chain_by_hash() -> None:
    after, _, first = _hold_entry(GENESIS_HASH)
    movement = model.plan_release(50_000)
    second = model.journal_entry(model.apply(after, movement), movement, first.hash, NOW)
    assert second.prev_hash == first.hash
    assert second.seq == first.seq + 1
    assert second.hash != first.hash
    assert len(second.hash) == 64


# --- property: no sequence of planned commands breaks the line ----------------------------------
_commands = st.lists(
    st.tuples(
        st.sampled_from(
            ["hold", "post", "void", "repay", "increase", "decrease", "freeze", "unfreeze"]
        ),
        st.integers(min_value=-10, max_value=3_000_000),
    ),
    max_size=40,
)


@given(_commands)
def test_planned_movements_never_break_the_line(commands: list[tuple[str, int]]) -> None:
    line = ACTIVE
    holds: list[int] = []
    loans: list[int] = []
    totals = [line.limit_minor, 0, 0]
    for name, amount in commands:
        try:
            movement = _plan(line, name, amount, holds, loans)
        except DomainError:
            continue
        line = model.apply(line, movement)  # raises InvariantViolation if a plan was wrong
        totals = [
            totals[0] + movement.limit_delta,
            totals[1] + movement.principal_delta,
            totals[2] + movement.held_delta,
        ]
    assert totals == [line.limit_minor, line.principal_minor, line.held_minor]
    assert line.principal_minor == sum(loans)
    assert line.held_minor == sum(holds)


def _plan(line: Line, name: str, amount: int, holds: list[int], loans: list[int]) -> Movement:
    if name == "hold":
        movement = model.plan_hold(line, amount, 12)
        holds.append(amount)
    elif name in ("post", "void") and holds:
        held = holds[-1]
        if name == "void":
            movement = model.plan_release(held)
        else:
            movement = model.plan_post(line, held, min(amount, held))
            loans.append(min(amount, held))
        holds.pop()
    elif name == "repay" and loans:
        model.require_positive(amount)  # the loan's waterfall refuses it too
        repaid = min(amount, loans[-1])
        movement = model.plan_repayment(repaid)
        loans[-1] -= repaid
    elif name in ("increase", "decrease", "freeze", "unfreeze"):
        action = Action(name)
        by_action: dict[Action, dict[str, object]] = {
            Action.FREEZE: {"until": TOMORROW},
            Action.UNFREEZE: {},
        }
        fields = by_action.get(action, {"limit_minor": amount})
        movement = model.plan_limit_change(line, change(action, **fields), NOW)
    else:
        raise DomainError("nothing to do")
    return movement
