"""A loan after its drawdown: what it owes, how a repayment is split, and its end of day.

Pure: no I/O and no clock. Every function takes the business date it works on.

Rules a reviewer should know:

- The schedule is frozen on the loan when the drawdown posts. Each instalment owes principal,
  interest, a service fee and, once late, a late fee; the loan owes penalty interest.
- What is *due now* on a date: every instalment due on or before it, plus the running one (the
  first due after it). Paying before a due date pays the running instalment in full, with its
  whole period's interest, as borrowers expect when they pay a few days early.
- The waterfall splits a payment over what is due now in the product's order (default penalty →
  fees → interest → principal due) and then, if the product allows, prepays principal not yet
  due from the last instalment backwards (the term shortens; interest of later periods is
  recomputed on the lower balance). A prepayment takes effect from the next period.
- A payment that covers the payoff settles the loan: interest of the running period only to the
  date (pro rata of the period's interest, half-up), no later interest or fees. Interest or fees
  paid ahead that are no longer charged are applied to the settlement.
- An overpayment is never lost: money beyond the payoff, or beyond what is due when the product
  does not take prepayments, becomes a credit balance returned to the borrower (`refund`), or
  pays the next instalments ahead (`next_instalment`).
- Overdue: an instalment is overdue from the day after its due date while anything on it is
  unpaid; days past due (DPD) count from the oldest overdue due date. After the grace days, each
  end of day charges one day of penalty interest on overdue principal, and each overdue
  instalment gets its late fee once.
- Only principal restores the line.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from decimal import Decimal
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from creditline.kernel.errors import InvalidAmount, InvalidInput, LoanSettled
from creditline.kernel.invariant import invariant
from creditline.kernel.money import round_half_up
from creditline.loans.schedule import Rate, RepaymentMethod, Schedule


class Step(StrEnum):
    """One step of the repayment waterfall."""

    PENALTY = "penalty"
    FEES = "fees"
    INTEREST = "interest"
    PRINCIPAL_DUE = "principal_due"
    PREPAYMENT = "prepayment"


DUE_STEPS = frozenset({Step.PENALTY, Step.FEES, Step.INTEREST, Step.PRINCIPAL_DUE})
DEFAULT_WATERFALL = (
    Step.PENALTY,
    Step.FEES,
    Step.INTEREST,
    Step.PRINCIPAL_DUE,
    Step.PREPAYMENT,
)


class Overpayment(StrEnum):
    """What happens to money beyond what a loan can take."""

    REFUND = "refund"
    NEXT_INSTALMENT = "next_instalment"


# Days-past-due buckets, as lenders and regulators report them.
BUCKETS: tuple[tuple[str, int, int | None], ...] = (
    ("current", 0, 0),
    ("1-30", 1, 30),
    ("31-60", 31, 60),
    ("61-90", 61, 90),
    ("90+", 91, None),
)


def bucket(dpd: int) -> str:
    """The DPD bucket a loan or line falls in."""
    for name, low, high in BUCKETS:
        if dpd >= low and (high is None or dpd <= high):
            return name
    raise InvalidInput("days past due cannot be negative")


def parse_waterfall(steps: object) -> tuple[Step, ...]:
    """Penalty, fees and interest once each in any order, then `principal_due`, then optionally
    `prepayment`. Principal comes after the charges: a loan whose principal is repaid owes
    nothing else, so repaid principal always means a settled loan (DESIGN.md §6.4)."""
    if not isinstance(steps, list | tuple) or not all(isinstance(s, str) for s in steps):
        raise InvalidInput("a waterfall is a list of step names")
    try:
        parsed = tuple(Step(s) for s in steps)
    except ValueError:
        raise InvalidInput("unknown waterfall step", steps=[s.value for s in Step]) from None
    due = parsed[:-1] if parsed and parsed[-1] is Step.PREPAYMENT else parsed
    if len(due) != len(DUE_STEPS) or set(due) != DUE_STEPS or due[-1] is not Step.PRINCIPAL_DUE:
        raise InvalidInput(
            "a waterfall names penalty, fees and interest once each in any order, then "
            "principal_due, optionally followed by prepayment"
        )
    return parsed


@dataclass(frozen=True, slots=True)
class LoanTerms:
    """The product terms frozen on a loan when it is drawn."""

    product: str
    method: RepaymentMethod
    rate: Rate
    instalment_fee_minor: int
    late_fee_minor: int
    penalty_annual_rate: Decimal  # a fraction: 0.18 for 18%
    penalty_basis_days: int
    grace_days: int
    waterfall: tuple[Step, ...] = DEFAULT_WATERFALL
    overpayment: Overpayment = Overpayment.REFUND
    timezone: str = "UTC"  # where the lender does business: it dates payments and end of day

    @property
    def takes_prepayment(self) -> bool:
        return Step.PREPAYMENT in self.waterfall


@dataclass(frozen=True, slots=True)
class InstalmentState:
    """One instalment: what it owes and what has been paid on it."""

    number: int
    due_date: dt.date
    principal_minor: int
    interest_minor: int
    fee_minor: int
    late_fee_minor: int = 0
    paid_principal_minor: int = 0
    paid_interest_minor: int = 0
    paid_fee_minor: int = 0
    paid_late_fee_minor: int = 0
    # The business date it was paid in full (on-time record and days late are read from it).
    paid_on: dt.date | None = None

    @property
    def unpaid_principal_minor(self) -> int:
        return self.principal_minor - self.paid_principal_minor

    @property
    def unpaid_interest_minor(self) -> int:
        return self.interest_minor - self.paid_interest_minor

    @property
    def unpaid_fee_minor(self) -> int:
        return self.fee_minor - self.paid_fee_minor

    @property
    def unpaid_late_fee_minor(self) -> int:
        return self.late_fee_minor - self.paid_late_fee_minor

    @property
    def unpaid_minor(self) -> int:
        return (
            self.unpaid_principal_minor
            + self.unpaid_interest_minor
            + self.unpaid_fee_minor
            + self.unpaid_late_fee_minor
        )

    def state(self, on: dt.date) -> str:
        """`paid`, `overdue` (due before `on` and not paid), `due` (due on `on`) or `scheduled`."""
        if self.unpaid_minor == 0:
            return "paid"
        if self.due_date < on:
            return "overdue"
        return "due" if self.due_date == on else "scheduled"


@dataclass(frozen=True, slots=True)
class LoanState:
    """A loan's schedule with its payments, charges and end-of-day marks."""

    id: str
    currency: str
    principal_minor: int
    start_date: dt.date
    terms: LoanTerms
    instalments: tuple[InstalmentState, ...]
    penalty_minor: int = 0
    paid_penalty_minor: int = 0
    credit_minor: int = 0
    interest_accrued_minor: int = 0
    dpd: int = 0
    eod_date: dt.date | None = None

    @property
    def principal_outstanding_minor(self) -> int:
        return sum(i.unpaid_principal_minor for i in self.instalments)

    @property
    def settled(self) -> bool:
        return self.principal_outstanding_minor == 0

    @property
    def unpaid_penalty_minor(self) -> int:
        return self.penalty_minor - self.paid_penalty_minor


