"""The APRC of the EU Consumer Credit Directive's annex (`loans/aprc.py`).

Expected figures come from outside the module:
- Directive 98/7/EC, Annex III (examples of calculation), first example: ECU 1,000 lent on
  1 January 1994, repaid by ECU 1,200 on 1 July 1995, 546 days later on a 365-day year:
  12.96%, or 13% (transcribed at parlementairemonitor.nl, "Annexes to COM(1996)79-2").
- FSMQ "APR" worksheet (fsmq.org, feb08afisaapr2si): 5,000 repaid by three annual
  instalments of 2,000: 9.7% to one decimal place.
- The Z88 "calc.apr" notes (worldofspectrum z88forever library, Z165A), example 1: 150 repaid
  by 11 monthly instalments of 15: APR 21.3.
- The Consumer Finance Association's personal-loan example as checked in
  rimas-kudelis/php-apr-calculator (`spec/CalculatorSpec.php`,
  `it_calculates_cfa_personal_loan`): 10,000 repaid by 60 monthly instalments of 222.44: 12.7%.
- Hand computations: a single repayment solves the equation in closed form,
  X = (D / C) ** (1 / t) - 1, computed here with floats, independently of the module's
  Decimal solver; intervals worked out by hand from remark (c).
"""

from __future__ import annotations

import calendar
import datetime as dt
from decimal import Decimal

import pytest

from creditline.kernel.errors import InvalidInput
from creditline.kernel.money import Money
from creditline.loans.aprc import DatedAmount, aprc_of_intervals, aprc_percent, years_between
from creditline.loans.products import load_catalogue
from creditline.loans.quote import product_quote

START = dt.date(2025, 1, 15)


def months_after(day: dt.date, months: int) -> dt.date:
    year, month = divmod(day.year * 12 + day.month - 1 + months, 12)
    return dt.date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


def monthly(amount_minor: int, count: int, start: dt.date = START) -> list[DatedAmount]:
    return [DatedAmount(months_after(start, n), amount_minor) for n in range(1, count + 1)]


# --- published examples ------------------------------------------------------------------------


def test_the_first_example_of_directive_98_7_on_a_calendar_basis() -> None:
    flows = [(Decimal(100_000), Decimal(0)), (Decimal(-120_000), Decimal(546) / 365)]

    assert aprc_of_intervals(flows, places=2) == Decimal("12.96")
    assert aprc_of_intervals(flows) == Decimal("13.0")


def test_three_annual_instalments_of_2000_repay_5000_at_9_7_percent() -> None:
    payments = [DatedAmount(months_after(START, 12 * n), 200_000) for n in (1, 2, 3)]

    assert aprc_percent([DatedAmount(START, 500_000)], payments) == Decimal("9.7")


def test_eleven_monthly_instalments_of_15_repay_150_at_21_3_percent() -> None:
    assert aprc_percent([DatedAmount(START, 15_000)], monthly(1_500, 11)) == Decimal("21.3")


def test_the_cfa_personal_loan_of_10000_over_60_months_is_12_7_percent() -> None:
    payments = monthly(22_244, 60, dt.date(2026, 1, 31))  # month ends: whole months still

    aprc = aprc_percent([DatedAmount(dt.date(2026, 1, 31), 1_000_000)], payments)

    assert aprc == Decimal("12.7")


# --- remark (c): intervals -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "day", "years"),
    [
        # Whole months are twelfths of a year, whatever the days in them.
        (dt.date(2026, 1, 15), dt.date(2026, 4, 15), Decimal(3) / 12),
        (dt.date(2026, 1, 15), dt.date(2027, 1, 15), Decimal(1)),
        # A schedule drawn on the 31st falls due on the month's last day: a whole month.
        (dt.date(2026, 1, 31), dt.date(2026, 2, 28), Decimal(1) / 12),
        (dt.date(2026, 1, 31), dt.date(2026, 3, 31), Decimal(2) / 12),
        # Two whole months back from 25 March 2026 reach 25 January; 15 days remain, over the
        # 365 days from 25 January 2025 to 25 January 2026.
        (dt.date(2026, 1, 10), dt.date(2026, 3, 25), Decimal(2) / 12 + Decimal(15) / 365),
        # One month back from 20 April 2028 is 20 March; 15 days remain, and the year that ends
        # on 20 March 2028 holds 29 February 2028: 366 days.
        (dt.date(2028, 3, 5), dt.date(2028, 4, 20), Decimal(1) / 12 + Decimal(15) / 366),
        # Under a month: the days alone.
        (dt.date(2026, 6, 1), dt.date(2026, 6, 29), Decimal(28) / 365),
        (dt.date(2026, 6, 1), dt.date(2026, 6, 1), Decimal(0)),
    ],
    ids=str,
)
def test_intervals_are_whole_months_then_days_over_the_year_they_end(
    start: dt.date, day: dt.date, years: Decimal
) -> None:
    assert years_between(start, day) == years


