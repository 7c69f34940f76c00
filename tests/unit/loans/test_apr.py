"""APR by the Appendix J actuarial method and by XIRR-style daily discounting."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from decimal import ROUND_HALF_UP, Decimal

import pytest

from creditline.kernel.errors import InvalidInput
from creditline.loans.apr import CashFlow, apr_actuarial, apr_daily


def _monthly_dates(first: dt.date, count: int) -> list[dt.date]:
    dates = []
    for offset in range(count):
        year, month = divmod(first.month - 1 + offset, 12)
        dates.append(first.replace(year=first.year + year, month=month + 1))
    return dates


def _loan(
    advance_date: dt.date, advance_minor: int, payments: list[tuple[dt.date, int]]
) -> list[CashFlow]:
    return [CashFlow(advance_date, -advance_minor)] + [
        CashFlow(day, amount) for day, amount in payments
    ]


def _level_payment_minor(principal_minor: int, rate_per_month: Decimal, count: int) -> int:
    factor = (1 + rate_per_month) ** count
    payment = Decimal(principal_minor) * rate_per_month * factor / (factor - 1)
    return int(payment.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def test_level_monthly_annuity_at_12_percent_round_trips_to_12_00() -> None:
    payment = _level_payment_minor(1_000_000, Decimal("0.01"), 36)
    dates = _monthly_dates(dt.date(2025, 2, 15), 36)
    flows = _loan(dt.date(2025, 1, 15), 1_000_000, [(day, payment) for day in dates])

    assert apr_actuarial(flows) == Decimal("12.00")
    # The same schedule as an effective annual rate: (1.01)**12 - 1 = 12.68%, give or take the
    # days-per-month difference between equal months and a 365-day year.
    assert Decimal("12.5") < apr_daily(flows) < Decimal("12.9")


def test_an_upfront_fee_raises_the_apr_above_the_nominal_rate() -> None:
    payment = _level_payment_minor(1_000_000, Decimal("0.01"), 36)
    dates = _monthly_dates(dt.date(2025, 2, 15), 36)
    # A 2% fee deducted at disbursement: the borrower receives 9,800.00 but repays on 10,000.00.
    flows = _loan(dt.date(2025, 1, 15), 980_000, [(day, payment) for day in dates])

    assert apr_actuarial(flows) > Decimal("13.00")


@pytest.mark.parametrize(
    ("example", "advance_date", "advance_minor", "payments", "apr_percent"),
    [
        (
            "(c)(1)(i) monthly, regular first period",
            dt.date(1978, 1, 10),
            500_000,
            [(day, 23_000) for day in _monthly_dates(dt.date(1978, 2, 10), 24)],
            Decimal("9.69"),
        ),
        (
            "(c)(1)(ii) monthly, long first period (19 odd days)",
            dt.date(1978, 2, 10),
            600_000,
            [(day, 20_000) for day in _monthly_dates(dt.date(1978, 4, 1), 36)],
            Decimal("11.82"),
        ),
        (
            "(c)(2)(i) monthly, irregular first payment",
            dt.date(1978, 1, 10),
            500_000,
            [
                (day, 25_000 if index == 0 else 23_000)
                for index, day in enumerate(_monthly_dates(dt.date(1978, 2, 10), 24))
            ],
            Decimal("10.08"),
        ),
        (
            "(c)(3)(i) monthly, irregular final payment",
            dt.date(1978, 1, 10),
            500_000,
            [
                (day, 28_000 if index == 23 else 23_000)
                for index, day in enumerate(_monthly_dates(dt.date(1978, 2, 10), 24))
            ],
            Decimal("10.50"),
        ),
        (
            "(c)(4)(i) monthly, irregular first and final payments",
            dt.date(1978, 1, 10),
            500_000,
            [
                (day, {0: 25_000, 23: 28_000}.get(index, 23_000))
                for index, day in enumerate(_monthly_dates(dt.date(1978, 2, 10), 24))
            ],
            Decimal("10.90"),
        ),
    ],
)
def test_regulation_z_appendix_j_worked_examples(
    example: str,
    advance_date: dt.date,
    advance_minor: int,
    payments: list[tuple[dt.date, int]],
    apr_percent: Decimal,
) -> None:
    """Regulation Z, 12 CFR 1026 Appendix J, paragraph (c), examples for the actuarial method.

    Source: https://www.consumerfinance.gov/rules-policy/regulations/1026/j/ (same text at
    http://www.fdic.gov/regulations/laws/rules/6500-3550.html). E.g. (c)(1)(i): $5,000 advanced
    1-10-78, 24 monthly payments of $230 from 2-10-78, APR 9.69%; (c)(1)(ii): $6,000 advanced
    2-10-78, 36 payments of $200 from 4-1-78 (t = 1, f = 19/30), APR 11.82%.
    """
    flows = _loan(advance_date, advance_minor, payments)

    assert apr_actuarial(flows) == apr_percent, example


def test_chinese_instalment_with_monthly_fee_has_irr_apr_near_13_percent() -> None:
    """A computed CN-4 disclosure case (no published worked example was found quickly).

    CNY 10,000.00 in 12 monthly instalments (等额本息-style level instalments) with a "monthly
    fee rate" of 0.6% of the original principal: 833.33 principal + 60.00 fee a month, the last
    instalment taking the rounding. The headline 0.6% × 12 = 7.2% understates the cost; the
    IRR-based APR (PBOC Announcement 2021 No. 3) is 13.03%, checked independently with a float
    bisection of 10000 = Σ 893.333.../(1+i)^k, k = 1..12 (i × 1200 = 13.0342).
    """
    dates = _monthly_dates(dt.date(2024, 2, 15), 12)
    payments = [(day, 89_333) for day in dates[:-1]] + [
        (dates[-1], 1_000_000 - 83_333 * 11 + 6_000)
    ]
    flows = _loan(dt.date(2024, 1, 15), 1_000_000, payments)

    assert apr_actuarial(flows) == Decimal("13.03")


def test_daily_apr_of_a_one_year_single_payment_is_the_simple_return() -> None:
    # Hand computed: 10,000 -> 11,000 after exactly 365 days: (1 + r) = 1.1, r = 10%.
    flows = [CashFlow(dt.date(2023, 1, 1), -1_000_000), CashFlow(dt.date(2024, 1, 1), 1_100_000)]

    assert apr_daily(flows) == Decimal("10.00")


def test_daily_apr_of_a_half_year_loan_compounds_to_an_annual_rate() -> None:
    # Hand computed: 10,000 -> 10,500 after 181 days: r = 1.05 ** (365 / 181) - 1
    # = exp(2.016575 * 0.048790) - 1 = exp(0.098389) - 1 = 0.10339 -> 10.34%.
    flows = [CashFlow(dt.date(2023, 1, 1), -1_000_000), CashFlow(dt.date(2023, 7, 1), 1_050_000)]

    assert apr_daily(flows) == Decimal("10.34")


def test_daily_apr_matches_the_excel_xirr_documentation_example() -> None:
    """Microsoft's XIRR example: result 0.373362535 (37.34%).

    Source: https://support.microsoft.com/zh-cn/excel/functions/xirr-function
    """
    flows = [
        CashFlow(dt.date(2008, 1, 1), -1_000_000),
        CashFlow(dt.date(2008, 3, 1), 275_000),
        CashFlow(dt.date(2008, 10, 30), 425_000),
        CashFlow(dt.date(2009, 2, 15), 325_000),
        CashFlow(dt.date(2009, 4, 1), 275_000),
    ]

    assert apr_daily(flows) == Decimal("37.34")


def test_flow_order_does_not_matter() -> None:
    dates = _monthly_dates(dt.date(1978, 2, 10), 24)
    flows = _loan(dt.date(1978, 1, 10), 500_000, [(day, 23_000) for day in dates])

    assert apr_actuarial(list(reversed(flows))) == Decimal("9.69")


@pytest.mark.parametrize("solver", [apr_actuarial, apr_daily])
@pytest.mark.parametrize(
    "flows",
    [
        [],
        [CashFlow(dt.date(2025, 1, 1), -100_000)],
        [CashFlow(dt.date(2025, 1, 1), 100_000), CashFlow(dt.date(2025, 2, 1), 100_000)],
    ],
    ids=["empty", "advances-only", "payments-only"],
)
def test_empty_or_one_sided_schedules_are_refused(
    solver: Callable[[Sequence[CashFlow]], Decimal], flows: list[CashFlow]
) -> None:
    with pytest.raises(InvalidInput):
        solver(flows)


def test_actuarial_refuses_a_schedule_without_a_monthly_unit_period() -> None:
    flows = [
        CashFlow(dt.date(2025, 1, 1), -100_000),
        *(
            CashFlow(dt.date(2025, 1, 1) + dt.timedelta(weeks=week), 10_000)
            for week in range(1, 12)
        ),
    ]

    with pytest.raises(InvalidInput):
        apr_actuarial(flows)


def test_cash_flow_refuses_float_amounts() -> None:
    with pytest.raises(InvalidInput):
        CashFlow(dt.date(2025, 1, 1), 100.0)  # type: ignore[arg-type]


def test_apr_is_a_two_place_decimal() -> None:
    dates = _monthly_dates(dt.date(1978, 2, 10), 24)
    flows = _loan(dt.date(1978, 1, 10), 500_000, [(day, 23_000) for day in dates])

    assert apr_actuarial(flows).as_tuple().exponent == -2
    assert isinstance(apr_daily(flows), Decimal)
