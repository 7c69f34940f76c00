"""The ports the ledger needs from other capabilities, wired in `bootstrap.py`: pricing a hold,
a profile's rules for blocking and closing lines, its bounds on a limit and the days staff have
to act on a borrower's request (loans, from the catalogue), and the credit policy's bounds, a
borrower's capacity and their consumer report on file (decisions). Published through
`creditline.ledger.ports`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from creditline.db.unit_of_work import Transaction
from creditline.ledger.limit_rules import Capacity, PolicyBounds, RegulatoryCaps
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

    def caps(self, currency: str) -> RegulatoryCaps | None:
        """The profile's caps on the limit of a line in `currency` (None: no profile caps)."""
        ...

    def lines_per_borrower_max(self, currency: str) -> int:
        """How many open lines in `currency` a borrower may have without a recorded reason."""
        ...

    def review_days(self, currency: str) -> int:
        """How many days staff have to act on a borrower's request about a line in `currency`
        (the profile's human-review deadline)."""
        ...


class Underwriting(Protocol):
    """What the credit policy says of a limit (implemented by the decisions capability)."""

    def bounds(self, currency: str) -> PolicyBounds | None:
        """The active policy's smallest and largest limit and its step, for lines in
        `currency` (None: no policy lends in it)."""
        ...

    def capacity(self, tx: Transaction, borrower_id: str, currency: str, now: datetime) -> Capacity:
        """The borrower's income, its evidence and their monthly obligations, as on file at
        `now`, read in the caller's transaction."""
        ...


@dataclass(frozen=True, slots=True)
class KeyFactor:
    """A key factor that adversely affected a bureau's score, as the bureau gave it."""

    text: str
    code: str | None = None
    inquiries: bool = False  # about the number of inquiries (FCRA 609(f)(9): always disclosed)


@dataclass(frozen=True, slots=True)
class ReportOnFile:
    """A borrower's consumer report as an adverse decision records it (US-4): which report, its
    date, the bureau's score and the key factors in the bureau's order."""

    id: str
    source: str
    reported_at: datetime
    score: int | None
    key_factors: tuple[KeyFactor, ...] = ()

    def document(self) -> dict[str, Any]:
        """The report as kept in the decision's evidence (`consumer_report`)."""
        return {
            "id": self.id,
            "source": self.source,
            "reported_at": self.reported_at.isoformat(),
            "score": self.score,
            "key_factors": [
                {"code": f.code, "text": f.text, "inquiries": f.inquiries} for f in self.key_factors
            ],
        }


class ConsumerReports(Protocol):
    """The consumer report on file for a borrower (implemented by the decisions capability)."""

    def on_file(self, tx: Transaction, borrower_id: str) -> ReportOnFile | None:
        """The borrower's newest report loaded so far, if any."""
        ...

    def on_file_many(
        self, tx: Transaction, borrower_ids: list[str]
    ) -> dict[str, ReportOnFile | None]:
        """`on_file` for each of `borrower_ids`, in one read."""
        ...
