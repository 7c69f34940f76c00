"""The loan after its drawdown: waterfall, prepayment, settlement, overpayment and end of day.

Most cases use one small loan: CNY 1,200.00 drawn on 2026-01-15, 12% a year ACT/365, equal
principal over 3 months, a 1.00 service fee per instalment, a 20.00 late fee, 24% penalty
interest a year on overdue principal after 3 grace days. Its schedule, by hand:

    #  due         principal  interest                                   fee
    1  2026-02-15  400.00     12.23  (1,200.00 × 12% × 31 / 365 = 12.2301)  1.00
    2  2026-03-15  400.00      7.36  (  800.00 × 12% × 28 / 365 =  7.3644)  1.00
    3  2026-04-15  400.00      4.08  (  400.00 × 12% × 31 / 365 =  4.0767)  1.00

One day of penalty interest: on 400.00, 400.00 × 24% / 365 = 0.2630 -> 0.26; on 800.00,
0.5260 -> 0.53 (rounded on the whole late principal, not instalment by instalment).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from creditline.kernel.errors import InvalidInput, LoanSettled
from creditline.kernel.money import Money
from creditline.loans.arrears import days_past_due, end_of_day, instalment_states
from creditline.loans.model import (
    DEFAULT_WATERFALL,
    Allocation,
    LoanState,
    LoanTerms,
    Overpayment,
    Step,
    bucket,
    business_date,
    check_loan,
    interest_to_date,
    new_loan,
    parse_waterfall,
    running_index,
)
from creditline.loans.schedule import (
    AnnualRate,
    DailyRate,
    DayCount,
    Rate,
    RepaymentMethod,
    build_schedule,
)
from creditline.loans.waterfall import allocate, payoff

START = dt.date(2026, 1, 15)
RATE = AnnualRate(Decimal("0.12"), DayCount.ACT_365)
NO_PREPAYMENT = tuple(s for s in DEFAULT_WATERFALL if s is not Step.PREPAYMENT)


def cny(text: str) -> int:
    return Money.parse(text, "CNY").minor


def d(month: int, day: int, year: int = 2026) -> dt.date:
    return dt.date(year, month, day)


def loan_of(
    principal: str = "1200.00",
    term: int = 3,
    method: RepaymentMethod = RepaymentMethod.EQUAL_PRINCIPAL,
    rate: Rate = RATE,
    fee: str = "1.00",
    late_fee: str = "20.00",
    penalty_annual_rate: str = "0.24",
    grace_days: int = 3,
    waterfall: tuple[Step, ...] = DEFAULT_WATERFALL,
    overpayment: Overpayment = Overpayment.REFUND,
) -> LoanState:
    schedule = build_schedule(method, cny(principal), term, START, rate)
    terms = LoanTerms(
        product="test",
        method=method,
        rate=rate,
        instalment_fee_minor=cny(fee),
        late_fee_minor=cny(late_fee),
        penalty_annual_rate=Decimal(penalty_annual_rate),
        penalty_basis_days=365,
        grace_days=grace_days,
        waterfall=waterfall,
        overpayment=overpayment,
    )
    return new_loan("loan-1", "CNY", schedule, START, terms)


def close_days(loan: LoanState, through: dt.date) -> LoanState:
    """Run end of day for every date from the day after the start through `through`."""
    day = START
    while day < through:
        day += dt.timedelta(days=1)
        loan = end_of_day(loan, day)
    return loan


def paid(loan: LoanState) -> list[tuple[int, int, int, int]]:
    return [
        (
            i.paid_principal_minor,
            i.paid_interest_minor,
            i.paid_fee_minor,
            i.paid_late_fee_minor,
        )
        for i in loan.instalments
    ]


def owed(loan: LoanState) -> list[tuple[int, int, int, int]]:
    return [
        (i.principal_minor, i.interest_minor, i.fee_minor, i.late_fee_minor)
        for i in loan.instalments
    ]


NOTHING = (0, 0, 0, 0)
FIRST_IN_FULL = (40_000, 1_223, 100, 0)


def test_the_example_loan_is_the_schedule_in_the_module_docstring() -> None:
    loan = loan_of()

    assert owed(loan) == [(40_000, 1_223, 100, 0), (40_000, 736, 100, 0), (40_000, 408, 100, 0)]
    assert [i.due_date for i in loan.instalments] == [d(2, 15), d(3, 15), d(4, 15)]
    assert loan.principal_outstanding_minor == 120_000
    assert not loan.settled


# --- the waterfall, case by case ----------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One repayment on the example loan (after `before` payments and end of day through `closed`).

    `owed` (optional) is what each instalment owes after the payment: principal, interest, fee,
    late fee; `paid` is what has been paid on each, in the same order. `dpd` is the days past
    due when the payment arrives, `dpd_after` right after it (before any end of day).
    `expected.prepaid_minor` is the principal of instalments due after `on` that the payment
    paid or wrote down.
    """

    id: str
    on: dt.date
    amount: str
    expected: Allocation
    paid: list[tuple[int, int, int, int]]
    owed: list[tuple[int, int, int, int]] | None = None
    loan: dict[str, object] = field(default_factory=dict)
    closed: dt.date | None = None
    dpd: int = 0
    dpd_after: int = 0
    before: tuple[tuple[dt.date, str], ...] = ()


