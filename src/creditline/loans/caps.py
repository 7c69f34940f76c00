"""Rate caps on what a borrower actually pays, measured every way a jurisdiction profile caps it.

A profile's cap (CN-5: 24% for a licensed small-loan company; US: 36%; EU: the APRC cap) holds
for each of these measures, and a price is refused (`RateAboveCap`, `rate_above_cap`) when any
of them is above it:

- the nominal annual rate of the product;
- the daily rate × 365, for a rate charged by the actual day: a daily rate, or an ACT/360
  annual rate (whose day costs 1/360 of it). ACT/365's is its nominal rate; 30/360 charges by
  the month, twelve a year, so its nominal rate is what a year costs;
- the APR of the flows by the profile's method, every fee in them (CN-4): the actuarial APR of
  Appendix J (US-7), or the EU APRC;
- where the profile says so, the effective annual rate by daily IRR: the compound rate.

The first two belong to the product and are checked when the catalogue is loaded. The last two
depend on the calendar: an ACT/365 loan charges more interest in a 31-day month than in a
28-day one, while a fixed monthly charge costs more, compounded by the day, over 28 days than
over 31. So that no drawdown date makes a product pass a cap that it fails on another date,
both are checked on the drawdown's own schedule and on the same loan drawn on its dearest date
(`every_date.py`): a drawdown is refused on every date or on none.

The cap is the profile's `apr_cap_percent`, or where the profile asks for the judicial cap for
private lending (CN-5, since 20 August 2020), that multiple of the one-year loan prime rate
(LPR) fixed on or before the drawdown date, when it is lower. The LPR is dated, versioned data:
`lpr.toml` ships with creditline, and a catalogue may carry its own `[lpr]` table.
"""

from __future__ import annotations

import bisect
import datetime as dt
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal
from enum import StrEnum
from functools import cache
from importlib import resources
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictStr

from creditline.kernel.errors import InvalidInput, RateAboveCap, TermAboveCap
from creditline.loans.schedule import DailyRate, DayCount, Rate, RepaymentMethod

_HUNDRED = Decimal(100)
_SHOWN = Decimal("0.01")
DAYS_PER_YEAR = 365
# Fixings one series may hold: some forty years of monthly fixings.
LPR_FIXINGS_MAX = 500


class Measure(StrEnum):
    """What a cap is measured on."""

    NOMINAL_ANNUAL_RATE = "nominal_annual_rate"
    DAILY_RATE_X365 = "daily_rate_x365"
    APR = "apr"
    APRC = "aprc"
    EFFECTIVE_ANNUAL_RATE = "effective_annual_rate"

    @property
    def label(self) -> str:
        """The measure as a sentence names it."""
        return {
            Measure.NOMINAL_ANNUAL_RATE: "nominal annual rate",
            Measure.DAILY_RATE_X365: "daily rate × 365",
            Measure.APR: "APR",
            Measure.APRC: "APRC",
            Measure.EFFECTIVE_ANNUAL_RATE: "effective annual rate (daily IRR)",
        }[self]


class Calendar(StrEnum):
    """Which schedule a figure was measured on."""

    PRODUCT = "product"  # the product's rate: the same on every date
    DRAWDOWN = "drawdown"  # this drawdown's own schedule
    DEAREST = "dearest"  # the same loan drawn on the date that prices it highest


@dataclass(frozen=True, slots=True)
class Figure:
    """A measured rate in percent, exact (not rounded for display)."""

    measure: Measure
    percent: Decimal
    calendar: Calendar
    on: dt.date | None = None  # the drawdown date of a DEAREST figure


@dataclass(frozen=True, slots=True)
class LprFixing:
    """A one-year LPR fixing: `percent` from `since` until the next fixing."""

    since: dt.date
    percent: Decimal


