"""Instalment schedules for a loan: pure arithmetic, no I/O and no clock.

Three repayment methods:

- `equal_instalment` (等额本息, annuity): every instalment but the last pays the same amount.
- `equal_principal` (等额本金): every instalment but the last repays the same principal.
- `interest_first` (先息后本): interest each period, the whole principal with the last.

Rules a reviewer should know:

- Due dates are `start_date + n months` for n = 1..term, clamped to the month's last day. Each is
  computed from the start date, never from the previous due date, so a loan drawn on the 31st
  falls due on 28/29 February and on 31 March again.
- Interest for a period accrues on the balance outstanding during it, from the previous due date
  (the start date for the first period) to this one, by the rate's day count:
  `balance × annual_rate × days / basis`, with the actual days over 365 (ACT/365) or 360
  (ACT/360), or with 30/360 days: 30 a whole month, whole months measured back as Appendix J
  measures them (31 January to 28 February is a month), so every period of a schedule is
  exactly `annual_rate / 12`; or `balance × daily_rate × days` for a daily rate.
- The equal instalment comes from the closed-form annuity `A = P·r / (1 − (1 + r)^−n)` with the
  nominal monthly rate `r`: `annual_rate / 12` for an annual rate, `daily_rate × 30` for a daily
  rate (the market convention 月利率 = 日利率 × 30). Interest is still charged by the day count,
  so principal in each period is `A − interest` and the last instalment absorbs the residual.
  Under 30/360 the two agree, which is why a 30/360 equal-instalment loan's APR is its nominal
  rate (等额本息 at Chinese banks, US instalment loans).
- Amounts are rounded half-up to the minor unit at exactly three places, each named in the code:
  the equal instalment, each period's interest, and the per-period equal principal.
- A period never repays more principal than is outstanding (nor less than zero); the last
  instalment repays whatever is left, so principal always sums exactly to the loan principal.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, localcontext
from enum import StrEnum

from creditline.kernel.errors import InvalidInput
from creditline.kernel.invariant import invariant
from creditline.kernel.money import AMOUNT_MINOR_MAX, round_half_up
from creditline.kernel.months import months_and_odd_days

TERM_MONTHS_MIN = 1
TERM_MONTHS_MAX = 36
# Above any lawful consumer-credit rate; catches percentages passed as fractions (24 for 0.24).
ANNUAL_RATE_MAX = Decimal("1")
DAILY_RATE_MAX = Decimal("0.003")
DAYS_PER_MONTH_FOR_DAILY_RATE = 30
DAYS_PER_MONTH_30_360 = 30
MONTHS_PER_YEAR = 12
# Enough digits that (1 + r)^-36 keeps every minor unit of the largest amount exact.
_DECIMAL_PRECISION = 50


class RepaymentMethod(StrEnum):
    """How principal and interest are spread over the instalments."""

    EQUAL_INSTALMENT = "equal_instalment"
    EQUAL_PRINCIPAL = "equal_principal"
    INTEREST_FIRST = "interest_first"


class DayCount(StrEnum):
    """Day-count convention of an annual rate: the days a period counts over the days of a
    year. ACT/365 and ACT/360 count actual days; 30/360 counts 30 days a whole month."""

    ACT_365 = "ACT/365"
    ACT_360 = "ACT/360"
    THIRTY_360 = "30/360"

    @property
    def basis_days(self) -> int:
        """Days in the convention's year."""
        return 365 if self is DayCount.ACT_365 else 360

    def days_between(self, start: dt.date, end: dt.date) -> int:
        """The days from `start` to `end` that interest is charged for: the actual days, or for
        30/360 the whole months measured back from `end` (Appendix J (b)(3)(iv)) times 30 plus
        the days left over."""
        if self is DayCount.THIRTY_360:
            months, odd_days = months_and_odd_days(start, end)
            return DAYS_PER_MONTH_30_360 * months + odd_days
        return (end - start).days


def _check_rate(rate: object, rate_max: Decimal, name: str) -> None:
    if not isinstance(rate, Decimal) or not rate.is_finite():
        raise InvalidInput(f"{name} must be a finite Decimal, never a float")
    if not Decimal(0) <= rate <= rate_max:
        raise InvalidInput(f"{name} must be between 0 and {rate_max}", rate_max=str(rate_max))


