"""Reviews: a review of a line asked for now, and the human reviews staff work by deadline."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from pydantic import Field, StrictBool, StrictStr

from creditline.api.bodies import Body
from creditline.api.deps import AppealsDep, IdempotencyKeyDep, PermissionRoute, requires
from creditline.api.documents import answers
from creditline.api.documents import reviews as docs
from creditline.api.replies import command_reply
from creditline.decisions.appeals import REVIEWS_LISTED_MAX
from creditline.kernel.actors import Actor
from creditline.kernel.permissions import Permission

router = APIRouter(prefix="/v1", route_class=PermissionRoute)


class ReviewRequest(Body):
    human: StrictBool = Field(default=False, description="ask for a person to review it")
    contest: StrictBool = Field(
        default=False, description="a person reviews it if the automatic review upholds a cut"
    )
    reason_text: StrictStr | None = Field(default=None, max_length=2000)
    statement: StrictStr | None = Field(
        default=None,
        max_length=4000,
        description="your own view of the decision, for the person who reviews it (asks for "
        "a person)",
    )
    decision_id: StrictStr | None = Field(
        default=None,
        max_length=64,
        description="the decision about this line a person should review (asks for a person; "
        "default: the adverse decision that holds)",
    )


class ReviewDecision(Body):
    outcome: Literal["uphold", "reverse", "modify"]
    reason_codes: list[StrictStr] = Field(default_factory=list, max_length=4)
    note: StrictStr | None = Field(default=None, max_length=2000)
    limit: StrictStr | None = Field(default=None, description="the new limit, with modify")


@router.post("/lines/{line_id}/reviews", **answers(docs.ReviewRequested, 201))
def request_review(
    line_id: str,
    appeals: AppealsDep,
    actor: Annotated[Actor, requires(Permission.REQUEST_REVIEW)],
    key: IdempotencyKeyDep,
    response: Response,
    body: ReviewRequest | None = None,
) -> Response:
    """Ask for the line to be reviewed now with the current policy; with `human` (or
    `contest`, when the automatic review upholds an adverse decision) a person reviews it too,
    by a deadline."""
    asked = body or ReviewRequest()
    result = appeals.request(
        actor,
        key,
        line_id,
        human=asked.human,
        contest=asked.contest,
        reason_text=asked.reason_text,
        statement=asked.statement,
        decision_id=asked.decision_id,
    )
    return command_reply(result, response, 201)


@router.get("/reviews", **answers(docs.ReviewQueue))
def review_queue(
    appeals: AppealsDep,
    actor: Annotated[Actor, requires(Permission.READ_STAFF_VIEWS)],
    status: Literal["open", "decided"] = "open",
    limit: Annotated[int, Query(ge=1, le=REVIEWS_LISTED_MAX)] = 50,
) -> dict[str, Any]:
    """Human reviews by deadline, soonest first, overdue ones flagged (staff)."""
    return appeals.queue(actor, status, limit)


@router.get("/reviews/{review_id}", **answers(docs.HumanReview))
def get_review(
    review_id: str,
    appeals: AppealsDep,
    actor: Annotated[Actor, requires(Permission.READ_LINES)],
) -> dict[str, Any]:
    """One human review: the borrower's own, or any for staff."""
    return appeals.get(actor, review_id)


@router.post("/reviews/{review_id}/decide", **answers(docs.HumanReview))
def decide_review(
    review_id: str,
    body: ReviewDecision,
    appeals: AppealsDep,
    actor: Annotated[Actor, requires(Permission.DECIDE_REVIEW)],
    key: IdempotencyKeyDep,
    response: Response,
) -> Response:
    """A person's decision (agent, approver, admin): uphold, reverse (the contested change is
    undone through the ledger) or modify (a new limit); the borrower is told."""
    result = appeals.decide(
        actor, key, review_id, body.outcome, body.reason_codes, body.note, body.limit
    )
    return command_reply(result, response)
