"""Every shipped product's waterfall, bucket by bucket: a payment that covers one bucket only
partly leaves the next untouched, and one minor unit more reaches the next.

Each product gets the same loan, built by hand with its own service fee and late fee (checked
against the catalogue): CNY/USD/EUR 1,200.00 in three instalments due 2026-02-15, 03-15 and
04-15, paid on 2026-02-20. Instalment 1 is overdue and late: it owes 1.50 of penalty interest
and the product's late fee. Instalment 2 is the running one. Amounts in minor units:

    #  principal  interest  service fee F  late fee L  penalty
    1  400.00     12.00     F              L           1.50
    2  400.00      8.00     F              -           -
    3  400.00      4.00     F              -           -

The buckets of each product are listed below in the order its waterfall pays them (arrears
oldest instalment first, each through penalty, fees (late fee, then service fee), interest,
principal; then the running instalment; then prepayment or the next instalment). A product
without a late fee or a service fee has no such bucket.
"""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass

import pytest

from creditline.loans.model import InstalmentState, LoanState
from creditline.loans.products import load_catalogue
from creditline.loans.schedule import RepaymentMethod
from creditline.loans.waterfall import allocate

START = dt.date(2026, 1, 15)
PAID_ON = dt.date(2026, 2, 20)
# (service fee, late fee) of each shipped product, by hand from products.toml:
FEES = {
    "cn-standard": (60, 2_000),  # 1,200.00 × 0.05% = 0.60; late fee 20.00
    "cn-daily": (0, 0),
    "cn-bank-standard": (0, 0),
    "us-instalment": (0, 1_500),  # late fee 15.00
    "eu-instalment": (0, 1_000),  # late fee 10.00
}


@dataclass(frozen=True)
class Bucket:
    """What one step pays on one instalment: `kind` of instalment `number`, `size_minor`."""

    kind: str  # penalty, late_fee, fee, interest, principal, prepayment, ahead
    number: int
    size_minor: int


def bucket(kind: str, number: int, size_minor: int) -> Bucket:
    return Bucket(kind, number, size_minor)


# The order each product pays, with each bucket's size, worked by hand from the table above.
BUCKETS: dict[str, list[Bucket]] = {
    # 1.50 | 20.00 | 0.60 | 12.00 | 400.00 || 0.60 | 8.00 | 400.00 || prepayment
    "cn-standard": [
        bucket("penalty", 1, 150),
        bucket("late_fee", 1, 2_000),
        bucket("fee", 1, 60),
        bucket("interest", 1, 1_200),
        bucket("principal", 1, 40_000),
        bucket("fee", 2, 60),
        bucket("interest", 2, 800),
        bucket("principal", 2, 40_000),
        bucket("prepayment", 3, 40_000),
    ],
    # 1.50 | 12.00 | 400.00 || 8.00 | 400.00 || instalment 3 paid ahead (interest 4.00 first)
    "cn-daily": [
        bucket("penalty", 1, 150),
        bucket("interest", 1, 1_200),
        bucket("principal", 1, 40_000),
        bucket("interest", 2, 800),
        bucket("principal", 2, 40_000),
        bucket("ahead", 3, 400),
    ],
    # 1.50 | 12.00 | 400.00 || 8.00 | 400.00 || prepayment
    "cn-bank-standard": [
        bucket("penalty", 1, 150),
        bucket("interest", 1, 1_200),
        bucket("principal", 1, 40_000),
        bucket("interest", 2, 800),
        bucket("principal", 2, 40_000),
        bucket("prepayment", 3, 40_000),
    ],
    # 1.50 | 15.00 | 12.00 | 400.00 || 8.00 | 400.00 || prepayment
    "us-instalment": [
        bucket("penalty", 1, 150),
        bucket("late_fee", 1, 1_500),
        bucket("interest", 1, 1_200),
        bucket("principal", 1, 40_000),
        bucket("interest", 2, 800),
        bucket("principal", 2, 40_000),
        bucket("prepayment", 3, 40_000),
    ],
    # 1.50 | 10.00 | 12.00 | 400.00 || 8.00 | 400.00 || prepayment
    "eu-instalment": [
        bucket("penalty", 1, 150),
        bucket("late_fee", 1, 1_000),
        bucket("interest", 1, 1_200),
        bucket("principal", 1, 40_000),
        bucket("interest", 2, 800),
        bucket("principal", 2, 40_000),
        bucket("prepayment", 3, 40_000),
    ],
}
# Where each boundary lies: the total of the buckets before it, by hand.
BOUNDARIES: dict[str, list[int]] = {
    # 1.50, 21.50, 22.10, 34.10, 434.10, 434.70, 442.70, 842.70
    "cn-standard": [150, 2_150, 2_210, 3_410, 43_410, 43_470, 44_270, 84_270],
    # 1.50, 13.50, 413.50, 421.50, 821.50
    "cn-daily": [150, 1_350, 41_350, 42_150, 82_150],
    "cn-bank-standard": [150, 1_350, 41_350, 42_150, 82_150],
    # 1.50, 16.50, 28.50, 428.50, 436.50, 836.50
    "us-instalment": [150, 1_650, 2_850, 42_850, 43_650, 83_650],
    # 1.50, 11.50, 23.50, 423.50, 431.50, 831.50
    "eu-instalment": [150, 1_150, 2_350, 42_350, 43_150, 83_150],
}


