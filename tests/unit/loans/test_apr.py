"""APR by the Appendix J actuarial method and by XIRR-style daily discounting."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from decimal import ROUND_HALF_UP, Decimal

import pytest

from creditline.kernel.errors import InvalidInput
from creditline.kernel.months import add_months
from creditline.loans.apr import CashFlow, apr_actuarial, apr_daily


def _monthly_dates(first: dt.date, count: int) -> list[dt.date]:
    dates = []
    for offset in range(count):
        year, month = divmod(first.month - 1 + offset, 12)
        dates.append(first.replace(year=first.year + year, month=month + 1))
    return dates


def _every(first: dt.date, count: int, *, weeks: int = 0, months: int = 0) -> list[dt.date]:
    """`count` dates from `first`, every `weeks` weeks or every `months` months."""
    if weeks:
        return [first + dt.timedelta(weeks=weeks * n) for n in range(count)]
    return [add_months(first, months * n) for n in range(count)]


def _semimonthly(first: dt.date, count: int) -> list[dt.date]:
    """`count` dates on the 1st and the 16th of each month, from `first` (a 1st or a 16th)."""
    dates = [first]
    while len(dates) < count:
        last = dates[-1]
        dates.append(last.replace(day=16) if last.day == 1 else add_months(last.replace(day=1), 1))
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
        (
            # The periods: 2-23 to 3-1 (6 days), then 15 and 13-16 days. Unit period a semimonth,
            # 24 a year; odd days over 15 ((b)(5)(iii)).
            "(c)(1)(iii) semimonthly, short first period",
            dt.date(1978, 2, 23),
            500_000,
            [(day, 21_917) for day in _semimonthly(dt.date(1978, 3, 1), 24)],
            Decimal("10.34"),
        ),
        (
            # Unit period 3 months, 4 a year: 5-23 to 10-1 is 4 months (back to 6-1) and 9 days,
            # 129 days over 90 ((b)(5)(iii)).
            "(c)(1)(iv) quarterly, long first period",
            dt.date(1978, 5, 23),
            1_000_000,
            [(day, 38_500) for day in _every(dt.date(1978, 10, 1), 40, months=3)],
            Decimal("8.97"),
        ),
        (
            # Unit period a week, 52 a year: 3-20 to 4-21 is 32 days, 4 weeks and 4/7
            # ((b)(5)(iv)).
            "(c)(1)(v) weekly, long first period",
            dt.date(1978, 3, 20),
            50_000,
            [(day, 1_760) for day in _every(dt.date(1978, 4, 21), 30, weeks=1)],
            Decimal("14.96"),
        ),
        (
            "(c)(2)(ii) every 4 weeks, long first period, irregular first payment",
            dt.date(1978, 3, 18),
            40_000,
            [(dt.date(1978, 4, 20), 3_950)]
            + [(day, 3_831) for day in _every(dt.date(1978, 5, 18), 11, weeks=4)],
            Decimal("28.50"),
        ),
        (
            "(c)(3)(ii) every 2 weeks, short first period, irregular final payment",
            dt.date(1978, 4, 3),
            20_000,
            [(day, 950) for day in _every(dt.date(1978, 4, 11), 19, weeks=2)]
            + [(dt.date(1978, 4, 11) + dt.timedelta(weeks=38), 3_000)],
            Decimal("12.22"),
        ),
        (
            "(c)(4)(ii) every 2 months, short first period, irregular first and final payments",
            dt.date(1978, 1, 10),
            800_000,
            [(dt.date(1978, 3, 1), 44_936)]
            + [(day, 46_500) for day in _every(dt.date(1978, 5, 1), 18, months=2)]
            + [(dt.date(1981, 5, 1), 20_000)],
            Decimal("7.30"),
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
    The examples whose unit period is not a month, (c)(1)(iii)-(v), (c)(2)(ii), (c)(3)(ii) and
    (c)(4)(ii), were read from a public test suite that transcribes them
    (simontreanor/FSharp.Finance.Personal, tests/AprUsActuarialTests.fs), not from the page:
    (c)(1)(iii) $5,000 on 2-23-78, 24 semimonthly payments of $219.17 from 3-1-78, 10.34%;
    (c)(1)(iv) $10,000 on 5-23-78, 40 quarterly payments of $385 from 10-1-78, 8.97%;
    (c)(1)(v) $500 on 3-20-78, 30 weekly payments of $17.60 from 4-21-78, 14.96%;
    (c)(2)(ii) $400 on 3-18-78, $39.50 on 4-20-78, then 11 of $38.31 every 4 weeks from
    5-18-78, 28.50%; (c)(3)(ii) $200 on 4-3-78, 19 of $9.50 every 2 weeks from 4-11-78, then
    $30, 12.22%; (c)(4)(ii) $8,000 on 1-10-78, $449.36 on 3-1-78, 18 of $465 every 2 months
    from 5-1-78, then $200 on 5-1-81, 7.30%.
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


def test_cash_flow_refuses_float_amounts() -> None:
    with pytest.raises(InvalidInput):
        CashFlow(dt.date(2025, 1, 1), 100.0)  # type: ignore[arg-type]


def test_apr_is_a_two_place_decimal() -> None:
    dates = _monthly_dates(dt.date(1978, 2, 10), 24)
    flows = _loan(dt.date(1978, 1, 10), 500_000, [(day, 23_000) for day in dates])

    assert apr_actuarial(flows).as_tuple().exponent == -2
    assert isinstance(apr_daily(flows), Decimal)


# --- a single advance repaid by a single payment ---------------------------------------------
# Appendix J (b)(4)(ii): the unit period of a single advance, single payment transaction is its
# term, but at most a year. (b)(5)(vi)-(vii): a term under a year is one unit period, with
# 12 / months (a whole number of months) or 365 / days unit periods in a year. (b)(5)(v): a
# longer term has a unit period of a year, whole years counted back from the payment, and the
# rest as a fraction of a year (whole months over 12, else days over 365).


@pytest.mark.parametrize(
    ("advance_date", "advance_minor", "payment_date", "payment_minor", "apr_percent"),
    [
        pytest.param(
            # A whole month, month end to month end (28 days): 1.12% × 12.
            dt.date(2026, 1, 31),
            1_000_000,
            dt.date(2026, 2, 28),
            1_011_200,
            Decimal("13.44"),
            id="one-month-jan-31-to-feb-28",
        ),
        pytest.param(
            # 10 days: 0.20% × 365 / 10 = 7.30%.
            dt.date(2025, 3, 1),
            1_000_000,
            dt.date(2025, 3, 11),
            1_002_000,
            Decimal("7.30"),
            id="ten-days",
        ),
        pytest.param(
            # Drawn on the 30th and due on the last day of February, where the 30th has no
            # date: a whole month (Appendix J (b)(3)(iv)), 1.16% × 12 = 13.92%, not 1.16% ×
            # 365 / 29 days = 14.60%.
            dt.date(2026, 1, 30),
            1_000_000,
            dt.date(2026, 2, 28),
            1_011_600,
            Decimal("13.92"),
            id="the-30th-to-february-28-is-a-month",
        ),
        pytest.param(
            # The same from the 29th in a year without a 29 February.
            dt.date(2026, 1, 29),
            1_000_000,
            dt.date(2026, 2, 28),
            1_011_600,
            Decimal("13.92"),
            id="the-29th-to-february-28-is-a-month",
        ),
        pytest.param(
            # 29 days that are not a month: 27 January to 25 February. 1.16% × 365 / 29.
            dt.date(2026, 1, 27),
            1_000_000,
            dt.date(2026, 2, 25),
            1_011_600,
            Decimal("14.60"),
            id="twenty-nine-days-not-a-month",
        ),
        pytest.param(
            # 365 days across 29 February 2024 is a day short of 12 months: 365 / 365 a year.
            dt.date(2024, 1, 16),
            1_000_000,
            dt.date(2025, 1, 15),
            1_100_000,
            Decimal("10.00"),
            id="365-days-short-of-a-year",
        ),
        pytest.param(
            # Exactly a year (366 days across 29 February 2024): 10% × 1.
            dt.date(2024, 1, 15),
            1_000_000,
            dt.date(2025, 1, 15),
            1_100_000,
            Decimal("10.00"),
            id="twelve-months",
        ),
        pytest.param(
            # No cost: nothing but the principal back.
            dt.date(2025, 3, 1),
            1_000_000,
            dt.date(2025, 4, 1),
            1_000_000,
            Decimal("0.00"),
            id="zero-cost",
        ),
    ],
)
def test_single_advance_single_payment_apr_uses_the_term_as_the_unit_period(
    advance_date: dt.date,
    advance_minor: int,
    payment_date: dt.date,
    payment_minor: int,
    apr_percent: Decimal,
) -> None:
    flows = _loan(advance_date, advance_minor, [(payment_date, payment_minor)])

    assert apr_actuarial(flows) == apr_percent
    assert apr_actuarial(list(reversed(flows))) == apr_percent


def test_regulation_z_appendix_j_single_advance_single_payment_examples() -> None:
    """Regulation Z, 12 CFR 1026 Appendix J, paragraph (c)(5), single advance, single payment.

    Source: https://www.consumerfinance.gov/rules-policy/regulations/1026/j/ (same text at
    http://www.fdic.gov/regulations/laws/rules/6500-3550.html); the examples are printed as
    page images in the GPO edition, https://www.govinfo.gov/content/pkg/CFR-2024-title12-vol9/
    pdf/CFR-2024-title12-vol9-part1026-appJ.pdf. The figures below were read from public test
    suites that transcribe the appendix's examples (not from the regulation page itself):
    (c)(5)(i), a term of less than a year measured in days: $1,000 advanced 1-3-78, $1,080
    repaid 9-15-78 (255 days), unit periods a year 365 / 255, APR 11.45%.
    (c)(5)(ii), a term of 6 months: $1,000 advanced, $1,044 repaid, 2 unit periods a year, APR
    8.80%. The dates are ours (any six whole months); counted in days instead (181 days) the
    rate would be 8.87%.
    (c)(5)(iii), a term of more than a year, the fraction in months: $1,000 advanced, $1,135.19
    repaid 18 months later (t = 1, f = 6/12, 1 unit period a year), APR 8.76%.
    (c)(5)(iv), a term of exactly 2 years: $1,000 advanced, $1,240 repaid (t = 2, f = 0), APR
    11.36%.
    For (iii) and (iv) the dates are ours too: the transcriptions give the term only.
    By hand: (iii) solves (1 + i/2)(1 + i) = 1.13519, i = -1.5 + sqrt(2.25 + 2 × 0.13519)
    = 0.08757; (iv) is i = sqrt(1.24) - 1 = 0.11355.
    """
    in_days = _loan(dt.date(1978, 1, 3), 100_000, [(dt.date(1978, 9, 15), 108_000)])
    six_months = _loan(dt.date(1978, 1, 3), 100_000, [(dt.date(1978, 7, 3), 104_400)])
    eighteen_months = _loan(dt.date(1978, 1, 3), 100_000, [(dt.date(1979, 7, 3), 113_519)])
    two_years = _loan(dt.date(1978, 1, 3), 100_000, [(dt.date(1980, 1, 3), 124_000)])

    assert apr_actuarial(in_days) == Decimal("11.45")
    assert apr_actuarial(six_months) == Decimal("8.80")
    assert apr_actuarial(eighteen_months) == Decimal("8.76")
    assert apr_actuarial(two_years) == Decimal("11.36")


@pytest.mark.parametrize(
    ("advance_date", "payment_date", "payment_minor", "apr_percent"),
    [
        pytest.param(
            # 12 months and a day: t = 1, f = 1/365. (1 + i/365)(1 + i) = 1.1:
            # i = (-(1 + 1/365) + sqrt((1 + 1/365)² + 0.4/365)) / (2/365) = 0.09971.
            dt.date(2025, 1, 15),
            dt.date(2026, 1, 16),
            1_100_000,
            Decimal("9.97"),
            id="a-year-and-a-day",
        ),
        pytest.param(
            # 367 days across 29 February 2024 is still 12 months and a day: the year is
            # counted in months, the odd day over 365.
            dt.date(2024, 1, 15),
            dt.date(2025, 1, 16),
            1_100_000,
            Decimal("9.97"),
            id="a-leap-year-and-a-day",
        ),
        pytest.param(
            # 351 odd days after a whole year (counted back from 2027-01-01 to 2026-01-01):
            # f = 351/365 = 0.96164. (1 + 0.96164 i)(1 + i) = 1.1 gives i = 0.04979.
            dt.date(2025, 1, 15),
            dt.date(2027, 1, 1),
            1_100_000,
            Decimal("4.98"),
            id="a-year-and-351-days",
        ),
        pytest.param(
            # Month end to month end, 13 whole months: t = 1, f = 1/12.
            # (1 + i/12)(1 + i) = 1.1: i = (-(13/12) + sqrt((13/12)² + 0.4/12)) / (2/12) = 0.09174.
            dt.date(2024, 1, 31),
            dt.date(2025, 2, 28),
            1_100_000,
            Decimal("9.17"),
            id="thirteen-months-month-end",
        ),
        pytest.param(
            # Three whole years, no fraction: 1.331 = 1.1 ** 3.
            dt.date(2025, 6, 30),
            dt.date(2028, 6, 30),
            1_331_000,
            Decimal("10.00"),
            id="three-years",
        ),
        pytest.param(
            # Less back than advanced over two years: a negative rate, sqrt(0.81) - 1 = -10%.
            dt.date(2025, 6, 30),
            dt.date(2027, 6, 30),
            810_000,
            Decimal("-10.00"),
            id="negative-rate",
        ),
    ],
)
def test_single_advance_single_payment_more_than_a_year_later_has_a_unit_period_of_a_year(
    advance_date: dt.date, payment_date: dt.date, payment_minor: int, apr_percent: Decimal
) -> None:
    flows = _loan(advance_date, 1_000_000, [(payment_date, payment_minor)])

    assert apr_actuarial(flows) == apr_percent


def test_a_one_year_unit_period_is_nominal_so_it_sits_below_the_daily_effective_rate() -> None:
    # 10% a year compounded yearly for 2 years and 6 months: (1 + 0.05)(1.1)² = 1.2705.
    flows = _loan(dt.date(2025, 1, 15), 1_000_000, [(dt.date(2027, 7, 15), 1_270_500)])

    assert apr_actuarial(flows) == Decimal("10.00")
    # The same flows XIRR-style over 911 days: 1.2705 ** (365 / 911) - 1
    # = exp(0.239411 × 0.400659) - 1 = exp(0.095922) - 1 = 10.07%.
    assert apr_daily(flows) == Decimal("10.07")


def test_a_single_payment_decades_later_is_priced_without_overflow() -> None:
    # 0.01 advanced, 1,000,000.00 repaid 100 years later: 1e8 ** (1/100) - 1 = 20.23% a year.
    flows = [CashFlow(dt.date(2025, 1, 1), -1), CashFlow(dt.date(2125, 1, 1), 100_000_000)]

    assert apr_actuarial(flows) == Decimal("20.23")


def test_single_advance_single_payment_on_the_advance_date_is_refused() -> None:
    flows = _loan(dt.date(2025, 1, 15), 1_000_000, [(dt.date(2025, 1, 15), 1_000_100)])

    with pytest.raises(InvalidInput):
        apr_actuarial(flows)


# --- month ends: Appendix J (b)(3)(iv) -------------------------------------------------------
# "All months shall be considered equal. Full months shall be measured from any point in time on
# a given date of a given month to the same point in time on the same date of another month",
# and where payments fall on the 29th or 30th "the last day of February shall be used when
# applicable" (quoted from public transcriptions of the text); a series on the last day of each
# month runs from last day to last day.


def _rate_by_bisection(present_value: Callable[[float], float]) -> float:
    """A second method, independent of the code under test: the rate in [0, 1] per unit period
    where `present_value` (falling in the rate) crosses zero, by plain float bisection."""
    low, high = 0.0, 1.0
    for _ in range(200):
        middle = (low + high) / 2
        low, high = (middle, high) if present_value(middle) > 0 else (low, middle)
    return (low + high) / 2


def _percent_of(rate_per_year: float) -> Decimal:
    return Decimal(repr(rate_per_year * 100)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def test_a_weekly_schedule_has_a_weekly_unit_period() -> None:
    # 1,000.00 repaid by 11 weekly payments of 100.00: payment k is k weeks out, 52 a year
    # ((b)(5)(iv)). Before, any unit period but a month was refused. By hand: 1000 = Σ 100 /
    # (1 + i)^k, k = 1..11, i = 1.6231% a week, 84.40% a year.
    flows = _loan(
        dt.date(2025, 1, 1),
        100_000,
        [(dt.date(2025, 1, 1) + dt.timedelta(weeks=week), 10_000) for week in range(1, 12)],
    )
    weekly = _rate_by_bisection(lambda i: sum(100 / (1 + i) ** k for k in range(1, 12)) - 1000)

    assert apr_actuarial(flows) == _percent_of(weekly * 52) == Decimal("84.40")


@pytest.mark.parametrize(
    "start",
    [
        dt.date(2026, 1, 29),
        dt.date(2026, 1, 30),
        dt.date(2026, 1, 31),
        dt.date(2024, 1, 29),  # a leap year: 29 February
        dt.date(2024, 1, 30),
        dt.date(2024, 1, 31),
        dt.date(2026, 3, 31),  # 30 April, 31 May, 30 June ...
        dt.date(2026, 8, 31),
        dt.date(2025, 12, 31),
    ],
    ids=str,
)
@pytest.mark.parametrize("count", [2, 3, 12])
def test_a_loan_drawn_on_the_29th_30th_or_31st_counts_whole_months_to_its_due_dates(
    start: dt.date, count: int
) -> None:
    # Due on the same day of later months, or their last day when they have no such day (as
    # loans/schedule.py sets due dates). The payment is the annuity at exactly 1% a month, so
    # with whole months the APR is 12.00% by construction. Counting 31 January to 28 February
    # as 28 odd days (before this was fixed) gave 12.27% for 2 and 3 payments, 12.05% for 12.
    payment = _level_payment_minor(1_000_000, Decimal("0.01"), count)
    dues = [add_months(start, n) for n in range(1, count + 1)]
    flows = _loan(start, 1_000_000, [(day, payment) for day in dues])

    assert apr_actuarial(flows) == Decimal("12.00")


def test_every_start_date_of_a_leap_and_a_common_year_counts_whole_months() -> None:
    payment = _level_payment_minor(1_000_000, Decimal("0.01"), 12)
    start = dt.date(2024, 1, 1)
    aprs = set()
    while start < dt.date(2026, 1, 1):
        dues = [add_months(start, n) for n in range(1, 13)]
        aprs.add(apr_actuarial(_loan(start, 1_000_000, [(day, payment) for day in dues])))
        start += dt.timedelta(days=1)

    assert aprs == {Decimal("12.00")}


@pytest.mark.parametrize(
    ("first_due", "series", "odd_days"),
    [
        # Payments on the last day of each month: each month counted back from a last day lands
        # on the last day, 31 January, so every payment has 16 odd days (15 to 31 January).
        # Counted back by the date's own day they were 13 (28 Feb back to 28 Jan), 16 or 15.
        pytest.param(dt.date(2026, 2, 28), "last day", 16, id="last-day-of-each-month"),
        # Payments on the 30th: February's last day stands for the 30th, so every payment
        # counts back to 30 January: 15 odd days (13 from 28 February by its own day).
        pytest.param(dt.date(2026, 2, 28), "30th", 15, id="the-30th-of-each-month"),
    ],
)
def test_a_month_end_series_measures_its_odd_first_period_the_same_from_every_payment(
    first_due: dt.date, series: str, odd_days: int
) -> None:
    advance = dt.date(2026, 1, 15)
    anchor = dt.date(2026, 1, 31) if series == "last day" else dt.date(2026, 1, 30)
    dues = [first_due] + [add_months(anchor, n) for n in range(2, 13)]
    flows = _loan(advance, 1_000_000, [(day, 90_000) for day in dues])
    # Payment k (1-12) is k whole months and `odd_days` thirtieths out.
    f = odd_days / 30
    monthly = _rate_by_bisection(
        lambda i: sum(900 / ((1 + f * i) * (1 + i) ** k) for k in range(1, 13)) - 10_000
    )

    assert apr_actuarial(flows) == _percent_of(monthly * 12)