def check_loan(loan: LoanState) -> None:
    """The loan's own invariants, checked on every state the model produces."""
    invariant(
        sum(i.principal_minor for i in loan.instalments) <= loan.principal_minor,
        f"loan {loan.id}: instalment principal above the loan's",
    )
    for i in loan.instalments:
        for owed, paid in (
            (i.principal_minor, i.paid_principal_minor),
            (i.interest_minor, i.paid_interest_minor),
            (i.fee_minor, i.paid_fee_minor),
            (i.late_fee_minor, i.paid_late_fee_minor),
        ):
            invariant(0 <= paid <= owed, f"loan {loan.id}: instalment {i.number} overpaid")
    invariant(
        0 <= loan.paid_penalty_minor <= loan.penalty_minor, f"loan {loan.id}: penalty overpaid"
    )
    invariant(loan.credit_minor >= 0, f"loan {loan.id}: negative credit")
    invariant(
        not loan.settled or all(i.unpaid_minor == 0 for i in loan.instalments),
        f"loan {loan.id}: principal repaid while charges are unpaid",
    )


def new_loan(
    loan_id: str, currency: str, schedule: Schedule, start_date: dt.date, terms: LoanTerms
) -> LoanState:
    """The loan a posted drawdown opens, with its quoted schedule frozen on it."""
    invariant(schedule.method is terms.method, "schedule built with the product's method")
    loan = LoanState(
        id=loan_id,
        currency=currency,
        principal_minor=schedule.principal_minor,
        start_date=start_date,
        terms=terms,
        instalments=tuple(
            InstalmentState(
                number=i.number,
                due_date=i.due_date,
                principal_minor=i.principal_minor,
                interest_minor=i.interest_minor,
                fee_minor=terms.instalment_fee_minor,
            )
            for i in schedule.instalments
        ),
    )
    check_loan(loan)
    return loan


