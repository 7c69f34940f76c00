"""The ports the ledger needs from other capabilities, implemented by loans and wired in
`bootstrap.py`: pricing a hold, a profile's rules for blocking and closing lines, and the
smallest limit a line may have. Published through `creditline.ledger.ports`."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from creditline.ledger.profile_rules import ProfileRules
from creditline.ledger.records import PricedHold


class Pricing(Protocol):
    """Prices a drawdown (implemented by the loans capability)."""

    def price_hold(
        self,
        product: str | None,
        currency: str,
        amount_minor: int,
        term_months: int,
        method: str | None,
        at: datetime,
    ) -> PricedHold:
        """The price of drawing `amount_minor` over `term_months` at `at`; refused (typed
        domain errors) when the product does not offer it or its APR is above the cap."""
        ...


class Terms(Protocol):
    """What a line's jurisdiction profile says about blocking and closing it (implemented by
    the loans capability from the profiles)."""

    def profile_rules(self, currency: str) -> ProfileRules:
        """The rules for lines in `currency` (`ProfileRules()` when its profile has none)."""
        ...


class Limits(Protocol):
    """The bounds a line's limit must respect (implemented by the loans capability from the
    jurisdiction profiles)."""

    def limit_min_minor(self, currency: str) -> int:
        """The smallest limit a line in `currency` may have, in minor units (at least 1)."""
        ...
