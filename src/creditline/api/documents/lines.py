"""Lines, their decisions, drawdown holds, journals and borrowers' requests
(`creditline.ledger.views`)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from creditline.api.documents import Document, Money, Time
from creditline.api.documents.prices import Price

LineStatus = Literal["active", "frozen", "suspended", "closed"]
Action = Literal["increase", "decrease", "freeze", "unfreeze", "suspend", "restore", "close"]


class Line(Document):
    id: str
    borrower_id: str
    currency: str
    limit: Money
    available: Money
    principal_outstanding: Money
    held: Money
    status: LineStatus
    frozen_until: Time | None
    closing_at: Time | None = Field(description="a close the lender decided takes effect then")
    status_decision_id: str | None
    version: int
    fully_used: bool


class Lines(Document):
    lines: list[Line]


class Reason(Document):
    """A reason code with what a borrower reads."""

    code: str
    en: str
    zh_CN: str = Field(alias="zh-CN")


class DecisionChange(Document):
    """What a decision changed, and why."""

    id: str
    action: Action
    adverse: bool
    limit_before: Money
    limit_after: Money
    status_before: LineStatus
    status_after: LineStatus
    until: Time | None
    effective_at: Time | None
    reason_codes: list[str]
    reasons: list[Reason]
    policy_version: str | None
    at: Time


class Decision(DecisionChange):
    """A decision as its maker sees it."""

    actor: str
    note: str | None


class DecisionTaken(Document):
    decision: Decision
    line: Line


class StoredDecision(DecisionChange):
    """A recorded decision; `actor`, `note` and `evidence` for staff only."""

    line_id: str
    automated: bool
    actor: str | None = None
    note: str | None = None
    evidence: dict[str, Any] | None = Field(
        default=None, description="the policy, score, trace and features behind it (staff)"
    )


class LineDecisions(Document):
    line_id: str
    decisions: list[StoredDecision]


class JournalEntry(Document):
    seq: int
    kind: str
    at: Time
    limit_delta: Money
    principal_delta: Money
    held_delta: Money
    limit_after: Money
    principal_after: Money
    held_after: Money
    available_after: Money
    status_after: LineStatus
    drawdown_id: str | None
    loan_id: str | None
    decision_id: str | None
    prev_hash: str
    hash: str


class Journal(Document):
    line_id: str
    entries: list[JournalEntry]
    next_after_seq: int | None


class Hold(Document):
    """A held drawdown with its price and the line after the hold."""

    id: str
    line_id: str
    status: str
    amount: Money
    currency: str
    term_months: int
    expires_at: Time
    quote: Price = Field(description="the price the loan will keep")
    line: Line


class Voided(Document):
    id: str
    status: Literal["voided"]
    line: Line


class BorrowerRequest(Document):
    id: str
    line_id: str
    borrower_id: str
    kind: Literal["close", "decrease"]
    limit: Money | None
    currency: str
    status: Literal["open", "done", "withdrawn"]
    created_at: Time
    due_at: Time
    decision_id: str | None
    done_at: Time | None
    withdrawn_at: Time | None


class ListedRequest(BorrowerRequest):
    overdue: bool


class RequestPage(Document):
    requests: list[ListedRequest]
    next_after: str | None = Field(description="the `after` of the next page; null at the end")


class LineRequests(RequestPage):
    line_id: str


class Texts(Document):
    en: str
    zh_CN: str = Field(alias="zh-CN")


class NextStep(Texts):
    step: str


class ReasonCode(Document):
    """A reason code of the catalogue: what the borrower reads, what staff read, what the
    borrower can do next."""

    code: str
    adverse: bool
    borrower_initiated: bool
    text: Texts
    operator_text: str
    next_step: NextStep
