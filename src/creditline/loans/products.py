"""Loan products and jurisdiction profiles, read from a TOML file and checked against the caps.

A product names its repayment methods, terms, rate and its day count, fees, grace days,
waterfall and the jurisdiction profile whose caps it must respect. A product whose penalty rate
or late fee is above its profile's cap, whose nominal rate or daily rate × 365 is above its rate
cap, or whose interest-first terms run longer than its profile allows (CN-2), is refused when
the file is loaded; a quote or drawdown is refused when it is priced above the rate cap on its
date (`loans/caps.py`) or asks for such a term (`Product.check_term`).
"""

from __future__ import annotations

import datetime as dt
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
    ValidationError,
    field_validator,
)

from creditline.kernel.data_categories import NEVER_FOR_CREDITWORTHINESS, DataCategory
from creditline.kernel.errors import InvalidInput, ProductNotFound
from creditline.kernel.money import Money, round_half_up
from creditline.kernel.reasons import REASON_CATALOGUE, is_generic
from creditline.loans.caps import (
    LprSeries,
    LprSpec,
    RateCap,
    binding_cap,
    check_interest_first_term,
    check_product_rate,
    lpr_series,
    offered_interest_first_terms,
    profile_cap,
    shipped_lpr,
)
from creditline.loans.funding import LENDER, WHOLE_BASIS_POINTS, checked_split
from creditline.loans.model import (
    ARREARS_ORDER,
    LoanTerms,
    Overpayment,
    PrepaymentEffect,
    Step,
    parse_waterfall,
)
from creditline.loans.schedule import (
    TERM_MONTHS_MAX,
    TERM_MONTHS_MIN,
    AnnualRate,
    DailyRate,
    DayCount,
    Rate,
    RepaymentMethod,
)

_HUNDRED = Decimal(100)
# Days a person has to answer a human review or a borrower's request, unless the profile says.
REVIEW_DAYS_DEFAULT = 15
_T = TypeVar("_T")


def _decimal_text(value: object) -> object:
    """Rates are written as decimal strings ("12.00"): a TOML float has already lost digits."""
    if not isinstance(value, str):
        raise ValueError('write rates and percentages as decimal strings, such as "12.00"')
    return value


