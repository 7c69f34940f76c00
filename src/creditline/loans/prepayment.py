"""Partial prepayment: principal repaid before it falls due, and the schedule re-amortised.

Pure: no I/O and no clock.

Rules a reviewer should know:

- A prepayment is what a payment leaves after everything due now: the arrears, then the
  running instalment in full with its period's interest. It repays principal of the
  instalments after the running one.
- Interest runs on principal actually in use (CN-4): prepaid principal stops earning interest
  on the day it is paid. The running instalment was paid with its whole period's interest, so
  the interest the prepaid principal would have earned from the payment date to the running
  due date is taken off the interest of the next instalments (and what they cannot take, when
  almost nothing is left owing, is a credit returned to the borrower).
- The instalments after the running one are re-amortised on the lower balance as the loan's
  product says: `shorter_term` takes the principal off the last instalments first, so the
  loan ends sooner; `lower_instalment` keeps their number and spreads the lower balance by the
  loan's method (the equal instalment recomputed by the annuity formula over the instalments
  left, equal principal split evenly, interest-first all on the last). Each period's interest
  is computed on the balance outstanding during it, as the schedule computes it, rounded
  half-up; an instalment left with no principal to repay owes no fee.
- A later prepayment in the same period keeps the interest taken off by the earlier ones: what
  the next instalments were discounted by is carried into the new schedule.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from decimal import Decimal

from creditline.kernel.invariant import invariant
from creditline.kernel.money import round_half_up
from creditline.loans.model import (
    InstalmentState,
    LoanState,
    PrepaymentEffect,
    period_start,
)
from creditline.loans.schedule import RepaymentMethod, annuity_payment_minor


def prepay(
    loan: LoanState, items: list[InstalmentState], first: int, on: dt.date, money_minor: int
) -> int:
    """Repay `money_minor` of the principal of `items[first:]` (the instalments after the
    running one, `first - 1`) on `on` and re-amortise them in place; returns the money the
    interest discount could not take, a credit for the borrower."""
    later = items[first:]
    invariant(first >= 1 and bool(later), "a prepayment needs a running and a later instalment")
    invariant(all(i.paid_minor == 0 for i in later), "instalments after the running one unpaid")
    owed_minor = sum(i.principal_minor for i in later)
    invariant(0 < money_minor < owed_minor, "a payment below the payoff leaves principal owed")
    carried_minor = _discount_carried(loan, later, first)
    running_due = loan.instalments[first - 1].due_date
    released_minor = round_half_up(_interest(loan, money_minor, on, running_due))
    rebuilt = _reamortised(loan, later, first, owed_minor - money_minor)
    rebuilt, left_minor = _discounted(rebuilt, carried_minor + released_minor)
    items[first:] = rebuilt
    return left_minor


def _interest(loan: LoanState, balance_minor: int, start: dt.date, end: dt.date) -> Decimal:
    """Unrounded interest on `balance_minor` from `start` to `end` at the loan's rate, the days
    counted by its convention (30/360 counts 30-day months, as its schedule does)."""
    rate = loan.terms.rate
    return rate.interest_for_days(balance_minor, rate.days_between(start, end))


def _period_interest(loan: LoanState, balance_minor: int, index: int, due: dt.date) -> int:
    """The interest of period `index` on `balance_minor`, rounded half-up as the schedule does."""
    return round_half_up(_interest(loan, balance_minor, period_start(loan, index), due))


def _discount_carried(loan: LoanState, later: list[InstalmentState], first: int) -> int:
    """What earlier prepayments in this period took off the interest of `later`: their
    interest on the balance, less the interest they owe."""
    balance_minor = sum(i.principal_minor for i in later)
    carried_minor = 0
    for offset, instalment in enumerate(later):
        full_minor = _period_interest(loan, balance_minor, first + offset, instalment.due_date)
        carried_minor += max(full_minor - instalment.interest_minor, 0)
        balance_minor -= instalment.principal_minor
    return carried_minor


def _planned_principals(
    loan: LoanState, later: list[InstalmentState], balance_minor: int
) -> list[int] | None:
    """What each instalment of `later` aims to repay of `balance_minor` (the last takes the
    rest); None for an equal instalment, whose principal is the payment less the interest."""
    terms = loan.terms
    method = terms.method
    if terms.prepayment_effect is PrepaymentEffect.SHORTER_TERM or (
        method is RepaymentMethod.INTEREST_FIRST
    ):
        # The last instalments go first: what they repaid less is taken from the end.
        planned = [i.principal_minor for i in later]
        removed_minor = sum(planned) - balance_minor
        for n in range(len(planned) - 1, -1, -1):
            taken = min(removed_minor, planned[n])
            planned[n] -= taken
            removed_minor -= taken
        return planned
    if method is RepaymentMethod.EQUAL_PRINCIPAL:
        # Rounding place: the per-period equal principal, half-up.
        return [round_half_up(Decimal(balance_minor) / len(later))] * len(later)
    return None


def _reamortised(
    loan: LoanState, later: list[InstalmentState], first: int, balance_minor: int
) -> list[InstalmentState]:
    """`later` re-amortised on `balance_minor`, by the loan's prepayment effect and method."""
    planned = _planned_principals(loan, later, balance_minor)
    payment_minor = (
        annuity_payment_minor(balance_minor, loan.terms.rate.monthly_rate, len(later))
        if planned is None
        else 0
    )
    rebuilt = []
    left_minor = balance_minor
    for offset, instalment in enumerate(later):
        interest = _period_interest(loan, left_minor, first + offset, instalment.due_date)
        if offset == len(later) - 1:
            principal = left_minor  # the last absorbs every residual
        elif planned is None:
            principal = min(max(payment_minor - interest, 0), left_minor)
        else:
            principal = min(planned[offset], left_minor)
        fee = instalment.fee_minor if left_minor > 0 else 0
        rebuilt.append(
            replace(instalment, principal_minor=principal, interest_minor=interest, fee_minor=fee)
        )
        left_minor -= principal
    return rebuilt


def _discounted(
    rebuilt: list[InstalmentState], discount_minor: int
) -> tuple[list[InstalmentState], int]:
    """`rebuilt` with `discount_minor` taken off their interest, the earliest first; and what
    was left of it."""
    discounted = []
    for instalment in rebuilt:
        taken = min(discount_minor, instalment.interest_minor)
        discount_minor -= taken
        discounted.append(replace(instalment, interest_minor=instalment.interest_minor - taken))
    return discounted, discount_minor