CASES = [
    Case(
        "on-time-exact-instalment-on-its-due-date",
        on=d(2, 15),
        amount="413.23",
        expected=Allocation(fees_minor=100, interest_minor=1_223, principal_minor=40_000),
        paid=[FIRST_IN_FULL, NOTHING, NOTHING],
    ),
    Case(
        # Five days early: still the whole period's interest, as the borrower expects. Its
        # principal is paid before its due date, so it counts as prepaid.
        "few-days-early-pays-the-running-instalment-with-full-interest",
        on=d(2, 10),
        amount="413.23",
        expected=Allocation(
            fees_minor=100, interest_minor=1_223, principal_minor=40_000, prepaid_minor=40_000
        ),
        paid=[FIRST_IN_FULL, NOTHING, NOTHING],
        owed=[(40_000, 1_223, 100, 0), (40_000, 736, 100, 0), (40_000, 408, 100, 0)],
    ),
    Case(
        # 50.00 = 1.00 fee + 12.23 interest + 36.77 of principal due 02-15, so prepaid.
        "partial-before-due-fee-then-interest-then-principal",
        on=d(2, 10),
        amount="50.00",
        expected=Allocation(
            fees_minor=100, interest_minor=1_223, principal_minor=3_677, prepaid_minor=3_677
        ),
        paid=[(3_677, 1_223, 100, 0), NOTHING, NOTHING],
    ),
    Case(
        # Overdue since 02-16, late from 02-19: two days of penalty (2 × 0.26) and the late fee.
        # 21.62 = 0.52 penalty + 20.00 late fee + 1.00 fee + 0.10 of interest.
        "partial-while-overdue-penalty-then-fees-then-interest",
        on=d(2, 20),
        amount="21.62",
        closed=d(2, 20),
        dpd=5,
        dpd_after=5,
        expected=Allocation(penalty_minor=52, fees_minor=2_100, interest_minor=10),
        paid=[(0, 10, 100, 2_000), NOTHING, NOTHING],
    ),
    Case(
        # Interest, fees (the late fee before the service fee), penalty, then principal, on the
        # same arrears as above: 30.00 = 12.23 interest + 17.77 of the 20.00 late fee; the
        # default order would have paid the penalty and the fees first.
        "custom-waterfall-interest-fees-penalty-is-honoured",
        on=d(2, 20),
        amount="30.00",
        closed=d(2, 20),
        dpd=5,
        dpd_after=5,
        loan={"waterfall": parse_waterfall(["interest", "fees", "penalty", "principal_due"])},
        expected=Allocation(fees_minor=1_777, interest_minor=1_223),
        paid=[(0, 1_223, 0, 1_777), NOTHING, NOTHING],
    ),
    Case(
        # The same order with 35.00: 12.23 + 21.00 fees + 0.52 penalty + 1.25 of principal.
        "custom-waterfall-interest-fees-penalty-then-principal",
        on=d(2, 20),
        amount="35.00",
        closed=d(2, 20),
        dpd=5,
        dpd_after=5,
        loan={"waterfall": parse_waterfall(["interest", "fees", "penalty", "principal_due"])},
        expected=Allocation(
            penalty_minor=52, fees_minor=2_100, interest_minor=1_223, principal_minor=125
        ),
        paid=[(125, 1_223, 100, 2_000), NOTHING, NOTHING],
    ),
    Case(
        # Ten days overdue (late from 02-19: 7 × 0.26 = 1.82 penalty, 20.00 late fee). The
        # arrears (435.05) go first, the 64.95 left to the running instalment 2, whose 56.59 of
        # principal (due 03-15) is prepaid. Clearing the arrears resets days past due at once.
        "overdue-arrears-are-paid-before-the-running-instalment",
        on=d(2, 25),
        amount="500.00",
        closed=d(2, 25),
        dpd=10,
        expected=Allocation(
            penalty_minor=182,
            fees_minor=2_200,
            interest_minor=1_959,
            principal_minor=45_659,
            prepaid_minor=5_659,
        ),
        paid=[(40_000, 1_223, 100, 2_000), (5_659, 736, 100, 0), NOTHING],
    ),
    Case(
        # Instalment 1 in full, then 400.00 of principal from the last instalment back: the
        # last owes nothing (no fee, no interest); instalment 2's interest is recomputed on the
        # 400.00 left: 400.00 × 12% × 28 / 365 = 3.6822 -> 3.68, less the interest the prepaid
        # 400.00 would have earned from 02-10 to 02-15, already paid with instalment 1:
        # 400.00 × 12% × 5 / 365 = 0.6575 -> 0.66; 3.68 - 0.66 = 3.02. Both instalments are due
        # after 02-10, so all 800.00 of principal is prepaid.
        "prepayment-repays-the-last-instalment-and-drops-its-fee",
        on=d(2, 10),
        amount="813.23",
        expected=Allocation(
            fees_minor=100,
            interest_minor=1_223,
            principal_minor=80_000,
            prepaid_minor=80_000,
            reamortised_minor=40_000,
        ),
        paid=[FIRST_IN_FULL, NOTHING, NOTHING],
        owed=[(40_000, 1_223, 100, 0), (40_000, 302, 100, 0), (0, 0, 0, 0)],
    ),
    Case(
        # On the due date of instalment 1, instalment 2 is the running one and is paid in full
        # before 100.00 is prepaid; the last keeps its fee and its interest is recomputed on
        # 300.00: 300.00 × 12% × 31 / 365 = 3.0575 -> 3.06, less what the 100.00 would have
        # earned over instalment 2's period, paid with it: 100.00 × 12% × 28 / 365 = 0.9205 ->
        # 0.92; 3.06 - 0.92 = 2.14. Prepaid: instalment 2's 400.00 (due 03-15) and the 100.00
        # off instalment 3, not instalment 1 (due that day).
        "prepayment-on-a-due-date-comes-after-the-running-instalment",
        on=d(2, 15),
        amount="921.59",
        expected=Allocation(
            fees_minor=200,
            interest_minor=1_959,
            principal_minor=90_000,
            prepaid_minor=50_000,
            reamortised_minor=10_000,
        ),
        paid=[FIRST_IN_FULL, (40_000, 736, 100, 0), NOTHING],
        owed=[(40_000, 1_223, 100, 0), (40_000, 736, 100, 0), (30_000, 214, 100, 0)],
    ),
    Case(
        # Interest to 02-10 only: 12.23 × 26 / 31 = 10.2574 -> 10.26; no fee not yet due.
        # prepaid_minor counts the principal of every instalment not yet due by date.
        "early-settlement-charges-interest-to-date-and-no-future-fees",
        on=d(2, 10),
        amount="1210.26",
        expected=Allocation(
            interest_minor=1_026, principal_minor=120_000, prepaid_minor=120_000, settled=True
        ),
        paid=[(40_000, 1_026, 0, 0), (40_000, 0, 0, 0), (40_000, 0, 0, 0)],
        owed=[(40_000, 1_026, 0, 0), (40_000, 0, 0, 0), (40_000, 0, 0, 0)],
    ),
    Case(
        # Settling while overdue: arrears in full (penalty 1.82, late fee), instalment 2's
        # interest to date 7.36 × 10 / 28 = 2.6286 -> 2.63, nothing of instalment 3 but principal.
        "settlement-while-overdue-takes-penalty-late-fee-and-interest-to-date",
        on=d(2, 25),
        amount="1237.68",
        closed=d(2, 25),
        dpd=10,
        expected=Allocation(
            penalty_minor=182,
            fees_minor=2_100,
            interest_minor=1_486,
            principal_minor=120_000,
            prepaid_minor=80_000,
            settled=True,
        ),
        paid=[(40_000, 1_223, 100, 2_000), (40_000, 263, 0, 0), (40_000, 0, 0, 0)],
    ),
    Case(
        "overpayment-beyond-the-payoff-is-a-credit",
        on=d(2, 10),
        amount="1300.00",
        expected=Allocation(
            interest_minor=1_026,
            principal_minor=120_000,
            prepaid_minor=120_000,
            credit_minor=8_974,
            settled=True,
        ),
        paid=[(40_000, 1_026, 0, 0), (40_000, 0, 0, 0), (40_000, 0, 0, 0)],
    ),
    Case(
        "no-prepayment-step-and-refund-the-excess-is-a-credit",
        on=d(2, 10),
        amount="500.00",
        loan={"waterfall": NO_PREPAYMENT, "overpayment": Overpayment.REFUND},
        expected=Allocation(
            fees_minor=100,
            interest_minor=1_223,
            principal_minor=40_000,
            prepaid_minor=40_000,
            credit_minor=8_677,
        ),
        paid=[FIRST_IN_FULL, NOTHING, NOTHING],
    ),
    Case(
        # The 86.77 beyond instalment 1 pays instalment 2 ahead: fee, full interest, principal.
        # Both are due after 02-10: 400.00 + 78.41 of principal is prepaid.
        "next-instalment-pays-the-next-instalment-ahead",
        on=d(2, 10),
        amount="500.00",
        loan={"waterfall": NO_PREPAYMENT, "overpayment": Overpayment.NEXT_INSTALMENT},
        expected=Allocation(
            fees_minor=200, interest_minor=1_959, principal_minor=47_841, prepaid_minor=47_841
        ),
        paid=[FIRST_IN_FULL, (7_841, 736, 100, 0), NOTHING],
        owed=[(40_000, 1_223, 100, 0), (40_000, 736, 100, 0), (40_000, 408, 100, 0)],
    ),
    Case(
        # After 500.00 on 02-10 paid instalment 2's fee and whole interest ahead, settling on
        # 02-20 charges instalment 2 only 7.36 × 5 / 28 = 1.3143 -> 1.31 of interest and no
        # fee: the 6.05 + 1.00 paid ahead are reapplied. Payoff: 721.59 - 7.05 = 714.54.
        "settlement-after-paying-ahead-reapplies-interest-and-fee",
        on=d(2, 20),
        amount="714.54",
        loan={"waterfall": NO_PREPAYMENT, "overpayment": Overpayment.NEXT_INSTALMENT},
        before=((d(2, 10), "500.00"),),
        expected=Allocation(
            principal_minor=72_159, prepaid_minor=72_159, reapplied_minor=705, settled=True
        ),
        paid=[FIRST_IN_FULL, (40_000, 131, 0, 0), (40_000, 0, 0, 0)],
        owed=[(40_000, 1_223, 100, 0), (40_000, 131, 0, 0), (40_000, 0, 0, 0)],
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_how_a_repayment_is_split(case: Case) -> None:
    loan = loan_of(**case.loan)  # type: ignore[arg-type]
    for on, amount in case.before:
        loan, _ = allocate(loan, cny(amount), on)
    if case.closed is not None:
        loan = close_days(loan, case.closed)
    assert loan.dpd == case.dpd

    after, allocation = allocate(loan, cny(case.amount), case.on)

    assert allocation == case.expected
    assert after.dpd == case.dpd_after
    assert paid(after) == case.paid
    if case.owed is not None:
        assert owed(after) == case.owed
    assert after.settled is allocation.settled
    # Only principal restores the line: exactly what the loan's principal went down by.
    assert (
        allocation.principal_minor
        == loan.principal_outstanding_minor - after.principal_outstanding_minor
    )
    # Nothing is lost: every minor unit of the payment is allocated, credited or (on
    # settlement) joined by money paid ahead earlier.
    parts = (
        allocation.penalty_minor
        + allocation.fees_minor
        + allocation.interest_minor
        + allocation.principal_minor
    )
    assert parts + allocation.credit_minor == cny(case.amount) + allocation.reapplied_minor
    assert after.credit_minor == loan.credit_minor + allocation.credit_minor
    check_loan(after)


def test_paying_every_instalment_on_its_due_date_settles_the_loan_with_the_last() -> None:
    loan = loan_of()
    loan, first = allocate(loan, cny("413.23"), d(2, 15))
    loan, second = allocate(loan, cny("408.36"), d(3, 15))
    loan, last = allocate(loan, cny("405.08"), d(4, 15))

    assert not first.settled and not second.settled
    assert last == Allocation(
        fees_minor=100, interest_minor=408, principal_minor=40_000, settled=True
    )
    assert loan.settled
    assert (
        paid(loan)
        == owed(loan)
        == [
            (40_000, 1_223, 100, 0),
            (40_000, 736, 100, 0),
            (40_000, 408, 100, 0),
        ]
    )
    assert loan.credit_minor == 0


def test_prepayment_on_a_twelve_month_loan_shortens_it_from_the_last_instalment_back() -> None:
    # 1,200.00 over 12 months: 100.00 of principal a month. On 02-10, instalment 1 in full
    # (100.00 + 12.23 + 1.00) and 250.00 more: instalments 12 and 11 are repaid, 10 keeps 50.00.
    # Instalment 1 falls due on 02-15, so its 100.00 is prepaid too: 350.00 in all.
    loan = loan_of(term=12)

    after, allocation = allocate(loan, cny("363.23"), d(2, 10))

    assert allocation == Allocation(
        fees_minor=100,
        interest_minor=1_223,
        principal_minor=35_000,
        prepaid_minor=35_000,
        reamortised_minor=25_000,
    )
    assert [i.principal_minor for i in after.instalments] == [10_000] * 9 + [5_000, 0, 0]
    assert [i.fee_minor for i in after.instalments] == [100] * 10 + [0, 0]
    interest = [i.interest_minor for i in after.instalments]
    assert interest[0] == 1_223  # the running period keeps its interest (paid in full)
    # 850.00 × 12% × 28 / 365 = 7.8247 -> 7.82 (it was 10.13 on 1,100.00), less the 250.00
    # prepaid on 02-10 from then to 02-15: 250.00 × 12% × 5 / 365 = 0.4110 -> 0.41: 7.41.
    assert interest[1] == 741
    assert interest[9] == 51  # 50.00 × 12% × 31 / 365 = 0.5096; it was 3.06 on 300.00
    assert interest[10:] == [0, 0]
    assert after.principal_outstanding_minor == 85_000


def test_a_prepaid_loan_pays_less_interest_later() -> None:
    plain = loan_of()
    prepaid, _ = allocate(plain, cny("613.23"), d(2, 10))  # 200.00 prepaid

    assert sum(i.interest_minor for i in prepaid.instalments) < sum(
        i.interest_minor for i in plain.instalments
    )
    # 600.00 outstanding in period 2 (28 days): 600.00 × 12% × 28 / 365 = 5.5233 -> 5.52,
    # less the 200.00 prepaid on 02-10 from then to 02-15: 200.00 × 12% × 5 / 365 = 0.3288
    # -> 0.33: 5.19; 200.00 in period 3 (31 days): 2.0384 -> 2.04.
    assert [i.interest_minor for i in prepaid.instalments] == [1_223, 519, 204]
    assert [i.principal_minor for i in prepaid.instalments] == [40_000, 40_000, 20_000]


def test_an_instalment_is_running_due_overdue_then_paid() -> None:
    loan = loan_of()

    assert instalment_states(loan, d(2, 14)) == ("running", "scheduled", "scheduled")
    assert instalment_states(loan, d(2, 15)) == ("due", "running", "scheduled")
    assert instalment_states(loan, d(2, 16)) == ("overdue", "running", "scheduled")
    loan, _ = allocate(loan, cny("413.23"), d(2, 16))
    assert instalment_states(loan, d(2, 16)) == ("paid", "running", "scheduled")


# --- payoff and interest to date ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("on", "index", "to_date"),
    [
        (START, 0, 0),  # no day has passed
        (d(1, 16), 0, 39),  # 12.23 × 1 / 31 = 0.3945
        (d(2, 10), 0, 1_026),  # 12.23 × 26 / 31 = 10.2574
        (d(2, 15), 1, 0),  # a due date starts the next period
        (d(3, 1), 1, 368),  # 7.36 × 14 / 28 = 3.68
        (d(4, 14), 2, 395),  # 4.08 × 30 / 31 = 3.9484
        (d(4, 15), None, 0),  # every instalment has fallen due
    ],
)
def test_interest_to_date_is_the_running_periods_interest_pro_rata_half_up(
    on: dt.date, index: int | None, to_date: int
) -> None:
    loan = loan_of()

    assert running_index(loan, on) == index
    assert interest_to_date(loan, on) == to_date


def test_interest_to_date_rounds_half_up() -> None:
    # 1,209.75 in three instalments of 403.25 of principal: period 2 (02-15 to 03-15, 28 days)
    # accrues on 806.50: 806.50 × 12% × 28 / 365 = 7.4242 -> 7.42. One day of it is
    # 7.42 / 28 = 0.265 exactly, which rounds half-up to 0.27 (not to even, 0.26).
    loan = loan_of(principal="1209.75")
    assert loan.instalments[1].interest_minor == 742

    assert interest_to_date(loan, d(2, 16)) == 27


def test_payoff_on_the_drawdown_date_is_the_principal_alone() -> None:
    settling = payoff(loan_of(), START)

    assert settling.total_minor == 120_000
    assert (settling.penalty_minor, settling.fees_minor, settling.interest_minor) == (0, 0, 0)


def test_a_payment_one_minor_unit_below_the_payoff_does_not_settle() -> None:
    loan = loan_of()
    total = payoff(loan, d(2, 10)).total_minor
    assert total == cny("1210.26")

    after, allocation = allocate(loan, total - 1, d(2, 10))

    assert not allocation.settled and not after.settled
    assert after.principal_outstanding_minor > 0


# --- end of day: days past due, penalty interest, late fees --------------------------------------


def test_end_of_day_counts_days_past_due_and_charges_penalty_and_late_fees_after_grace() -> None:
    # Instalment 1 falls due 02-15, instalment 2 on 03-15, and neither is paid. Grace is 3 days:
    # the first penalty day and the late fee come on day 4 past due.
    expected = {
        # date: (dpd, penalty, late fee on instalment 1, late fee on instalment 2)
        d(2, 15): (0, 0, 0, 0),  # the due date itself is not overdue
        d(2, 16): (1, 0, 0, 0),
        d(2, 18): (3, 0, 0, 0),  # last grace day
        d(2, 19): (4, 26, 2_000, 0),  # 400.00 × 24% / 365 = 0.263 -> 0.26
        d(2, 20): (5, 52, 2_000, 0),  # the late fee is charged once, not daily
        d(3, 15): (28, 650, 2_000, 0),  # 25 penalty days (02-19 .. 03-15)
        d(3, 16): (29, 676, 2_000, 0),  # instalment 2 overdue but in its grace days
        d(3, 18): (31, 728, 2_000, 0),
        # Both late: penalty is each instalment's, rounded instalment by instalment:
        # 400.00 × 24% / 365 = 0.263 -> 0.26 twice, 0.52 a day.
        d(3, 19): (32, 780, 2_000, 2_000),
        d(3, 25): (38, 1_092, 2_000, 2_000),  # 728 + 7 × 52
    }
    loan = loan_of()
    day = START
    while day < d(3, 25):
        day += dt.timedelta(days=1)
        loan = end_of_day(loan, day)
        if day in expected:
            late_fees = tuple(i.late_fee_minor for i in loan.instalments[:2])
            assert (loan.dpd, loan.penalty_minor, *late_fees) == expected[day], day
    assert loan.instalments[2].late_fee_minor == 0
    # Instalment 1 late from 02-19 (35 days to 03-25), instalment 2 from 03-19 (7 days).
    assert [i.penalty_minor for i in loan.instalments] == [35 * 26, 7 * 26, 0]
    assert bucket(loan.dpd) == "31-60"


def test_penalty_interest_accrues_on_overdue_principal_only() -> None:
    # Interest first: instalment 1 owes only interest (12.23) and a fee. Overdue well past the
    # grace days, it gets its late fee and counts days past due, but no penalty interest.
    loan = close_days(loan_of(method=RepaymentMethod.INTEREST_FIRST), d(2, 25))

    assert loan.instalments[0].principal_minor == 0
    assert loan.dpd == 10
    assert loan.instalments[0].late_fee_minor == 2_000
    assert loan.penalty_minor == 0


def test_with_no_grace_days_penalty_starts_the_day_after_the_due_date() -> None:
    loan = close_days(loan_of(grace_days=0), d(2, 16))

    assert (loan.dpd, loan.penalty_minor, loan.instalments[0].late_fee_minor) == (1, 26, 2_000)


def test_paying_the_arrears_stops_the_penalty_and_clears_days_past_due() -> None:
    loan = close_days(loan_of(), d(2, 25))
    assert (loan.dpd, loan.penalty_minor) == (10, 182)

    loan, _ = allocate(loan, cny("435.05"), d(2, 25))  # 1.82 + 20.00 + 1.00 + 12.23 + 400.00
    assert loan.unpaid_penalty_minor == 0
    assert loan.instalments[0].unpaid_minor == 0
    assert loan.dpd == 0  # at once, not at the next end of day
    loan = end_of_day(loan, d(2, 26))

    assert loan.dpd == 0
    assert loan.penalty_minor == 182


def test_a_payment_of_the_oldest_instalments_debt_clears_it_and_days_past_due_fall() -> None:
    # On 03-25 instalments 1 (due 02-15) and 2 (due 03-15) are overdue: 38 days past due, over
    # the 30 that keep a line frozen. Instalment 1 owes its penalty 9.10 (35 days from 02-19 at
    # 400.00 × 24% / 365 = 0.26), its late fee 20.00, its fee 1.00, its interest 12.23 and its
    # principal 400.00: 442.33. Paying exactly that clears instalment 1 in full and touches
    # nothing of instalment 2, so days past due count from 03-15: 10.
    loan = close_days(loan_of(), d(3, 25))
    assert (loan.dpd, loan.instalments[0].unpaid_minor) == (38, 44_233)
    second = loan.instalments[1]

    after, allocation = allocate(loan, cny("442.33"), d(3, 25))

    assert allocation == Allocation(
        penalty_minor=910, fees_minor=2_100, interest_minor=1_223, principal_minor=40_000
    )
    assert after.instalments[0].unpaid_minor == 0
    assert after.instalments[1] == second  # nothing of the next before the oldest is clear
    assert after.dpd == 10
    assert bucket(after.dpd) == "1-30"


@pytest.mark.parametrize(
    ("amount", "dpd_after", "state"),
    [
        # 413.23, instalment 1's scheduled amount: it pays the charges first (9.10 + 20.00),
        # then 1.00 + 12.23 + 370.90 of principal, leaving 29.10 owed on it, which is what its
        # charges took. Counted against the schedule the borrower has paid instalment 1 in
        # full: it is covered, its lateness stops and days past due count from 03-15.
        ("413.23", 10, "covered"),
        ("413.22", 38, "overdue"),  # one minor unit short of its scheduled amount
    ],
)
def test_once_the_oldest_instalments_scheduled_amount_is_paid_only_its_charges_are_owed(
    amount: str, dpd_after: int, state: str
) -> None:
    loan = close_days(loan_of(), d(3, 25))

    after, _ = allocate(loan, cny(amount), d(3, 25))

    assert instalment_states(after, d(3, 25))[0] == state
    assert after.instalments[0].unpaid_minor == 44_233 - cny(amount)
    assert after.dpd == dpd_after
    # Penalty runs on overdue principal as the schedule counts it: none once instalment 1 is
    # covered, and 0.01 × 24% / 365 = 0.00 a day when 0.01 of it is short; instalment 2 stays
    # late either way (0.26 a day).
    next_day = end_of_day(after, d(3, 26))
    growth = [
        new.penalty_minor - old.penalty_minor
        for old, new in zip(after.instalments, next_day.instalments, strict=True)
    ]
    assert growth == [0, 26, 0]
    assert next_day.dpd == dpd_after + 1


def test_a_payment_that_leaves_the_oldest_instalment_unpaid_keeps_days_past_due() -> None:
    loan = close_days(loan_of(), d(2, 25))

    after, _ = allocate(loan, cny("100.00"), d(2, 25))

    assert after.instalments[0].unpaid_minor > 0
    assert after.dpd == 10


def test_settling_an_overdue_loan_leaves_no_days_past_due() -> None:
    loan = close_days(loan_of(), d(3, 25))
    assert loan.dpd == 38

    after, allocation = allocate(loan, payoff(loan, d(3, 25)).total_minor, d(3, 25))

    assert allocation.settled and after.settled
    assert after.dpd == 0
    assert bucket(after.dpd) == "current"


def test_end_of_day_is_idempotent_and_ignores_an_earlier_date() -> None:
    loan = close_days(loan_of(), d(2, 20))
    assert loan.eod_date == d(2, 20)

    assert end_of_day(loan, d(2, 20)) == loan
    assert end_of_day(loan, d(2, 19)) == loan
    assert end_of_day(loan, START - dt.timedelta(days=1)) == loan


def test_end_of_day_before_the_start_leaves_a_new_loan_alone() -> None:
    loan = loan_of()

    assert end_of_day(loan, START - dt.timedelta(days=1)) == loan


def test_end_of_day_records_the_interest_accrued_to_date() -> None:
    loan = end_of_day(end_of_day(loan_of(), d(1, 16)), d(2, 10))

    assert loan.interest_accrued_minor == 1_026
    assert loan.dpd == 0


def test_end_of_day_leaves_a_settled_loan_alone() -> None:
    settled, _ = allocate(loan_of(), cny("1200.00"), START)
    assert settled.settled

    assert end_of_day(settled, d(6, 1)) == settled


@pytest.mark.parametrize(
    ("dpd", "name"),
    [
        (0, "current"),
        (1, "1-30"),
        (30, "1-30"),
        (31, "31-60"),
        (60, "31-60"),
        (61, "61-90"),
        (90, "61-90"),
        (91, "90+"),
        (10_000, "90+"),
    ],
)
def test_dpd_buckets(dpd: int, name: str) -> None:
    assert bucket(dpd) == name


def test_negative_days_past_due_have_no_bucket() -> None:
    with pytest.raises(InvalidInput):
        bucket(-1)


# --- waterfall parsing ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "steps",
    [
        ["penalty", "fees", "interest", "principal_due", "prepayment"],
        ["penalty", "fees", "interest", "principal_due"],
        ["interest", "fees", "penalty", "principal_due"],
        ["fees", "interest", "penalty", "principal_due", "prepayment"],
        ("interest", "penalty", "fees", "principal_due"),
    ],
)
def test_parse_waterfall_takes_the_charges_in_any_order_then_principal(
    steps: list[str],
) -> None:
    parsed = parse_waterfall(steps)

    assert [s.value for s in parsed] == list(steps)


