"""Arrears: oldest instalment first, and no pyramiding of late fees (16 CFR 444.4).

The loan is the one of `test_loan_model.py`: CNY 1,200.00 drawn on 2026-01-15, 12% a year
ACT/365, equal principal over 3 months, a 1.00 service fee per instalment, a 20.00 late fee,
24% penalty interest a year, 3 grace days:

    #  due         principal  interest  fee   scheduled
    1  2026-02-15  400.00     12.23     1.00  413.23
    2  2026-03-15  400.00      7.36     1.00  408.36
    3  2026-04-15  400.00      4.08     1.00  405.08

One day of penalty interest on 400.00 of overdue principal: 400.00 × 24% / 365 = 0.263 -> 0.26.
"""

from __future__ import annotations

import datetime as dt

from test_loan_model import cny, d, loan_of

from creditline.loans.arrears import (
    days_past_due,
    end_of_day,
    instalment_states,
    shortfalls,
)
from creditline.loans.model import Allocation, LoanState
from creditline.loans.waterfall import allocate, payoff


def closed(loan: LoanState, first: dt.date, last: dt.date) -> LoanState:
    """End of day for every date from `first` through `last`."""
    day = first
    while day <= last:
        loan = end_of_day(loan, day)
        day += dt.timedelta(days=1)
    return loan


def late_fees(loan: LoanState) -> list[int]:
    return [i.late_fee_minor for i in loan.instalments]


def penalties(loan: LoanState) -> list[int]:
    return [i.penalty_minor for i in loan.instalments]


def test_a_full_payment_on_time_is_not_late_though_an_earlier_late_fee_is_unpaid() -> None:
    # Instalment 1 is missed: late from 02-19, by 02-25 it owes 1.82 of penalty (7 days ×
    # 0.26) and its 20.00 late fee. On 02-25 the borrower pays 413.23, instalment 1's scheduled
    # amount; the waterfall takes the charges first, so 21.82 of its principal stays owed.
    loan = closed(loan_of(), d(1, 16), d(2, 25))
    assert (penalties(loan), late_fees(loan)) == ([182, 0, 0], [2_000, 0, 0])
    loan, _ = allocate(loan, cny("413.23"), d(2, 25))
    assert loan.instalments[0].unpaid_minor == 2_182
    # On its due date the borrower pays instalment 2 in full, 408.36. Oldest first, it clears
    # instalment 1's 21.82 and leaves 21.82 of instalment 2's principal owed: the only thing
    # behind is the earlier late fee and penalty. Instalment 2 is not late: past its grace
    # days (03-19 on) it gets no late fee and no penalty, and nothing counts days past due.
    loan = closed(loan, d(2, 26), d(3, 14))
    loan, split = allocate(loan, cny("408.36"), d(3, 15))
    assert split == Allocation(fees_minor=100, interest_minor=736, principal_minor=40_000)
    loan = closed(loan, d(3, 15), d(3, 25))

    assert late_fees(loan) == [2_000, 0, 0]
    assert penalties(loan) == [182, 0, 0]
    assert loan.dpd == 0
    assert instalment_states(loan, d(3, 25)) == ("paid", "covered", "running")
    # The earlier charges are still owed: 21.82 on instalment 2, and in the payoff.
    assert loan.instalments[1].unpaid_minor == 2_182
    assert payoff(loan, d(3, 25)).principal_minor == 40_000 + 2_182
    # Its on-time record: instalment 2 was covered on its due date.
    assert [i.paid_on for i in loan.instalments] == [d(2, 25), d(3, 15), None]


def test_a_payment_short_of_the_instalment_is_late_as_before() -> None:
    # The same story with 408.35 on 03-15: one minor unit short of the schedule, so
    # instalment 2 is late after its grace days: its late fee on 03-19, and penalty on the
    # 0.01 overdue (0.01 × 24% / 365 rounds to nothing).
    loan = closed(loan_of(), d(1, 16), d(2, 25))
    loan, _ = allocate(loan, cny("413.23"), d(2, 25))
    loan = closed(loan, d(2, 26), d(3, 14))
    loan, _ = allocate(loan, cny("408.35"), d(3, 15))
    loan = closed(loan, d(3, 15), d(3, 25))

    assert late_fees(loan) == [2_000, 2_000, 0]
    assert penalties(loan) == [182, 0, 0]
    assert loan.dpd == 10


def test_the_shortfall_counts_every_payment_against_the_schedule_oldest_first() -> None:
    loan = closed(loan_of(), d(1, 16), d(2, 25))
    assert shortfalls(loan) == (41_323, 40_836, 40_508)
    # 50.00 pays 1.82 + 20.00 + 1.00 + 12.23 + 14.95 of principal: 50.00 against 413.23.
    loan, _ = allocate(loan, cny("50.00"), d(2, 25))

    assert shortfalls(loan) == (36_323, 40_836, 40_508)
    assert days_past_due(loan, d(2, 25)) == 10


def test_the_oldest_instalment_is_paid_through_every_step_before_the_next() -> None:
    # On 03-25: instalment 1 owes 9.10 penalty (35 days), 20.00 + 1.00 fees, 12.23 interest,
    # 400.00 principal; instalment 2 owes 1.82 penalty (7 days from 03-19), 20.00 + 1.00
    # fees, 7.36 interest, 400.00 principal. 450.00 clears instalment 1 (442.33) and then
    # starts instalment 2 with its penalty (1.82) and fees (5.85 of its late fee).
    loan = closed(loan_of(), d(1, 16), d(3, 25))
    assert penalties(loan) == [910, 182, 0]

    after, split = allocate(loan, cny("450.00"), d(3, 25))

    assert split == Allocation(
        penalty_minor=910 + 182,
        fees_minor=2_100 + 585,
        interest_minor=1_223,
        principal_minor=40_000,
    )
    second = after.instalments[1]
    assert (second.paid_penalty_minor, second.paid_late_fee_minor, second.paid_fee_minor) == (
        182,
        585,
        0,
    )
    assert after.dpd == 10
