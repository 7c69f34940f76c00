"""Why a line is what it is (`creditline.decisions.explanation`)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from creditline.api.documents import Document, Money
from creditline.api.documents.lines import LineStatus
from creditline.api.documents.reviews import HumanReview


class State(Document):
    status: LineStatus
    status_text: str
    currency: str
    limit: Money
    available: Money
    held: Money
    outstanding: Money
    frozen_until: str | None = Field(description="the day, where the lender is")


class Explanation(Document):
    line_id: str
    language: str
    state: State
    summary: str
    changes: list[dict[str, Any]] = Field(description="the last decisions, with their reasons")
    what_you_can_do: list[dict[str, Any]] = Field(description="next steps, with dates and paths")
    data_used: list[dict[str, Any]] = Field(description="what the last automated decision read")
    human_review: HumanReview | None
    pending_policy_change: dict[str, Any] | None = Field(
        description="an approved policy's change to this line still to come"
    )
    trace: dict[str, Any] | None = Field(
        default=None, description="staff: the last automated decision's trace"
    )