@pytest.mark.parametrize(
    "steps",
    [
        pytest.param(["fees", "interest", "principal_due"], id="missing-step"),
        pytest.param(["penalty", "fees", "interest", "interest", "principal_due"], id="duplicate"),
        pytest.param(
            ["penalty", "fees", "interest", "principal_due", "prepayment", "prepayment"],
            id="prepayment-twice",
        ),
        pytest.param(
            ["penalty", "fees", "prepayment", "interest", "principal_due"],
            id="prepayment-not-last",
        ),
        pytest.param(["prepayment"], id="prepayment-only"),
        pytest.param([], id="empty"),
        pytest.param(["penalty", "fees", "interest", "principal"], id="unknown-step"),
        pytest.param(["penalty", "fees", "interest"], id="no-principal-due"),
        pytest.param(["penalty", "fees", "interest", "prepayment"], id="prepayment-no-principal"),
        pytest.param("penalty,fees,interest,principal_due", id="not-a-list"),
        pytest.param(["penalty", "fees", "interest", 4], id="not-strings"),
    ],
)
def test_parse_waterfall_refuses(steps: object) -> None:
    with pytest.raises(InvalidInput):
        parse_waterfall(steps)


# --- business dates -------------------------------------------------------------------------------


def test_business_date_is_the_date_in_the_loans_time_zone() -> None:
    terms = replace(loan_of().terms, timezone="Asia/Shanghai")  # UTC+8

    assert business_date(terms, dt.datetime(2026, 2, 14, 15, 59, tzinfo=dt.UTC)) == d(2, 14)
    assert business_date(terms, dt.datetime(2026, 2, 14, 16, 0, tzinfo=dt.UTC)) == d(2, 15)
    assert business_date(loan_of().terms, dt.datetime(2026, 2, 14, 16, 0, tzinfo=dt.UTC)) == d(
        2, 14
    )


