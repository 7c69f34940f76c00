"""The lifecycle's pure rules: which step may follow which, the notice period (a close waits
the termination notice), maker-checker and the guardrail."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from creditline.decisions.lifecycle import (
    ApproverIsAuthor,
    GuardrailExceeded,
    Impact,
    NoticePeriodTooShort,
    NoticeRules,
    PolicyIsActive,
    PolicyTransitionRefused,
    SimulationStale,
    State,
    earliest_effective,
    harsher,
    require_checker,
    require_fresh,
    require_notice_period,
    require_transition,
    require_within_guardrail,
)
from creditline.kernel.actors import Actor, Role

NOW = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
CN = NoticeRules(30, 0, timedelta(hours=24))
EU = NoticeRules(30, 2, timedelta(hours=24))
US = NoticeRules(45, 0, timedelta(hours=24))


def impact(adverse: int = 1, closes: int = 0, lines: int = 100) -> Impact:
    return Impact("sim-1", NOW, lines, adverse, closes)


def test_steps_follow_the_lifecycle_only() -> None:
    require_transition(State.SIMULATED, State.SIMULATED, "p@1")  # a fresh simulation
    for current, wanted in (
        (State.DRAFT, State.SIMULATED),
        (State.LINTED, State.APPROVED),
        (State.APPROVED, State.ACTIVE),
        (State.RETIRED, State.LINTED),
    ):
        with pytest.raises(PolicyTransitionRefused):
            require_transition(current, wanted, "p@1")
    with pytest.raises(PolicyIsActive):
        require_transition(State.ACTIVE, State.RETIRED, "p@1")


@pytest.mark.parametrize(
    ("rules", "closes", "earliest"),
    [
        (CN, 0, NOW + timedelta(days=30)),
        (US, 0, NOW + timedelta(days=45)),
        (EU, 0, NOW + timedelta(days=30)),
        (EU, 1, datetime(2027, 1, 28, 9, 0, tzinfo=UTC)),  # two calendar months
    ],
)
def test_the_notice_period_is_the_profiles(
    rules: NoticeRules, closes: int, earliest: datetime
) -> None:
    assert earliest_effective(impact(closes=closes), NOW, rules) == earliest
    require_notice_period(impact(closes=closes), NOW, earliest, rules)
    with pytest.raises(NoticePeriodTooShort):
        require_notice_period(impact(closes=closes), NOW, earliest - timedelta(seconds=1), rules)


def test_nobody_affected_may_take_effect_at_once() -> None:
    require_notice_period(impact(adverse=0), NOW, NOW, CN)


def test_the_author_never_approves() -> None:
    for author in ("approver:a", "analyst:a"):  # in whatever role they wrote it
        with pytest.raises(ApproverIsAuthor):
            require_checker(Actor("a", Role.APPROVER), author, "p@1")
    require_checker(Actor("b", Role.APPROVER), "approver:a", "p@1")


def test_a_simulation_older_than_the_profile_allows_is_stale() -> None:
    require_fresh(impact(), NOW + timedelta(hours=24), timedelta(hours=24), "p@1")
    with pytest.raises(SimulationStale):
        require_fresh(impact(), NOW + timedelta(hours=25), timedelta(hours=24), "p@1")
    with pytest.raises(SimulationStale):
        require_fresh(None, NOW, timedelta(hours=24), "p@1")


def test_above_the_guardrail_an_admin_justifies() -> None:
    share = Decimal("0.05")
    approver, admin = Actor("b", Role.APPROVER), Actor("c", Role.ADMIN)
    assert require_within_guardrail(impact(adverse=5), share, approver, None, "p@1") is False
    for who, why in ((approver, "because"), (admin, None)):
        with pytest.raises(GuardrailExceeded):
            require_within_guardrail(impact(adverse=6), share, who, why, "p@1")
    assert require_within_guardrail(impact(adverse=6), share, admin, "because", "p@1") is True


def test_harsher_is_a_harsher_action_or_a_lower_cut() -> None:
    assert harsher("freeze", 100, "decrease", 50)
    assert harsher("decrease", 40, "decrease", 50)
    assert not harsher("decrease", 60, "decrease", 50)
    assert not harsher("decrease", 10, "freeze", 100)
