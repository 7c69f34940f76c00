"""Pricing a drawdown by its product: the ledger's `Pricing` port, implemented by loans."""

from __future__ import annotations

from datetime import datetime

from creditline.kernel.money import Money
from creditline.ledger.ports import PricedHold
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