def test_business_date_refuses_a_naive_time() -> None:
    with pytest.raises(InvalidInput):
        business_date(loan_of().terms, dt.datetime(2026, 2, 14, 16, 0))


# --- refusals -------------------------------------------------------------------------------------


def test_a_settled_loan_takes_no_payment() -> None:
    settled, _ = allocate(loan_of(), cny("1300.00"), d(2, 10))

    with pytest.raises(LoanSettled) as refused:
        allocate(settled, cny("1.00"), d(2, 11))
    assert refused.value.code == "loan_settled"


@pytest.mark.parametrize("amount", [0, -1, True, 100.0, Decimal(100)])
def test_a_repayment_must_be_a_positive_integer_amount(amount: object) -> None:
    with pytest.raises(InvalidInput):
        allocate(loan_of(), amount, d(2, 10))  # type: ignore[arg-type]


# --- principal comes after the charges ---------------------------------------------------------
# Repaid principal always means a settled loan, so a waterfall may not put principal_due before
# any charge: a payment could repay the last principal and leave interest, fees or penalty owed.
PRINCIPAL_BEFORE_CHARGES = [
    pytest.param(["principal_due", "interest", "fees", "penalty"], id="principal-first"),
    pytest.param(
        ["principal_due", "interest", "fees", "penalty", "prepayment"], id="principal-first-prepay"
    ),
    pytest.param(["penalty", "fees", "principal_due", "interest"], id="principal-before-interest"),
    pytest.param(["interest", "principal_due", "penalty", "fees"], id="principal-before-penalty"),
    pytest.param(["fees", "interest", "principal_due", "penalty"], id="penalty-last"),
    pytest.param(("interest", "penalty", "principal_due", "fees"), id="fees-last-tuple"),
]