@dataclass(frozen=True, slots=True)
class AnnualRate:
    """A nominal annual rate as a fraction (0.18 for 18%) with its day-count convention."""

    annual_rate: Decimal
    day_count: DayCount

    def __post_init__(self) -> None:
        _check_rate(self.annual_rate, ANNUAL_RATE_MAX, "annual rate")
        if not isinstance(self.day_count, DayCount):
            raise InvalidInput(f"day count must be one of {', '.join(d.value for d in DayCount)}")

    def interest_for_days(self, balance_minor: int, days: int) -> Decimal:
        """Unrounded interest in minor units on `balance_minor` over `days` days of the day
        count (`days_between`)."""
        return Decimal(balance_minor) * self.annual_rate * days / self.day_count.basis_days

    def days_between(self, start: dt.date, end: dt.date) -> int:
        """The days from `start` to `end` by the rate's day count."""
        return self.day_count.days_between(start, end)

    @property
    def monthly_rate(self) -> Decimal:
        """Nominal monthly rate for the annuity formula: annual / 12."""
        return self.annual_rate / MONTHS_PER_YEAR


@dataclass(frozen=True, slots=True)
class DailyRate:
    """A daily rate as a fraction (0.0005 for 万分之五 a day)."""

    daily_rate: Decimal

    def __post_init__(self) -> None:
        _check_rate(self.daily_rate, DAILY_RATE_MAX, "daily rate")

    def interest_for_days(self, balance_minor: int, days: int) -> Decimal:
        """Unrounded interest in minor units on `balance_minor` over `days` days."""
        return Decimal(balance_minor) * self.daily_rate * days

    def days_between(self, start: dt.date, end: dt.date) -> int:
        """The actual days from `start` to `end`: a daily rate is charged by the day."""
        return (end - start).days

    @property
    def monthly_rate(self) -> Decimal:
        """Nominal monthly rate for the annuity formula: daily × 30."""
        return self.daily_rate * DAYS_PER_MONTH_FOR_DAILY_RATE


Rate = AnnualRate | DailyRate


@dataclass(frozen=True, slots=True)
class Instalment:
    """One scheduled repayment; amounts in minor units of the loan's currency."""

    number: int
    due_date: dt.date
    principal_minor: int
    interest_minor: int
    balance_after_minor: int

    @property
    def payment_minor(self) -> int:
        """Principal plus interest due on this instalment."""
        return self.principal_minor + self.interest_minor


@dataclass(frozen=True, slots=True)
class Schedule:
    """A loan's instalments in due-date order."""

    method: RepaymentMethod
    principal_minor: int
    instalments: tuple[Instalment, ...]

    def __post_init__(self) -> None:
        invariant(
            self.total_principal_minor == self.principal_minor,
            "schedule principal must sum to the loan principal",
        )
        invariant(
            all(i.principal_minor >= 0 and i.interest_minor >= 0 for i in self.instalments),
            "instalment amounts must not be negative",
        )
        invariant(
            bool(self.instalments) and self.instalments[-1].balance_after_minor == 0,
            "the last instalment must clear the balance",
        )

    @property
    def total_principal_minor(self) -> int:
        """Sum of principal over all instalments."""
        return sum(i.principal_minor for i in self.instalments)

    @property
    def total_interest_minor(self) -> int:
        """Sum of interest over all instalments."""
        return sum(i.interest_minor for i in self.instalments)

    @property
    def total_payment_minor(self) -> int:
        """Sum of principal and interest over all instalments."""
        return self.total_principal_minor + self.total_interest_minor


def add_months(start_date: dt.date, months: int) -> dt.date:
    """`start_date` plus `months` calendar months, clamped to the last day of the month."""
    month_index = start_date.month - 1 + months
    year = start_date.year + month_index // MONTHS_PER_YEAR
    month = month_index % MONTHS_PER_YEAR + 1
    day = min(start_date.day, calendar.monthrange(year, month)[1])
    return dt.date(year, month, day)


def due_dates(start_date: dt.date, term_months: int) -> tuple[dt.date, ...]:
    """Monthly due dates, each computed from `start_date` (never chained from the last one)."""
    _check_term(term_months)
    return tuple(add_months(start_date, n) for n in range(1, term_months + 1))


def annuity_payment_minor(principal_minor: int, monthly_rate: Decimal, term_months: int) -> int:
    """Closed-form annuity `P·r / (1 − (1 + r)^−n)`, rounded half-up (rounding place 1).

    With a zero rate the annuity degenerates to `P / n`.
    """
    with localcontext() as context:
        context.prec = _DECIMAL_PRECISION
        if monthly_rate == 0:
            return round_half_up(Decimal(principal_minor) / term_months)
        discount = (1 + monthly_rate) ** -term_months
        return round_half_up(Decimal(principal_minor) * monthly_rate / (1 - discount))


