"""Arrears: which instalments are behind, days past due, and the end of day that charges them.

Pure: no I/O and no clock. Every function takes the business date it works on.

Rules a reviewer should know:

- Lateness is judged on the schedule, never on charges for lateness (16 CFR 444.4, a sound
  default everywhere): everything a borrower has paid on a loan's instalments is counted
  against their scheduled amounts (principal, interest, service fee), oldest first. What that
  leaves unpaid of an instalment is its *shortfall*. A payment that covers an instalment by
  its due date, plus the grace days, keeps it from being late even when an earlier late fee
  or penalty is still unpaid: those stay owed, but never make a later payment late.
- An instalment is overdue from the day after its due date while it has a shortfall; days
  past due (DPD) count from the oldest such due date, so they fall as soon as the oldest
  instalment is cleared.
- Late once its grace days are over: each end of day charges the instalment one day of
  penalty interest on its overdue principal (its unpaid principal, at most its shortfall),
  rounded half-up instalment by instalment, and, once, its late fee.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from decimal import Decimal

from creditline.kernel.money import round_half_up
from creditline.loans.model import (
    InstalmentState,
    LoanState,
    check_loan,
    interest_to_date,
    running_index,
)


def shortfalls(loan: LoanState) -> tuple[int, ...]:
    """Per instalment, what the loan's payments leave unpaid of its scheduled amount when
    every payment counts against the schedule oldest first, before any charge for lateness."""
    paid_minor = sum(i.paid_minor for i in loan.instalments)
    through_minor = 0
    found = []
    for instalment in loan.instalments:
        through_minor += instalment.scheduled_minor
        found.append(min(instalment.scheduled_minor, max(through_minor - paid_minor, 0)))
    return tuple(found)


def days_past_due(loan: LoanState, on: dt.date) -> int:
    """Days since the oldest due date whose instalment has a shortfall (0 when none has)."""
    for instalment, short in zip(loan.instalments, shortfalls(loan), strict=True):
        if instalment.due_date < on and short > 0:
            return (on - instalment.due_date).days
    return 0


def instalment_states(loan: LoanState, on: dt.date) -> tuple[str, ...]:
    """Each instalment's state on `on`: `paid`; `covered` (its scheduled amount is paid; what
    it still owes stands for charges of lateness); `overdue` (due before `on`, with a
    shortfall); `due` (due on `on`); `running` (the next to fall due) or `scheduled`."""
    running = running_index(loan, on)
    states = []
    for index, (instalment, short) in enumerate(
        zip(loan.instalments, shortfalls(loan), strict=True)
    ):
        if instalment.unpaid_minor == 0:
            states.append("paid")
        elif short == 0:
            states.append("covered")
        elif instalment.due_date < on:
            states.append("overdue")
        elif instalment.due_date == on:
            states.append("due")
        else:
            states.append("running" if index == running else "scheduled")
    return tuple(states)


def with_paid_on(loan: LoanState, on: dt.date) -> LoanState:
    """The loan with each instalment's `paid_on`: kept where it is covered and was already,
    `on` where a payment on `on` covered it, none where it is not covered."""
    items = []
    for instalment, short in zip(loan.instalments, shortfalls(loan), strict=True):
        paid_on = (instalment.paid_on or on) if short == 0 else None
        same = paid_on == instalment.paid_on
        items.append(instalment if same else replace(instalment, paid_on=paid_on))
    return replace(loan, instalments=tuple(items))


def end_of_day(loan: LoanState, on: dt.date) -> LoanState:
    """The loan after the end of day `on`: accrual, days past due, penalty and late fees.

    Idempotent: a loan already closed for `on` (or later) is returned unchanged. Run once per
    business date, in date order; each run charges one day of penalty interest.
    """
    if loan.settled or on < loan.start_date or (loan.eod_date is not None and loan.eod_date >= on):
        return loan
    terms = loan.terms
    items = [
        _charged(instalment, short, loan)
        if short > 0 and (on - instalment.due_date).days > terms.grace_days
        else instalment
        for instalment, short in zip(loan.instalments, shortfalls(loan), strict=True)
    ]
    after = replace(
        loan,
        instalments=tuple(items),
        interest_accrued_minor=interest_to_date(loan, on),
        dpd=days_past_due(loan, on),
        eod_date=on,
    )
    check_loan(after)
    return after


def _charged(instalment: InstalmentState, short_minor: int, loan: LoanState) -> InstalmentState:
    """A late instalment after one more day: a day of penalty interest on its overdue
    principal, and its late fee if it has none yet."""
    terms = loan.terms
    overdue_principal = min(instalment.unpaid_principal_minor, short_minor)
    penalty = round_half_up(
        Decimal(overdue_principal) * terms.penalty_annual_rate / terms.penalty_basis_days
    )
    return replace(
        instalment,
        penalty_minor=instalment.penalty_minor + penalty,
        late_fee_minor=instalment.late_fee_minor or terms.late_fee_minor,
    )
