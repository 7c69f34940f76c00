"""A loan after its drawdown: what it owes and what it has paid.

Pure: no I/O and no clock. Every function takes the business date it works on. How a repayment
is split over the loan (the waterfall, prepayment, settlement) is `creditline.loans.waterfall`;
days past due, lateness and end of day are `creditline.loans.arrears`.

Rules a reviewer should know:

- The schedule is frozen on the loan when the drawdown posts. Each instalment owes its
  scheduled principal, interest and service fee and, once late, its late fee and the penalty
  interest charged on its overdue principal: every amount belongs to one instalment, so a
  payment can clear the oldest instalment in full before the next.
- The running instalment on a date is the first due after it; its interest accrues pro rata of
  the period's days (half-up), which is what a settlement charges and end of day records.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Final
from zoneinfo import ZoneInfo

from creditline.kernel.errors import InvalidInput
from creditline.kernel.invariant import fail, invariant
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


class PrepaymentEffect(StrEnum):
    """How a partial prepayment re-amortises the instalments after the running one."""

    SHORTER_TERM = "shorter_term"  # the last instalments go first: the loan ends sooner
    LOWER_INSTALMENT = "lower_instalment"  # the same number of instalments, each smaller


# The order arrears are cleared in: each instalment in full, the oldest first.
ARREARS_ORDER: Final = "oldest_instalment_first"


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
    prepayment_effect: PrepaymentEffect = PrepaymentEffect.SHORTER_TERM

    @property
    def takes_prepayment(self) -> bool:
        """Whether money beyond what is due prepays principal not yet due."""
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
    penalty_minor: int = 0  # penalty interest charged on its principal while it was late
    paid_principal_minor: int = 0
    paid_interest_minor: int = 0
    paid_fee_minor: int = 0
    paid_late_fee_minor: int = 0
    paid_penalty_minor: int = 0
    # The business date its scheduled amount was covered (`arrears.shortfalls`): the on-time
    # record and days late are read from it.
    paid_on: dt.date | None = None

    @property
    def scheduled_minor(self) -> int:
        """What the schedule asks of it: principal, interest and service fee."""
        return self.principal_minor + self.interest_minor + self.fee_minor

    @property
    def paid_minor(self) -> int:
        """Everything paid on it, charges for lateness included."""
        return (
            self.paid_principal_minor
            + self.paid_interest_minor
            + self.paid_fee_minor
            + self.paid_late_fee_minor
            + self.paid_penalty_minor
        )

    @property
    def unpaid_principal_minor(self) -> int:
        """Principal still owed on this instalment."""
        return self.principal_minor - self.paid_principal_minor

    @property
    def unpaid_interest_minor(self) -> int:
        """Interest still owed on this instalment."""
        return self.interest_minor - self.paid_interest_minor

    @property
    def unpaid_fee_minor(self) -> int:
        """Service fee still owed on this instalment."""
        return self.fee_minor - self.paid_fee_minor

    @property
    def unpaid_late_fee_minor(self) -> int:
        """Late fee still owed on this instalment."""
        return self.late_fee_minor - self.paid_late_fee_minor

    @property
    def unpaid_penalty_minor(self) -> int:
        """Penalty interest still owed on this instalment."""
        return self.penalty_minor - self.paid_penalty_minor

    @property
    def unpaid_minor(self) -> int:
        """Everything still owed on this instalment."""
        return (
            self.unpaid_principal_minor
            + self.unpaid_interest_minor
            + self.unpaid_fee_minor
            + self.unpaid_late_fee_minor
            + self.unpaid_penalty_minor
        )


@dataclass(frozen=True, slots=True)
class LoanState:
    """A loan's schedule with its payments, charges and end-of-day marks."""

    id: str
    currency: str
    principal_minor: int
    start_date: dt.date
    terms: LoanTerms
    instalments: tuple[InstalmentState, ...]
    credit_minor: int = 0
    interest_accrued_minor: int = 0
    dpd: int = 0
    eod_date: dt.date | None = None

    @property
    def principal_outstanding_minor(self) -> int:
        """Principal not yet repaid, over every instalment."""
        return sum(i.unpaid_principal_minor for i in self.instalments)

    @property
    def settled(self) -> bool:
        """Whether the principal is repaid (nothing else is then owed)."""
        return self.principal_outstanding_minor == 0

    @property
    def penalty_minor(self) -> int:
        """Penalty interest charged, over every instalment."""
        return sum(i.penalty_minor for i in self.instalments)

    @property
    def paid_penalty_minor(self) -> int:
        """Penalty interest paid, over every instalment."""
        return sum(i.paid_penalty_minor for i in self.instalments)

    @property
    def unpaid_penalty_minor(self) -> int:
        """Penalty interest charged and not yet paid."""
        return self.penalty_minor - self.paid_penalty_minor


def check_loan(loan: LoanState) -> None:
    """The loan's own invariants, checked on every state the model produces."""
    invariant(
        sum(i.principal_minor for i in loan.instalments) <= loan.principal_minor,
        f"loan {loan.id}: instalment principal above the loan's",
    )
    for i in loan.instalments:  # one expression: this runs twice per repayment, per instalment
        if not (
            0 <= i.paid_principal_minor <= i.principal_minor
            and 0 <= i.paid_interest_minor <= i.interest_minor
            and 0 <= i.paid_fee_minor <= i.fee_minor
            and 0 <= i.paid_late_fee_minor <= i.late_fee_minor
            and 0 <= i.paid_penalty_minor <= i.penalty_minor
        ):
            fail(f"loan {loan.id}: instalment {i.number} overpaid")
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
    """When the period of the instalment at `index` starts: the previous due date, or the start."""
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
    # Part of prepaid_minor: principal of the instalments after the running one, whose
    # repayment re-amortised them.
    reamortised_minor: int = 0

    @property
    def rescheduled(self) -> bool:
        """Whether a prepayment re-amortised the instalments after the running one."""
        return self.reamortised_minor > 0