def test_a_single_repayment_over_a_leap_odd_interval_matches_the_closed_form() -> None:
    drawn, repaid = 100_000, 101_250
    years = 1 / 12 + 15 / 366  # 5 March to 20 April 2028, by hand above
    exact = ((repaid / drawn) ** (1 / years) - 1) * 100  # 10.32...%, by floats

    aprc = aprc_percent(
        [DatedAmount(dt.date(2028, 3, 5), drawn)], [DatedAmount(dt.date(2028, 4, 20), repaid)], 4
    )

    assert abs(float(aprc) - exact) < 0.0001
    assert aprc_percent(
        [DatedAmount(dt.date(2028, 3, 5), drawn)], [DatedAmount(dt.date(2028, 4, 20), repaid)]
    ) == Decimal(f"{exact:.1f}")


# --- remark (d): rounding ------------------------------------------------------------------------


def test_the_figure_is_rounded_half_up_to_one_decimal_place() -> None:
    # 1,000.00 repaid by 1,102.50 a year later: exactly 10.25%, which rounds up to 10.3.
    one_year = [DatedAmount(START, 100_000)], [DatedAmount(months_after(START, 12), 110_250)]

    assert aprc_percent(*one_year, places=2) == Decimal("10.25")
    assert aprc_percent(*one_year) == Decimal("10.3")


def test_repaying_what_was_drawn_costs_nothing() -> None:
    assert aprc_percent([DatedAmount(START, 50_000)], monthly(10_000, 5)) == Decimal("0.0")


# --- refusals ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("drawdowns", "payments"),
    [
        ([], [DatedAmount(START, 100)]),
        ([DatedAmount(START, 100)], []),
        ([DatedAmount(START, 100)], [DatedAmount(START - dt.timedelta(days=1), 101)]),
    ],
    ids=["no drawdown", "no payment", "payment before the drawdown"],
)
def test_a_schedule_without_both_sides_in_order_is_refused(
    drawdowns: list[DatedAmount], payments: list[DatedAmount]
) -> None:
    with pytest.raises(InvalidInput):
        aprc_percent(drawdowns, payments)


@pytest.mark.parametrize(
    ("day", "amount"),
    [(dt.datetime(2026, 1, 1, tzinfo=dt.UTC), 100), (START, 0), (START, -5), (START, 1.5)],
    ids=["datetime", "zero", "negative", "float"],
)
def test_a_flow_is_a_date_and_a_positive_whole_number_of_minor_units(
    day: dt.date, amount: object
) -> None:
    with pytest.raises(InvalidInput):
        DatedAmount(day, amount)  # type: ignore[arg-type]


def test_places_are_one_to_four() -> None:
    with pytest.raises(InvalidInput):
        aprc_percent([DatedAmount(START, 100)], [DatedAmount(START, 100)], places=0)


# --- EU quotes --------------------------------------------------------------------------------


def test_an_eu_quote_shows_the_aprc_first_with_the_upfront_fee_in_it() -> None:
    product = load_catalogue().product("eu-instalment")
    start = dt.date(2026, 12, 1)

    schedule, quoted = product_quote(product, Money.parse("1000.00", "EUR"), 12, None, start)

    assert next(iter(quoted)) == "aprc_percent"
    assert quoted["upfront_fee"] == "5.00"  # 0.50% of 1,000.00, kept from the advance
    # The equation solved here by bisection with floats: 995.00 received, each instalment
    # paid n months later (n / 12 years: every due date is a whole number of months away).
    payments = [(n, i.payment_minor) for n, i in enumerate(schedule.instalments, start=1)]

    def present_value(rate: float) -> float:
        return 99_500 - sum(amount / (1 + rate) ** (n / 12) for n, amount in payments)

    low, high = 0.0, 1.0
    for _ in range(100):
        low, high = (
            ((low + high) / 2, high)
            if present_value((low + high) / 2) < 0
            else (low, (low + high) / 2)
        )
    assert quoted["aprc_percent"] == f"{low * 100:.1f}"
    assert Decimal(quoted["aprc_percent"]) > Decimal("9.90")  # the fee and compounding
    assert Decimal(quoted["aprc_percent"]) <= product.profile.apr_cap_percent


def test_a_chinese_quote_has_no_aprc() -> None:
    product = load_catalogue().product("cn-standard")

    _, quoted = product_quote(product, Money.parse("1000.00", "CNY"), 12, None, START)

    assert "aprc_percent" not in quoted
