"""The APR solved in float and verified in Decimal discloses what the Decimal solver alone
discloses (the oracle: `exact=True`), for loans of every kind the catalogue can price."""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from creditline.loans import apr
from creditline.loans.apr import CashFlow, apr_actuarial, apr_daily
from creditline.loans.every_date import cash_flows
from creditline.loans.schedule import (
    ANNUAL_RATE_MAX,
    DAILY_RATE_MAX,
    AnnualRate,
    DailyRate,
    DayCount,
    Rate,
    RepaymentMethod,
    build_schedule,
)

annual_rates = st.builds(
    AnnualRate,
    st.decimals(0, ANNUAL_RATE_MAX, places=4),
    st.sampled_from(list(DayCount)),
)
daily_rates = st.builds(DailyRate, st.decimals(0, DAILY_RATE_MAX, places=6))


@st.composite
def loans(draw: st.DrawFn) -> list[CashFlow]:
    """The flows of a drawdown the way a quote builds them: a product's rate and method, an
    amount, a term, a date, and fees up to a tenth of the amount (upfront) or a hundredth of it
    (every instalment)."""
    rate: Rate = draw(st.one_of(annual_rates, daily_rates))
    method = draw(st.sampled_from(list(RepaymentMethod)))
    principal = draw(st.integers(100, 10**12))
    term = draw(st.integers(1, 36))
    start = draw(st.dates(dt.date(2000, 1, 1), dt.date(2060, 12, 31)))
    upfront = draw(st.integers(0, principal // 10))
    instalment_fee = draw(st.integers(0, principal // 100))
    schedule = build_schedule(method, principal, term, start, rate)
    return cash_flows(schedule, start, upfront, instalment_fee)


@settings(max_examples=400, deadline=None)
@given(loans())
def test_the_fast_apr_and_effective_rate_equal_the_decimal_solvers(flows: list[CashFlow]) -> None:
    assert apr_actuarial(flows) == apr_actuarial(flows, exact=True)
    assert apr_daily(flows) == apr_daily(flows, exact=True)


@settings(max_examples=200, deadline=None)
@given(
    st.integers(1, 36),
    st.integers(1, 5_000),
    st.dates(dt.date(2000, 1, 1), dt.date(2060, 12, 31)),
    st.integers(100, 10**9),
)
def test_a_round_rate_lands_on_a_rounding_edge_and_is_still_the_same(
    term: int, hundredths_of_a_point: int, start: dt.date, principal: int
) -> None:
    # A 30/360 annuity at a whole number of hundredths has its APR right on a shown figure:
    # the rounding-edge cases the fast path hands to the Decimal solver.
    rate = AnnualRate(Decimal(hundredths_of_a_point) / 10_000, DayCount.THIRTY_360)
    flows = cash_flows(
        build_schedule(RepaymentMethod.EQUAL_INSTALMENT, principal, term, start, rate), start, 0, 0
    )
    assert apr_actuarial(flows) == apr_actuarial(flows, exact=True)
    assert apr_daily(flows) == apr_daily(flows, exact=True)


def test_a_typical_loan_is_disclosed_without_the_decimal_solver(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # 10,000.00 at 1% a month (30/360) for 12 months: 888.49 a month by the annuity formula,
    # so an APR of 12 × 1% = 12.00% without fees (Appendix J: the nominal rate).
    start = dt.date(2026, 1, 15)
    rate = AnnualRate(Decimal("0.12"), DayCount.THIRTY_360)
    schedule = build_schedule(RepaymentMethod.EQUAL_INSTALMENT, 1_000_000, 12, start, rate)
    assert {i.payment_minor for i in schedule.instalments[:-1]} == {88_849}
    flows = cash_flows(schedule, start, 10_000, 0)
    expected = (apr_actuarial(flows, exact=True), apr_daily(flows, exact=True))

    def unused(*args: object) -> Decimal:
        raise AssertionError("the Decimal solver ran")

    monkeypatch.setattr(apr, "_solve", unused)
    assert (apr_actuarial(flows), apr_daily(flows)) == expected
    no_fee = cash_flows(schedule, start, 0, 0)
    assert apr_actuarial(no_fee) == Decimal("12.00")


@pytest.fixture
def decimal_solves(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Each run of the Decimal solver, as it runs."""
    calls: list[object] = []
    solve = apr._solve

    def counted(*args: object) -> Decimal:
        calls.append(args)
        return solve(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(apr, "_solve", counted)
    return calls


def test_a_schedule_with_two_advances_is_solved_in_decimal(decimal_solves: list[object]) -> None:
    # Only one advance first proves a single root; anything else goes to the Decimal solver.
    start = dt.date(2026, 1, 1)
    flows = [
        CashFlow(start, -50_000),
        CashFlow(dt.date(2026, 2, 1), -50_000),
        CashFlow(dt.date(2026, 7, 1), 105_000),
    ]
    assert apr_actuarial(flows) == apr_actuarial(flows, exact=True)
    assert len(decimal_solves) == 2


def test_the_decimal_solver_is_left_only_the_rounding_edges(decimal_solves: list[object]) -> None:
    # Without this, the equality above could hold because the fast path never ran. A root
    # within 0.0002 point of a rounding edge (x.xx5) goes to the Decimal solver: about 4 % of
    # rates spread evenly over each 0.01.
    rng = random.Random(16)
    loans_priced = 200
    for _ in range(loans_priced):
        rate = AnnualRate(Decimal(rng.randint(1, 9_999)) / 10_000, DayCount.ACT_365)
        principal = rng.randint(100, 10**9)
        start = dt.date(2020, 1, 1) + dt.timedelta(days=rng.randint(0, 3_000))
        method = rng.choice(list(RepaymentMethod))
        schedule = build_schedule(method, principal, rng.randint(2, 36), start, rate)
        flows = cash_flows(schedule, start, rng.randint(0, principal // 10), 0)
        apr_actuarial(flows)
        apr_daily(flows)
    assert len(decimal_solves) <= 2 * loans_priced // 10
