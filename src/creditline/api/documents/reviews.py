"""Reviews asked for and human reviews (`creditline.decisions.views`)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from creditline.api.documents import Document, Time
from creditline.api.documents.lines import Line


class HumanReview(Document):
    id: str
    line_id: str
    borrower_id: str
    status: Literal["open", "decided"]
    outcome: Literal["uphold", "reverse", "modify"] | None
    reason_text: str | None
    statement: str | None
    contested_decision_id: str | None
    requested_at: Time
    due_at: Time
    overdue: bool
    decided_by: str | None
    decided_at: Time | None
    note: str | None
    decision_id: str | None


class ReviewRequested(Document):
    """The policy's outcome (`not_reviewed` when it could not review the line), the line after
    it, and the human review when one was asked for."""

    line_id: str
    action: str | None
    outcome: str
    reason_codes: list[str]
    score: int | None
    grade: str | None
    policy: str | None
    review_id: str
    line: Line
    human_review: HumanReview | None


class ReviewQueue(Document):
    reviews: list[HumanReview]
    overdue: int = Field(description="how many open reviews are past their deadline")
