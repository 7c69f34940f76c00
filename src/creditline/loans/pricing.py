"""Pricing a drawdown by its product, a profile's rules for blocking and closing lines, and the
smallest limit a line may have: the ledger's `Pricing`, `Terms` and `Limits` ports, implemented
by loans from the catalogue and its profiles."""

from __future__ import annotations

from datetime import datetime

from creditline.kernel.errors import ProductNotFound
from creditline.kernel.money import Money
from creditline.ledger.ports import PricedHold, ProfileRules
from creditline.loans.products import Catalogue
from creditline.loans.quote import product_quote


class ProductPricing:
    """Prices drawdowns with the catalogue's products (refusing what a product does not offer
    or what its jurisdiction's APR cap forbids)."""

    def __init__(self, catalogue: Catalogue) -> None:
        self._catalogue = catalogue

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
        schedule, quoted = product_quote(
            priced,
            Money(amount_minor, currency),
            term_months,
            method,
            priced.profile.business_date(at),
        )
        return PricedHold(priced.code, schedule.method.value, quoted)


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
    """The smallest limit of a line: its currency's jurisdiction profile's `limit_min`, or one
    minor unit for a currency no product lends in (a line is never zero)."""

    def __init__(self, catalogue: Catalogue) -> None:
        self._catalogue = catalogue

    def limit_min_minor(self, currency: str) -> int:
        """The profile minimum for lines in `currency`, in minor units (at least 1)."""
        try:
            return max(self._catalogue.profile_for(currency).limit_min_minor, 1)
        except ProductNotFound:
            return 1