@dataclass(frozen=True, slots=True)
class LprSeries:
    """The one-year LPR by date, as far as this version of the data knows it."""

    version: str
    valid_through: dt.date
    fixings: tuple[LprFixing, ...]

    def on(self, day: dt.date) -> LprFixing:
        """The fixing in force on `day`; `InvalidInput` when the data does not reach it."""
        starts = [fixing.since for fixing in self.fixings]
        index = bisect.bisect_right(starts, day) - 1
        if index < 0 or day > self.valid_through:
            raise InvalidInput(
                f"the one-year LPR data (version {self.version}) covers "
                f"{starts[0]} to {self.valid_through}, not {day}: add the fixings since",
                lpr_version=self.version,
                date=day.isoformat(),
            )
        return self.fixings[index]


@dataclass(frozen=True, slots=True)
class RateCap:
    """The cap that binds on a date: its percent, and in words where it comes from."""

    percent: Decimal
    basis: str
    profile: str


def profile_cap(profile: str, cap_percent: Decimal) -> RateCap:
    """The profile's own cap, the same on every date."""
    return RateCap(cap_percent, f"the {profile} profile's cap", profile)


def binding_cap(
    profile: str,
    cap_percent: Decimal,
    on: dt.date,
    lpr_multiple: int | None = None,
    lpr: LprSeries | None = None,
) -> RateCap:
    """The lower of the profile's cap and, when it asks for it, `lpr_multiple` × the one-year
    LPR in force on `on`."""
    fixed = profile_cap(profile, cap_percent)
    if lpr_multiple is None or lpr is None:
        return fixed
    fixing = lpr.on(on)
    judicial = lpr_multiple * fixing.percent
    if judicial >= cap_percent:
        return fixed
    basis = (
        f"{lpr_multiple} × the one-year LPR of {fixing.percent}% fixed on "
        f"{fixing.since.isoformat()} (LPR data {lpr.version})"
    )
    return RateCap(judicial, basis, profile)


_PRODUCT = Calendar.PRODUCT


def rate_figures(rate: Rate) -> list[Figure]:
    """The measures of a rate itself: the nominal annual rate, and the daily rate × 365 where
    interest is charged by the actual day over a year shorter than 365 days."""
    if isinstance(rate, DailyRate):
        daily_x365 = rate.daily_rate * _HUNDRED * DAYS_PER_YEAR
        return [Figure(Measure.DAILY_RATE_X365, daily_x365, _PRODUCT)]
    figures = [Figure(Measure.NOMINAL_ANNUAL_RATE, rate.annual_rate * _HUNDRED, _PRODUCT)]
    if rate.day_count is DayCount.ACT_360:
        daily_x365 = rate.annual_rate * _HUNDRED * DAYS_PER_YEAR / rate.day_count.basis_days
        figures.append(Figure(Measure.DAILY_RATE_X365, daily_x365, _PRODUCT))
    return figures


def check_figures(figures: Iterable[Figure], cap: RateCap, product: str) -> None:
    """Refuse the first figure above `cap`, naming the measure, the figure, the cap, where the
    cap comes from and the profile."""
    for figure in figures:
        if figure.percent > cap.percent:
            raise _above(figure, cap, product)


def _above(figure: Figure, cap: RateCap, product: str) -> RateAboveCap:
    # Shown to two places, never below the exact figure: 24.004% is "24.01%", above 24.00%.
    shown = figure.percent.quantize(_SHOWN, rounding=ROUND_CEILING)
    where = {
        Calendar.PRODUCT: "",
        Calendar.DRAWDOWN: " on this drawdown",
        Calendar.DEAREST: f" on the same loan drawn on its dearest date (such as {figure.on})",
    }[figure.calendar]
    return RateAboveCap(
        f"the {figure.measure.label} of {shown}%{where} is above the {cap.percent}% cap of "
        f"the {cap.profile} profile ({cap.basis})",
        measure=figure.measure.value,
        rate_percent=str(shown),
        calendar=figure.calendar.value,
        **({} if figure.on is None else {"dearest_date": figure.on.isoformat()}),
        cap_percent=str(cap.percent),
        cap_basis=cap.basis,
        profile=cap.profile,
        product=product,
    )