Percent = Annotated[
    Decimal, BeforeValidator(_decimal_text), Field(ge=0, le=100, allow_inf_nan=False)
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ProfileSpec(_Strict):
    name: str
    currency: str
    apr_cap_percent: Percent
    penalty_annual_rate_cap_percent: Percent
    late_fee_cap: str
    # The smallest limit a line may have: a line is never cut to zero (freeze or close it).
    limit_min: str | None = None  # None: one minor unit
    timezone: str
    # Which adverse-action content notices carry (US: ECOA/FCRA fields, US-2/US-4).
    jurisdiction: Literal["CN", "US", "EU", "other"] = "other"
    language: Literal["zh-CN", "en"] = "en"  # notices' language unless the borrower chose
    # A human review's deadline, and staff's to act on a borrower's request.
    review_days: Annotated[StrictInt, Field(ge=1, le=60)] = REVIEW_DAYS_DEFAULT
    # How many days before an instalment falls due the borrower is reminded of it.
    due_reminder_days: Annotated[StrictInt, Field(ge=1, le=30)] = 3
    # Lines an application may open per borrower in this currency (staff may open more).
    lines_per_borrower_max: Annotated[StrictInt, Field(ge=1, le=10)] = 1
    # The profile's version, stored with every decision whose limit it capped.
    version: Annotated[StrictStr, Field(min_length=1, max_length=32)] = "1"
    # Caps on a line's limit (None: none of that kind). CN-1: 300,000.00 and a third of
    # annual income (4 months); CN-2: 200,000.00; income without evidence supports at most
    # `unverified_income_limit_max`; US-6: monthly obligations plus the payment on the whole
    # limit (repaid over `ability_to_pay_term_months` at the default product's rate) within
    # `debt_to_income_max_percent` of income.
    limit_cap: str | None = None
    limit_cap_income_months: Annotated[StrictInt, Field(ge=1, le=120)] | None = None
    unverified_income_limit_max: str | None = None
    debt_to_income_max_percent: Annotated[StrictInt, Field(ge=1, le=100)] | None = None
    ability_to_pay_term_months: Annotated[StrictInt, Field(ge=1, le=120)] | None = None
    # The data categories its policies may read to assess creditworthiness (EU-1); None: any.
    data_categories: list[DataCategory] | None = None
    # The reason codes that justify blocking drawdowns (a freeze or a suspension, EU-2); None:
    # any specific adverse code.
    block_reasons: list[StrictStr] | None = None
    # A close the lender decides takes effect at least this many months after it is decided,
    # and the line stays usable until then (EU-2); 0: at once.
    termination_notice_months: Annotated[StrictInt, Field(ge=0, le=12)] = 0
    # A policy change that is adverse for a borrower takes effect at least this many days
    # after its approval (CN: 30 by default; US: 45, as a change-in-terms notice; a close under
    # a termination notice waits that notice too).
    policy_notice_days: Annotated[StrictInt, Field(ge=0, le=366)] = 30
    # Approving a policy version needs a simulation of the current book at most this old.
    simulation_age_hours_max: Annotated[StrictInt, Field(ge=1, le=720)] = 24
    # The annual rate quotes disclose and the cap applies to: the actuarial APR (CN-4, US-7)
    # or the APRC of the Consumer Credit Directive's annex (EU).
    apr_method: Literal["actuarial", "aprc"] = "actuarial"
    # The cap also holds for the effective annual rate by daily IRR, the compound rate (CN-4).
    cap_effective_annual_rate: bool = False
    # CN-5's judicial cap for private lending: this many times the one-year LPR in force on the
    # drawdown date, when lower than `apr_cap_percent` (4 since 20 August 2020). None: not applied.
    judicial_cap_lpr_multiple: Annotated[StrictInt, Field(ge=1, le=10)] | None = None
    # The longest interest-first (先息后本) term, in months (CN-2: a year). None: any term.
    interest_first_term_months_max: (
        Annotated[StrictInt, Field(ge=TERM_MONTHS_MIN, le=TERM_MONTHS_MAX)] | None
    ) = None
    # A credit balance left by an overpayment is paid out within this many days of the payment
    # (Reg Z 1026.11(a)(2) gives seven business days from a request; the lender commits to it).
    refund_days: Annotated[StrictInt, Field(ge=1, le=60)] = 7
    # Portfolio reports' expected loss: the share of a defaulted exposure lost (LGD), and the
    # share of the undrawn limit drawn by default (CCF); 100 % unless the lender says less.
    loss_given_default_percent: Percent = Decimal(100)
    credit_conversion_percent: Percent = Decimal(100)
    # CN-3, joint lending: the funders lending beside the lender (id: name), each drawdown's
    # split unless staff name one (decimal percent strings by funder; `lender` is the lender's
    # own share; default all of it), and the least own share a split may leave the lender.
    funders: dict[str, StrictStr] = Field(default_factory=dict)
    funding: dict[str, StrictStr] | None = None
    lender_share_percent_min: Percent = Decimal(0)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @field_validator("data_categories")
    @classmethod
    def _lawful_categories(cls, value: list[DataCategory] | None) -> list[DataCategory] | None:
        never = sorted(set(value or ()) & NEVER_FOR_CREDITWORTHINESS)
        if never:
            raise ValueError(f"{', '.join(never)} data may never assess creditworthiness")
        return value

    @field_validator("block_reasons")
    @classmethod
    def _specific_adverse_reasons(cls, value: list[str] | None) -> list[str] | None:
        for code in value or ():
            reason = REASON_CATALOGUE.get(code)
            if reason is None or not reason.adverse or is_generic(code):
                raise ValueError(f"{code!r} is not a specific adverse reason code")
        return value


class ProductSpec(_Strict):
    name: str
    profile: str
    currency: str
    methods: list[RepaymentMethod] = Field(min_length=1)
    default_method: RepaymentMethod
    terms: list[Annotated[StrictInt, Field(ge=TERM_MONTHS_MIN, le=TERM_MONTHS_MAX)]] = Field(
        min_length=1
    )
    # The terms offered interest-first, each one of `terms` (default: all of them).
    interest_first_terms: list[StrictInt] | None = None
    annual_rate_percent: Percent | None = None
    day_count: DayCount = DayCount.ACT_365
    daily_rate_percent: (
        Annotated[Decimal, BeforeValidator(_decimal_text), Field(ge=0, le=Decimal("0.3"))] | None
    ) = None
    upfront_fee_percent: Percent = Decimal(0)
    instalment_fee_percent: Percent = Decimal(0)
    late_fee: str = "0"
    penalty_annual_rate_percent: Percent = Decimal(0)
    grace_days: Annotated[StrictInt, Field(ge=0, le=30)] = 0
    waterfall: list[StrictStr] = Field(default_factory=lambda: [s.value for s in Step])
    # Arrears are cleared one instalment at a time, the oldest first, each in full through the
    # waterfall's steps: the only order there is, stated so that a product says it.
    arrears: Literal["oldest_instalment_first"] = ARREARS_ORDER
    overpayment: Overpayment = Overpayment.REFUND
    # What a partial prepayment does to the instalments after the running one.
    prepayment_effect: PrepaymentEffect = PrepaymentEffect.SHORTER_TERM


class CatalogueSpec(_Strict):
    profiles: dict[str, ProfileSpec]
    products: dict[str, ProductSpec]
    # The product a drawdown gets in each currency unless it names one.
    defaults: dict[str, str] = Field(default_factory=dict)
    # The one-year LPR fixings for the judicial cap (default: the ones shipped, lpr.toml).
    lpr: LprSpec | None = None


@dataclass(frozen=True, slots=True)
class Profile:
    """A jurisdiction's caps and business time zone."""

    code: str
    name: str
    currency: str
    apr_cap_percent: Decimal
    penalty_annual_rate_cap_percent: Decimal
    late_fee_cap_minor: int
    timezone: ZoneInfo
    jurisdiction: str = "other"
    language: str = "en"
    review_days: int = REVIEW_DAYS_DEFAULT
    due_reminder_days: int = 3
    lines_per_borrower_max: int = 1
    limit_min_minor: int = 1
    version: str = "1"
    limit_cap_minor: int | None = None
    limit_cap_income_months: int | None = None
    unverified_income_limit_max_minor: int | None = None
    debt_to_income_max_percent: int | None = None
    ability_to_pay_term_months: int | None = None

    @property
    def label(self) -> str:
        """The profile and its version, as decisions store it (`CN@2026-12`)."""
        return f"{self.code}@{self.version}"

    data_categories: frozenset[DataCategory] | None = None  # None: any category
    block_reasons: frozenset[str] | None = None  # None: any specific adverse code
    termination_notice_months: int = 0
    apr_method: str = "actuarial"
    cap_effective_annual_rate: bool = False
    judicial_cap_lpr_multiple: int | None = None
    lpr: LprSeries | None = None  # the fixings of the judicial cap
    interest_first_term_months_max: int | None = None
    policy_notice_days: int = 30
    simulation_age_hours_max: int = 24

    def rate_cap(self, on: dt.date) -> RateCap:
        """The rate cap that binds on `on`: `apr_cap_percent`, or the judicial cap when the
        profile applies it and it is lower (`InvalidInput` when the LPR data does not reach
        `on`)."""
        return binding_cap(
            self.code, self.apr_cap_percent, on, self.judicial_cap_lpr_multiple, self.lpr
        )

    refund_days: int = 7
    loss_given_default: Decimal = Decimal(1)  # a fraction
    credit_conversion: Decimal = Decimal(1)  # a fraction
    funders: tuple[tuple[str, str], ...] = ()  # (id, name), CN-3
    funding: tuple[tuple[str, int], ...] = ((LENDER, WHOLE_BASIS_POINTS),)  # basis points
    lender_share_min_basis_points: int = 0

    def funding_split(self, shares_percent: Mapping[str, str] | None) -> dict[str, int]:
        """A drawdown's split in basis points by funder: `shares_percent` checked against the
        profile (`UnknownFunder`, `LenderShareBelowMinimum`), or the profile's own."""
        if shares_percent is None:
            return dict(self.funding)
        funders = frozenset(name for name, _ in self.funders)
        return checked_split(shares_percent, funders, self.lender_share_min_basis_points)

    def business_date(self, at: dt.datetime) -> dt.date:
        """The calendar date of the instant `at` where the lender does business."""
        if at.tzinfo is None:
            raise InvalidInput("a business date needs a time with a time zone")
        return at.astimezone(self.timezone).date()


@dataclass(frozen=True, slots=True)
class Product:
    """A loan product, with its rate and fees resolved to what the pure model takes."""

    code: str
    name: str
    profile: Profile
    currency: str
    methods: tuple[RepaymentMethod, ...]
    default_method: RepaymentMethod
    terms: tuple[int, ...]
    rate: Rate
    upfront_fee_percent: Decimal
    instalment_fee_percent: Decimal
    late_fee_minor: int
    penalty_annual_rate: Decimal
    grace_days: int
    waterfall: tuple[Step, ...]
    overpayment: Overpayment
    interest_first_terms: tuple[int, ...] = ()  # empty: all of `terms`
    prepayment_effect: PrepaymentEffect = PrepaymentEffect.SHORTER_TERM

    def method(self, requested: str | None) -> RepaymentMethod:
        """The requested repayment method if the product offers it, else the default."""
        if requested is None:
            return self.default_method
        offered = [m.value for m in self.methods]
        if requested not in offered:
            raise InvalidInput(
                f"product {self.code} offers the methods {', '.join(offered)}",
                product=self.code,
                methods=offered,
            )
        return RepaymentMethod(requested)

    def check_term(self, term_months: int, method: RepaymentMethod) -> None:
        """Refuse a term the product does not offer with `method`, naming the terms it does;
        an interest-first term longer than the profile allows is `TermAboveCap` (CN-2)."""
        offered = self.terms
        if method is RepaymentMethod.INTEREST_FIRST:
            check_interest_first_term(
                term_months,
                self.profile.interest_first_term_months_max,
                self.profile.code,
                self.code,
            )
            offered = self.interest_first_terms or self.terms
        if type(term_months) is not int or term_months not in offered:
            what = "terms of" if offered == self.terms else f"{method.value} for"
            raise InvalidInput(
                f"product {self.code} offers {what} {', '.join(map(str, offered))} months",
                product=self.code,
                terms=list(offered),
            )

    def upfront_fee_minor(self, principal_minor: int) -> int:
        """The fee taken once, at drawdown, on a loan of `principal_minor` (half-up)."""
        return round_half_up(Decimal(principal_minor) * self.upfront_fee_percent / _HUNDRED)

    def instalment_fee_minor(self, principal_minor: int) -> int:
        """The service fee each instalment of a loan of `principal_minor` owes (half-up)."""
        return round_half_up(Decimal(principal_minor) * self.instalment_fee_percent / _HUNDRED)

    def loan_terms(self, method: RepaymentMethod, principal_minor: int) -> LoanTerms:
        """The terms a loan of `principal_minor` freezes when it is drawn."""
        return LoanTerms(
            product=self.code,
            method=method,
            rate=self.rate,
            instalment_fee_minor=self.instalment_fee_minor(principal_minor),
            late_fee_minor=self.late_fee_minor,
            penalty_annual_rate=self.penalty_annual_rate,
            penalty_basis_days=_penalty_basis_days(self.rate),
            grace_days=self.grace_days,
            waterfall=self.waterfall,
            overpayment=self.overpayment,
            timezone=self.profile.timezone.key,
            prepayment_effect=self.prepayment_effect,
        )


class Catalogue:
    """The products a lender offers, by code."""

    def __init__(self, products: dict[str, Product], defaults: dict[str, str]) -> None:
        self._products = products
        self._defaults = defaults

    def product(self, code: str) -> Product:
        """The product with `code`; `ProductNotFound` names the codes there are."""
        try:
            return self._products[code]
        except (KeyError, TypeError):
            shown = str(code).encode("ascii", "backslashreplace").decode()[:64]
            raise ProductNotFound(
                f"no product {shown}", product=shown, products=sorted(self._products)
            ) from None

    def default_for(self, currency: str) -> Product:
        """The product a drawdown in `currency` gets unless it names one."""
        code = self._defaults.get(currency)
        if code is None:
            raise ProductNotFound(f"no product is offered in {currency}", currency=currency)
        return self._products[code]

    def profiles_in_use(self) -> list[Profile]:
        """The profiles lines run under: each lending currency's (its default product's)."""
        found = {
            self.profile_for(currency).code: self.profile_for(currency)
            for currency in self._defaults
        }
        return list(found.values())

    def profile_for(self, currency: str) -> Profile:
        """The jurisdiction profile lines in `currency` are run under (its default product's)."""
        return self.default_for(currency).profile

    def choose(self, code: str | None, currency: str) -> Product:
        """The product named `code` (the currency's default when None), lending in `currency`."""
        product = self.default_for(currency) if code is None else self.product(code)
        if product.currency != currency:
            raise InvalidInput(
                f"product {product.code} lends in {product.currency}, not {currency}",
                product=product.code,
                currency=currency,
            )
        return product

    def __iter__(self) -> Any:
        return iter(self._products.values())


def parse_catalogue(document: dict[str, Any]) -> Catalogue:
    """Validate a catalogue document; `InvalidInput` names the first problem."""
    try:
        spec = CatalogueSpec.model_validate(document)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise InvalidInput(f"product catalogue: {where}: {first['msg']}") from None
    lpr = None
    if any(p.judicial_cap_lpr_multiple is not None for p in spec.profiles.values()):
        lpr = shipped_lpr() if spec.lpr is None else lpr_series(spec.lpr, "product catalogue: lpr")
    profiles = {code: _profile(code, p, lpr) for code, p in spec.profiles.items()}
    products = {code: _product(code, p, profiles) for code, p in spec.products.items()}
    for currency, code in spec.defaults.items():
        if code not in products or products[code].currency != currency:
            raise InvalidInput(
                f"product catalogue: defaults.{currency}: {code} is not a product in {currency}"
            )
    return Catalogue(products, dict(spec.defaults))


def _profile(code: str, spec: ProfileSpec, lpr: LprSeries | None) -> Profile:
    late_fee_cap_minor = _amount(code, "late_fee_cap", spec.late_fee_cap, spec.currency, 0)
    limit_min_minor = (
        1 if spec.limit_min is None else _amount(code, "limit_min", spec.limit_min, spec.currency)
    )
    if (spec.debt_to_income_max_percent is None) != (spec.ability_to_pay_term_months is None):
        raise InvalidInput(
            f"product catalogue: profile {code}: debt_to_income_max_percent and "
            "ability_to_pay_term_months go together"
        )
    caps = {
        name: None if text is None else _amount(code, name, text, spec.currency)
        for name, text in (
            ("limit_cap", spec.limit_cap),
            ("unverified_income_limit_max", spec.unverified_income_limit_max),
        )
    }
    return Profile(
        code=code,
        name=spec.name,
        currency=spec.currency,
        apr_cap_percent=spec.apr_cap_percent,
        penalty_annual_rate_cap_percent=spec.penalty_annual_rate_cap_percent,
        late_fee_cap_minor=late_fee_cap_minor,
        timezone=ZoneInfo(spec.timezone),
        jurisdiction=spec.jurisdiction,
        language=spec.language,
        review_days=spec.review_days,
        due_reminder_days=spec.due_reminder_days,
        lines_per_borrower_max=spec.lines_per_borrower_max,
        limit_min_minor=limit_min_minor,
        version=spec.version,
        limit_cap_minor=caps["limit_cap"],
        limit_cap_income_months=spec.limit_cap_income_months,
        unverified_income_limit_max_minor=caps["unverified_income_limit_max"],
        debt_to_income_max_percent=spec.debt_to_income_max_percent,
        ability_to_pay_term_months=spec.ability_to_pay_term_months,
        data_categories=_frozen(spec.data_categories),
        block_reasons=_frozen(spec.block_reasons),
        termination_notice_months=spec.termination_notice_months,
        apr_method=spec.apr_method,
        cap_effective_annual_rate=spec.cap_effective_annual_rate,
        judicial_cap_lpr_multiple=spec.judicial_cap_lpr_multiple,
        lpr=None if spec.judicial_cap_lpr_multiple is None else lpr,
        interest_first_term_months_max=spec.interest_first_term_months_max,
        policy_notice_days=spec.policy_notice_days,
        simulation_age_hours_max=spec.simulation_age_hours_max,
        refund_days=spec.refund_days,
        loss_given_default=spec.loss_given_default_percent / _HUNDRED,
        credit_conversion=spec.credit_conversion_percent / _HUNDRED,
        **_funding(code, spec),
    )


def _funding(code: str, spec: ProfileSpec) -> dict[str, Any]:
    """A profile's funders and default split, the split checked as a drawdown's would be."""
    least = int(spec.lender_share_percent_min * 100)
    shares = spec.funding or {LENDER: "100"}
    try:
        split = checked_split(shares, frozenset(spec.funders), least)
    except InvalidInput as error:
        raise InvalidInput(f"product catalogue: profile {code}: {error.message}") from None
    return {
        "funders": tuple(sorted(spec.funders.items())),
        "funding": tuple(sorted(split.items())),
        "lender_share_min_basis_points": least,
    }


def _amount(profile: str, name: str, text: str, currency: str, least: int = 1) -> int:
    """A profile's amount `name` in minor units, at least `least`."""
    try:
        minor = Money.parse(text, currency).minor
    except InvalidInput as error:
        raise InvalidInput(
            f"product catalogue: profile {profile}: {name}: {error.message}", profile=profile
        ) from None
    if minor < least:
        must = "be above zero" if least else "not be negative"
        raise InvalidInput(f"product catalogue: profile {profile}: {name} must {must}")
    return minor


def _frozen(values: list[_T] | None) -> frozenset[_T] | None:
    return None if values is None else frozenset(values)


def _penalty_basis_days(rate: Rate) -> int:
    """The year a day of penalty interest is charged over: the rate's day count's (360 for
    ACT/360 and 30/360), 365 for a daily rate."""
    if isinstance(rate, AnnualRate):
        return rate.day_count.basis_days
    return DayCount.ACT_365.basis_days


def _check_penalty_rate(
    percent: Decimal, rate: Rate, profile: Profile, refuse: Callable[[str], InvalidInput]
) -> None:
    """Refuse a penalty rate whose year of lateness costs more than the profile's cap: it is
    charged by the actual day over the day count's year, so on a 360-day basis a year late
    costs the rate × 365 / 360 (the cap holds for what is paid, as for the interest rate)."""
    cap = profile.penalty_annual_rate_cap_percent
    if percent > cap:
        raise refuse(f"penalty rate {percent}% is above the {cap}% cap of profile {profile.code}")
    basis = _penalty_basis_days(rate)
    charged = percent * DayCount.ACT_365.basis_days / basis
    if charged > cap:
        shown = charged.quantize(Decimal("0.01"), rounding=ROUND_CEILING)
        raise refuse(
            f"penalty rate {percent}% charged by the day over a {basis}-day year costs "
            f"{shown}% a year late, above the {cap}% cap of profile {profile.code}"
        )


def _product(code: str, spec: ProductSpec, profiles: dict[str, Profile]) -> Product:
    def refuse(message: str) -> InvalidInput:
        return InvalidInput(f"product catalogue: product {code}: {message}", product=code)

    profile = profiles.get(spec.profile)
    if profile is None:
        raise refuse(f"unknown profile {spec.profile}")
    if spec.currency != profile.currency:
        raise refuse(f"currency {spec.currency} differs from its profile's {profile.currency}")
    if spec.default_method not in spec.methods:
        raise refuse("the default method must be one of its methods")
    if (spec.annual_rate_percent is None) == (spec.daily_rate_percent is None):
        raise refuse("give exactly one of annual_rate_percent and daily_rate_percent")
    rate: Rate = (
        AnnualRate(spec.annual_rate_percent / _HUNDRED, spec.day_count)
        if spec.annual_rate_percent is not None
        else DailyRate(spec.daily_rate_percent / _HUNDRED)  # type: ignore[operator]
    )
    _check_penalty_rate(spec.penalty_annual_rate_percent, rate, profile, refuse)
    try:
        late_fee_minor = Money.parse(spec.late_fee, spec.currency).minor
    except InvalidInput as error:
        raise refuse(f"late_fee: {error.message}") from None
    try:
        waterfall = parse_waterfall(spec.waterfall)
    except InvalidInput as error:
        raise refuse(f"waterfall: {error.message}") from None
    if not 0 <= late_fee_minor <= profile.late_fee_cap_minor:
        raise refuse(f"late fee {spec.late_fee} is outside 0 to the {spec.profile} cap")
    interest_first_terms = offered_interest_first_terms(
        code,
        spec.methods,
        spec.terms,
        spec.interest_first_terms,
        profile.code,
        profile.interest_first_term_months_max,
    )
    check_product_rate(code, rate, profile_cap(profile.code, profile.apr_cap_percent))
    return Product(
        code=code,
        name=spec.name,
        profile=profile,
        currency=spec.currency,
        methods=tuple(spec.methods),
        default_method=spec.default_method,
        terms=tuple(sorted(set(spec.terms))),
        rate=rate,
        upfront_fee_percent=spec.upfront_fee_percent,
        instalment_fee_percent=spec.instalment_fee_percent,
        late_fee_minor=late_fee_minor,
        penalty_annual_rate=spec.penalty_annual_rate_percent / _HUNDRED,
        grace_days=spec.grace_days,
        waterfall=waterfall,
        overpayment=spec.overpayment,
        interest_first_terms=interest_first_terms,
        prepayment_effect=spec.prepayment_effect,
    )


def load_catalogue(path: Path | None = None) -> Catalogue:
    """The catalogue in `path`, or the one shipped with creditline."""
    if path is None:
        return _shipped_catalogue()
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise InvalidInput(f"product catalogue {path}: {error}") from None
    return parse_catalogue(document)


@cache
def _shipped_catalogue() -> Catalogue:
    text = resources.files("creditline.loans").joinpath("products.toml").read_text("utf-8")
    return parse_catalogue(tomllib.loads(text))
