"""Partial prepayment: interest on principal actually in use (CN-4), the schedule re-amortised.

The loans are those of `test_loan_model.py`: CNY 1,200.00 drawn on 2026-01-15, 12% a year
ACT/365, a 1.00 service fee per instalment, three monthly instalments due 02-15 (31 days),
03-15 (28 days) and 04-15 (31 days). Every payment here is made on 02-10, five days before
instalment 1 falls due: it pays instalment 1 in full with its whole period's interest (12.23)
and prepays the rest. The prepaid principal would have earned `P × 12% × 5 / 365` from 02-10 to
02-15; that is taken off the interest of the next instalment.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from decimal import Decimal

import pytest
from test_loan_model import RATE, cny, d, loan_of, owed

from creditline.loans.model import LoanState, PrepaymentEffect, new_loan
from creditline.loans.prepayment import _discount_carried
from creditline.loans.products import load_catalogue
from creditline.loans.schedule import (
    AnnualRate,
    DayCount,
    Rate,
    RepaymentMethod,
    build_schedule,
)
from creditline.loans.waterfall import allocate

EQUAL_PRINCIPAL = RepaymentMethod.EQUAL_PRINCIPAL
EQUAL_INSTALMENT = RepaymentMethod.EQUAL_INSTALMENT
INTEREST_FIRST = RepaymentMethod.INTEREST_FIRST
THIRTY_360 = AnnualRate(Decimal("0.12"), DayCount.THIRTY_360)


def loan(method: RepaymentMethod, effect: PrepaymentEffect, rate: Rate = RATE) -> LoanState:
    plain = loan_of(method=method, rate=rate)
    return replace(plain, terms=replace(plain.terms, prepayment_effect=effect))


def test_the_equal_instalment_loan_is_the_annuity_worked_by_hand() -> None:
    # A = 1,200.00 × 1% / (1 − 1.01^−3) = 12 / 0.0294099 = 408.0266 -> 408.03.
    # 1: interest 1,200.00 × 12% × 31 / 365 = 12.2301 -> 12.23, principal 408.03 − 12.23 = 395.80
    # 2: interest   804.20 × 12% × 28 / 365 =  7.4030 ->  7.40, principal 400.63
    # 3: interest   403.57 × 12% × 31 / 365 =  4.1131 ->  4.11, principal 403.57 (the rest)
    assert owed(loan_of(method=EQUAL_INSTALMENT)) == [
        (39_580, 1_223, 100, 0),
        (40_063, 740, 100, 0),
        (40_357, 411, 100, 0),
    ]


CASES = [
    pytest.param(
        # 613.23 = 413.23 (instalment 1) + 200.00 prepaid; 200.00 × 12% × 5 / 365 = 0.3288
        # -> 0.33 off the next interest. Shorter term: the 200.00 comes off the last.
        # 2: 600.00 × 12% × 28 / 365 = 5.5233 -> 5.52 − 0.33 = 5.19
        # 3: 200.00 × 12% × 31 / 365 = 2.0384 -> 2.04
        EQUAL_PRINCIPAL,
        PrepaymentEffect.SHORTER_TERM,
        "613.23",
        [(40_000, 1_223, 100, 0), (40_000, 519, 100, 0), (20_000, 204, 100, 0)],
        RATE,
        id="equal-principal-shorter-term",
    ),
    pytest.param(
        # Lower instalment: the 600.00 left is split evenly over the two instalments left.
        # 2: 5.52 − 0.33 = 5.19 as above; 3: 300.00 × 12% × 31 / 365 = 3.0575 -> 3.06
        EQUAL_PRINCIPAL,
        PrepaymentEffect.LOWER_INSTALMENT,
        "613.23",
        [(40_000, 1_223, 100, 0), (30_000, 519, 100, 0), (30_000, 306, 100, 0)],
        RATE,
        id="equal-principal-lower-instalment",
    ),
    pytest.param(
        # 609.03 = 409.03 (instalment 1: 408.03 + 1.00) + 200.00 prepaid; 804.20 − 200.00 =
        # 604.20 left. Shorter term: the last instalment's principal 403.57 -> 203.57.
        # 2: 604.20 × 12% × 28 / 365 = 5.5620 -> 5.56 − 0.33 = 5.23, principal unchanged 400.63
        # 3: 203.57 × 12% × 31 / 365 = 2.0747 -> 2.07
        EQUAL_INSTALMENT,
        PrepaymentEffect.SHORTER_TERM,
        "609.03",
        [(39_580, 1_223, 100, 0), (40_063, 523, 100, 0), (20_357, 207, 100, 0)],
        RATE,
        id="equal-instalment-shorter-term",
    ),
    pytest.param(
        # Lower instalment: a new annuity on 604.20 over the two instalments left,
        # A = 604.20 × 1% / (1 − 1.01^−2) = 6.042 / 0.0197040 = 306.6390 -> 306.64.
        # 2: interest 5.56 (above), principal 306.64 − 5.56 = 301.08, interest less 0.33: 5.23
        # 3: 604.20 − 301.08 = 303.12; interest 303.12 × 12% × 31 / 365 = 3.0893 -> 3.09
        EQUAL_INSTALMENT,
        PrepaymentEffect.LOWER_INSTALMENT,
        "609.03",
        [(39_580, 1_223, 100, 0), (30_108, 523, 100, 0), (30_312, 309, 100, 0)],
        RATE,
        id="equal-instalment-lower-instalment",
    ),
    pytest.param(
        # Interest first: instalment 1 is 12.23 + 1.00; 213.23 prepays 200.00 of the bullet.
        # 2: 1,000.00 × 12% × 28 / 365 = 9.2055 -> 9.21 − 0.33 = 8.88
        # 3: 1,000.00 × 12% × 31 / 365 = 10.1918 -> 10.19, principal 1,000.00
        INTEREST_FIRST,
        PrepaymentEffect.LOWER_INSTALMENT,
        "213.23",
        [(0, 1_223, 100, 0), (0, 888, 100, 0), (100_000, 1_019, 100, 0)],
        RATE,
        id="interest-first",
    ),
    # The same loan at 12% a year 30/360: every month is 30 days, a period's interest 1% of the
    # balance, whatever the month's length (02-15 .. 03-15 is 28 days and still 30). Paid on 02-10:
    # instalment 1 in full and 200.00 prepaid, which would have earned 200.00 × 12% × 5 / 360 =
    # 0.3333 -> 0.33 until 02-15 (5 odd days).
    pytest.param(
        # 1: 1,200.00 × 1% = 12.00; 613.00 = 413.00 + 200.00. Shorter term, the 200.00 off the
        # last: 2: 600.00 × 1% = 6.00 − 0.33 = 5.67; 3: 200.00 × 1% = 2.00. (Counted by the
        # actual 28 days over 360 it would be 5.60 − 0.33 = 5.27, and 3: 31 days, 2.07.)
        EQUAL_PRINCIPAL,
        PrepaymentEffect.SHORTER_TERM,
        "613.00",
        [(40_000, 1_200, 100, 0), (40_000, 567, 100, 0), (20_000, 200, 100, 0)],
        THIRTY_360,
        id="30/360-equal-principal-shorter-term",
    ),
    pytest.param(
        # A = 1,200.00 × 1% / (1 − 1.01^−3) = 408.03; 1: interest 12.00, principal 396.03,
        # 803.97 left; 609.03 = 409.03 + 200.00 prepaid, 603.97 left. Lower instalment: a new
        # annuity over two, 603.97 × 1% / (1 − 1.01^−2) = 306.5223 -> 306.52.
        # 2: 603.97 × 1% = 6.0397 -> 6.04, principal 306.52 − 6.04 = 300.48, interest 6.04 − 0.33
        # 3: 603.97 − 300.48 = 303.49, interest 3.0349 -> 3.03
        EQUAL_INSTALMENT,
        PrepaymentEffect.LOWER_INSTALMENT,
        "609.03",
        [(39_603, 1_200, 100, 0), (30_048, 571, 100, 0), (30_349, 303, 100, 0)],
        THIRTY_360,
        id="30/360-equal-instalment-lower-instalment",
    ),
]


@pytest.mark.parametrize(("method", "effect", "amount", "after", "rate"), CASES)
def test_a_prepayment_re_amortises_the_instalments_after_the_running_one(
    method: RepaymentMethod,
    effect: PrepaymentEffect,
    amount: str,
    after: list[tuple[int, int, int, int]],
    rate: Rate,
) -> None:
    prepaid, split = allocate(loan(method, effect, rate), cny(amount), d(2, 10))

    assert owed(prepaid) == after
    assert split.rescheduled
    assert split.credit_minor == 0


def test_interest_runs_on_the_principal_in_use_from_the_day_of_payment() -> None:
    # A second method: interest day by day on the principal in use. 513.23 on 02-10 prepays
    # 100.00, and 100.00 more on 02-12 (instalment 1, paid on 02-10, is counted until its due
    # date, as an instalment paid a few days early is):
    #   1,200.00 × 12% × 26 / 365 = 10.2575   01-15 .. 02-10
    #   1,100.00 × 12% ×  2 / 365 =  0.7233   02-10 .. 02-12
    #   1,000.00 × 12% ×  3 / 365 =  0.9863   02-12 .. 02-15
    #     600.00 × 12% × 28 / 365 =  5.5233   02-15 .. 03-15
    #     200.00 × 12% × 31 / 365 =  2.0384   03-15 .. 04-15
    #                                19.5288 -> 19.53
    # By the schedule: 12.23 + (600.00 → 5.52, less 0.16 for the first 100.00 over 5 days
    # (0.1644) and 0.10 for the second over 3 days (0.0986): 5.26) + 2.04 = 19.53.
    once, _ = allocate(loan_of(), cny("513.23"), d(2, 10))
    assert owed(once)[1:] == [(40_000, 628, 100, 0), (30_000, 306, 100, 0)]  # 6.44 − 0.16

    twice, split = allocate(once, cny("100.00"), d(2, 12))

    assert owed(twice) == [(40_000, 1_223, 100, 0), (40_000, 526, 100, 0), (20_000, 204, 100, 0)]
    assert split.principal_minor == 10_000 and split.rescheduled
    by_day = sum(
        Decimal(balance) * Decimal("0.12") * days / 365
        for balance, days in [(120_000, 26), (110_000, 2), (100_000, 3), (60_000, 28), (20_000, 31)]
    )
    assert sum(i.interest_minor for i in twice.instalments) == round(by_day) == 1_953


def test_the_discount_the_next_instalments_cannot_take_is_a_credit() -> None:
    # 1,209.25 on 02-10: instalment 1 (413.23) and 796.02 of the 800.00 not yet due. What is
    # left, 3.98, is owed by instalment 2 alone: 3.98 × 12% × 28 / 365 = 0.0366 -> 0.04 of
    # interest; the discount, 796.02 × 12% × 5 / 365 = 1.3085 -> 1.31, takes all of it and the
    # remaining 1.27 is money the borrower paid as interest, returned as a credit.
    prepaid, split = allocate(loan_of(), cny("1209.25"), d(2, 10))

    assert owed(prepaid) == [(40_000, 1_223, 100, 0), (398, 0, 100, 0), (0, 0, 0, 0)]
    assert (split.credit_minor, split.reapplied_minor) == (127, 127)
    assert prepaid.credit_minor == 127
    assert not split.settled


@pytest.mark.parametrize("product", [p.code for p in load_catalogue()], ids=lambda code: str(code))
def test_an_untouched_schedule_carries_no_discount(product: str) -> None:
    # The discount a prepayment carries is read from the schedule: for every shipped product,
    # method and term, the interest a re-amortisation computes for a period is the schedule's.
    priced = load_catalogue().product(product)
    start = dt.date(2026, 1, 31)
    for method in priced.methods:
        for term in priced.terms:
            schedule = build_schedule(method, 1_000_000, term, start, priced.rate)
            terms = priced.loan_terms(method, 1_000_000)
            built = new_loan("loan-x", priced.currency, schedule, start, terms)
            for first in range(1, term):
                assert _discount_carried(built, list(built.instalments[first:]), first) == 0
