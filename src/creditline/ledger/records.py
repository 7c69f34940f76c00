"""Typed results of the ledger that other capabilities read: drawdowns, decisions, prices."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from creditline.kernel.actors import is_automated
from creditline.ledger.model import Action, LineStatus


@dataclass(frozen=True, slots=True)
class Drawdown:
    """A drawdown as the ledger keeps it: held, then posted, voided or expired."""

    id: str
    line_id: str
    amount_minor: int
    term_months: int
    status: str
    expires_at: datetime
    posted_minor: int | None
    loan_id: str | None
    product: str | None
    method: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class DecisionRecord:
    """A recorded decision about a line: what changed, why, who decided and on what policy."""

    id: str
    line_id: str
    currency: str
    action: Action
    adverse: bool
    limit_before_minor: int
    limit_after_minor: int
    status_before: LineStatus
    status_after: LineStatus
    until: datetime | None
    reason_codes: tuple[str, ...]
    actor_scope: str
    policy_version: str | None
    note: str | None
    at: datetime
    effective_at: datetime | None = None  # a close still to come: when it takes effect


@dataclass(frozen=True, slots=True)
class PricedHold:
    """The price of a hold: the product and method chosen, and the quote shown with it."""

    product: str
    method: str
    quote: dict[str, Any]  # the quote's document, returned with the hold
    # Its JSON, encoded once: a remembered price (decision 0023) serves many holds, and the
    # quote is most of a hold's stored response.
    quote_json: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "quote_json", json.dumps(self.quote))


@dataclass(frozen=True, slots=True)
class StoredDecision:
    """A decision as recorded: the change, and what an automated decision saw (its evidence:
    policy, score, grade, trace, features); None for a person's decision."""

    record: DecisionRecord
    evidence: dict[str, Any] | None

    @property
    def automated(self) -> bool:
        """Whether a policy made it (it kept what it saw). A person's decision may keep evidence
        too (the cap figures it was held to, the report on file) and is still a person's."""
        return self.evidence is not None and is_automated(self.record.actor_scope)
