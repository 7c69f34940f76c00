"""How a repayment is split over a loan: the waterfall, prepayment, settlement and overpayment.

Pure: no I/O and no clock. Every function takes the business date it works on.

Rules a reviewer should know:

- What is *due now* on a date: every instalment due on or before it, plus the running one (the
  first due after it). Paying before a due date pays the running instalment in full, with its
  whole period's interest, as borrowers expect when they pay a few days early.
- Arrears are cleared oldest first: the waterfall takes the instalments due now one at a time,
  the oldest first, and pays each in full in the product's order (default penalty → fees (the
  late fee, then the service fee) → interest → principal) before anything of the next. Days
  past due fall as soon as the oldest is cleared.
- Then, if the product takes prepayments, the rest repays principal not yet due and the
  instalments after the running one are re-amortised (`creditline.loans.prepayment`): interest
  on the prepaid principal stops on the day of payment.
- A payment that covers the payoff settles the loan: interest of the running period only to the
  date (pro rata of the period's interest, half-up), no later interest or fees. Interest or fees
  paid ahead that are no longer charged are applied to the settlement.
- An overpayment is never lost: money beyond the payoff, or beyond what is due when the product
  does not take prepayments, becomes a credit balance returned to the borrower (`refund`), or
  pays the next instalments ahead (`next_instalment`).
- Only principal restores the line.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from typing import Any

from creditline.kernel.errors import InvalidAmount, LoanSettled
from creditline.kernel.invariant import invariant
from creditline.loans.arrears import days_past_due, with_paid_on
from creditline.loans.model import (
    Allocation,
    InstalmentState,
    LoanState,
    Overpayment,
    Step,
    check_loan,
    interest_to_date,
    running_index,
)
from creditline.loans.prepayment import prepay


@dataclass(frozen=True, slots=True)
class Payoff:
    """What settles the loan on a date, by kind; `reapplied` is paid-ahead money now released."""

    penalty_minor: int
    fees_minor: int
    interest_minor: int
    principal_minor: int
    reapplied_minor: int

    @property
    def total_minor(self) -> int:
        """The amount to pay: everything owed, less the paid-ahead money released into it."""
        owed = self.penalty_minor + self.fees_minor + self.interest_minor + self.principal_minor
        return max(owed - self.reapplied_minor, 0)


def _settled_instalments(loan: LoanState, on: dt.date) -> tuple[InstalmentState, ...]:
    """The instalments as an early settlement on `on` charges them, every amount paid."""
    running = running_index(loan, on)
    to_date = interest_to_date(loan, on)
    settled: list[InstalmentState] = []
    for index, instalment in enumerate(loan.instalments):
        charged = instalment
        if running is not None and index >= running:
            # Interest only to the date for the running period, none after; no fee not yet due.
            interest = to_date if index == running else 0
            charged = replace(instalment, interest_minor=interest, fee_minor=0)
        settled.append(
            replace(
                charged,
                paid_principal_minor=charged.principal_minor,
                paid_interest_minor=charged.interest_minor,
                paid_fee_minor=charged.fee_minor,
                paid_late_fee_minor=charged.late_fee_minor,
                paid_penalty_minor=charged.penalty_minor,
            )
        )
    return tuple(settled)


def payoff(loan: LoanState, on: dt.date) -> Payoff:
    """The amount that settles the loan on `on`: interest to date only, no future fees."""
    settled = _settled_instalments(loan, on)
    fees = interest = principal = reapplied = 0
    for before, after in zip(loan.instalments, settled, strict=True):
        principal += after.principal_minor - before.paid_principal_minor
        for kind, charged, paid in (
            (
                "fees",
                after.fee_minor + after.late_fee_minor,
                before.paid_fee_minor + before.paid_late_fee_minor,
            ),
            ("interest", after.interest_minor, before.paid_interest_minor),
        ):
            owed = charged - paid
            if owed < 0:
                reapplied -= owed
            elif kind == "fees":
                fees += owed
            else:
                interest += owed
    return Payoff(loan.unpaid_penalty_minor, fees, interest, principal, reapplied)


def _payoff_floor(loan: LoanState) -> int:
    """An amount the payoff is never below, whatever the date: all unpaid principal, less
    every interest and fee paid (the most a settlement can release). A payment below it goes
    through the waterfall without pricing the settlement, which walks every instalment."""
    floor = 0
    for i in loan.instalments:
        floor += i.principal_minor - i.paid_principal_minor
        floor -= i.paid_interest_minor + i.paid_fee_minor + i.paid_late_fee_minor
    return floor


def allocate(loan: LoanState, amount_minor: int, on: dt.date) -> tuple[LoanState, Allocation]:
    """Split a repayment of `amount_minor` received on `on`; the loan after it, and the split."""
    if type(amount_minor) is not int or amount_minor <= 0:
        raise InvalidAmount("amount must be greater than zero")
    if loan.settled:
        raise LoanSettled("the loan is already settled", loan_id=loan.id)
    settling = None if amount_minor < _payoff_floor(loan) else payoff(loan, on)
    if settling is not None and amount_minor >= settling.total_minor:
        after, split = _settle(loan, amount_minor, on, settling)
    else:
        after, split = _through_waterfall(loan, amount_minor, on)
    # Prepaid: principal of instalments not yet due on `on`, paid or written down today.
    prepaid = sum(
        old.unpaid_principal_minor - new.unpaid_principal_minor
        for old, new in zip(loan.instalments, after.instalments, strict=True)
        if old.due_date > on
    )
    after = with_paid_on(after, on)
    after = replace(after, dpd=days_past_due(after, on))
    check_loan(after)
    return after, replace(split, prepaid_minor=prepaid)


def _settle(
    loan: LoanState, amount_minor: int, on: dt.date, settling: Payoff
) -> tuple[LoanState, Allocation]:
    """The loan settled on `on` by a payment that covers `settling`; the rest is credit."""
    after = replace(
        loan,
        instalments=_settled_instalments(loan, on),
        credit_minor=loan.credit_minor + amount_minor - settling.total_minor,
        interest_accrued_minor=0,
    )
    check_loan(after)
    return after, Allocation(
        penalty_minor=settling.penalty_minor,
        fees_minor=settling.fees_minor,
        interest_minor=settling.interest_minor,
        principal_minor=settling.principal_minor,
        credit_minor=amount_minor - settling.total_minor,
        reapplied_minor=settling.reapplied_minor,
        settled=True,
    )


class _Purse:
    """The part of a payment not yet allocated."""

    def __init__(self, amount_minor: int) -> None:
        self.left = amount_minor

    def take(self, owed_minor: int) -> int:
        """Take what the purse holds of `owed_minor` (nothing of a negative amount)."""
        taken = min(self.left, max(owed_minor, 0))
        self.left -= taken
        return taken


def _through_waterfall(
    loan: LoanState, amount_minor: int, on: dt.date
) -> tuple[LoanState, Allocation]:
    """A payment below the payoff: each instalment due now in full, the oldest first, then
    prepayment or overpayment."""
    purse = _Purse(amount_minor)
    items = list(loan.instalments)
    running = running_index(loan, on)
    due_now = len(items) if running is None else running + 1
    split = dict.fromkeys(Step, 0)
    for n in range(due_now):
        for step in loan.terms.waterfall:
            if step in _PAID_BY_STEP:
                items[n], taken = _pay(items[n], _PAID_BY_STEP[step], purse)
                split[step] += taken
    released = 0  # interest already paid that a prepayment's discount could not take
    if purse.left and due_now < len(items):
        if loan.terms.takes_prepayment:
            split[Step.PREPAYMENT] = purse.take(purse.left)
            released = prepay(loan, items, due_now, on, split[Step.PREPAYMENT])
        elif loan.terms.overpayment is Overpayment.NEXT_INSTALMENT:
            for n in range(due_now, len(items)):
                for step in (Step.FEES, Step.INTEREST, Step.PRINCIPAL_DUE):
                    items[n], taken = _pay(items[n], _PAID_BY_STEP[step], purse)
                    split[step] += taken
    credit = purse.left + released
    after = replace(loan, instalments=tuple(items), credit_minor=loan.credit_minor + credit)
    check_loan(after)
    invariant(not after.settled, "a payment below the payoff cannot settle the loan")
    return after, Allocation(
        penalty_minor=split[Step.PENALTY],
        fees_minor=split[Step.FEES],
        interest_minor=split[Step.INTEREST],
        principal_minor=split[Step.PRINCIPAL_DUE] + split[Step.PREPAYMENT],
        credit_minor=credit,
        reapplied_minor=released,
        reamortised_minor=split[Step.PREPAYMENT],
    )


# Which amounts of an instalment each step pays, as (owed field, paid field) pairs, in order.
_PAID_BY_STEP: dict[Step, tuple[tuple[str, str], ...]] = {
    Step.PENALTY: (("penalty_minor", "paid_penalty_minor"),),
    Step.FEES: (("late_fee_minor", "paid_late_fee_minor"), ("fee_minor", "paid_fee_minor")),
    Step.INTEREST: (("interest_minor", "paid_interest_minor"),),
    Step.PRINCIPAL_DUE: (("principal_minor", "paid_principal_minor"),),
}


def _pay(
    instalment: InstalmentState, fields: tuple[tuple[str, str], ...], purse: _Purse
) -> tuple[InstalmentState, int]:
    """`instalment` with what `purse` can pay of `fields`, and how much that was."""
    changes: dict[str, Any] = {}
    total = 0
    for owed_field, paid_field in fields:
        paid = getattr(instalment, paid_field)
        taken = purse.take(getattr(instalment, owed_field) - paid)
        changes[paid_field] = paid + taken
        total += taken
    return replace(instalment, **changes), total
