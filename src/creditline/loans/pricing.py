"""Pricing a drawdown by its product, and a jurisdiction profile's rules for blocking and
closing lines and its bounds on a limit: the ledger's `Pricing`, `Terms` and `Limits` ports,
implemented by loans from the catalogue and its profiles."""

from __future__ import annotations

from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from creditline.kernel.errors import ProductNotFound
from creditline.kernel.money import Money, currency_exponent
from creditline.ledger.ports import PricedHold, ProfileRules, RegulatoryCaps
from creditline.loans.products import REVIEW_DAYS_DEFAULT, Catalogue, Profile, load_catalogue
from creditline.loans.quote import product_quote
from creditline.loans.schedule import annuity_payment_minor

# Quotes remembered per catalogue: the prices most recently held (a 12-month quote's document
# is a few kilobytes).
QUOTES_CACHED_MAX = 1024


class ProductPricing:
    """Prices drawdowns with the catalogue's products (refusing what a product does not offer
    or what its jurisdiction's APR cap forbids).

    A quote is a pure function of the product, the amount, the term, the method and the
    drawdown date, and the catalogue never changes under a `ProductPricing`: the quotes last
    held are remembered by those five (a refusal is priced again each time). A remembered
    quote's document is shared by every hold at that price: nothing may change it."""

    def __init__(self, catalogue: Catalogue) -> None:
        self._catalogue = catalogue
        self._quote = lru_cache(maxsize=QUOTES_CACHED_MAX)(self._priced)

    def price_hold(
        self,
        product: str | None,
        currency: str,
        amount_minor: int,
        term_months: int,
        method: str | None,
        at: datetime,
    ) -> PricedHold:
        """The price of a drawdown at `at` by `product` (the currency's default when None)."""
        priced = self._catalogue.choose(product, currency)
        start = priced.profile.business_date(at)
        return self._quote(priced.code, currency, amount_minor, term_months, method, start)

    def _priced(
        self,
        product: str,
        currency: str,
        amount_minor: int,
        term_months: int,
        method: str | None,
        start: date,
    ) -> PricedHold:
        priced = self._catalogue.product(product)
        schedule, quoted = product_quote(
            priced, Money(amount_minor, currency), term_months, method, start
        )
        return PricedHold(priced.code, schedule.method.value, quoted)


def catalogue_quote(
    products_file: Path | None,
    product: str,
    amount: str,
    term_months: int,
    method: str | None,
    start_date: date | None,
    now: datetime,
) -> dict[str, Any]:
    """What a drawdown of `amount` by `product` of the catalogue in `products_file` (the shipped
    one when None) would cost, drawn on `start_date` (today where the lender does business):
    priced and refused exactly as a drawdown is (`creditline quote --product`)."""
    priced = load_catalogue(products_file).product(product)
    start = priced.profile.business_date(now) if start_date is None else start_date
    principal = Money.parse(amount, priced.currency)
    return product_quote(priced, principal, term_months, method, start)[1]


class ProfileTerms:
    """The rules of a line's jurisdiction profile for blocking and closing it (EU-2): the
    reasons that justify a block and the notice a lender's close needs; none for a currency no
    product lends in."""

    def __init__(self, catalogue: Catalogue) -> None:
        self._catalogue = catalogue

    def profile_rules(self, currency: str) -> ProfileRules:
        """The rules for lines in `currency`."""
        try:
            profile = self._catalogue.profile_for(currency)
        except ProductNotFound:
            return ProfileRules()
        return ProfileRules(profile.block_reasons, profile.termination_notice_months)


class ProfileLimits:
    """The bounds of a line's limit from its currency's jurisdiction profile: the smallest
    limit (`limit_min`, or one minor unit for a currency no product lends in: a line is never
    zero), the caps, how many lines a borrower may hold, and how long staff have to act on a
    borrower's request about it."""

    def __init__(self, catalogue: Catalogue) -> None:
        self._catalogue = catalogue

    def limit_min_minor(self, currency: str) -> int:
        """The profile minimum for lines in `currency`, in minor units (at least 1)."""
        try:
            return max(self._catalogue.profile_for(currency).limit_min_minor, 1)
        except ProductNotFound:
            return 1

    def caps(self, currency: str) -> RegulatoryCaps | None:
        """The profile's caps for lines in `currency` (None when it sets none)."""
        try:
            profile = self._catalogue.profile_for(currency)
        except ProductNotFound:
            return None
        if not _caps_anything(profile):
            return None
        basis, payment = 1, 0
        if profile.ability_to_pay_term_months is not None:
            # The payment on 1,000 units of limit at the default product's rate.
            basis = 1000 * 10 ** currency_exponent(currency)
            rate = self._catalogue.default_for(currency).rate.monthly_rate
            payment = annuity_payment_minor(basis, rate, profile.ability_to_pay_term_months)
        return RegulatoryCaps(
            profile=profile.code,
            version=profile.label,
            limit_cap_minor=profile.limit_cap_minor,
            income_months=profile.limit_cap_income_months,
            unverified_limit_max_minor=profile.unverified_income_limit_max_minor,
            debt_to_income_max_percent=profile.debt_to_income_max_percent,
            payment_basis_minor=basis,
            payment_minor=payment,
        )

    def lines_per_borrower_max(self, currency: str) -> int:
        """The profile's `lines_per_borrower_max` (1 for a currency no product lends in)."""
        try:
            return self._catalogue.profile_for(currency).lines_per_borrower_max
        except ProductNotFound:
            return 1

    def review_days(self, currency: str) -> int:
        """The profile's `review_days`, as for a human review (the default, 15, for a currency
        no product lends in)."""
        try:
            return self._catalogue.profile_for(currency).review_days
        except ProductNotFound:
            return REVIEW_DAYS_DEFAULT


def _caps_anything(profile: Profile) -> bool:
    return any(
        value is not None
        for value in (
            profile.limit_cap_minor,
            profile.limit_cap_income_months,
            profile.unverified_income_limit_max_minor,
            profile.debt_to_income_max_percent,
        )
    )