@pytest.mark.parametrize("steps", PRINCIPAL_BEFORE_CHARGES)
def test_parse_waterfall_refuses_principal_before_a_charge(steps: list[str]) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_waterfall(steps)

    assert "principal_due" in refused.value.message


def test_a_custom_order_of_the_charges_is_honoured_on_the_running_instalment() -> None:
    # Before its due date, 5.00 on instalment 1 under interest -> fees -> penalty -> principal
    # goes all to interest; under the default order the 1.00 fee would go first.
    custom = loan_of(waterfall=parse_waterfall(["interest", "fees", "penalty", "principal_due"]))

    _, allocation = allocate(custom, cny("5.00"), d(2, 10))
    _, default = allocate(loan_of(), cny("5.00"), d(2, 10))

    assert allocation == Allocation(interest_minor=500)
    assert default == Allocation(fees_minor=100, interest_minor=400)


# --- properties -----------------------------------------------------------------------------------

TERMS = [1, 3, 6, 12, 24, 36]
WATERFALLS = [
    DEFAULT_WATERFALL,
    NO_PREPAYMENT,
    parse_waterfall(["interest", "fees", "penalty", "principal_due"]),
    parse_waterfall(["fees", "interest", "penalty", "principal_due", "prepayment"]),
]
RATES: list[Rate] = [
    AnnualRate(Decimal("0.12"), DayCount.ACT_365),
    AnnualRate(Decimal("0.2399"), DayCount.ACT_360),
    DailyRate(Decimal("0.0004")),
    DailyRate(Decimal("0.003")),
]