def check_product_rate(product: str, rate: Rate, cap: RateCap) -> None:
    """Refuse a product whose rate is above `cap` when its catalogue is loaded: on every date
    alike (a judicial cap moves with the LPR, so it is checked on each drawdown's date)."""
    try:
        check_figures(rate_figures(rate), cap, product)
    except RateAboveCap as error:
        raise RateAboveCap(
            f"product catalogue: product {product}: {error.message}", **error.details
        ) from None


# --- the term of an interest-first loan (CN-2) ------------------------------------------------
def check_interest_first_term(
    term_months: object, term_months_max: int | None, profile: str, product: str
) -> None:
    """Refuse an interest-first term longer than the profile allows."""
    if type(term_months) is int and term_months_max is not None and term_months > term_months_max:
        raise TermAboveCap(
            f"an interest-first loan runs at most {term_months_max} months under the "
            f"{profile} profile, not {term_months}",
            term_months=term_months,
            term_months_max=term_months_max,
            method=RepaymentMethod.INTEREST_FIRST.value,
            profile=profile,
            product=product,
        )


def offered_interest_first_terms(
    product: str,
    methods: Iterable[RepaymentMethod],
    terms: Iterable[int],
    interest_first_terms: Iterable[int] | None,
    profile: str,
    term_months_max: int | None,
) -> tuple[int, ...]:
    """The terms a product offers interest-first, checked when its catalogue is loaded: among
    its terms and within the profile's longest (CN-2). Empty: all its terms, or the method is
    not offered."""
    all_terms = sorted(set(terms))
    if RepaymentMethod.INTEREST_FIRST not in methods:
        if interest_first_terms is not None:
            raise InvalidInput(
                f"product catalogue: product {product}: interest_first_terms without the "
                "interest_first method",
                product=product,
            )
        return ()
    offered = sorted(set(all_terms if interest_first_terms is None else interest_first_terms))
    if not offered or not set(offered) <= set(all_terms):
        raise InvalidInput(
            f"product catalogue: product {product}: interest_first_terms must be among its terms",
            product=product,
        )
    try:
        check_interest_first_term(offered[-1], term_months_max, profile, product)
    except TermAboveCap as error:
        raise TermAboveCap(
            f"product catalogue: product {product}: {error.message} (CN-2)", **error.details
        ) from None
    return () if offered == all_terms else tuple(offered)


# --- the LPR as data --------------------------------------------------------------------------
def _decimal_text(value: object) -> object:
    if not isinstance(value, str):
        raise ValueError('write the LPR as a decimal string, such as "3.00"')
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LprFixingSpec(_Strict):
    since: dt.date
    percent: Annotated[
        Decimal, BeforeValidator(_decimal_text), Field(gt=0, le=25, allow_inf_nan=False)
    ]


class LprSpec(_Strict):
    version: Annotated[StrictStr, Field(min_length=1, max_length=32)]
    valid_through: dt.date
    one_year: list[LprFixingSpec] = Field(min_length=1, max_length=LPR_FIXINGS_MAX)


def lpr_series(spec: LprSpec, where: str) -> LprSeries:
    """The LPR series of a validated `spec`; `InvalidInput` at `where` when its fixings are not
    in date order or it claims to hold to before its last fixing."""
    fixings = tuple(LprFixing(f.since, f.percent) for f in spec.one_year)
    dates = [fixing.since for fixing in fixings]
    if dates != sorted(set(dates)):
        raise InvalidInput(f"{where}: one_year: fixings must be in date order, one a date")
    if spec.valid_through < dates[-1]:
        raise InvalidInput(f"{where}: valid_through comes before the last fixing")
    return LprSeries(spec.version, spec.valid_through, fixings)


@cache
def shipped_lpr() -> LprSeries:
    """The one-year LPR fixings shipped with creditline (`loans/lpr.toml`)."""
    text = resources.files("creditline.loans").joinpath("lpr.toml").read_text("utf-8")
    # The shipped data is part of creditline: a malformed file is a bug and fails loudly.
    return lpr_series(LprSpec.model_validate(tomllib.loads(text)), "lpr.toml")
