"""What the credit policy says of any limit, whoever sets it: the ledger's `Underwriting` port.

Staff keep to the active policy's smallest and largest limit and its step; every increase,
automatic or not, keeps under the jurisdiction profile's caps, computed from the borrower's
capacity as on file: income (a later accepted verification replaces what the application
declared, with its evidence), and monthly obligations from the bureau or, where the bureau
reports none, as the application stated them.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from creditline.db.unit_of_work import Transaction
from creditline.decisions.bureau import BureauPort
from creditline.decisions.declared import application_features, with_report
from creditline.decisions.policy import PolicyDocument
from creditline.ledger.ports import Capacity, PolicyBounds
from creditline.loans.products import Catalogue


class PolicyLimits:
    """The active policy's bounds and a borrower's capacity, for the ledger's decisions."""

    def __init__(
        self, policy: Callable[[], PolicyDocument], bureau: BureauPort, catalogue: Catalogue
    ) -> None:
        # The document, not the engine: building the engine stores the policy in a
        # transaction of its own, which must not wait inside a command's.
        self._policy = policy
        self._bureau = bureau
        self._catalogue = catalogue

    def bounds(self, currency: str) -> PolicyBounds | None:
        """The active policy's bounds when it lends in `currency`."""
        policy = self._policy()
        if policy.currency != currency:
            return None
        constraints = policy.constraints
        return PolicyBounds(
            policy_version=policy.label,
            currency=currency,
            min_minor=policy.minor(constraints.min_limit),
            max_minor=policy.minor(constraints.max_limit),
            step_minor=policy.minor(constraints.limit_step),
        )

    def capacity(self, tx: Transaction, borrower_id: str, currency: str, now: datetime) -> Capacity:
        """The borrower's income, its evidence and their obligations at `now`, read in `tx`."""
        today = self._catalogue.profile_for(currency).business_date(now)
        connection = tx.connection
        found = application_features(connection, [borrower_id], now, today, currency)
        declared = found.get(borrower_id, {})
        report = self._bureau.latest(connection, [borrower_id]).get(borrower_id, {})
        merged = with_report(declared, report)
        obligations = merged.get("obligations_monthly_minor")
        source = None
        if obligations is not None:
            reported = report.get("obligations_monthly_minor") is not None
            source = "bureau" if reported else "application"
        return Capacity(
            income_monthly_minor=merged.get("income_monthly_minor"),
            income_evidence=merged.get("income_evidence") is True,
            obligations_monthly_minor=obligations,
            obligations_source=source,
        )