@st.composite
def loans(draw: st.DrawFn) -> LoanState:
    method = draw(st.sampled_from(list(RepaymentMethod)))
    rate = draw(st.sampled_from(RATES))
    principal_minor = draw(st.integers(min_value=cny("1.00"), max_value=cny("1000000.00")))
    term = draw(st.sampled_from(TERMS))
    terms = LoanTerms(
        product="test",
        method=method,
        rate=rate,
        instalment_fee_minor=draw(st.sampled_from([0, 1, 100, 5_000])),
        late_fee_minor=draw(st.sampled_from([0, 2_000])),
        penalty_annual_rate=draw(st.sampled_from([Decimal(0), Decimal("0.18"), Decimal("0.24")])),
        penalty_basis_days=draw(st.sampled_from([360, 365])),
        grace_days=draw(st.integers(min_value=0, max_value=5)),
        # Every order parse_waterfall allows has principal after the charges.
        waterfall=draw(st.sampled_from(WATERFALLS)),
        overpayment=draw(st.sampled_from(list(Overpayment))),
    )
    schedule = build_schedule(method, principal_minor, term, START, rate)
    return new_loan("loan-p", "CNY", schedule, START, terms)


@settings(max_examples=200, deadline=None)
@given(loans(), st.data())
def test_no_payment_sequence_loses_money_or_overpays_principal(
    loan: LoanState, data: st.DataObject
) -> None:
    principal_minor = loan.principal_minor
    day = START
    paid_in = allocated = credited = reapplied = principal_back = 0
    for _ in range(data.draw(st.integers(min_value=1, max_value=8), label="payments")):
        for _ in range(data.draw(st.integers(min_value=0, max_value=45), label="days")):
            day += dt.timedelta(days=1)
            loan = end_of_day(loan, day)
            assert end_of_day(loan, day) == loan
        settling = payoff(loan, day).total_minor
        amount = data.draw(
            st.one_of(
                st.integers(min_value=1, max_value=2 * principal_minor),
                st.sampled_from([settling, max(settling - 1, 1), settling + 1]),
                st.integers(min_value=1, max_value=max(principal_minor // 12, 1)),
            ),
            label="amount",
        )
        before = loan
        loan, allocation = allocate(loan, amount, day)

        parts = [
            allocation.penalty_minor,
            allocation.fees_minor,
            allocation.interest_minor,
            allocation.principal_minor,
            allocation.prepaid_minor,
            allocation.credit_minor,
            allocation.reapplied_minor,
        ]
        assert all(type(part) is int and part >= 0 for part in parts)
        assert allocation.prepaid_minor <= allocation.principal_minor
        assert allocation.settled is loan.settled
        # Days past due are current right after a payment, and nil once settled.
        assert loan.dpd == days_past_due(loan, day)
        assert loan.dpd <= before.dpd  # a payment never makes a loan later
        if loan.settled:
            assert loan.dpd == 0
        assert allocation.settled is (amount >= settling)
        paid_in += amount
        allocated += sum(parts[:4])
        credited += allocation.credit_minor
        reapplied += allocation.reapplied_minor
        principal_back += allocation.principal_minor
        assert (
            allocation.principal_minor
            == before.principal_outstanding_minor - loan.principal_outstanding_minor
        )
        assert 0 <= principal_back <= principal_minor
        assert principal_back == principal_minor - loan.principal_outstanding_minor
        assert paid_in == allocated + credited - reapplied
        assert loan.credit_minor == credited
        check_loan(loan)
        if loan.settled:
            assert all(i.unpaid_minor == 0 for i in loan.instalments)
            assert loan.unpaid_penalty_minor == 0
            with pytest.raises(LoanSettled):
                allocate(loan, 1, day)
            break