def business_date(terms: LoanTerms, at: dt.datetime) -> dt.date:
    """The lender's calendar date at the instant `at`, in the loan's business time zone."""
    if at.tzinfo is None:
        raise InvalidInput("a business date needs a time with a time zone")
    return at.astimezone(ZoneInfo(terms.timezone)).date()


def running_index(loan: LoanState, on: dt.date) -> int | None:
    """Index of the running instalment: the first due after `on` (None once all have fallen due)."""
    for index, instalment in enumerate(loan.instalments):
        if instalment.due_date > on:
            return index
    return None


def period_start(loan: LoanState, index: int) -> dt.date:
    return loan.start_date if index == 0 else loan.instalments[index - 1].due_date


def interest_to_date(loan: LoanState, on: dt.date) -> int:
    """Interest the running period has earned by `on`: its interest pro rata of days, half-up."""
    index = running_index(loan, on)
    if index is None:
        return 0
    start = period_start(loan, index)
    instalment = loan.instalments[index]
    if on <= start:
        return 0
    days = (instalment.due_date - start).days
    return round_half_up(Decimal(instalment.interest_minor) * (on - start).days / days)


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
        owed = self.penalty_minor + self.fees_minor + self.interest_minor + self.principal_minor
        return max(owed - self.reapplied_minor, 0)