def build_schedule(
    method: RepaymentMethod,
    principal_minor: int,
    term_months: int,
    start_date: dt.date,
    rate: Rate,
) -> Schedule:
    """Build the schedule for a loan of `principal_minor` drawn on `start_date`.

    Raises `InvalidInput` for an unknown method, a term outside 1–36 months, a principal that is
    not a positive integer within `AMOUNT_MINOR_MAX`, or a rate that is not `AnnualRate` or
    `DailyRate`.
    """
    if not isinstance(method, RepaymentMethod):
        raise InvalidInput("unknown repayment method", supported=[m.value for m in RepaymentMethod])
    _check_term(term_months)
    if type(principal_minor) is not int or not 0 < principal_minor <= AMOUNT_MINOR_MAX:
        raise InvalidInput(
            "principal must be a positive integer number of minor units",
            amount_minor_max=AMOUNT_MINOR_MAX,
        )
    if not isinstance(rate, AnnualRate | DailyRate):
        raise InvalidInput("rate must be an AnnualRate or a DailyRate")
    if not isinstance(start_date, dt.date) or isinstance(start_date, dt.datetime):
        raise InvalidInput("start date must be a date")
    periods = []
    period_start = start_date
    for due_date in due_dates(start_date, term_months):
        periods.append((due_date, rate.days_between(period_start, due_date)))
        period_start = due_date
    return schedule_over_periods(method, principal_minor, rate, periods)


def schedule_over_periods(
    method: RepaymentMethod,
    principal_minor: int,
    rate: Rate,
    periods: Sequence[tuple[dt.date, int]],
) -> Schedule:
    """The schedule of a loan whose n-th period ends on its date and charges interest for its
    days (by the rate's day count). `build_schedule` gives the periods of a real calendar; the
    rate caps price a loan on calendars that no drawdown date can beat (`loans/caps.py`)."""
    _check_term(len(periods))
    plan = _planned_principals(method, principal_minor, len(periods), rate)
    instalments: list[Instalment] = []
    balance_minor = principal_minor
    for number, (due_date, days) in enumerate(periods, start=1):
        # Rounding place 2: each period's interest.
        interest_minor = round_half_up(rate.interest_for_days(balance_minor, days))
        repaid_minor = plan.principal_minor(number, balance_minor, interest_minor)
        balance_minor -= repaid_minor
        instalments.append(
            Instalment(number, due_date, repaid_minor, interest_minor, balance_minor)
        )
    return Schedule(method, principal_minor, tuple(instalments))


def _check_term(term_months: object) -> None:
    if type(term_months) is not int or not TERM_MONTHS_MIN <= term_months <= TERM_MONTHS_MAX:
        raise InvalidInput(
            f"term must be {TERM_MONTHS_MIN} to {TERM_MONTHS_MAX} months",
            term_months_min=TERM_MONTHS_MIN,
            term_months_max=TERM_MONTHS_MAX,
        )


@dataclass(frozen=True, slots=True)
class _PrincipalPlan:
    """What each non-final period aims to repay: a fixed payment or a fixed principal."""

    term_months: int
    payment_minor: int | None = None
    principal_per_period_minor: int = 0

    def principal_minor(self, number: int, balance_minor: int, interest_minor: int) -> int:
        """Principal repaid in period `number`, never below zero nor above the balance."""
        if number == self.term_months:
            return balance_minor  # the last instalment absorbs every residual
        if self.payment_minor is not None:
            wanted_minor = self.payment_minor - interest_minor
        else:
            wanted_minor = self.principal_per_period_minor
        return min(max(wanted_minor, 0), balance_minor)


def _planned_principals(
    method: RepaymentMethod, principal_minor: int, term_months: int, rate: Rate
) -> _PrincipalPlan:
    if method is RepaymentMethod.EQUAL_INSTALMENT:
        payment_minor = annuity_payment_minor(principal_minor, rate.monthly_rate, term_months)
        return _PrincipalPlan(term_months, payment_minor=payment_minor)
    if method is RepaymentMethod.EQUAL_PRINCIPAL:
        # Rounding place 3: the per-period equal principal.
        per_period_minor = round_half_up(Decimal(principal_minor) / term_months)
        return _PrincipalPlan(term_months, principal_per_period_minor=per_period_minor)
    return _PrincipalPlan(term_months, principal_per_period_minor=0)
