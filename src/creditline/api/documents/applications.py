"""Applications, consents to a bureau pull, bureau reports and verifications
(`creditline.decisions.applications`, `.bureau`, `.verification`)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from creditline.api.documents import Document, Money, Time
from creditline.api.documents.lines import Reason


class ApplicationDecided(Document):
    id: str
    borrower_id: str
    outcome: Literal["approved", "declined"]
    line_id: str | None = Field(description="the line opened; null when declined")
    limit: Money
    currency: str
    reason_codes: list[str]
    reasons: list[Reason]
    policy: str | None = Field(description="the policy version that decided, id@version")


class Consent(Document):
    id: str
    borrower_id: str
    granted_at: Time


class KeyFactor(Document):
    code: str | None
    text: str
    inquiries: bool


class BureauReport(Document):
    borrower_id: str
    id: str
    consent_id: str
    inquiries_1m: int | None
    inquiries_3m: int | None
    inquiries_6m: int | None
    lenders_with_open_loans: int | None
    other_limits_minor: int | None
    bureau_score: int | None
    obligations_monthly_minor: int | None
    key_factors: list[KeyFactor]


class Verification(Document):
    id: str
    kind: Literal["identity", "income"]
    status: Literal["accepted", "rejected"]
    problem: str | None = Field(description="why it was refused")
    problem_code: str | None
    income_monthly: Money | None
    expires_on: str | None = Field(description="the evidence's expiry date")
    lines: list[dict[str, Any]] = Field(description="the lines it brought back, each decided")
    line_status: dict[str, str] = Field(description="each of the borrower's lines' status, by id")