def the_loan(code: str) -> LoanState:
    product = load_catalogue().product(code)
    method = (
        RepaymentMethod.EQUAL_PRINCIPAL
        if RepaymentMethod.EQUAL_PRINCIPAL in product.methods
        else product.default_method
    )
    terms = product.loan_terms(method, 120_000)
    fee, late_fee = FEES[code]
    assert (terms.instalment_fee_minor, terms.late_fee_minor) == (fee, late_fee)
    due = [dt.date(2026, 2, 15), dt.date(2026, 3, 15), dt.date(2026, 4, 15)]
    return LoanState(
        id="loan-1",
        currency=product.currency,
        principal_minor=120_000,
        start_date=START,
        terms=terms,
        instalments=(
            InstalmentState(
                1, due[0], 40_000, 1_200, fee, late_fee_minor=late_fee, penalty_minor=150
            ),
            InstalmentState(2, due[1], 40_000, 800, fee),
            InstalmentState(3, due[2], 40_000, 400, fee),
        ),
        dpd=5,
    )


def filled(before: LoanState, after: LoanState, wanted: Bucket) -> int:
    """How much the payment put into bucket `wanted`."""
    if wanted.kind == "prepayment":  # principal not yet due, written down from the last back
        return sum(i.principal_minor for i in before.instalments[2:]) - sum(
            i.principal_minor for i in after.instalments[2:]
        )
    if wanted.kind == "ahead":
        old, new = before.instalments[2], after.instalments[2]
        return new.paid_minor - old.paid_minor
    old = before.instalments[wanted.number - 1]
    new = after.instalments[wanted.number - 1]
    field = {
        "penalty": "paid_penalty_minor",
        "late_fee": "paid_late_fee_minor",
        "fee": "paid_fee_minor",
        "interest": "paid_interest_minor",
        "principal": "paid_principal_minor",
    }[wanted.kind]
    return int(getattr(new, field)) - int(getattr(old, field))


def pairs() -> list[object]:
    found: list[object] = []
    for code, buckets in BUCKETS.items():
        for n, (first, second) in enumerate(itertools.pairwise(buckets)):
            label = f"{code}:{first.kind}{first.number}|{second.kind}{second.number}"
            found.append(pytest.param(code, n, id=label))
    return found


def test_the_boundaries_are_the_buckets_added_up() -> None:
    for code, buckets in BUCKETS.items():
        running, ends = 0, []
        for b in buckets[:-1]:
            running += b.size_minor
            ends.append(running)
        assert ends == BOUNDARIES[code], code


@pytest.mark.parametrize(("code", "n"), pairs())
def test_a_payment_that_covers_a_bucket_partly_leaves_the_next_alone(code: str, n: int) -> None:
    buckets, boundary = BUCKETS[code], BOUNDARIES[code][n]
    first, second = buckets[n], buckets[n + 1]
    loan = the_loan(code)

    # One minor unit short of the end of `first`: it is paid all but that unit, `second` and
    # everything after it nothing.
    short, _ = allocate(loan, boundary - 1, PAID_ON)
    assert filled(loan, short, first) == first.size_minor - 1
    for later in buckets[n + 1 :]:
        assert filled(loan, short, later) == 0, later
    # One minor unit past it: `first` in full, and that unit in `second`.
    past, _ = allocate(loan, boundary + 1, PAID_ON)
    assert filled(loan, past, first) == first.size_minor
    assert filled(loan, past, second) == 1
    for earlier in buckets[:n]:
        assert filled(loan, past, earlier) == earlier.size_minor, earlier


WITH_PREPAYMENT = ["penalty", "fees", "interest", "principal_due", "prepayment"]


@pytest.mark.parametrize(
    ("code", "steps", "overpayment"),
    [
        ("cn-standard", WITH_PREPAYMENT, "refund"),
        ("cn-daily", WITH_PREPAYMENT[:4], "next_instalment"),
        ("cn-bank-standard", WITH_PREPAYMENT, "refund"),
        ("us-instalment", WITH_PREPAYMENT, "refund"),
        ("eu-instalment", WITH_PREPAYMENT, "refund"),
    ],
)
def test_the_buckets_follow_what_each_product_states(
    code: str, steps: list[str], overpayment: str
) -> None:
    product = load_catalogue().product(code)

    assert [step.value for step in product.waterfall] == steps
    assert product.overpayment.value == overpayment
    assert BUCKETS[code][-1].kind == ("prepayment" if "prepayment" in steps else "ahead")