def _settled_instalments(loan: LoanState, on: dt.date) -> tuple[InstalmentState, ...]:
    """The instalments as an early settlement on `on` charges them, every amount paid."""
    running = running_index(loan, on)
    to_date = interest_to_date(loan, on)
    settled: list[InstalmentState] = []
    for index, i in enumerate(loan.instalments):
        if running is not None and index >= running:
            # Interest only to the date for the running period, none after; no fee not yet due.
            interest = to_date if index == running else 0
            i = replace(i, interest_minor=interest, fee_minor=0)
        settled.append(
            replace(
                i,
                paid_principal_minor=i.principal_minor,
                paid_interest_minor=i.interest_minor,
                paid_fee_minor=i.fee_minor,
                paid_late_fee_minor=i.late_fee_minor,
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


@dataclass(frozen=True, slots=True)
class Allocation:
    """How one repayment is split. `principal_minor` (due and prepaid) restores the line."""

    penalty_minor: int = 0
    fees_minor: int = 0
    interest_minor: int = 0
    principal_minor: int = 0
    prepaid_minor: int = 0  # part of principal_minor on instalments not yet due
    credit_minor: int = 0  # beyond what the loan can take: returned to the borrower
    reapplied_minor: int = 0  # paid-ahead interest or fees released into a settlement
    settled: bool = False


def allocate(loan: LoanState, amount_minor: int, on: dt.date) -> tuple[LoanState, Allocation]:
    """Split a repayment of `amount_minor` received on `on`; the loan after it, and the split."""
    if type(amount_minor) is not int or amount_minor <= 0:
        raise InvalidAmount("amount must be greater than zero")
    if loan.settled:
        raise LoanSettled("the loan is already settled", loan_id=loan.id)
    settling = payoff(loan, on)
    if amount_minor >= settling.total_minor:
        after, split = _settle(loan, amount_minor, on, settling)
    else:
        after, split = _waterfall(loan, amount_minor, on)
    # Prepaid: principal of instalments not yet due on `on`, paid or written down today.
    prepaid = sum(
        old.unpaid_principal_minor - new.unpaid_principal_minor
        for old, new in zip(loan.instalments, after.instalments, strict=True)
        if old.due_date > on
    )
    instalments = tuple(
        replace(i, paid_on=on) if i.paid_on is None and i.unpaid_minor == 0 else i
        for i in after.instalments
    )
    after = replace(after, instalments=instalments, dpd=days_past_due(after, on))
    check_loan(after)
    return after, replace(split, prepaid_minor=prepaid)


def _settle(
    loan: LoanState, amount_minor: int, on: dt.date, settling: Payoff
) -> tuple[LoanState, Allocation]:
    after = replace(
        loan,
        instalments=_settled_instalments(loan, on),
        paid_penalty_minor=loan.penalty_minor,
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
        taken = min(self.left, max(owed_minor, 0))
        self.left -= taken
        return taken


def _waterfall(loan: LoanState, amount_minor: int, on: dt.date) -> tuple[LoanState, Allocation]:
    purse = _Purse(amount_minor)
    items = list(loan.instalments)
    running = running_index(loan, on)
    fallen_due = list(range(len(items) if running is None else running))
    # What has fallen due goes first, through every step; then the running instalment.
    tiers = [fallen_due] + ([[running]] if running is not None else [])
    split = dict.fromkeys(Step, 0)
    paid_penalty = loan.paid_penalty_minor
    for tier_index, tier in enumerate(tiers):
        for step in loan.terms.waterfall:
            if step is Step.PENALTY and tier_index == 0:
                taken = purse.take(loan.unpaid_penalty_minor)
                paid_penalty += taken
                split[step] += taken
            elif step in _PAID_BY_STEP:
                for n in tier:
                    items[n], taken = _pay(items[n], _PAID_BY_STEP[step], purse)
                    split[step] += taken
    first_later = len(tiers[0]) + len(tiers) - 1
    if purse.left and first_later < len(items):
        if loan.terms.takes_prepayment:
            split[Step.PREPAYMENT] = _prepay(loan, items, first_later, purse)
        elif loan.terms.overpayment is Overpayment.NEXT_INSTALMENT:
            for n in range(first_later, len(items)):
                for step in (Step.FEES, Step.INTEREST, Step.PRINCIPAL_DUE):
                    items[n], taken = _pay(items[n], _PAID_BY_STEP[step], purse)
                    split[step] += taken
    after = replace(
        loan,
        instalments=tuple(items),
        paid_penalty_minor=paid_penalty,
        credit_minor=loan.credit_minor + purse.left,
    )
    check_loan(after)
    invariant(not after.settled, "a payment below the payoff cannot settle the loan")
    return after, Allocation(
        penalty_minor=split[Step.PENALTY],
        fees_minor=split[Step.FEES],
        interest_minor=split[Step.INTEREST],
        principal_minor=split[Step.PRINCIPAL_DUE] + split[Step.PREPAYMENT],
        credit_minor=purse.left,
    )


# Which amounts of an instalment each step pays, as (owed field, paid field) pairs, in order.
_PAID_BY_STEP: dict[Step, tuple[tuple[str, str], ...]] = {
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


def _prepay(loan: LoanState, items: list[InstalmentState], first: int, purse: _Purse) -> int:
    """Repay principal not yet due from the last instalment back; recompute later interest."""
    prepaid = 0
    for n in range(len(items) - 1, first - 1, -1):
        taken = purse.take(items[n].unpaid_principal_minor)
        items[n] = replace(items[n], principal_minor=items[n].principal_minor - taken)
        prepaid += taken
    # Later periods accrue on the lower balance; a period with nothing left owes no fee.
    balance = sum(i.unpaid_principal_minor for i in items[first:])
    for n in range(first, len(items)):
        days = (items[n].due_date - period_start(loan, n)).days
        interest = round_half_up(loan.terms.rate.interest_for_days(balance, days))
        fee = items[n].fee_minor if balance > 0 else 0
        items[n] = replace(items[n], interest_minor=interest, fee_minor=fee)
        balance -= items[n].unpaid_principal_minor
    return prepaid


def days_past_due(loan: LoanState, on: dt.date) -> int:
    """Days since the oldest due date with anything unpaid on it (0 when nothing is overdue)."""
    overdue = [i.due_date for i in loan.instalments if i.due_date < on and i.unpaid_minor > 0]
    return (on - overdue[0]).days if overdue else 0


def end_of_day(loan: LoanState, on: dt.date) -> LoanState:
    """The loan after the end of day `on`: accrual, days past due, penalty and late fees.

    Idempotent: a loan already closed for `on` (or later) is returned unchanged. Run once per
    business date, in date order; each run charges one day of penalty interest.
    """
    if loan.settled or on < loan.start_date or (loan.eod_date is not None and loan.eod_date >= on):
        return loan
    overdue = [i for i in loan.instalments if i.due_date < on and i.unpaid_minor > 0]
    dpd = days_past_due(loan, on)
    terms = loan.terms
    penalty = loan.penalty_minor
    # Past its grace days an instalment owes a day of penalty on its principal and, once, its
    # late fee.
    late = [i for i in overdue if (on - i.due_date).days > terms.grace_days]
    late_principal = sum(i.unpaid_principal_minor for i in late)
    if late_principal:
        penalty += round_half_up(
            Decimal(late_principal) * terms.penalty_annual_rate / terms.penalty_basis_days
        )
    late_numbers = {i.number for i in late if i.late_fee_minor == 0}
    items = [
        replace(i, late_fee_minor=terms.late_fee_minor) if i.number in late_numbers else i
        for i in loan.instalments
    ]
    after = replace(
        loan,
        instalments=tuple(items),
        penalty_minor=penalty,
        interest_accrued_minor=interest_to_date(loan, on),
        dpd=dpd,
        eod_date=on,
    )
    check_loan(after)
    return after
